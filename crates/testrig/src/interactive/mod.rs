//! Interactive mode: the plan stays up; a REST API and a browser UI run testcases on demand
//! and start and stop environments, with every change pushed to connected browsers.

mod access;
mod reload;
mod server;
mod state;
mod watch;

pub use crate::compile_dir::source_root;
pub use access::{AccessError, AccessPolicy, generate_token};
pub use reload::{
    CarriedResults, CodeCapture, CodeSnapshot, CodeState, Handoff, Reloader, StaleResults,
    carry_results,
};
pub use server::{OPENAPI, bind, report_router, router, serve};
pub(crate) use state::Session;
pub use state::{Cancelled, InteractiveState, Refusal, Update};

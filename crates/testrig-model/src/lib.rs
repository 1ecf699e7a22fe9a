//! The stable wire format of testrig.
//!
//! Everything that leaves a plan process is one of these serde types: the [`Event`]s that
//! form the spine of a run (DESIGN.md §3), the [`Report`] tree the report builder folds them
//! into, and the [`Entry`] values that assertions record. External tools, the web UI and the
//! JSON exporter rely on them, so every document carries [`SCHEMA_VERSION`] and changes to
//! these types are additive.

mod driver;
mod entry;
mod event;
mod json;
mod parameters;
mod report;
mod status;

pub use driver::*;
pub use entry::*;
pub use event::*;
pub use json::WireJson;
pub use parameters::*;
pub use report::*;
pub use status::*;

/// Version of the JSON documents (reports and event streams) these types describe.
pub const SCHEMA_VERSION: u32 = 1;

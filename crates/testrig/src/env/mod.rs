//! Environments: drivers with a life cycle, context values, and what testcases run against.

mod connections;
mod context;
mod driver;
mod environment;
mod handle;
mod hooks;

/// What [`Driver::inputs`] returns: files and texts a driver depends on besides the sources.
pub use crate::inputs::DeclaredInput;
pub use connections::DriverSockets;
pub(crate) use connections::describe_connections;
pub use context::{ConfigValue, ContextScope, ContextValue, context};
pub use driver::{
    Attributes, Driver, DriverBox, DriverCommon, DriverError, DriverSettings, HandedOffDriver,
    StartContext, common_inputs, default_definition,
};
pub(crate) use environment::describe_attributes;
#[cfg(feature = "interactive")]
pub(crate) use environment::discard_handed_off;
pub use environment::{Environment, EnvironmentRun, StartFailure};
pub use handle::{DriverLookupError, Env};
#[cfg(any(feature = "postgres", feature = "mariadb"))]
pub(crate) use hooks::run_supervised;
pub use hooks::{CommandOutput, DriverHook, HookContext, HookPhase, HookResult};

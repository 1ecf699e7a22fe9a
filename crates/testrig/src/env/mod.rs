//! Environments: drivers with a life cycle, context values, and what testcases run against.

mod context;
mod driver;
mod environment;

pub use context::{ConfigValue, ContextScope, ContextValue, check_template_syntax, context};
pub use driver::{Attributes, Driver, DriverBox, DriverCommon, DriverError, DriverHook, DriverSettings, StartContext};
pub use environment::Env;

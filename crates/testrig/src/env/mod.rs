//! Environments: what testcases run against.

mod environment;

pub use environment::Env;

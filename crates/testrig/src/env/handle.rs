//! The environment handle a testcase receives: the test's name and runpath, and its started
//! drivers by name, typed (`env.driver::<TcpClient>("client")`).

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::env::driver::{Attributes, Driver};
use crate::env::environment::Environment;

/// What a testcase can reach of its MultiTest.
pub struct Env {
    test_name: String,
    runpath: PathBuf,
    environment: Arc<Environment>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("test_name", &self.test_name)
            .field("runpath", &self.runpath)
            .field("drivers", &self.environment.driver_names())
            .finish()
    }
}

impl Env {
    /// A handle on a test without drivers (for hand-written harnesses and unit tests).
    pub fn new(test_name: impl Into<String>, runpath: impl Into<PathBuf>) -> Env {
        Env::with_environment(test_name, runpath, Arc::new(Environment::default()))
    }

    /// A handle on a test's environment.
    pub fn with_environment(
        test_name: impl Into<String>,
        runpath: impl Into<PathBuf>,
        environment: Arc<Environment>,
    ) -> Env {
        Env {
            test_name: test_name.into(),
            runpath: runpath.into(),
            environment,
        }
    }

    /// The name of the MultiTest.
    pub fn test_name(&self) -> &str {
        &self.test_name
    }

    /// The MultiTest's output folder (drivers' folders, attachments).
    pub fn runpath(&self) -> &Path {
        &self.runpath
    }

    /// The environment the testcases run against.
    pub fn environment(&self) -> &Arc<Environment> {
        &self.environment
    }

    /// The driver called `name`, as its concrete type.
    ///
    /// # Panics
    /// When there is no such driver or it has another type; the panic makes the testcase
    /// ERROR with a message naming the drivers that exist, at the caller's line.
    #[track_caller]
    pub fn driver<T: Driver>(&self, name: &str) -> &T {
        match self.try_driver(name) {
            Ok(driver) => driver,
            Err(error) => panic!("{error}"),
        }
    }

    /// The driver called `name`, or why not: no such driver (the error lists those that
    /// exist) or one of another type.
    pub fn try_driver<T: Driver>(&self, name: &str) -> Result<&T, DriverLookupError> {
        let Some(driver) = self.environment.driver(name) else {
            return Err(DriverLookupError::Missing {
                name: name.to_string(),
                test: self.test_name.to_string(),
                available: self.environment.driver_names(),
            });
        };
        let any: &dyn Any = driver.as_ref();
        any.downcast_ref::<T>()
            .ok_or_else(|| DriverLookupError::OtherType {
                name: name.to_string(),
                test: self.test_name.to_string(),
                kind: driver.kind().to_string(),
                wanted: short_type_name::<T>().to_string(),
            })
    }

    /// The attributes a started driver published (host, port, pid, …).
    pub fn attributes(&self, name: &str) -> Option<Attributes> {
        self.environment
            .driver(name)
            .map(|driver| driver.attributes())
    }
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

/// Why [`Env::try_driver`] found no driver of the wanted type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriverLookupError {
    /// The test's environment has no driver of that name.
    Missing {
        /// The name asked for.
        name: String,
        /// The test whose environment was searched.
        test: String,
        /// The drivers it has.
        available: Vec<String>,
    },
    /// The driver exists but is of another type.
    OtherType {
        /// The driver's name.
        name: String,
        /// Its test.
        test: String,
        /// What it is (`App`, `TcpServer`, …).
        kind: String,
        /// The type asked for.
        wanted: String,
    },
}

impl std::fmt::Display for DriverLookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriverLookupError::Missing {
                name,
                test,
                available,
            } => {
                let available = if available.is_empty() {
                    "none".to_string()
                } else {
                    available.join(", ")
                };
                write!(
                    f,
                    "no driver `{name}` in the environment of test `{test}`; drivers: {available}"
                )
            }
            DriverLookupError::OtherType {
                name,
                test,
                kind,
                wanted,
            } => write!(
                f,
                "driver `{name}` of test `{test}` is {kind}, not {wanted}"
            ),
        }
    }
}

impl std::error::Error for DriverLookupError {}

//! The environment handle a testcase receives.
//!
//! It is the testcase's window on the MultiTest it runs in: the test's name and runpath,
//! and (with drivers) the started drivers by name.

use std::path::{Path, PathBuf};

/// What a testcase can reach of its MultiTest.
#[derive(Debug)]
pub struct Env {
    test_name: String,
    runpath: PathBuf,
}

impl Env {
    /// The environment of a test whose output folder is `runpath`.
    pub fn new(test_name: impl Into<String>, runpath: impl Into<PathBuf>) -> Env {
        Env {
            test_name: test_name.into(),
            runpath: runpath.into(),
        }
    }

    /// The name of the MultiTest.
    pub fn test_name(&self) -> &str {
        &self.test_name
    }

    /// The MultiTest's output folder (logs, rendered files, attachments).
    pub fn runpath(&self) -> &Path {
        &self.runpath
    }
}

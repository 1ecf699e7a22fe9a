//! Affected-test selection: which testcases a code change can affect (DESIGN.md §5,
//! "Affected testcases from coverage, on stable Rust").

mod database;
mod selection;

pub use database::{DATABASE_VERSION, DatabaseState, ImpactDatabase, StoredUnit, TestcaseRecord};
pub use selection::{Reason, SourceChanges, select, source_changes};

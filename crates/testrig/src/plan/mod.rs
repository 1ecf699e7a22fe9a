//! The plan and how it runs, split by concern: the definition and the command-line entry
//! (`definition`), the run configuration (`config`), affected selection (`affected`), batch
//! runs (`batch`), interactive runs (`interactive`) and what a run writes out (`reports`).

mod affected;
mod batch;
mod config;
mod definition;
mod interactive;
mod reports;

pub(crate) use config::plan_slug;
pub use definition::{Plan, RunOutcome};

//! The plan and how it runs, split by concern: the definition and the command-line entry
//! (`definition`), the run configuration (`config`), affected selection (`affected`), batch
//! runs (`batch`), interactive runs (`interactive`) and what a run writes out (`reports`).

mod affected;
mod batch;
mod config;
mod definition;
#[cfg(feature = "interactive")]
mod interactive;
mod reports;

#[cfg(feature = "affected")]
pub(crate) use config::plan_slug;
pub use definition::{Plan, RunOutcome};

//! Tests, suites and testcases: what a plan is made of, how it is selected and ordered.
//!
//! Public: [`MultiTest`], [`PlanError`] and what a suite is defined with ([`Suite`],
//! [`SuiteDefinition`] and its parts: what `#[suite]` expands to, and what a suite written
//! without the macro returns). The selection, ordering and type-erased suites are the
//! runner's.

mod definition;
mod multitest;
mod order;
mod selection;

pub use definition::{
    IntoOutcome, Outcome, Parametrization, Suite, SuiteAttributes, SuiteDefinition, SuiteHook,
    TestcaseBody, TestcaseDefinition, TestcaseError, TestcaseFn, TestcaseHook, Xfail,
};
pub use multitest::MultiTest;
pub(crate) use multitest::{BoundTestcase, CaseIndex, SuiteObject};
pub(crate) use order::{ShuffleScope, fresh_seed, shuffle};
pub use selection::PlanError;
pub(crate) use selection::{
    Filter, IgnoredMode, Pattern, SelectedCase, SelectedSuite, SelectedTest, Selection, validate,
};

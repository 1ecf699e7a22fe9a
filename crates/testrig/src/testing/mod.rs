//! Tests, suites and testcases: what a plan is made of, how it is selected and ordered.

mod definition;
mod multitest;
mod order;
mod selection;

pub use definition::{
    IntoOutcome, Outcome, Parametrization, Suite, SuiteAttributes, SuiteDefinition, SuiteHook,
    TestcaseBody, TestcaseDefinition, TestcaseError, TestcaseFn, TestcaseHook, Xfail,
};
pub use multitest::{
    BoundTestcase, CaseIndex, CaseInfo, MultiTest, SuiteInfo, SuiteObject, parameter_suffix,
};
pub use order::{SeededRandom, ShuffleScope, fresh_seed, shuffle};
pub use selection::{
    Filter, IgnoredMode, Pattern, PlanError, SelectedCase, SelectedSuite, SelectedTest, Selection,
    validate,
};

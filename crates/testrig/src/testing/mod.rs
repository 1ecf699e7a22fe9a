//! Tests, suites and testcases: what a plan is made of.

mod definition;

pub use definition::{
    IntoOutcome, Outcome, Parametrization, Suite, SuiteAttributes, SuiteDefinition, SuiteHook,
    TestcaseBody, TestcaseDefinition, TestcaseError, TestcaseFn, TestcaseHook, Xfail,
};

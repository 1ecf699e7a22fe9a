//! testrig: integration tests written in Rust.
//!
//! A **plan** holds **tests** (MultiTests); a MultiTest holds **suites** of **testcases** that
//! run against its **environment**. Testcases record assertions on a [`Recorder`]; every
//! assertion becomes an entry with the values it compared, flows as an event to the report
//! builder, and ends up in the console, JSON and JUnit reports.
//!
//! ```ignore
//! use testrig::prelude::*;
//!
//! #[suite]
//! struct Arithmetic;
//!
//! #[suite]
//! impl Arithmetic {
//!     #[testcase(tags = ["smoke"])]
//!     fn addition(&self, _env: &Env, result: &mut Recorder) {
//!         result.equal(1 + 1, 2, "one plus one");
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     Plan::new("arithmetic").add(MultiTest::new("math").suite(Arithmetic)).run_from_args()
//! }
//! ```

// Lets `#[suite]` expansions (which name `::testrig`) work inside this crate's own tests.
extern crate self as testrig;

mod background;
pub mod cli;
mod compile_dir;
mod deadline;
pub mod drivers;
pub mod env;
pub(crate) mod events;
pub(crate) mod export;
// `impact` and `interactive` are public for `cargo-testrig` and the `testrig` binary of this
// workspace only: they are not part of the documented API and change without notice.
#[cfg(feature = "affected")]
#[doc(hidden)]
pub mod impact;
mod inputs;
#[cfg(feature = "interactive")]
#[doc(hidden)]
pub mod interactive;
mod plan;
mod regex_engine;
pub(crate) mod report;
pub mod result;
pub(crate) mod runner;
pub mod testing;

/// The hash of the maps and sets touched on every event or testcase (UIDs, file names,
/// parameter suffixes): fast, with fixed seeds. Their keys come from the plan itself, so
/// nothing needs a defence against chosen collisions.
pub(crate) type FastHash = foldhash::fast::FixedState;

pub use env::Env;
pub use plan::{Plan, RunOutcome};
pub use result::Recorder;
pub use testing::{MultiTest, PlanError, TestcaseError};
pub use testrig_model as model;

/// What a plan file needs in scope: `use testrig::prelude::*;`.
pub mod prelude {
    pub use crate::env::{DriverError, DriverSettings, Env, context};
    pub use crate::plan::Plan;
    pub use crate::result::{
        Comparator, DictMatchOptions, ErrorExpectation, ExpectedTable, Recorder, Table,
        TableMatchOptions,
    };
    pub use crate::testing::{MultiTest, Suite};
    pub use testrig_macros::{post_testcase, pre_testcase, setup, suite, teardown, testcase};
}

#[doc(hidden)]
pub mod __private {
    //! Items the macros expand to; not a public API.
    pub use crate::testing::*;
    pub use testrig_model::{Parameters, SourceLocation};
}

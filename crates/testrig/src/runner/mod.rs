//! Runners: where and how tests run.

mod interrupt;
mod local;
mod panic_capture;
mod pool;
#[cfg(feature = "interactive")]
mod process_session;
mod worker;

pub use interrupt::{INTERRUPTED_EXIT_CODE, StopSignal, install_interrupt_handler};
pub use local::{
    LiveEnvironments, RunContext, TestSession, TestcaseObserver, error_testcases, format_duration,
    run_tests, test_runpath,
};
pub use panic_capture::{catch_testcase_panic, install_panic_hook, payload_message};
pub(crate) use pool::{LiveWorkers, WorkerCommand, WorkerLauncher, run_tests_in_workers};
#[cfg(feature = "interactive")]
pub(crate) use process_session::{ProcessSession, SessionWorkers, SharedEnvironmentStatus};
#[cfg(feature = "affected")]
pub(crate) use worker::TestcaseEnd;
#[cfg(feature = "affected")]
pub(crate) use worker::WorkerCoverageFactory;
pub(crate) use worker::{CoverageSink, WORKER_ENV, WindowCoverage, serve as serve_worker};

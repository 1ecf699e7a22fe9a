//! Runners: where and how tests run.

mod interrupt;
mod local;
mod panic_capture;
mod pool;
#[cfg(feature = "interactive")]
mod process_session;
mod wire;
mod worker;

#[cfg(feature = "interactive")]
pub use interrupt::StopSignal;
pub use interrupt::{INTERRUPTED_EXIT_CODE, install_interrupt_handler};
#[cfg(feature = "interactive")]
pub use local::TestSession;
pub use local::{RunContext, TestcaseObserver, run_tests};
pub use panic_capture::install_panic_hook;
pub(crate) use panic_capture::payload_message;
pub(crate) use pool::{LiveWorkers, WorkerCommand, WorkerLauncher, run_tests_in_workers};
#[cfg(feature = "interactive")]
pub(crate) use process_session::{ProcessSession, SessionWorkers, SharedEnvironmentStatus};
#[cfg(feature = "affected")]
pub(crate) use worker::TestcaseEnd;
#[cfg(feature = "affected")]
pub(crate) use worker::WorkerCoverageFactory;
pub(crate) use worker::{CoverageSink, WORKER_ENV, WindowCoverage, serve as serve_worker};

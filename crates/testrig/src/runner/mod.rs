//! Runners: where and how tests run.

mod interrupt;
mod local;
mod panic_capture;

pub use interrupt::{INTERRUPTED_EXIT_CODE, StopSignal, install_interrupt_handler};
pub use local::{
    LiveEnvironments, RunContext, TestSession, TestcaseObserver, error_testcases, format_duration,
    run_tests, test_runpath,
};
pub use panic_capture::{catch_testcase_panic, install_panic_hook, payload_message};

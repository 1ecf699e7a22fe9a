//! Turning panics in testcase code into testcase errors with a message and a location.
//!
//! A panic hook installed once records the message and location of a panic on the thread
//! that panicked, but only while that thread runs testcase code; elsewhere the previous hook
//! runs as before. The default hook's "thread panicked" noise is suppressed for testcases
//! because the report and the console show the same facts in their place.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use testrig_model::SourceLocation;

use crate::testing::TestcaseError;

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static CAPTURED: RefCell<Option<TestcaseError>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// Installs the capturing hook (idempotent).
pub fn install_panic_hook() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(Cell::get) {
                let message = payload_message(info.payload());
                let location = info.location().map(|location| {
                    SourceLocation::new(
                        location.file().to_string(),
                        location.line(),
                        location.column(),
                    )
                });
                CAPTURED.with(|captured| {
                    *captured.borrow_mut() = Some(TestcaseError {
                        message: format!("panicked: {message}"),
                        location,
                    });
                });
            } else {
                previous(info);
            }
        }));
    });
}

/// The message of a panic payload (`&str` and `String` payloads; others are opaque).
pub fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// Runs testcase code, turning a panic into an error that says what and where.
pub fn catch_testcase_panic<T>(body: impl FnOnce() -> T) -> Result<T, TestcaseError> {
    install_panic_hook();
    let was_capturing = CAPTURING.with(|capturing| capturing.replace(true));
    CAPTURED.with(|captured| captured.borrow_mut().take());
    let result = panic::catch_unwind(AssertUnwindSafe(body));
    CAPTURING.with(|capturing| capturing.set(was_capturing));
    result.map_err(|payload| {
        CAPTURED
            .with(|captured| captured.borrow_mut().take())
            .unwrap_or_else(|| TestcaseError {
                message: format!("panicked: {}", payload_message(payload.as_ref())),
                location: None,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_location() {
        let line = line!() + 1;
        let error = catch_testcase_panic(|| panic!("boom {}", 7)).unwrap_err();
        assert_eq!(error.message, "panicked: boom 7");
        let location = error.location.unwrap();
        assert!(location.file.ends_with("panic_capture.rs"));
        assert_eq!(location.line, line);
    }

    #[test]
    fn values_pass_through_when_nothing_panics() {
        assert_eq!(catch_testcase_panic(|| 5).unwrap(), 5);
    }
}

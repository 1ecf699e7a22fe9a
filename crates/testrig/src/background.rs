//! Freeing large structures off the critical path.
//!
//! A plan of 100,000 testcases ends with a report tree, an index and a selection of a few
//! hundred thousand strings each; freeing them on the thread that writes the reports and
//! returns the exit status costs tens of milliseconds that nobody needs to wait for.

/// Drops `value` on a thread of its own. The process may exit before it is done: memory is
/// returned to the system either way.
pub(crate) fn free_in_background<T: Send + 'static>(value: T) {
    // When no thread can be started, the closure, and the value with it, is dropped here.
    let _ = std::thread::Builder::new()
        .name("testrig-free".into())
        .spawn(move || drop(value));
}

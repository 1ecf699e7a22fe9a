//! Deadlines from timeouts a plan gives: `Duration::MAX` (or any timeout past what an
//! `Instant` holds) means "no limit" rather than an overflow panic in a driver's thread.

use std::time::{Duration, Instant};

/// Far enough to mean never, near enough that `Instant` holds it.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + timeout`, or a deadline a century away when that does not fit.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(NEVER))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_past_what_an_instant_holds_is_a_far_deadline() {
        let far = deadline_after(Duration::MAX);
        assert!(far > Instant::now() + Duration::from_secs(3600 * 24 * 365));
        let near = deadline_after(Duration::from_millis(5));
        assert!(near <= Instant::now() + Duration::from_millis(5));
    }
}

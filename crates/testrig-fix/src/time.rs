//! UTC timestamps in FIX's `YYYYMMDD-HH:MM:SS.sss` form, without a date
//! crate: SendingTime (52) is the only date this crate writes; and deadlines from the
//! timeouts a caller gives.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `now + timeout`; a timeout past what an `Instant` holds (`Duration::MAX`: no limit) is a
/// deadline a century away instead of an overflow panic in a session's thread.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

/// Formats a time as a FIX UTCTimestamp with milliseconds,
/// `20240102-03:04:05.006`. Times before 1970 are written as the epoch.
pub fn utc_timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}{month:02}{day:02}-{:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to a (year, month, day) in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "19700101-00:00:00.000");
        // 2024-02-29T23:59:59.123Z, a leap day.
        let t = UNIX_EPOCH + Duration::from_millis(1_709_251_199_123);
        assert_eq!(utc_timestamp(t), "20240229-23:59:59.123");
        // 2000-03-01T00:00:00Z.
        let t = UNIX_EPOCH + Duration::from_secs(951_868_800);
        assert_eq!(utc_timestamp(t), "20000301-00:00:00.000");
    }
}

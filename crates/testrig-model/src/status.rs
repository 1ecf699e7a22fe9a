//! Statuses of report nodes and the counters that summarise a subtree.

use serde::{Deserialize, Serialize};

/// The outcome of a report node, Testplan's vocabulary kept.
///
/// A parent's status is the most severe status among its children (see [`Status::precedence`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// Every assertion passed and nothing raised.
    Passed,
    /// At least one assertion failed.
    Failed,
    /// The testcase could not complete: a panic, a returned error, a timeout, a failed setup.
    Error,
    /// Not run on purpose (`skip = "reason"`).
    Skipped,
    /// An expected failure that failed.
    Xfail,
    /// An expected failure that passed (not strict: counts as a pass).
    Xpass,
    /// An expected failure marked strict that passed: counts as a failure.
    XpassStrict,
    /// Started but cut short by an interrupt.
    Incomplete,
    /// Abandoned while running by a cancel of interactive mode: no result, not a failure.
    Cancelled,
    /// The worker process running it died (abort, segfault, `exit`, stack overflow, a
    /// kill): folded like an error, with the exit status and the worker's last output.
    Crashed,
    /// Not run (yet).
    #[default]
    Unknown,
}

impl Status {
    /// Every status, in declaration order.
    pub const ALL: [Status; 11] = [
        Status::Passed,
        Status::Failed,
        Status::Error,
        Status::Skipped,
        Status::Xfail,
        Status::Xpass,
        Status::XpassStrict,
        Status::Incomplete,
        Status::Cancelled,
        Status::Crashed,
        Status::Unknown,
    ];

    /// Where the status sits in [`Status::ALL`] (its declaration order: the enum has no
    /// data), for tables indexed by status.
    pub fn position(self) -> usize {
        self as usize
    }

    /// How severe a status is when folding children into a parent; higher wins.
    pub fn precedence(self) -> u8 {
        match self {
            Status::Error | Status::Crashed => 8,
            Status::Failed | Status::XpassStrict => 7,
            Status::Incomplete => 6,
            Status::Unknown => 5,
            Status::Cancelled => 4,
            Status::Passed | Status::Xpass => 3,
            Status::Xfail => 2,
            Status::Skipped => 1,
        }
    }

    /// The status of a parent with these two children statuses: the more severe; between
    /// two as severe, the plain one (`error` over `crashed`, `failed` over `xpass_strict`,
    /// `passed` over `xpass`), so a parent's status never depends on the order of its
    /// children.
    pub fn combine(self, other: Status) -> Status {
        let plain =
            |status: Status| matches!(status, Status::Error | Status::Failed | Status::Passed);
        let rank = |status: Status| (status.precedence(), plain(status));
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }

    /// Whether this status makes the run fail (exit status 1).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Status::Failed
                | Status::Error
                | Status::Crashed
                | Status::XpassStrict
                | Status::Incomplete
        )
    }

    /// The lower-case name used on the console and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Error => "error",
            Status::Skipped => "skipped",
            Status::Xfail => "xfail",
            Status::Xpass => "xpass",
            Status::XpassStrict => "xpass_strict",
            Status::Incomplete => "incomplete",
            Status::Cancelled => "cancelled",
            Status::Crashed => "crashed",
            Status::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a node is in its life: waiting, running, finished (used live by the UI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RuntimeStatus {
    /// Known, not scheduled.
    #[default]
    Ready,
    /// Scheduled, waiting for a worker.
    Waiting,
    /// Running now.
    Running,
    /// Done; `status` holds the outcome.
    Finished,
    /// Filtered out or abandoned before it ran.
    NotRun,
}

/// Testcase counts of a subtree, by status: every testcase is in exactly one bucket, so the
/// buckets add up to `total`.
///
/// The one counting rule of every report: `xfail` and `xpass` are buckets of their own (not
/// part of `passed`), a strict xpass counts as `failed`. The console's closing line folds
/// them further ([`Counts::closing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Counts {
    /// All testcases below the node.
    pub total: u32,
    /// Passed.
    pub passed: u32,
    /// Failed, including strict xpass.
    pub failed: u32,
    /// Errored.
    pub error: u32,
    /// Skipped.
    pub skipped: u32,
    /// Expected failures that failed.
    pub xfail: u32,
    /// Expected failures that passed (not strict). Reports written before this bucket
    /// existed counted them in `passed`.
    #[serde(default)]
    pub xpass: u32,
    /// Interrupted while running.
    pub incomplete: u32,
    /// Abandoned by a cancel (interactive mode).
    #[serde(default)]
    pub cancelled: u32,
    /// Their worker process died while they ran.
    #[serde(default)]
    pub crashed: u32,
    /// Not run.
    pub unknown: u32,
}

impl Counts {
    /// Counts one testcase with this status.
    pub fn add_status(&mut self, status: Status) {
        self.total += 1;
        match status {
            Status::Passed => self.passed += 1,
            Status::Failed | Status::XpassStrict => self.failed += 1,
            Status::Error => self.error += 1,
            Status::Skipped => self.skipped += 1,
            Status::Xfail => self.xfail += 1,
            Status::Xpass => self.xpass += 1,
            Status::Incomplete => self.incomplete += 1,
            Status::Cancelled => self.cancelled += 1,
            Status::Crashed => self.crashed += 1,
            Status::Unknown => self.unknown += 1,
        }
    }

    /// The closing line's three numbers `(passed, failed, skipped)`: expected failures (xfail
    /// and xpass) count as passed, errors, crashes and incomplete testcases as failed; cancelled and
    /// not-run testcases are in none of them.
    pub fn closing(&self) -> (u32, u32, u32) {
        (
            self.passed + self.xfail + self.xpass,
            self.failed + self.error + self.crashed + self.incomplete,
            self.skipped,
        )
    }

    /// Takes back counts [`merge`](Self::merge) added (a child's, before it changed).
    pub fn unmerge(&mut self, other: &Counts) {
        self.total = self.total.saturating_sub(other.total);
        self.passed = self.passed.saturating_sub(other.passed);
        self.failed = self.failed.saturating_sub(other.failed);
        self.error = self.error.saturating_sub(other.error);
        self.skipped = self.skipped.saturating_sub(other.skipped);
        self.xfail = self.xfail.saturating_sub(other.xfail);
        self.xpass = self.xpass.saturating_sub(other.xpass);
        self.incomplete = self.incomplete.saturating_sub(other.incomplete);
        self.cancelled = self.cancelled.saturating_sub(other.cancelled);
        self.crashed = self.crashed.saturating_sub(other.crashed);
        self.unknown = self.unknown.saturating_sub(other.unknown);
    }

    /// Adds another subtree's counts.
    pub fn merge(&mut self, other: &Counts) {
        self.total += other.total;
        self.passed += other.passed;
        self.failed += other.failed;
        self.error += other.error;
        self.skipped += other.skipped;
        self.xfail += other.xfail;
        self.xpass += other.xpass;
        self.incomplete += other.incomplete;
        self.cancelled += other.cancelled;
        self.crashed += other.crashed;
        self.unknown += other.unknown;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combining_statuses_does_not_depend_on_their_order() {
        let all = Status::ALL;
        for a in all {
            for b in all {
                assert_eq!(a.combine(b), b.combine(a), "{a:?} {b:?}");
                for c in all {
                    assert_eq!(a.combine(b).combine(c), a.combine(b.combine(c)));
                }
            }
        }
        assert_eq!(Status::XpassStrict.combine(Status::Failed), Status::Failed);
        assert_eq!(Status::Xpass.combine(Status::Passed), Status::Passed);
    }

    #[test]
    fn combine_prefers_the_most_severe_status() {
        assert_eq!(Status::Passed.combine(Status::Failed), Status::Failed);
        assert_eq!(Status::Error.combine(Status::Failed), Status::Error);
        assert_eq!(Status::Skipped.combine(Status::Passed), Status::Passed);
        assert_eq!(Status::Xfail.combine(Status::Skipped), Status::Xfail);
        assert_eq!(Status::Passed.combine(Status::Unknown), Status::Unknown);
    }

    #[test]
    fn counts_fold_statuses() {
        let mut counts = Counts::default();
        for status in [
            Status::Passed,
            Status::Xpass,
            Status::XpassStrict,
            Status::Error,
        ] {
            counts.add_status(status);
        }
        assert_eq!(
            (
                counts.total,
                counts.passed,
                counts.xpass,
                counts.failed,
                counts.error
            ),
            (4, 1, 1, 1, 1)
        );
    }

    #[test]
    fn every_status_lands_in_one_bucket_and_the_closing_rule_folds_expected_failures_into_passed() {
        let mut counts = Counts::default();
        let all = Status::ALL;
        for status in all {
            counts.add_status(status);
        }
        let buckets = counts.passed
            + counts.failed
            + counts.error
            + counts.skipped
            + counts.xfail
            + counts.xpass
            + counts.incomplete
            + counts.cancelled
            + counts.crashed
            + counts.unknown;
        assert_eq!((counts.total, buckets), (11, 11));
        assert_eq!((counts.xfail, counts.xpass, counts.cancelled), (1, 1, 1));
        // passed + xfail + xpass; failed + strict xpass + error + crashed + incomplete;
        // skipped.
        assert_eq!(counts.closing(), (3, 5, 1));
        let mut doubled = counts;
        doubled.merge(&counts);
        assert_eq!(doubled.closing(), (6, 10, 2));
    }

    #[test]
    fn counts_of_older_reports_read_without_the_newer_buckets() {
        let counts: Counts = serde_json::from_str(
            r#"{"total":2,"passed":1,"failed":0,"error":0,"skipped":0,"xfail":1,"incomplete":0,"unknown":0}"#,
        )
        .unwrap();
        assert_eq!((counts.xfail, counts.xpass, counts.cancelled), (1, 0, 0));
    }

    #[test]
    fn a_cancelled_testcase_is_no_failure_and_outranks_only_results() {
        assert!(!Status::Cancelled.is_failure());
        assert_eq!(Status::Passed.combine(Status::Cancelled), Status::Cancelled);
        assert_eq!(Status::Cancelled.combine(Status::Unknown), Status::Unknown);
        assert_eq!(Status::Cancelled.as_str(), "cancelled");
    }

    #[test]
    fn statuses_serialize_in_snake_case() {
        assert_eq!(
            serde_json::to_string(&Status::XpassStrict).unwrap(),
            "\"xpass_strict\""
        );
    }
}

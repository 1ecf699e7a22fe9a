//! Events: the spine of a run (DESIGN.md §3).
//!
//! Testcase code, hooks and the runner emit events; the report builder is their single
//! reader that owns the report tree, and the console reporter (and later the live UI and
//! worker pipes) subscribe to the same stream. Every event names the node it is about by UID.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::{DriverStatus, Entry, ErrorInfo, RuntimeStatus, Status};

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A test (MultiTest) began: its environment starts and its suites follow.
    TestStarted {
        /// The test's UID.
        uid: String,
        /// Seconds since the Unix epoch.
        time: f64,
    },
    /// A test ended; `error` is set when the test itself (not a testcase) failed.
    TestFinished {
        /// The test's UID.
        uid: String,
        /// Seconds since the Unix epoch.
        time: f64,
        /// A test-level error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorInfo>,
    },
    /// A suite began (its setup hook runs next).
    SuiteStarted {
        /// The suite's UID.
        uid: String,
        /// Seconds since the Unix epoch.
        time: f64,
    },
    /// A suite ended; `error` holds a setup or teardown failure.
    SuiteFinished {
        /// The suite's UID.
        uid: String,
        /// Seconds since the Unix epoch.
        time: f64,
        /// A setup or teardown error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorInfo>,
    },
    /// A testcase began.
    TestcaseStarted {
        /// The testcase's UID.
        uid: String,
        /// Seconds since the Unix epoch.
        time: f64,
    },
    /// The result recorder recorded an entry on a node (a testcase, or a suite for its hooks).
    EntryRecorded {
        /// The UID of the node the entry belongs to.
        uid: String,
        /// The entry.
        entry: Entry,
    },
    /// A testcase ended with this status.
    TestcaseFinished {
        /// The testcase's UID.
        uid: String,
        /// Seconds since the Unix epoch.
        time: f64,
        /// Its outcome.
        status: Status,
        /// Why it errored (panic, returned error, timeout).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorInfo>,
    },
    /// A testcase that failed runs again (`--rerun`): its result so far becomes an earlier
    /// attempt, and a `TestcaseStarted` follows.
    TestcaseRerun {
        /// The testcase's UID.
        uid: String,
        /// Which run comes next: 2 for the first rerun.
        attempt: u32,
    },
    /// A driver of a test's environment changed status.
    DriverStatusChanged {
        /// The UID of the test whose environment holds the driver.
        uid: String,
        /// The driver's name.
        driver: String,
        /// The new status.
        status: DriverStatus,
        /// Seconds since the Unix epoch.
        time: f64,
        /// The driver's attributes (sent when it has started).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        attributes: BTreeMap<String, serde_json::Value>,
        /// Why it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorInfo>,
        /// The last lines of its logs, when it failed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        log_tail: Vec<String>,
        /// With `Started`: the seconds of its start spent waiting for readiness; the rest was
        /// setup (hooks, `initdb`, spawning).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ready_wait: Option<f64>,
    },
    /// Who listens where and who is connected to whom in a test's environment, read just
    /// before it stops.
    DriverConnections {
        /// The UID of the test whose environment it is.
        uid: String,
        /// The listening sockets and connections.
        connections: crate::DriverConnections,
    },
    /// A node was queued, started or finished in an interactive run.
    RuntimeStatus {
        /// The node's UID.
        uid: String,
        /// Its new runtime status.
        runtime_status: RuntimeStatus,
    },
    /// A test's environment changed as a whole (interactive runs).
    EnvStatus {
        /// The test's UID.
        uid: String,
        /// The environment's new status.
        env_status: DriverStatus,
    },
    /// Every result was cleared (interactive runs); readers start from a fresh snapshot.
    Reset,
    /// Code reload in interactive mode moved on: rebuilding, failed (the old code keeps
    /// serving), or reloading (the process re-executes; clients reconnect).
    Reload {
        /// Where the reload is.
        reload: crate::ReloadStatus,
    },
    /// The run is over; nothing follows.
    PlanFinished {
        /// Seconds since the Unix epoch.
        time: f64,
        /// True when an interrupt cut the run short.
        interrupted: bool,
    },
}

impl Event {
    /// When it happened, for the events that carry their time (seconds since the Unix
    /// epoch).
    pub fn time(&self) -> Option<f64> {
        match self {
            Event::TestStarted { time, .. }
            | Event::TestFinished { time, .. }
            | Event::SuiteStarted { time, .. }
            | Event::SuiteFinished { time, .. }
            | Event::TestcaseStarted { time, .. }
            | Event::TestcaseFinished { time, .. }
            | Event::DriverStatusChanged { time, .. }
            | Event::PlanFinished { time, .. } => Some(*time),
            _ => None,
        }
    }

    /// The UID of the node the event is about (`None` for plan-wide events).
    pub fn uid(&self) -> Option<&str> {
        match self {
            Event::TestStarted { uid, .. }
            | Event::TestFinished { uid, .. }
            | Event::SuiteStarted { uid, .. }
            | Event::SuiteFinished { uid, .. }
            | Event::TestcaseStarted { uid, .. }
            | Event::EntryRecorded { uid, .. }
            | Event::TestcaseRerun { uid, .. }
            | Event::TestcaseFinished { uid, .. }
            | Event::DriverStatusChanged { uid, .. }
            | Event::DriverConnections { uid, .. }
            | Event::RuntimeStatus { uid, .. }
            | Event::EnvStatus { uid, .. } => Some(uid),
            Event::PlanFinished { .. } | Event::Reset | Event::Reload { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_json_lines() {
        let event = Event::TestcaseFinished {
            uid: "t/s/c".into(),
            time: 2.0,
            status: Status::Passed,
            error: None,
        };
        let line = serde_json::to_string(&event).unwrap();
        assert_eq!(
            line,
            r#"{"event":"testcase_finished","uid":"t/s/c","time":2.0,"status":"passed"}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), event);
        assert_eq!(event.uid(), Some("t/s/c"));
    }
}

//! Drivers in the report: their life-cycle status, attributes and start/stop timings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ErrorInfo, Timer};

/// Where a driver is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DriverStatus {
    /// Declared, never started.
    #[default]
    NotStarted,
    /// Starting: processes spawned or sockets bound, readiness not yet seen.
    Starting,
    /// Ready; its attributes are published.
    Started,
    /// Stopping.
    Stopping,
    /// Stopped; nothing of it is left running.
    Stopped,
    /// Failed to start, crashed, or failed to stop cleanly (and was killed).
    Failed,
}

impl DriverStatus {
    /// Whether the life cycle allows going from `self` to `to`.
    pub fn can_become(self, to: DriverStatus) -> bool {
        use DriverStatus::*;
        matches!(
            (self, to),
            (NotStarted | Stopped | Failed, Starting)
                | (Starting, Started | Failed | Stopping)
                | (Started, Stopping | Failed)
                | (Failed, Stopping | Stopped)
                | (Stopping, Stopped | Failed)
        )
    }

    /// The lower-case name used on the console and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DriverStatus::NotStarted => "not_started",
            DriverStatus::Starting => "starting",
            DriverStatus::Started => "started",
            DriverStatus::Stopping => "stopping",
            DriverStatus::Stopped => "stopped",
            DriverStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for DriverStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A driver of a test's environment, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DriverReport {
    /// Unique name in its environment.
    pub name: String,
    /// The driver type (`App`, `TcpServer`, …).
    pub kind: String,
    /// Last known status.
    pub status: DriverStatus,
    /// From the start request until ready (or failure).
    #[serde(default)]
    pub start: Timer,
    /// From the stop request until stopped.
    #[serde(default)]
    pub stop: Timer,
    /// What the driver published once started (host, port, pid, log paths, extracted values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// Why it failed to start, crashed or failed to stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// The last lines of its logs, kept when something went wrong.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// The seconds of its start spent waiting for readiness; the rest of the start was
    /// setup (hooks, `initdb`, spawning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_wait: Option<f64>,
}

impl DriverReport {
    /// A driver that has not started.
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> DriverReport {
        DriverReport {
            name: name.into(),
            kind: kind.into(),
            status: DriverStatus::NotStarted,
            start: Timer::default(),
            stop: Timer::default(),
            attributes: BTreeMap::new(),
            error: None,
            log_tail: Vec::new(),
            ready_wait: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_life_cycle_allows_only_legal_transitions() {
        use DriverStatus::*;
        assert!(NotStarted.can_become(Starting));
        assert!(Starting.can_become(Started));
        assert!(Started.can_become(Stopping));
        assert!(Stopping.can_become(Stopped));
        assert!(Stopped.can_become(Starting), "restart");
        assert!(!Stopping.can_become(Started));
        assert!(!NotStarted.can_become(Started));
        assert!(!Started.can_become(Starting));
    }
}

/// Who listens where and who is connected to whom in a test's environment, read from the
/// drivers' processes and sockets just before the environment stops (Testplan's
/// `--driver-info` flow chart).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DriverConnections {
    /// The listening sockets of the drivers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listening: Vec<ListeningSocket>,
    /// Established connections to the drivers' listening sockets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<DriverConnection>,
}

impl DriverConnections {
    /// A graph of these sockets and connections.
    pub fn new(
        listening: Vec<ListeningSocket>,
        connections: Vec<DriverConnection>,
    ) -> DriverConnections {
        DriverConnections {
            listening,
            connections,
        }
    }
}

/// A driver's listening socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListeningSocket {
    /// The driver.
    pub driver: String,
    /// `host:port` (`[::1]:port` for IPv6).
    pub address: String,
}

/// Connections from one party to a driver's listening socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverConnection {
    /// The connecting party: a driver's name, `testcases` (the plan's own process: testcases
    /// and in-process clients), or `pid N (name)` for another process.
    pub from: String,
    /// The driver connected to.
    pub to: String,
    /// The listening address connected to.
    pub address: String,
    /// How many connections.
    pub count: u32,
}

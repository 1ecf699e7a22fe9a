//! The report tree: plan → test → suite → (parametrization) → testcase → entries.
//!
//! One node type serves every level so that the UI, the exporters and the report builder
//! walk the tree the same way; `kind` says which level a node is.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{
    Counts, DriverReport, DriverStatus, Entry, Parameters, RuntimeStatus, SCHEMA_VERSION, Status,
};

/// A whole run: the plan node plus facts about the run itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// [`SCHEMA_VERSION`] of the document.
    pub schema_version: u32,
    /// Host name the plan ran on.
    pub host: String,
    /// Process id of the plan.
    pub pid: u32,
    /// The run's output folder.
    pub runpath: String,
    /// The seed used when `--shuffle` reordered anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuffle_seed: Option<u64>,
    /// True when Ctrl-C (or SIGTERM) cut the run short.
    pub interrupted: bool,
    /// The plan node and everything below it.
    pub plan: ReportNode,
    /// The last code reload of an interactive run, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload: Option<ReloadStatus>,
}

impl Report {
    /// An empty report around a plan node.
    pub fn new(plan: ReportNode, host: String, runpath: String) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            host,
            pid: std::process::id(),
            runpath,
            shuffle_seed: None,
            interrupted: false,
            plan,
            reload: None,
        }
    }
}

/// The level of a report node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NodeKind {
    /// The root.
    Plan,
    /// A MultiTest (or, later, a process test).
    Test,
    /// A suite of a test.
    Suite,
    /// The group of testcases generated from one parametrized testcase.
    Parametrization,
    /// One testcase.
    Testcase,
}

/// Where in the user's sources something happened.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SourceLocation {
    /// Path as the compiler saw it (relative to the package, usually). Borrowed when it
    /// comes from `file!()` or a caller's location, so a million entries share one copy.
    pub file: Cow<'static, str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column; 0 when unknown.
    #[serde(default)]
    pub column: u32,
}

impl SourceLocation {
    /// `file:line:column` (column 0 when unknown).
    pub fn new(file: impl Into<Cow<'static, str>>, line: u32, column: u32) -> SourceLocation {
        SourceLocation {
            file: file.into(),
            line,
            column,
        }
    }
}

impl std::fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.column > 0 {
            write!(f, "{}:{}:{}", self.file, self.line, self.column)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// Why a node errored: a panic, a returned error, a timeout, a failed setup hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorInfo {
    /// The error's message.
    pub message: String,
    /// Where it was raised, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
}

impl ErrorInfo {
    /// An error with its message and, when known, where it was raised.
    pub fn new(message: impl Into<String>, location: Option<SourceLocation>) -> ErrorInfo {
        ErrorInfo {
            message: message.into(),
            location,
        }
    }
}

/// One earlier run of a testcase that ran again (`--rerun`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TestcaseAttempt {
    /// Its outcome.
    pub status: Status,
    /// Why it failed, when it errored or crashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    /// When it ran.
    #[serde(default)]
    pub timer: Timer,
    /// What it recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<Entry>,
}

impl TestcaseAttempt {
    /// The attempt a testcase's node holds now, taken out of it (the node is left as if it
    /// had not run).
    pub fn take_from(node: &mut ReportNode) -> TestcaseAttempt {
        TestcaseAttempt {
            status: std::mem::take(&mut node.status),
            error: node.error.take().map(|error| *error),
            timer: std::mem::take(&mut node.timer),
            entries: std::mem::take(&mut node.entries),
        }
    }
}

/// Start and end of a node, in seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Timer {
    /// When the node started; `None` if it never did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
}

impl Timer {
    /// Seconds between start and end, when both are known.
    pub fn duration(&self) -> Option<f64> {
        Some(self.end? - self.start?)
    }
}

/// One node of the report tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReportNode {
    /// Stable id: `test/suite/testcase[/param-suffix]`; the plan's uid is its name.
    pub uid: String,
    /// Display name.
    pub name: String,
    /// Which level this is.
    pub kind: NodeKind,
    /// Outcome (for groups: the most severe of the children).
    pub status: Status,
    /// Life-cycle state, for live views.
    #[serde(default)]
    pub runtime_status: RuntimeStatus,
    /// Tags of this node, including the ones inherited from its parents.
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    pub tags: Arc<[String]>,
    /// A longer description (a suite's or testcase's doc comment), shared with the plan's
    /// description of the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Arc<str>>,
    /// Where the node is defined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
    /// Parameter names and values of a parametrized testcase, rendered with `Debug`;
    /// shared with the plan's description of the testcase rather than copied.
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
    /// Why a testcase is skipped or expected to fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Start and end times.
    #[serde(default)]
    pub timer: Timer,
    /// Testcase counts below this node (a testcase counts itself).
    #[serde(default)]
    pub counts: Counts,
    /// An error that made the node ERROR (boxed: most nodes have none, and a million
    /// testcases would each carry its room).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<ErrorInfo>>,
    /// Assertions and logs recorded directly on this node (testcases; suites for hooks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<Entry>,
    /// Changes whenever anything at or below this node changes (live views compare it).
    #[serde(default)]
    pub hash: u64,
    /// Where a test's environment is in its life cycle (interactive runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_status: Option<DriverStatus>,
    /// Why the result is stale: it is from code that has changed since (kept across a code
    /// reload), e.g. "its code changed" or "changed: src/geometry.rs::area".
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "stale_reason"
    )]
    pub stale: Option<String>,
    /// The drivers of a test's environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drivers: Vec<DriverReport>,
    /// Who listened where and who was connected to whom in a test's environment, read just
    /// before it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<crate::DriverConnections>,
    /// A testcase's earlier runs (`--rerun`), oldest first; its own fields are the last run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<TestcaseAttempt>,
    /// A testcase that failed and then passed when run again (`--rerun`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flaky: bool,
    /// Children in run order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ReportNode>,
}

impl ReportNode {
    /// A node that has not run yet.
    pub fn new(kind: NodeKind, uid: impl Into<String>, name: impl Into<String>) -> ReportNode {
        ReportNode {
            uid: uid.into(),
            name: name.into(),
            kind,
            status: Status::Unknown,
            runtime_status: RuntimeStatus::Ready,
            tags: Arc::default(),
            description: None,
            location: None,
            parameters: Parameters::default(),
            reason: None,
            timer: Timer::default(),
            counts: Counts::default(),
            error: None,
            entries: Vec::new(),
            hash: 0,
            env_status: None,
            stale: None,
            drivers: Vec::new(),
            connections: None,
            attempts: Vec::new(),
            flaky: false,
            children: Vec::new(),
        }
    }

    /// A copy of this node without its children (a shallow node of the interactive API).
    pub fn without_children(&self) -> ReportNode {
        ReportNode {
            uid: self.uid.clone(),
            name: self.name.clone(),
            kind: self.kind,
            status: self.status,
            runtime_status: self.runtime_status,
            tags: self.tags.clone(),
            description: self.description.clone(),
            location: self.location.clone(),
            parameters: self.parameters.clone(),
            reason: self.reason.clone(),
            timer: self.timer,
            counts: self.counts,
            error: self.error.clone(),
            entries: self.entries.clone(),
            hash: self.hash,
            env_status: self.env_status,
            stale: self.stale.clone(),
            drivers: self.drivers.clone(),
            connections: self.connections.clone(),
            attempts: self.attempts.clone(),
            flaky: self.flaky,
            children: Vec::new(),
        }
    }

    /// Every testcase below (or at) this node, depth first.
    pub fn testcases(&self) -> Vec<&ReportNode> {
        let mut found = Vec::new();
        self.collect_testcases(&mut found);
        found
    }

    fn collect_testcases<'a>(&'a self, found: &mut Vec<&'a ReportNode>) {
        if self.kind == NodeKind::Testcase {
            found.push(self);
        }
        for child in &self.children {
            child.collect_testcases(found);
        }
    }

    /// Recomputes `status` and `counts` of this node from its direct children only (they
    /// must be up to date): the cheap update along one path after a single change.
    pub fn recompute_shallow(&mut self) {
        if self.kind == NodeKind::Testcase {
            self.counts = Counts::default();
            self.counts.add_status(self.status);
            return;
        }
        let mut counts = Counts::default();
        let mut status = if self.error.is_some() {
            Status::Error
        } else {
            Status::Skipped
        };
        for child in &self.children {
            counts.merge(&child.counts);
            status = status.combine(child.status);
        }
        if self.children.is_empty() && self.error.is_none() {
            status = Status::Unknown;
        }
        if self.entries.iter().any(|entry| entry.passed == Some(false)) {
            status = status.combine(Status::Failed);
        }
        self.counts = counts;
        self.status = status;
    }

    /// Recomputes `status` and `counts` of every group node from its testcases.
    ///
    /// A group keeps an error of its own (e.g. a failed setup) on top of its children's.
    pub fn recompute(&mut self) {
        for child in &mut self.children {
            child.recompute();
        }
        self.recompute_shallow();
    }
}

/// Reads `stale` as a reason, or as the `true` reports of the first code-reload version
/// wrote (no reason given).
fn stale_reason<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stale {
        Flag(bool),
        Reason(String),
    }
    Ok(match Option::<Stale>::deserialize(deserializer)? {
        None | Some(Stale::Flag(false)) => None,
        Some(Stale::Flag(true)) => Some("its code changed".to_string()),
        Some(Stale::Reason(reason)) => Some(reason),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testcase(uid: &str, status: Status) -> ReportNode {
        let mut node = ReportNode::new(NodeKind::Testcase, uid, uid);
        node.status = status;
        node
    }

    #[test]
    fn stale_reads_as_a_reason_or_the_older_flag() {
        let read = |stale: &str| {
            let text = format!(
                r#"{{"uid":"t","name":"t","kind":"testcase","status":"passed","stale":{stale}}}"#
            );
            serde_json::from_str::<ReportNode>(&text).unwrap().stale
        };
        assert_eq!(
            read(r#""changed: src/a.rs::f""#).as_deref(),
            Some("changed: src/a.rs::f")
        );
        assert_eq!(read("true").as_deref(), Some("its code changed"));
        assert_eq!(read("false"), None);
        assert_eq!(read("null"), None);
        let node = testcase("t", Status::Passed);
        assert!(!serde_json::to_string(&node).unwrap().contains("stale"));
    }

    #[test]
    fn recompute_folds_children_into_counts_and_status() {
        let mut suite = ReportNode::new(NodeKind::Suite, "t/s", "s");
        suite.children = vec![
            testcase("t/s/a", Status::Passed),
            testcase("t/s/b", Status::Failed),
        ];
        suite.children.push(testcase("t/s/c", Status::Skipped));
        let mut test = ReportNode::new(NodeKind::Test, "t", "t");
        test.children.push(suite);
        test.recompute();
        assert_eq!(test.status, Status::Failed);
        assert_eq!(test.counts.total, 3);
        assert_eq!(test.counts.passed, 1);
        assert_eq!(test.counts.failed, 1);
        assert_eq!(test.counts.skipped, 1);
    }

    #[test]
    fn a_group_error_outranks_passing_children() {
        let mut suite = ReportNode::new(NodeKind::Suite, "t/s", "s");
        suite.error = Some(Box::new(ErrorInfo {
            message: "teardown failed".into(),
            location: None,
        }));
        suite.children.push(testcase("t/s/a", Status::Passed));
        suite.recompute();
        assert_eq!(suite.status, Status::Error);
    }

    #[test]
    fn report_round_trips_through_json() {
        let mut plan = ReportNode::new(NodeKind::Plan, "p", "p");
        plan.children.push(testcase("p/a", Status::Passed));
        let report = Report::new(plan, "host".into(), "/tmp/run".into());
        let text = serde_json::to_string(&report).unwrap();
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }
}

/// Where a code reload of an interactive run is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReloadPhase {
    /// cargo is rebuilding the plan.
    Rebuilding,
    /// The build failed; the old code keeps serving.
    Failed,
    /// The build succeeded; the process re-executes the new binary.
    Reloading,
    /// The new code serves.
    Reloaded,
}

/// A code reload's phase and what it said (compiler errors, what changed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReloadStatus {
    /// Where the reload is.
    pub phase: ReloadPhase,
    /// The compiler's errors when it failed; a summary otherwise.
    pub message: String,
    /// Seconds since the Unix epoch.
    pub time: f64,
}

impl ReloadStatus {
    /// A reload's phase with its message, at `time` (seconds since the Unix epoch).
    pub fn new(phase: ReloadPhase, message: impl Into<String>, time: f64) -> ReloadStatus {
        ReloadStatus {
            phase,
            message: message.into(),
            time,
        }
    }
}

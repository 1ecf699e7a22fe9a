//! The report builder: the single owner of the report tree (DESIGN.md §3).
//!
//! It starts from the skeleton of the selection and folds every event into it. Nobody else
//! mutates the tree: exporters read the finished [`Report`], live views read snapshots.

use std::collections::HashMap;

use testrig_model::{
    DriverStatus, ErrorInfo, Event, NodeKind, Report, ReportNode, RuntimeStatus, Status, Timer,
};

/// Folds events into a report tree.
#[derive(Debug)]
pub struct ReportBuilder {
    report: Report,
    /// Child-index path from the plan node to every node, by UID.
    paths: HashMap<String, Vec<usize>>,
}

impl ReportBuilder {
    /// A builder over a skeleton report.
    pub fn new(report: Report) -> ReportBuilder {
        let mut paths = HashMap::new();
        index_paths(&report.plan, &mut Vec::new(), &mut paths);
        ReportBuilder { report, paths }
    }

    /// The report as it stands.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The node with this UID.
    pub fn node(&self, uid: &str) -> Option<&ReportNode> {
        let path = self.paths.get(uid)?;
        Some(
            path.iter()
                .fold(&self.report.plan, |node, &i| &node.children[i]),
        )
    }

    fn node_mut(&mut self, uid: &str) -> Option<&mut ReportNode> {
        let path = self.paths.get(uid)?;
        Some(
            path.iter()
                .fold(&mut self.report.plan, |node, &i| &mut node.children[i]),
        )
    }

    /// The parametrization group holding a testcase, if any.
    fn group_of_mut(&mut self, uid: &str) -> Option<&mut ReportNode> {
        let path = self.paths.get(uid)?;
        let (_, parent_path) = path.split_last()?;
        let parent = parent_path
            .iter()
            .fold(&mut self.report.plan, |node, &i| &mut node.children[i]);
        (parent.kind == NodeKind::Parametrization).then_some(parent)
    }

    /// Folds one event into the tree. Events about unknown nodes are ignored; events about a
    /// testcase that already finished (a timed-out testcase that kept running) too.
    pub fn apply(&mut self, event: &Event) {
        self.fold(event);
        if let Some(uid) = event.uid() {
            self.touch(uid);
        }
    }

    /// Bumps the hash of the node and its ancestors and refolds their counts and statuses,
    /// so a live view reading any node sees it current.
    fn touch(&mut self, uid: &str) {
        let Some(path) = self.paths.get(uid).cloned() else {
            return;
        };
        touch_path(&mut self.report.plan, &path);
    }

    /// Clears every result (interactive reset): statuses, entries, errors and timers go; the
    /// drivers keep their state, since environments stay up.
    pub fn reset_results(&mut self) {
        reset_node(&mut self.report.plan);
        self.report.interrupted = false;
        self.report.plan.recompute();
    }

    fn fold(&mut self, event: &Event) {
        match event {
            Event::TestStarted { uid, time } | Event::SuiteStarted { uid, time } => {
                if self.report.plan.timer.start.is_none() {
                    self.report.plan.timer.start = Some(*time);
                    self.report.plan.runtime_status = RuntimeStatus::Running;
                }
                if let Some(node) = self.node_mut(uid) {
                    // A re-run (interactive) starts from a clean slate.
                    node.timer = Timer {
                        start: Some(*time),
                        end: None,
                    };
                    node.runtime_status = RuntimeStatus::Running;
                    node.error = None;
                    node.entries.clear();
                }
            }
            Event::TestFinished { uid, time, error }
            | Event::SuiteFinished { uid, time, error } => {
                if let Some(node) = self.node_mut(uid) {
                    node.timer.end = Some(*time);
                    node.runtime_status = RuntimeStatus::Finished;
                    if error.is_some() {
                        node.error = error.clone();
                    }
                }
            }
            Event::TestcaseStarted { uid, time } => {
                if let Some(group) = self.group_of_mut(uid) {
                    group.timer.start.get_or_insert(*time);
                    group.runtime_status = RuntimeStatus::Running;
                }
                if let Some(node) = self.node_mut(uid) {
                    node.timer = Timer {
                        start: Some(*time),
                        end: None,
                    };
                    node.runtime_status = RuntimeStatus::Running;
                    node.status = Status::Unknown;
                    node.error = None;
                    node.entries.clear();
                    node.stale = None;
                }
            }
            Event::EntryRecorded { uid, entry } => {
                if let Some(node) = self.node_mut(uid)
                    && node.runtime_status != RuntimeStatus::Finished
                {
                    node.entries.push(entry.clone());
                }
            }
            Event::TestcaseFinished {
                uid,
                time,
                status,
                error,
            } => {
                if let Some(group) = self.group_of_mut(uid) {
                    group.timer.end = Some(*time);
                    group.runtime_status = RuntimeStatus::Finished;
                }
                if let Some(node) = self.node_mut(uid)
                    && node.runtime_status != RuntimeStatus::Finished
                {
                    node.timer.end = Some(*time);
                    node.status = *status;
                    node.error = error.clone();
                    node.runtime_status = RuntimeStatus::Finished;
                }
            }
            Event::DriverStatusChanged {
                uid,
                driver,
                status,
                time,
                attributes,
                error,
                log_tail,
            } => {
                let Some(test) = self.node_mut(uid) else {
                    return;
                };
                let Some(report) = test
                    .drivers
                    .iter_mut()
                    .find(|report| &report.name == driver)
                else {
                    return;
                };
                let stopping = matches!(report.status, DriverStatus::Stopping);
                match status {
                    DriverStatus::Starting => {
                        report.start = Timer {
                            start: Some(*time),
                            end: None,
                        };
                        report.stop = Timer::default();
                        report.error = None;
                        report.log_tail.clear();
                    }
                    DriverStatus::Started => report.start.end = Some(*time),
                    DriverStatus::Stopping => report.stop.start = Some(*time),
                    DriverStatus::Stopped => report.stop.end = Some(*time),
                    DriverStatus::Failed if stopping => report.stop.end = Some(*time),
                    DriverStatus::Failed => {
                        report.start.end.get_or_insert(*time);
                    }
                    DriverStatus::NotStarted => {}
                }
                report.status = *status;
                if !attributes.is_empty() {
                    report.attributes = attributes.clone();
                }
                if error.is_some() {
                    report.error = error.clone();
                    report.log_tail = log_tail.clone();
                }
            }
            Event::PlanFinished { time, interrupted } => {
                self.report.plan.timer.start.get_or_insert(*time);
                self.report.plan.timer.end = Some(*time);
                self.report.plan.runtime_status = RuntimeStatus::Finished;
                self.report.interrupted = *interrupted;
                close_unfinished(&mut self.report.plan, *time);
                self.report.plan.recompute();
            }
            Event::RuntimeStatus {
                uid,
                runtime_status,
            } => {
                if let Some(node) = self.node_mut(uid) {
                    node.runtime_status = *runtime_status;
                }
            }
            Event::EnvStatus { uid, env_status } => {
                if let Some(node) = self.node_mut(uid) {
                    node.env_status = Some(*env_status);
                }
            }
            Event::Reset => self.reset_results(),
            Event::Reload { reload } => self.report.reload = Some(reload.clone()),
            _ => {}
        }
    }

    /// The finished report.
    pub fn finish(mut self) -> Report {
        self.report.plan.recompute();
        self.report
    }
}

fn touch_path(node: &mut ReportNode, path: &[usize]) {
    node.hash = node.hash.wrapping_add(1);
    if let Some((&first, rest)) = path.split_first() {
        touch_path(&mut node.children[first], rest);
    }
    node.recompute_shallow();
}

fn reset_node(node: &mut ReportNode) {
    node.status = Status::Unknown;
    node.runtime_status = RuntimeStatus::Ready;
    node.timer = Timer::default();
    node.error = None;
    node.entries.clear();
    node.stale = None;
    node.hash = node.hash.wrapping_add(1);
    for child in &mut node.children {
        reset_node(child);
    }
}

fn index_paths(node: &ReportNode, path: &mut Vec<usize>, paths: &mut HashMap<String, Vec<usize>>) {
    paths.insert(node.uid.clone(), path.clone());
    for (i, child) in node.children.iter().enumerate() {
        path.push(i);
        index_paths(child, path, paths);
        path.pop();
    }
}

/// Marks what was running when the plan ended as incomplete and what never ran as not run.
fn close_unfinished(node: &mut ReportNode, time: f64) {
    match node.runtime_status {
        RuntimeStatus::Running | RuntimeStatus::Waiting => {
            node.timer.end.get_or_insert(time);
            node.runtime_status = RuntimeStatus::Finished;
            if node.kind == NodeKind::Testcase {
                node.status = Status::Incomplete;
                node.error.get_or_insert(ErrorInfo {
                    message: "interrupted while running".into(),
                    location: None,
                });
            }
        }
        RuntimeStatus::Ready => {
            node.runtime_status = RuntimeStatus::NotRun;
        }
        RuntimeStatus::Finished | RuntimeStatus::NotRun => {}
    }
    for child in &mut node.children {
        close_unfinished(child, time);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testrig_model::{Entry, EntryDetail};

    fn skeleton() -> Report {
        let mut plan = ReportNode::new(NodeKind::Plan, "p", "p");
        let mut test = ReportNode::new(NodeKind::Test, "t", "t");
        let mut suite = ReportNode::new(NodeKind::Suite, "t/s", "s");
        suite
            .children
            .push(ReportNode::new(NodeKind::Testcase, "t/s/a", "a"));
        let mut group = ReportNode::new(NodeKind::Parametrization, "t/s/p", "p");
        group
            .children
            .push(ReportNode::new(NodeKind::Testcase, "t/s/p/x_1", "p <x=1>"));
        group
            .children
            .push(ReportNode::new(NodeKind::Testcase, "t/s/p/x_2", "p <x=2>"));
        suite.children.push(group);
        test.children.push(suite);
        plan.children.push(test);
        Report::new(plan, "host".into(), "/tmp".into())
    }

    fn log_entry() -> Entry {
        Entry {
            description: "d".into(),
            passed: Some(true),
            location: None,
            timestamp: 0.0,
            detail: EntryDetail::Log {
                message: "m".into(),
                value: None,
            },
        }
    }

    #[test]
    fn folds_testcase_events_into_statuses_and_counts() {
        let mut builder = ReportBuilder::new(skeleton());
        builder.apply(&Event::TestcaseStarted {
            uid: "t/s/a".into(),
            time: 1.0,
        });
        builder.apply(&Event::EntryRecorded {
            uid: "t/s/a".into(),
            entry: log_entry(),
        });
        builder.apply(&Event::TestcaseFinished {
            uid: "t/s/a".into(),
            time: 2.0,
            status: Status::Passed,
            error: None,
        });
        builder.apply(&Event::TestcaseStarted {
            uid: "t/s/p/x_1".into(),
            time: 2.0,
        });
        builder.apply(&Event::TestcaseFinished {
            uid: "t/s/p/x_1".into(),
            time: 3.0,
            status: Status::Failed,
            error: None,
        });
        // A late entry from an abandoned testcase must not land in a finished one.
        builder.apply(&Event::EntryRecorded {
            uid: "t/s/a".into(),
            entry: log_entry(),
        });
        builder.apply(&Event::PlanFinished {
            time: 4.0,
            interrupted: false,
        });
        let report = builder.finish();
        let suite = &report.plan.children[0].children[0];
        assert_eq!(suite.children[0].entries.len(), 1);
        assert_eq!(suite.children[0].timer.duration(), Some(1.0));
        assert_eq!(suite.children[1].status, Status::Failed);
        assert_eq!(suite.children[1].timer.start, Some(2.0));
        assert_eq!(
            suite.children[1].children[1].runtime_status,
            RuntimeStatus::NotRun
        );
        assert_eq!(report.plan.counts.total, 3);
        assert_eq!(report.plan.counts.failed, 1);
        assert_eq!(report.plan.counts.unknown, 1);
        assert_eq!(report.plan.status, Status::Failed);
    }

    #[test]
    fn running_testcases_become_incomplete_when_interrupted() {
        let mut builder = ReportBuilder::new(skeleton());
        builder.apply(&Event::TestcaseStarted {
            uid: "t/s/a".into(),
            time: 1.0,
        });
        builder.apply(&Event::PlanFinished {
            time: 2.0,
            interrupted: true,
        });
        let report = builder.finish();
        assert!(report.interrupted);
        let testcase = &report.plan.children[0].children[0].children[0];
        assert_eq!(testcase.status, Status::Incomplete);
        assert!(
            testcase
                .error
                .as_ref()
                .unwrap()
                .message
                .contains("interrupted")
        );
    }
}

//! The report builder: the single owner of the report tree (DESIGN.md §3).
//!
//! It starts from the skeleton of the selection and folds every event into it. Nobody else
//! mutates the tree: exporters read the finished [`Report`], live views read snapshots.
//!
//! An event changes one node; its ancestors' counts and statuses follow by difference (the
//! child's counts before and after, and a tally of their children's statuses), so the work
//! per event is proportional to the depth of the tree, not to the width of any node: a
//! parametrization of 100,000 cases costs what 100,000 small suites do.

use std::collections::HashMap;

use crate::FastHash;

use testrig_model::{
    Counts, DriverStatus, ErrorInfo, Event, NodeKind, Report, ReportNode, RuntimeStatus, Status,
    TestcaseAttempt, Timer,
};

/// Folds events into a report tree.
#[derive(Debug)]
pub struct ReportBuilder {
    report: Report,
    /// Every node by UID, as its index in `links`.
    index: UidIndex,
    /// Per node, in depth-first order (the plan first): where it hangs in the tree.
    links: Vec<NodeLink>,
    /// Per node with children, how many of them have each status (testcases, the most
    /// numerous nodes, have none to count).
    tallies: Vec<[u32; STATUSES.len()]>,
    /// The node of the last lookup: a testcase's events come one after another (its start,
    /// its entries, its end), so most lookups are the previous one again.
    last_found: Option<(String, u32)>,
}

/// Where a node hangs and where the tally of its children's statuses is.
#[derive(Debug, Clone)]
struct NodeLink {
    /// The parent's index in `links` (`NO_PARENT` for the plan).
    parent: u32,
    /// The node's index among its parent's children.
    child: u32,
    /// Its children per status (indexed by [`Status::position`]) are `tallies[tally]`;
    /// `NO_TALLY` for a node without children.
    tally: u32,
}

const NO_PARENT: u32 = u32::MAX;
const NO_TALLY: u32 = u32::MAX;

/// Every status, in [`Status::position`] order.
const STATUSES: [Status; Status::ALL.len()] = Status::ALL;

impl ReportBuilder {
    /// A builder over a skeleton report (or one carried over with results).
    pub fn new(report: Report) -> ReportBuilder {
        let mut builder = ReportBuilder {
            report,
            index: UidIndex::default(),
            links: Vec::new(),
            tallies: Vec::new(),
            last_found: None,
        };
        let plan = std::mem::replace(
            &mut builder.report.plan,
            ReportNode::new(NodeKind::Plan, "", ""),
        );
        index_nodes(&plan, NO_PARENT, 0, &mut builder);
        builder.report.plan = plan;
        // Counts and statuses agree with the testcases from the start: what an event changes
        // is then applied by difference.
        builder.recompute_all();
        builder
    }

    /// Refolds every count and status from the testcases up, and the tallies with them.
    fn recompute_all(&mut self) {
        self.report.plan.recompute();
        let mut next = 0;
        tally_statuses(&self.report.plan, &self.links, &mut self.tallies, &mut next);
    }

    /// The child indices from the plan down to the node at `id`.
    fn path_of(&self, mut id: u32) -> NodePath {
        let mut path = NodePath::default();
        while let Some(link) = self.links.get(id as usize)
            && link.parent != NO_PARENT
        {
            path.push(link.child);
            id = link.parent;
        }
        path
    }

    fn node_at_mut(&mut self, id: u32) -> &mut ReportNode {
        self.path_of(id)
            .root_first()
            .fold(&mut self.report.plan, |node, i| {
                &mut node.children[i as usize]
            })
    }

    /// The report as it stands.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The node with this UID.
    pub fn node(&self, uid: &str) -> Option<&ReportNode> {
        self.index
            .ids(uid)
            .map(|id| self.node_at(id))
            .find(|node| node.uid == uid)
    }

    fn node_at(&self, id: u32) -> &ReportNode {
        self.path_of(id)
            .root_first()
            .fold(&self.report.plan, |node, i| &node.children[i as usize])
    }

    /// The index of the node with this UID.
    fn id_of(&self, uid: &str) -> Option<u32> {
        self.index.ids(uid).find(|&id| self.node_at(id).uid == uid)
    }

    /// The node at `id`, when there is one.
    fn found_mut(&mut self, id: Option<u32>) -> Option<&mut ReportNode> {
        id.map(|id| self.node_at_mut(id))
    }

    /// The parametrization group holding the node at `id`, if any.
    fn group_of_mut(&mut self, id: u32) -> Option<&mut ReportNode> {
        let parent = self.links[id as usize].parent;
        if parent == NO_PARENT {
            return None;
        }
        let parent = self.node_at_mut(parent);
        (parent.kind == NodeKind::Parametrization).then_some(parent)
    }

    /// Folds one event into the tree. Events about unknown nodes are ignored; events about a
    /// testcase that already finished (a timed-out testcase that kept running) too.
    pub fn apply(&mut self, event: &Event) {
        // The node is looked up once: the fold and the refold of its ancestors use its index.
        let touched = event.uid().and_then(|uid| {
            let id = match &self.last_found {
                Some((last, id)) if last == uid => *id,
                _ => {
                    let id = self.id_of(uid)?;
                    let (last, last_id) = self.last_found.get_or_insert_with(Default::default);
                    last.clear();
                    last.push_str(uid);
                    *last_id = id;
                    id
                }
            };
            let node = self.node_at_mut(id);
            Some((id, node.counts, node.status))
        });
        self.fold(event, touched.map(|(id, ..)| id));
        if let Some((id, counts, status)) = touched {
            self.touch(id, counts, status);
        }
    }

    /// Bumps the hash of the node and its ancestors and brings their counts and statuses up
    /// to date, so a live view reading any node sees it current: the node is refolded from
    /// its own tally, each ancestor by the difference its child made.
    fn touch(&mut self, id: u32, counts_before: Counts, status_before: Status) {
        let statuses = match self.links[id as usize].tally {
            NO_TALLY => [0; STATUSES.len()],
            tally => self.tallies[tally as usize],
        };
        let node = self.node_at_mut(id);
        node.hash = node.hash.wrapping_add(1);
        refold(node, &statuses);
        let mut before = (counts_before, status_before);
        let mut after = (node.counts, node.status);
        let mut parent = self.links[id as usize].parent;
        while parent != NO_PARENT && before != after {
            // A parent has children, so it has a tally.
            let tally = &mut self.tallies[self.links[parent as usize].tally as usize];
            tally[before.1.position()] = tally[before.1.position()].saturating_sub(1);
            tally[after.1.position()] += 1;
            let statuses = *tally;
            let node = self.node_at_mut(parent);
            let previous = (node.counts, node.status);
            node.hash = node.hash.wrapping_add(1);
            node.counts.unmerge(&before.0);
            node.counts.merge(&after.0);
            node.status = group_status(node, &statuses);
            (before, after) = (previous, (node.counts, node.status));
            parent = self.links[parent as usize].parent;
        }
        // Unchanged from here up: only the hashes move.
        while parent != NO_PARENT {
            let node = self.node_at_mut(parent);
            node.hash = node.hash.wrapping_add(1);
            parent = self.links[parent as usize].parent;
        }
    }

    /// Clears every result (interactive reset): statuses, entries, errors and timers go; the
    /// drivers keep their state, since environments stay up.
    pub fn reset_results(&mut self) {
        reset_node(&mut self.report.plan);
        self.report.interrupted = false;
        self.recompute_all();
    }

    /// Folds `event` into the node at `id` (the node its UID names, when it has one and
    /// the node exists).
    fn fold(&mut self, event: &Event, id: Option<u32>) {
        match event {
            Event::TestStarted { time, .. } | Event::SuiteStarted { time, .. } => {
                if self.report.plan.timer.start.is_none() {
                    self.report.plan.timer.start = Some(*time);
                    self.report.plan.runtime_status = RuntimeStatus::Running;
                }
                if let Some(node) = self.found_mut(id) {
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
            Event::TestFinished { time, error, .. } | Event::SuiteFinished { time, error, .. } => {
                if let Some(node) = self.found_mut(id) {
                    node.timer.end = Some(*time);
                    node.runtime_status = RuntimeStatus::Finished;
                    if let Some(error) = error {
                        node.error = Some(Box::new(error.clone()));
                    }
                }
            }
            Event::TestcaseStarted { time, .. } => {
                if let Some(group) = id.and_then(|id| self.group_of_mut(id)) {
                    group.timer.start.get_or_insert(*time);
                    group.runtime_status = RuntimeStatus::Running;
                }
                if let Some(node) = self.found_mut(id) {
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
            Event::EntryRecorded { entry, .. } => {
                if let Some(node) = self.found_mut(id)
                    && node.runtime_status != RuntimeStatus::Finished
                {
                    // Most testcases record one entry: room for exactly one at first (and
                    // nothing to shrink when the testcase ends).
                    if node.entries.capacity() == 0 {
                        node.entries.reserve_exact(1);
                    }
                    node.entries.push(entry.clone());
                }
            }
            Event::TestcaseFinished {
                time,
                status,
                error,
                ..
            } => {
                if let Some(group) = id.and_then(|id| self.group_of_mut(id)) {
                    group.timer.end = Some(*time);
                    group.runtime_status = RuntimeStatus::Finished;
                }
                if let Some(node) = self.found_mut(id)
                    && node.runtime_status != RuntimeStatus::Finished
                {
                    node.timer.end = Some(*time);
                    node.status = *status;
                    node.error = error.clone().map(Box::new);
                    node.runtime_status = RuntimeStatus::Finished;
                    // Passed (or as expected) only on a rerun.
                    node.flaky = !node.attempts.is_empty() && !status.is_failure();
                    // The entries are complete: a vector grown by pushes keeps room for
                    // four, which a million testcases of one entry each would pay for.
                    node.entries.shrink_to_fit();
                }
            }
            Event::DriverConnections { connections, .. } => {
                if let Some(test) = self.found_mut(id) {
                    test.connections = Some(connections.clone());
                }
            }
            Event::DriverStatusChanged {
                driver,
                status,
                time,
                attributes,
                error,
                log_tail,
                ready_wait,
                ..
            } => {
                let Some(test) = self.found_mut(id) else {
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
                        report.ready_wait = None;
                    }
                    DriverStatus::Started => {
                        report.start.end = Some(*time);
                        report.ready_wait = *ready_wait;
                    }
                    DriverStatus::Stopping => report.stop.start = Some(*time),
                    DriverStatus::Stopped => report.stop.end = Some(*time),
                    DriverStatus::Failed if stopping => report.stop.end = Some(*time),
                    DriverStatus::Failed => {
                        report.start.end.get_or_insert(*time);
                    }
                    DriverStatus::NotStarted => {}
                    _ => {}
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
                self.recompute_all();
            }
            Event::RuntimeStatus { runtime_status, .. } => {
                if let Some(node) = self.found_mut(id) {
                    node.runtime_status = *runtime_status;
                }
            }
            Event::EnvStatus { env_status, .. } => {
                if let Some(node) = self.found_mut(id) {
                    node.env_status = Some(*env_status);
                }
            }
            Event::Reset => self.reset_results(),
            Event::Reload { reload } => self.report.reload = Some(reload.clone()),
            Event::TestcaseRerun { .. } => {
                if let Some(node) = self.found_mut(id) {
                    let attempt = TestcaseAttempt::take_from(node);
                    node.attempts.push(attempt);
                    node.flaky = false;
                    node.runtime_status = RuntimeStatus::Waiting;
                }
            }
            _ => {}
        }
    }

    /// The finished report.
    pub fn finish(self) -> Report {
        let ReportBuilder {
            mut report,
            index,
            links,
            tallies,
            last_found: _,
        } = self;
        crate::background::free_in_background((index, links, tallies));
        report.plan.recompute();
        report
    }
}

/// Brings a node's own counts and status up to date: a testcase's from its status, a
/// group's status from its children's tally (their counts have not changed).
fn refold(node: &mut ReportNode, statuses: &[u32; STATUSES.len()]) {
    if node.kind == NodeKind::Testcase {
        node.recompute_shallow();
    } else {
        node.status = group_status(node, statuses);
    }
}

/// A group's status as [`ReportNode::recompute_shallow`] folds it, from the tally of its
/// children's statuses instead of the children.
fn group_status(node: &ReportNode, statuses: &[u32; STATUSES.len()]) -> Status {
    let mut status = if node.error.is_some() {
        Status::Error
    } else {
        Status::Skipped
    };
    let mut any_child = false;
    for (&count, &child) in statuses.iter().zip(&STATUSES) {
        if count > 0 {
            any_child = true;
            status = status.combine(child);
        }
    }
    if !any_child && node.error.is_none() {
        status = Status::Unknown;
    }
    if node.entries.iter().any(|entry| entry.passed == Some(false)) {
        status = status.combine(Status::Failed);
    }
    status
}

fn reset_node(node: &mut ReportNode) {
    node.status = Status::Unknown;
    node.runtime_status = RuntimeStatus::Ready;
    node.timer = Timer::default();
    node.error = None;
    node.entries.clear();
    node.stale = None;
    node.attempts.clear();
    node.flaky = false;
    node.hash = node.hash.wrapping_add(1);
    for child in &mut node.children {
        reset_node(child);
    }
}

/// Nodes by a 64-bit hash of their UID: a million testcases would otherwise keep a second
/// copy of every UID as a key. Hashes are only candidates; lookups compare the node's UID,
/// and the rare UIDs whose hash is taken are kept apart with the others of that hash.
#[derive(Debug, Default)]
struct UidIndex {
    first: HashMap<u64, u32, FastHash>,
    /// Further nodes whose UID hash equals a key of `first` (a test named like the plan,
    /// or a true collision).
    more: HashMap<u64, Vec<u32>, FastHash>,
}

/// The child indices from the plan down to a node. A report is a few levels deep (plan,
/// test, suite, parametrization, testcase): the steps fit inline, without an allocation
/// per lookup.
#[derive(Default)]
struct NodePath {
    /// Steps from the node up, as far as they fit.
    inline: [u32; 8],
    len: usize,
    /// Steps beyond the inline ones, should a tree ever be deeper.
    deeper: Vec<u32>,
}

impl NodePath {
    fn push(&mut self, step: u32) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = step,
            None => self.deeper.push(step),
        }
        self.len += 1;
    }

    /// The steps from the plan down.
    fn root_first(&self) -> impl Iterator<Item = u32> + '_ {
        let inline = &self.inline[..self.len.min(self.inline.len())];
        self.deeper.iter().rev().chain(inline.iter().rev()).copied()
    }
}

impl UidIndex {
    fn hash(uid: &str) -> u64 {
        use std::hash::BuildHasher;
        FastHash::default().hash_one(uid)
    }

    fn insert(&mut self, uid: &str, id: u32) {
        let hash = UidIndex::hash(uid);
        if let Some(&first) = self.first.get(&hash) {
            // The later node comes first, as a map from UID to node would keep it.
            self.more.entry(hash).or_default().insert(0, first);
        }
        self.first.insert(hash, id);
    }

    /// The nodes that may have this UID, the latest indexed first.
    fn ids(&self, uid: &str) -> impl Iterator<Item = u32> + '_ {
        let hash = UidIndex::hash(uid);
        let more = self.more.get(&hash).map(Vec::as_slice).unwrap_or_default();
        self.first
            .get(&hash)
            .copied()
            .into_iter()
            .chain(more.iter().copied())
    }
}

/// Numbers the nodes depth first, recording where each hangs.
fn index_nodes(node: &ReportNode, parent: u32, child: u32, builder: &mut ReportBuilder) {
    let id = builder.links.len() as u32;
    builder.index.insert(&node.uid, id);
    let tally = if node.children.is_empty() {
        NO_TALLY
    } else {
        builder.tallies.push([0; STATUSES.len()]);
        builder.tallies.len() as u32 - 1
    };
    builder.links.push(NodeLink {
        parent,
        child,
        tally,
    });
    for (i, grandchild) in node.children.iter().enumerate() {
        index_nodes(grandchild, id, i as u32, builder);
    }
}

/// Rebuilds every node's tally of its children's statuses, in [`index_nodes`] order.
fn tally_statuses(
    node: &ReportNode,
    links: &[NodeLink],
    tallies: &mut [[u32; STATUSES.len()]],
    next: &mut usize,
) {
    let id = *next;
    *next += 1;
    if let Some(tally) = tallies.get_mut(links[id].tally as usize) {
        *tally = [0; STATUSES.len()];
        for child in &node.children {
            tally[child.status.position()] += 1;
        }
    }
    for child in &node.children {
        tally_statuses(child, links, tallies, next);
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
                node.error.get_or_insert_with(|| {
                    Box::new(ErrorInfo::new("interrupted while running", None))
                });
            }
        }
        RuntimeStatus::Ready => {
            node.runtime_status = RuntimeStatus::NotRun;
        }
        RuntimeStatus::Finished | RuntimeStatus::NotRun => {}
        _ => {}
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
        Entry::new(
            "d",
            Some(true),
            None,
            0.0,
            EntryDetail::Log {
                message: "m".into(),
                value: None,
            },
        )
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
    fn a_rerun_keeps_the_earlier_run_and_a_pass_after_a_failure_is_flaky() {
        let mut builder = ReportBuilder::new(skeleton());
        let run = |builder: &mut ReportBuilder, start: f64, status: Status| {
            builder.apply(&Event::TestcaseStarted {
                uid: "t/s/a".into(),
                time: start,
            });
            builder.apply(&Event::EntryRecorded {
                uid: "t/s/a".into(),
                entry: log_entry(),
            });
            builder.apply(&Event::TestcaseFinished {
                uid: "t/s/a".into(),
                time: start + 1.0,
                status,
                error: None,
            });
        };
        run(&mut builder, 1.0, Status::Failed);
        assert_eq!(builder.report().plan.counts.failed, 1);
        builder.apply(&Event::TestcaseRerun {
            uid: "t/s/a".into(),
            attempt: 2,
        });
        assert_eq!(builder.report().plan.counts.failed, 0, "counted again");
        run(&mut builder, 3.0, Status::Passed);
        let report = builder.finish();
        let testcase = &report.plan.children[0].children[0].children[0];
        assert_eq!(testcase.status, Status::Passed);
        assert!(testcase.flaky);
        assert_eq!(testcase.attempts.len(), 1);
        assert_eq!(testcase.attempts[0].status, Status::Failed);
        assert_eq!(testcase.attempts[0].timer.start, Some(1.0));
        assert_eq!(testcase.attempts[0].entries.len(), 1);
        assert_eq!(testcase.entries.len(), 1, "the last run's own entries");
        assert_eq!(report.plan.counts.passed, 1);
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

    #[test]
    fn a_status_slot_is_its_place_in_the_list() {
        for (index, status) in STATUSES.into_iter().enumerate() {
            assert_eq!(status.position(), index);
        }
    }

    /// Counts and statuses of every node, depth first.
    fn folded(node: &ReportNode, out: &mut Vec<(String, Counts, Status)>) {
        out.push((node.uid.clone(), node.counts, node.status));
        for child in &node.children {
            folded(child, out);
        }
    }

    #[test]
    fn counts_and_statuses_kept_by_difference_match_a_full_refold_after_every_event() {
        let mut builder = ReportBuilder::new(skeleton());
        let testcases = ["t/s/a", "t/s/p/x_1", "t/s/p/x_2"];
        // Every status a testcase can finish with.
        let statuses: Vec<Status> = Status::ALL
            .into_iter()
            .filter(|status| !matches!(status, Status::Incomplete | Status::Unknown))
            .collect();
        // A fixed pseudo-random walk: reruns, every status, suite errors and failing hook
        // entries, resets.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        for step in 0..2_000 {
            let time = step as f64;
            let event = match next(7) {
                0 | 1 => Event::TestcaseStarted {
                    uid: testcases[next(3)].into(),
                    time,
                },
                2 | 3 => Event::TestcaseFinished {
                    uid: testcases[next(3)].into(),
                    time,
                    status: statuses[next(statuses.len())],
                    error: None,
                },
                4 => Event::SuiteStarted {
                    uid: "t/s".into(),
                    time,
                },
                5 => Event::SuiteFinished {
                    uid: "t/s".into(),
                    time,
                    error: (next(2) == 0).then(|| ErrorInfo::new("setup failed", None)),
                },
                _ if next(10) == 0 => Event::Reset,
                _ => Event::EntryRecorded {
                    uid: "t/s".into(),
                    entry: {
                        let mut entry = log_entry();
                        entry.passed = Some(next(2) == 0);
                        entry
                    },
                },
            };
            builder.apply(&event);
            let mut incremental = Vec::new();
            folded(&builder.report().plan, &mut incremental);
            let mut full = builder.report().clone();
            full.plan.recompute();
            let mut refolded = Vec::new();
            folded(&full.plan, &mut refolded);
            assert_eq!(incremental, refolded, "after step {step}: {event:?}");
        }
    }
}

//! The interactive back end's state: the event hub's live-UI subscriber (numbered updates
//! broadcast to connected browsers), read access to the hub's report, and the run queue
//! that turns API requests into runs on worker threads.
//!
//! Testcases of one test run one after another (they share an environment); different
//! tests run at once. A request for something already queued or running is refused. One
//! gate orders requests against code reload: while a reload is in progress, run and
//! environment requests are refused; while anything is queued or running, a reload is.
//! Environment requests coalesce: one pending per test at most.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};

use testrig_model::{DriverStatus, Event, NodeKind, Report, RuntimeStatus};
use tokio::sync::broadcast;

use crate::events::{EventEnvelope, EventHub, EventSink, EventSubscriber, SubscriberError};
use crate::report::ReportBuilder;
use crate::runner::{
    ProcessSession, RunContext, SessionWorkers, SharedEnvironmentStatus, TestSession,
};
use crate::testing::{SelectedTest, Selection};

/// One numbered update pushed to browsers: the hub's envelope,
/// `{"schema": 1, "seq": N, "time": T, "event": …}`.
#[derive(Debug, Clone)]
pub struct Update {
    /// Position in the stream; a snapshot says which updates it already contains.
    pub seq: u64,
    /// The serialized update.
    pub json: Arc<str>,
    /// The update as a client that asked for no entries gets it, where that differs: an
    /// `entry_recorded` with the entry's `passed` instead of the entry (see
    /// [`Update::without_entries`]).
    pub without_entry: Option<Arc<str>>,
    /// What the update means to the compact stream (`?compact=true`): a step of a testcase,
    /// which a batch folds into the testcase's record, or how far it orders those records.
    pub compact: Compact,
}

/// An update as the compact stream sees it (see `server.rs`, `compact_batch`).
#[derive(Debug, Clone)]
pub enum Compact {
    /// A step of a testcase: the testcase's UID as a JSON string, and the step.
    Testcase(Arc<str>, TestcaseStep),
    /// Sent as it is; it orders nothing else (a test or a suite started or finished).
    Free,
    /// Sent as it is; a step of this testcase (a UID as a JSON string) after it starts a new
    /// record (a runtime status of the node).
    Orders(Arc<str>),
    /// Sent as it is; every step after it starts a new record (a reset, the plan's end, a
    /// driver, anything else).
    Barrier,
}

/// A step of a testcase in the compact stream.
#[derive(Debug, Clone)]
pub enum TestcaseStep {
    /// `testcase_started` at this time.
    Started(f64),
    /// `entry_recorded`: whether the entry was a failed assertion.
    Entry(bool),
    /// `testcase_finished` at this time, with its status and error as JSON.
    Finished(f64, Arc<str>, Option<Arc<str>>),
}

impl Update {
    /// The update for a client that reads a node's entries when it shows them
    /// (`GET nodes/<uid>`) rather than from the stream: an entry is most of a run's
    /// updates by size (a comparison with its values and source location), and a browser
    /// shows the entries of one testcase at a time.
    pub fn without_entries(&self) -> &str {
        self.without_entry.as_deref().unwrap_or(&self.json)
    }
}

/// An `entry_recorded` event without its entry: which node recorded one, and whether it was
/// a failed assertion (a group's status reads that).
#[derive(serde::Serialize)]
struct EntryWithheld<'a> {
    event: &'static str,
    uid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    passed: Option<bool>,
}

/// [`EventEnvelope`] around an [`EntryWithheld`].
#[derive(serde::Serialize)]
struct WithheldEnvelope<'a> {
    schema: u32,
    seq: u64,
    time: f64,
    event: EntryWithheld<'a>,
}

/// Why a request was refused, as an HTTP status and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 404: no node with that UID.
    UnknownNode(String),
    /// 409: it is queued or running already, or a run blocks a reset.
    Conflict(String),
    /// 400: the request makes no sense for that node.
    BadRequest(String),
}

/// What a worker does for a request.
enum Job {
    /// Run these testcases (starting the environment first if it is down).
    Run {
        node: String,
        selected: Box<SelectedTest>,
        cases: Vec<String>,
    },
    /// Bring the environment to `Started` or `Stopped` (nothing to do if it is already).
    Environment(DriverStatus),
}

/// A test's jobs: those waiting, and the environment request being carried out.
#[derive(Default)]
struct SlotQueue {
    jobs: VecDeque<Job>,
    environment_in_progress: Option<DriverStatus>,
}

/// Where a test of the interactive plan runs: in this process, or in a worker process of
/// its own (`--pool process`).
pub(crate) enum Session {
    /// On this process's threads; its environment's drivers are children of this process.
    Thread(TestSession),
    /// In a worker process, which keeps the environment.
    Process(ProcessSession),
}

impl Session {
    fn environment_is_up(&self) -> bool {
        match self {
            Session::Thread(session) => session.environment_is_up(),
            Session::Process(session) => session.environment_is_up(),
        }
    }

    fn start_environment(&mut self) {
        match self {
            Session::Thread(session) => {
                let _ = session.start_environment();
            }
            Session::Process(session) => session.start_environment(),
        }
    }

    fn stop_environment(&mut self) {
        match self {
            Session::Thread(session) => {
                session.stop_environment();
            }
            Session::Process(session) => session.stop_environment(),
        }
    }

    fn run_starting_environment(&mut self, selected: &SelectedTest, started: impl FnOnce()) {
        match self {
            Session::Thread(session) => session.run_starting_environment(selected, started),
            Session::Process(session) => session.run_starting_environment(selected, started),
        }
    }
}

/// What the state knows of a test's environment while a request may hold its session.
enum EnvironmentView {
    /// The environment itself (thread sessions): its drivers say.
    Local(Arc<crate::env::Environment>),
    /// As the worker's events last said (process sessions).
    Remote(SharedEnvironmentStatus),
}

/// A test's session and its queue.
struct TestSlot {
    session: Mutex<Session>,
    queue: Mutex<SlotQueue>,
    wake: Condvar,
}

/// What is queued or running, and whether a code reload is in progress: one lock, so that a
/// reload's check that nothing runs and the acceptance of a run can never interleave.
#[derive(Default)]
struct Gate {
    /// What the reload in progress does, while one is (requests are refused meanwhile).
    reloading: Option<String>,
    /// Jobs queued or running, of every kind.
    outstanding: usize,
    /// Of those, the runs: the plan node is running while there are any.
    runs: usize,
    /// The plan node was told it runs (so it is told when the last run ends).
    plan_running: bool,
}

impl Gate {
    fn refuse_while_reloading(&self) -> Result<(), Refusal> {
        match &self.reloading {
            Some(what) => Err(Refusal::Conflict(format!(
                "a code reload is in progress: {what}; ask again once the plan has reloaded (or the build failed)"
            ))),
            None => Ok(()),
        }
    }
}

/// What `POST /cancel` dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cancelled {
    /// Queued runs dropped (one per test a run request queued).
    pub runs: usize,
    /// Pending environment start and stop requests dropped.
    pub environment_requests: usize,
}

fn environment_verb(wanted: DriverStatus) -> &'static str {
    if wanted == DriverStatus::Started {
        "start"
    } else {
        "stop"
    }
}

/// The live UI as a subscriber of the event hub: each event, serialized once, goes to every
/// connected browser.
struct LiveUpdates {
    updates: broadcast::Sender<Update>,
}

impl EventSubscriber for LiveUpdates {
    fn on_event(
        &mut self,
        envelope: &EventEnvelope<'_>,
        _report: &ReportBuilder,
    ) -> Result<(), SubscriberError> {
        let failed = |error: serde_json::Error| SubscriberError {
            subscriber: "live UI".into(),
            source: error.into(),
        };
        let json = serde_json::to_string(envelope).map_err(failed)?;
        let without_entry = match envelope.event {
            Event::EntryRecorded { uid, entry } => Some(
                serde_json::to_string(&WithheldEnvelope {
                    schema: envelope.schema,
                    seq: envelope.seq,
                    time: envelope.time,
                    event: EntryWithheld {
                        event: "entry_recorded",
                        uid,
                        passed: entry.passed,
                    },
                })
                .map_err(failed)?
                .into(),
            ),
            _ => None,
        };
        let uid_json = |uid: &str| -> Result<Arc<str>, SubscriberError> {
            Ok(serde_json::to_string(uid).map_err(failed)?.into())
        };
        let compact = match envelope.event {
            Event::TestcaseStarted { uid, time } => {
                Compact::Testcase(uid_json(uid)?, TestcaseStep::Started(*time))
            }
            Event::EntryRecorded { uid, entry } => Compact::Testcase(
                uid_json(uid)?,
                TestcaseStep::Entry(entry.passed == Some(false)),
            ),
            Event::TestcaseFinished {
                uid,
                time,
                status,
                error: finish_error,
            } => {
                let error = match finish_error {
                    Some(error) => Some(serde_json::to_string(error).map_err(failed)?.into()),
                    None => None,
                };
                Compact::Testcase(
                    uid_json(uid)?,
                    TestcaseStep::Finished(
                        *time,
                        serde_json::to_string(status).map_err(failed)?.into(),
                        error,
                    ),
                )
            }
            Event::TestStarted { .. }
            | Event::TestFinished { .. }
            | Event::SuiteStarted { .. }
            | Event::SuiteFinished { .. } => Compact::Free,
            Event::RuntimeStatus { uid, .. } => Compact::Orders(uid_json(uid)?),
            _ => Compact::Barrier,
        };
        // Sent under the hub's lock, so a snapshot and the updates after it never overlap;
        // no browser connected is no error.
        let _ = self.updates.send(Update {
            seq: envelope.seq,
            json: json.into(),
            without_entry,
            compact,
        });
        Ok(())
    }
}

/// Everything the HTTP handlers and the workers share.
pub struct InteractiveState {
    /// The hub that owns the report; read through it, written only by events.
    hub: Arc<EventHub>,
    /// Updates for connected browsers.
    pub updates: broadcast::Sender<Update>,
    /// The plan's runpath (attachments are served from below it only).
    pub runpath: std::path::PathBuf,
    /// `--editor-url`.
    pub editor_url: Option<String>,
    selection: Selection,
    slots: HashMap<String, Arc<TestSlot>>,
    /// Each test's environment, readable while a run holds the test's session.
    environments: HashMap<String, EnvironmentView>,
    /// The worker processes of process sessions (a cancel kills those running testcases).
    session_workers: Option<Arc<SessionWorkers>>,
    active: Mutex<HashSet<String>>,
    running_jobs: Mutex<usize>,
    gate: Mutex<Gate>,
    context: RunContext,
}

impl InteractiveState {
    /// The state, subscribed to the hub `context` emits into, and one worker per test.
    pub(crate) fn start(
        selection: Selection,
        sessions: Vec<(String, Session)>,
        session_workers: Option<Arc<SessionWorkers>>,
        context: RunContext,
        editor_url: Option<String>,
    ) -> Arc<InteractiveState> {
        let (updates, _) = broadcast::channel(65_536);
        let environments = sessions
            .iter()
            .map(|(uid, session)| {
                let view = match session {
                    Session::Thread(session) => {
                        EnvironmentView::Local(session.environment().clone())
                    }
                    Session::Process(session) => EnvironmentView::Remote(session.shared_status()),
                };
                (uid.clone(), view)
            })
            .collect();
        let slots = sessions
            .into_iter()
            .map(|(uid, session)| {
                (
                    uid,
                    Arc::new(TestSlot {
                        session: Mutex::new(session),
                        queue: Mutex::new(SlotQueue::default()),
                        wake: Condvar::new(),
                    }),
                )
            })
            .collect();
        let hub = context.sink.hub().clone();
        hub.subscribe(Box::new(LiveUpdates {
            updates: updates.clone(),
        }));
        let state = Arc::new(InteractiveState {
            hub,
            updates,
            runpath: context.runpath.clone(),
            editor_url,
            selection,
            slots,
            environments,
            session_workers,
            active: Mutex::new(HashSet::new()),
            running_jobs: Mutex::new(0),
            gate: Mutex::new(Gate::default()),
            context,
        });
        for (uid, slot) in &state.slots {
            let worker_state = state.clone();
            let slot = slot.clone();
            std::thread::Builder::new()
                .name(format!("testrig-interactive-{uid}"))
                .spawn({
                    let uid = uid.clone();
                    move || worker_state.work(&uid, &slot)
                })
                .expect("an interactive worker thread starts");
        }
        state
    }

    /// Waits until every event sent so far is in the report (a second at most), so a
    /// summary read now counts the last testcase too.
    pub fn settle(&self) {
        self.hub.settle();
    }

    /// The sink runs and API calls emit on.
    pub fn sink(&self) -> &EventSink {
        &self.context.sink
    }

    /// `{"seq": N, "report": …}` — the whole report and the update it is current to.
    pub fn snapshot_json(&self) -> String {
        self.snapshot().1
    }

    /// The update the report is current to, and [`snapshot_json`](Self::snapshot_json):
    /// one serialization under the lock, so the two agree.
    pub fn snapshot(&self) -> (u64, String) {
        self.hub
            .read(|seq, builder| {
                let report =
                    serde_json::to_string(builder.report()).unwrap_or_else(|_| "null".into());
                (seq, format!("{{\"seq\":{seq},\"report\":{report}}}"))
            })
            .unwrap_or_else(|| (0, "{\"seq\":0,\"report\":null}".into()))
    }

    /// The node's own data plus its children's UIDs; `None` for the plan node.
    pub fn shallow_node(&self, uid: Option<&str>) -> Option<serde_json::Value> {
        self.hub.read(|_, builder| {
            let node = match uid {
                None => &builder.report().plan,
                Some(uid) => builder
                    .node(uid)
                    .filter(|node| node.kind != NodeKind::Plan)?,
            };
            let mut value = serde_json::to_value(node.without_children()).ok()?;
            let children: Vec<&str> = node
                .children
                .iter()
                .map(|child| child.uid.as_str())
                .collect();
            value["children"] = serde_json::json!(children);
            Some(value)
        })?
    }

    /// The kind of a node below the plan (a test may share the plan's name, so the plan is
    /// never looked up by UID).
    fn node_kind(&self, uid: &str) -> Option<NodeKind> {
        self.hub.read(|_, builder| {
            builder
                .node(uid)
                .map(|node| node.kind)
                .filter(|kind| *kind != NodeKind::Plan)
        })?
    }

    /// The plan's UID.
    pub fn plan_uid(&self) -> String {
        self.hub
            .read(|_, builder| builder.report().plan.uid.clone())
            .unwrap_or_default()
    }

    /// Queues a run of a node (a test, suite, parametrization or testcase), or of the whole
    /// plan when `uid` is `None`.
    pub fn run_node(&self, uid: Option<&str>) -> Result<usize, Refusal> {
        let Some(uid) = uid else {
            let plan = self.plan_uid();
            return self.queue_runs(&plan, &|_| true);
        };
        self.node_kind(uid)
            .ok_or_else(|| Refusal::UnknownNode(format!("no node with uid `{uid}`")))?;
        let prefix = format!("{uid}/");
        self.queue_runs(uid, &|case_uid| {
            case_uid == uid || case_uid.starts_with(&prefix)
        })
    }

    /// Queues a run of a set of testcases.
    pub fn run_selection(&self, uids: &[String]) -> Result<usize, Refusal> {
        for uid in uids {
            if self.node_kind(uid) != Some(NodeKind::Testcase) {
                return Err(Refusal::UnknownNode(format!(
                    "no testcase with uid `{uid}`"
                )));
            }
        }
        let wanted: HashSet<&str> = uids.iter().map(String::as_str).collect();
        self.queue_runs("", &|case_uid| wanted.contains(case_uid))
    }

    fn queue_runs(&self, node: &str, wanted: &dyn Fn(&str) -> bool) -> Result<usize, Refusal> {
        let mut jobs = Vec::new();
        for test in &self.selection.tests {
            let mut subset = SelectedTest {
                suites: Vec::new(),
                ..test.clone()
            };
            for suite in &test.suites {
                let cases: Vec<_> = suite
                    .cases
                    .iter()
                    .filter(|case| wanted(&case.uid()))
                    .cloned()
                    .collect();
                if !cases.is_empty() {
                    subset.suites.push(crate::testing::SelectedSuite {
                        cases,
                        ..suite.clone()
                    });
                }
            }
            if !subset.suites.is_empty() {
                let cases: Vec<String> = subset
                    .suites
                    .iter()
                    .flat_map(|suite| suite.cases.iter().map(crate::testing::SelectedCase::uid))
                    .collect();
                jobs.push((test.uid.clone(), subset, cases));
            }
        }
        if jobs.is_empty() {
            return Err(Refusal::BadRequest(format!(
                "`{node}` has no testcases to run"
            )));
        }
        let mut gate = self.gate()?;
        gate.refuse_while_reloading()?;
        let mut active = self
            .active
            .lock()
            .map_err(|_| Refusal::Conflict("the run queue is broken".into()))?;
        if let Some(busy) = jobs
            .iter()
            .flat_map(|(_, _, cases)| cases)
            .find(|case| active.contains(*case))
        {
            return Err(Refusal::Conflict(format!(
                "`{busy}` is already queued or running; wait for it or cancel"
            )));
        }
        let plan = self.plan_uid();
        let mut count = 0;
        for (test_uid, selected, cases) in jobs {
            count += cases.len();
            active.extend(cases.iter().cloned());
            // A plan-wide run is tracked per test, so no test finishes the plan for the others.
            let node = if node.is_empty() || node == plan {
                test_uid.clone()
            } else {
                node.to_string()
            };
            self.sink().emit(Event::RuntimeStatus {
                uid: node.clone(),
                runtime_status: RuntimeStatus::Waiting,
            });
            gate.runs += 1;
            self.enqueue(
                &mut gate,
                &test_uid,
                Job::Run {
                    node,
                    selected: Box::new(selected),
                    cases,
                },
            );
        }
        Ok(count)
    }

    fn gate(&self) -> Result<std::sync::MutexGuard<'_, Gate>, Refusal> {
        self.gate
            .lock()
            .map_err(|_| Refusal::Conflict("the run queue is broken; restart the plan".into()))
    }

    /// Starts or stops a test's environment. At most one request is pending per test: the
    /// same request again is refused (409), the opposite one takes the pending one's place.
    /// A pending request shows as the environment `starting` or `stopping`.
    pub fn set_environment(&self, uid: &str, wanted: DriverStatus) -> Result<(), Refusal> {
        let Some(slot) = self.slots.get(uid) else {
            return Err(Refusal::UnknownNode(format!("no test with uid `{uid}`")));
        };
        let pending_status = match wanted {
            DriverStatus::Started => DriverStatus::Starting,
            DriverStatus::Stopped => DriverStatus::Stopping,
            other => {
                return Err(Refusal::BadRequest(format!(
                    "env_status must be `started` or `stopped`, not `{other}`"
                )));
            }
        };
        let mut gate = self.gate()?;
        gate.refuse_while_reloading()?;
        let verb = environment_verb(wanted);
        {
            let mut queue = slot
                .queue
                .lock()
                .map_err(|_| Refusal::Conflict("the run queue is broken".into()))?;
            let pending = queue
                .jobs
                .iter()
                .position(|job| matches!(job, Job::Environment(_)));
            match pending.map(|at| (at, &queue.jobs[at])) {
                Some((_, Job::Environment(queued))) if *queued == wanted => {
                    return Err(Refusal::Conflict(format!(
                        "an environment {verb} of `{uid}` is already pending; wait for it or cancel it"
                    )));
                }
                Some((at, _)) => {
                    queue.jobs.remove(at);
                    gate.outstanding -= 1;
                }
                None if queue.environment_in_progress == Some(wanted) => {
                    return Err(Refusal::Conflict(format!(
                        "an environment {verb} of `{uid}` is already in progress; wait for it"
                    )));
                }
                None => {}
            }
        }
        let pending_shown = self.sink().emit(Event::EnvStatus {
            uid: uid.to_string(),
            env_status: pending_status,
        });
        self.enqueue(&mut gate, uid, Job::Environment(wanted));
        drop(gate);
        // The answer promises the pending state: a GET right after it must see it.
        self.hub.wait_folded(pending_shown);
        Ok(())
    }

    /// Queues a job; the caller holds the gate, so a reload cannot start in between.
    fn enqueue(&self, gate: &mut Gate, test_uid: &str, job: Job) {
        if let Some(slot) = self.slots.get(test_uid)
            && let Ok(mut queue) = slot.queue.lock()
        {
            gate.outstanding += 1;
            queue.jobs.push_back(job);
            slot.wake.notify_one();
        }
    }

    /// What the environment of `test` is now, from its drivers (for a dropped request).
    fn environment_status_now(&self, test: &str) -> DriverStatus {
        let statuses: Vec<DriverStatus> = match self.environments.get(test) {
            Some(EnvironmentView::Local(environment)) => environment
                .statuses()
                .into_iter()
                .map(|(_, status)| status)
                .collect(),
            Some(EnvironmentView::Remote(status)) => {
                vec![
                    *status
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                ]
            }
            None => Vec::new(),
        };
        if statuses.contains(&DriverStatus::Failed) {
            DriverStatus::Failed
        } else if statuses
            .iter()
            .any(|status| matches!(status, DriverStatus::Started | DriverStatus::Starting))
        {
            DriverStatus::Started
        } else {
            DriverStatus::Stopped
        }
    }

    /// A job ended or was dropped: when it was the last run, the plan node is done.
    fn job_done(&self, gate: &mut Gate, was_run: bool) {
        gate.outstanding = gate.outstanding.saturating_sub(1);
        if !was_run {
            return;
        }
        gate.runs = gate.runs.saturating_sub(1);
        if gate.runs == 0 {
            let runtime_status = if gate.plan_running {
                RuntimeStatus::Finished
            } else {
                RuntimeStatus::Ready
            };
            gate.plan_running = false;
            self.sink().emit(Event::RuntimeStatus {
                uid: self.plan_uid(),
                runtime_status,
            });
        }
    }

    /// Cancels queued runs and pending environment requests and abandons running testcases;
    /// environments stay up (an environment start or stop under way finishes).
    pub fn cancel(&self) -> Cancelled {
        self.context.cancel.store(true, Ordering::SeqCst);
        let mut dropped = Cancelled::default();
        if let Ok(mut gate) = self.gate() {
            for (test, slot) in &self.slots {
                let Ok(mut queue) = slot.queue.lock() else {
                    continue;
                };
                let (runs, environment_requests) = (dropped.runs, dropped.environment_requests);
                queue.jobs.retain(|job| match job {
                    Job::Run { node, cases, .. } => {
                        dropped.runs += 1;
                        self.release(cases);
                        self.sink().emit(Event::RuntimeStatus {
                            uid: node.clone(),
                            runtime_status: RuntimeStatus::Ready,
                        });
                        false
                    }
                    Job::Environment(_) => {
                        dropped.environment_requests += 1;
                        false
                    }
                });
                for _ in runs..dropped.runs {
                    self.job_done(&mut gate, true);
                }
                for _ in environment_requests..dropped.environment_requests {
                    self.job_done(&mut gate, false);
                }
                // The pending status shown goes: the environment is as its drivers are.
                if dropped.environment_requests > environment_requests
                    && queue.environment_in_progress.is_none()
                {
                    self.sink().emit(Event::EnvStatus {
                        uid: test.clone(),
                        env_status: self.environment_status_now(test),
                    });
                }
            }
        }
        // A process session's running testcase stops for real: its worker is killed.
        self.kill_running_workers();
        self.context.stop.wake();
        // Running jobs notice the flag between testcases (and abandon the running one);
        // clear it once they have all returned (each wakes the signal as it does).
        self.context.stop.wait_until(None, |_| {
            self.running_jobs
                .lock()
                .map(|count| *count == 0)
                .unwrap_or(true)
        });
        self.context.cancel.store(false, Ordering::SeqCst);
        dropped
    }

    /// Clears every result; refused while something runs.
    pub fn reset(&self) -> Result<(), Refusal> {
        let busy = self
            .active
            .lock()
            .map(|active| !active.is_empty())
            .unwrap_or(true);
        if busy {
            return Err(Refusal::Conflict(
                "testcases are queued or running; cancel them before a reset".into(),
            ));
        }
        self.sink().emit(Event::Reset);
        Ok(())
    }

    fn release(&self, cases: &[String]) {
        if let Ok(mut active) = self.active.lock() {
            for case in cases {
                active.remove(case);
            }
        }
    }

    /// A worker: takes the jobs of one test in order.
    fn work(&self, test: &str, slot: &TestSlot) {
        loop {
            let job = {
                let Ok(mut queue) = slot.queue.lock() else {
                    return;
                };
                loop {
                    if let Some(job) = queue.jobs.pop_front() {
                        if let Job::Environment(wanted) = &job {
                            queue.environment_in_progress = Some(*wanted);
                        }
                        // Counted before the queue is let go: a cancel that no longer sees
                        // the job queued waits for it.
                        if let Ok(mut running) = self.running_jobs.lock() {
                            *running += 1;
                        }
                        break job;
                    }
                    queue = match slot.wake.wait(queue) {
                        Ok(queue) => queue,
                        Err(_) => return,
                    };
                }
            };
            let Ok(mut session) = slot.session.lock() else {
                return;
            };
            let was_run = matches!(job, Job::Run { .. });
            match job {
                Job::Environment(wanted) => {
                    let up = session.environment_is_up();
                    match wanted {
                        DriverStatus::Started if !up => {
                            session.start_environment();
                        }
                        DriverStatus::Stopped if up => {
                            session.stop_environment();
                        }
                        // Nothing to do: the pending status shown gives way to the real one.
                        _ => {
                            self.sink().emit(Event::EnvStatus {
                                uid: test.to_string(),
                                env_status: self.environment_status_now(test),
                            });
                        }
                    }
                    if let Ok(mut queue) = slot.queue.lock() {
                        queue.environment_in_progress = None;
                    }
                }
                Job::Run {
                    node,
                    selected,
                    cases,
                } => {
                    self.plan_runs();
                    self.sink().emit(Event::RuntimeStatus {
                        uid: node.clone(),
                        runtime_status: RuntimeStatus::Running,
                    });
                    self.sink().emit(Event::TestStarted {
                        uid: selected.uid.clone(),
                        time: crate::events::now(),
                    });
                    // A request queued while the run started the environment shows as
                    // pending again: the start's own status would otherwise hide it.
                    session.run_starting_environment(&selected, || {
                        self.show_pending_environment(slot, test)
                    });
                    self.release(&cases);
                    self.sink().emit(Event::TestFinished {
                        uid: selected.uid.clone(),
                        time: crate::events::now(),
                        error: None,
                    });
                    self.sink().emit(Event::RuntimeStatus {
                        uid: node,
                        runtime_status: RuntimeStatus::Finished,
                    });
                }
            }
            drop(session);
            if let Ok(mut running) = self.running_jobs.lock() {
                *running -= 1;
            }
            if let Ok(mut gate) = self.gate.lock() {
                self.job_done(&mut gate, was_run);
            }
            // Whoever waits for the jobs to end (a cancel, a `--ui` run) looks again; woken
            // with no lock held, since they check under the signal's.
            self.context.stop.wake();
        }
    }

    /// Shows a test's pending environment request (if any) as `starting` or `stopping`.
    fn show_pending_environment(&self, slot: &TestSlot, test: &str) {
        let pending = slot.queue.lock().ok().and_then(|queue| {
            queue.jobs.iter().find_map(|job| match job {
                Job::Environment(DriverStatus::Started) => Some(DriverStatus::Starting),
                Job::Environment(_) => Some(DriverStatus::Stopping),
                Job::Run { .. } => None,
            })
        });
        if let Some(env_status) = pending {
            self.sink().emit(Event::EnvStatus {
                uid: test.to_string(),
                env_status,
            });
        }
    }

    /// The last `lines` lines of a driver's logs, read now.
    pub fn driver_log(
        &self,
        test: &str,
        driver: &str,
        lines: usize,
    ) -> Result<Vec<String>, Refusal> {
        let environment = self
            .environments
            .get(test)
            .ok_or_else(|| Refusal::UnknownNode(format!("no test with uid `{test}`")))?;
        let unknown = |names: Vec<String>| {
            Refusal::UnknownNode(format!(
                "no driver `{driver}` in test `{test}`; drivers: {}",
                names.join(", ")
            ))
        };
        match environment {
            EnvironmentView::Local(environment) => {
                let found = environment
                    .driver(driver)
                    .ok_or_else(|| unknown(environment.driver_names()))?;
                Ok(found.log_tail(lines))
            }
            // The driver runs in a worker: its log files are where its attributes say.
            EnvironmentView::Remote(_) => {
                let drivers = self
                    .hub
                    .read(|_, builder| builder.node(test).map(|node| node.drivers.clone()))
                    .flatten()
                    .unwrap_or_default();
                let found = drivers
                    .iter()
                    .find(|candidate| candidate.name == driver)
                    .ok_or_else(|| {
                        unknown(drivers.iter().map(|driver| driver.name.clone()).collect())
                    })?;
                let path = |key: &str| {
                    found
                        .attributes
                        .get(key)
                        .and_then(|value| value.as_str())
                        .map(std::path::PathBuf::from)
                };
                // A driver without log files (an in-process server) has no lines.
                Ok(crate::drivers::log_tail_of(
                    &path("stdout").unwrap_or_default(),
                    &path("stderr").unwrap_or_default(),
                    lines,
                ))
            }
        }
    }

    /// The plan node runs from the first run that starts to the end of the last one.
    fn plan_runs(&self) {
        let Ok(mut gate) = self.gate.lock() else {
            return;
        };
        if !gate.plan_running {
            gate.plan_running = true;
            self.sink().emit(Event::RuntimeStatus {
                uid: self.plan_uid(),
                runtime_status: RuntimeStatus::Running,
            });
        }
    }

    /// True when nothing is queued or running: no run, no environment request.
    pub fn is_idle(&self) -> bool {
        self.gate
            .lock()
            .map(|gate| gate.outstanding == 0)
            .unwrap_or(true)
    }

    /// A code reload begins (`what` says what it does): refused while anything is queued or
    /// running; from now until [`InteractiveState::end_reload`], run and environment
    /// requests are refused.
    pub fn begin_reload(&self, what: &str) -> Result<(), Refusal> {
        let mut gate = self.gate()?;
        if gate.reloading.is_some() {
            return Err(Refusal::Conflict("a reload is already in progress".into()));
        }
        if gate.outstanding > 0 {
            return Err(Refusal::Conflict(
                "testcases or environment requests are queued or running: wait for them or cancel them before reloading".into(),
            ));
        }
        gate.reloading = Some(what.to_string());
        Ok(())
    }

    /// The reload ended without re-executing (the build failed, or the exec did): requests
    /// are accepted again.
    pub fn end_reload(&self) {
        if let Ok(mut gate) = self.gate.lock() {
            gate.reloading = None;
        }
    }

    /// Just before the exec: nothing may be queued or running, or it would be lost.
    pub fn check_nothing_runs(&self) -> Result<(), String> {
        let gate = self
            .gate
            .lock()
            .map_err(|_| "the run queue is broken".to_string())?;
        match gate.outstanding {
            0 => Ok(()),
            jobs => Err(format!(
                "{jobs} run(s) or environment request(s) are queued or running, and re-executing would lose them; reload again once they end"
            )),
        }
    }

    /// The started drivers of every test that can be handed to the next image of the plan
    /// on code reload, by test UID.
    pub fn handoff_drivers(
        &self,
    ) -> std::collections::BTreeMap<String, Vec<crate::env::HandedOffDriver>> {
        self.local_environments()
            .map(|(uid, environment)| (uid.clone(), environment.handoff()))
            .filter(|(_, drivers)| !drivers.is_empty())
            .collect()
    }

    /// Offers test `test`'s environment the drivers a previous image of the plan handed
    /// over: its next start takes over those whose definition is unchanged.
    pub fn offer_adoption(&self, test: &str, drivers: Vec<crate::env::HandedOffDriver>) {
        if let Some(EnvironmentView::Local(environment)) = self.environments.get(test) {
            environment.offer_adoption(drivers);
        }
    }

    /// Takes back, per test, the handed-over drivers no environment took over.
    pub fn withdraw_adoption_offers(
        &self,
    ) -> std::collections::BTreeMap<String, Vec<crate::env::HandedOffDriver>> {
        self.local_environments()
            .map(|(test, environment)| (test.clone(), environment.withdraw_adoption_offers()))
            .filter(|(_, drivers)| !drivers.is_empty())
            .collect()
    }

    /// What the environments did with the drivers they were offered.
    pub fn adoption_notes(&self) -> Vec<String> {
        let mut tests: Vec<_> = self.local_environments().collect();
        tests.sort_by_key(|(uid, _)| *uid);
        tests
            .into_iter()
            .flat_map(|(_, environment)| environment.adoption_notes())
            .collect()
    }

    /// The environments that run in this process (thread sessions), by test UID: only those
    /// can hand their drivers to the next image of the plan.
    fn local_environments(
        &self,
    ) -> impl Iterator<Item = (&String, &Arc<crate::env::Environment>)> + '_ {
        self.environments
            .iter()
            .filter_map(|(uid, view)| match view {
                EnvironmentView::Local(environment) => Some((uid, environment)),
                EnvironmentView::Remote(_) => None,
            })
    }

    /// Waits until nothing is queued or running (or the plan is stopping); each job that
    /// ends wakes the stop signal.
    pub fn wait_idle(&self) {
        self.context
            .stop
            .wait_until(None, |stopped| stopped || self.is_idle());
    }

    /// Whether the plan has a test with this UID.
    pub fn has_test(&self, uid: &str) -> bool {
        self.slots.contains_key(uid)
    }

    /// Stops every environment that is up, leaving the server able to run again.
    pub fn stop_environments(&self) {
        // Ctrl-C during a `--ui` run: the workers still running testcases stop now (they
        // are in process groups of their own, out of reach of the terminal).
        if self.context.stop.is_stopped() {
            self.kill_running_workers();
        }
        self.context.live_environments.stop_all();
        self.stop_process_sessions(false);
    }

    /// Stops every environment (on shutdown).
    pub fn stop_all_environments(&self) {
        self.context.cancel.store(true, Ordering::SeqCst);
        self.kill_running_workers();
        self.context.live_environments.stop_all();
        self.stop_process_sessions(true);
    }

    /// Kills the worker processes running testcases now (process sessions only).
    fn kill_running_workers(&self) {
        if let Some(workers) = &self.session_workers {
            workers.kill_running();
        }
    }

    /// Stops the environments of the process sessions and lets their workers go (before a
    /// code reload re-executes the plan).
    pub fn shut_down_process_sessions(&self) {
        self.stop_process_sessions(true);
    }

    /// Stops the environments of the process sessions, in parallel (each waits for the
    /// request that holds its session); `shut_down` lets their workers go too.
    fn stop_process_sessions(&self, shut_down: bool) {
        if self.session_workers.is_none() {
            return;
        }
        std::thread::scope(|scope| {
            for slot in self.slots.values() {
                scope.spawn(move || {
                    let Ok(mut session) = slot.session.lock() else {
                        return;
                    };
                    if let Session::Process(session) = &mut *session {
                        if shut_down {
                            session.shut_down();
                        } else if session.environment_is_up() {
                            session.stop_environment();
                        }
                    }
                });
            }
        });
    }

    /// The report as it stands.
    pub fn report(&self) -> Option<Report> {
        self.hub.report()
    }
}

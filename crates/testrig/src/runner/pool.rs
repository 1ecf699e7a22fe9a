//! The process pool: each MultiTest runs in a worker process ([`super::worker`]), so a
//! testcase that aborts, segfaults, calls `exit` or overflows its stack takes down its
//! worker, not the plan.
//!
//! This side is the worker's supervisor. It starts the worker with the job, passes the
//! worker's events on to the plan's hub (dropping the repeats a restarted worker makes),
//! relays its stderr and keeps the tail, and registers the worker's process groups with
//! the plan's registry, so the plan's exit paths and its reaper cover them too. When a
//! worker dies, the testcase it was running is `crashed`, with the exit status and the
//! stderr tail. The groups the worker's drivers left are killed, and a fresh worker starts
//! the environment again for the testcases that have not run yet. A worker that crashes
//! before it finishes a testcase (while starting its environment, in a suite hook) errors
//! the testcases left, so a crash never loops.

use std::collections::{HashSet, VecDeque};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustix::process::{Pid, Signal};
use testrig_model::{DriverStatus, Entry, EntryDetail, ErrorInfo, Event, Status};

use crate::FastHash;
use crate::drivers::{
    describe_exit, kill_process_groups, process_group_alive, register_process_group,
    unregister_process_group,
};
use crate::events::{EventSink, now};
use crate::testing::{SelectedCase, SelectedTest};

use super::local::{RunContext, run_queue};
use super::wire::{is_short_line, read_short_line};
use super::worker::{
    CoverageSink, SessionStep, WORKER_ENV, WORKER_MEMORY_ENV, WORKER_PROTOCOL, WORKER_RESTART_EXIT,
    WorkerJob, WorkerNotice,
};

/// How to start a worker: the plan binary with the plan's own command line.
#[derive(Debug, Clone)]
pub(crate) struct WorkerCommand {
    /// The plan binary.
    pub program: PathBuf,
    /// Its arguments, as the plan got them.
    pub args: Vec<OsString>,
    /// The plan's name, which the worker checks.
    pub plan: String,
    /// `--worker-memory-limit`.
    pub memory_limit_mb: Option<u64>,
}

/// The worker processes running a job now, so an interrupt (or a cancel) reaches them.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveWorkers(Arc<Mutex<LiveSet>>);

#[derive(Debug, Default)]
struct LiveSet {
    running: HashSet<i32>,
    /// Those of them sent SIGKILL: a job that ends meanwhile still lost its worker.
    killed: HashSet<i32>,
}

impl LiveWorkers {
    fn set(&self) -> std::sync::MutexGuard<'_, LiveSet> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, pid: i32) {
        self.set().running.insert(pid);
    }

    /// The worker's job is over; true if it was killed meanwhile.
    fn remove(&self, pid: i32) -> bool {
        let mut set = self.set();
        set.running.remove(&pid);
        set.killed.remove(&pid)
    }

    /// Kills one worker (a cancel that came as its job began).
    fn kill(&self, pid: i32) {
        let mut set = self.set();
        set.killed.insert(pid);
        send(pid, Signal::KILL);
    }

    /// Sends `signal` to every live worker (each leads its process group).
    pub(crate) fn signal_all(&self, signal: Signal) {
        let mut set = self.set();
        let LiveSet { running, killed } = &mut *set;
        for &pid in running.iter() {
            if signal == Signal::KILL {
                killed.insert(pid);
            }
            send(pid, signal);
        }
    }
}

/// Tells a worker; SIGKILL goes to its whole process group, so what its testcases started
/// themselves goes with it (its drivers have groups of their own, which its supervisor
/// kills once it is gone).
fn send(pid: i32, signal: Signal) {
    let Some(pid) = Pid::from_raw(pid) else {
        return;
    };
    if signal == Signal::KILL {
        let _ = rustix::process::kill_process_group(pid, signal);
    } else {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// How long a worker may stay silent — no event, no heartbeat — before it counts as hung
/// (stopped, wedged in the kernel) and is killed.
const SILENCE_LIMIT: Duration = Duration::from_secs(5);

/// How many lines of a worker's stderr a crash report shows.
const STDERR_TAIL_LINES: usize = 20;

/// Runs each test in a worker process, `workers` at once, and returns when all are done.
pub(crate) fn run_tests_in_workers(
    tests: Vec<SelectedTest>,
    workers: usize,
    context: &RunContext,
    launcher: &WorkerLauncher,
    live: &LiveWorkers,
    reruns: u32,
    coverage: Option<&dyn CoverageSink>,
) {
    let source_files = SourceFiles::default();
    let pool = ProcessPool {
        launcher,
        live,
        reruns,
        source_files: &source_files,
        coverage,
    };
    // Each worker thread keeps its worker process from one test to the next.
    run_queue(
        tests,
        workers,
        context,
        |slot: &mut Option<Worker>, selected| {
            supervise(&selected, context, slot, &pool);
        },
    );
}

/// Starts worker processes. The first ones start with the run, before its set-up: a
/// worker loads the binary and builds the plan before it reads its job, which then overlaps
/// with the plan's own start.
#[derive(Debug)]
pub(crate) struct WorkerLauncher {
    command: WorkerCommand,
    spares: Mutex<Vec<Child>>,
}

impl WorkerLauncher {
    /// A launcher with `spares` workers started at once.
    pub(crate) fn new(command: WorkerCommand, spares: usize) -> WorkerLauncher {
        let launcher = WorkerLauncher {
            command,
            spares: Mutex::new(Vec::with_capacity(spares)),
        };
        for _ in 0..spares {
            if let Ok(child) = launcher.spawn() {
                launcher.spares().push(child);
            }
        }
        launcher
    }

    fn spares(&self) -> std::sync::MutexGuard<'_, Vec<Child>> {
        self.spares.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn spawn(&self) -> std::io::Result<Child> {
        let mut command = Command::new(&self.command.program);
        if let Some(limit) = self.command.memory_limit_mb {
            command.env(WORKER_MEMORY_ENV, limit.to_string());
        }
        command
            .args(&self.command.args)
            .env(
                WORKER_ENV,
                format!("{WORKER_PROTOCOL}:{}", std::process::id()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group: a Ctrl-C at the terminal reaches the plan, which tells the
            // workers.
            .process_group(0)
            .spawn()
    }

    /// A worker: one started in advance, or a new one.
    fn launch(&self) -> std::io::Result<Child> {
        let spare = self.spares().pop();
        match spare {
            Some(child) => Ok(child),
            None => self.spawn(),
        }
    }
}

impl Drop for WorkerLauncher {
    fn drop(&mut self) {
        // Workers started in advance that no test needed.
        for mut spare in std::mem::take(&mut *self.spares()) {
            let _ = spare.kill();
            let _ = spare.wait();
        }
    }
}

/// What every supervisor of a run shares.
pub(super) struct ProcessPool<'a> {
    pub(super) launcher: &'a WorkerLauncher,
    /// Where a worker is while it runs a job.
    pub(super) live: &'a LiveWorkers,
    /// `--rerun`: how many times a failed testcase runs again.
    pub(super) reruns: u32,
    pub(super) source_files: &'a SourceFiles,
    /// A recording run's recorder: the workers record, and it takes their windows.
    pub(super) coverage: Option<&'a dyn CoverageSink>,
}

/// The source file names the worker's events name, one copy each. In the plan's own
/// process a location borrows its file name from `file!()`; one read from a pipe would own
/// a copy per entry (about 100 MB at a million testcases). The few distinct names are kept
/// for the rest of the process.
#[derive(Debug, Default)]
pub(super) struct SourceFiles(Mutex<HashSet<&'static str, FastHash>>);

impl SourceFiles {
    fn share(&self, event: &mut Event) {
        let location = match event {
            Event::EntryRecorded { entry, .. } => entry.location.as_mut(),
            Event::TestcaseFinished { error, .. }
            | Event::SuiteFinished { error, .. }
            | Event::TestFinished { error, .. } => {
                error.as_mut().and_then(|error| error.location.as_mut())
            }
            _ => None,
        };
        let Some(location) = location else {
            return;
        };
        let std::borrow::Cow::Owned(file) = &location.file else {
            return;
        };
        let mut files = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let shared = match files.get(file.as_str()) {
            Some(shared) => *shared,
            None => {
                let shared: &'static str = Box::leak(file.clone().into_boxed_str());
                files.insert(shared);
                shared
            }
        };
        location.file = std::borrow::Cow::Borrowed(shared);
    }
}

/// What the plan knows of one test across its workers.
#[derive(Default)]
pub(super) struct TestProgress {
    /// Testcases that have their end.
    finished: HashSet<String, FastHash>,
    /// The testcases that failed (errored, crashed…) in their latest run.
    failing: HashSet<String, FastHash>,
    /// Suites started and ended, so a restarted worker's repeats are dropped.
    suites_started: HashSet<String, FastHash>,
    suites_finished: HashSet<String, FastHash>,
}

impl TestProgress {
    /// Whether the testcase has its end (in this round of runs).
    fn has_ended(&self, case: &SelectedCase) -> bool {
        // A test's first job asks for every testcase: no UID to build for it.
        !self.finished.is_empty() && self.finished.contains(&case.uid())
    }

    fn finish(&mut self, uid: &str, status: Status) {
        self.finished.insert(uid.to_string());
        if status.is_failure() {
            self.failing.insert(uid.to_string());
        } else if !self.failing.is_empty() {
            self.failing.remove(uid);
        }
    }
}

/// What one worker did with one job.
#[derive(Default)]
pub(super) struct Attempt {
    /// The testcase started and not ended.
    running: Option<String>,
    /// The suite started and not ended.
    open_suite: Option<String>,
    /// A testcase ended in this worker.
    progressed: bool,
    /// The environment came up.
    environment_started: bool,
    /// Drivers whose start had begun and not ended.
    starting_drivers: Vec<String>,
    /// The worker's `TestFinished`: it ran its job to the end.
    finished: Option<Option<ErrorInfo>>,
    /// Process groups its drivers started and did not stop.
    groups: HashSet<i32>,
    /// It stopped answering and was killed.
    silent: bool,
    /// The environment's status and each driver's, as its events last said.
    environment: Option<DriverStatus>,
    drivers: Vec<(String, DriverStatus)>,
}

/// An interactive session's worker as its jobs left it: what outlives one job.
#[derive(Debug, Default)]
pub(super) struct SessionTrack {
    /// Process groups its drivers started and did not stop.
    pub(super) groups: HashSet<i32>,
    /// The environment is up (started, or failed while up).
    pub(super) environment_up: bool,
    /// Each driver's last status.
    pub(super) drivers: std::collections::BTreeMap<String, DriverStatus>,
}

impl SessionTrack {
    fn attempt(&self) -> Attempt {
        Attempt {
            groups: self.groups.clone(),
            environment_started: self.environment_up,
            ..Attempt::default()
        }
    }

    fn absorb(&mut self, attempt: &Attempt) {
        self.groups.clone_from(&attempt.groups);
        // A job ends with the environment started, or down: a start that failed stopped
        // what it had started, a stop that failed killed what did not stop.
        if let Some(status) = attempt.environment {
            self.environment_up = matches!(status, DriverStatus::Started | DriverStatus::Starting);
        }
        for (driver, status) in &attempt.drivers {
            self.drivers.insert(driver.clone(), *status);
        }
    }
}

/// How a job on a worker ended.
pub(super) enum WorkerEnd {
    /// It ran its job.
    Completed(Option<ErrorInfo>),
    /// It abandoned a testcase and stopped: a fresh worker runs the rest.
    Restart,
    /// The plan was interrupted.
    Stopped,
    /// A cancel (interactive mode) killed it.
    Cancelled,
    /// It died: how, and the last lines of its stderr.
    Crashed(String, Vec<String>),
}

fn supervise(
    selected: &SelectedTest,
    context: &RunContext,
    slot: &mut Option<Worker>,
    pool: &ProcessPool<'_>,
) {
    let sink = &context.sink;
    sink.emit(Event::TestStarted {
        uid: selected.uid.clone(),
        time: now(),
    });
    let mut progress = TestProgress::default();
    let mut test_error = run_to_the_end(selected, context, slot, pool, &mut progress, None);
    // `--rerun`: the testcases that failed run again in a fresh environment, each earlier
    // run kept in the report; one that passes then is flaky.
    for attempt in 2..=pool.reruns.saturating_add(1) {
        if context.stopping() || progress.failing.is_empty() {
            break;
        }
        // A worker runs a test once (its definition is used up): a fresh one reruns it.
        drop(slot.take());
        let mut failing: Vec<String> = progress.failing.iter().cloned().collect();
        failing.sort();
        for uid in failing {
            progress.finished.remove(&uid);
            sink.emit(Event::TestcaseRerun { uid, attempt });
        }
        test_error = run_to_the_end(selected, context, slot, pool, &mut progress, None);
    }
    sink.emit(Event::TestFinished {
        uid: selected.uid.clone(),
        time: now(),
        error: test_error,
    });
}

/// Runs the testcases of `selected` that have not ended yet, in as many workers as it
/// takes (one more after each crash that let a testcase end); returns the test's error.
/// With a session, each job is that step of an interactive session.
pub(super) fn run_to_the_end(
    selected: &SelectedTest,
    context: &RunContext,
    slot: &mut Option<Worker>,
    pool: &ProcessPool<'_>,
    progress: &mut TestProgress,
    mut session: Option<(SessionStep, &mut SessionTrack)>,
) -> Option<ErrorInfo> {
    let sink = &context.sink;
    loop {
        if context.stopping() {
            return None;
        }
        let mut job = WorkerJob::for_test(
            &pool.launcher.command.plan,
            selected,
            context.runpath.clone(),
            |case| !progress.has_ended(case),
        );
        let step = session.as_ref().map(|(step, _)| *step);
        job.session = step;
        job.record_coverage = pool.coverage.is_some();
        // An environment step runs no testcase.
        if job.case_count() == 0 && matches!(step, None | Some(SessionStep::Run)) {
            return None;
        }
        let mut attempt = session
            .as_ref()
            .map_or_else(Attempt::default, |(_, track)| track.attempt());
        let end = run_worker(&job, context, slot, pool, progress, &mut attempt);
        if let Some((_, track)) = session.as_mut() {
            track.absorb(&attempt);
            // A worker that died took its environment with it: a successor starts afresh.
            if slot.is_none() {
                track.environment_up = false;
            }
        }
        match end {
            WorkerEnd::Completed(error) => return error,
            WorkerEnd::Restart => {}
            // A batch run's end closes what was left open; an interactive session has none.
            WorkerEnd::Stopped => {
                if session.is_some() {
                    close_killed(
                        &mut attempt,
                        progress,
                        sink,
                        Status::Incomplete,
                        "interrupted",
                    );
                }
                return None;
            }
            WorkerEnd::Cancelled => {
                close_killed(&mut attempt, progress, sink, Status::Cancelled, "cancelled");
                return None;
            }
            WorkerEnd::Crashed(how, tail) => {
                let crashed = CrashReport { how, tail };
                let in_testcase = attempt.running.take();
                if let Some(uid) = &in_testcase {
                    sink.emit(Event::TestcaseFinished {
                        uid: uid.clone(),
                        time: now(),
                        status: Status::Crashed,
                        error: Some(crashed.error("while this testcase ran")),
                    });
                    progress.finish(uid, Status::Crashed);
                    attempt.progressed = true;
                }
                let place = crash_place(&attempt, selected);
                close_finished_suite(selected, &attempt, progress, &crashed, sink);
                let all_finished = everything_finished(selected, progress);
                // A worker that finished something gets a successor; one that finished
                // nothing would only crash the same way again.
                if attempt.progressed && !all_finished {
                    note_restart(sink, &selected.uid, &crashed);
                    continue;
                }
                if !all_finished {
                    give_up(selected, &attempt, progress, &crashed, &place, sink);
                }
                return in_testcase.is_none().then(|| crashed.error(&place));
            }
        }
    }
}

/// A worker killed on purpose (a cancel, an interrupt): the testcase it was running ends
/// with `status`, and the suite it was in ends (its teardown did not run).
fn close_killed(
    attempt: &mut Attempt,
    progress: &mut TestProgress,
    sink: &EventSink,
    status: Status,
    why: &str,
) {
    if let Some(suite) = attempt.open_suite.take()
        && progress.suites_finished.insert(suite.clone())
    {
        sink.emit(Event::SuiteFinished {
            uid: suite,
            time: now(),
            error: Some(ErrorInfo::new(
                format!("{why}: its worker process was killed before the suite's teardown"),
                None,
            )),
        });
    }
    if let Some(uid) = attempt.running.take() {
        sink.emit(Event::TestcaseFinished {
            uid: uid.clone(),
            time: now(),
            status,
            error: Some(ErrorInfo::new(
                format!("{why} while running: its worker process was killed"),
                None,
            )),
        });
        progress.finish(&uid, status);
    }
}

/// How a worker died, for the messages that report it.
struct CrashReport {
    how: String,
    tail: Vec<String>,
}

impl CrashReport {
    fn error(&self, place: &str) -> ErrorInfo {
        let mut message = format!("the worker process {} {place}", self.how);
        if !self.tail.is_empty() {
            message.push_str("; the last lines of its stderr:");
            for line in &self.tail {
                message.push_str("\n  ");
                message.push_str(line);
            }
        }
        ErrorInfo::new(message, None)
    }
}

fn everything_finished(selected: &SelectedTest, progress: &TestProgress) -> bool {
    selected
        .suites
        .iter()
        .flat_map(|suite| &suite.cases)
        .all(|case| progress.has_ended(case))
}

/// Where in the test a worker died that was running no testcase.
fn crash_place(attempt: &Attempt, selected: &SelectedTest) -> String {
    if !attempt.environment_started {
        return "while starting the environment".to_string();
    }
    match &attempt.open_suite {
        Some(uid) => {
            let name = selected
                .suites
                .iter()
                .find(|suite| &suite.uid == uid)
                .map_or(uid.as_str(), |suite| suite.name.as_str());
            format!("in suite `{name}` outside its testcases (setup, teardown or a hook)")
        }
        None => "after its testcases (stopping the environment)".to_string(),
    }
}

/// A suite the worker died in after its last testcase (in its teardown) is over: it ends
/// with the crash as its error.
fn close_finished_suite(
    selected: &SelectedTest,
    attempt: &Attempt,
    progress: &mut TestProgress,
    crashed: &CrashReport,
    sink: &EventSink,
) {
    let Some(uid) = &attempt.open_suite else {
        return;
    };
    let Some(suite) = selected.suites.iter().find(|suite| &suite.uid == uid) else {
        return;
    };
    if suite.cases.iter().all(|case| progress.has_ended(case))
        && progress.suites_finished.insert(uid.clone())
    {
        sink.emit(Event::SuiteFinished {
            uid: uid.clone(),
            time: now(),
            error: Some(crashed.error("in the suite's teardown")),
        });
    }
}

/// Marks the test's report: a fresh worker starts its environment again.
fn note_restart(sink: &EventSink, test_uid: &str, crashed: &CrashReport) {
    sink.emit(Event::EntryRecorded {
        uid: test_uid.to_string(),
        entry: Entry::new("worker restarted", None, None, now(), EntryDetail::Log {
                message: format!(
                    "the worker process {}; a fresh worker started the environment again and ran the testcases left",
                    crashed.how
                ),
                value: None,
            }),
    });
}

/// The worker died before it finished a testcase: the testcases left are errors, open
/// suites end, drivers caught starting failed.
fn give_up(
    selected: &SelectedTest,
    attempt: &Attempt,
    progress: &mut TestProgress,
    crashed: &CrashReport,
    place: &str,
    sink: &EventSink,
) {
    let error = crashed.error(place);
    for driver in &attempt.starting_drivers {
        sink.emit(Event::DriverStatusChanged {
            uid: selected.uid.clone(),
            driver: driver.clone(),
            status: DriverStatus::Failed,
            time: now(),
            attributes: Default::default(),
            error: Some(error.clone()),
            log_tail: crashed.tail.clone(),
            ready_wait: None,
        });
    }
    let not_run = format!("not run: the worker process {} {place}", crashed.how);
    for suite in &selected.suites {
        for case in &suite.cases {
            let uid = case.uid();
            if !progress.finished.contains(&uid) {
                progress.finish(&uid, Status::Error);
                sink.emit(Event::TestcaseFinished {
                    uid,
                    time: now(),
                    status: Status::Error,
                    error: Some(ErrorInfo::new(not_run.clone(), None)),
                });
            }
        }
        if progress.suites_started.contains(&suite.uid)
            && progress.suites_finished.insert(suite.uid.clone())
        {
            sink.emit(Event::SuiteFinished {
                uid: suite.uid.clone(),
                time: now(),
                error: Some(error.clone()),
            });
        }
    }
}

/// A worker process of this plan, between jobs or running one.
pub(super) struct Worker {
    child: Child,
    pid: i32,
    /// Jobs go in; its end tells the worker the plan is gone.
    jobs: Option<ChildStdin>,
    /// Events and notices come out.
    lines: BufReader<ChildStdout>,
    stderr: StderrTail,
}

impl Worker {
    fn start(launcher: &WorkerLauncher) -> std::io::Result<Worker> {
        let mut child = launcher.launch()?;
        let (Some(jobs), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("its pipes were not set up"));
        };
        Ok(Worker {
            pid: child.id() as i32,
            child,
            jobs: Some(jobs),
            lines: BufReader::with_capacity(64 * 1024, stdout),
            stderr: relay_stderr(stderr),
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Between jobs a worker ends when its stdin does.
        drop(self.jobs.take());
        let _ = self.child.wait();
    }
}

/// Runs `job` on the slot's worker (starting one if the slot has none), passes its events
/// on until the job ends, and cleans up after a worker that died.
fn run_worker(
    job: &WorkerJob,
    context: &RunContext,
    slot: &mut Option<Worker>,
    pool: &ProcessPool<'_>,
    progress: &mut TestProgress,
    attempt: &mut Attempt,
) -> WorkerEnd {
    let (launcher, live) = (pool.launcher, pool.live);
    let cancelled = || context.cancel.load(std::sync::atomic::Ordering::SeqCst);
    let worker = match slot.take() {
        Some(worker) => worker,
        None => match Worker::start(launcher) {
            Ok(worker) => worker,
            Err(error) => {
                return WorkerEnd::Crashed(
                    format!(
                        "could not be started from `{}` ({error})",
                        launcher.command.program.display()
                    ),
                    Vec::new(),
                );
            }
        },
    };
    let mut worker = worker;
    live.insert(worker.pid);
    // A cancel sets its flag before it kills the registered workers: either it saw this
    // one, or this sees the flag.
    if cancelled() {
        live.kill(worker.pid);
    }
    worker.stderr.clear();
    let sent = serde_json::to_vec(job)
        .map_err(std::io::Error::from)
        .and_then(|mut line| {
            line.push(b'\n');
            match &mut worker.jobs {
                Some(jobs) => jobs.write_all(&line),
                None => Err(std::io::ErrorKind::BrokenPipe.into()),
            }
        });
    let mut done = false;
    if sent.is_ok() {
        let mut line = Vec::with_capacity(512);
        let mut streaming = EventRate::default();
        // The events of one read go to the hub together: one wake-up of its fold.
        let mut arrived = Vec::new();
        loop {
            line.clear();
            if worker.lines.buffer().is_empty() && !speaks_within(&worker, SILENCE_LIMIT) {
                attempt.silent = true;
                let _ = worker.child.kill();
                break;
            }
            match worker.lines.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            // Whether more of a suite's testcases are likely to follow at once.
            let mut amid_testcases = false;
            match take_line(&line, pool, progress, attempt) {
                Line::Event(event) => {
                    amid_testcases = matches!(
                        event,
                        Event::TestcaseStarted { .. }
                            | Event::EntryRecorded { .. }
                            | Event::TestcaseFinished { .. }
                    );
                    arrived.push(event);
                }
                Line::Done => {
                    done = true;
                    break;
                }
                Line::Nothing => {}
            }
            if arrived.len() >= BATCH_EVENTS {
                context.sink.emit_all(std::mem::take(&mut arrived));
            }
            if worker.lines.buffer().is_empty() {
                context.sink.emit_all(std::mem::take(&mut arrived));
                // A worker flushes every event before its testcase goes on (so that a
                // crash loses none): read at once, each write would wake this thread and
                // the hub's. Once events stream in, a short pause lets the next ones
                // gather in the pipe; a few events (a small plan, a slow testcase) are
                // passed on without one, and so is a suite's or a job's end.
                if streaming.drained() && amid_testcases {
                    std::thread::sleep(READ_COALESCING);
                }
            }
        }
        context.sink.emit_all(arrived);
    }
    let killed = live.remove(worker.pid);
    if done && !killed {
        *slot = Some(worker);
        return WorkerEnd::Completed(attempt.finished.take().flatten());
    }
    let status = worker.child.wait().ok();
    // The groups the worker's drivers did not stop: a crashed worker's. Its environment
    // starts afresh, so they are killed at once.
    let left: Vec<i32> = attempt.groups.drain().collect();
    if !left.is_empty() {
        kill_process_groups(&left);
        for group in left {
            if !process_group_alive(group) {
                unregister_process_group(group);
            }
        }
    }
    let tail = worker.stderr.take();
    drop(worker);
    match status {
        // A cancel killed it just as it ended its job.
        _ if done => WorkerEnd::Completed(attempt.finished.take().flatten()),
        Some(status) if status.code() == Some(WORKER_RESTART_EXIT) => WorkerEnd::Restart,
        _ if context.stop.is_stopped() => WorkerEnd::Stopped,
        _ if killed && cancelled() => WorkerEnd::Cancelled,
        Some(_) if attempt.silent => WorkerEnd::Crashed(
            format!(
                "stopped answering (no event and no heartbeat for {}s) and was killed",
                SILENCE_LIMIT.as_secs()
            ),
            tail,
        ),
        Some(status) => WorkerEnd::Crashed(describe_worker_exit(status), tail),
        None => WorkerEnd::Crashed("could not be waited for".into(), tail),
    }
}

/// An event line from a worker. The three events of every testcase are read straight into
/// their fields: `Event`'s internally tagged form would first buffer each line into a
/// generic tree (a third of the parse).
fn parse_event(line: &[u8]) -> Option<Event> {
    #[derive(serde::Deserialize)]
    struct Started {
        uid: String,
        time: f64,
    }
    #[derive(serde::Deserialize)]
    struct Finished {
        uid: String,
        time: f64,
        status: Status,
        #[serde(default)]
        error: Option<ErrorInfo>,
    }
    #[derive(serde::Deserialize)]
    struct Recorded {
        uid: String,
        entry: Entry,
    }
    if line.starts_with(b"{\"event\":\"entry_recorded\",") {
        let Recorded { uid, entry } = serde_json::from_slice(line).ok()?;
        return Some(Event::EntryRecorded { uid, entry });
    }
    if line.starts_with(b"{\"event\":\"testcase_started\",") {
        let Started { uid, time } = serde_json::from_slice(line).ok()?;
        return Some(Event::TestcaseStarted { uid, time });
    }
    if line.starts_with(b"{\"event\":\"testcase_finished\",") {
        let Finished {
            uid,
            time,
            status,
            error,
        } = serde_json::from_slice(line).ok()?;
        return Some(Event::TestcaseFinished {
            uid,
            time,
            status,
            error,
        });
    }
    serde_json::from_slice(line).ok()
}

/// The most events passed to the hub at once: its queue is bounded in messages, and
/// bounded batches keep what waits in it (when workers outpace the fold) to a few
/// megabytes, the workers waiting on full pipes instead.
const BATCH_EVENTS: usize = 64;

/// How long the supervisor lets a worker's events gather between reads: a testcase's
/// events reach the report at most this much later, and a busy worker costs a few
/// thousand wake-ups a second instead of one per event.
const READ_COALESCING: Duration = Duration::from_micros(500);

/// Whether a worker's events stream in: the pipe was drained several times in a row, each
/// soon after the one before.
#[derive(Default)]
struct EventRate {
    last_drained: Option<std::time::Instant>,
    quick_in_a_row: u32,
}

impl EventRate {
    /// Reads that empty the pipe this soon after the last one count as a stream...
    const QUICK: Duration = Duration::from_millis(1);
    /// ...once there are this many in a row.
    const STREAM: u32 = 8;

    /// Notes that the pipe was drained; true when events are streaming in.
    fn drained(&mut self) -> bool {
        let now = std::time::Instant::now();
        let quick = self
            .last_drained
            .is_some_and(|last| now.duration_since(last) < Self::QUICK);
        self.quick_in_a_row = if quick { self.quick_in_a_row + 1 } else { 0 };
        self.last_drained = Some(now);
        self.quick_in_a_row >= Self::STREAM
    }
}

/// Waits until the worker has something to say (or has ended), at most `limit`.
fn speaks_within(worker: &Worker, limit: Duration) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let timeout = Timespec {
        tv_sec: limit.as_secs() as i64,
        tv_nsec: 0,
    };
    loop {
        let mut fds = [PollFd::new(worker.lines.get_ref(), PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(ready) => return ready > 0,
            Err(rustix::io::Errno::INTR) => continue,
            // Whatever poll cannot tell, the read will.
            Err(_) => return true,
        }
    }
}

fn describe_worker_exit(status: ExitStatus) -> String {
    match status.code() {
        Some(0) => "exited with status 0 before it finished (`std::process::exit` in a testcase?)"
            .to_string(),
        _ => describe_exit(status),
    }
}

/// What a line from a worker asks for.
enum Line {
    /// An event to pass on.
    Event(Event),
    /// The job is done.
    Done,
    /// Nothing more (a notice taken, a repeat dropped).
    Nothing,
}

/// One line from a worker: an event to pass on (or drop), or a notice.
fn take_line(
    line: &[u8],
    pool: &ProcessPool<'_>,
    progress: &mut TestProgress,
    attempt: &mut Attempt,
) -> Line {
    let short = is_short_line(line);
    if !short && !line.starts_with(b"{\"event\"") {
        match serde_json::from_slice::<WorkerNotice>(line) {
            Ok(WorkerNotice::JobDone) => return Line::Done,
            Ok(WorkerNotice::Heartbeat) => {}
            Ok(WorkerNotice::Coverage(window)) => {
                if let Some(coverage) = pool.coverage {
                    coverage.absorb(window);
                }
            }
            Ok(WorkerNotice::Group { group, alive: true }) => {
                register_process_group(group);
                attempt.groups.insert(group);
            }
            Ok(WorkerNotice::Group {
                group,
                alive: false,
            }) => {
                unregister_process_group(group);
                attempt.groups.remove(&group);
            }
            Err(_) => {}
        }
        return Line::Nothing;
    }
    let parsed = if short {
        read_short_line(line)
    } else {
        parse_event(line)
    };
    let Some(mut event) = parsed else {
        return Line::Nothing;
    };
    pool.source_files.share(&mut event);
    let pass_on = match &event {
        // The supervisor reports the test's start and end, once, whatever its workers did.
        Event::TestStarted { .. } | Event::PlanFinished { .. } => false,
        Event::TestFinished { error, .. } => {
            attempt.finished = Some(error.clone());
            false
        }
        Event::SuiteStarted { uid, .. } => {
            attempt.open_suite = Some(uid.clone());
            progress.suites_started.insert(uid.clone())
        }
        Event::SuiteFinished { uid, .. } => {
            attempt.open_suite = None;
            progress.suites_finished.insert(uid.clone());
            true
        }
        Event::TestcaseStarted { uid, .. } => {
            attempt.running = Some(uid.clone());
            true
        }
        Event::TestcaseFinished { uid, status, .. } => {
            if attempt.running.as_ref() == Some(uid) {
                attempt.running = None;
            }
            attempt.progressed = true;
            progress.finish(uid, *status);
            true
        }
        Event::EnvStatus { env_status, .. } => {
            if *env_status == DriverStatus::Started {
                attempt.environment_started = true;
            }
            attempt.environment = Some(*env_status);
            true
        }
        Event::DriverStatusChanged { driver, status, .. } => {
            attempt.starting_drivers.retain(|name| name != driver);
            if *status == DriverStatus::Starting {
                attempt.starting_drivers.push(driver.clone());
            }
            attempt.drivers.push((driver.clone(), *status));
            true
        }
        _ => true,
    };
    if pass_on {
        Line::Event(event)
    } else {
        Line::Nothing
    }
}

/// The last lines of a worker's stderr, kept while they are relayed to the plan's.
struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl StderrTail {
    /// The tail of a worker that ended, once the relay has seen the end of the stream (a
    /// moment at most: a process the worker started may hold the stream open).
    fn take(&mut self) -> Vec<String> {
        let _ = self.done.recv_timeout(Duration::from_millis(200));
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines.iter().cloned().collect()
    }

    /// Forgets the lines so far: a new job starts.
    fn clear(&self) {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

fn relay_stderr(stderr: std::process::ChildStderr) -> StderrTail {
    let lines = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL_LINES)));
    let (done_sender, done) = std::sync::mpsc::channel();
    let kept = lines.clone();
    let relay = std::thread::Builder::new()
        .name("testrig-worker-stderr".into())
        .spawn(move || {
            let mut out = std::io::stderr();
            for line in BufReader::new(stderr).split(b'\n') {
                let Ok(line) = line else { break };
                let _ = out.write_all(&line);
                let _ = out.write_all(b"\n");
                let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
                if kept.len() == STDERR_TAIL_LINES {
                    kept.pop_front();
                }
                kept.push_back(String::from_utf8_lossy(&line).into_owned());
            }
            let _ = done_sender.send(());
        });
    if relay.is_err() {
        eprintln!("warning: failed to start a thread to relay a worker's stderr");
    }
    StderrTail { lines, done }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testrig_model::SourceLocation;

    #[test]
    fn the_fast_parse_reads_what_the_worker_writes_as_serde_would() {
        let entry = Entry::new(
            "equal",
            Some(false),
            Some(SourceLocation::new("src/plan.rs", 3, 9)),
            1.5,
            EntryDetail::Log {
                message: "m".into(),
                value: None,
            },
        );
        let events = [
            Event::TestcaseStarted {
                uid: "t/s/c".into(),
                time: 1.25,
            },
            Event::EntryRecorded {
                uid: "t/s/c".into(),
                entry,
            },
            Event::TestcaseFinished {
                uid: "t/s/c".into(),
                time: 2.5,
                status: Status::Error,
                error: Some(ErrorInfo::new("panicked: \"quoted\"", None)),
            },
            Event::TestcaseFinished {
                uid: "t/s/c".into(),
                time: 2.5,
                status: Status::Passed,
                error: None,
            },
            Event::SuiteStarted {
                uid: "t/s".into(),
                time: 1.0,
            },
        ];
        for event in events {
            let line = serde_json::to_vec(&event).unwrap();
            assert_eq!(parse_event(&line), Some(event));
        }
        assert_eq!(
            parse_event(b"{\"event\":\"testcase_started\",\"uid\":7}"),
            None
        );
    }
}

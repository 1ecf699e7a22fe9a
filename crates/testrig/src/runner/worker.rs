//! A worker process: the plan binary re-executed by the process pool ([`super::pool`]) to
//! run one MultiTest — its environment and its selected testcases — whose events the
//! parent's hub folds. The worker is one more producer of the spine's events; it owns no
//! report.
//!
//! The protocol, between two images of the same binary:
//! - the parent sets [`WORKER_ENV`] and passes its own command line, so the plan's `main`
//!   builds the same plan; [`Plan::run_from_args`](crate::Plan::run_from_args) sees the
//!   variable and serves the job instead of running the plan;
//! - the parent writes [`WorkerJob`]s to the worker's stdin, one JSON line each, one at a
//!   time: a worker runs test after test, as a Testplan pool worker runs task after task,
//!   so a plan of many small tests pays for a few process starts, not one per test. The
//!   end of stdin between jobs ends the worker; during a job it means the parent is gone,
//!   and the worker kills its drivers and exits;
//! - the worker writes lines to its stdout: events (a testcase's start, entries and end as
//!   short lines, see [`super::wire`]; the others as the event stream carries them, JSON
//!   without the envelope) and [`WorkerNotice`]s (JSON) — the process groups its drivers start
//!   and stop, so the parent can kill what a crashed worker leaves, and the end of each
//!   job. What the testcases print to stdout goes to stderr instead, which the parent
//!   relays and keeps the tail of;
//! - a job with a [`SessionStep`] belongs to an interactive session (`-i`, `--ui`): the
//!   worker keeps the test and its environment from one step to the next (start or stop
//!   the environment, run a selection with the environment started first if it is down),
//!   and stops the environment in order when its stdin ends between steps;
//! - exit 0: no more jobs; [`WORKER_RESTART_EXIT`]: a testcase was abandoned (its time
//!   limit) and the rest needs a fresh worker; anything else is a crash.
//!
//! Every event is written before the code after it runs (flushed, except a testcase's end,
//! which the next event or the exit flushes): a worker that dies loses nothing it reported.

use std::io::{BufRead, BufWriter, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use testrig_model::Event;

use crate::events::{EventForwarder, EventHub};
use crate::testing::{CaseIndex, MultiTest, SelectedCase, SelectedTest};

use super::interrupt::install_worker_interrupt_handler;
use super::local::{RunContext, TestSession, run_tests};
use super::panic_capture::install_panic_hook;
use super::wire::write_short_line;

/// Set in the environment of a worker process to `PROTOCOL:PARENT_PID`.
pub(crate) const WORKER_ENV: &str = "TESTRIG_WORKER";

/// Set to `--worker-memory-limit` (megabytes) in the environment of a worker process.
pub(crate) const WORKER_MEMORY_ENV: &str = "TESTRIG_WORKER_MEMORY_MB";

/// The version of the protocol: a worker of another version refuses the job.
pub(crate) const WORKER_PROTOCOL: &str = "3";

/// The size asked for the pipe of events to the parent (the unprivileged maximum).
const EVENT_PIPE_CAPACITY: usize = 1 << 20;

/// A worker's exit status when it abandoned a testcase (its time limit ran out) and stopped
/// its environment: the testcases after it need a fresh worker (EX_TEMPFAIL).
pub(crate) const WORKER_RESTART_EXIT: i32 = 75;

/// What a worker runs: one test of the plan, and which of its testcases in which order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WorkerJob {
    /// The plan's name, checked against the plan the worker built.
    pub plan: String,
    /// The test's position in the plan, and its name (checked).
    pub test_index: usize,
    /// The test's name.
    pub test: String,
    /// The plan's runpath (claimed by the parent).
    pub runpath: PathBuf,
    /// The suites to run, in order.
    pub suites: Vec<JobSuite>,
    /// A step of an interactive session; `None`: a batch job (environment up, the
    /// testcases, environment down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionStep>,
    /// Record what each testcase executes (`--affected`): the worker sends the coverage of
    /// each window as [`WorkerNotice::Coverage`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub record_coverage: bool,
}

/// What one job of an interactive session does with the session's test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SessionStep {
    /// Start the environment (nothing to do if it is up).
    StartEnvironment,
    /// Stop the environment (nothing to do if it is down).
    StopEnvironment,
    /// Run the job's testcases, starting the environment first if it is down.
    Run,
}

/// One suite of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JobSuite {
    /// The suite's position in its test.
    pub suite: usize,
    /// Its testcases in run order: `[testcase, parametrization, skipped]`.
    pub cases: Vec<(usize, Option<usize>, bool)>,
}

/// What a worker tells its parent besides events.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WorkerNotice {
    /// A process group one of its drivers started (`alive`) or stopped.
    Group {
        /// The group's id.
        group: i32,
        /// Started (true) or gone (false).
        alive: bool,
    },
    /// The job is done; the worker waits for the next.
    JobDone,
    /// The worker is alive (every [`HEARTBEAT_INTERVAL`]), whatever its testcases do.
    Heartbeat,
    /// What a window of the run executed (a job that records coverage).
    Coverage(WindowCoverage),
}

/// What one window of a recording worker executed: the positions of the functions in the
/// binary's counter index, which the parent (the same binary) maps to their sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCoverage {
    /// Whose window: `""` the plan, a test or suite UID, or a testcase's UID.
    pub owner: String,
    /// For a testcase's window: whether it failed and whether it ran to completion (only
    /// then is its record replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub testcase: Option<TestcaseEnd>,
    /// The functions it executed.
    pub positions: Vec<u32>,
    /// Why the worker could not read its counters (nothing of the window is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How a testcase whose window a [`WindowCoverage`] holds ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestcaseEnd {
    /// Its status counts as a failure.
    pub failed: bool,
    /// It ran to completion (not abandoned, cancelled, skipped or interrupted).
    pub completed: bool,
}

/// Where the coverage a recording worker sends ends up in the plan: the plan's recorder.
pub trait CoverageSink: Send + Sync {
    /// Takes what one window of a worker executed.
    fn absorb(&self, window: WindowCoverage);
}

/// Makes the observer that reads a recording worker's counters at every boundary and sends
/// each window on (`--affected` provides it: the runner does not read counters itself).
pub type WorkerCoverageFactory =
    fn(Box<dyn Fn(WindowCoverage) + Send + Sync>) -> std::sync::Arc<dyn super::TestcaseObserver>;

/// How often a worker says it is alive.
pub(crate) const HEARTBEAT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl WorkerJob {
    /// The job that runs `selected` (or the part of it `keep` accepts).
    pub(crate) fn for_test(
        plan: &str,
        selected: &SelectedTest,
        runpath: PathBuf,
        keep: impl Fn(&SelectedCase) -> bool,
    ) -> WorkerJob {
        WorkerJob {
            plan: plan.to_string(),
            test_index: selected.test_index,
            test: selected.name.clone(),
            runpath,
            suites: selected
                .suites
                .iter()
                .map(|suite| JobSuite {
                    suite: suite.suite_index,
                    cases: suite
                        .cases
                        .iter()
                        .filter(|case| keep(case))
                        .map(|case| {
                            let index = case.index();
                            (index.testcase, index.parametrization, case.skip.is_some())
                        })
                        .collect(),
                })
                .filter(|suite| !suite.cases.is_empty())
                .collect(),
            session: None,
            record_coverage: false,
        }
    }

    /// How many testcases it runs.
    pub(crate) fn case_count(&self) -> usize {
        self.suites.iter().map(|suite| suite.cases.len()).sum()
    }

    /// The selection of `full` (the whole test) this job names, in the job's order.
    fn select(&self, mut full: SelectedTest) -> Result<SelectedTest, String> {
        let mut suites = Vec::with_capacity(self.suites.len());
        for job_suite in &self.suites {
            let Some(position) = full
                .suites
                .iter()
                .position(|suite| suite.suite_index == job_suite.suite)
            else {
                return Err(format!("the test has no suite number {}", job_suite.suite));
            };
            let mut suite = full.suites.swap_remove(position);
            let mut by_index: std::collections::HashMap<CaseIndex, SelectedCase> = suite
                .cases
                .drain(..)
                .map(|case| (case.index(), case))
                .collect();
            for &(testcase, parametrization, skipped) in &job_suite.cases {
                let index = CaseIndex {
                    testcase,
                    parametrization,
                };
                let Some(mut case) = by_index.remove(&index) else {
                    return Err(format!(
                        "suite `{}` has no testcase {testcase}/{parametrization:?}",
                        suite.name
                    ));
                };
                if !skipped {
                    case.skip = None;
                }
                suite.cases.push(case);
            }
            suites.push(suite);
        }
        full.suites = suites;
        Ok(full)
    }
}

/// The worker's stdout, to the parent: events and group notices, one line each.
struct ParentPipe {
    out: BufWriter<std::fs::File>,
    /// The line being written: serialized into a `Vec`, whose serializer code testrig-model
    /// already compiled (`WireJson`), then copied into the pipe's buffer.
    line: Vec<u8>,
    /// The parent stopped reading: nothing more is written.
    broken: bool,
}

impl ParentPipe {
    fn line(&mut self, value: &impl Serialize, flush: bool) {
        self.write(flush, |line| json_line(line, value));
    }

    /// Writes the line `build` makes (and flushes), unless the parent stopped reading.
    fn write(&mut self, flush: bool, build: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) {
        if self.broken {
            return;
        }
        self.line.clear();
        let written = build(&mut self.line)
            .and_then(|()| self.out.write_all(&self.line))
            .and_then(|()| if flush { self.out.flush() } else { Ok(()) });
        if written.is_err() {
            self.broken = true;
        }
    }
}

/// Appends `value` as one JSON line.
fn json_line(line: &mut Vec<u8>, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *line, value)?;
    line.push(b'\n');
    Ok(())
}

/// The hub's forwarder in a worker: every event to the parent pipe.
struct ToParent(Arc<Mutex<ParentPipe>>);

impl EventForwarder for ToParent {
    fn forward(&mut self, event: &Event) {
        // A testcase's end is always followed soon by another event (the next testcase's
        // start, its suite's end) or by the exit, which flush it: one write per testcase
        // less. Everything else goes out at once, so a crash right after it loses nothing.
        let flush = !matches!(event, Event::TestcaseFinished { .. });
        let mut pipe = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        pipe.write(flush, |line| {
            write_short_line(line, event).unwrap_or_else(|| json_line(line, event))
        });
    }

    fn flush(&mut self) {
        let mut pipe = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !pipe.broken && pipe.out.flush().is_err() {
            pipe.broken = true;
        }
    }
}

/// Serves the jobs the parent sends on stdin with the plan's tests, and exits: the whole of a
/// worker process's life. Errors before anything ran exit 2 with a message on stderr.
pub(crate) fn serve(
    plan_name: &str,
    mut tests: Vec<MultiTest>,
    coverage: Option<WorkerCoverageFactory>,
) -> ! {
    match serve_jobs(plan_name, &mut tests, coverage) {
        Ok(()) => std::process::exit(0),
        Err(error) => {
            eprintln!("error: testrig worker: {error}");
            std::process::exit(2);
        }
    }
}

fn serve_jobs(
    plan_name: &str,
    tests: &mut [MultiTest],
    coverage: Option<WorkerCoverageFactory>,
) -> Result<(), String> {
    let variable = std::env::var(WORKER_ENV).unwrap_or_default();
    let protocol = variable.split(':').next().unwrap_or_default();
    if protocol != WORKER_PROTOCOL {
        return Err(format!(
            "the parent speaks worker protocol `{protocol}`, this binary `{WORKER_PROTOCOL}`: rebuild the plan"
        ));
    }
    if let Some(megabytes) = std::env::var(WORKER_MEMORY_ENV)
        .ok()
        .and_then(|value| value.parse::<u64>().ok())
    {
        let bytes = megabytes.saturating_mul(1 << 20);
        rustix::process::setrlimit(
            rustix::process::Resource::As,
            rustix::process::Rlimit {
                current: Some(bytes),
                maximum: Some(bytes),
            },
        )
        .map_err(|error| format!("failed to limit the worker's memory: {error}"))?;
    }
    // Events leave on the original stdout; the testcases' own prints go to stderr.
    let events: OwnedFd = rustix::io::fcntl_dupfd_cloexec(std::io::stdout(), 3)
        .map_err(|error| format!("failed to take over stdout for events: {error}"))?;
    rustix::stdio::dup2_stdout(std::io::stderr())
        .map_err(|error| format!("failed to point stdout at stderr: {error}"))?;
    // Room for the events of the parent's coalescing pause (its reads wait a moment so
    // that one wake-up takes many events): without it a fast worker would block on a full
    // pipe. Only a cap on pipe sizes (fs.pipe-max-size) refuses it, and then the default
    // size just costs more wake-ups.
    let _ = rustix::pipe::fcntl_setpipe_size(&events, EVENT_PIPE_CAPACITY);
    let jobs = read_jobs()?;
    install_panic_hook();
    let pipe = Arc::new(Mutex::new(ParentPipe {
        out: BufWriter::with_capacity(64 * 1024, std::fs::File::from(events)),
        line: Vec::new(),
        broken: false,
    }));
    {
        let pipe = pipe.clone();
        crate::drivers::observe_process_groups(Box::new(move |group, alive| {
            pipe.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .line(&WorkerNotice::Group { group, alive }, true);
        }));
    }
    {
        // Only while a job runs: between the steps of a session nobody reads the pipe.
        let (pipe, running) = (pipe.clone(), jobs.running.clone());
        std::thread::Builder::new()
            .name("testrig-heartbeat".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(HEARTBEAT_INTERVAL);
                    if running.load(Ordering::SeqCst) {
                        pipe.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .line(&WorkerNotice::Heartbeat, true);
                    }
                }
            })
            .map_err(|error| format!("failed to start a thread: {error}"))?;
    }
    let hub = EventHub::forwarding(Box::new(ToParent(pipe.clone())));
    let mut context = RunContext::new(hub.sink(), PathBuf::new());
    let (live, ending) = (context.live_environments.clone(), hub.clone());
    context.stop = install_worker_interrupt_handler(Box::new(move || {
        // Told twice: the grace period is over. The drivers stop in order, and the report
        // hears how, before the worker goes.
        live.stop_all();
        ending.end_stream();
    }));
    context.exit_after_abandon = true;
    // An interactive session's test, kept from one step to the next: its whole selection
    // (each step runs part of it) and its session.
    let mut session: Option<(SelectedTest, TestSession)> = None;
    for line in jobs.receiver.iter() {
        let job: WorkerJob = serde_json::from_slice(line.as_bytes())
            .map_err(|error| format!("malformed job: {error}"))?;
        context.runpath = job.runpath.clone();
        if job.record_coverage && context.observer.is_none() {
            // The parent records only when this same binary was built with the feature.
            let coverage = coverage.ok_or(
                "the job asks for coverage, but this plan was built without testrig's `affected` feature",
            )?;
            let pipe = pipe.clone();
            // Not flushed: a testcase's coverage matters only once it has ended, and the
            // end of the job, written after it, flushes it.
            context.observer = Some(coverage(Box::new(move |window| {
                pipe.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .line(&WorkerNotice::Coverage(window), false);
            })));
        }
        match job.session {
            None => {
                let (full, multitest) = take_test(plan_name, tests, &job)?;
                run_tests(vec![(job.select(full)?, multitest)], 1, &context);
            }
            Some(step) => {
                let (full, test_session) = match &mut session {
                    Some(session) => session,
                    None => {
                        let (full, multitest) = take_test(plan_name, tests, &job)?;
                        let test_session = TestSession::new(&full, multitest, &context)?;
                        session.insert((full, test_session))
                    }
                };
                match step {
                    SessionStep::StartEnvironment => {
                        if !test_session.environment_is_up() {
                            let _ = test_session.start_environment();
                        }
                    }
                    SessionStep::StopEnvironment => {
                        if test_session.environment_is_up() {
                            test_session.stop_environment();
                        }
                    }
                    SessionStep::Run => {
                        let selected = job.select(full.clone())?;
                        test_session.run_starting_environment(&selected, || {});
                    }
                }
            }
        }
        // What ran since the last boundary reaches the parent before the job's end does.
        if let Some(observer) = &context.observer {
            observer.scope("");
        }
        jobs.running.store(false, Ordering::SeqCst);
        pipe.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .line(&WorkerNotice::JobDone, true);
    }
    // The parent is done with the session: its drivers stop in order.
    if let Some((_, test_session)) = &session
        && test_session.environment_is_up()
    {
        test_session.stop_environment();
    }
    hub.end_stream();
    Ok(())
}

/// The jobs as they arrive, and whether one runs now.
struct Jobs {
    receiver: std::sync::mpsc::Receiver<String>,
    running: Arc<AtomicBool>,
}

/// Reads jobs from stdin on a thread of its own, which also watches for the parent's end:
/// stdin closing while a job runs means the plan is gone, and the worker kills its drivers
/// and exits (the reaper would too, two seconds later).
fn read_jobs() -> Result<Jobs, String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let running = Arc::new(AtomicBool::new(false));
    let reader_running = running.clone();
    std::thread::Builder::new()
        .name("testrig-jobs".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            loop {
                let mut line = String::new();
                match stdin.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        reader_running.store(true, Ordering::SeqCst);
                        if sender.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
            if reader_running.load(Ordering::SeqCst) {
                crate::drivers::kill_all_process_groups();
                std::process::exit(i32::from(super::INTERRUPTED_EXIT_CODE));
            }
        })
        .map_err(|error| format!("failed to start a thread: {error}"))?;
    Ok(Jobs { receiver, running })
}

/// The test a job names, taken out of the plan, with its whole selection.
fn take_test(
    plan_name: &str,
    tests: &mut [MultiTest],
    job: &WorkerJob,
) -> Result<(SelectedTest, MultiTest), String> {
    if job.plan != plan_name {
        return Err(format!(
            "the job is for plan `{}`, this binary builds plan `{plan_name}`: a plan binary whose `main` builds different plans cannot run tests in worker processes; use `--pool thread`",
            job.plan
        ));
    }
    let Some(slot) = tests
        .get_mut(job.test_index)
        .filter(|test| test.name == job.test)
    else {
        return Err(format!(
            "the plan has no test `{}` at position {}: the plan's `main` builds a different plan in the worker, or ran it already; use `--pool thread`",
            job.test, job.test_index
        ));
    };
    Ok((
        SelectedTest::full(job.test_index, slot),
        std::mem::replace(slot, MultiTest::new(String::new())),
    ))
}

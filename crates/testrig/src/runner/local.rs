//! The local runner: MultiTests on a pool of worker threads, suites in order, testcases in
//! order or by execution group.
//!
//! It only produces events; the report builder turns them into the report. Every testcase
//! body runs under [`catch_testcase_panic`], so a panic or a returned error errors that
//! testcase and the next one still runs. A testcase with a timeout runs on a thread of its
//! own; when the time is up it is abandoned (Rust cannot kill a thread), reported as an
//! error, and anything it records afterwards is ignored by the report builder.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testrig_model::{DriverStatus, ErrorInfo, Event, SourceLocation, Status};

use crate::env::{Env, Environment, EnvironmentRun, StartFailure};
use crate::events::{EventSink, now};
use crate::result::Recorder;
use crate::runner::interrupt::{StopSignal, Wakeup};
use crate::runner::panic_capture::catch_testcase_panic;
use crate::testing::{
    BoundTestcase, MultiTest, Outcome, SelectedCase, SelectedSuite, SelectedTest, SuiteObject,
    TestcaseError, Xfail,
};

/// Where a run writes: the event stream and the plan's runpath.
#[derive(Clone, Debug)]
pub struct RunContext {
    /// Events go here.
    pub sink: EventSink,
    /// The plan's output folder; each test gets a folder below it.
    pub runpath: PathBuf,
    /// Environments that are up, so an interrupted plan can stop them while a testcase
    /// still holds its worker thread.
    pub live_environments: LiveEnvironments,
    /// Set to cancel what is queued and running (interactive mode).
    pub cancel: Arc<AtomicBool>,
    /// Run every testcase body on its own thread so a cancel can abandon it (interactive).
    pub abandonable: bool,
    /// Told before and after every testcase that runs (coverage recording); while one is
    /// set, testcases run one at a time.
    pub observer: Option<Arc<dyn TestcaseObserver>>,
    /// The plan's stop request (Ctrl-C, SIGTERM).
    pub stop: StopSignal,
    /// A worker process: a testcase abandoned by its time limit ends the process (after its
    /// environment stops), so it stops running for real and a fresh worker runs the rest.
    pub(crate) exit_after_abandon: bool,
}

/// Something that must see each testcase start and end, one at a time: the coverage
/// recorder resets the process's counters before a testcase and reads them after it.
pub trait TestcaseObserver: Send + Sync + std::fmt::Debug {
    /// Code from now on runs for the test or suite `uid` (`""`: the plan), until the next
    /// call: environment start and stop, suite setup and teardown.
    fn scope(&self, _uid: &str) {}
    /// Right before the testcase's pre_testcase hook.
    fn before(&self, uid: &str);
    /// Right after its post_testcase hook, with its final status; `completed` is false when
    /// its body was abandoned (timed out, cancelled) and may still be running.
    fn after(&self, uid: &str, status: Status, completed: bool);
}

impl RunContext {
    /// A context for a batch run.
    pub fn new(sink: EventSink, runpath: PathBuf) -> RunContext {
        RunContext {
            sink,
            runpath,
            live_environments: LiveEnvironments::default(),
            cancel: Arc::new(AtomicBool::new(false)),
            abandonable: false,
            observer: None,
            stop: StopSignal::new(),
            exit_after_abandon: false,
        }
    }

    /// True once nothing more should be scheduled: an interrupt or a cancel.
    pub fn stopping(&self) -> bool {
        self.stop.is_stopped() || self.cancel.load(Ordering::SeqCst)
    }
}

/// The environments of a run that are started and not yet stopped.
#[derive(Clone, Default)]
pub struct LiveEnvironments(Arc<Mutex<Vec<LiveEnvironment>>>);

/// A started environment and where its events go.
type LiveEnvironment = (Arc<Environment>, EnvironmentRun);

impl std::fmt::Debug for LiveEnvironments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveEnvironments")
    }
}

impl LiveEnvironments {
    fn add(&self, environment: &Arc<Environment>, run: &EnvironmentRun) {
        if let Ok(mut live) = self.0.lock() {
            live.push((environment.clone(), run.clone()));
        }
    }

    fn remove(&self, environment: &Arc<Environment>) {
        if let Ok(mut live) = self.0.lock() {
            live.retain(|(other, _)| !Arc::ptr_eq(other, environment));
        }
    }

    /// Stops every live environment, in parallel, each in reverse dependency order.
    pub fn stop_all(&self) {
        let live = self
            .0
            .lock()
            .map(|mut live| std::mem::take(&mut *live))
            .unwrap_or_default();
        std::thread::scope(|scope| {
            for (environment, run) in &live {
                scope.spawn(move || environment.stop(run));
            }
        });
    }
}

/// Runs the selected tests on `workers` threads and returns when all are done.
pub fn run_tests(tests: Vec<(SelectedTest, MultiTest)>, workers: usize, context: &RunContext) {
    run_queue(
        tests,
        workers,
        context,
        |_: &mut (), (selected, multitest)| {
            run_multitest(&selected, multitest, context);
        },
    );
}

/// Takes the jobs in order on `workers` threads (one per job at most) until they run out or
/// the run stops, and returns when every thread is done. Each thread keeps a state of its
/// own from one job to the next (a worker process).
pub(crate) fn run_queue<J: Send, S: Default>(
    jobs: Vec<J>,
    workers: usize,
    context: &RunContext,
    run: impl Fn(&mut S, J) + Sync,
) {
    let workers = workers.max(1).min(jobs.len().max(1));
    let queue = Mutex::new(jobs.into_iter().collect::<VecDeque<_>>());
    let (queue, run) = (&queue, &run);
    std::thread::scope(|scope| {
        for index in 0..workers {
            let worker = std::thread::Builder::new()
                .name(format!("testrig-worker-{index}"))
                .spawn_scoped(scope, move || {
                    let mut state = S::default();
                    loop {
                        let job = queue.lock().ok().and_then(|mut q| q.pop_front());
                        let Some(job) = job else {
                            break;
                        };
                        if context.stopping() {
                            break;
                        }
                        run(&mut state, job);
                    }
                });
            if let Err(error) = worker {
                eprintln!("testrig: failed to start worker thread {index}: {error}");
            }
        }
    });
}

/// The runpath of one test.
pub fn test_runpath(plan_runpath: &Path, test_name: &str) -> PathBuf {
    plan_runpath.join(slug(test_name))
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What every function running one test's suites and testcases needs.
struct TestRun<'a> {
    env: Arc<Env>,
    environment: EnvironmentRun,
    thread_pool_size: usize,
    context: &'a RunContext,
}

/// Stops the environment when the test is done, also when the runner unwinds from a panic.
struct EnvironmentGuard {
    environment: Arc<Environment>,
    run: EnvironmentRun,
    problems: Vec<(String, crate::env::DriverError)>,
    stopped: bool,
}

impl EnvironmentGuard {
    fn stop(&mut self) {
        if !std::mem::replace(&mut self.stopped, true) {
            self.problems = self.environment.stop(&self.run);
        }
    }
}

impl Drop for EnvironmentGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

fn error_info(message: String) -> Option<ErrorInfo> {
    Some(ErrorInfo::new(message, None))
}

/// One test with its environment, kept across runs: batch mode runs it once, interactive
/// mode runs parts of it on demand while its environment stays up.
pub struct TestSession {
    multitest: MultiTest,
    environment: Arc<Environment>,
    environment_run: EnvironmentRun,
    env: Arc<Env>,
    context: RunContext,
    thread_pool_size: usize,
}

impl TestSession {
    /// A session for `selected` (its drivers not started yet).
    pub fn new(
        selected: &SelectedTest,
        mut multitest: MultiTest,
        context: &RunContext,
    ) -> Result<TestSession, String> {
        let runpath = test_runpath(&context.runpath, &selected.name);
        std::fs::create_dir_all(&runpath).map_err(|error| {
            format!(
                "failed to create the test's runpath `{}`: {error}",
                runpath.display()
            )
        })?;
        let environment = Arc::new(std::mem::take(&mut multitest.environment));
        let environment_run = EnvironmentRun {
            test_uid: selected.uid.clone(),
            sink: Some(context.sink.clone()),
            runpath: runpath.clone(),
        };
        Ok(TestSession {
            env: Arc::new(Env::with_environment(
                selected.name.clone(),
                runpath,
                environment.clone(),
            )),
            multitest,
            environment,
            environment_run,
            context: context.clone(),
            thread_pool_size: selected.thread_pool_size,
        })
    }

    /// The environment.
    #[cfg(feature = "interactive")]
    pub fn environment(&self) -> &Arc<Environment> {
        &self.environment
    }

    /// True while the environment has started drivers.
    pub fn environment_is_up(&self) -> bool {
        self.environment.statuses().iter().any(|(_, status)| {
            matches!(
                status,
                DriverStatus::Started | DriverStatus::Starting | DriverStatus::Failed
            )
        })
    }

    fn emit_env_status(&self, env_status: DriverStatus) {
        self.context.sink.emit(Event::EnvStatus {
            uid: self.environment_run.test_uid.clone(),
            env_status,
        });
    }

    /// Starts the environment; on failure the drivers already started are stopped again.
    pub fn start_environment(&self) -> Result<(), StartFailure> {
        self.emit_env_status(DriverStatus::Starting);
        match self.environment.start(&self.environment_run) {
            Ok(()) => {
                self.context
                    .live_environments
                    .add(&self.environment, &self.environment_run);
                self.emit_env_status(DriverStatus::Started);
                Ok(())
            }
            Err(failure) => {
                self.emit_env_status(DriverStatus::Failed);
                Err(failure)
            }
        }
    }

    /// Stops the environment; returns the drivers that did not stop cleanly.
    pub fn stop_environment(&self) -> Vec<(String, crate::env::DriverError)> {
        self.emit_env_status(DriverStatus::Stopping);
        let problems = self.environment.stop(&self.environment_run);
        self.context.live_environments.remove(&self.environment);
        self.emit_env_status(if problems.is_empty() {
            DriverStatus::Stopped
        } else {
            DriverStatus::Failed
        });
        problems
    }

    /// Runs the suites and testcases of `selected` (all of the test, or part of it).
    pub fn run(&mut self, selected: &SelectedTest) {
        let test = TestRun {
            env: self.env.clone(),
            environment: self.environment_run.clone(),
            thread_pool_size: self.thread_pool_size,
            context: &self.context,
        };
        for suite in &selected.suites {
            if self.context.stopping() {
                break;
            }
            let suite_object = &mut self.multitest.suites[suite.suite_index];
            run_suite(suite, suite_object.as_mut(), &test);
        }
    }

    /// Runs `selected`, starting the environment first if it is down (an interactive run);
    /// `started` is called after such a start. When the start fails, the testcases are
    /// errors that say so.
    pub fn run_starting_environment(&mut self, selected: &SelectedTest, started: impl FnOnce()) {
        let up = self.environment_is_up() || self.environment.is_empty();
        let start = if up {
            Ok(())
        } else {
            let start = self.start_environment();
            started();
            start
        };
        match start {
            Ok(()) => self.run(selected),
            Err(failure) => error_testcases(
                selected,
                &format!("not run: the environment failed to start: {failure}"),
                &self.context.sink,
            ),
        }
    }
}

/// Marks testcases as errored without running them.
pub fn error_testcases(selected: &SelectedTest, message: &str, sink: &EventSink) {
    for case in selected.suites.iter().flat_map(|suite| suite.cases.iter()) {
        finish_testcase(
            sink,
            &case.uid(),
            Status::Error,
            error_info(message.to_string()),
        );
    }
}

fn run_multitest(selected: &SelectedTest, multitest: MultiTest, context: &RunContext) {
    context.sink.emit(Event::TestStarted {
        uid: selected.uid.clone(),
        time: now(),
    });
    if let Some(observer) = &context.observer {
        observer.scope(&selected.uid);
    }
    let test_error = match TestSession::new(selected, multitest, context) {
        Err(message) => error_info(message),
        Ok(mut session) => match session.start_environment() {
            Err(failure) => {
                let message = format!(
                    "not run: the environment failed to start (driver `{}`)",
                    failure.driver
                );
                error_testcases(selected, &message, &context.sink);
                error_info(failure.to_string())
            }
            Ok(()) => {
                let mut guard = EnvironmentGuard {
                    environment: session.environment.clone(),
                    run: session.environment_run.clone(),
                    problems: Vec::new(),
                    stopped: false,
                };
                session.run(selected);
                guard.stopped = true;
                let problems = session.stop_environment();
                let problems: Vec<String> = problems
                    .iter()
                    .map(|(driver, error)| {
                        format!("driver `{driver}` failed to stop: {}", error.message)
                    })
                    .collect();
                (!problems.is_empty()).then(|| ErrorInfo::new(problems.join("; "), None))
            }
        },
    };
    if let Some(observer) = &context.observer {
        observer.scope("");
    }
    context.sink.emit(Event::TestFinished {
        uid: selected.uid.clone(),
        time: now(),
        error: test_error,
    });
}

fn run_suite(selected: &SelectedSuite, suite: &mut dyn SuiteObject, test: &TestRun) {
    let (env, context) = (&test.env, test.context);
    context.sink.emit(Event::SuiteStarted {
        uid: selected.uid.clone(),
        time: now(),
    });
    if let Some(observer) = &context.observer {
        observer.scope(&selected.uid);
    }
    let mut recorder = hook_recorder(&selected.uid, env, context);
    let setup_error = run_hook("setup", &mut recorder, |recorder| {
        suite.setup(env, recorder)
    });
    match &setup_error {
        Some(error) => {
            for case in &selected.cases {
                let status = if case.skip.is_some() {
                    Status::Skipped
                } else {
                    Status::Error
                };
                let error = (status == Status::Error).then(|| {
                    ErrorInfo::new(
                        format!("not run: suite `{}`: {}", selected.name, error.message),
                        error.location.clone(),
                    )
                });
                finish_testcase(&context.sink, &case.uid(), status, error);
            }
        }
        None => run_cases(selected, suite, test),
    }
    let teardown_error = run_hook("teardown", &mut recorder, |recorder| {
        suite.teardown(env, recorder)
    });
    let error = match (setup_error, teardown_error) {
        (Some(setup), Some(teardown)) => Some(ErrorInfo::new(
            format!("{}; {}", setup.message, teardown.message),
            setup.location,
        )),
        (setup, teardown) => setup.or(teardown),
    };
    if let Some(observer) = &context.observer {
        observer.scope(&test.environment.test_uid);
    }
    context.sink.emit(Event::SuiteFinished {
        uid: selected.uid.clone(),
        time: now(),
        error,
    });
}

fn hook_recorder(uid: &str, env: &Env, context: &RunContext) -> Recorder {
    Recorder::new(
        uid,
        Some(context.sink.clone()),
        &context.runpath,
        env.runpath().join("attachments").join("suite"),
    )
}

/// Runs a suite hook; a panic, a returned error or a failed assertion make it fail.
fn run_hook(
    name: &str,
    recorder: &mut Recorder,
    hook: impl FnOnce(&mut Recorder) -> Option<Outcome>,
) -> Option<ErrorInfo> {
    let passed_before = recorder.passed();
    let outcome =
        catch_testcase_panic(|| hook(recorder)).and_then(|outcome| outcome.unwrap_or(Ok(())));
    match outcome {
        Err(error) => Some(ErrorInfo::new(
            format!("{name} failed: {}", error.message),
            error.location,
        )),
        Ok(()) if passed_before && !recorder.passed() => Some(ErrorInfo::new(
            format!("{name} failed: an assertion in it failed"),
            None,
        )),
        Ok(()) => None,
    }
}

/// Testcases run in order, unless the test has a thread pool and testcases have execution
/// groups: then testcases without a group run first, in order, and each group after that
/// runs its testcases in parallel, one group after another (Testplan's semantics).
fn run_cases(selected: &SelectedSuite, suite: &dyn SuiteObject, test: &TestRun) {
    // Coverage counters are process-wide: an observer needs testcases one at a time.
    let grouped = test.context.observer.is_none()
        && test.thread_pool_size > 1
        && selected
            .cases
            .iter()
            .any(|case| case.execution_group().is_some());
    if !grouped {
        for case in &selected.cases {
            if test.context.stopping() {
                return;
            }
            run_case(case, suite, test);
        }
        return;
    }
    let mut batches: Vec<(Option<&str>, Vec<&SelectedCase>)> = Vec::new();
    batches.push((None, Vec::new()));
    for case in &selected.cases {
        let group = case.execution_group();
        match batches.iter_mut().find(|(name, _)| *name == group) {
            Some((_, cases)) => cases.push(case),
            None => batches.push((group, vec![case])),
        }
    }
    for (group, cases) in batches {
        if test.context.stopping() {
            return;
        }
        match group {
            None => cases.iter().for_each(|case| run_case(case, suite, test)),
            Some(_) => run_in_parallel(&cases, suite, test),
        }
    }
}

fn run_in_parallel(cases: &[&SelectedCase], suite: &dyn SuiteObject, test: &TestRun) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..test.thread_pool_size.min(cases.len()) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = cases.get(index) else { break };
                    if test.context.stopping() {
                        break;
                    }
                    run_case(case, suite, test);
                }
            });
        }
    });
}

fn run_case(case: &SelectedCase, suite: &dyn SuiteObject, test: &TestRun) {
    let (env, context) = (&test.env, test.context);
    let uid = case.uid();
    if case.skip.is_some() {
        finish_testcase(&context.sink, &uid, Status::Skipped, None);
        return;
    }
    if let Some((driver, error)) = env.environment().failure(&test.environment) {
        // The environment is down: say so instead of running into timeouts.
        let error = error_info(format!(
            "not run: the environment is down: driver `{driver}` {}",
            error.message
        ));
        finish_testcase(&context.sink, &uid, Status::Error, error);
        return;
    }
    context.sink.emit(Event::TestcaseStarted {
        uid: uid.clone(),
        time: now(),
    });
    if let Some(observer) = &context.observer {
        observer.before(&uid);
    }
    let attachments = env
        .runpath()
        .join("attachments")
        .join(slug(&case.uid_leaf()));
    let new_recorder = || {
        Recorder::new(
            &uid,
            Some(context.sink.clone()),
            &context.runpath,
            &attachments,
        )
    };
    let mut recorder = new_recorder();
    let mut abandoned = false;
    let name = case.name();
    let name = name.as_str();
    let pre = catch_testcase_panic(|| suite.pre_testcase(name, env, &mut recorder))
        .and_then(|o| o.unwrap_or(Ok(())));
    let (mut recorder, outcome) = match pre {
        Err(error) => (
            recorder,
            Err(TestcaseError {
                message: format!("pre_testcase failed: {}", error.message),
                ..error
            }),
        ),
        Ok(()) => match case
            .timeout()
            .or(context.abandonable.then_some(Duration::MAX))
        {
            None => {
                let bound = suite.bind(case.index());
                let outcome = catch_testcase_panic(|| bound(env, &mut recorder)).and_then(|o| o);
                (recorder, outcome)
            }
            Some(limit) => {
                match run_with_timeout(
                    suite.bind(case.index()),
                    env.clone(),
                    recorder,
                    limit,
                    context,
                ) {
                    Ok((recorder, outcome)) => (recorder, outcome),
                    Err(error) => {
                        abandoned = true;
                        (
                            new_recorder(),
                            Err(TestcaseError {
                                location: Some(case.attributes().location.clone()),
                                ..error
                            }),
                        )
                    }
                }
            }
        },
    };
    let post = catch_testcase_panic(|| suite.post_testcase(name, env, &mut recorder))
        .and_then(|o| o.unwrap_or(Ok(())));
    let outcome = outcome.and(post.map_err(|error| TestcaseError {
        message: format!("post_testcase failed: {}", error.message),
        ..error
    }));
    let (status, error) = testcase_status(TestcaseOutcome {
        result: outcome,
        assertions_passed: recorder.passed(),
        xfail: case.xfail(),
        cancel_requested: context.cancel.load(Ordering::SeqCst),
        driver_failure: env
            .environment()
            .failure(&test.environment)
            .map(|(driver, failure)| (driver, failure.to_string())),
        location: &case.attributes().location,
    });
    if let Some(observer) = &context.observer {
        // A testcase still running when the run was interrupted may have seen its
        // environment stop under it: not a completed run.
        observer.after(&uid, status, !abandoned && !context.stop.is_stopped());
    }
    finish_testcase(&context.sink, &uid, status, error);
    if abandoned && context.exit_after_abandon {
        // Rust cannot stop the thread; the process can. Its drivers stop in order first
        // (a recording worker charges what their stop executes to the whole test, as the
        // end of a test does, and sends it before it goes).
        if let Some(observer) = &context.observer {
            observer.scope(&test.environment.test_uid);
        }
        context.live_environments.stop_all();
        if let Some(observer) = &context.observer {
            observer.scope("");
        }
        context.sink.hub().end_stream();
        std::process::exit(super::worker::WORKER_RESTART_EXIT);
    }
}

/// What happened when a testcase ran, as far as its status is concerned.
pub(crate) struct TestcaseOutcome<'a> {
    /// What the body and the pre/post-testcase hooks returned (a panic, a timeout or a
    /// cancel is an error here).
    pub result: Result<(), TestcaseError>,
    /// Whether every assertion it recorded passed.
    pub assertions_passed: bool,
    /// Its expected failure, if it has one.
    pub xfail: Option<&'a Xfail>,
    /// A cancel was requested while it ran.
    pub cancel_requested: bool,
    /// A driver of its environment that died while it ran, and why.
    pub driver_failure: Option<(String, String)>,
    /// Where the testcase is defined.
    pub location: &'a SourceLocation,
}

/// The rule from a testcase's outcome to its status and error, in one place:
/// an error beats failed assertions, which beat a pass; an expected failure turns a failure
/// or error into `xfail` and a pass into `xpass` (`xpass_strict`, an error, when strict);
/// an error under a cancel is `cancelled`, whatever an xfail expected; a driver that died
/// while it ran makes it an error that names the driver, since that explains whatever the
/// testcase saw.
pub(crate) fn testcase_status(outcome: TestcaseOutcome<'_>) -> (Status, Option<ErrorInfo>) {
    let TestcaseOutcome {
        result,
        assertions_passed,
        xfail,
        cancel_requested,
        driver_failure,
        location,
    } = outcome;
    let mut status = match &result {
        Err(_) => Status::Error,
        Ok(()) if !assertions_passed => Status::Failed,
        Ok(()) => Status::Passed,
    };
    if let Some(xfail) = xfail {
        status = match status {
            Status::Failed | Status::Error => Status::Xfail,
            _ if xfail.strict => Status::XpassStrict,
            _ => Status::Xpass,
        };
    }
    if result.is_err() && cancel_requested {
        status = Status::Cancelled;
    }
    let mut error = result
        .err()
        .map(|error| ErrorInfo::new(error.message, error.location));
    if let Some((driver, failure)) = driver_failure {
        status = Status::Error;
        error = error_info(format!(
            "driver `{driver}` failed while the testcase ran: {failure}"
        ));
    }
    if status == Status::XpassStrict
        && let Some(xfail) = xfail
    {
        error = Some(ErrorInfo::new(
            format!(
                "passed, but it is a strict expected failure ({}): remove the xfail or make it non-strict",
                xfail.reason
            ),
            Some(location.clone()),
        ));
    }
    (status, error)
}

/// Emits a testcase's end: the one place a `TestcaseFinished` event is made.
fn finish_testcase(sink: &EventSink, uid: &str, status: Status, error: Option<ErrorInfo>) {
    sink.emit(Event::TestcaseFinished {
        uid: uid.to_string(),
        time: now(),
        status,
        error,
    });
}

/// Runs a body on its own thread and waits at most `limit` for it (`Duration::MAX`: until
/// it ends or a cancel abandons it). The thread wakes the stop signal when it ends, and a
/// cancel wakes it too, so the wait never polls.
/// A testcase body to run on this worker's testcase thread.
type TestcaseJob = Box<dyn FnOnce() + Send>;

thread_local! {
    /// This worker's testcase thread, reused from one testcase to the next (starting a
    /// thread per testcase cost about a third of an interactive run of 10,000 trivial
    /// ones). A testcase abandoned by its time limit or a cancel keeps the thread, and the
    /// worker's next testcase gets a new one.
    static TESTCASE_THREAD: std::cell::RefCell<Option<std::sync::mpsc::Sender<TestcaseJob>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `job` on this worker's testcase thread, starting one if there is none.
fn on_testcase_thread(job: TestcaseJob) -> std::io::Result<()> {
    TESTCASE_THREAD.with(|thread| {
        let mut thread = thread.borrow_mut();
        let job = match thread.as_ref() {
            Some(sender) => match sender.send(job) {
                Ok(()) => return Ok(()),
                // The thread is gone (it cannot be, short of a bug): start another.
                Err(std::sync::mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (sender, jobs) = std::sync::mpsc::channel::<TestcaseJob>();
        std::thread::Builder::new()
            .name("testrig-testcase".into())
            .spawn(move || {
                // Ends when the worker drops its sender: it ended, or abandoned this thread.
                for job in jobs {
                    job();
                }
            })?;
        sender
            .send(job)
            .map_err(|_| std::io::Error::other("the testcase thread ended at once"))?;
        *thread = Some(sender);
        Ok(())
    })
}

/// Leaves this worker's testcase thread to the testcase still running on it.
fn abandon_testcase_thread() {
    TESTCASE_THREAD.with(|thread| *thread.borrow_mut() = None);
}

fn run_with_timeout(
    bound: BoundTestcase,
    env: Arc<Env>,
    mut recorder: Recorder,
    limit: Duration,
    context: &RunContext,
) -> Result<(Recorder, Outcome), TestcaseError> {
    /// The testcase thread's result; `Some(None)` when it ended without one.
    type Slot = Arc<Mutex<Option<Option<(Recorder, Outcome)>>>>;
    /// Fills the slot (with nothing, if the thread ends early) and wakes the waiter.
    struct Ending {
        slot: Slot,
        wakeup: Arc<Wakeup>,
        result: Option<(Recorder, Outcome)>,
    }
    impl Drop for Ending {
        fn drop(&mut self) {
            *self
                .slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(self.result.take());
            self.wakeup.notify();
        }
    }
    let slot: Slot = Arc::new(Mutex::new(None));
    // Woken by this testcase's end, or by a stop or cancel of the run (which wake the
    // signal): not by the end of every other testcase running meanwhile.
    let wakeup = Arc::new(Wakeup::default());
    let _listening = context.stop.listen(&wakeup);
    let ending = Ending {
        slot: slot.clone(),
        wakeup: wakeup.clone(),
        result: None,
    };
    let spawned = on_testcase_thread(Box::new(move || {
        // The whole guard moves in (not only the field written), so it drops here.
        let mut ending = ending;
        let outcome = catch_testcase_panic(|| bound(&env, &mut recorder)).and_then(|o| o);
        ending.result = Some((recorder, outcome));
    }));
    if let Err(error) = spawned {
        return Err(TestcaseError {
            message: format!("failed to start the testcase thread: {error}"),
            location: None,
        });
    }
    let ended = || slot.lock().map(|slot| slot.is_some()).unwrap_or(true);
    let cancelled = || context.cancel.load(Ordering::SeqCst);
    wakeup.wait_until((limit != Duration::MAX).then_some(limit), || {
        ended() || cancelled()
    });
    let taken = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if taken.is_none() {
        // The testcase keeps its thread; the next one gets a new thread.
        abandon_testcase_thread();
    }
    match taken {
        Some(Some(result)) => Ok(result),
        Some(None) => Err(TestcaseError {
            message: "the testcase thread ended without a result".into(),
            location: None,
        }),
        None if cancelled() => Err(TestcaseError {
            message: "cancelled while running; the testcase was abandoned".into(),
            location: None,
        }),
        None => Err(TestcaseError {
            message: format!(
                "timed out after {}; the testcase was abandoned",
                format_duration(limit)
            ),
            location: None,
        }),
    }
}

/// `2s`, `1.5s`, `250ms`.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 1.0 {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location() -> SourceLocation {
        SourceLocation::new("tests/plan.rs", 7, 5)
    }

    fn failing() -> Result<(), TestcaseError> {
        Err(TestcaseError {
            message: "boom".into(),
            location: None,
        })
    }

    /// The status (and error message) of an outcome.
    fn status_of(
        result: Result<(), TestcaseError>,
        assertions_passed: bool,
        xfail: Option<&Xfail>,
        cancel_requested: bool,
        driver_failure: Option<(&str, &str)>,
    ) -> (Status, Option<String>) {
        let location = location();
        let (status, error) = testcase_status(TestcaseOutcome {
            result,
            assertions_passed,
            xfail,
            cancel_requested,
            driver_failure: driver_failure.map(|(d, f)| (d.to_string(), f.to_string())),
            location: &location,
        });
        (status, error.map(|error| error.message))
    }

    #[test]
    fn an_error_beats_failed_assertions_which_beat_a_pass() {
        assert_eq!(
            status_of(Ok(()), true, None, false, None),
            (Status::Passed, None)
        );
        assert_eq!(
            status_of(Ok(()), false, None, false, None),
            (Status::Failed, None)
        );
        assert_eq!(
            status_of(failing(), false, None, false, None),
            (Status::Error, Some("boom".into()))
        );
    }

    #[test]
    fn an_expected_failure_turns_failures_into_xfail_and_passes_into_xpass() {
        let lenient = Xfail {
            reason: "bug 12".into(),
            strict: false,
        };
        let strict = Xfail {
            reason: "bug 12".into(),
            strict: true,
        };
        assert_eq!(
            status_of(Ok(()), false, Some(&lenient), false, None).0,
            Status::Xfail
        );
        assert_eq!(
            status_of(failing(), true, Some(&lenient), false, None).0,
            Status::Xfail
        );
        assert_eq!(
            status_of(Ok(()), true, Some(&lenient), false, None),
            (Status::Xpass, None)
        );
        let (status, error) = status_of(Ok(()), true, Some(&strict), false, None);
        assert_eq!(status, Status::XpassStrict);
        assert!(error.unwrap().contains("strict expected failure (bug 12)"));
    }

    #[test]
    fn a_cancel_wins_over_an_expected_failure_and_a_dead_driver_over_everything() {
        let lenient = Xfail {
            reason: "bug".into(),
            strict: false,
        };
        assert_eq!(
            status_of(failing(), true, Some(&lenient), true, None).0,
            Status::Cancelled
        );
        // A cancel requested while a testcase passes does not cancel it.
        assert_eq!(status_of(Ok(()), true, None, true, None).0, Status::Passed);
        let (status, error) = status_of(Ok(()), true, None, false, Some(("db", "exited 3")));
        assert_eq!(status, Status::Error);
        assert_eq!(
            error.unwrap(),
            "driver `db` failed while the testcase ran: exited 3"
        );
    }
}

//! An interactive session's test in a worker process: what `-i` and `--ui` use with the
//! process pool. The worker keeps the test's environment from one request to the next, as
//! [`TestSession`](super::TestSession) does in the plan's own process; each request is one
//! step of the session ([`SessionStep`]), supervised like a batch job: its events go to the
//! plan's hub, a crash makes the running testcase `crashed` and a fresh worker (which starts
//! the environment again, and says so) runs the testcases left, and a cancel kills the
//! worker, so the cancelled testcase really stops.

use std::sync::{Arc, Mutex, PoisonError};

use rustix::process::Signal;
use testrig_model::{DriverStatus, ErrorInfo, Event};

use crate::events::now;
use crate::testing::SelectedTest;

use super::local::RunContext;
use super::pool::{
    LiveWorkers, ProcessPool, SessionTrack, SourceFiles, TestProgress, Worker, WorkerCommand,
    WorkerLauncher, run_to_the_end,
};
use super::worker::SessionStep;

/// What the process sessions of one interactive plan share: how to start workers, and the
/// workers running testcases now (a cancel kills them).
#[derive(Debug)]
pub struct SessionWorkers {
    launcher: WorkerLauncher,
    running_testcases: LiveWorkers,
    source_files: SourceFiles,
}

impl SessionWorkers {
    /// Workers started from `command` (none in advance: a session starts its own on its
    /// first request).
    pub(crate) fn new(command: WorkerCommand) -> Arc<SessionWorkers> {
        Arc::new(SessionWorkers {
            launcher: WorkerLauncher::new(command, 0),
            running_testcases: LiveWorkers::default(),
            source_files: SourceFiles::default(),
        })
    }

    /// Kills every worker running testcases now (a cancel): their testcases are
    /// `cancelled`, their environments go down with them.
    pub fn kill_running(&self) {
        self.running_testcases.signal_all(Signal::KILL);
    }
}

/// The status of a process session's environment, shared with whoever reports it while a
/// request holds the session.
pub type SharedEnvironmentStatus = Arc<Mutex<DriverStatus>>;

/// One test of an interactive plan, run in a worker process that keeps its environment.
pub struct ProcessSession {
    /// The whole test (a run request names part of it).
    test: SelectedTest,
    workers: Arc<SessionWorkers>,
    /// Its worker, between requests or running one; dropped, it stops the environment in
    /// order (its stdin ends) and is waited for.
    worker: Option<Worker>,
    track: SessionTrack,
    context: RunContext,
    status: SharedEnvironmentStatus,
}

impl std::fmt::Debug for ProcessSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessSession")
            .field("test", &self.test.uid)
            .field("track", &self.track)
            .finish_non_exhaustive()
    }
}

impl ProcessSession {
    /// A session for `test`; its worker starts with the first request.
    pub(crate) fn new(
        test: &SelectedTest,
        workers: Arc<SessionWorkers>,
        context: &RunContext,
    ) -> ProcessSession {
        ProcessSession {
            test: test.clone(),
            workers,
            worker: None,
            track: SessionTrack::default(),
            context: context.clone(),
            status: Arc::new(Mutex::new(DriverStatus::Stopped)),
        }
    }

    /// The environment's status as the session knows it (readable while a request runs).
    pub fn shared_status(&self) -> SharedEnvironmentStatus {
        self.status.clone()
    }

    /// True while the environment has started drivers.
    pub fn environment_is_up(&self) -> bool {
        self.track.environment_up
    }

    /// Starts the environment in the worker.
    pub fn start_environment(&mut self) {
        self.step(SessionStep::StartEnvironment, None);
    }

    /// Stops the environment in the worker.
    pub fn stop_environment(&mut self) {
        self.step(SessionStep::StopEnvironment, None);
    }

    /// Runs `selected`, starting the environment first if it is down; `started` is called
    /// after such a start.
    pub fn run_starting_environment(&mut self, selected: &SelectedTest, started: impl FnOnce()) {
        let was_up = self.track.environment_up;
        self.step(SessionStep::Run, Some(selected));
        if !was_up {
            started();
        }
    }

    /// Stops the environment and lets the worker go.
    pub fn shut_down(&mut self) {
        if self.track.environment_up {
            self.stop_environment();
        }
        // Its stdin closes: it exits, and is waited for.
        drop(self.worker.take());
    }

    fn step(&mut self, step: SessionStep, selected: Option<&SelectedTest>) {
        let none;
        let selected = match selected {
            Some(selected) => selected,
            None => {
                none = SelectedTest {
                    suites: Vec::new(),
                    ..self.test.clone()
                };
                &none
            }
        };
        // Only a run is cancelled or stopped (its worker killed): an environment request
        // finishes, also the stop of a plan that is stopping.
        let idle = LiveWorkers::default();
        let (live, context) = if step == SessionStep::Run {
            (&self.workers.running_testcases, self.context.clone())
        } else {
            let context = RunContext {
                cancel: Default::default(),
                stop: super::StopSignal::new(),
                ..self.context.clone()
            };
            (&idle, context)
        };
        let pool = ProcessPool {
            launcher: &self.workers.launcher,
            live,
            reruns: 0,
            source_files: &self.workers.source_files,
            coverage: None,
        };
        let was_up = self.track.environment_up;
        let mut progress = TestProgress::default();
        let error = run_to_the_end(
            selected,
            &context,
            &mut self.worker,
            &pool,
            &mut progress,
            Some((step, &mut self.track)),
        );
        if self.worker.is_none() {
            self.environment_lost(error, was_up);
        }
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = if self.track.environment_up {
            DriverStatus::Started
        } else {
            DriverStatus::Stopped
        };
    }

    /// The worker is gone (it crashed, or a cancel killed it), and the drivers it ran with
    /// it: the report says so for each driver still shown as up, and for the environment if
    /// it was up before the request.
    fn environment_lost(&mut self, error: Option<ErrorInfo>, was_up: bool) {
        let cancelled = self
            .context
            .cancel
            .load(std::sync::atomic::Ordering::SeqCst);
        let message = match (&error, cancelled) {
            (Some(error), _) => error.message.clone(),
            (None, true) => "its worker process was killed by a cancel".to_string(),
            (None, false) => "its worker process ended".to_string(),
        };
        let mut lost = false;
        for (driver, status) in &mut self.track.drivers {
            let gone = match status {
                DriverStatus::Starting | DriverStatus::Stopping => DriverStatus::Failed,
                DriverStatus::Started => DriverStatus::Stopped,
                _ => continue,
            };
            lost = true;
            *status = gone;
            self.context.sink.emit(Event::DriverStatusChanged {
                uid: self.test.uid.clone(),
                driver: driver.clone(),
                status: gone,
                time: now(),
                attributes: Default::default(),
                error: Some(ErrorInfo::new(
                    format!("stopped with the test's worker: {message}"),
                    None,
                )),
                log_tail: Vec::new(),
                ready_wait: None,
            });
        }
        if lost || was_up {
            self.context.sink.emit(Event::EnvStatus {
                uid: self.test.uid.clone(),
                env_status: DriverStatus::Stopped,
            });
        }
    }
}

//! A batch run: the event hub with its subscribers (console, event stream), the runner on
//! its threads, the wait for the end or an interrupt, the affected records, the reports.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use testrig_model::{Event, Report};

use super::affected::AffectedRun;
use crate::drivers::terminate_all_process_groups;
use crate::events::{EventHub, now};
use crate::export::{ConsoleOptions, ConsoleReporter, ConsoleSubscriber, EventStreamWriter};
use crate::runner::{
    CoverageSink, INTERRUPTED_EXIT_CODE, LiveWorkers, RunContext, WorkerLauncher,
    install_interrupt_handler, install_panic_hook, run_tests, run_tests_in_workers,
};
use crate::testing::{MultiTest, SelectedTest, Selection};
use rustix::process::Signal;

use super::config::{RunConfig, host_name};
use super::definition::{Plan, RunOutcome};
use super::reports::write_reports;

/// How long worker processes told to stop a second time get to stop their environments.
const WORKER_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Ends the hub's stream when dropped, even by a panic.
struct EndStreamOnDrop(Arc<EventHub>);

impl Drop for EndStreamOnDrop {
    fn drop(&mut self) {
        self.0.end_stream();
    }
}

/// Runs the tests, and waits until they end or an interrupt asks them to; then they have
/// the grace period to end, after which their environments are stopped from here (worker
/// processes are told a second time, and kill their drivers). No driver process outlives
/// this.
fn run_and_watch(
    jobs: Vec<(SelectedTest, MultiTest)>,
    workers: usize,
    context: RunContext,
    grace: Duration,
    launcher: Option<WorkerLauncher>,
    reruns: u32,
    coverage: Option<Arc<dyn CoverageSink>>,
) {
    let finished = Arc::new(AtomicBool::new(false));
    let (stop, live_environments) = (context.stop.clone(), context.live_environments.clone());
    let live_workers = LiveWorkers::default();
    {
        let (finished, live_workers) = (finished.clone(), live_workers.clone());
        std::thread::spawn(move || {
            match &launcher {
                None => run_tests(jobs, workers, &context),
                Some(launcher) => {
                    // The tests' definitions stay here: each worker builds its own.
                    let tests = jobs.into_iter().map(|(selected, _)| selected).collect();
                    run_tests_in_workers(
                        tests,
                        workers,
                        &context,
                        launcher,
                        &live_workers,
                        reruns,
                        coverage.as_deref(),
                    );
                }
            }
            drop(launcher);
            finished.store(true, Ordering::SeqCst);
            context.stop.wake();
        });
    }
    let is_finished = || finished.load(Ordering::SeqCst);
    stop.wait_until(None, |stopped| stopped || is_finished());
    // Workers run in process groups of their own, out of reach of the terminal's Ctrl-C:
    // they stop scheduling when told here.
    live_workers.signal_all(Signal::TERM);
    let finished_in_time = stop.wait_until(Some(grace), |_| is_finished());
    if !finished_in_time {
        // Testcases still hold their workers after the grace period: stop their
        // environments from here, so drivers stop in order and the report says how.
        live_environments.stop_all();
        // A worker told twice stops its environment and exits; one that does not within
        // the time drivers get to stop is killed (its drivers with it, by its reaper).
        live_workers.signal_all(Signal::TERM);
        if !stop.wait_until(Some(WORKER_STOP_TIMEOUT), |_| is_finished()) {
            live_workers.signal_all(Signal::KILL);
        }
    }
    // The last line of defence: no driver process outlives the plan.
    terminate_all_process_groups(Duration::from_secs(1));
}

pub(super) fn run_selection(
    plan: Plan,
    selection: Selection,
    config: &RunConfig,
    runpath: &Path,
    seed: Option<u64>,
    affected: Option<AffectedRun>,
    early_workers: Option<WorkerLauncher>,
) -> RunOutcome {
    // Coverage counters live in the process that runs the code: in worker processes each
    // worker reads its own and sends what each window executed; on threads, a recording run
    // runs its testcases one at a time. The first workers start now (if they did not
    // already), while the run is set up.
    let recording = affected.as_ref().is_some_and(|affected| affected.records());
    if recording && config.reruns > 0 {
        eprintln!(
            "warning: --rerun is off while recording coverage: a testcase's record is of one run"
        );
    }
    let launcher = early_workers.or_else(|| {
        config
            .worker_command
            .clone()
            .map(|command| WorkerLauncher::new(command, config.workers.min(selection.tests.len())))
    });
    let reruns = if recording { 0 } else { config.reruns };
    install_panic_hook();
    let stop = install_interrupt_handler(config.interrupt_grace.as_secs_f64());
    let mut report = Report::new(
        selection.skeleton(&plan.name),
        host_name(),
        runpath.display().to_string(),
    );
    report.shuffle_seed = seed;

    let mut console = ConsoleReporter::new(
        ConsoleOptions::detect(config.verbosity, config.color),
        selection.case_count(),
    );
    console.header(
        &plan.name,
        selection.tests.len(),
        selection.case_count(),
        &report.runpath,
        seed,
    );
    let console = Arc::new(Mutex::new(console));
    let (hub, folding) = EventHub::on_caller(report);
    hub.subscribe(Box::new(ConsoleSubscriber::new(console.clone())));
    if let Some(path) = &config.events {
        match EventStreamWriter::create(path) {
            Ok(stream) => hub.subscribe(Box::new(stream)),
            Err(error) => {
                eprintln!("error: {error}");
                return RunOutcome {
                    report: None,
                    exit_code: 2,
                };
            }
        }
    }
    let sink = hub.sink();

    let mut tests: Vec<Option<MultiTest>> = plan.tests.into_iter().map(Some).collect();
    let jobs: Vec<_> = selection
        .tests
        .into_iter()
        .filter_map(|selected| {
            let test = tests[selected.test_index].take()?;
            Some((selected, test))
        })
        .collect();
    let mut context = RunContext::new(sink.clone(), runpath.to_path_buf());
    context.stop = stop.clone();
    // Recording coverage: one test at a time, one testcase at a time.
    let recorder = affected
        .as_ref()
        .filter(|affected| affected.records())
        .map(|affected| Arc::new(affected.recorder()));
    // In this process, testcases run one at a time while it records; in workers each
    // records its own.
    let in_workers = launcher.is_some();
    let workers = if recorder.is_some() && !in_workers {
        1
    } else {
        config.workers
    };
    if let Some(recorder) = recorder.as_ref().filter(|_| !in_workers) {
        context.observer = Some(recorder.clone() as Arc<dyn crate::runner::TestcaseObserver>);
    }
    let coverage = recorder
        .clone()
        .filter(|_| in_workers)
        .map(|recorder| recorder as Arc<dyn CoverageSink>);
    // Records are written as testcases complete, while the run goes on.
    let saving = affected
        .map(Arc::new)
        .zip(recorder.clone())
        .map(|(affected, recorder)| affected.start_writer(&recorder));
    // This thread folds the events; another runs the tests and watches for the end or an
    // interrupt, then ends the stream.
    let watching = {
        let (hub, sink, stop, recorder) =
            (hub.clone(), sink.clone(), stop.clone(), recorder.clone());
        let grace = config.interrupt_grace;
        std::thread::Builder::new()
            .name("testrig-run".into())
            .spawn(move || {
                // However this thread ends, the stream ends with it, so the fold returns.
                let _end = EndStreamOnDrop(hub);
                run_and_watch(jobs, workers, context, grace, launcher, reruns, coverage);
                let was_interrupted = stop.is_stopped();
                sink.emit(Event::PlanFinished {
                    time: now(),
                    interrupted: was_interrupted,
                });
                // The writer finishes (the scope windows, the commit) while the fold
                // catches up with the events and the reports are written.
                if let Some(recorder) = &recorder {
                    recorder.finish();
                }
                was_interrupted
            })
    };
    let was_interrupted = match watching {
        Ok(watching) => {
            folding.run();
            watching.join().unwrap_or(true)
        }
        Err(error) => {
            eprintln!("error: failed to start the run's thread ({error}); nothing ran");
            hub.end_stream();
            folding.run();
            true
        }
    };
    let saved = || {
        saving.map(|saving| {
            saving
                .join()
                .unwrap_or_else(|_| Err("the impact database writer panicked".to_string()))
        })
    };
    let (report, stopped) = hub.finish();
    for stopped in stopped {
        eprintln!("warning: {stopped}");
    }
    let mut console = console.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(report) = report else {
        eprintln!("error: the report was taken before the run ended; no report could be written");
        if let Some(Err(error)) = saved() {
            eprintln!("error: {error}; the next --affected run will run everything");
        }
        return RunOutcome {
            report: None,
            exit_code: 2,
        };
    };
    console.failures(&report);
    if config.driver_info {
        console.driver_timeline(&report);
    }
    let mut exit_code = if was_interrupted {
        INTERRUPTED_EXIT_CODE
    } else if report.plan.status.is_failure() {
        1
    } else {
        0
    };
    let reports_written = write_reports(&report, &config.reports, &mut console);
    if let (Some(saved), Some(recorder)) = (saved(), &recorder) {
        for problem in recorder.problems() {
            eprintln!("warning: {problem}");
        }
        match saved {
            Ok(saved) => {
                if let Some(warning) = &saved.warning {
                    eprintln!("warning: {warning}");
                }
                let note = if was_interrupted {
                    format!(
                        "affected: interrupted: recorded the coverage of the {} testcases that ran to completion; the others keep their previous records",
                        saved.recorded
                    )
                } else if saved.incomplete > 0 {
                    format!(
                        "affected: recorded the coverage of {} testcases; {} that did not run to completion keep their previous records",
                        saved.recorded, saved.incomplete
                    )
                } else {
                    format!(
                        "affected: recorded the coverage of {} testcases",
                        saved.recorded
                    )
                };
                console.note(&note);
            }
            Err(error) => {
                eprintln!("error: {error}; the next --affected run will run everything");
                exit_code = exit_code.max(2);
            }
        }
    }
    if !reports_written && exit_code == 0 {
        exit_code = 2;
    }
    console.summary(&report);
    // What the recorder kept per testcase is not freed while the plan exits.
    crate::background::free_in_background(recorder);
    RunOutcome {
        report: Some(report),
        exit_code,
    }
}

//! The plan: the top-level runnable. It parses the command line, validates the tests,
//! selects and orders testcases, wires the event stream (runner → report builder → console),
//! waits for the run or for an interrupt, and writes the reports on every exit path.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clap::Parser;
use testrig_model::{Event, Report};

use crate::cli::{ColorChoice, ListFormat, Options, ShuffleWhat};
use crate::drivers::terminate_all_process_groups;
use crate::events::{EventHub, now};
use crate::export::{
    ConsoleOptions, ConsoleReporter, ConsoleSubscriber, EventStreamWriter, Verbosity,
    write_html_report, write_json_report, write_junit_reports, write_terse, write_tree,
};
use crate::impact::{AffectedRun, AffectedSources, inputs_digest};
use crate::interactive::InteractiveState;
use crate::runner::{
    INTERRUPTED_EXIT_CODE, LiveEnvironments, RunContext, TestSession, install_interrupt_handler,
    install_panic_hook, run_tests,
};
use crate::testing::{
    Filter, IgnoredMode, MultiTest, Pattern, PlanError, Selection, ShuffleScope, fresh_seed,
    shuffle, validate,
};

/// A test plan: named tests run together and reported as one.
pub struct Plan {
    name: String,
    tests: Vec<MultiTest>,
    runpath: Option<PathBuf>,
}

/// How a run ended, for callers that drive a plan programmatically.
#[derive(Debug)]
pub struct RunOutcome {
    /// The finished report (`None` for `--list` and for errors before the run).
    pub report: Option<Report>,
    /// The process exit status: 0 passed, 1 failed, 2 usage or plan error, 130 interrupted.
    pub exit_code: u8,
}

impl Plan {
    /// A plan called `name`.
    pub fn new(name: impl Into<String>) -> Plan {
        Plan {
            name: name.into(),
            tests: Vec::new(),
            runpath: None,
        }
    }

    /// Adds a test; tests are scheduled in the order they are added.
    #[expect(
        clippy::should_implement_trait,
        reason = "Testplan's vocabulary: plan.add(test)"
    )]
    pub fn add(mut self, test: MultiTest) -> Plan {
        self.tests.push(test);
        self
    }

    /// The output folder, unless `--runpath` overrides it.
    pub fn runpath(mut self, runpath: impl Into<PathBuf>) -> Plan {
        self.runpath = Some(runpath.into());
        self
    }

    /// Runs with the process's command line and returns its exit status: the whole of a
    /// plan's `main`.
    pub fn run_from_args(self) -> ExitCode {
        self.run_with_args(std::env::args_os())
    }

    /// Runs with the given command line (the first item is the program name).
    pub fn run_with_args<I, T>(self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let options = match Options::try_parse_from(args) {
            Ok(options) => options,
            Err(error) => {
                let _ = error.print();
                return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
            }
        };
        let outcome = self.run_with(options);
        let exit_code = outcome.exit_code;
        crate::background::free_in_background(outcome);
        ExitCode::from(exit_code)
    }

    /// Runs with parsed options.
    pub fn run_with(self, options: Options) -> RunOutcome {
        let plan_name = self.name.clone();
        match self.execute(options) {
            Ok(outcome) => outcome,
            Err(error) => {
                eprintln!("error: plan `{plan_name}`: {error}");
                RunOutcome {
                    report: None,
                    exit_code: 2,
                }
            }
        }
    }

    fn execute(self, options: Options) -> Result<RunOutcome, PlanError> {
        crate::impact::skip_exit_dump();
        validate(&self.name, &self.tests)?;
        let filter = filter_from(&options)?;
        // Reading and fingerprinting the sources takes a while: started first.
        let affected_sources = options
            .affected
            .then(|| start_affected(&self.name))
            .transpose()?;
        let mut selection = Selection::build(&self.tests, &filter)?;
        let scope = shuffle_scope(&options.shuffle);
        let seed = scope
            .any()
            .then(|| options.shuffle_seed.unwrap_or_else(fresh_seed));
        if let Some(seed) = seed {
            shuffle(&mut selection, scope, seed);
        }
        let affected = match affected_sources {
            Some(sources) => Some(select_affected(
                sources,
                &self.tests,
                &mut selection,
                &options,
            )?),
            None => None,
        };
        if options.dry_run {
            return Ok(RunOutcome {
                report: None,
                exit_code: 0,
            });
        }
        if options.list {
            list(&self.name, &selection, options.format)?;
            return Ok(RunOutcome {
                report: None,
                exit_code: 0,
            });
        }
        let runpath = options
            .runpath
            .clone()
            .or(self.runpath.clone())
            .unwrap_or_else(|| default_runpath(&self.name));
        let runpath = std::path::absolute(&runpath).unwrap_or(runpath);
        std::fs::create_dir_all(&runpath).map_err(|error| {
            PlanError(format!(
                "failed to create the runpath `{}`: {error}; pass a writable folder with --runpath",
                runpath.display()
            ))
        })?;
        if let Some(port) = options.interactive.or(options.ui) {
            return run_interactive(self, selection, &options, &runpath, port);
        }
        let outcome = run_selection(self, selection, &options, &runpath, seed, affected);
        Ok(outcome)
    }
}

/// `--affected`: starts reading the plan's sources.
fn start_affected(plan: &str) -> Result<AffectedSources, PlanError> {
    let root = crate::interactive::source_root().ok_or_else(|| {
        PlanError(
            "--affected needs a cargo workspace: no Cargo.lock above the working folder".into(),
        )
    })?;
    AffectedSources::start(plan, Path::new(&root)).map_err(PlanError)
}

/// `--affected`: narrows the selection to the affected testcases and says why.
fn select_affected(
    sources: AffectedSources,
    tests: &[MultiTest],
    selection: &mut Selection,
    options: &Options,
) -> Result<AffectedRun, PlanError> {
    let root = sources.root().to_path_buf();
    let digests: BTreeMap<&str, String> = tests
        .iter()
        .map(|test| {
            let digest = inputs_digest(&root, &test.declared_inputs());
            (test.name(), digest)
        })
        .collect();
    let uids: BTreeMap<String, String> = selection
        .cases()
        .map(|case| {
            let test = case.uid.split('/').next().unwrap_or_default();
            let digest = digests.get(test).cloned().unwrap_or_default();
            (case.uid.clone(), digest)
        })
        .collect();
    // Every testcase of the plan, whatever the filters: records of the others are dropped.
    // Listed only when the filters left some out.
    let plan_count: usize = tests
        .iter()
        .flat_map(|test| &test.suites)
        .map(|suite| suite.info().cases.len())
        .sum();
    let plan_testcases =
        (uids.len() != plan_count).then(|| Selection::every_case_uid(tests).collect());
    let mut affected = AffectedRun::prepare(sources, &uids, plan_testcases).map_err(PlanError)?;
    let selected = affected.selected();
    let total = uids.len();
    let mut out = std::io::stdout().lock();
    let nothing = if selected.is_empty() {
        "; nothing to record"
    } else {
        ""
    };
    let _ = match &affected.everything {
        Some(reason) => writeln!(
            out,
            "affected: selected {} of {total} testcases (running everything: {reason}){nothing}",
            selected.len()
        ),
        None => writeln!(
            out,
            "affected: selected {} of {total} testcases{nothing}",
            selected.len()
        ),
    };
    if options.explain || options.dry_run {
        for (uid, reasons) in affected
            .reasons
            .iter()
            .filter(|(_, reasons)| !reasons.is_empty())
        {
            let reasons: Vec<String> = reasons.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "  {}: {}", uid.replace('/', "::"), reasons.join("; "));
        }
    }
    if !options.dry_run && !selected.is_empty() {
        let _ = match &affected.not_recording {
            Some(why) => writeln!(out, "affected: not recording coverage: {why}"),
            None => writeln!(
                out,
                "affected: recording coverage, so testcases run one at a time (the coverage counters are process-wide: two testcases at once would mix their counts)"
            ),
        };
    }
    if selected.len() != total {
        selection.retain_cases(|case| selected.contains(&case.uid));
    }
    // The reasons and the selected set hold a string per testcase of the plan and are not
    // needed any more: freed on a thread of their own, while the plan goes on.
    let reasons = std::mem::take(&mut affected.reasons);
    crate::background::free_in_background((reasons, selected));
    Ok(affected)
}

fn run_selection(
    plan: Plan,
    selection: Selection,
    options: &Options,
    runpath: &Path,
    seed: Option<u64>,
    affected: Option<AffectedRun>,
) -> RunOutcome {
    install_panic_hook();
    let stop = install_interrupt_handler(options.interrupt_grace);
    let mut report = Report::new(
        selection.skeleton(&plan.name),
        host_name(),
        runpath.display().to_string(),
    );
    report.shuffle_seed = seed;

    let verbosity = if options.quiet {
        Verbosity::Quiet
    } else if options.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let color = match options.color {
        ColorChoice::Auto => None,
        ColorChoice::Always => Some(true),
        ColorChoice::Never => Some(false),
    };
    let mut console = ConsoleReporter::new(
        ConsoleOptions::detect(verbosity, color),
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
    let hub = EventHub::start(report);
    hub.subscribe(Box::new(ConsoleSubscriber::new(console.clone())));
    if let Some(path) = &options.events {
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
    let workers = options.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let live_environments = LiveEnvironments::default();
    let mut context = RunContext::new(sink.clone(), runpath.to_path_buf());
    context.live_environments = live_environments.clone();
    context.stop = stop.clone();
    // Recording coverage: one test at a time, one testcase at a time.
    let recorder = affected
        .as_ref()
        .filter(|affected| affected.records())
        .map(|affected| Arc::new(affected.recorder()));
    let workers = if recorder.is_some() { 1 } else { workers };
    if let Some(recorder) = &recorder {
        context.observer = Some(recorder.clone() as Arc<dyn crate::runner::TestcaseObserver>);
    }
    // Records are written as testcases complete, while the run goes on.
    let saving = affected
        .map(Arc::new)
        .zip(recorder.clone())
        .map(|(affected, recorder)| affected.start_writer(&recorder));
    let finished = Arc::new(AtomicBool::new(false));
    {
        let finished = finished.clone();
        std::thread::spawn(move || {
            run_tests(jobs, workers, &context);
            finished.store(true, Ordering::SeqCst);
            context.stop.wake();
        });
    }
    // The run ends, or an interrupt asks it to: then it has the grace period to end.
    let is_finished = || finished.load(Ordering::SeqCst);
    stop.wait_until(None, |stopped| stopped || is_finished());
    let grace = Duration::from_secs_f64(options.interrupt_grace.max(0.0));
    let finished_in_time = stop.wait_until(Some(grace), |_| is_finished());
    if !finished_in_time {
        // Testcases still hold their workers after the grace period: stop their
        // environments from here, so drivers stop in order and the report says how.
        live_environments.stop_all();
    }
    // The last line of defence: no driver process outlives the plan.
    terminate_all_process_groups(Duration::from_secs(1));

    let was_interrupted = stop.is_stopped();
    sink.emit(Event::PlanFinished {
        time: now(),
        interrupted: was_interrupted,
    });
    // The writer finishes (the scope windows, the commit) while the report builder catches
    // up with the events and the reports are written.
    if let Some(recorder) = &recorder {
        recorder.finish();
    }
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
    if options.driver_info {
        console.driver_timeline(&report);
    }
    let mut exit_code = if was_interrupted {
        INTERRUPTED_EXIT_CODE
    } else if report.plan.status.is_failure() {
        1
    } else {
        0
    };
    let reports_written = write_reports(&report, options, &mut console);
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
    RunOutcome {
        report: Some(report),
        exit_code,
    }
}

/// Writes the requested report files; false if any could not be written.
fn write_reports(report: &Report, options: &Options, console: &mut ConsoleReporter) -> bool {
    let mut all_written = true;
    if let Some(path) = &options.json {
        match write_json_report(report, path) {
            Ok(()) => console.note(&format!("JSON report: {}", path.display())),
            Err(error) => {
                eprintln!(
                    "error: failed to write the JSON report `{}`: {error}",
                    path.display()
                );
                all_written = false;
            }
        }
    }
    if let Some(path) = &options.html {
        match write_html_report(report, path, options.editor_url.as_deref()) {
            Ok(()) => console.note(&format!("HTML report: {}", path.display())),
            Err(error) => {
                eprintln!(
                    "error: failed to write the HTML report `{}`: {error}",
                    path.display()
                );
                all_written = false;
            }
        }
    }
    if let Some(path) = &options.xml {
        match write_junit_reports(report, path) {
            Ok(files) => {
                let names: Vec<String> = files
                    .iter()
                    .map(|file| file.display().to_string())
                    .collect();
                console.note(&format!("JUnit XML: {}", names.join(", ")));
            }
            Err(error) => {
                eprintln!(
                    "error: failed to write the JUnit XML `{}`: {error}",
                    path.display()
                );
                all_written = false;
            }
        }
    }
    all_written
}

fn filter_from(options: &Options) -> Result<Filter, PlanError> {
    let patterns = options
        .patterns
        .iter()
        .map(|text| Pattern::parse(text))
        .collect::<Result<Vec<_>, _>>()?;
    let ignored = if options.ignored {
        IgnoredMode::Only
    } else if options.include_ignored {
        IgnoredMode::Include
    } else {
        IgnoredMode::Skip
    };
    let tags = |tags: &[String]| {
        tags.iter()
            .map(|tag| tag.trim().to_string())
            .filter(|tag| !tag.is_empty())
            .collect()
    };
    Ok(Filter {
        names: options.filters.clone(),
        exact: options.exact,
        skip: options.skip.clone(),
        patterns,
        tags_any: tags(&options.tags),
        tags_all: tags(&options.tags_all),
        ignored,
    })
}

fn shuffle_scope(what: &[ShuffleWhat]) -> ShuffleScope {
    let all = what.contains(&ShuffleWhat::All);
    ShuffleScope {
        tests: all || what.contains(&ShuffleWhat::Tests),
        suites: all || what.contains(&ShuffleWhat::Suites),
        testcases: all || what.contains(&ShuffleWhat::Testcases),
    }
}

fn list(plan_name: &str, selection: &Selection, format: ListFormat) -> Result<(), PlanError> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = match format {
        ListFormat::Terse => write_terse(selection, &mut out),
        ListFormat::Pretty => write_tree(selection, &mut out),
        ListFormat::Json => serde_json::to_writer_pretty(&mut out, &selection.skeleton(plan_name))
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out)),
    };
    written
        .and_then(|()| out.flush())
        .map_err(|error| PlanError(format!("failed to print the list: {error}")))
}

/// A plan's name as one file name: ASCII letters, digits and `-` kept, the rest `_`.
pub(crate) fn plan_slug(plan_name: &str) -> String {
    plan_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `<cargo target dir>/testrig/<plan>`: the plan binary lives in `target/<profile>/deps/`
/// (a `[[test]]`) or `target/<profile>/` (a bin or example).
fn default_runpath(plan_name: &str) -> PathBuf {
    let slug = plan_slug(plan_name);
    let target = std::env::current_exe().ok().and_then(|exe| {
        let dir = exe.parent()?;
        let profile = if dir.file_name()? == "deps" || dir.file_name()? == "examples" {
            dir.parent()?
        } else {
            dir
        };
        Some(profile.parent()?.to_path_buf())
    });
    target
        .unwrap_or_else(std::env::temp_dir)
        .join("testrig")
        .join(slug)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// `-i`: serve the UI and API until Ctrl-C, then stop every environment and write the
/// report files that were asked for.
fn run_interactive(
    plan: Plan,
    selection: Selection,
    options: &Options,
    runpath: &Path,
    port: u16,
) -> Result<RunOutcome, PlanError> {
    install_panic_hook();
    let stop = install_interrupt_handler(0.0);
    let host = options.interactive_host;
    if options.interactive_no_token {
        crate::interactive::AccessPolicy::check_no_token(host)
            .map_err(|error| PlanError(error.to_string()))?;
    }
    // After a code reload, the previous image of this process hands over its socket and
    // its report; anything wrong with the hand-off means starting afresh, and saying so.
    let mut unusable_handoff = None;
    let handoff = options.reload_handoff.as_ref().and_then(|path| {
        match crate::interactive::Handoff::read(path)
            .and_then(|handoff| handoff.listener().map(|listener| (handoff, listener)))
        {
            Ok(adopted) => Some(adopted),
            Err(error) => {
                // The previous image's driver processes are still this process's children,
                // and no one knows them now: they must not outlive it unsupervised.
                let stopped = crate::drivers::stop_children_left_behind(Duration::from_secs(5));
                let stopped = match stopped.as_slice() {
                    [] => String::new(),
                    pids => format!(
                        "; stopped the {} process(es) the previous image left running (pid {})",
                        pids.len(),
                        pids.iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                let message =
                    format!("code reload: {error}{stopped}; started afresh, environments stopped");
                eprintln!("warning: {message}");
                unusable_handoff = Some(message);
                None
            }
        }
    });
    let (previous, handed_off, listener) = match handoff {
        Some((mut handoff, listener)) => {
            let drivers = std::mem::take(&mut handoff.drivers);
            (Some(handoff), drivers, listener)
        }
        None => {
            let listener = crate::interactive::bind(std::net::SocketAddr::new(host, port)).map_err(|error| {
                PlanError(format!("failed to listen on {host}:{port} for interactive mode: {error}; choose another port with -i PORT"))
            })?;
            (None, BTreeMap::new(), listener)
        }
    };
    let address = listener
        .local_addr()
        .map_err(|error| PlanError(format!("failed to read the bound address: {error}")))?;
    // The previous image's token first, so open tabs keep working across a reload.
    let handed_token = previous
        .as_ref()
        .and_then(|previous| previous.token.clone());
    let token = match handed_token.or_else(|| options.interactive_token.clone()) {
        _ if options.interactive_no_token => None,
        Some(token) => Some(token),
        None => Some(
            crate::interactive::generate_token().map_err(|error| PlanError(error.to_string()))?,
        ),
    };
    let mut report = Report::new(
        selection.skeleton(&plan.name),
        host_name(),
        runpath.display().to_string(),
    );
    if let Some(message) = unusable_handoff {
        report.reload = Some(testrig_model::ReloadStatus {
            phase: testrig_model::ReloadPhase::Failed,
            message,
            time: now(),
        });
    }
    // The code as of this start: right away after a reload (it tells which results went
    // stale), on a thread of its own otherwise, so that a large plan answers at once.
    let code = if let Some(previous) = &previous {
        match crate::interactive::source_root() {
            Some(root) => {
                let state =
                    crate::interactive::CodeState::capture(&report, Path::new(&root), &plan.name);
                let stale = state.stale_since(&previous.code);
                (
                    crate::interactive::CodeCapture::Ready(state.snapshot),
                    stale,
                )
            }
            None => (
                crate::interactive::CodeCapture::Ready(Default::default()),
                Default::default(),
            ),
        }
    } else if options.ui.is_none() {
        // Finding the workspace reads the binary's debug information: that too waits.
        let skeleton = report.clone();
        let name = plan.name.clone();
        let capture = std::thread::spawn(move || {
            crate::interactive::source_root()
                .map(|root| {
                    crate::interactive::CodeState::capture(&skeleton, Path::new(&root), &name)
                        .snapshot
                })
                .unwrap_or_default()
        });
        (
            crate::interactive::CodeCapture::Pending(capture),
            Default::default(),
        )
    } else {
        // A batch run shown with --ui does not reload: nothing to capture.
        (
            crate::interactive::CodeCapture::Ready(Default::default()),
            Default::default(),
        )
    };
    let (code, staleness) = code;
    if let Some(previous) = &previous {
        let crate::interactive::StaleResults { stale, note } = staleness;
        let carried = crate::interactive::carry_results(&previous.report, &mut report, &stale);
        report.reload = Some(testrig_model::ReloadStatus {
            phase: testrig_model::ReloadPhase::Reloaded,
            message: format!(
                "reloaded (built in {:.2} s): {} testcases kept their results ({} stale: their code changed), {} new, {} removed{note}",
                previous.build_seconds, carried.kept, carried.stale, carried.new, carried.removed
            ),
            time: now(),
        });
    }
    // Code reload needs a second handle on the socket to pass on, and a build command.
    // Why there is none, when there is none: `POST /reload` says so.
    let reloader: Result<Arc<crate::interactive::Reloader>, String> = if options.ui.is_none() {
        listener
            .try_clone()
            .map_err(|error| error.to_string())
            .and_then(|copy| {
                crate::interactive::Reloader::new(
                    options.reload_command.as_deref(),
                    copy,
                    code,
                    token.clone(),
                )
            })
            .inspect_err(|error| eprintln!("note: code reload is off: {error}"))
            .map(Arc::new)
    } else {
        Err("a batch run shown with --ui does not reload; use -i".to_string())
    };
    let hub = EventHub::start(report);
    let mut context = RunContext::new(hub.sink(), runpath.to_path_buf());
    context.abandonable = true;
    context.stop = stop.clone();
    // Reload on save watches the declared input files too.
    let declared_inputs: Vec<PathBuf> = plan
        .tests
        .iter()
        .flat_map(MultiTest::declared_inputs)
        .filter_map(|input| match input {
            crate::impact::DeclaredInput::File(path) => Some(path),
            crate::impact::DeclaredInput::Text { .. } => None,
        })
        .collect();
    let mut tests: Vec<Option<MultiTest>> = plan.tests.into_iter().map(Some).collect();
    let mut sessions = Vec::new();
    for selected in &selection.tests {
        let Some(multitest) = tests[selected.test_index].take() else {
            continue;
        };
        let session = TestSession::new(selected, multitest, &context).map_err(PlanError)?;
        sessions.push((selected.uid.clone(), session));
    }
    let state = InteractiveState::start(selection, sessions, context, options.editor_url.clone());
    crate::interactive::serve(
        listener,
        crate::interactive::router(
            state.clone(),
            crate::interactive::AccessPolicy::new(
                address,
                token.clone(),
                &options.interactive_allow_host,
            ),
            reloader.clone(),
        ),
    )
    .map_err(|error| PlanError(format!("failed to start the interactive server: {error}")))?;
    // A token given by the user may hold characters a URL cannot carry as they are.
    let query = token
        .as_ref()
        .map(|token| {
            let encoded =
                percent_encoding::utf8_percent_encode(token, percent_encoding::NON_ALPHANUMERIC);
            format!("?token={encoded}")
        })
        .unwrap_or_default();
    // Whoever started the plan may have stopped reading its output; no reason to fail.
    let say = |text: String| {
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
    };
    say(format!("Interactive testrig UI: http://{address}/{query}"));
    say(format!(
        "API: http://{address}/api/v1/interactive/report (OpenAPI: http://{address}/api/v1/openapi.json)"
    ));
    take_over_environments(&state, handed_off);
    if let Ok(reloader) = &reloader {
        match reloader.start_in_background(&state, declared_inputs, !options.no_reload_watch) {
            // Sources saved while the previous image was building: build them too.
            Ok(())
                if previous
                    .as_ref()
                    .is_some_and(|previous| previous.rebuild_pending) =>
            {
                reloader.request();
            }
            Ok(()) => {}
            Err(error) => eprintln!("note: reload on save is off: {error}"),
        }
    }
    if let Ok(reloader) = &reloader {
        say(format!(
            "Code reload: the UI's Reload button or POST http://{address}/api/v1/interactive/reload (rebuilds with `{}`)",
            reloader.command()
        ));
    }
    if let Some(reload) = &previous.as_ref().and(report_reload_message(&state)) {
        say(reload.clone());
    }
    say("Press Ctrl-C to stop.".to_string());
    let mut exit_code = 0;
    if options.ui.is_some() {
        // `--ui`: a batch run shown live; the finished report stays served.
        state
            .run_node(None)
            .map_err(|refusal| PlanError(format!("failed to start the run: {refusal:?}")))?;
        // Each finished job wakes the signal.
        stop.wait_until(None, |stopped| stopped || state.is_idle());
        state.stop_environments();
        state.settle();
        if let Some(report) = state.report() {
            let mut console =
                ConsoleReporter::new(ConsoleOptions::detect(Verbosity::Quiet, None), 0);
            console.failures(&report);
            console.summary(&report);
            exit_code = u8::from(report.plan.status.is_failure());
        }
        say(format!(
            "The finished report stays at http://{address}/{query} until Ctrl-C."
        ));
    }
    stop.wait_until(None, |stopped| stopped);
    say("stopping environments…".to_string());
    state.stop_all_environments();
    terminate_all_process_groups(Duration::from_secs(1));
    state.settle();
    if let Some(report) = state.report() {
        if let Some(path) = &options.json
            && let Err(error) = write_json_report(&report, path)
        {
            eprintln!(
                "error: failed to write the JSON report `{}`: {error}",
                path.display()
            );
            exit_code = 2;
        }
        return Ok(RunOutcome {
            report: Some(report),
            exit_code,
        });
    }
    Ok(RunOutcome {
        report: None,
        exit_code,
    })
}

/// After a code reload: offers each test's environment the drivers the previous image left
/// running, starts those environments (taking over what is unchanged), stops the processes
/// of tests that are gone, and says what became of each driver.
fn take_over_environments(
    state: &Arc<InteractiveState>,
    handed_off: BTreeMap<String, Vec<crate::env::HandedOffDriver>>,
) {
    if handed_off.is_empty() {
        return;
    }
    let mut notes = Vec::new();
    for (test, drivers) in handed_off {
        if state.has_test(&test) {
            crate::env::offer_adoption(&test, drivers);
            let _ = state.set_environment(&test, testrig_model::DriverStatus::Started);
        } else {
            for driver in &drivers {
                crate::env::discard_handed_off(driver);
                notes.push(format!(
                    "`{}` stopped: its test `{test}` is gone",
                    driver.name
                ));
            }
        }
    }
    let state = state.clone();
    std::thread::spawn(move || {
        // Environment starts are queued on the tests' workers (counted as soon as they are
        // accepted): wait for them to finish.
        while !state.is_idle() {
            std::thread::sleep(Duration::from_millis(10));
        }
        for (test, drivers) in crate::env::withdraw_adoption_offers() {
            for driver in &drivers {
                crate::env::discard_handed_off(driver);
                notes.push(format!(
                    "`{}` stopped: its test `{test}` did not start",
                    driver.name
                ));
            }
        }
        notes.extend(crate::env::adoption_notes());
        let summary = report_reload_message(&state).unwrap_or_default();
        state.sink().emit(Event::Reload {
            reload: testrig_model::ReloadStatus {
                phase: testrig_model::ReloadPhase::Reloaded,
                message: format!("{summary}\ndrivers: {}", notes.join("; ")),
                time: now(),
            },
        });
    });
}

/// The reload status message of the live report, if any.
fn report_reload_message(state: &InteractiveState) -> Option<String> {
    state
        .report()
        .and_then(|report| report.reload.map(|reload| reload.message))
}

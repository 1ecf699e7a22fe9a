//! Interactive mode and `--ui`: the event hub and the interactive state, the server, code
//! reload and the hand-off of running drivers across it, and the wait for Ctrl-C.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use testrig_model::{Event, Report};

use crate::cli::Options;
use crate::drivers::terminate_all_process_groups;
use crate::events::{EventHub, now};
use crate::export::{ConsoleOptions, ConsoleReporter, Verbosity, write_json_report};
use crate::interactive::InteractiveState;
use crate::interactive::Session;
use crate::runner::{
    ProcessSession, RunContext, SessionWorkers, TestSession, WorkerCommand,
    install_interrupt_handler, install_panic_hook,
};
use crate::testing::{MultiTest, PlanError, Selection};

use super::config::host_name;
use super::definition::{Plan, RunOutcome};

/// `-i`: serve the UI and API until Ctrl-C, then stop every environment and write the
/// report files that were asked for.
pub(super) fn run_interactive(
    plan: Plan,
    selection: Selection,
    options: &Options,
    runpath: &Path,
    port: u16,
    worker_command: Option<WorkerCommand>,
) -> Result<RunOutcome, PlanError> {
    install_panic_hook();
    let stop = install_interrupt_handler(0.0);
    let host = options.interactive_host;
    if options.interactive_no_token {
        crate::interactive::AccessPolicy::check_no_token(host)
            .map_err(|error| PlanError::Flag(error.to_string()))?;
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
                PlanError::Interactive {
                    message: format!("failed to listen on {host}:{port} for interactive mode: {error}; choose another port with -i PORT"),
                    source: Some(Box::new(error)),
                }
            })?;
            (None, BTreeMap::new(), listener)
        }
    };
    let address = listener
        .local_addr()
        .map_err(|error| PlanError::Interactive {
            message: format!("failed to read the bound address: {error}"),
            source: Some(Box::new(error)),
        })?;
    // The previous image's token first, so open tabs keep working across a reload.
    let handed_token = previous
        .as_ref()
        .and_then(|previous| previous.token.clone());
    let token =
        match handed_token.or_else(|| options.interactive_token.clone()) {
            _ if options.interactive_no_token => None,
            Some(token) => Some(token),
            None => Some(crate::interactive::generate_token().map_err(|error| {
                PlanError::Interactive {
                    message: error.to_string(),
                    source: Some(Box::new(error)),
                }
            })?),
        };
    let mut report = Report::new(
        selection.skeleton(&plan.name),
        host_name(),
        runpath.display().to_string(),
    );
    if let Some(message) = unusable_handoff {
        report.reload = Some(testrig_model::ReloadStatus::new(
            testrig_model::ReloadPhase::Failed,
            message,
            now(),
        ));
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
        report.reload = Some(testrig_model::ReloadStatus::new(
            testrig_model::ReloadPhase::Reloaded,
            format!(
                "reloaded (built in {:.2} s): {} testcases kept their results ({} stale: their code changed), {} new, {} removed{note}{}",
                previous.build_seconds,
                carried.kept,
                carried.stale,
                carried.new,
                carried.removed,
                if worker_command.is_some() {
                    "; environments run in worker processes: they stopped with the old code and start again with the next run"
                } else {
                    ""
                }
            ),
            now(),
        ));
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
            crate::inputs::DeclaredInput::File(path) => Some(path),
            crate::inputs::DeclaredInput::Text { .. } => None,
        })
        .collect();
    let mut tests: Vec<Option<MultiTest>> = plan.tests.into_iter().map(Some).collect();
    let session_workers = worker_command.clone().map(SessionWorkers::new);
    let mut sessions = Vec::new();
    for selected in &selection.tests {
        let Some(multitest) = tests[selected.test_index].take() else {
            continue;
        };
        let session = match &session_workers {
            // The definition stays here: the worker builds its own.
            Some(workers) => {
                Session::Process(ProcessSession::new(selected, workers.clone(), &context))
            }
            None => Session::Thread(TestSession::new(selected, multitest, &context).map_err(
                |message| PlanError::Interactive {
                    message,
                    source: None,
                },
            )?),
        };
        sessions.push((selected.uid.clone(), session));
    }
    let state = InteractiveState::start(
        selection,
        sessions,
        session_workers,
        context,
        options.editor_url.clone(),
    );
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
    .map_err(|error| PlanError::Interactive {
        message: format!("failed to start the interactive server: {error}"),
        source: Some(Box::new(error)),
    })?;
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
            .map_err(|refusal| PlanError::Interactive {
                message: format!("failed to start the run: {refusal:?}"),
                source: None,
            })?;
        state.wait_idle();
        // Ctrl-C before the run ended: exit as an interrupted batch run does.
        let interrupted = stop.is_stopped();
        state.stop_environments();
        state.settle();
        if let Some(report) = state.report() {
            let mut console =
                ConsoleReporter::new(ConsoleOptions::detect(Verbosity::Quiet, None), 0);
            console.failures(&report);
            console.summary(&report);
            exit_code = u8::from(report.plan.status.is_failure());
        }
        if interrupted {
            exit_code = crate::runner::INTERRUPTED_EXIT_CODE;
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
pub(super) fn take_over_environments(
    state: &Arc<InteractiveState>,
    handed_off: BTreeMap<String, Vec<crate::env::HandedOffDriver>>,
) {
    if handed_off.is_empty() {
        return;
    }
    let mut notes = Vec::new();
    for (test, drivers) in handed_off {
        if state.has_test(&test) {
            state.offer_adoption(&test, drivers);
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
        state.wait_idle();
        for (test, drivers) in state.withdraw_adoption_offers() {
            for driver in &drivers {
                crate::env::discard_handed_off(driver);
                notes.push(format!(
                    "`{}` stopped: its test `{test}` did not start",
                    driver.name
                ));
            }
        }
        notes.extend(state.adoption_notes());
        let summary = report_reload_message(&state).unwrap_or_default();
        state.sink().emit(Event::Reload {
            reload: testrig_model::ReloadStatus::new(
                testrig_model::ReloadPhase::Reloaded,
                format!("{summary}\ndrivers: {}", notes.join("; ")),
                now(),
            ),
        });
    });
}

/// The reload status message of the live report, if any.
pub(super) fn report_reload_message(state: &InteractiveState) -> Option<String> {
    state
        .report()
        .and_then(|report| report.reload.map(|reload| reload.message))
}

//! The plan: the top-level runnable a plan's `main` builds and runs. `execute` maps the
//! command line onto what runs — validation, selection, `--list`, affected selection — and
//! hands over to a batch or an interactive run.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use testrig_model::Report;

use crate::cli::{Options, PoolKind};
use crate::runner::{WorkerCommand, WorkerLauncher};
use crate::testing::{MultiTest, PlanError, Selection, fresh_seed, shuffle, validate};

#[cfg(feature = "affected")]
use super::affected::{select_affected, start_affected};
use super::batch::run_selection;
use super::config::{
    RunConfig, claim_runpath, filter_from, shuffle_scope, sweep_leftovers_of_killed_runs,
};
#[cfg(feature = "interactive")]
use super::interactive::run_interactive;
use super::reports::list;

/// A test plan: named tests run together and reported as one.
pub struct Plan {
    pub(super) name: String,
    pub(super) tests: Vec<MultiTest>,
    pub(super) runpath: Option<PathBuf>,
    /// The process's own command line, when the plan runs with it (`run_from_args`): what a
    /// worker process is started with.
    pub(super) command_line: Option<Vec<OsString>>,
}

/// How a run ended, for callers that drive a plan programmatically.
#[derive(Debug)]
#[non_exhaustive]
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
            command_line: None,
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

    /// Checks the plan's definition without running anything: at least one test, suite and
    /// testcase, names that are well formed and unique at every level, drivers' settings.
    /// `run_from_args` does the same first and exits with 2 on the error.
    pub fn validate(&self) -> Result<(), crate::PlanError> {
        crate::testing::validate(&self.name, &self.tests)
    }

    /// The output folder, unless `--runpath` overrides it.
    pub fn runpath(mut self, runpath: impl Into<PathBuf>) -> Plan {
        self.runpath = Some(runpath.into());
        self
    }

    /// Runs with the process's command line and returns its exit status: the whole of a
    /// plan's `main`.
    ///
    /// Tests run in worker processes by default (`--pool process`): each re-executes this
    /// binary with the same command line, so `main` must build the same plan every time.
    pub fn run_from_args(mut self) -> ExitCode {
        self.command_line = Some(std::env::args_os().skip(1).collect());
        self.run_with_args(std::env::args_os())
    }

    /// Runs with the given command line (the first item is the program name).
    pub fn run_with_args<I, T>(self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let options = match Options::from_args(args) {
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
        #[cfg(feature = "affected")]
        crate::impact::skip_exit_dump();
        if is_worker_process() {
            #[cfg(feature = "affected")]
            let coverage =
                Some(crate::impact::worker_coverage as crate::runner::WorkerCoverageFactory);
            #[cfg(not(feature = "affected"))]
            let coverage = None;
            crate::runner::serve_worker(&self.name, self.tests, coverage);
        }
        refuse_flags_of_features_off(&options)?;
        let mut config = RunConfig::from_options(&options);
        config.worker_command = worker_command(&self, &options)?;
        // A batch run's first workers start now: a worker builds the plan again before it
        // reads its job, while this process validates, selects and sets the run up (with
        // `--affected`, reads the sources and the database too). Workers no test needs (an
        // affected run that selects nothing) are killed and waited for when the run ends.
        let early_workers = config
            .worker_command
            .clone()
            .filter(|_| {
                !(options.list
                    || options.dry_run
                    || options.interactive.is_some()
                    || options.ui.is_some())
            })
            .map(|command| WorkerLauncher::new(command, config.workers.min(self.tests.len())));
        validate(&self.name, &self.tests)?;
        let filter = filter_from(&options)?;
        // Reading and fingerprinting the sources takes a while: started first.
        #[cfg(feature = "affected")]
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
        #[cfg(feature = "affected")]
        let affected = match affected_sources {
            Some(sources) => Some(select_affected(
                sources,
                &self.tests,
                &mut selection,
                &options,
                config.worker_command.is_some(),
            )?),
            None => None,
        };
        #[cfg(not(feature = "affected"))]
        let affected: Option<super::affected::AffectedRun> = None;
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
        // Held until the run ends: no other plan process may use the same runpath.
        let claim = claim_runpath(
            options.runpath.clone().or(self.runpath.clone()),
            &self.name,
            options.run_by_nextest().then_some(filter.names.as_slice()),
        )?;
        let runpath = claim.path.clone();
        // A reloaded image takes over its predecessor's drivers: they are not leftovers.
        if options.reload_handoff.is_none() {
            sweep_leftovers_of_killed_runs(&runpath);
        }
        crate::drivers::keep_ledger(crate::drivers::ledger_path(&runpath));
        #[cfg(feature = "interactive")]
        if let Some(port) = options.interactive.or(options.ui) {
            // `--ui` runs in worker processes as a batch run does; `-i` keeps its tests in
            // this process unless `--pool process` asks (code reload then restarts the
            // environments instead of handing their drivers over).
            if options.rerun > 0 {
                eprintln!(
                    "warning: --rerun applies to batch runs; this run is served live (-i/--ui) and runs each testcase once"
                );
            }
            let workers = if options.ui.is_some() || options.pool == Some(PoolKind::Process) {
                config.worker_command.clone()
            } else {
                None
            };
            return run_interactive(self, selection, &options, &runpath, port, workers);
        }
        let outcome = run_selection(
            self,
            selection,
            &config,
            &runpath,
            seed,
            affected,
            early_workers,
        );
        Ok(outcome)
    }
}

/// A flag whose cargo feature this plan was built without is a plan error that names the
/// feature, rather than a flag that does nothing.
fn refuse_flags_of_features_off(options: &Options) -> Result<(), PlanError> {
    let needs = |flag: &str, feature: &str| {
        PlanError::Flag(format!(
            "`{flag}` needs testrig's `{feature}` feature, which this plan was built without; \
             enable it in the plan's Cargo.toml (`testrig = {{ …, features = [\"{feature}\"] }}`, \
             or keep testrig's default features)"
        ))
    };
    if cfg!(not(feature = "junit")) && options.xml.is_some() {
        return Err(needs("--xml", "junit"));
    }
    if cfg!(not(feature = "affected")) && options.affected {
        return Err(needs("--affected", "affected"));
    }
    let server_flag = interactive_server_flag(options);
    if cfg!(not(feature = "interactive")) {
        if options.interactive.is_some() {
            return Err(needs("--interactive", "interactive"));
        }
        if options.ui.is_some() {
            return Err(needs("--ui", "interactive"));
        }
        if let Some(flag) = server_flag {
            return Err(needs(flag, "interactive"));
        }
    } else if let Some(flag) = server_flag
        && options.interactive.is_none()
        && options.ui.is_none()
    {
        return Err(PlanError::Flag(format!(
            "`{flag}` sets up the interactive server, which only `-i`/`--interactive` and `--ui` start; add one of them or leave `{flag}` out"
        )));
    }
    Ok(())
}

/// The first of the interactive server's own settings given on the command line: they mean
/// nothing without `-i` or `--ui`.
fn interactive_server_flag(options: &Options) -> Option<&'static str> {
    let given = [
        (
            "--interactive-host",
            options.interactive_host != std::net::IpAddr::from([127, 0, 0, 1]),
        ),
        ("--interactive-token", options.interactive_token.is_some()),
        ("--interactive-no-token", options.interactive_no_token),
        (
            "--interactive-allow-host",
            !options.interactive_allow_host.is_empty(),
        ),
        ("--reload-command", options.reload_command.is_some()),
        ("--no-reload-watch", options.no_reload_watch),
    ];
    given
        .iter()
        .find(|(_, given)| *given)
        .map(|(flag, _)| *flag)
}

/// True in a worker process this plan's process pool started (the variable names the
/// parent, so a plan a testcase starts is not mistaken for one).
fn is_worker_process() -> bool {
    std::env::var(crate::runner::WORKER_ENV).is_ok_and(|value| {
        value
            .split_once(':')
            .and_then(|(_, parent)| parent.parse::<u32>().ok())
            == Some(std::os::unix::process::parent_id())
    })
}

/// How this plan starts its worker processes: itself, with its command line. `None` when
/// tests run on threads: `--pool thread`, or by default under cargo-nextest (which runs
/// every testcase in a process of its own already) and for plans run with a command line
/// that is not the process's own.
fn worker_command(plan: &Plan, options: &Options) -> Result<Option<WorkerCommand>, PlanError> {
    let wanted = match options.pool {
        Some(PoolKind::Thread) => false,
        Some(PoolKind::Process) => true,
        None => !options.run_by_nextest() && plan.command_line.is_some(),
    };
    if !wanted {
        if options.worker_memory_limit.is_some() {
            return Err(PlanError::Flag(
                "`--worker-memory-limit` limits worker processes, and this run has none: add `--pool process`".into(),
            ));
        }
        if options.rerun > 0 {
            return Err(PlanError::Flag(
                "`--rerun` runs failed testcases again in fresh worker processes, and this run has none: add `--pool process`".into(),
            ));
        }
        return Ok(None);
    }
    let Some(args) = plan.command_line.clone() else {
        return Err(PlanError::Flag(
            "`--pool process` starts worker processes from the plan binary with its own command line: run the plan with `Plan::run_from_args()` from its `main`, or use `--pool thread`".into(),
        ));
    };
    let program = std::env::current_exe().map_err(|error| {
        PlanError::Flag(format!(
            "`--pool process` needs the path of the plan binary, which the system does not tell ({error}); use `--pool thread`"
        ))
    })?;
    Ok(Some(WorkerCommand {
        program,
        args,
        plan: plan.name.clone(),
        memory_limit_mb: options.worker_memory_limit,
    }))
}

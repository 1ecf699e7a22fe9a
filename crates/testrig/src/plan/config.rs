//! The command line turned into a run's configuration: the filter, the shuffle scope, the
//! runpath, the host name the report carries, and [`RunConfig`] — what a batch run does
//! with its console, its workers, interrupts and report files. The run reads the
//! configuration, never the command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{ColorChoice, Options, ShuffleWhat};
use crate::export::Verbosity;
use crate::runner::WorkerCommand;
use crate::testing::{Filter, IgnoredMode, Pattern, PlanError, ShuffleScope};

/// How a batch run runs and reports, decided from the command line once.
#[derive(Debug, Clone)]
pub(crate) struct RunConfig {
    /// How much the console prints.
    pub verbosity: Verbosity,
    /// Colours on or off; `None` detects the terminal.
    pub color: Option<bool>,
    /// Tests run at once.
    pub workers: usize,
    /// How long testcases have to end after an interrupt before their environments are
    /// stopped under them.
    pub interrupt_grace: Duration,
    /// The JSON-lines stream of events (`--events`).
    pub events: Option<PathBuf>,
    /// Print the drivers' start and stop timeline (`--driver-info`).
    pub driver_info: bool,
    /// The report files to write.
    pub reports: ReportFiles,
    /// How to start worker processes; `None`: tests run on threads in this process.
    pub worker_command: Option<WorkerCommand>,
    /// `--rerun`: how many times a failed testcase runs again.
    pub reruns: u32,
}

/// The report files a run writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReportFiles {
    /// `--json`.
    pub json: Option<PathBuf>,
    /// `--xml`: a folder of JUnit files.
    #[cfg_attr(not(feature = "junit"), allow(dead_code))]
    pub junit: Option<PathBuf>,
    /// `--html`.
    pub html: Option<PathBuf>,
    /// `--editor-url` for the HTML report's source links.
    pub editor_url: Option<String>,
}

impl RunConfig {
    pub(super) fn from_options(options: &Options) -> RunConfig {
        RunConfig {
            verbosity: if options.quiet {
                Verbosity::Quiet
            } else if options.verbose {
                Verbosity::Verbose
            } else {
                Verbosity::Normal
            },
            color: match options.color {
                ColorChoice::Auto => None,
                ColorChoice::Always => Some(true),
                ColorChoice::Never => Some(false),
            },
            workers: options.workers.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            }),
            // `--interrupt-grace` is parsed to 0–86,400 s; an `Options` built in code may hold anything.
            interrupt_grace: Duration::try_from_secs_f64(options.interrupt_grace)
                .unwrap_or(Duration::from_secs(3)),
            events: options.events.clone(),
            driver_info: options.driver_info,
            reports: ReportFiles {
                json: options.json.clone(),
                junit: options.xml.clone(),
                html: options.html.clone(),
                editor_url: options.editor_url.clone(),
            },
            worker_command: None,
            reruns: options.rerun,
        }
    }
}

pub(super) fn filter_from(options: &Options) -> Result<Filter, PlanError> {
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

pub(super) fn shuffle_scope(what: &[ShuffleWhat]) -> ShuffleScope {
    let all = what.contains(&ShuffleWhat::All);
    ShuffleScope {
        tests: all || what.contains(&ShuffleWhat::Tests),
        suites: all || what.contains(&ShuffleWhat::Suites),
        testcases: all || what.contains(&ShuffleWhat::Testcases),
    }
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
pub(super) fn default_runpath(plan_name: &str) -> PathBuf {
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

/// A runpath this process holds: its lock file (`<runpath>.lock`) stays locked until the
/// process ends, however it ends, so two plan processes never share a runpath (each clears
/// its drivers' folders on start).
#[derive(Debug)]
pub(super) struct RunpathClaim {
    pub path: PathBuf,
    _lock: Option<std::fs::File>,
}

/// Claims the runpath given on the command line or in the plan (`explicit`), or the default
/// one. When another plan process holds the default one — a user may start the same plan
/// twice — this process takes `<default>.<pid>` instead, and removes those of processes
/// that are gone. An explicit runpath that another process holds is an error.
/// `nextest_tests`: the test filters, when cargo-nextest runs this process as one of its
/// tests (a process per testcase), which gets a runpath of its own per run and testcase.
pub(super) fn claim_runpath(
    explicit: Option<PathBuf>,
    plan_name: &str,
    nextest_tests: Option<&[String]>,
) -> Result<RunpathClaim, PlanError> {
    let chosen = explicit.is_some();
    let path = explicit.unwrap_or_else(|| {
        let default = default_runpath(plan_name);
        nextest_tests
            .and_then(|tests| nextest_runpath(&default, tests))
            .unwrap_or(default)
    });
    let path = std::path::absolute(&path).unwrap_or(path);
    let create = |path: &Path| {
        std::fs::create_dir_all(path).map_err(|error| PlanError::Runpath {
            message: format!(
                "failed to create the runpath `{}`: {error}; pass a writable folder with --runpath",
                path.display()
            ),
            source: Some(error),
        })
    };
    create(&path)?;
    match lock_beside(&path) {
        Lock::Held(lock) => Ok(RunpathClaim {
            path,
            _lock: Some(lock),
        }),
        // A file system without locks: run as before.
        Lock::Unavailable => Ok(RunpathClaim { path, _lock: None }),
        Lock::Busy if chosen => Err(PlanError::Runpath {
            message: format!(
                "the runpath `{}` is in use by another plan process; wait for it to end or pass another --runpath",
                path.display()
            ),
            source: None,
        }),
        Lock::Busy => {
            remove_runpaths_of_ended_processes(&path);
            let own = with_suffix(&path, &format!(".{}", std::process::id()));
            create(&own)?;
            let lock = match lock_beside(&own) {
                Lock::Held(lock) => Some(lock),
                Lock::Busy | Lock::Unavailable => None,
            };
            Ok(RunpathClaim {
                path: own,
                _lock: lock,
            })
        }
    }
}

/// Under cargo-nextest (a process per testcase, `NEXTEST_RUN_ID` set): a runpath per run
/// and testcase, `<default>.nextest/<run id>/<testcase>`, so the logs of a testcase are
/// where its name says; the folders of earlier runs go once none of their processes runs.
fn nextest_runpath(default: &Path, test_filters: &[String]) -> Option<PathBuf> {
    let run = std::env::var("NEXTEST_RUN_ID").ok()?;
    let run = plan_slug(&run);
    let test = match test_filters {
        [only] => plan_slug(only),
        _ => format!("process-{}", std::process::id()),
    };
    let runs = with_suffix(default, ".nextest");
    if let Ok(entries) = std::fs::read_dir(&runs) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy() != run && !any_lock_held(&entry.path()) {
                for test in std::fs::read_dir(entry.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    sweep_leftovers_of_killed_runs(&test.path());
                }
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    Some(runs.join(run).join(test))
}

/// Whether a process holds one of the `*.lock` files in `dir`.
fn any_lock_held(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        path.extension()
            .is_some_and(|extension| extension == "lock")
            && std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .is_ok_and(|file| matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
    })
}

enum Lock {
    Held(std::fs::File),
    Busy,
    Unavailable,
}

fn lock_beside(path: &Path) -> Lock {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(with_suffix(path, ".lock"));
    let Ok(file) = file else {
        return Lock::Unavailable;
    };
    match file.try_lock() {
        Ok(()) => Lock::Held(file),
        Err(std::fs::TryLockError::WouldBlock) => Lock::Busy,
        Err(std::fs::TryLockError::Error(_)) => Lock::Unavailable,
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Stops the driver processes an earlier run on `runpath` left running when it was killed
/// (its reaper killed with it), and says so.
pub(super) fn sweep_leftovers_of_killed_runs(runpath: &Path) {
    for leftover in crate::drivers::sweep_leftovers(runpath, Duration::from_secs(2)) {
        eprintln!(
            "warning: stopped process group {} (`{}`), left running by an earlier run on `{}` that was killed",
            leftover.pgid,
            leftover.command,
            runpath.display()
        );
    }
}

/// Removes `<runpath>.<pid>` folders (and their lock files) whose process is gone, after
/// stopping what their runs left running.
fn remove_runpaths_of_ended_processes(runpath: &Path) {
    let (Some(parent), Some(name)) = (runpath.parent(), runpath.file_name()) else {
        return;
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Some(rest) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let pid = rest.strip_suffix(".lock").unwrap_or(rest);
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if Path::new("/proc").join(pid).exists() {
            continue;
        }
        let _ = if entry.path().is_dir() {
            sweep_leftovers_of_killed_runs(&entry.path());
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
    }
}

pub(super) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

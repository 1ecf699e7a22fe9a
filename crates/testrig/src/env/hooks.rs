//! Driver hooks: user code run around a driver's life-cycle phases, and the context it gets.
//!
//! The environment runs a hook before start (`pre_start`), once ready (`post_start`), before
//! stop (`pre_stop`) and after stop (`post_stop`). A hook sees the driver, its runpath (created
//! empty before `pre_start`, so a hook can prepare files there: `initdb` into it, say), the
//! attributes of the drivers started before it, and can run a command supervised like a
//! driver's own processes. A `pre_start` hook can also add arguments and environment
//! variables to what the driver starts.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::env::context::{ConfigValue, ContextScope};
use crate::env::driver::{Attributes, Driver, DriverError};

/// What a hook returns: `Ok(())`, or any error (`?` works on I/O errors, `Err("…".into())` on
/// text); the driver's start fails with its message.
pub type HookResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A user hook run around a life-cycle phase.
pub type DriverHook = Arc<dyn Fn(&mut HookContext<'_>) -> HookResult + Send + Sync>;

/// The life-cycle phase a hook runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HookPhase {
    /// Before the driver starts: its runpath exists and is empty.
    PreStart,
    /// Once the driver is ready.
    PostStart,
    /// Before the driver stops.
    PreStop,
    /// After the driver stopped.
    PostStop,
}

impl HookPhase {
    /// The hook's name as the builder methods spell it (`pre_start`).
    pub fn name(self) -> &'static str {
        match self {
            HookPhase::PreStart => "pre_start",
            HookPhase::PostStart => "post_start",
            HookPhase::PreStop => "pre_stop",
            HookPhase::PostStop => "post_stop",
        }
    }
}

/// What a hook gets: the driver, its runpath, the started drivers' attributes, a way to run
/// commands, and (in `pre_start`) a way to add arguments and environment variables.
pub struct HookContext<'a> {
    driver: &'a dyn Driver,
    phase: HookPhase,
    runpath: &'a Path,
    scope: &'a ContextScope,
    exported_variables: &'a [(String, String)],
    deadline: Instant,
    pub(crate) extra_args: Vec<String>,
    pub(crate) extra_env: Vec<(String, String)>,
}

/// What a command run by a hook printed; it exited with status 0.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandOutput {
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl<'a> HookContext<'a> {
    pub(crate) fn new(
        driver: &'a dyn Driver,
        phase: HookPhase,
        runpath: &'a Path,
        scope: &'a ContextScope,
        exported_variables: &'a [(String, String)],
        deadline: Instant,
    ) -> HookContext<'a> {
        HookContext {
            driver,
            phase,
            runpath,
            scope,
            exported_variables,
            deadline,
            extra_args: Vec::new(),
            extra_env: Vec::new(),
        }
    }

    /// The driver the hook runs for.
    pub fn driver(&self) -> &dyn Driver {
        self.driver
    }

    /// The driver as its own type (`context.driver_as::<App>()`), when it is one.
    pub fn driver_as<D: Driver>(&self) -> Option<&D> {
        (self.driver as &dyn std::any::Any).downcast_ref::<D>()
    }

    /// The phase the hook runs in.
    pub fn phase(&self) -> HookPhase {
        self.phase
    }

    /// The driver's own folder. It exists before `pre_start` runs and is not cleared after it,
    /// so files a `pre_start` hook writes there are the driver's.
    pub fn runpath(&self) -> &Path {
        self.runpath
    }

    /// The driver's attributes (empty before it started).
    pub fn attributes(&self) -> Attributes {
        self.driver.attributes()
    }

    /// The attributes of the other drivers by name: in the start hooks those started before
    /// this one, in the stop hooks those running when the environment's stop began.
    pub fn context(&self) -> &BTreeMap<String, Attributes> {
        self.scope.drivers()
    }

    /// Resolves a setting that may read other drivers' attributes.
    pub fn resolve(&self, value: &ConfigValue) -> Result<String, DriverError> {
        value.resolve(self.scope)
    }

    /// Adds an argument to the program the driver starts (`pre_start` only; App and the
    /// service drivers append it to their command line).
    pub fn arg(&mut self, arg: impl Into<String>) -> Result<(), DriverError> {
        self.before_start("arg")?;
        self.extra_args.push(arg.into());
        Ok(())
    }

    /// Sets an environment variable of the program the driver starts (`pre_start` only; it
    /// wins over the driver's own settings).
    pub fn env(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), DriverError> {
        self.before_start("env")?;
        self.extra_env.push((key.into(), value.into()));
        Ok(())
    }

    fn before_start(&self, method: &str) -> Result<(), DriverError> {
        if self.phase == HookPhase::PreStart {
            return Ok(());
        }
        Err(DriverError::new(format!(
            "`{method}` in a {} hook of `{}`: arguments and environment can only be set in pre_start, before the program starts",
            self.phase.name(),
            self.driver.name()
        )))
    }

    /// Runs `command` to completion in the driver's runpath (unless it sets its own working
    /// directory), with the started drivers' `DRIVER_<NAME>_ATTR_<ATTR>` variables, in its own
    /// process group (killed with the plan, and when the driver's start timeout passes). Its
    /// output is returned and appended to `hooks.log` in the runpath; a non-zero exit is an
    /// error with the last lines of its stderr.
    pub fn run(&self, command: &mut Command) -> Result<CommandOutput, DriverError> {
        let limit = match self.phase {
            HookPhase::PreStop | HookPhase::PostStop => "stop_timeout",
            _ => "start_timeout",
        };
        run_supervised(
            command,
            self.runpath,
            self.exported_variables,
            (self.deadline, limit),
            &self.runpath.join("hooks.log"),
        )
    }
}

/// Runs a command to completion in its own registered process group, output into temporary
/// files beside `log` (pipes would need a reader thread each), then appended to `log`.
pub(crate) fn run_supervised(
    command: &mut Command,
    working_dir: &Path,
    exported_variables: &[(String, String)],
    (deadline, limit): (Instant, &str),
    log: &Path,
) -> Result<CommandOutput, DriverError> {
    use crate::drivers::{GroupChild, describe_exit, poll_interval};

    let shown = describe_command(command);
    let folder = log.parent().unwrap_or(working_dir);
    std::fs::create_dir_all(folder).map_err(|error| {
        DriverError::new(format!(
            "failed to create `{}` to run `{shown}`: {error}",
            folder.display()
        ))
    })?;
    let capture = |stream: &str| -> Result<(PathBuf, File), DriverError> {
        let path = folder.join(format!(".command-{}-{stream}", std::process::id()));
        let file = File::create(&path).map_err(|error| {
            DriverError::new(format!(
                "failed to create `{}` to run `{shown}`: {error}",
                path.display()
            ))
        })?;
        Ok((path, file))
    };
    let (stdout_path, stdout_file) = capture("stdout")?;
    let (stderr_path, stderr_file) = capture("stderr")?;
    if command.get_current_dir().is_none() {
        command.current_dir(working_dir);
    }
    command
        .envs(exported_variables.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(stdout_file)
        .stderr(stderr_file);
    let read_back = || {
        let stdout = std::fs::read(&stdout_path).unwrap_or_default();
        let stderr = std::fs::read(&stderr_path).unwrap_or_default();
        let _ = std::fs::remove_file(&stdout_path);
        let _ = std::fs::remove_file(&stderr_path);
        let output = CommandOutput {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        };
        if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(file, "$ {shown}\n{}{}", output.stdout, output.stderr);
        }
        output
    };
    let child = match GroupChild::spawn(command) {
        Ok(child) => child,
        Err(error) => {
            read_back();
            let hint = if error.kind() == std::io::ErrorKind::NotFound {
                "; is it installed / on PATH?"
            } else {
                ""
            };
            return Err(
                DriverError::new(format!("failed to run `{shown}`: {error}{hint}"))
                    .with_source(error),
            );
        }
    };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_status() {
            break Some(status);
        }
        let now = Instant::now();
        if now >= deadline {
            break None;
        }
        std::thread::sleep(poll_interval(started.elapsed()).min(deadline - now));
    };
    // Ends what it left in its group (a daemon it forked) either way.
    child.stop(Duration::from_millis(500));
    let output = read_back();
    let tail = |text: &str| -> Vec<String> {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..]
            .iter()
            .map(|line| line.to_string())
            .collect()
    };
    match status {
        None => Err(DriverError::new(format!(
            "`{shown}` did not finish within the driver's {}; it was killed (raise {limit} if it needs longer)",
            limit.replace('_', " ")
        ))
        .with_log_tail(tail(&output.stderr))),
        Some(status) if !status.success() => {
            let mut lines = tail(&output.stderr);
            if lines.is_empty() {
                lines = tail(&output.stdout);
            }
            Err(DriverError::new(format!("`{shown}` {}", describe_exit(status))).with_log_tail(lines))
        }
        Some(_) => Ok(output),
    }
}

/// The command as a reader would type it.
pub(crate) fn describe_command(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|word| crate::drivers::shell_quote(&word.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

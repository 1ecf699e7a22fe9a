//! The `App` driver: runs a program (a server, a broker, a mock) as part of a test's
//! environment.
//!
//! The environment starts it (after the drivers its context values read), waits until it is
//! ready — a log line, a TCP port, an HTTP response, a file — and stops it at the end,
//! reporting each status change as an event. The program runs in its own process group with
//! its output in files under the driver's runpath, so it can be read while it runs and it
//! never outlives the plan (see [`crate::drivers::terminate_all_process_groups`]).
//!
//! ```ignore
//! use testrig::drivers::App;
//! use testrig::env::{context, DriverSettings};
//!
//! let server = App::new("server", "./target/debug/echo-server")
//!     .args(["--port", "0"])
//!     .ready_on_stdout(r"listening on (?P<host>[^:]+):(?P<port>\d+)");
//! let client = App::new("client", "./target/debug/echo-client")
//!     .arg(context_value("server", "{{host}}:{{port}}"))
//!     .stop_timeout(std::time::Duration::from_secs(1));
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::drivers::log_pump::{LogPipes, LogPump};
use crate::drivers::log_wake::LogWake;
use crate::drivers::process::{GroupChild, describe_exit, format_seconds, poll_interval};
use crate::drivers::{ProbeTarget, RunAs, WaitFor, Waiting};
use crate::env::{
    Attributes, ConfigValue, Driver, DriverCommon, DriverError, DriverSettings, StartContext,
    common_inputs, default_definition,
};
use crate::inputs::{DeclaredInput, program_path};

/// A regex group's text as an attribute: an integer written as such (`4567`, `-3`; not
/// `007` or `+1`, which would not read back the same) becomes a number, anything else stays
/// text.
pub(crate) fn extracted_value(text: &str) -> Value {
    match text.parse::<i64>() {
        Ok(number) if number.to_string() == text => Value::from(number),
        _ => Value::from(text),
    }
}

/// Lines of log shown with an error.
const LOG_TAIL_LINES: usize = 20;

/// A program run as a driver: spawned at start, ready once every readiness condition holds,
/// stopped with SIGTERM (then SIGKILL) to its whole process group.
///
/// Attributes: `pid`, `binary`, `cmd`, `stdout`, `stderr`, `runpath`, plus every named group
/// of the readiness regexes (`(?P<port>\d+)` gives `port`); a group that captured an integer
/// is published as a number, as the mock servers publish theirs (`extracts()` keeps the
/// text).
pub struct App {
    common: DriverCommon,
    binary: ConfigValue,
    args: Vec<ConfigValue>,
    env: Vec<(String, ConfigValue)>,
    working_dir: Option<ConfigValue>,
    readiness: Vec<WaitFor>,
    user: Option<RunAs>,
    state: Mutex<AppState>,
}

#[derive(Default)]
struct AppState {
    run: Option<Arc<Run>>,
    last_context: Option<StartContext>,
}

/// One start of the program, with every setting resolved.
struct Run {
    child: GroupChild,
    started_at: Instant,
    binary: String,
    cmd: String,
    runpath: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
    /// Copies the program's output into `stdout` and `stderr`; none for a program taken
    /// over from an image of the plan that gave it the files themselves.
    pump: Option<LogPump>,
    /// What readiness still waits for, resolved at spawn; taken by the wait.
    waiting: Mutex<Option<Waiting>>,
    extracts: Mutex<BTreeMap<String, String>>,
}

impl Run {
    fn extracts(&self) -> MutexGuard<'_, BTreeMap<String, String>> {
        self.extracts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn log_tail(&self, lines: usize) -> Vec<String> {
        self.sync_logs();
        log_tail_of(&self.stdout, &self.stderr, lines)
    }

    /// Brings the logs up to date with what the program wrote so far.
    fn sync_logs(&self) {
        if let Some(pump) = &self.pump {
            pump.sync(OUTPUT_SYNC_TIMEOUT);
        }
    }
}

/// How often a wait that output, logs and the program's exit wake anyway looks again: a
/// safety net, never the way readiness is seen.
const EVENT_DRIVEN_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How long a reader of the logs waits for the output already written to reach them.
const OUTPUT_SYNC_TIMEOUT: Duration = Duration::from_millis(500);

impl App {
    /// A driver named `name` running `binary` (a name looked up on `PATH`, or a path; a
    /// relative path is taken from the plan's current directory).
    pub fn new(name: impl Into<String>, binary: impl Into<ConfigValue>) -> App {
        App {
            common: DriverCommon::new(name),
            binary: binary.into(),
            args: Vec::new(),
            env: Vec::new(),
            working_dir: None,
            readiness: Vec::new(),
            user: None,
            state: Mutex::new(AppState::default()),
        }
    }

    /// Appends a command-line argument.
    pub fn arg(mut self, arg: impl Into<ConfigValue>) -> App {
        self.args.push(arg.into());
        self
    }

    /// Appends command-line arguments.
    pub fn args<I, V>(mut self, args: I) -> App
    where
        I: IntoIterator<Item = V>,
        V: Into<ConfigValue>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable of the program; it wins over inherited and exported ones.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<ConfigValue>) -> App {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The program's working directory (default: the driver's runpath); a relative path is
    /// taken from the plan's current directory.
    pub fn working_dir(mut self, dir: impl Into<ConfigValue>) -> App {
        self.working_dir = Some(dir.into());
        self
    }

    /// Ready once `condition` holds (and every other condition given); see [`WaitFor`] for
    /// log lines, ports, HTTP, files, probes and their `all`/`any` combinations. Named regex
    /// groups become attributes. An invalid regex is a plan error (exit 2) before anything
    /// starts.
    pub fn ready_when(mut self, condition: WaitFor) -> App {
        self.common.refused.extend(condition.problems());
        self.readiness.push(condition);
        self
    }

    /// Ready once a line of stdout matches `regex` ([`WaitFor::stdout`]).
    pub fn ready_on_stdout(self, regex: &str) -> App {
        self.ready_when(WaitFor::output_line(false, "ready_on_stdout", regex))
    }

    /// Ready once a line of stderr matches `regex` ([`WaitFor::stderr`]).
    pub fn ready_on_stderr(self, regex: &str) -> App {
        self.ready_when(WaitFor::output_line(true, "ready_on_stderr", regex))
    }

    /// Ready once a TCP connection to `host:port` succeeds ([`WaitFor::tcp_port`]).
    pub fn ready_on_tcp_port(
        self,
        host: impl Into<ConfigValue>,
        port: impl Into<ConfigValue>,
    ) -> App {
        self.ready_when(WaitFor::tcp_port(host, port))
    }

    /// Ready once an HTTP GET of `url` (`http://` only) gets a response, whatever its status
    /// ([`WaitFor::http`]).
    pub fn ready_on_http(self, url: impl Into<ConfigValue>) -> App {
        self.ready_when(WaitFor::http(url))
    }

    /// Ready once the file `path` (relative to the working directory) exists
    /// ([`WaitFor::file`]).
    pub fn ready_on_file(self, path: impl Into<ConfigValue>) -> App {
        self.ready_when(WaitFor::file(path))
    }

    /// Runs the program as the user `name` (its primary group, its `HOME`), as a service
    /// that refuses root (postgres) needs. Needs the plan to run as root unless `name` is the
    /// plan's own user; the runpath is handed to that user. A user that does not exist is an
    /// error at start naming it.
    pub fn user(mut self, name: impl Into<String>) -> App {
        self.user.get_or_insert_with(RunAs::default).user = Some(name.into());
        self
    }

    /// Runs the program with the group `name` instead of the user's primary group.
    pub fn group(mut self, name: impl Into<String>) -> App {
        self.user.get_or_insert_with(RunAs::default).group = Some(name.into());
        self
    }

    fn state(&self) -> MutexGuard<'_, AppState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self) -> Option<Arc<Run>> {
        self.state().run.clone()
    }

    /// The pid of the running program (`None` before start and after stop).
    pub fn pid(&self) -> Option<u32> {
        self.run()
            .filter(|run| !run.child.is_stopped())
            .map(|run| run.child.pid())
    }

    /// The values the readiness regexes extracted, by group name.
    pub fn extracts(&self) -> BTreeMap<String, String> {
        self.run()
            .map(|run| run.extracts().clone())
            .unwrap_or_default()
    }

    /// Where the program's stdout goes (known once started).
    pub fn stdout_path(&self) -> Option<PathBuf> {
        // The file holds what the program wrote before this call.
        self.run().map(|run| {
            run.sync_logs();
            run.stdout.clone()
        })
    }

    /// Where the program's stderr goes (known once started).
    pub fn stderr_path(&self) -> Option<PathBuf> {
        self.run().map(|run| {
            run.sync_logs();
            run.stderr.clone()
        })
    }

    /// Stops the program and starts it again with the context of its last start, waiting
    /// until it is ready (within the start timeout). An error of the stop (it had to be
    /// killed) is returned once the program runs again.
    pub fn restart(&self) -> Result<(), DriverError> {
        let Some(mut context) = self.state().last_context.clone() else {
            return Err(DriverError::new(format!(
                "cannot restart app `{}`: it has not been started; start its environment first",
                self.common.name
            )));
        };
        let stopped = self.stop();
        context.deadline = crate::deadline::deadline_after(self.common.start_timeout);
        self.start(&context)?;
        self.wait_ready(&context)?;
        stopped
    }

    fn spawn(&self, context: &StartContext) -> Result<Run, DriverError> {
        let name = &self.common.name;
        let runpath = absolute(&context.runpath);
        std::fs::create_dir_all(&runpath).map_err(|error| {
            DriverError::new(format!(
                "failed to create the runpath `{}` of app `{name}`: {error}",
                runpath.display()
            ))
        })?;

        let mut binary = context.resolve(&self.binary)?;
        // The program runs in its working directory, where a relative path would mean
        // something else than where the plan was started.
        if binary.contains('/') && Path::new(&binary).is_relative() {
            binary = absolute(Path::new(&binary)).display().to_string();
        }
        let args = self
            .args
            .iter()
            .map(|arg| context.resolve(arg))
            .collect::<Result<Vec<_>, _>>()?;
        let env = self
            .env
            .iter()
            .map(|(key, value)| Ok((key.clone(), context.resolve(value)?)))
            .collect::<Result<Vec<_>, DriverError>>()?;
        let working_dir = match &self.working_dir {
            Some(dir) => absolute(Path::new(&context.resolve(dir)?)),
            None => runpath.clone(),
        };
        if !working_dir.is_dir() {
            return Err(DriverError::new(format!(
                "the working directory `{}` of app `{name}` does not exist; create it or change working_dir",
                working_dir.display()
            )));
        }
        let waiting = Waiting::all(
            self.readiness
                .iter()
                .map(|condition| {
                    condition.resolve(context, &working_dir).map_err(|error| {
                        DriverError::new(format!("app `{name}`: {}", error.message))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        );
        let run_as = match &self.user {
            Some(run_as) => Some(run_as.resolve(name)?),
            None => None,
        };

        for (template, file_name) in &self.common.install_files {
            let text = context.scope.render_template(template, file_name)?;
            let path = runpath.join(file_name);
            let written = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&path, text));
            written.map_err(|error| {
                DriverError::new(format!(
                    "failed to write `{}` of app `{name}`: {error}",
                    path.display()
                ))
            })?;
        }

        if let Some(account) = &run_as {
            // The program runs in its working directory; its runpath is handed over when it
            // can reach it (a service may keep its data elsewhere when it cannot).
            account.check_reachable(&working_dir, name)?;
            if account.unreachable_ancestor(&runpath).is_none() {
                account.hand_over(&runpath, name)?;
            }
        }
        let stdout = runpath.join("stdout");
        let stderr = runpath.join("stderr");
        let (pipes, ends) = LogPipes::create(&stdout, &stderr).map_err(|error| {
            DriverError::new(format!(
                "failed to create the logs `{}` and `{}` of app `{name}`: {error}",
                stdout.display(),
                stderr.display()
            ))
        })?;
        let args: Vec<String> = args.into_iter().chain(context.extra_args.clone()).collect();
        let mut command = Command::new(&binary);
        if let Some(account) = &run_as {
            account.apply(&mut command);
        }
        command
            .args(&args)
            .current_dir(&working_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(ends.stdout))
            .stderr(Stdio::from(ends.stderr))
            .envs(
                context
                    .exported_variables
                    .iter()
                    .map(|(key, value)| (key, value)),
            )
            .envs(env.iter().map(|(key, value)| (key, value)))
            .envs(context.extra_env.iter().map(|(key, value)| (key, value)));
        let child = GroupChild::spawn(&mut command).map_err(|error| {
            let hint = match error.kind() {
                std::io::ErrorKind::NotFound => "; is it built / on PATH?",
                std::io::ErrorKind::PermissionDenied => "; is it executable?",
                _ => "",
            };
            DriverError::new(format!(
                "failed to start `{binary}`: {}{hint}",
                os_error_text(&error)
            ))
            .with_source(error)
        })?;

        let cmd = std::iter::once(&binary)
            .chain(&args)
            .map(|word| shell_quote(word))
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Run {
            child,
            started_at: Instant::now(),
            binary,
            cmd,
            runpath,
            stdout,
            stderr,
            pump: Some(LogPump::new(pipes)),
            waiting: Mutex::new(Some(waiting)),
            extracts: Mutex::new(BTreeMap::new()),
        })
    }
}

impl App {
    /// Waits until the readiness conditions hold, copying the program's output from
    /// `pipes` into its logs as it arrives.
    fn wait_for_readiness(
        &self,
        run: &Run,
        context: &StartContext,
        pipes: &mut Option<LogPipes>,
    ) -> Result<(), DriverError> {
        let Some(mut waiting) = run
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return Ok(());
        };
        if waiting.is_empty() {
            return Ok(());
        }
        let mut attributes = Attributes::new();
        attributes.insert("pid".into(), Value::from(run.child.pid()));
        let target = ProbeTarget {
            stdout: &run.stdout,
            stderr: &run.stderr,
            extracts: &run.extracts,
            attributes: &attributes,
            deadline: context.deadline,
        };
        // When only log lines can make it ready, nothing needs checking at intervals: the
        // wait copies the output itself and sleeps until output, a watched log, the
        // program's exit or the deadline. A thread that wakes every few milliseconds is
        // woken late — about a millisecond on a virtual machine — when the line it waits
        // for comes. A wait that probes (TCP, HTTP, a closure) leaves the copying to the
        // pump's thread: a probe may block for a while, and a program that fills its pipe
        // meanwhile would stop.
        let exit = rustix::process::Pid::from_raw(run.child.pid() as i32).and_then(|pid| {
            rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
        });
        let mut event_driven = pipes.is_some() && exit.is_some() && waiting.only_logs();
        if !event_driven && let Some(pump) = &run.pump {
            pump.in_background(pipes.take());
        }
        let mut logs = Vec::new();
        waiting.logs(&target, &mut logs);
        // The program's own output wakes the wait through its pipes.
        if pipes.is_some() {
            logs.retain(|log| *log != run.stdout && *log != run.stderr);
        }
        let wake = LogWake::watching(&logs);
        event_driven &= logs.is_empty() || wake.is_watching();
        let started = Instant::now();
        loop {
            if let Some(pipes) = pipes.as_mut() {
                pipes.drain();
            }
            if waiting.check(&target) {
                return Ok(());
            }
            if run.child.is_stopped() {
                return Err(DriverError::new("was stopped before it was ready")
                    .with_log_tail(run.log_tail(LOG_TAIL_LINES)));
            }
            if let Some(status) = run.child.try_status() {
                // Its last words may be the line we wait for: look once more now that the
                // logs are complete.
                if let Some(pipes) = pipes.as_mut() {
                    pipes.drain();
                }
                if waiting.check(&target) {
                    return Ok(());
                }
                return Err(DriverError::new(format!(
                    "{} before it was ready",
                    describe_exit(status)
                ))
                .with_log_tail(run.log_tail(LOG_TAIL_LINES)));
            }
            let now = Instant::now();
            if now >= context.deadline {
                // The limit as configured: the time since the spawn is a little less, by
                // however long the spawn took on a busy machine.
                return Err(DriverError::new(format!(
                    "not ready after {}: still waiting for {}; see its logs below, or raise start_timeout if it needs longer",
                    format_seconds(self.common.start_timeout),
                    waiting.pending().join(", ")
                ))
                .with_log_tail(run.log_tail(LOG_TAIL_LINES)));
            }
            let interval = if event_driven {
                EVENT_DRIVEN_CHECK_INTERVAL
            } else {
                poll_interval(started.elapsed())
            };
            let timeout = interval.min(context.deadline - now);
            match pipes.as_ref() {
                Some(pipes) => {
                    let mut wakers = pipes.pipes();
                    wakers.extend(exit.as_ref().map(AsFd::as_fd));
                    wake.wait_or_readable(timeout, &wakers);
                }
                None => wake.wait(timeout),
            }
        }
    }
}

impl DriverSettings for App {
    fn common_mut(&mut self) -> &mut DriverCommon {
        &mut self.common
    }
}

impl Driver for App {
    fn common(&self) -> &DriverCommon {
        &self.common
    }

    fn inputs(&self) -> Vec<DeclaredInput> {
        let mut inputs = common_inputs(&self.common);
        // A program named by a context value is only known at start; one named literally
        // is an input: rebuilding or upgrading it reruns the test.
        if let ConfigValue::Literal(binary) = &self.binary
            && let Some(path) = program_path(binary)
        {
            inputs.push(DeclaredInput::File(path));
        }
        inputs
    }

    fn kind(&self) -> &'static str {
        "App"
    }

    fn context_values(&self) -> Vec<&ConfigValue> {
        let mut values = vec![&self.binary];
        values.extend(&self.args);
        values.extend(self.env.iter().map(|(_, value)| value));
        values.extend(&self.working_dir);
        values.extend(self.readiness.iter().flat_map(WaitFor::context_values));
        values
    }

    fn start(&self, context: &StartContext) -> Result<(), DriverError> {
        if let Some(run) = self.run()
            && !run.child.is_stopped()
            && run.child.try_status().is_none()
        {
            return Err(DriverError::new(format!(
                "app `{}` is already running (pid {}); stop it before starting it again",
                self.common.name,
                run.child.pid()
            )));
        }
        let run = self.spawn(context)?;
        let mut state = self.state();
        // A previous run that exited on its own is dropped here, which kills whatever of its
        // process group is left.
        state.run = Some(Arc::new(run));
        state.last_context = Some(context.clone());
        Ok(())
    }

    fn wait_ready(&self, context: &StartContext) -> Result<(), DriverError> {
        let Some(run) = self.run() else {
            return Err(DriverError::new(format!(
                "app `{}` was not started before waiting for it",
                self.common.name
            )));
        };
        // The wait copies the output itself, woken as it arrives; whatever its outcome, the
        // pump's own thread copies from then on.
        let mut pipes = run.pump.as_ref().and_then(LogPump::take);
        let waited = self.wait_for_readiness(&run, context, &mut pipes);
        if let Some(pump) = &run.pump {
            pump.in_background(pipes);
        }
        waited
    }

    fn stop(&self) -> Result<(), DriverError> {
        let Some(run) = self.run() else {
            return Ok(());
        };
        if run.child.is_stopped() {
            return Ok(());
        }
        // Output nobody copies yet (its readiness was never waited for) still reaches the
        // logs, last words included.
        if let Some(pump) = &run.pump {
            pump.in_background(None);
        }
        let outcome = run.child.stop(self.common.stop_timeout);
        if outcome.killed {
            return Err(DriverError::new(format!(
                "did not stop within {} of SIGTERM; killed (raise stop_timeout if it needs longer to shut down)",
                format_seconds(self.common.stop_timeout)
            ))
            .with_log_tail(run.log_tail(LOG_TAIL_LINES)));
        }
        Ok(())
    }

    fn attributes(&self) -> Attributes {
        let Some(run) = self.run() else {
            return Attributes::new();
        };
        let mut attributes = Attributes::new();
        for (name, value) in run.extracts().iter() {
            attributes.insert(name.clone(), extracted_value(value));
        }
        // Built-in attributes win over a regex group of the same name.
        attributes.insert("pid".into(), Value::from(run.child.pid()));
        attributes.insert("binary".into(), Value::from(run.binary.as_str()));
        attributes.insert("cmd".into(), Value::from(run.cmd.as_str()));
        attributes.insert(
            "stdout".into(),
            Value::from(run.stdout.display().to_string()),
        );
        attributes.insert(
            "stderr".into(),
            Value::from(run.stderr.display().to_string()),
        );
        attributes.insert(
            "runpath".into(),
            Value::from(run.runpath.display().to_string()),
        );
        attributes
    }

    fn failure(&self) -> Option<DriverError> {
        let run = self.run()?;
        if run.child.is_stopped() {
            return None;
        }
        let status = run.child.try_status()?;
        Some(
            DriverError::new(format!("{} while running", describe_exit(status)))
                .with_log_tail(run.log_tail(LOG_TAIL_LINES)),
        )
    }

    fn log_tail(&self, lines: usize) -> Vec<String> {
        self.run()
            .map(|run| run.log_tail(lines))
            .unwrap_or_default()
    }

    fn definition(&self) -> String {
        format!(
            "{} binary={:?} args={:?} env={:?} working_dir={:?} ready={:?} user={:?}",
            default_definition(self),
            self.binary,
            self.args,
            self.env,
            self.working_dir,
            self.readiness,
            self.user,
        )
    }

    fn handoff_state(&self) -> Option<Value> {
        let run = self.run()?;
        if run.child.is_stopped() || run.child.try_status().is_some() {
            return None;
        }
        Some(serde_json::json!({
            "pid": run.child.pid(),
            "binary": run.binary,
            "cmd": run.cmd,
            "runpath": run.runpath,
            "stdout": run.stdout,
            "stderr": run.stderr,
            "pipes": run.pump.as_ref().map(LogPump::hand_off),
            "extracts": *run.extracts(),
            "uptime_seconds": run.started_at.elapsed().as_secs_f64(),
        }))
    }

    /// The process is still a child of this PID after `exec`: supervise it again.
    fn reads_exported_variables(&self) -> bool {
        true
    }

    fn adopt(&self, state: &Value, context: &StartContext) -> Result<(), DriverError> {
        let name = &self.common.name;
        let field = |key: &str| {
            state[key].as_str().map(str::to_string).ok_or_else(|| {
                DriverError::new(format!(
                    "cannot take over app `{name}`: its hand-off has no `{key}`"
                ))
            })
        };
        let pid = state["pid"]
            .as_u64()
            .and_then(|pid| u32::try_from(pid).ok())
            .ok_or_else(|| {
                DriverError::new(format!(
                    "cannot take over app `{name}`: its hand-off has no `pid`"
                ))
            })?;
        let (binary, cmd) = (field("binary")?, field("cmd")?);
        let (runpath, stdout, stderr) = (field("runpath")?, field("stdout")?, field("stderr")?);
        let extracts: BTreeMap<String, String> = serde_json::from_value(state["extracts"].clone())
            .map_err(|error| {
                DriverError::new(format!(
                    "cannot take over app `{name}`: its hand-off has no valid `extracts`: {error}"
                ))
            })?;
        // A hand-off file is read back: a negative or huge uptime is treated as none.
        let uptime = state["uptime_seconds"]
            .as_f64()
            .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
            .unwrap_or_default();
        let child = GroupChild::adopt(pid)
            .map_err(|error| DriverError::new(format!("cannot take over app `{name}`: {error}")))?;
        let pump = match LogPump::handed_over(state) {
            // An image that gave the program the log files themselves.
            None => None,
            Some(pipes) => match LogPump::adopt(&pipes, Path::new(&stdout), Path::new(&stderr)) {
                Some(pump) => Some(pump),
                None => {
                    // Nobody would read its output: it would stop once a pipe is full.
                    // Dropping the adopted child stops its group.
                    drop(child);
                    return Err(DriverError::new(format!(
                        "cannot take over app `{name}`: its output pipes were not handed over; it was stopped"
                    )));
                }
            },
        };
        let run = Run {
            child,
            started_at: Instant::now()
                .checked_sub(uptime)
                .unwrap_or_else(Instant::now),
            binary,
            cmd,
            runpath: PathBuf::from(runpath),
            stdout: PathBuf::from(stdout),
            stderr: PathBuf::from(stderr),
            pump,
            // Readiness was reached by the previous image; nothing is waited for again.
            waiting: Mutex::new(None),
            extracts: Mutex::new(extracts),
        };
        let mut app = self.state();
        app.run = Some(Arc::new(run));
        app.last_context = Some(context.clone());
        drop(app);
        if let Some(error) = self.failure() {
            // Exited between the hand-off and now: nothing to supervise, say why.
            let _ = self.stop();
            return Err(DriverError::new(format!(
                "cannot take over app `{name}`: {}",
                error.message
            ))
            .with_log_tail(error.log_tail));
        }
        Ok(())
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// "No such file or directory" without the "(os error 2)" that means nothing to a reader.
fn os_error_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(index) => text[..index].to_string(),
        None => text,
    }
}

/// A word as a POSIX shell would need it, so `cmd` can be pasted into a terminal.
pub(crate) fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The last lines of both logs, labelled, at most `lines` of them: stdout's then stderr's,
/// sharing the budget when both have more than half of it.
pub(crate) fn log_tail_of(stdout: &Path, stderr: &Path, lines: usize) -> Vec<String> {
    let out = last_lines(stdout, lines);
    let err = last_lines(stderr, lines);
    let err_take = err.len().min(lines - out.len().min(lines / 2));
    let out_take = out.len().min(lines - err_take);
    let out = out[out.len() - out_take..]
        .iter()
        .map(|line| format!("[stdout] {line}"));
    let err = err[err.len() - err_take..]
        .iter()
        .map(|line| format!("[stderr] {line}"));
    out.chain(err).collect()
}

/// The last `lines` lines of a file, reading only its end (logs can be large).
fn last_lines(path: &Path, lines: usize) -> Vec<String> {
    const WINDOW: u64 = 64 * 1024;
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let length = file.metadata().map(|metadata| metadata.len()).unwrap_or(0);
    let start = length.saturating_sub(WINDOW);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut all: Vec<&str> = text.lines().collect();
    if start > 0 && !all.is_empty() {
        // The window may begin mid-line.
        all.remove(0);
    }
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| line.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::process::{process_running, process_state, registered_process_groups};
    use crate::env::{ContextScope, context as context_value};
    use serde_json::json;
    use std::io::Write;
    use std::net::TcpListener;

    /// An app started by a test: stopped (and its runpath removed unless the test failed)
    /// however the test ends.
    struct Started {
        app: App,
        runpath: PathBuf,
    }

    impl std::ops::Deref for Started {
        type Target = App;
        fn deref(&self) -> &App {
            &self.app
        }
    }

    impl Drop for Started {
        fn drop(&mut self) {
            let _ = self.app.stop();
            if !std::thread::panicking() {
                let _ = std::fs::remove_dir_all(&self.runpath);
            }
        }
    }

    fn start_context(test: &str) -> StartContext {
        let runpath =
            std::env::temp_dir().join(format!("testrig-app-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&runpath);
        StartContext::new(runpath, Duration::from_secs(5))
    }

    fn sh(name: &str, script: &str) -> App {
        App::new(name, "/bin/sh").arg("-c").arg(script)
    }

    /// Starts the app; the guard stops it even when start or readiness fails.
    fn start(app: App, context: &StartContext) -> (Started, Result<(), DriverError>) {
        let started = Started {
            app,
            runpath: context.runpath.clone(),
        };
        let result = started
            .app
            .start(context)
            .and_then(|()| started.app.wait_ready(context));
        (started, result)
    }

    fn started(app: App, context: &StartContext) -> Started {
        let (started, result) = start(app, context);
        if let Err(error) = result {
            panic!("app did not start: {error}");
        }
        started
    }

    fn server_scope() -> ContextScope {
        let mut scope = ContextScope::new();
        let mut attributes = Attributes::new();
        attributes.insert("host".into(), json!("127.0.0.1"));
        attributes.insert("port".into(), json!(4242));
        scope.insert("server", attributes);
        scope
    }

    fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
        let started = Instant::now();
        while !condition() {
            assert!(started.elapsed() < timeout, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn stdout_of(app: &App) -> String {
        std::fs::read_to_string(app.stdout_path().unwrap()).unwrap()
    }

    #[test]
    fn a_stdout_line_makes_it_ready_and_its_groups_become_attributes() {
        let context = start_context("stdout");
        let script = "echo starting; sleep 0.05; echo listening on 127.0.0.1:4567; exec sleep 30";
        let app = started(
            sh("server", script).ready_on_stdout(r"listening on (?P<host>[^:]+):(?P<port>\d+)"),
            &context,
        );
        let attributes = app.attributes();
        assert_eq!(attributes["host"], json!("127.0.0.1"));
        assert_eq!(attributes["pid"], json!(app.pid().unwrap()));
        assert_eq!(attributes["binary"], json!("/bin/sh"));
        assert_eq!(attributes["cmd"], json!(format!("/bin/sh -c '{script}'")));
        let runpath = absolute(&context.runpath);
        assert_eq!(attributes["runpath"], json!(runpath.display().to_string()));
        assert_eq!(
            attributes["stdout"],
            json!(runpath.join("stdout").display().to_string())
        );
        assert_eq!(
            attributes["stderr"],
            json!(runpath.join("stderr").display().to_string())
        );
        assert_eq!(app.extracts().get("port").map(String::as_str), Some("4567"));
        assert_eq!(
            attributes["port"],
            json!(4567),
            "a captured integer is a number"
        );
        assert!(registered_process_groups().contains(&(app.pid().unwrap() as i32)));
        assert!(stdout_of(&app).starts_with("starting\n"));
    }

    #[test]
    fn captured_integers_are_numbers_and_other_text_stays_text() {
        assert_eq!(extracted_value("46075"), json!(46075));
        assert_eq!(extracted_value("-3"), json!(-3));
        assert_eq!(extracted_value("007"), json!("007"));
        assert_eq!(extracted_value("+1"), json!("+1"));
        assert_eq!(extracted_value("1.5"), json!("1.5"));
        assert_eq!(
            extracted_value("99999999999999999999"),
            json!("99999999999999999999")
        );
    }

    #[test]
    fn a_stderr_line_makes_it_ready() {
        let context = start_context("stderr");
        let app = started(
            sh(
                "broker",
                "echo noise; echo 'broker up, id=7' >&2; exec sleep 30",
            )
            .ready_on_stderr(r"up, id=(?P<id>\d+)"),
            &context,
        );
        assert_eq!(
            app.extracts(),
            BTreeMap::from([("id".to_string(), "7".to_string())])
        );
    }

    #[test]
    fn an_open_tcp_port_makes_it_ready() {
        let reservation = crate::drivers::ports::port_without_server();
        let port = reservation.port();
        let (listening, listener) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let _ = listening.send(TcpListener::bind(("127.0.0.1", port)));
        });
        let context = start_context("tcp");
        let started_at = Instant::now();
        let _app = started(
            sh("tcp", "exec sleep 30").ready_on_tcp_port("127.0.0.1", port),
            &context,
        );
        assert!(
            started_at.elapsed() >= Duration::from_millis(100),
            "ready before the port opened"
        );
        listener.recv().unwrap().unwrap();
    }

    #[test]
    fn an_http_response_makes_it_ready_whatever_its_status() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let count = stream.read(&mut request).unwrap();
            stream
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            String::from_utf8_lossy(&request[..count]).into_owned()
        });
        let context = start_context("http");
        let _app = started(
            sh("web", "exec sleep 30").ready_on_http(format!("http://127.0.0.1:{port}/health")),
            &context,
        );
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /health HTTP/1.1\r\n"), "{request}");
    }

    #[test]
    fn a_file_makes_it_ready() {
        let context = start_context("file");
        let app = started(
            sh("files", "sleep 0.05; touch ready.flag; exec sleep 30").ready_on_file("ready.flag"),
            &context,
        );
        assert!(absolute(&context.runpath).join("ready.flag").exists());
        assert!(app.pid().is_some());
    }

    #[test]
    fn no_condition_means_ready_once_spawned() {
        let context = start_context("no-condition");
        let app = started(sh("plain", "exec sleep 30"), &context);
        assert!(app.pid().is_some());
        assert!(app.failure().is_none());
    }

    #[test]
    fn exiting_before_ready_is_reported_with_status_and_log_tail() {
        let context = start_context("early-exit");
        let (app, result) = start(
            sh("crashy", "echo boom; echo bad config >&2; exit 3").ready_on_stdout("never"),
            &context,
        );
        let error = result.unwrap_err();
        assert_eq!(error.message, "exited with status 3 before it was ready");
        assert_eq!(error.log_tail, ["[stdout] boom", "[stderr] bad config"]);
        assert!(app.stop().is_ok(), "stopping an exited app is fine");
    }

    #[test]
    fn not_ready_by_the_deadline_says_what_it_waited_for() {
        let mut context = start_context("timeout");
        context.deadline = Instant::now() + Duration::from_millis(300);
        let (_app, result) = start(
            sh("slow", "echo still booting; exec sleep 30")
                .ready_on_stdout("ready")
                .ready_on_file("never.flag")
                .start_timeout(Duration::from_millis(300)),
            &context,
        );
        let error = result.unwrap_err();
        assert!(
            error.message.starts_with("not ready after 0.3"),
            "{}",
            error.message
        );
        assert!(
            error
                .message
                .contains("still waiting for a stdout line matching `ready`, file `"),
            "{}",
            error.message
        );
        assert!(
            error.message.contains("never.flag` to exist"),
            "{}",
            error.message
        );
        assert_eq!(error.log_tail, ["[stdout] still booting"]);
    }

    #[test]
    fn a_binary_that_cannot_start_is_named() {
        let context = start_context("missing-binary");
        let (_app, result) = start(App::new("ghost", "/nonexistent/testrig-ghost"), &context);
        let error = result.unwrap_err();
        assert_eq!(
            error.message,
            "failed to start `/nonexistent/testrig-ghost`: No such file or directory; is it built / on PATH?"
        );
        // The cause is kept, for a caller that needs its kind.
        let source = std::error::Error::source(&error).expect("the spawn's error");
        assert_eq!(
            source
                .downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind),
            Some(std::io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn context_values_resolve_in_args_and_env_and_exported_variables_reach_the_program() {
        let mut context = start_context("context");
        context.scope = server_scope();
        context.exported_variables = vec![
            ("DRIVER_SERVER_ATTR_PORT".into(), "4242".into()),
            ("DRIVER_SERVER_ATTR_HOST".into(), "127.0.0.1".into()),
        ];
        let script = concat!(
            r#"echo "addr=$0 port=$SERVER_PORT "#,
            r#"exported=$DRIVER_SERVER_ATTR_PORT host=$DRIVER_SERVER_ATTR_HOST"; exec sleep 30"#
        );
        let app = sh("client", script)
            .arg(context_value("server", "{{host}}:{{port}}"))
            .env("SERVER_PORT", context_value("server", "{{port}}"))
            .env("DRIVER_SERVER_ATTR_HOST", "overridden")
            .ready_on_stdout("addr=");
        assert_eq!(
            app.context_values()
                .iter()
                .filter(|value| value.referenced_driver() == Some("server"))
                .count(),
            2
        );
        let app = started(app, &context);
        assert_eq!(
            stdout_of(&app),
            "addr=127.0.0.1:4242 port=4242 exported=4242 host=overridden\n"
        );
        assert!(
            app.attributes()["cmd"]
                .as_str()
                .unwrap()
                .ends_with(" 127.0.0.1:4242")
        );
    }

    #[test]
    fn a_missing_context_attribute_fails_the_start() {
        let mut context = start_context("bad-context");
        context.scope = server_scope();
        let (app, result) = start(
            sh("client", "exit 0").arg(context_value("server", "{{prot}}")),
            &context,
        );
        assert!(result.unwrap_err().message.contains("`{{prot}}`"));
        assert!(app.pid().is_none(), "nothing was spawned");
    }

    #[test]
    fn install_files_are_rendered_into_the_runpath() {
        let mut context = start_context("install");
        context.scope = server_scope();
        let app = started(
            sh("configured", "cat etc/app.conf; exec sleep 30")
                .install_file("port = {{ context[\"server\"].port }}\n", "etc/app.conf")
                .ready_on_stdout("^port = 4242$"),
            &context,
        );
        assert_eq!(
            std::fs::read_to_string(absolute(&context.runpath).join("etc/app.conf")).unwrap(),
            "port = 4242\n"
        );
        drop(app);

        let context = start_context("install-error");
        let (_app, result) = start(
            sh("configured", "exit 0").install_file("{{ context.db.port }}", "db.conf"),
            &context,
        );
        assert!(
            result
                .unwrap_err()
                .message
                .starts_with("failed to render db.conf")
        );
    }

    #[test]
    fn an_app_ignoring_sigterm_is_killed_after_the_stop_timeout_and_reported() {
        let context = start_context("stubborn");
        let app = started(
            sh("stubborn", "trap '' TERM; echo ready; sleep 30")
                .ready_on_stdout("ready")
                .stop_timeout(Duration::from_millis(200)),
            &context,
        );
        let pid = app.pid().unwrap();
        let started_at = Instant::now();
        let error = app.stop().unwrap_err();
        assert!(started_at.elapsed() >= Duration::from_millis(200));
        assert!(
            error
                .message
                .starts_with("did not stop within 0.2s of SIGTERM; killed"),
            "{}",
            error.message
        );
        assert_eq!(error.log_tail, ["[stdout] ready"]);
        assert!(process_state(pid).is_none(), "reaped, not a zombie");
        assert!(app.stop().is_ok(), "a second stop has nothing to do");
    }

    #[test]
    fn stop_leaves_neither_the_program_nor_its_children() {
        let context = start_context("grandchild");
        let app = started(
            sh("forking", "sleep 300 & echo \"child $!\"; wait")
                .ready_on_stdout(r"child (?P<child>\d+)"),
            &context,
        );
        let pid = app.pid().unwrap();
        let grandchild: u32 = app.extracts()["child"].parse().unwrap();
        assert!(process_running(grandchild));
        let started_at = Instant::now();
        app.stop().unwrap();
        assert!(started_at.elapsed() < Duration::from_secs(1));
        assert!(process_state(pid).is_none(), "the program is reaped");
        // Reparented to init, which reaps it (or, in some containers, leaves a zombie).
        assert!(!process_running(grandchild));
        assert!(!registered_process_groups().contains(&(pid as i32)));
        assert!(app.pid().is_none());
    }

    #[test]
    fn a_child_outliving_the_program_is_killed_too() {
        let context = start_context("orphan");
        let app = started(
            sh(
                "leaving",
                r#"sh -c 'trap "" TERM; echo "child $$"; exec sleep 300' & wait"#,
            )
            .ready_on_stdout(r"child (?P<child>\d+)")
            .stop_timeout(Duration::from_millis(150)),
            &context,
        );
        let grandchild: u32 = app.extracts()["child"].parse().unwrap();
        assert!(process_running(grandchild));
        let error = app.stop().unwrap_err();
        assert!(
            error.message.starts_with("did not stop within 0.15s"),
            "{}",
            error.message
        );
        assert!(!process_running(grandchild));
    }

    #[test]
    fn the_logs_hold_what_the_program_wrote_before_it_answered() {
        let context = start_context("log-sync");
        let answered = context.runpath.join("answered");
        // 200 KiB (more than a pipe holds) and a last line, then the "answer": a file.
        let script = format!(
            "echo ready; head -c 200000 /dev/zero | tr '\\0' x; echo; echo last line; \
             echo oops >&2; touch {}; exec sleep 30",
            answered.display()
        );
        let (app, result) = start(sh("chatty", &script).ready_on_stdout("ready"), &context);
        result.unwrap();
        wait_until("the answer", Duration::from_secs(5), || answered.exists());
        let stdout = std::fs::read_to_string(app.stdout_path().unwrap()).unwrap();
        assert!(
            stdout.ends_with("last line\n"),
            "{}",
            &stdout[stdout.len() - 20..]
        );
        assert_eq!(
            stdout.len(),
            "ready\n".len() + 200_000 + 1 + "last line\n".len()
        );
        assert_eq!(
            std::fs::read_to_string(app.stderr_path().unwrap()).unwrap(),
            "oops\n"
        );
        assert!(app.log_tail(3).iter().any(|line| line == "[stderr] oops"));
    }

    #[test]
    fn output_of_an_app_whose_readiness_probes_still_reaches_its_logs() {
        // A TCP probe that never succeeds: the pump copies while the wait probes, so the
        // program is never stopped by a full pipe and its lines reach the timeout's tail.
        let context = StartContext::new(
            std::env::temp_dir().join(format!("testrig-app-{}-probing", std::process::id())),
            Duration::from_millis(800),
        );
        let script =
            "head -c 300000 /dev/zero | tr '\\0' y; echo; echo done writing; exec sleep 30";
        let (_app, result) = start(
            sh("probing", script).ready_on_tcp_port("127.0.0.1", "1"),
            &context,
        );
        let error = result.unwrap_err();
        assert!(
            error
                .log_tail
                .iter()
                .any(|line| line.contains("done writing")),
            "{:?}",
            error.log_tail
        );
    }

    #[test]
    fn a_running_app_is_taken_over_by_the_next_image_and_still_supervised() {
        let context = start_context("adopt");
        let script = "echo ready port=4321; exec sleep 30";
        let old = App::new("server", "/bin/sh")
            .arg("-c")
            .arg(script)
            .ready_on_stdout(r"port=(?P<port>\d+)");
        old.start(&context).unwrap();
        old.wait_ready(&context).unwrap();
        let state = old.handoff_state().expect("a running app hands over");
        let attributes = old.attributes();
        let definition = old.definition();
        let pid = old.pid().unwrap();
        // The old image goes away by `exec`: nothing of it runs, its process stays.
        std::mem::forget(old);

        // The guard stops whatever the new App supervises when the test ends.
        let new = Started {
            app: App::new("server", "/bin/sh")
                .arg("-c")
                .arg(script)
                .ready_on_stdout(r"port=(?P<port>\d+)"),
            runpath: context.runpath.clone(),
        };
        assert_eq!(new.definition(), definition);
        new.adopt(&state, &context).unwrap();
        assert_eq!(new.pid(), Some(pid));
        assert_eq!(new.attributes(), attributes);
        assert!(new.failure().is_none());
        assert!(
            new.log_tail(5)
                .iter()
                .any(|line| line.contains("ready port=4321"))
        );
        new.stop().unwrap();
        assert!(!process_running(pid), "stopped after the take-over");

        // Gone meanwhile, or a hand-off that lacks what is needed: an error, nothing running.
        let error = new.adopt(&state, &context).unwrap_err();
        assert!(
            error.message.contains("cannot take over app `server`"),
            "{error}"
        );
        let error = new.adopt(&json!({ "pid": 1 }), &context).unwrap_err();
        assert!(error.message.contains("has no `binary`"), "{error}");
        assert_ne!(
            sh("server", "exec sleep 1").definition(),
            definition,
            "another command is another definition"
        );
    }

    #[test]
    fn an_app_that_exited_before_the_take_over_is_an_error_and_leaves_nothing_behind() {
        let context = start_context("adopt-exited");
        // The leader exits at once and leaves a grandchild in its group.
        let script = "sleep 30 & echo ready child=$!; sleep 0.2; exit 5";
        let old = sh("server", script).ready_on_stdout(r"child=(?P<child>\d+)");
        old.start(&context).unwrap();
        old.wait_ready(&context).unwrap();
        let state = old.handoff_state().expect("a running app hands over");
        let grandchild = old.attributes()["child"].as_u64().unwrap() as u32;
        std::mem::forget(old);
        let leader = state["pid"].as_u64().unwrap() as u32;
        wait_until("the leader's exit", Duration::from_secs(5), || {
            matches!(process_state(leader), Some(('Z', _)))
        });

        let new = sh("server", script).ready_on_stdout(r"child=(?P<child>\d+)");
        let error = new.adopt(&state, &context).unwrap_err();
        assert!(
            error.message.contains("cannot take over app `server`") && error.message.contains('5'),
            "{error}"
        );
        assert!(
            !process_running(grandchild),
            "the rest of its group is killed"
        );
        assert!(!process_running(leader), "the leader is reaped");
    }

    #[test]
    fn failure_reports_a_program_that_exited_on_its_own() {
        let context = start_context("failure");
        let app = started(
            sh("short-lived", "echo ready; sleep 0.1; echo bye >&2; exit 4")
                .ready_on_stdout("ready"),
            &context,
        );
        wait_until("the exit", Duration::from_secs(5), || {
            app.failure().is_some()
        });
        let error = app.failure().unwrap();
        assert_eq!(error.message, "exited with status 4 while running");
        assert_eq!(error.log_tail, ["[stdout] ready", "[stderr] bye"]);
        app.stop().unwrap();
        assert!(app.failure().is_none(), "a stopped app has not failed");
    }

    #[test]
    fn restart_runs_a_new_process_and_waits_until_it_is_ready() {
        let context = start_context("restart");
        let app = started(
            sh("restartable", "echo \"ready $$\"; exec sleep 30")
                .ready_on_stdout(r"ready (?P<shell>\d+)"),
            &context,
        );
        let first = app.pid().unwrap();
        app.restart().unwrap();
        let second = app.pid().unwrap();
        assert_ne!(first, second);
        assert!(process_state(first).is_none());
        assert_eq!(app.extracts()["shell"], second.to_string());
        assert_eq!(stdout_of(&app), format!("ready {second}\n"));
        assert!(App::new("never", "/bin/true").restart().is_err());
    }

    #[test]
    fn stopping_an_app_that_never_started_is_fine() {
        let app = App::new("idle", "/bin/true");
        assert!(app.stop().is_ok());
        assert!(app.failure().is_none());
        assert!(app.attributes().is_empty());
        assert!(app.log_tail(5).is_empty());
    }

    #[test]
    fn log_tails_share_the_budget_between_stdout_and_stderr() {
        let dir = std::env::temp_dir().join(format!("testrig-app-{}-tail", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (out, err) = (dir.join("stdout"), dir.join("stderr"));
        let numbered = |prefix: &str, count: usize| {
            (1..=count)
                .map(|n| format!("{prefix}{n}\n"))
                .collect::<String>()
        };
        std::fs::write(&out, numbered("o", 30)).unwrap();
        std::fs::write(&err, numbered("e", 3)).unwrap();
        let tail = log_tail_of(&out, &err, 10);
        assert_eq!(tail.len(), 10);
        assert_eq!(tail[0], "[stdout] o24");
        assert_eq!(tail[9], "[stderr] e3");
        std::fs::write(&err, numbered("e", 30)).unwrap();
        let tail = log_tail_of(&out, &err, 10);
        assert_eq!(
            tail.iter()
                .filter(|line| line.starts_with("[stdout]"))
                .count(),
            5
        );
        assert_eq!(tail[5], "[stderr] e26");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn words_are_quoted_as_a_shell_needs() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("--port=80"), "--port=80");
    }
}

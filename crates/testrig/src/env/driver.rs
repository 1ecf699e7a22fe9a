//! The driver model: a resource with a life cycle (start, wait until ready, stop) and
//! attributes it publishes once started.
//!
//! The environment calls the phases in order — pre-start hook, [`Driver::start`],
//! [`Driver::wait_ready`], post-start hook; pre-stop hook, [`Driver::stop`], post-stop hook —
//! and reports every status change as an event. Drivers are shared (`Arc`) between the
//! environment and testcases, so their methods take `&self` and keep state behind locks.

use std::any::Any;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::env::connections::DriverSockets;
use crate::env::context::{ConfigValue, ContextScope};
use crate::env::hooks::{DriverHook, HookContext, HookResult};
use crate::inputs::DeclaredInput;

/// What a driver publishes once started: host, port, pid, log paths, extracted values.
pub type Attributes = BTreeMap<String, serde_json::Value>;

/// Why a driver could not start, crashed, or could not stop.
///
/// The message already says what the underlying error (if any) said; [`source`] gives that
/// error itself, for a caller that needs its kind (an `io::ErrorKind`, a SQL error code).
///
/// [`source`]: std::error::Error::source
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DriverError {
    /// What went wrong, as a lowercase fragment ("exited with status 1 before it was ready").
    pub message: String,
    /// The last lines of the driver's logs, when it has any.
    pub log_tail: Vec<String>,
    /// The error that caused it, when there is one.
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl PartialEq for DriverError {
    /// Two errors are equal when they say the same; their sources are not compared.
    fn eq(&self, other: &DriverError) -> bool {
        self.message == other.message && self.log_tail == other.log_tail
    }
}

impl Eq for DriverError {}

impl DriverError {
    /// An error without log lines.
    pub fn new(message: impl Into<String>) -> DriverError {
        DriverError {
            message: message.into(),
            log_tail: Vec::new(),
            source: None,
        }
    }

    /// Adds the last lines of the driver's logs.
    pub fn with_log_tail(mut self, log_tail: Vec<String>) -> DriverError {
        self.log_tail = log_tail;
        self
    }

    /// Keeps the error that caused it (its text belongs in the message too).
    pub fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> DriverError {
        self.source = Some(Arc::new(source));
        self
    }
}

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if !self.log_tail.is_empty() {
            write!(f, "\nlast log lines:\n  {}", self.log_tail.join("\n  "))?;
        }
        Ok(())
    }
}

impl std::error::Error for DriverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// What a driver gets while it starts: its runpath, the started drivers' attributes (to
/// resolve context values and render templates) and the variables to export to processes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StartContext {
    /// The driver's own folder: logs, rendered configs, files.
    pub runpath: PathBuf,
    /// Attributes of the drivers started so far, by name.
    pub scope: ContextScope,
    /// `DRIVER_<NAME>_ATTR_<ATTR>` for every started driver, for processes the driver starts.
    pub exported_variables: Vec<(String, String)>,
    /// When readiness must have been reached.
    pub deadline: Instant,
    /// Arguments a `pre_start` hook added, for the program the driver starts.
    pub extra_args: Vec<String>,
    /// Environment variables a `pre_start` hook set, for the program the driver starts.
    pub extra_env: Vec<(String, String)>,
}

impl StartContext {
    /// A context for a driver started outside an environment (a custom driver's unit test):
    /// no other drivers, `timeout` to be ready.
    pub fn new(runpath: impl Into<PathBuf>, timeout: Duration) -> StartContext {
        StartContext {
            runpath: runpath.into(),
            scope: ContextScope::new(),
            exported_variables: Vec::new(),
            deadline: crate::deadline::deadline_after(timeout),
            extra_args: Vec::new(),
            extra_env: Vec::new(),
        }
    }

    /// Resolves a setting that may hold a context value.
    pub fn resolve(&self, value: &ConfigValue) -> Result<String, DriverError> {
        value.resolve(&self.scope)
    }
}

/// Settings every driver has.
#[derive(Clone)]
#[non_exhaustive]
pub struct DriverCommon {
    /// Unique name in the environment.
    pub name: String,
    /// In a list of drivers, start the next ones without waiting for this one to be ready.
    pub async_start: bool,
    /// How long start plus readiness may take.
    pub start_timeout: Duration,
    /// How long a graceful stop may take before the driver is killed.
    pub stop_timeout: Duration,
    /// Config templates rendered into the driver's runpath at start: (template text, file name).
    pub install_files: Vec<(String, String)>,
    /// Files the driver depends on besides its sources (data files, configs read from
    /// disk): `--affected` reruns the test's testcases when one changes.
    pub inputs: Vec<PathBuf>,
    /// Runs before start.
    pub pre_start: Option<DriverHook>,
    /// Runs once the driver is ready.
    pub post_start: Option<DriverHook>,
    /// Runs before stop.
    pub pre_stop: Option<DriverHook>,
    /// Runs after stop.
    pub post_stop: Option<DriverHook>,
    /// Settings the builder could not take (an invalid regex, say): the plan reports them
    /// as a plan error before anything starts, instead of panicking while it is built.
    pub refused: Vec<String>,
}

impl DriverCommon {
    /// Defaults: synchronous start, 30 s to start, 5 s to stop.
    pub fn new(name: impl Into<String>) -> DriverCommon {
        DriverCommon {
            name: name.into(),
            async_start: false,
            start_timeout: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(5),
            install_files: Vec::new(),
            inputs: Vec::new(),
            pre_start: None,
            post_start: None,
            pre_stop: None,
            post_stop: None,
            refused: Vec::new(),
        }
    }
}

impl std::fmt::Debug for DriverCommon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverCommon")
            .field("name", &self.name)
            .field("async_start", &self.async_start)
            .field("start_timeout", &self.start_timeout)
            .field("stop_timeout", &self.stop_timeout)
            .finish_non_exhaustive()
    }
}

/// A resource of a test's environment.
pub trait Driver: Any + Send + Sync {
    /// The settings every driver has.
    fn common(&self) -> &DriverCommon;

    /// The driver type shown in reports (`App`, `TcpServer`, …).
    fn kind(&self) -> &'static str;

    /// Every context value in the driver's settings, so the environment can check the
    /// drivers they name exist and start first.
    fn context_values(&self) -> Vec<&ConfigValue> {
        Vec::new()
    }

    /// Begins starting: resolve context values, spawn processes, bind sockets.
    fn start(&self, context: &StartContext) -> Result<(), DriverError>;

    /// Blocks until the driver is ready or `context.deadline` passes. React to readiness as
    /// it happens (a log line, a port) rather than polling slowly.
    fn wait_ready(&self, _context: &StartContext) -> Result<(), DriverError> {
        Ok(())
    }

    /// Stops the driver; anything that does not stop within the stop timeout is killed.
    /// Must leave nothing running, even when it returns an error.
    fn stop(&self) -> Result<(), DriverError>;

    /// What the driver publishes once started.
    fn attributes(&self) -> Attributes {
        Attributes::new()
    }

    /// `Some(reason)` when a started driver has died (a process exited on its own).
    fn failure(&self) -> Option<DriverError> {
        None
    }

    /// The last `lines` lines of the driver's logs.
    fn log_tail(&self, _lines: usize) -> Vec<String> {
        Vec::new()
    }

    /// What the driver depends on besides the plan's sources, for `--affected`: its
    /// declared input files and config templates (an App adds the program it runs).
    fn inputs(&self) -> Vec<DeclaredInput> {
        common_inputs(self.common())
    }

    /// The driver's definition as text (type and settings, context values unresolved), for
    /// code reload: a running driver is only re-adopted by a new image of the plan whose
    /// definition of it is the same. The default covers the settings every driver has.
    fn definition(&self) -> String {
        default_definition(self)
    }

    /// What a started driver hands to the next image of the plan on code reload, so that
    /// [`Driver::adopt`] there can take it over; `None` (the default) when it cannot be
    /// handed over (in-process servers: their sockets close with the image) and is restarted.
    fn handoff_state(&self) -> Option<serde_json::Value> {
        None
    }

    /// Takes over a driver the previous image of the plan started, from its
    /// [`Driver::handoff_state`]: afterwards the driver is started as before (its processes
    /// supervised, stoppable) and `attributes` answers as before. On error nothing of the old
    /// driver may be left running. The default refuses, and the driver is started afresh.
    fn adopt(
        &self,
        _state: &serde_json::Value,
        _context: &StartContext,
    ) -> Result<(), DriverError> {
        Err(DriverError::new(format!(
            "{} drivers cannot be taken over; it is started again",
            self.kind()
        )))
    }

    /// The sockets the driver holds in the plan's own process (in-process servers and
    /// clients), for the connection graph. Drivers that run processes publish a `pid`
    /// attribute instead, and their sockets are read from the system.
    fn sockets(&self) -> DriverSockets {
        DriverSockets::default()
    }

    /// Whether what the driver starts receives the `DRIVER_<NAME>_ATTR_<ATTR>` variables of
    /// the drivers started before it (App's processes do). In a list-order environment such
    /// a driver depends, for code reload, on every driver started before it; any other only
    /// on those its context values read.
    fn reads_exported_variables(&self) -> bool {
        false
    }
}

/// A started driver as one image of the plan hands it to the next on code reload.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HandedOffDriver {
    /// The driver's name.
    pub name: String,
    /// [`Driver::definition`] in the image that started it.
    pub definition: String,
    /// Its attributes then.
    pub attributes: Attributes,
    /// [`Driver::handoff_state`].
    pub state: serde_json::Value,
}

/// The part of a [`Driver::definition`] every driver has: type, name, templates, inputs;
/// drivers that override `definition` start from it.
pub fn default_definition(driver: &(impl Driver + ?Sized)) -> String {
    let common = driver.common();
    format!(
        "{} {} templates={:?} inputs={:?}",
        driver.kind(),
        common.name,
        common.install_files,
        common.inputs
    )
}

/// The inputs every driver has: declared files and config templates.
pub fn common_inputs(common: &DriverCommon) -> Vec<DeclaredInput> {
    let files = common.inputs.iter().cloned().map(DeclaredInput::File);
    let templates = common
        .install_files
        .iter()
        .map(|(template, file_name)| DeclaredInput::Text {
            name: format!("driver `{}` template `{file_name}`", common.name),
            text: template.clone(),
        });
    files.chain(templates).collect()
}

impl dyn Driver {
    /// The driver's name.
    pub fn name(&self) -> &str {
        &self.common().name
    }
}

/// Builder methods for the settings every driver has; implemented by each built-in driver
/// (and by yours: provide `common_mut`).
pub trait DriverSettings: Sized {
    /// The settings to change.
    fn common_mut(&mut self) -> &mut DriverCommon;

    /// Start the next drivers of a list without waiting for this one to be ready.
    fn async_start(mut self, async_start: bool) -> Self {
        self.common_mut().async_start = async_start;
        self
    }

    /// How long start plus readiness may take (default 30 s).
    fn start_timeout(mut self, timeout: Duration) -> Self {
        self.common_mut().start_timeout = timeout;
        self
    }

    /// How long a graceful stop may take before the driver is killed (default 5 s).
    fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.common_mut().stop_timeout = timeout;
        self
    }

    /// A minijinja template rendered into the driver's runpath as `file_name` at start; it
    /// sees the started drivers as `context["name"].attribute`.
    fn install_file(mut self, template: impl Into<String>, file_name: impl Into<String>) -> Self {
        self.common_mut()
            .install_files
            .push((template.into(), file_name.into()));
        self
    }

    /// A file the driver depends on besides the plan's sources (a data file, a config it
    /// reads from disk): `cargo testrig affected` reruns the test's testcases when it changes.
    fn input(mut self, path: impl Into<PathBuf>) -> Self {
        self.common_mut().inputs.push(path.into());
        self
    }

    /// Runs before the driver starts, in its empty runpath; an error fails the start. It can
    /// prepare files there, run commands ([`HookContext::run`]) and add arguments and
    /// environment variables ([`HookContext::arg`], [`HookContext::env`]).
    fn pre_start(
        mut self,
        hook: impl Fn(&mut HookContext<'_>) -> HookResult + Send + Sync + 'static,
    ) -> Self {
        self.common_mut().pre_start = Some(Arc::new(hook));
        self
    }

    /// Runs once the driver is ready; an error fails the start.
    fn post_start(
        mut self,
        hook: impl Fn(&mut HookContext<'_>) -> HookResult + Send + Sync + 'static,
    ) -> Self {
        self.common_mut().post_start = Some(Arc::new(hook));
        self
    }

    /// Runs before the driver stops.
    fn pre_stop(
        mut self,
        hook: impl Fn(&mut HookContext<'_>) -> HookResult + Send + Sync + 'static,
    ) -> Self {
        self.common_mut().pre_stop = Some(Arc::new(hook));
        self
    }

    /// Runs after the driver stopped.
    fn post_stop(
        mut self,
        hook: impl Fn(&mut HookContext<'_>) -> HookResult + Send + Sync + 'static,
    ) -> Self {
        self.common_mut().post_stop = Some(Arc::new(hook));
        self
    }
}

/// A driver ready to join an environment: `MultiTest::drivers([server.into(), …])`.
pub struct DriverBox(pub(crate) Arc<dyn Driver>);

impl<D: Driver> From<D> for DriverBox {
    fn from(driver: D) -> DriverBox {
        DriverBox(Arc::new(driver))
    }
}

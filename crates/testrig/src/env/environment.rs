//! The environment of a test: its drivers, started in dependency order and stopped in
//! reverse, with every status change sent to the event stream.
//!
//! A plain list starts in order, each driver waiting for the previous one to be ready unless
//! that one has `async_start`. A `dependencies` list (`a → b`: a starts before b) replaces
//! list order: every driver starts as soon as everything it depends on is ready, in parallel,
//! so start-up takes the length of the critical path. Readiness is reported by the driver
//! threads as it happens; the scheduler never polls.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use testrig_model::{DriverReport, DriverStatus, ErrorInfo, Event};

use crate::env::connections::read_connections;
use crate::env::context::{ContextScope, check_template_syntax};
use crate::env::driver::{
    Attributes, Driver, DriverBox, DriverError, HandedOffDriver, StartContext,
};
use crate::env::hooks::{HookContext, HookPhase};
use crate::events::{EventSink, now};

/// Lines of a failed driver's logs kept in the report.
const LOG_TAIL_LINES: usize = 20;

/// Drivers the previous image of the plan handed over to an environment on code reload,
/// until its next start takes them over; and what became of them.
#[derive(Default)]
struct Adoption {
    offers: Option<Vec<HandedOffDriver>>,
    notes: Vec<String>,
}

/// Kills what a handed-over driver left running when nothing takes it over: the process
/// group of its `pid`, if its hand-off state names one (it leads its own group and is a
/// child of this process, so it is reaped too). The hand-off state comes from a file, so
/// the kill goes through the orphan guard: never group 1 (every process this user may
/// signal) nor the plan's own group.
pub(crate) fn discard_handed_off(driver: &HandedOffDriver) {
    use rustix::process::{Pid, Signal, WaitOptions, waitpid};
    let Some(pid) = driver.state["pid"]
        .as_i64()
        .and_then(|pid| i32::try_from(pid).ok())
        .filter(|pid| *pid > 0)
    else {
        return;
    };
    let killed = crate::drivers::signal_group(pid, Signal::KILL).is_ok_and(|reached| reached);
    if let (true, Some(pid)) = (killed, Pid::from_raw(pid)) {
        let _ = waitpid(Some(pid), WaitOptions::empty());
    }
    // The read ends of its output pipes (an App's) came along across `exec`.
    if let Some(fds) = crate::drivers::LogPump::handed_over(&driver.state) {
        crate::drivers::LogPump::discard(&fds);
    }
}

/// How a driver came to be started.
enum Origin {
    /// Started afresh.
    Started,
    /// Taken over from the previous image, with the same attributes as there.
    Kept,
    /// Taken over, but its attributes differ (e.g. another port): dependents restart.
    Moved,
}

/// Where events go and where drivers write, for one run of an environment.
#[derive(Debug, Clone)]
pub struct EnvironmentRun {
    /// The UID of the test the environment belongs to.
    pub test_uid: String,
    /// The event stream.
    pub sink: Option<EventSink>,
    /// The test's runpath; each driver gets `<runpath>/<driver>`.
    pub runpath: std::path::PathBuf,
}

impl EnvironmentRun {
    fn emit(
        &self,
        driver: &str,
        status: DriverStatus,
        attributes: Attributes,
        error: Option<&DriverError>,
    ) {
        self.emit_with_wait(driver, status, attributes, error, None);
    }

    fn emit_with_wait(
        &self,
        driver: &str,
        status: DriverStatus,
        attributes: Attributes,
        error: Option<&DriverError>,
        ready_wait: Option<f64>,
    ) {
        if let Some(sink) = &self.sink {
            sink.emit(Event::DriverStatusChanged {
                uid: self.test_uid.clone(),
                driver: driver.to_string(),
                status,
                time: now(),
                attributes,
                error: error.map(|error| ErrorInfo::new(error.message.clone(), None)),
                log_tail: error
                    .map(|error| error.log_tail.clone())
                    .unwrap_or_default(),
                ready_wait,
            });
        }
    }
}

/// A driver failed to start: which one, and why.
#[derive(Debug, Clone)]
pub struct StartFailure {
    /// The driver's name.
    pub driver: String,
    /// Why.
    pub error: DriverError,
}

impl std::fmt::Display for StartFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "failed to start driver `{}`: {}",
            self.driver, self.error
        )
    }
}

/// The drivers of one test and their dependencies.
#[derive(Default)]
pub struct Environment {
    drivers: Vec<Arc<dyn Driver>>,
    dependencies: Option<Vec<(String, String)>>,
    statuses: Mutex<Vec<DriverStatus>>,
    /// Why each driver that died while started died; reported once, remembered after.
    crashes: Mutex<Vec<Option<DriverError>>>,
    adoption: Mutex<Adoption>,
}

impl Environment {
    /// An environment of these drivers; `dependencies` (`(a, b)`: a starts before b) switches
    /// from list order to the dependency graph (an empty list: everything in parallel).
    pub fn new(
        drivers: Vec<DriverBox>,
        dependencies: Option<Vec<(String, String)>>,
    ) -> Environment {
        let drivers: Vec<Arc<dyn Driver>> = drivers.into_iter().map(|driver| driver.0).collect();
        let count = drivers.len();
        Environment {
            drivers,
            dependencies,
            statuses: Mutex::new(vec![DriverStatus::NotStarted; count]),
            crashes: Mutex::new(vec![None; count]),
            adoption: Mutex::new(Adoption::default()),
        }
    }

    fn adoption(&self) -> std::sync::MutexGuard<'_, Adoption> {
        self.adoption
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Offers the drivers a previous image of the plan handed over: the next start takes
    /// over those whose definition is unchanged.
    pub fn offer_adoption(&self, drivers: Vec<HandedOffDriver>) {
        self.adoption().offers = Some(drivers);
    }

    /// Takes back what was offered and not taken (the environment did not start): their
    /// processes must be stopped by the caller.
    pub fn withdraw_adoption_offers(&self) -> Vec<HandedOffDriver> {
        self.adoption().offers.take().unwrap_or_default()
    }

    /// What the environment did with the drivers it was offered (taken over, or started
    /// again and why), since the last call.
    pub fn adoption_notes(&self) -> Vec<String> {
        std::mem::take(&mut self.adoption().notes)
    }

    pub(crate) fn add(&mut self, driver: DriverBox) {
        self.drivers.push(driver.0);
        if let Ok(statuses) = self.statuses.get_mut() {
            statuses.push(DriverStatus::NotStarted);
        }
        if let Ok(crashes) = self.crashes.get_mut() {
            crashes.push(None);
        }
    }

    pub(crate) fn set_dependencies(&mut self, dependencies: Vec<(String, String)>) {
        self.dependencies
            .get_or_insert_with(Vec::new)
            .extend(dependencies);
    }

    /// True when the environment has no drivers.
    pub fn is_empty(&self) -> bool {
        self.drivers.is_empty()
    }

    /// Driver names in declaration order.
    pub fn driver_names(&self) -> Vec<String> {
        self.drivers
            .iter()
            .map(|driver| driver.name().to_string())
            .collect()
    }

    /// The drivers in declaration order.
    pub fn drivers(&self) -> impl Iterator<Item = &Arc<dyn Driver>> {
        self.drivers.iter()
    }

    /// The driver called `name`.
    pub fn driver(&self, name: &str) -> Option<&Arc<dyn Driver>> {
        self.drivers.iter().find(|driver| driver.name() == name)
    }

    /// The started drivers that can be handed to the next image of the plan on code reload.
    pub fn handoff(&self) -> Vec<HandedOffDriver> {
        self.drivers
            .iter()
            .enumerate()
            .filter(|&(index, _)| self.status(index) == DriverStatus::Started)
            .filter_map(|(_, driver)| {
                driver.handoff_state().map(|state| HandedOffDriver {
                    name: driver.name().to_string(),
                    definition: driver.definition(),
                    attributes: driver.attributes(),
                    state,
                })
            })
            .collect()
    }

    /// The report entries of the drivers before anything started.
    pub fn skeleton(&self) -> Vec<DriverReport> {
        self.drivers
            .iter()
            .map(|driver| DriverReport::new(driver.name(), driver.kind()))
            .collect()
    }

    /// Current status of every driver, in declaration order.
    pub fn statuses(&self) -> Vec<(String, DriverStatus)> {
        let statuses = self.statuses.lock().map(|s| s.clone()).unwrap_or_default();
        self.driver_names().into_iter().zip(statuses).collect()
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.drivers.iter().position(|driver| driver.name() == name)
    }

    /// Predecessors of each driver: what must be ready before it starts.
    fn predecessors(&self) -> Vec<Vec<usize>> {
        let count = self.drivers.len();
        let mut predecessors = vec![Vec::new(); count];
        match &self.dependencies {
            Some(edges) => {
                for (before, after) in edges {
                    if let (Some(before), Some(after)) =
                        (self.index_of(before), self.index_of(after))
                        && !predecessors[after].contains(&before)
                    {
                        predecessors[after].push(before);
                    }
                }
            }
            None => {
                // Each driver waits for the one before it, unless that one starts
                // asynchronously: then it waits for what that one waited for.
                for index in 1..count {
                    let previous = index - 1;
                    predecessors[index] = if self.drivers[previous].common().async_start {
                        predecessors[previous].clone()
                    } else {
                        vec![previous]
                    };
                }
            }
        }
        predecessors
    }

    /// What each driver depends on for code reload: taken over only when all of these were.
    /// The dependency graph when there is one; in list order, start order is not
    /// dependence, so only the drivers its context values read (or, for a driver whose
    /// processes get the exported variables, every driver started before it).
    fn takeover_upstream(&self, predecessors: &[Vec<usize>]) -> Vec<Vec<usize>> {
        if self.dependencies.is_some() {
            return predecessors.to_vec();
        }
        self.drivers
            .iter()
            .enumerate()
            .map(|(index, driver)| {
                if driver.reads_exported_variables() {
                    // The drivers started before it, as its variables were exported.
                    return (0..index)
                        .filter(|&before| self.is_upstream(predecessors, before, index))
                        .collect();
                }
                let mut upstream: Vec<usize> = driver
                    .context_values()
                    .iter()
                    .filter_map(|value| self.index_of(value.referenced_driver()?))
                    .collect();
                upstream.sort_unstable();
                upstream.dedup();
                upstream
            })
            .collect()
    }

    fn is_upstream(&self, predecessors: &[Vec<usize>], ancestor: usize, of: usize) -> bool {
        let mut stack = predecessors[of].clone();
        let mut seen = vec![false; self.drivers.len()];
        while let Some(index) = stack.pop() {
            if index == ancestor {
                return true;
            }
            if !std::mem::replace(&mut seen[index], true) {
                stack.extend(predecessors[index].iter().copied());
            }
        }
        false
    }

    /// Checks the environment before anything starts: unique names, known names in the
    /// dependencies, no cycle, context values that read drivers upstream of them,
    /// templates that parse. `test` names the test in the messages.
    pub fn validate(&self, test: &str) -> Result<(), crate::PlanError> {
        self.check(test).map_err(crate::PlanError::Definition)
    }

    fn check(&self, test: &str) -> Result<(), String> {
        let names = self.driver_names();
        let listing = || {
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        };
        for (index, name) in names.iter().enumerate() {
            if name.is_empty()
                || name.contains('/')
                || name.chars().any(char::is_control)
                || [".", "..", TRASH_FOLDER].contains(&name.as_str())
            {
                return Err(format!(
                    "invalid driver name `{name}` in test `{test}`: use a non-empty name without `/` (nor `.`, `..` or `{TRASH_FOLDER}`, which are folders of the runpath)"
                ));
            }
            if names[..index].contains(name) {
                return Err(format!(
                    "duplicate driver name `{name}` in test `{test}`: give each driver a unique name"
                ));
            }
        }
        if let Some(edges) = &self.dependencies {
            for (before, after) in edges {
                for name in [before, after] {
                    if self.index_of(name).is_none() {
                        return Err(format!(
                            "unknown driver `{name}` in the dependencies of test `{test}` ({before} → {after}); drivers: {}",
                            listing()
                        ));
                    }
                }
            }
        }
        let predecessors = self.predecessors();
        if let Some(cycle) = find_cycle(&predecessors) {
            let mut path: Vec<&str> = cycle.iter().map(|&i| names[i].as_str()).collect();
            path.push(path[0]);
            return Err(format!(
                "dependency cycle in the environment of test `{test}`: {}; remove one of these dependencies",
                path.join(" → ")
            ));
        }
        for (index, driver) in self.drivers.iter().enumerate() {
            if let Some(refused) = driver.common().refused.first() {
                return Err(format!(
                    "driver `{}` of test `{test}`: {refused}",
                    names[index]
                ));
            }
            for value in driver.context_values() {
                value.check_syntax().map_err(|error| {
                    format!("driver `{}` of test `{test}`: {error}", names[index])
                })?;
                let Some(referenced) = value.referenced_driver() else {
                    continue;
                };
                let Some(referenced_index) = self.index_of(referenced) else {
                    return Err(format!(
                        "driver `{}` of test `{test}` has {value}, but there is no driver `{referenced}`; drivers: {}",
                        names[index],
                        listing()
                    ));
                };
                if !self.is_upstream(&predecessors, referenced_index, index) {
                    let fix = if self.dependencies.is_some() {
                        format!(
                            "add the dependency (\"{referenced}\", \"{}\")",
                            names[index]
                        )
                    } else {
                        format!(
                            "list `{referenced}` before `{}` without async_start, or use dependencies",
                            names[index]
                        )
                    };
                    return Err(format!(
                        "driver `{}` of test `{test}` has {value}, but `{referenced}` is not started before it: {fix}",
                        names[index]
                    ));
                }
            }
            for (template, file_name) in &driver.common().install_files {
                check_template_syntax(template).map_err(|error| {
                    format!("template `{file_name}` of driver `{}` in test `{test}` does not parse: {error}", names[index])
                })?;
            }
        }
        Ok(())
    }

    fn set_status(&self, index: usize, status: DriverStatus) {
        if let Ok(mut statuses) = self.statuses.lock() {
            let current = statuses[index];
            // An illegal transition is a bug in testrig or a driver, not in the plan; say so
            // loudly with both states, and keep going with the new state.
            if current != status && !current.can_become(status) {
                eprintln!(
                    "testrig: bug: illegal driver status transition {current} → {status} for driver `{}`",
                    self.drivers[index].name()
                );
            }
            statuses[index] = status;
        }
    }

    fn status(&self, index: usize) -> DriverStatus {
        self.statuses
            .lock()
            .map(|statuses| statuses[index])
            .unwrap_or(DriverStatus::Failed)
    }

    /// Starts every driver in dependency order, in parallel where the graph allows. On the
    /// first failure, nothing more is started, the drivers already started are stopped,
    /// and the failure is returned.
    pub fn start(&self, run: &EnvironmentRun) -> Result<(), StartFailure> {
        let count = self.drivers.len();
        if count == 0 {
            return Ok(());
        }
        let predecessors = self.predecessors();
        let takeover_upstream = self.takeover_upstream(&predecessors);
        let mut waiting_for: Vec<usize> = predecessors.iter().map(Vec::len).collect();
        let mut launched = vec![false; count];
        let mut kept = vec![false; count];
        let mut offers: BTreeMap<String, HandedOffDriver> = self
            .withdraw_adoption_offers()
            .into_iter()
            .map(|driver| (driver.name.clone(), driver))
            .collect();
        let mut scope = ContextScope::new();
        let mut failure: Option<StartFailure> = None;
        let (done, finished) = mpsc::channel::<(
            usize,
            Result<(Attributes, Origin, Option<f64>), DriverError>,
        )>();
        let mut running = 0;
        std::thread::scope(|threads| {
            let launch = |index: usize,
                          scope: &ContextScope,
                          running: &mut usize,
                          launched: &mut Vec<bool>,
                          kept: &[bool],
                          offers: &mut BTreeMap<String, HandedOffDriver>| {
                launched[index] = true;
                *running += 1;
                let driver = self.drivers[index].clone();
                let offer = offers.remove(driver.name());
                // Taken over only when nothing it depends on was started afresh or moved.
                let upstream_kept = takeover_upstream[index].iter().all(|&before| kept[before]);
                let context = StartContext {
                    runpath: run.runpath.join(driver.name()),
                    scope: scope.clone(),
                    exported_variables: exported_variables(scope),
                    deadline: crate::deadline::deadline_after(driver.common().start_timeout),
                    extra_args: Vec::new(),
                    extra_env: Vec::new(),
                };
                self.set_status(index, DriverStatus::Starting);
                run.emit(
                    driver.name(),
                    DriverStatus::Starting,
                    Attributes::new(),
                    None,
                );
                let done = done.clone();
                let adoption = &self.adoption;
                threads.spawn(move || {
                    let note = |text: String| {
                        adoption
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .notes
                            .push(text);
                    };
                    // A panic in user code (a hook, a probe, a driver of one's own) is this
                    // driver's failure, not a scheduler waiting forever for its answer.
                    let result = catch_panic("start", || {
                        adopt_or_start(driver.as_ref(), &context, offer, upstream_kept, &note)
                    });
                    let _ = done.send((index, result));
                });
            };
            let roots: Vec<usize> = (0..count)
                .filter(|&index| waiting_for[index] == 0)
                .collect();
            for index in roots {
                launch(
                    index,
                    &scope,
                    &mut running,
                    &mut launched,
                    &kept,
                    &mut offers,
                );
            }
            while running > 0 {
                let Ok((index, result)) = finished.recv() else {
                    break;
                };
                running -= 1;
                let name = self.drivers[index].name().to_string();
                match result {
                    Ok((attributes, origin, ready_wait)) => {
                        kept[index] = matches!(origin, Origin::Kept);
                        self.set_status(index, DriverStatus::Started);
                        run.emit_with_wait(
                            &name,
                            DriverStatus::Started,
                            attributes.clone(),
                            None,
                            ready_wait,
                        );
                        scope.insert(name, attributes);
                        if failure.is_some() {
                            continue;
                        }
                        for next in 0..count {
                            if !launched[next] && predecessors[next].contains(&index) {
                                waiting_for[next] -= 1;
                                if waiting_for[next] == 0 {
                                    launch(
                                        next,
                                        &scope,
                                        &mut running,
                                        &mut launched,
                                        &kept,
                                        &mut offers,
                                    );
                                }
                            }
                        }
                    }
                    Err(error) => {
                        self.set_status(index, DriverStatus::Failed);
                        run.emit(&name, DriverStatus::Failed, Attributes::new(), Some(&error));
                        failure.get_or_insert(StartFailure {
                            driver: name,
                            error,
                        });
                    }
                }
            }
        });
        empty_trash(&run.runpath);
        // Drivers handed over that this environment no longer has.
        for offer in offers.values() {
            discard_handed_off(offer);
            self.adoption()
                .notes
                .push(format!("`{}` stopped: it was removed", offer.name));
        }
        match failure {
            None => Ok(()),
            Some(failure) => {
                self.stop(run);
                Err(failure)
            }
        }
    }

    /// Stops every driver that was started, dependents first, in parallel where the graph
    /// allows. Always completes: a driver that fails to stop is reported (it was killed) and
    /// the others still stop. Returns the drivers that failed to stop cleanly.
    pub fn stop(&self, run: &EnvironmentRun) -> Vec<(String, DriverError)> {
        let count = self.drivers.len();
        // Who is connected to whom, while everything still runs.
        if let Some(sink) = &run.sink
            && self.drivers.iter().any(|driver| {
                matches!(
                    self.status(self.index_of(driver.name()).unwrap_or(0)),
                    DriverStatus::Started
                )
            })
            && let Some(connections) = read_connections(&self.drivers)
        {
            sink.emit(Event::DriverConnections {
                uid: run.test_uid.clone(),
                connections,
            });
        }
        let predecessors = self.predecessors();
        // Stop order is the transposed graph: a driver waits for its dependents.
        let mut dependents_left = vec![0usize; count];
        for preds in &predecessors {
            for &before in preds {
                dependents_left[before] += 1;
            }
        }
        let mut problems = Vec::new();
        let (done, finished) = mpsc::channel::<(usize, Result<(), DriverError>)>();
        let mut running = 0;
        let mut launched = vec![false; count];
        // What the stop hooks see: the drivers running when the stop began.
        let mut running_drivers = ContextScope::new();
        for (index, driver) in self.drivers.iter().enumerate() {
            if self.status(index) == DriverStatus::Started {
                running_drivers.insert(driver.name(), driver.attributes());
            }
        }
        let running_variables = exported_variables(&running_drivers);
        std::thread::scope(|threads| {
            let launch = |index: usize, running: &mut usize, launched: &mut Vec<bool>| {
                launched[index] = true;
                let needs_stop = !matches!(
                    self.status(index),
                    DriverStatus::NotStarted | DriverStatus::Stopped
                );
                if !needs_stop {
                    // Nothing to do, but dependents-first order still flows through it.
                    let _ = done.send((index, Ok(())));
                    *running += 1;
                    return;
                }
                *running += 1;
                let driver = self.drivers[index].clone();
                self.set_status(index, DriverStatus::Stopping);
                run.emit(
                    driver.name(),
                    DriverStatus::Stopping,
                    Attributes::new(),
                    None,
                );
                let done = done.clone();
                let runpath = run.runpath.join(driver.name());
                let hook_context = (&running_drivers, running_variables.as_slice());
                threads.spawn(move || {
                    let result = catch_panic("stop", || {
                        stop_driver(driver.as_ref(), &runpath, hook_context)
                    });
                    let _ = done.send((index, result));
                });
            };
            let leaves: Vec<usize> = (0..count)
                .filter(|&index| dependents_left[index] == 0)
                .collect();
            for index in leaves {
                launch(index, &mut running, &mut launched);
            }
            while running > 0 {
                let Ok((index, result)) = finished.recv() else {
                    break;
                };
                running -= 1;
                let name = self.drivers[index].name().to_string();
                if self.status(index) == DriverStatus::Stopping {
                    match result {
                        Ok(()) => {
                            self.set_status(index, DriverStatus::Stopped);
                            run.emit(&name, DriverStatus::Stopped, Attributes::new(), None);
                        }
                        Err(error) => {
                            // The report says it failed to stop cleanly; it was killed, so it
                            // is down: the environment can start again.
                            self.set_status(index, DriverStatus::Stopped);
                            run.emit(&name, DriverStatus::Failed, Attributes::new(), Some(&error));
                            problems.push((name, error));
                        }
                    }
                }
                for &before in &predecessors[index] {
                    dependents_left[before] -= 1;
                    if dependents_left[before] == 0 && !launched[before] {
                        launch(before, &mut running, &mut launched);
                    }
                }
            }
        });
        problems
    }

    /// A started driver that has died since (a process that exited on its own). The first
    /// call that sees it reports a FAILED status change; later calls return the same failure.
    pub fn failure(&self, run: &EnvironmentRun) -> Option<(String, DriverError)> {
        let Ok(mut crashes) = self.crashes.lock() else {
            return None;
        };
        for (index, driver) in self.drivers.iter().enumerate() {
            if let Some(error) = &crashes[index] {
                return Some((driver.name().to_string(), error.clone()));
            }
            if self.status(index) != DriverStatus::Started {
                continue;
            }
            if let Some(error) = driver.failure() {
                self.set_status(index, DriverStatus::Failed);
                run.emit(
                    driver.name(),
                    DriverStatus::Failed,
                    Attributes::new(),
                    Some(&error),
                );
                crashes[index] = Some(error.clone());
                return Some((driver.name().to_string(), error));
            }
        }
        None
    }
}

fn run_hook(
    phase: HookPhase,
    driver: &dyn Driver,
    context: &mut HookContext<'_>,
) -> Result<(), DriverError> {
    let common = driver.common();
    let hook = match phase {
        HookPhase::PreStart => &common.pre_start,
        HookPhase::PostStart => &common.post_start,
        HookPhase::PreStop => &common.pre_stop,
        _ => &common.post_stop,
    };
    match hook {
        None => Ok(()),
        Some(hook) => hook(context).map_err(|error| {
            // A DriverError from the context's own methods keeps its log tail.
            match error.downcast::<DriverError>() {
                Ok(error) => {
                    DriverError::new(format!("{} hook failed: {}", phase.name(), error.message))
                        .with_log_tail(error.log_tail.clone())
                }
                Err(error) => DriverError::new(format!("{} hook failed: {error}", phase.name())),
            }
        }),
    }
}

/// Runs a driver's `phase`, turning a panic into its error.
fn catch_panic<T>(
    phase: &str,
    action: impl FnOnce() -> Result<T, DriverError>,
) -> Result<T, DriverError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(action)).unwrap_or_else(|payload| {
        Err(DriverError::new(format!(
            "panicked during {phase}: {}",
            crate::runner::payload_message(payload.as_ref())
        )))
    })
}

/// One driver's start: hooks, start, readiness. The driver's log tail is added to errors.
/// Starts a driver, or takes it over from the previous image of the plan when it was handed
/// over with the same definition and nothing it depends on was started afresh. A driver
/// that was handed over but cannot be taken over is taken over only to be stopped, so that
/// no process of the previous image runs unsupervised, and then started afresh.
fn adopt_or_start(
    driver: &dyn Driver,
    context: &StartContext,
    offer: Option<HandedOffDriver>,
    upstream_kept: bool,
    note: &dyn Fn(String),
) -> Result<(Attributes, Origin, Option<f64>), DriverError> {
    let name = driver.name().to_string();
    if let Some(offer) = offer {
        let reason = if offer.definition != driver.definition() {
            Some("its definition changed".to_string())
        } else if !upstream_kept {
            Some("a driver it depends on was started again".to_string())
        } else {
            None
        };
        match (reason, driver.adopt(&offer.state, context)) {
            (None, Ok(())) => {
                let attributes = driver.attributes();
                let origin = if attributes == offer.attributes {
                    note(format!("`{name}` kept running"));
                    Origin::Kept
                } else {
                    note(format!("`{name}` kept running with other attributes"));
                    Origin::Moved
                };
                return Ok((attributes, origin, None));
            }
            (Some(reason), Ok(())) => {
                let _ = driver.stop();
                note(format!("`{name}` started again: {reason}"));
            }
            (Some(reason), Err(_)) => note(format!("`{name}` started again: {reason}")),
            (None, Err(error)) => note(format!("`{name}` started again: {error}")),
        }
    }
    start_driver(driver, context)
        .map(|(attributes, ready_wait)| (attributes, Origin::Started, Some(ready_wait)))
}

/// Starts a driver: its attributes, and the seconds spent waiting for readiness.
fn start_driver(
    driver: &dyn Driver,
    context: &StartContext,
) -> Result<(Attributes, f64), DriverError> {
    let mut context = context.clone();
    let mut ready_wait = 0.0;
    let result = prepare_runpath(&context.runpath)
        .and_then(|()| {
            let mut hook = HookContext::new(
                driver,
                HookPhase::PreStart,
                &context.runpath,
                &context.scope,
                &context.exported_variables,
                context.deadline,
            );
            run_hook(HookPhase::PreStart, driver, &mut hook)?;
            let (extra_args, extra_env) = (hook.extra_args, hook.extra_env);
            context.extra_args = extra_args;
            context.extra_env = extra_env;
            Ok(())
        })
        .and_then(|()| driver.start(&context))
        .and_then(|()| {
            let waiting = Instant::now();
            let ready = driver.wait_ready(&context);
            ready_wait = waiting.elapsed().as_secs_f64();
            ready
        })
        .and_then(|()| {
            // What readiness left of the start's budget may be nothing: the hook gets its own.
            let mut hook = HookContext::new(
                driver,
                HookPhase::PostStart,
                &context.runpath,
                &context.scope,
                &context.exported_variables,
                crate::deadline::deadline_after(driver.common().start_timeout),
            );
            run_hook(HookPhase::PostStart, driver, &mut hook)
        });
    match result {
        Ok(()) => Ok((driver.attributes(), ready_wait)),
        Err(mut error) => {
            if error.log_tail.is_empty() {
                error.log_tail = driver.log_tail(LOG_TAIL_LINES);
            }
            Err(error)
        }
    }
}

/// Each start begins from an empty folder: no database, log or rendered file of an earlier
/// run leaks into this one. Cleared before `pre_start`, so what that hook writes stays.
///
/// The old folder is renamed into the environment's trash and removed on a thread of its
/// own: removing a folder of logs costs 0.1–1.6 ms, on the critical path of every driver in
/// a chain. A folder that cannot be renamed (a mount point, another file system) is removed
/// in line; what a killed plan left in the trash goes with the next removal.
fn prepare_runpath(runpath: &Path) -> Result<(), DriverError> {
    if runpath.exists() && !move_to_trash(runpath) {
        std::fs::remove_dir_all(runpath).map_err(|error| {
            DriverError::new(format!(
                "failed to clear the driver's runpath `{}`: {error}",
                runpath.display()
            ))
        })?;
    }
    std::fs::create_dir_all(runpath).map_err(|error| {
        DriverError::new(format!(
            "failed to create the driver's runpath `{}`: {error}",
            runpath.display()
        ))
    })
}

/// The folder beside the drivers' runpaths that holds their previous runs until a
/// background thread has removed them. Not a valid driver name.
pub(crate) const TRASH_FOLDER: &str = ".testrig-trash";

/// Renames `runpath` into the trash beside it; false when it could not be renamed.
fn move_to_trash(runpath: &Path) -> bool {
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let Some(parent) = runpath.parent() else {
        return false;
    };
    let trash = parent.join(TRASH_FOLDER);
    let sequence = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("{}-{sequence}", std::process::id());
    std::fs::create_dir_all(&trash).is_ok() && std::fs::rename(runpath, trash.join(name)).is_ok()
}

/// Empties the trash of the environment whose runpath is `runpath` on a thread of its own,
/// once its drivers started: removing files then competes with no driver's start for the
/// machine's cores. Every entry goes, not only this run's: a plan killed before its removal
/// finished left its own. Two removals racing over one entry both end with it gone.
fn empty_trash(runpath: &Path) {
    let trash = runpath.join(TRASH_FOLDER);
    if !trash.exists() {
        return;
    }
    let _ = std::thread::Builder::new()
        .name("testrig-trash".into())
        .spawn(move || {
            if let Ok(entries) = std::fs::read_dir(&trash) {
                for entry in entries.flatten() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
            // Left when another plan's removal is under way: it is empty the next time.
            let _ = std::fs::remove_dir(&trash);
        });
}

/// Stops a driver between its stop hooks, which see the environment's running drivers.
fn stop_driver(
    driver: &dyn Driver,
    runpath: &Path,
    (scope, exported): (&ContextScope, &[(String, String)]),
) -> Result<(), DriverError> {
    let deadline = crate::deadline::deadline_after(driver.common().stop_timeout);
    let hook = |phase| {
        let mut context = HookContext::new(driver, phase, runpath, scope, exported, deadline);
        run_hook(phase, driver, &mut context)
    };
    let pre = hook(HookPhase::PreStop);
    // The driver stops even when its pre_stop hook failed: nothing may be left running.
    let stopped = driver.stop();
    let post = hook(HookPhase::PostStop);
    stopped.and(pre).and(post)
}

/// `DRIVER_<NAME>_ATTR_<ATTR>=value` for every started driver (Testplan's export to the
/// processes a test starts).
pub(crate) fn exported_variables(scope: &ContextScope) -> Vec<(String, String)> {
    let slug = |text: &str| text.to_uppercase().replace([' ', '-', '.'], "_");
    let mut variables = Vec::new();
    for (driver, attributes) in scope.drivers() {
        for (attribute, value) in attributes {
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            variables.push((
                format!("DRIVER_{}_ATTR_{}", slug(driver), slug(attribute)),
                text,
            ));
        }
    }
    variables
}

/// A cycle in the predecessor graph, as driver indexes in dependency order.
fn find_cycle(predecessors: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        node: usize,
        predecessors: &[Vec<usize>],
        marks: &mut [Mark],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        marks[node] = Mark::Active;
        path.push(node);
        for &before in &predecessors[node] {
            match marks[before] {
                Mark::Active => {
                    let start = path.iter().position(|&n| n == before).unwrap_or(0);
                    // `path` runs against the dependency direction; reverse it to read a → b.
                    let mut cycle: Vec<usize> = path[start..].to_vec();
                    cycle.reverse();
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(cycle) = visit(before, predecessors, marks, path) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks[node] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; predecessors.len()];
    for node in 0..predecessors.len() {
        if marks[node] == Mark::New
            && let Some(cycle) = visit(node, predecessors, &mut marks, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

/// Per-driver status and attributes, for the console's environment summary.
pub fn describe_attributes(attributes: &Attributes) -> String {
    let parts: BTreeMap<&String, String> = attributes
        .iter()
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (key, text)
        })
        .collect();
    parts
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handed_off(pid: serde_json::Value) -> HandedOffDriver {
        HandedOffDriver {
            name: "server".into(),
            definition: String::new(),
            attributes: Attributes::new(),
            state: serde_json::json!({ "pid": pid }),
        }
    }

    #[test]
    fn a_discarded_hand_off_kills_its_group_and_nothing_else() {
        use std::os::unix::process::CommandExt as _;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        discard_handed_off(&handed_off(child.id().into()));
        // Reaped by the discard: the pid is no longer this process's child.
        assert!(child.try_wait().is_err() || child.try_wait().unwrap().is_some());
        // The guard the discard goes through refuses init's group (`kill(-1)`: every
        // process this user may signal) and the plan's own; checked with a harmless signal.
        let own = rustix::process::getpgrp().as_raw_pid();
        assert!(!crate::drivers::signal_group(own, rustix::process::Signal::CONT).unwrap());
        assert!(!crate::drivers::signal_group(1, rustix::process::Signal::CONT).unwrap());
        discard_handed_off(&handed_off(serde_json::json!("not a pid")));
        // A state file edited by hand: negative and zero pids name no group to kill.
        discard_handed_off(&handed_off(serde_json::json!(-5)));
        discard_handed_off(&handed_off(serde_json::json!(0)));
    }

    #[test]
    fn cycles_are_found_and_read_in_dependency_order() {
        // 0 → 1 → 2 → 0 as predecessors: 1 needs 0, 2 needs 1, 0 needs 2.
        let predecessors = vec![vec![2], vec![0], vec![1]];
        let cycle = find_cycle(&predecessors).unwrap();
        assert_eq!(cycle.len(), 3);
        let position = |n: usize| cycle.iter().position(|&c| c == n).unwrap();
        assert_eq!(
            (position(1) + 3 - position(0)) % 3,
            1,
            "0 comes before 1: {cycle:?}"
        );
        assert!(find_cycle(&[vec![], vec![0], vec![0, 1]]).is_none());
    }

    #[test]
    fn exported_variable_names_are_upper_case_slugs() {
        let mut scope = ContextScope::new();
        let mut attributes = Attributes::new();
        attributes.insert("port".into(), serde_json::json!(4242));
        attributes.insert("log-path".into(), serde_json::json!("/tmp/x"));
        scope.insert("my server", attributes);
        let variables = exported_variables(&scope);
        assert!(variables.contains(&("DRIVER_MY_SERVER_ATTR_PORT".into(), "4242".into())));
        assert!(variables.contains(&("DRIVER_MY_SERVER_ATTR_LOG_PATH".into(), "/tmp/x".into())));
    }

    #[test]
    fn a_runpath_of_an_earlier_run_is_moved_aside_and_the_trash_emptied() {
        let root = std::env::temp_dir().join(format!("testrig-trash-{}", std::process::id()));
        let runpath = root.join("db");
        std::fs::create_dir_all(runpath.join("data")).unwrap();
        std::fs::write(runpath.join("data/old.log"), "earlier run").unwrap();
        // What a killed plan left in the trash goes too.
        std::fs::create_dir_all(root.join(TRASH_FOLDER).join("1-0/deep")).unwrap();
        prepare_runpath(&runpath).unwrap();
        assert!(runpath.is_dir());
        assert_eq!(std::fs::read_dir(&runpath).unwrap().count(), 0, "empty");
        empty_trash(&root);
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while root.join(TRASH_FOLDER).exists() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!root.join(TRASH_FOLDER).exists(), "the trash is emptied");
        assert!(runpath.is_dir(), "the new runpath stays");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn names_that_are_folders_of_the_runpath_are_refused() {
        for name in [".", "..", TRASH_FOLDER, "a/b", ""] {
            let environment =
                Environment::new(vec![crate::drivers::App::new(name, "true").into()], None);
            let error = environment.validate("Test").unwrap_err().to_string();
            assert!(error.contains("invalid driver name"), "{name}: {error}");
        }
    }
}

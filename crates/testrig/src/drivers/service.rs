//! What the service drivers (Postgres, Redis, MariaDb, Zookeeper) share: finding the server
//! program the machine has installed, and starting it as an [`App`] on a reserved free port,
//! again on another port when the server's log says the port was taken meanwhile.
//!
//! A service driver is an App with a known command line, readiness and attributes: its
//! process runs in its own group, logs to its runpath, is watched for crashes and never
//! outlives the plan, exactly like an App the user configures by hand.

use std::path::{Path, PathBuf};

use crate::drivers::App;
use crate::drivers::ports::{PortReservation, reserve_port, says_port_taken};
use crate::env::{Driver, DriverError, StartContext};

/// How many ports a service tries before its start fails (each conflict is another
/// program binding the port between the reservation and the server's own bind).
const PORT_ATTEMPTS: usize = 3;

/// A server program started by a service driver.
pub(crate) struct ServiceRun {
    /// The server process.
    pub(crate) app: App,
    /// The port it listens on, reserved until the run is dropped.
    pub(crate) port: PortReservation,
}

impl ServiceRun {
    /// Why the server died, when it did (for [`Driver::failure`]).
    pub(crate) fn failure_of(run: Option<&ServiceRun>) -> Option<DriverError> {
        run?.app.failure()
    }

    /// The server's log tail, if it was started (for [`Driver::log_tail`]).
    pub(crate) fn log_tail_of(run: Option<&ServiceRun>, lines: usize) -> Vec<String> {
        run.map(|run| run.app.log_tail(lines)).unwrap_or_default()
    }
}

#[cfg(any(feature = "postgres", feature = "mariadb"))]
/// A folder of its own under the temporary folder (`testrig-<prefix>-<pid>-<n>`), for what
/// cannot live in the runpath: a unix socket whose path would be too long there, data the
/// server's account cannot reach there. The driver removes it at stop.
pub(crate) fn scratch_folder(prefix: &str, kind: &str, name: &str) -> Result<PathBuf, DriverError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    sweep_scratch_folders(prefix);
    let folder = std::env::temp_dir().join(format!(
        "testrig-{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).map_err(|error| {
        DriverError::new(format!(
            "failed to create the scratch folder `{}` of {kind} `{name}`: {error}",
            folder.display()
        ))
    })?;
    Ok(folder)
}

/// Removes the scratch folders of plans that are gone (SIGKILLed before their drivers could
/// stop: the reaper kills their servers, but folders are not processes).
#[cfg(any(feature = "postgres", feature = "mariadb"))]
fn sweep_scratch_folders(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let start = format!("testrig-{prefix}-");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(&start))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Removes a scratch folder when dropped, unless kept: a start that fails between making the
/// folder and handing it to the driver's state (initdb failed, timed out) leaves nothing.
#[cfg(any(feature = "postgres", feature = "mariadb"))]
pub(crate) struct ScratchGuard(pub(crate) Option<PathBuf>);

#[cfg(any(feature = "postgres", feature = "mariadb"))]
impl ScratchGuard {
    /// The start succeeded: the driver's stop removes the folder.
    pub(crate) fn keep(mut self) {
        self.0 = None;
    }
}

#[cfg(any(feature = "postgres", feature = "mariadb"))]
impl Drop for ScratchGuard {
    fn drop(&mut self) {
        if let Some(folder) = self.0.take() {
            let _ = std::fs::remove_dir_all(folder);
        }
    }
}

#[cfg(any(feature = "postgres", feature = "mariadb"))]
/// Whether a unix socket named `socket` fits in `folder` (a socket path is at most 107
/// bytes).
pub(crate) fn socket_fits(folder: &Path, socket: &str) -> bool {
    folder.as_os_str().len() + 1 + socket.len() < 104
}

/// The error of a start while the service runs.
pub(crate) fn already_running(kind: &str, name: &str) -> DriverError {
    DriverError::new(format!(
        "{kind} `{name}` is already running; stop it before starting it again"
    ))
}

/// The error of a readiness wait without a start.
pub(crate) fn not_started(kind: &str, name: &str) -> DriverError {
    DriverError::new(format!(
        "{kind} `{name}` was not started before waiting for it"
    ))
}

/// Spawns the server `build` makes for a reserved port (readiness is waited for by
/// [`wait_on_free_port`]).
pub(crate) fn spawn_on_free_port(
    context: &StartContext,
    build: impl Fn(u16) -> Result<App, DriverError>,
) -> Result<ServiceRun, DriverError> {
    let port = reserve_port()?;
    let app = build(port.port())?;
    app.start(context)?;
    Ok(ServiceRun { app, port })
}

/// Waits until the server is ready; when it failed because its port was taken meanwhile,
/// spawns it again on another port, a bounded number of times. On error nothing is left
/// running.
pub(crate) fn wait_on_free_port(
    run: &mut ServiceRun,
    context: &StartContext,
    build: impl Fn(u16) -> Result<App, DriverError>,
) -> Result<(), DriverError> {
    let mut attempt = 1;
    loop {
        let error = match run.app.wait_ready(context) {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        let _ = run.app.stop();
        let log_tail = if error.log_tail.is_empty() {
            run.app.log_tail(20)
        } else {
            error.log_tail.clone()
        };
        if attempt >= PORT_ATTEMPTS || !says_port_taken(&log_tail) {
            return Err(error.with_log_tail(log_tail));
        }
        attempt += 1;
        *run = spawn_on_free_port(context, &build)?;
    }
}

/// Finds `program`: on `PATH`, else in the first of `folders` (newest first) that has it;
/// when it is missing the error names the Debian package that installs it.
pub(crate) fn find_program(
    program: &str,
    folders: &[PathBuf],
    package: &str,
    driver: &str,
) -> Result<PathBuf, DriverError> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .iter()
        .chain(folders)
        .map(|folder| folder.join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            DriverError::new(format!(
                "`{program}` (for driver `{driver}`) is not installed: install Debian's `{package}` package (apt-get install {package}) or put `{program}` on PATH"
            ))
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(feature = "postgres")]
/// The sub-folders of `parent` whose names are versions (`15`, `16`), newest first, each
/// joined with `tail` (`/usr/lib/postgresql/<version>/bin`).
pub(crate) fn versioned_folders(parent: &str, tail: &str) -> Vec<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(parent)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| {
                    let name = entry.file_name();
                    let version = name.to_str()?.split('.').next()?.parse().ok()?;
                    Some((version, entry.path().join(tail)))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|version| std::cmp::Reverse(version.0));
    versions.into_iter().map(|(_, path)| path).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::DriverSettings;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn a_port_taken_between_reservation_and_bind_is_retried_on_another_port() {
        let runpath = std::env::temp_dir().join(format!("testrig-service-{}", std::process::id()));
        std::fs::create_dir_all(&runpath).unwrap();
        let context = StartContext::new(&runpath, Duration::from_secs(10));
        let attempts = AtomicUsize::new(0);
        let ports = Mutex::new(Vec::new());
        let build = |port: u16| {
            ports.lock().unwrap().push(port);
            let script = if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                format!("echo 'bind 127.0.0.1:{port}: Address already in use' >&2; exit 1")
            } else {
                format!("echo listening on {port}; exec sleep 30")
            };
            Ok(App::new("server", "/bin/sh")
                .arg("-c")
                .arg(script)
                .ready_when(crate::drivers::WaitFor::stdout("listening"))
                .stop_timeout(Duration::from_secs(1)))
        };
        let mut run = spawn_on_free_port(&context, build).unwrap();
        wait_on_free_port(&mut run, &context, build).unwrap();
        let ports = ports.lock().unwrap().clone();
        assert_eq!(ports.len(), 2);
        assert_eq!(run.port.port(), ports[1]);
        assert!(run.app.pid().is_some());
        run.app.stop().unwrap();

        // A failure that is not a port conflict is not retried.
        let failing = |_: u16| {
            Ok(App::new("server", "/bin/sh")
                .args(["-c", "echo 'FATAL: bad setting' >&2; exit 1"])
                .ready_when(crate::drivers::WaitFor::stdout("listening")))
        };
        let mut run = spawn_on_free_port(&context, failing).unwrap();
        let error = wait_on_free_port(&mut run, &context, failing).unwrap_err();
        assert!(error.message.contains("exited with status 1"), "{error}");
        assert_eq!(error.log_tail, ["[stderr] FATAL: bad setting"]);
        let _ = std::fs::remove_dir_all(&runpath);
    }

    #[cfg(any(feature = "postgres", feature = "mariadb"))]
    #[test]
    fn scratch_folders_of_plans_that_are_gone_are_swept() {
        // A pid no process has (above any pid_max in use here) and this process's own.
        let gone = std::env::temp_dir().join("testrig-sweeptest-4194000-0");
        let ours = std::env::temp_dir().join(format!("testrig-sweeptest-{}-0", std::process::id()));
        std::fs::create_dir_all(gone.join("data")).unwrap();
        std::fs::create_dir_all(&ours).unwrap();
        sweep_scratch_folders("sweeptest");
        assert!(!gone.exists());
        assert!(ours.exists());
        let _ = std::fs::remove_dir_all(&ours);
    }

    #[test]
    fn a_missing_program_names_the_package_to_install() {
        let error =
            find_program("no-such-server-testrig", &[], "no-such-package", "db").unwrap_err();
        assert_eq!(
            error.message,
            "`no-such-server-testrig` (for driver `db`) is not installed: install Debian's `no-such-package` package (apt-get install no-such-package) or put `no-such-server-testrig` on PATH"
        );
        assert_eq!(
            find_program("sh", &[], "dash", "db")
                .unwrap()
                .file_name()
                .unwrap(),
            "sh"
        );
    }
}

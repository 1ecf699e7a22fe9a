//! Code reload in interactive mode: rebuild the plan with cargo in the background, then
//! re-execute the new binary in place, handing it the listening socket and the report so
//! that browsers reconnect to the same port and find the results they had.
//!
//! The rebuild's progress goes out as `Reload` events on the same stream as everything else
//! (DESIGN.md §5, "Reload keeps the environment"). A failed build changes nothing: the old
//! code keeps serving and the compiler's errors are shown. Started drivers are handed over
//! too: their processes stay children of this PID across `exec`, and the new image takes
//! over those whose definition is unchanged (`env::Environment::start`). Which kept results
//! are stale follows from what the previous image knew of its code ([`CodeSnapshot`]).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use testrig_model::{Event, NodeKind, ReloadPhase, ReloadStatus, Report, ReportNode};

use crate::env::HandedOffDriver;
use crate::events::now;
use crate::impact::{RecordedCoverage, StoredUnit, fingerprint_source, unit_index_for_span};
use crate::interactive::state::{InteractiveState, Refusal};
use crate::interactive::watch::{BinaryTarget, WatchSet, Workspace};

/// Version of the hand-off file; another version is refused and the plan starts afresh.
const HANDOFF_VERSION: u32 = 2;

/// Lines of compiler output kept in a failed reload's message.
const OUTPUT_LINES: usize = 200;

/// Lines of compiler output shown while the build runs, and how often they are updated.
const PROGRESS_LINES: usize = 20;
const PROGRESS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// What one process image hands to the next.
#[derive(Debug, Serialize, Deserialize)]
pub struct Handoff {
    /// [`HANDOFF_VERSION`].
    pub version: u32,
    /// The listening socket's descriptor, kept open across `exec`.
    pub listener_fd: i32,
    /// The report as it was, so results survive the reload.
    pub report: Report,
    /// The started drivers that keep running across the reload, by test UID.
    #[serde(default)]
    pub drivers: BTreeMap<String, Vec<HandedOffDriver>>,
    /// What the previous image's code was when it started: a result whose code changed
    /// since is marked stale.
    #[serde(flatten)]
    pub code: CodeSnapshot,
    /// How long the rebuild took, in seconds.
    #[serde(default)]
    pub build_seconds: f64,
    /// Sources were saved again during the build: the new image reloads once more.
    #[serde(default)]
    pub rebuild_pending: bool,
    /// The interactive server's access token, so that open tabs keep working after the
    /// reload (the file is readable by its owner only, and removed once read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl Handoff {
    /// Reads and checks a hand-off file, then removes it (it is good for one start).
    pub fn read(path: &Path) -> Result<Handoff, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read the hand-off `{}`: {error}", path.display()))?;
        let _ = std::fs::remove_file(path);
        let handoff: Handoff = serde_json::from_str(&text)
            .map_err(|error| format!("corrupt hand-off `{}`: {error}", path.display()))?;
        if handoff.version != HANDOFF_VERSION {
            return Err(format!(
                "hand-off version {} is not {HANDOFF_VERSION}",
                handoff.version
            ));
        }
        Ok(handoff)
    }

    /// The listening socket the previous image kept open.
    #[expect(
        unsafe_code,
        reason = "a descriptor inherited across exec can only be adopted from its number"
    )]
    pub fn listener(&self) -> Result<TcpListener, String> {
        use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
        let fd = self.listener_fd;
        if fd < 0 {
            return Err(format!(
                "the hand-off names descriptor {fd}, which is not a descriptor; start the plan again without --reload-handoff"
            ));
        }
        // SAFETY: the previous image of this process cleared close-on-exec on this listening
        // socket and named it in the hand-off, which is read once (and removed); nothing
        // else in this image knows the descriptor, so taking ownership cannot double-close.
        let listener = TcpListener::from(unsafe { OwnedFd::from_raw_fd(fd) });
        if let Err(error) = listener.local_addr() {
            // Not a socket after all: let go without closing what is not ours.
            let _ = listener.into_raw_fd();
            return Err(format!(
                "the hand-off's descriptor {fd} is not a listening socket: {error}"
            ));
        }
        listener
            .set_nonblocking(true)
            .map_err(|error| format!("cannot use the hand-off's socket: {error}"))?;
        // The previous image cleared close-on-exec to pass it here; set again, the next exec
        // passes only the copy it names, instead of every generation's descriptor piling up.
        rustix::io::fcntl_setfd(&listener, rustix::io::FdFlags::CLOEXEC)
            .map_err(|error| format!("cannot use the hand-off's socket: {error}"))?;
        Ok(listener)
    }
}

/// Rebuilds and re-executes the plan on request.
pub struct Reloader {
    command: Vec<String>,
    /// The command came from --reload-command: it may run without a known workspace.
    custom: bool,
    /// The running binary.
    exe: PathBuf,
    /// Where cargo builds (the target folder the running binary came from).
    target_dir: Option<PathBuf>,
    /// The plan's workspace, found from the binary (off the start-up path), or why not.
    workspace: OnceLock<Result<Workspace, String>>,
    /// A second handle on the listening socket, passed to the next image.
    listener: TcpListener,
    /// A save came while a build or a run was under way: reload again afterwards (handed
    /// to the next image when the reload in progress succeeds).
    pending: AtomicBool,
    /// The code as of this image's start, captured off the start-up path.
    code: Mutex<CodeCapture>,
    /// The server's access token, handed to the next image.
    token: Option<String>,
}

impl Reloader {
    /// A reloader for the running binary: `command` overrides the derived build command.
    pub fn new(
        command: Option<&str>,
        listener: TcpListener,
        code: CodeCapture,
        token: Option<String>,
    ) -> Result<Reloader, String> {
        let exe = std::env::current_exe()
            .map_err(|error| format!("cannot locate the plan binary: {error}"))?;
        let (derived, target_dir) = derive_build(&exe);
        let custom = command.is_some();
        let command = match command {
            Some(text) if text.trim().is_empty() => {
                return Err(
                    "--reload-command is empty; give the command that rebuilds the plan, e.g. `cargo test --no-run --test plan`, or leave the flag out"
                        .to_string(),
                );
            }
            Some(text) => text.split_whitespace().map(str::to_string).collect(),
            None if !BinaryTarget::of(&exe).is_some_and(|binary| binary.built_by_cargo()) => {
                return Err(format!(
                    "`{}` is not in a cargo target folder (no `.fingerprint` folder beside it), so how to rebuild it is unknown; give the build command with --reload-command",
                    exe.display()
                ));
            }
            None => derived.ok_or_else(|| {
                format!(
                    "cannot tell how `{}` was built; give the command with --reload-command",
                    exe.display()
                )
            })?,
        };
        Ok(Reloader {
            command,
            custom,
            exe,
            target_dir,
            workspace: OnceLock::new(),
            listener,
            pending: AtomicBool::new(false),
            code: Mutex::new(code),
            token,
        })
    }

    /// The code as of this image's start, waiting for its capture if it is still running.
    fn code(&self) -> CodeSnapshot {
        let mut code = self
            .code
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let captured =
            match std::mem::replace(&mut *code, CodeCapture::Ready(CodeSnapshot::default())) {
                CodeCapture::Ready(snapshot) => snapshot,
                // A capture that panicked knows nothing: every result counts as changed.
                CodeCapture::Pending(capture) => capture.join().unwrap_or_default(),
            };
        *code = CodeCapture::Ready(captured.clone());
        captured
    }

    /// The plan's workspace, found from its binary the first time it is asked for.
    fn workspace(&self) -> &Result<Workspace, String> {
        self.workspace.get_or_init(|| {
            let binary = BinaryTarget::of(&self.exe)
                .ok_or_else(|| format!("`{}` is not a cargo build output", self.exe.display()))?;
            Workspace::of_binary(&self.exe, &binary)
        })
    }

    /// Where the build runs: the workspace root (the working folder only for a
    /// --reload-command in no known workspace).
    fn build_dir(&self) -> PathBuf {
        match self.workspace() {
            Ok(workspace) => workspace.root.clone(),
            Err(_) => PathBuf::from("."),
        }
    }

    /// On a thread of its own, so that neither the printed URL nor the first run waits:
    /// finds the plan's workspace (saying once why reload is off if there is none) and,
    /// with `watch`, reloads on every saved change that can change the build — members'
    /// sources and manifests, `Cargo.lock`, the declared `inputs` — debounced; files that
    /// were only opened do not count. A save while testcases run or a build is under way
    /// waits for them to end.
    pub fn start_in_background(
        self: &Arc<Self>,
        state: &Arc<InteractiveState>,
        inputs: Vec<PathBuf>,
        watch: bool,
    ) -> Result<(), String> {
        let reloader = self.clone();
        let state = state.clone();
        // A save while the watches are being set up counts too.
        let since = std::time::SystemTime::now();
        std::thread::Builder::new()
            .name("testrig-reload-watch".into())
            .spawn(move || {
                let workspace = match (reloader.workspace(), reloader.custom) {
                    (Ok(workspace), _) => workspace.clone(),
                    (Err(why), false) => {
                        eprintln!("note: code reload is off: {why}");
                        return;
                    }
                    (Err(why), true) => {
                        eprintln!(
                            "note: reload on save is off: {why}; the Reload button runs `{}` in the working folder",
                            reloader.command()
                        );
                        return;
                    }
                };
                if watch {
                    reloader.watch(&state, &workspace, &inputs, since);
                }
            })
            .map_err(|error| format!("cannot start the watcher: {error}"))?;
        Ok(())
    }

    /// Watches `workspace` for as long as the process runs (on the calling thread).
    fn watch(
        self: &Arc<Self>,
        state: &Arc<InteractiveState>,
        workspace: &Workspace,
        inputs: &[PathBuf],
        mut since: std::time::SystemTime,
    ) {
        use notify_debouncer_mini::notify::{ErrorKind, RecursiveMode};

        let mut skipped = vec![state.runpath.clone()];
        skipped.extend(self.target_dir.clone());
        let mut set = WatchSet::new(workspace, inputs, skipped);
        let (changes, events) = std::sync::mpsc::channel();
        let mut debouncer = match notify_debouncer_mini::new_debouncer(
            std::time::Duration::from_millis(50),
            changes,
        ) {
            Ok(debouncer) => debouncer,
            Err(error) => {
                eprintln!("warning: reload on save is off: cannot watch files: {error}");
                return;
            }
        };
        // One watch per folder; at the kernel's limit, say so once and watch no more.
        let mut full = false;
        let mut add = |folders: &mut dyn Iterator<Item = &PathBuf>| -> usize {
            let mut added = 0;
            for folder in folders {
                if full {
                    break;
                }
                match debouncer
                    .watcher()
                    .watch(folder, RecursiveMode::NonRecursive)
                {
                    Ok(()) => added += 1,
                    Err(error) if matches!(error.kind, ErrorKind::MaxFilesWatch) => {
                        full = true;
                        // The system's limit, or a user namespace's lower one.
                        let limit = [
                            "/proc/sys/fs/inotify/max_user_watches",
                            "/proc/sys/user/max_inotify_watches",
                        ]
                        .iter()
                        .filter_map(|path| std::fs::read_to_string(path).ok())
                        .filter_map(|limit| limit.trim().parse::<u64>().ok())
                        .min()
                        .map_or_else(|| "?".to_string(), |limit| limit.to_string());
                        eprintln!(
                            "warning: reload on save is partial: the kernel's inotify watch limit ({limit} watches) was reached at `{}`, so saves there and in folders not yet watched are missed; raise it (e.g. `sudo sysctl fs.inotify.max_user_watches=524288`) or use the Reload button",
                            folder.display()
                        );
                    }
                    // Gone since it was listed: nothing there to change the build.
                    Err(_) => {}
                }
            }
            added
        };
        let watched = add(&mut set.folders.keys());
        eprintln!(
            "note: reload on save watches {watched} folders of the workspace `{}` (its members' sources and manifests, Cargo.lock, declared inputs)",
            workspace.root.display()
        );
        let written_since = |path: &Path, since: std::time::SystemTime| {
            std::fs::metadata(path)
                .and_then(|meta| meta.modified())
                .is_ok_and(|modified| modified >= since)
                && path.is_file()
        };
        // What was saved before the watches were in place.
        if set.folders.keys().any(|folder| {
            std::fs::read_dir(folder)
                .into_iter()
                .flatten()
                .flatten()
                .any(|entry| {
                    let path = entry.path();
                    set.counts(&path) && written_since(&path, since)
                })
        }) {
            self.pending.store(true, Ordering::SeqCst);
        }
        // Only files written since the last rebuild began count: the build itself opens
        // every source, which the watcher reports too.
        loop {
            let batch = match events.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(Ok(batch)) => batch,
                Ok(Err(_)) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Vec::new(),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
            };
            for event in &batch {
                if set.is_new_source_folder(&event.path) {
                    let new = set.walk(&event.path);
                    add(&mut new.iter());
                }
            }
            let saved = batch
                .iter()
                .any(|event| set.counts(&event.path) && written_since(&event.path, since));
            if saved {
                since = std::time::SystemTime::now();
                self.pending.store(true, Ordering::SeqCst);
            }
            // A save during a build or a run is not lost: it waits for them to end.
            if self.pending.load(Ordering::SeqCst) && state.is_idle() && self.start(state).is_ok() {
                self.pending.store(false, Ordering::SeqCst);
            }
        }
    }

    /// Asks for a reload as soon as nothing runs (the watcher starts it).
    pub fn request(&self) {
        self.pending.store(true, Ordering::SeqCst);
    }

    /// The build command, as shown to users.
    pub fn command(&self) -> String {
        self.command.join(" ")
    }

    /// Starts a rebuild in the background; refused while one runs or anything is queued
    /// or running, and, from then until the exec or a failed build, runs and environment
    /// requests are refused (one gate in the state orders the two).
    pub fn start(self: &Arc<Self>, state: &Arc<InteractiveState>) -> Result<(), Refusal> {
        if let (Err(why), false) = (self.workspace(), self.custom) {
            return Err(Refusal::BadRequest(format!(
                "code reload is not available: {why}"
            )));
        }
        state.begin_reload(&format!("rebuilding with `{}`", self.command()))?;
        let reloader = self.clone();
        let thread_state = state.clone();
        std::thread::Builder::new()
            .name("testrig-reload".into())
            .spawn(move || {
                reloader.rebuild_and_exec(&thread_state);
                thread_state.end_reload();
            })
            .map_err(|error| {
                state.end_reload();
                Refusal::Conflict(format!("cannot start the rebuild: {error}"))
            })?;
        Ok(())
    }

    fn rebuild_and_exec(&self, state: &Arc<InteractiveState>) {
        let say = |phase: ReloadPhase, message: String| {
            state.sink().emit(Event::Reload {
                reload: ReloadStatus::new(phase, message, now()),
            });
        };
        say(ReloadPhase::Rebuilding, format!("$ {}", self.command()));
        let started = std::time::Instant::now();
        let built = self.build(|output| {
            say(
                ReloadPhase::Rebuilding,
                format!("$ {}\n{output}", self.command()),
            );
        });
        let build_seconds = started.elapsed().as_secs_f64();
        let executable = match built {
            Ok(executable) => executable,
            Err(output) => {
                say(ReloadPhase::Failed, output);
                return;
            }
        };
        say(
            ReloadPhase::Reloading,
            format!(
                "built in {build_seconds:.2} s; re-executing {}",
                executable.display()
            ),
        );
        let error = self.exec(state, &executable, build_seconds);
        say(
            ReloadPhase::Failed,
            format!("the rebuilt plan could not be started: {error}"),
        );
    }

    /// Runs the build; the new executable, or the compiler's output. While it runs, the
    /// latest lines of its output go to `progress` (a few times a second at most).
    fn build(&self, progress: impl Fn(String)) -> Result<PathBuf, String> {
        use std::io::{BufRead, BufReader, Read};

        let mut command = Command::new(&self.command[0]);
        command
            .args(&self.command[1..])
            .current_dir(self.build_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(target) = &self.target_dir {
            command.env("CARGO_TARGET_DIR", target);
        }
        let mut child = command
            .spawn()
            .map_err(|error| format!("failed to run `{}`: {error}", self.command()))?;
        // Cargo's JSON messages (stdout) are read aside so neither pipe can fill up.
        let mut stdout_pipe = child.stdout.take();
        let messages = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(pipe) = stdout_pipe.as_mut() {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        });
        let mut lines = std::collections::VecDeque::new();
        let mut shown = std::time::Instant::now();
        if let Some(stderr) = child.stderr.take() {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.len() == OUTPUT_LINES {
                    lines.pop_front();
                }
                lines.push_back(line);
                if shown.elapsed() >= PROGRESS_INTERVAL {
                    shown = std::time::Instant::now();
                    let skip = lines.len().saturating_sub(PROGRESS_LINES);
                    progress(
                        lines
                            .iter()
                            .skip(skip)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join("\n"),
                    );
                }
            }
        }
        let status = child
            .wait()
            .map_err(|error| format!("failed to run `{}`: {error}", self.command()))?;
        let stdout = messages.join().unwrap_or_default();
        let tail = Vec::from(lines).join("\n");
        if !status.success() {
            return Err(format!("{} failed:\n{tail}", self.command()));
        }
        let executables: Vec<String> = stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|message| message["reason"] == "compiler-artifact")
            .filter_map(|message| message["executable"].as_str().map(str::to_string))
            .collect();
        match executables.as_slice() {
            [] => std::env::current_exe()
                .map_err(|error| format!("cannot locate the plan binary: {error}")),
            [one] => Ok(PathBuf::from(one)),
            many => Err(format!(
                "the build produced {} executables ({}); name the plan in --reload-command",
                many.len(),
                many.join(", ")
            )),
        }
    }

    /// Hands everything over and re-executes; returns only on failure.
    fn exec(&self, state: &Arc<InteractiveState>, executable: &Path, build_seconds: f64) -> String {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;

        // The gate refuses new runs meanwhile; this is in case one slipped in before it.
        if let Err(problem) = state.check_nothing_runs() {
            return problem;
        }
        // Environments in worker processes stop in order now (the workers run this image's
        // code); the next image's workers start them again when a run needs them.
        state.shut_down_process_sessions();
        state.settle();
        let Some(report) = state.report() else {
            return "the report is not readable".into();
        };
        let handoff = Handoff {
            version: HANDOFF_VERSION,
            listener_fd: self.listener.as_raw_fd(),
            report,
            drivers: state.handoff_drivers(),
            code: self.code(),
            build_seconds,
            rebuild_pending: self.pending.load(Ordering::SeqCst),
            token: self.token.clone(),
        };
        let path = PathBuf::from(&handoff.report.runpath).join("reload-handoff.json");
        let text = match serde_json::to_string(&handoff) {
            Ok(text) => text,
            Err(error) => return format!("cannot write the hand-off: {error}"),
        };
        if let Err(error) = write_private(&path, text.as_bytes()) {
            return format!("cannot write the hand-off `{}`: {error}", path.display());
        }
        if let Err(error) = rustix::io::fcntl_setfd(&self.listener, rustix::io::FdFlags::empty()) {
            return format!("cannot keep the listening socket across exec: {error}");
        }
        // Driver processes stay up: they remain children of this PID across exec, and the
        // new image takes them over. In-process drivers end with this image.
        let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
        if let Some(at) = args.iter().position(|arg| arg == "--reload-handoff") {
            args.drain(at..(at + 2).min(args.len()));
        }
        // The reaper's pipe closes with this image: it must not stop what the next one
        // takes over.
        crate::drivers::release_groups_for_handoff();
        let error = Command::new(executable)
            .args(&args)
            .arg("--reload-handoff")
            .arg(&path)
            .exec();
        crate::drivers::watch_handed_over_groups();
        let _ = rustix::io::fcntl_setfd(&self.listener, rustix::io::FdFlags::CLOEXEC);
        error.to_string()
    }
}

/// Writes a file only its owner can read: the hand-off carries the access token.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

/// What a reload did to the results: testcases that kept theirs (and how many of those are
/// stale), new ones, and removed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CarriedResults {
    /// Testcases that exist in both images and kept their results.
    pub kept: usize,
    /// Of those, the ones whose source changed: marked stale.
    pub stale: usize,
    /// Testcases only the new image has.
    pub new: usize,
    /// Testcases only the previous image had.
    pub removed: usize,
}

/// Copies the results of testcases that still exist from the report of the previous image
/// into the new skeleton, marking stale those `stale` names (with why).
pub fn carry_results(
    old: &Report,
    new: &mut Report,
    stale: &BTreeMap<String, String>,
) -> CarriedResults {
    fn testcases(node: &ReportNode, out: &mut HashMap<String, ReportNode>) {
        if node.kind == NodeKind::Testcase {
            out.insert(node.uid.clone(), node.clone());
        }
        for child in &node.children {
            testcases(child, out);
        }
    }
    let mut previous = HashMap::new();
    testcases(&old.plan, &mut previous);
    let mut carried = CarriedResults::default();
    let mut stack = vec![&mut new.plan];
    while let Some(node) = stack.pop() {
        if node.kind == NodeKind::Testcase {
            match previous.remove(&node.uid) {
                Some(result) => {
                    let ran = result.status != testrig_model::Status::Unknown;
                    node.status = result.status;
                    node.timer = result.timer;
                    node.error = result.error;
                    node.entries = result.entries;
                    // Stale stays stale until the testcase runs again.
                    node.stale = ran
                        .then(|| stale.get(&node.uid).cloned().or(result.stale))
                        .flatten();
                    carried.kept += 1;
                    carried.stale += usize::from(node.stale.is_some());
                }
                None => carried.new += 1,
            }
        }
        stack.extend(node.children.iter_mut());
    }
    new.plan.recompute();
    carried.removed = previous.len();
    carried
}

/// The code snapshot of an image: ready, or still being captured on a thread of its own
/// (fingerprinting every testcase's file takes a while on a large plan, and a fresh start
/// should answer at once).
pub enum CodeCapture {
    /// Captured.
    Ready(CodeSnapshot),
    /// Being captured.
    Pending(std::thread::JoinHandle<CodeSnapshot>),
}

/// What an image knew of its code when it started, handed to the next one to tell which
/// results the reload made stale.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CodeSnapshot {
    /// Each testcase's fingerprint: the hash of the tokens of the function it is defined in.
    #[serde(default, rename = "testcase_fingerprints")]
    pub testcases: BTreeMap<String, String>,
    /// The source units of the files `cargo testrig affected` recorded coverage of, when it
    /// did (then a change to any function a testcase executed makes it stale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Vec<StoredUnit>>,
}

/// The code of the running image and the recorded coverage that relates it to testcases.
pub struct CodeState {
    /// What is handed on.
    pub snapshot: CodeSnapshot,
    coverage: Option<RecordedCoverage>,
    /// Why the recorded coverage cannot be used, when it cannot.
    coverage_problem: Option<String>,
}

/// Which kept results a reload made stale, and what the reload message adds about it.
#[derive(Debug, Default)]
pub struct StaleResults {
    /// Testcase UID → why its result is stale.
    pub stale: BTreeMap<String, String>,
    /// How staleness was decided beyond each testcase's own function ("" when only that).
    pub note: String,
}

impl CodeState {
    /// Fingerprints the code of the plan `plan` whose report skeleton is `report`, from the
    /// sources under the workspace `root`.
    pub fn capture(report: &Report, root: &Path, plan: &str) -> CodeState {
        let testcases = testcase_fingerprints(report, root);
        let (coverage, mut coverage_problem) = match RecordedCoverage::open(root, plan) {
            Ok(coverage) => (coverage, None),
            Err(error) => (None, Some(error)),
        };
        let units = match coverage.as_ref().map(RecordedCoverage::snapshot) {
            Some(Ok(units)) => Some(units),
            Some(Err(error)) => {
                coverage_problem =
                    Some(format!("the sources could not be fingerprinted ({error})"));
                None
            }
            None => None,
        };
        CodeState {
            snapshot: CodeSnapshot { testcases, units },
            coverage,
            coverage_problem,
        }
    }

    /// The testcases whose results the change from `previous` to this code makes stale, each
    /// with why: those whose own function changed, and, with recorded coverage, those that
    /// executed a function (or code in a file with an item) that changed.
    pub fn stale_since(&self, previous: &CodeSnapshot) -> StaleResults {
        let mut stale: BTreeMap<String, String> = BTreeMap::new();
        for (uid, fingerprint) in &previous.testcases {
            if self.snapshot.testcases.get(uid) != Some(fingerprint) {
                stale.insert(uid.clone(), "its code changed".into());
            }
        }
        let mut problem = self.coverage_problem.clone();
        let mut used = false;
        if let (Some(coverage), Some(before), Some(after)) =
            (&self.coverage, &previous.units, &self.snapshot.units)
        {
            match coverage.affected(before, after) {
                Ok(affected) => {
                    used = true;
                    for (uid, reasons) in affected {
                        let reasons: Vec<String> =
                            reasons.iter().map(ToString::to_string).collect();
                        stale.insert(uid, reasons.join("; "));
                    }
                }
                Err(error) => {
                    problem = Some(format!("the impact database could not be read ({error})"));
                }
            }
        }
        let note = match problem {
            Some(problem) => format!("; recorded coverage not used: {problem}"),
            None if used => "; stale also where a testcase ran changed code, as `cargo testrig affected` recorded it".to_string(),
            None => String::new(),
        };
        StaleResults { stale, note }
    }
}

/// Each testcase's fingerprint: the hash of the tokens of the function it is defined in
/// (comments and whitespace do not count), found from its source location under `root`.
fn testcase_fingerprints(report: &Report, root: &Path) -> BTreeMap<String, String> {
    let mut by_file: BTreeMap<String, Vec<(String, u32)>> = BTreeMap::new();
    let mut stack = vec![&report.plan];
    while let Some(node) = stack.pop() {
        if node.kind == NodeKind::Testcase
            && let Some(location) = &node.location
        {
            by_file
                .entry(location.file.to_string())
                .or_default()
                .push((node.uid.clone(), location.line));
        }
        stack.extend(node.children.iter());
    }
    let mut fingerprints = BTreeMap::new();
    for (file, testcases) in by_file {
        let Ok(source) = std::fs::read_to_string(root.join(&file)) else {
            continue;
        };
        let Ok(units) = fingerprint_source(&file, &source) else {
            continue;
        };
        // Testcases share lines (a suite in several tests, parametrizations): look each
        // line up once, not once per testcase.
        let mut by_line: HashMap<u32, Option<usize>> = HashMap::new();
        for (uid, line) in testcases {
            let unit = *by_line
                .entry(line)
                .or_insert_with(|| unit_index_for_span(&units, &file, (line, line)));
            if let Some(index) = unit {
                fingerprints.insert(uid, units[index].fingerprint.clone());
            }
        }
    }
    fingerprints
}

/// The cargo command that rebuilds the binary at `exe`, and the target folder it is in:
/// `target/<profile>/deps/<name>-<hash>` is a test target, `target/<profile>/<name>` a bin,
/// `target/<profile>/examples/<name>` an example.
fn derive_build(exe: &Path) -> (Option<Vec<String>>, Option<PathBuf>) {
    let Some(binary) = BinaryTarget::of(exe) else {
        return (None, None);
    };
    let kind = match binary.kind {
        "test" => "--test",
        "example" => "--example",
        _ => "--bin",
    };
    let name = binary.name.clone();
    let profile = binary
        .profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let target_dir = binary.target_dir().map(Path::to_path_buf);
    // Under `cargo test` or `cargo run`, CARGO names the cargo that built the plan.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command: Vec<String> = vec![cargo];
    command.extend(
        if kind == "--test" {
            ["test", "--no-run"]
        } else {
            ["build", "--quiet"]
        }
        .map(String::from),
    );
    command.extend(["--message-format", "json-render-diagnostics", kind].map(String::from));
    command.push(name);
    match profile {
        "debug" => {}
        "release" => command.push("--release".into()),
        other => command.extend(["--profile".to_string(), other.to_string()]),
    }
    (Some(command), target_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use testrig_model::{SourceLocation, Status};

    /// A plan of one suite with these testcases, each defined at `plan.rs:<line>`.
    fn report(testcases: &[(&str, Status, u32)]) -> Report {
        let mut suite = ReportNode::new(NodeKind::Suite, "T/S", "S");
        for (name, status, line) in testcases {
            let mut node = ReportNode::new(NodeKind::Testcase, format!("T/S/{name}"), *name);
            node.status = *status;
            node.location = Some(SourceLocation::new("plan.rs", *line, 0));
            suite.children.push(node);
        }
        let mut test = ReportNode::new(NodeKind::Test, "T", "T");
        test.children.push(suite);
        let mut plan = ReportNode::new(NodeKind::Plan, "p", "p");
        plan.children.push(test);
        plan.recompute();
        Report::new(plan, "host".into(), "runpath".into())
    }

    #[test]
    fn results_are_carried_over_and_those_of_changed_code_marked_stale() {
        let root = std::env::temp_dir().join(format!("testrig-carry-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let source = "fn kept() { one(); }\nfn changed() { two(); }\nfn removed() {}\nfn never_ran() { three(); }\n";
        std::fs::write(root.join("plan.rs"), source).unwrap();
        let old = report(&[
            ("kept", Status::Passed, 1),
            ("changed", Status::Failed, 2),
            ("removed", Status::Passed, 3),
            ("never_ran", Status::Unknown, 4),
        ]);
        let before = CodeState::capture(&old, &root, "no recorded plan");
        assert!(before.snapshot.units.is_none(), "no coverage recorded");
        assert_eq!(before.snapshot.testcases.len(), 4);

        // A comment is no change; a changed body is; `removed` goes, `added` comes.
        let edited = "fn kept() { one(); } // fine\nfn changed() { two(2); }\nfn never_ran() { four(); }\nfn added() {}\n";
        std::fs::write(root.join("plan.rs"), edited).unwrap();
        let mut new = report(&[
            ("kept", Status::Unknown, 1),
            ("changed", Status::Unknown, 2),
            ("never_ran", Status::Unknown, 3),
            ("added", Status::Unknown, 4),
        ]);
        let after = CodeState::capture(&new, &root, "no recorded plan");
        let StaleResults { stale, note } = after.stale_since(&before.snapshot);
        assert_eq!(note, "", "only the testcases' own functions decide");
        // `removed` too: its code is gone (it has no node left to mark).
        assert_eq!(
            stale.keys().collect::<Vec<_>>(),
            ["T/S/changed", "T/S/never_ran", "T/S/removed"]
        );
        let carried = carry_results(&old, &mut new, &stale);
        assert_eq!(
            carried,
            CarriedResults {
                kept: 3,
                stale: 1,
                new: 1,
                removed: 1
            }
        );
        let node = |name: &str| {
            new.plan.children[0].children[0]
                .children
                .iter()
                .find(|node| node.name == name)
                .unwrap()
                .clone()
        };
        assert_eq!(node("kept").status, Status::Passed);
        assert_eq!(node("kept").stale, None);
        assert_eq!(node("changed").status, Status::Failed);
        assert_eq!(node("changed").stale.as_deref(), Some("its code changed"));
        assert_eq!(node("never_ran").stale, None, "no result, nothing stale");
        assert_eq!(node("added").status, Status::Unknown);
        assert_eq!(new.plan.status, Status::Failed, "counts folded again");

        // Still stale after another reload that did not touch it.
        let mut again = report(&[("changed", Status::Unknown, 2)]);
        carry_results(&new, &mut again, &BTreeMap::new());
        assert_eq!(
            again.plan.children[0].children[0].children[0]
                .stale
                .as_deref(),
            Some("its code changed")
        );
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn the_build_output_is_shown_while_it_runs_and_kept_when_it_fails() {
        let dir = std::env::temp_dir().join(format!("testrig-build-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("build.sh");
        std::fs::write(
            &script,
            "echo '   Compiling first' >&2; sleep 0.4; echo '   Compiling second' >&2; sleep 0.4\n\
             echo 'error: it broke' >&2; exit 101\n",
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let reloader = Reloader::new(
            Some(&format!("sh {}", script.display())),
            listener,
            CodeCapture::Ready(CodeSnapshot::default()),
            None,
        )
        .unwrap();
        let shown = std::sync::Mutex::new(Vec::new());
        let started = std::time::Instant::now();
        let error = reloader
            .build(|output| shown.lock().unwrap().push((started.elapsed(), output)))
            .unwrap_err();
        let shown = shown.into_inner().unwrap();
        assert!(
            shown
                .iter()
                .any(|(at, output)| output.contains("Compiling second")
                    && !output.contains("it broke")
                    && *at < std::time::Duration::from_millis(700)),
            "progress came before the end: {shown:?}"
        );
        assert!(
            error.ends_with("failed:\n   Compiling first\n   Compiling second\nerror: it broke"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_build_command_follows_from_where_the_binary_is() {
        let (command, target) = derive_build(Path::new("/w/target/debug/deps/app-0123abcd"));
        assert_eq!(
            command.unwrap()[1..].join(" "),
            "test --no-run --message-format json-render-diagnostics --test app"
        );
        assert_eq!(target, Some(PathBuf::from("/w/target")));
        let (command, _) = derive_build(Path::new("/w/target/release/plan10k"));
        assert_eq!(
            command.unwrap()[1..].join(" "),
            "build --quiet --message-format json-render-diagnostics --bin plan10k --release"
        );
        let (command, _) = derive_build(Path::new("/w/target/ci/examples/demo"));
        assert!(
            command
                .unwrap()
                .join(" ")
                .ends_with("--example demo --profile ci")
        );
    }
}

//! An App's output through pipes into its log files.
//!
//! The program writes to two pipes; testrig copies what arrives into `stdout` and `stderr`
//! in the driver's runpath, which stay plain files every other part reads (log tails,
//! regex extracts, the UI). While the driver's start waits for readiness, the waiting
//! thread does the copying itself and wakes on the pipe: a write to a pipe wakes its reader
//! on the writer's core, where a write to a watched file (inotify) wakes an idle core
//! first — 0.7–1 ms a driver on a virtual machine, on the critical path of every chain of
//! drivers. A wait that also probes (TCP, HTTP, a closure) leaves the copying to the pump.
//! Once the wait is over, the process's one pump thread copies for every App until the
//! program and everything that inherited its output have closed it; a reader of the logs
//! ([`LogPump::sync`]) first has it copy what was written before the read.
//!
//! The pipes' read ends outlive a reload of the plan: the hand-off names them and clears
//! close-on-exec, and the next image takes them over ([`LogPump::adopt`]).

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::FdFlags;

/// One output of the program: its pipe, until it is closed, and the log it is copied to.
struct Stream {
    pipe: Option<Arc<OwnedFd>>,
    log: File,
}

/// The read ends of an App's output pipes with their log files, held by whoever copies.
pub(crate) struct LogPipes {
    streams: Vec<Stream>,
}

/// Reads of a pipe per drain: 1 MiB at most, then the reader looks elsewhere.
const READS_PER_DRAIN: usize = 16;

/// The write ends the program gets as its stdout and stderr.
pub(crate) struct ChildEnds {
    pub(crate) stdout: OwnedFd,
    pub(crate) stderr: OwnedFd,
}

impl LogPipes {
    /// Two pipes whose output goes to `stdout` and `stderr` (created empty).
    pub(crate) fn create(stdout: &Path, stderr: &Path) -> io::Result<(LogPipes, ChildEnds)> {
        // New files, not the old ones truncated: the pump may still be copying the last
        // words of a previous run (a restart) into those.
        for log in [stdout, stderr] {
            match std::fs::remove_file(log) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
        let (out_read, out_write) = pipe()?;
        let (err_read, err_write) = pipe()?;
        let pipes = LogPipes {
            streams: vec![
                Stream {
                    pipe: Some(Arc::new(out_read)),
                    log: File::create(stdout)?,
                },
                Stream {
                    pipe: Some(Arc::new(err_read)),
                    log: File::create(stderr)?,
                },
            ],
        };
        let ends = ChildEnds {
            stdout: out_write,
            stderr: err_write,
        };
        Ok((pipes, ends))
    }

    /// Copies what the pipes hold now into the logs, at most [`READS_PER_DRAIN`] reads a
    /// pipe (a program that writes without end must not hold its reader: the wait has a
    /// deadline, the pump other programs); never blocks. A pipe whose writers are all gone
    /// is dropped.
    pub(crate) fn drain(&mut self) {
        let mut buffer = [0u8; 64 * 1024];
        for stream in &mut self.streams {
            let Some(pipe) = &stream.pipe else {
                continue;
            };
            for _ in 0..READS_PER_DRAIN {
                match rustix::io::read(pipe.as_fd(), &mut buffer) {
                    Ok(0) => {
                        stream.pipe = None;
                        break;
                    }
                    // A log that cannot be written (a full disk) loses lines, not the run.
                    Ok(read) => {
                        let _ = stream.log.write_all(&buffer[..read]);
                    }
                    Err(rustix::io::Errno::INTR) => {}
                    Err(rustix::io::Errno::AGAIN) => break,
                    Err(_) => {
                        stream.pipe = None;
                        break;
                    }
                }
            }
        }
    }

    /// The pipes still open, to wait on.
    pub(crate) fn pipes(&self) -> Vec<BorrowedFd<'_>> {
        self.streams
            .iter()
            .filter_map(|stream| stream.pipe.as_deref().map(AsFd::as_fd))
            .collect()
    }

    fn is_closed(&self) -> bool {
        self.streams.iter().all(|stream| stream.pipe.is_none())
    }
}

/// The process's one thread that copies the output of every App past its readiness wait,
/// woken by the pipes and, for new ones, by an eventfd. Handing pipes over costs a write
/// to the eventfd, not a thread start, on the driver's start path.
struct PumpThread {
    inbox: Mutex<Vec<LogPipes>>,
    wake: OwnedFd,
    /// Copy passes asked for and done: a reader of the logs asks for one and waits until
    /// a pass that began after its request is over.
    passes: Mutex<Passes>,
    passed: Condvar,
}

#[derive(Default)]
struct Passes {
    requested: u64,
    completed: u64,
}

impl PumpThread {
    fn add(&self, pipes: LogPipes) {
        self.inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(pipes);
        self.wake_up();
    }

    fn wake_up(&self) {
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }

    fn passes(&self) -> std::sync::MutexGuard<'_, Passes> {
        self.passes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `timeout` until what every pipe held when it was called is in the logs.
    fn sync(&self, timeout: Duration) {
        let target = {
            let mut passes = self.passes();
            passes.requested += 1;
            passes.requested
        };
        self.wake_up();
        let passes = self.passes();
        drop(
            self.passed
                .wait_timeout_while(passes, timeout, |passes| passes.completed < target)
                .unwrap_or_else(PoisonError::into_inner),
        );
    }

    fn run(&self) {
        let mut copying: Vec<LogPipes> = Vec::new();
        loop {
            copying.append(&mut self.inbox.lock().unwrap_or_else(PoisonError::into_inner));
            let pass = self.passes().requested;
            for pipes in &mut copying {
                pipes.drain();
            }
            copying.retain(|pipes| !pipes.is_closed());
            self.passes().completed = pass;
            self.passed.notify_all();
            let mut fds = vec![PollFd::new(&self.wake, PollFlags::IN)];
            for pipes in &copying {
                fds.extend(
                    pipes
                        .pipes()
                        .into_iter()
                        .map(|fd| PollFd::from_borrowed_fd(fd, PollFlags::IN)),
                );
            }
            let _ = poll(&mut fds, None);
            drop(fds);
            let mut count = [0u8; 8];
            let _ = rustix::io::read(&self.wake, &mut count);
        }
    }
}

/// The pump's thread, started on first use; `None` when it cannot start.
fn pump_thread() -> Option<&'static PumpThread> {
    static PUMP: std::sync::OnceLock<Option<&'static PumpThread>> = std::sync::OnceLock::new();
    *PUMP.get_or_init(|| {
        use rustix::event::{EventfdFlags, eventfd};
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).ok()?;
        // Lives as long as the process: the thread never ends.
        let pump: &'static PumpThread = Box::leak(Box::new(PumpThread {
            inbox: Mutex::new(Vec::new()),
            wake,
            passes: Mutex::new(Passes::default()),
            passed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("testrig-log-pump".into())
            .spawn(move || pump.run())
            .ok()?;
        Some(pump)
    })
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    // Only testrig's end: the program's stays blocking, as a file would be.
    rustix::fs::fcntl_setfl(&read, rustix::fs::OFlags::NONBLOCK)?;
    Ok((read, write))
}

/// Who copies an App's output: the readiness wait (it takes the pipes), then the pump's
/// thread, shared by every App of the process.
pub(crate) struct LogPump {
    /// The pipes until the wait or the thread takes them.
    pipes: Mutex<Option<LogPipes>>,
    /// The read ends, kept open for the hand-off to a reloaded image whoever holds the
    /// pipes; stdout's then stderr's.
    read_ends: Vec<Arc<OwnedFd>>,
    /// Set when the pump's thread copies.
    in_background: AtomicBool,
}

impl LogPump {
    pub(crate) fn new(pipes: LogPipes) -> LogPump {
        let read_ends = pipes
            .streams
            .iter()
            .filter_map(|stream| stream.pipe.clone())
            .collect();
        LogPump {
            pipes: Mutex::new(Some(pipes)),
            read_ends,
            in_background: AtomicBool::new(false),
        }
    }

    /// The pipes for a readiness wait, which copies while it waits and hands them back with
    /// [`LogPump::in_background`]; `None` once the thread copies.
    pub(crate) fn take(&self) -> Option<LogPipes> {
        self.pipes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Copies on the pump's thread from now on: the pipes given back by the wait, or
    /// those not taken yet.
    pub(crate) fn in_background(&self, pipes: Option<LogPipes>) {
        let Some(pipes) = pipes.or_else(|| self.take()) else {
            return;
        };
        self.in_background.store(true, Ordering::Release);
        match pump_thread() {
            Some(pump) => pump.add(pipes),
            // Without the thread the program would block once a pipe is full: say so where
            // its output would have gone.
            None => eprintln!(
                "testrig: cannot copy a driver's output to its log: no thread could be started"
            ),
        }
    }

    /// Brings the logs up to date with what the program wrote before the call, waiting up
    /// to `timeout` for the pump's thread: a test that reads a log after the program
    /// answered finds the line the program printed before answering. A readiness wait in
    /// progress copies by itself before every check.
    pub(crate) fn sync(&self, timeout: Duration) {
        if let Some(pipes) = self
            .pipes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            // Not taken by a wait nor the thread: nobody else reads them.
            pipes.drain();
            return;
        }
        if self.in_background.load(Ordering::Acquire)
            && let Some(pump) = pump_thread()
        {
            pump.sync(timeout);
        }
    }

    /// The read ends for a hand-off to the next image of the plan — `{"fd", "id"}` each,
    /// the id being the pipe's identity (`pipe:[inode]`) — with close-on-exec cleared so
    /// that `exec` keeps them.
    pub(crate) fn hand_off(&self) -> serde_json::Value {
        self.read_ends
            .iter()
            .filter(|fd| rustix::io::fcntl_setfd(fd.as_fd(), FdFlags::empty()).is_ok())
            .filter_map(|fd| {
                let id = pipe_identity(fd.as_raw_fd())?;
                Some(serde_json::json!({ "fd": fd.as_raw_fd(), "id": id }))
            })
            .collect()
    }

    /// Takes over the read ends a previous image handed over (stdout's, stderr's) and
    /// copies from them into the logs; `None` when they are not the pipes they were.
    pub(crate) fn adopt(
        handed_over: &[HandedOverPipe],
        stdout: &Path,
        stderr: &Path,
    ) -> Option<LogPump> {
        let [out, err] = handed_over else {
            LogPump::discard(handed_over);
            return None;
        };
        let (out, err) = (inherited(out), inherited(err));
        let open = |path: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
        };
        let pipes = LogPipes {
            streams: vec![
                Stream {
                    pipe: Some(Arc::new(out?)),
                    log: open(stdout)?,
                },
                Stream {
                    pipe: Some(Arc::new(err?)),
                    log: open(stderr)?,
                },
            ],
        };
        let pump = LogPump::new(pipes);
        pump.in_background(None);
        Some(pump)
    }

    /// The read ends named in a driver's hand-off state (its `pipes`), if it has any.
    pub(crate) fn handed_over(state: &serde_json::Value) -> Option<Vec<HandedOverPipe>> {
        let pipes = state["pipes"].as_array()?;
        Some(
            pipes
                .iter()
                .map(|pipe| HandedOverPipe {
                    fd: pipe["fd"]
                        .as_i64()
                        .and_then(|fd| RawFd::try_from(fd).ok())
                        .unwrap_or(-1),
                    id: pipe["id"].as_str().unwrap_or_default().to_string(),
                })
                .collect(),
        )
    }

    /// Lets go of the read ends a previous image handed over for a program that is not
    /// taken over: they go at the next `exec` (see [`inherited`]); the program itself is
    /// killed by its caller.
    pub(crate) fn discard(handed_over: &[HandedOverPipe]) {
        handed_over.iter().for_each(|pipe| drop(inherited(pipe)));
    }
}

/// A pipe's read end named in a hand-off: its number and its identity then.
pub(crate) struct HandedOverPipe {
    fd: RawFd,
    id: String,
}

/// `pipe:[inode]` for a pipe descriptor of this process.
fn pipe_identity(fd: RawFd) -> Option<String> {
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    let target = target.to_string_lossy();
    target.starts_with("pipe:").then(|| target.into_owned())
}

/// A pipe's read end inherited across `exec`: a duplicate this image owns; `None` when the
/// number is not the pipe that was handed over. The inherited number itself is not taken
/// over, only marked close-on-exec: nothing can prove that no other owner in this image
/// holds it (a hand-off read twice, a reload that failed after the hand-off was written),
/// and closing a descriptor another owner holds would close whatever reuses its number.
/// It goes at the next `exec`.
#[expect(
    unsafe_code,
    reason = "a descriptor inherited across exec can only be reached by its number"
)]
fn inherited(pipe: &HandedOverPipe) -> Option<OwnedFd> {
    // A number that is not open, or another pipe, is not what was handed over.
    if pipe.fd < 0 || pipe_identity(pipe.fd).as_deref() != Some(pipe.id.as_str()) {
        return None;
    }
    // SAFETY: `fd` was just seen open as this very pipe, and the borrow lasts two fcntl
    // calls; should the number be closed meanwhile, they fail with EBADF.
    let borrowed = unsafe { BorrowedFd::borrow_raw(pipe.fd) };
    let _ = rustix::io::fcntl_setfd(borrowed, FdFlags::CLOEXEC);
    rustix::io::fcntl_dupfd_cloexec(borrowed, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    /// Runs `script` with its output into `ends`.
    fn spawn_into(ends: ChildEnds, script: &str) -> std::process::Child {
        Command::new("/bin/sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::from(ends.stdout))
            .stderr(Stdio::from(ends.stderr))
            .spawn()
            .unwrap()
    }

    fn folder(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("testrig-log-pump-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_program_s_output_reaches_its_logs_and_the_pump_ends_with_it() {
        let dir = folder("copy");
        let (stdout, stderr) = (dir.join("stdout"), dir.join("stderr"));
        let (pipes, ends) = LogPipes::create(&stdout, &stderr).unwrap();
        let mut child = spawn_into(
            ends,
            "echo out; echo err >&2; head -c 200000 /dev/zero | tr '\\0' x",
        );
        let pump = LogPump::new(pipes);
        // More than a pipe holds: the program finishes only because the pump copies.
        pump.in_background(None);
        assert!(child.wait().unwrap().success());
        pump.sync(Duration::from_secs(5));
        let out = std::fs::read_to_string(&stdout).unwrap();
        assert!(out.starts_with("out\n"), "{}", &out[..20]);
        assert_eq!(out.len(), 4 + 200_000);
        assert_eq!(std::fs::read_to_string(&stderr).unwrap(), "err\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sync_brings_the_logs_up_to_date_while_a_process_holds_the_pipe() {
        let dir = folder("held");
        let (pipes, ends) = LogPipes::create(&dir.join("stdout"), &dir.join("stderr")).unwrap();
        let mut child = spawn_into(ends, "echo up; exec sleep 5");
        let pump = LogPump::new(pipes);
        pump.in_background(None);
        std::thread::sleep(Duration::from_millis(200));
        let start = Instant::now();
        pump.sync(Duration::from_secs(5));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "no wait for the end"
        );
        assert_eq!(std::fs::read_to_string(dir.join("stdout")).unwrap(), "up\n");
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_inherited_number_that_is_not_a_pipe_is_not_taken() {
        let file = File::open("/proc/self/stat").unwrap();
        let named = |fd: RawFd| HandedOverPipe {
            fd,
            id: "pipe:[1]".into(),
        };
        assert!(inherited(&named(file.as_raw_fd())).is_none());
        assert!(inherited(&named(-1)).is_none());
        // Still open: it was not taken, so not closed.
        assert!(rustix::fs::fstat(&file).is_ok());
    }

    #[test]
    fn a_handed_over_pipe_is_copied_from_by_the_next_owner() {
        let dir = folder("adopt");
        let (stdout, stderr) = (dir.join("stdout"), dir.join("stderr"));
        let (pipes, ends) = LogPipes::create(&stdout, &stderr).unwrap();
        let old = LogPump::new(pipes);
        let state = serde_json::json!({ "pipes": old.hand_off() });
        let handed_over = LogPump::handed_over(&state).unwrap();
        assert_eq!(handed_over.len(), 2);
        // The old image's pump never copies (it is gone by `exec`); the adopted one does.
        let new = LogPump::adopt(&handed_over, &stdout, &stderr).expect("pipes are taken over");
        let mut child = spawn_into(ends, "echo after the reload");
        assert!(child.wait().unwrap().success());
        new.sync(Duration::from_secs(5));
        assert_eq!(
            std::fs::read_to_string(&stdout).unwrap(),
            "after the reload\n"
        );
        // A hand-off that names another pipe by the number is refused.
        let pipes = &state["pipes"];
        let swapped = serde_json::json!({ "pipes": [
            { "fd": pipes[0]["fd"], "id": pipes[1]["id"] },
            pipes[1],
        ] });
        let swapped = LogPump::handed_over(&swapped).unwrap();
        assert!(LogPump::adopt(&swapped, &stdout, &stderr).is_none());
        drop(old);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

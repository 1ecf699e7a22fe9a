//! Ctrl-C and SIGTERM: the first stops scheduling and lets running testcases finish for a
//! short grace period, after which the partial report is written and the plan exits 130;
//! the second kills every driver process group and exits at once.
//!
//! The stop request is a value, a [`StopSignal`], handed from the plan to the run context
//! and to whoever waits; only the signal handler itself is process-wide, since a process
//! has one.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

/// Exit status of an interrupted run (128 + SIGINT), as shells report it.
pub const INTERRUPTED_EXIT_CODE: u8 = 130;

/// A plan's stop request, and a place to wait for it or for anything else that wakes it.
#[derive(Clone, Debug, Default)]
pub struct StopSignal {
    state: Arc<StopState>,
}

#[derive(Debug, Default)]
struct StopState {
    /// Read on every testcase: a plain load, no lock.
    stopped: AtomicBool,
    /// Waiters sleep on `changed` under `lock`; changes are announced under it, so none is
    /// missed between a waiter's check and its sleep.
    lock: Mutex<()>,
    changed: Condvar,
    /// Waiters with a condition of their own (a testcase's end) whom a stop or a wake must
    /// reach too: each has its own condition variable, so the end of one testcase wakes
    /// only the one waiting for it, not every waiter of the run.
    listeners: Mutex<Vec<Weak<Wakeup>>>,
}

/// A place for one waiter to sleep until its own condition changes, or the [`StopSignal`]
/// it listens to is stopped or woken.
#[derive(Debug, Default)]
pub(crate) struct Wakeup {
    lock: Mutex<()>,
    changed: Condvar,
}

impl Wakeup {
    /// Wakes the waiter: what it waits for may have changed (change it before).
    pub(crate) fn notify(&self) {
        drop(self.lock.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.notify_all();
    }

    /// Waits until `done()` holds, at most `timeout` (forever with `None`); true when it
    /// holds.
    pub(crate) fn wait_until(&self, timeout: Option<Duration>, done: impl Fn() -> bool) -> bool {
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if done() {
                return true;
            }
            guard = match deadline {
                None => self
                    .changed
                    .wait(guard)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.changed
                        .wait_timeout(guard, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

/// A [`Wakeup`] listening to a [`StopSignal`]; it stops listening when dropped.
pub(crate) struct Listening {
    signal: StopSignal,
    wakeup: Arc<Wakeup>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.signal
            .state
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|listener| {
                listener
                    .upgrade()
                    .is_some_and(|listener| !Arc::ptr_eq(&listener, &self.wakeup))
            });
    }
}

impl StopSignal {
    /// A signal nobody has stopped yet.
    pub fn new() -> StopSignal {
        StopSignal::default()
    }

    /// Asks everything that holds the signal to stop, and wakes its waiters.
    pub fn stop(&self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// True once a stop was asked for: schedule nothing new.
    pub fn is_stopped(&self) -> bool {
        self.state.stopped.load(Ordering::SeqCst)
    }

    /// Wakes the waiters without stopping: what they wait for may have changed. Whoever
    /// changes it does so before waking.
    pub fn wake(&self) {
        drop(
            self.state
                .lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        self.state.changed.notify_all();
        let listeners: Vec<Arc<Wakeup>> = self
            .state
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for listener in listeners {
            listener.notify();
        }
    }

    /// Makes `wakeup` hear every stop and wake of this signal, until the result is dropped.
    pub(crate) fn listen(&self, wakeup: &Arc<Wakeup>) -> Listening {
        self.state
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(wakeup));
        Listening {
            signal: self.clone(),
            wakeup: wakeup.clone(),
        }
    }

    /// Waits until `done(stopped)` holds, at most `timeout` (forever with `None`); true when
    /// it holds. `done` is asked again after every stop or wake.
    pub fn wait_until(&self, timeout: Option<Duration>, done: impl Fn(bool) -> bool) -> bool {
        let StopState {
            stopped,
            lock,
            changed,
            ..
        } = &*self.state;
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let mut guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if done(stopped.load(Ordering::SeqCst)) {
                return true;
            }
            guard = match deadline {
                None => changed.wait(guard).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    changed
                        .wait_timeout(guard, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }
}

/// Installs the Ctrl-C/SIGTERM handler and returns the signal it stops. A process has one
/// handler: a second plan in the same process (a test harness running two) gets the same
/// signal.
pub fn install_interrupt_handler(grace_seconds: f64) -> StopSignal {
    install(Some(format!(
        "testrig: interrupted; waiting up to {grace_seconds}s for running testcases, then writing the reports (Ctrl-C again exits at once)"
    )))
}

/// The handler of a worker process, whose parent sends it the signals: the first stops
/// the run, the second runs `last_words` (stop the environments, so the report says how
/// the drivers ended) and exits; the parent does the talking.
pub(crate) fn install_worker_interrupt_handler(
    last_words: Box<dyn Fn() + Send + Sync>,
) -> StopSignal {
    install_with(None, Some(last_words))
}

fn install(announce: Option<String>) -> StopSignal {
    install_with(announce, None)
}

fn install_with(
    announce: Option<String>,
    last_words: Option<Box<dyn Fn() + Send + Sync>>,
) -> StopSignal {
    static PROCESS_SIGNAL: OnceLock<StopSignal> = OnceLock::new();
    let mut first = false;
    let signal = PROCESS_SIGNAL
        .get_or_init(|| {
            first = true;
            StopSignal::new()
        })
        .clone();
    if first {
        let stop = signal.clone();
        let signals = AtomicUsize::new(0);
        // Without a handler Ctrl-C still ends the plan, only without its report; nothing
        // better can be done when a socket pair or a thread cannot be had.
        let _ = on_termination_signals(move || {
            if signals.fetch_add(1, Ordering::SeqCst) > 0 {
                if announce.is_some() {
                    eprintln!(
                        "testrig: interrupted again; killing driver processes and exiting now"
                    );
                }
                if let Some(last_words) = &last_words {
                    last_words();
                }
                crate::drivers::kill_all_process_groups();
                std::process::exit(i32::from(INTERRUPTED_EXIT_CODE));
            }
            if let Some(announce) = &announce {
                eprintln!("{announce}");
            }
            stop.stop();
        });
    }
    signal
}

/// Calls `handler` on a thread of its own for every SIGINT, SIGTERM and SIGHUP. The signal
/// handler proper only writes a byte to a socket (async-signal-safe, signal-hook's
/// self-pipe), so `handler` may print, lock and exit. Both ends are close-on-exec: driver
/// processes and a reloaded plan image do not inherit them.
fn on_termination_signals(handler: impl Fn() + Send + 'static) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use std::io::{ErrorKind, Read};
    use std::os::fd::AsRawFd;
    let (mut wakeups, wake) = std::os::unix::net::UnixStream::pair()?;
    // One descriptor serves the three signals; the reader thread owns it, so it stays open
    // for as long as anything can write to it.
    let wake_fd = wake.as_raw_fd();
    // The reader first: a handler registered with no one reading would swallow Ctrl-C.
    std::thread::Builder::new()
        .name("testrig-signals".into())
        .spawn(move || {
            let _wake = wake;
            let mut byte = [0u8; 1];
            loop {
                match wakeups.read(&mut byte) {
                    Ok(0) => break,
                    Ok(_) => handler(),
                    Err(error) if error.kind() == ErrorKind::Interrupted => {}
                    // Cannot happen on a connected socket pair; exiting is what a signal
                    // without a handler would have done.
                    Err(_) => std::process::exit(i32::from(INTERRUPTED_EXIT_CODE)),
                }
            }
        })?;
    let mut registered = Vec::new();
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        match signal_hook::low_level::pipe::register_raw(signal, wake_fd) {
            Ok(id) => registered.push(id),
            Err(error) => {
                // All three or none: the default actions stay for the others.
                for id in registered {
                    signal_hook::low_level::unregister(id);
                }
                return Err(error);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn a_waiter_wakes_for_a_stop_and_for_what_it_waits_for() {
        let signal = StopSignal::new();
        let done = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (signal, done) = (signal.clone(), done.clone());
            std::thread::spawn(move || {
                signal.wait_until(None, |stopped| stopped || done.load(Ordering::SeqCst))
            })
        };
        done.store(true, Ordering::SeqCst);
        signal.wake();
        assert!(waiter.join().unwrap());
        assert!(!signal.is_stopped());

        let stopper = signal.clone();
        let waiter = std::thread::spawn(move || stopper.wait_until(None, |stopped| stopped));
        signal.stop();
        assert!(waiter.join().unwrap());
        assert!(signal.is_stopped());
    }

    #[test]
    fn a_wait_with_a_timeout_gives_up() {
        let signal = StopSignal::new();
        let started = Instant::now();
        assert!(!signal.wait_until(Some(Duration::from_millis(30)), |_| false));
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}

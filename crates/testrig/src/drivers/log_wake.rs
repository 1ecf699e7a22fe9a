//! Wakes a driver's readiness wait as soon as a log it watches is written to (inotify),
//! or one of the descriptors the caller adds becomes readable (an App's output pipes, a
//! pidfd for its exit; see `log_pump.rs`), instead of at the next poll: a line the wait is
//! for is seen within microseconds rather than up to a poll interval later, which adds up
//! along a chain of drivers that start one after another. The conditions that cannot be
//! watched (a TCP port, an HTTP answer, a probe) are checked at every wake-up, which comes
//! at the latest after the timeout the caller passes.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

/// An inotify watch on a driver's log files; without inotify (or with its watch limit
/// reached) the wait is a plain sleep.
pub(crate) struct LogWake {
    inotify: Option<OwnedFd>,
}

impl LogWake {
    /// Watches `logs` for writes.
    pub(crate) fn watching(logs: &[&Path]) -> LogWake {
        if logs.is_empty() {
            return LogWake { inotify: None };
        }
        let inotify = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
            .ok()
            .filter(|fd| {
                logs.iter()
                    .all(|log| inotify::add_watch(fd, *log, WatchFlags::MODIFY).is_ok())
            });
        LogWake { inotify }
    }

    /// Whether writes to the logs wake the wait (false without logs, or without inotify).
    pub(crate) fn is_watching(&self) -> bool {
        self.inotify.is_some()
    }

    /// Sleeps up to `timeout`, or until a watched log is written to.
    pub(crate) fn wait(&self, timeout: Duration) {
        self.wait_or_readable(timeout, &[]);
    }

    /// Sleeps up to `timeout`, until a watched log is written to, or until one of `pipes`
    /// has something to read (or was closed).
    pub(crate) fn wait_or_readable(&self, timeout: Duration, pipes: &[BorrowedFd<'_>]) {
        if self.inotify.is_none() && pipes.is_empty() {
            std::thread::sleep(timeout);
            return;
        }
        let timeout = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: timeout.subsec_nanos().into(),
        };
        let mut fds: Vec<PollFd<'_>> = self
            .inotify
            .iter()
            .map(|inotify| PollFd::new(inotify, PollFlags::IN))
            .chain(
                pipes
                    .iter()
                    .map(|pipe| PollFd::from_borrowed_fd(*pipe, PollFlags::IN)),
            )
            .collect();
        if poll(&mut fds, Some(&timeout)).is_ok_and(|ready| ready > 0)
            && let Some(inotify) = &self.inotify
        {
            // The events themselves say nothing the next check will not see: drained.
            let mut events = [0u8; 4096];
            while rustix::io::read(inotify, &mut events).is_ok_and(|read| read > 0) {}
        }
    }
}

impl Drop for LogWake {
    fn drop(&mut self) {
        // Closing an inotify instance waits for the kernel's grace period, milliseconds that
        // would delay the drivers that start after this one: closed off the start's path.
        if let Some(inotify) = self.inotify.take() {
            crate::background::free_in_background(inotify);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Instant;

    #[test]
    fn a_write_to_a_watched_log_wakes_the_wait_at_once() {
        let dir = std::env::temp_dir().join(format!("testrig-log-wake-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("stdout");
        std::fs::write(&log, "").unwrap();
        let wake = LogWake::watching(&[&log]);
        assert!(wake.inotify.is_some(), "inotify is available here");
        let writer = std::thread::spawn({
            let log = log.clone();
            move || {
                std::thread::sleep(Duration::from_millis(50));
                let mut file = std::fs::OpenOptions::new().append(true).open(log).unwrap();
                file.write_all(b"ready\n").unwrap();
            }
        });
        let start = Instant::now();
        wake.wait(Duration::from_secs(5));
        let waited = start.elapsed();
        writer.join().unwrap();
        assert!(
            waited >= Duration::from_millis(40) && waited < Duration::from_secs(2),
            "woken after {waited:?}"
        );
        // Nothing written: the wait lasts its timeout.
        let start = Instant::now();
        wake.wait(Duration::from_millis(30));
        assert!(start.elapsed() >= Duration::from_millis(25));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The accept loop of the mock servers ([`TcpServer`](super::TcpServer),
//! [`HttpServer`](super::HttpServer)): a thread that sleeps in `poll(2)` on the listening
//! socket and on a wake-up pipe, so an idle server costs no wake-ups at all, and a stop ends
//! it at once (the driver's stop writes to the pipe and joins the thread; the listener, and
//! with it the port, is released when the thread returns).

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, poll};

use crate::env::DriverError;

use super::tcp::io_reason;

/// The pause after an accept error other than "nothing to accept" (out of descriptors, say),
/// which would otherwise wake the loop again at once.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(5);

/// A listener being served on a thread of its own.
pub(super) struct AcceptLoop {
    wake: OwnedFd,
    /// The pipe's read end, also held here: a stop after the thread ended (a panic in the
    /// callback) writes into a pipe that still has a reader, never raising `SIGPIPE`.
    woken: Arc<OwnedFd>,
    thread: JoinHandle<()>,
}

impl AcceptLoop {
    /// Serves `listener` (non-blocking) on a thread named `thread_name`: every connection
    /// it accepts goes, blocking, to `on_accept`. `driver` names the driver in errors.
    pub(super) fn start(
        listener: TcpListener,
        thread_name: String,
        driver: &str,
        mut on_accept: impl FnMut(TcpStream) + Send + 'static,
    ) -> Result<AcceptLoop, DriverError> {
        let failed = |error: io::Error| {
            DriverError::new(format!(
                "failed to start the accept thread of driver `{driver}`: {}",
                io_reason(&error)
            ))
        };
        let (woken, wake) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|error| failed(error.into()))?;
        let woken = Arc::new(woken);
        let thread = {
            let woken = Arc::clone(&woken);
            std::thread::Builder::new()
                .name(thread_name)
                .spawn(move || serve(&listener, &woken, &mut on_accept))
                .map_err(failed)?
        };
        Ok(AcceptLoop {
            wake,
            woken,
            thread,
        })
    }

    /// Ends the loop and waits for its thread; true when the thread panicked.
    pub(super) fn stop(self) -> bool {
        let _ = rustix::io::write(&self.wake, &[1]);
        let panicked = self.thread.join().is_err();
        drop(self.woken);
        panicked
    }
}

fn serve(listener: &TcpListener, woken: &OwnedFd, on_accept: &mut impl FnMut(TcpStream)) {
    loop {
        let mut fds = [
            PollFd::new(listener, PollFlags::IN),
            PollFd::new(woken, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => {
                std::thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        }
        if !fds[1].revents().is_empty() {
            return;
        }
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    // Accepted sockets block: their reads rely on socket timeouts.
                    let _ = stream.set_nonblocking(false);
                    on_accept(stream);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                // Transient for a listener (out of descriptors, an aborted handshake).
                Err(_) => {
                    std::thread::sleep(ACCEPT_BACKOFF);
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn connections_reach_the_callback_and_a_stop_frees_the_port_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let (accepted, connections) = mpsc::channel();
        let serving = AcceptLoop::start(listener, "accept-test".into(), "test", move |stream| {
            let _ = accepted.send(stream);
        })
        .unwrap();
        for _ in 0..3 {
            let _client = TcpStream::connect(address).unwrap();
            let stream = connections.recv_timeout(Duration::from_secs(5)).unwrap();
            assert!(
                stream
                    .set_read_timeout(Some(Duration::from_millis(1)))
                    .is_ok()
            );
        }
        let started = std::time::Instant::now();
        assert!(!serving.stop(), "the thread did not panic");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "woken, not polled"
        );
        TcpListener::bind(address).expect("the port is free again");
    }

    #[test]
    fn a_callback_that_panics_is_reported_by_the_stop() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let serving = AcceptLoop::start(listener, "accept-panic".into(), "test", |_| {
            panic!("the callback failed")
        })
        .unwrap();
        let _client = TcpStream::connect(address).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !serving.thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(serving.stop(), "the panic is reported");
    }

    #[test]
    fn an_idle_loop_sleeps() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let serving = AcceptLoop::start(listener, "accept-idle".into(), "test", |_| {}).unwrap();
        let wakeups = |thread: &str| -> u64 {
            // Voluntary context switches of the loop's thread: one per wake-up.
            let tasks = std::fs::read_dir("/proc/self/task").unwrap();
            tasks
                .filter_map(Result::ok)
                .filter(|task| {
                    std::fs::read_to_string(task.path().join("comm"))
                        .is_ok_and(|comm| comm.trim() == thread)
                })
                .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
                .flat_map(|status| {
                    status
                        .lines()
                        .filter_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
                        .filter_map(|count| count.trim().parse::<u64>().ok())
                        .collect::<Vec<_>>()
                })
                .sum()
        };
        std::thread::sleep(Duration::from_millis(20));
        let before = wakeups("accept-idle");
        std::thread::sleep(Duration::from_millis(200));
        let after = wakeups("accept-idle");
        assert!(after - before <= 1, "{before} → {after} wake-ups in 200 ms");
        assert!(!serving.stop());
    }
}

//! In-process ZeroMQ drivers (Testplan's `ZMQServer` and `ZMQClient`), on the `zmq` crate and
//! the system libzmq: [`ZmqServer`] binds a socket of a chosen [`ZmqSocketType`] (by default
//! to `tcp://127.0.0.1:*`, publishing the port the system picked); [`ZmqClient`] connects a
//! socket to a server, usually another driver of the same environment reached through
//! `context("server", "{{port}}")`, or any libzmq peer (pyzmq, czmq, …) run as an
//! [`App`](super::App). Testcases exchange messages through them in the PAIR, REQ/REP,
//! PUB/SUB and PUSH/PULL patterns.
//!
//! Only built with the `zmq` feature, which needs libzmq's headers and `pkg-config` at build
//! time (Debian: `apt-get install libzmq3-dev pkg-config`).
//!
//! Every send and receive has a deadline, so a silent or absent peer becomes a
//! [`DriverError`] rather than a hung testcase. A ZeroMQ socket must not be used by two
//! threads at once, so each sits behind a lock, held for at most 50 ms at a time while a
//! call waits: a send from another thread, or a stop, never waits out a long receive.
//! Stopping closes the sockets with a short linger and terminates the driver's own ZeroMQ
//! context on a helper thread, given at most the driver's stop timeout: a peer that went away
//! with messages still queued for it cannot hang the environment's stop.
//!
//! PUB/SUB has ZeroMQ's "slow joiner": a subscription travels to the publisher
//! asynchronously, and a PUB socket drops whatever it sends before the subscription arrives.
//! A testcase that publishes right after the environment started calls
//! [`ZmqClient::wait_subscribed`] (or [`ZmqServer::wait_subscribed`]) first, which publishes
//! numbered probes until one comes through and then drains the rest.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::json;

use super::tcp::{handed_off_port, host_port, lock, lowercase_first, parse_port};
use crate::env::{
    Attributes, ConfigValue, Driver, DriverCommon, DriverError, DriverSettings, DriverSockets,
    StartContext, default_definition,
};

/// How long sends wait for a peer to take the message, and a client's start for its
/// connection, unless set.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closing socket keeps trying to deliver queued messages unless set: enough for
/// a last message to a live peer on this machine, short enough that a stop never lingers.
const DEFAULT_LINGER: Duration = Duration::from_millis(100);
/// A waiting send or receive holds its socket's lock for at most this long at a time.
const SLICE: Duration = Duration::from_millis(50);
/// Monitor events of a client socket (libzmq's `ZMQ_EVENT_CONNECTED`, `_CLOSED`,
/// `_DISCONNECTED`; the value of each is the connection's file descriptor).
const EVENT_CONNECTED: u16 = 0x0001;
const EVENT_CLOSED: u16 = 0x0080;
const EVENT_DISCONNECTED: u16 = 0x0200;

/// The ZeroMQ socket types the drivers open. Pair them as ZeroMQ does: PAIR with PAIR, REQ
/// with REP, PUB with SUB, PUSH with PULL; either side may bind (the server) or connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ZmqSocketType {
    /// Exclusive two-way link to one peer.
    Pair,
    /// Sends a request, then must receive the reply before the next request.
    Req,
    /// Receives a request, then must send the reply before the next request.
    Rep,
    /// Publishes to every subscriber whose subscription prefixes the message; never blocks
    /// (messages nobody subscribed to are dropped).
    Pub,
    /// Receives the published messages matching its subscriptions (none until
    /// [`subscribe`](ZmqClient::subscribe)); cannot send.
    Sub,
    /// Sends to its PULL peers round-robin; cannot receive.
    Push,
    /// Receives from its PUSH peers, fairly queued; cannot send.
    Pull,
}

impl ZmqSocketType {
    /// ZeroMQ's name for it (`"REP"`), as reports show it.
    pub fn name(self) -> &'static str {
        match self {
            ZmqSocketType::Pair => "PAIR",
            ZmqSocketType::Req => "REQ",
            ZmqSocketType::Rep => "REP",
            ZmqSocketType::Pub => "PUB",
            ZmqSocketType::Sub => "SUB",
            ZmqSocketType::Push => "PUSH",
            ZmqSocketType::Pull => "PULL",
        }
    }

    fn raw(self) -> zmq::SocketType {
        match self {
            ZmqSocketType::Pair => zmq::PAIR,
            ZmqSocketType::Req => zmq::REQ,
            ZmqSocketType::Rep => zmq::REP,
            ZmqSocketType::Pub => zmq::PUB,
            ZmqSocketType::Sub => zmq::SUB,
            ZmqSocketType::Push => zmq::PUSH,
            ZmqSocketType::Pull => zmq::PULL,
        }
    }

    fn can_send(self) -> bool {
        !matches!(self, ZmqSocketType::Sub | ZmqSocketType::Pull)
    }

    fn can_receive(self) -> bool {
        !matches!(self, ZmqSocketType::Pub | ZmqSocketType::Push)
    }
}

impl std::fmt::Display for ZmqSocketType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A zmq error as a lowercase fragment ("address already in use").
fn reason(error: zmq::Error) -> String {
    lowercase_first(&error.to_string())
}

/// Runs a zmq call that panics on input it cannot pass to C (a NUL in an endpoint) or on an
/// errno the crate does not know, so that a bad setting becomes an error, not a crash.
fn guarded<T>(call: impl FnOnce() -> zmq::Result<T>) -> Result<zmq::Result<T>, String> {
    catch_unwind(AssertUnwindSafe(call))
        .map_err(|_| "libzmq rejected the endpoint (is there a NUL or a typo in it?)".to_string())
}

/// Milliseconds for `zmq_poll`, at least 1 so that a short remainder still waits.
fn poll_millis(wait: Duration) -> i64 {
    i64::try_from(wait.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// `tcp://host:port`, with `*` for port 0 when binding (the system picks a free port).
fn tcp_endpoint(host: &str, port: u16, binding: bool) -> String {
    if binding && port == 0 {
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        format!("tcp://{host}:*")
    } else {
        format!("tcp://{}", host_port(host, port))
    }
}

/// The address of a `tcp://…` endpoint as libzmq reports it after a bind.
fn endpoint_address(endpoint: &str) -> Option<SocketAddr> {
    endpoint.strip_prefix("tcp://")?.parse().ok()
}

/// The local address of the TCP socket behind file descriptor `fd` of this process: libzmq
/// does not say where a connecting socket is bound, but its monitor names the descriptor,
/// `/proc/self/fd` names the socket's inode and the kernel's TCP tables the address.
fn local_address_of(fd: u32) -> Option<SocketAddr> {
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    let inode = link
        .to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .to_string();
    ["/proc/self/net/tcp", "/proc/self/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|table| {
            table.lines().skip(1).find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                (fields.get(9) == Some(&inode.as_str()))
                    .then(|| fields.get(1).and_then(|address| proc_address(address)))
                    .flatten()
            })
        })
}

/// `0100007F:1F90` (address words in host byte order, hex port) as a socket address.
fn proc_address(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |index: usize| {
        address
            .get(index * 8..index * 8 + 8)
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .map(u32::to_ne_bytes)
    };
    let ip = match address.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for index in 0..4 {
                bytes[index * 4..index * 4 + 4].copy_from_slice(&word(index)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The settings both drivers have.
#[derive(Debug, Clone)]
struct Settings {
    kind: ZmqSocketType,
    host: ConfigValue,
    port: ConfigValue,
    timeout: Duration,
    linger: Duration,
    /// Prefixes a SUB socket subscribes to as it opens.
    subscriptions: Vec<Vec<u8>>,
}

impl Settings {
    fn new(kind: ZmqSocketType) -> Settings {
        Settings {
            kind,
            host: ConfigValue::from("127.0.0.1"),
            port: ConfigValue::from(0u16),
            timeout: DEFAULT_TIMEOUT,
            linger: DEFAULT_LINGER,
            subscriptions: Vec::new(),
        }
    }

    fn definition(&self) -> String {
        format!(
            "socket={} host={:?} port={:?} linger={:?} subscriptions={:?}",
            self.kind, self.host, self.port, self.linger, self.subscriptions
        )
    }
}

/// The monitor of a client socket: an inproc PAIR socket receiving libzmq's connection
/// events, which tell when the client is connected and (through the descriptor) from where.
struct Monitor {
    socket: zmq::Socket,
    /// Open connections: file descriptor and, when it could be read, local address.
    connections: Vec<(u32, Option<SocketAddr>)>,
}

impl Monitor {
    /// Reads the events that arrived, without waiting.
    fn drain(&mut self) {
        while let Ok(frames) = self.socket.recv_multipart(zmq::DONTWAIT) {
            // The first frame is the event (u16) and its value (u32), in host byte order.
            let Some(event) = frames.first().filter(|frame| frame.len() >= 6) else {
                continue;
            };
            let id = u16::from_ne_bytes([event[0], event[1]]);
            let fd = u32::from_ne_bytes([event[2], event[3], event[4], event[5]]);
            match id {
                EVENT_CONNECTED => {
                    self.connections.retain(|(known, _)| *known != fd);
                    self.connections.push((fd, local_address_of(fd)));
                }
                EVENT_CLOSED | EVENT_DISCONNECTED => {
                    self.connections.retain(|(known, _)| *known != fd);
                }
                _ => {}
            }
        }
    }
}

/// An open socket and what belongs with it. Fields drop in order: the sockets close before
/// the context they hold is terminated.
struct Open {
    socket: zmq::Socket,
    monitor: Option<Monitor>,
    /// The resolved host and port (the bound port for a server).
    host: String,
    port: u16,
    /// What the socket is bound or connected to.
    endpoint: String,
    /// A server's bound address.
    bound: Option<SocketAddr>,
    /// The current subscriptions of a SUB socket, restored by a reconnect.
    subscriptions: Vec<Vec<u8>>,
    context: zmq::Context,
}

/// What one try of a send or receive came to.
enum Attempt<T> {
    Done(T),
    /// Nothing yet: wait on the socket for these events, then try again.
    Wait(zmq::PollEvents),
}

/// The socket of one driver behind its lock, with the calls both drivers share.
struct Channel {
    /// The driver's name, for messages.
    name: String,
    state: Mutex<Option<Open>>,
}

impl Channel {
    fn new(name: &str) -> Channel {
        Channel {
            name: name.to_string(),
            state: Mutex::new(None),
        }
    }

    fn not_started(&self) -> DriverError {
        DriverError::new(format!(
            "driver `{}` is not started; start it (as part of the environment) before using it",
            self.name
        ))
    }

    fn describe(&self, open: &Open, kind: ZmqSocketType) -> String {
        format!(
            "the {kind} socket of driver `{}` ({})",
            self.name, open.endpoint
        )
    }

    /// Tries `attempt` on the socket until it is done or `deadline` passes, holding the lock
    /// for at most one [`SLICE`] of waiting at a time; `None` when the deadline passed.
    fn retry<T>(
        &self,
        deadline: Instant,
        mut attempt: impl FnMut(&mut Open) -> Result<Attempt<T>, DriverError>,
    ) -> Result<Option<T>, DriverError> {
        loop {
            let mut state = lock(&self.state);
            let open = state.as_mut().ok_or_else(|| self.not_started())?;
            let events = match attempt(open)? {
                Attempt::Done(value) => return Ok(Some(value)),
                Attempt::Wait(events) => events,
            };
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            // Errors of the poll itself (a signal) only end this slice early.
            let _ = open
                .socket
                .poll(events, poll_millis((deadline - now).min(SLICE)));
        }
    }

    fn send(
        &self,
        kind: ZmqSocketType,
        frames: &[&[u8]],
        timeout: Duration,
    ) -> Result<(), DriverError> {
        if frames.is_empty() {
            return Err(DriverError::new(format!(
                "nothing to send from driver `{}`: a message needs at least one frame",
                self.name
            )));
        }
        if !kind.can_send() {
            return Err(DriverError::new(format!(
                "driver `{}` has a {kind} socket, which cannot send; send from its peer, or use a socket type that sends (PAIR, REQ, REP, PUB, PUSH)",
                self.name
            )));
        }
        let last = frames.len() - 1;
        let sent = self.retry(crate::deadline::deadline_after(timeout), |open| {
            // Once the first frame is taken, ZeroMQ takes the rest of the message (the
            // high-water mark counts whole messages), so only the first one waits.
            let more = if last == 0 { 0 } else { zmq::SNDMORE };
            match open.socket.send(frames[0], zmq::DONTWAIT | more) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => return Ok(Attempt::Wait(zmq::POLLOUT)),
                Err(error) => return Err(self.send_error(open, kind, error)),
            }
            for (index, frame) in frames.iter().enumerate().skip(1) {
                let more = if index == last { 0 } else { zmq::SNDMORE };
                open.socket
                    .send(*frame, zmq::DONTWAIT | more)
                    .map_err(|error| self.send_error(open, kind, error))?;
            }
            Ok(Attempt::Done(()))
        })?;
        sent.ok_or_else(|| {
            self.with_open(|open| {
                DriverError::new(format!(
                    "could not send on {} within {timeout:?}: no peer took the message (none is connected, or its queue is full); is the peer started and connected? a longer wait is set with `.timeout(…)`",
                    self.describe(open, kind)
                ))
            })
        })
    }

    /// An error about the open socket, or "not started" when a stop came in between.
    fn with_open(&self, error: impl FnOnce(&Open) -> DriverError) -> DriverError {
        match lock(&self.state).as_ref() {
            Some(open) => error(open),
            None => self.not_started(),
        }
    }

    fn send_error(&self, open: &Open, kind: ZmqSocketType, error: zmq::Error) -> DriverError {
        let hint = match (error, kind) {
            (zmq::Error::EFSM, ZmqSocketType::Req) => {
                "; a REQ socket sends its next request only after it received the reply: call `receive` first (or `reconnect()` to start over)"
            }
            (zmq::Error::EFSM, ZmqSocketType::Rep) => {
                "; a REP socket sends a reply only to a request it received: call `receive` first"
            }
            _ => "",
        };
        DriverError::new(format!(
            "failed to send on {}: {}{hint}",
            self.describe(open, kind),
            reason(error)
        ))
    }

    /// One frame (`whole == false`) or every frame of the next message.
    fn receive(
        &self,
        kind: ZmqSocketType,
        timeout: Duration,
        whole: bool,
    ) -> Result<Vec<Vec<u8>>, DriverError> {
        self.receive_within(kind, timeout, whole)?
            .ok_or_else(|| self.with_open(|open| self.receive_timeout(open, kind, timeout)))
    }

    /// [`receive`](Channel::receive), with `None` when nothing came within `timeout`.
    fn receive_within(
        &self,
        kind: ZmqSocketType,
        timeout: Duration,
        whole: bool,
    ) -> Result<Option<Vec<Vec<u8>>>, DriverError> {
        if !kind.can_receive() {
            return Err(DriverError::new(format!(
                "driver `{}` has a {kind} socket, which cannot receive; receive on its peer, or use a socket type that receives (PAIR, REQ, REP, SUB, PULL)",
                self.name
            )));
        }
        self.retry(crate::deadline::deadline_after(timeout), |open| {
            let received = if whole {
                open.socket.recv_multipart(zmq::DONTWAIT)
            } else {
                open.socket
                    .recv_bytes(zmq::DONTWAIT)
                    .map(|frame| vec![frame])
            };
            match received {
                Ok(frames) => Ok(Attempt::Done(frames)),
                Err(zmq::Error::EAGAIN) => Ok(Attempt::Wait(zmq::POLLIN)),
                Err(error) => Err(self.receive_error(open, kind, error)),
            }
        })
    }

    fn receive_error(&self, open: &Open, kind: ZmqSocketType, error: zmq::Error) -> DriverError {
        let hint = match (error, kind) {
            (zmq::Error::EFSM, ZmqSocketType::Req) => {
                "; a REQ socket receives a reply only after it sent a request: call `send` first"
            }
            (zmq::Error::EFSM, ZmqSocketType::Rep) => {
                "; a REP socket must send its reply before it receives the next request: call `send` first"
            }
            _ => "",
        };
        DriverError::new(format!(
            "failed to receive on {}: {}{hint}",
            self.describe(open, kind),
            reason(error)
        ))
    }

    fn receive_timeout(&self, open: &Open, kind: ZmqSocketType, timeout: Duration) -> DriverError {
        let hint = match kind {
            ZmqSocketType::Sub if open.subscriptions.is_empty() => {
                "the socket subscribes to nothing yet: call `subscribe(prefix)` (`subscribe(\"\")` for everything)"
            }
            ZmqSocketType::Sub => {
                "is the message prefixed by a subscription, and was it published after the subscription reached the publisher? a PUB socket drops what it sends before that: call `wait_subscribed` first"
            }
            ZmqSocketType::Req => "did the peer answer the request?",
            _ => "is the peer connected and sending?",
        };
        DriverError::new(format!(
            "no message reached {} within {timeout:?}; {hint} (pass a longer timeout to wait longer)",
            self.describe(open, kind)
        ))
    }

    /// Discards the messages already received; returns how many.
    fn flush(&self, kind: ZmqSocketType) -> usize {
        if !kind.can_receive() {
            return 0;
        }
        let state = lock(&self.state);
        let Some(open) = state.as_ref() else {
            return 0;
        };
        let mut count = 0;
        while open.socket.recv_multipart(zmq::DONTWAIT).is_ok() {
            count += 1;
        }
        count
    }

    fn subscription(
        &self,
        kind: ZmqSocketType,
        prefix: &[u8],
        subscribe: bool,
    ) -> Result<(), DriverError> {
        let verb = if subscribe {
            "subscribe"
        } else {
            "unsubscribe"
        };
        if kind != ZmqSocketType::Sub {
            return Err(DriverError::new(format!(
                "driver `{}` has a {kind} socket; only SUB sockets {verb} (create the driver with `ZmqSocketType::Sub`)",
                self.name
            )));
        }
        let mut state = lock(&self.state);
        let open = state.as_mut().ok_or_else(|| self.not_started())?;
        let done = if subscribe {
            open.socket.set_subscribe(prefix)
        } else {
            open.socket.set_unsubscribe(prefix)
        };
        done.map_err(|error| {
            DriverError::new(format!(
                "failed to {verb} {} to {:?}: {}",
                self.describe(open, kind),
                String::from_utf8_lossy(prefix),
                reason(error)
            ))
        })?;
        if subscribe {
            open.subscriptions.push(prefix.to_vec());
        } else if let Some(index) = open.subscriptions.iter().position(|known| known == prefix) {
            open.subscriptions.remove(index);
        }
        Ok(())
    }

    /// Publishes numbered probes from `publisher` until one reaches this SUB socket, then
    /// receives (and discards) every message up to the last probe, so that the next receive
    /// sees only what is published afterwards.
    fn wait_subscribed(
        &self,
        kind: ZmqSocketType,
        publisher: (&Channel, ZmqSocketType),
        probe: &str,
        timeout: Duration,
    ) -> Result<(), DriverError> {
        let deadline = crate::deadline::deadline_after(timeout);
        let marker = format!("{probe}#");
        let mut sent = 0u64;
        let publish = |number: u64| {
            let message = format!("{marker}{number}");
            let remaining = deadline.saturating_duration_since(Instant::now());
            publisher
                .0
                .send(publisher.1, &[message.as_bytes()], remaining.max(SLICE))
        };
        loop {
            sent += 1;
            publish(sent)?;
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(SLICE);
            match self.receive_within(kind, wait, true)? {
                Some(frames) if first_starts_with(&frames, marker.as_bytes()) => {
                    let last = format!("{marker}{sent}");
                    if frames[0] == last.as_bytes() {
                        return Ok(());
                    }
                    break;
                }
                // Anything else published meanwhile is older than the probe: discard it.
                Some(_) => {}
                None if Instant::now() < deadline => {}
                None => {
                    return Err(DriverError::new(format!(
                        "no probe `{marker}<n>` published by driver `{}` reached driver `{}` within {timeout:?} ({sent} sent); is the subscriber connected to the publisher and subscribed to a prefix of `{probe}`?",
                        publisher.0.name, self.name
                    )));
                }
            }
        }
        // An older probe came through; probes arrive in order, so the last one sent (which
        // follows it) closes the stream of probes.
        let last = format!("{marker}{sent}");
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let frames = self.receive(kind, remaining.max(SLICE), true)?;
            if frames.first().is_some_and(|frame| frame == last.as_bytes()) {
                return Ok(());
            }
        }
    }

    /// Closes the socket and terminates the context on a helper thread, waiting at most
    /// `within`: terminating blocks until queued messages are delivered or the linger passes,
    /// and a stop must not wait on a peer.
    fn close(&self, within: Duration) -> Result<(), DriverError> {
        let Some(open) = lock(&self.state).take() else {
            return Ok(());
        };
        let (done, finished) = mpsc::channel();
        let closing = std::thread::Builder::new()
            .name(format!("zmq-stop-{}", self.name))
            .spawn(move || {
                drop(open);
                let _ = done.send(());
            });
        // Without a thread the closure (and the socket) was dropped here, within the linger.
        if closing.is_err() {
            return Ok(());
        }
        finished.recv_timeout(within).map_err(|_| {
            DriverError::new(format!(
                "the zeromq context of driver `{}` did not terminate within {within:?} (messages still queued for a peer that is gone); it finishes in the background after the linger; a shorter `.linger(…)` avoids this",
                self.name
            ))
        })
    }

    fn bound_address(&self) -> Option<SocketAddr> {
        lock(&self.state).as_ref().and_then(|open| open.bound)
    }

    fn attributes(&self, kind: ZmqSocketType) -> Attributes {
        let mut state = lock(&self.state);
        let mut attributes = Attributes::new();
        let Some(open) = state.as_mut() else {
            return attributes;
        };
        attributes.insert("host".into(), json!(open.host));
        attributes.insert("port".into(), json!(open.port));
        attributes.insert("endpoint".into(), json!(open.endpoint));
        attributes.insert("socket_type".into(), json!(kind.name()));
        if let Some(monitor) = open.monitor.as_mut() {
            monitor.drain();
            if let Some(local) = monitor.connections.iter().find_map(|(_, local)| *local) {
                attributes.insert("local_port".into(), json!(local.port()));
            }
        }
        attributes
    }

    fn sockets(&self) -> DriverSockets {
        let mut state = lock(&self.state);
        match state.as_mut() {
            None => DriverSockets::default(),
            Some(Open {
                bound: Some(address),
                ..
            }) => DriverSockets::listening([*address]),
            Some(Open {
                monitor: Some(monitor),
                ..
            }) => {
                monitor.drain();
                DriverSockets::connected(monitor.connections.iter().filter_map(|(_, local)| *local))
            }
            Some(_) => DriverSockets::default(),
        }
    }
}

/// Whether the first frame of a message starts with `prefix`.
fn first_starts_with(frames: &[Vec<u8>], prefix: &[u8]) -> bool {
    frames
        .first()
        .is_some_and(|frame| frame.starts_with(prefix))
}

/// A new socket of `settings.kind` in `context` with the drivers' options set.
fn new_socket(
    context: &zmq::Context,
    settings: &Settings,
    host: &str,
    name: &str,
) -> Result<zmq::Socket, DriverError> {
    let failure = |error: zmq::Error| {
        DriverError::new(format!(
            "failed to open a {} socket for driver `{name}`: {}",
            settings.kind,
            reason(error)
        ))
    };
    if !settings.subscriptions.is_empty() && settings.kind != ZmqSocketType::Sub {
        return Err(DriverError::new(format!(
            "driver `{name}` has subscriptions but a {} socket; only SUB sockets subscribe (remove `.subscription(…)` or use `ZmqSocketType::Sub`)",
            settings.kind
        )));
    }
    let socket = context.socket(settings.kind.raw()).map_err(failure)?;
    let linger = i32::try_from(settings.linger.as_millis()).unwrap_or(i32::MAX);
    socket.set_linger(linger).map_err(failure)?;
    if host.contains(':') {
        socket.set_ipv6(true).map_err(failure)?;
    }
    for prefix in &settings.subscriptions {
        socket.set_subscribe(prefix).map_err(failure)?;
    }
    Ok(socket)
}

/// The sending and receiving methods ZmqServer and ZmqClient share (one socket each, the
/// same calls), with `$peer` the driver type that publishes to a SUB of this type.
macro_rules! messaging_methods {
    ($peer:ident) => {
        /// Sends a one-frame message, waiting up to the timeout for a peer to take it.
        pub fn send(&self, bytes: &[u8]) -> Result<(), DriverError> {
            self.channel
                .send(self.settings.kind, &[bytes], self.settings.timeout)
        }

        /// Sends UTF-8 text as a one-frame message.
        pub fn send_text(&self, text: &str) -> Result<(), DriverError> {
            self.send(text.as_bytes())
        }

        /// Sends a message of several frames (a topic frame and a body, say), delivered
        /// whole.
        pub fn send_multipart<F: AsRef<[u8]>>(&self, frames: &[F]) -> Result<(), DriverError> {
            let frames: Vec<&[u8]> = frames.iter().map(AsRef::as_ref).collect();
            self.channel
                .send(self.settings.kind, &frames, self.settings.timeout)
        }

        /// Receives the next frame, waiting up to `timeout`. The further frames of a
        /// multipart message come with the next calls; `receive_multipart` takes them all at
        /// once.
        pub fn receive(&self, timeout: Duration) -> Result<Vec<u8>, DriverError> {
            let mut frames = self.channel.receive(self.settings.kind, timeout, false)?;
            Ok(frames.pop().unwrap_or_default())
        }

        /// `receive` decoded as UTF-8 (invalid sequences become U+FFFD).
        pub fn receive_text(&self, timeout: Duration) -> Result<String, DriverError> {
            self.receive(timeout)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        }

        /// Receives every frame of the next message, waiting up to `timeout`.
        pub fn receive_multipart(&self, timeout: Duration) -> Result<Vec<Vec<u8>>, DriverError> {
            self.channel.receive(self.settings.kind, timeout, true)
        }

        /// Subscribes a SUB socket to messages starting with `prefix` (`""`: everything).
        /// The subscription reaches the publisher asynchronously: see `wait_subscribed`.
        pub fn subscribe(&self, prefix: impl AsRef<[u8]>) -> Result<(), DriverError> {
            self.channel
                .subscription(self.settings.kind, prefix.as_ref(), true)
        }

        /// Drops a subscription made by `subscribe`.
        pub fn unsubscribe(&self, prefix: impl AsRef<[u8]>) -> Result<(), DriverError> {
            self.channel
                .subscription(self.settings.kind, prefix.as_ref(), false)
        }

        /// Discards the messages received so far; returns how many.
        pub fn flush(&self) -> usize {
            self.channel.flush(self.settings.kind)
        }

        /// For a SUB socket: has `publisher` (a PUB socket) publish `probe#1`, `probe#2`, …
        /// until one arrives, then discards the probes, so that what is published next is
        /// not lost to ZeroMQ's slow joiner. `probe` must start with one of this socket's
        /// subscriptions.
        pub fn wait_subscribed(
            &self,
            publisher: &$peer,
            probe: &str,
            timeout: Duration,
        ) -> Result<(), DriverError> {
            self.channel.wait_subscribed(
                self.settings.kind,
                (&publisher.channel, publisher.settings.kind),
                probe,
                timeout,
            )
        }
    };
}

/// A ZeroMQ socket of the chosen type that binds (Testplan's `ZMQServer`), by default on
/// `127.0.0.1` and a port the system picks, published as the `port` attribute.
///
/// ```no_run
/// use testrig::drivers::{ZmqServer, ZmqSocketType};
/// let server = ZmqServer::new("server", ZmqSocketType::Rep); // tcp://127.0.0.1:*
/// // In a testcase:
/// //   let server = env.driver::<ZmqServer>("server");
/// //   let request = server.receive_text(Duration::from_secs(5))?;
/// //   server.send_text("pong")?;
/// ```
pub struct ZmqServer {
    common: DriverCommon,
    settings: Settings,
    channel: Channel,
}

impl ZmqServer {
    /// A server socket of `kind` on 127.0.0.1 and an ephemeral port; sends wait up to 5 s.
    pub fn new(name: impl Into<String>, kind: ZmqSocketType) -> ZmqServer {
        let common = DriverCommon::new(name);
        let channel = Channel::new(&common.name);
        ZmqServer {
            common,
            settings: Settings::new(kind),
            channel,
        }
    }

    /// The address to bind (default `127.0.0.1`; `0.0.0.0` or `*` for every interface).
    pub fn host(mut self, host: impl Into<ConfigValue>) -> ZmqServer {
        self.settings.host = host.into();
        self
    }

    /// The port to bind (default 0: the system picks a free one, published as `port`).
    pub fn port(mut self, port: impl Into<ConfigValue>) -> ZmqServer {
        self.settings.port = port.into();
        self
    }

    /// How long a send waits for a peer to take the message (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> ZmqServer {
        self.settings.timeout = timeout;
        self
    }

    /// How long closing the socket keeps trying to deliver queued messages (default 100 ms).
    pub fn linger(mut self, linger: Duration) -> ZmqServer {
        self.settings.linger = linger;
        self
    }

    /// A prefix a SUB server subscribes to as it starts (repeatable; `""` for everything).
    pub fn subscription(mut self, prefix: impl AsRef<[u8]>) -> ZmqServer {
        self.settings.subscriptions.push(prefix.as_ref().to_vec());
        self
    }

    /// The socket type.
    pub fn socket_type(&self) -> ZmqSocketType {
        self.settings.kind
    }

    /// The bound port, once started.
    pub fn bound_port(&self) -> Option<u16> {
        self.channel.bound_address().map(|address| address.port())
    }

    /// The endpoint the socket is bound to (`tcp://127.0.0.1:40123`), once started.
    pub fn endpoint(&self) -> Option<String> {
        lock(&self.channel.state)
            .as_ref()
            .map(|open| open.endpoint.clone())
    }

    messaging_methods!(ZmqClient);

    /// Binds on the configured port, or on `port` when given (code reload).
    fn start_on(&self, context: &StartContext, port: Option<u16>) -> Result<(), DriverError> {
        let name = &self.common.name;
        if lock(&self.channel.state).is_some() {
            return Err(DriverError::new(format!(
                "driver `{name}` is already started"
            )));
        }
        let host = context.resolve(&self.settings.host)?;
        let port = match port {
            Some(port) => port,
            None => parse_port(&context.resolve(&self.settings.port)?, name)?,
        };
        let endpoint = tcp_endpoint(&host, port, true);
        let zmq_context = zmq::Context::new();
        let socket = new_socket(&zmq_context, &self.settings, &host, name)?;
        let failure = |reason: String| {
            DriverError::new(format!(
                "failed to bind {endpoint} for driver `{name}`: {reason}; is the port free and the host an address of this machine?"
            ))
        };
        guarded(|| socket.bind(&endpoint))
            .map_err(&failure)?
            .map_err(|error| failure(reason(error)))?;
        // With port 0 only the bound endpoint says which port the system picked.
        let bound_endpoint = socket
            .get_last_endpoint()
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(|| endpoint.clone());
        let bound = endpoint_address(&bound_endpoint);
        *lock(&self.channel.state) = Some(Open {
            socket,
            monitor: None,
            host,
            port: bound.map_or(port, |address| address.port()),
            endpoint: bound_endpoint,
            bound,
            subscriptions: self.settings.subscriptions.clone(),
            context: zmq_context,
        });
        Ok(())
    }
}

impl DriverSettings for ZmqServer {
    fn common_mut(&mut self) -> &mut DriverCommon {
        &mut self.common
    }
}

impl Driver for ZmqServer {
    fn common(&self) -> &DriverCommon {
        &self.common
    }

    fn kind(&self) -> &'static str {
        "ZmqServer"
    }

    fn context_values(&self) -> Vec<&ConfigValue> {
        vec![&self.settings.host, &self.settings.port]
    }

    fn start(&self, context: &StartContext) -> Result<(), DriverError> {
        self.start_on(context, None)
    }

    fn definition(&self) -> String {
        format!(
            "{} {}",
            default_definition(self),
            self.settings.definition()
        )
    }

    fn handoff_state(&self) -> Option<serde_json::Value> {
        self.bound_port().map(|port| json!({ "port": port }))
    }

    /// Its socket closed with the previous image: bind again on the same port.
    fn adopt(&self, state: &serde_json::Value, context: &StartContext) -> Result<(), DriverError> {
        let port = handed_off_port(state, &self.common.name)?;
        self.start_on(context, Some(port))
    }

    fn stop(&self) -> Result<(), DriverError> {
        self.channel.close(self.common.stop_timeout)
    }

    fn attributes(&self) -> Attributes {
        self.channel.attributes(self.settings.kind)
    }

    fn sockets(&self) -> DriverSockets {
        self.channel.sockets()
    }
}

/// A ZeroMQ socket that connects (Testplan's `ZMQClient`), usually to a [`ZmqServer`]
/// through context values, or to any libzmq peer run as an [`App`](super::App).
///
/// ZeroMQ connects in the background and reconnects by itself; the client waits while it
/// starts until the TCP connection is up (unless `wait_connected(false)`), so a wrong port
/// fails the start instead of the first receive.
///
/// ```no_run
/// use testrig::drivers::{ZmqClient, ZmqSocketType};
/// use testrig::env::context;
/// let client = ZmqClient::new("client", ZmqSocketType::Req)
///     .host(context("server", "{{host}}"))
///     .port(context("server", "{{port}}"));
/// // In a testcase:
/// //   let client = env.driver::<ZmqClient>("client");
/// //   client.send_text("ping")?;
/// //   let reply = client.receive_text(Duration::from_secs(5))?;
/// ```
pub struct ZmqClient {
    common: DriverCommon,
    settings: Settings,
    wait_connected: bool,
    channel: Channel,
}

impl ZmqClient {
    /// A client socket of `kind` for 127.0.0.1; set the port. Sends and the connection at
    /// start wait up to 5 s.
    pub fn new(name: impl Into<String>, kind: ZmqSocketType) -> ZmqClient {
        let common = DriverCommon::new(name);
        let channel = Channel::new(&common.name);
        ZmqClient {
            common,
            settings: Settings::new(kind),
            wait_connected: true,
            channel,
        }
    }

    /// The server's host (default `127.0.0.1`), often `context("server", "{{host}}")`.
    pub fn host(mut self, host: impl Into<ConfigValue>) -> ZmqClient {
        self.settings.host = host.into();
        self
    }

    /// The server's port, usually `context("server", "{{port}}")`.
    pub fn port(mut self, port: impl Into<ConfigValue>) -> ZmqClient {
        self.settings.port = port.into();
        self
    }

    /// How long sends wait for the peer to take a message, and the start for the connection
    /// (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> ZmqClient {
        self.settings.timeout = timeout;
        self
    }

    /// How long closing the socket keeps trying to deliver queued messages (default 100 ms).
    pub fn linger(mut self, linger: Duration) -> ZmqClient {
        self.settings.linger = linger;
        self
    }

    /// A prefix a SUB client subscribes to as it connects (repeatable; `""` for everything).
    pub fn subscription(mut self, prefix: impl AsRef<[u8]>) -> ZmqClient {
        self.settings.subscriptions.push(prefix.as_ref().to_vec());
        self
    }

    /// Whether starting waits until the TCP connection to the server is up (default true);
    /// turn it off for a server that starts after the client (ZeroMQ connects when it can).
    pub fn wait_connected(mut self, wait: bool) -> ZmqClient {
        self.wait_connected = wait;
        self
    }

    /// The socket type.
    pub fn socket_type(&self) -> ZmqSocketType {
        self.settings.kind
    }

    messaging_methods!(ZmqServer);

    /// Closes the socket (dropping what it queued or received) and connects a new one to the
    /// same server, with the same subscriptions: a REQ socket stuck waiting for a reply that
    /// never comes starts over.
    pub fn reconnect(&self) -> Result<(), DriverError> {
        let name = &self.common.name;
        {
            let mut state = lock(&self.channel.state);
            let open = state.as_mut().ok_or_else(|| self.channel.not_started())?;
            let mut settings = self.settings.clone();
            settings.subscriptions = open.subscriptions.clone();
            let (socket, monitor) = connect(&open.context, &settings, &open.host, open.port, name)?;
            // The old socket closes as it is replaced; closing never blocks (the context's
            // termination, at stop, is what waits for the linger).
            open.socket = socket;
            open.monitor = Some(monitor);
        }
        if self.wait_connected {
            self.await_connection(crate::deadline::deadline_after(self.settings.timeout))?;
        }
        Ok(())
    }

    /// Waits until the monitor reports a TCP connection, or `deadline`.
    fn await_connection(&self, deadline: Instant) -> Result<(), DriverError> {
        loop {
            let mut state = lock(&self.channel.state);
            let open = state.as_mut().ok_or_else(|| self.channel.not_started())?;
            let Some(monitor) = open.monitor.as_mut() else {
                return Ok(());
            };
            monitor.drain();
            if !monitor.connections.is_empty() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(DriverError::new(format!(
                    "driver `{}` did not connect to {} within {:?}; is the server started and the port right? (`wait_connected(false)` starts without waiting)",
                    self.common.name, open.endpoint, self.settings.timeout
                )));
            }
            let _ = monitor
                .socket
                .poll(zmq::POLLIN, poll_millis((deadline - now).min(SLICE)));
        }
    }
}

/// A client socket connected (in the background) to `host:port`, with its monitor.
fn connect(
    context: &zmq::Context,
    settings: &Settings,
    host: &str,
    port: u16,
    name: &str,
) -> Result<(zmq::Socket, Monitor), DriverError> {
    let endpoint = tcp_endpoint(host, port, false);
    let failure = |reason: String| {
        DriverError::new(format!(
            "failed to connect driver `{name}` to {endpoint}: {reason}; is the host a name or address and the port right?"
        ))
    };
    let socket = new_socket(context, settings, host, name)?;
    // Each socket gets its own monitor endpoint: a reconnect opens the next one while the
    // old socket may still be closing.
    static MONITORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let monitor_endpoint = format!(
        "inproc://testrig-zmq-monitor-{}",
        MONITORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let events = i32::from(EVENT_CONNECTED | EVENT_CLOSED | EVENT_DISCONNECTED);
    let monitor_failure = |error: zmq::Error| {
        DriverError::new(format!(
            "failed to monitor the socket of driver `{name}`: {}",
            reason(error)
        ))
    };
    socket
        .monitor(&monitor_endpoint, events)
        .map_err(monitor_failure)?;
    let monitor = context.socket(zmq::PAIR).map_err(monitor_failure)?;
    monitor.set_linger(0).map_err(monitor_failure)?;
    monitor
        .connect(&monitor_endpoint)
        .map_err(monitor_failure)?;
    guarded(|| socket.connect(&endpoint))
        .map_err(&failure)?
        .map_err(|error| failure(reason(error)))?;
    Ok((
        socket,
        Monitor {
            socket: monitor,
            connections: Vec::new(),
        },
    ))
}

impl DriverSettings for ZmqClient {
    fn common_mut(&mut self) -> &mut DriverCommon {
        &mut self.common
    }
}

impl Driver for ZmqClient {
    fn common(&self) -> &DriverCommon {
        &self.common
    }

    fn kind(&self) -> &'static str {
        "ZmqClient"
    }

    fn context_values(&self) -> Vec<&ConfigValue> {
        vec![&self.settings.host, &self.settings.port]
    }

    fn start(&self, context: &StartContext) -> Result<(), DriverError> {
        let name = &self.common.name;
        let host = context.resolve(&self.settings.host)?;
        let port = parse_port(&context.resolve(&self.settings.port)?, name)?;
        let mut state = lock(&self.channel.state);
        if state.is_some() {
            return Err(DriverError::new(format!(
                "driver `{name}` is already started"
            )));
        }
        let zmq_context = zmq::Context::new();
        let (socket, monitor) = connect(&zmq_context, &self.settings, &host, port, name)?;
        *state = Some(Open {
            socket,
            monitor: Some(monitor),
            endpoint: tcp_endpoint(&host, port, false),
            host,
            port,
            bound: None,
            subscriptions: self.settings.subscriptions.clone(),
            context: zmq_context,
        });
        Ok(())
    }

    fn wait_ready(&self, context: &StartContext) -> Result<(), DriverError> {
        if !self.wait_connected {
            return Ok(());
        }
        self.await_connection(
            context
                .deadline
                .min(crate::deadline::deadline_after(self.settings.timeout)),
        )
    }

    fn definition(&self) -> String {
        format!(
            "{} {} wait_connected={}",
            default_definition(self),
            self.settings.definition(),
            self.wait_connected
        )
    }

    fn stop(&self) -> Result<(), DriverError> {
        self.channel.close(self.common.stop_timeout)
    }

    fn attributes(&self) -> Attributes {
        self.channel.attributes(self.settings.kind)
    }

    /// The local ends of its TCP connections, read through the socket monitor (libzmq does
    /// not tell them otherwise).
    fn sockets(&self) -> DriverSockets {
        self.channel.sockets()
    }
}

impl std::fmt::Debug for ZmqServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZmqServer")
            .field("name", &self.common.name)
            .field("socket_type", &self.settings.kind)
            .field("host", &self.settings.host)
            .field("port", &self.settings.port)
            .field("endpoint", &self.endpoint())
            .finish()
    }
}

impl std::fmt::Debug for ZmqClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let endpoint = lock(&self.channel.state)
            .as_ref()
            .map(|open| open.endpoint.clone());
        f.debug_struct("ZmqClient")
            .field("name", &self.common.name)
            .field("socket_type", &self.settings.kind)
            .field("host", &self.settings.host)
            .field("port", &self.settings.port)
            .field("connected_to", &endpoint)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tcp::test_support::start_context;
    use super::*;
    use crate::env::context;

    const WAIT: Duration = Duration::from_secs(5);

    fn started_server(kind: ZmqSocketType) -> ZmqServer {
        let server = ZmqServer::new("server", kind);
        server.start(&start_context("zmq", &[])).unwrap();
        server
    }

    fn client_of(server: &ZmqServer, kind: ZmqSocketType) -> ZmqClient {
        let client = ZmqClient::new("client", kind)
            .host(context("server", "{{host}}"))
            .port(context("server", "{{port}}"));
        let start = start_context("zmq", &[server]);
        client.start(&start).unwrap();
        client.wait_ready(&start).unwrap();
        client
    }

    fn stop(drivers: &[&dyn Driver]) {
        for driver in drivers {
            driver.stop().unwrap();
        }
    }

    #[test]
    fn pair_sockets_talk_both_ways_and_publish_where_they_are() {
        let server = started_server(ZmqSocketType::Pair);
        let client = client_of(&server, ZmqSocketType::Pair);
        client.send_text("hello").unwrap();
        assert_eq!(server.receive_text(WAIT).unwrap(), "hello");
        server.send_multipart(&["part 1", "part 2"]).unwrap();
        assert_eq!(
            client.receive_multipart(WAIT).unwrap(),
            vec![b"part 1".to_vec(), b"part 2".to_vec()]
        );

        let port = server.bound_port().unwrap();
        assert_ne!(port, 0);
        let attributes = server.attributes();
        assert_eq!(attributes["port"], json!(port));
        assert_eq!(attributes["host"], json!("127.0.0.1"));
        assert_eq!(attributes["socket_type"], json!("PAIR"));
        assert_eq!(
            attributes["endpoint"],
            json!(format!("tcp://127.0.0.1:{port}"))
        );
        assert_eq!(
            server.sockets().listening,
            vec![SocketAddr::from(([127, 0, 0, 1], port))]
        );
        let client_attributes = client.attributes();
        assert_eq!(client_attributes["port"], json!(port));
        // The monitor told which local port the connection has.
        let connected = client.sockets().connected;
        assert_eq!(connected.len(), 1, "{connected:?}");
        assert_eq!(client_attributes["local_port"], json!(connected[0].port()));
        assert_ne!(connected[0].port(), port);
        stop(&[&client, &server]);
    }

    #[test]
    fn req_and_rep_take_turns_and_say_so_when_out_of_turn() {
        let server = started_server(ZmqSocketType::Rep);
        let client = client_of(&server, ZmqSocketType::Req);
        client.send_text("ping").unwrap();
        let error = client.send_text("again").unwrap_err();
        assert!(error.message.contains("call `receive` first"), "{error}");
        assert_eq!(server.receive_text(WAIT).unwrap(), "ping");
        let error = server.receive(WAIT).unwrap_err();
        assert!(error.message.contains("must send its reply"), "{error}");
        server.send_text("pong").unwrap();
        assert_eq!(client.receive_text(WAIT).unwrap(), "pong");

        // A REQ socket that never gets its reply starts over with a reconnect.
        client.send_multipart(&["a", "b"]).unwrap();
        assert_eq!(
            server.receive_multipart(WAIT).unwrap(),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        client.reconnect().unwrap();
        server.send_text("late reply").unwrap();
        client.send_text("fresh").unwrap();
        assert_eq!(server.receive_text(WAIT).unwrap(), "fresh");
        server.send_text("answer").unwrap();
        assert_eq!(client.receive_text(WAIT).unwrap(), "answer");
        stop(&[&client, &server]);
    }

    #[test]
    fn pub_reaches_sub_through_its_subscription_filter() {
        let server = started_server(ZmqSocketType::Pub);
        let client = ZmqClient::new("client", ZmqSocketType::Sub)
            .port(context("server", "{{port}}"))
            .subscription("news");
        let start = start_context("zmq", &[&server]);
        client.start(&start).unwrap();
        client.wait_ready(&start).unwrap();
        client.wait_subscribed(&server, "news-probe", WAIT).unwrap();
        server.send_text("weather: rain").unwrap();
        server.send_text("news: one").unwrap();
        assert_eq!(client.receive_text(WAIT).unwrap(), "news: one");
        let error = client.receive(Duration::from_millis(100)).unwrap_err();
        assert!(error.message.contains("wait_subscribed"), "{error}");

        client.subscribe("weather").unwrap();
        client.unsubscribe("news").unwrap();
        client
            .wait_subscribed(&server, "weather-probe", WAIT)
            .unwrap();
        server.send_text("news: two").unwrap();
        server.send_text("weather: sun").unwrap();
        assert_eq!(client.receive_text(WAIT).unwrap(), "weather: sun");

        assert!(server.send(b"x").is_ok(), "a PUB socket never waits");
        let error = server.receive(WAIT).unwrap_err();
        assert!(error.message.contains("cannot receive"), "{error}");
        let error = client.send(b"x").unwrap_err();
        assert!(error.message.contains("cannot send"), "{error}");
        let error = server.subscribe("x").unwrap_err();
        assert!(error.message.contains("only SUB sockets"), "{error}");
        stop(&[&client, &server]);
    }

    #[test]
    fn push_feeds_pull_in_order() {
        let server = started_server(ZmqSocketType::Pull);
        let client = client_of(&server, ZmqSocketType::Push);
        for index in 0..3 {
            client.send_text(&format!("task {index}")).unwrap();
        }
        for index in 0..3 {
            assert_eq!(server.receive_text(WAIT).unwrap(), format!("task {index}"));
        }
        client.send_text("left over").unwrap();
        // Flush takes what arrived; give the message time to get there.
        let deadline = Instant::now() + WAIT;
        let mut flushed = 0;
        while flushed == 0 && Instant::now() < deadline {
            flushed = server.flush();
        }
        assert_eq!(flushed, 1);
        stop(&[&client, &server]);
    }

    #[test]
    fn a_receive_without_a_message_times_out_quickly_with_a_hint() {
        let server = started_server(ZmqSocketType::Rep);
        let started = Instant::now();
        let error = server.receive(Duration::from_millis(100)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        let port = server.bound_port().unwrap();
        assert_eq!(
            error.message,
            format!(
                "no message reached the REP socket of driver `server` (tcp://127.0.0.1:{port}) within 100ms; is the peer connected and sending? (pass a longer timeout to wait longer)"
            )
        );
        server.stop().unwrap();
        let error = server.receive(WAIT).unwrap_err();
        assert!(error.message.contains("is not started"), "{error}");
        assert!(server.attributes().is_empty());
        assert_eq!(server.sockets(), DriverSockets::default());
    }

    #[test]
    fn stop_is_bounded_when_the_peer_is_gone_with_messages_queued() {
        let server = started_server(ZmqSocketType::Pull);
        let client = ZmqClient::new("client", ZmqSocketType::Push)
            .port(server.bound_port().unwrap())
            .timeout(Duration::from_millis(200));
        let start = start_context("zmq", &[]);
        client.start(&start).unwrap();
        client.wait_ready(&start).unwrap();
        server.stop().unwrap();
        // Whatever the client still queues for the vanished peer must not hold its stop.
        for _ in 0..3 {
            let _ = client.send_text("into the void");
        }
        let started = Instant::now();
        client.stop().unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));

        // Even a long linger is cut at the stop timeout; the context ends in the background.
        let reservation = crate::drivers::ports::port_without_server();
        let client = ZmqClient::new("client", ZmqSocketType::Push)
            .port(reservation.port())
            .wait_connected(false)
            .linger(Duration::from_secs(30))
            .stop_timeout(Duration::from_millis(200));
        client.start(&start).unwrap();
        client.send_text("queued forever").unwrap();
        let started = Instant::now();
        let error = client.stop().unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(error.message.contains("did not terminate"), "{error}");
    }

    #[test]
    fn a_client_without_a_server_fails_its_start_with_the_endpoint() {
        let reservation = crate::drivers::ports::port_without_server();
        let port = reservation.port();
        let client = ZmqClient::new("client", ZmqSocketType::Req)
            .port(port)
            .timeout(Duration::from_millis(200));
        let start = start_context("zmq", &[]);
        client.start(&start).unwrap();
        let error = client.wait_ready(&start).unwrap_err();
        assert!(
            error.message.starts_with(&format!(
                "driver `client` did not connect to tcp://127.0.0.1:{port} within 200ms"
            )),
            "{error}"
        );
        // A send to nobody times out rather than hanging.
        let pusher = ZmqClient::new("pusher", ZmqSocketType::Push)
            .port(port)
            .timeout(Duration::from_millis(100))
            .wait_connected(false);
        pusher.start(&start).unwrap();
        // ZeroMQ queues for a peer that may still come: the first sends are taken.
        let mut result = Ok(());
        for _ in 0..10_000 {
            result = pusher.send(b"x");
            if result.is_err() {
                break;
            }
        }
        let error = result.unwrap_err();
        assert!(error.message.contains("could not send"), "{error}");
        stop(&[&client, &pusher]);
    }

    #[test]
    fn a_taken_port_and_bad_settings_are_reported_with_the_driver_name() {
        let server = started_server(ZmqSocketType::Pair);
        let port = server.bound_port().unwrap();
        let second = ZmqServer::new("second", ZmqSocketType::Pair).port(port);
        let error = second.start(&start_context("zmq", &[])).unwrap_err();
        assert_eq!(
            error.message,
            format!(
                "failed to bind tcp://127.0.0.1:{port} for driver `second`: address already in use; is the port free and the host an address of this machine?"
            )
        );
        let bad = ZmqServer::new("bad", ZmqSocketType::Pair).port("http");
        let error = bad.start(&start_context("zmq", &[])).unwrap_err();
        assert_eq!(
            error.message,
            "port `http` of driver `bad` is not a number between 0 and 65535"
        );
        assert!(server.start(&start_context("zmq", &[])).is_err());
        server.stop().unwrap();
    }

    #[test]
    fn a_reloaded_server_binds_its_old_port() {
        let server = started_server(ZmqSocketType::Rep);
        let state = server.handoff_state().unwrap();
        let attributes = server.attributes();
        let definition = server.definition();
        server.stop().unwrap();
        let again = ZmqServer::new("server", ZmqSocketType::Rep);
        assert_eq!(again.definition(), definition);
        assert_ne!(
            ZmqServer::new("server", ZmqSocketType::Pub).definition(),
            definition
        );
        again.adopt(&state, &start_context("zmq", &[])).unwrap();
        assert_eq!(again.attributes(), attributes);
        again.stop().unwrap();
    }

    #[test]
    fn proc_addresses_parse() {
        assert_eq!(
            proc_address("0100007F:1F90"),
            Some(SocketAddr::from(([127, 0, 0, 1], 8080)))
        );
        assert_eq!(
            proc_address("00000000000000000000000001000000:0050"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(proc_address("zz:1"), None);
    }
}

//! In-process TCP drivers: [`TcpServer`] listens on a port and keeps every connection it
//! accepts; [`TcpClient`] connects to a server, usually another driver of the same
//! environment reached through `context("server", "{{port}}")`. Testcases exchange raw bytes
//! (or text) through them.
//!
//! The environment starts and stops them like any driver and reports their status changes as
//! events; testcases reach them with `env.driver::<TcpClient>("client")`. Every read has a
//! deadline, so a silent peer becomes a [`DriverError`] rather than a hung testcase, and bytes
//! that arrived before a timeout are kept for the next read.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::json;

use super::listener::AcceptLoop;
use crate::env::{
    Attributes, ConfigValue, Driver, DriverCommon, DriverError, DriverSettings, DriverSockets,
    StartContext, default_definition,
};

/// How long receives wait by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Locks a mutex even if a panicking testcase poisoned it: the state behind our locks stays
/// consistent between statements, and refusing to stop a driver would leak sockets.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An io error as a lowercase fragment without the errno suffix ("connection refused").
pub(super) fn io_reason(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error") {
        Some(index) => &text[..index],
        None => &text,
    };
    lowercase_first(text)
}

pub(super) fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A port setting, checked so a typo fails at start with the driver's name.
pub(super) fn parse_port(text: &str, driver: &str) -> Result<u16, DriverError> {
    text.trim().parse().map_err(|_| {
        DriverError::new(format!(
            "port `{text}` of driver `{driver}` is not a number between 0 and 65535"
        ))
    })
}

/// `host:port`, bracketing IPv6 literals so the text can be pasted into a URL.
pub(super) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Binds a listener for a server driver and makes it nonblocking, so its accept loop can
/// notice a stop request between polls.
/// The port an in-process server had in the previous image of the plan (its hand-off
/// state), to bind again on code reload so that its clients' settings stay true.
pub(super) fn handed_off_port(state: &serde_json::Value, driver: &str) -> Result<u16, DriverError> {
    state["port"]
        .as_u64()
        .and_then(|port| u16::try_from(port).ok())
        .ok_or_else(|| {
            DriverError::new(format!(
                "the hand-off of driver `{driver}` has no `port`: it is started again"
            ))
        })
}

/// The definition of an in-process server: the common settings plus where it listens.
pub(super) fn server_definition(
    driver: &(impl Driver + ?Sized),
    host: &ConfigValue,
    port: &ConfigValue,
) -> String {
    format!("{} host={host:?} port={port:?}", default_definition(driver))
}

pub(super) fn bind_listener(
    host: &str,
    port: u16,
    driver: &str,
) -> Result<(TcpListener, SocketAddr), DriverError> {
    let failure = |error: &io::Error| {
        DriverError::new(format!(
            "failed to bind {} for driver `{driver}`: {}; is the port free and the host an address of this machine?",
            host_port(host, port),
            io_reason(error)
        ))
    };
    let listener = TcpListener::bind((host, port)).map_err(|error| failure(&error))?;
    listener
        .set_nonblocking(true)
        .map_err(|error| failure(&error))?;
    let address = listener.local_addr().map_err(|error| failure(&error))?;
    Ok((listener, address))
}

/// Bytes read from a socket but not yet handed to a testcase.
#[derive(Default)]
struct Input {
    buffer: Vec<u8>,
    /// The peer closed its side: reads stop waiting once the buffer is drained.
    eof: bool,
}

/// Why a read returned without what it waited for.
enum ReadError {
    TimedOut { buffered: usize },
    Closed { buffered: usize },
    Io(io::Error),
}

/// One TCP connection with its own read buffer, so partial reads survive timeouts and
/// delimiter searches can read ahead.
struct Connection {
    stream: TcpStream,
    peer: Option<SocketAddr>,
    input: Mutex<Input>,
    closed: AtomicBool,
}

impl Connection {
    fn new(stream: TcpStream) -> Connection {
        // Test traffic is small request/response exchanges, where Nagle only adds latency.
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr().ok();
        Connection {
            stream,
            peer,
            input: Mutex::default(),
            closed: AtomicBool::new(false),
        }
    }

    fn send(&self, bytes: &[u8]) -> io::Result<usize> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the connection was closed",
            ));
        }
        (&self.stream).write_all(bytes)?;
        Ok(bytes.len())
    }

    /// Reads until `take` finds a complete message in the buffer (returning its length) or
    /// the deadline passes.
    fn read(
        &self,
        deadline: Instant,
        take: impl Fn(&[u8]) -> Option<usize>,
    ) -> Result<Vec<u8>, ReadError> {
        let mut input = lock(&self.input);
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(length) = take(&input.buffer) {
                return Ok(input.buffer.drain(..length).collect());
            }
            if input.eof {
                return Err(ReadError::Closed {
                    buffered: input.buffer.len(),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ReadError::TimedOut {
                    buffered: input.buffer.len(),
                });
            }
            self.stream
                .set_read_timeout(Some(deadline - now))
                .map_err(ReadError::Io)?;
            match (&self.stream).read(&mut chunk) {
                Ok(0) => input.eof = true,
                Ok(count) => input.buffer.extend_from_slice(&chunk[..count]),
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(error) => return Err(ReadError::Io(error)),
            }
        }
    }

    /// Exactly `size` bytes, or fewer when the peer closes first.
    fn receive(&self, size: usize, deadline: Instant) -> Result<Vec<u8>, ReadError> {
        match self.read(deadline, |buffer| (buffer.len() >= size).then_some(size)) {
            Err(ReadError::Closed { .. }) => Ok(std::mem::take(&mut lock(&self.input).buffer)),
            other => other,
        }
    }

    /// Everything up to and including `delimiter`.
    fn receive_until(&self, delimiter: &[u8], deadline: Instant) -> Result<Vec<u8>, ReadError> {
        if delimiter.is_empty() {
            return Ok(Vec::new());
        }
        self.read(deadline, |buffer| {
            buffer
                .windows(delimiter.len())
                .position(|window| window == delimiter)
                .map(|index| index + delimiter.len())
        })
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        // Shutting down (not just dropping) wakes a reader blocked on another thread.
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Turns a read failure into an error saying what was awaited, from where, and what to try.
fn read_error(error: ReadError, what: &str, source: &str, timeout: Duration) -> DriverError {
    match error {
        ReadError::TimedOut { buffered } => DriverError::new(format!(
            "timed out after {timeout:?} waiting for {what} from {source} ({buffered} bytes received so far, kept for the next receive); is the peer sending? a longer wait is set with `.timeout(…)`"
        )),
        ReadError::Closed { buffered } => DriverError::new(format!(
            "{source} was closed by the peer before {what} arrived ({buffered} bytes received, kept for the next receive)"
        )),
        ReadError::Io(error) => DriverError::new(format!(
            "failed to receive {what} from {source}: {}",
            io_reason(&error)
        )),
    }
}

fn describe_delimiter(delimiter: &[u8]) -> String {
    format!("the delimiter {:?}", String::from_utf8_lossy(delimiter))
}

/// What the accept loop and the testcases share.
#[derive(Default)]
struct ServerShared {
    state: Mutex<ServerState>,
    /// Signalled whenever a connection is accepted.
    accepted: Condvar,
}

#[derive(Default)]
struct ServerState {
    host: String,
    address: Option<SocketAddr>,
    connections: Vec<Arc<Connection>>,
    /// Connections already returned by `accept_connection`.
    handed_out: usize,
}

/// A TCP server that accepts connections in the background and talks to them on demand
/// (Testplan's `TCPServer`).
///
/// ```no_run
/// use testrig::drivers::TcpServer;
/// let server = TcpServer::new("server"); // 127.0.0.1, an ephemeral port
/// // In a testcase: env.driver::<TcpServer>("server").receive_text(5)?
/// ```
pub struct TcpServer {
    common: DriverCommon,
    host: ConfigValue,
    port: ConfigValue,
    timeout: Duration,
    shared: Arc<ServerShared>,
    accept_thread: Mutex<Option<AcceptLoop>>,
}

impl TcpServer {
    /// A server on 127.0.0.1 and an ephemeral port, receiving with a 5 s timeout.
    pub fn new(name: impl Into<String>) -> TcpServer {
        TcpServer {
            common: DriverCommon::new(name),
            host: ConfigValue::from("127.0.0.1"),
            port: ConfigValue::from(0u16),
            timeout: DEFAULT_TIMEOUT,
            shared: Arc::default(),
            accept_thread: Mutex::new(None),
        }
    }

    /// The address to bind (default `127.0.0.1`; `0.0.0.0` for every interface).
    pub fn host(mut self, host: impl Into<ConfigValue>) -> TcpServer {
        self.host = host.into();
        self
    }

    /// The port to bind (default 0: the system picks a free one, published as `port`).
    pub fn port(mut self, port: impl Into<ConfigValue>) -> TcpServer {
        self.port = port.into();
        self
    }

    /// How long [`send`](TcpServer::send) waits for a connection and receives wait for data.
    pub fn timeout(mut self, timeout: Duration) -> TcpServer {
        self.timeout = timeout;
        self
    }

    /// The bound port, once started.
    pub fn bound_port(&self) -> Option<u16> {
        lock(&self.shared.state)
            .address
            .map(|address| address.port())
    }

    /// Starts on the configured port, or on `port` when given (code reload).
    fn start_on(&self, context: &StartContext, port: Option<u16>) -> Result<(), DriverError> {
        let name = &self.common.name;
        if lock(&self.accept_thread).is_some() {
            return Err(DriverError::new(format!(
                "driver `{name}` is already started"
            )));
        }
        let host = context.resolve(&self.host)?;
        let port = match port {
            Some(port) => port,
            None => parse_port(&context.resolve(&self.port)?, name)?,
        };
        let (listener, address) = bind_listener(&host, port, name)?;
        *lock(&self.shared.state) = ServerState {
            host,
            address: Some(address),
            ..ServerState::default()
        };
        let shared = Arc::clone(&self.shared);
        let serving = AcceptLoop::start(
            listener,
            format!("tcp-server-{name}"),
            name,
            move |stream| {
                let connection = Arc::new(Connection::new(stream));
                lock(&shared.state).connections.push(connection);
                shared.accepted.notify_all();
            },
        )?;
        *lock(&self.accept_thread) = Some(serving);
        Ok(())
    }

    /// Waits up to `timeout` for a connection not yet returned by this method and returns its
    /// index (connections are numbered from 0 in the order they were accepted).
    pub fn accept_connection(&self, timeout: Duration) -> Result<usize, DriverError> {
        let deadline = crate::deadline::deadline_after(timeout);
        let mut state = lock(&self.shared.state);
        loop {
            if state.connections.len() > state.handed_out {
                state.handed_out += 1;
                return Ok(state.handed_out - 1);
            }
            let now = Instant::now();
            if now >= deadline || state.address.is_none() {
                return Err(self.no_connection(&state, timeout, None));
            }
            state = self
                .shared
                .accepted
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// How many connections were accepted since the server started (closed ones included).
    pub fn connections(&self) -> usize {
        lock(&self.shared.state).connections.len()
    }

    /// Sends bytes on the most recent connection, waiting up to the timeout for a client to
    /// connect; returns how many bytes were sent.
    pub fn send(&self, bytes: &[u8]) -> Result<usize, DriverError> {
        let (index, connection) = self.latest(crate::deadline::deadline_after(self.timeout))?;
        self.send_on(index, &connection, bytes)
    }

    /// Sends bytes on connection `conn`, waiting up to the timeout for it to be accepted.
    pub fn send_to(&self, conn: usize, bytes: &[u8]) -> Result<usize, DriverError> {
        let connection = self.connection(conn, self.timeout)?;
        self.send_on(conn, &connection, bytes)
    }

    /// Sends UTF-8 text on the most recent connection.
    pub fn send_text(&self, text: &str) -> Result<usize, DriverError> {
        self.send(text.as_bytes())
    }

    /// Reads exactly `size` bytes (fewer if the peer closes) from the most recent connection,
    /// waiting up to the timeout for a connection and the data.
    pub fn receive(&self, size: usize) -> Result<Vec<u8>, DriverError> {
        let deadline = crate::deadline::deadline_after(self.timeout);
        let (index, connection) = self.latest(deadline)?;
        connection.receive(size, deadline).map_err(|error| {
            read_error(
                error,
                &format!("{size} bytes"),
                &self.source(index),
                self.timeout,
            )
        })
    }

    /// Reads exactly `size` bytes (fewer if the peer closes) from connection `conn`, waiting
    /// up to `timeout` for the connection and the data.
    pub fn receive_from(
        &self,
        conn: usize,
        size: usize,
        timeout: Duration,
    ) -> Result<Vec<u8>, DriverError> {
        let deadline = crate::deadline::deadline_after(timeout);
        let connection = self.wait_for_connection(deadline, timeout, Some(conn))?.1;
        connection.receive(size, deadline).map_err(|error| {
            read_error(error, &format!("{size} bytes"), &self.source(conn), timeout)
        })
    }

    /// [`receive`](TcpServer::receive) decoded as UTF-8 (invalid sequences become U+FFFD).
    pub fn receive_text(&self, size: usize) -> Result<String, DriverError> {
        self.receive(size)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Reads from the most recent connection up to and including `delimiter` (`b"\r\n"` for
    /// line protocols).
    pub fn receive_until(&self, delimiter: &[u8]) -> Result<Vec<u8>, DriverError> {
        let deadline = crate::deadline::deadline_after(self.timeout);
        let (index, connection) = self.latest(deadline)?;
        connection
            .receive_until(delimiter, deadline)
            .map_err(|error| {
                read_error(
                    error,
                    &describe_delimiter(delimiter),
                    &self.source(index),
                    self.timeout,
                )
            })
    }

    /// Closes connection `conn` (waiting up to the timeout for it to be accepted); its index
    /// stays taken.
    pub fn close_connection(&self, conn: usize) -> Result<(), DriverError> {
        self.connection(conn, self.timeout)?.close();
        Ok(())
    }

    fn source(&self, conn: usize) -> String {
        format!("connection {conn} of driver `{}`", self.common.name)
    }

    fn send_on(
        &self,
        index: usize,
        connection: &Connection,
        bytes: &[u8],
    ) -> Result<usize, DriverError> {
        connection.send(bytes).map_err(|error| {
            DriverError::new(format!(
                "failed to send {} bytes on {}: {}",
                bytes.len(),
                self.source(index),
                io_reason(&error)
            ))
        })
    }

    /// Connection `conn`, waiting up to `timeout` for it: a client's connect returns before
    /// the server's accept loop has taken the connection.
    fn connection(&self, conn: usize, timeout: Duration) -> Result<Arc<Connection>, DriverError> {
        let deadline = crate::deadline::deadline_after(timeout);
        Ok(self.wait_for_connection(deadline, timeout, Some(conn))?.1)
    }

    /// The most recent connection, waiting until the deadline for a first one.
    fn latest(&self, deadline: Instant) -> Result<(usize, Arc<Connection>), DriverError> {
        self.wait_for_connection(deadline, self.timeout, None)
    }

    /// Connection `wanted` (the most recent one for `None`) once it is accepted, waiting
    /// until the deadline (`timeout` is what the error names).
    fn wait_for_connection(
        &self,
        deadline: Instant,
        timeout: Duration,
        wanted: Option<usize>,
    ) -> Result<(usize, Arc<Connection>), DriverError> {
        let mut state = lock(&self.shared.state);
        loop {
            let found = match wanted {
                Some(conn) => state.connections.get(conn).map(|c| (conn, Arc::clone(c))),
                None => state
                    .connections
                    .last()
                    .map(|c| (state.connections.len() - 1, Arc::clone(c))),
            };
            if let Some(found) = found {
                return Ok(found);
            }
            let now = Instant::now();
            if now >= deadline || state.address.is_none() {
                return Err(self.no_connection(&state, timeout, wanted));
            }
            state = self
                .shared
                .accepted
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Why no connection (`wanted`, or a new one for `None`) came within `timeout`.
    fn no_connection(
        &self,
        state: &ServerState,
        timeout: Duration,
        wanted: Option<usize>,
    ) -> DriverError {
        let Some(address) = state.address else {
            return DriverError::new(format!(
                "driver `{}` is not started; start it (as part of the environment) before using its connections",
                self.common.name
            ));
        };
        let which = wanted.map_or("no new connection".to_string(), |conn| {
            format!("no connection {conn}")
        });
        DriverError::new(format!(
            "{which} reached driver `{}` on {address} within {timeout:?} ({} accepted so far); is the client pointed at this port?",
            self.common.name,
            state.connections.len()
        ))
    }
}

impl DriverSettings for TcpServer {
    fn common_mut(&mut self) -> &mut DriverCommon {
        &mut self.common
    }
}

impl Driver for TcpServer {
    fn common(&self) -> &DriverCommon {
        &self.common
    }

    fn kind(&self) -> &'static str {
        "TcpServer"
    }

    fn context_values(&self) -> Vec<&ConfigValue> {
        vec![&self.host, &self.port]
    }

    fn start(&self, context: &StartContext) -> Result<(), DriverError> {
        self.start_on(context, None)
    }

    fn definition(&self) -> String {
        server_definition(self, &self.host, &self.port)
    }

    fn handoff_state(&self) -> Option<serde_json::Value> {
        self.bound_port().map(|port| json!({ "port": port }))
    }

    /// Its socket closed with the previous image: listen again on the same port.
    fn adopt(&self, state: &serde_json::Value, context: &StartContext) -> Result<(), DriverError> {
        let port = handed_off_port(state, &self.common.name)?;
        self.start_on(context, Some(port))
    }

    fn stop(&self) -> Result<(), DriverError> {
        let panicked = lock(&self.accept_thread)
            .take()
            .is_some_and(AcceptLoop::stop);
        let mut state = lock(&self.shared.state);
        for connection in &state.connections {
            connection.close();
        }
        state.address = None;
        drop(state);
        // Waiters see `address == None` and give up instead of waiting out their timeout.
        self.shared.accepted.notify_all();
        if panicked {
            return Err(DriverError::new(format!(
                "the accept thread of driver `{}` panicked",
                self.common.name
            )));
        }
        Ok(())
    }

    fn attributes(&self) -> Attributes {
        let state = lock(&self.shared.state);
        let mut attributes = Attributes::new();
        if let Some(address) = state.address {
            attributes.insert("host".into(), json!(state.host));
            attributes.insert("port".into(), json!(address.port()));
        }
        attributes
    }

    fn sockets(&self) -> DriverSockets {
        DriverSockets::listening(lock(&self.shared.state).address)
    }
}

#[derive(Default)]
struct ClientState {
    /// The resolved host and port, kept for `connect` and `reconnect` after start.
    target: Option<(String, u16)>,
    connection: Option<Arc<Connection>>,
}

/// A TCP client connected to a server (Testplan's `TCPClient`).
///
/// ```no_run
/// use testrig::drivers::TcpClient;
/// use testrig::env::context;
/// let client = TcpClient::new("client")
///     .host(context("server", "{{host}}"))
///     .port(context("server", "{{port}}"));
/// // In a testcase: env.driver::<TcpClient>("client").send_text("PING\r\n")?
/// ```
pub struct TcpClient {
    common: DriverCommon,
    host: ConfigValue,
    port: ConfigValue,
    connect_at_start: bool,
    timeout: Duration,
    state: Mutex<ClientState>,
}

impl TcpClient {
    /// A client for 127.0.0.1 that connects when it starts; set the port.
    pub fn new(name: impl Into<String>) -> TcpClient {
        TcpClient {
            common: DriverCommon::new(name),
            host: ConfigValue::from("127.0.0.1"),
            port: ConfigValue::from(0u16),
            connect_at_start: true,
            timeout: DEFAULT_TIMEOUT,
            state: Mutex::default(),
        }
    }

    /// The server's host (default `127.0.0.1`), often `context("server", "{{host}}")`.
    pub fn host(mut self, host: impl Into<ConfigValue>) -> TcpClient {
        self.host = host.into();
        self
    }

    /// The server's port, usually `context("server", "{{port}}")`.
    pub fn port(mut self, port: impl Into<ConfigValue>) -> TcpClient {
        self.port = port.into();
        self
    }

    /// Connect while starting (default); otherwise call [`connect`](TcpClient::connect).
    pub fn connect_at_start(mut self, connect: bool) -> TcpClient {
        self.connect_at_start = connect;
        self
    }

    /// How long connects and receives wait (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> TcpClient {
        self.timeout = timeout;
        self
    }

    /// Connects to the server unless already connected.
    pub fn connect(&self) -> Result<(), DriverError> {
        if lock(&self.state).connection.is_some() {
            return Ok(());
        }
        self.open(crate::deadline::deadline_after(self.timeout))
    }

    /// Closes the connection (if any) and connects again.
    pub fn reconnect(&self) -> Result<(), DriverError> {
        self.close();
        self.open(crate::deadline::deadline_after(self.timeout))
    }

    /// Closes the connection; sends and receives fail until the next connect.
    pub fn close(&self) {
        if let Some(connection) = lock(&self.state).connection.take() {
            connection.close();
        }
    }

    /// Whether the client holds a connection.
    pub fn is_connected(&self) -> bool {
        lock(&self.state).connection.is_some()
    }

    /// Sends bytes; returns how many were sent.
    pub fn send(&self, bytes: &[u8]) -> Result<usize, DriverError> {
        self.connected()?.send(bytes).map_err(|error| {
            DriverError::new(format!(
                "failed to send {} bytes from driver `{}`: {}; has the server closed the connection?",
                bytes.len(),
                self.common.name,
                io_reason(&error)
            ))
        })
    }

    /// Sends UTF-8 text.
    pub fn send_text(&self, text: &str) -> Result<usize, DriverError> {
        self.send(text.as_bytes())
    }

    /// Reads exactly `size` bytes, or fewer if the server closes the connection.
    pub fn receive(&self, size: usize) -> Result<Vec<u8>, DriverError> {
        self.connected()?
            .receive(size, crate::deadline::deadline_after(self.timeout))
            .map_err(|error| {
                read_error(
                    error,
                    &format!("{size} bytes"),
                    &self.source(),
                    self.timeout,
                )
            })
    }

    /// [`receive`](TcpClient::receive) decoded as UTF-8 (invalid sequences become U+FFFD).
    pub fn receive_text(&self, size: usize) -> Result<String, DriverError> {
        self.receive(size)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Reads up to and including `delimiter`, e.g. `b"\r\n"` for a Redis reply (`+PONG\r\n`).
    pub fn receive_until(&self, delimiter: &[u8]) -> Result<Vec<u8>, DriverError> {
        self.connected()?
            .receive_until(delimiter, crate::deadline::deadline_after(self.timeout))
            .map_err(|error| {
                read_error(
                    error,
                    &describe_delimiter(delimiter),
                    &self.source(),
                    self.timeout,
                )
            })
    }

    fn source(&self) -> String {
        format!("the server of driver `{}`", self.common.name)
    }

    fn connected(&self) -> Result<Arc<Connection>, DriverError> {
        let state = lock(&self.state);
        state.connection.clone().ok_or_else(|| {
            DriverError::new(match state.target {
                None => format!(
                    "driver `{}` is not started; start it (as part of the environment) before using it",
                    self.common.name
                ),
                Some(_) => format!(
                    "driver `{}` is not connected; call `connect()` or `reconnect()` first",
                    self.common.name
                ),
            })
        })
    }

    fn open(&self, deadline: Instant) -> Result<(), DriverError> {
        let name = &self.common.name;
        let Some((host, port)) = lock(&self.state).target.clone() else {
            return Err(DriverError::new(format!(
                "driver `{name}` is not started; start it (as part of the environment) before connecting"
            )));
        };
        let target = host_port(&host, port);
        let failure = |reason: String| {
            DriverError::new(format!(
                "failed to connect to {target} for driver `{name}`: {reason}; is the server started and the port right?"
            ))
        };
        let addresses: Vec<SocketAddr> = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|error| failure(io_reason(&error)))?
            .collect();
        let mut last_error = String::from("the host resolves to no address");
        for address in addresses {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                last_error = "timed out".into();
                break;
            }
            match TcpStream::connect_timeout(&address, remaining) {
                Ok(stream) => {
                    lock(&self.state).connection = Some(Arc::new(Connection::new(stream)));
                    return Ok(());
                }
                Err(error) => last_error = io_reason(&error),
            }
        }
        Err(failure(last_error))
    }
}

impl DriverSettings for TcpClient {
    fn common_mut(&mut self) -> &mut DriverCommon {
        &mut self.common
    }
}

impl Driver for TcpClient {
    fn common(&self) -> &DriverCommon {
        &self.common
    }

    fn kind(&self) -> &'static str {
        "TcpClient"
    }

    fn context_values(&self) -> Vec<&ConfigValue> {
        vec![&self.host, &self.port]
    }

    fn start(&self, context: &StartContext) -> Result<(), DriverError> {
        let host = context.resolve(&self.host)?;
        let port = parse_port(&context.resolve(&self.port)?, &self.common.name)?;
        {
            let mut state = lock(&self.state);
            if state.connection.is_some() {
                return Err(DriverError::new(format!(
                    "driver `{}` is already started",
                    self.common.name
                )));
            }
            state.target = Some((host, port));
        }
        if self.connect_at_start {
            self.open(
                context
                    .deadline
                    .min(crate::deadline::deadline_after(self.timeout)),
            )?;
        }
        Ok(())
    }

    fn stop(&self) -> Result<(), DriverError> {
        self.close();
        lock(&self.state).target = None;
        Ok(())
    }

    fn attributes(&self) -> Attributes {
        let state = lock(&self.state);
        let mut attributes = Attributes::new();
        if let Some((host, port)) = &state.target {
            attributes.insert("host".into(), json!(host));
            attributes.insert("port".into(), json!(port));
        }
        let local = state
            .connection
            .as_ref()
            .and_then(|connection| connection.stream.local_addr().ok());
        if let Some(local) = local {
            attributes.insert("local_port".into(), json!(local.port()));
        }
        attributes
    }

    fn sockets(&self) -> DriverSockets {
        let local = lock(&self.state)
            .connection
            .as_ref()
            .and_then(|connection| connection.stream.local_addr().ok());
        DriverSockets::connected(local)
    }
}

impl std::fmt::Debug for TcpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpServer")
            .field("name", &self.common.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("connections", &self.connections())
            .finish()
    }
}

impl std::fmt::Debug for TcpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let peer = lock(&self.state)
            .connection
            .as_ref()
            .and_then(|connection| connection.peer);
        f.debug_struct("TcpClient")
            .field("name", &self.common.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("connected_to", &peer)
            .finish()
    }
}

/// Builds the start contexts the driver tests of this folder need.
#[cfg(test)]
pub(super) mod test_support {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use crate::env::{ContextScope, Driver, StartContext};

    /// A fresh runpath under the temp dir, unique per process and call. The first call of
    /// a process removes what test processes that ended left (their pid is gone).
    pub fn runpath(label: &str) -> PathBuf {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(sweep_ended_processes);
        std::env::temp_dir().join(format!(
            "testrig-drivers-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ))
    }

    /// Removes `testrig-drivers-<label>-<pid>-<n>` folders whose process has ended.
    fn sweep_ended_processes() {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("testrig-drivers-") else {
                continue;
            };
            let pid = rest
                .rsplit('-')
                .nth(1)
                .and_then(|pid| pid.parse::<u32>().ok());
            if let Some(pid) = pid
                && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    /// A context whose scope holds the attributes of `started`, with a 5 s deadline.
    pub fn start_context(label: &str, started: &[&dyn Driver]) -> StartContext {
        let mut scope = ContextScope::new();
        for driver in started {
            scope.insert(driver.name(), driver.attributes());
        }
        let mut context = StartContext::new(runpath(label), Duration::from_secs(5));
        context.scope = scope;
        context
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::start_context;
    use super::*;
    use crate::env::context;

    fn started_server() -> TcpServer {
        let server = TcpServer::new("server");
        server.start(&start_context("tcp", &[])).unwrap();
        server
    }

    #[test]
    fn a_reloaded_server_listens_on_its_old_port_and_a_changed_one_is_told_apart() {
        let server = started_server();
        let state = server
            .handoff_state()
            .expect("a started server hands over its port");
        let attributes = server.attributes();
        let definition = server.definition();
        server.stop().unwrap();
        // The next image of the plan: an identical definition takes over the port.
        let again = TcpServer::new("server");
        assert_eq!(again.definition(), definition);
        again.adopt(&state, &start_context("tcp", &[])).unwrap();
        assert_eq!(again.attributes(), attributes);
        again.stop().unwrap();
        assert_ne!(TcpServer::new("server").port(9).definition(), definition);
        assert!(
            again
                .adopt(&serde_json::json!({}), &start_context("tcp", &[]))
                .unwrap_err()
                .message
                .contains("has no `port`")
        );
    }

    fn client_of(server: &TcpServer) -> TcpClient {
        let client = TcpClient::new("client")
            .host(context("server", "{{host}}"))
            .port(context("server", "{{port}}"));
        client.start(&start_context("tcp", &[server])).unwrap();
        client
    }

    #[test]
    fn server_and_client_exchange_bytes_both_ways() {
        let server = started_server();
        let client = client_of(&server);
        assert_eq!(server.accept_connection(Duration::from_secs(5)).unwrap(), 0);
        assert_eq!(client.send_text("hello").unwrap(), 5);
        assert_eq!(server.receive_text(5).unwrap(), "hello");
        server.send(b"+PONG\r\nrest").unwrap();
        assert_eq!(client.receive_until(b"\r\n").unwrap(), b"+PONG\r\n");
        assert_eq!(client.receive_text(4).unwrap(), "rest");

        let attributes = client.attributes();
        assert_eq!(attributes["port"], json!(server.bound_port().unwrap()));
        assert_eq!(attributes["host"], json!("127.0.0.1"));
        assert!(attributes["local_port"].as_u64().is_some());
        client.stop().unwrap();
        server.stop().unwrap();
    }

    #[test]
    fn a_receive_without_data_times_out_quickly_and_keeps_partial_bytes() {
        let server = started_server();
        let client = client_of(&server).timeout(Duration::from_millis(100));
        server.send(b"abc").unwrap();
        let started = Instant::now();
        let error = client.receive(10).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(
            error
                .message
                .contains("timed out after 100ms waiting for 10 bytes"),
            "{error}"
        );
        assert!(error.message.contains("3 bytes received so far"), "{error}");
        assert_eq!(client.receive(3).unwrap(), b"abc");

        let server = server.timeout(Duration::from_millis(50));
        let error = server.receive(1).unwrap_err();
        assert!(
            error.message.contains("connection 0 of driver `server`"),
            "{error}"
        );
        server.stop().unwrap();
    }

    #[test]
    fn the_server_keeps_every_connection_apart() {
        // A short timeout: a connection that never comes is waited for that long.
        let server = TcpServer::new("server").timeout(Duration::from_millis(300));
        server.start(&start_context("tcp", &[])).unwrap();
        let clients: Vec<TcpClient> = (0..3).map(|_| client_of(&server)).collect();
        for expected in 0..3 {
            assert_eq!(
                server.accept_connection(Duration::from_secs(5)).unwrap(),
                expected
            );
        }
        assert_eq!(server.connections(), 3);
        let error = server
            .accept_connection(Duration::from_millis(50))
            .unwrap_err();
        assert!(error.message.contains("no new connection"), "{error}");

        // Connection order matches client order, since each client connected before the next.
        for (index, client) in clients.iter().enumerate() {
            server
                .send_to(index, format!("to {index}").as_bytes())
                .unwrap();
            assert_eq!(client.receive_text(4).unwrap(), format!("to {index}"));
        }
        clients[1].send_text("from 1").unwrap();
        assert_eq!(
            server.receive_from(1, 6, Duration::from_secs(5)).unwrap(),
            b"from 1"
        );

        server.close_connection(2).unwrap();
        // A closed peer ends the read early with what arrived, rather than timing out.
        assert_eq!(clients[2].receive(10).unwrap(), b"");
        assert!(server.send_to(2, b"x").is_err());
        assert!(
            server
                .send_to(7, b"x")
                .unwrap_err()
                .message
                .contains("no connection 7")
        );
        server.stop().unwrap();
    }

    #[test]
    fn indexed_operations_wait_for_their_connection_to_be_accepted() {
        // A client's connect returns once the kernel queued the connection, maybe before the
        // accept loop took it: the server's first receive must wait, not fail at once.
        for _ in 0..20 {
            let server = started_server();
            let client = client_of(&server);
            client.send_text("hi").unwrap();
            assert_eq!(
                server.receive_from(0, 2, Duration::from_secs(5)).unwrap(),
                b"hi"
            );
            server.stop().unwrap();
        }
        let server = started_server();
        let error = server
            .receive_from(3, 1, Duration::from_millis(100))
            .unwrap_err();
        assert!(
            error
                .message
                .contains("no connection 3 reached driver `server`")
                && error.message.contains("(0 accepted so far)"),
            "{error}"
        );
        server.stop().unwrap();
    }

    #[test]
    fn stop_releases_the_port_and_ends_the_accept_thread() {
        let server = started_server();
        let port = server.bound_port().unwrap();
        let client = client_of(&server);
        server.accept_connection(Duration::from_secs(5)).unwrap();
        let started = Instant::now();
        server.stop().unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(lock(&server.accept_thread).is_none());
        assert!(server.attributes().is_empty());
        // The server closed its side, so the client sees end of stream.
        assert_eq!(client.receive(1).unwrap(), b"");
        TcpListener::bind(("127.0.0.1", port)).expect("the port is free again");

        // A stopped server can start again, fresh.
        server.start(&start_context("tcp", &[])).unwrap();
        assert_eq!(server.connections(), 0);
        server.stop().unwrap();
    }

    #[test]
    fn a_refused_connection_names_the_target_and_a_fix() {
        let reservation = crate::drivers::ports::port_without_server();
        let port = reservation.port();
        let client = TcpClient::new("client").port(port);
        let error = client.start(&start_context("tcp", &[])).unwrap_err();
        assert!(
            error.message.starts_with(&format!(
                "failed to connect to 127.0.0.1:{port} for driver `client`: connection refused"
            )),
            "{error}"
        );
        assert!(error.message.contains("is the server started"), "{error}");
    }

    #[test]
    fn a_client_can_connect_later_and_reconnect() {
        let server = started_server();
        let client = TcpClient::new("client")
            .port(context("server", "{{port}}"))
            .connect_at_start(false);
        client.start(&start_context("tcp", &[&server])).unwrap();
        assert!(!client.is_connected());
        assert!(
            client
                .send(b"x")
                .unwrap_err()
                .message
                .contains("not connected")
        );
        client.connect().unwrap();
        client.reconnect().unwrap();
        assert_eq!(server.accept_connection(Duration::from_secs(5)).unwrap(), 0);
        assert_eq!(server.accept_connection(Duration::from_secs(5)).unwrap(), 1);
        client.send_text("second").unwrap();
        assert_eq!(server.receive_text(6).unwrap(), "second");
        client.stop().unwrap();
        assert!(
            client
                .send(b"x")
                .unwrap_err()
                .message
                .contains("not started")
        );
        server.stop().unwrap();
    }

    #[test]
    fn a_bad_port_setting_is_reported_with_the_driver_name() {
        let server = TcpServer::new("server").port("http");
        let error = server.start(&start_context("tcp", &[])).unwrap_err();
        assert_eq!(
            error.message,
            "port `http` of driver `server` is not a number between 0 and 65535"
        );
    }
}

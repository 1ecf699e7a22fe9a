//! In-process FIX drivers (Testplan's `FixServer` and `FixClient`), built on the `testrig-fix`
//! session engine: [`FixServer`] listens on a port and logs on every initiator that connects;
//! [`FixClient`] connects to a server (usually a [`FixServer`] of the same environment,
//! reached through `context("server", "{{port}}")`, or a real FIX engine run as an
//! [`App`](super::App)) and logs on while it starts. Testcases exchange application messages
//! through them; the session layer (heartbeats, test requests, sequence numbers, resends)
//! runs on the engine's own threads.
//!
//! The FIX types a testcase needs (`Message`, `Tag`, `FixVersion`, `msg_type`, …) are the
//! `testrig-fix` crate itself, re-exported as [`fix_protocol`]:
//! `use testrig::drivers::fix_protocol::{Message, Tag, msg_type};`. Messages are checked with
//! the recorder's `fix` family (`result.fix().matches(…)`).
//!
//! With the `fix-tls` feature both drivers speak TLS (the engine's OpenSSL transport):
//! `FixServer::tls` presents a certificate (and `FixServer::client_ca` requires client
//! certificates); `FixClient::tls_ca`, `FixClient::tls_server_name`,
//! `FixClient::tls_client_cert` and `FixClient::tls_insecure` set what the client trusts and
//! shows. Paths are settings like the others: literals (relative to the plan's current
//! directory) or context values, such as the server's `tls_cert` attribute for a self-signed
//! certificate.
//!
//! Every receive has a deadline, so a silent peer becomes a [`DriverError`] rather than a hung
//! testcase. Stopping logs every session out, waiting at most the driver's stop timeout for
//! the peers' Logout, and writes each session's message log into the driver's runpath
//! (`log_dir` / `log_path` attributes).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::json;
/// The FIX protocol types of the `testrig-fix` crate: [`Message`](fix_protocol::Message),
/// [`Tag`](fix_protocol::Tag), [`FixVersion`](fix_protocol::FixVersion),
/// [`msg_type`](fix_protocol::msg_type), the codec and the session engine.
pub use testrig_fix as fix_protocol;
use testrig_fix::{FixError, FixVersion, Message, MessageLog, Session, SessionConfig};
#[cfg(feature = "fix-tls")]
use testrig_fix::{TlsAcceptor, TlsClientConfig, TlsConnector, TlsServerConfig};

use super::listener::AcceptLoop;
use super::tcp::{
    bind_listener, handed_off_port, host_port, io_reason, lock, parse_port, server_definition,
};
use crate::env::{
    Attributes, ConfigValue, Driver, DriverCommon, DriverError, DriverSettings, StartContext,
    default_definition,
};

/// How long a server's `send`/`receive` wait for a first session to log on, and how long a
/// logon may take, unless set.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The heartbeat interval unless set (FIX's customary 30 s).
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);
/// A receive holds its session's lock for at most this long at a time, so a send from another
/// thread, or a stop, never waits for a long receive to time out.
const RECEIVE_SLICE: Duration = Duration::from_millis(50);
/// The least a logout at stop waits for the peer's Logout, even when the stop timeout is spent.
const MIN_LOGOUT_WAIT: Duration = Duration::from_millis(20);
/// How long a server's send or receive on a session that has ended waits for the peer's newer
/// session to show up (see [`FixServer::newer_session`]).
const RELOGON_GRACE: Duration = Duration::from_millis(500);

/// How a server's connections become sessions: a plain logon, or a TLS handshake first
/// (feature `fix-tls`; the certificate is loaded once, at start).
#[derive(Clone, Default)]
struct ServerTransport {
    #[cfg(feature = "fix-tls")]
    tls: Option<TlsAcceptor>,
}

impl ServerTransport {
    fn accept(&self, stream: TcpStream, config: SessionConfig) -> Result<Session, FixError> {
        #[cfg(feature = "fix-tls")]
        if let Some(tls) = &self.tls {
            return Session::accept_tls(stream, config, tls);
        }
        Session::accept(stream, config)
    }
}

/// How a client's connection becomes a session: a plain logon, or a TLS handshake first
/// (feature `fix-tls`; the files are loaded once, at start).
#[derive(Clone, Default)]
struct ClientTransport {
    #[cfg(feature = "fix-tls")]
    tls: Option<TlsConnector>,
}

impl ClientTransport {
    fn initiate(&self, stream: TcpStream, config: SessionConfig) -> Result<Session, FixError> {
        #[cfg(feature = "fix-tls")]
        if let Some(tls) = &self.tls {
            return Session::initiate_tls(stream, config, tls);
        }
        Session::initiate(stream, config)
    }

    fn is_tls(&self) -> bool {
        #[cfg(feature = "fix-tls")]
        if self.tls.is_some() {
            return true;
        }
        false
    }
}

/// The settings of a [`FixClient`]'s TLS, resolved at start (feature `fix-tls`).
#[cfg(feature = "fix-tls")]
#[derive(Debug, Default)]
struct ClientTlsSettings {
    /// Set by any of the `tls_*` builders.
    enabled: bool,
    ca: Option<ConfigValue>,
    server_name: Option<ConfigValue>,
    client_cert: Option<(ConfigValue, ConfigValue)>,
    insecure: bool,
}

/// A TLS file that could not be used, as the error of the driver's start.
#[cfg(feature = "fix-tls")]
fn tls_setup_error(name: &str, error: FixError) -> DriverError {
    DriverError::new(format!("driver `{name}` cannot set up TLS: {error}")).with_source(error)
}

/// One logged-on session, shared by the driver and its testcases.
struct FixConnection {
    /// The peer's CompID (the initiator's SenderCompID on a server, the target on a client).
    peer: String,
    /// Numbered from 0 in logon order (names the log file).
    index: usize,
    session: Mutex<Session>,
    /// A handle to the session's log that stays valid however the session ends.
    log: MessageLog,
}

impl FixConnection {
    fn new(session: Session, index: usize) -> FixConnection {
        FixConnection {
            peer: session.config().target_comp_id.clone(),
            index,
            log: session.log().clone(),
            session: Mutex::new(session),
        }
    }

    fn send(&self, message: Message) -> Result<u64, FixError> {
        lock(&self.session).send(message)
    }

    /// The next application message, waiting up to `timeout` in short slices (see
    /// [`RECEIVE_SLICE`]).
    fn receive(&self, timeout: Duration) -> Result<Message, FixError> {
        let deadline = crate::deadline::deadline_after(timeout);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lock(&self.session).receive(left.min(RECEIVE_SLICE)) {
                Err(FixError::Timeout { .. }) if left > RECEIVE_SLICE => {}
                Err(FixError::Timeout { .. }) => {
                    return Err(FixError::Timeout {
                        waiting_for: "an application message".into(),
                        after: timeout,
                    });
                }
                other => return other,
            }
        }
    }

    fn is_active(&self) -> bool {
        lock(&self.session).is_active()
    }

    /// Logs out (if still logged on), waiting for the peer's Logout until `deadline`, then
    /// drops the connection and ends the session's thread.
    fn close(&self, deadline: Instant) -> Result<(), FixError> {
        let mut session = lock(&self.session);
        let result = if session.is_active() {
            let left = deadline.saturating_duration_since(Instant::now());
            session.logout(None, left.max(MIN_LOGOUT_WAIT))
        } else {
            Ok(())
        };
        session.disconnect();
        result
    }

    /// Appends the session's log to `path`.
    fn write_log(&self, path: &Path) -> io::Result<()> {
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        self.log.write_to(&mut file)?;
        file.flush()
    }
}

/// A CompID as part of a file name: anything but letters, digits, `-`, `_` and `.` becomes `_`.
fn file_safe(comp_id: &str) -> String {
    comp_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The MsgType of a message for error messages: `35=D`.
fn describe(message: &Message) -> String {
    match message.msg_type() {
        Some(kind) => format!("35={kind}"),
        None => "without MsgType(35)".to_string(),
    }
}

/// A failed receive as a driver error that says what to try.
fn receive_error(error: FixError, source: &str, ended_hint: &str) -> DriverError {
    let message = match &error {
        FixError::Timeout { after, .. } => format!(
            "timed out after {after:?} waiting for a fix message from {source}; is the peer sending? a longer wait is a larger `timeout` argument"
        ),
        ended => format!(
            "the fix session with {source} has ended ({ended}) and no message is left to receive; {ended_hint}"
        ),
    };
    DriverError::new(message).with_source(error)
}

/// A failed send as a driver error.
fn send_error(error: FixError, message: &Message, source: &str, ended_hint: &str) -> DriverError {
    DriverError::new(format!(
        "failed to send a fix message ({}) to {source}: {error}; {ended_hint}",
        describe(message)
    ))
    .with_source(error)
}

/// Waits for threads to end until `deadline`; those still running then are left to end on
/// their own (their sockets are shut down, so they end within a logon timeout at most).
fn join_until(threads: Vec<JoinHandle<()>>, deadline: Instant) -> bool {
    let mut panicked = false;
    for thread in threads {
        while !thread.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        if thread.is_finished() {
            panicked |= thread.join().is_err();
        }
    }
    panicked
}

/// What the accept loop, the logon threads and the testcases share.
#[derive(Default)]
struct ServerShared {
    state: Mutex<ServerState>,
    /// Signalled whenever a session logs on or the server stops.
    changed: Condvar,
}

#[derive(Default)]
struct ServerState {
    host: String,
    /// `None` when not started (or stopped): waiters give up, late logons are dropped.
    address: Option<SocketAddr>,
    /// The certificate presented, when the server speaks TLS.
    tls_cert: Option<String>,
    runpath: PathBuf,
    sessions: Vec<Arc<FixConnection>>,
    /// Sessions already returned by `accept_session`.
    handed_out: usize,
    /// Connections still in their Logon exchange: a clone of each socket, shut down by a
    /// stop so the logon ends at once instead of at its timeout.
    logging_on: Vec<(usize, TcpStream)>,
    logon_threads: Vec<JoinHandle<()>>,
    next_connection: usize,
    /// Why the most recent failed logon failed, for the error of a receive that found no
    /// session.
    last_refusal: Option<String>,
}

/// A FIX acceptor (Testplan's `FixServer`): listens on 127.0.0.1 and an ephemeral port
/// (published as the `host` and `port` attributes), logs on every initiator that connects, in
/// the background, and talks to them on demand.
///
/// With `tls(cert, key)` (feature `fix-tls`) every connection starts with a TLS
/// handshake; plain connections are refused. The `tls` attribute says which, and `tls_cert`
/// names the certificate presented.
///
/// With no [`target`](FixServer::target) it accepts any initiator CompID, so several clients
/// can log on at once; [`send`](FixServer::send) and [`receive`](FixServer::receive) then need
/// the peer named ([`send_to`](FixServer::send_to), [`receive_from`](FixServer::receive_from)).
/// Each session's message log is written to `session-<n>-<CompID>.log` in the runpath (the
/// `log_dir` attribute) when the server stops.
///
/// ```no_run
/// use std::time::Duration;
/// use testrig::drivers::FixServer;
/// use testrig::drivers::fix_protocol::{FixVersion, Message, Tag, msg_type};
/// let server = FixServer::new("server").sender("EXCHANGE").version(FixVersion::Fix42);
/// // In a testcase:
/// // let order = env.driver::<FixServer>("server").receive(Duration::from_secs(5))?;
/// // server.send(Message::new(msg_type::EXECUTION_REPORT).with(Tag::CL_ORD_ID, "1"))?;
/// ```
pub struct FixServer {
    common: DriverCommon,
    host: ConfigValue,
    port: ConfigValue,
    version: FixVersion,
    sender: String,
    target: String,
    heartbeat: Duration,
    timeout: Duration,
    /// The certificate and key presented over TLS.
    #[cfg(feature = "fix-tls")]
    tls: Option<(ConfigValue, ConfigValue)>,
    /// The CA clients' certificates must be signed by (TLS only).
    #[cfg(feature = "fix-tls")]
    client_ca: Option<ConfigValue>,
    shared: Arc<ServerShared>,
    accept_thread: Mutex<Option<AcceptLoop>>,
}

impl FixServer {
    /// A FIX 4.4 acceptor on 127.0.0.1 and an ephemeral port, with CompID `SERVER`, accepting
    /// any initiator CompID, a 30 s heartbeat and a 10 s logon timeout.
    pub fn new(name: impl Into<String>) -> FixServer {
        FixServer {
            common: DriverCommon::new(name),
            host: ConfigValue::from("127.0.0.1"),
            port: ConfigValue::from(0u16),
            version: FixVersion::Fix44,
            sender: "SERVER".into(),
            target: String::new(),
            heartbeat: DEFAULT_HEARTBEAT,
            timeout: DEFAULT_TIMEOUT,
            #[cfg(feature = "fix-tls")]
            tls: None,
            #[cfg(feature = "fix-tls")]
            client_ca: None,
            shared: Arc::default(),
            accept_thread: Mutex::new(None),
        }
    }

    /// The address to bind (default `127.0.0.1`; `0.0.0.0` for every interface).
    pub fn host(mut self, host: impl Into<ConfigValue>) -> FixServer {
        self.host = host.into();
        self
    }

    /// The port to bind (default 0: the system picks a free one, published as `port`).
    pub fn port(mut self, port: impl Into<ConfigValue>) -> FixServer {
        self.port = port.into();
        self
    }

    /// The FIX version (BeginString) of every session (default FIX.4.4).
    pub fn version(mut self, version: FixVersion) -> FixServer {
        self.version = version;
        self
    }

    /// The server's CompID: SenderCompID of what it sends, the TargetCompID initiators must
    /// log on to (default `SERVER`).
    pub fn sender(mut self, comp_id: impl Into<String>) -> FixServer {
        self.sender = comp_id.into();
        self
    }

    /// The only initiator CompID to accept; a logon from any other is refused with a
    /// Logout. Default: any CompID.
    pub fn target(mut self, comp_id: impl Into<String>) -> FixServer {
        self.target = comp_id.into();
        self
    }

    /// The heartbeat interval (default 30 s); the server adopts an initiator's HeartBtInt
    /// when it differs, as FIX acceptors do.
    pub fn heartbeat_interval(mut self, interval: Duration) -> FixServer {
        self.heartbeat = interval;
        self
    }

    /// How long a logon may take, and how long [`send`](FixServer::send) waits for a first
    /// session to log on (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> FixServer {
        self.timeout = timeout;
        self
    }

    /// Speaks TLS (feature `fix-tls`), presenting the certificate `cert` (PEM, optionally
    /// followed by its chain) with its unencrypted PEM private key `key`. Both are loaded at
    /// start, so a missing or mismatched file fails the start; a TLS handshake and the Logon
    /// share the [`timeout`](FixServer::timeout).
    #[cfg(feature = "fix-tls")]
    pub fn tls(mut self, cert: impl Into<ConfigValue>, key: impl Into<ConfigValue>) -> FixServer {
        self.tls = Some((cert.into(), key.into()));
        self
    }

    /// Requires every client to present a certificate signed by a CA in the PEM file `ca`
    /// (with [`tls`](FixServer::tls); feature `fix-tls`).
    #[cfg(feature = "fix-tls")]
    pub fn client_ca(mut self, ca: impl Into<ConfigValue>) -> FixServer {
        self.client_ca = Some(ca.into());
        self
    }

    /// The bound port, once started.
    pub fn bound_port(&self) -> Option<u16> {
        lock(&self.shared.state)
            .address
            .map(|address| address.port())
    }

    fn config(&self) -> SessionConfig {
        SessionConfig::new(self.version, self.sender.clone(), self.target.clone())
            .with_heartbeat_interval(self.heartbeat)
            .with_logon_timeout(self.timeout)
    }

    /// Loads the TLS settings, if any, and returns them with the certificate's path.
    #[cfg_attr(not(feature = "fix-tls"), allow(unused_variables))]
    fn transport(
        &self,
        context: &StartContext,
    ) -> Result<(ServerTransport, Option<String>), DriverError> {
        #[cfg(feature = "fix-tls")]
        {
            let name = &self.common.name;
            match (&self.tls, &self.client_ca) {
                (None, None) => {}
                (None, Some(_)) => {
                    return Err(DriverError::new(format!(
                        "driver `{name}` has a client CA but no certificate of its own; call `.tls(cert, key)` too, or drop `.client_ca(…)`"
                    )));
                }
                (Some((cert, key)), client_ca) => {
                    let cert = context.resolve(cert)?;
                    let mut config = TlsServerConfig::new(&cert, context.resolve(key)?);
                    if let Some(ca) = client_ca {
                        config = config.with_client_ca_file(context.resolve(ca)?);
                    }
                    let tls = config
                        .acceptor()
                        .map_err(|error| tls_setup_error(name, error))?;
                    return Ok((ServerTransport { tls: Some(tls) }, Some(cert)));
                }
            }
        }
        Ok((ServerTransport::default(), None))
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
        fs::create_dir_all(&context.runpath).map_err(|error| {
            DriverError::new(format!(
                "failed to create the runpath `{}` of driver `{name}`: {}",
                context.runpath.display(),
                io_reason(&error)
            ))
        })?;
        let (transport, tls_cert) = self.transport(context)?;
        let (listener, address) = bind_listener(&host, port, name)?;
        *lock(&self.shared.state) = ServerState {
            host,
            address: Some(address),
            tls_cert,
            runpath: context.runpath.clone(),
            ..ServerState::default()
        };
        let shared = Arc::clone(&self.shared);
        let config = self.config();
        let thread_name = format!("fix-logon-{name}");
        let serving = AcceptLoop::start(
            listener,
            format!("fix-server-{name}"),
            name,
            move |stream| log_on(&shared, stream, &config, &transport, &thread_name),
        )?;
        *lock(&self.accept_thread) = Some(serving);
        Ok(())
    }

    /// Waits up to `timeout` for a session not yet returned by this method and returns the
    /// peer's CompID (sessions are taken in logon order).
    pub fn accept_session(&self, timeout: Duration) -> Result<String, DriverError> {
        let deadline = crate::deadline::deadline_after(timeout);
        let mut state = lock(&self.shared.state);
        loop {
            if state.sessions.len() > state.handed_out {
                state.handed_out += 1;
                return Ok(state.sessions[state.handed_out - 1].peer.clone());
            }
            let now = Instant::now();
            if now >= deadline || state.address.is_none() {
                return Err(self.no_session(&state, None, timeout));
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The CompIDs of the peers logged on now, in logon order.
    pub fn active_connections(&self) -> Vec<String> {
        let sessions = lock(&self.shared.state).sessions.clone();
        let mut peers: Vec<String> = Vec::new();
        for connection in sessions.iter().filter(|c| c.is_active()) {
            if !peers.contains(&connection.peer) {
                peers.push(connection.peer.clone());
            }
        }
        peers
    }

    /// Sends an application message to the only peer, waiting up to the server's timeout for
    /// one to log on; returns its MsgSeqNum. The header (8, 9, 34, 49, 52, 56) and CheckSum
    /// are filled in. With several peers, name one with [`send_to`](FixServer::send_to).
    pub fn send(&self, message: Message) -> Result<u64, DriverError> {
        self.send_via(None, message)
    }

    /// Sends an application message to the peer whose CompID is `peer` (its latest session).
    pub fn send_to(&self, peer: &str, message: Message) -> Result<u64, DriverError> {
        self.send_via(Some(peer), message)
    }

    /// The next application message (or session-level Reject) from the only peer, waiting up
    /// to `timeout`, for the peer's logon too. With several peers, name one with
    /// [`receive_from`](FixServer::receive_from).
    pub fn receive(&self, timeout: Duration) -> Result<Message, DriverError> {
        self.receive_via(None, timeout)
    }

    /// The next application message from the peer whose CompID is `peer`, waiting up to
    /// `timeout` (for its logon too).
    pub fn receive_from(&self, peer: &str, timeout: Duration) -> Result<Message, DriverError> {
        self.receive_via(Some(peer), timeout)
    }

    /// The message log of the latest session with `peer` (everything sent and received, as
    /// it happens), if it logged on.
    pub fn log(&self, peer: &str) -> Option<MessageLog> {
        lock(&self.shared.state)
            .sessions
            .iter()
            .rev()
            .find(|connection| connection.peer == peer)
            .map(|connection| connection.log.clone())
    }

    fn source(&self, peer: &str) -> String {
        format!("peer `{peer}` of driver `{}`", self.common.name)
    }

    fn send_via(&self, peer: Option<&str>, message: Message) -> Result<u64, DriverError> {
        let deadline = crate::deadline::deadline_after(self.timeout);
        let mut connection = self.session(peer, None, deadline, self.timeout)?;
        if !connection.is_active()
            && let Some(newer) = self.newer_session(&connection, deadline)
        {
            connection = newer;
        }
        connection.send(message.clone()).map_err(|error| {
            send_error(
                error,
                &message,
                &self.source(&connection.peer),
                "the peer has to log on again",
            )
        })
    }

    fn receive_via(&self, peer: Option<&str>, timeout: Duration) -> Result<Message, DriverError> {
        let deadline = crate::deadline::deadline_after(timeout);
        let mut connection = self.session(peer, None, deadline, timeout)?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let error = match connection.receive(left) {
                Ok(message) => return Ok(message),
                Err(FixError::Timeout { waiting_for, .. }) => FixError::Timeout {
                    waiting_for,
                    after: timeout,
                },
                Err(ended) => match self.newer_session(&connection, deadline) {
                    Some(newer) => {
                        connection = newer;
                        continue;
                    }
                    None => ended,
                },
            };
            return Err(receive_error(
                error,
                &self.source(&connection.peer),
                "the peer has to log on again",
            ));
        }
    }

    /// A session of the same peer newer than `ended`, waiting a moment for it: a peer that
    /// logged on again may have had its Logon answered before its session joined the list.
    fn newer_session(
        &self,
        ended: &FixConnection,
        deadline: Instant,
    ) -> Option<Arc<FixConnection>> {
        let grace = deadline.min(Instant::now() + RELOGON_GRACE);
        self.session(Some(&ended.peer), Some(ended.index), grace, Duration::ZERO)
            .ok()
    }

    /// The session to talk to: the latest one of `peer` (newer than session `newer_than`, if
    /// given), or of the only peer; waits until `deadline` for it to log on.
    fn session(
        &self,
        peer: Option<&str>,
        newer_than: Option<usize>,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Arc<FixConnection>, DriverError> {
        let mut state = lock(&self.shared.state);
        loop {
            if state.address.is_some() {
                match peer {
                    Some(peer) => {
                        let found = state.sessions.iter().rev().find(|c| {
                            c.peer == peer && newer_than.is_none_or(|index| c.index > index)
                        });
                        if let Some(connection) = found {
                            return Ok(Arc::clone(connection));
                        }
                    }
                    None => {
                        let mut peers: Vec<&str> = Vec::new();
                        for connection in &state.sessions {
                            if !peers.contains(&connection.peer.as_str()) {
                                peers.push(&connection.peer);
                            }
                        }
                        if peers.len() > 1 {
                            return Err(DriverError::new(format!(
                                "driver `{}` has sessions with {} peers ({}); name the peer: `send_to(peer, …)` or `receive_from(peer, …)`",
                                self.common.name,
                                peers.len(),
                                peers.join(", ")
                            )));
                        }
                        if let Some(connection) = state.sessions.last() {
                            return Ok(Arc::clone(connection));
                        }
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline || state.address.is_none() {
                return Err(self.no_session(&state, peer, timeout));
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn no_session(
        &self,
        state: &ServerState,
        peer: Option<&str>,
        timeout: Duration,
    ) -> DriverError {
        let name = &self.common.name;
        let Some(address) = state.address else {
            return DriverError::new(format!(
                "driver `{name}` is not started; start it (as part of the environment) before using its sessions"
            ));
        };
        let who = match peer {
            Some(peer) => format!("no fix session with `{peer}`"),
            None => "no fix session".to_string(),
        };
        let refusal = match &state.last_refusal {
            Some(reason) => format!("; the last logon failed: {reason}"),
            None => String::new(),
        };
        DriverError::new(format!(
            "{who} logged on to driver `{name}` on {address} within {timeout:?} ({} logged on so far){refusal}; is the client pointed at this port, with TargetCompID `{}`?",
            state.sessions.len(),
            self.sender
        ))
    }
}

/// Runs one connection's Logon exchange (after its TLS handshake, with TLS) on a thread of its
/// own, so a slow or silent initiator never holds up the accept loop; a logged-on session joins
/// the server's list.
fn log_on(
    shared: &Arc<ServerShared>,
    stream: TcpStream,
    config: &SessionConfig,
    transport: &ServerTransport,
    name: &str,
) {
    let peer = stream.peer_addr().ok();
    let id = {
        let mut state = lock(&shared.state);
        if state.address.is_none() {
            return;
        }
        let id = state.next_connection;
        state.next_connection += 1;
        if let Ok(clone) = stream.try_clone() {
            state.logging_on.push((id, clone));
        }
        // Finished logon threads need no join; dropping their handles detaches nothing live.
        state.logon_threads.retain(|thread| !thread.is_finished());
        id
    };
    let thread_shared = Arc::clone(shared);
    let config = config.clone();
    let transport = transport.clone();
    let spawned = thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let outcome = transport.accept(stream, config);
            let mut state = lock(&thread_shared.state);
            state.logging_on.retain(|(other, _)| *other != id);
            match outcome {
                Ok(session) => {
                    let index = state.sessions.len();
                    state
                        .sessions
                        .push(Arc::new(FixConnection::new(session, index)));
                }
                Err(error) => {
                    let from = peer.map_or_else(|| "a client".to_string(), |p| p.to_string());
                    state.last_refusal = Some(format!("logon from {from}: {error}"));
                }
            }
            drop(state);
            thread_shared.changed.notify_all();
        });
    let mut state = lock(&shared.state);
    match spawned {
        Ok(thread) => state.logon_threads.push(thread),
        Err(error) => {
            state.logging_on.retain(|(other, _)| *other != id);
            state.last_refusal = Some(format!(
                "failed to start a logon thread: {}",
                io_reason(&error)
            ));
        }
    }
}

impl DriverSettings for FixServer {
    fn common_mut(&mut self) -> &mut DriverCommon {
        &mut self.common
    }
}

impl Driver for FixServer {
    fn common(&self) -> &DriverCommon {
        &self.common
    }

    fn kind(&self) -> &'static str {
        "FixServer"
    }

    fn context_values(&self) -> Vec<&ConfigValue> {
        #[cfg_attr(not(feature = "fix-tls"), allow(unused_mut))]
        let mut values = vec![&self.host, &self.port];
        #[cfg(feature = "fix-tls")]
        {
            if let Some((cert, key)) = &self.tls {
                values.extend([cert, key]);
            }
            values.extend(&self.client_ca);
        }
        values
    }

    fn start(&self, context: &StartContext) -> Result<(), DriverError> {
        self.start_on(context, None)
    }

    fn definition(&self) -> String {
        #[cfg_attr(not(feature = "fix-tls"), allow(unused_mut))]
        let mut definition = format!(
            "{} version={} sender={:?} target={:?} heartbeat={:?} timeout={:?}",
            server_definition(self, &self.host, &self.port),
            self.version,
            self.sender,
            self.target,
            self.heartbeat,
            self.timeout
        );
        // Only TLS servers say so, so plain servers keep the definition they had.
        #[cfg(feature = "fix-tls")]
        if let Some((cert, key)) = &self.tls {
            definition += &format!(
                " tls_cert={cert:?} tls_key={key:?} client_ca={:?}",
                self.client_ca
            );
        }
        definition
    }

    fn handoff_state(&self) -> Option<serde_json::Value> {
        self.bound_port().map(|port| json!({ "port": port }))
    }

    /// Its socket closed with the previous image: listen again on the same port, so clients
    /// started again log on with unchanged settings.
    fn adopt(&self, state: &serde_json::Value, context: &StartContext) -> Result<(), DriverError> {
        let port = handed_off_port(state, &self.common.name)?;
        self.start_on(context, Some(port))
    }

    /// Stops accepting, ends pending logons, logs every session out (waiting at most the stop
    /// timeout, all sessions at once) and writes the session logs into the runpath.
    fn stop(&self) -> Result<(), DriverError> {
        let name = &self.common.name;
        let deadline = crate::deadline::deadline_after(self.common.stop_timeout);
        let panicked = lock(&self.accept_thread)
            .take()
            .is_some_and(AcceptLoop::stop);
        let (threads, runpath) = {
            let mut state = lock(&self.shared.state);
            state.address = None;
            for (_, stream) in state.logging_on.drain(..) {
                // Ends a logon waiting for a silent initiator now rather than at its timeout.
                let _ = stream.shutdown(Shutdown::Both);
            }
            (
                std::mem::take(&mut state.logon_threads),
                state.runpath.clone(),
            )
        };
        // Waiters see `address == None` and give up instead of waiting out their timeout.
        self.shared.changed.notify_all();
        let logon_panicked = join_until(threads, deadline);
        let sessions = std::mem::take(&mut lock(&self.shared.state).sessions);
        thread::scope(|scope| {
            for connection in &sessions {
                scope.spawn(move || connection.close(deadline));
            }
        });
        let mut problems = Vec::new();
        for connection in &sessions {
            let file = runpath.join(format!(
                "session-{}-{}.log",
                connection.index,
                file_safe(&connection.peer)
            ));
            if let Err(error) = connection.write_log(&file) {
                problems.push(format!(
                    "failed to write the message log `{}`: {}",
                    file.display(),
                    io_reason(&error)
                ));
            }
        }
        if panicked || logon_panicked {
            problems.push("a thread of the server panicked".to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(DriverError::new(format!(
                "driver `{name}` stopped, but {}",
                problems.join("; ")
            )))
        }
    }

    fn attributes(&self) -> Attributes {
        let state = lock(&self.shared.state);
        let mut attributes = Attributes::new();
        if let Some(address) = state.address {
            attributes.insert("host".into(), json!(state.host));
            attributes.insert("port".into(), json!(address.port()));
            attributes.insert("sender".into(), json!(self.sender));
            attributes.insert("version".into(), json!(self.version.begin_string()));
            attributes.insert("log_dir".into(), json!(state.runpath.display().to_string()));
            attributes.insert("tls".into(), json!(state.tls_cert.is_some()));
            if let Some(cert) = &state.tls_cert {
                attributes.insert("tls_cert".into(), json!(cert));
            }
        }
        attributes
    }
}

impl Drop for FixServer {
    /// A server dropped without a stop (a unit test that panicked) still ends its accept
    /// thread; its sessions end with their last handles.
    fn drop(&mut self) {
        if let Some(serving) = lock(&self.accept_thread).take() {
            serving.stop();
        }
    }
}

#[derive(Default)]
struct ClientState {
    /// The resolved host and port, kept for `logon` and `reconnect` after start.
    target: Option<(String, u16)>,
    /// Plain, or TLS with the files loaded at start.
    transport: ClientTransport,
    /// Where session logs are appended.
    log_path: Option<PathBuf>,
    connection: Option<Arc<FixConnection>>,
    /// The log of the last session, kept after a logout for `log()`.
    last_log: Option<MessageLog>,
    sessions: usize,
}

/// A FIX initiator (Testplan's `FixClient`): connects to a server and logs on while it starts
/// (it is ready once the peer's Logon answered ours, within the start timeout), and logs out
/// when it stops.
///
/// Each start logs on with ResetSeqNumFlag (141=Y), both sequence numbers at 1, unless
/// [`reset_on_logon(false)`](FixClient::reset_on_logon). Every session's message log is
/// appended to `fix-session.log` in the runpath (the `log_path` attribute) when it ends.
///
/// Any of the `tls_*` settings (feature `fix-tls`) makes it connect with TLS, checking the
/// server's certificate against `tls_ca` (or the system's CAs) and `tls_server_name` (or the
/// host); the `tls` attribute says
/// which.
///
/// ```no_run
/// use std::time::Duration;
/// use testrig::drivers::FixClient;
/// use testrig::drivers::fix_protocol::{Message, Tag, msg_type};
/// use testrig::env::context;
/// let client = FixClient::new("client")
///     .host(context("server", "{{host}}"))
///     .port(context("server", "{{port}}"))
///     .sender("TRADER")
///     .target("SERVER");
/// // In a testcase:
/// // client.send(Message::new(msg_type::NEW_ORDER_SINGLE).with(Tag::CL_ORD_ID, "1"))?;
/// // let report = client.receive(Duration::from_secs(5))?;
/// ```
pub struct FixClient {
    common: DriverCommon,
    host: ConfigValue,
    port: ConfigValue,
    version: FixVersion,
    sender: String,
    target: String,
    heartbeat: Duration,
    reset_on_logon: bool,
    logon_at_start: bool,
    timeout: Duration,
    #[cfg(feature = "fix-tls")]
    tls: ClientTlsSettings,
    state: Mutex<ClientState>,
}

impl FixClient {
    /// A FIX 4.4 initiator for 127.0.0.1 with CompID `CLIENT`, logging on to `SERVER` when it
    /// starts, with a 30 s heartbeat; set the port.
    pub fn new(name: impl Into<String>) -> FixClient {
        FixClient {
            common: DriverCommon::new(name),
            host: ConfigValue::from("127.0.0.1"),
            port: ConfigValue::from(0u16),
            version: FixVersion::Fix44,
            sender: "CLIENT".into(),
            target: "SERVER".into(),
            heartbeat: DEFAULT_HEARTBEAT,
            reset_on_logon: true,
            logon_at_start: true,
            timeout: DEFAULT_TIMEOUT,
            #[cfg(feature = "fix-tls")]
            tls: ClientTlsSettings::default(),
            state: Mutex::default(),
        }
    }

    /// The server's host (default `127.0.0.1`), often `context("server", "{{host}}")`.
    pub fn host(mut self, host: impl Into<ConfigValue>) -> FixClient {
        self.host = host.into();
        self
    }

    /// The server's port, usually `context("server", "{{port}}")`.
    pub fn port(mut self, port: impl Into<ConfigValue>) -> FixClient {
        self.port = port.into();
        self
    }

    /// The FIX version (BeginString) of the session (default FIX.4.4).
    pub fn version(mut self, version: FixVersion) -> FixClient {
        self.version = version;
        self
    }

    /// The client's CompID, SenderCompID of what it sends (default `CLIENT`).
    pub fn sender(mut self, comp_id: impl Into<String>) -> FixClient {
        self.sender = comp_id.into();
        self
    }

    /// The server's CompID, TargetCompID of what it sends (default `SERVER`).
    pub fn target(mut self, comp_id: impl Into<String>) -> FixClient {
        self.target = comp_id.into();
        self
    }

    /// The heartbeat interval, sent as HeartBtInt (108) in whole seconds (default 30 s).
    pub fn heartbeat_interval(mut self, interval: Duration) -> FixClient {
        self.heartbeat = interval;
        self
    }

    /// Whether each logon asks the server to reset sequence numbers (141=Y, the default).
    /// Without it the numbers still start at 1 (they are not persisted), which a server that
    /// remembers the previous session's numbers may refuse.
    pub fn reset_on_logon(mut self, reset: bool) -> FixClient {
        self.reset_on_logon = reset;
        self
    }

    /// Log on while starting (default); otherwise call [`logon`](FixClient::logon).
    pub fn logon_at_start(mut self, logon: bool) -> FixClient {
        self.logon_at_start = logon;
        self
    }

    /// How long [`logon`](FixClient::logon) and [`reconnect`](FixClient::reconnect) may take
    /// (default 10 s; a logon while starting has the start timeout). A TLS handshake shares it
    /// with the Logon.
    pub fn timeout(mut self, timeout: Duration) -> FixClient {
        self.timeout = timeout;
        self
    }

    /// Connects with TLS (feature `fix-tls`), trusting the CA certificate(s) in the PEM file
    /// `ca` to have signed the server's certificate; for a self-signed server certificate, that
    /// certificate (a [`FixServer`]'s is its `tls_cert` attribute:
    /// `context("server", "{{tls_cert}}")`). Without it a TLS client trusts the system's CAs.
    #[cfg(feature = "fix-tls")]
    pub fn tls_ca(mut self, ca: impl Into<ConfigValue>) -> FixClient {
        self.tls.enabled = true;
        self.tls.ca = Some(ca.into());
        self
    }

    /// Connects with TLS (feature `fix-tls`) and requires the server's certificate to carry
    /// `name` (a DNS name, also sent as SNI, or an IP address). Default: the host.
    #[cfg(feature = "fix-tls")]
    pub fn tls_server_name(mut self, name: impl Into<ConfigValue>) -> FixClient {
        self.tls.enabled = true;
        self.tls.server_name = Some(name.into());
        self
    }

    /// Connects with TLS (feature `fix-tls`), presenting the client certificate `cert` (PEM,
    /// optionally followed by its chain) with its unencrypted PEM private key `key`, for
    /// servers that require one.
    #[cfg(feature = "fix-tls")]
    pub fn tls_client_cert(
        mut self,
        cert: impl Into<ConfigValue>,
        key: impl Into<ConfigValue>,
    ) -> FixClient {
        self.tls.enabled = true;
        self.tls.client_cert = Some((cert.into(), key.into()));
        self
    }

    /// Connects with TLS (feature `fix-tls`) without checking the server's certificate or name:
    /// encrypted, but the server is not authenticated. For servers whose certificate nothing
    /// can check; prefer [`tls_ca`](FixClient::tls_ca).
    #[cfg(feature = "fix-tls")]
    pub fn tls_insecure(mut self) -> FixClient {
        self.tls.enabled = true;
        self.tls.insecure = true;
        self
    }

    /// Logs on unless already logged on.
    pub fn logon(&self) -> Result<(), DriverError> {
        if self.is_logged_on() {
            return Ok(());
        }
        self.open(crate::deadline::deadline_after(self.timeout))
    }

    /// Logs out (waiting up to the timeout for the server's Logout) and ends the session;
    /// sends and receives fail until the next logon. A server that does not answer is an
    /// error, but the session ends all the same.
    pub fn logout(&self) -> Result<(), DriverError> {
        self.end_session(crate::deadline::deadline_after(self.timeout), true)
    }

    /// Ends the session (logging out if it is still on) and logs on again, as a new session.
    pub fn reconnect(&self) -> Result<(), DriverError> {
        self.end_session(crate::deadline::deadline_after(self.timeout), false)?;
        self.open(crate::deadline::deadline_after(self.timeout))
    }

    /// Whether the client has a session and it is still logged on.
    pub fn is_logged_on(&self) -> bool {
        lock(&self.state)
            .connection
            .as_ref()
            .is_some_and(|connection| connection.is_active())
    }

    /// Sends an application message; returns its MsgSeqNum. The header (8, 9, 34, 49, 52,
    /// 56) and CheckSum are filled in; 34, 49, 52 and 56 set in `message` are kept, to test
    /// the server's validation.
    pub fn send(&self, message: Message) -> Result<u64, DriverError> {
        let connection = self.connected()?;
        connection.send(message.clone()).map_err(|error| {
            send_error(
                error,
                &message,
                &self.source(),
                "`reconnect()` logs on again",
            )
        })
    }

    /// The next application message (or session-level Reject) from the server, waiting up to
    /// `timeout`. Messages that arrived before the session ended can still be received.
    pub fn receive(&self, timeout: Duration) -> Result<Message, DriverError> {
        self.connected()?
            .receive(timeout)
            .map_err(|error| receive_error(error, &self.source(), "`reconnect()` logs on again"))
    }

    /// The message log of the current (or last) session: everything sent and received.
    pub fn log(&self) -> Option<MessageLog> {
        let state = lock(&self.state);
        match &state.connection {
            Some(connection) => Some(connection.log.clone()),
            None => state.last_log.clone(),
        }
    }

    fn source(&self) -> String {
        format!("the server of driver `{}`", self.common.name)
    }

    fn connected(&self) -> Result<Arc<FixConnection>, DriverError> {
        let state = lock(&self.state);
        state.connection.clone().ok_or_else(|| {
            DriverError::new(match state.target {
                None => format!(
                    "driver `{}` is not started; start it (as part of the environment) before using it",
                    self.common.name
                ),
                Some(_) => format!(
                    "driver `{}` is not logged on; call `logon()` or `reconnect()` first",
                    self.common.name
                ),
            })
        })
    }

    /// Loads the TLS settings, if any, for a server on `host`.
    #[cfg_attr(not(feature = "fix-tls"), allow(unused_variables))]
    fn transport(
        &self,
        context: &StartContext,
        host: &str,
    ) -> Result<ClientTransport, DriverError> {
        #[cfg(feature = "fix-tls")]
        if self.tls.enabled {
            let settings = &self.tls;
            let server_name = match &settings.server_name {
                Some(name) => context.resolve(name)?,
                None => host.to_string(),
            };
            let mut config = TlsClientConfig::new().with_server_name(server_name);
            if let Some(ca) = &settings.ca {
                config = config.with_ca_file(context.resolve(ca)?);
            }
            if let Some((cert, key)) = &settings.client_cert {
                config = config.with_client_cert(context.resolve(cert)?, context.resolve(key)?);
            }
            if settings.insecure {
                config = config.insecure();
            }
            let tls = config
                .connector()
                .map_err(|error| tls_setup_error(&self.common.name, error))?;
            return Ok(ClientTransport { tls: Some(tls) });
        }
        Ok(ClientTransport::default())
    }

    /// Connects and logs on, giving up at `deadline`.
    fn open(&self, deadline: Instant) -> Result<(), DriverError> {
        let name = &self.common.name;
        let (target, transport) = {
            let state = lock(&self.state);
            (state.target.clone(), state.transport.clone())
        };
        let Some((host, port)) = target else {
            return Err(DriverError::new(format!(
                "driver `{name}` is not started; start it (as part of the environment) before logging on"
            )));
        };
        let target = host_port(&host, port);
        let failure = |reason: String| {
            DriverError::new(format!(
                "failed to connect to {target} for driver `{name}`: {reason}; is the fix server started and the port right?"
            ))
        };
        let addresses: Vec<SocketAddr> = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|error| failure(io_reason(&error)))?
            .collect();
        let mut last_error = String::from("the host resolves to no address");
        let mut stream = None;
        for address in addresses {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                last_error = "timed out".into();
                break;
            }
            match TcpStream::connect_timeout(&address, remaining) {
                Ok(connected) => {
                    stream = Some(connected);
                    break;
                }
                Err(error) => last_error = io_reason(&error),
            }
        }
        let Some(stream) = stream else {
            return Err(failure(last_error));
        };
        let logon_timeout = deadline
            .saturating_duration_since(Instant::now())
            .max(MIN_LOGOUT_WAIT);
        let config = SessionConfig::new(self.version, self.sender.clone(), self.target.clone())
            .with_heartbeat_interval(self.heartbeat)
            .with_reset_on_logon(self.reset_on_logon)
            .with_logon_timeout(logon_timeout);
        let session = transport.initiate(stream, config).map_err(|error| {
            let message = match &error {
                FixError::TlsHandshake { .. } | FixError::TlsSetup { .. } => format!(
                    "driver `{name}` failed to set up TLS with {target}: {error}; the driver's TLS settings are `tls_ca`, `tls_server_name`, `tls_client_cert` and `tls_insecure()`"
                ),
                FixError::Timeout { waiting_for, .. } if waiting_for.starts_with("the TLS") => {
                    format!(
                        "driver `{name}` failed to set up TLS with {target}: {error}; is the server speaking TLS on this port?"
                    )
                }
                _ => {
                    // A TLS server closes a plain connection as soon as it reads the Logon.
                    let dropped = matches!(error, FixError::Disconnected { .. } | FixError::Io(_));
                    let plain = if dropped && !transport.is_tls() {
                        "; a server that expects TLS drops plain connections like this: then the client needs `tls_ca(…)` (feature `fix-tls`)"
                    } else {
                        ""
                    };
                    format!(
                        "logon of driver `{name}` to {target} failed: {error}; does the server expect SenderCompID `{}`, TargetCompID `{}` and {}?{plain}",
                        self.sender, self.target, self.version
                    )
                }
            };
            DriverError::new(message).with_source(error)
        })?;
        let mut state = lock(&self.state);
        let index = state.sessions;
        state.sessions += 1;
        state.connection = Some(Arc::new(FixConnection::new(session, index)));
        Ok(())
    }

    /// Logs the current session out (until `deadline`), ends it and appends its log to the
    /// log file. An unconfirmed logout is an error only when `confirmed` is asked for.
    fn end_session(&self, deadline: Instant, confirmed: bool) -> Result<(), DriverError> {
        let (connection, log_path) = {
            let mut state = lock(&self.state);
            let Some(connection) = state.connection.take() else {
                return Ok(());
            };
            state.last_log = Some(connection.log.clone());
            (connection, state.log_path.clone())
        };
        let logged_out = connection.close(deadline);
        let written = match log_path {
            Some(path) => connection.write_log(&path).map_err(|error| {
                DriverError::new(format!(
                    "failed to write the message log `{}` of driver `{}`: {}",
                    path.display(),
                    self.common.name,
                    io_reason(&error)
                ))
            }),
            None => Ok(()),
        };
        if let Err(error) = logged_out
            && confirmed
        {
            return Err(DriverError::new(format!(
                "the logout of driver `{}` was not confirmed: {error}; the session was disconnected all the same",
                self.common.name
            ))
            .with_source(error));
        }
        written
    }
}

impl DriverSettings for FixClient {
    fn common_mut(&mut self) -> &mut DriverCommon {
        &mut self.common
    }
}

impl Driver for FixClient {
    fn common(&self) -> &DriverCommon {
        &self.common
    }

    fn kind(&self) -> &'static str {
        "FixClient"
    }

    fn context_values(&self) -> Vec<&ConfigValue> {
        #[cfg_attr(not(feature = "fix-tls"), allow(unused_mut))]
        let mut values = vec![&self.host, &self.port];
        #[cfg(feature = "fix-tls")]
        {
            let tls = &self.tls;
            values.extend(tls.ca.iter().chain(&tls.server_name));
            if let Some((cert, key)) = &tls.client_cert {
                values.extend([cert, key]);
            }
        }
        values
    }

    fn definition(&self) -> String {
        #[cfg_attr(not(feature = "fix-tls"), allow(unused_mut))]
        let mut definition = format!(
            "{} host={:?} port={:?} version={} sender={:?} target={:?} heartbeat={:?} reset={} logon_at_start={} timeout={:?}",
            default_definition(self),
            self.host,
            self.port,
            self.version,
            self.sender,
            self.target,
            self.heartbeat,
            self.reset_on_logon,
            self.logon_at_start,
            self.timeout
        );
        // Only TLS clients say so, so plain clients keep the definition they had.
        #[cfg(feature = "fix-tls")]
        if self.tls.enabled {
            definition += &format!(" tls={:?}", self.tls);
        }
        definition
    }

    fn start(&self, context: &StartContext) -> Result<(), DriverError> {
        let name = &self.common.name;
        let host = context.resolve(&self.host)?;
        let port = parse_port(&context.resolve(&self.port)?, name)?;
        let transport = self.transport(context, &host)?;
        fs::create_dir_all(&context.runpath).map_err(|error| {
            DriverError::new(format!(
                "failed to create the runpath `{}` of driver `{name}`: {}",
                context.runpath.display(),
                io_reason(&error)
            ))
        })?;
        {
            let mut state = lock(&self.state);
            if state.target.is_some() {
                return Err(DriverError::new(format!(
                    "driver `{name}` is already started"
                )));
            }
            *state = ClientState {
                target: Some((host, port)),
                transport,
                log_path: Some(context.runpath.join("fix-session.log")),
                ..ClientState::default()
            };
        }
        if self.logon_at_start
            && let Err(error) = self.open(context.deadline)
        {
            lock(&self.state).target = None;
            return Err(error);
        }
        Ok(())
    }

    /// Logs out, waiting at most the stop timeout for the server's Logout; a server that does
    /// not answer in time is disconnected without one (not an error: the session is over).
    fn stop(&self) -> Result<(), DriverError> {
        let deadline = crate::deadline::deadline_after(self.common.stop_timeout);
        let result = self.end_session(deadline, false);
        lock(&self.state).target = None;
        result
    }

    fn attributes(&self) -> Attributes {
        let state = lock(&self.state);
        let mut attributes = Attributes::new();
        if let Some((host, port)) = &state.target {
            attributes.insert("host".into(), json!(host));
            attributes.insert("port".into(), json!(port));
            attributes.insert("sender".into(), json!(self.sender));
            attributes.insert("target".into(), json!(self.target));
            attributes.insert("version".into(), json!(self.version.begin_string()));
            attributes.insert("tls".into(), json!(state.transport.is_tls()));
        }
        if let Some(path) = &state.log_path {
            attributes.insert("log_path".into(), json!(path.display().to_string()));
        }
        attributes
    }
}

impl std::fmt::Debug for FixServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixServer")
            .field("name", &self.common.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("version", &self.version)
            .field("sender", &self.sender)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for FixClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixClient")
            .field("name", &self.common.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("version", &self.version)
            .field("sender", &self.sender)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::SystemTime;

    use testrig_fix::{Tag, encode, msg_type, utc_timestamp};

    use super::super::tcp::test_support::start_context;
    use super::*;
    use crate::env::context;

    const WAIT: Duration = Duration::from_secs(5);

    fn started_server(server: FixServer) -> FixServer {
        server.start(&start_context("fix", &[])).unwrap();
        server
    }

    fn client_of(server: &FixServer, sender: &str) -> FixClient {
        let client = FixClient::new("client")
            .host(context("server", "{{host}}"))
            .port(context("server", "{{port}}"))
            .sender(sender);
        client.start(&start_context("fix", &[server])).unwrap();
        client
    }

    fn order(id: &str) -> Message {
        Message::new(msg_type::NEW_ORDER_SINGLE)
            .with(Tag::CL_ORD_ID, id)
            .with(Tag::SYMBOL, "ACME")
            .with(Tag::SIDE, "1")
    }

    /// A hand-made Logon, for peers that go silent right after it.
    fn logon(sender: &str, target: &str) -> Vec<u8> {
        let message = Message::new(msg_type::LOGON)
            .with(Tag::SENDER_COMP_ID, sender)
            .with(Tag::TARGET_COMP_ID, target)
            .with(Tag::MSG_SEQ_NUM, "1")
            .with(Tag::SENDING_TIME, utc_timestamp(SystemTime::now()))
            .with(Tag::ENCRYPT_METHOD, "0")
            .with(Tag::HEART_BT_INT, "30");
        encode(FixVersion::Fix44, &message)
    }

    /// Reads until something arrives (a Logon, in these tests).
    fn read_some(stream: &mut TcpStream) -> Vec<u8> {
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut buffer = [0u8; 4096];
        let count = stream.read(&mut buffer).unwrap();
        buffer[..count].to_vec()
    }

    #[test]
    fn server_and_client_exchange_messages_and_write_their_logs() {
        let server = started_server(FixServer::new("server").sender("EXCHANGE"));
        let client = FixClient::new("client")
            .port(context("server", "{{port}}"))
            .sender("TRADER")
            .target("EXCHANGE");
        let error = FixClient::new("wrong")
            .port(server.bound_port().unwrap())
            .start(&start_context("fix", &[]))
            .unwrap_err();
        assert!(error.message.contains("logon refused"), "{error}");
        client.start(&start_context("fix", &[&server])).unwrap();
        assert!(client.is_logged_on());
        assert_eq!(server.accept_session(WAIT).unwrap(), "TRADER");
        assert_eq!(server.active_connections(), ["TRADER"]);

        assert_eq!(client.send(order("1")).unwrap(), 2);
        let received = server.receive(WAIT).unwrap();
        assert_eq!(received.msg_type(), Some("D"));
        assert_eq!(received.get(Tag::CL_ORD_ID), Some("1"));
        assert_eq!(received.get(Tag::SENDER_COMP_ID), Some("TRADER"));
        server
            .send(Message::new(msg_type::EXECUTION_REPORT).with(Tag::CL_ORD_ID, "1"))
            .unwrap();
        let report = client.receive(WAIT).unwrap();
        assert_eq!(report.msg_type(), Some("8"));
        assert_eq!(report.get(Tag::SENDER_COMP_ID), Some("EXCHANGE"));

        let attributes = server.attributes();
        assert_eq!(attributes["port"], json!(server.bound_port().unwrap()));
        assert_eq!(attributes["host"], json!("127.0.0.1"));
        let log_dir = PathBuf::from(attributes["log_dir"].as_str().unwrap());
        let log_path = PathBuf::from(client.attributes()["log_path"].as_str().unwrap());
        assert!(
            client
                .log()
                .unwrap()
                .messages(testrig_fix::Direction::Sent)
                .len()
                >= 2
        );

        client.stop().unwrap();
        assert!(!client.is_logged_on());
        let started = Instant::now();
        server.stop().unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(server.attributes().is_empty());
        let client_log = fs::read_to_string(&log_path).unwrap();
        assert!(client_log.contains("35=D|"), "{client_log}");
        assert!(
            client_log.contains("35=5|"),
            "the logout is logged: {client_log}"
        );
        let server_log = fs::read_to_string(log_dir.join("session-0-TRADER.log")).unwrap();
        assert!(server_log.contains("11=1|"), "{server_log}");
    }

    #[test]
    fn several_clients_are_told_apart_by_comp_id() {
        let server = started_server(FixServer::new("server"));
        let one = client_of(&server, "ONE");
        let two = client_of(&server, "TWO");
        for _ in 0..2 {
            server.accept_session(WAIT).unwrap();
        }
        assert_eq!(server.active_connections(), ["ONE", "TWO"]);
        let error = server.send(order("x")).unwrap_err();
        assert!(error.message.contains("name the peer"), "{error}");
        server.send_to("TWO", order("to-two")).unwrap();
        assert_eq!(
            two.receive(WAIT).unwrap().get(Tag::CL_ORD_ID),
            Some("to-two")
        );
        one.send(order("from-one")).unwrap();
        let received = server.receive_from("ONE", WAIT).unwrap();
        assert_eq!(received.get(Tag::CL_ORD_ID), Some("from-one"));
        let error = server
            .receive_from("THREE", Duration::from_millis(50))
            .unwrap_err();
        assert!(
            error.message.contains("no fix session with `THREE`"),
            "{error}"
        );
        assert!(server.log("ONE").is_some());

        // A reconnect is a new session of the same peer; the latest one is used.
        one.reconnect().unwrap();
        one.send(order("again")).unwrap();
        let received = server.receive_from("ONE", WAIT).unwrap();
        assert_eq!(received.get(Tag::CL_ORD_ID), Some("again"));
        assert_eq!(received.get(Tag::MSG_SEQ_NUM), Some("2"));
        one.stop().unwrap();
        two.stop().unwrap();
        server.stop().unwrap();
    }

    #[test]
    fn receives_time_out_quickly_and_say_why() {
        let server = started_server(FixServer::new("server"));
        let error = server.receive(Duration::from_millis(100)).unwrap_err();
        assert!(
            error
                .message
                .starts_with("no fix session logged on to driver `server`"),
            "{error}"
        );
        let client = client_of(&server, "CLIENT");
        let started = Instant::now();
        let error = client.receive(Duration::from_millis(100)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(
            error
                .message
                .starts_with("timed out after 100ms waiting for a fix message"),
            "{error}"
        );
        // The server logs the client out: what it sent before is still received, then the
        // end of the session is reported.
        server.send(order("last")).unwrap();
        server.stop().unwrap();
        assert_eq!(
            client.receive(WAIT).unwrap().get(Tag::CL_ORD_ID),
            Some("last")
        );
        let error = client.receive(WAIT).unwrap_err();
        assert!(error.message.contains("has ended"), "{error}");
        assert!(error.message.contains("reconnect()"), "{error}");
        client.stop().unwrap();
        let error = client.send(order("late")).unwrap_err();
        assert!(error.message.contains("is not started"), "{error}");
    }

    #[test]
    fn stop_never_hangs_with_silent_peers() {
        // An initiator that connects and never logs on.
        let server =
            started_server(FixServer::new("server").stop_timeout(Duration::from_millis(300)));
        let port = server.bound_port().unwrap();
        let _silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // One that logs on and then never answers (not even the Logout).
        let mut mute = TcpStream::connect(("127.0.0.1", port)).unwrap();
        mute.write_all(&logon("MUTE", "SERVER")).unwrap();
        assert!(!read_some(&mut mute).is_empty());
        server.accept_session(WAIT).unwrap();
        let started = Instant::now();
        server.stop().unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        TcpListener::bind(("127.0.0.1", port)).expect("the port is free again");

        // A client whose server answers the Logon, then goes silent.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let peer = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            read_some(&mut stream);
            stream.write_all(&logon("SERVER", "CLIENT")).unwrap();
            // Holds the connection open, silent, until the client hangs up.
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
        });
        let client = FixClient::new("client")
            .port(port)
            .stop_timeout(Duration::from_millis(300));
        client.start(&start_context("fix", &[])).unwrap();
        let started = Instant::now();
        client.stop().unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        peer.join().unwrap();
    }

    #[test]
    fn a_client_whose_server_is_gone_fails_to_start_with_a_fix() {
        let reservation = crate::drivers::ports::port_without_server();
        let port = reservation.port();
        let client = FixClient::new("client").port(port);
        let error = client.start(&start_context("fix", &[])).unwrap_err();
        assert!(
            error.message.starts_with(&format!(
                "failed to connect to 127.0.0.1:{port} for driver `client`: connection refused"
            )),
            "{error}"
        );
        assert!(
            error.message.contains("is the fix server started"),
            "{error}"
        );
        assert!(!client.attributes().contains_key("host"));
        client.stop().unwrap();

        // A server that accepts the connection but never answers the Logon: the start
        // timeout bounds the wait.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = FixClient::new("client").port(port);
        let context = StartContext::new(
            super::super::tcp::test_support::runpath("fix"),
            Duration::from_millis(300),
        );
        let started = Instant::now();
        let error = client.start(&context).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(error.message.contains("timed out"), "{error}");
        drop(listener);
    }

    #[test]
    fn a_client_can_log_on_later_and_a_bad_port_is_named() {
        let server = started_server(FixServer::new("server").version(FixVersion::Fix42));
        let client = FixClient::new("client")
            .port(context("server", "{{port}}"))
            .version(FixVersion::Fix42)
            .logon_at_start(false);
        client.start(&start_context("fix", &[&server])).unwrap();
        assert!(!client.is_logged_on());
        let error = client.send(order("x")).unwrap_err();
        assert!(error.message.contains("not logged on"), "{error}");
        client.logon().unwrap();
        client.send(order("42")).unwrap();
        assert_eq!(
            server.receive(WAIT).unwrap().get(Tag::BEGIN_STRING),
            Some("FIX.4.2")
        );
        client.logout().unwrap();
        assert!(!client.is_logged_on());
        client.stop().unwrap();
        server.stop().unwrap();

        let error = FixServer::new("server")
            .port("fix")
            .start(&start_context("fix", &[]))
            .unwrap_err();
        assert_eq!(
            error.message,
            "port `fix` of driver `server` is not a number between 0 and 65535"
        );
    }

    /// Two self-signed certificates made by the `openssl` tool in a fresh directory: `server`
    /// (for 127.0.0.1 and `localhost`) and `other` (the wrong CA for it).
    #[cfg(feature = "fix-tls")]
    fn certificates() -> PathBuf {
        let dir = super::super::tcp::test_support::runpath("fix-tls");
        fs::create_dir_all(&dir).unwrap();
        for (name, alt_names) in [
            ("server", "DNS:localhost,IP:127.0.0.1"),
            ("other", "DNS:other.invalid"),
        ] {
            let output = std::process::Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                ])
                .args(["-subj", &format!("/CN={name}")])
                .args([
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.pem"),
                ])
                .args(["-addext", &format!("subjectAltName={alt_names}")])
                .current_dir(&dir)
                .output()
                .expect("the `openssl` tool makes the test certificates: apt-get install openssl");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        dir
    }

    #[cfg(feature = "fix-tls")]
    #[test]
    fn server_and_client_exchange_messages_over_tls() {
        let pki = certificates();
        let server = started_server(
            FixServer::new("server")
                .sender("EXCHANGE")
                .tls(pki.join("server.pem"), pki.join("server.key")),
        );
        let attributes = server.attributes();
        assert_eq!(attributes["tls"], json!(true));
        assert_eq!(
            attributes["tls_cert"],
            json!(pki.join("server.pem").display().to_string())
        );
        // The self-signed certificate is its own CA, read from the server's attributes.
        let client = FixClient::new("client")
            .port(context("server", "{{port}}"))
            .sender("TRADER")
            .target("EXCHANGE")
            .tls_ca(context("server", "{{tls_cert}}"));
        assert_eq!(client.context_values().len(), 3);
        client.start(&start_context("fix", &[&server])).unwrap();
        assert_eq!(client.attributes()["tls"], json!(true));
        assert_eq!(server.accept_session(WAIT).unwrap(), "TRADER");

        client.send(order("tls-1")).unwrap();
        let received = server.receive(WAIT).unwrap();
        assert_eq!(received.get(Tag::CL_ORD_ID), Some("tls-1"));
        server
            .send(Message::new(msg_type::EXECUTION_REPORT).with(Tag::CL_ORD_ID, "tls-1"))
            .unwrap();
        assert_eq!(
            client.receive(WAIT).unwrap().get(Tag::CL_ORD_ID),
            Some("tls-1")
        );

        // A plain client is refused, and says TLS may be why; the server says why too.
        let error = FixClient::new("plain")
            .port(server.bound_port().unwrap())
            .start(&start_context("fix", &[]))
            .unwrap_err();
        assert!(
            error.message.ends_with(
                "; a server that expects TLS drops plain connections like this: then the client needs `tls_ca(…)` (feature `fix-tls`)"
            ),
            "{}",
            error.message
        );
        let error = server
            .receive_from("PLAIN", Duration::from_millis(100))
            .unwrap_err();
        assert!(
            error.message.contains("the TLS handshake with 127.0.0.1:"),
            "{}",
            error.message
        );

        // A client that trusts another CA refuses the server.
        let error = FixClient::new("doubtful")
            .port(server.bound_port().unwrap())
            .tls_ca(pki.join("other.pem"))
            .start(&start_context("fix", &[]))
            .unwrap_err();
        assert!(
            error.message.starts_with(&format!(
                "driver `doubtful` failed to set up TLS with 127.0.0.1:{}: the TLS handshake with 127.0.0.1:{0} failed: the server's certificate was refused",
                server.bound_port().unwrap()
            )),
            "{}",
            error.message
        );
        assert!(error.message.contains("`tls_ca`"), "{}", error.message);

        // Unless told to trust anything; a wrong server name fails with the right CA.
        let trusting = FixClient::new("trusting")
            .port(server.bound_port().unwrap())
            .sender("TRUSTING")
            .target("EXCHANGE")
            .tls_insecure();
        trusting.start(&start_context("fix", &[])).unwrap();
        let error = FixClient::new("misnamed")
            .port(server.bound_port().unwrap())
            .tls_ca(pki.join("server.pem"))
            .tls_server_name("fix.example.test")
            .start(&start_context("fix", &[]))
            .unwrap_err();
        assert!(
            error.message.contains("hostname mismatch"),
            "{}",
            error.message
        );

        trusting.stop().unwrap();
        client.stop().unwrap();
        server.stop().unwrap();
        assert!(server.attributes().is_empty());
    }

    #[cfg(feature = "fix-tls")]
    #[test]
    fn bad_tls_settings_fail_the_start() {
        let pki = certificates();
        let missing = pki.join("missing.pem");
        let error = FixServer::new("server")
            .tls(missing.as_path(), pki.join("server.key"))
            .start(&start_context("fix", &[]))
            .unwrap_err();
        assert_eq!(
            error.message,
            format!(
                "driver `server` cannot set up TLS: failed to load the TLS certificate `{}`: no such file or directory; give a PEM file with the server's certificate (`-----BEGIN CERTIFICATE-----`), optionally followed by its chain",
                missing.display()
            )
        );
        let error = FixServer::new("server")
            .client_ca(pki.join("server.pem"))
            .start(&start_context("fix", &[]))
            .unwrap_err();
        assert!(
            error.message.contains("call `.tls(cert, key)` too"),
            "{}",
            error.message
        );
        let error = FixClient::new("client")
            .tls_client_cert(pki.join("server.pem"), pki.join("other.key"))
            .start(&start_context("fix", &[]))
            .unwrap_err();
        assert!(
            error
                .message
                .starts_with("driver `client` cannot set up TLS: the TLS key `"),
            "{}",
            error.message
        );
    }
}

//! The session engine: one FIX session over a blocking [`TcpStream`], in
//! plain TCP or, with the `tls` feature, TLS (`connect_tls`,
//! `Acceptor::bind_tls`; the same logic over either, see `transport.rs`).
//!
//! [`Session::initiate`] (or [`connect`]) logs on as the initiator;
//! [`Session::accept`] (or [`Acceptor`]) waits for a peer's Logon as the
//! acceptor. Once logged on, a background thread owns the reading half of
//! the socket and handles the session layer by itself, so a test that is
//! busy elsewhere does not miss heartbeats:
//!
//! - Heartbeat (35=0) when we have sent nothing for a heartbeat interval;
//!   TestRequest (35=1) when the peer has been silent for a little longer,
//!   and a disconnect if it stays silent for another interval.
//! - MsgSeqNum both ways. A gap sends a ResendRequest (35=2) and holds the
//!   later messages until the gap is filled; a number that is too low
//!   without PossDupFlag logs out and disconnects; a duplicate is dropped.
//! - A peer's ResendRequest is answered by resending our application
//!   messages with PossDupFlag=Y and OrigSendingTime, and a
//!   SequenceReset-GapFill (35=4, 123=Y) in place of admin messages.
//! - Reject (35=3) for messages with an empty field, a wrong CompID or a
//!   bad SequenceReset; Logout (35=5) either way.
//!
//! [`Session::receive`] returns application messages, plus session-level
//! Rejects (a test usually wants to see that its message was refused).
//! Everything sent and received is in the session's [`MessageLog`].
//!
//! Sequence numbers live in memory only: a new `Session` starts from the
//! numbers in its [`SessionConfig`].

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use crate::codec::{Decoder, Frame, encode, to_pipe_form};
use crate::error::FixError;
use crate::message::{FixVersion, Message};
use crate::tag::{Tag, msg_type};
use crate::time::utc_timestamp;
#[cfg(feature = "tls")]
use crate::tls::{TlsAcceptor, TlsClientConfig, TlsConnector, TlsServerConfig};
use crate::transport::Transport;

/// How often the session thread wakes up to check its timers.
const TICK: Duration = Duration::from_millis(20);
/// How long a closing session keeps reading so that its last message is not
/// lost to a reset caused by unread data.
const LINGER: Duration = Duration::from_millis(500);
/// How long one write may block before the session gives up on the peer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// SessionRejectReason (373) values used here.
mod reject_reason {
    pub const REQUIRED_TAG_MISSING: &str = "1";
    pub const TAG_WITHOUT_VALUE: &str = "4";
    pub const VALUE_INCORRECT: &str = "5";
    pub const COMP_ID_PROBLEM: &str = "9";
}

/// How a session identifies itself and behaves.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// BeginString of every message.
    pub version: FixVersion,
    /// Our CompID, SenderCompID (49) of what we send.
    pub sender_comp_id: String,
    /// The peer's CompID, TargetCompID (56) of what we send. An acceptor
    /// with an empty target takes whatever CompID the peer logs on with.
    pub target_comp_id: String,
    /// Send a heartbeat after this long without sending; zero disables
    /// heartbeats and test requests. HeartBtInt (108) carries it in whole
    /// seconds (at least 1), but the timer uses the exact value, so tests
    /// may use a fraction of a second. An acceptor uses the initiator's
    /// HeartBtInt unless it equals its own in whole seconds.
    pub heartbeat_interval: Duration,
    /// Send ResetSeqNumFlag (141=Y) on logon and start both sequence
    /// numbers at 1.
    pub reset_on_logon: bool,
    /// How long to wait for the Logon exchange.
    pub logon_timeout: Duration,
    /// MsgSeqNum of our first message (normally 1).
    pub next_sender_seq: u64,
    /// MsgSeqNum expected of the peer's first message (normally 1).
    pub next_target_seq: u64,
}

impl SessionConfig {
    /// A config with a 30 s heartbeat, a 10 s logon timeout, no reset and
    /// both sequence numbers at 1.
    pub fn new(
        version: FixVersion,
        sender_comp_id: impl Into<String>,
        target_comp_id: impl Into<String>,
    ) -> SessionConfig {
        SessionConfig {
            version,
            sender_comp_id: sender_comp_id.into(),
            target_comp_id: target_comp_id.into(),
            heartbeat_interval: Duration::from_secs(30),
            reset_on_logon: false,
            logon_timeout: Duration::from_secs(10),
            next_sender_seq: 1,
            next_target_seq: 1,
        }
    }

    /// Sets [`heartbeat_interval`](SessionConfig::heartbeat_interval).
    #[must_use]
    pub fn with_heartbeat_interval(mut self, interval: Duration) -> SessionConfig {
        self.heartbeat_interval = interval;
        self
    }

    /// Sets [`reset_on_logon`](SessionConfig::reset_on_logon).
    #[must_use]
    pub fn with_reset_on_logon(mut self, reset: bool) -> SessionConfig {
        self.reset_on_logon = reset;
        self
    }

    /// Sets [`logon_timeout`](SessionConfig::logon_timeout).
    #[must_use]
    pub fn with_logon_timeout(mut self, timeout: Duration) -> SessionConfig {
        self.logon_timeout = timeout;
        self
    }

    /// Sets the first sequence numbers: ours, and the one expected of the
    /// peer.
    #[must_use]
    pub fn with_next_seq_nums(mut self, sender: u64, target: u64) -> SessionConfig {
        self.next_sender_seq = sender;
        self.next_target_seq = target;
        self
    }

    fn heartbeat_wire_secs(&self) -> u64 {
        if self.heartbeat_interval.is_zero() {
            0
        } else {
            self.heartbeat_interval.as_secs().max(1)
        }
    }
}

/// Which way a [`LogEntry`] went.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    /// We sent it.
    Sent,
    /// We received it (including frames dropped as garbled).
    Received,
    /// Not a message: something the session did or decided.
    Event,
}

/// One line of a [`MessageLog`].
#[derive(Clone, Debug)]
pub struct LogEntry {
    /// Sent, received, or a session event.
    pub direction: Direction,
    /// When it happened.
    pub time: SystemTime,
    /// The wire bytes (empty for an event).
    pub wire: Vec<u8>,
    /// Why a frame was dropped, or what the event was.
    pub note: Option<String>,
}

impl LogEntry {
    /// The message as parsed from the wire bytes, if they parse.
    pub fn message(&self) -> Option<Message> {
        crate::codec::decode(&self.wire).ok()
    }
}

/// `20240102-03:04:05.006 >> 8=FIX.4.4|9=...|` (`<<` for received,
/// `--` for events; a note follows after `# `).
impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arrow = match self.direction {
            Direction::Sent => ">>",
            Direction::Received => "<<",
            Direction::Event => "--",
        };
        write!(
            f,
            "{} {arrow} {}",
            utc_timestamp(self.time),
            to_pipe_form(&self.wire)
        )?;
        if let Some(note) = &self.note {
            if !self.wire.is_empty() {
                f.write_str(" ")?;
            }
            write!(f, "# {note}")?;
        }
        Ok(())
    }
}

/// Every message a session sent and received, in order, shared with the
/// session thread. Cloning gives another handle to the same log.
#[derive(Clone, Default, Debug)]
pub struct MessageLog(Arc<Mutex<Vec<LogEntry>>>);

impl MessageLog {
    /// A copy of the entries so far.
    pub fn entries(&self) -> Vec<LogEntry> {
        lock(&self.0).clone()
    }

    /// The messages sent (`Direction::Sent`) or received, parsed.
    pub fn messages(&self, direction: Direction) -> Vec<Message> {
        lock(&self.0)
            .iter()
            .filter(|e| e.direction == direction)
            .filter_map(LogEntry::message)
            .collect()
    }

    /// Writes one line per entry (see [`LogEntry`]'s `Display`).
    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        for entry in lock(&self.0).iter() {
            writeln!(out, "{entry}")?;
        }
        Ok(())
    }

    fn push(&self, direction: Direction, wire: &[u8], note: Option<String>) {
        lock(&self.0).push(LogEntry {
            direction,
            time: SystemTime::now(),
            wire: wire.to_vec(),
            note,
        });
    }
}

/// A mutex poisoned by a panicking test thread still holds usable data.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the session thread hands to the user's side.
enum Event {
    App(Message),
    Closed(FixError),
}

/// State shared by the user's side and the session thread; every write to
/// the socket happens under this lock so sequence numbers go out in order.
struct State {
    writer: Transport,
    next_out: u64,
    next_in: u64,
    /// Application messages we sent, by MsgSeqNum, for resend requests.
    sent_app: BTreeMap<u64, Message>,
    last_sent: Instant,
    logout_sent: bool,
    closed: Option<FixError>,
}

struct Shared {
    config: SessionConfig,
    state: Mutex<State>,
    log: MessageLog,
    /// Set by `Drop`: the thread exits at its next tick.
    stop: AtomicBool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Fills in the header of `message` and sends it. Fields the caller set
    /// among 49, 56, 34 and 52 are kept, so a test can send a wrong one; a
    /// caller-set MsgSeqNum does not advance the counter.
    fn send(&self, st: &mut State, message: &Message) -> Result<u64, FixError> {
        if let Some(err) = &st.closed {
            return Err(err.clone());
        }
        let own_seq = message.get(Tag::MSG_SEQ_NUM).is_none();
        let seq = st.next_out;
        let cfg = &self.config;
        let mut out = Message::new(message.msg_type().unwrap_or_default());
        let keep = |tag: Tag, default: &str| message.get(tag).unwrap_or(default).to_owned();
        out.push(
            Tag::SENDER_COMP_ID,
            keep(Tag::SENDER_COMP_ID, &cfg.sender_comp_id),
        );
        out.push(
            Tag::TARGET_COMP_ID,
            keep(Tag::TARGET_COMP_ID, &cfg.target_comp_id),
        );
        out.push(Tag::MSG_SEQ_NUM, keep(Tag::MSG_SEQ_NUM, &seq.to_string()));
        out.push(
            Tag::SENDING_TIME,
            keep(Tag::SENDING_TIME, &utc_timestamp(SystemTime::now())),
        );
        for (tag, value) in message.fields() {
            if !matches!(tag.0, 8 | 9 | 10 | 34 | 35 | 49 | 52 | 56) {
                out.push(*tag, value.clone());
            }
        }
        self.write(st, &out)?;
        if own_seq {
            if !out.is_admin() {
                st.sent_app.insert(seq, out);
            }
            st.next_out += 1;
        }
        Ok(out_seq(own_seq, seq, message))
    }

    fn write(&self, st: &mut State, message: &Message) -> Result<(), FixError> {
        self.write_raw(st, &encode(self.config.version, message))
    }

    fn write_raw(&self, st: &mut State, wire: &[u8]) -> Result<(), FixError> {
        let result = st.writer.write_all(wire);
        self.log.push(
            Direction::Sent,
            wire,
            result.as_ref().err().map(|e| format!("write failed: {e}")),
        );
        st.last_sent = Instant::now();
        Ok(result?)
    }

    /// Answers a ResendRequest for `begin..=end` (`end` 0 = all): resends
    /// application messages as possible duplicates and covers everything
    /// else with SequenceReset-GapFill.
    fn resend(&self, st: &mut State, begin: u64, end: u64) -> Result<(), FixError> {
        let last = st.next_out - 1;
        let end = if end == 0 || end > last { last } else { end };
        let mut gap_start = None;
        for seq in begin.max(1)..=end {
            let Some(original) = st.sent_app.get(&seq).cloned() else {
                gap_start.get_or_insert(seq);
                continue;
            };
            if let Some(start) = gap_start.take() {
                self.gap_fill(st, start, seq)?;
            }
            let mut again = original.clone();
            let now = utc_timestamp(SystemTime::now());
            again.set(Tag::POSS_DUP_FLAG, "Y");
            again.set(Tag::SENDING_TIME, now);
            again.set(
                Tag::ORIG_SENDING_TIME,
                original.get(Tag::SENDING_TIME).unwrap_or_default(),
            );
            self.write(st, &again)?;
        }
        if let Some(start) = gap_start {
            self.gap_fill(st, start, end + 1)?;
        }
        Ok(())
    }

    fn gap_fill(&self, st: &mut State, seq: u64, new_seq: u64) -> Result<(), FixError> {
        let now = utc_timestamp(SystemTime::now());
        let cfg = &self.config;
        let fill = Message::new(msg_type::SEQUENCE_RESET)
            .with(Tag::SENDER_COMP_ID, cfg.sender_comp_id.as_str())
            .with(Tag::TARGET_COMP_ID, cfg.target_comp_id.as_str())
            .with(Tag::MSG_SEQ_NUM, seq.to_string())
            .with(Tag::POSS_DUP_FLAG, "Y")
            .with(Tag::SENDING_TIME, now.as_str())
            .with(Tag::ORIG_SENDING_TIME, now)
            .with(Tag::GAP_FILL_FLAG, "Y")
            .with(Tag::NEW_SEQ_NO, new_seq.to_string());
        self.write(st, &fill)
    }

    /// Marks the session closed (first reason wins) and half-closes the
    /// socket; the thread keeps reading briefly so our last words arrive.
    fn close(&self, st: &mut State, reason: FixError) -> FixError {
        let reason = st.closed.get_or_insert(reason).clone();
        let _ = st.writer.shutdown(Shutdown::Write);
        self.log.push(
            Direction::Event,
            &[],
            Some(format!("session closed: {reason}")),
        );
        reason
    }
}

fn out_seq(own_seq: bool, seq: u64, message: &Message) -> u64 {
    if own_seq {
        seq
    } else {
        message.seq_num().unwrap_or(seq)
    }
}

/// Which side of the Logon a session is on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Initiator,
    Acceptor,
}

/// The session thread's own state: the reading half of the socket and the
/// timers. Everything else is in [`Shared`].
struct Engine {
    reader: Transport,
    decoder: Decoder,
    shared: Arc<Shared>,
    events: Sender<Event>,
    heartbeat: Duration,
    last_received: Instant,
    test_request: Option<(String, Instant)>,
    test_counter: u64,
    /// Messages that arrived after a gap, waiting for it to be filled.
    queue: BTreeMap<u64, Message>,
    /// We sent a ResendRequest and wait for messages up to this number.
    resend_until: Option<u64>,
    closing_since: Option<Instant>,
}

impl Engine {
    fn config(&self) -> &SessionConfig {
        &self.shared.config
    }

    /// Sends an admin message; errors close the session.
    fn send_admin(&mut self, message: Message) {
        let shared = Arc::clone(&self.shared);
        let mut st = shared.state();
        if st.closed.is_none()
            && let Err(e) = shared.send(&mut st, &message)
        {
            self.close_locked(&mut st, e);
        }
    }

    fn close(&mut self, reason: FixError) {
        let shared = Arc::clone(&self.shared);
        let mut st = shared.state();
        self.close_locked(&mut st, reason);
    }

    fn close_locked(&mut self, st: &mut State, reason: FixError) {
        if self.closing_since.is_some() {
            return;
        }
        let reason = self.shared.close(st, reason);
        self.closing_since = Some(Instant::now());
        let _ = self.events.send(Event::Closed(reason));
    }

    /// Sends Logout with `text`, then closes with `reason`.
    fn logout_and_close(&mut self, text: &str, reason: FixError) {
        self.send_admin(Message::new(msg_type::LOGOUT).with(Tag::TEXT, text));
        self.close(reason);
    }

    fn reject(&mut self, refused: &Message, reason: &str, tag: Option<Tag>, text: &str) {
        let mut reject = Message::new(msg_type::REJECT).with(
            Tag::REF_SEQ_NUM,
            refused.get(Tag::MSG_SEQ_NUM).unwrap_or("0"),
        );
        if let Some(tag) = tag {
            reject.set(Tag::REF_TAG_ID, tag.0.to_string());
        }
        if let Some(t) = refused.msg_type() {
            reject.set(Tag::REF_MSG_TYPE, t);
        }
        reject.set(Tag::SESSION_REJECT_REASON, reason);
        reject.set(Tag::TEXT, text);
        self.send_admin(reject);
    }

    /// Reads until a whole frame arrives or `deadline` passes. Garbled
    /// frames are logged and skipped.
    fn read_frame(&mut self, deadline: Instant) -> Result<Option<Frame>, FixError> {
        let mut buf = [0u8; 4096];
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => return Ok(Some(frame)),
                Ok(None) => {}
                Err(e) => {
                    self.log_garbled(&e);
                    continue;
                }
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            match self.reader.read(&mut buf) {
                Ok(0) => return Err(FixError::disconnected("peer closed the connection")),
                Ok(n) => self.decoder.feed(&buf[..n]),
                Err(e) if is_timeout(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn log_garbled(&self, e: &FixError) {
        self.shared.log.push(
            Direction::Received,
            &[],
            Some(format!("dropped garbled input: {e}")),
        );
    }

    /// The Logon exchange, before the thread starts. On failure the socket
    /// is closed and the error says why.
    fn logon(&mut self, role: Role) -> Result<(), FixError> {
        let result = self.logon_inner(role);
        if let Err(e) = &result {
            self.close(e.clone());
            self.linger();
        }
        result
    }

    fn logon_inner(&mut self, role: Role) -> Result<(), FixError> {
        let cfg = self.config().clone();
        let deadline = crate::time::deadline_after(cfg.logon_timeout);
        if role == Role::Initiator {
            self.send_logon(cfg.reset_on_logon, cfg.heartbeat_wire_secs())?;
        }
        let Some(frame) = self.read_frame(deadline)? else {
            let waiting_for = match role {
                Role::Initiator => "the logon response",
                Role::Acceptor => "the peer's logon",
            };
            return Err(FixError::Timeout {
                waiting_for: waiting_for.into(),
                after: cfg.logon_timeout,
            });
        };
        self.shared.log.push(Direction::Received, &frame.wire, None);
        self.last_received = Instant::now();
        let m = frame.message;
        let kind = m.msg_type().unwrap_or_default();
        if kind == msg_type::LOGOUT && role == Role::Initiator {
            let reason = m
                .get(Tag::TEXT)
                .unwrap_or("peer answered with Logout")
                .to_owned();
            return Err(FixError::LogonRefused { reason });
        }
        if kind != msg_type::LOGON {
            return Err(FixError::protocol(format!(
                "expected Logon(35=A) but received 35={kind}"
            )));
        }
        if let Err(reason) = self.check_comp_ids(&m) {
            let _ = self.send_now(Message::new(msg_type::LOGOUT).with(Tag::TEXT, reason.as_str()));
            return Err(FixError::LogonRefused { reason });
        }
        let seq: u64 = m.get_parsed(Tag::MSG_SEQ_NUM)?;
        let peer_reset = m.flag(Tag::RESET_SEQ_NUM_FLAG);
        if role == Role::Acceptor {
            let peer_secs: u64 = match m.get_parsed(Tag::HEART_BT_INT) {
                Ok(secs) => secs,
                Err(e) => {
                    let reason = e.to_string();
                    let _ = self
                        .send_now(Message::new(msg_type::LOGOUT).with(Tag::TEXT, reason.as_str()));
                    return Err(FixError::LogonRefused { reason });
                }
            };
            self.heartbeat = if peer_secs == cfg.heartbeat_wire_secs() {
                cfg.heartbeat_interval
            } else {
                Duration::from_secs(peer_secs)
            };
            let reset = peer_reset || cfg.reset_on_logon;
            if reset {
                let mut st = self.shared.state();
                st.next_out = 1;
                st.sent_app.clear();
            }
            if peer_reset {
                self.shared.state().next_in = 1;
            }
            self.check_logon_seq(seq)?;
            self.send_logon(reset, peer_secs)?;
        } else {
            if peer_reset && !cfg.reset_on_logon {
                // The acceptor reset its numbers without being asked.
                self.shared.state().next_in = seq;
            }
            self.check_logon_seq(seq)?;
        }
        self.shared
            .log
            .push(Direction::Event, &[], Some("logged on".into()));
        self.after_logon_gap(seq);
        Ok(())
    }

    fn send_logon(&mut self, reset: bool, heartbeat_secs: u64) -> Result<(), FixError> {
        let mut st = self.shared.state();
        if reset {
            st.next_out = 1;
            st.sent_app.clear();
        }
        let mut logon = Message::new(msg_type::LOGON)
            .with(Tag::ENCRYPT_METHOD, "0")
            .with(Tag::HEART_BT_INT, heartbeat_secs.to_string());
        if reset {
            logon.set(Tag::RESET_SEQ_NUM_FLAG, "Y");
        }
        self.shared.send(&mut st, &logon).map(|_| ())
    }

    fn send_now(&mut self, message: Message) -> Result<u64, FixError> {
        let mut st = self.shared.state();
        self.shared.send(&mut st, &message)
    }

    fn check_comp_ids(&self, m: &Message) -> Result<(), String> {
        let cfg = &self.shared.config;
        let sender = m.get(Tag::SENDER_COMP_ID).unwrap_or_default();
        let target = m.get(Tag::TARGET_COMP_ID).unwrap_or_default();
        if sender != cfg.target_comp_id {
            return Err(format!(
                "SenderCompID {sender:?} is not the expected {:?}",
                cfg.target_comp_id
            ));
        }
        if target != cfg.sender_comp_id {
            return Err(format!(
                "TargetCompID {target:?} is not the expected {:?}",
                cfg.sender_comp_id
            ));
        }
        Ok(())
    }

    fn check_logon_seq(&mut self, seq: u64) -> Result<(), FixError> {
        let expected = self.shared.state().next_in;
        if seq < expected {
            let text = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
            let _ = self.send_now(Message::new(msg_type::LOGOUT).with(Tag::TEXT, text));
            return Err(FixError::SequenceTooLow {
                expected,
                received: seq,
            });
        }
        Ok(())
    }

    /// After a Logon: its own number is consumed, or, if it was too high,
    /// we ask for what we missed (the peer will gap-fill its Logon too).
    fn after_logon_gap(&mut self, seq: u64) {
        let expected = self.shared.state().next_in;
        if seq == expected {
            self.shared.state().next_in = seq + 1;
        } else {
            self.request_resend(expected, seq);
        }
    }

    fn request_resend(&mut self, from: u64, seen: u64) {
        if self.resend_until.is_some_and(|until| until >= seen) {
            return;
        }
        if self.resend_until.is_none() {
            self.send_admin(
                Message::new(msg_type::RESEND_REQUEST)
                    .with(Tag::BEGIN_SEQ_NO, from.to_string())
                    .with(Tag::END_SEQ_NO, "0"),
            );
        }
        self.resend_until = Some(seen);
    }

    /// The thread's loop: read, handle, check timers, until closed.
    fn run(mut self) {
        // Whatever arrived together with the peer's Logon (QuickFIX sends
        // its ResendRequest right behind it) is already in the decoder.
        self.drain_decoder();
        let mut buf = [0u8; 8192];
        loop {
            if self.shared.stop.load(Ordering::Relaxed) {
                break;
            }
            match self.reader.read(&mut buf) {
                Ok(0) => {
                    self.close(FixError::disconnected("peer closed the connection"));
                    break;
                }
                Ok(n) if self.closing_since.is_none() => {
                    self.decoder.feed(&buf[..n]);
                    self.drain_decoder();
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(e) => {
                    self.close(e.into());
                    break;
                }
            }
            if self.closing_since.is_none() && self.shared.state().closed.is_some() {
                // Closed from the user's side (logout timeout, disconnect).
                self.closing_since = Some(Instant::now());
            }
            match self.closing_since {
                Some(since) if since.elapsed() >= LINGER => break,
                Some(_) => {}
                None => self.timers(),
            }
        }
        let _ = self.reader.shutdown(Shutdown::Both);
    }

    fn linger(&mut self) {
        let deadline = Instant::now() + LINGER;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(_) => break,
            }
        }
        let _ = self.reader.shutdown(Shutdown::Both);
    }

    fn drain_decoder(&mut self) {
        while self.closing_since.is_none() {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => self.on_frame(frame),
                Ok(None) => break,
                Err(e) => self.log_garbled(&e),
            }
        }
    }

    fn timers(&mut self) {
        let hb = self.heartbeat;
        if hb.is_zero() {
            return;
        }
        let now = Instant::now();
        let idle_out = now.duration_since(self.shared.state().last_sent);
        if idle_out >= hb {
            self.send_admin(Message::new(msg_type::HEARTBEAT));
        }
        match &self.test_request {
            Some((id, at)) if now.duration_since(*at) >= hb => {
                let reason = format!("no answer to test request {id} within {hb:?}");
                self.close(FixError::disconnected(reason));
            }
            Some(_) => {}
            None if now.duration_since(self.last_received) >= hb.saturating_add(hb / 5) => {
                self.test_counter += 1;
                let id = format!("TEST-{}", self.test_counter);
                self.send_admin(
                    Message::new(msg_type::TEST_REQUEST).with(Tag::TEST_REQ_ID, id.as_str()),
                );
                self.test_request = Some((id, now));
            }
            None => {}
        }
    }

    fn on_frame(&mut self, frame: Frame) {
        self.shared.log.push(Direction::Received, &frame.wire, None);
        self.last_received = Instant::now();
        self.test_request = None;
        let m = frame.message;
        if let Err(text) = self.check_comp_ids(&m) {
            self.reject(
                &m,
                reject_reason::COMP_ID_PROBLEM,
                Some(Tag::SENDER_COMP_ID),
                &text,
            );
            let reason = FixError::protocol(format!("comp id problem: {text}"));
            self.logout_and_close(&text, reason);
            return;
        }
        let Some(seq) = m.seq_num() else {
            let text = "MsgSeqNum(34) is missing or not a number";
            self.logout_and_close(text, FixError::protocol(text.to_lowercase()));
            return;
        };
        let kind = m.msg_type().unwrap_or_default().to_owned();
        if kind == msg_type::SEQUENCE_RESET && !m.flag(Tag::GAP_FILL_FLAG) {
            self.sequence_reset(&m);
            return;
        }
        let expected = self.shared.state().next_in;
        if seq < expected {
            if m.flag(Tag::POSS_DUP_FLAG) {
                self.shared.log.push(
                    Direction::Event,
                    &[],
                    Some(format!("ignored possible duplicate {seq}")),
                );
            } else {
                let text = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
                self.logout_and_close(
                    &text,
                    FixError::SequenceTooLow {
                        expected,
                        received: seq,
                    },
                );
            }
            return;
        }
        // A ResendRequest is answered even when it arrives after a gap, or
        // two sides that both missed messages would wait for each other.
        if kind == msg_type::RESEND_REQUEST {
            self.answer_resend(&m);
        }
        if seq > expected {
            if kind == msg_type::LOGOUT {
                self.peer_logout(&m);
                return;
            }
            self.queue.insert(seq, m);
            self.request_resend(expected, seq);
            return;
        }
        self.process(m);
        loop {
            let next = self.shared.state().next_in;
            self.queue.retain(|s, _| *s >= next);
            match self.queue.remove(&next) {
                Some(queued) if self.closing_since.is_none() => self.process(queued),
                _ => break,
            }
        }
        let next = self.shared.state().next_in;
        if self.resend_until.is_some_and(|until| next > until) {
            self.resend_until = None;
        }
    }

    fn advance(&self) {
        self.shared.state().next_in += 1;
    }

    /// Handles an in-sequence message.
    fn process(&mut self, m: Message) {
        if let Some((tag, _)) = m.fields().iter().find(|(_, v)| v.is_empty()) {
            let tag = *tag;
            self.advance();
            self.reject(
                &m,
                reject_reason::TAG_WITHOUT_VALUE,
                Some(tag),
                "Tag specified without a value",
            );
            return;
        }
        match m.msg_type().unwrap_or_default() {
            msg_type::HEARTBEAT | msg_type::RESEND_REQUEST | msg_type::LOGON => self.advance(),
            msg_type::TEST_REQUEST => {
                self.advance();
                let id = m.get(Tag::TEST_REQ_ID).unwrap_or_default();
                self.send_admin(Message::new(msg_type::HEARTBEAT).with(Tag::TEST_REQ_ID, id));
            }
            msg_type::SEQUENCE_RESET => self.gap_fill(&m),
            msg_type::LOGOUT => {
                self.advance();
                self.peer_logout(&m);
            }
            _ => {
                self.advance();
                let _ = self.events.send(Event::App(m));
            }
        }
    }

    fn gap_fill(&mut self, m: &Message) {
        let expected = self.shared.state().next_in;
        match m.get_parsed::<u64>(Tag::NEW_SEQ_NO) {
            Ok(new) if new > expected => self.shared.state().next_in = new,
            Ok(new) => {
                self.advance();
                let text = format!("NewSeqNo {new} is not higher than the expected {expected}");
                self.reject(
                    m,
                    reject_reason::VALUE_INCORRECT,
                    Some(Tag::NEW_SEQ_NO),
                    &text,
                );
            }
            Err(e) => {
                self.advance();
                self.reject(
                    m,
                    reject_reason::REQUIRED_TAG_MISSING,
                    Some(Tag::NEW_SEQ_NO),
                    &e.to_string(),
                );
            }
        }
    }

    /// SequenceReset-Reset: MsgSeqNum is ignored and NewSeqNo must not go
    /// backwards.
    fn sequence_reset(&mut self, m: &Message) {
        let expected = self.shared.state().next_in;
        match m.get_parsed::<u64>(Tag::NEW_SEQ_NO) {
            Ok(new) if new >= expected => {
                self.shared.state().next_in = new;
                self.queue.retain(|s, _| *s >= new);
                if self.resend_until.is_some_and(|until| new > until) {
                    self.resend_until = None;
                }
            }
            Ok(new) => {
                let text = format!("NewSeqNo {new} is lower than the expected {expected}");
                self.reject(
                    m,
                    reject_reason::VALUE_INCORRECT,
                    Some(Tag::NEW_SEQ_NO),
                    &text,
                );
            }
            Err(e) => {
                self.reject(
                    m,
                    reject_reason::REQUIRED_TAG_MISSING,
                    Some(Tag::NEW_SEQ_NO),
                    &e.to_string(),
                );
            }
        }
    }

    fn answer_resend(&mut self, m: &Message) {
        let range = m
            .get_parsed::<u64>(Tag::BEGIN_SEQ_NO)
            .and_then(|b| Ok((b, m.get_parsed::<u64>(Tag::END_SEQ_NO)?)));
        match range {
            Ok((begin, end)) => {
                let shared = Arc::clone(&self.shared);
                let mut st = shared.state();
                if let Err(e) = shared.resend(&mut st, begin, end) {
                    self.close_locked(&mut st, e);
                }
            }
            Err(e) => {
                let tag = match &e {
                    FixError::MissingField(t) | FixError::InvalidField { tag: t, .. } => Some(*t),
                    _ => None,
                };
                self.reject(m, reject_reason::REQUIRED_TAG_MISSING, tag, &e.to_string());
            }
        }
    }

    fn peer_logout(&mut self, m: &Message) {
        let text = m.get(Tag::TEXT).map(str::to_owned);
        if !self.shared.state().logout_sent {
            self.send_admin(Message::new(msg_type::LOGOUT));
        }
        self.close(FixError::LoggedOut { text });
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// A logged-on FIX session. Dropping it disconnects without a Logout; call
/// [`Session::logout`] first for a clean end.
///
/// ```no_run
/// use std::time::Duration;
/// use testrig_fix::{FixVersion, Message, SessionConfig, Tag, connect};
///
/// let config = SessionConfig::new(FixVersion::Fix44, "CLIENT", "SERVER");
/// let mut session = connect("127.0.0.1:9878", config)?;
/// session.send(Message::new("D").with(Tag::CL_ORD_ID, "1").with(Tag::SYMBOL, "ACME"))?;
/// let report = session.receive(Duration::from_secs(5))?;
/// assert_eq!(report.msg_type(), Some("8"));
/// session.logout(None, Duration::from_secs(2))?;
/// # Ok::<(), testrig_fix::FixError>(())
/// ```
pub struct Session {
    shared: Arc<Shared>,
    events: Receiver<Event>,
    pending: VecDeque<Message>,
    terminal: Option<FixError>,
    thread: Option<JoinHandle<()>>,
    peer: SocketAddr,
    heartbeat: Duration,
    tls_version: Option<&'static str>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("sender", &self.shared.config.sender_comp_id)
            .field("target", &self.shared.config.target_comp_id)
            .field("peer", &self.peer)
            .field("tls", &self.tls_version)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Logs on as the initiator over a connected stream: sends Logon and
    /// waits up to `config.logon_timeout` for the peer's.
    pub fn initiate(stream: TcpStream, config: SessionConfig) -> Result<Session, FixError> {
        Session::start(Transport::Tcp(stream), config, Role::Initiator)
    }

    /// Logs on as the acceptor over an accepted stream: waits for the
    /// peer's Logon, checks its CompIDs and sequence number, and answers.
    pub fn accept(stream: TcpStream, config: SessionConfig) -> Result<Session, FixError> {
        Session::start(Transport::Tcp(stream), config, Role::Acceptor)
    }

    /// Like [`initiate`](Session::initiate), over TLS: runs the client
    /// handshake on the connected stream, then logs on. The handshake and
    /// the Logon share `config.logon_timeout`.
    #[cfg(feature = "tls")]
    pub fn initiate_tls(
        stream: TcpStream,
        mut config: SessionConfig,
        tls: &TlsConnector,
    ) -> Result<Session, FixError> {
        let started = Instant::now();
        let stream = tls.handshake(stream, config.logon_timeout)?;
        config.logon_timeout = config.logon_timeout.saturating_sub(started.elapsed());
        Session::start(Transport::tls(stream)?, config, Role::Initiator)
    }

    /// Like [`accept`](Session::accept), over TLS: runs the server handshake
    /// on the accepted stream, then waits for the Logon. The handshake and
    /// the Logon share `config.logon_timeout`.
    #[cfg(feature = "tls")]
    pub fn accept_tls(
        stream: TcpStream,
        mut config: SessionConfig,
        tls: &TlsAcceptor,
    ) -> Result<Session, FixError> {
        let started = Instant::now();
        let stream = tls.handshake(stream, config.logon_timeout)?;
        config.logon_timeout = config.logon_timeout.saturating_sub(started.elapsed());
        Session::start(Transport::tls(stream)?, config, Role::Acceptor)
    }

    fn start(
        stream: Transport,
        mut config: SessionConfig,
        role: Role,
    ) -> Result<Session, FixError> {
        let peer = stream.peer_addr()?;
        let tls_version = stream.tls_version();
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(TICK))?;
        // A peer that stops reading must not hang the caller of `send`
        // (and the session thread behind the same lock) forever.
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let mut reader = stream.try_clone()?;
        let mut decoder = Decoder::expecting(config.version);
        if role == Role::Acceptor && config.target_comp_id.is_empty() {
            // Adopt the CompID the peer logs on with.
            config.target_comp_id = peek_sender(&mut reader, &mut decoder, config.logon_timeout)?;
        }
        if config.reset_on_logon {
            config.next_sender_seq = 1;
            config.next_target_seq = 1;
        }
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                writer: stream,
                next_out: config.next_sender_seq,
                next_in: config.next_target_seq,
                sent_app: BTreeMap::new(),
                last_sent: Instant::now(),
                logout_sent: false,
                closed: None,
            }),
            log: MessageLog::default(),
            stop: AtomicBool::new(false),
            config,
        });
        let mut engine = Engine {
            reader,
            decoder,
            shared: Arc::clone(&shared),
            events: tx,
            heartbeat: shared.config.heartbeat_interval,
            last_received: Instant::now(),
            test_request: None,
            test_counter: 0,
            queue: BTreeMap::new(),
            resend_until: None,
            closing_since: None,
        };
        engine.logon(role)?;
        let heartbeat = engine.heartbeat;
        let thread = thread::Builder::new()
            .name(format!("fix-session-{}", shared.config.sender_comp_id))
            .spawn(move || engine.run())?;
        Ok(Session {
            shared,
            events: rx,
            pending: VecDeque::new(),
            terminal: None,
            thread: Some(thread),
            peer,
            heartbeat,
            tls_version,
        })
    }

    /// Sends an application (or admin) message and returns its MsgSeqNum.
    /// The header (8, 9, 49, 56, 34, 52) and trailer (10) are filled in;
    /// 49, 56, 34 and 52 set by the caller are kept, to test a peer's
    /// validation (a caller-set MsgSeqNum does not advance the counter).
    pub fn send(&self, message: Message) -> Result<u64, FixError> {
        let mut st = self.shared.state();
        if message.msg_type() == Some(msg_type::LOGOUT) {
            st.logout_sent = true;
        }
        self.shared.send(&mut st, &message)
    }

    /// Writes bytes as they are, for tests of a peer's handling of garbled
    /// input. Sequence numbers are not touched.
    pub fn send_raw(&self, wire: &[u8]) -> Result<(), FixError> {
        let mut st = self.shared.state();
        if let Some(err) = &st.closed {
            return Err(err.clone());
        }
        self.shared.write_raw(&mut st, wire)
    }

    /// The next application message (or session-level Reject), waiting up
    /// to `timeout`. Once the session has ended, returns why: for example
    /// [`FixError::LoggedOut`] after the peer's Logout.
    pub fn receive(&mut self, timeout: Duration) -> Result<Message, FixError> {
        if let Some(m) = self.pending.pop_front() {
            return Ok(m);
        }
        if let Some(err) = &self.terminal {
            return Err(err.clone());
        }
        match self.events.recv_timeout(timeout) {
            Ok(Event::App(m)) => Ok(m),
            Ok(Event::Closed(err)) => {
                self.terminal = Some(err.clone());
                Err(err)
            }
            Err(RecvTimeoutError::Timeout) => Err(FixError::Timeout {
                waiting_for: "an application message".into(),
                after: timeout,
            }),
            Err(RecvTimeoutError::Disconnected) => {
                let err = self.closed_reason();
                self.terminal = Some(err.clone());
                Err(err)
            }
        }
    }

    /// Sends Logout (with `text` as Text (58)) and waits up to `timeout` for
    /// the peer's Logout, then disconnects. Application messages that
    /// arrive meanwhile are kept for [`receive`](Session::receive). Returns
    /// `Ok` if the peer confirmed, or if the session had already ended with
    /// a Logout exchange.
    pub fn logout(&mut self, text: Option<&str>, timeout: Duration) -> Result<(), FixError> {
        if let Some(err) = &self.terminal {
            return match err {
                FixError::LoggedOut { .. } => Ok(()),
                other => Err(other.clone()),
            };
        }
        let mut logout = Message::new(msg_type::LOGOUT);
        if let Some(text) = text {
            logout.set(Tag::TEXT, text);
        }
        self.send(logout)?;
        let deadline = crate::time::deadline_after(timeout);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::App(m)) => self.pending.push_back(m),
                Ok(Event::Closed(err)) => {
                    self.terminal = Some(err.clone());
                    return match err {
                        FixError::LoggedOut { .. } => Ok(()),
                        other => Err(other),
                    };
                }
                Err(RecvTimeoutError::Timeout) => {
                    let err = FixError::Timeout {
                        waiting_for: "the peer's logout".into(),
                        after: timeout,
                    };
                    let mut st = self.shared.state();
                    self.terminal = Some(self.shared.close(&mut st, err.clone()));
                    return Err(err);
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let err = self.closed_reason();
                    self.terminal = Some(err.clone());
                    return Err(err);
                }
            }
        }
    }

    /// Drops the connection at once, without a Logout, as a crashed peer
    /// would.
    pub fn disconnect(&mut self) {
        self.stop();
        if self.terminal.is_none() {
            self.terminal = Some(self.closed_reason());
        }
    }

    fn stop(&mut self) {
        {
            let mut st = self.shared.state();
            if st.closed.is_none() {
                self.shared
                    .close(&mut st, FixError::disconnected("disconnected by this side"));
            }
            let _ = st.writer.shutdown(Shutdown::Both);
        }
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn closed_reason(&self) -> FixError {
        self.shared
            .state()
            .closed
            .clone()
            .unwrap_or_else(|| FixError::disconnected("session thread ended"))
    }

    /// Whether the session is still logged on.
    pub fn is_active(&self) -> bool {
        self.shared.state().closed.is_none()
    }

    /// MsgSeqNum our next message will carry.
    pub fn next_sender_seq(&self) -> u64 {
        self.shared.state().next_out
    }

    /// MsgSeqNum we expect on the peer's next message.
    pub fn next_target_seq(&self) -> u64 {
        self.shared.state().next_in
    }

    /// The session's configuration (an acceptor's target CompID is the
    /// peer's, if it was left empty).
    pub fn config(&self) -> &SessionConfig {
        &self.shared.config
    }

    /// The heartbeat interval in force (an acceptor takes the initiator's).
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The TLS version the session runs over ("TLSv1.3"), or `None` for
    /// plain TCP.
    pub fn tls_version(&self) -> Option<&'static str> {
        self.tls_version
    }

    /// The log of everything sent and received (a shared handle that stays
    /// valid after the session ends).
    pub fn log(&self) -> &MessageLog {
        &self.shared.log
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads the peer's first message far enough to learn its SenderCompID,
/// leaving it in the decoder for the logon proper.
fn peek_sender(
    reader: &mut Transport,
    decoder: &mut Decoder,
    timeout: Duration,
) -> Result<String, FixError> {
    let deadline = crate::time::deadline_after(timeout);
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    loop {
        let mut probe = Decoder::new();
        probe.feed(&seen);
        if let Ok(Some(m)) = probe.next_message() {
            decoder.feed(&seen);
            return m
                .get(Tag::SENDER_COMP_ID)
                .map(str::to_owned)
                .ok_or(FixError::MissingField(Tag::SENDER_COMP_ID));
        }
        if Instant::now() >= deadline {
            return Err(FixError::Timeout {
                waiting_for: "the peer's logon".into(),
                after: timeout,
            });
        }
        match reader.read(&mut buf) {
            Ok(0) => return Err(FixError::disconnected("peer closed the connection")),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Logs on as the initiator: connects to `addr` and calls
/// [`Session::initiate`].
pub fn connect(addr: impl ToSocketAddrs, config: SessionConfig) -> Result<Session, FixError> {
    let stream = TcpStream::connect(addr)?;
    Session::initiate(stream, config)
}

/// Logs on as the initiator over TLS: connects to `addr`, loads `tls` and
/// calls [`Session::initiate_tls`]. Without a
/// [`server_name`](TlsClientConfig::server_name), the server's certificate
/// must carry the IP address connected to.
#[cfg(feature = "tls")]
pub fn connect_tls(
    addr: impl ToSocketAddrs,
    config: SessionConfig,
    tls: &TlsClientConfig,
) -> Result<Session, FixError> {
    let connector = tls.connector()?;
    let stream = TcpStream::connect(addr)?;
    Session::initiate_tls(stream, config, &connector)
}

/// A listening socket that accepts FIX sessions, one per
/// [`accept`](Acceptor::accept) call, each with its own thread.
///
/// ```no_run
/// use std::time::Duration;
/// use testrig_fix::{Acceptor, FixVersion, Message, SessionConfig, Tag};
///
/// let acceptor = Acceptor::bind("127.0.0.1:0", SessionConfig::new(FixVersion::Fix44, "SERVER", "CLIENT"))?;
/// println!("listening on {}", acceptor.local_addr());
/// let mut session = acceptor.accept_timeout(Duration::from_secs(10))?;
/// let order = session.receive(Duration::from_secs(5))?;
/// session.send(Message::new("8").with(Tag::CL_ORD_ID, order.get(Tag::CL_ORD_ID).unwrap_or("")))?;
/// # Ok::<(), testrig_fix::FixError>(())
/// ```
#[derive(Debug)]
pub struct Acceptor {
    listener: TcpListener,
    config: SessionConfig,
    /// Every connection's handshake, for an acceptor bound with TLS.
    #[cfg(feature = "tls")]
    tls: Option<TlsAcceptor>,
}

impl Acceptor {
    /// Listens on `addr` (port 0 picks a free port; see
    /// [`local_addr`](Acceptor::local_addr)).
    pub fn bind(addr: impl ToSocketAddrs, config: SessionConfig) -> Result<Acceptor, FixError> {
        Ok(Acceptor {
            listener: TcpListener::bind(addr)?,
            config,
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// Like [`bind`](Acceptor::bind), for TLS sessions: the certificate and
    /// key (and client CA) are loaded now, so a bad file fails here; every
    /// accepted connection then starts with a TLS handshake.
    #[cfg(feature = "tls")]
    pub fn bind_tls(
        addr: impl ToSocketAddrs,
        config: SessionConfig,
        tls: &TlsServerConfig,
    ) -> Result<Acceptor, FixError> {
        let tls = tls.acceptor()?;
        Ok(Acceptor {
            listener: TcpListener::bind(addr)?,
            config,
            tls: Some(tls),
        })
    }

    /// Logs on over an accepted connection, with TLS if bound with it.
    fn session(&self, stream: TcpStream) -> Result<Session, FixError> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return Session::accept_tls(stream, self.config.clone(), tls);
        }
        Session::accept(stream, self.config.clone())
    }

    /// The address the acceptor listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has a local address")
    }

    /// Waits for a connection and its Logon.
    pub fn accept(&self) -> Result<Session, FixError> {
        let (stream, _) = self.listener.accept()?;
        self.session(stream)
    }

    /// Like [`accept`](Acceptor::accept), giving up on the connection after
    /// `timeout` (the Logon then has `logon_timeout` more).
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Session, FixError> {
        let deadline = crate::time::deadline_after(timeout);
        self.listener.set_nonblocking(true)?;
        let accepted = loop {
            match self.listener.accept() {
                Ok((stream, _)) => break Ok(stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(10));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    break Err(FixError::Timeout {
                        waiting_for: "a connection".into(),
                        after: timeout,
                    });
                }
                Err(e) => break Err(e.into()),
            }
        };
        self.listener.set_nonblocking(false)?;
        let stream = accepted?;
        stream.set_nonblocking(false)?;
        self.session(stream)
    }
}

#[cfg(test)]
mod tests;

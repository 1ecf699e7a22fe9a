//! Interoperability with an independent FIX engine, QuickFIX/C++.
//!
//! Each test compiles `tests/peer/qf_peer.cpp` (once per run), starts it on
//! a loopback port, and runs a session between it and this crate, in both
//! roles. A session engine tested only against itself can agree with
//! itself on a wrong reading of the protocol; these tests catch that.
//!
//! With the `tls` feature, the same exchanges run over TLS against
//! QuickFIX's own SSL engine (`SSLSocketAcceptor`/`SSLSocketInitiator`),
//! with certificates verified both ways (see `pki/mod.rs`).
//!
//! Needs QuickFIX's headers and library and a C++ compiler:
//! `apt-get install -y libquickfix-dev g++` (Debian 12), and for TLS the
//! `openssl` tool. Without them the tests fail and say so.

#[cfg(feature = "tls")]
mod pki;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use testrig_fix::{
    Acceptor, Direction, FixError, FixVersion, Message, MessageLog, Session, SessionConfig, Tag,
    connect, msg_type,
};
#[cfg(feature = "tls")]
use testrig_fix::{TlsClientConfig, TlsServerConfig, connect_tls};

/// Which transport a test runs over.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Transport {
    Tcp,
    /// TLS with certificates checked both ways.
    #[cfg(feature = "tls")]
    Tls,
}

impl Transport {
    /// The peer's command-line options for this transport, as its role
    /// needs them.
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
    fn peer_args(self, mode: &str) -> Vec<String> {
        match self {
            Transport::Tcp => Vec::new(),
            #[cfg(feature = "tls")]
            Transport::Tls => {
                let path = |name: &str| pki::file(name).display().to_string();
                if mode == "acceptor" {
                    // Presents the server certificate; requires ours,
                    // signed by the test CA.
                    vec![
                        "ssl".into(),
                        format!("cert={}", path("server.pem")),
                        format!("key={}", path("server.key")),
                        format!("ca={}", path("ca.pem")),
                    ]
                } else {
                    // Verifies our server certificate; presents a client
                    // certificate signed by the test CA.
                    vec![
                        "ssl".into(),
                        format!("ca={}", path("server.pem")),
                        format!("cert={}", path("client.pem")),
                        format!("key={}", path("client.key")),
                    ]
                }
            }
        }
    }

    /// Our initiator's side: trusts the peer's self-signed certificate and
    /// presents the client certificate.
    fn connect(self, port: u16, config: SessionConfig) -> Result<Session, FixError> {
        match self {
            Transport::Tcp => connect(("127.0.0.1", port), config),
            #[cfg(feature = "tls")]
            Transport::Tls => {
                let tls = TlsClientConfig::new()
                    .with_ca_file(pki::file("server.pem"))
                    .with_client_cert(pki::file("client.pem"), pki::file("client.key"));
                connect_tls(("127.0.0.1", port), config, &tls)
            }
        }
    }

    /// Our acceptor's side: presents the server certificate and requires a
    /// client certificate signed by the test CA.
    fn bind(self, config: SessionConfig) -> Acceptor {
        match self {
            Transport::Tcp => Acceptor::bind("127.0.0.1:0", config).unwrap(),
            #[cfg(feature = "tls")]
            Transport::Tls => {
                let tls = TlsServerConfig::new(pki::file("server.pem"), pki::file("server.key"))
                    .with_client_ca_file(pki::file("ca.pem"));
                Acceptor::bind_tls("127.0.0.1:0", config, &tls).unwrap()
            }
        }
    }
}

const WAIT: Duration = Duration::from_secs(10);
const INSTALL: &str = "apt-get install -y libquickfix-dev g++";

/// Builds the QuickFIX peer once: per test process, and not again while the binary is newer
/// than its source. Each build goes to a name of its own and is renamed into place, so a
/// test in another process (cargo-nextest runs a process per test) never runs a
/// half-written binary.
fn peer_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        assert!(
            Path::new("/usr/include/quickfix/Session.h").exists(),
            "QuickFIX/C++ is not installed (no /usr/include/quickfix/Session.h); \
             these interoperability tests need it: `{INSTALL}`"
        );
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peer/qf_peer.cpp");
        let binary = Path::new(env!("CARGO_TARGET_TMPDIR")).join("qf_peer");
        let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified(&binary).is_some_and(|built| Some(built) >= modified(&source)) {
            return binary;
        }
        let partial = binary.with_extension(format!("{}.partial", std::process::id()));
        // QuickFIX 1.15's headers use dynamic exception specifications,
        // which C++17 removed: build as C++14.
        let output = Command::new("c++")
            .args(["-std=gnu++14", "-O0", "-w", "-o"])
            .arg(&partial)
            .arg(&source)
            .args(["-lquickfix", "-lpthread"])
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run the C++ compiler `c++` ({e}); install it: `{INSTALL}`")
            });
        assert!(
            output.status.success(),
            "building the QuickFIX peer failed (is QuickFIX installed? `{INSTALL}`):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::rename(&partial, &binary).expect("the QuickFIX peer is moved into place");
        binary
    })
}

/// A running QuickFIX peer process and its event lines.
struct QfPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
    dir: PathBuf,
}

impl QfPeer {
    fn start(
        mode: &str,
        version: FixVersion,
        port: u16,
        sender: &str,
        target: &str,
        extra: &[&str],
    ) -> QfPeer {
        // One directory per peer: parallel tests must not share a store.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("qf-{mode}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new(peer_binary())
            .arg(mode)
            .arg(version.begin_string())
            .arg(port.to_string())
            .args([sender, target])
            .arg(&dir)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the QuickFIX peer");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        QfPeer {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            dir,
        }
    }

    /// Waits for an event line starting with `prefix` and returns it.
    fn wait_for(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "QuickFIX peer: no {prefix:?} line within {WAIT:?}; saw {:?}\n{}",
                    self.seen,
                    self.logs()
                ),
            }
        }
    }

    /// QuickFIX's own message and event logs.
    fn logs(&self) -> String {
        let mut out = String::new();
        for entry in fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".messages.current.log") || name.ends_with(".event.current.log") {
                let text = fs::read_to_string(entry.path()).unwrap_or_default();
                out += &format!("--- quickfix {name}\n{}\n", text.replace('\u{1}', "|"));
            }
        }
        out
    }

    /// Closes the peer's stdin (an acceptor then stops) and waits for it.
    fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "QuickFIX peer did not exit");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for QfPeer {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"quit\n");
        }
        if thread::panicking() {
            eprintln!("{}", self.logs());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Prints our side's message log if the test fails.
struct DumpOnPanic(MessageLog);

impl Drop for DumpOnPanic {
    fn drop(&mut self) {
        if thread::panicking() {
            let mut out = Vec::new();
            let _ = self.0.write_to(&mut out);
            eprintln!("--- testrig-fix log\n{}", String::from_utf8_lossy(&out));
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connects until the peer's acceptor is listening.
fn connect_retrying(port: u16, config: &SessionConfig) -> Session {
    connect_retrying_over(Transport::Tcp, port, config)
}

fn connect_retrying_over(transport: Transport, port: u16, config: &SessionConfig) -> Session {
    let deadline = Instant::now() + WAIT;
    loop {
        match transport.connect(port, config.clone()) {
            Ok(session) => return session,
            Err(FixError::Io(e)) if Instant::now() < deadline => {
                let _ = e;
                thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("logon to QuickFIX failed: {e}"),
        }
    }
}

fn order(id: &str) -> Message {
    Message::new(msg_type::NEW_ORDER_SINGLE)
        .with(Tag::CL_ORD_ID, id)
        .with(Tag::HANDL_INST, "1")
        .with(Tag::SYMBOL, "ACME")
        .with(Tag::SIDE, "1")
        .with(Tag::TRANSACT_TIME, "20240102-03:04:05.000")
        .with(Tag::ORDER_QTY, "100")
        .with(Tag::ORD_TYPE, "2")
        .with(Tag::PRICE, "12.5")
}

/// Our initiator against QuickFIX's acceptor: logon with reset, an order
/// and its execution report, heartbeats both ways, logout.
fn initiator_round_trip(version: FixVersion, transport: Transport) {
    let port = free_port();
    let args = transport.peer_args("acceptor");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut qf = QfPeer::start("acceptor", version, port, "QF", "RIG", &args);
    qf.wait_for("READY");
    let config = SessionConfig::new(version, "RIG", "QF")
        .with_heartbeat_interval(Duration::from_secs(1))
        .with_reset_on_logon(true)
        .with_logon_timeout(WAIT);
    let mut session = connect_retrying_over(transport, port, &config);
    let _dump = DumpOnPanic(session.log().clone());
    assert_eq!(
        session.tls_version().is_some(),
        transport != Transport::Tcp,
        "{transport:?}"
    );
    qf.wait_for("LOGON");
    let logon = &session.log().messages(Direction::Received)[0];
    assert_eq!(logon.msg_type(), Some("A"));
    assert_eq!(logon.get(Tag::RESET_SEQ_NUM_FLAG), Some("Y"));
    assert_eq!(logon.get(Tag::HEART_BT_INT), Some("1"));
    assert_eq!(logon.get(Tag::MSG_SEQ_NUM), Some("1"));

    assert_eq!(session.send(order("RIG-1")).unwrap(), 2);
    assert_eq!(qf.wait_for("ORDER"), "ORDER 2 RIG-1");
    let report = session.receive(WAIT).unwrap();
    assert_eq!(report.msg_type(), Some("8"), "{report}");
    assert_eq!(report.get(Tag::BEGIN_STRING), Some(version.begin_string()));
    assert_eq!(report.get(Tag::CL_ORD_ID), Some("RIG-1"));
    assert_eq!(report.get(Tag::ORD_STATUS), Some("0"));
    assert_eq!(report.get(Tag::MSG_SEQ_NUM), Some("2"));
    assert_eq!(session.next_target_seq(), 3);

    // Idle for over two heartbeat intervals: both sides heartbeat and
    // nobody sends a TestRequest or drops the line.
    thread::sleep(Duration::from_millis(2600));
    assert!(session.is_active());
    let received = session.log().messages(Direction::Received);
    assert!(
        received.iter().any(|m| m.msg_type() == Some("0")),
        "no heartbeat from QuickFIX"
    );
    let sent = session.log().messages(Direction::Sent);
    assert!(
        sent.iter().any(|m| m.msg_type() == Some("0")),
        "we sent no heartbeat"
    );
    assert!(
        !sent.iter().any(|m| m.msg_type() == Some("1")),
        "we sent a test request"
    );
    assert!(
        !received.iter().any(|m| m.msg_type() == Some("3")),
        "QuickFIX rejected something"
    );

    session.logout(Some("done"), WAIT).unwrap();
    qf.wait_for("LOGOUT");
    assert!(qf.finish().success());
}

#[test]
fn our_initiator_to_quickfix_acceptor_fix44() {
    initiator_round_trip(FixVersion::Fix44, Transport::Tcp);
}

#[test]
fn our_initiator_to_quickfix_acceptor_fix42() {
    initiator_round_trip(FixVersion::Fix42, Transport::Tcp);
}

/// Over TLS, against QuickFIX's SSL acceptor, which requires our client
/// certificate while we verify its server certificate.
#[cfg(feature = "tls")]
#[test]
fn our_tls_initiator_to_quickfix_ssl_acceptor_fix44() {
    initiator_round_trip(FixVersion::Fix44, Transport::Tls);
}

#[cfg(feature = "tls")]
#[test]
fn our_tls_initiator_to_quickfix_ssl_acceptor_fix42() {
    initiator_round_trip(FixVersion::Fix42, Transport::Tls);
}

/// QuickFIX's SSL acceptor refuses a TLS client without a certificate, and
/// our initiator refuses QuickFIX's certificate when told to trust another
/// CA: both fail the logon promptly, with the reason, instead of hanging.
///
/// Each case gets a fresh peer: Debian's QuickFIX 1.15.1 `SSLSocketAcceptor`
/// stops accepting connections after one failed handshake (checked with
/// `openssl s_client`: the next connection is never served).
#[cfg(feature = "tls")]
#[test]
fn quickfix_ssl_acceptor_and_our_initiator_check_certificates() {
    let config = SessionConfig::new(FixVersion::Fix44, "RIG", "QF")
        .with_reset_on_logon(true)
        .with_logon_timeout(Duration::from_secs(5));
    // Returns our error once QuickFIX has logged `its_reason`.
    let refused = |tls: TlsClientConfig, its_reason: &str| {
        let port = free_port();
        let args = Transport::Tls.peer_args("acceptor");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut qf = QfPeer::start("acceptor", FixVersion::Fix44, port, "QF", "RIG", &args);
        qf.wait_for("READY");
        let started = Instant::now();
        let error = connect_tls(("127.0.0.1", port), config.clone(), &tls).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "refused only after {:?}: {error}",
            started.elapsed()
        );
        let deadline = Instant::now() + WAIT;
        while !qf.logs().contains(its_reason) {
            assert!(
                Instant::now() < deadline,
                "QuickFIX did not log {its_reason:?}:\n{}",
                qf.logs()
            );
            thread::sleep(Duration::from_millis(20));
        }
        assert!(qf.finish().success());
        error
    };

    // No client certificate: in TLS 1.3 our handshake is over before
    // QuickFIX checks, so its refusal (an alert) ends the logon.
    let error = refused(
        TlsClientConfig::new().with_ca_file(pki::file("server.pem")),
        "SSL failure reason: peer did not return a certificate",
    );
    assert!(
        error.to_string().contains("certificate required"),
        "{error}"
    );

    // A CA that did not sign QuickFIX's certificate.
    let error = refused(
        TlsClientConfig::new()
            .with_ca_file(pki::file("other.pem"))
            .with_client_cert(pki::file("client.pem"), pki::file("client.key")),
        "SSL handshake failed",
    );
    assert!(
        error
            .to_string()
            .contains("the server's certificate was refused (self-signed certificate)"),
        "{error}"
    );
}

/// Sequence-number recovery both ways against QuickFIX:
/// 1. We log on with MsgSeqNum 5 to a peer expecting 1; QuickFIX asks for
///    1..∞ and we answer with a SequenceReset-GapFill.
/// 2. We log on again claiming to have seen only QuickFIX's Logon, so its
///    ExecutionReport is missing; we send a ResendRequest and QuickFIX
///    resends the report as a possible duplicate, which we deliver.
#[test]
fn sequence_gaps_are_recovered_with_quickfix() {
    let port = free_port();
    let mut qf = QfPeer::start(
        "acceptor",
        FixVersion::Fix44,
        port,
        "QF",
        "RIG",
        &["noreset"],
    );
    qf.wait_for("READY");
    let config = SessionConfig::new(FixVersion::Fix44, "RIG", "QF")
        .with_heartbeat_interval(Duration::from_secs(5))
        .with_logon_timeout(WAIT)
        .with_next_seq_nums(5, 1);

    let mut session = connect_retrying(port, &config);
    let dump = DumpOnPanic(session.log().clone());
    qf.wait_for("LOGON");
    // QuickFIX's ResendRequest arrives after its Logon.
    let deadline = Instant::now() + WAIT;
    while !session
        .log()
        .messages(Direction::Sent)
        .iter()
        .any(|m| m.msg_type() == Some("4"))
    {
        assert!(Instant::now() < deadline, "no gap fill sent");
        thread::sleep(Duration::from_millis(20));
    }
    let received = session.log().messages(Direction::Received);
    let request = received
        .iter()
        .find(|m| m.msg_type() == Some("2"))
        .expect("a resend request");
    assert_eq!(request.get(Tag::BEGIN_SEQ_NO), Some("1"));
    let fill = session
        .log()
        .messages(Direction::Sent)
        .into_iter()
        .find(|m| m.msg_type() == Some("4"))
        .unwrap();
    assert_eq!(fill.get(Tag::MSG_SEQ_NUM), Some("1"));
    assert_eq!(fill.get(Tag::NEW_SEQ_NO), Some("6"));
    assert_eq!(fill.get(Tag::GAP_FILL_FLAG), Some("Y"));

    // QuickFIX accepted the gap fill: the order gets through as seq 6.
    assert_eq!(session.send(order("GAP-1")).unwrap(), 6);
    assert_eq!(qf.wait_for("ORDER"), "ORDER 6 GAP-1");
    let report = session.receive(WAIT).unwrap();
    assert_eq!(report.get(Tag::CL_ORD_ID), Some("GAP-1"));
    assert_eq!(report.get(Tag::MSG_SEQ_NUM), Some("3"));
    session.logout(None, WAIT).unwrap();
    qf.wait_for("LOGOUT");
    let ours = session.next_sender_seq();
    drop(dump);
    drop(session);

    // Second logon: we say we saw only up to QuickFIX's 2 (its Logon and
    // ResendRequest), so its ExecutionReport (3) must be resent.
    let config = config.with_next_seq_nums(ours, 3);
    let mut session = connect_retrying(port, &config);
    let _dump = DumpOnPanic(session.log().clone());
    qf.wait_for("LOGON");
    let again = session.receive(WAIT).unwrap();
    assert_eq!(again.msg_type(), Some("8"), "{again}");
    assert_eq!(again.get(Tag::CL_ORD_ID), Some("GAP-1"));
    assert_eq!(again.get(Tag::MSG_SEQ_NUM), Some("3"));
    assert_eq!(again.get(Tag::POSS_DUP_FLAG), Some("Y"));
    assert!(again.contains(Tag::ORIG_SENDING_TIME));
    let sent = session.log().messages(Direction::Sent);
    let request = sent
        .iter()
        .find(|m| m.msg_type() == Some("2"))
        .expect("our resend request");
    assert_eq!(request.get(Tag::BEGIN_SEQ_NO), Some("3"));

    // Back in step: a new order and report go through.
    session.send(order("GAP-2")).unwrap();
    let report = session.receive(WAIT).unwrap();
    assert_eq!(report.get(Tag::CL_ORD_ID), Some("GAP-2"));
    assert_eq!(report.get(Tag::POSS_DUP_FLAG), None);
    assert_eq!(session.next_target_seq(), report.seq_num().unwrap() + 1);
    session.logout(None, WAIT).unwrap();
    assert!(qf.finish().success());
}

/// QuickFIX's initiator against our acceptor: it logs on, sends an order,
/// we answer with an execution report, and it logs out.
#[test]
fn quickfix_initiator_to_our_acceptor() {
    initiator_from_quickfix(Transport::Tcp);
}

/// Over TLS: QuickFIX's SSL initiator verifies our server certificate and
/// presents a client certificate, which our acceptor requires.
#[cfg(feature = "tls")]
#[test]
fn quickfix_ssl_initiator_to_our_tls_acceptor() {
    initiator_from_quickfix(Transport::Tls);
}

fn initiator_from_quickfix(transport: Transport) {
    for version in [FixVersion::Fix42, FixVersion::Fix44] {
        let acceptor = transport.bind(
            SessionConfig::new(version, "RIG", "QFI")
                .with_heartbeat_interval(Duration::from_secs(1)),
        );
        let port = acceptor.local_addr().port();
        let args = transport.peer_args("initiator");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut qf = QfPeer::start("initiator", version, port, "QFI", "RIG", &args);
        let mut session = acceptor.accept_timeout(WAIT).unwrap();
        let _dump = DumpOnPanic(session.log().clone());
        assert_eq!(
            session.tls_version().is_some(),
            transport != Transport::Tcp,
            "{transport:?}"
        );
        qf.wait_for("LOGON");
        assert_eq!(session.heartbeat_interval(), Duration::from_secs(1));

        let order = session.receive(WAIT).unwrap();
        assert_eq!(order.msg_type(), Some("D"), "{order}");
        assert_eq!(order.get(Tag::CL_ORD_ID), Some("QF-ORDER-1"));
        assert_eq!(order.get(Tag::MSG_SEQ_NUM), Some("2"));
        let mut report = Message::new(msg_type::EXECUTION_REPORT)
            .with(Tag::ORDER_ID, "RIG-OID-1")
            .with(Tag::EXEC_ID, "RIG-EXEC-1");
        if version == FixVersion::Fix42 {
            report.set(Tag::EXEC_TRANS_TYPE, "0");
        }
        let report = report
            .with(Tag::EXEC_TYPE, "0")
            .with(Tag::ORD_STATUS, "0")
            .with(Tag::CL_ORD_ID, "QF-ORDER-1")
            .with(Tag::SYMBOL, "QFIX")
            .with(Tag::SIDE, "1")
            .with(Tag::LEAVES_QTY, "100")
            .with(Tag::CUM_QTY, "0")
            .with(Tag::AVG_PX, "0");
        assert_eq!(session.send(report).unwrap(), 2);
        assert_eq!(qf.wait_for("EXEC"), "EXEC 2 QF-ORDER-1 0");

        // QuickFIX logs out once it has the report.
        let err = session.receive(WAIT).unwrap_err();
        assert!(matches!(err, FixError::LoggedOut { .. }), "{err}");
        qf.wait_for("DONE");
        assert!(qf.finish().success());
        assert_eq!(session.next_target_seq(), 4);
    }
}

//! Sessions over TLS (feature `tls`): this crate's initiator and acceptor
//! with certificates made at test time by the `openssl` tool (see
//! `pki/mod.rs`), through the public API only.
//!
//! Every test here fails if TLS is not really in use: the wire is captured
//! and must not show FIX in clear, the session reports its TLS version, and
//! a wrong CA, a wrong name or a plain-TCP peer must fail.

#![cfg(feature = "tls")]

mod pki;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use testrig_fix::{
    Acceptor, Direction, FixError, FixVersion, Message, Session, SessionConfig, Tag,
    TlsClientConfig, TlsServerConfig, connect, connect_tls, msg_type,
};

const WAIT: Duration = Duration::from_secs(10);

fn server_config() -> SessionConfig {
    SessionConfig::new(FixVersion::Fix44, "EXCHANGE", "")
        .with_heartbeat_interval(Duration::from_secs(1))
        .with_logon_timeout(WAIT)
}

fn client_config() -> SessionConfig {
    SessionConfig::new(FixVersion::Fix44, "TRADER", "EXCHANGE")
        .with_heartbeat_interval(Duration::from_secs(1))
        .with_reset_on_logon(true)
        .with_logon_timeout(WAIT)
}

fn server_tls() -> TlsServerConfig {
    TlsServerConfig::new(pki::file("server.pem"), pki::file("server.key"))
}

/// Trusts the self-signed server certificate.
fn client_tls() -> TlsClientConfig {
    TlsClientConfig::new().with_ca_file(pki::file("server.pem"))
}

/// A TLS acceptor and a thread waiting for one session on it.
fn tls_acceptor(tls: &TlsServerConfig) -> (SocketAddr, JoinHandle<Result<Session, FixError>>) {
    let acceptor = Acceptor::bind_tls("127.0.0.1:0", server_config(), tls).unwrap();
    let addr = acceptor.local_addr();
    (addr, thread::spawn(move || acceptor.accept_timeout(WAIT)))
}

fn order(id: &str) -> Message {
    Message::new(msg_type::NEW_ORDER_SINGLE)
        .with(Tag::CL_ORD_ID, id)
        .with(Tag::SYMBOL, "ACME")
        .with(Tag::SIDE, "1")
}

/// A TCP relay in front of `target` that keeps a copy of every byte it
/// passes on, both ways, to show what an eavesdropper would see.
fn wiretap(target: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tap = Arc::clone(&seen);
    thread::spawn(move || {
        let (client, _) = listener.accept().unwrap();
        let server = TcpStream::connect(target).unwrap();
        let pipe = |mut from: TcpStream, mut to: TcpStream, tap: Arc<Mutex<Vec<u8>>>| {
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = from.read(&mut buf) {
                    if n == 0 || to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    tap.lock().unwrap().extend_from_slice(&buf[..n]);
                }
                let _ = to.shutdown(Shutdown::Write);
            })
        };
        let up = pipe(
            client.try_clone().unwrap(),
            server.try_clone().unwrap(),
            Arc::clone(&tap),
        );
        let down = pipe(server, client, tap);
        let _ = up.join();
        let _ = down.join();
    });
    (addr, seen)
}

/// Logon, application messages both ways (many, while the other side is
/// writing too), heartbeats over an idle stretch, and logout, all over TLS.
#[test]
fn tls_session_logs_on_trades_heartbeats_and_logs_out() {
    let (addr, server) = tls_acceptor(&server_tls());
    let (tapped, wire) = wiretap(addr);
    let mut client = connect_tls(tapped, client_config(), &client_tls()).unwrap();
    let mut server = server.join().unwrap().unwrap();
    assert!(
        client.tls_version().is_some_and(|v| v.starts_with("TLS")),
        "{:?}",
        client.tls_version()
    );
    assert_eq!(server.tls_version(), client.tls_version());
    assert_eq!(server.config().target_comp_id, "TRADER");

    // The server answers every order while the client is still sending:
    // both sides write at once, and every message arrives whole and in
    // order.
    const ORDERS: u64 = 200;
    let echo = thread::spawn(move || {
        for i in 0..ORDERS {
            let order = server.receive(WAIT).unwrap();
            assert_eq!(order.get(Tag::CL_ORD_ID), Some(format!("O-{i}").as_str()));
            let report = Message::new(msg_type::EXECUTION_REPORT)
                .with(Tag::CL_ORD_ID, order.get(Tag::CL_ORD_ID).unwrap())
                .with(Tag::ORD_STATUS, "0");
            server.send(report).unwrap();
        }
        server
    });
    for i in 0..ORDERS {
        assert_eq!(client.send(order(&format!("O-{i}"))).unwrap(), i + 2);
    }
    for i in 0..ORDERS {
        let report = client.receive(WAIT).unwrap();
        assert_eq!(report.msg_type(), Some("8"));
        assert_eq!(report.get(Tag::CL_ORD_ID), Some(format!("O-{i}").as_str()));
        assert_eq!(report.seq_num(), Some(i + 2));
    }
    let mut server = echo.join().unwrap();

    // Idle for over two heartbeat intervals: heartbeats both ways, no test
    // request, nobody drops the line.
    assert!(matches!(
        client.receive(Duration::from_millis(2600)),
        Err(FixError::Timeout { .. })
    ));
    assert!(client.is_active() && server.is_active());
    for (side, session) in [("client", &client), ("server", &server)] {
        let received = session.log().messages(Direction::Received);
        assert!(
            received.iter().any(|m| m.msg_type() == Some("0")),
            "the {side} received no heartbeat"
        );
        assert!(
            !received.iter().any(|m| m.msg_type() == Some("1")),
            "the {side} received a test request"
        );
    }

    client.logout(Some("bye"), WAIT).unwrap();
    assert!(matches!(
        server.receive(WAIT),
        Err(FixError::LoggedOut { text: Some(ref text) }) if text == "bye"
    ));
    assert!(!client.is_active());

    // What went over the wire was not FIX in clear.
    let wire = wire.lock().unwrap().clone();
    assert!(wire.len() > 10_000, "only {} bytes captured", wire.len());
    for clear in [&b"8=FIX.4.4"[..], b"35=D", b"O-199", b"EXCHANGE"] {
        assert!(
            !wire.windows(clear.len()).any(|w| w == clear),
            "{:?} went over the wire in clear",
            String::from_utf8_lossy(clear)
        );
    }
}

/// A CA that did not sign the server's certificate, or a name the
/// certificate does not carry, fails the connect with a clear error; the
/// acceptor's side fails too, without hanging. Turning verification off
/// explicitly connects all the same.
#[test]
fn the_server_certificate_is_verified() {
    let wrong_ca = TlsClientConfig::new().with_ca_file(pki::file("other.pem"));
    let (addr, server) = tls_acceptor(&server_tls());
    let started = Instant::now();
    let error = connect_tls(addr, client_config(), &wrong_ca).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, FixError::TlsHandshake { .. }), "{text}");
    assert!(
        text.starts_with(&format!(
            "the TLS handshake with {addr} failed: the server's certificate was refused ("
        )),
        "{text}"
    );
    assert!(text.contains("other.pem"), "names the CA file: {text}");
    assert!(
        text.contains("give the CA certificate that signed it"),
        "{text}"
    );
    let server_error = server.join().unwrap().unwrap_err();
    assert!(
        matches!(server_error, FixError::TlsHandshake { .. }),
        "{server_error}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // The right CA, a name the certificate does not carry.
    let (addr, server) = tls_acceptor(&server_tls());
    let error = connect_tls(
        addr,
        client_config(),
        &client_tls().with_server_name("fix.example.test"),
    )
    .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("hostname mismatch"), "{text}");
    assert!(text.contains("`fix.example.test`"), "{text}");
    assert!(server.join().unwrap().is_err());

    // The name it does carry.
    let (addr, server) = tls_acceptor(&server_tls());
    let mut client = connect_tls(
        addr,
        client_config(),
        &client_tls().with_server_name("localhost"),
    )
    .unwrap();
    let mut server = server.join().unwrap().unwrap();
    client.send(order("by-name")).unwrap();
    assert_eq!(
        server.receive(WAIT).unwrap().get(Tag::CL_ORD_ID),
        Some("by-name")
    );
    client.logout(None, WAIT).unwrap();

    // No verification, explicitly: the wrong CA no longer matters.
    let (addr, server) = tls_acceptor(&server_tls());
    let mut client = connect_tls(addr, client_config(), &wrong_ca.insecure()).unwrap();
    let mut server = server.join().unwrap().unwrap();
    server.send(order("unverified")).unwrap();
    assert_eq!(
        client.receive(WAIT).unwrap().get(Tag::CL_ORD_ID),
        Some("unverified")
    );
    server.logout(None, WAIT).unwrap();
}

/// A plain-TCP client against a TLS acceptor, and a TLS client against a
/// plain acceptor, fail promptly on both sides instead of hanging.
#[test]
fn tls_and_plain_tcp_do_not_mix() {
    let (addr, server) = tls_acceptor(&server_tls());
    let started = Instant::now();
    let error = connect(addr, client_config()).unwrap_err();
    assert!(
        matches!(error, FixError::Disconnected { .. } | FixError::Io(_)),
        "{error}"
    );
    let server_error = server.join().unwrap().unwrap_err();
    let text = server_error.to_string();
    assert!(
        matches!(server_error, FixError::TlsHandshake { .. }),
        "{text}"
    );
    assert!(
        text.contains("does the client connect with TLS"),
        "says what to check: {text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );

    // The other way round, the plain acceptor never answers the
    // ClientHello: the handshake ends at the client's logon timeout.
    let acceptor = Acceptor::bind(
        "127.0.0.1:0",
        server_config().with_logon_timeout(Duration::from_secs(1)),
    )
    .unwrap();
    let addr = acceptor.local_addr();
    let server = thread::spawn(move || acceptor.accept_timeout(WAIT));
    let started = Instant::now();
    let error = connect_tls(
        addr,
        client_config().with_logon_timeout(Duration::from_millis(500)),
        &client_tls(),
    )
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(&error, FixError::Timeout { waiting_for, .. } if waiting_for.starts_with("the TLS handshake")),
        "{error}"
    );
    assert!(server.join().unwrap().is_err());
}

/// An acceptor with a client CA requires a client certificate signed by it.
#[test]
fn client_certificates_are_required_when_the_server_has_a_client_ca() {
    let tls = server_tls().with_client_ca_file(pki::file("ca.pem"));
    let with_cert = client_tls().with_client_cert(pki::file("client.pem"), pki::file("client.key"));
    let (addr, server) = tls_acceptor(&tls);
    let mut client = connect_tls(addr, client_config(), &with_cert).unwrap();
    let mut server = server.join().unwrap().unwrap();
    client.send(order("mutual")).unwrap();
    assert_eq!(
        server.receive(WAIT).unwrap().get(Tag::CL_ORD_ID),
        Some("mutual")
    );
    client.logout(None, WAIT).unwrap();

    // Without a certificate. In TLS 1.3 the client's handshake is done
    // before the server checks, so the refusal shows up as the server
    // closing the connection instead of answering the Logon.
    let (addr, server) = tls_acceptor(&tls);
    let started = Instant::now();
    assert!(connect_tls(addr, client_config(), &client_tls()).is_err());
    let text = server.join().unwrap().unwrap_err().to_string();
    assert!(text.contains("ca.pem"), "names the client CA: {text}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // With a certificate from another CA.
    let wrong = client_tls().with_client_cert(pki::file("other.pem"), pki::file("other.key"));
    let (addr, server) = tls_acceptor(&tls);
    assert!(connect_tls(addr, client_config(), &wrong).is_err());
    let text = server.join().unwrap().unwrap_err().to_string();
    assert!(
        text.contains("the client's certificate was refused"),
        "{text}"
    );
}

/// Missing and mismatched files are reported when the TLS settings are
/// loaded, with the file named and what to give instead.
#[test]
fn bad_certificate_files_are_named() {
    let missing = pki::dir().join("missing.pem");
    let error = Acceptor::bind_tls(
        "127.0.0.1:0",
        server_config(),
        &TlsServerConfig::new(&missing, pki::file("server.key")),
    )
    .unwrap_err();
    assert!(matches!(error, FixError::TlsSetup { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "failed to load the TLS certificate `{}`: no such file or directory; give a PEM file with the server's certificate (`-----BEGIN CERTIFICATE-----`), optionally followed by its chain",
            missing.display()
        )
    );

    // A key that belongs to another certificate.
    let error = TlsServerConfig::new(pki::file("server.pem"), pki::file("other.key"))
        .acceptor()
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!(
            "the TLS key `{}` does not belong to the certificate `{}`",
            pki::file("other.key").display(),
            pki::file("server.pem").display()
        )),
        "{error}"
    );

    // A CA file that is not PEM (a key file is not a certificate).
    let error = TlsClientConfig::new()
        .with_ca_file(pki::file("client.csr"))
        .connector()
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!(
            "failed to load the CA file `{}`: ",
            pki::file("client.csr").display()
        )),
        "{error}"
    );
    assert!(
        error.contains("; give a PEM file with the certificate of the CA"),
        "{error}"
    );

    let error = TlsClientConfig::new()
        .with_client_cert(pki::file("client.pem"), &missing)
        .connector()
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!(
            "failed to load the TLS key `{}`",
            missing.display()
        )),
        "{error}"
    );
}

//! This crate's acceptor and initiator talking to each other over loopback,
//! through the public API only.

use std::thread;
use std::time::Duration;

use testrig_fix::{
    Acceptor, Direction, FixError, FixVersion, Message, SessionConfig, Tag, connect, msg_type,
};

const WAIT: Duration = Duration::from_secs(5);

fn server_config() -> SessionConfig {
    // An empty target: accept any client CompID.
    SessionConfig::new(FixVersion::Fix44, "EXCHANGE", "")
        .with_heartbeat_interval(Duration::from_millis(200))
        .with_logon_timeout(WAIT)
}

#[test]
fn two_clients_trade_with_one_acceptor() {
    let acceptor = Acceptor::bind("127.0.0.1:0", server_config()).unwrap();
    let addr = acceptor.local_addr();
    let server = thread::spawn(move || {
        for _ in 0..2 {
            let mut session = acceptor.accept_timeout(WAIT).unwrap();
            thread::spawn(move || {
                // Echo each order as a fill until the client logs out.
                loop {
                    match session.receive(WAIT) {
                        Ok(order) => {
                            let report = Message::new(msg_type::EXECUTION_REPORT)
                                .with(Tag::CL_ORD_ID, order.get(Tag::CL_ORD_ID).unwrap())
                                .with(Tag::EXEC_TYPE, "F")
                                .with(Tag::ORD_STATUS, "2")
                                .with(Tag::TEXT, session.config().target_comp_id.clone());
                            session.send(report).unwrap();
                        }
                        Err(FixError::LoggedOut { .. }) => return session,
                        Err(e) => panic!("server: {e}"),
                    }
                }
            });
        }
    });

    let clients: Vec<_> = ["ALICE", "BOB"]
        .into_iter()
        .map(|name| {
            thread::spawn(move || {
                let config = SessionConfig::new(FixVersion::Fix44, name, "EXCHANGE")
                    .with_heartbeat_interval(Duration::from_millis(200))
                    .with_reset_on_logon(true);
                let mut session = connect(addr, config).unwrap();
                for i in 0..3 {
                    let id = format!("{name}-{i}");
                    let seq = session
                        .send(Message::new("D").with(Tag::CL_ORD_ID, id.as_str()))
                        .unwrap();
                    assert_eq!(seq, i + 2);
                    let report = session.receive(WAIT).unwrap();
                    assert_eq!(report.get(Tag::CL_ORD_ID), Some(id.as_str()));
                    assert_eq!(
                        report.get(Tag::TEXT),
                        Some(name),
                        "the server knows who we are"
                    );
                    assert_eq!(report.seq_num(), Some(i + 2));
                }
                // Long enough for heartbeats; nothing else reaches receive().
                assert!(matches!(
                    session.receive(Duration::from_millis(700)),
                    Err(FixError::Timeout { .. })
                ));
                session.logout(Some("bye"), WAIT).unwrap();
                session
            })
        })
        .collect();
    for client in clients {
        let session = client.join().unwrap();
        let received = session.log().messages(Direction::Received);
        assert!(
            received.iter().any(|m| m.msg_type() == Some("0")),
            "heartbeats"
        );
        assert!(
            !received.iter().any(|m| m.msg_type() == Some("1")),
            "no test requests"
        );
        // Logon, 3 orders, at least one heartbeat, logout.
        assert!(session.next_sender_seq() >= 7);
    }
    server.join().unwrap();
}

#[test]
fn version_mismatch_and_message_log() {
    // Version mismatch: the FIX.4.2 logon is dropped as garbled and the
    // acceptor times out waiting for a logon it can read.
    let err = {
        let config = server_config().with_logon_timeout(Duration::from_millis(300));
        let acceptor = Acceptor::bind("127.0.0.1:0", config).unwrap();
        let addr = acceptor.local_addr();
        let c = thread::spawn(move || {
            connect(
                addr,
                SessionConfig::new(FixVersion::Fix42, "C", "EXCHANGE")
                    .with_logon_timeout(Duration::from_millis(600)),
            )
        });
        let err = acceptor.accept_timeout(WAIT).unwrap_err();
        assert!(c.join().unwrap().is_err());
        err
    };
    assert!(matches!(err, FixError::Timeout { .. }), "{err}");

    // Same version on both sides works, and the log renders.
    let server_config = SessionConfig::new(FixVersion::Fix42, "EXCHANGE", "C");
    let acceptor2 = Acceptor::bind("127.0.0.1:0", server_config).unwrap();
    let addr2 = acceptor2.local_addr();
    let c = thread::spawn(move || {
        connect(
            addr2,
            SessionConfig::new(FixVersion::Fix42, "C", "EXCHANGE"),
        )
    });
    let mut server = acceptor2.accept_timeout(WAIT).unwrap();
    let mut client = c.join().unwrap().unwrap();
    client
        .send(Message::new("D").with(Tag::SYMBOL, "X"))
        .unwrap();
    assert_eq!(server.receive(WAIT).unwrap().get(Tag::SYMBOL), Some("X"));
    server.logout(None, WAIT).unwrap();
    assert!(matches!(
        client.receive(WAIT),
        Err(FixError::LoggedOut { text: None })
    ));

    let mut out = Vec::new();
    client.log().write_to(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains(" >> 8=FIX.4.2|9="), "{text}");
    assert!(lines[0].contains("|35=A|"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" << ") && l.contains("|35=5|")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("|35=D|") && l.contains("|55=X|")),
        "{text}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .contains("-- # session closed: session logged out"),
        "{text}"
    );
}

//! Session tests against a scripted peer: a plain socket that writes
//! hand-made messages, so each test controls exactly what our engine sees.

use super::*;
use std::io::Read;
use std::net::TcpListener;

const WAIT: Duration = Duration::from_secs(5);

/// The far side of a session, driven by hand.
struct RawPeer {
    stream: TcpStream,
    decoder: Decoder,
    next_seq: u64,
}

impl RawPeer {
    /// Sends `fields` (pipe form, without the header), adding SERVER→CLIENT
    /// CompIDs, SendingTime and the next MsgSeqNum unless 34 is given.
    fn send(&mut self, fields: &str) {
        let mut m: Message = fields.parse().unwrap();
        if !m.contains(Tag::MSG_SEQ_NUM) {
            m.set(Tag::MSG_SEQ_NUM, self.next_seq.to_string());
            self.next_seq += 1;
        }
        m.set(Tag::SENDER_COMP_ID, "SERVER");
        m.set(Tag::TARGET_COMP_ID, "CLIENT");
        if !m.contains(Tag::SENDING_TIME) {
            m.set(Tag::SENDING_TIME, utc_timestamp(SystemTime::now()));
        }
        self.stream
            .write_all(&encode(FixVersion::Fix44, &m))
            .unwrap();
    }

    /// The next message from our engine, or `None` on EOF.
    fn recv(&mut self, timeout: Duration) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(m) = self.decoder.next_message().unwrap() {
                return Some(m);
            }
            assert!(
                Instant::now() < deadline,
                "peer: nothing received within {timeout:?}"
            );
            self.stream.set_read_timeout(Some(TICK)).unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.decoder.feed(&buf[..n]),
                Err(e) if is_timeout(&e) => {}
                Err(_) => return None,
            }
        }
    }

    /// The next message of type `kind`, skipping heartbeats.
    fn expect(&mut self, kind: &str) -> Message {
        loop {
            let m = self
                .recv(WAIT)
                .unwrap_or_else(|| panic!("peer: EOF while waiting for 35={kind}"));
            if m.msg_type() == Some(kind) {
                return m;
            }
            assert_eq!(m.msg_type(), Some("0"), "peer: expected 35={kind}, got {m}");
        }
    }
}

fn client_config() -> SessionConfig {
    SessionConfig::new(FixVersion::Fix44, "CLIENT", "SERVER")
        .with_heartbeat_interval(Duration::from_secs(30))
        .with_logon_timeout(WAIT)
}

/// Our initiator logged on to a scripted acceptor, which answers with a
/// Logon of its own (fields `logon_extra` added).
fn logged_on(config: SessionConfig, logon_extra: &str) -> (Session, RawPeer) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = thread::spawn(move || connect(addr, config));
    let (stream, _) = listener.accept().unwrap();
    let mut peer = RawPeer {
        stream,
        decoder: Decoder::new(),
        next_seq: 1,
    };
    let logon = peer.expect("A");
    assert_eq!(logon.get(Tag::ENCRYPT_METHOD), Some("0"));
    peer.send(&format!("35=A|98=0|108=30{logon_extra}"));
    let session = client.join().unwrap().expect("logon");
    (session, peer)
}

#[test]
fn logon_fills_header_and_counts_sequence_numbers() {
    let (mut session, mut peer) = logged_on(client_config().with_reset_on_logon(true), "|141=Y");
    let sent = session.log().messages(Direction::Sent);
    let logon = &sent[0];
    assert_eq!(logon.get(Tag::RESET_SEQ_NUM_FLAG), Some("Y"));
    assert_eq!(logon.get(Tag::HEART_BT_INT), Some("30"));
    assert_eq!(logon.get(Tag::MSG_SEQ_NUM), Some("1"));
    assert_eq!(session.next_sender_seq(), 2);
    assert_eq!(session.next_target_seq(), 2);

    let seq = session
        .send(Message::new("D").with(Tag::CL_ORD_ID, "O1"))
        .unwrap();
    assert_eq!(seq, 2);
    let order = peer.expect("D");
    for (tag, value) in [
        (8, "FIX.4.4"),
        (49, "CLIENT"),
        (56, "SERVER"),
        (34, "2"),
        (11, "O1"),
    ] {
        assert_eq!(order.get(Tag(tag)), Some(value), "tag {tag} in {order}");
    }
    assert_eq!(order.get(Tag::SENDING_TIME).map(str::len), Some(21));

    peer.send("35=8|11=O1|39=0");
    let report = session.receive(WAIT).unwrap();
    assert_eq!(report.get(Tag::CL_ORD_ID), Some("O1"));
    assert_eq!(session.next_target_seq(), 3);
    assert!(matches!(
        session.receive(Duration::from_millis(50)),
        Err(FixError::Timeout { .. })
    ));
}

#[test]
fn messages_arriving_with_the_logon_are_not_held_back() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = thread::spawn(move || connect(addr, client_config()));
    let (stream, _) = listener.accept().unwrap();
    let mut peer = RawPeer {
        stream,
        decoder: Decoder::new(),
        next_seq: 1,
    };
    peer.expect("A");
    // Logon and an order in one write, as one TCP segment.
    let mut both = Vec::new();
    for (seq, body) in [(1, "35=A|98=0|108=30"), (2, "35=8|11=EARLY")] {
        let m: Message = format!("{body}|49=SERVER|56=CLIENT|34={seq}|52=20240102-03:04:05")
            .parse()
            .unwrap();
        both.extend(encode(FixVersion::Fix44, &m));
    }
    peer.stream.write_all(&both).unwrap();
    let mut session = client.join().unwrap().unwrap();
    let early = session.receive(Duration::from_millis(500)).unwrap();
    assert_eq!(early.get(Tag::CL_ORD_ID), Some("EARLY"));
}

#[test]
fn gap_sends_resend_request_and_waits_for_the_gap_fill() {
    let (mut session, mut peer) = logged_on(client_config(), "");
    peer.send("35=8|34=4|11=FOUR");
    let request = peer.expect("2");
    assert_eq!(request.get(Tag::BEGIN_SEQ_NO), Some("2"));
    assert_eq!(request.get(Tag::END_SEQ_NO), Some("0"));
    // Held back until the gap is filled.
    assert!(session.receive(Duration::from_millis(100)).is_err());
    assert_eq!(session.next_target_seq(), 2);

    peer.send("35=8|34=2|43=Y|122=20240101-00:00:00|11=TWO");
    peer.send("35=4|34=3|43=Y|123=Y|36=4");
    assert_eq!(
        session.receive(WAIT).unwrap().get(Tag::CL_ORD_ID),
        Some("TWO")
    );
    assert_eq!(
        session.receive(WAIT).unwrap().get(Tag::CL_ORD_ID),
        Some("FOUR")
    );
    assert_eq!(session.next_target_seq(), 5);
    // A possible duplicate of something already seen is dropped quietly.
    peer.send("35=8|34=4|43=Y|122=20240101-00:00:00|11=FOUR");
    peer.send("35=8|34=5|11=FIVE");
    assert_eq!(
        session.receive(WAIT).unwrap().get(Tag::CL_ORD_ID),
        Some("FIVE")
    );
    assert!(session.is_active());
}

#[test]
fn resend_request_is_answered_with_gap_fill_and_possible_duplicates() {
    let (session, mut peer) = logged_on(client_config(), "");
    session
        .send(Message::new("D").with(Tag::CL_ORD_ID, "A"))
        .unwrap(); // 2
    session.send(Message::new(msg_type::HEARTBEAT)).unwrap(); // 3 (admin)
    session
        .send(Message::new("D").with(Tag::CL_ORD_ID, "B"))
        .unwrap(); // 4
    let first_a = peer.expect("D");
    peer.expect("D");
    peer.send("35=2|7=1|16=0");

    let fill = peer.expect("4");
    assert_eq!(fill.get(Tag::MSG_SEQ_NUM), Some("1"));
    assert_eq!(fill.get(Tag::GAP_FILL_FLAG), Some("Y"));
    assert_eq!(fill.get(Tag::POSS_DUP_FLAG), Some("Y"));
    assert_eq!(fill.get(Tag::NEW_SEQ_NO), Some("2"));
    let a = peer.expect("D");
    assert_eq!(a.get(Tag::MSG_SEQ_NUM), Some("2"));
    assert_eq!(a.get(Tag::POSS_DUP_FLAG), Some("Y"));
    assert_eq!(
        a.get(Tag::ORIG_SENDING_TIME),
        first_a.get(Tag::SENDING_TIME)
    );
    let fill = peer.expect("4");
    assert_eq!(fill.get(Tag::MSG_SEQ_NUM), Some("3"));
    assert_eq!(fill.get(Tag::NEW_SEQ_NO), Some("4"));
    let b = peer.expect("D");
    assert_eq!(
        (b.get(Tag::MSG_SEQ_NUM), b.get(Tag::CL_ORD_ID)),
        (Some("4"), Some("B"))
    );
    // Resending does not use new sequence numbers.
    assert_eq!(session.next_sender_seq(), 5);
}

#[test]
fn idle_session_sends_heartbeat_then_test_request_then_disconnects() {
    let config = client_config().with_heartbeat_interval(Duration::from_millis(300));
    let (mut session, mut peer) = logged_on(config, "");
    // The peer's TestRequest is answered with its TestReqID.
    peer.send("35=1|112=PING");
    let answer = peer.recv(WAIT).unwrap();
    assert_eq!(
        (answer.msg_type(), answer.get(Tag::TEST_REQ_ID)),
        (Some("0"), Some("PING"))
    );

    let started = Instant::now();
    let heartbeat = peer.recv(WAIT).unwrap();
    assert_eq!(heartbeat.msg_type(), Some("0"), "{heartbeat}");
    assert_eq!(heartbeat.get(Tag::TEST_REQ_ID), None);
    let test = loop {
        let m = peer.recv(WAIT).unwrap();
        if m.msg_type() != Some("0") {
            break m;
        }
    };
    assert_eq!(test.msg_type(), Some("1"));
    assert_eq!(test.get(Tag::TEST_REQ_ID), Some("TEST-1"));
    // Still silent: the session gives up and closes the connection.
    while peer.recv(WAIT).is_some() {}
    assert!(started.elapsed() < Duration::from_secs(3));
    let err = session.receive(WAIT).unwrap_err();
    assert_eq!(
        err.to_string(),
        "disconnected: no answer to test request TEST-1 within 300ms"
    );
    assert!(!session.is_active());
}

#[test]
fn too_low_sequence_number_logs_out() {
    let (mut session, mut peer) = logged_on(client_config(), "");
    peer.send("35=8|11=X"); // 2
    session.receive(WAIT).unwrap();
    peer.send("35=8|34=2|11=X");
    let logout = peer.expect("5");
    assert_eq!(
        logout.get(Tag::TEXT),
        Some("MsgSeqNum too low, expecting 3 but received 2")
    );
    let err = session.receive(WAIT).unwrap_err();
    assert!(
        matches!(
            err,
            FixError::SequenceTooLow {
                expected: 3,
                received: 2
            }
        ),
        "{err}"
    );
}

#[test]
fn empty_field_is_rejected_and_counted() {
    let (mut session, mut peer) = logged_on(client_config(), "");
    peer.send("35=8|11=|55=X");
    let reject = peer.expect("3");
    assert_eq!(reject.get(Tag::REF_SEQ_NUM), Some("2"));
    assert_eq!(reject.get(Tag::REF_TAG_ID), Some("11"));
    assert_eq!(reject.get(Tag::SESSION_REJECT_REASON), Some("4"));
    assert_eq!(session.next_target_seq(), 3);
    // A Reject from the peer reaches the application.
    peer.send("35=3|45=2|58=bad");
    assert_eq!(session.receive(WAIT).unwrap().msg_type(), Some("3"));
}

#[test]
fn garbled_input_is_logged_and_ignored() {
    let (mut session, mut peer) = logged_on(client_config(), "");
    peer.stream
        .write_all(b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01")
        .unwrap();
    peer.send("35=8|11=OK");
    assert_eq!(
        session.receive(WAIT).unwrap().get(Tag::CL_ORD_ID),
        Some("OK")
    );
    let notes: Vec<String> = session
        .log()
        .entries()
        .iter()
        .filter_map(|e| e.note.clone())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("checksum 000 does not match the computed 163")),
        "{notes:?}"
    );
}

#[test]
fn logout_either_way() {
    // Ours, confirmed by the peer.
    let (mut session, mut peer) = logged_on(client_config(), "");
    let answer = thread::spawn(move || {
        let logout = peer.expect("5");
        peer.send("35=5");
        logout
    });
    session.logout(Some("bye"), WAIT).unwrap();
    assert_eq!(answer.join().unwrap().get(Tag::TEXT), Some("bye"));
    assert!(!session.is_active());
    assert!(session.send(Message::new("D")).is_err());

    // The peer's, answered by us.
    let (mut session, mut peer) = logged_on(client_config(), "");
    peer.send("35=5|58=closing time");
    peer.expect("5");
    let err = session.receive(WAIT).unwrap_err();
    assert_eq!(err.to_string(), "session logged out: closing time");
    assert!(session.logout(None, WAIT).is_ok());

    // Unanswered: a timeout, and the connection is dropped.
    let (mut session, _peer) = logged_on(client_config(), "");
    let err = session
        .logout(None, Duration::from_millis(200))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "timed out after 200ms waiting for the peer's logout"
    );
}

#[test]
fn logon_refused_or_missing() {
    // The acceptor answers our Logon with a Logout.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = thread::spawn(move || connect(addr, client_config()));
    let (stream, _) = listener.accept().unwrap();
    let mut peer = RawPeer {
        stream,
        decoder: Decoder::new(),
        next_seq: 1,
    };
    peer.expect("A");
    peer.send("35=5|58=unknown comp id");
    let err = client.join().unwrap().unwrap_err();
    assert_eq!(err.to_string(), "logon refused: unknown comp id");

    // No answer at all.
    let config = client_config().with_logon_timeout(Duration::from_millis(200));
    let client = thread::spawn(move || connect(addr, config));
    let _quiet = listener.accept().unwrap();
    let err = client.join().unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        "timed out after 200ms waiting for the logon response"
    );
}

#[test]
fn acceptor_checks_comp_ids_and_adopts_heartbeat() {
    let config = SessionConfig::new(FixVersion::Fix44, "SERVER", "CLIENT")
        .with_heartbeat_interval(Duration::from_millis(400));
    let acceptor = Acceptor::bind("127.0.0.1:0", config).unwrap();
    let addr = acceptor.local_addr();

    // A stranger is refused with a Logout that says why.
    let stranger = thread::spawn(move || {
        connect(
            addr,
            SessionConfig::new(FixVersion::Fix44, "STRANGER", "SERVER").with_logon_timeout(WAIT),
        )
    });
    let err = acceptor.accept_timeout(WAIT).unwrap_err();
    assert_eq!(
        err.to_string(),
        "logon refused: SenderCompID \"STRANGER\" is not the expected \"CLIENT\""
    );
    let err = stranger.join().unwrap().unwrap_err();
    assert!(
        err.to_string().starts_with("logon refused: SenderCompID"),
        "{err}"
    );

    // The expected client, with HeartBtInt=7.
    let client = thread::spawn(move || {
        connect(
            addr,
            client_config().with_heartbeat_interval(Duration::from_secs(7)),
        )
    });
    let server = acceptor.accept_timeout(WAIT).unwrap();
    let client = client.join().unwrap().unwrap();
    assert_eq!(server.heartbeat_interval(), Duration::from_secs(7));
    assert_eq!(server.config().target_comp_id, "CLIENT");
    assert_eq!(client.next_target_seq(), 2);
    assert!(matches!(
        acceptor.accept_timeout(Duration::from_millis(50)),
        Err(FixError::Timeout { .. })
    ));
}

//! The interactive run queue keeps its word over real HTTP: environment start and stop
//! requests coalesce (one pending per test, shown as pending, dropped by cancel), and the
//! plan node's runtime status returns to finished when the last run ends, in the API and
//! in the pushed updates.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::interactive::Server;
use crate::reload::wait_until;

const RUN: &str = r#"{"runtime_status":"running"}"#;
const TEST: &str = "/api/v1/interactive/nodes/EchoTest";

/// The pushed updates, read on a thread of their own; returns once the stream's snapshot
/// arrived, so that every later change is pushed as an update.
fn updates(server: &Server) -> std::sync::mpsc::Receiver<Value> {
    let mut stream = TcpStream::connect(&server.address).unwrap();
    write!(
        stream,
        "GET /api/v1/interactive/events HTTP/1.1\r\nHost: {}\r\nX-Testrig-Token: {}\r\n\r\n",
        server.address,
        server.token.as_deref().unwrap_or_default()
    )
    .unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    let (subscribed, snapshot) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut kind = String::new();
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if let Some(name) = line.strip_prefix("event: ") {
                kind = name.to_string();
            } else if line.starts_with("data: ") && kind == "snapshot" {
                let _ = subscribed.send(());
            } else if let Some(data) = line.strip_prefix("data: ")
                && kind == "update"
                && sender.send(serde_json::from_str(data).unwrap()).is_err()
            {
                return;
            }
        }
    });
    snapshot
        .recv_timeout(Duration::from_secs(15))
        .expect("the event stream sent its snapshot");
    receiver
}

/// Waits for an update whose event satisfies `wanted`.
fn pushed(updates: &std::sync::mpsc::Receiver<Value>, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let update = updates
            .recv_timeout(left)
            .expect("the update was pushed in time");
        if wanted(&update["event"]) {
            return update["event"].clone();
        }
    }
}

fn plan_status(event: &Value) -> Option<&str> {
    (event["event"] == "runtime_status" && event["uid"] == "interactive")
        .then(|| event["runtime_status"].as_str())
        .flatten()
}

#[test]
fn environment_requests_coalesce_cancel_drops_them_and_the_plan_finishes() {
    let server = Server::start("run-queue-env", &[]);
    let updates = updates(&server);
    let (status, body) = server.send("PUT", &format!("{TEST}/Echo/slow"), RUN);
    assert_eq!(status, 202, "{body}");
    wait_until(&server, "EchoTest/Echo/slow", |node| {
        node["runtime_status"] == "running"
    });
    assert_eq!(
        plan_status(&pushed(&updates, |event| plan_status(event).is_some())),
        Some("running")
    );
    // The run starts the environment after the testcase shows as running; the requests
    // below are about an environment that is up.
    wait_until(&server, "EchoTest", |node| node["env_status"] == "started");

    // Forty stop requests while the test runs: one is queued, the others refused.
    let statuses: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let requests: Vec<_> = (0..40)
            .map(|_| scope.spawn(|| server.send("PUT", TEST, r#"{"env_status":"stopped"}"#)))
            .collect();
        requests
            .into_iter()
            .map(|request| request.join().unwrap())
            .collect()
    });
    let accepted = statuses.iter().filter(|(status, _)| *status == 202).count();
    assert_eq!(accepted, 1, "{statuses:?}");
    for (status, body) in statuses.iter().filter(|(status, _)| *status != 202) {
        assert_eq!(*status, 409, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("already pending"),
            "{body}"
        );
    }
    // Pending shows, and the opposite request takes its place.
    assert_eq!(server.node("EchoTest")["env_status"], "stopping");
    let (status, body) = server.send("PUT", TEST, r#"{"env_status":"started"}"#);
    assert_eq!(status, 202, "{body}");
    assert_eq!(server.node("EchoTest")["env_status"], "starting");
    let (status, body) = server.send("PUT", TEST, r#"{"env_status":"started"}"#);
    assert_eq!(status, 409, "{body}");
    let (status, body) = server.send("PUT", TEST, r#"{"env_status":"stopped"}"#);
    assert_eq!(status, 202, "{body}");

    // Cancel drops the pending request and says so; the environment stays as it is.
    let (status, body) = server.send("POST", "/api/v1/interactive/cancel", "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["environment_requests"], 1, "{body}");
    assert_eq!(
        body["cancelled"], 0,
        "the run was running, not queued: {body}"
    );
    let test = wait_until(&server, "EchoTest", |node| node["env_status"] == "started");
    assert!(
        test["drivers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|driver| driver["status"] == "started"),
        "the stop was dropped: {test}"
    );
    wait_until(&server, "EchoTest/Echo/slow", |node| {
        node["runtime_status"] == "finished"
    });
    // Nothing below the plan is left running after the cancel, nor the plan itself.
    for uid in ["EchoTest", "EchoTest/Echo"] {
        let node = server.node(uid);
        assert_eq!(node["runtime_status"], "finished", "{uid}: {node}");
    }
    assert_eq!(
        plan_status(&pushed(&updates, |event| plan_status(event).is_some())),
        Some("finished")
    );
    let (_, plan) = server.get("/api/v1/interactive/report");
    assert_eq!(plan["runtime_status"], "finished", "{plan}");

    // Another run: the plan runs, then is finished again.
    let (status, body) = server.send("PUT", &format!("{TEST}/Echo/round_trip"), RUN);
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        plan_status(&pushed(&updates, |event| plan_status(event).is_some())),
        Some("running")
    );
    assert_eq!(
        plan_status(&pushed(&updates, |event| plan_status(event).is_some())),
        Some("finished")
    );
    let (_, plan) = server.get("/api/v1/interactive/report");
    assert_eq!(plan["runtime_status"], "finished", "{plan}");
    assert_eq!(server.node("EchoTest/Echo/round_trip")["status"], "passed");

    // With nothing running, a stop happens at once and a second one is no longer pending.
    let (status, _) = server.send("PUT", TEST, r#"{"env_status":"stopped"}"#);
    assert_eq!(status, 202);
    wait_until(&server, "EchoTest", |node| node["env_status"] == "stopped");
    let (status, body) = server.send("PUT", TEST, r#"{"env_status":"stopped"}"#);
    assert_eq!(status, 202, "nothing pending any more: {body}");
    wait_until(&server, "EchoTest", |node| node["env_status"] == "stopped");
}

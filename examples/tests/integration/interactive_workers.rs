//! Interactive mode with `--pool process`: each test's environment lives in a worker
//! process, a cancel kills the worker of the running testcase (it stops for real, and
//! processes and threads do not pile up), a crash is a `crashed` testcase while the UI goes
//! on serving, and Ctrl-C leaves no driver behind.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::crashes::survivors;
use crate::interactive::Server;
use crate::util::scratch_dir;

const RUNNING: &str = r#"{"runtime_status":"running"}"#;

/// The processes whose parent is `pid`, and the threads of `pid`.
fn children_and_threads(pid: u32) -> (usize, usize) {
    let mut children = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`: the name may hold spaces, so read after its `)`.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<u32>().ok());
        if parent == Some(pid) {
            children += 1;
        }
    }
    let threads = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count();
    (children, threads)
}

fn run_slow_and_cancel(server: &Server) -> Value {
    let slow = "/api/v1/interactive/nodes/EchoTest/Echo/slow";
    let before = server.node("EchoTest/Echo/slow")["timer"]["start"].clone();
    assert_eq!(server.send("PUT", slow, RUNNING).0, 202);
    // This run's start (the node shows `running` before its worker starts it).
    server.wait_for("EchoTest/Echo/slow", |node| {
        node["runtime_status"] == "running"
            && node["timer"]["start"].is_number()
            && node["timer"]["start"] != before
    });
    assert_eq!(server.send("POST", "/api/v1/interactive/cancel", "").0, 200);
    server.wait_for("EchoTest/Echo/slow", |node| {
        node["runtime_status"] == "finished"
    })
}

#[test]
fn a_cancel_kills_the_worker_of_the_running_testcase_and_nothing_piles_up() {
    let server = Server::start("interactive-workers-cancel", &["--pool", "process"]);
    let pid = server._plan.0.id();
    let started = std::time::Instant::now();
    let node = run_slow_and_cancel(&server);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the cancel waited for the 3 s testcase"
    );
    assert_eq!(node["status"], "cancelled", "{node}");
    let message = node["error"]["message"].as_str().unwrap();
    assert!(message.contains("worker process was killed"), "{message}");
    // The environment went down with its worker, and says so.
    let test = server.wait_for("EchoTest", |test| test["env_status"] == "stopped");
    let server_driver = crate::interactive::driver_of(&test, "server");
    assert_eq!(server_driver["status"], "stopped", "{server_driver}");
    assert!(
        server_driver["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancel"),
        "{server_driver}"
    );
    // The next run gets a fresh worker, which starts the environment again.
    let round_trip = "/api/v1/interactive/nodes/EchoTest/Echo/round_trip";
    assert_eq!(server.send("PUT", round_trip, RUNNING).0, 202);
    server.wait_for("EchoTest/Echo/round_trip", |node| {
        node["status"] == "passed"
    });
    assert_eq!(server.node("EchoTest")["env_status"], "started");
    // Twenty cancels later, no more processes and threads than after a few.
    for _ in 0..4 {
        run_slow_and_cancel(&server);
    }
    let (children, threads) = children_and_threads(pid);
    for _ in 0..16 {
        let node = run_slow_and_cancel(&server);
        assert_eq!(node["status"], "cancelled", "{node}");
    }
    let (children_after, threads_after) = children_and_threads(pid);
    assert!(
        children_after <= children.max(1),
        "worker processes piled up: {children} -> {children_after}"
    );
    assert!(
        threads_after <= threads + 2,
        "threads piled up: {threads} -> {threads_after}"
    );
}

/// The `crashes` example in interactive mode with worker processes; its processes carry
/// `CRASHES_MARKER=marker`.
fn crashes_server(name: &str, marker: &str) -> Server {
    let dir = scratch_dir(name);
    let mut command = Command::new(env!("CARGO_BIN_EXE_crashes"));
    command
        .args(["-i", "0", "--pool", "process", "--runpath"])
        .arg(dir.join("runpath"))
        .env("CRASHES_KIND", "abort")
        .env("CRASHES_MARKER", marker);
    Server::spawn(command)
}

/// The session goes on: the first testcase runs (again); then Ctrl-C leaves nothing behind.
fn run_first_and_stop(server: Server, marker: &str) {
    assert_eq!(
        server
            .send(
                "PUT",
                "/api/v1/interactive/nodes/Crashy/Steps/first",
                RUNNING
            )
            .0,
        202
    );
    server.wait_for("Crashy/Steps/first", |node| {
        node["runtime_status"] == "finished" && node["status"] == "passed"
    });
    drop(server);
    let left = survivors(marker);
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn a_crash_in_interactive_mode_is_a_result_and_the_ui_goes_on() {
    let marker = format!("interactive-crash-{}", std::process::id());
    let server = crashes_server("interactive-workers-crash", &marker);
    assert_eq!(
        server.send("PUT", "/api/v1/interactive/report", RUNNING).0,
        202
    );
    let wait_finished = |uid: &str| {
        server.wait_for(uid, |node| {
            node["runtime_status"] == "finished" && node["status"] != "unknown"
        })
    };
    let crashed = wait_finished("Crashy/Steps/crashes");
    assert_eq!(crashed["status"], "crashed", "{crashed}");
    let message = crashed["error"]["message"].as_str().unwrap();
    assert!(message.contains("SIGABRT"), "{message}");
    assert!(message.contains("crashing now by abort"), "{message}");
    for uid in [
        "Crashy/Steps/first",
        "Crashy/Steps/third",
        "Crashy/Steps/fourth",
    ] {
        assert_eq!(wait_finished(uid)["status"], "passed", "{uid}");
    }
    assert_eq!(wait_finished("Untouched/Calm/steady")["status"], "passed");
    // The report says that a fresh worker started the environment again.
    let test = server.node("Crashy");
    let entries = test["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|entry| entry["description"] == "worker restarted"),
        "{test}"
    );
    assert_eq!(test["env_status"], "started", "{test}");
    run_first_and_stop(server, &marker);
}

#[test]
fn an_environment_in_a_worker_starts_and_stops_on_request_and_its_logs_are_served() {
    let marker = format!("interactive-environment-{}", std::process::id());
    let server = crashes_server("interactive-workers-environment", &marker);
    let environment = |wanted: &str| {
        let (status, body) = server.send(
            "PUT",
            "/api/v1/interactive/nodes/Crashy",
            &format!(r#"{{"env_status":"{wanted}"}}"#),
        );
        assert_eq!(status, 202, "{body}");
    };
    environment("started");
    let test = server.wait_for("Crashy", |test| test["env_status"] == "started");
    let forker = &test["drivers"][0];
    assert_eq!(forker["status"], "started", "{test}");
    let pid = forker["attributes"]["pid"].as_u64().unwrap() as u32;
    // Extracted by the readiness regex: an integer, published as a number.
    let grandchild = forker["attributes"]["grandchild"]
        .as_u64()
        .unwrap_or_else(|| panic!("no grandchild pid in {forker}")) as u32;
    let marked = crate::crashes::marked_processes(&marker);
    assert!(
        marked.contains(&pid) && marked.contains(&grandchild),
        "the driver and its grandchild run: {forker}"
    );
    // Its log, read from the files its attributes name.
    let (status, log) = server.get("/api/v1/interactive/drivers/Crashy/forker/log?lines=5");
    assert_eq!(status, 200, "{log}");
    assert!(
        log["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|line| line.as_str().unwrap().contains("ready child")),
        "{log}"
    );
    let (status, unknown) = server.get("/api/v1/interactive/drivers/Crashy/nope/log");
    assert_eq!(status, 404, "{unknown}");
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("drivers: forker"),
        "{unknown}"
    );
    environment("stopped");
    // Not `stopping` (the pending request): stopped, or failed to stop cleanly (the
    // grandchild ignores SIGTERM and is killed).
    server.wait_for("Crashy", |test| {
        test["env_status"] == "stopped" || test["env_status"] == "failed"
    });
    let marked = crate::crashes::marked_processes(&marker);
    assert!(
        !marked.contains(&pid) && !marked.contains(&grandchild),
        "the driver and its grandchild are gone"
    );
    // A driver that had to be killed is down: the environment starts again on request.
    environment("started");
    let test = server.wait_for("Crashy", |test| test["env_status"] == "started");
    assert_eq!(test["drivers"][0]["status"], "started", "{test}");
    assert_ne!(test["drivers"][0]["attributes"]["pid"], pid, "{test}");
    run_first_and_stop(server, &marker);
}

#[test]
fn ctrl_c_during_a_ui_run_stops_its_workers_and_writes_a_closed_report() {
    let dir = scratch_dir("ui-workers-interrupt");
    let report = dir.join("report.json");
    let mut command = Command::new(env!("CARGO_BIN_EXE_long_running"));
    command
        .args(["--ui", "0", "--runpath"])
        .arg(dir.join("runpath"))
        .arg("--json")
        .arg(&report);
    let mut server = Server::spawn(command);
    // Each testcase takes a second: wait for the second one to be running.
    server.wait_for("Slow/Slow/step/step_2", |node| {
        node["runtime_status"] == "running"
    });
    let started = std::time::Instant::now();
    let pid = server._plan.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = server._plan.0.wait().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the plan waited for the testcases: {:?}",
        started.elapsed()
    );
    assert_eq!(
        status.code(),
        Some(130),
        "exits as an interrupted run: {status:?}"
    );
    let text = std::fs::read_to_string(&report).unwrap();
    let report: testrig::model::Report = serde_json::from_str(&text).unwrap();
    let mut statuses = Vec::new();
    let mut open = Vec::new();
    fn walk(node: &testrig::model::ReportNode, statuses: &mut Vec<String>, open: &mut Vec<String>) {
        if format!("{:?}", node.runtime_status) == "Running" {
            open.push(node.uid.clone());
        }
        if node.children.is_empty() {
            statuses.push(format!("{:?}", node.status));
        }
        for child in &node.children {
            walk(child, statuses, open);
        }
    }
    walk(&report.plan, &mut statuses, &mut open);
    assert!(open.is_empty(), "nodes left running: {open:?}");
    assert!(
        statuses.iter().any(|status| status == "Incomplete"),
        "{statuses:?}"
    );
}

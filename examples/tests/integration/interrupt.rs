//! Ctrl-C: scheduling stops, the running testcase finishes within the grace period, the
//! partial report is written and marked interrupted, and the exit status is 130.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testrig::model::Status;

use crate::util::scratch_dir;

const PLAN: &str = env!("CARGO_BIN_EXE_long_running");

fn send_sigint(pid: u32) {
    send_signal("INT", pid);
}

fn send_signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Starts the plan and waits until its first testcase has passed.
fn start(dir: &std::path::Path) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(PLAN)
        .arg("--runpath")
        .arg(dir.join("runpath"))
        .arg("--json")
        .arg(dir.join("report.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        if line.contains("PASS [") {
            break;
        }
        line.clear();
    }
    (child, stdout)
}

#[test]
fn ctrl_c_writes_the_partial_report_and_exits_130() {
    let dir = scratch_dir("interrupt");
    let (mut child, mut stdout) = start(&dir);
    send_sigint(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(rest.contains("interrupted:"), "{rest}");

    let report: testrig::model::Report =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert!(report.interrupted);
    let statuses: Vec<Status> = report
        .plan
        .testcases()
        .iter()
        .map(|node| node.status)
        .collect();
    assert!(
        statuses.iter().filter(|s| **s == Status::Passed).count() >= 2,
        "{statuses:?}"
    );
    assert!(statuses.contains(&Status::Unknown), "{statuses:?}");
    // No temporary file is left beside the report.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn sigterm_and_sighup_stop_the_plan_as_ctrl_c_does() {
    // A service manager's stop (TERM) and a closed terminal (HUP): the partial report is
    // written all the same.
    for signal in ["TERM", "HUP"] {
        let dir = scratch_dir(&format!("interrupt-{signal}"));
        let (mut child, _stdout) = start(&dir);
        send_signal(signal, child.id());
        assert_eq!(child.wait().unwrap().code(), Some(130), "SIG{signal}");
        let report: testrig::model::Report =
            serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap())
                .unwrap();
        assert!(report.interrupted, "SIG{signal}");
    }
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    let dir = scratch_dir("interrupt-twice");
    let (mut child, _stdout) = start(&dir);
    send_sigint(child.id());
    std::thread::sleep(Duration::from_millis(100));
    let sent = Instant::now();
    send_sigint(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        sent.elapsed() < Duration::from_millis(900),
        "took {:?}",
        sent.elapsed()
    );
}

/// The runpath a run's header names.
fn runpath_in(stdout: &str) -> String {
    let start = stdout.find("(runpath: ").expect(stdout) + "(runpath: ".len();
    stdout[start..].split(')').next().unwrap().to_string()
}

/// The tests that run this plan in its default runpath take turns: each reads which
/// runpath its own processes took. A lock on a file, not a mutex: `cargo test` runs tests
/// on threads of one process, `cargo nextest` each in a process of its own.
fn default_runpath_turn() -> std::fs::File {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(Path::new(env!("CARGO_TARGET_TMPDIR")).join("long-running-runpath.lock"))
        .unwrap();
    lock.lock().unwrap();
    lock
}

#[test]
fn plan_processes_running_at_once_never_share_a_runpath() {
    let _turn = default_runpath_turn();
    // As under `cargo nextest`, which runs a process per testcase: the second process of the
    // plan takes a runpath of its own instead of clearing the first one's driver folders.
    let first = Command::new(PLAN)
        .arg("Slow::step::step_3")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let second = Command::new(PLAN)
        .arg("Slow::step::step_4")
        .output()
        .unwrap();
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success() && second.status.success());
    let (first, second) = (
        String::from_utf8_lossy(&first.stdout).to_string(),
        String::from_utf8_lossy(&second.stdout).to_string(),
    );
    assert_ne!(runpath_in(&first), runpath_in(&second), "{first}\n{second}");
    assert!(
        runpath_in(&second).starts_with(&runpath_in(&first)),
        "{second}"
    );

    // A runpath given explicitly is never swapped for another: the second run says why.
    let dir = scratch_dir("runpath-busy");
    let (mut holder, _stdout) = start(&dir);
    let refused = Command::new(PLAN)
        .arg("--runpath")
        .arg(dir.join("runpath"))
        .output()
        .unwrap();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("is in use by another plan process") && stderr.contains("--runpath"),
        "{stderr}"
    );
}

#[test]
fn only_a_process_nextest_runs_takes_nextest_runpaths() {
    let _turn = default_runpath_turn();
    // A plan that a test run by nextest starts inherits `NEXTEST_RUN_ID`, but nextest does
    // not run it: its usual runpath. nextest itself passes `--exact` with the test's name.
    let run = |args: &[&str]| {
        let output = Command::new(PLAN)
            .args(args)
            .env("NEXTEST_RUN_ID", "inherited-run")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(output.status.success(), "{stdout}");
        runpath_in(&stdout)
    };
    let started_by_a_test = run(&["Slow::step::step_1"]);
    assert!(
        !started_by_a_test.contains(".nextest"),
        "{started_by_a_test}"
    );
    let run_by_nextest = run(&["Slow::step::step_1", "--exact", "--nocapture"]);
    assert!(
        run_by_nextest.contains("long_running.nextest/inherited-run/"),
        "{run_by_nextest}"
    );
}

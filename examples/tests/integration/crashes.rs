//! Testcases that end their worker process — abort, a null-pointer write, `exit(3)`, a
//! stack overflow, an allocation that never ends, a hang past the time limit: each is a
//! result in complete reports, the testcases after it run in a fresh worker, the other
//! MultiTest is untouched, and no driver process survives (found by a marker in
//! `/proc/*/environ`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use testrig::model::{Report, ReportNode, Status};

use crate::util::scratch_dir;

const PLAN: &str = env!("CARGO_BIN_EXE_crashes");

/// The processes whose environment holds `CRASHES_MARKER=marker`.
pub(crate) fn marked_processes(marker: &str) -> Vec<u32> {
    let needle = format!("CRASHES_MARKER={marker}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(environ) = std::fs::read(entry.path().join("environ"))
            && environ
                .split(|&byte| byte == 0)
                .any(|variable| variable == needle.as_bytes())
        {
            found.push(pid);
        }
    }
    found
}

/// Waits up to three seconds for the marked processes to be gone; returns the survivors.
pub(crate) fn survivors(marker: &str) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = marked_processes(marker);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct CrashRun {
    code: Option<i32>,
    stdout: String,
    report: Report,
    dir: std::path::PathBuf,
    marker: String,
}

fn run(kind: &str, extra: &[&str]) -> CrashRun {
    let dir = scratch_dir(&format!("crashes-{kind}"));
    let marker = format!("crash-{kind}-{}", std::process::id());
    let output = Command::new(PLAN)
        .env("CRASHES_KIND", kind)
        .env("CRASHES_MARKER", &marker)
        .env("CRASHES_HEARTBEAT", dir.join("heartbeat"))
        .args(["--runpath", dir.join("runpath").to_str().unwrap()])
        .args(["--json", dir.join("report.json").to_str().unwrap()])
        .args(["--xml", dir.join("junit").to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = serde_json::from_str(
        &std::fs::read_to_string(dir.join("report.json"))
            .unwrap_or_else(|_| panic!("no report for {kind}:\n{stdout}\n{stderr}")),
    )
    .unwrap();
    CrashRun {
        code: output.status.code(),
        stdout,
        report,
        dir,
        marker,
    }
}

fn testcase<'a>(report: &'a Report, name: &str) -> &'a ReportNode {
    report
        .plan
        .testcases()
        .into_iter()
        .find(|node| node.name == name)
        .unwrap_or_else(|| panic!("no testcase {name}"))
}

/// What every run shows: the crash (or time limit) hits one testcase, the rest pass, the
/// reports are complete and nothing is left running.
fn check_contained(run: &CrashRun, kind: &str) {
    assert_eq!(run.code, Some(1), "{kind}:\n{}", run.stdout);
    for name in ["first", "third", "fourth", "steady"] {
        assert_eq!(
            testcase(&run.report, name).status,
            Status::Passed,
            "{kind}: {name}"
        );
    }
    let crashes = testcase(&run.report, "crashes");
    assert!(
        crashes
            .entries
            .iter()
            .any(|entry| format!("{entry:?}").contains(&format!("about to crash by `{kind}`"))),
        "{kind}: the entries recorded before the crash are kept: {:?}",
        crashes.entries
    );
    assert!(run.stdout.contains("3 testcases run") || run.stdout.contains("5 testcases run"));
    let junit = std::fs::read_to_string(run.dir.join("junit").join("crashy.xml")).unwrap();
    assert!(junit.contains("name=\"crashes\""), "{junit}");
    assert!(junit.contains("name=\"fourth\""), "{junit}");
    let left = survivors(&run.marker);
    assert!(left.is_empty(), "{kind}: driver processes left: {left:?}");
}

#[test]
fn a_testcase_that_kills_its_worker_is_crashed_and_the_run_goes_on() {
    for (kind, how, extra) in [
        ("abort", "signal 6 (SIGABRT)", &[][..]),
        ("null", "signal 11 (SIGSEGV)", &[][..]),
        ("exit", "exited with status 3", &[][..]),
        ("overflow", "has overflowed its stack", &[][..]),
        (
            "allocate",
            "memory allocation of",
            &["--worker-memory-limit", "512"][..],
        ),
        ("stop", "stopped answering", &[][..]),
    ] {
        let run = run(kind, extra);
        check_contained(&run, kind);
        let crashes = testcase(&run.report, "crashes");
        assert_eq!(crashes.status, Status::Crashed, "{kind}");
        let message = &crashes.error.as_ref().unwrap().message;
        assert!(message.contains(how), "{kind}: {message}");
        assert!(
            message.contains(&format!("crashing now by {kind}")),
            "{kind}: the worker's stderr tail: {message}"
        );
        assert!(
            run.stdout.contains("5 testcases run"),
            "{kind}: {}",
            run.stdout
        );
        assert!(run.stdout.contains("CRASHED"), "{}", run.stdout);
        let junit = std::fs::read_to_string(run.dir.join("junit").join("crashy.xml")).unwrap();
        assert!(junit.contains("type=\"crash\""), "{junit}");
        let test = &run.report.plan.children[0];
        assert!(
            test.entries
                .iter()
                .any(|entry| entry.description == "worker restarted"),
            "{kind}: the test says its environment restarted"
        );
    }
}

fn heartbeats(path: &Path) -> u64 {
    std::fs::metadata(path).map(|meta| meta.len()).unwrap_or(0)
}

#[test]
fn a_timed_out_testcase_stops_for_real_and_the_next_runs_in_a_fresh_worker() {
    let run = run("hang", &[]);
    check_contained(&run, "hang");
    let crashes = testcase(&run.report, "crashes");
    assert_eq!(crashes.status, Status::Error);
    let message = &crashes.error.as_ref().unwrap().message;
    assert!(message.contains("timed out after 1s"), "{message}");
    let heartbeat = run.dir.join("heartbeat");
    let before = heartbeats(&heartbeat);
    assert!(before > 0, "the hanging testcase ran");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        heartbeats(&heartbeat),
        before,
        "the abandoned testcase still runs after the plan ended"
    );
}

#[test]
fn the_thread_pool_runs_in_the_plan_process_where_a_crash_ends_the_plan() {
    let dir = scratch_dir("crashes-thread-pool");
    let output = Command::new(PLAN)
        .env("CRASHES_KIND", "exit")
        .env(
            "CRASHES_MARKER",
            format!("crash-thread-{}", std::process::id()),
        )
        .args([
            "--pool",
            "thread",
            "--runpath",
            dir.join("runpath").to_str().unwrap(),
        ])
        .args(["--json", dir.join("report.json").to_str().unwrap()])
        .output()
        .unwrap();
    // What `--pool thread` costs: the testcase's `exit(3)` is the plan's.
    assert_eq!(output.status.code(), Some(3));
    assert!(!dir.join("report.json").exists());
    let left = survivors(&format!("crash-thread-{}", std::process::id()));
    assert!(left.is_empty(), "the reaper stops the drivers: {left:?}");
}

#[test]
fn a_testcase_that_fails_or_crashes_once_then_passes_is_flaky_in_every_report() {
    let dir = scratch_dir("flaky");
    let output = Command::new(env!("CARGO_BIN_EXE_flaky"))
        .args([
            "--rerun",
            "2",
            "--runpath",
            dir.join("runpath").to_str().unwrap(),
        ])
        .args(["--json", dir.join("report.json").to_str().unwrap()])
        .args(["--xml", dir.join("junit").to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    // `always_fails` fails all three runs.
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("2 flaky"), "{stdout}");
    assert!(
        stdout.contains("FLAKY") && stdout.contains("fails_once (passed on run 2)"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("RERUN").count(), 4, "{stdout}");
    let report: Report =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let statuses = |name: &str| {
        let node = testcase(&report, name);
        let mut runs: Vec<Status> = node.attempts.iter().map(|attempt| attempt.status).collect();
        runs.push(node.status);
        (runs, node.flaky)
    };
    assert_eq!(statuses("steady"), (vec![Status::Passed], false));
    assert_eq!(
        statuses("fails_once"),
        (vec![Status::Failed, Status::Passed], true)
    );
    assert_eq!(
        statuses("crashes_once"),
        (vec![Status::Crashed, Status::Passed], true)
    );
    assert_eq!(
        statuses("always_fails"),
        (vec![Status::Failed, Status::Failed, Status::Failed], false)
    );
    let first_run = &testcase(&report, "fails_once").attempts[0];
    assert!(
        first_run
            .entries
            .iter()
            .any(|entry| entry.passed == Some(false)),
        "the failed run keeps its assertions: {first_run:?}"
    );
    let junit = std::fs::read_to_string(dir.join("junit").join("unsteady.xml")).unwrap();
    assert_eq!(junit.matches("<flakyFailure").count(), 1, "{junit}");
    assert_eq!(junit.matches("<flakyError").count(), 1, "{junit}");
    assert_eq!(junit.matches("<rerunFailure").count(), 2, "{junit}");
}

#[test]
fn rerun_without_worker_processes_is_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_flaky"))
        .args(["--rerun", "1", "--pool", "thread"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("add `--pool process`"), "{stderr}");
}

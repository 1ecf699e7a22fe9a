//! Drivers against real processes: faults, the no-orphans rule, a real redis-server.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testrig::model::{DriverStatus, Report, Status};

use crate::util::{run_plan, scratch_dir};

#[test]
fn driver_faults_error_their_test_with_reason_and_log_tail() {
    let run = run_plan(env!("CARGO_BIN_EXE_driver_faults"), "driver-faults", &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.last_line(), "1 passed, 6 failed, 0 skipped");
    let report = run.report();
    let test = |name: &str| {
        report
            .plan
            .children
            .iter()
            .find(|test| test.name == name)
            .unwrap()
    };

    let early = test("ExitsEarly");
    assert_eq!(early.status, Status::Error);
    let message = &early.error.as_ref().unwrap().message;
    assert!(
        message
            .contains("failed to start driver `service`: exited with status 3 before it was ready"),
        "{message}"
    );
    assert!(
        early.drivers[0]
            .log_tail
            .iter()
            .any(|line| line.contains("config.toml: no such file"))
    );

    let never = test("NeverReady");
    assert!(
        never
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("not ready after 0.5s")
    );
    assert!(
        never.drivers[0]
            .log_tail
            .iter()
            .any(|line| line.contains("warming up"))
    );

    let crashed = test("CrashesMidRun");
    let cases = crashed.testcases();
    assert_eq!(cases[0].status, Status::Error);
    assert!(
        cases[0]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("exited with status 139 while running")
    );
    assert_eq!(cases[1].status, Status::Error);
    assert!(
        cases[1]
            .error
            .as_ref()
            .unwrap()
            .message
            .starts_with("not run: the environment is down")
    );
    assert!(
        crashed.drivers[0]
            .log_tail
            .iter()
            .any(|line| line.contains("segfault in worker"))
    );

    assert_eq!(test("Healthy").status, Status::Passed);
    assert_eq!(test("Healthy").drivers[0].status, DriverStatus::Stopped);
    assert!(
        run.stdout
            .contains("DRIVER FAIL CrashesMidRun: driver `service`: exited with status 139"),
        "{}",
        run.stdout
    );
}

fn alive(pid: u64) -> bool {
    // A zombie is dead: it only waits for a parent (or init) to reap it.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => stat
            .rsplit(") ")
            .next()
            .is_some_and(|rest| !rest.starts_with('Z')),
    }
}

/// Runs the orphans plan until its drivers are up, signals it, and returns its report.
fn interrupt_orphans(name: &str, signal: &str) -> (Option<i32>, Report) {
    let dir = scratch_dir(name);
    let mut plan = crate::util::Interrupted(
        Command::new(env!("CARGO_BIN_EXE_orphans"))
            .arg("--runpath")
            .arg(dir.join("runpath"))
            .arg("--json")
            .arg(dir.join("report.json"))
            .arg("--interrupt-grace")
            .arg("1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let forker_log = dir.join("runpath/Resists/forker/stdout");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&forker_log).is_ok_and(|text| text.contains("ready child")) {
        assert!(Instant::now() < deadline, "the drivers did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let the testcase begin, then interrupt.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        Command::new("kill")
            .args([signal, &plan.0.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut stdout = String::new();
    for line in BufReader::new(plan.0.stdout.take().unwrap()).lines() {
        stdout.push_str(&line.unwrap());
        stdout.push('\n');
    }
    let code = plan.0.wait().unwrap().code();
    let report =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).expect(&stdout))
            .unwrap();
    (code, report)
}

fn driver_pids(report: &Report) -> Vec<u64> {
    let test = &report.plan.children[0];
    let mut pids = Vec::new();
    for driver in &test.drivers {
        for key in ["pid", "shell", "grandchild"] {
            if let Some(value) = driver.attributes.get(key) {
                pids.push(
                    value
                        .as_u64()
                        .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
                        .unwrap(),
                );
            }
        }
    }
    pids
}

#[test]
fn no_driver_process_outlives_an_interrupted_plan() {
    for (name, signal) in [("orphans-int", "-INT"), ("orphans-term", "-TERM")] {
        let (code, report) = interrupt_orphans(name, signal);
        assert_eq!(code, Some(130), "{signal}");
        assert!(report.interrupted);
        let pids = driver_pids(&report);
        assert_eq!(
            pids.len(),
            4,
            "stubborn pid + shell, forker pid + grandchild: {pids:?}"
        );
        let survivors: Vec<u64> = pids.into_iter().filter(|&pid| alive(pid)).collect();
        assert!(
            survivors.is_empty(),
            "still running after {signal}: {survivors:?}"
        );
        let stubborn = &report.plan.children[0].drivers[0];
        assert_eq!(stubborn.name, "stubborn");
        assert!(
            stubborn
                .error
                .as_ref()
                .is_some_and(|error| error.message.contains("killed")),
            "the SIGTERM-ignoring driver is reported as killed: {stubborn:?}"
        );
    }
}

/// The pid a driver's log names after `marker`, once the line is there.
fn pid_in_log(log: &Path, marker: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(pid) = std::fs::read_to_string(log).ok().and_then(|text| {
            let rest = &text[text.find(marker)? + marker.len()..];
            rest.split_whitespace().next()?.parse().ok()
        }) {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "no `{marker}` in {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn no_driver_process_outlives_a_sigkilled_plan() {
    // SIGKILL gives the plan no chance to stop anything: the reaper, a process outside it,
    // stops its drivers' process groups (SIGTERM, then SIGKILL for the one that ignores it).
    let dir = scratch_dir("orphans-sigkill");
    let mut plan = Command::new(env!("CARGO_BIN_EXE_orphans"))
        .arg("--runpath")
        .arg(dir.join("runpath"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let logs = dir.join("runpath/Resists");
    let stubborn = pid_in_log(&logs.join("stubborn/stdout"), "ready pid ");
    let grandchild = pid_in_log(&logs.join("forker/stdout"), "ready child ");
    assert!(alive(stubborn) && alive(grandchild));
    plan.kill().unwrap();
    plan.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(stubborn) || alive(grandchild) {
        assert!(
            Instant::now() < deadline,
            "still running 10 s after the plan was killed: stubborn {} grandchild {}",
            alive(stubborn),
            alive(grandchild)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_real_redis_server_does_not_outlive_a_sigkilled_plan() {
    // SIGKILL of the plan while its worker holds a real redis-server: the worker sees its
    // parent go and kills its drivers; the reapers cover the rest.
    let dir = scratch_dir("redis-sigkill");
    let runpath = dir.join("runpath");
    let mut plan = Command::new(env!("CARGO_BIN_EXE_redis"))
        .env("REDIS_EXAMPLE_HOLD", "60")
        .arg("--runpath")
        .arg(&runpath)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ledger = runpath.join(".testrig-processes");
    let deadline = Instant::now() + Duration::from_secs(20);
    let server = loop {
        let listed = std::fs::read_to_string(&ledger).unwrap_or_default();
        let server = listed.lines().find_map(|line| {
            let pid: u64 = line.split(' ').next()?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .contains("redis-server")
                .then_some(pid)
        });
        if let Some(server) = server {
            break server;
        }
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    plan.kill().unwrap();
    plan.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(server) {
        assert!(
            Instant::now() < deadline,
            "redis-server {server} still runs 5 s after the plan was killed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// When the process `pid` started (clock ticks since boot): field 22 of its stat line.
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit(") ")
        .next()
        .and_then(|rest| rest.split_whitespace().nth(19))
        .and_then(|start| start.parse().ok())
        .unwrap()
}

#[test]
fn a_run_stops_the_driver_processes_a_killed_run_left_and_says_so() {
    // What a run leaves when everything of it dies at once, reaper included (an OOM kill of
    // the lot, a container's `kill -9`): driver process groups, still listed in the ledger
    // of its runpath. Planted here as such a run would leave them; the next run on that
    // runpath stops them and says so.
    let dir = scratch_dir("orphans-leftovers");
    let runpath = dir.join("runpath");
    std::fs::create_dir_all(&runpath).unwrap();
    let spawn_leftover = |script: &str| {
        Command::new("/bin/sh")
            .args(["-c", script])
            .process_group(0)
            .spawn()
            .unwrap()
    };
    let mut stubborn = spawn_leftover("trap '' TERM; while true; do sleep 1; done");
    let mut forker = spawn_leftover("sleep 300 & wait");
    // An unrelated process whose id a killed run once had: recorded with another start.
    let mut unrelated = spawn_leftover("sleep 300");
    std::thread::sleep(Duration::from_millis(100));
    let ledger = format!(
        "{} {}\n{} {}\n{} {}\n",
        stubborn.id(),
        start_time(stubborn.id()),
        forker.id(),
        start_time(forker.id()),
        unrelated.id(),
        start_time(unrelated.id()) + 1
    );
    std::fs::write(runpath.join(".testrig-processes"), ledger).unwrap();
    let second = Command::new(env!("CARGO_BIN_EXE_crashes"))
        .env("CRASHES_KIND", "none")
        .arg("--runpath")
        .arg(&runpath)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    // It ran (its `crashes` testcase fails when told not to crash).
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.matches("left running by an earlier run").count(),
        2,
        "{stderr}"
    );
    assert!(
        stderr.contains("sleep 300 & wait"),
        "names what it stopped: {stderr}"
    );
    assert!(stubborn.try_wait().unwrap().is_some(), "{stderr}");
    assert!(forker.try_wait().unwrap().is_some(), "{stderr}");
    assert!(
        unrelated.try_wait().unwrap().is_none(),
        "an unrelated process is left alone"
    );
    // Its whole group: `sh` may have forked `sleep` rather than become it, and a `sleep`
    // left behind would hold this test's output open for five minutes.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", unrelated.id())])
        .status();
    let _ = unrelated.wait();
}

#[test]
fn a_real_redis_server_answers_over_its_protocol() {
    let found = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths).any(|dir| Path::new(&dir).join("redis-server").is_file())
        })
        .unwrap_or(false);
    assert!(
        found,
        "redis-server is not installed: apt-get install -y redis-server (.ci/run does this)"
    );
    let run = run_plan(env!("CARGO_BIN_EXE_redis"), "redis", &["--driver-info"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.last_line(), "3 passed, 0 failed, 0 skipped");
    assert!(
        run.stdout.contains("Environment of `Redis`: started in"),
        "{}",
        run.stdout
    );
    let report = run.report();
    let redis = &report.plan.children[0].drivers[0];
    assert_eq!(redis.status, DriverStatus::Stopped);
    let pid = redis.attributes["pid"].as_u64().unwrap();
    assert!(!alive(pid), "redis-server {pid} still runs");
}

//! Code reload figures: the time from a saved one-line testcase edit to that testcase's new
//! result (the plan notices the save, rebuilds, re-executes in place, takes over its running
//! App driver, and the testcase runs again), and the part of it that is not the cargo build.
//!
//! A fresh crate (outside the workspace, testrig as a path dependency, debug profile as a
//! user iterating has it) holds a plan with one App driver and one testcase; the plan runs
//! with `-i 0`, the environment is started, and the testcase's expected value is edited five
//! times. The build time comes from the plan's own reload message (`built in N s`).
//!
//! With the argument `lines`, the crate has the README's recommended profile (dependencies
//! with line tables only) and the figures are named `…_lines`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testrig_benches::Server;

const CARGO_TOML: &str = r#"[package]
name = "reload-bench"
version = "0.1.0"
edition = "2024"
publish = false

[dev-dependencies]
testrig = { path = "TESTRIG_PATH" }

[[test]]
name = "plan"
harness = false

[workspace]
"#;

const PLAN: &str = r#"use testrig::drivers::App;
use testrig::prelude::*;

#[suite]
struct Edited;

#[suite]
impl Edited {
    #[testcase]
    fn value(&self, _env: &Env, result: &mut Recorder) {
        result.equal(1, 1, "the value");
    }
}

fn main() -> std::process::ExitCode {
    let app = App::new("app", "/bin/sh")
        .args(["-c", "echo ready; exec sleep 600"])
        .ready_on_stdout("ready");
    Plan::new("reload-bench")
        .add(MultiTest::new("Edited").suite(Edited).driver(app))
        .run_from_args()
}
"#;

fn json(response: &str) -> serde_json::Value {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

fn get(server: &Server, path: &str) -> serde_json::Value {
    server
        .request("GET", path, "")
        .map(|(_, response)| json(&response))
        .unwrap_or(serde_json::Value::Null)
}

fn wait(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The README's recommended profile for a plan's workspace.
const LINE_TABLES_PROFILE: &str =
    "\n[profile.dev.package.\"*\"]\ndebug = \"line-tables-only\"\nincremental = false\n";

fn main() {
    let lines = std::env::args().nth(1).as_deref() == Some("lines");
    let suffix = if lines { "_lines" } else { "" };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf();
    let dir = std::env::temp_dir().join(format!("testrig-reload-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tests")).expect("crate folder");
    std::fs::create_dir_all(dir.join("src")).expect("crate folder");
    let testrig = workspace.join("crates").join("testrig");
    std::fs::write(
        dir.join("Cargo.toml"),
        CARGO_TOML.replace("TESTRIG_PATH", &testrig.display().to_string())
            + if lines { LINE_TABLES_PROFILE } else { "" },
    )
    .expect("manifest");
    std::fs::write(dir.join("src/lib.rs"), "").expect("lib");
    let plan_file = dir.join("tests/plan.rs");
    std::fs::write(&plan_file, PLAN).expect("plan");
    std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock file");
    let target = workspace
        .join("target")
        .join(format!("bench-reload{suffix}"));

    let output = Command::new("cargo")
        .args([
            "test",
            "--no-run",
            "--message-format",
            "json",
            "--test",
            "plan",
        ])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "the plan builds");
    let executable: PathBuf = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("the plan executable");

    let mut child = Command::new(&executable)
        .args(["-i", "0", "--runpath"])
        .arg(dir.join("runpath"))
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the plan starts");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("piped")),
        &mut line,
    )
    .expect("the plan prints its URL");
    let server = Server::from_url_line(&line);
    let node = |uid: &str| get(&server, &format!("/api/v1/interactive/nodes/{uid}"));
    let _ = server.request(
        "PUT",
        "/api/v1/interactive/nodes/Edited",
        r#"{"env_status":"started"}"#,
    );
    wait("the environment", || {
        node("Edited")["env_status"] == "started"
    });
    let app_pid = || node("Edited")["drivers"][0]["attributes"]["pid"].as_u64();
    let pid = app_pid();
    let run_value = |expected: &str| {
        let _ = server.request(
            "PUT",
            "/api/v1/interactive/nodes/Edited/Edited/value",
            r#"{"runtime_status":"running"}"#,
        );
        wait("the result", || {
            let value = node("Edited/Edited/value");
            value["runtime_status"] == "finished" && value["status"] == expected
        });
    };
    // A result to keep (and mark stale) across each reload.
    run_value("passed");

    let mut totals = Vec::new();
    let mut non_build = Vec::new();
    let mut builds = Vec::new();
    for round in 0..5 {
        let (from, to) = if round % 2 == 0 {
            ("equal(1, 1,", "equal(1, 2,")
        } else {
            ("equal(1, 2,", "equal(1, 1,")
        };
        let text = std::fs::read_to_string(&plan_file).expect("plan");
        let saved = Instant::now();
        let saved_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |since| since.as_secs_f64());
        std::fs::write(&plan_file, text.replacen(from, to, 1)).expect("edit");
        let mut message = String::new();
        wait("the reload", || {
            let full = get(&server, "/api/v1/interactive/report/full");
            let reload = &full["report"]["reload"];
            let now = reload["message"].as_str().unwrap_or_default().to_string();
            if now != message && std::env::var_os("RELOAD_BENCH_DEBUG").is_some() {
                eprintln!("{}: {now}", reload["phase"]);
            }
            message = now;
            reload["phase"] == "reloaded"
                && reload["time"].as_f64().is_some_and(|time| time > saved_at)
                && message.contains("drivers:")
                && message.contains("1 stale")
        });
        run_value(if round % 2 == 0 { "failed" } else { "passed" });
        let total = saved.elapsed().as_secs_f64();
        let build: f64 = message
            .split("built in ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|seconds| seconds.parse().ok())
            .expect("the reload says how long the build took");
        assert_eq!(app_pid(), pid, "the App driver kept running");
        totals.push(total);
        builds.push(build);
        non_build.push((total - build) * 1000.0);
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    println!("reload_total_s{suffix} {:.2} s", median(totals));
    println!("reload_build_s{suffix} {:.2} s", median(builds));
    println!("reload_nonbuild_ms{suffix} {:.0} ms", median(non_build));
}

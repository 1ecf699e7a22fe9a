//! What a new user does: a fresh crate outside this workspace with `testrig` as a path
//! dev-dependency and a `harness = false` plan, run with `cargo test` and `cargo nextest`.

use std::path::Path;
use std::process::Command;

const PLAN: &str = r#"use testrig::prelude::*;

/// Checks a tiny key-value parser.
#[suite(tags = ["parser"])]
struct Parser;

fn parse(line: &str) -> Option<(&str, &str)> {
    line.split_once('=').map(|(k, v)| (k.trim(), v.trim()))
}

#[suite]
impl Parser {
    #[testcase(tags = ["smoke"])]
    fn round_trip(&self, _env: &Env, result: &mut Recorder) {
        result.equal(parse("a = 1"), Some(("a", "1")), "key and value");
    }

    #[testcase(parameters = ["x=", "=y", "k=v"])]
    fn has_separator(&self, _env: &Env, result: &mut Recorder, line: &str) {
        result.is_true(parse(line).is_some(), "splits at =");
    }

    #[testcase(skip = "multi-line values are not supported yet")]
    fn multi_line(&self, _env: &Env, result: &mut Recorder) {
        result.fail("skipped");
    }
}

fn main() -> std::process::ExitCode {
    Plan::new("user").add(MultiTest::new("Config").suite(Parser)).run_from_args()
}
"#;

/// A plan with an environment: an App driver (a shell that forks a child) and mock TCP
/// peers wired by context values, six testcases that use them.
const ENVIRONMENT_PLAN: &str = r#"use std::time::Duration;
use testrig::drivers::{App, TcpClient, TcpServer};
use testrig::prelude::*;

#[suite]
struct Wired;

#[suite]
impl Wired {
    #[testcase(parameters = ["1", "2", "3", "4", "5", "6"])]
    fn round_trip(&self, env: &Env, result: &mut Recorder, n: &str) -> Result<(), DriverError> {
        let server = env.driver::<TcpServer>("server");
        let client = env.driver::<TcpClient>("client");
        server.accept_connection(Duration::from_secs(5))?;
        client.send_text(n)?;
        result.equal(server.receive_text(n.len())?, n.to_string(), "received");
        let app = env.driver::<App>("app");
        result.is_true(app.pid().is_some(), "the app runs");
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    let app = App::new("app", "/bin/sh")
        .args(["-c", "sleep 60 & echo ready; wait"])
        .ready_on_stdout("ready");
    let server = TcpServer::new("server");
    let client = TcpClient::new("client")
        .host(context("server", "{{host}}"))
        .port(context("server", "{{port}}"));
    Plan::new("wired")
        .add(MultiTest::new("Wired").suite(Wired).driver(app).driver(server).driver(client))
        .run_from_args()
}
"#;

fn cargo(dir: &Path, args: &[&str]) -> (i32, String) {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fresh-crate-target");
    let output = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .env("NO_COLOR", "1")
        .output()
        .expect("cargo runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn a_fresh_crate_runs_its_plan_with_cargo_test_and_cargo_nextest() {
    let dir = crate::util::create_fresh_crate("user-plan", PLAN);

    let (code, out) = cargo(&dir, &["test", "--test", "plan"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4 passed, 0 failed, 1 skipped"), "{out}");

    let (code, out) = cargo(&dir, &["test", "--test", "plan", "--", "round_trip"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 passed, 0 failed, 0 skipped"), "{out}");

    let (code, out) = cargo(
        &dir,
        &[
            "test", "--test", "plan", "--", "--list", "--format", "terse",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Config::Parser::has_separator::line_k_v: test"),
        "{out}"
    );

    let (code, out) = cargo(
        &dir,
        &["nextest", "run", "--test", "plan", "--no-fail-fast"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4 tests run: 4 passed, 1 skipped"), "{out}");
    assert!(out.contains("Config::Parser::round_trip"), "{out}");

    let (code, out) = cargo(
        &dir,
        &["nextest", "run", "--test", "plan", "--run-ignored", "only"],
    );
    assert_ne!(code, 0, "the skipped testcase fails when run:\n{out}");
    assert!(out.contains("Config::Parser::multi_line"), "{out}");

    // An environment plan under nextest: a process per testcase, each starting the
    // environment in a runpath of its own, five runs in a row without a spurious failure.
    std::fs::write(dir.join("tests").join("wired.rs"), ENVIRONMENT_PLAN).unwrap();
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        manifest.replace(
            "[workspace]",
            "[[test]]\nname = \"wired\"\nharness = false\n\n[workspace]",
        ),
    )
    .unwrap();
    for run in 1..=5 {
        let (code, out) = cargo(
            &dir,
            &["nextest", "run", "--test", "wired", "--no-fail-fast"],
        );
        assert_eq!(code, 0, "nextest run {run}:\n{out}");
        assert!(
            out.contains("6 tests run: 6 passed"),
            "nextest run {run}:\n{out}"
        );
    }
    // A runpath per run and testcase, named after it; earlier runs' folders are gone.
    let runs = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fresh-crate-target")
        .join("testrig")
        .join("wired.nextest");
    let kept: Vec<_> = std::fs::read_dir(&runs).unwrap().flatten().collect();
    assert_eq!(kept.len(), 1, "only the last run's folder: {kept:?}");
    let tests: Vec<_> = std::fs::read_dir(kept[0].path())
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        tests
            .iter()
            .any(|name| name == "Wired__Wired__round_trip__n_3"),
        "{tests:?}"
    );

    std::fs::remove_dir_all(&dir).unwrap();
}

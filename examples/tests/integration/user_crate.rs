//! What a new user does: a fresh crate outside this workspace with `testrig` as a path
//! dev-dependency and a `harness = false` plan, run with `cargo test` and `cargo nextest`.

use std::path::{Path, PathBuf};
use std::process::Command;

const CARGO_TOML: &str = r#"[package]
name = "user-plan"
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

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn create_user_crate() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("testrig-user-crate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let testrig = workspace_root().join("crates").join("testrig");
    std::fs::write(
        dir.join("Cargo.toml"),
        CARGO_TOML.replace("TESTRIG_PATH", testrig.to_str().unwrap()),
    )
    .unwrap();
    std::fs::write(dir.join("src").join("lib.rs"), "").unwrap();
    std::fs::write(dir.join("tests").join("plan.rs"), PLAN).unwrap();
    // The workspace's lock file pins the same versions, so nothing new is downloaded.
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

fn cargo(dir: &Path, args: &[&str]) -> (i32, String) {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("user-crate-target");
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
    let dir = create_user_crate();

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

    std::fs::remove_dir_all(&dir).unwrap();
}

//! A plan built with `default-features = false`, as a user's crate would: it builds none of
//! the heavy optional dependencies, runs its testcases, and a flag whose feature is off is
//! a plan error that names the feature.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The plan of a fresh crate, one testcase: the one `benches/run user_crate` builds.
const PLAN: &str = include_str!("../../../../benches/user_crate/plan.rs");

/// A second plan of the same crate: patterns run on regex-lite without `unicode-regex`.
const PATTERNS_PLAN: &str = r#"
use testrig::prelude::*;

#[suite]
struct Patterns;

#[suite]
impl Patterns {
    #[testcase]
    fn ascii(&self, _env: &Env, result: &mut Recorder) {
        result.regex().matches(r"^\w+ \d+$", "port 8080", "ascii classes");
        result.regex().not_match(r"^\w$", "δ", "\\w is ascii");
    }

    #[testcase]
    fn unicode_class(&self, _env: &Env, result: &mut Recorder) {
        result.regex().matches(r"^\p{L}+$", "δx", "a unicode class");
    }
}

fn main() -> std::process::ExitCode {
    Plan::new("patterns").add(MultiTest::new("Unit").suite(Patterns)).run_from_args()
}
"#;

/// Writes the crate and builds its plans in the target folder the tests' fresh crates share
/// (so that the dependencies it has in common with them are built once); returns the plan
/// binaries (the one-testcase plan, then the patterns plan) and the names of the packages
/// the build compiled (or found compiled).
fn build_minimal_crate() -> ([PathBuf; 2], Vec<String>) {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let krate = tmp.join("minimal-features");
    let target = tmp.join("fresh-crate-target");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::create_dir_all(krate.join("tests")).unwrap();
    let testrig = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"minimal-plan\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [dev-dependencies]\ntestrig = {{ path = {:?}, default-features = false }}\n\n\
             [[test]]\nname = \"plan\"\nharness = false\n\n\
             [[test]]\nname = \"patterns\"\nharness = false\n\n[workspace]\n",
            testrig.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(krate.join("src/lib.rs"), "").unwrap();
    std::fs::write(krate.join("tests/plan.rs"), PLAN).unwrap();
    std::fs::write(krate.join("tests/patterns.rs"), PATTERNS_PLAN).unwrap();
    // The workspace's lock file: the same versions, nothing to resolve or download.
    std::fs::copy(testrig.join("../../Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let output = Command::new(env!("CARGO"))
        .args([
            "test",
            "--test",
            "plan",
            "--test",
            "patterns",
            "--no-run",
            "--message-format=json",
        ])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the minimal crate did not build:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let messages: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let binary = |name: &str| {
        messages
            .iter()
            .find_map(|message| {
                (message["target"]["name"] == name)
                    .then(|| message["executable"].as_str().map(PathBuf::from))
                    .flatten()
            })
            .unwrap_or_else(|| panic!("cargo names the executable of `{name}`"))
    };
    let binaries = [binary("plan"), binary("patterns")];
    // Every unit of the build is reported as an artifact, fresh or not.
    let packages = messages
        .iter()
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter_map(|message| message["target"]["name"].as_str().map(String::from))
        .collect();
    (binaries, packages)
}

#[test]
fn a_plan_without_default_features_builds_light_runs_and_names_the_feature_a_flag_needs() {
    let ([plan, patterns], built) = build_minimal_crate();
    assert!(built.iter().any(|name| name == "testrig"), "{built:?}");
    for heavy in [
        "axum",
        "tokio",
        "hyper",
        "rusqlite",
        "libsqlite3_sys",
        "object",
        "notify",
        "notify_debouncer_mini",
        "ureq",
        "rust_embed",
        "quick_junit",
        "chrono",
        "indicatif",
        "globset",
        "aho_corasick",
        "regex",
        "regex_syntax",
        "regex_automata",
    ] {
        assert!(
            !built.iter().any(|name| name == heavy),
            "`{heavy}` was built for a plan without default features: {built:?}"
        );
    }
    let runpath = Path::new(env!("CARGO_TARGET_TMPDIR")).join("minimal-features-runpath");
    let run = |args: &[&str]| {
        Command::new(&plan)
            .args(args)
            .args(["--runpath", runpath.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let output = run(&[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
    for (args, feature) in [
        (&["--affected"][..], "affected"),
        (&["--ui", "0"][..], "interactive"),
        (&["--interactive", "0"][..], "interactive"),
        (&["--xml", "junit"][..], "junit"),
        (&["--interactive-token", "secret"][..], "interactive"),
        (&["--no-reload-watch"][..], "interactive"),
    ] {
        let output = run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("needs testrig's `{feature}` feature"))
                && stderr.contains("Cargo.toml"),
            "{args:?}: {stderr}"
        );
    }
    // Without `unicode-regex`, patterns run on regex-lite: ASCII classes, and a Unicode
    // class fails its assertion with a message that names the feature.
    let output = Command::new(&patterns)
        .args(["--runpath", runpath.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("1 passed, 1 failed"), "{stdout}");
    assert!(
        stdout.contains("not supported: enable testrig's `unicode-regex` feature (Cargo.toml)"),
        "{stdout}"
    );
}

//! A plan built with `default-features = false`, as a user's crate would: it builds none of
//! the heavy optional dependencies, runs its testcases, and a flag whose feature is off is
//! a plan error that names the feature.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The plan of a fresh crate: one suite, one testcase.
const PLAN: &str = r#"
use testrig::prelude::*;

#[suite]
struct Checks;

#[suite]
impl Checks {
    #[testcase]
    fn adds(&self, _env: &Env, result: &mut Recorder) {
        result.equal(2 + 2, 4, "two and two");
    }
}

fn main() -> std::process::ExitCode {
    Plan::new("minimal").add(MultiTest::new("Unit").suite(Checks)).run_from_args()
}
"#;

/// Writes the crate and builds its plan in a target folder of its own (testrig without its
/// default features is a different build of it than the workspace's); returns the plan
/// binary and the target folder.
fn build_minimal_crate() -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("minimal-features");
    let krate = root.join("crate");
    let target = root.join("target");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::create_dir_all(krate.join("tests")).unwrap();
    let testrig = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"minimal-plan\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [dev-dependencies]\ntestrig = {{ path = {:?}, default-features = false }}\n\n\
             [[test]]\nname = \"plan\"\nharness = false\n\n[workspace]\n",
            testrig.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(krate.join("src/lib.rs"), "").unwrap();
    std::fs::write(krate.join("tests/plan.rs"), PLAN).unwrap();
    // The workspace's lock file: the same versions, nothing to resolve or download.
    std::fs::copy(testrig.join("../../Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let output = Command::new(env!("CARGO"))
        .args([
            "test",
            "--test",
            "plan",
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
    let binary = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|message| {
            (message["target"]["name"] == "plan")
                .then(|| message["executable"].as_str().map(PathBuf::from))
                .flatten()
        })
        .expect("cargo names the plan's executable");
    (binary, target)
}

#[test]
fn a_plan_without_default_features_builds_light_runs_and_names_the_feature_a_flag_needs() {
    let (plan, target) = build_minimal_crate();
    let built: Vec<String> = std::fs::read_dir(target.join("debug/deps"))
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    for heavy in [
        "axum",
        "tokio",
        "hyper",
        "rusqlite",
        "libsqlite3",
        "object",
        "notify",
    ] {
        assert!(
            !built
                .iter()
                .any(|file| file.starts_with(&format!("lib{heavy}-"))
                    || file.starts_with(&format!("lib{}_", heavy.replace('-', "_")))),
            "`{heavy}` was built for a plan without default features"
        );
    }
    let runpath = target.join("runpath");
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
}

//! `cargo testrig affected` end to end on a fixture crate: the first run records every
//! testcase, later runs select only what a change affects, and edits that change no tokens
//! select nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture_copy() -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/affected-demo");
    let copy = std::env::temp_dir().join(format!("testrig-affected-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    for file in ["Cargo.toml", "src/lib.rs", "tests/plan.rs"] {
        let target = copy.join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(source.join(file), &target).unwrap();
    }
    let testrig = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("testrig");
    let manifest = std::fs::read_to_string(copy.join("Cargo.toml")).unwrap();
    std::fs::write(
        copy.join("Cargo.toml"),
        manifest.replace("TESTRIG_PATH", testrig.to_str().unwrap()),
    )
    .unwrap();
    let workspace_lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    std::fs::copy(workspace_lock, copy.join("Cargo.lock")).unwrap();
    copy
}

fn affected(dir: &Path, plan_args: &[&str]) -> String {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("affected-target");
    let output = Command::new(env!("CARGO_BIN_EXE_cargo-testrig"))
        .args(["testrig", "affected", "--test", "plan", "--"])
        .args(plan_args)
        .current_dir(dir)
        .env("CARGO", env!("CARGO"))
        .env("TESTRIG_COVERAGE_TARGET_DIR", target)
        .env("NO_COLOR", "1")
        .output()
        .expect("cargo-testrig runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    text
}

fn edit(dir: &Path, from: &str, to: &str) {
    let path = dir.join("src/lib.rs");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "fixture changed: {from}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn only_affected_testcases_run_after_a_change() {
    let dir = fixture_copy();
    let first = affected(&dir, &[]);
    assert!(
        first.contains(
            "affected: selected 3 of 3 testcases (running everything: no coverage was recorded yet)"
        ),
        "{first}"
    );
    assert!(
        first.contains("affected: recorded the coverage of 3 testcases"),
        "{first}"
    );
    assert!(first.contains("3 passed, 0 failed, 0 skipped"), "{first}");

    let unchanged = affected(&dir, &[]);
    assert!(
        unchanged.contains("affected: selected 0 of 3 testcases"),
        "{unchanged}"
    );

    // Comments, whitespace and doc comments are not tokens: nothing is selected.
    edit(
        &dir,
        "/// The area of a rectangle.",
        "/// The area of a rectangle, in square units.\n// (a comment)\n",
    );
    let cosmetic = affected(&dir, &["--explain"]);
    assert!(
        cosmetic.contains("affected: selected 0 of 3 testcases"),
        "{cosmetic}"
    );

    // A changed body selects exactly the testcase that executed it, and says why.
    edit(&dir, "rect.width * rect.height", "rect.height * rect.width");
    let body = affected(&dir, &["--explain"]);
    assert!(
        body.contains("affected: selected 1 of 3 testcases"),
        "{body}"
    );
    assert!(
        body.contains("Shapes::Shapes::computes_area: changed: src/lib.rs::area"),
        "{body}"
    );

    // A generic used with two types maps back to its one definition.
    edit(
        &dir,
        "Some(best) if best >= item",
        "Some(best) if item <= best",
    );
    let generic = affected(&dir, &["--dry-run"]);
    assert!(
        generic.contains("affected: selected 1 of 3 testcases"),
        "{generic}"
    );
    assert!(
        generic.contains("Shapes::Shapes::finds_largest: changed: src/lib.rs::largest"),
        "{generic}"
    );

    // A struct's derive list (no coverage of its own) selects every testcase that ran code
    // in its file.
    let after_dry_run = affected(&dir, &[]);
    assert!(
        after_dry_run.contains("selected 1 of 3"),
        "a dry run records nothing: {after_dry_run}"
    );
    edit(
        &dir,
        "#[derive(Debug, Clone, Copy)]",
        "#[derive(Debug, Clone, Copy, PartialEq)]",
    );
    let item = affected(&dir, &["--dry-run"]);
    assert!(
        item.contains("affected: selected 3 of 3 testcases"),
        "{item}"
    );
    assert!(
        item.contains("changed non-function items in src/lib.rs"),
        "{item}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

//! Fixture workspaces for the affected-selection tests: a copy of a fixture folder under the
//! temporary folder, wired to this checkout's testrig, and `cargo testrig` commands run in
//! it against the instrumented target folder the tests share.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The instrumented target folder every copy builds in, so that testrig and its
/// dependencies are built once.
pub fn coverage_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("affected-target")
}

/// The affected-selection tests take turns: builds in the shared target folder would wait
/// for each other anyway, and a plain run takes the newest plan binary there, which must be
/// the one its own test built. A lock on a file, not a mutex: `cargo test` runs the tests on
/// threads of one process, `cargo nextest` each in a process of its own. The turn ends
/// when the returned file is dropped.
pub fn take_turn() -> std::fs::File {
    // Beside the shared target folder, not in it: cargo marks a target folder it creates
    // with `CACHEDIR.TAG`, which the parse cache looks for, and not one that exists already.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(Path::new(env!("CARGO_TARGET_TMPDIR")).join("affected-tests-take-turns.lock"))
        .unwrap();
    // An exclusive lock of the open file: a second open of the same file, in this process
    // or another, waits for it.
    lock.lock().unwrap();
    lock
}

/// Copies `tests/fixtures/FIXTURE` (whose package is named FIXTURE) to a fresh folder for
/// the test `name`.
pub fn copy(fixture: &str, name: &str) -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let copy = std::env::temp_dir().join(format!("testrig-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    copy_folder(&manifest_dir.join("tests/fixtures").join(fixture), &copy);
    let testrig = manifest_dir.parent().unwrap().join("testrig");
    let manifest = std::fs::read_to_string(copy.join("Cargo.toml")).unwrap();
    std::fs::write(
        copy.join("Cargo.toml"),
        manifest
            .replace("TESTRIG_PATH", testrig.to_str().unwrap())
            // The copies share one target folder, where cargo would give two copies of one
            // package the same output files: a package name per copy keeps them apart.
            .replacen(
                &format!("name = \"{fixture}\""),
                &format!("name = \"{fixture}-{name}\""),
                1,
            ),
    )
    .unwrap();
    std::fs::copy(
        manifest_dir.join("../../Cargo.lock"),
        copy.join("Cargo.lock"),
    )
    .unwrap();
    copy
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `cargo testrig ARGS` in `dir`, with the shared target folder and no colour.
pub fn cargo_testrig(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-testrig"));
    command
        .arg("testrig")
        .args(args)
        .current_dir(dir)
        .env("CARGO", env!("CARGO"))
        .env("TESTRIG_COVERAGE_TARGET_DIR", coverage_target())
        .env("NO_COLOR", "1");
    command
}

/// Standard output and error of a finished command, one after the other.
pub fn text_of(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

//! Running example plans as processes and reading what they leave behind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use testrig::model::Report;

/// The output of one plan run.
pub struct PlanRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub dir: PathBuf,
}

impl PlanRun {
    /// The JSON report the run wrote to `report.json` in its folder.
    pub fn report(&self) -> Report {
        let text =
            std::fs::read_to_string(self.dir.join("report.json")).expect("report.json was written");
        serde_json::from_str(&text).expect("report.json parses into the model types")
    }

    /// The last non-empty line of stdout.
    pub fn last_line(&self) -> &str {
        self.stdout
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("")
    }
}

/// What a new user has: a crate outside this workspace (its own `[workspace]`) named `name`,
/// with `testrig` as a path dev-dependency, an empty library and `tests/plan.rs` (`plan`) as
/// a `harness = false` test target, and this workspace's lock file so nothing new is
/// downloaded. Created afresh in the system's temporary folder.
pub fn create_fresh_crate(name: &str, plan: &str) -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = std::env::temp_dir().join(format!("testrig-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let testrig = workspace.join("crates").join("testrig");
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dev-dependencies]\ntestrig = {{ path = \"{}\" }}\n\n\
         [[test]]\nname = \"plan\"\nharness = false\n\n[workspace]\n",
        testrig.display()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("src").join("lib.rs"), "").unwrap();
    std::fs::write(dir.join("tests").join("plan.rs"), plan).unwrap();
    std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

/// A fresh folder for one test's files, under the cargo target folder.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("integration")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs an example plan binary with `args`, a private runpath and `--json report.json`.
pub fn run_plan(binary: &str, name: &str, args: &[&str]) -> PlanRun {
    let dir = scratch_dir(name);
    let mut command = Command::new(binary);
    command
        .args(args)
        .arg("--runpath")
        .arg(dir.join("runpath"))
        .arg("--json")
        .arg(dir.join("report.json"))
        .env_remove("NO_COLOR");
    finish(command.output().expect("the plan binary starts"), dir)
}

/// Runs a plan binary with exactly `args`.
pub fn run_raw(binary: &str, args: &[&str]) -> PlanRun {
    let output = Command::new(binary)
        .args(args)
        .output()
        .expect("the plan binary starts");
    finish(output, PathBuf::new())
}

fn finish(output: Output, dir: PathBuf) -> PlanRun {
    PlanRun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        dir,
    }
}

/// A plan process that gets Ctrl-C and is waited for when dropped unless it has ended, so a
/// failing test leaves nothing running (on Ctrl-C a plan stops its drivers).
pub struct Interrupted(pub Child);

impl Drop for Interrupted {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-INT", &self.0.id().to_string()])
                .status();
            let _ = self.0.wait();
        }
    }
}

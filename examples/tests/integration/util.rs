//! Running example plans as processes and reading what they leave behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

//! The web UI in a real browser: Debian's Chromium driven by playwright-core (installed by
//! `.ci/run`), against a running interactive plan and a `--html` report opened from disk.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn the_ui_runs_testcases_toggles_environments_filters_and_exports_offline_html() {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    assert!(
        Path::new("/usr/bin/chromium").exists()
            && e2e.join("node_modules/playwright-core").exists(),
        "the browser tests need Debian's chromium and playwright-core: apt-get install -y chromium nodejs npm && npm ci --prefix examples/tests/e2e (.ci/run does this)"
    );
    let dir = crate::util::scratch_dir("browser");
    let html = dir.join("report.html");
    let failures = Command::new(env!("CARGO_BIN_EXE_failures"))
        .arg("--html")
        .arg(&html)
        .arg("-q")
        .output()
        .unwrap();
    assert!(
        html.exists(),
        "{}",
        String::from_utf8_lossy(&failures.stderr)
    );

    let mut plan = crate::util::Interrupted(
        Command::new(env!("CARGO_BIN_EXE_interactive"))
            .args(["-i", "0", "--runpath"])
            .arg(dir.join("runpath"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(plan.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("Interactive testrig UI: ")
        .unwrap()
        .to_string();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let output = Command::new("node")
        .arg(e2e.join("ui.mjs"))
        .arg(&url)
        .arg(&html)
        .arg(&artifacts)
        .output()
        .expect("node runs");
    drop(plan);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{text}");
    assert!(output.status.success(), "browser checks failed:\n{text}");
    assert!(text.contains("7 passed, 0 failed"), "{text}");
    assert!(artifacts.join("ui.png").exists());
}

//! The web UI in a real browser: Debian's Chromium driven by playwright-core (installed by
//! `.ci/run`), against a running interactive plan and a `--html` report opened from disk.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// ui.mjs: a keyboard-only walk, the details pane updated in place, chip and header counts,
/// cancelled testcases, comparison labels, the toast cap, the header at 800×600, no CSP
/// violation, the offline HTML reports (with an xfail counted as the JSON counts it), and the
/// virtualised tree on a report of 10,000 testcases (rows built, scrolling, the keyboard
/// across the virtual window, a deep row found).
#[test]
fn the_ui_runs_testcases_toggles_environments_filters_and_exports_offline_html() {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    assert!(
        Path::new("/usr/bin/chromium").exists()
            && e2e.join("node_modules/playwright-core").exists(),
        "the browser tests need Debian's chromium and playwright-core: apt-get install -y chromium nodejs npm && npm ci --prefix examples/tests/e2e (.ci/run does this)"
    );
    let dir = crate::util::scratch_dir("browser");
    let html = html_report(env!("CARGO_BIN_EXE_failures"), &dir.join("report.html"));
    let xfail_html = html_report(
        env!("CARGO_BIN_EXE_parametrize"),
        &dir.join("parametrize.html"),
    );

    let mut plan = crate::util::Interrupted(
        Command::new(env!("CARGO_BIN_EXE_interactive"))
            // Edits elsewhere in the workspace must not start a rebuild mid-test.
            .args(["-i", "0", "--no-reload-watch", "--runpath"])
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
        .arg(&xfail_html)
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
    assert!(text.contains("19 passed, 0 failed"), "{text}");
    assert!(artifacts.join("ui.png").exists());
}

/// graph.mjs: the driver connection graph of a test's environment panel, in the `--html`
/// report of `service_faults` (Redis `cache`, with App `holder`, TcpClient `client` and the
/// testcases connected to it: a box each, arrows labelled with the cache's address), the note
/// of a test whose environment never started, a made-up environment of eight parties laid out
/// with nothing overlapping, and the live UI drawing the graph when the environment stops.
/// Screenshots: `graph.png`, `graph-made-up.png`, `graph-made-up-wide.png`, `graph-live.png`
/// in the scratch folder.
#[test]
fn the_environment_panel_draws_the_driver_connection_graph() {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    assert!(
        Path::new("/usr/bin/chromium").exists()
            && e2e.join("node_modules/playwright-core").exists(),
        "the browser tests need Debian's chromium and playwright-core: apt-get install -y chromium nodejs npm && npm ci --prefix examples/tests/e2e (.ci/run does this)"
    );
    let dir = crate::util::scratch_dir("browser-graph");
    let html = html_report_of(
        env!("CARGO_BIN_EXE_service_faults"),
        &dir.join("graph.html"),
        &["--patterns", "Graph", "--patterns", "RedisBadConfig"],
    );

    let mut plan = crate::util::Interrupted(
        Command::new(env!("CARGO_BIN_EXE_service_faults"))
            // Edits elsewhere in the workspace must not start a rebuild mid-test.
            .args(["-i", "0", "--no-reload-watch"])
            .args(["--patterns", "Graph", "--runpath"])
            .arg(dir.join("live-runpath"))
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

    let output = Command::new("node")
        .arg(e2e.join("graph.mjs"))
        .arg(&html)
        .arg(&dir)
        .arg(&url)
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
    assert!(text.contains("5 passed, 0 failed"), "{text}");
    assert!(dir.join("graph.png").exists());
}

/// Runs an example plan with `--html path` and returns the path.
fn html_report(plan: &str, path: &Path) -> std::path::PathBuf {
    html_report_of(plan, path, &[])
}

/// Runs an example plan with `args` and `--html path` and returns the path.
fn html_report_of(plan: &str, path: &Path, args: &[&str]) -> std::path::PathBuf {
    let run = Command::new(plan)
        .args(args)
        .arg("--html")
        .arg(path)
        .arg("-q")
        .arg("--runpath")
        .arg(path.with_extension("runpath"))
        .output()
        .unwrap();
    assert!(path.exists(), "{}", String::from_utf8_lossy(&run.stderr));
    path.to_path_buf()
}

/// model.mjs: the browser's report model folds a testcase's compact record exactly as the
/// updates it stands for, on every prefix of a run (node alone, no browser).
#[test]
fn the_ui_model_folds_a_compact_record_as_its_updates() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/model.mjs");
    let output = Command::new("node")
        .arg(&script)
        .output()
        .expect("node runs (apt-get install -y nodejs)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("checks passed"), "{text}");
}

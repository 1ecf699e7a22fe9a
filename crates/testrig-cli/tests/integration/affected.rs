//! `cargo testrig affected` end to end on a fixture crate (free functions, methods, a
//! generic, a closure, an inlined function, a macro and its invocation, a trait default
//! method, a derive, a const): record, apply scripted edits, and assert the exact set of
//! testcases each edit selects.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixture;

fn fixture_copy(name: &str) -> PathBuf {
    fixture::copy("affected-demo", name)
}

/// Runs `cargo testrig affected --test plan -- ARGS` in the fixture.
fn affected(dir: &Path, plan_args: &[&str]) -> String {
    affected_with(dir, &[], plan_args)
}

/// Runs `cargo testrig affected --test plan OPTIONS -- ARGS` in the fixture.
fn affected_with(dir: &Path, options: &[&str], plan_args: &[&str]) -> String {
    let output = fixture::cargo_testrig(dir, &["affected", "--test", "plan"])
        .args(options)
        .arg("--")
        .args(plan_args)
        .output()
        .expect("cargo-testrig runs");
    fixture::text_of(&output)
}

/// The testcases a dry run selects (from its explanation lines).
fn selection(dir: &Path) -> BTreeSet<String> {
    let text = affected(dir, &["--dry-run"]);
    assert!(text.contains("affected: selected "), "{text}");
    // Explanation lines read `  Test::Suite::testcase: reasons`.
    text.lines()
        .filter(|line| line.starts_with("  "))
        .filter_map(|line| line.trim().split_once(": "))
        .map(|(uid, _)| uid.rsplit("::").next().unwrap().to_string())
        .collect()
}

/// Runs the selection, recording it, so the next edit starts from a clean state.
fn record(dir: &Path) -> String {
    affected(dir, &[])
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(from),
        "fixture changed: `{from}` not in {file}"
    );
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| name.to_string()).collect()
}

const GEOMETRY_USERS: [&str; 4] = [
    "computes_area",
    "computes_perimeter",
    "computes_diagonal",
    "sums_areas",
];

#[test]
fn each_kind_of_change_selects_exactly_the_testcases_that_executed_it() {
    let _turn = fixture::take_turn();
    let dir = fixture_copy("affected");
    let first = record(&dir);
    assert!(
        first.contains(
            "affected: selected 9 of 9 testcases (running everything: no coverage was recorded yet for this run variant)"
        ),
        "{first}"
    );
    assert!(
        first.contains("affected: recording coverage in worker processes"),
        "{first}"
    );
    assert!(
        first.contains("affected: recorded the coverage of 9 testcases"),
        "{first}"
    );
    assert!(first.contains("9 passed, 0 failed, 0 skipped"), "{first}");
    assert_eq!(selection(&dir), set(&[]), "nothing changed");
    // The compiler wrapper kept the parse of each source as compiled, by content.
    let parsed = |file: &str| {
        let digest = testrig::impact::file_digest(&dir.join(file)).unwrap();
        fixture::coverage_target()
            .join("testrig-fingerprints")
            .join(format!("{digest}.json"))
            .is_file()
    };
    assert!(parsed("src/geometry.rs") && parsed("tests/plan.rs"));
    // A damaged entry is parsed again, never read as "no units".
    let entry = fixture::coverage_target()
        .join("testrig-fingerprints")
        .join(format!(
            "{}.json",
            testrig::impact::file_digest(&dir.join("src/geometry.rs")).unwrap()
        ));
    std::fs::write(&entry, "{\"units\": [").unwrap();
    assert_eq!(selection(&dir), set(&[]), "nothing changed");

    // Edits that change no tokens select nothing.
    edit(
        &dir,
        "src/geometry.rs",
        "/// The area of a rectangle.",
        "// a comment\n/// The area of a rectangle, in square units.",
    );
    edit(
        &dir,
        "src/geometry.rs",
        "    2 * (rect.width + rect.height)",
        "    2 *   ( rect.width+rect.height )",
    );
    edit(
        &dir,
        "src/geometry.rs",
        "//! Free functions",
        "\n\n\n//! Free functions",
    );
    assert_eq!(
        selection(&dir),
        set(&[]),
        "comments, whitespace, doc comments, line shifts"
    );

    let cases: [(&str, &str, &str, &[&str]); 9] = [
        (
            "src/geometry.rs",
            "rect.width * rect.height * UNIT",
            "UNIT * rect.width * rect.height",
            &["computes_area"],
        ),
        (
            "src/text.rs",
            "Some(best) if best >= item",
            "Some(best) if item <= best",
            &["finds_largest"],
        ),
        (
            "src/geometry.rs",
            ".map(|rect| rect.width * rect.height)",
            ".map(|rect| rect.height * rect.width)",
            &["sums_areas"],
        ),
        (
            "src/geometry.rs",
            "    value * value",
            "    value.pow(2)",
            &["computes_diagonal"],
        ),
        ("src/macros.rs", "value * 2", "value + value", &["doubles"]),
        (
            "src/macros.rs",
            "make_double!(double_u32, u32);",
            "make_double!(double_u32, u32);\nmake_double!(double_u64, u64);",
            &["doubles"],
        ),
        (
            "src/traits.rs",
            "format!(\"hello, {}\", self.name())",
            "format!(\"hello, {}\", self.name().as_str())",
            &["greets"],
        ),
        (
            "src/geometry.rs",
            "#[derive(Debug, Clone, Copy)]",
            "#[derive(Debug, Clone, Copy, PartialEq)]",
            &GEOMETRY_USERS,
        ),
        (
            "src/geometry.rs",
            "pub const UNIT: u32 = 1;",
            "pub const UNIT: u32 = 2 - 1;",
            &GEOMETRY_USERS,
        ),
    ];
    for (file, from, to, expected) in cases {
        edit(&dir, file, from, to);
        assert_eq!(
            selection(&dir),
            set(expected),
            "after `{from}` → `{to}` in {file}"
        );
        let ran = record(&dir);
        assert!(
            ran.contains(&format!(
                "affected: selected {} of 9 testcases",
                expected.len()
            )),
            "{ran}"
        );
        assert_eq!(selection(&dir), set(&[]), "recorded after `{to}`");
    }

    // A testcase that failed last time runs again until it passes.
    edit(
        &dir,
        "tests/plan.rs",
        "result.is_false(std::path::Path::new(\"fail.flag\").exists()",
        "result.is_true(std::path::Path::new(\"fail.flag\").exists()",
    );
    let failing = record(&dir);
    assert!(failing.contains("0 passed, 1 failed"), "{failing}");
    let explained = affected(&dir, &["--dry-run"]);
    assert!(
        explained.contains("Shapes::Shapes::can_fail: failed last time"),
        "{explained}"
    );
    std::fs::write(dir.join("fail.flag"), "").unwrap();
    let fixed = record(&dir);
    assert!(fixed.contains("1 passed, 0 failed"), "{fixed}");
    assert_eq!(selection(&dir), set(&[]));

    // A new testcase is selected (the suite's impl block changed too, so the per-file rule
    // also selects the other testcases of tests/plan.rs: more than necessary, never less).
    edit(
        &dir,
        "tests/plan.rs",
        "    /// Fails while",
        "    #[testcase]\n    fn added_later(&self, _env: &Env, result: &mut Recorder) {\n        result.equal(1, 1, \"one\");\n    }\n\n    /// Fails while",
    );
    let with_new = selection(&dir);
    assert!(with_new.contains("added_later"), "{with_new:?}");
    let explained = affected(&dir, &["--dry-run"]);
    assert!(
        explained.contains("Shapes::Shapes::added_later: new"),
        "{explained}"
    );
    record(&dir);

    // A deleted testcase is gone from the selection and the count; added again with other
    // code, it is selected: its old record holds the fingerprint of the old body. (Added
    // back unchanged, nothing it depends on changed since it last ran, and skipping it is
    // safe.)
    let added = "    #[testcase]\n    fn added_later(&self, _env: &Env, result: &mut Recorder) {\n        result.equal(1, 1, \"one\");\n    }\n\n";
    edit(&dir, "tests/plan.rs", added, "");
    let without = affected(&dir, &["--dry-run"]);
    assert!(without.contains(" of 9 testcases"), "{without}");
    assert!(!without.contains("added_later"), "{without}");
    record(&dir);
    edit(
        &dir,
        "tests/plan.rs",
        "    /// Fails while",
        &format!(
            "{}    /// Fails while",
            added.replace("equal(1, 1", "equal(2, 2")
        ),
    );
    assert!(selection(&dir).contains("added_later"));
    record(&dir);
    assert_eq!(selection(&dir), set(&[]));

    // Declared inputs: a test's data file, and a file its driver declares.
    for file in ["data/expected.txt", "data/server.conf"] {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}# edited\n")).unwrap();
        let explained = affected(&dir, &["--dry-run"]);
        assert!(
            explained.contains(&format!(
                "Files::Files::reads_expected: changed inputs: {file}"
            )),
            "{explained}"
        );
        assert_eq!(
            selection(&dir),
            set(&["reads_expected"]),
            "after editing {file}"
        );
        record(&dir);
        assert_eq!(selection(&dir), set(&[]), "recorded after editing {file}");
    }

    // A deleted database means: run everything, say why, rebuild it.
    let impact = dir.join("target/testrig-impact");
    std::fs::remove_dir_all(&impact).unwrap();
    let rebuilt = record(&dir);
    assert!(
        rebuilt.contains(
            "affected: selected 10 of 10 testcases (running everything: no coverage was recorded yet for this run variant)"
        ),
        "{rebuilt}"
    );
    assert_eq!(selection(&dir), set(&[]));

    // A user-given part of the run variant keeps records apart, like testmon's
    // run_variant_expression: the other variant has none yet, and asking wrote nothing.
    let other = affected_with(&dir, &["--variant", "db=2"], &["--dry-run"]);
    assert!(
        other.contains("affected: selected 10 of 10 testcases (running everything: no coverage was recorded yet for this run variant)"),
        "{other}"
    );
    assert_eq!(
        selection(&dir),
        set(&[]),
        "the default variant's records are kept"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The default records in worker processes (above); `--pool thread` records in the plan's
/// process, one testcase at a time, and must charge the same code to the same testcases.
#[test]
fn recording_on_threads_selects_what_recording_in_workers_selects() {
    let _turn = fixture::take_turn();
    let dir = fixture_copy("affected-threads");
    let first = affected(&dir, &["--pool", "thread"]);
    assert!(
        first.contains("affected: recording coverage, so testcases run one at a time"),
        "{first}"
    );
    assert!(
        first.contains("affected: recorded the coverage of 9 testcases"),
        "{first}"
    );
    assert_eq!(selection(&dir), set(&[]), "nothing changed");
    edit(
        &dir,
        "src/geometry.rs",
        "rect.width * rect.height * UNIT",
        "UNIT * rect.width * rect.height",
    );
    assert_eq!(selection(&dir), set(&["computes_area"]));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_plan_built_without_instrumentation_says_how_to_build_it() {
    let _turn = fixture::take_turn();
    let dir = fixture_copy("affected-plain");
    let output = Command::new(env!("CARGO"))
        .args(["test", "--test", "plan", "--", "--affected"])
        .current_dir(&dir)
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("fresh-crate-target"),
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(text.contains("--affected needs a plan built with coverage instrumentation: run it with `cargo testrig affected --test <name>`"), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn watch_reruns_what_a_saved_change_affects() {
    use std::io::{BufRead, BufReader};
    use std::sync::mpsc;
    use std::time::Duration;

    let _turn = fixture::take_turn();
    let dir = fixture_copy("affected-watch");
    let mut watch = Interrupted(
        fixture::cargo_testrig(&dir, &["watch", "--test", "plan", "--", "--explain"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (lines, output) = mpsc::channel();
    let stdout = watch.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let wait_for = |needle: &str| -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = output
                .recv_timeout(Duration::from_secs(240))
                .unwrap_or_else(|_| panic!("no `{needle}` in {seen:#?}"));
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return seen;
            }
        }
    };
    wait_for("waiting for changes");
    edit(
        &dir,
        "src/text.rs",
        "Some(best) if best >= item",
        "Some(best) if item <= best",
    );
    let second = wait_for("waiting for changes");
    drop(watch);
    assert!(
        second
            .iter()
            .any(|line| line.starts_with("cargo testrig watch: ") && line.ends_with(" changed")),
        "{second:#?}"
    );
    assert!(
        second
            .iter()
            .any(|line| line.contains("affected: selected 1 of 9 testcases")),
        "{second:#?}"
    );
    assert!(
        second
            .iter()
            .any(|line| line
                .contains("Shapes::Shapes::finds_largest: changed: src/text.rs::largest")),
        "{second:#?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// One HTTP request to the interactive plan at `address`; the status and the JSON body.
fn http(address: &str, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or_default())
}

/// Polls the full interactive report until `done` holds for it; on a timeout, shows the
/// plan's error output from `log`.
fn wait_for_report(
    address: &str,
    log: &Path,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let (_, full) = http(address, "GET", "/api/v1/interactive/report/full", "");
        if done(&full["report"]) {
            return full["report"].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {}\n{}",
            full["report"]["reload"],
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A plan process that gets Ctrl-C and is waited for when the test ends, failed or not.
struct Interrupted(std::process::Child);

impl Drop for Interrupted {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Every testcase of a report, by name, with why its result is stale (`None`: fresh).
fn stale_testcases(
    report: &serde_json::Value,
) -> std::collections::BTreeMap<String, Option<String>> {
    fn walk(
        node: &serde_json::Value,
        out: &mut std::collections::BTreeMap<String, Option<String>>,
    ) {
        if node["kind"] == "testcase" {
            out.insert(
                node["name"].as_str().unwrap().to_string(),
                node["stale"].as_str().map(str::to_string),
            );
        }
        for child in node["children"].as_array().into_iter().flatten() {
            walk(child, out);
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(&report["plan"], &mut out);
    out
}

#[test]
fn a_code_reload_marks_stale_the_results_of_testcases_that_ran_the_changed_code() {
    use std::io::{BufRead, BufReader};

    let _turn = fixture::take_turn();
    let dir = fixture_copy("affected-reload");
    let recorded = record(&dir);
    assert!(
        recorded.contains("affected: recorded the coverage of 9 testcases"),
        "{recorded}"
    );
    // The interactive plan is an ordinary build (no instrumentation): it only reads what
    // `cargo testrig affected` recorded.
    let build = Command::new(env!("CARGO"))
        .args([
            "test",
            "--no-run",
            "--message-format",
            "json-render-diagnostics",
            "--test",
            "plan",
        ])
        .current_dir(&dir)
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("fresh-crate-target"),
        )
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let plan = String::from_utf8_lossy(&build.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("the build names the plan executable");
    // Beside the crate, not in it: the plan reloads on any file saved in its crate.
    let log = dir.with_extension("stderr");
    // Reloads on request only: the watcher has its own tests; this one is about what a
    // reload marks stale. No token, so the requests below stay plain (127.0.0.1 allows it).
    let mut plan = Interrupted(
        Command::new(plan)
            .args([
                "-i",
                "0",
                "--no-reload-watch",
                "--interactive-no-token",
                "--runpath",
            ])
            .arg(dir.join("runpath"))
            .current_dir(&dir)
            .env("CARGO", env!("CARGO"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(plan.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let address = line
        .trim()
        .strip_prefix("Interactive testrig UI: http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .strip_suffix('/')
        .unwrap_or_else(|| panic!("a URL without a token expected: {line:?}"))
        .to_string();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));

    let (status, body) = http(
        &address,
        "PUT",
        "/api/v1/interactive/report",
        r#"{"runtime_status":"running"}"#,
    );
    assert_eq!(status, 202, "{body}");
    wait_for_report(&address, &log, "the run", |report| {
        report["plan"]["counts"]["passed"] == 9
    });

    // `area` is not a testcase: only the coverage knows that `computes_area` runs it.
    edit(
        &dir,
        "src/geometry.rs",
        "rect.width * rect.height * UNIT",
        "rect.height * rect.width * UNIT",
    );
    // 409 while the run winds down.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, body) = http(&address, "POST", "/api/v1/interactive/reload", "");
        if status == 202 {
            break;
        }
        assert!(
            status == 409 && std::time::Instant::now() < deadline,
            "{status} {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let report = wait_for_report(&address, &log, "the reload", |report| {
        report["reload"]["phase"] == "reloaded"
    });
    drop(plan);
    let message = report["reload"]["message"].as_str().unwrap();
    assert!(message.contains("(1 stale"), "{message}");
    assert!(
        message.contains("as `cargo testrig affected` recorded it"),
        "{message}"
    );
    let stale = stale_testcases(&report);
    assert_eq!(stale.len(), 9, "{stale:?}");
    for (name, reason) in stale {
        if name == "computes_area" {
            assert_eq!(
                reason.as_deref(),
                Some("changed: src/geometry.rs::area"),
                "{name}"
            );
        } else {
            assert_eq!(reason, None, "{name}");
        }
    }
    assert_eq!(report["plan"]["counts"]["passed"], 9, "results are kept");
    std::fs::remove_dir_all(dir).unwrap();
}

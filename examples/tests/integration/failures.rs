//! The failing example: how failures read on the console, in JSON and in JUnit XML.

use testrig::model::{EntryDetail, Status};

use crate::util::{run_plan, scratch_dir};

const PLAN: &str = env!("CARGO_BIN_EXE_failures");

#[test]
fn failures_exit_1_and_show_why() {
    let xml_dir = scratch_dir("failures-xml");
    let run = run_plan(PLAN, "failures", &["--xml", xml_dir.to_str().unwrap()]);
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    // 1 passes; 4 fail (two assertions, text, slices, structured) + the strict xpass;
    // 3 error (returned error, panic, timeout) + 1 not run because setup failed.
    assert_eq!(
        run.last_line(),
        "1 passed, 9 failed, 0 skipped",
        "{}",
        run.stdout
    );
    let out = &run.stdout;
    assert!(out.contains("Failures:"), "{out}");
    assert!(out.contains("actual 54 == expected 42"), "{out}");
    assert!(
        out.contains("-port = 8080") && out.contains("+port = 8081"),
        "unified diff missing:\n{out}"
    );
    assert!(out.contains("75"), "table cell missing:\n{out}");
    assert!(out.contains("Key(b)"), "dict key missing:\n{out}");
    assert!(out.contains("the service answered 503"), "{out}");
    assert!(out.contains("index out of bounds"), "{out}");
    assert!(out.contains("timed out after 300ms"), "{out}");
    assert!(out.contains("could not reach the database"), "{out}");
    assert!(
        !run.stderr.contains("thread '"),
        "panics must not spill the default panic message:\n{}",
        run.stderr
    );

    let report = run.report();
    let testcases = report.plan.testcases();
    let status = |name: &str| {
        testcases
            .iter()
            .find(|node| node.name == name)
            .unwrap()
            .status
    };
    assert_eq!(status("wrong_answer"), Status::Failed);
    assert_eq!(status("returns_an_error"), Status::Error);
    assert_eq!(status("panics"), Status::Error);
    assert_eq!(status("too_slow"), Status::Error);
    assert_eq!(status("fixed_but_still_marked"), Status::XpassStrict);
    assert_eq!(status("needs_the_database"), Status::Error);
    assert_eq!(status("passes"), Status::Passed);

    // A failed assertion does not stop the testcase: the log after it is recorded.
    let wrong = testcases
        .iter()
        .find(|node| node.name == "wrong_answer")
        .unwrap();
    assert_eq!(wrong.entries.len(), 3);
    assert!(matches!(wrong.entries[2].detail, EntryDetail::Log { .. }));
    // Errors carry where they happened.
    let panicked = testcases.iter().find(|node| node.name == "panics").unwrap();
    let location = panicked.error.as_ref().unwrap().location.as_ref().unwrap();
    assert!(location.file.ends_with("failures.rs"), "{location:?}");
    let returned = testcases
        .iter()
        .find(|node| node.name == "returns_an_error")
        .unwrap();
    assert!(returned.error.as_ref().unwrap().location.is_some());
    // Teardown ran and recorded on the suite after setup failed.
    let broken = &report.plan.children[0].children[1];
    assert_eq!(broken.status, Status::Error);
    assert!(
        broken
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("setup failed")
    );
    assert!(
        broken
            .entries
            .iter()
            .any(|entry| entry.description.contains("teardown")
                || format!("{:?}", entry.detail).contains("teardown runs"))
    );

    let xml = std::fs::read_to_string(xml_dir.join("failures.xml")).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(junit.tests, 10);
    assert_eq!(junit.failures, 5);
    assert_eq!(junit.errors, 4);
    assert!(xml.contains("actual 54 == expected 42"), "{xml}");
}

/// `--color always` paints the statuses; `--color never` writes no escape code at all.
#[test]
fn the_console_colours_statuses_only_when_asked() {
    let coloured = run_plan(PLAN, "failures-colour", &["--color", "always"]);
    assert_eq!(coloured.code, 1, "{}", coloured.stderr);
    // ANSI: bold green PASS, bold red FAIL, each reset after.
    assert!(
        coloured.stdout.contains("\x1b[1;32m        PASS\x1b[0m"),
        "{}",
        coloured.stdout
    );
    assert!(
        coloured.stdout.contains("\x1b[1;31m        FAIL\x1b[0m"),
        "{}",
        coloured.stdout
    );
    let plain = run_plan(PLAN, "failures-plain", &["--color", "never"]);
    assert!(!plain.stdout.contains('\x1b'), "{}", plain.stdout);
    assert_eq!(plain.last_line(), "1 passed, 9 failed, 0 skipped");
}

/// `--events`: every event of the run, one JSON line each, numbered in order; the stream ends
/// with the plan's end and agrees with the report.
#[test]
fn the_event_stream_holds_every_event_in_order() {
    let dir = scratch_dir("failures-events-stream");
    let events = dir.join("stream/events.jsonl");
    let run = run_plan(
        PLAN,
        "failures-events",
        &["--events", events.to_str().unwrap()],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let text = std::fs::read_to_string(&events).expect("the event stream was written");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
        .collect();
    for (at, line) in lines.iter().enumerate() {
        assert_eq!(line["schema"], 1, "{line}");
        assert_eq!(line["seq"], at as u64 + 1, "{line}");
        assert!(
            line["time"].as_f64().is_some_and(|time| time > 0.0),
            "{line}"
        );
    }
    assert_eq!(lines.last().unwrap()["event"]["event"], "plan_finished");
    let finished: Vec<(&str, &str)> = lines
        .iter()
        .filter(|line| line["event"]["event"] == "testcase_finished")
        .map(|line| {
            (
                line["event"]["uid"].as_str().unwrap(),
                line["event"]["status"].as_str().unwrap(),
            )
        })
        .collect();
    let report = run.report();
    let testcases = report.plan.testcases();
    assert_eq!(finished.len(), testcases.len(), "{finished:?}");
    for testcase in testcases {
        let status = serde_json::to_value(testcase.status).unwrap();
        assert!(
            finished.contains(&(testcase.uid.as_str(), status.as_str().unwrap())),
            "{} {status} missing from {finished:?}",
            testcase.uid
        );
    }
}

/// An event stream that cannot be created is a usage error that names the path.
#[test]
fn an_unwritable_event_stream_is_refused_up_front() {
    let dir = scratch_dir("failures-events-bad-path");
    std::fs::write(dir.join("file"), "").unwrap();
    let bad = dir.join("file/events.jsonl");
    let run = run_plan(
        PLAN,
        "failures-events-bad",
        &["--events", bad.to_str().unwrap()],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("event stream"), "{}", run.stderr);
    assert!(run.stderr.contains("events.jsonl"), "{}", run.stderr);
}

/// Whoever reads the console stopped reading (`plan | head -1`): the console stops, the run
/// goes on, the reports are complete and the exit status is still the verdict.
#[test]
fn a_closed_console_loses_no_report() {
    use std::process::{Command, Stdio};
    let dir = scratch_dir("failures-closed-stdout");
    let mut child = Command::new(PLAN)
        .arg("--runpath")
        .arg(dir.join("runpath"))
        .arg("--json")
        .arg(dir.join("report.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the console stopped receiving events"),
        "{stderr}"
    );
    let report: testrig::model::Report =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report.plan.testcases().len(), 10);
}

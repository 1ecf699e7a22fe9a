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

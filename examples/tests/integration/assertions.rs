//! The passing example: every assertion family, the JSON report and JUnit XML.

use testrig::model::{EntryDetail, NodeKind, Status};

use crate::util::run_plan;

const PLAN: &str = env!("CARGO_BIN_EXE_assertions");

#[test]
fn every_assertion_family_passes_and_is_reported_with_its_values() {
    let xml = crate::util::scratch_dir("assertions-xml").join("junit.xml");
    let run = run_plan(PLAN, "assertions", &["--xml", xml.to_str().unwrap()]);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(run.last_line(), "7 passed, 0 failed, 0 skipped");
    assert!(
        run.stdout
            .contains(&format!("JUnit XML: {}", xml.display())),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("\n7 passed, 0 failed, 0 skipped\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("PASS ["), "{}", run.stdout);
    assert!(
        run.stdout.contains("Assertions::Basic::comparisons"),
        "{}",
        run.stdout
    );

    let report = run.report();
    assert_eq!(report.schema_version, testrig::model::SCHEMA_VERSION);
    assert!(!report.interrupted);
    assert_eq!(report.plan.status, Status::Passed);
    assert_eq!(report.plan.counts.total, 7);
    assert_eq!(report.plan.counts.passed, 7);
    let test = &report.plan.children[0];
    assert_eq!(test.kind, NodeKind::Test);
    assert_eq!(
        test.children
            .iter()
            .map(|suite| suite.name.as_str())
            .collect::<Vec<_>>(),
        ["Basic", "Text", "Structured"]
    );

    let testcases = report.plan.testcases();
    let comparisons = testcases
        .iter()
        .find(|node| node.uid == "Assertions/Basic/comparisons")
        .unwrap();
    assert_eq!(comparisons.entries.len(), 9);
    match &comparisons.entries[0].detail {
        EntryDetail::Comparison {
            actual, expected, ..
        } => assert_eq!((actual.as_str(), expected.as_str()), ("42", "42")),
        other => panic!("first entry is not a comparison: {other:?}"),
    }
    assert_eq!(comparisons.entries[0].description, "the answer");
    assert!(
        comparisons.entries[0]
            .location
            .as_ref()
            .unwrap()
            .file
            .ends_with("assertions.rs")
    );
    let kinds: std::collections::BTreeSet<&str> = testcases
        .iter()
        .flat_map(|node| node.entries.iter().map(|entry| entry.detail.type_name()))
        .collect();
    for kind in [
        "Comparison",
        "IsClose",
        "Boolean",
        "Contain",
        "EqualSlices",
        "Raises",
        "TextDiff",
        "Regex",
        "TableMatch",
        "ColumnContain",
        "TableLog",
        "DictMatch",
        "DictCheck",
        "Log",
        "Attachment",
        "Group",
    ] {
        assert!(kinds.contains(kind), "no {kind} entry in {kinds:?}");
    }

    // pre_testcase and post_testcase hooks record into the testcase they surround.
    let tables = testcases.iter().find(|node| node.name == "tables").unwrap();
    match (
        &tables.entries.first().unwrap().detail,
        tables.entries.last().unwrap(),
    ) {
        (EntryDetail::Log { message, .. }, last) => {
            assert_eq!(message, "starting tables");
            assert_eq!(last.description, "the test's runpath exists");
        }
        other => panic!("no hook entries: {other:?}"),
    }

    // The attachment was copied into the runpath and is linked relative to it.
    let logs = testcases
        .iter()
        .find(|node| node.name == "logs_and_attachments")
        .unwrap();
    let attachment = logs
        .entries
        .iter()
        .find_map(|entry| match &entry.detail {
            EntryDetail::Attachment { path, size, .. } => Some((path.clone(), *size)),
            _ => None,
        })
        .unwrap();
    let copied = std::path::Path::new(&report.runpath).join(&attachment.0);
    assert_eq!(std::fs::metadata(&copied).unwrap().len(), attachment.1);

    let junit =
        quick_junit::Report::deserialize_from_str(&std::fs::read_to_string(&xml).unwrap()).unwrap();
    assert_eq!(junit.tests, 7);
    assert_eq!(junit.failures, 0);
    assert_eq!(junit.test_suites.len(), 3);
}

#[test]
fn verbose_prints_every_assertion() {
    let run = run_plan(PLAN, "assertions-verbose", &["-v"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("the answer"), "{}", run.stdout);
    assert!(
        run.stdout.contains("server announces its port"),
        "{}",
        run.stdout
    );
}

#[test]
fn quiet_prints_only_the_summary_when_all_pass() {
    let run = run_plan(PLAN, "assertions-quiet", &["-q"]);
    assert_eq!(run.code, 0);
    assert!(!run.stdout.contains("PASS ["), "{}", run.stdout);
    assert!(
        run.stdout.contains("7 passed, 0 failed, 0 skipped"),
        "{}",
        run.stdout
    );
}

//! One counting rule for expected failures, the same in every place a run is summed up: the
//! console's closing line folds xfail and xpass into passed, while the summary line, the JSON
//! counts and JUnit name them.

use crate::util::{run_plan, scratch_dir};

#[test]
fn an_xfail_is_named_in_the_summary_json_and_junit_and_passes_in_the_closing_line() {
    let xml = scratch_dir("counting-xml").join("parametrize.xml");
    let run = run_plan(
        env!("CARGO_BIN_EXE_parametrize"),
        "counting-xfail",
        &["--xml", xml.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    // 15 passed (14 passed + the xfail), none failed, one skipped.
    assert_eq!(run.last_line(), "15 passed, 0 failed, 1 skipped");
    let summary = run
        .stdout
        .lines()
        .find(|line| line.starts_with("Summary"))
        .unwrap_or_default();
    assert!(
        summary.ends_with("15 testcases run: 14 passed, 0 failed, 1 xfail, 1 skipped"),
        "{summary}"
    );
    let counts = run.report().plan.counts;
    assert_eq!(
        (
            counts.total,
            counts.passed,
            counts.xfail,
            counts.xpass,
            counts.skipped
        ),
        (16, 14, 1, 0, 1)
    );
    assert_eq!(counts.closing(), (15, 0, 1));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["plan"]["counts"]["xfail"], 1);
    assert_eq!(json["plan"]["counts"]["xpass"], 0);

    let junit = std::fs::read_to_string(&xml).unwrap();
    let xfail = testcase_element(&junit, "split_without_empty_fields");
    assert!(
        xfail.contains(r#"<skipped message="expected failure: split keeps empty fields"#)
            && xfail.contains(r#"type="xfail"/>"#),
        "{xfail}"
    );
    assert!(
        xfail.contains(r#"<property name="testrig.status" value="xfail"/>"#),
        "{xfail}"
    );
    // JUnit counts the xfail as skipped, with the skipped testcase: 2 skipped of 16.
    assert!(
        junit.contains(r#"tests="16""#) && junit.contains(r#"skipped="2""#),
        "{junit}"
    );
}

#[test]
fn a_strict_xpass_fails_everywhere() {
    let xml = scratch_dir("counting-strict-xml").join("failures.xml");
    let run = run_plan(
        env!("CARGO_BIN_EXE_failures"),
        "counting-strict",
        &["--xml", xml.to_str().unwrap()],
    );
    assert_eq!(run.code, 1);
    let counts = run.report().plan.counts;
    assert_eq!((counts.xpass, counts.xfail), (0, 0));
    let junit = std::fs::read_to_string(&xml).unwrap();
    let strict = testcase_element(&junit, "fixed_but_still_marked");
    assert!(strict.contains("<failure"), "{strict}");
    assert!(
        strict.contains(r#"<property name="testrig.status" value="xpass_strict"/>"#),
        "{strict}"
    );
}

/// The `<testcase name="NAME" …>…</testcase>` element of a JUnit document.
fn testcase_element<'a>(junit: &'a str, name: &str) -> &'a str {
    let start = junit
        .find(&format!(r#"<testcase name="{name}""#))
        .unwrap_or_else(|| panic!("no testcase {name} in\n{junit}"));
    let rest = &junit[start..];
    let end = rest.find("</testcase>").map_or(rest.len(), |end| end + 11);
    &rest[..end]
}

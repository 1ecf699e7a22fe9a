//! The JUnit XML exporter, for Jenkins, GitLab and GitHub test reporters.
//!
//! Testplan's layout is kept: one `<testsuites>` per MultiTest, one `<testsuite>` per suite,
//! `classname` = `Test:Suite:testcase`. Failure messages carry the failing assertions, so a
//! CI page shows why without opening the JSON report.
//!
//! Expected failures follow pytest's junitxml: an xfail is `<skipped type="xfail">` (pytest:
//! `pytest.xfail`) with the reason, a non-strict xpass a passing testcase that says so in
//! `<system-out>`, a strict xpass a `<failure>`. Each testcase also carries its testrig status
//! as the property `testrig.status`, so a reader can count exactly what the JSON counts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestRerun, TestSuite};
use testrig_model::{NodeKind, Report, ReportNode, Status};

use crate::export::atomic::write_atomically;
use crate::export::failure::{failure_lines, failure_summary};

/// Writes JUnit XML: one file if `path` ends in `.xml`, else one file per test in the folder
/// `path`. Returns the files written.
pub fn write_junit_reports(report: &Report, path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let single_file = path.extension().is_some_and(|extension| extension == "xml");
    let mut written = Vec::new();
    if single_file {
        let mut junit = quick_junit::Report::new(report.plan.name.as_str());
        for test in &report.plan.children {
            junit.add_test_suites(test_suites(test, &report.host));
        }
        write_junit(&junit, path)?;
        written.push(path.to_path_buf());
    } else {
        for test in &report.plan.children {
            let mut junit = quick_junit::Report::new(test.name.as_str());
            junit.add_test_suites(test_suites(test, &report.host));
            let file = path.join(format!("{}.xml", file_stem(&test.name)));
            write_junit(&junit, &file)?;
            written.push(file);
        }
    }
    Ok(written)
}

fn write_junit(junit: &quick_junit::Report, path: &Path) -> std::io::Result<()> {
    write_atomically(path, |writer| {
        junit.serialize(writer).map_err(std::io::Error::other)
    })
}

fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn seconds(node: &ReportNode) -> Duration {
    Duration::from_secs_f64(node.timer.duration().unwrap_or(0.0).max(0.0))
}

fn test_suites(test: &ReportNode, host: &str) -> Vec<TestSuite> {
    let mut suites = Vec::new();
    for suite in test
        .children
        .iter()
        .filter(|node| node.kind == NodeKind::Suite)
    {
        let mut junit_suite = TestSuite::new(format!("{}:{}", test.name, suite.name));
        junit_suite.set_time(seconds(suite));
        junit_suite.add_property(("hostname", host));
        if let Some(error) = &suite.error {
            junit_suite.set_system_err(format!("suite error: {}", error.message));
        }
        for testcase in suite.testcases() {
            junit_suite.add_test_case(test_case(&test.name, &suite.name, testcase));
        }
        suites.push(junit_suite);
    }
    suites
}

fn test_case(test: &str, suite: &str, node: &ReportNode) -> TestCase {
    let reason = node.reason.as_deref().unwrap_or("no reason given");
    let status = match node.status {
        Status::Passed | Status::Xpass => TestCaseStatus::success(),
        Status::Xfail => skipped("xfail", format!("expected failure: {reason}")),
        Status::Skipped => skipped("skipped", reason.to_string()),
        Status::Cancelled => skipped(
            "cancelled",
            node.error.as_ref().map_or_else(
                || "cancelled while running".to_string(),
                |error| error.message.clone(),
            ),
        ),
        Status::Unknown => skipped("not run", "not run".to_string()),
        Status::Failed | Status::XpassStrict => {
            non_success(NonSuccessKind::Failure, "assertion", node)
        }
        Status::Error | Status::Incomplete => non_success(NonSuccessKind::Error, "error", node),
        Status::Crashed => non_success(NonSuccessKind::Error, "crash", node),
        // A status a newer model adds counts as an error until this exporter knows it.
        _ => non_success(NonSuccessKind::Error, "error", node),
    };
    let mut status = status;
    // Earlier runs (`--rerun`): flaky runs of a testcase that passed in the end, reruns of
    // one that did not.
    for attempt in &node.attempts {
        let kind = match attempt.status {
            Status::Failed | Status::XpassStrict => NonSuccessKind::Failure,
            _ => NonSuccessKind::Error,
        };
        let mut rerun = TestRerun::new(kind);
        rerun.set_type(attempt.status.as_str());
        if let Some(error) = &attempt.error {
            rerun.set_message(error.message.as_str());
        }
        if let Some(duration) = attempt.timer.duration() {
            rerun.set_time(std::time::Duration::from_secs_f64(duration.max(0.0)));
        }
        status.add_rerun(rerun);
    }
    let mut testcase = TestCase::new(node.name.as_str(), status);
    if node.status == Status::Xpass {
        testcase.set_system_out(format!("XPASS: expected to fail ({reason}) but passed"));
    }
    testcase.add_property(("testrig.status", node.status.as_str()));
    testcase.set_classname(format!("{test}:{suite}:{}", node.name));
    testcase.set_time(seconds(node));
    testcase.set_assertions(
        node.entries
            .iter()
            .filter(|entry| entry.passed.is_some())
            .count(),
    );
    testcase
}

fn skipped(kind_name: &str, message: String) -> TestCaseStatus {
    let mut status = TestCaseStatus::skipped();
    status.set_type(kind_name);
    status.set_message(message);
    status
}

fn non_success(kind: NonSuccessKind, kind_name: &str, node: &ReportNode) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(kind);
    status.set_type(kind_name);
    status.set_message(failure_summary(node));
    status.set_description(failure_lines(node).join("\n"));
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml_of(status: Status) -> String {
        let mut node = ReportNode::new(NodeKind::Testcase, "t/s/case", "case");
        node.status = status;
        node.reason = Some("bug #12".into());
        let mut suite = TestSuite::new("t:s");
        suite.add_test_case(test_case("t", "s", &node));
        let mut junit = quick_junit::Report::new("plan");
        junit.add_test_suite(suite);
        junit.to_string().unwrap()
    }

    #[test]
    fn an_xfail_is_skipped_with_its_reason_as_pytest_writes_it() {
        let xml = xml_of(Status::Xfail);
        assert!(
            xml.contains(r#"<skipped message="expected failure: bug #12" type="xfail"/>"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<property name="testrig.status" value="xfail"/>"#),
            "{xml}"
        );
        assert!(xml.contains(r#"skipped="1""#), "{xml}");
    }

    #[test]
    fn an_xpass_passes_and_says_so_a_strict_one_fails() {
        let xml = xml_of(Status::Xpass);
        assert!(
            !xml.contains("<skipped") && !xml.contains("<failure"),
            "{xml}"
        );
        assert!(
            xml.contains("<system-out>XPASS: expected to fail (bug #12) but passed</system-out>"),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<property name="testrig.status" value="xpass"/>"#),
            "{xml}"
        );
        let strict = xml_of(Status::XpassStrict);
        assert!(
            strict.contains(r#"<failure"#) && strict.contains(r#"failures="1""#),
            "{strict}"
        );
    }

    #[test]
    fn a_cancelled_testcase_is_skipped_with_why() {
        let xml = xml_of(Status::Cancelled);
        assert!(
            xml.contains(r#"<skipped message="cancelled while running" type="cancelled"/>"#),
            "{xml}"
        );
    }
}

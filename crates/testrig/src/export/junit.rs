//! The JUnit XML exporter, for Jenkins, GitLab and GitHub test reporters.
//!
//! Testplan's layout is kept: one `<testsuites>` per MultiTest, one `<testsuite>` per suite,
//! `classname` = `Test:Suite:testcase`. Failure messages carry the failing assertions, so a
//! CI page shows why without opening the JSON report.

use std::path::{Path, PathBuf};
use std::time::Duration;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
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
    let status = match node.status {
        Status::Passed | Status::Xpass | Status::Xfail => TestCaseStatus::success(),
        Status::Skipped | Status::Unknown => {
            let mut status = TestCaseStatus::skipped();
            let message = match (&node.reason, node.status) {
                (Some(reason), Status::Skipped) => reason.clone(),
                _ => "not run".to_string(),
            };
            status.set_message(message);
            status
        }
        Status::Failed | Status::XpassStrict => {
            non_success(NonSuccessKind::Failure, "assertion", node)
        }
        Status::Error | Status::Incomplete => non_success(NonSuccessKind::Error, "error", node),
    };
    let mut testcase = TestCase::new(node.name.as_str(), status);
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

fn non_success(kind: NonSuccessKind, kind_name: &str, node: &ReportNode) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(kind);
    status.set_type(kind_name);
    status.set_message(failure_summary(node));
    status.set_description(failure_lines(node).join("\n"));
    status
}

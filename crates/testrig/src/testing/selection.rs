//! Selection: the plan's tests narrowed by the command line into the tree the runner runs.
//!
//! It validates names, applies tag inheritance, gives every node its stable UID
//! (`test/suite/testcase[/param-suffix]`) and libtest name (`test::suite::testcase[::suffix]`),
//! applies Testplan's `--patterns`/`--tags` and libtest's positional filters, and builds the
//! report skeleton the report builder starts from.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use testrig_model::{DriverReport, NodeKind, Parameters, ReportNode, SourceLocation};

use std::sync::Arc;

use crate::testing::Xfail;
use crate::testing::multitest::{CaseIndex, CaseInfo, MultiTest, TestcaseAttributes};

/// Why a plan cannot run: exit status 2. Every message says what is wrong, where, and how
/// to fix it, and already includes the underlying error's text; [`source`] gives that error
/// itself where there is one.
///
/// [`source`]: std::error::Error::source
#[derive(Debug)]
#[non_exhaustive]
pub enum PlanError {
    /// The plan as written: duplicate or empty names, an environment that cannot start as
    /// declared (a dependency cycle, an unknown driver, an invalid readiness pattern).
    Definition(String),
    /// A filter that is malformed (`-k`, a `Test:Suite:testcase` pattern) or selects nothing.
    Filter(String),
    /// A command-line flag this plan cannot honour: a cargo feature it was built without, a
    /// flag that needs worker processes in a run without them.
    Flag(String),
    /// The runpath cannot be created or is in use by another plan process.
    Runpath {
        /// What went wrong and what to do.
        message: String,
        /// The file system's error, if any.
        source: Option<std::io::Error>,
    },
    /// Affected selection cannot start (no workspace, unreadable sources or database).
    Affected(String),
    /// Interactive mode cannot start (the port, the token, the server, the first session).
    Interactive {
        /// What went wrong and what to do.
        message: String,
        /// The underlying error, if any.
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Output the command line asked for cannot be written (`--list` to a closed pipe).
    Output {
        /// What could not be written.
        message: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl PlanError {
    /// What went wrong, as the plan prints it.
    pub fn message(&self) -> &str {
        match self {
            PlanError::Definition(message)
            | PlanError::Filter(message)
            | PlanError::Flag(message)
            | PlanError::Affected(message)
            | PlanError::Runpath { message, .. }
            | PlanError::Interactive { message, .. }
            | PlanError::Output { message, .. } => message,
        }
    }
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for PlanError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PlanError::Runpath {
                source: Some(source),
                ..
            }
            | PlanError::Output { source, .. } => Some(source),
            PlanError::Interactive {
                source: Some(source),
                ..
            } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// How `skip`ped testcases (libtest's "ignored") take part in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IgnoredMode {
    /// Reported as skipped, not run.
    #[default]
    Skip,
    /// `--ignored`: only skipped testcases, and they run.
    Only,
    /// `--include-ignored`: everything runs, skipped testcases too.
    Include,
}

/// One `--patterns` entry: `Test[:Suite[:testcase]]`, each part a glob.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    parts: Vec<glob::Pattern>,
}

impl Pattern {
    /// Parses a pattern; parts are separated by `:` (or `::`).
    pub fn parse(text: &str) -> Result<Pattern, PlanError> {
        let pieces: Vec<&str> = if text.contains("::") {
            text.split("::").collect()
        } else {
            text.split(':').collect()
        };
        if pieces.len() > 3 || pieces.iter().any(|piece| piece.is_empty()) {
            return Err(PlanError::Filter(format!(
                "invalid pattern `{text}`: expected `Test`, `Test:Suite` or `Test:Suite:testcase` (globs allowed)"
            )));
        }
        let mut parts = Vec::new();
        for piece in pieces {
            let glob = glob::Pattern::new(piece)
                .map_err(|error| PlanError::Filter(format!("invalid pattern `{text}`: {error}")))?;
            parts.push(glob);
        }
        Ok(Pattern {
            text: text.to_string(),
            parts,
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn matches(&self, test: &str, suite: &str, case: &SelectedCase) -> bool {
        let part = |i: usize, names: &[&str]| match self.parts.get(i) {
            None => true,
            Some(glob) => names.iter().any(|name| glob.matches(name)),
        };
        part(0, &[test])
            && part(1, &[suite])
            && part(2, &[&case.name(), case.base_name(), &case.uid_leaf()])
    }
}

/// What the command line selects.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// libtest positional filters: substrings of the libtest name (any of them).
    pub names: Vec<String>,
    /// libtest `--exact`: positional filters must equal the name.
    pub exact: bool,
    /// libtest `--skip`: substrings (or exact names with `--exact`) to leave out.
    pub skip: Vec<String>,
    /// Testplan `--patterns` (any of them).
    pub patterns: Vec<Pattern>,
    /// `--tags`: any of these.
    pub tags_any: Vec<String>,
    /// `--tags-all`: all of these.
    pub tags_all: Vec<String>,
    /// `--ignored` / `--include-ignored`.
    pub ignored: IgnoredMode,
}

/// A testcase chosen to run (or to be reported as skipped). It holds no text of its own:
/// it is its suite's description of the case (whose shared parts are behind `Arc`s) plus
/// what the selection decided, and its UID is derived from its suite's, so a million
/// selected testcases cost a few dozen bytes each.
#[derive(Debug, Clone)]
pub struct SelectedCase {
    /// The case as its suite describes it: body index, parameters, shared attributes.
    pub case: CaseInfo,
    /// Tags including the ones inherited from suite and test.
    pub tags: Arc<[String]>,
    /// Skip reason; `None` when it runs (also for `--ignored` runs of skipped testcases).
    pub skip: Option<String>,
    /// Whether the testcase was marked skip (libtest's "ignored"), whatever the mode.
    pub ignored: bool,
    /// The UID of its suite, shared by the suite's cases.
    suite_uid: Arc<str>,
}

impl SelectedCase {
    /// Stable UID: `test/suite/testcase[/param-suffix]`.
    pub fn uid(&self) -> String {
        thread_local! {
            static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        // Built in a reused buffer and copied out at its exact length: every report node
        // keeps its UID, and room to spare would cost a million nodes tens of megabytes.
        SCRATCH.with(|scratch| {
            let mut uid = scratch.borrow_mut();
            uid.clear();
            uid.push_str(&self.suite_uid);
            uid.push('/');
            self.case.write_uid_leaf(&mut uid);
            uid.as_str().to_owned()
        })
    }

    /// The UID of its parametrization group, for generated testcases.
    pub fn group_uid(&self) -> Option<String> {
        self.case
            .is_parametrized()
            .then(|| format!("{}/{}", self.suite_uid, self.base_name()))
    }

    /// Which body of the suite.
    pub fn index(&self) -> CaseIndex {
        self.case.index
    }

    /// What the cases of its `#[testcase]` share: name, doc comment, location, xfail, time
    /// limit, execution group.
    pub fn attributes(&self) -> &TestcaseAttributes {
        &self.case.attributes
    }

    /// Parameters.
    pub fn parameters(&self) -> &Parameters {
        &self.case.parameters
    }

    /// Display name: `add <a=1, b=2>` for a parametrization, else the testcase name.
    pub fn name(&self) -> String {
        self.case.name()
    }

    /// libtest name: the UID with `::` separators.
    pub fn libtest_name(&self) -> String {
        self.uid().replace('/', "::")
    }

    /// Segment(s) of the UID below the suite.
    pub fn uid_leaf(&self) -> String {
        self.case.uid_leaf()
    }

    /// The `#[testcase]` name.
    pub fn base_name(&self) -> &str {
        &self.attributes().base_name
    }

    /// Expected failure.
    pub fn xfail(&self) -> Option<&Xfail> {
        self.attributes().xfail.as_ref()
    }

    /// Time limit.
    pub fn timeout(&self) -> Option<Duration> {
        self.attributes().timeout
    }

    /// Execution group.
    pub fn execution_group(&self) -> Option<&str> {
        self.attributes().execution_group.as_deref()
    }
}

/// A suite with its selected testcases.
#[derive(Debug, Clone)]
pub struct SelectedSuite {
    /// Index of the suite in its MultiTest.
    pub suite_index: usize,
    /// Stable UID: `test/suite`.
    pub uid: String,
    /// Name.
    pub name: String,
    /// Tags including the test's.
    pub tags: Arc<[String]>,
    /// Doc comment.
    pub description: Option<Arc<str>>,
    /// Definition site.
    pub location: Option<SourceLocation>,
    /// Selected testcases in run order.
    pub cases: Vec<SelectedCase>,
}

/// A test with its selected suites.
#[derive(Debug, Clone)]
pub struct SelectedTest {
    /// Index of the test in the plan.
    pub test_index: usize,
    /// Stable UID: the test's name.
    pub uid: String,
    /// Name.
    pub name: String,
    /// Tags.
    pub tags: Arc<[String]>,
    /// Description.
    pub description: Option<Arc<str>>,
    /// Execution-group parallelism of the MultiTest.
    pub thread_pool_size: usize,
    /// The drivers of its environment, not started.
    pub drivers: Vec<DriverReport>,
    /// Selected suites in run order.
    pub suites: Vec<SelectedSuite>,
}

/// The tree of tests, suites and testcases a run covers.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Selected tests in run order.
    pub tests: Vec<SelectedTest>,
}

impl Selection {
    /// Every selected testcase, in run order.
    pub fn cases(&self) -> impl Iterator<Item = &SelectedCase> {
        self.tests
            .iter()
            .flat_map(|t| t.suites.iter())
            .flat_map(|s| s.cases.iter())
    }

    /// Keeps only the testcases `keep` accepts, dropping suites and tests left empty.
    #[cfg_attr(not(feature = "affected"), allow(dead_code))] // the `--affected` selection
    pub fn retain_cases(&mut self, keep: impl Fn(&SelectedCase) -> bool) {
        for test in &mut self.tests {
            for suite in &mut test.suites {
                suite.cases.retain(&keep);
            }
            test.suites.retain(|suite| !suite.cases.is_empty());
        }
        self.tests.retain(|test| !test.suites.is_empty());
    }

    /// Number of selected testcases.
    pub fn case_count(&self) -> usize {
        self.cases().count()
    }

    /// Narrows the plan's tests to what `filter` selects. A `--patterns` or `--tags` filter
    /// that matches nothing is an error that lists what exists; libtest filters that match
    /// nothing give an empty selection, as libtest does (cargo passes them to every target).
    pub fn build(tests: &[MultiTest], filter: &Filter) -> Result<Selection, PlanError> {
        // Cases move from the full selection into the kept one: a plan of 10,000 testcases
        // would otherwise build each of them twice.
        let mut selection = Selection::default();
        for mut test in Selection::full(tests).tests {
            for mut suite in std::mem::take(&mut test.suites) {
                suite.cases = std::mem::take(&mut suite.cases)
                    .into_iter()
                    .filter_map(|case| filter.select(&test.name, &suite.name, case))
                    .collect();
                if !suite.cases.is_empty() {
                    test.suites.push(suite);
                }
            }
            if !test.suites.is_empty() {
                selection.tests.push(test);
            }
        }
        if selection.tests.is_empty() && (!filter.patterns.is_empty() || has_tags(filter)) {
            return Err(PlanError::Filter(nothing_matches(
                &Selection::full(tests),
                filter,
            )));
        }
        Ok(selection)
    }

    /// The UID of every testcase of `tests`, whatever the filters: what [`full`](Self::full)
    /// selects, without building the rest of it.
    #[cfg(feature = "affected")]
    pub(crate) fn every_case_uid(tests: &[MultiTest]) -> impl Iterator<Item = String> + '_ {
        tests.iter().flat_map(|test| {
            test.suites.iter().flat_map(move |suite| {
                let info = suite.info();
                let suite_uid = suite_uid(&test.name, &info.name);
                info.cases
                    .iter()
                    .map(move |case| case_uid(&suite_uid, &case.uid_leaf()))
            })
        })
    }

    /// Every testcase of the plan, with UIDs and inherited tags.
    pub fn full(tests: &[MultiTest]) -> Selection {
        Selection {
            tests: tests
                .iter()
                .enumerate()
                .map(|(test_index, test)| SelectedTest::full(test_index, test))
                .collect(),
        }
    }

    /// The report tree before anything has run: every selected node, status unknown.
    pub fn skeleton(&self, plan_name: &str) -> ReportNode {
        let mut plan = ReportNode::new(NodeKind::Plan, plan_name, plan_name);
        // Tests are independent: a plan of a million testcases builds them on every core.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let testcases: usize = self
            .tests
            .iter()
            .flat_map(|test| &test.suites)
            .map(|suite| suite.cases.len())
            .sum();
        plan.children = if threads < 2 || self.tests.len() < 2 || testcases < 50_000 {
            self.tests.iter().map(test_skeleton).collect()
        } else {
            let per_thread = self.tests.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let parts: Vec<_> = self
                    .tests
                    .chunks(per_thread)
                    .map(|tests| {
                        scope.spawn(move || tests.iter().map(test_skeleton).collect::<Vec<_>>())
                    })
                    .collect();
                parts
                    .into_iter()
                    .flat_map(|part| {
                        part.join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    })
                    .collect()
            })
        };
        plan.recompute();
        plan
    }
}

/// A test's node with every selected suite and testcase below it, status unknown.
fn test_skeleton(test: &SelectedTest) -> ReportNode {
    let mut test_node = ReportNode::new(NodeKind::Test, &test.uid, &test.name);
    test_node.tags = test.tags.clone();
    test_node.description = test.description.clone();
    test_node.drivers = test.drivers.clone();
    for suite in &test.suites {
        let mut suite_node = ReportNode::new(NodeKind::Suite, &suite.uid, &suite.name);
        suite_node.tags = suite.tags.clone();
        suite_node.description = suite.description.clone();
        suite_node.location = suite.location.clone();
        for case in &suite.cases {
            let mut case_node = ReportNode::new(NodeKind::Testcase, case.uid(), case.name());
            let attributes = &case.attributes();
            case_node.tags = case.tags.clone();
            case_node.description = attributes.description.clone();
            case_node.location = Some(attributes.location.clone());
            case_node.parameters = case.parameters().clone();
            case_node.reason = case
                .skip
                .clone()
                .or_else(|| case.xfail().map(|xfail| xfail.reason.clone()));
            if case.index().parametrization.is_none() {
                suite_node.children.push(case_node);
                continue;
            }
            // Shuffling may separate a group's cases; keep one node per run of them (a
            // parametrization is named after its `#[testcase]`, unique in a suite).
            let reuse = suite_node.children.last().is_some_and(|last| {
                last.kind == NodeKind::Parametrization && last.name == attributes.base_name
            });
            if !reuse {
                let group_uid = format!("{}/{}", suite.uid, attributes.base_name);
                let mut group = ReportNode::new(
                    NodeKind::Parametrization,
                    group_uid,
                    attributes.base_name.as_str(),
                );
                group.tags = suite.tags.clone();
                group.location = Some(attributes.location.clone());
                group.description = attributes.description.clone();
                suite_node.children.push(group);
            }
            if let Some(group) = suite_node.children.last_mut() {
                group.children.push(case_node);
            }
        }
        // Grown by doubling, a wide group would keep up to half its room unused.
        for group in &mut suite_node.children {
            group.children.shrink_to_fit();
        }
        suite_node.children.shrink_to_fit();
        test_node.children.push(suite_node);
    }
    test_node
}

impl Filter {
    fn select(&self, test: &str, suite: &str, mut case: SelectedCase) -> Option<SelectedCase> {
        // Built only for name filters: a million testcases would each format one for nothing.
        let libtest_name = if self.names.is_empty() && self.skip.is_empty() {
            String::new()
        } else {
            case.libtest_name()
        };
        let name = libtest_name.as_str();
        let name_matches = |filter: &String| {
            if self.exact {
                name == filter
            } else {
                name.contains(filter.as_str())
            }
        };
        if !self.names.is_empty() && !self.names.iter().any(name_matches) {
            return None;
        }
        if self.skip.iter().any(name_matches) {
            return None;
        }
        if !self.patterns.is_empty() && !self.patterns.iter().any(|p| p.matches(test, suite, &case))
        {
            return None;
        }
        let has = |tag: &String| case.tags.contains(tag);
        if !self.tags_any.is_empty() && !self.tags_any.iter().any(has) {
            return None;
        }
        if !self.tags_all.iter().all(has) {
            return None;
        }
        match self.ignored {
            IgnoredMode::Skip => {}
            IgnoredMode::Only if !case.ignored => return None,
            IgnoredMode::Only | IgnoredMode::Include => case.skip = None,
        }
        Some(case)
    }
}

fn has_tags(filter: &Filter) -> bool {
    !filter.tags_any.is_empty() || !filter.tags_all.is_empty()
}

fn dedup(tags: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    tags.filter(|tag| seen.insert(tag.clone())).collect()
}

fn nothing_matches(full: &Selection, filter: &Filter) -> String {
    let mut what = Vec::new();
    if !filter.patterns.is_empty() {
        let patterns: Vec<&str> = filter.patterns.iter().map(Pattern::as_str).collect();
        what.push(format!("--patterns {}", patterns.join(" ")));
    }
    if !filter.tags_any.is_empty() {
        what.push(format!("--tags {}", filter.tags_any.join(",")));
    }
    if !filter.tags_all.is_empty() {
        what.push(format!("--tags-all {}", filter.tags_all.join(",")));
    }
    let mut message = format!("no testcase matches {}", what.join(" and "));
    let names: Vec<String> = full
        .tests
        .iter()
        .flat_map(|test| {
            std::iter::once(test.name.clone()).chain(
                test.suites
                    .iter()
                    .map(move |suite| format!("{}:{}", test.name, suite.name)),
            )
        })
        .collect();
    message.push_str(&format!("\n  tests and suites: {}", names.join(", ")));
    let tags: BTreeSet<&String> = full.cases().flat_map(|case| case.tags.iter()).collect();
    let tags: Vec<&str> = tags.into_iter().map(String::as_str).collect();
    message.push_str(&format!(
        "\n  tags: {}",
        if tags.is_empty() {
            "(none)".to_string()
        } else {
            tags.join(", ")
        }
    ));
    message.push_str("\n  use --list to see every testcase");
    message
}

/// Checks what must hold before anything starts: a non-empty plan, unique and well-formed
/// names at every level.
pub fn validate(plan_name: &str, tests: &[MultiTest]) -> Result<(), PlanError> {
    check_name("plan", plan_name, "Plan::new")?;
    if tests.is_empty() {
        return Err(PlanError::Definition(format!(
            "plan `{plan_name}` has no tests: add one with `.add(MultiTest::new(\"name\").suite(…))`"
        )));
    }
    let mut test_names = HashSet::new();
    let mut any_testcase = false;
    for test in tests {
        check_name("test", &test.name, "MultiTest::new")?;
        if !test_names.insert(test.name.as_str()) {
            return Err(PlanError::Definition(format!(
                "duplicate test name `{}` in plan `{plan_name}`: give each MultiTest a unique name",
                test.name
            )));
        }
        if test.suites.is_empty() {
            return Err(PlanError::Definition(format!(
                "test `{}` has no suites: add one with `.suite(…)`",
                test.name
            )));
        }
        test.environment.validate(&test.name)?;
        let mut suite_names = HashSet::new();
        for suite in &test.suites {
            let info = suite.info();
            check_name("suite", &info.name, "#[suite(name = \"…\")]")?;
            if !suite_names.insert(info.name.as_str()) {
                return Err(PlanError::Definition(format!(
                    "duplicate suite name `{}` in test `{}`: rename one with #[suite(name = \"…\")]",
                    info.name, test.name
                )));
            }
            let mut case_names = HashSet::new();
            // One check per `#[testcase]`: its first case stands for its parametrization.
            for case in info
                .cases
                .iter()
                .filter(|case| case.index.parametrization.unwrap_or(0) == 0)
            {
                any_testcase = true;
                let attributes = &case.attributes;
                check_name(
                    "testcase",
                    &attributes.base_name,
                    "#[testcase(name = \"…\")]",
                )?;
                if !case_names.insert(attributes.base_name.as_str()) {
                    return Err(PlanError::Definition(format!(
                        "duplicate testcase name `{}` in suite `{}` of test `{}`: rename one with #[testcase(name = \"…\")] (defined at {})",
                        attributes.base_name, info.name, test.name, attributes.location
                    )));
                }
            }
        }
    }
    if !any_testcase {
        return Err(PlanError::Definition(format!(
            "plan `{plan_name}` has no testcases: mark methods of a #[suite] impl with #[testcase]"
        )));
    }
    Ok(())
}

fn check_name(what: &str, name: &str, fix: &str) -> Result<(), PlanError> {
    let bad = name.is_empty()
        || name.trim() != name
        || name.chars().any(|c| c == '/' || c == ':' || c.is_control());
    if bad {
        return Err(PlanError::Definition(format!(
            "invalid {what} name `{name}`: names must be non-empty, without `/`, `:`, control characters or surrounding spaces; change it in {fix}"
        )));
    }
    Ok(())
}

/// A suite's UID: its test's name and its own.
fn suite_uid(test: &str, suite: &str) -> String {
    format!("{test}/{suite}")
}

/// A testcase's UID: its suite's UID and its leaf (the name, and the parameters' suffix of
/// a parametrized case). Records of affected selection are kept under it.
#[cfg(feature = "affected")]
fn case_uid(suite_uid: &str, leaf: &str) -> String {
    format!("{suite_uid}/{leaf}")
}

impl SelectedTest {
    /// Every testcase of the plan's test number `test_index`, with UIDs and inherited tags.
    pub(crate) fn full(test_index: usize, test: &MultiTest) -> SelectedTest {
        let mut selected_test = SelectedTest {
            test_index,
            uid: test.name.clone(),
            name: test.name.clone(),
            tags: dedup(test.tags.iter().cloned()).into(),
            description: test.description.as_deref().map(Arc::from),
            thread_pool_size: test.thread_pool_size,
            drivers: test.environment.skeleton(),
            suites: Vec::new(),
        };
        for (suite_index, suite) in test.suites.iter().enumerate() {
            let info = suite.info();
            let suite_uid = suite_uid(&test.name, &info.name);
            let suite_tags = dedup(test.tags.iter().chain(&info.tags).cloned());
            let inherited: Arc<[String]> = suite_tags.clone().into();
            let mut selected_suite = SelectedSuite {
                suite_index,
                uid: suite_uid.clone(),
                name: info.name.clone(),
                tags: inherited.clone(),
                description: info.description.as_deref().map(Arc::from),
                location: info.location.clone(),
                cases: Vec::new(),
            };
            // Cases without tags of their own share the suite's.
            let shared_uid: Arc<str> = suite_uid.as_str().into();
            selected_suite.cases.reserve_exact(info.cases.len());
            for case in &info.cases {
                let attributes = &case.attributes;
                selected_suite.cases.push(SelectedCase {
                    tags: if attributes.tags.is_empty() {
                        inherited.clone()
                    } else {
                        dedup(suite_tags.iter().chain(&attributes.tags).cloned()).into()
                    },
                    skip: attributes.skip.clone(),
                    ignored: attributes.skip.is_some(),
                    suite_uid: shared_uid.clone(),
                    case: case.clone(),
                });
            }
            selected_test.suites.push(selected_suite);
        }
        selected_test
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_accept_one_two_or_three_parts() {
        assert!(Pattern::parse("Test").is_ok());
        assert!(Pattern::parse("Test:Suite").is_ok());
        assert!(Pattern::parse("Test::Suite::case*").is_ok());
        assert!(Pattern::parse("a:b:c:d").is_err());
        assert!(Pattern::parse("a::").is_err());
        let error = Pattern::parse("a:b:c:d").unwrap_err();
        assert!(matches!(error, PlanError::Filter(_)), "{error:?}");
        assert!(error.to_string().contains("expected `Test`"), "{error}");
    }

    #[test]
    fn pattern_parts_are_shell_globs() {
        let glob = |text: &str| glob::Pattern::new(text).unwrap();
        let pattern = Pattern::parse("Ma?h:Arith*:pow[0-9]").unwrap();
        assert_eq!(pattern.parts.len(), 3);
        assert!(pattern.parts[0].matches("Math") && !pattern.parts[0].matches("Mat"));
        assert!(pattern.parts[1].matches("Arithmetic"));
        assert!(pattern.parts[2].matches("pow2") && !pattern.parts[2].matches("powx"));
        // `*` crosses `/` (a parametrized case's UID leaf is `name/suffix`).
        assert!(glob("pow*").matches("pow/base_2"));
        assert!(glob("[!a]*").matches("b") && !glob("[!a]*").matches("a"));
        let error = Pattern::parse("Math:[unclosed").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid pattern `Math:[unclosed`: "),
            "{error}"
        );
    }

    #[test]
    fn plan_errors_keep_their_message_and_their_source() {
        use std::error::Error as _;
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let error = PlanError::Runpath {
            message: "failed to create the runpath `/r`: denied; pass a writable folder".into(),
            source: Some(io),
        };
        assert_eq!(error.to_string(), error.message());
        assert_eq!(
            error.source().map(|source| source.to_string()),
            Some("denied".into())
        );
        assert!(PlanError::Definition("x".into()).source().is_none());
    }

    #[test]
    fn names_with_separators_are_rejected() {
        assert!(check_name("suite", "a/b", "x").is_err());
        assert!(check_name("suite", " a", "x").is_err());
        assert!(check_name("suite", "Echo suite", "x").is_ok());
    }
}

//! MultiTest: suites of testcases plus (later) an environment of drivers, scheduled by the
//! runner as one unit.
//!
//! Suites arrive as typed values (`.suite(Echo)`) and are erased here into [`SuiteObject`]s:
//! the runner, the filters and the report skeleton only see names, tags and case indexes,
//! and ask the suite object for a runnable body when a testcase is due.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use testrig_model::{Parameters, SourceLocation};

use crate::env::{DriverBox, Env, Environment};
use crate::inputs::DeclaredInput;
use crate::result::Recorder;
use crate::testing::{Outcome, Suite, SuiteDefinition, SuiteHook, TestcaseBody, Xfail};

/// A runnable testcase body, detached from the suite borrow so it can run on any thread.
pub type BoundTestcase = Box<dyn FnOnce(&Env, &mut Recorder) -> Outcome + Send>;

/// Which body of a suite a testcase is: the testcase index and, for a parametrized
/// testcase, the parametrization index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaseIndex {
    /// Index of the `#[testcase]` method in declaration order.
    pub testcase: usize,
    /// Index of the parametrization, for parametrized testcases.
    pub parametrization: Option<usize>,
}

/// What every case of one `#[testcase]` shares: held once behind an `Arc`, so a
/// parametrization of a million cases keeps one copy of its doc comment, location and flags.
#[derive(Debug, Clone)]
pub struct TestcaseAttributes {
    /// The `#[testcase]` name (without parameters).
    pub base_name: String,
    /// Own tags (inheritance is applied by the selection).
    pub tags: Vec<String>,
    /// Doc comment.
    pub description: Option<Arc<str>>,
    /// Definition site.
    pub location: SourceLocation,
    /// `skip = "reason"`.
    pub skip: Option<String>,
    /// `xfail = …`.
    pub xfail: Option<Xfail>,
    /// `timeout = …`.
    pub timeout: Option<Duration>,
    /// `execution_group = …`.
    pub execution_group: Option<String>,
}

/// What the runner and the filters know about one runnable testcase. Its name and UID
/// leaf are derived when asked for: a parametrization of a million cases stores neither.
#[derive(Debug, Clone)]
pub struct CaseInfo {
    /// Which body to run.
    pub index: CaseIndex,
    /// Parameter names and values.
    pub parameters: Parameters,
    /// What the cases of its `#[testcase]` share.
    pub attributes: Arc<TestcaseAttributes>,
    /// Its parameters give the same UID leaf as an earlier case's: the leaf is numbered.
    numbered: bool,
}

impl CaseInfo {
    /// True for the generated testcases of a parametrized testcase.
    pub fn is_parametrized(&self) -> bool {
        self.index.parametrization.is_some()
    }

    /// Display name: `add <a=1, b=2>` for a parametrization, else the testcase name.
    pub fn name(&self) -> String {
        case_name(&self.attributes.base_name, &self.parameters)
    }

    /// The UID path segment(s) below the suite: `add` or `add/a_1__b_2` (numbered
    /// `add/a_1__b_2__3` when an earlier case's values gave the same segment).
    pub fn uid_leaf(&self) -> String {
        let mut leaf = String::new();
        self.write_uid_leaf(&mut leaf);
        leaf
    }

    /// The part of the UID leaf below the parametrization: `a_1__b_2` (or `a_1__b_2__3`).
    fn parametrization_leaf(&self) -> String {
        let mut leaf = String::new();
        self.write_parametrization_leaf(&mut leaf);
        leaf
    }

    fn write_parametrization_leaf(&self, out: &mut String) {
        write_parameter_suffix(&self.parameters, out);
        if let (Some(i), true) = (self.index.parametrization, self.numbered) {
            write_repeat_number(out, i);
        }
    }

    /// Appends [`uid_leaf`](Self::uid_leaf) to `out`.
    pub fn write_uid_leaf(&self, out: &mut String) {
        out.push_str(&self.attributes.base_name);
        if self.index.parametrization.is_some() {
            out.push('/');
            self.write_parametrization_leaf(out);
        }
    }
}

/// The number that tells apart case `index` of a parametrization whose suffix an earlier
/// case has: `__3` for the third case.
fn write_repeat_number(out: &mut String, index: usize) {
    use std::fmt::Write;
    let _ = write!(out, "__{}", index + 1);
}

/// The UID leaves given out so far in one parametrization. Their hashes are kept, not the
/// strings (a parametrization of 100,000 cases would hold 100,000 of them): only when a
/// hash repeats are the leaves compared, and from then on kept whole.
#[derive(Default)]
struct UsedSuffixes {
    hashes: std::collections::HashSet<u64, crate::FastHash>,
    /// Every leaf given out, once two hashes were equal.
    exact: Option<std::collections::HashSet<String>>,
}

impl UsedSuffixes {
    /// True when case `index` must be numbered: an earlier case (one of `earlier`, the
    /// parametrization's cases so far) has the same leaf.
    fn number(&mut self, parameters: &Parameters, index: usize, earlier: &[CaseInfo]) -> bool {
        let mut suffix = parameter_suffix(parameters);
        let numbered = self.seen(&suffix, earlier);
        if numbered {
            write_repeat_number(&mut suffix, index);
        }
        self.insert(suffix);
        numbered
    }

    fn seen(&mut self, suffix: &str, earlier: &[CaseInfo]) -> bool {
        if self.exact.is_none() {
            if !self.hashes.contains(&hash_of(suffix)) {
                return false;
            }
            self.exact = Some(earlier.iter().map(CaseInfo::parametrization_leaf).collect());
        }
        self.exact
            .as_ref()
            .is_some_and(|exact| exact.contains(suffix))
    }

    fn insert(&mut self, suffix: String) {
        match &mut self.exact {
            Some(exact) => {
                exact.insert(suffix);
            }
            None => {
                self.hashes.insert(hash_of(&suffix));
            }
        }
    }
}

fn hash_of(text: &str) -> u64 {
    use std::hash::BuildHasher;
    crate::FastHash::default().hash_one(text)
}

/// `add <a=1, b=2>` for a case with parameters, else the testcase's name.
fn case_name(base_name: &str, parameters: &Parameters) -> String {
    if parameters.is_empty() {
        return base_name.to_string();
    }
    use std::fmt::Write;
    let mut name = format!("{base_name} <");
    for (at, (parameter, value)) in parameters.iter().enumerate() {
        let separator = if at == 0 { "" } else { ", " };
        let _ = write!(name, "{separator}{parameter}={value}");
    }
    name.push('>');
    // Kept by every report node of a parametrization: no room to spare.
    name.shrink_to_fit();
    name
}

/// What the runner and the filters know about a suite.
#[derive(Debug, Clone)]
pub struct SuiteInfo {
    /// Suite name.
    pub name: String,
    /// Own tags.
    pub tags: Vec<String>,
    /// Doc comment.
    pub description: Option<String>,
    /// Definition site.
    pub location: Option<SourceLocation>,
    /// Runnable testcases in declaration order (parametrizations expanded).
    pub cases: Vec<CaseInfo>,
}

/// A type-erased suite: a value plus its definition.
pub trait SuiteObject: Send + Sync {
    /// Names, tags and testcases.
    fn info(&self) -> &SuiteInfo;
    /// Runs the setup hook, if there is one.
    fn setup(&mut self, env: &Env, recorder: &mut Recorder) -> Option<Outcome>;
    /// Runs the teardown hook, if there is one.
    fn teardown(&mut self, env: &Env, recorder: &mut Recorder) -> Option<Outcome>;
    /// Runs the pre-testcase hook, if there is one.
    fn pre_testcase(&self, name: &str, env: &Env, recorder: &mut Recorder) -> Option<Outcome>;
    /// Runs the post-testcase hook, if there is one.
    fn post_testcase(&self, name: &str, env: &Env, recorder: &mut Recorder) -> Option<Outcome>;
    /// The body of one testcase, ready to run on any thread.
    fn bind(&self, index: CaseIndex) -> BoundTestcase;
}

struct SuiteHolder<S: Suite> {
    instance: Arc<S>,
    /// The definition and its expansion, made when first asked for: a worker process builds
    /// the whole plan again but expands only the suites of the tests it runs (on plan10k
    /// the expansion was most of a worker's start, on two cores shared with the plan's).
    expanded: OnceLock<Expanded<S>>,
}

struct Expanded<S: Suite> {
    definition: SuiteDefinition<S>,
    info: SuiteInfo,
}

impl<S: Suite> SuiteHolder<S> {
    fn new(instance: S) -> SuiteHolder<S> {
        SuiteHolder {
            instance: Arc::new(instance),
            expanded: OnceLock::new(),
        }
    }

    /// Expands the suite once; what [`SuiteObject::info`] calls.
    fn expand(&self) -> &Expanded<S> {
        self.expanded.get_or_init(|| {
            let mut definition = S::definition();
            let info = describe(&mut definition);
            Expanded { definition, info }
        })
    }

    /// The expansion, for the hooks and testcases. The selection asks for the suite's `info`
    /// before any of them runs, so they find it made: the once-only initialisation stays out
    /// of their code, which `--affected` fingerprints would otherwise charge with everything
    /// the expansion calls.
    fn expanded(&self) -> &Expanded<S> {
        match self.expanded.get() {
            Some(expanded) => expanded,
            None => self.expand(),
        }
    }

    fn run_hook(&mut self, hook: HookKind, env: &Env, recorder: &mut Recorder) -> Option<Outcome> {
        self.expanded();
        let Expanded { definition, info } = self.expanded.get_mut()?;
        let hook = match hook {
            HookKind::Setup => definition.setup.as_ref()?,
            HookKind::Teardown => definition.teardown.as_ref()?,
        };
        Some(match hook {
            SuiteHook::Shared(function) => function(&self.instance, env, recorder),
            SuiteHook::Exclusive(function) => match Arc::get_mut(&mut self.instance) {
                Some(instance) => function(instance, env, recorder),
                // Only a testcase abandoned after its timeout can still hold the suite.
                None => Err(crate::testing::TestcaseError {
                    message: "cannot run a `&mut self` hook: a timed-out testcase of this suite is still running".into(),
                    location: info.location.clone(),
                }),
            },
        })
    }
}

enum HookKind {
    Setup,
    Teardown,
}

impl<S: Suite> SuiteObject for SuiteHolder<S> {
    fn info(&self) -> &SuiteInfo {
        &self.expand().info
    }

    fn setup(&mut self, env: &Env, recorder: &mut Recorder) -> Option<Outcome> {
        self.run_hook(HookKind::Setup, env, recorder)
    }

    fn teardown(&mut self, env: &Env, recorder: &mut Recorder) -> Option<Outcome> {
        self.run_hook(HookKind::Teardown, env, recorder)
    }

    fn pre_testcase(&self, name: &str, env: &Env, recorder: &mut Recorder) -> Option<Outcome> {
        let hook = self.expanded().definition.pre_testcase?;
        Some(hook(&self.instance, name, env, recorder))
    }

    fn post_testcase(&self, name: &str, env: &Env, recorder: &mut Recorder) -> Option<Outcome> {
        let hook = self.expanded().definition.post_testcase?;
        Some(hook(&self.instance, name, env, recorder))
    }

    fn bind(&self, index: CaseIndex) -> BoundTestcase {
        let testcase = &self.expanded().definition.testcases[index.testcase];
        let body = match (&testcase.body, index.parametrization) {
            (TestcaseBody::Single(body), _) => body.clone(),
            (TestcaseBody::Parametrized(cases), Some(i)) => cases[i].body.clone(),
            (TestcaseBody::Parametrized(cases), None) => cases[0].body.clone(),
        };
        let instance = self.instance.clone();
        Box::new(move |env, recorder| body(&instance, env, recorder))
    }
}

/// Expands a definition into runnable cases with names and UID leaves.
/// The parameters move from the definition into the description, which the selection and
/// the report share: a parametrization keeps one copy of its values.
fn describe<S>(definition: &mut SuiteDefinition<S>) -> SuiteInfo {
    let mut cases = Vec::with_capacity(
        definition
            .testcases
            .iter()
            .map(|testcase| match &testcase.body {
                TestcaseBody::Single(_) => 1,
                TestcaseBody::Parametrized(parametrizations) => parametrizations.len(),
            })
            .sum(),
    );
    for (testcase_index, testcase) in definition.testcases.iter_mut().enumerate() {
        let attributes = Arc::new(TestcaseAttributes {
            base_name: testcase.name.clone(),
            tags: testcase.tags.clone(),
            description: testcase.description.as_deref().map(Arc::from),
            location: testcase.location.clone(),
            skip: testcase.skip.clone(),
            xfail: testcase.xfail.clone(),
            timeout: testcase.timeout,
            execution_group: testcase.execution_group.clone(),
        });
        match &mut testcase.body {
            TestcaseBody::Single(_) => cases.push(CaseInfo {
                index: CaseIndex {
                    testcase: testcase_index,
                    parametrization: None,
                },
                parameters: Parameters::default(),
                attributes,
                numbered: false,
            }),
            TestcaseBody::Parametrized(parametrizations) => {
                let mut suffixes = UsedSuffixes::default();
                let first = cases.len();
                for (i, parametrization) in parametrizations.iter_mut().enumerate() {
                    let parameters = std::mem::take(&mut parametrization.parameters);
                    // Equal values would give equal UIDs; number the repeats.
                    let numbered = suffixes.number(&parameters, i, &cases[first..]);
                    cases.push(CaseInfo {
                        index: CaseIndex {
                            testcase: testcase_index,
                            parametrization: Some(i),
                        },
                        parameters,
                        attributes: attributes.clone(),
                        numbered,
                    });
                }
            }
        }
    }
    SuiteInfo {
        name: definition.name.clone(),
        tags: definition.tags.clone(),
        description: definition.description.clone(),
        location: definition.location.clone(),
        cases,
    }
}

/// `a_1__b_x`: parameter names and values reduced to characters safe in UIDs, URLs and
/// libtest names, so the same values give the same UID in every run.
pub fn parameter_suffix(parameters: &Parameters) -> String {
    let mut suffix = String::new();
    write_parameter_suffix(parameters, &mut suffix);
    suffix
}

/// Appends [`parameter_suffix`] to `out`.
fn write_parameter_suffix(parameters: &Parameters, out: &mut String) {
    if parameters.is_empty() {
        out.push_str("case");
        return;
    }
    for (at, (name, value)) in parameters.iter().enumerate() {
        if at > 0 {
            out.push_str("__");
        }
        out.push_str(name);
        out.push('_');
        out.extend(value.trim_matches('"').chars().take(40).map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        }));
    }
}

/// A test of native Rust suites sharing one environment.
pub struct MultiTest {
    pub(crate) name: String,
    pub(crate) tags: Vec<String>,
    pub(crate) description: Option<String>,
    pub(crate) suites: Vec<Box<dyn SuiteObject>>,
    pub(crate) thread_pool_size: usize,
    pub(crate) environment: Environment,
    pub(crate) inputs: Vec<std::path::PathBuf>,
}

impl MultiTest {
    /// A MultiTest called `name` (unique in its plan).
    pub fn new(name: impl Into<String>) -> MultiTest {
        MultiTest {
            name: name.into(),
            tags: Vec::new(),
            description: None,
            suites: Vec::new(),
            thread_pool_size: 0,
            environment: Environment::default(),
            inputs: Vec::new(),
        }
    }

    /// Adds a suite; suites run in the order they are added.
    pub fn suite<S: Suite>(mut self, suite: S) -> MultiTest {
        self.suites.push(Box::new(SuiteHolder::new(suite)));
        self
    }

    /// Tags inherited by every suite and testcase of this test.
    pub fn tags<I, T>(mut self, tags: I) -> MultiTest
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// A description shown in reports.
    pub fn description(mut self, description: impl Into<String>) -> MultiTest {
        self.description = Some(description.into());
        self
    }

    /// Runs the testcases of each execution group on this many threads (Testplan's
    /// `thread_pool_size`); 0 or 1 runs every testcase one after another.
    pub fn thread_pool_size(mut self, size: usize) -> MultiTest {
        self.thread_pool_size = size;
        self
    }

    /// Adds a driver to the environment; without `dependencies`, drivers start in the
    /// order they are added.
    pub fn driver(mut self, driver: impl Into<DriverBox>) -> MultiTest {
        self.environment.add(driver.into());
        self
    }

    /// Adds drivers to the environment: `.drivers([server.into(), client.into()])`.
    pub fn drivers(mut self, drivers: impl IntoIterator<Item = DriverBox>) -> MultiTest {
        for driver in drivers {
            self.environment.add(driver);
        }
        self
    }

    /// Starts drivers by dependency instead of list order: `(a, b)` starts `a` before `b`;
    /// drivers start in parallel as soon as what they depend on is ready. An empty list
    /// starts every driver at once.
    pub fn dependencies<I, A, B>(mut self, dependencies: I) -> MultiTest
    where
        I: IntoIterator<Item = (A, B)>,
        A: Into<String>,
        B: Into<String>,
    {
        let edges = dependencies
            .into_iter()
            .map(|(a, b)| (a.into(), b.into()))
            .collect();
        self.environment.set_dependencies(edges);
        self
    }

    /// A file the testcases depend on besides the plan's sources (a data file, an expected
    /// output): `cargo testrig affected` reruns this test's testcases when it changes. A
    /// relative path is taken from the plan's current directory.
    pub fn input(mut self, path: impl Into<std::path::PathBuf>) -> MultiTest {
        self.inputs.push(path.into());
        self
    }

    /// The test's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Everything the test declares it depends on besides sources: its own input files and
    /// those of its drivers (programs, templates, data files).
    pub fn declared_inputs(&self) -> Vec<DeclaredInput> {
        let mut inputs: Vec<DeclaredInput> = self
            .inputs
            .iter()
            .cloned()
            .map(DeclaredInput::File)
            .collect();
        inputs.extend(
            self.environment
                .drivers()
                .flat_map(|driver| driver.inputs()),
        );
        inputs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_leaves_are_numbered_exactly() {
        let leaves = |values: &[&str]| {
            let mut used = UsedSuffixes::default();
            let attributes = Arc::new(TestcaseAttributes {
                base_name: "t".into(),
                tags: Vec::new(),
                description: None,
                location: SourceLocation::new("x.rs", 1, 1),
                skip: None,
                xfail: None,
                timeout: None,
                execution_group: None,
            });
            let mut cases: Vec<CaseInfo> = Vec::new();
            for (i, value) in values.iter().enumerate() {
                let parameters = Parameters::from_debug(&[("x", value)]);
                let numbered = used.number(&parameters, i, &cases);
                cases.push(CaseInfo {
                    index: CaseIndex {
                        testcase: 0,
                        parametrization: Some(i),
                    },
                    parameters,
                    attributes: attributes.clone(),
                    numbered,
                });
            }
            cases
                .iter()
                .map(CaseInfo::parametrization_leaf)
                .collect::<Vec<_>>()
        };
        // "a b" and "a/b" both become `x_a_b`: the later ones are numbered by position.
        assert_eq!(
            leaves(&["a b", "a/b", "c", "a b"]),
            ["x_a_b", "x_a_b__2", "x_c", "x_a_b__4"]
        );
        assert_eq!(leaves(&["a", "b", "c"]), ["x_a", "x_b", "x_c"]);
        let many: Vec<String> = (0..1000).map(|i| (i % 500).to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let leaves = leaves(&many);
        assert_eq!(leaves[499], "x_499");
        assert_eq!(leaves[500], "x_0__501");
        let distinct: std::collections::HashSet<&String> = leaves.iter().collect();
        assert_eq!(distinct.len(), 1000);
    }

    #[test]
    fn parameter_suffixes_are_uid_safe_and_stable() {
        let parameters = vec![
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "\"x y/z\"".to_string()),
        ];
        assert_eq!(parameter_suffix(&parameters.into()), "a_1__b_x_y_z");
        assert_eq!(parameter_suffix(&Parameters::default()), "case");
    }
}

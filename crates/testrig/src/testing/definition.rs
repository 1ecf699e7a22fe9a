//! What `#[suite]` and `#[testcase]` expand to: plain data describing a suite's testcases
//! and hooks, with type-erased function pointers the runner calls.
//!
//! The macros generate an `impl Suite for S` whose [`Suite::definition`] returns a
//! [`SuiteDefinition<S>`]; everything the runner, the filters and the report skeleton need
//! (names, tags, parameters, skip/xfail/timeout, execution groups) is read from it, so the
//! macros stay thin and plans can also be written by hand without them.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use testrig_model::SourceLocation;

use crate::env::Env;
use crate::result::Recorder;

/// Why a testcase or hook errored: a returned error, a panic, a timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestcaseError {
    /// The message.
    pub message: String,
    /// Where it happened, when known.
    pub location: Option<SourceLocation>,
}

impl Display for TestcaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{} (at {location})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for TestcaseError {}

/// What a testcase or hook body returns once normalised.
pub type Outcome = std::result::Result<(), TestcaseError>;

/// Turns what a testcase returns (`()` or `Result<(), E: Display>`) into an [`Outcome`].
pub trait IntoOutcome {
    /// Converts, attributing an error to `location` (the testcase's definition).
    fn into_outcome(self, location: &SourceLocation) -> Outcome;
}

impl IntoOutcome for () {
    fn into_outcome(self, _location: &SourceLocation) -> Outcome {
        Ok(())
    }
}

impl<E: Display> IntoOutcome for std::result::Result<(), E> {
    fn into_outcome(self, location: &SourceLocation) -> Outcome {
        self.map_err(|error| TestcaseError {
            message: error.to_string(),
            location: Some(location.clone()),
        })
    }
}

/// A testcase body bound to its suite type.
pub type TestcaseFn<S> = Arc<dyn Fn(&S, &Env, &mut Recorder) -> Outcome + Send + Sync>;

/// A suite hook that may mutate the suite (`setup(&mut self, …)`) or not.
pub enum SuiteHook<S> {
    /// `fn hook(&self, env, result)`.
    Shared(fn(&S, &Env, &mut Recorder) -> Outcome),
    /// `fn hook(&mut self, env, result)`.
    Exclusive(fn(&mut S, &Env, &mut Recorder) -> Outcome),
}

/// A hook run around each testcase; it receives the testcase's name.
pub type TestcaseHook<S> = fn(&S, &str, &Env, &mut Recorder) -> Outcome;

/// `xfail = "reason"` (or `xfail(reason = "…", strict = true)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xfail {
    /// Why the testcase is expected to fail.
    pub reason: String,
    /// A strict xfail that passes counts as a failure.
    pub strict: bool,
}

/// One generated testcase of a parametrized testcase.
pub struct Parametrization<S> {
    /// Parameter names and their values rendered with `Debug`, in signature order.
    pub parameters: testrig_model::Parameters,
    /// The body called with these values.
    pub body: TestcaseFn<S>,
}

/// A testcase is either one body or a list of parametrizations.
pub enum TestcaseBody<S> {
    /// A plain testcase.
    Single(TestcaseFn<S>),
    /// `parameters = …`: one generated testcase each.
    Parametrized(Vec<Parametrization<S>>),
}

/// Everything about one `#[testcase]` method.
pub struct TestcaseDefinition<S> {
    /// Name (the method's unless overridden).
    pub name: String,
    /// Tags of the testcase (the suite's and test's are added by inheritance).
    pub tags: Vec<String>,
    /// The doc comment.
    pub description: Option<String>,
    /// Where the method is defined.
    pub location: SourceLocation,
    /// `skip = "reason"`.
    pub skip: Option<String>,
    /// `xfail = …`.
    pub xfail: Option<Xfail>,
    /// `timeout = …`.
    pub timeout: Option<Duration>,
    /// `execution_group = "g"`.
    pub execution_group: Option<String>,
    /// The body or bodies.
    pub body: TestcaseBody<S>,
}

impl<S> TestcaseDefinition<S> {
    /// A plain testcase with default attributes.
    pub fn new(
        name: impl Into<String>,
        location: SourceLocation,
        body: impl Fn(&S, &Env, &mut Recorder) -> Outcome + Send + Sync + 'static,
    ) -> TestcaseDefinition<S> {
        TestcaseDefinition {
            name: name.into(),
            tags: Vec::new(),
            description: None,
            location,
            skip: None,
            xfail: None,
            timeout: None,
            execution_group: None,
            body: TestcaseBody::Single(Arc::new(body)),
        }
    }
}

/// Everything about one `#[suite]`: what `Suite::definition` returns.
pub struct SuiteDefinition<S> {
    /// Name (the type's unless overridden).
    pub name: String,
    /// Tags, inherited by the testcases.
    pub tags: Vec<String>,
    /// The doc comment.
    pub description: Option<String>,
    /// Where the suite is defined.
    pub location: Option<SourceLocation>,
    /// Testcases in declaration order.
    pub testcases: Vec<TestcaseDefinition<S>>,
    /// Runs once before the testcases; a failure errors every testcase without running it.
    pub setup: Option<SuiteHook<S>>,
    /// Runs once after the testcases, always.
    pub teardown: Option<SuiteHook<S>>,
    /// Runs before each testcase; a failure errors that testcase.
    pub pre_testcase: Option<TestcaseHook<S>>,
    /// Runs after each testcase, always.
    pub post_testcase: Option<TestcaseHook<S>>,
}

impl<S> SuiteDefinition<S> {
    /// An empty suite definition.
    pub fn new(name: impl Into<String>) -> SuiteDefinition<S> {
        SuiteDefinition {
            name: name.into(),
            tags: Vec::new(),
            description: None,
            location: None,
            testcases: Vec::new(),
            setup: None,
            teardown: None,
            pre_testcase: None,
            post_testcase: None,
        }
    }
}

/// Attributes given by `#[suite(...)]` on the struct; read by the `#[suite]` impl expansion.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not marked as a testrig suite",
    note = "add `#[suite]` to the declaration of `{Self}` as well as to its impl block"
)]
pub trait SuiteAttributes {
    /// The suite's name.
    const NAME: &'static str;
    /// The suite's tags.
    const TAGS: &'static [&'static str];
    /// The struct's doc comment, if any.
    const DESCRIPTION: Option<&'static str>;
    /// Where the struct is declared: file and line.
    const LOCATION: (&'static str, u32);
}

/// A suite: a value whose type describes testcases (implemented by `#[suite]` on an impl).
pub trait Suite: Send + Sync + 'static {
    /// The suite's testcases and hooks.
    fn definition() -> SuiteDefinition<Self>
    where
        Self: Sized;
}

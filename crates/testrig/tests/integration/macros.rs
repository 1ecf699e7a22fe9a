//! `#[suite]`, `#[testcase]` and the hook attributes as a user's crate meets them: suites using
//! every setting, checked through the `Suite::definition` they expand to, with bodies and hooks
//! invoked to show they call the user's methods.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use testrig::__private::{
    Outcome, SourceLocation, SuiteAttributes, SuiteDefinition, SuiteHook, TestcaseBody,
    TestcaseDefinition, TestcaseError, TestcaseHook, Xfail,
};
use testrig::prelude::*;

const ECHO_LINE: u32 = line!() + 6;

/// Echoes what it is sent.
///
/// Second paragraph.
#[suite(name = "Echo suite", tags = ["tcp", "smoke"])]
struct Echo {
    calls: AtomicU32,
    log: Mutex<Vec<String>>,
}

impl Echo {
    fn new() -> Echo {
        Echo {
            calls: AtomicU32::new(0),
            log: Mutex::new(Vec::new()),
        }
    }

    fn note(&self, line: impl Into<String>) {
        self.log.lock().unwrap().push(line.into());
    }
}

#[suite]
impl Echo {
    #[setup]
    fn setup(&mut self, env: &Env, result: &mut Recorder) {
        self.log
            .get_mut()
            .unwrap()
            .push(format!("setup {}", env.test_name()));
        result.log("setting up");
    }

    const TEARDOWN_LINE: u32 = line!() + 2;
    #[teardown]
    fn teardown(&self, _env: &Env) -> Result<(), String> {
        self.note("teardown");
        Err("could not tear down".into())
    }

    #[pre_testcase]
    fn before(&self, name: &str, _env: &Env, result: &mut Recorder) {
        self.note(format!("before {name}"));
        result.log("before");
    }

    #[post_testcase]
    fn after(&self, name: &str, _env: &Env) {
        self.note(format!("after {name}"));
    }

    const ROUND_TRIP_LINE: u32 = line!() + 5;
    /// Sends a message and reads it back.
    ///
    ///   Indented detail.
    #[testcase]
    fn round_trip(&self, env: &Env, result: &mut Recorder) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        result.log(format!("round trip in {}", env.test_name()));
    }

    /// Not a testcase: methods without a marker stay ordinary methods.
    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    #[testcase(name = "custom name", tags = ["slow"], skip = "reason", timeout = 2.5, execution_group = "g1")]
    fn t2(&self, _env: &Env, _result: &mut Recorder) -> Result<(), String> {
        Ok(())
    }

    #[testcase(xfail = "known bug #12", timeout = 3)]
    fn t3(&self, _env: &Env, _result: &mut Recorder) {}

    #[testcase(
        xfail(reason = "known bug", strict = true),
        timeout = "500ms",
        tags = "single"
    )]
    fn t4(&self, _env: &Env, _result: &mut Recorder) {}

    #[testcase(timeout = "1.5s")]
    fn t5(&self, _env: &Env, _result: &mut Recorder) {}

    #[testcase(timeout = "1m")]
    fn r#match(&self, _env: &Env, _result: &mut Recorder) {}

    const FAILING_LINE: u32 = line!() + 2;
    #[testrig::prelude::testcase]
    fn failing(&self, _env: &Env, result: &mut Recorder) -> Result<(), std::fmt::Error> {
        result.log("about to fail");
        Err(std::fmt::Error)
    }
}

/// Cases given as a `const`, to show any iterable expression is accepted.
const SQUARES: [(i64, i64); 2] = [(3, 9), (-4, 16)];

fn words() -> Vec<String> {
    vec!["alpha".to_owned(), "beta".to_owned()]
}

#[suite]
struct Arithmetic {
    seen: Mutex<Vec<String>>,
}

#[suite]
impl Arithmetic {
    #[setup]
    fn prepare(&self, _env: &Env) {
        self.seen.lock().unwrap().push("prepared".into());
    }

    #[testcase(parameters = [(1, 2, 3), (2, 3, 5), (2, 2, 5)])]
    fn add(
        &self,
        _env: &Env,
        result: &mut Recorder,
        a: i32,
        b: i32,
        sum: i32,
    ) -> Result<(), String> {
        self.seen.lock().unwrap().push(format!("{a}+{b}"));
        if a + b == sum {
            Ok(())
        } else {
            result.equal(a + b, sum, "sum");
            Err(format!("{a} + {b} is not {sum}"))
        }
    }

    #[testcase(parameters(base = [2, 10], exponent = [0, 1, 3]))]
    fn power(&self, _env: &Env, _result: &mut Recorder, base: u64, exponent: u32) {
        self.seen
            .lock()
            .unwrap()
            .push(base.pow(exponent).to_string());
    }

    #[testcase(parameters = ["world", "rust"])]
    fn greet(&self, _env: &Env, _result: &mut Recorder, who: &str) {
        self.seen.lock().unwrap().push(format!("hello {who}"));
    }

    #[testcase(parameters = [(7,), (8,)])]
    fn one_tuples(&self, _env: &Env, _result: &mut Recorder, n: u8) {
        self.seen.lock().unwrap().push(n.to_string());
    }

    #[testcase(parameters = SQUARES)]
    fn square(&self, _env: &Env, _result: &mut Recorder, n: i64, expected: i64) {
        assert_eq!(n * n, expected);
    }

    #[cfg(any())]
    #[setup]
    fn other_setup(&mut self, _env: &Env) {}

    #[cfg(any())]
    #[testcase(name = "add")]
    fn never_built(&self, _env: &Env, _result: &mut Recorder) {}

    #[testcase(parameters(word = words(), times = 1..3))]
    fn repeat(&self, _env: &Env, _result: &mut Recorder, word: String, times: usize) {
        self.seen.lock().unwrap().push(word.repeat(times));
    }
}

/// Generic suites work when the impl bounds the parameters as `Suite` requires.
#[suite(tags = "generic")]
struct Holder<T> {
    value: T,
}

#[suite]
impl<T: std::fmt::Display + Send + Sync + 'static> Holder<T> {
    #[testcase]
    fn show(&self, _env: &Env, result: &mut Recorder) {
        result.log(self.value.to_string());
    }
}

fn env() -> Env {
    Env::new("t", "/tmp/x")
}

fn testcase<'a, S>(definition: &'a SuiteDefinition<S>, name: &str) -> &'a TestcaseDefinition<S> {
    definition
        .testcases
        .iter()
        .find(|testcase| testcase.name == name)
        .unwrap_or_else(|| panic!("no testcase {name}"))
}

/// Runs a plain testcase on `suite` with a fresh recorder.
fn run_single<S>(testcase: &TestcaseDefinition<S>, suite: &S) -> (Outcome, Recorder) {
    let TestcaseBody::Single(body) = &testcase.body else {
        panic!("{} is parametrized", testcase.name)
    };
    let mut recorder = Recorder::detached();
    let outcome = body(suite, &env(), &mut recorder);
    (outcome, recorder)
}

/// The parameters of every generated case, as `(name, value)` pairs of `&str`.
fn parameters<S>(testcase: &TestcaseDefinition<S>) -> Vec<Vec<(&str, &str)>> {
    let TestcaseBody::Parametrized(cases) = &testcase.body else {
        panic!("{} is not parametrized", testcase.name)
    };
    cases
        .iter()
        .map(|case| case.parameters.iter().collect())
        .collect()
}

/// Runs every generated case of a parametrized testcase.
fn run_all<S>(testcase: &TestcaseDefinition<S>, suite: &S) -> Vec<Outcome> {
    let TestcaseBody::Parametrized(cases) = &testcase.body else {
        panic!("{} is not parametrized", testcase.name)
    };
    cases
        .iter()
        .map(|case| (case.body)(suite, &env(), &mut Recorder::detached()))
        .collect()
}

fn here(line: u32) -> SourceLocation {
    SourceLocation::new(file!(), line, 0)
}

#[test]
fn struct_attributes() {
    assert_eq!(<Echo as SuiteAttributes>::NAME, "Echo suite");
    assert_eq!(<Echo as SuiteAttributes>::TAGS, &["tcp", "smoke"]);
    assert_eq!(
        <Echo as SuiteAttributes>::DESCRIPTION,
        Some("Echoes what it is sent.\n\nSecond paragraph.")
    );
    assert_eq!(<Echo as SuiteAttributes>::LOCATION, (file!(), ECHO_LINE));
    assert_eq!(<Arithmetic as SuiteAttributes>::NAME, "Arithmetic");
    assert!(<Arithmetic as SuiteAttributes>::TAGS.is_empty());
    assert_eq!(<Arithmetic as SuiteAttributes>::DESCRIPTION, None);
}

#[test]
fn suite_definition() {
    let definition = <Echo as Suite>::definition();
    assert_eq!(definition.name, "Echo suite");
    assert_eq!(definition.tags, ["tcp", "smoke"]);
    assert_eq!(
        definition.description.as_deref(),
        Some("Echoes what it is sent.\n\nSecond paragraph.")
    );
    assert_eq!(definition.location, Some(here(ECHO_LINE)));
    let names: Vec<&str> = definition
        .testcases
        .iter()
        .map(|testcase| testcase.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "round_trip",
            "custom name",
            "t3",
            "t4",
            "t5",
            "match",
            "failing"
        ]
    );
}

#[test]
fn testcase_settings() {
    let definition = <Echo as Suite>::definition();

    let round_trip = testcase(&definition, "round_trip");
    assert_eq!(
        round_trip.description.as_deref(),
        Some("Sends a message and reads it back.\n\n  Indented detail.")
    );
    assert_eq!(round_trip.location, here(Echo::ROUND_TRIP_LINE));
    assert!(round_trip.tags.is_empty());
    assert_eq!(
        (&round_trip.skip, &round_trip.xfail, round_trip.timeout),
        (&None, &None, None)
    );
    assert_eq!(round_trip.execution_group, None);

    let custom = testcase(&definition, "custom name");
    assert_eq!(custom.tags, ["slow"]);
    assert_eq!(custom.description, None);
    assert_eq!(custom.skip.as_deref(), Some("reason"));
    assert_eq!(custom.timeout, Some(Duration::from_millis(2500)));
    assert_eq!(custom.execution_group.as_deref(), Some("g1"));

    let t3 = testcase(&definition, "t3");
    assert_eq!(
        t3.xfail,
        Some(Xfail {
            reason: "known bug #12".into(),
            strict: false
        })
    );
    assert_eq!(t3.timeout, Some(Duration::from_secs(3)));

    let t4 = testcase(&definition, "t4");
    assert_eq!(
        t4.xfail,
        Some(Xfail {
            reason: "known bug".into(),
            strict: true
        })
    );
    assert_eq!(t4.timeout, Some(Duration::from_millis(500)));
    assert_eq!(t4.tags, ["single"]);

    assert_eq!(
        testcase(&definition, "t5").timeout,
        Some(Duration::from_millis(1500))
    );
    assert_eq!(
        testcase(&definition, "match").timeout,
        Some(Duration::from_secs(60))
    );
}

#[test]
fn bodies_call_the_methods() {
    let definition = <Echo as Suite>::definition();
    let echo = Echo::new();

    let (outcome, recorder) = run_single(testcase(&definition, "round_trip"), &echo);
    assert_eq!(outcome, Ok(()));
    assert_eq!(echo.calls(), 1);
    assert_eq!(recorder.entries().len(), 1);
    let (outcome, _) = run_single(testcase(&definition, "custom name"), &echo);
    assert_eq!(outcome, Ok(()));

    let (outcome, recorder) = run_single(testcase(&definition, "failing"), &echo);
    let error = TestcaseError {
        message: "an error occurred when formatting an argument".into(),
        location: Some(here(Echo::FAILING_LINE)),
    };
    assert_eq!(outcome, Err(error));
    assert_eq!(recorder.entries().len(), 1, "the body ran up to the error");
}

#[test]
fn hooks_adapt_the_signatures() {
    let definition = <Echo as Suite>::definition();
    let mut echo = Echo::new();

    let Some(SuiteHook::Exclusive(setup)) = definition.setup else {
        panic!("setup takes &mut self")
    };
    let mut recorder = Recorder::detached();
    assert_eq!(setup(&mut echo, &env(), &mut recorder), Ok(()));
    assert_eq!(recorder.entries().len(), 1);

    let pre: TestcaseHook<Echo> = definition.pre_testcase.expect("pre_testcase");
    let post: TestcaseHook<Echo> = definition.post_testcase.expect("post_testcase");
    let mut recorder = Recorder::detached();
    assert_eq!(pre(&echo, "round_trip", &env(), &mut recorder), Ok(()));
    assert_eq!(recorder.entries().len(), 1);
    assert_eq!(post(&echo, "round_trip", &env(), &mut recorder), Ok(()));

    let Some(SuiteHook::Shared(teardown)) = definition.teardown else {
        panic!("teardown takes &self")
    };
    let error = teardown(&echo, &env(), &mut Recorder::detached()).unwrap_err();
    assert_eq!(
        error,
        TestcaseError {
            message: "could not tear down".into(),
            location: Some(here(Echo::TEARDOWN_LINE))
        }
    );

    assert_eq!(
        *echo.log.lock().unwrap(),
        [
            "setup t",
            "before round_trip",
            "after round_trip",
            "teardown"
        ]
    );

    let arithmetic = <Arithmetic as Suite>::definition();
    assert!(matches!(arithmetic.setup, Some(SuiteHook::Shared(_))));
    assert!(
        arithmetic.teardown.is_none()
            && arithmetic.pre_testcase.is_none()
            && arithmetic.post_testcase.is_none()
    );
}

#[test]
fn cfg_and_generics() {
    let definition = <Arithmetic as Suite>::definition();
    let names: Vec<&str> = definition
        .testcases
        .iter()
        .map(|testcase| testcase.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["add", "power", "greet", "one_tuples", "square", "repeat"]
    );

    let definition = <Holder<u8> as Suite>::definition();
    assert_eq!(
        (definition.name.as_str(), definition.tags.as_slice()),
        ("Holder", &["generic".to_owned()][..])
    );
    let (outcome, recorder) = run_single(testcase(&definition, "show"), &Holder { value: 7u8 });
    assert_eq!(outcome, Ok(()));
    assert_eq!(recorder.entries().len(), 1);
}

#[test]
fn parameter_lists() {
    let definition = <Arithmetic as Suite>::definition();
    let suite = Arithmetic {
        seen: Mutex::new(Vec::new()),
    };

    let add = testcase(&definition, "add");
    assert_eq!(
        parameters(add),
        [
            [("a", "1"), ("b", "2"), ("sum", "3")],
            [("a", "2"), ("b", "3"), ("sum", "5")],
            [("a", "2"), ("b", "2"), ("sum", "5")],
        ]
    );
    let outcomes = run_all(add, &suite);
    assert_eq!(outcomes[..2], [Ok(()), Ok(())]);
    let error = outcomes[2].as_ref().unwrap_err();
    assert_eq!(error.message, "2 + 2 is not 5");
    assert_eq!(
        error.location.as_ref().map(|location| &*location.file),
        Some(file!())
    );

    let greet = testcase(&definition, "greet");
    assert_eq!(
        parameters(greet),
        [[("who", "\"world\"")], [("who", "\"rust\"")]]
    );
    assert_eq!(
        parameters(testcase(&definition, "one_tuples")),
        [[("n", "7")], [("n", "8")]]
    );
    assert_eq!(
        parameters(testcase(&definition, "square")),
        [
            [("n", "3"), ("expected", "9")],
            [("n", "-4"), ("expected", "16")]
        ]
    );
    run_all(greet, &suite);
    run_all(testcase(&definition, "one_tuples"), &suite);
    assert!(
        run_all(testcase(&definition, "square"), &suite)
            .iter()
            .all(Result::is_ok)
    );

    assert_eq!(
        *suite.seen.lock().unwrap(),
        ["1+2", "2+3", "2+2", "hello world", "hello rust", "7", "8"]
    );
}

#[test]
fn parameter_combinations() {
    let definition = <Arithmetic as Suite>::definition();
    let suite = Arithmetic {
        seen: Mutex::new(Vec::new()),
    };

    let power = testcase(&definition, "power");
    assert_eq!(
        parameters(power),
        [
            [("base", "2"), ("exponent", "0")],
            [("base", "2"), ("exponent", "1")],
            [("base", "2"), ("exponent", "3")],
            [("base", "10"), ("exponent", "0")],
            [("base", "10"), ("exponent", "1")],
            [("base", "10"), ("exponent", "3")],
        ]
    );
    run_all(power, &suite);
    // Bodies may run more than once: each call gets fresh clones of the case's values.
    run_all(testcase(&definition, "repeat"), &suite);
    run_all(testcase(&definition, "repeat"), &suite);
    let repeat = parameters(testcase(&definition, "repeat"));
    assert_eq!(repeat[0], [("word", "\"alpha\""), ("times", "1")]);
    assert_eq!(repeat.len(), 4);
    assert_eq!(
        *suite.seen.lock().unwrap(),
        [
            "1",
            "2",
            "8",
            "1",
            "10",
            "1000",
            "alpha",
            "alphaalpha",
            "beta",
            "betabeta",
            "alpha",
            "alphaalpha",
            "beta",
            "betabeta"
        ]
    );
}

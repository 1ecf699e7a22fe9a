//! Bad plans are refused before anything runs, with a message that says what, where and how
//! to fix it, and exit status 2.

use testrig::drivers::App;
use testrig::prelude::*;

#[suite]
struct Alpha;

#[suite]
impl Alpha {
    #[testcase]
    fn first(&self, _env: &Env, result: &mut Recorder) {
        result.equal(1, 1, "one");
    }
}

#[suite(name = "Alpha")]
struct AlphaAgain;

#[suite]
impl AlphaAgain {
    #[testcase]
    fn second(&self, _env: &Env, result: &mut Recorder) {
        result.equal(2, 2, "two");
    }
}

/// Written by hand (the macros already refuse duplicate names at compile time).
struct Twice;

impl testrig::testing::Suite for Twice {
    fn definition() -> testrig::testing::SuiteDefinition<Self> {
        let location = testrig::model::SourceLocation::new(file!(), line!(), 0);
        let mut definition = testrig::testing::SuiteDefinition::new("Twice");
        for _ in 0..2 {
            definition
                .testcases
                .push(testrig::testing::TestcaseDefinition::new(
                    "same",
                    location.clone(),
                    |_suite: &Twice, _env: &Env, _result: &mut Recorder| Ok(()),
                ));
        }
        definition
    }
}

#[suite(name = "bad/name")]
struct Slashed;

#[suite]
impl Slashed {
    #[testcase]
    fn fine(&self, _env: &Env, _result: &mut Recorder) {}
}

#[suite]
struct Empty;

#[suite]
impl Empty {}

fn message(plan: &str, tests: impl IntoIterator<Item = MultiTest>) -> String {
    tests
        .into_iter()
        .fold(Plan::new(plan), Plan::add)
        .validate()
        .expect_err("the plan is invalid")
        .to_string()
}

#[test]
fn duplicate_names_are_refused_at_every_level() {
    let tests = [
        MultiTest::new("t").suite(Alpha),
        MultiTest::new("t").suite(Alpha),
    ];
    assert_eq!(
        message("p", tests),
        "duplicate test name `t` in plan `p`: give each MultiTest a unique name"
    );
    let tests = [MultiTest::new("t").suite(Alpha).suite(AlphaAgain)];
    assert_eq!(
        message("p", tests),
        "duplicate suite name `Alpha` in test `t`: rename one with #[suite(name = \"…\")]"
    );
    let tests = [MultiTest::new("t").suite(Twice)];
    let text = message("p", tests);
    assert!(
        text.starts_with("duplicate testcase name `same` in suite `Twice` of test `t`"),
        "{text}"
    );
    assert!(text.contains("validation.rs"), "names where: {text}");
}

#[test]
fn empty_plans_and_bad_names_are_refused() {
    assert!(message("p", []).starts_with("plan `p` has no tests"));
    assert!(message("p", [MultiTest::new("t")]).starts_with("test `t` has no suites"));
    assert!(
        message("p", [MultiTest::new("t").suite(Empty)]).starts_with("plan `p` has no testcases")
    );
    let text = message("p", [MultiTest::new("t").suite(Slashed)]);
    assert!(text.starts_with("invalid suite name `bad/name`"), "{text}");
    let text = message("p", [MultiTest::new("a:b").suite(Alpha)]);
    assert!(text.starts_with("invalid test name `a:b`"), "{text}");
}

#[test]
fn an_invalid_plan_exits_2_without_running() {
    let dir = std::env::temp_dir().join(format!("testrig-validation-{}", std::process::id()));
    let json = dir.join("report.json");
    let outcome = Plan::new("p")
        .add(MultiTest::new("t").suite(Twice))
        .run_with(
            testrig::cli::Options::from_args(["plan", "--json", json.to_str().unwrap()]).unwrap(),
        );
    assert_eq!(outcome.exit_code, 2);
    assert!(outcome.report.is_none());
    assert!(!json.exists(), "nothing ran, so no report is written");
}

#[test]
fn an_invalid_readiness_regex_is_a_plan_error_not_a_panic() {
    let server = || App::new("server", "/bin/sh").args(["-c", "echo port 1; sleep 60"]);
    let plan = |app: App| message("p", [MultiTest::new("t").driver(app).suite(Alpha)]);
    assert_eq!(
        plan(server().ready_on_stdout("port (\\d+")),
        "driver `server` of test `t`: ready_on_stdout: invalid regex `port (\\d+` (unclosed group); fix the pattern (`regex` crate syntax)"
    );
    assert!(
        plan(
            server()
                .ready_on_stdout("port \\d+")
                .ready_on_stderr("[z-a]")
        )
        .contains("ready_on_stderr: invalid regex `[z-a]`")
    );
    let outcome = Plan::new("p")
        .add(
            MultiTest::new("t")
                .driver(server().ready_on_stdout("(?P<port"))
                .suite(Alpha),
        )
        .run_with(testrig::cli::Options::from_args(["plan"]).unwrap());
    assert_eq!(outcome.exit_code, 2, "refused before anything starts");
}

//! Deliberate failures, to show how they read on the console, in JSON and in JUnit XML.
//!
//! Run it: `cargo run -p testrig-examples --bin failures` (exits 1).

use serde_json::json;
use testrig::prelude::*;

#[suite]
struct HowFailuresRead;

#[suite]
impl HowFailuresRead {
    /// A failed assertion records both values; the testcase goes on.
    #[testcase]
    fn wrong_answer(&self, _env: &Env, result: &mut Recorder) {
        result.equal(6 * 9, 42, "the answer");
        result.less(10, 3, "ten is less than three");
        result.log("still running after two failures");
    }

    /// Multi-line text shows a unified diff.
    #[testcase]
    fn text_diff(&self, _env: &Env, result: &mut Recorder) {
        let actual = "host = 127.0.0.1\nport = 8081\nmode = fast\n";
        let expected = "host = 127.0.0.1\nport = 8080\nmode = fast\n";
        result.equal_text(actual, expected, "rendered config");
    }

    /// Slices list each index that differs.
    #[testcase]
    fn slices(&self, _env: &Env, result: &mut Recorder) {
        result.equal_slices(&[1, 2, 4, 8], &[1, 2, 3], "doubling sequence");
    }

    /// Tables mark the cells that differ; dicts the keys.
    #[testcase]
    fn structured(&self, _env: &Env, result: &mut Recorder) {
        let actual = Table::new(["symbol", "qty"], [("AAPL", 100), ("MSFT", 50)]);
        let expected = Table::new(["symbol", "qty"], [("AAPL", 100), ("MSFT", 75)]);
        result.table().matches(&actual, &expected, "positions");
        result.dict().matches(
            json!({"a": 1, "b": 2, "c": {"d": [1, 2]}}),
            json!({"a": 1, "b": 3, "c": {"d": [1, 3]}}),
            "nested values",
        );
    }

    /// A returned error makes the testcase ERROR with the message and location.
    #[testcase]
    fn returns_an_error(&self, _env: &Env, _result: &mut Recorder) -> Result<(), String> {
        Err("the service answered 503".to_string())
    }

    /// A panic does too, and the next testcase still runs.
    #[testcase]
    fn panics(&self, _env: &Env, _result: &mut Recorder) {
        let ports: Vec<u16> = Vec::new();
        let _ = ports[0];
    }

    /// A timeout abandons the testcase and reports where it was.
    #[testcase(timeout = "300ms")]
    fn too_slow(&self, _env: &Env, result: &mut Recorder) {
        result.log("waiting for a reply that never comes");
        std::thread::sleep(std::time::Duration::from_secs(5));
    }

    /// A strict expected failure that passes counts as a failure.
    #[testcase(xfail(reason = "was broken in 1.2", strict = true))]
    fn fixed_but_still_marked(&self, _env: &Env, result: &mut Recorder) {
        result.is_true(true, "works now");
    }

    #[testcase]
    fn passes(&self, _env: &Env, result: &mut Recorder) {
        result.equal(1, 1, "one is one");
    }
}

#[suite]
struct BrokenSetup;

#[suite]
impl BrokenSetup {
    #[setup]
    fn setup(&self, _env: &Env) -> Result<(), String> {
        Err("could not reach the database".to_string())
    }

    #[teardown]
    fn teardown(&self, _env: &Env, result: &mut Recorder) {
        result.log("teardown runs even when setup failed");
    }

    #[testcase]
    fn needs_the_database(&self, _env: &Env, result: &mut Recorder) {
        result.fail("never runs: setup failed");
    }
}

fn main() -> std::process::ExitCode {
    Plan::new("failures")
        .add(
            MultiTest::new("Failures")
                .suite(HowFailuresRead)
                .suite(BrokenSetup),
        )
        .run_from_args()
}

//! Every assertion family of the result recorder, in a plan that passes.
//!
//! Run it: `cargo run -p testrig-examples --bin assertions -- -v` (`-v` prints every
//! assertion with the values it compared; `--json r.json` writes them all).

use std::collections::BTreeMap;

use serde_json::json;
use testrig::prelude::*;

#[suite]
struct Basic;

#[suite]
impl Basic {
    /// Comparisons record both values and the operator.
    #[testcase]
    fn comparisons(&self, _env: &Env, result: &mut Recorder) {
        result.equal(6 * 7, 42, "the answer");
        result.not_equal("tea", "coffee", "not the same drink");
        result.less(1, 2, "one is less than two");
        result.less_equal(2, 2, "two is at most two");
        result.greater(3.5, 3.0, "3.5 exceeds 3");
        result.greater_equal(10u8, 10u8, "ten is at least ten");
        result.is_close(0.1 + 0.2, 0.3, 1e-9, 0.0, "floating point sum");
        let name = String::from("testrig");
        result.is_true(name.starts_with("test"), "the name starts with test");
        result.is_false(name.is_empty(), "the name is not empty");
    }

    /// Membership in slices, sets, maps and strings.
    #[testcase]
    fn membership(&self, _env: &Env, result: &mut Recorder) {
        let users = vec!["alice", "bob"];
        result.contain("alice", &users, "alice is registered");
        result.not_contain("mallory", &users, "mallory is not");
        result.contain("ell", "hello", "substring");
        result.equal_slices(&[1, 2, 3], &[1, 2, 3], "same elements at every index");
    }

    /// A closure that must fail with a matching error (an `Err` or a panic).
    #[testcase]
    fn errors(&self, _env: &Env, result: &mut Recorder) {
        result.raises(
            || "x".parse::<u32>(),
            "invalid digit",
            "parsing letters fails",
        );
        result.raises(
            || -> Result<(), String> { Err("connection refused".into()) },
            ErrorExpectation::predicate("mentions the connection", |message| {
                message.contains("connection")
            }),
            "connecting fails",
        );
    }
}

#[suite]
struct Text;

#[suite]
impl Text {
    #[testcase]
    fn strings_and_regexes(&self, _env: &Env, result: &mut Recorder) {
        let log = "starting\nlistening on 127.0.0.1:8080\nready";
        result.equal_text(
            log,
            "starting\nlistening on 127.0.0.1:8080\nready",
            "whole log",
        );
        result
            .regex()
            .matches(r"start\w+", log, "log starts with starting");
        result.regex().search(
            r"listening on (\S+):(\d+)",
            log,
            "server announces its port",
        );
        result.regex().findall(r"\d+", log, "numbers in the log");
        result
            .regex()
            .findall_count(r"\bready\b", log, 1, "ready once");
        result.regex().not_match(r"(?i)error", log, "no errors");
        result
            .regex()
            .match_lines(r"ready$", log, "a line says ready");
    }
}

#[suite]
struct Structured;

#[suite]
impl Structured {
    /// Runs before each testcase of the suite; its entries go to that testcase.
    #[pre_testcase]
    fn announce(&self, name: &str, _env: &Env, result: &mut Recorder) {
        result.log(format!("starting {name}"));
    }

    /// Runs after each testcase, whatever happened in it.
    #[post_testcase]
    fn check_runpath(&self, _name: &str, env: &Env, result: &mut Recorder) {
        result.is_true(env.runpath().is_dir(), "the test's runpath exists");
    }

    /// Tables are rows of named columns; expected cells may be comparators.
    #[testcase]
    fn tables(&self, _env: &Env, result: &mut Recorder) {
        let people = Table::new(
            ["name", "age", "city"],
            [("alice", 31, "Paris"), ("bob", 27, "Oslo")],
        );
        let expected = ExpectedTable::new(
            ["name", "age", "city"],
            [
                vec![Comparator::regex("^al"), 31.into(), "Paris".into()],
                vec![
                    "bob".into(),
                    Comparator::predicate("adult", |age| age.as_i64() >= Some(18)),
                    Comparator::any(),
                ],
            ],
        );
        result.table().matches(&people, expected, "people");
        result.table().match_with(
            &people,
            &people,
            TableMatchOptions::new().exclude_columns(["city"]),
            "people without their city",
        );
        result
            .table()
            .column_contain(&people, "city", ["Paris", "Oslo", "Rome"], "known cities");
        result.table().log(&people, "the table as loaded");
    }

    /// Nested values: anything `Serialize`, compared key by key.
    #[testcase]
    fn dicts(&self, _env: &Env, result: &mut Recorder) {
        let event = json!({"id": "1234", "kind": "fill", "ts": 1700000000, "order": {"qty": 5, "px": 10.5}});
        result.dict().match_with(
            &event,
            json!({"id": "?", "kind": "fill", "order": {"qty": 5, "px": 10.5}}),
            DictMatchOptions::new()
                .exclude_keys(["ts"])
                .comparator("id", Comparator::regex("^[0-9]+$")),
            "fill event",
        );
        let mut config = BTreeMap::new();
        config.insert("host", "127.0.0.1");
        config.insert("port", "8080");
        result.dict().matches(
            &config,
            json!({"host": "127.0.0.1", "port": "8080"}),
            "config",
        );
        result
            .dict()
            .check(&event, ["id", "order.qty"], ["error"], "event shape");
    }

    /// Logs, attachments and groups of entries.
    #[testcase]
    fn logs_and_attachments(&self, env: &Env, result: &mut Recorder) -> std::io::Result<()> {
        result.log("a plain message");
        result.log_value("a value", &json!({"retries": 3}));
        let file = env.runpath().join("generated.txt");
        std::fs::write(&file, "data the testcase produced\n")?;
        result.attach(&file, "the generated file");
        result.group("checks on the generated file", |result| {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            result.contain("produced", text.as_str(), "mentions what produced it");
            result.equal(text.lines().count(), 1, "one line");
        });
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    Plan::new("assertions")
        .add(
            MultiTest::new("Assertions")
                .suite(Basic)
                .suite(Text)
                .suite(Structured),
        )
        .run_from_args()
}

//! The environment scheduler with in-process fake drivers: list order, async_start, the
//! dependency graph (parallel starts, reverse stops), validation errors, start and stop
//! failures, typed driver access from testcases.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testrig::drivers::{App, WaitFor};
use testrig::env::{
    Attributes, ConfigValue, Driver, DriverCommon, DriverError, DriverSettings, Environment,
    EnvironmentRun, StartContext, context, default_definition,
};
use testrig::model::{DriverStatus, Status};
use testrig::prelude::*;

type Timeline = Arc<Mutex<Vec<(String, Instant)>>>;

/// A driver that takes `delay` to become ready and records when things happen.
struct Fake {
    common: DriverCommon,
    delay: Duration,
    fail_start: Option<String>,
    fail_stop: bool,
    setting: Option<ConfigValue>,
    resolved: Mutex<Option<String>>,
    timeline: Timeline,
}

impl Fake {
    fn new(name: &str, delay_ms: u64, timeline: &Timeline) -> Fake {
        Fake {
            common: DriverCommon::new(name),
            delay: Duration::from_millis(delay_ms),
            fail_start: None,
            fail_stop: false,
            setting: None,
            resolved: Mutex::new(None),
            timeline: timeline.clone(),
        }
    }

    fn failing(mut self, message: &str) -> Fake {
        self.fail_start = Some(message.to_string());
        self
    }

    fn setting(mut self, value: impl Into<ConfigValue>) -> Fake {
        self.setting = Some(value.into());
        self
    }

    fn note(&self, what: &str) {
        self.timeline
            .lock()
            .unwrap()
            .push((format!("{} {what}", self.common.name), Instant::now()));
    }
}

impl DriverSettings for Fake {
    fn common_mut(&mut self) -> &mut DriverCommon {
        &mut self.common
    }
}

impl Driver for Fake {
    fn common(&self) -> &DriverCommon {
        &self.common
    }

    fn kind(&self) -> &'static str {
        "Fake"
    }

    fn context_values(&self) -> Vec<&ConfigValue> {
        self.setting.iter().collect()
    }

    fn start(&self, context: &StartContext) -> Result<(), DriverError> {
        self.note("start");
        if let Some(setting) = &self.setting {
            *self.resolved.lock().unwrap() = Some(context.resolve(setting)?);
        }
        Ok(())
    }

    fn wait_ready(&self, _context: &StartContext) -> Result<(), DriverError> {
        std::thread::sleep(self.delay);
        if let Some(message) = &self.fail_start {
            self.note("failed");
            return Err(DriverError::new(message.clone()).with_log_tail(vec!["last words".into()]));
        }
        self.note("ready");
        Ok(())
    }

    fn stop(&self) -> Result<(), DriverError> {
        self.note("stop");
        if self.fail_stop {
            Err(DriverError::new(
                "did not stop within 5s of SIGTERM; killed",
            ))
        } else {
            Ok(())
        }
    }

    fn definition(&self) -> String {
        format!("{} setting={:?}", default_definition(self), self.setting)
    }

    fn handoff_state(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "resolved": *self.resolved.lock().unwrap() }))
    }

    fn adopt(&self, state: &serde_json::Value, _context: &StartContext) -> Result<(), DriverError> {
        self.note("adopted");
        *self.resolved.lock().unwrap() = state["resolved"].as_str().map(str::to_string);
        Ok(())
    }

    fn attributes(&self) -> Attributes {
        let mut attributes = Attributes::new();
        attributes.insert(
            "port".into(),
            serde_json::json!(1000 + self.common.name.len()),
        );
        if let Some(resolved) = &*self.resolved.lock().unwrap() {
            attributes.insert("resolved".into(), serde_json::json!(resolved));
        }
        attributes
    }
}

fn run() -> EnvironmentRun {
    EnvironmentRun {
        test_uid: "t".into(),
        sink: None,
        runpath: std::env::temp_dir().join(format!("testrig-environment-{}", std::process::id())),
    }
}

fn when(timeline: &Timeline, what: &str) -> Instant {
    timeline
        .lock()
        .unwrap()
        .iter()
        .find(|(event, _)| event == what)
        .unwrap_or_else(|| panic!("no `{what}`"))
        .1
}

fn happened(timeline: &Timeline, what: &str) -> bool {
    timeline
        .lock()
        .unwrap()
        .iter()
        .any(|(event, _)| event == what)
}

#[test]
fn a_list_starts_in_order_each_waiting_for_the_previous() {
    let timeline = Timeline::default();
    let environment = Environment::new(
        vec![
            Fake::new("a", 80, &timeline).into(),
            Fake::new("b", 80, &timeline).into(),
        ],
        None,
    );
    environment.validate("t").unwrap();
    environment.start(&run()).unwrap();
    assert!(when(&timeline, "b start") >= when(&timeline, "a ready"));
    environment.stop(&run());
    assert!(
        when(&timeline, "a stop") >= when(&timeline, "b stop"),
        "reverse order"
    );
}

#[test]
fn after_an_async_start_driver_the_next_starts_without_waiting() {
    let timeline = Timeline::default();
    let environment = Environment::new(
        vec![
            Fake::new("a", 200, &timeline).async_start(true).into(),
            Fake::new("b", 10, &timeline).into(),
        ],
        None,
    );
    environment.start(&run()).unwrap();
    assert!(when(&timeline, "b start") < when(&timeline, "a ready"));
    environment.stop(&run());
}

#[test]
fn a_dependency_graph_starts_in_parallel_along_the_critical_path() {
    let timeline = Timeline::default();
    let drivers = ["a", "b", "c", "d"].map(|name| Fake::new(name, 150, &timeline).into());
    // a → c, b → c, c → d: a and b together, then c, then d: three steps, not four.
    let environment = Environment::new(
        drivers.into(),
        Some(vec![
            ("a".into(), "c".into()),
            ("b".into(), "c".into()),
            ("c".into(), "d".into()),
        ]),
    );
    environment.validate("t").unwrap();
    let started = Instant::now();
    environment.start(&run()).unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(150 * 3 + 120), "took {took:?}");
    assert!(took >= Duration::from_millis(150 * 3), "took {took:?}");
    let a = when(&timeline, "a start");
    let b = when(&timeline, "b start");
    assert!(
        a.max(b) - a.min(b) < Duration::from_millis(50),
        "a and b start together"
    );
    assert!(when(&timeline, "c start") >= when(&timeline, "b ready"));
    environment.stop(&run());
    assert!(when(&timeline, "d stop") <= when(&timeline, "c stop"));
    assert!(when(&timeline, "c stop") <= when(&timeline, "a stop"));
    assert!(when(&timeline, "c stop") <= when(&timeline, "b stop"));
}

#[test]
fn context_values_resolve_from_started_drivers() {
    let timeline = Timeline::default();
    let environment = Environment::new(
        vec![
            Fake::new("server", 0, &timeline).into(),
            Fake::new("client", 0, &timeline)
                .setting(context("server", "127.0.0.1:{{port}}"))
                .into(),
        ],
        None,
    );
    environment.validate("t").unwrap();
    environment.start(&run()).unwrap();
    let client = environment.driver("client").unwrap();
    assert_eq!(client.attributes()["resolved"], "127.0.0.1:1006");
    environment.stop(&run());
}

#[test]
fn validation_names_cycles_unknown_drivers_and_misordered_context_values() {
    let timeline = Timeline::default();
    let fakes = |names: &[&str]| {
        names
            .iter()
            .map(|name| Fake::new(name, 0, &timeline).into())
            .collect::<Vec<_>>()
    };
    let edges = |pairs: &[(&str, &str)]| {
        Some(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    };

    let cyclic = Environment::new(
        fakes(&["a", "b", "c"]),
        edges(&[("a", "b"), ("b", "c"), ("c", "a")]),
    );
    let error = cyclic.validate("t").unwrap_err().to_string();
    assert!(
        error.starts_with("dependency cycle in the environment of test `t`: "),
        "{error}"
    );
    assert!(
        ["a → b → c → a", "b → c → a → b", "c → a → b → c"]
            .iter()
            .any(|cycle| error.contains(cycle)),
        "{error}"
    );

    let unknown = Environment::new(fakes(&["a", "b"]), edges(&[("a", "x")]));
    let error = unknown.validate("t").unwrap_err().to_string();
    assert!(
        error.contains("unknown driver `x` in the dependencies of test `t`"),
        "{error}"
    );
    assert!(error.contains("drivers: a, b"), "{error}");

    let duplicate = Environment::new(fakes(&["a", "a"]), None);
    assert!(
        duplicate
            .validate("t")
            .unwrap_err()
            .to_string()
            .contains("duplicate driver name `a`")
    );

    let missing = Environment::new(
        vec![
            Fake::new("client", 0, &timeline)
                .setting(context("nope", "{{port}}"))
                .into(),
        ],
        None,
    );
    let error = missing.validate("t").unwrap_err().to_string();
    assert!(error.contains("there is no driver `nope`"), "{error}");

    let not_upstream = Environment::new(
        vec![
            Fake::new("client", 0, &timeline)
                .setting(context("server", "{{port}}"))
                .into(),
            Fake::new("server", 0, &timeline).into(),
        ],
        None,
    );
    let error = not_upstream.validate("t").unwrap_err().to_string();
    assert!(
        error.contains("`server` is not started before it"),
        "{error}"
    );

    let parallel = Environment::new(
        vec![
            Fake::new("server", 0, &timeline).into(),
            Fake::new("client", 0, &timeline)
                .setting(context("server", "{{port}}"))
                .into(),
        ],
        Some(Vec::new()),
    );
    let error = parallel.validate("t").unwrap_err().to_string();
    assert!(
        error.contains("add the dependency (\"server\", \"client\")"),
        "{error}"
    );

    let bad_template = Environment::new(
        vec![
            Fake::new("a", 0, &timeline)
                .install_file("{{ port", "a.conf")
                .into(),
        ],
        None,
    );
    let error = bad_template.validate("t").unwrap_err().to_string();
    assert!(
        error.contains("template `a.conf` of driver `a` in test `t` does not parse"),
        "{error}"
    );
}

#[test]
fn a_start_failure_stops_what_started_and_starts_nothing_more() {
    let timeline = Timeline::default();
    let environment = Environment::new(
        vec![
            Fake::new("a", 0, &timeline).into(),
            Fake::new("b", 20, &timeline)
                .failing("exited with status 3 before it was ready")
                .into(),
            Fake::new("c", 0, &timeline).into(),
        ],
        None,
    );
    let failure = environment.start(&run()).unwrap_err();
    assert_eq!(failure.driver, "b");
    assert_eq!(failure.error.log_tail, ["last words"]);
    assert!(
        failure
            .to_string()
            .starts_with("failed to start driver `b`: exited with status 3")
    );
    assert!(happened(&timeline, "a stop"));
    assert!(!happened(&timeline, "c start"));
    let statuses = environment.statuses();
    assert_eq!(statuses[0].1, DriverStatus::Stopped);
    assert_eq!(statuses[2].1, DriverStatus::NotStarted);
}

#[test]
fn a_driver_that_fails_to_stop_is_reported_and_the_others_still_stop() {
    let timeline = Timeline::default();
    let mut stubborn = Fake::new("stubborn", 0, &timeline);
    stubborn.fail_stop = true;
    let environment = Environment::new(
        vec![Fake::new("a", 0, &timeline).into(), stubborn.into()],
        None,
    );
    environment.start(&run()).unwrap();
    let problems = environment.stop(&run());
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].0, "stubborn");
    assert!(happened(&timeline, "a stop"));
    // It was killed: down, so the environment can start again (interactive mode's toggle).
    assert!(
        environment
            .statuses()
            .iter()
            .all(|(_, status)| *status == DriverStatus::Stopped),
        "{:?}",
        environment.statuses()
    );
    environment.start(&run()).unwrap();
    assert!(
        environment
            .statuses()
            .iter()
            .all(|(_, status)| *status == DriverStatus::Started)
    );
    environment.stop(&run());
}

// Through a plan: a MultiTest whose environment fails errors its testcases; the other runs.

#[suite]
struct UsesDrivers;

#[suite]
impl UsesDrivers {
    #[testcase]
    fn typed_access(&self, env: &Env, result: &mut Recorder) {
        let server = env.driver::<Fake>("server");
        result.equal(
            server.attributes()["port"].as_u64(),
            Some(1006),
            "port attribute",
        );
        let wrong = env
            .try_driver::<testrig::drivers::TcpServer>("server")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        result.equal(
            wrong,
            "driver `server` of test `Good` is Fake, not TcpServer".to_string(),
            "wrong type",
        );
        let missing = env.try_driver::<Fake>("nope").map(|_| ()).unwrap_err();
        result.is_true(
            matches!(&missing, testrig::env::DriverLookupError::Missing { available, .. } if available == &["server"]),
            "the error lists the drivers",
        );
        let missing = missing.to_string();
        result.equal(
            missing,
            "no driver `nope` in the environment of test `Good`; drivers: server".to_string(),
            "missing",
        );
    }
}

#[test]
fn a_failing_environment_errors_its_test_and_the_others_continue() {
    let timeline = Timeline::default();
    let dir = std::env::temp_dir().join(format!("testrig-env-plan-{}", std::process::id()));
    let outcome = Plan::new("environments")
        .add(
            MultiTest::new("Good")
                .suite(UsesDrivers)
                .driver(Fake::new("server", 0, &timeline)),
        )
        .add(
            MultiTest::new("Broken").suite(UsesDrivers).driver(
                Fake::new("server", 0, &timeline)
                    .failing("not ready after 0s: still waiting for a log line"),
            ),
        )
        .run_with(
            testrig::cli::Options::from_args(["plan", "--runpath", dir.to_str().unwrap(), "-q"])
                .unwrap(),
        );
    assert_eq!(outcome.exit_code, 1);
    let report = outcome.report.unwrap();
    let good = &report.plan.children[0];
    assert_eq!(good.status, Status::Passed, "{good:#?}");
    assert_eq!(good.drivers[0].status, DriverStatus::Stopped);
    assert!(
        good.drivers[0].start.duration().is_some() && good.drivers[0].stop.duration().is_some()
    );
    assert_eq!(good.drivers[0].attributes["port"], 1006);
    let broken = &report.plan.children[1];
    assert_eq!(broken.status, Status::Error);
    assert!(
        broken
            .error
            .as_ref()
            .unwrap()
            .message
            .starts_with("failed to start driver `server`: not ready")
    );
    // It failed to start, was then stopped (nothing of it is left running); the report
    // keeps why it failed.
    assert_eq!(broken.drivers[0].status, DriverStatus::Stopped);
    assert!(
        broken.drivers[0]
            .error
            .as_ref()
            .unwrap()
            .message
            .starts_with("not ready")
    );
    assert_eq!(broken.drivers[0].log_tail, ["last words"]);
    let testcase = &broken.testcases()[0];
    assert_eq!(testcase.status, Status::Error);
    assert!(
        testcase
            .error
            .as_ref()
            .unwrap()
            .message
            .starts_with("not run: the environment failed to start")
    );
}

#[test]
fn hooks_run_around_each_phase_and_a_failing_pre_start_fails_the_start() {
    let timeline = Timeline::default();
    let (before, after) = (timeline.clone(), timeline.clone());
    let hooked = Fake::new("hooked", 0, &timeline)
        .pre_start(move |hook| {
            before.lock().unwrap().push((
                format!("{} pre_start", hook.driver().name()),
                Instant::now(),
            ));
            Ok(())
        })
        .post_stop(move |hook| {
            after.lock().unwrap().push((
                format!("{} post_stop", hook.driver().name()),
                Instant::now(),
            ));
            Ok(())
        });
    let environment = Environment::new(vec![hooked.into()], None);
    environment.start(&run()).unwrap();
    environment.stop(&run());
    assert!(when(&timeline, "hooked pre_start") <= when(&timeline, "hooked start"));
    assert!(when(&timeline, "hooked post_stop") >= when(&timeline, "hooked stop"));

    let refusing =
        Fake::new("refusing", 0, &timeline).pre_start(|_| Err("port 80 needs root".into()));
    let environment = Environment::new(vec![refusing.into()], None);
    let failure = environment.start(&run()).unwrap_err();
    assert_eq!(
        failure.error.message,
        "pre_start hook failed: port 80 needs root"
    );
    assert!(!happened(&timeline, "refusing start"));
}

#[test]
fn a_pre_start_hook_prepares_the_runpath_runs_commands_and_adds_arguments() {
    let runpath = std::env::temp_dir().join(format!("testrig-hooks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&runpath);
    let app = App::new("prepared", "/bin/sh")
        .arg("-c")
        .arg(r#"cat seed.txt; echo "extra=$1 mode=$MODE"; exec sleep 30"#)
        .ready_when(WaitFor::stdout(r"extra=(?P<extra>\S+) mode=(?P<mode>\S+)"))
        .pre_start(|hook| {
            // Written before start, in the runpath the program then runs in: kept.
            std::fs::write(hook.runpath().join("seed.txt"), "seeded\n")?;
            let output =
                hook.run(std::process::Command::new("sh").args(["-c", "echo from-hook; ls"]))?;
            assert!(output.stdout.contains("seed.txt"), "{output:?}");
            hook.arg("sh-name")?;
            hook.arg("first")?;
            hook.env("MODE", "hooked")?;
            Ok(())
        })
        .post_start(|hook| {
            let attributes = hook.attributes();
            if attributes["extra"] != "first" {
                return Err(format!("post_start saw {attributes:?}").into());
            }
            // Arguments can only be added before the program starts.
            let refused = hook.arg("late").unwrap_err();
            assert!(
                refused.message.contains("only be set in pre_start"),
                "{refused}"
            );
            Ok(())
        })
        .pre_stop(|hook| {
            // The stop hooks see the running drivers, and their commands get the variables.
            if !hook.context().contains_key("prepared") {
                return Err("pre_stop saw no running drivers".into());
            }
            let output = hook.run(
                std::process::Command::new("sh").args(["-c", "echo $DRIVER_PREPARED_ATTR_EXTRA"]),
            )?;
            if output.stdout.trim() != "first" {
                return Err(format!("pre_stop's command saw {:?}", output.stdout).into());
            }
            Ok(())
        });
    let environment = Environment::new(vec![app.into()], None);
    let run = EnvironmentRun {
        test_uid: "Hooks".into(),
        sink: None,
        runpath: runpath.clone(),
    };
    let started = environment.start(&run);
    let stdout = std::fs::read_to_string(runpath.join("prepared/stdout")).unwrap_or_default();
    let problems = environment.stop(&run);
    started.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(stdout, "seeded\nextra=first mode=hooked\n");
    let hooks_log = std::fs::read_to_string(runpath.join("prepared/hooks.log")).unwrap();
    assert!(
        hooks_log.starts_with("$ sh -c 'echo from-hook; ls'\nfrom-hook\n"),
        "{hooks_log}"
    );

    // A failing command fails the start with its stderr.
    let failing = App::new("failing", "/bin/true").pre_start(|hook| {
        hook.run(
            std::process::Command::new("sh").args(["-c", "echo 'initdb: bad locale' >&2; exit 3"]),
        )?;
        Ok(())
    });
    let environment = Environment::new(vec![failing.into()], None);
    let failure = environment.start(&run).unwrap_err();
    assert_eq!(
        failure.error.message,
        "pre_start hook failed: `sh -c 'echo '\\''initdb: bad locale'\\'' >&2; exit 3'` exited with status 3"
    );
    assert_eq!(failure.error.log_tail, ["initdb: bad locale"]);
    let _ = std::fs::remove_dir_all(&runpath);
}

#[test]
fn a_panicking_probe_or_hook_fails_the_start_instead_of_hanging_it() {
    let runpath = std::env::temp_dir().join(format!("testrig-panics-{}", std::process::id()));
    let run = EnvironmentRun {
        test_uid: "Panics".into(),
        sink: None,
        runpath: runpath.clone(),
    };
    let probing = App::new("probing", "/bin/sh")
        .args(["-c", "exec sleep 30"])
        .ready_when(WaitFor::probe("schema", |attributes| {
            Ok(attributes["no-such-attribute"].as_bool().expect("a flag"))
        }));
    let environment = Environment::new(vec![probing.into()], None);
    let failure = environment.start(&run).unwrap_err();
    assert_eq!(failure.driver, "probing");
    assert!(
        failure.error.message.starts_with("panicked during start: "),
        "{}",
        failure.error.message
    );
    // The App it spawned was stopped with the environment.
    assert!(
        environment
            .statuses()
            .iter()
            .all(|(_, status)| *status != DriverStatus::Started)
    );

    let hooked = App::new("hooked", "/bin/true").pre_stop(|_| panic!("pre_stop went wrong"));
    let environment = Environment::new(vec![hooked.into()], None);
    environment.start(&run).unwrap();
    let problems = environment.stop(&run);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].1.message.contains("pre_stop went wrong"),
        "{:?}",
        problems
    );
    let _ = std::fs::remove_dir_all(&runpath);
}

#[test]
fn an_invalid_environment_stops_the_plan_before_anything_starts() {
    let timeline = Timeline::default();
    let outcome = Plan::new("cyclic")
        .add(
            MultiTest::new("Cycle")
                .suite(UsesDrivers)
                .drivers([
                    Fake::new("a", 0, &timeline).into(),
                    Fake::new("b", 0, &timeline).into(),
                ])
                .dependencies([("a", "b"), ("b", "a")]),
        )
        .run_with(testrig::cli::Options::from_args(["plan"]).unwrap());
    assert_eq!(outcome.exit_code, 2);
    assert!(outcome.report.is_none());
    assert!(timeline.lock().unwrap().is_empty(), "nothing started");
}

/// Code reload: the next image of the plan takes over the drivers whose definition did not
/// change and whose upstream drivers were taken over; the rest start again (after the old
/// one is taken over only to be stopped), and a driver that is gone is stopped.
#[test]
fn a_reloaded_environment_takes_over_unchanged_drivers_and_restarts_the_rest() {
    let timeline = Timeline::default();
    let before = Environment::new(
        vec![
            Fake::new("a", 0, &timeline).setting("1").into(),
            Fake::new("b", 0, &timeline)
                .setting(context("a", "{{port}}"))
                .into(),
            Fake::new("c", 0, &timeline).into(),
        ],
        Some(vec![("a".into(), "b".into())]),
    );
    before.start(&run()).unwrap();
    let handed_off = before.handoff();
    assert_eq!(handed_off.len(), 3);

    let after_timeline = Timeline::default();
    let after = Environment::new(
        vec![
            Fake::new("a", 0, &after_timeline).setting("2").into(),
            Fake::new("b", 0, &after_timeline)
                .setting(context("a", "{{port}}"))
                .into(),
            Fake::new("c", 0, &after_timeline).into(),
        ],
        Some(vec![("a".into(), "b".into())]),
    );
    let mut reloaded = run();
    reloaded.test_uid = "reloaded".into();
    let mut offered = handed_off.clone();
    offered.push(testrig::env::HandedOffDriver {
        name: "removed".into(),
        definition: String::new(),
        attributes: Attributes::new(),
        state: serde_json::json!({}),
    });
    after.offer_adoption(offered);
    after.start(&reloaded).unwrap();
    assert!(happened(&after_timeline, "c adopted") && !happened(&after_timeline, "c start"));
    for restarted in ["a", "b"] {
        assert!(
            happened(&after_timeline, &format!("{restarted} stop"))
                && happened(&after_timeline, &format!("{restarted} start")),
            "{restarted} is taken over, stopped and started again"
        );
    }
    let notes = after.adoption_notes();
    for note in [
        "`c` kept running",
        "`a` started again: its definition changed",
        "`b` started again: a driver it depends on was started again",
        "`removed` stopped: it was removed",
    ] {
        assert!(notes.iter().any(|n| n == note), "{note} in {notes:?}");
    }
    after.stop(&reloaded);
    before.stop(&run());
}

/// In list order, start order is not dependence: a changed driver restarts those that read
/// it by context values, not every driver listed after it.
#[test]
fn in_list_order_a_reload_restarts_only_the_readers_of_a_changed_driver() {
    let timeline = Timeline::default();
    let environment = |setting: &str, timeline: &Timeline| {
        Environment::new(
            vec![
                Fake::new("server", 0, timeline).setting(setting).into(),
                Fake::new("mock", 0, timeline).into(),
                Fake::new("client", 0, timeline)
                    .setting(context("server", "{{port}}"))
                    .into(),
            ],
            None,
        )
    };
    let before = environment("1", &timeline);
    before.start(&run()).unwrap();
    let after_timeline = Timeline::default();
    let after = environment("2", &after_timeline);
    let mut reloaded = run();
    reloaded.test_uid = "reloaded-list".into();
    after.offer_adoption(before.handoff());
    after.start(&reloaded).unwrap();
    assert!(happened(&after_timeline, "mock adopted") && !happened(&after_timeline, "mock start"));
    let notes = after.adoption_notes();
    for note in [
        "`mock` kept running",
        "`server` started again: its definition changed",
        "`client` started again: a driver it depends on was started again",
    ] {
        assert!(notes.iter().any(|n| n == note), "{note} in {notes:?}");
    }
    after.stop(&reloaded);
    before.stop(&run());
}

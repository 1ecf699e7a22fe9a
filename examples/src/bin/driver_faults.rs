//! How driver faults read: a driver that exits before it is ready, one that never becomes
//! ready, and one that crashes while testcases run. Each faulty MultiTest is marked errored
//! with the driver's name, reason and log tail; the healthy one still runs.
//!
//! Run it: `cargo run -p testrig-examples --bin driver_faults` (exits 1).

use std::time::Duration;

use testrig::drivers::App;
use testrig::prelude::*;

#[suite]
struct Uses;

#[suite]
impl Uses {
    /// Runs while the service is up, and lasts longer than it does.
    #[testcase]
    fn outlived_by_nothing(&self, _env: &Env, result: &mut Recorder) {
        std::thread::sleep(Duration::from_millis(600));
        result.is_true(true, "the testcase itself is fine");
    }

    /// Runs after the service has died.
    #[testcase]
    fn after_the_crash(&self, _env: &Env, result: &mut Recorder) {
        result.fail("not reached: the environment is down");
    }
}

#[suite]
struct Healthy;

#[suite]
impl Healthy {
    #[testcase]
    fn still_runs(&self, env: &Env, result: &mut Recorder) {
        result.is_true(
            env.driver::<App>("service").pid().is_some(),
            "its service is up",
        );
    }
}

fn sh(name: &str, script: &str) -> App {
    App::new(name, "/bin/sh").args(["-c", script])
}

fn main() -> std::process::ExitCode {
    Plan::new("driver_faults")
        .add(
            MultiTest::new("ExitsEarly").suite(Uses).driver(
                sh(
                    "service",
                    "echo 'loading config'; echo 'config.toml: no such file' >&2; exit 3",
                )
                .ready_on_stdout("ready"),
            ),
        )
        .add(
            MultiTest::new("NeverReady").suite(Uses).driver(
                sh("service", "echo 'warming up'; exec sleep 600")
                    .ready_on_stdout("ready")
                    .start_timeout(Duration::from_millis(500)),
            ),
        )
        .add(
            MultiTest::new("CrashesMidRun").suite(Uses).driver(
                sh(
                    "service",
                    "echo ready; sleep 0.3; echo 'segfault in worker' >&2; exit 139",
                )
                .ready_on_stdout("ready"),
            ),
        )
        .add(
            MultiTest::new("Healthy")
                .suite(Healthy)
                .driver(sh("service", "echo ready; exec sleep 600").ready_on_stdout("ready")),
        )
        .run_from_args()
}

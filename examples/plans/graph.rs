//! A five-driver dependency graph: `db` and `cache` have no dependencies and start together;
//! `api` waits for both; `web` and `worker` wait for `api` and start together. Each driver
//! takes 0.3 s to become ready, so the environment is up in about 0.9 s (the critical path),
//! not 1.5 s (the sum).
//!
//! Run it: `cargo test -p testrig-examples --test graph -- --driver-info`

use testrig::drivers::App;
use testrig::prelude::*;

/// A service that takes 0.3 s to start and says when it became ready.
fn service(name: &str) -> App {
    App::new(name, "/bin/sh")
        .args([
            "-c",
            "sleep 0.3; echo \"ready at $(date +%s.%N)\"; exec sleep 600",
        ])
        .ready_on_stdout(r"ready at (?P<ready_at>[0-9.]+)")
}

fn ready_at(env: &Env, driver: &str) -> f64 {
    env.driver::<App>(driver)
        .extracts()
        .get("ready_at")
        .and_then(|at| at.parse().ok())
        .unwrap_or(f64::NAN)
}

#[suite]
struct StartOrder;

#[suite]
impl StartOrder {
    /// Independent drivers start in parallel.
    #[testcase]
    fn roots_start_together(&self, env: &Env, result: &mut Recorder) {
        let gap = (ready_at(env, "db") - ready_at(env, "cache")).abs();
        result.less(
            gap,
            0.2,
            "db and cache were ready within 0.2 s of each other",
        );
        let gap = (ready_at(env, "web") - ready_at(env, "worker")).abs();
        result.less(
            gap,
            0.2,
            "web and worker were ready within 0.2 s of each other",
        );
    }

    /// A driver starts only once everything it depends on is ready.
    #[testcase]
    fn dependents_wait(&self, env: &Env, result: &mut Recorder) {
        let api = ready_at(env, "api");
        result.greater_equal(
            api - ready_at(env, "db"),
            0.3,
            "api became ready 0.3 s after db",
        );
        result.greater_equal(
            api - ready_at(env, "cache"),
            0.3,
            "api became ready 0.3 s after cache",
        );
        result.greater_equal(ready_at(env, "web") - api, 0.3, "web after api");
    }
}

fn main() -> std::process::ExitCode {
    let drivers = ["db", "cache", "api", "web", "worker"].map(|name| service(name).into());
    Plan::new("graph")
        .add(
            MultiTest::new("Services")
                .suite(StartOrder)
                .drivers(drivers)
                .dependencies([
                    ("db", "api"),
                    ("cache", "api"),
                    ("api", "web"),
                    ("api", "worker"),
                ]),
        )
        .run_from_args()
}

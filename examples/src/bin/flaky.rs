//! Testcases that fail, or crash their worker, on their first run only, and one that always
//! fails: with `--rerun 2` the first two pass on their second run and are reported flaky,
//! with every run kept in the report; the last runs three times and fails.
//!
//! Run it: `cargo run -p testrig-examples --bin flaky -- --rerun 2`.

use testrig::prelude::*;

/// True the first time it is asked for `name` in this run: a marker file in the runpath,
/// named after the plan process (the parent of the worker processes).
fn first_time(env: &Env, name: &str) -> bool {
    let plan = std::os::unix::process::parent_id();
    let marker = env.runpath().join(format!("{name}.{plan}.ran"));
    let first = !marker.exists();
    let _ = std::fs::write(&marker, "");
    first
}

#[suite]
struct Unsteady;

#[suite]
impl Unsteady {
    #[testcase]
    fn steady(&self, _env: &Env, result: &mut Recorder) {
        result.equal(1, 1, "always passes");
    }

    #[testcase]
    fn fails_once(&self, env: &Env, result: &mut Recorder) {
        let first = first_time(env, "fails_once");
        result.is_false(first, "passes from its second run on");
    }

    #[testcase]
    fn crashes_once(&self, env: &Env, result: &mut Recorder) {
        if first_time(env, "crashes_once") {
            std::process::abort();
        }
        result.equal(2, 2, "passes once its worker did not crash");
    }

    #[testcase]
    fn always_fails(&self, _env: &Env, result: &mut Recorder) {
        result.equal(1, 2, "never passes");
    }
}

fn main() -> std::process::ExitCode {
    Plan::new("flaky")
        .add(MultiTest::new("Unsteady").suite(Unsteady))
        .run_from_args()
}

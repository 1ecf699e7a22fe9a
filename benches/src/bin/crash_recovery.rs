//! A MultiTest whose second testcase aborts its worker process, without drivers: the time
//! from the crash to the next testcase's start is what a crash costs beyond restarting an
//! environment (`crash_recovery_ms`, read from the JSON report by `benches/run pool`).

use testrig::prelude::*;

#[suite]
struct Recovers;

#[suite]
impl Recovers {
    #[testcase]
    fn before(&self, _env: &Env, result: &mut Recorder) {
        result.equal(1, 1, "runs before the crash");
    }

    #[testcase]
    fn aborts(&self, _env: &Env, result: &mut Recorder) {
        result.log("aborting");
        std::process::abort();
    }

    #[testcase]
    fn after(&self, _env: &Env, result: &mut Recorder) {
        result.equal(2, 2, "runs in a fresh worker");
    }
}

fn main() -> std::process::ExitCode {
    Plan::new("crash_recovery")
        .add(MultiTest::new("Recovery").suite(Recovers))
        .run_from_args()
}

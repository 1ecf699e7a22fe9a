//! A slow plan for trying Ctrl-C: each testcase takes a second.
//!
//! Run it: `cargo run -p testrig-examples --bin long_running -- --json r.json` and press
//! Ctrl-C. Scheduling stops, the running testcase gets a grace period (`--interrupt-grace`)
//! to finish, the partial report is written (marked interrupted), and the exit status is 130.
//! A second Ctrl-C exits at once.

use std::time::Duration;

use testrig::prelude::*;

#[suite]
struct Slow;

#[suite]
impl Slow {
    #[testcase(parameters = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])]
    fn step(&self, _env: &Env, result: &mut Recorder, step: u32) {
        std::thread::sleep(Duration::from_secs(1));
        result.greater(step, 0, "steps count from one");
    }
}

fn main() -> std::process::ExitCode {
    Plan::new("long_running")
        .add(MultiTest::new("Slow").suite(Slow))
        .run_from_args()
}

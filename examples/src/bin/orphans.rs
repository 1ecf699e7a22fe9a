//! Processes that resist stopping: one ignores SIGTERM, one forks a grandchild. Interrupt
//! the plan (Ctrl-C) while its testcase runs: every one of them is gone afterwards.
//!
//! Run it: `cargo run -p testrig-examples --bin orphans`, press Ctrl-C, then check with `ps`.

use std::time::Duration;

use testrig::drivers::App;
use testrig::prelude::*;

#[suite]
struct Waits;

#[suite]
impl Waits {
    #[testcase]
    fn long_running(&self, _env: &Env, result: &mut Recorder) {
        std::thread::sleep(Duration::from_secs(30));
        result.is_true(true, "waited");
    }
}

fn main() -> std::process::ExitCode {
    let stubborn = App::new("stubborn", "/bin/sh")
        .args([
            "-c",
            "trap '' TERM; echo \"ready pid $$\"; while true; do sleep 1; done",
        ])
        .ready_on_stdout(r"ready pid (?P<shell>\d+)")
        .stop_timeout(Duration::from_millis(500));
    let forker = App::new("forker", "/bin/sh")
        .args(["-c", "sleep 300 & echo \"ready child $!\"; wait"])
        .ready_on_stdout(r"ready child (?P<grandchild>\d+)");
    Plan::new("orphans")
        .add(
            MultiTest::new("Resists")
                .suite(Waits)
                .driver(stubborn)
                .driver(forker),
        )
        .run_from_args()
}

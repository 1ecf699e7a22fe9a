//! A million trivial testcases: 10 MultiTests × 100 suites × one parametrized testcase of
//! 1,000 cases. Time and memory must stay linear in the number of testcases.

use testrig::prelude::*;

include!(concat!(env!("OUT_DIR"), "/million.rs"));

fn main() -> std::process::ExitCode {
    let mut plan = Plan::new("plan1m");
    for test in 0..10 {
        plan = plan.add(million_suites(MultiTest::new(format!("Test{test}"))));
    }
    plan.run_from_args()
}

//! 10 MultiTests × 10 suites × 100 testcases, one `equal` each: the fixed workload that
//! measures the per-testcase overhead of the runner, the event stream and the reports.

use testrig::prelude::*;

include!(concat!(env!("OUT_DIR"), "/suites_10x100.rs"));

fn main() -> std::process::ExitCode {
    let mut plan = Plan::new("plan10k");
    for test in 0..10 {
        plan = plan.add(
            MultiTest::new(format!("Test{test}"))
                .suite(Suite0)
                .suite(Suite1)
                .suite(Suite2)
                .suite(Suite3)
                .suite(Suite4)
                .suite(Suite5)
                .suite(Suite6)
                .suite(Suite7)
                .suite(Suite8)
                .suite(Suite9),
        );
    }
    plan.run_from_args()
}

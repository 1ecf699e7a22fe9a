//! Execution groups: testcases of one group run together on the MultiTest's thread pool,
//! groups run one after another (Testplan's `execution_group` and `thread_pool_size`).
//!
//! Run it: `cargo run -p testrig-examples --bin groups -- -v`
//! Each testcase sleeps 200 ms; the four `reads` run at once, then the two `writes`, so the
//! suite takes about 0.4 s instead of 1.2 s.

use std::time::Duration;

use testrig::prelude::*;

#[suite]
struct Storage;

#[suite]
impl Storage {
    #[testcase(execution_group = "reads", parameters = [1, 2, 3, 4])]
    fn read(&self, _env: &Env, result: &mut Recorder, shard: u32) {
        std::thread::sleep(Duration::from_millis(200));
        result.log(format!(
            "read shard {shard} on {:?}",
            std::thread::current().id()
        ));
        result.less_equal(shard, 4, "shard exists");
    }

    #[testcase(execution_group = "writes")]
    fn write_primary(&self, _env: &Env, result: &mut Recorder) {
        std::thread::sleep(Duration::from_millis(200));
        result.is_true(true, "primary accepted the write");
    }

    #[testcase(execution_group = "writes")]
    fn write_replica(&self, _env: &Env, result: &mut Recorder) {
        std::thread::sleep(Duration::from_millis(200));
        result.is_true(true, "replica accepted the write");
    }
}

fn main() -> std::process::ExitCode {
    Plan::new("groups")
        .add(MultiTest::new("Storage").thread_pool_size(4).suite(Storage))
        .run_from_args()
}

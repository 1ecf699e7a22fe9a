//! One MultiTest with a parametrized testcase of 10,000 cases (suite `Wide10k`) and one of
//! 100,000 (`Wide100k`): the report's cost per event must not grow with a node's width.
//! Run one with a libtest filter, e.g. `wide Wide100k`.

use testrig::prelude::*;

include!(concat!(env!("OUT_DIR"), "/wide.rs"));

fn main() -> std::process::ExitCode {
    Plan::new("wide")
        .add(MultiTest::new("Wide").suite(Wide10k).suite(Wide100k))
        .run_from_args()
}

//! A plan with one testcase: the fixed cost of a plan process from start to exit.

use testrig::prelude::*;

#[suite]
struct Single;

#[suite]
impl Single {
    #[testcase]
    fn only(&self, _env: &Env, result: &mut Recorder) {
        result.equal(1 + 1, 2, "one plus one");
    }
}

fn main() -> std::process::ExitCode {
    Plan::new("plan1")
        .add(MultiTest::new("Single").suite(Single))
        .run_from_args()
}

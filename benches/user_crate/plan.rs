//! The one-testcase plan of `benches/run user_crate`: a fresh crate's first plan.

use testrig::prelude::*;

#[suite]
struct Checks;

#[suite]
impl Checks {
    #[testcase]
    fn adds(&self, _env: &Env, result: &mut Recorder) {
        result.equal(2 + 2, 4, "two and two 3");
    }
}

fn main() -> std::process::ExitCode {
    Plan::new("user plan")
        .add(MultiTest::new("Unit").suite(Checks))
        .run_from_args()
}

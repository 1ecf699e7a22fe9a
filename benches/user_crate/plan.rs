//! A fresh crate's first plan, one testcase: built by `benches/run user_crate` and by the
//! minimal-features test (`crates/testrig/tests/integration/features.rs`).

use testrig::prelude::*;

#[suite]
struct Checks;

#[suite]
impl Checks {
    #[testcase]
    fn adds(&self, _env: &Env, result: &mut Recorder) {
        result.equal(2 + 2, 4, "two and two");
    }
}

fn main() -> std::process::ExitCode {
    Plan::new("user plan")
        .add(MultiTest::new("Unit").suite(Checks))
        .run_from_args()
}

//! Generates the 10,000-testcase plan: 10 suites of 100 trivial testcases each, written out
//! as ordinary `#[suite]` code so the benchmark measures what a user's plan costs.

use std::fmt::Write;

fn main() {
    let mut source = String::new();
    for suite in 0..10 {
        writeln!(source, "/// Generated suite {suite} of 10.\n#[suite]\npub struct Suite{suite};\n#[suite]\nimpl Suite{suite} {{").unwrap();
        for case in 0..100 {
            writeln!(
                source,
                "    #[testcase]\n    fn case{case}(&self, _env: &Env, result: &mut Recorder) {{\n        result.equal({case}, {case}, \"equal\");\n    }}"
            )
            .unwrap();
        }
        writeln!(source, "}}").unwrap();
    }
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    std::fs::write(format!("{out}/suites_10x100.rs"), source).expect("OUT_DIR is writable");
    println!("cargo::rerun-if-changed=build.rs");
}

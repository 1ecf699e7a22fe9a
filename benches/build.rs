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
    // One parametrized testcase of 10,000 and one of 100,000 cases: a single wide node, where a
    // report whose cost grows with the width of a node per event shows at once.
    let values = |n: usize| (0..n).map(|v| v.to_string()).collect::<Vec<_>>().join(", ");
    let wide = format!(
        "/// One parametrized testcase of 10,000 cases.\n#[suite]\npub struct Wide10k;\n#[suite]\nimpl Wide10k {{\n    #[testcase(parameters(a = [{a}], b = [{a}]))]\n    fn case(&self, _env: &Env, result: &mut Recorder, a: u32, b: u32) {{\n        result.equal(a + b, b + a, \"commutes\");\n    }}\n}}\n/// One parametrized testcase of 100,000 cases.\n#[suite]\npub struct Wide100k;\n#[suite]\nimpl Wide100k {{\n    #[testcase(parameters(a = [{a}], b = [{a}], c = [{c}]))]\n    fn case(&self, _env: &Env, result: &mut Recorder, a: u32, b: u32, c: u32) {{\n        result.equal(a + b + c, c + b + a, \"commutes\");\n    }}\n}}\n",
        a = values(100),
        c = values(10),
    );
    std::fs::write(format!("{out}/wide.rs"), wide).expect("OUT_DIR is writable");
    // A million: 100 suites of one parametrized testcase of 1,000 cases each, added to 10
    // MultiTests.
    let mut million = String::new();
    for suite in 0..100 {
        writeln!(
            million,
            "/// Generated suite {suite} of 100: 1,000 cases.\n#[suite]\npub struct Million{suite};\n#[suite]\nimpl Million{suite} {{\n    #[testcase(parameters(a = [{a}], b = [{b}]))]\n    fn case(&self, _env: &Env, result: &mut Recorder, a: u32, b: u32) {{\n        result.equal(a + b, b + a, \"commutes\");\n    }}\n}}",
            a = values(100),
            b = values(10),
        )
        .unwrap();
    }
    writeln!(million, "/// Adds the 100 suites to a MultiTest.\nfn million_suites(test: MultiTest) -> MultiTest {{\n    test").unwrap();
    for suite in 0..100 {
        writeln!(million, "        .suite(Million{suite})").unwrap();
    }
    writeln!(million, "}}").unwrap();
    std::fs::write(format!("{out}/million.rs"), million).expect("OUT_DIR is writable");
    println!("cargo::rerun-if-changed=build.rs");
}

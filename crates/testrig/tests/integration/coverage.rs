//! The coverage capture (`impact::coverage`, `impact::profile`) on real instrumented code.
//!
//! Builds the fixture crate `tests/fixtures/coverage-demo` with `-C instrument-coverage
//! --cfg testrig_coverage` into `target/coverage-fixture` (a folder of its own, so normal
//! builds are untouched; later runs are incremental), runs its three testcases in one
//! process and checks, per testcase, the functions it executed and their source spans.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A function as the fixture prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Function {
    name: String,
    file: PathBuf,
    lines: (u32, u32),
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/coverage-demo")
}

/// Builds the fixture instrumented, runs it and returns its JSON report.
fn run_fixture() -> Value {
    let cargo = env!("CARGO");
    // A missing cargo must fail the test, not skip it: nothing else checks the capture on
    // real instrumented code.
    assert!(
        Path::new(cargo).is_file(),
        "cargo not found at {cargo}: this test builds the instrumented fixture \
         {} with it; run it through `cargo test`",
        fixture_dir().display()
    );
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/testrig sits two levels below the workspace");
    let target = workspace.join("target/coverage-fixture");
    let build = Command::new(cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(fixture_dir().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", "-C instrument-coverage --cfg testrig_coverage")
        // These would take precedence over RUSTFLAGS.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        // Instrumented build scripts write a profile at exit too: not into the sources.
        .env("LLVM_PROFILE_FILE", "/dev/null")
        .output()
        .unwrap_or_else(|error| panic!("cannot run {cargo}: {error}"));
    assert!(
        build.status.success(),
        "building the instrumented fixture failed ({}):\n{}",
        build.status,
        String::from_utf8_lossy(&build.stderr)
    );
    let run = Command::new(target.join("debug/coverage-demo"))
        .env("LLVM_PROFILE_FILE", "/dev/null")
        .output()
        .expect("the fixture binary runs");
    assert!(
        run.status.success(),
        "the fixture failed ({}):\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&run.stdout).unwrap_or_else(|error| {
        panic!(
            "the fixture printed no JSON ({error}):\n{}",
            String::from_utf8_lossy(&run.stdout)
        )
    })
}

/// The functions testcase `name` executed.
fn executed(report: &Value, name: &str) -> Vec<Function> {
    let testcase = report["testcases"]
        .as_array()
        .expect("a list of testcases")
        .iter()
        .find(|testcase| testcase["name"] == name)
        .unwrap_or_else(|| panic!("no testcase {name} in {report}"));
    testcase["functions"]
        .as_array()
        .expect("a list of functions")
        .iter()
        .map(|function| {
            let line = |index: usize| function["lines"][index].as_u64().expect("a line") as u32;
            Function {
                name: function["name"].as_str().expect("a name").to_owned(),
                file: PathBuf::from(function["file"].as_str().expect("a file")),
                lines: (line(0), line(1)),
            }
        })
        .collect()
}

fn names_in(functions: &[Function], file: &Path) -> BTreeSet<String> {
    functions
        .iter()
        .filter(|function| function.file == file)
        .map(|function| function.name.clone())
        .collect()
}

fn find<'a>(functions: &'a [Function], name: &str) -> &'a Function {
    functions
        .iter()
        .find(|function| function.name == name)
        .unwrap_or_else(|| panic!("{name} was not executed: {functions:#?}"))
}

/// The lines (1-based) from the first line containing `opening` to the next line at its
/// indentation that starts with `closing`.
fn lines_of(source: &str, opening: &str, closing: &str) -> (u32, u32) {
    let lines: Vec<&str> = source.lines().collect();
    let start = lines
        .iter()
        .position(|line| line.contains(opening))
        .unwrap_or_else(|| panic!("`{opening}` is not in the fixture's lib.rs"));
    let indent = lines[start].len() - lines[start].trim_start().len();
    let end = (start + 1..lines.len())
        .find(|&index| {
            let line = lines[index];
            line.len() - line.trim_start().len() == indent && line.trim_start().starts_with(closing)
        })
        .unwrap_or_else(|| panic!("no `{closing}` closes `{opening}`"));
    (start as u32 + 1, end as u32 + 1)
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| name.to_string()).collect()
}

#[test]
fn each_testcase_records_the_functions_it_executed_and_their_spans() {
    let report = run_fixture();
    assert_eq!(report["raw_version"], 10, "{report}");
    let lib = fixture_dir().join("src/lib.rs");
    let main = fixture_dir().join("src/main.rs");
    let source = std::fs::read_to_string(&lib).expect("the fixture's lib.rs");
    let t_area = executed(&report, "t_area");
    let t_text = executed(&report, "t_text");
    let t_mixed = executed(&report, "t_mixed");

    // Exactly the library functions each testcase called, nothing another one called.
    assert_eq!(
        names_in(&t_area, &lib),
        set(&[
            "coverage_demo::area",
            "coverage_demo::square",
            "<coverage_demo::Rect>::diagonal"
        ]),
    );
    assert_eq!(
        names_in(&t_text, &lib),
        set(&["coverage_demo::shout", "coverage_demo::largest::<&str>"]),
    );
    assert_eq!(
        names_in(&t_mixed, &lib),
        set(&[
            "coverage_demo::area",
            "coverage_demo::largest::<i32>",
            "coverage_demo::total_area",
            "coverage_demo::total_area::{closure#0}",
        ]),
    );
    // Besides the library, only the testcase's own function: the capture code
    // (coverage.rs), which runs between every reset and snapshot, is left out.
    for (name, functions) in [
        ("t_area", &t_area),
        ("t_text", &t_text),
        ("t_mixed", &t_mixed),
    ] {
        assert_eq!(
            names_in(functions, &main),
            set(&[&format!("coverage_demo::{name}")])
        );
        let elsewhere: Vec<&Function> = functions
            .iter()
            .filter(|function| function.file != lib && function.file != main)
            .collect();
        assert!(elsewhere.is_empty(), "{name} executed {elsewhere:#?}");
    }

    // Spans: the file's absolute path, from the `fn` line to its closing brace.
    for (name, opening) in [
        ("coverage_demo::area", "pub fn area("),
        ("coverage_demo::square", "fn square("),
        ("<coverage_demo::Rect>::diagonal", "pub fn diagonal("),
    ] {
        let function = find(&t_area, name);
        assert_eq!(function.file, lib);
        assert_eq!(function.lines, lines_of(&source, opening, "}"), "{name}");
    }
    // Both instantiations of the generic map to its one span.
    let largest = lines_of(&source, "pub fn largest<", "}");
    assert_eq!(
        find(&t_text, "coverage_demo::largest::<&str>").lines,
        largest
    );
    assert_eq!(
        find(&t_mixed, "coverage_demo::largest::<i32>").lines,
        largest
    );
    // The closure has its own span, inside its enclosing function's.
    let total_area = find(&t_mixed, "coverage_demo::total_area");
    let closure = find(&t_mixed, "coverage_demo::total_area::{closure#0}");
    assert_eq!(
        total_area.lines,
        lines_of(&source, "pub fn total_area(", "}")
    );
    assert_eq!(closure.lines, lines_of(&source, ".map(|rect| {", "})"));
    assert!(total_area.lines.0 < closure.lines.0 && closure.lines.1 < total_area.lines.1);

    println!(
        "{} profile data records; per testcase: reset {} ns, snapshot {} ns (minimum of 200, \
         unoptimized)",
        report["records"], report["reset_ns"], report["snapshot_ns"]
    );
}

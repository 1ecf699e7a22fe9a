//! The mutation suite of affected-test selection: a fixture workspace that looks like real
//! code (modules, generics, trait objects, a `const fn` in a `const`, a `OnceLock` value, an
//! `include_str!` data file, a build script's data, a feature on by default) and a plan with
//! suite hooks, a suite built from data in `main`, parametrized testcases and a driver.
//!
//! Each mutation of the table is applied in turn to a workspace whose full run was recorded;
//! `cargo testrig affected --dry-run` says what it would select (S), and a full plain run of
//! the same binary says what fails (F). Selection is safe when F ⊆ S for every mutation; the
//! suite prints, per mutation and in total, how many it selected against how many fail.
//! Filtered and interrupted runs get cases of their own.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::fixture;

/// A mutation: where, what it replaces and with what, and what kind of place it hits.
struct Mutation {
    file: &'static str,
    from: &'static str,
    to: &'static str,
    place: &'static str,
}

const fn mutation(
    place: &'static str,
    file: &'static str,
    from: &'static str,
    to: &'static str,
) -> Mutation {
    Mutation {
        file,
        from,
        to,
        place,
    }
}

/// Spread over every kind of place code runs from. The feature mutation changes the build
/// configuration, so it comes last.
const MUTATIONS: &[Mutation] = &[
    // Plain bodies, methods, closures.
    mutation(
        "method body",
        "src/catalog.rs",
        "item.sku == sku",
        "item.sku != sku",
    ),
    mutation(
        "closure",
        "src/catalog.rs",
        "let text = text.to_lowercase();",
        "let text = text.to_string();",
    ),
    mutation(
        "method body",
        "src/catalog.rs",
        "self.items.len()\n",
        "self.items.len() + 1\n",
    ),
    mutation(
        "flipped condition",
        "src/catalog.rs",
        "self.items.is_empty()\n",
        "!self.items.is_empty()\n",
    ),
    mutation(
        "constructor",
        "src/catalog.rs",
        "            price_cents,\n",
        "            price_cents: price_cents + 1,\n",
    ),
    mutation(
        "changed constant",
        "src/stock.rs",
        "+= count;",
        "+= count + 1;",
    ),
    mutation(
        "changed constant",
        "src/stock.rs",
        ".unwrap_or(0)\n",
        ".unwrap_or(1)\n",
    ),
    mutation(
        "flipped comparison",
        "src/stock.rs",
        "if have < count {",
        "if have <= count {",
    ),
    mutation(
        "arithmetic",
        "src/stock.rs",
        "self.levels.insert(sku.to_string(), have - count);",
        "self.levels.insert(sku.to_string(), have - count + 1);",
    ),
    mutation(
        "flipped comparison",
        "src/stock.rs",
        "**count <= level",
        "**count < level",
    ),
    mutation(
        "swapped branch",
        "src/stock.rs",
        "if cfg!(feature = \"strict\") {",
        "if !cfg!(feature = \"strict\") {",
    ),
    mutation(
        "trait impl",
        "src/pricing.rs",
        "full * u64::from(self.0) / 100",
        "full * u64::from(self.0) / 10",
    ),
    mutation(
        "trait impl, format",
        "src/pricing.rs",
        "format!(\"{}% off\", self.0)",
        "format!(\"{}%off\", self.0)",
    ),
    mutation(
        "trait default method",
        "src/pricing.rs",
        "\"discount\".to_string()",
        "\"rebate\".to_string()",
    ),
    mutation(
        "trait object",
        "src/pricing.rs",
        "quantity / self.0 }",
        "quantity / (self.0 + 1) }",
    ),
    mutation("iterator adaptor", "src/pricing.rs", ".min()", ".max()"),
    mutation(
        "generic function",
        "src/pricing.rs",
        "item.as_ref().price_cents * u64::from(quantity)",
        "item.as_ref().price_cents * u64::from(quantity + 1)",
    ),
    mutation(
        "format string",
        "src/pricing.rs",
        "\"{}.{:02}\"",
        "\"{}.{:03}\"",
    ),
    mutation(
        "early return",
        "src/pricing.rs",
        "    discounts\n        .iter()",
        "    if quantity > 5 {\n        return 0;\n    }\n    discounts\n        .iter()",
    ),
    mutation(
        "flipped comparison",
        "src/tax.rs",
        "*name == region",
        "*name != region",
    ),
    mutation(
        "arithmetic",
        "src/tax.rs",
        "cents * percent / 100",
        "cents * percent / 1000",
    ),
    mutation(
        "build script data",
        "data/rates.txt",
        "north = 20",
        "north = 25",
    ),
    mutation(
        "OnceLock initializer",
        "src/config.rs",
        "settings.warehouse = value.to_string()",
        "settings.warehouse = value.to_uppercase()",
    ),
    mutation(
        "OnceLock initializer",
        "src/config.rs",
        "value.parse().unwrap_or(0)",
        "value.parse::<u32>().unwrap_or(0) + 1",
    ),
    mutation(
        "include_str! data",
        "data/defaults.txt",
        "currency = EUR",
        "currency = GBP",
    ),
    mutation(
        "lazy value's closure",
        "src/config.rs",
        "parse_settings(DEFAULTS))",
        "parse_settings(DEFAULTS.trim()))",
    ),
    mutation(
        "const fn",
        "src/version.rs",
        "            minor,\n",
        "            minor: minor + 1,\n",
    ),
    mutation(
        "const initializer",
        "src/version.rs",
        "Version::new(1, 4, 2)",
        "Version::new(1, 4, 3)",
    ),
    mutation(
        "const initializer",
        "src/version.rs",
        "Version::new(1, 0, 0)",
        "Version::new(2, 0, 0)",
    ),
    mutation("struct update", "src/version.rs", "patch: 0,", "patch: 1,"),
    mutation(
        "flipped comparison",
        "src/version.rs",
        "self.major == required.major",
        "self.major != required.major",
    ),
    mutation(
        "Display impl",
        "src/version.rs",
        "\"{}.{}.{}\"",
        "\"{}.{}-{}\"",
    ),
    mutation(
        "library root",
        "src/lib.rs",
        "\"inventory {}\"",
        "\"inventory v{}\"",
    ),
    mutation(
        "testcase body",
        "tests/plan.rs",
        "warehouse.take(\"A1\", 4)",
        "warehouse.take(\"A1\", 5)",
    ),
    mutation(
        "setup hook",
        "src/stock.rs",
        "warehouse.receive(sku, count);",
        "warehouse.receive(sku, count - 1);",
    ),
    mutation(
        "setup hook in the plan",
        "tests/plan.rs",
        "&[\"A1\", \"B2\"], 10)",
        "&[\"A1\", \"B2\"], 9)",
    ),
    mutation(
        "pre-testcase hook",
        "tests/plan.rs",
        "\"main\", \"the main warehouse\"",
        "\"spare\", \"the main warehouse\"",
    ),
    mutation(
        "suite data built in main",
        "src/catalog.rs",
        "Item::new(\"B2\", \"Bucket\", 850)",
        "Item::new(\"B2\", \"Pail\", 850)",
    ),
    mutation(
        "environment definition",
        "tests/plan.rs",
        "TcpServer::new(\"front\")",
        "TcpServer::new(\"back\")",
    ),
    mutation(
        "feature in Cargo.toml",
        "Cargo.toml",
        "default = [\"strict\"]",
        "default = []",
    ),
];

use fixture::{cargo_testrig, coverage_target, text_of};

fn fixture_copy(name: &str) -> PathBuf {
    fixture::copy("mutation-demo", name)
}

/// `cargo testrig affected --test plan -- ARGS` in `dir`: the exit code and the output.
fn affected(dir: &Path, plan_args: &[&str]) -> (i32, String) {
    let output = cargo_testrig(dir, &["affected", "--test", "plan", "--"])
        .args(plan_args)
        .output()
        .expect("cargo-testrig runs");
    (output.status.code().unwrap_or(-1), text_of(&output))
}

/// What a dry run would select, as `Test::Suite::testcase` names (parameters dropped: a
/// parametrized testcase counts once, selected if any of its instances is).
fn selection(dir: &Path, all: &BTreeSet<String>) -> BTreeSet<String> {
    let (code, text) = affected(dir, &["--dry-run", "--explain"]);
    assert_eq!(code, 0, "{text}");
    let summary = text
        .lines()
        .find(|line| line.starts_with("affected: selected "))
        .unwrap_or_else(|| panic!("no selection line in:\n{text}"));
    if summary.contains("running everything") {
        return all.clone();
    }
    text.lines()
        .filter(|line| line.starts_with("  "))
        .filter_map(|line| line.trim().split_once(": "))
        .map(|(uid, _)| base_name(uid))
        .collect()
}

/// `Shop::Pricing::percent_off <percent=0, …>` or `Shop/Pricing/percent_off/…` → the
/// testcase's `Test::Suite::name`.
fn base_name(uid: &str) -> String {
    let uid = uid.split(" <").next().unwrap_or(uid).replace('/', "::");
    uid.split("::").take(3).collect::<Vec<_>>().join("::")
}

/// The newest plan binary in the shared target folder: the one the last build made.
fn plan_binary() -> PathBuf {
    let deps = coverage_target().join("debug").join("deps");
    std::fs::read_dir(&deps)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("plan-") && path.extension().is_none()
        })
        .max_by_key(|path| path.metadata().and_then(|meta| meta.modified()).ok())
        .expect("the plan was built")
}

/// A full plain run of the binary the last build made: the testcases that failed (F) and
/// all the testcases it has.
fn failing(dir: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let json = dir.join("plain.json");
    let output = Command::new(plan_binary())
        .arg("--runpath")
        .arg(dir.join("plain-runpath"))
        .arg("--json")
        .arg(&json)
        .current_dir(dir)
        .env_remove("LLVM_PROFILE_FILE")
        .output()
        .expect("the plan runs");
    let text = std::fs::read_to_string(&json).unwrap_or_else(|_| {
        panic!(
            "no report from the plain run:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut failed = BTreeSet::new();
    let mut all = BTreeSet::new();
    let mut stack = vec![&report["plan"]];
    while let Some(node) = stack.pop() {
        if node["kind"] == "testcase" {
            let name = base_name(node["uid"].as_str().unwrap());
            if matches!(node["status"].as_str(), Some("failed" | "error")) {
                failed.insert(name.clone());
            }
            all.insert(name);
        }
        stack.extend(node["children"].as_array().into_iter().flatten());
    }
    (failed, all)
}

fn apply(dir: &Path, file: &str, from: &str, to: &str) -> String {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(from),
        "fixture changed: `{from}` not in {file}"
    );
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    text
}

/// A fresh copy whose full run is recorded, and every testcase of its plan.
fn recorded_copy(name: &str) -> (PathBuf, BTreeSet<String>) {
    let dir = fixture_copy(name);
    record(&dir);
    let (_, all) = failing(&dir);
    (dir, all)
}

/// The testcases failing now (some must) are all selected.
fn assert_failures_selected(dir: &Path, all: &BTreeSet<String>, after: &str) {
    let (failed, _) = failing(dir);
    assert!(
        !failed.is_empty(),
        "{after}: the change makes testcases fail"
    );
    let selected = selection(dir, all);
    let missed: Vec<_> = failed.difference(&selected).collect();
    assert!(missed.is_empty(), "after {after}, {missed:?} were skipped");
}

fn record(dir: &Path) -> String {
    let (code, text) = affected(dir, &[]);
    assert_eq!(code, 0, "the clean fixture passes:\n{text}");
    text
}

#[test]
fn every_failing_testcase_of_every_mutation_is_selected() {
    let _turn = fixture::take_turn();
    let dir = fixture_copy("mutations");
    record(&dir);
    let (clean_failures, all) = failing(&dir);
    assert!(clean_failures.is_empty(), "{clean_failures:?}");
    let mut misses = Vec::new();
    let (mut selected_total, mut failing_total, mut caught) = (0, 0, 0);
    println!(
        "{:<28} {:>8} {:>8}  mutation",
        "place", "selected", "failing"
    );
    for mutation in MUTATIONS {
        let original = apply(&dir, mutation.file, mutation.from, mutation.to);
        let selected = selection(&dir, &all);
        let (failed, _) = failing(&dir);
        std::fs::write(dir.join(mutation.file), original).unwrap();
        let missed: Vec<&String> = failed.difference(&selected).collect();
        println!(
            "{:<28} {:>8} {:>8}  {}: `{}` → `{}`{}",
            mutation.place,
            selected.len(),
            failed.len(),
            mutation.file,
            mutation.from.trim(),
            mutation.to.trim(),
            if missed.is_empty() {
                String::new()
            } else {
                format!("  MISSED {missed:?}")
            }
        );
        selected_total += selected.len();
        failing_total += failed.len();
        caught += usize::from(!failed.is_empty());
        if !missed.is_empty() {
            misses.push(format!(
                "{} ({}): {missed:?}",
                mutation.place, mutation.file
            ));
        }
    }
    println!(
        "mutation suite: {} mutations ({} caught by a failing testcase), {} misses; selected {selected_total} testcase runs where {failing_total} fail (precision {:.0} %; {} testcases, a full run of each mutation would be {})",
        MUTATIONS.len(),
        caught,
        misses.len(),
        100.0 * failing_total as f64 / selected_total.max(1) as f64,
        all.len(),
        all.len() * MUTATIONS.len(),
    );
    assert!(
        caught >= MUTATIONS.len() * 4 / 5,
        "most mutations must make a testcase fail, or the suite proves little"
    );
    assert!(
        misses.is_empty(),
        "selection skipped failing testcases:\n{}",
        misses.join("\n")
    );
    // The instrumented binary, run directly from the fixture, left no profile there.
    let litter: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".profraw"))
        .collect();
    assert!(litter.is_empty(), "profile files left behind: {litter:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A filtered run records only what it ran: the testcases it left out keep their records,
/// so a change they did not see still selects them.
#[test]
fn a_filtered_run_leaves_the_others_selected() {
    let _turn = fixture::take_turn();
    let (dir, all) = recorded_copy("mutations-filtered");
    apply(&dir, "src/pricing.rs", "\"{}.{:02}\"", "\"{}.{:03}\"");
    let (_, text) = affected(&dir, &["--patterns", "Shop:Catalogue:*"]);
    assert!(text.contains("affected: selected "), "{text}");
    assert_failures_selected(&dir, &all, "a filtered run");
    let _ = std::fs::remove_dir_all(dir);
}

/// An interrupted run records only the testcases that ran to completion.
#[test]
fn an_interrupted_run_leaves_the_others_selected() {
    let _turn = fixture::take_turn();
    let (dir, all) = recorded_copy("mutations-interrupted");
    apply(&dir, "src/pricing.rs", ".min()", ".max()");
    apply(&dir, "src/version.rs", "\"{}.{}.{}\"", "\"{}.{}-{}\"");
    // Built first, so the interrupt lands in the run, not the build.
    let _ = selection(&dir, &all);
    let mut child = cargo_testrig(&dir, &["affected", "--test", "plan", "--"])
        .env("MUTATION_DEMO_PAUSE_MS", "4000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-INT", "--", &group]).status();
    let _ = child.wait();
    assert_failures_selected(&dir, &all, "an interrupted run");
    let _ = std::fs::remove_dir_all(dir);
}

/// A save that lands while cargo builds the plan is never paired with the old binary: a
/// compiler stand-in saves a mutation the first time it compiles the plan target (after
/// the library was compiled from the old source); `cargo testrig affected` sees the change
/// and builds again, and what it records is the new code's.
#[test]
fn a_save_during_the_build_is_built_again_before_anything_is_recorded() {
    let _turn = fixture::take_turn();
    let (dir, all) = recorded_copy("mutations-race");
    let pricing = dir.join("src/pricing.rs");
    let mutated =
        std::fs::read_to_string(&pricing)
            .unwrap()
            .replacen("\"{}.{:02}\"", "\"{}.{:03}\"", 1);
    std::fs::write(dir.join("mutated.rs.txt"), mutated).unwrap();
    // The plan target must be compiled again for the stand-in to see it.
    apply(&dir, "tests/plan.rs", "fn main()", "// edited\nfn main()");
    let saver = dir.join("save-mid-build.sh");
    std::fs::write(
        &saver,
        format!(
            "#!/bin/sh\n\
             case \" $* \" in\n\
             *' --crate-name plan '*)\n\
             \x20   if [ ! -e '{mark}' ]; then : > '{mark}'; cp '{mutated}' '{pricing}'; fi;;\n\
             esac\n\
             exec rustc \"$@\"\n",
            mark = dir.join("saved.mark").display(),
            mutated = dir.join("mutated.rs.txt").display(),
            pricing = pricing.display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&saver, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let output = cargo_testrig(&dir, &["affected", "--test", "plan", "--"])
        .env("RUSTC", &saver)
        .output()
        .unwrap();
    let text = text_of(&output);
    assert!(
        dir.join("saved.mark").exists(),
        "the stand-in never ran:\n{text}"
    );
    assert!(
        text.contains("src/pricing.rs changed during the build; building again"),
        "{text}"
    );
    // The run after the second build ran the new code: its failures are the plain run's.
    let (failed, _) = failing(&dir);
    for name in &failed {
        assert!(
            text.lines()
                .any(|line| line.contains("FAIL") && line.contains(name.as_str())),
            "{name} did not fail in the recorded run:\n{text}"
        );
    }
    assert_failures_selected(&dir, &all, "a save during the build");
    let _ = std::fs::remove_dir_all(dir);
}

/// Each run variant keeps its own records: other features (or another `--variant`) select
/// everything the first time and leave the default variant's records alone, dry runs write
/// nothing, and cargo's `-q` is not a variant.
#[test]
fn run_variants_keep_their_records_apart() {
    let _turn = fixture::take_turn();
    let dir = fixture_copy("mutations-variants");
    record(&dir);
    let dry = |options: &[&str]| {
        let output = cargo_testrig(&dir, &["affected", "--test", "plan"])
            .args(options)
            .args(["--", "--dry-run"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.lines()
            .find(|line| line.starts_with("affected: selected "))
            .unwrap_or_else(|| {
                panic!(
                    "no selection line:\n{text}{}",
                    String::from_utf8_lossy(&output.stderr)
                )
            })
            .to_string()
    };
    assert!(
        dry(&[]).starts_with("affected: selected 0 of "),
        "nothing changed"
    );
    assert!(
        dry(&["-q"]).starts_with("affected: selected 0 of "),
        "-q is no variant"
    );
    let other = dry(&["--no-default-features"]);
    assert!(
        other.contains("no coverage was recorded yet for this run variant"),
        "{other}"
    );
    let named = dry(&["--variant", "nightly-like"]);
    assert!(
        named.contains("no coverage was recorded yet for this run variant"),
        "{named}"
    );
    // Dry runs of other variants wrote nothing and removed nothing.
    assert!(
        dry(&[]).starts_with("affected: selected 0 of "),
        "records kept"
    );
    let output = cargo_testrig(
        &dir,
        &["affected", "--test", "plan", "--variant", "nightly-like"],
    )
    .output()
    .unwrap();
    let (code, text) = (output.status.code(), text_of(&output));
    assert!(
        text.contains("affected: recorded the coverage of"),
        "{code:?} {text}"
    );
    // Both variants now have records, and neither run disturbed the other's.
    assert!(
        dry(&[]).starts_with("affected: selected 0 of "),
        "default kept"
    );
    assert!(
        dry(&["--variant", "nightly-like"]).starts_with("affected: selected 0 of "),
        "the other variant recorded"
    );
    let _ = std::fs::remove_dir_all(dir);
}

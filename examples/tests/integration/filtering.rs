//! Filters, listing, ordering and the libtest protocol, on the parametrize example.

use crate::util::{run_plan, run_raw};

const PLAN: &str = env!("CARGO_BIN_EXE_parametrize");

#[test]
fn terse_listing_is_libtest_compatible() {
    let run = run_raw(PLAN, &["--list", "--format", "terse"]);
    assert_eq!(run.code, 0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 16, "{}", run.stdout);
    assert!(
        lines.iter().all(|line| line.ends_with(": test")),
        "{}",
        run.stdout
    );
    assert!(
        lines.contains(&"Math::Arithmetic::add::a_1__b_2__sum_3: test"),
        "{}",
        run.stdout
    );
    assert!(
        lines.contains(&"Math::Arithmetic::power::base_10__exponent_3: test"),
        "{}",
        run.stdout
    );
    let ignored = run_raw(PLAN, &["--list", "--format", "terse", "--ignored"]);
    assert_eq!(ignored.stdout, "Strings::Text handling::title_case: test\n");
}

#[test]
fn pretty_listing_shows_the_tree_with_tags_and_counts() {
    let run = run_raw(PLAN, &["--list"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("Math (13 testcases)"), "{}", run.stdout);
    assert!(run.stdout.contains("add (parametrized)"), "{}", run.stdout);
    assert!(
        run.stdout.contains("add <a=1, b=2, sum=3>"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("[tags: math]"), "{}", run.stdout);
    assert!(
        run.stdout.contains("(skip: not implemented yet"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with("2 tests, 2 suites, 16 testcases\n"),
        "{}",
        run.stdout
    );
    let json = run_raw(PLAN, &["--list", "--format", "json"]);
    let tree: testrig::model::ReportNode = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(tree.counts.total, 16);
}

#[test]
fn a_run_groups_parametrizations_and_counts_skip_and_xfail() {
    let run = run_plan(PLAN, "parametrize-all", &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.last_line(), "15 passed, 0 failed, 1 skipped");
    let report = run.report();
    let suite = &report.plan.children[0].children[0];
    let add = &suite.children[0];
    assert_eq!(add.kind, testrig::model::NodeKind::Parametrization);
    assert_eq!(add.uid, "Math/Arithmetic/add");
    assert_eq!(add.children.len(), 4);
    assert_eq!(add.children[0].uid, "Math/Arithmetic/add/a_1__b_2__sum_3");
    assert_eq!(add.children[0].parameters.get(0), Some(("a", "1")));
    // Tags inherit downward: the test's `slow` reaches the testcases of its suites.
    let upper = report
        .plan
        .testcases()
        .into_iter()
        .find(|node| node.name == "upper case")
        .unwrap();
    assert!(
        upper.tags.contains(&"slow".to_string()) && upper.tags.contains(&"strings".to_string())
    );
}

#[test]
fn tags_and_patterns_select_and_combine() {
    let fast = run_plan(PLAN, "tags-fast", &["--tags", "fast"]);
    assert_eq!(
        fast.last_line(),
        "7 passed, 0 failed, 0 skipped",
        "{}",
        fast.stdout
    );
    let all = run_plan(PLAN, "tags-all", &["--tags-all", "fast,strings"]);
    assert_eq!(
        all.last_line(),
        "3 passed, 0 failed, 0 skipped",
        "{}",
        all.stdout
    );
    let pattern = run_plan(PLAN, "patterns", &["--patterns", "Math:Arithmetic:pow*"]);
    assert_eq!(
        pattern.last_line(),
        "6 passed, 0 failed, 0 skipped",
        "{}",
        pattern.stdout
    );
    let both = run_plan(
        PLAN,
        "patterns-tags",
        &["--patterns", "Math", "--tags", "strings"],
    );
    assert_eq!(
        both.last_line(),
        "3 passed, 0 failed, 0 skipped",
        "{}",
        both.stdout
    );
    let by_suite = run_plan(PLAN, "patterns-suite", &["-k", "Strings::Text handling"]);
    assert_eq!(
        by_suite.last_line(),
        "2 passed, 0 failed, 1 skipped",
        "{}",
        by_suite.stdout
    );
}

#[test]
fn filters_that_match_nothing_exit_2_and_say_what_exists() {
    let run = run_plan(PLAN, "no-match", &["--tags", "nope"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no testcase matches --tags nope"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("tags: fast, math, slow, strings"),
        "{}",
        run.stderr
    );
    let run = run_plan(PLAN, "no-match-pattern", &["--patterns", "Nope:*"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("Math:Arithmetic"), "{}", run.stderr);
    let bad = run_raw(PLAN, &["--no-such-flag"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("--no-such-flag"), "{}", bad.stderr);
}

#[test]
fn libtest_filters_exact_and_ignored() {
    let one = run_plan(
        PLAN,
        "exact",
        &[
            "Math::Arithmetic::add::a_2__b_3__sum_5",
            "--exact",
            "--nocapture",
        ],
    );
    assert_eq!(one.code, 0);
    assert_eq!(one.last_line(), "1 passed, 0 failed, 0 skipped");
    let substring = run_plan(PLAN, "substring", &["palindrome"]);
    assert_eq!(substring.last_line(), "3 passed, 0 failed, 0 skipped");
    // A libtest filter that matches nothing is not an error (cargo passes it to every target).
    let none = run_plan(PLAN, "nothing", &["no_such_testcase"]);
    assert_eq!(none.code, 0);
    assert_eq!(none.last_line(), "0 passed, 0 failed, 0 skipped");
    // --ignored runs the skipped testcase, which fails on purpose.
    let ignored = run_plan(PLAN, "ignored", &["--ignored"]);
    assert_eq!(ignored.code, 1);
    assert_eq!(ignored.last_line(), "0 passed, 1 failed, 0 skipped");
    let included = run_plan(PLAN, "include-ignored", &["--include-ignored"]);
    assert_eq!(included.last_line(), "15 passed, 1 failed, 0 skipped");
}

#[test]
fn shuffle_prints_a_seed_that_replays_the_order() {
    let order = |run: &crate::util::PlanRun| -> Vec<String> {
        run.stdout
            .lines()
            .filter(|line| line.contains("] "))
            .map(|line| line.split("] ").nth(1).unwrap().to_string())
            .collect()
    };
    let first = run_plan(PLAN, "shuffle-1", &["--shuffle", "all"]);
    let seed_line = first
        .stdout
        .lines()
        .find(|line| line.starts_with("shuffle seed: "))
        .expect("seed printed");
    let seed = seed_line
        .trim_start_matches("shuffle seed: ")
        .split(' ')
        .next()
        .unwrap();
    let replay = run_plan(
        PLAN,
        "shuffle-2",
        &["--shuffle", "all", "--shuffle-seed", seed, "--workers", "1"],
    );
    let again = run_plan(
        PLAN,
        "shuffle-3",
        &["--shuffle", "all", "--shuffle-seed", seed, "--workers", "1"],
    );
    assert_eq!(order(&replay), order(&again));
    let unshuffled = run_plan(PLAN, "shuffle-4", &["--workers", "1"]);
    let other_seed = run_plan(
        PLAN,
        "shuffle-5",
        &[
            "--shuffle",
            "testcases",
            "--shuffle-seed",
            "7",
            "--workers",
            "1",
        ],
    );
    assert_ne!(order(&unshuffled), order(&other_seed));
}

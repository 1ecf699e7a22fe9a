//! Execution groups run their testcases in parallel, one group after another.

use crate::util::run_plan;

const PLAN: &str = env!("CARGO_BIN_EXE_groups");

#[test]
fn a_group_runs_together_and_groups_run_in_sequence() {
    let run = run_plan(PLAN, "groups", &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let report = run.report();
    let testcases = report.plan.testcases();
    let span = |prefix: &str| {
        let nodes: Vec<_> = testcases
            .iter()
            .filter(|node| node.name.starts_with(prefix))
            .collect();
        let start = nodes
            .iter()
            .map(|n| n.timer.start.unwrap())
            .fold(f64::MAX, f64::min);
        let end = nodes
            .iter()
            .map(|n| n.timer.end.unwrap())
            .fold(0.0, f64::max);
        (nodes.len(), start, end)
    };
    let (reads, reads_start, reads_end) = span("read");
    let (writes, writes_start, writes_end) = span("write");
    assert_eq!((reads, writes), (4, 2));
    // Four 200 ms reads on four threads take about 200 ms, not 800 ms.
    assert!(
        reads_end - reads_start < 0.6,
        "reads took {:.3}s",
        reads_end - reads_start
    );
    assert!(
        writes_end - writes_start < 0.35,
        "writes took {:.3}s",
        writes_end - writes_start
    );
    // The writes group starts after the reads group ended.
    assert!(writes_start >= reads_end - 0.001, "groups overlapped");
}

//! Five App drivers that each take 0.5 s to become ready, started as a chain and as a graph
//! with two independent roots (`d0, d1 → d2 → d3, d4`). Prints time-to-environment-started,
//! the overhead beyond the critical path, and stop time, as medians of five runs, read from
//! the drivers' start and stop timers in the report.

use std::time::Duration;

use testrig::drivers::App;
use testrig::model::Report;
use testrig::prelude::*;

const READY_AFTER_S: f64 = 0.5;
const SCRIPT: &str = "sleep 0.5; echo ready; exec sleep 600";

#[suite]
struct Started;

#[suite]
impl Started {
    #[testcase]
    fn environment_is_up(&self, env: &Env, result: &mut Recorder) {
        result.equal(env.environment().driver_names().len(), 5, "five drivers");
    }
}

fn driver(index: usize) -> App {
    App::new(format!("d{index}"), "/bin/sh")
        .args(["-c", SCRIPT])
        .ready_on_stdout("ready")
        .stop_timeout(Duration::from_secs(2))
}

/// Where a chain's start-up went, per driver, in milliseconds: from one driver's readiness
/// to the next one's start, setup (runpath, hook, spawn) and the readiness wait beyond the
/// workload's 0.5 s.
#[derive(Default)]
struct Breakdown {
    gap_ms: Vec<f64>,
    setup_ms: Vec<f64>,
    ready_ms: Vec<f64>,
}

/// (seconds to environment started, seconds to stopped) of one run.
fn run(graph: bool, runpath: &std::path::Path, breakdown: &mut Breakdown) -> (f64, f64) {
    let mut test = MultiTest::new("Env5")
        .suite(Started)
        .drivers((0..5).map(|index| driver(index).into()));
    if graph {
        test = test.dependencies([("d0", "d2"), ("d1", "d2"), ("d2", "d3"), ("d2", "d4")]);
    }
    let options = testrig::cli::Options::from_args([
        "env5",
        "-q",
        "--runpath",
        runpath.to_str().unwrap_or("."),
    ])
    .expect("fixed arguments parse");
    let outcome = Plan::new("env5").add(test).run_with(options);
    let report: Report = outcome.report.expect("the plan ran");
    let drivers = &report.plan.children[0].drivers;
    let min = |values: Vec<f64>| values.into_iter().fold(f64::MAX, f64::min);
    let max = |values: Vec<f64>| values.into_iter().fold(f64::MIN, f64::max);
    let started = max(drivers.iter().filter_map(|d| d.start.end).collect())
        - min(drivers.iter().filter_map(|d| d.start.start).collect());
    let stopped = max(drivers.iter().filter_map(|d| d.stop.end).collect())
        - min(drivers.iter().filter_map(|d| d.stop.start).collect());
    if !graph {
        let mut previous_end = None;
        for driver in drivers {
            let (Some(start), Some(end)) = (driver.start.start, driver.start.end) else {
                continue;
            };
            let ready = driver.ready_wait.unwrap_or(0.0);
            if let Some(previous) = previous_end {
                breakdown.gap_ms.push((start - previous) * 1000.0);
            }
            breakdown.setup_ms.push((end - start - ready) * 1000.0);
            breakdown.ready_ms.push((ready - READY_AFTER_S) * 1000.0);
            previous_end = Some(end);
        }
    }
    (started, stopped)
}

/// Milliseconds beyond 2.5 s that the same five scripts take started one after another by
/// hand — spawn, then a blocking read of the pipe until `ready` — the floor of the chain's
/// overhead on this machine, as fast or slow as it is during this run.
fn by_hand_ms() -> f64 {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let started = std::time::Instant::now();
    let mut children = Vec::new();
    for _ in 0..5 {
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", SCRIPT])
            .stdout(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("/bin/sh starts");
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        children.push(child);
    }
    let elapsed = started.elapsed().as_secs_f64();
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    (elapsed - 5.0 * READY_AFTER_S) * 1000.0
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let runpath = std::env::temp_dir().join(format!("testrig-env5-{}", std::process::id()));
    let mut overheads = Vec::new();
    let mut stops = Vec::new();
    for (mode, graph, critical_path) in [("chain", false, 5.0), ("dag", true, 3.0)] {
        let mut breakdown = Breakdown::default();
        let runs: Vec<(f64, f64)> = (0..5)
            .map(|_| run(graph, &runpath, &mut breakdown))
            .collect();
        let started = median(runs.iter().map(|run| run.0).collect());
        stops.extend(runs.iter().map(|run| run.1));
        let overhead_ms = (started - critical_path * READY_AFTER_S) * 1000.0;
        overheads.push(overhead_ms);
        println!("env5_{mode}_start_s {started:.3} s");
        println!("env5_{mode}_overhead_ms {overhead_ms:.1} ms");
        if !graph {
            println!(
                "env5_chain_per_driver_ms gap {:.2}, setup {:.2}, readiness beyond 0.5 s {:.2} ms (medians)",
                median(breakdown.gap_ms),
                median(breakdown.setup_ms),
                median(breakdown.ready_ms)
            );
        }
    }
    println!(
        "env5_overhead_ms {:.1} ms",
        overheads.iter().copied().fold(f64::MIN, f64::max)
    );
    println!("env5_stop_s {:.3} s", median(stops));
    let by_hand = median((0..5).map(|_| by_hand_ms()).collect());
    println!("env5_chain_by_hand_ms {by_hand:.1} ms (the floor: the same chain without testrig)");
    let _ = std::fs::remove_dir_all(&runpath);
    let _ = std::fs::remove_file(runpath.with_extension("lock"));
}

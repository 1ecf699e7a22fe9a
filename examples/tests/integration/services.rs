//! The service drivers against the real servers (Debian's postgresql and redis-server): a
//! config the server rejects, a kill -9 mid-run, fifty servers on free ports at once, the
//! connection graph, and nothing left running afterwards (postgres's workers included).

use std::path::Path;

use testrig::model::{ReportNode, Status};

use crate::util::run_plan;

/// Processes whose command line or working directory is inside `folder`, or in a scratch
/// folder of a postgres driver (postgres's workers run in its data folder).
fn processes_inside(folder: &Path) -> Vec<String> {
    let folder = folder.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
            .unwrap_or_default();
        let cwd = std::fs::read_link(entry.path().join("cwd"))
            .map(|path| path.display().to_string())
            .unwrap_or_default();
        if cmdline.contains(&folder) || cwd.starts_with(&folder) || cwd.contains("testrig-pg-") {
            found.push(format!("{} {cmdline} (in {cwd})", name.to_string_lossy()));
        }
    }
    found
}

#[test]
fn service_drivers_report_bad_configs_and_crashes_and_leave_nothing_running() {
    let run = run_plan(
        env!("CARGO_BIN_EXE_service_faults"),
        "service-faults",
        &["--driver-info"],
    );
    assert_eq!(
        run.last_line(),
        "3 passed, 4 failed, 0 skipped",
        "{}",
        run.stdout
    );
    assert_eq!(run.code, 1);
    let report = run.report();
    let test = |name: &str| -> &ReportNode {
        report
            .plan
            .children
            .iter()
            .find(|test| test.name == name)
            .unwrap()
    };

    // A config the server rejects: the error carries the server's own words.
    let redis = test("RedisBadConfig");
    assert_eq!(redis.status, Status::Error);
    assert!(
        redis.drivers[0]
            .log_tail
            .iter()
            .any(|line| line.contains("Bad directive")),
        "{:?}",
        redis.drivers[0].log_tail
    );
    let postgres = test("PostgresBadSetting");
    assert!(
        postgres.drivers[0]
            .log_tail
            .iter()
            .any(|line| line.contains("invalid value for parameter \"shared_buffers\"")),
        "{:?}",
        postgres.drivers[0].log_tail
    );

    // kill -9 mid-run: the testcase that ran errors with the reason and the log tail, the
    // next one is not run.
    let killed = test("Killed");
    let cases = killed.testcases();
    let message = &cases[0].error.as_ref().unwrap().message;
    assert!(message.contains("killed by signal 9"), "{message}");
    assert!(message.contains("Ready to accept connections"), "{message}");
    assert_eq!(cases[1].status, Status::Error);
    assert!(
        cases[1]
            .error
            .as_ref()
            .unwrap()
            .message
            .starts_with("not run: the environment is down: driver `cache` was killed by signal 9")
    );

    // Fifty servers at once: each on a port of its own.
    assert_eq!(test("ManyAtOnce").status, Status::Passed);
    assert_eq!(test("PostgresRuns").status, Status::Passed);

    // The connection graph: a process of the environment, an in-process client and the
    // testcases' own client, all connected to the server.
    let graph = test("Graph");
    let connections = graph.connections.as_ref().expect("a connection graph");
    let port = graph.drivers[0].attributes["port"].as_u64().unwrap();
    let address = format!("127.0.0.1:{port}");
    assert_eq!(connections.listening.len(), 1);
    assert_eq!(connections.listening[0].address, address);
    let mut parties: Vec<(&str, &str)> = connections
        .connections
        .iter()
        .map(|connection| (connection.from.as_str(), connection.to.as_str()))
        .collect();
    parties.sort_unstable();
    assert_eq!(
        parties,
        [
            ("client", "cache"),
            ("holder", "cache"),
            ("testcases", "cache")
        ]
    );
    assert!(
        run.stdout
            .contains(&format!("    holder → cache ({address})"))
    );

    let left = processes_inside(&run.dir);
    assert!(left.is_empty(), "left running: {left:#?}");
}

//! Interactive-mode figures on the 10,000-testcase plan: launch to first API answer, GET
//! latency of the plan node and of a suite of 100 testcases, the delay from a testcase
//! finishing to its event reaching a connected client (p50 and p99 over 1,000 testcases; one
//! `update` message each, and the compact stream without entries that the web UI reads),
//! the plan's peak RSS and the inotify watches its reload watcher holds (run from this
//! workspace, whose target folder holds what a user's does). Runs `plan10k -i 0` (built
//! beside this binary).

use std::io::{BufRead, BufReader, Write};

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use testrig_benches::Server;

fn median_ms(server: &Server, path: &str) -> f64 {
    let mut times: Vec<f64> = (0..21)
        .map(|_| {
            let started = Instant::now();
            let _ = server.request("GET", path, "");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The inotify watches a process holds: one `inotify wd:` line per watch in the fdinfo of
/// each of its inotify descriptors.
fn inotify_watches(pid: u32) -> usize {
    let Ok(descriptors) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    descriptors
        .flatten()
        .filter(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| target.to_string_lossy().contains("inotify"))
        })
        .map(|fd| {
            std::fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                fd.file_name().to_string_lossy()
            ))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.starts_with("inotify"))
            .count()
        })
        .sum()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Connects to the push channel at `path`, runs the test `test` (1,000 testcases) and returns
/// the delays, sorted, from each testcase's finish (its event's time) to its update's arrival,
/// in milliseconds: from `update` messages (one update each), `updates` messages (a JSON
/// array of updates) and `compact` messages (a record per testcase) alike.
fn push_delays(server: &Server, path: &str, test: &str) -> Vec<f64> {
    let mut stream = TcpStream::connect(&server.address).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\n{}\r\n", server.headers()).expect("send");
    let mut events = BufReader::new(stream);
    let (status, body) = server
        .request(
            "PUT",
            &format!("/api/v1/interactive/nodes/{test}"),
            r#"{"runtime_status":"running"}"#,
        )
        .expect("put");
    assert_eq!(status, 202, "{body}");
    let mut delays = Vec::new();
    let mut line = String::new();
    while delays.len() < 1000 {
        line.clear();
        if events.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let compact = data.starts_with("{\"from\":");
        if !compact && !data.contains("\"testcase_finished\"") {
            continue;
        }
        let received = now();
        let updates = match serde_json::from_str(data.trim_end()).unwrap_or_default() {
            serde_json::Value::Array(updates) => updates,
            update if compact => match &update["updates"] {
                serde_json::Value::Array(updates) => updates.clone(),
                _ => Vec::new(),
            },
            update => vec![update],
        };
        for update in updates {
            // A testcase's record in a `compact` message: its finish time is its fourth item.
            if let Some(time) = update.get(3).and_then(serde_json::Value::as_f64) {
                delays.push((received - time) * 1000.0);
                continue;
            }
            if update["event"]["event"] != "testcase_finished" {
                continue;
            }
            if let Some(time) = update["event"]["time"].as_f64() {
                delays.push((received - time) * 1000.0);
            }
        }
    }
    delays.sort_by(f64::total_cmp);
    delays
}

fn main() {
    let plan = std::env::current_exe()
        .expect("own path")
        .with_file_name("plan10k");
    let runpath = std::env::temp_dir().join(format!("testrig-ui-bench-{}", std::process::id()));
    let launched = Instant::now();
    let mut child = Command::new(&plan)
        .args(["-i", "0", "--runpath"])
        .arg(&runpath)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("failed to start {}: {error}; build it with cargo build --release -p testrig-benches", plan.display()));
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("the plan prints its URL");
    let server = Server::from_url_line(&line);
    loop {
        if let Ok((200, _)) = server.request("GET", "/api/v1/interactive/report", "") {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "ui_first_answer_ms {:.1} ms",
        launched.elapsed().as_secs_f64() * 1000.0
    );
    println!(
        "ui_get_plan_ms {:.2} ms",
        median_ms(&server, "/api/v1/interactive/report")
    );
    println!(
        "ui_get_suite_ms {:.2} ms",
        median_ms(&server, "/api/v1/interactive/nodes/Test0/Suite0")
    );

    // Follow the push channel while 1,000 testcases (one test) run: one `update` message per
    // update, then the compact stream the web UI reads (`compact` messages: every update
    // waiting, gathered for a few milliseconds, a record per testcase, without entries).
    let percentile =
        |delays: &[f64], p: f64| delays[((delays.len() as f64 - 1.0) * p).round() as usize];
    let plain = push_delays(&server, "/api/v1/interactive/events", "Test0");
    println!("push_delay_p50_ms {:.2} ms", percentile(&plain, 0.5));
    println!("push_delay_p99_ms {:.2} ms", percentile(&plain, 0.99));
    let batched = push_delays(&server, "/api/v1/interactive/events?compact=true", "Test1");
    println!(
        "push_delay_batch_p50_ms {:.2} ms",
        percentile(&batched, 0.5)
    );
    println!(
        "push_delay_batch_p99_ms {:.2} ms",
        percentile(&batched, 0.99)
    );
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let peak_kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    println!("ui_peak_rss_mb {:.1} MB", peak_kb / 1024.0);
    println!("ui_watches {} watches", inotify_watches(child.id()));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(runpath);
}

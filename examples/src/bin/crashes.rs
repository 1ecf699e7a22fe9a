//! Testcases that take their process down: `abort()`, a write through a null pointer,
//! `std::process::exit(3)`, a stack overflow, an allocation that never ends. In worker
//! processes (the default pool) each is a `crashed` testcase with the exit status and the
//! worker's last output; the testcases after it run in a fresh worker, the other MultiTest
//! is untouched, the reports are complete, and the drivers (a shell that forks a grandchild
//! which ignores SIGTERM) are gone.
//!
//! Run it: `CRASHES_KIND=abort cargo run -p testrig-examples --bin crashes` (or `null`,
//! `exit`, `overflow`, `allocate` with `-- --worker-memory-limit 512`, `stop`, a worker that
//! stops answering, or `hang`, which the testcase's one-second time limit stops by ending
//! its worker). The drivers carry
//! `CRASHES_MARKER` (default `crashes-example`) in their environment, so a test can look
//! for them in `/proc`.

use testrig::drivers::App;
use testrig::prelude::*;

/// How the second testcase ends its process, from `CRASHES_KIND`.
fn crash(kind: &str) {
    match kind {
        "abort" => std::process::abort(),
        "exit" => std::process::exit(3),
        "null" => {
            let pointer: *mut u64 = std::hint::black_box(std::ptr::null_mut());
            // SAFETY: none — this is the crash the example exists to show: a write through
            // a null pointer, as a bug in FFI or `unsafe` code would make.
            #[allow(unsafe_code)]
            unsafe {
                pointer.write_volatile(7);
            }
        }
        "overflow" => {
            #[allow(unconditional_recursion)]
            fn deeper(depth: u64) -> u64 {
                let frame = std::hint::black_box([depth; 64]);
                deeper(frame[0] + 1) + frame[1]
            }
            std::hint::black_box(deeper(0));
        }
        "stop" => {
            // The whole worker stops (its heartbeat too), as a process wedged for good.
            let _ = std::process::Command::new("kill")
                .args(["-STOP", &std::process::id().to_string()])
                .status();
            // A stop takes effect when the process next runs: it does so here.
            std::thread::sleep(std::time::Duration::from_secs(30));
        }
        "hang" => loop {
            // A heartbeat a test can watch: it must stop when the time limit kills the worker.
            if let Ok(path) = std::env::var("CRASHES_HEARTBEAT") {
                use std::io::Write;
                if let Ok(mut file) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                {
                    let _ = file.write_all(b".");
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        },
        "allocate" => {
            // Zeroed memory comes straight from the system, untouched: the allocations fail
            // at the limit in a moment, not after paging half a gigabyte in.
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![0; 64 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        _ => {}
    }
}

#[suite]
struct Steps;

#[suite]
impl Steps {
    #[testcase]
    fn first(&self, _env: &Env, result: &mut Recorder) {
        result.equal(1, 1, "the first testcase passes");
    }

    #[testcase(timeout = "1s")]
    fn crashes(&self, _env: &Env, result: &mut Recorder) {
        let kind = std::env::var("CRASHES_KIND").unwrap_or_else(|_| "abort".into());
        result.log(format!("about to crash by `{kind}`"));
        eprintln!("crashing now by {kind}");
        crash(&kind);
        result.fail("the crash did not happen");
    }

    #[testcase]
    fn third(&self, env: &Env, result: &mut Recorder) {
        let forker = env.driver::<App>("forker");
        result.is_true(forker.pid().is_some(), "the forker runs again");
    }

    #[testcase]
    fn fourth(&self, _env: &Env, result: &mut Recorder) {
        result.equal(4, 4, "the fourth testcase passes");
    }
}

#[suite]
struct Calm;

#[suite]
impl Calm {
    #[testcase]
    fn steady(&self, _env: &Env, result: &mut Recorder) {
        result.equal("calm", "calm", "the other MultiTest is untouched");
    }
}

fn main() -> std::process::ExitCode {
    let marker = std::env::var("CRASHES_MARKER").unwrap_or_else(|_| "crashes-example".into());
    let forker = App::new("forker", "/bin/sh")
        .args([
            "-c",
            "sh -c \"trap '' TERM; while true; do sleep 1; done\" & echo \"ready child $!\"; trap '' TERM; wait",
        ])
        .env("CRASHES_MARKER", marker.as_str())
        .ready_on_stdout(r"ready child (?P<grandchild>\d+)")
        .stop_timeout(std::time::Duration::from_millis(500));
    Plan::new("crashes")
        .add(MultiTest::new("Crashy").suite(Steps).driver(forker))
        .add(MultiTest::new("Untouched").suite(Calm))
        .run_from_args()
}

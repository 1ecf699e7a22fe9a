//! Code reload in interactive mode, as a user meets it: a fresh crate with a plan whose
//! environment runs a real server process (`echo_server`) and an in-process mock; the plan
//! runs with `-i`, its sources are edited, and the reload must keep the server process
//! (same pid, same port) while the changed testcase runs its new code, keep the unchanged
//! results, restart a driver whose definition changed, survive a compile error, and leave
//! no process behind after Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::interactive::Server;

const PLAN: &str = r#"use testrig::drivers::{App, TcpClient, TcpServer};
use testrig::prelude::*;

#[suite]
struct Service;

#[suite]
impl Service {
    #[testcase]
    fn answers(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let client = env.driver::<TcpClient>("client");
        client.send_text("ping\n")?;
        let reply = client.receive_until(b"\n")?;
        result.equal(String::from_utf8_lossy(&reply).as_ref(), "ping\n", "echo");
        Ok(())
    }

    #[testcase]
    fn value(&self, _env: &Env, result: &mut Recorder) {
        result.equal(1, 1, "the value");
    }
}

fn main() -> std::process::ExitCode {
    let server = App::new("server", std::env::var("RELOAD_ECHO_SERVER").unwrap_or_default())
        .env("MODE", "1")
        .ready_on_stdout(r"listening on (?P<host>[^:]+):(?P<port>\d+)");
    let client = TcpClient::new("client")
        .host(context("server", "{{host}}"))
        .port(context("server", "{{port}}"));
    Plan::new("reload")
        .add(
            MultiTest::new("Service")
                .suite(Service)
                .driver(server)
                .driver(TcpServer::new("mock"))
                .driver(client),
        )
        .run_from_args()
}
"#;

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fresh-crate-target")
}

/// Builds the plan as `cargo test --no-run` does; its executable.
fn build(dir: &Path) -> PathBuf {
    let output = Command::new(env!("CARGO"))
        .args([
            "test",
            "--no-run",
            "--message-format",
            "json-render-diagnostics",
            "--test",
            "plan",
        ])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("the build names the plan executable")
}

/// The plan of the crate `dir` in interactive mode, its runpath in the crate, started in `cwd`.
fn interactive(plan: &Path, dir: &Path, cwd: &Path) -> Command {
    let mut command = Command::new(plan);
    command
        .args(["-i", "0", "--runpath"])
        .arg(dir.join("runpath"))
        .current_dir(cwd)
        .env("CARGO", env!("CARGO"));
    command
}

fn edit(dir: &Path, from: &str, to: &str) {
    let path = dir.join("tests").join("plan.rs");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "`{from}` not in the plan");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// The report's `reload` field once `done` holds for it (builds take seconds).
fn wait_for_reload(server: &Server, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let (_, full) = server.get("/api/v1/interactive/report/full");
        let reload = &full["report"]["reload"];
        if done(reload) {
            return reload.clone();
        }
        assert!(Instant::now() < deadline, "no reload: {reload}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The node once `what` holds for it.
pub(crate) fn wait_until(server: &Server, uid: &str, what: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let node = server.node(uid);
        if what(&node) {
            return node;
        }
        assert!(Instant::now() < deadline, "timed out on {uid}: {node}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The server driver's pid and port, once every driver is started.
fn server_process(server: &Server) -> (u64, String) {
    let test = wait_until(server, "Service", |node| {
        node["drivers"]
            .as_array()
            .is_some_and(|drivers| drivers.iter().all(|d| d["status"] == "started"))
    });
    let driver = crate::interactive::driver_of(&test, "server");
    (
        driver["attributes"]["pid"].as_u64().unwrap(),
        driver["attributes"]["port"].as_u64().unwrap().to_string(),
    )
}

fn run(server: &Server, uid: &str) -> Value {
    let (status, body) = server.send(
        "PUT",
        &format!("/api/v1/interactive/nodes/{uid}"),
        r#"{"runtime_status":"running"}"#,
    );
    assert_eq!(status, 202, "{body}");
    wait_until(server, uid, |node| {
        node["runtime_status"] == "finished" && node["status"] != "unknown"
    })
}

/// After the edit of `value`: it fails, and `answers` still passes.
fn assert_new_code_runs(server: &Server) {
    assert_eq!(
        run(server, "Service/Service/value")["status"],
        "failed",
        "the new code runs"
    );
    assert_eq!(run(server, "Service/Service/answers")["status"], "passed");
}

/// Ctrl-C to the plan; the driver process `pid` must be gone within seconds.
fn stop_and_check_gone(server: Server, pid: u64) {
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(pid), "the server process is gone after Ctrl-C");
}

fn alive(pid: u64) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .status()
        .is_ok_and(|status| status.success())
}

#[test]
fn a_reload_keeps_the_server_process_and_runs_the_changed_code() {
    let dir = crate::util::create_fresh_crate("reload-plan", PLAN);
    let plan = build(&dir);
    let mut command = interactive(&plan, &dir, &dir);
    command.env("RELOAD_ECHO_SERVER", env!("CARGO_BIN_EXE_echo_server"));
    let server = Server::spawn(command);
    let (status, _) = server.send(
        "PUT",
        "/api/v1/interactive/nodes/Service",
        r#"{"env_status":"started"}"#,
    );
    assert_eq!(status, 202);
    let (pid, port) = server_process(&server);
    let answers = run(&server, "Service/Service/answers");
    assert_eq!(answers["status"], "passed", "{answers}");
    assert_eq!(run(&server, "Service/Service/value")["status"], "passed");

    // A saved one-line edit of a testcase reloads by itself (the plan watches its crate).
    edit(
        &dir,
        "result.equal(1, 1, \"the value\")",
        "result.equal(1, 2, \"the value\")",
    );
    let reload = wait_for_reload(&server, |reload| {
        let message = reload["message"].as_str().unwrap_or_default();
        reload["phase"] == "reloaded" && message.contains("drivers:") && message.contains("1 stale")
    });
    let message = reload["message"].as_str().unwrap();
    assert!(message.contains("`server` kept running"), "{message}");
    assert!(message.contains("1 stale"), "{message}");
    // The new image kept the token: the open tab's token still works, and is still needed.
    let token = server.token.clone().expect("a token by default");
    let (kept, _, body) =
        server.request_as(Some(&token), "GET", "/api/v1/interactive/report", None, &[]);
    assert_eq!(kept, 200, "the token survives a reload: {body}");
    let (anonymous, _, _) = server.request_as(None, "GET", "/api/v1/interactive/report", None, &[]);
    assert_eq!(anonymous, 401, "and is still required");
    assert_eq!(
        server_process(&server),
        (pid, port.clone()),
        "the same server process on the same port"
    );
    let unchanged = server.node("Service/Service/answers");
    assert_eq!(unchanged["status"], "passed", "{unchanged}");
    assert!(unchanged["stale"].is_null(), "{unchanged}");
    let changed = server.node("Service/Service/value");
    assert_eq!(changed["status"], "passed");
    assert_eq!(changed["stale"], "its code changed", "{changed}");
    assert_new_code_runs(&server);

    // A changed driver definition restarts that driver (and what depends on it).
    edit(&dir, ".env(\"MODE\", \"1\")", ".env(\"MODE\", \"2\")");
    let reload = wait_for_reload(&server, |reload| {
        reload["phase"] == "reloaded"
            && reload["message"]
                .as_str()
                .unwrap()
                .contains("`server` started again: its definition changed")
    });
    // Only that driver and what reads it (the client, which is in-process and starts
    // again anyway): the mock listed after it keeps running.
    let message = reload["message"].as_str().unwrap();
    assert!(message.contains("`mock` kept running"), "{message}");
    let (new_pid, _) = server_process(&server);
    assert_ne!(new_pid, pid, "the changed driver was restarted");
    assert!(!alive(pid), "the old server process is gone");
    assert_eq!(run(&server, "Service/Service/answers")["status"], "passed");

    // In the browser: the Reload button, the open tab reconnecting, the new tree.
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let browser = Command::new("node")
        .arg(e2e.join("reload.mjs"))
        .arg(server.url())
        .arg(dir.join("tests").join("plan.rs"))
        .arg(&artifacts)
        .output()
        .expect("node runs");
    let text = String::from_utf8_lossy(&browser.stdout);
    println!("{text}");
    assert!(
        browser.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&browser.stderr)
    );
    assert_eq!(
        server_process(&server).0,
        new_pid,
        "kept across the browser's reload"
    );

    // A compile error keeps the old code serving and shows the compiler's message.
    edit(&dir, "fn value(", "fn value(,");
    let failed = wait_for_reload(&server, |reload| reload["phase"] == "failed");
    assert!(
        failed["message"].as_str().unwrap().contains("error"),
        "{failed}"
    );
    assert_eq!(run(&server, "Service/Service/answers")["status"], "passed");
    assert_eq!(server_process(&server).0, new_pid);

    // Reloads do not pile up descriptors of the listening socket: the server and the
    // reloader's copy of it, no more.
    let (_, full) = server.get("/api/v1/interactive/report/full");
    let plan_pid = full["report"]["pid"].as_u64().unwrap();
    let mut per_socket = std::collections::BTreeMap::<String, usize>::new();
    for entry in std::fs::read_dir(format!("/proc/{plan_pid}/fd"))
        .unwrap()
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let target = target.display().to_string();
            if target.starts_with("socket:") {
                *per_socket.entry(target).or_default() += 1;
            }
        }
    }
    assert!(
        per_socket.values().all(|&count| count <= 2),
        "{per_socket:?}"
    );

    // No process of any generation outlives Ctrl-C.
    stop_and_check_gone(server, new_pid);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_unusable_hand_off_stops_what_the_previous_image_left_and_starts_afresh() {
    let dir = std::env::temp_dir().join(format!("testrig-bad-handoff-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let handoff = dir.join("reload-handoff.json");
    std::fs::write(&handoff, "{ not a hand-off").unwrap();
    let pids = dir.join("left.pids");
    // As a previous image would leave them: a driver leading its own process group and a
    // stray child in the plan's group, both children of the PID the new image runs as.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"setsid sleep 300 & echo $! > "$1"; sleep 300 & echo $! >> "$1"; exec "$0" -i 0 --runpath "$2" --reload-handoff "$3""#)
        .arg(env!("CARGO_BIN_EXE_interactive"))
        .arg(&pids)
        .arg(dir.join("runpath"))
        .arg(&handoff);
    let server = Server::spawn(command);
    let left: Vec<u64> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|line| line.parse().unwrap())
        .collect();
    assert_eq!(left.len(), 2);
    let (_, full) = server.get("/api/v1/interactive/report/full");
    let reload = &full["report"]["reload"];
    assert_eq!(reload["phase"], "failed", "{reload}");
    let message = reload["message"].as_str().unwrap();
    assert!(message.contains("corrupt hand-off"), "{message}");
    assert!(
        message.contains("stopped the 2 process(es) the previous image left running"),
        "{message}"
    );
    for pid in &left {
        assert!(message.contains(&pid.to_string()), "{pid} in {message}");
        assert!(!alive(*pid), "process {pid} of the previous image is gone");
    }
    // The plan itself serves on, afresh.
    assert_eq!(run(&server, "EchoTest/Echo/round_trip")["status"], "passed");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

const GATE_PLAN: &str = r#"use testrig::prelude::*;

#[suite]
struct Work;

#[suite]
impl Work {
    #[testcase]
    fn slow(&self, _env: &Env, result: &mut Recorder) {
        std::thread::sleep(std::time::Duration::from_secs(2));
        result.equal(1, 1, "waited");
    }

    #[testcase]
    fn quick(&self, _env: &Env, result: &mut Recorder) {
        result.equal(2, 2, "the value");
    }
}

fn main() -> std::process::ExitCode {
    Plan::new("gate").add(MultiTest::new("Work").suite(Work)).run_from_args()
}
"#;

/// The inodes the plan's inotify descriptors watch, from `/proc/PID/fdinfo`.
fn watched_inodes(pid: u64) -> Vec<u64> {
    let mut inodes = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let is_inotify = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy() == "anon_inode:inotify");
        if !is_inotify {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            entry.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        inodes.extend(info.lines().filter_map(|line| {
            let ino = line.strip_prefix("inotify ")?.split_whitespace().nth(1)?;
            u64::from_str_radix(ino.strip_prefix("ino:")?, 16).ok()
        }));
    }
    inodes
}

/// Sends a request that must be refused with 409; the error body.
fn refused(server: &Server, method: &str, path: &str, body: &str) -> Value {
    let (status, body) = server.send(method, path, body);
    assert_eq!(status, 409, "{method} {path}: {body}");
    body
}

fn inode(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap())
}

#[test]
fn a_reload_waits_for_runs_runs_wait_for_a_reload_and_only_the_workspace_is_watched() {
    let dir = crate::util::create_fresh_crate("reload-gate", GATE_PLAN);
    // What a real workspace has besides sources: many folders no save of a source is in.
    let mut noise = Vec::new();
    for top in ["target/debug/build", "node_modules", ".cache"] {
        for i in 0..200 {
            let folder = dir.join(top).join(format!("d{i}"));
            std::fs::create_dir_all(&folder).unwrap();
            noise.push(folder);
        }
    }
    let plan = build(&dir);
    // Started from an unrelated folder: the plan still watches (and builds) its workspace.
    let elsewhere = crate::util::scratch_dir("reload-gate-cwd");
    let server = Server::spawn(interactive(&plan, &dir, &elsewhere));

    // A reload requested while a testcase runs is refused; the run ends with its status.
    let (status, body) = server.send(
        "PUT",
        "/api/v1/interactive/nodes/Work/Work/slow",
        r#"{"runtime_status":"running"}"#,
    );
    assert_eq!(status, 202, "{body}");
    let body = refused(&server, "POST", "/api/v1/interactive/reload", "");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("queued or running"),
        "{body}"
    );
    let slow = wait_until(&server, "Work/Work/slow", |node| {
        node["runtime_status"] == "finished"
    });
    assert_eq!(slow["status"], "passed", "{slow}");
    let (_, plan_node) = server.get("/api/v1/interactive/report");
    assert_eq!(plan_node["runtime_status"], "finished", "{plan_node}");

    // The watches: the sources and manifests, nothing in target/, node_modules/ or hidden
    // folders (no watch registered there at all), nothing in the working folder.
    let (_, full) = server.get("/api/v1/interactive/report/full");
    let pid = full["report"]["pid"].as_u64().unwrap();
    let watched = watched_inodes(pid);
    for source in ["src", "tests"] {
        assert!(
            watched.contains(&inode(&dir.join(source))),
            "{source}/ watched"
        );
    }
    for folder in noise
        .iter()
        .chain([&dir.join("target"), &dir.join("node_modules"), &elsewhere])
    {
        assert!(
            !watched.contains(&inode(folder)),
            "{} is watched",
            folder.display()
        );
    }
    assert_eq!(
        watched.len(),
        3,
        "the crate's root (for its manifest and lock file), src/ and tests/"
    );

    // A write in the working folder is no reason to reload.
    std::fs::write(elsewhere.join("notes.rs"), "fn main() {}\n").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let (_, full) = server.get("/api/v1/interactive/report/full");
    assert!(
        full["report"]["reload"].is_null(),
        "{}",
        full["report"]["reload"]
    );

    // A save in the workspace reloads; while it builds, runs and environment requests are
    // refused, and so is a second reload.
    edit(
        &dir,
        "result.equal(1, 1, \"waited\")",
        "result.equal(1, 2, \"waited\")",
    );
    wait_for_reload(&server, |reload| reload["phase"] == "rebuilding");
    for (method, path, request) in [
        (
            "PUT",
            "/api/v1/interactive/nodes/Work/Work/quick",
            r#"{"runtime_status":"running"}"#,
        ),
        (
            "POST",
            "/api/v1/interactive/run",
            r#"{"uids":["Work/Work/slow"]}"#,
        ),
        (
            "PUT",
            "/api/v1/interactive/nodes/Work",
            r#"{"env_status":"started"}"#,
        ),
    ] {
        let body = refused(&server, method, path, request);
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .starts_with("a code reload is in progress: rebuilding with"),
            "{body}"
        );
    }
    let body = refused(&server, "POST", "/api/v1/interactive/reload", "");
    assert_eq!(body["error"], "a reload is already in progress", "{body}");

    let reload = wait_for_reload(&server, |reload| reload["phase"] == "reloaded");
    assert!(
        reload["message"].as_str().unwrap().contains("1 stale"),
        "the changed testcase's sources were read from the workspace: {reload}"
    );
    let (_, plan_node) = server.get("/api/v1/interactive/report");
    assert!(
        plan_node["runtime_status"] == "finished" || plan_node["runtime_status"] == "ready",
        "{plan_node}"
    );
    let slow = server.node("Work/Work/slow");
    assert_eq!(slow["status"], "passed", "no run lost: {slow}");
    assert_eq!(slow["stale"], "its code changed", "{slow}");
    assert_eq!(
        run(&server, "Work/Work/slow")["status"],
        "failed",
        "the new code runs"
    );
    // The run's end is folded just after its testcase's: the plan node follows shortly.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, plan_node) = server.get("/api/v1/interactive/report");
        if plan_node["runtime_status"] == "finished" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run never ended: {plan_node}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

/// A plan binary cargo did not build (copied out of its target folder) serves as usual with
/// code reload off, and a reload request says why instead of failing on every save.
#[test]
fn a_plan_not_built_by_cargo_serves_with_reload_off_and_says_why() {
    let dir = crate::util::scratch_dir("copied-plan");
    let copy = dir.join("plan-copy");
    std::fs::copy(env!("CARGO_BIN_EXE_interactive"), &copy).unwrap();
    let mut command = Command::new(&copy);
    command
        .args(["-i", "0", "--runpath"])
        .arg(dir.join("runpath"))
        .current_dir(&dir);
    let server = Server::spawn(command);
    let (status, body) = server.send("POST", "/api/v1/interactive/reload", "{}");
    assert_eq!(status, 400, "{body}");
    let why = body["error"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("code reload is not available: ")
            && why.contains("is not in a cargo target folder")
            && why.contains("--reload-command"),
        "{body}"
    );
    let (status, report) = server.get("/api/v1/interactive/report");
    assert_eq!(status, 200, "it serves all the same: {report}");
}

/// At the kernel's inotify watch limit, reload on save says so and how to raise it. The
/// limit is lowered in a user namespace of the test's own (`unshare -U -r`), so nothing
/// else on the machine is touched.
#[test]
fn at_the_kernels_watch_limit_reload_on_save_warns() {
    use std::io::{BufRead, BufReader};

    let dir = crate::util::create_fresh_crate("reload-limit", PLAN);
    let plan = build(&dir);
    let mut child = crate::util::Interrupted(
        Command::new("unshare")
            .args(["-U", "-r", "sh", "-c"])
            .arg("echo 2 > /proc/sys/user/max_inotify_watches && exec \"$0\" \"$@\"")
            .arg(&plan)
            .args(["-i", "0", "--runpath"])
            .arg(dir.join("runpath"))
            .current_dir(&dir)
            .env("CARGO", env!("CARGO"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) runs"),
    );
    let (lines, seen) = std::sync::mpsc::channel();
    let stderr = child.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut read = Vec::new();
    let warning = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match seen.recv_timeout(left) {
            Ok(line) if line.contains("watch limit") => break line,
            Ok(line) => read.push(line),
            Err(_) => panic!(
                "no warning about the watch limit; stderr:\n{}",
                read.join("\n")
            ),
        }
    };
    assert!(
        warning.starts_with("warning: reload on save is partial")
            && warning.contains("2 watches")
            && warning.contains("max_user_watches")
            && warning.contains("Reload button"),
        "{warning}"
    );
}

#[test]
fn a_reload_with_worker_processes_stops_their_environments_and_runs_the_changed_code() {
    let dir = crate::util::create_fresh_crate("reload-pool-plan", PLAN);
    let plan = build(&dir);
    let mut command = interactive(&plan, &dir, &dir);
    command
        .args(["--pool", "process"])
        .env("RELOAD_ECHO_SERVER", env!("CARGO_BIN_EXE_echo_server"));
    let server = Server::spawn(command);
    assert_eq!(run(&server, "Service/Service/answers")["status"], "passed");
    assert_eq!(run(&server, "Service/Service/value")["status"], "passed");
    let (pid, _) = server_process(&server);
    edit(
        &dir,
        "result.equal(1, 1, \"the value\")",
        "result.equal(1, 2, \"the value\")",
    );
    let reload = wait_for_reload(&server, |reload| reload["phase"] == "reloaded");
    let message = reload["message"].as_str().unwrap();
    assert!(message.contains("worker processes"), "{message}");
    // The old worker stopped its environment before the exec: nothing of it runs on.
    assert!(!alive(pid), "the old image's server process is gone");
    let test = server.node("Service");
    assert_ne!(test["env_status"], "started", "{test}");
    assert_new_code_runs(&server);
    let (new_pid, _) = server_process(&server);
    assert_ne!(new_pid, pid);
    stop_and_check_gone(server, new_pid);
    let _ = std::fs::remove_dir_all(dir);
}

//! Interactive mode over real HTTP: every route, the error statuses, the token rule,
//! concurrent runs, cancel, environment toggles, the push channel, hostile input.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PLAN: &str = env!("CARGO_BIN_EXE_interactive");

/// A plan running with `-i 0`, stopped (Ctrl-C) when dropped.
pub(crate) struct Server {
    /// Interrupted when the server is dropped.
    pub(crate) _plan: crate::util::Interrupted,
    pub(crate) address: String,
    /// The access token of the printed URL, sent with every request but `request_as`'s.
    pub(crate) token: Option<String>,
}

/// The address and token of the printed `Interactive testrig UI: http://ADDRESS/?token=…`.
pub(crate) fn parse_url_line(line: &str) -> (String, Option<String>) {
    let url = line
        .trim()
        .strip_prefix("Interactive testrig UI: http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let (address, rest) = url.split_once('/').unwrap_or((url, ""));
    let token = rest.strip_prefix("?token=").map(str::to_string);
    (address.to_string(), token)
}

impl Server {
    pub(crate) fn start(name: &str, extra: &[&str]) -> Server {
        let dir = crate::util::scratch_dir(name);
        let mut command = Command::new(PLAN);
        command
            .args(["-i", "0", "--runpath"])
            .arg(dir.join("runpath"))
            .args(extra);
        Server::spawn(command)
    }

    /// Starts an interactive plan (`command` has its `-i 0`) and reads its address.
    pub(crate) fn spawn(mut command: Command) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let (address, token) = parse_url_line(&line);
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Server {
            _plan: crate::util::Interrupted(child),
            address,
            token,
        }
    }

    /// The URL the plan printed: the UI, with the token that lets a browser in.
    pub(crate) fn url(&self) -> String {
        match &self.token {
            Some(token) => format!("http://{}/?token={token}", self.address),
            None => format!("http://{}/", self.address),
        }
    }

    /// A request with the server's token (as `X-Testrig-Token`).
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, String, String) {
        self.request_as(self.token.as_deref(), method, path, body, headers)
    }

    /// A request with `token` (none: anonymous). A body is sent as JSON unless `headers`
    /// name a `Content-Type`; `Host` is the server's address unless `headers` name one.
    pub(crate) fn request_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, String, String) {
        let named = |name: &str| {
            headers
                .iter()
                .any(|(key, _)| key.eq_ignore_ascii_case(name))
        };
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let body = body.unwrap_or("");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !named("Host") {
            request.push_str(&format!("Host: {}\r\n", self.address));
        }
        if !body.is_empty() && !named("Content-Type") {
            request.push_str("Content-Type: application/json\r\n");
        }
        if let Some(token) = token {
            request.push_str(&format!("X-Testrig-Token: {token}\r\n"));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        (status, head.to_string(), body.to_string())
    }

    pub(crate) fn get(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = self.request("GET", path, None, &[]);
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    pub(crate) fn send(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let (status, _, body) = self.request(method, path, Some(body), &[]);
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    pub(crate) fn node(&self, uid: &str) -> Value {
        self.get(&format!(
            "/api/v1/interactive/nodes/{}",
            uid.replace(' ', "%20")
        ))
        .1
    }

    pub(crate) fn wait_for(&self, uid: &str, what: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let node = self.node(uid);
            if what(&node) {
                return node;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting on {uid}: {node}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The driver named `name` of a test node (as `nodes/{test}` gives it).
pub(crate) fn driver_of(test: &Value, name: &str) -> Value {
    test["drivers"]
        .as_array()
        .unwrap_or_else(|| panic!("no drivers in {test}"))
        .iter()
        .find(|driver| driver["name"] == name)
        .unwrap_or_else(|| panic!("no driver `{name}` in {test}"))
        .clone()
}

/// A client of the push channel.
struct EventStream(BufReader<TcpStream>);

impl EventStream {
    /// The data of the next server-sent event of this kind (`snapshot` or `update`).
    fn next(&mut self, kind: &str) -> Value {
        let mut event = String::new();
        loop {
            let mut line = String::new();
            self.0.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if let Some(name) = line.strip_prefix("event: ") {
                event = name.to_string();
            } else if let Some(data) = line.strip_prefix("data: ")
                && event == kind
            {
                return serde_json::from_str(data).unwrap();
            }
        }
    }
}

impl Server {
    fn events(&self) -> EventStream {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET /api/v1/interactive/events HTTP/1.1\r\nHost: {}\r\nX-Testrig-Token: {}\r\n\r\n",
            self.address,
            self.token.as_deref().unwrap_or_default()
        )
        .unwrap();
        EventStream(BufReader::new(stream))
    }
}

const TEST: &str = "EchoTest";
const SUITE: &str = "EchoTest/Echo";

#[test]
fn nodes_are_shallow_and_hashes_change_below() {
    let server = Server::start("interactive-nodes", &[]);
    let (status, plan) = server.get("/api/v1/interactive/report");
    assert_eq!(status, 200);
    assert_eq!(plan["kind"], "plan");
    assert_eq!(plan["children"], json!([TEST]));
    assert_eq!(plan["counts"]["total"], 7);
    let suite = server.node(SUITE);
    assert_eq!(suite["kind"], "suite");
    assert_eq!(suite["children"].as_array().unwrap().len(), 5, "{suite}");
    assert!(
        suite["children"]
            .as_array()
            .unwrap()
            .contains(&json!("EchoTest/Echo/square"))
    );
    let group = server.node("EchoTest/Echo/square");
    assert_eq!(group["kind"], "parametrization");
    assert_eq!(group["children"].as_array().unwrap().len(), 3);

    let before = server.node(SUITE)["hash"].clone();
    let (status, body) = server.send(
        "PUT",
        "/api/v1/interactive/nodes/EchoTest/Echo/round_trip",
        r#"{"runtime_status":"running"}"#,
    );
    assert_eq!(status, 202, "{body}");
    let done = server.wait_for("EchoTest/Echo/round_trip", |node| {
        node["status"] == "passed"
    });
    assert_eq!(done["entries"][0]["type"], "Comparison");
    assert_eq!(done["entries"][0]["actual"], "\"hello\"");
    assert_ne!(
        server.node(SUITE)["hash"],
        before,
        "the suite's hash changes when a testcase below it runs"
    );
    // Running a testcase started the environment first.
    let test = server.node(TEST);
    assert_eq!(test["env_status"], "started", "{test}");
    assert!(
        test["drivers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|driver| driver["status"] == "started")
    );
}

#[test]
fn bad_requests_get_clear_json_errors() {
    let server = Server::start("interactive-errors", &[]);
    let put = |path: &str, body: &str| server.send("PUT", path, body);
    let (status, body) = put(
        "/api/v1/interactive/nodes/Nope/x",
        r#"{"runtime_status":"running"}"#,
    );
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (404, "no node with uid `Nope/x`")
    );
    let (status, body) = put("/api/v1/interactive/nodes/EchoTest", "not json");
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid request body"),
        "{body}"
    );
    let (status, body) = put(
        "/api/v1/interactive/nodes/EchoTest",
        r#"{"runtime_status":"running","colour":"red"}"#,
    );
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{body}"
    );
    let (status, body) = put(
        "/api/v1/interactive/nodes/EchoTest",
        r#"{"runtime_status":"finished"}"#,
    );
    assert_eq!(status, 400, "{body}");
    let (status, _) = put(
        "/api/v1/interactive/nodes/EchoTest",
        r#"{"env_status":"exploded"}"#,
    );
    assert_eq!(status, 400);
    let huge = format!(r#"{{"uids":["{}"]}}"#, "x".repeat(200_000));
    let (status, _) = server.send("POST", "/api/v1/interactive/run", &huge);
    assert_eq!(status, 413);
    let (status, _) = server.send("POST", "/api/v1/interactive/run", r#"{"uids":[]}"#);
    assert_eq!(status, 400);
    let (status, _) = server.send(
        "POST",
        "/api/v1/interactive/run",
        r#"{"uids":["EchoTest/Echo"]}"#,
    );
    assert_eq!(status, 404, "a selection lists testcases");
    let (status, _, body) = server.request(
        "GET",
        "/api/v1/interactive/attachments/../../etc/passwd",
        None,
        &[],
    );
    assert!(status == 400 || status == 404, "{status} {body}");
    assert!(!body.contains("root:"));
    let (status, _, body) = server.request(
        "GET",
        "/api/v1/interactive/attachments/%2Fetc%2Fpasswd",
        None,
        &[],
    );
    assert!(status == 400 || status == 404, "{status} {body}");
    let (status, _, body) = server.request(
        "GET",
        "/api/v1/interactive/attachments/..%2F..%2Fetc%2Fpasswd",
        None,
        &[],
    );
    assert!(status == 400 || status == 404, "{status} {body}");
}

#[test]
fn one_run_at_a_time_per_testcase_and_cancel_abandons_it() {
    let server = Server::start("interactive-cancel", &[]);
    let slow = "/api/v1/interactive/nodes/EchoTest/Echo/slow";
    let running = r#"{"runtime_status":"running"}"#;
    // Two clients at once: one run is queued, the other is refused.
    let (first, second) = std::thread::scope(|scope| {
        let a = scope.spawn(|| server.send("PUT", slow, running).0);
        let b = scope.spawn(|| server.send("PUT", slow, running).0);
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut statuses = [first, second];
    statuses.sort();
    assert_eq!(statuses, [202, 409]);
    // The suite contains the queued testcase: refused too.
    assert_eq!(
        server
            .send("PUT", "/api/v1/interactive/nodes/EchoTest/Echo", running)
            .0,
        409
    );
    assert_eq!(server.send("POST", "/api/v1/interactive/reset", "").0, 409);
    server.wait_for("EchoTest/Echo/slow", |node| {
        node["runtime_status"] == "running" && node["timer"]["start"].is_number()
    });
    let started = Instant::now();
    let (status, _) = server.send("POST", "/api/v1/interactive/cancel", "");
    assert_eq!(status, 200);
    let node = server.wait_for("EchoTest/Echo/slow", |node| {
        node["runtime_status"] == "finished"
    });
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "cancel did not wait for the 3 s testcase"
    );
    assert_eq!(node["status"], "cancelled");
    assert!(
        node["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancelled"),
        "{node}"
    );
    // The environment stays up, and the testcase can run again.
    assert_eq!(server.node(TEST)["env_status"], "started");
    assert_eq!(
        server
            .send(
                "PUT",
                "/api/v1/interactive/nodes/EchoTest/Echo/round_trip",
                running
            )
            .0,
        202
    );
    server.wait_for("EchoTest/Echo/round_trip", |node| {
        node["status"] == "passed"
    });
    assert_eq!(server.send("POST", "/api/v1/interactive/reset", "").0, 200);
    server.wait_for("EchoTest/Echo/round_trip", |node| {
        node["status"] == "unknown"
    });
}

#[test]
fn environments_start_and_stop_on_request() {
    let server = Server::start("interactive-env", &[]);
    assert_eq!(
        server
            .send(
                "PUT",
                "/api/v1/interactive/nodes/EchoTest",
                r#"{"env_status":"started"}"#
            )
            .0,
        202
    );
    let test = server.wait_for(TEST, |node| node["env_status"] == "started");
    let port = test["drivers"][0]["attributes"]["port"].as_u64().unwrap();
    assert!(
        TcpStream::connect(("127.0.0.1", port as u16)).is_ok(),
        "the server driver listens"
    );
    assert_eq!(
        server
            .send(
                "PUT",
                "/api/v1/interactive/nodes/EchoTest",
                r#"{"env_status":"stopped"}"#
            )
            .0,
        202
    );
    let test = server.wait_for(TEST, |node| node["env_status"] == "stopped");
    assert!(
        test["drivers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|driver| driver["status"] == "stopped"),
        "{test}"
    );
}

#[test]
fn the_push_channel_sends_a_snapshot_then_every_update_in_order() {
    let server = Server::start("interactive-events", &[]);
    let mut events = server.events();
    let mut next_data = |kind: &str| events.next(kind);
    let snapshot = next_data("snapshot");
    let mut seq = snapshot["seq"].as_u64().unwrap();
    assert_eq!(snapshot["report"]["plan"]["counts"]["total"], 7);
    server.send(
        "PUT",
        "/api/v1/interactive/nodes/EchoTest/Echo/square",
        r#"{"runtime_status":"running"}"#,
    );
    let mut finished = 0;
    while finished < 3 {
        let update = next_data("update");
        let this = update["seq"].as_u64().unwrap();
        assert_eq!(this, seq + 1, "updates arrive in order without gaps");
        seq = this;
        if update["event"]["event"] == "testcase_finished" {
            assert_eq!(update["event"]["status"], "passed");
            finished += 1;
        }
    }
}

#[test]
fn attachments_are_served_from_the_runpath() {
    let server = Server::start("interactive-attachments", &[]);
    server.send(
        "PUT",
        "/api/v1/interactive/nodes/EchoTest/Echo/attaches_a_file",
        r#"{"runtime_status":"running"}"#,
    );
    let node = server.wait_for("EchoTest/Echo/attaches_a_file", |node| {
        node["status"] == "passed"
    });
    let path = node["entries"][0]["path"].as_str().unwrap().to_string();
    let (status, _, body) = server.request(
        "GET",
        &format!("/api/v1/interactive/attachments/{path}"),
        None,
        &[],
    );
    assert_eq!(status, 200);
    assert_eq!(body, "captured traffic\n");
}

#[test]
fn a_token_is_required_when_configured() {
    let server = Server::start("interactive-token", &["--interactive-token", "s3cret"]);
    assert_eq!(
        server.token.as_deref(),
        Some("s3cret"),
        "the printed URL carries it"
    );
    let get = |token: Option<&str>, path: &str, headers: &[(&str, &str)]| {
        server.request_as(token, "GET", path, None, headers)
    };
    let report = "/api/v1/interactive/report";
    let (status, _, body) = get(None, report, &[]);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("access token"));
    assert_eq!(get(Some("wrong"), report, &[]).0, 401);
    assert_eq!(
        get(Some("s3cre"), report, &[]).0,
        401,
        "a prefix is not the token"
    );
    assert_eq!(get(Some("s3crett"), report, &[]).0, 401);
    assert_eq!(get(Some("s3cret"), report, &[]).0, 200);
    let port = server.address.rsplit(':').next().unwrap().to_string();
    let (status, head, _) = get(None, "/api/v1/interactive/report?token=s3cret", &[]);
    assert_eq!(status, 200);
    let cookie = format!("testrig_token_{port}=s3cret");
    let head = head.to_lowercase();
    assert!(head.contains(&format!("set-cookie: {cookie}")), "{head}");
    assert!(
        head.contains("httponly") && head.contains("samesite=strict"),
        "{head}"
    );
    assert_eq!(get(None, report, &[("Cookie", &cookie)]).0, 200);
    assert_eq!(
        get(None, report, &[("Cookie", &format!("other=1; {cookie}"))]).0,
        200
    );
    assert_eq!(
        get(None, report, &[("Cookie", "testrig_token_1=s3cret")]).0,
        401,
        "another port's cookie is not this server's"
    );
    assert_eq!(
        get(None, report, &[("Authorization", "token s3cret")]).0,
        200
    );
}

#[test]
fn every_route_of_the_openapi_document_answers() {
    // A build command that fails at once: POST /reload answers without rebuilding anything.
    let server = Server::start("interactive-openapi", &["--reload-command", "false"]);
    let (status, document) = server.get("/api/v1/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.0.3");
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 10);
    for (path, operations) in paths {
        let concrete = path
            .replace("{uid}", "EchoTest/Echo/round_trip")
            .replace("{path}", "missing.txt")
            .replace("{test}", "EchoTest")
            .replace("{driver}", "server");
        for method in operations
            .as_object()
            .unwrap()
            .keys()
            .filter(|key| *key != "parameters")
        {
            let method = method.to_uppercase();
            let body = match (method.as_str(), path.as_str()) {
                ("PUT", _) => Some(r#"{"runtime_status":"running"}"#),
                ("POST", "/api/v1/interactive/run") => {
                    Some(r#"{"uids":["EchoTest/Echo/round_trip"]}"#)
                }
                _ => None,
            };
            if path.ends_with("/events") {
                continue; // a stream; covered by the push-channel test
            }
            let (status, _, response) = server.request(&method, &concrete, body, &[]);
            let declared = operations[method.to_lowercase()]["responses"]
                .as_object()
                .unwrap();
            assert!(
                declared.contains_key(&status.to_string()),
                "{method} {concrete} answered {status} ({response}), declared {:?}",
                declared.keys()
            );
        }
    }
}

#[test]
fn a_batch_run_with_ui_runs_everything_and_keeps_serving_the_report() {
    let dir = crate::util::scratch_dir("interactive-ui");
    let mut child = Command::new(env!("CARGO_BIN_EXE_assertions"))
        .args(["--ui", "0", "--runpath"])
        .arg(dir.join("runpath"))
        .arg("--json")
        .arg(dir.join("report.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Interrupted however the test ends, a failed assertion below included.
    let plan = crate::util::Interrupted(child);
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    let (address, token) = parse_url_line(&first);
    let mut output = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        output.push_str(&line);
        output.push('\n');
        if line.starts_with("The finished report stays") {
            break;
        }
    }
    let server = Server {
        _plan: plan,
        address,
        token,
    };
    assert!(output.contains("7 passed, 0 failed, 0 skipped"), "{output}");
    let (status, plan) = server.get("/api/v1/interactive/report");
    assert_eq!(status, 200);
    assert_eq!(plan["counts"]["passed"], 7, "{plan}");
    let (status, _, page) = server.request("GET", "/", None, &[]);
    assert_eq!(status, 200);
    assert!(page.contains("<script type=\"module\""), "the UI is served");
    drop(server);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["plan"]["counts"]["passed"], 7);
}

#[test]
fn a_reconnecting_client_gets_a_snapshot_that_matches_the_report() {
    let server = Server::start("interactive-reconnect", &[]);
    let connect = || server.events();
    let snapshot = |events: &mut EventStream| events.next("snapshot");
    let mut first = connect();
    let before = snapshot(&mut first);
    drop(first); // the tab goes away mid-run
    server.send(
        "PUT",
        "/api/v1/interactive/report",
        r#"{"runtime_status":"running"}"#,
    );
    server.wait_for(TEST, |node| {
        node["runtime_status"] == "finished" && node["counts"]["unknown"] == 0
    });
    let mut again = connect();
    let after = snapshot(&mut again);
    assert!(after["seq"].as_u64() > before["seq"].as_u64());
    let (_, plan) = server.get("/api/v1/interactive/report");
    assert_eq!(
        after["report"]["plan"]["counts"], plan["counts"],
        "the snapshot is the report as it stands"
    );
    assert_eq!(
        plan["counts"]["passed"].as_u64().unwrap() + plan["counts"]["failed"].as_u64().unwrap(),
        7,
        "{plan}"
    );
    let (status, log) = server.get("/api/v1/interactive/drivers/EchoTest/server/log");
    assert_eq!(status, 200, "{log}");
    assert_eq!(
        server
            .get("/api/v1/interactive/drivers/EchoTest/nope/log")
            .0,
        404
    );
}

#[test]
fn every_server_generates_and_prints_a_token_even_beyond_loopback() {
    let dir = crate::util::scratch_dir("interactive-host");
    let mut child = Command::new(PLAN)
        .args(["-i", "0", "--interactive-host", "0.0.0.0", "--runpath"])
        .arg(dir.join("runpath"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Interrupted however the test ends, a failed assertion below included.
    let plan = crate::util::Interrupted(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let (host_port, token) = parse_url_line(&line);
    let token = token.expect("the printed URL carries the token");
    let port = host_port.rsplit(':').next().unwrap();
    let server = Server {
        _plan: plan,
        address: format!("127.0.0.1:{port}"),
        token: Some(token.clone()),
    };
    assert!(token.len() >= 32, "{token}");
    let report = "/api/v1/interactive/report";
    assert_eq!(server.request_as(None, "GET", report, None, &[]).0, 401);
    assert_eq!(server.request("GET", report, None, &[]).0, 200);
    let loopback = Server::start("interactive-default-token", &[]);
    let other = loopback
        .token
        .as_deref()
        .expect("a token by default on loopback too");
    assert_ne!(other, token, "each server has its own");
    assert_eq!(loopback.request_as(None, "GET", report, None, &[]).0, 401);
}

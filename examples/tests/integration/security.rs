//! The interactive server against hostile clients, over real HTTP: cross-site requests of
//! every kind a browser sends without asking, DNS rebinding (a foreign `Host`), framing,
//! the token rules, error bodies, slow and oversized requests — and, in a real browser, a
//! page on another loopback port that tries to run a testcase.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::interactive::Server;

const PLAN: &str = env!("CARGO_BIN_EXE_interactive");
const CASE: &str = "EchoTest/Echo/round_trip";

/// Every state-changing route with a body it would accept from the UI.
const WRITES: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/api/v1/interactive/run",
        r#"{"uids":["EchoTest/Echo/round_trip"]}"#,
    ),
    (
        "PUT",
        "/api/v1/interactive/report",
        r#"{"runtime_status":"running"}"#,
    ),
    (
        "PUT",
        "/api/v1/interactive/nodes/EchoTest/Echo/round_trip",
        r#"{"runtime_status":"running"}"#,
    ),
    (
        "PUT",
        "/api/v1/interactive/nodes/EchoTest",
        r#"{"env_status":"started"}"#,
    ),
    ("POST", "/api/v1/interactive/cancel", "{}"),
    ("POST", "/api/v1/interactive/reset", "{}"),
    ("POST", "/api/v1/interactive/reload", "{}"),
];

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn error_of(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|value| value["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("not a JSON error body: {body:?}"))
}

/// Nothing ran, no environment started, no reload began.
fn assert_untouched(server: &Server) {
    std::thread::sleep(Duration::from_millis(300));
    let case = server.node(CASE);
    assert_eq!(case["status"], "unknown", "{case}");
    assert_eq!(case["runtime_status"], "ready", "{case}");
    let test = server.node("EchoTest");
    assert_ne!(test["env_status"], "started", "{test}");
    let (_, full) = server.get("/api/v1/interactive/report/full");
    assert!(
        full["report"]["reload"].is_null(),
        "{}",
        full["report"]["reload"]
    );
}

#[test]
fn cross_site_requests_change_nothing() {
    let server = Server::start("security-cross-site", &["--reload-command", "false"]);
    let port = server.address.rsplit(':').next().unwrap().to_string();
    let other_port = format!("http://127.0.0.1:{}", port.parse::<u16>().unwrap() ^ 1);
    let simple_types = [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ];
    for (method, path, body) in WRITES {
        for origin in ["http://evil.example", other_port.as_str(), "null"] {
            for kind in simple_types.iter().chain(&["application/json"]) {
                let (status, _, answer) = server.request(
                    method,
                    path,
                    Some(body),
                    &[("Origin", origin), ("Content-Type", kind)],
                );
                assert_eq!(
                    status, 403,
                    "{method} {path} from {origin} as {kind}: {answer}"
                );
                assert!(error_of(&answer).contains("cross-origin"), "{answer}");
            }
        }
        let (status, _, answer) = server.request(
            method,
            path,
            Some(body),
            &[
                ("Sec-Fetch-Site", "same-site"),
                ("Content-Type", "application/json"),
            ],
        );
        assert_eq!(status, 403, "{method} {path} marked same-site: {answer}");
        for kind in simple_types {
            let (status, _, answer) =
                server.request(method, path, Some(body), &[("Content-Type", kind)]);
            assert_eq!(status, 415, "{method} {path} as {kind}: {answer}");
            assert!(error_of(&answer).contains("application/json"), "{answer}");
        }
        let (status, _, answer) = server.request(
            method,
            path,
            Some(body),
            &[
                ("Content-Type", "text/plain"),
                ("Origin", "http://evil.example"),
            ],
        );
        assert_eq!(status, 403, "{answer}");
    }
    assert_untouched(&server);

    // The UI's own requests: same origin, JSON, by either loopback name.
    let own = format!("http://127.0.0.1:{port}");
    let (status, _, answer) = server.request(
        "POST",
        "/api/v1/interactive/run",
        Some(&format!(r#"{{"uids":["{CASE}"]}}"#)),
        &[("Origin", &own), ("Sec-Fetch-Site", "same-origin")],
    );
    assert_eq!(status, 202, "{answer}");
    let localhost = format!("localhost:{port}");
    let (status, _, answer) = server.request(
        "POST",
        "/api/v1/interactive/cancel",
        None,
        &[
            ("Host", &localhost),
            ("Origin", &format!("http://{localhost}")),
        ],
    );
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn a_foreign_host_is_refused_on_every_route() {
    let server = Server::start("security-host", &[]);
    let port = server.address.rsplit(':').next().unwrap().to_string();
    let reads = [
        "/",
        "/index.html",
        "/app.js",
        "/style.css",
        "/api/v1/openapi.json",
        "/api/v1/interactive/report",
        "/api/v1/interactive/report/full",
        "/api/v1/interactive/events",
        "/api/v1/interactive/nodes/EchoTest",
        "/api/v1/interactive/config",
        "/api/v1/interactive/drivers/EchoTest/server/log",
        "/api/v1/interactive/attachments/x.txt",
    ];
    let hosts = [
        format!("evil.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
        format!("localhost.evil.example:{port}"),
        "127.0.0.1:1".to_string(),
        "127.0.0.1".to_string(),
        format!("[::2]:{port}"),
    ];
    for host in &hosts {
        for path in reads {
            let (status, head, body) = server.request("GET", path, None, &[("Host", host)]);
            assert_eq!(status, 403, "GET {path} with Host {host}: {body}");
            assert!(
                error_of(&body).contains("--interactive-allow-host"),
                "says how to allow it: {body}"
            );
            assert_eq!(header(&head, "x-frame-options"), Some("DENY"));
        }
        for (method, path, body) in WRITES {
            let (status, _, answer) = server.request(method, path, Some(body), &[("Host", host)]);
            assert_eq!(status, 403, "{method} {path} with Host {host}: {answer}");
        }
    }
    // HTTP/1.0 without a Host at all.
    let mut stream = TcpStream::connect(&server.address).unwrap();
    write!(stream, "GET /api/v1/interactive/report HTTP/1.0\r\n\r\n").unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(
        response.starts_with("HTTP/1.0 403") || response.starts_with("HTTP/1.1 403"),
        "{response}"
    );
    assert_untouched(&server);

    let allowed = Server::start(
        "security-allow-host",
        &["--interactive-allow-host", "devbox"],
    );
    let port = allowed.address.rsplit(':').next().unwrap().to_string();
    let devbox = format!("DevBox:{port}");
    let (status, _, body) = allowed.request(
        "GET",
        "/api/v1/interactive/report",
        None,
        &[("Host", &devbox)],
    );
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = allowed.request(
        "PUT",
        "/api/v1/interactive/nodes/EchoTest/Echo/round_trip",
        Some(r#"{"runtime_status":"running"}"#),
        &[("Host", &devbox), ("Origin", &format!("http://{devbox}"))],
    );
    assert_eq!(status, 202, "{body}");
}

#[test]
fn every_response_carries_the_protections() {
    let server = Server::start("security-headers", &[]);
    let answers = [
        server.request("GET", "/", None, &[]),
        server.request("GET", "/app.js", None, &[]),
        server.request("GET", "/api/v1/interactive/report", None, &[]),
        server.request("GET", "/api/v1/interactive/nope", None, &[]),
        server.request_as(None, "GET", "/api/v1/interactive/report", None, &[]),
        server.request_as(None, "GET", "/", None, &[("Accept", "text/html")]),
        server.request(
            "OPTIONS",
            "/api/v1/interactive/run",
            None,
            &[
                ("Origin", "http://evil.example"),
                ("Access-Control-Request-Method", "POST"),
            ],
        ),
    ];
    for (status, head, _) in &answers {
        assert_eq!(
            header(head, "x-frame-options"),
            Some("DENY"),
            "{status} {head}"
        );
        assert_eq!(
            header(head, "x-content-type-options"),
            Some("nosniff"),
            "{head}"
        );
        assert_eq!(
            header(head, "referrer-policy"),
            Some("no-referrer"),
            "{head}"
        );
        let policy = header(head, "content-security-policy").unwrap_or_default();
        for directive in [
            "default-src 'self'",
            "frame-ancestors 'none'",
            "script-src 'self'",
        ] {
            assert!(policy.contains(directive), "{policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        let lower = head.to_lowercase();
        assert!(
            !lower.contains("access-control-allow"),
            "no CORS headers: {head}"
        );
    }
    for (status, head, _) in &answers[2..5] {
        assert_eq!(
            header(head, "cache-control"),
            Some("no-store"),
            "{status} {head}"
        );
    }
    let (status, head, _) = &answers[0];
    assert_eq!(*status, 200);
    assert!(
        header(head, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
}

/// A request (method, path, body, headers) and the status it must get.
type ErrorCase<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a [(&'a str, &'a str)],
    u16,
);

#[test]
fn errors_are_json_from_every_route() {
    let server = Server::start("security-errors", &[]);
    let cases: Vec<ErrorCase> = vec![
        ("GET", "/api/v1/interactive/run", None, &[], 405),
        ("DELETE", "/api/v1/interactive/report", None, &[], 405),
        ("GET", "/api/v1/interactive/nope", None, &[], 404),
        ("GET", "/no-such-file.js", None, &[], 404),
        (
            "GET",
            "/api/v1/interactive/drivers/EchoTest/server/log?lines=many",
            None,
            &[],
            400,
        ),
        (
            "GET",
            "/api/v1/interactive/drivers/EchoTest/nope/log",
            None,
            &[],
            404,
        ),
        (
            "PUT",
            "/api/v1/interactive/report",
            Some(r#"["running"]"#),
            &[],
            400,
        ),
        (
            "PUT",
            "/api/v1/interactive/report",
            Some(r#"{"env_status":null,"runtime_status":"running"}"#),
            &[],
            400,
        ),
        (
            "POST",
            "/api/v1/interactive/run",
            Some("{\"uids\": 3}"),
            &[],
            400,
        ),
        (
            "POST",
            "/api/v1/interactive/run",
            Some("{}"),
            &[("Content-Type", "text/plain")],
            415,
        ),
    ];
    for (method, path, body, headers, expected) in cases {
        let (status, head, answer) = server.request(method, path, body, headers);
        assert_eq!(status, expected, "{method} {path}: {answer}");
        assert!(
            header(&head, "content-type")
                .unwrap_or_default()
                .starts_with("application/json"),
            "{method} {path}: {head}"
        );
        let message = error_of(&answer);
        assert!(!message.is_empty(), "{method} {path}");
        if status == 405 {
            assert!(message.contains("allowed"), "{message}");
        }
    }
    // An oversized body is refused on its declared length, before any of it is sent.
    let mut stream = TcpStream::connect(&server.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "POST /api/v1/interactive/run HTTP/1.1\r\nHost: {}\r\nX-Testrig-Token: {}\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n",
        server.address,
        server.token.as_deref().unwrap_or_default()
    )
    .unwrap();
    let mut response = String::new();
    let started = Instant::now();
    let _ = BufReader::new(&stream).read_line(&mut response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let server = Server::start("security-slow", &[]);
    let mut stream = TcpStream::connect(&server.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    write!(stream, "GET / HTTP/1.1\r\nHost: ").unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(25),
        "closed after {waited:?}"
    );
    // The server still answers everyone else.
    assert_eq!(server.get("/api/v1/interactive/report").0, 200);
}

#[test]
fn the_token_rules() {
    // A token with characters a URL must encode: the printed URL carries it encoded.
    let server = Server::start("security-token", &["--interactive-token", "a+b/c=d&e"]);
    let printed = server.token.clone().unwrap();
    assert_eq!(
        printed, "a%2Bb%2Fc%3Dd%26e",
        "the printed URL encodes the token"
    );
    let report = "/api/v1/interactive/report";
    let (status, head, _) =
        server.request_as(None, "GET", &format!("{report}?token={printed}"), None, &[]);
    assert_eq!(status, 200, "URL-encoded ?token= is accepted");
    assert!(head.contains("testrig_token_"), "{head}");
    assert_eq!(
        server
            .request_as(Some("a+b/c=d&e"), "GET", report, None, &[])
            .0,
        200
    );
    assert_eq!(
        server
            .request_as(None, "GET", &format!("{report}?token=a+b/c=d&e"), None, &[])
            .0,
        401
    );

    // A browser without the token gets a page saying how to get in.
    let (status, head, page) =
        server.request_as(None, "GET", "/", None, &[("Accept", "text/html,*/*")]);
    assert_eq!(status, 401);
    assert!(
        header(&head, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.contains("?token=") && page.contains("printed"),
        "{page}"
    );

    // No token only on 127.0.0.1 or ::1 exactly.
    let refused = Command::new(PLAN)
        .args([
            "-i",
            "0",
            "--interactive-host",
            "127.0.0.3",
            "--interactive-no-token",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--interactive-no-token is allowed only with"),
        "{stderr}"
    );
    // The server's settings without a server to set up: a usage error, not ignored.
    for flags in [
        &["--interactive-token", "secret"][..],
        &["--interactive-host", "0.0.0.0"][..],
        &["--no-reload-watch"][..],
    ] {
        let refused = Command::new(PLAN).args(flags).output().unwrap();
        assert_eq!(refused.status.code(), Some(2), "{flags:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains(&format!("`{}` sets up the interactive server", flags[0])),
            "{stderr}"
        );
    }
    let other = Server::start("security-127-0-0-3", &["--interactive-host", "127.0.0.3"]);
    assert!(other.address.starts_with("127.0.0.3:"), "{}", other.address);
    assert!(other.token.is_some(), "a token on 127.0.0.3 too");
    assert_eq!(other.request_as(None, "GET", report, None, &[]).0, 401);
    assert_eq!(other.request("GET", report, None, &[]).0, 200);
    let open = Server::start("security-no-token", &["--interactive-no-token"]);
    assert!(open.token.is_none());
    assert_eq!(open.request_as(None, "GET", report, None, &[]).0, 200);
    let (status, _, _) = open.request(
        "POST",
        "/api/v1/interactive/cancel",
        None,
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(status, 403, "the other checks stay on without a token");
}

#[test]
fn the_token_is_in_no_report_and_no_log() {
    let dir = crate::util::scratch_dir("security-token-leak");
    let json = dir.join("report.json");
    let mut child = Command::new(PLAN)
        .args(["-i", "0", "--runpath"])
        .arg(dir.join("runpath"))
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // Interrupted however the test ends, a failed unwrap below included.
    let plan = crate::util::Interrupted(child);
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let (address, token) = crate::interactive::parse_url_line(&line);
    let token = token.unwrap();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let server = Server {
        _plan: plan,
        address,
        token: Some(token.clone()),
    };
    let (status, _, body) = server.request(
        "PUT",
        "/api/v1/interactive/report",
        Some(r#"{"runtime_status":"running"}"#),
        &[],
    );
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.node("EchoTest")["runtime_status"] != "finished" {
        assert!(Instant::now() < deadline, "the run finishes");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, full) = server.get("/api/v1/interactive/report/full");
    assert!(!full.to_string().contains(&token));
    let (_, config) = server.get("/api/v1/interactive/config");
    assert!(!config.to_string().contains(&token));
    drop(server); // Ctrl-C: the report is written
    let mut files = vec![json.clone(), dir.join("stderr.log")];
    let mut folders = vec![dir.join("runpath")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(json.exists(), "the JSON report is written on Ctrl-C");
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&token),
            "the token leaked into {}",
            file.display()
        );
    }
}

#[test]
fn a_page_on_another_origin_cannot_run_a_testcase_in_a_real_browser() {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    assert!(
        Path::new("/usr/bin/chromium").exists()
            && e2e.join("node_modules/playwright-core").exists(),
        "the browser tests need Debian's chromium and playwright-core: apt-get install -y chromium nodejs npm && npm ci --prefix examples/tests/e2e (.ci/run does this)"
    );
    let server = Server::start("security-browser", &["--reload-command", "false"]);
    let output = Command::new("node")
        .arg(e2e.join("cross_origin.mjs"))
        .arg(server.url())
        .output()
        .expect("node runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{text}");
    assert!(output.status.success(), "browser checks failed:\n{text}");
    assert!(text.contains(" passed, 0 failed"), "{text}");
    assert_untouched(&server);
}

/// schemathesis (from PyPI; `.ci/run` installs it) generates requests from the OpenAPI
/// document, valid and invalid, and checks every answer against it: statuses, bodies,
/// content types, valid data accepted and invalid data refused.
#[test]
fn schemathesis_finds_nothing_the_openapi_document_does_not_promise() {
    let installed = Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        installed,
        "this test needs schemathesis: pip install schemathesis (.ci/run does this)"
    );
    let server = Server::start("security-schemathesis", &["--reload-command", "false"]);
    let schema = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/testrig/src/interactive/openapi.json");
    let reports = crate::util::scratch_dir("security-schemathesis-report");
    let output = Command::new("schemathesis")
        .arg("run")
        .arg(&schema)
        .args(["--url", &format!("http://{}", server.address)])
        .args([
            "--header",
            &format!("X-Testrig-Token: {}", server.token.as_deref().unwrap()),
        ])
        .args([
            "--checks",
            "all",
            "--max-examples",
            "25",
            "--generation-deterministic",
        ])
        // A stream that never ends: the push-channel tests cover it.
        .args(["--exclude-path", "/api/v1/interactive/events"])
        .arg("--report-dir")
        .arg(&reports)
        .env("NO_COLOR", "1")
        .current_dir(&reports)
        .stdin(Stdio::null())
        .output()
        .expect("schemathesis runs");
    let text = String::from_utf8_lossy(&output.stdout);
    println!("{text}");
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("generated"), "{text}");
}

//! `testrig serve REPORT.json` serves the UI over a saved report.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use testrig::model::{NodeKind, Report, ReportNode, Status};

#[test]
fn serves_a_saved_report_in_the_ui() {
    let dir = std::env::temp_dir().join(format!("testrig-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut plan = ReportNode::new(NodeKind::Plan, "saved", "saved");
    let mut testcase = ReportNode::new(NodeKind::Testcase, "T/S/c", "c");
    testcase.status = Status::Passed;
    plan.children.push(testcase);
    plan.recompute();
    let path = dir.join("report.json");
    std::fs::write(
        &path,
        serde_json::to_string(&Report::new(plan, "host".into(), dir.display().to_string()))
            .unwrap(),
    )
    .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_testrig"))
        .arg("serve")
        .arg(&path)
        .args(["--allow-host", "devbox"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .unwrap()
        .trim()
        .trim_end_matches('/')
        .to_string();
    let get = |host: &str| {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        write!(
            stream,
            "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut page = String::new();
        stream.read_to_string(&mut page).unwrap();
        page
    };
    let page = get(&address);
    let port = address.rsplit(':').next().unwrap();
    let rebound = get(&format!("evil.example:{port}"));
    let allowed = get(&format!("devbox:{port}"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let head = page.split("\r\n\r\n").next().unwrap().to_lowercase();
    assert!(head.contains("x-frame-options: deny"), "{head}");
    assert!(head.contains("frame-ancestors 'none'"), "{head}");
    assert!(
        rebound.starts_with("HTTP/1.1 403") && !rebound.contains("TESTRIG_REPORT"),
        "a page reached by another name (DNS rebinding) gets nothing: {rebound}"
    );
    assert!(
        rebound.contains("--allow-host NAME"),
        "the refusal says how to allow a name: {rebound}"
    );
    assert!(
        allowed.starts_with("HTTP/1.1 200"),
        "a name given with --allow-host is served: {allowed}"
    );
    assert!(
        page.contains("window.TESTRIG_REPORT") && page.contains("\"T/S/c\""),
        "the report is inlined"
    );

    let bad = Command::new(env!("CARGO_BIN_EXE_testrig"))
        .args(["serve", "/no/such/report.json"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("failed to read the report `/no/such/report.json`")
    );
    std::fs::remove_dir_all(dir).unwrap();
}

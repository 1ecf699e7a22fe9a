//! A plan to explore interactive mode: an echo environment, fast and slow testcases, a
//! failure with values, an attachment.
//!
//! Run it: `cargo run -p testrig-examples --bin interactive -- -i` and open the printed URL.
//! Run testcases with their ▶ buttons, start and stop the environment, filter, cancel the
//! slow one.

use std::time::Duration;

use testrig::drivers::{TcpClient, TcpServer};
use testrig::prelude::*;

#[suite]
struct Echo;

#[suite]
impl Echo {
    /// What the client sends arrives at the server.
    #[testcase(tags = ["smoke"])]
    fn round_trip(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let client = env.driver::<TcpClient>("client");
        let server = env.driver::<TcpServer>("server");
        client.send_text("hello")?;
        result.equal(
            server.receive_text(5)?,
            "hello".to_string(),
            "server gets what the client sent",
        );
        Ok(())
    }

    /// Fails on purpose, to show values and a diff.
    #[testcase]
    fn shows_a_failure(&self, _env: &Env, result: &mut Recorder) {
        result.equal(6 * 9, 42, "the answer");
        result.equal_text(
            "port = 8081\nmode = fast\n",
            "port = 8080\nmode = fast\n",
            "rendered config",
        );
    }

    /// Writes a file and attaches it to the report.
    #[testcase]
    fn attaches_a_file(&self, env: &Env, result: &mut Recorder) -> std::io::Result<()> {
        let file = env.runpath().join("capture.txt");
        std::fs::write(&file, "captured traffic\n")?;
        result.attach(&file, "the capture");
        Ok(())
    }

    /// Takes a while: cancel it from the UI or the API.
    #[testcase(tags = ["slow"])]
    fn slow(&self, _env: &Env, result: &mut Recorder) {
        std::thread::sleep(Duration::from_secs(3));
        result.is_true(true, "waited");
    }

    #[testcase(parameters = [1, 2, 3])]
    fn square(&self, _env: &Env, result: &mut Recorder, n: u32) {
        result.equal(n * n, n.pow(2), "n squared");
    }
}

fn main() -> std::process::ExitCode {
    let server = TcpServer::new("server");
    let client = TcpClient::new("client")
        .host(context("server", "{{host}}"))
        .port(context("server", "{{port}}"));
    Plan::new("interactive")
        .add(
            MultiTest::new("EchoTest")
                .suite(Echo)
                .drivers([server.into(), client.into()]),
        )
        .run_from_args()
}

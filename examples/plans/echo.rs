//! The echo example of DESIGN.md: a mock TCP server and a client wired by context values.
//!
//! Run it: `cargo test -p testrig-examples --test echo -- --driver-info`

use std::time::Duration;

use testrig::drivers::{TcpClient, TcpServer};
use testrig::prelude::*;

#[suite]
struct Echo;

#[suite]
impl Echo {
    /// What the client sends arrives at the server, and back.
    #[testcase(tags = ["smoke"])]
    fn round_trip(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let client = env.driver::<TcpClient>("client");
        let server = env.driver::<TcpServer>("server");
        client.send(b"hello")?;
        result.equal(
            server.receive(5)?,
            b"hello".to_vec(),
            "server gets what the client sent",
        );
        server.send_text("world")?;
        result.equal(
            client.receive_text(5)?,
            "world".to_string(),
            "client gets the reply",
        );
        Ok(())
    }

    /// The client reached the server at the port the server published.
    #[testcase]
    fn wired_by_context(&self, env: &Env, result: &mut Recorder) {
        let server = env.attributes("server").unwrap_or_default();
        let client = env.attributes("client").unwrap_or_default();
        result.equal(
            &client["port"],
            &server["port"],
            "client port comes from the server",
        );
        result.log_value("server attributes", &server);
    }

    /// Receiving when nothing was sent times out with an error, not a hang.
    #[testcase]
    fn receive_times_out(&self, env: &Env, result: &mut Recorder) {
        let server = env.driver::<TcpServer>("server");
        let outcome = server.receive_from(0, 1, Duration::from_millis(100));
        result.raises(|| outcome, "timed out", "nothing to receive");
    }
}

fn main() -> std::process::ExitCode {
    let server = TcpServer::new("server");
    let client = TcpClient::new("client")
        .host(context("server", "{{host}}"))
        .port(context("server", "{{port}}"));
    Plan::new("echo")
        .add(
            MultiTest::new("echo")
                .suite(Echo)
                .drivers([server.into(), client.into()])
                .dependencies([("server", "client")]),
        )
        .run_from_args()
}

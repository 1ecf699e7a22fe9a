//! The App driver: a server binary built in this workspace (`echo_server`) listens on port 0
//! and prints its port; a log regex finds the line, its named groups become attributes, and
//! the other drivers are wired to them by context values, exported variables and a config
//! template.
//!
//! Run it: `cargo test -p testrig-examples --test app -- --driver-info`

use testrig::drivers::{App, TcpClient};
use testrig::prelude::*;

#[suite]
struct EchoService;

#[suite]
impl EchoService {
    /// Talks to the real server process over TCP.
    #[testcase]
    fn echoes_lines(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let client = env.driver::<TcpClient>("client");
        client.send_text("hello testrig\n")?;
        let reply = client.receive_until(b"\n")?;
        result.equal(
            String::from_utf8_lossy(&reply).as_ref(),
            "HELLO TESTRIG\n",
            "upper-cased echo",
        );
        Ok(())
    }

    /// The attributes the App published: its pid and what the regex extracted.
    #[testcase]
    fn publishes_attributes(&self, env: &Env, result: &mut Recorder) {
        let echo = env.driver::<App>("echo");
        let extracts = echo.extracts();
        result.equal(
            extracts.get("host").map(String::as_str),
            Some("127.0.0.1"),
            "host from the log line",
        );
        result.is_true(
            extracts
                .get("port")
                .is_some_and(|port| port.parse::<u16>().is_ok()),
            "a numeric port",
        );
        result.is_true(echo.pid().is_some(), "the process is running");
        result.log_value("echo attributes", &env.attributes("echo"));
    }

    /// Processes started by the environment see `DRIVER_<NAME>_ATTR_<ATTR>` variables, and
    /// config templates see `context["name"].attribute`.
    #[testcase]
    fn exports_variables_and_renders_templates(&self, env: &Env, result: &mut Recorder) {
        let port = env
            .driver::<App>("echo")
            .extracts()
            .get("port")
            .cloned()
            .unwrap_or_default();
        let reader = env.driver::<App>("config_reader").extracts();
        result.equal(
            reader.get("exported_port"),
            Some(&port),
            "DRIVER_ECHO_ATTR_PORT",
        );
        result.equal(
            reader.get("configured_port"),
            Some(&port),
            "rendered app.conf",
        );
    }
}

fn main() -> std::process::ExitCode {
    let echo = App::new("echo", env!("CARGO_BIN_EXE_echo_server"))
        .arg("--upper")
        .ready_on_stdout(r"listening on (?P<host>[^:]+):(?P<port>\d+)");
    let client = TcpClient::new("client")
        .host(context("echo", "{{host}}"))
        .port(context("echo", "{{port}}"));
    let config_reader = App::new("config_reader", "/bin/sh")
        .args([
            "-c",
            "echo \"exported $DRIVER_ECHO_ATTR_PORT\"; cat app.conf; exec sleep 600",
        ])
        .install_file("listen = {{ context[\"echo\"].port }}\n", "app.conf")
        .ready_on_stdout(r"exported (?P<exported_port>\d+)")
        .ready_on_stdout(r"listen = (?P<configured_port>\d+)");
    Plan::new("app")
        .add(
            MultiTest::new("EchoService")
                .suite(EchoService)
                .driver(echo)
                .driver(client)
                .driver(config_reader),
        )
        .run_from_args()
}

//! A real service: `redis-server` from Debian's packages (`apt-get install redis-server`),
//! started by the App driver on a free port with a config file rendered from a template,
//! ready when it logs "Ready to accept connections", and spoken to over its real protocol
//! (RESP) by a TcpClient.
//!
//! Run it: `cargo run -p testrig-examples --bin redis -- --driver-info`

use testrig::drivers::{App, TcpClient};
use testrig::prelude::*;

/// Sends one RESP command and reads one reply line.
fn command(client: &TcpClient, parts: &[&str]) -> Result<String, DriverError> {
    let mut request = format!("*{}\r\n", parts.len());
    for part in parts {
        request.push_str(&format!("${}\r\n{part}\r\n", part.len()));
    }
    client.send_text(&request)?;
    let line = client.receive_until(b"\r\n")?;
    Ok(String::from_utf8_lossy(&line).trim_end().to_string())
}

#[suite]
struct Redis;

#[suite]
impl Redis {
    #[testcase]
    fn ping(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        // A test that kills the plan mid-run holds it here.
        if let Some(seconds) = std::env::var("REDIS_EXAMPLE_HOLD")
            .ok()
            .and_then(|value| value.parse().ok())
        {
            std::thread::sleep(std::time::Duration::from_secs(seconds));
        }
        let client = env.driver::<TcpClient>("client");
        result.equal(command(client, &["PING"])?, "+PONG", "PING answers PONG");
        Ok(())
    }

    #[testcase]
    fn set_and_get(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let client = env.driver::<TcpClient>("client");
        result.equal(
            command(client, &["SET", "greeting", "hello"])?,
            "+OK",
            "SET",
        );
        result.equal(
            command(client, &["GET", "greeting"])?,
            "$5",
            "GET returns a 5-byte string",
        );
        let value = client.receive_until(b"\r\n")?;
        result.equal(
            String::from_utf8_lossy(&value).trim_end(),
            "hello",
            "the value",
        );
        result.equal(command(client, &["DBSIZE"])?, ":1", "one key");
        Ok(())
    }

    /// The config file the environment rendered is the one redis loaded.
    #[testcase]
    fn uses_the_rendered_config(
        &self,
        env: &Env,
        result: &mut Recorder,
    ) -> Result<(), DriverError> {
        let client = env.driver::<TcpClient>("client");
        let reply = command(client, &["CONFIG", "GET", "maxmemory-policy"])?;
        result.equal(reply, "*2", "an array of name and value");
        let _name = (
            client.receive_until(b"\r\n")?,
            client.receive_until(b"\r\n")?,
        );
        let _value_length = client.receive_until(b"\r\n")?;
        let value = client.receive_until(b"\r\n")?;
        result.equal(
            String::from_utf8_lossy(&value).trim_end(),
            "allkeys-lru",
            "maxmemory-policy from redis.conf",
        );
        Ok(())
    }
}

/// A port nobody listens on right now (redis cannot pick one itself: port 0 turns TCP off).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|a| a.port())
        .unwrap_or(6399)
}

fn main() -> std::process::ExitCode {
    let port = free_port();
    let redis = App::new("redis", "redis-server")
        .arg("redis.conf")
        .install_file(
            format!("port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\nmaxmemory-policy allkeys-lru\n"),
            "redis.conf",
        )
        .ready_on_stdout("Ready to accept connections")
        .ready_on_tcp_port("127.0.0.1", port);
    let client = TcpClient::new("client").host("127.0.0.1").port(port);
    Plan::new("redis")
        .add(
            MultiTest::new("Redis")
                .suite(Redis)
                .driver(redis)
                .driver(client),
        )
        .run_from_args()
}

//! The service drivers against real servers when things go wrong, for the integration
//! tests: a config the server rejects, a server killed mid-run, fifty servers starting at
//! once on free ports, an environment whose connection graph has three parties, and a
//! postgres that runs (its background workers must not outlive the plan).
//!
//! Run it: `cargo run -p testrig-examples --bin service_faults -- --driver-info`

use std::time::{Duration, Instant};

use serde_json::json;
use testrig::drivers::{App, Postgres, Redis, TcpClient, WaitFor};
use testrig::env::Driver;
use testrig::prelude::*;

/// Servers started at once by the `ManyAtOnce` test.
const MANY: usize = 50;

#[suite]
struct Graph;

#[suite]
impl Graph {
    /// The driver's own client connects too: `testcases → cache`.
    #[testcase]
    fn ping(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let cache = env.driver::<Redis>("cache");
        result.equal(cache.command(["PING"])?, json!("PONG"), "PING");
        Ok(())
    }
}

#[suite]
struct Killed;

#[suite]
impl Killed {
    /// SIGKILL to the server, as an OOM kill would.
    #[testcase]
    fn kill_the_server(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let cache = env.driver::<Redis>("cache");
        let pid = cache.attributes()["pid"].as_u64().unwrap_or_default();
        let killed = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .is_ok_and(|status| status.success());
        result.is_true(killed, "kill -9 of the server");
        let deadline = Instant::now() + Duration::from_secs(5);
        while cache.failure().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Runs after the kill: reported as not run, naming the dead driver.
    #[testcase]
    fn after_the_kill(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let cache = env.driver::<Redis>("cache");
        result.equal(cache.command(["PING"])?, json!("PONG"), "PING");
        Ok(())
    }
}

#[suite]
struct Many;

#[suite]
impl Many {
    /// Every server got a port of its own and answers on it.
    #[testcase]
    fn all_answer(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let mut ports = Vec::new();
        for index in 0..MANY {
            let cache = env.driver::<Redis>(&format!("cache{index}"));
            ports.push(cache.port().unwrap_or_default());
            cache.command(["SET", "index", &index.to_string()])?;
        }
        for index in 0..MANY {
            let cache = env.driver::<Redis>(&format!("cache{index}"));
            result.equal(
                cache.command(["GET", "index"])?,
                json!(index.to_string()),
                format!("cache{index} is its own server"),
            );
        }
        ports.sort_unstable();
        ports.dedup();
        result.equal(ports.len(), MANY, "distinct ports");
        Ok(())
    }
}

#[suite]
struct Queries;

#[suite]
impl Queries {
    #[testcase]
    fn select(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let db = env.driver::<Postgres>("db");
        result.equal(db.query_value("select 6 * 7", ())?, json!(42), "6 * 7");
        Ok(())
    }
}

#[suite]
struct Unused;

#[suite]
impl Unused {
    #[testcase]
    fn never_runs(&self, _env: &Env, _result: &mut Recorder) -> Result<(), DriverError> {
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    // A process of the environment holding a connection to the server.
    let holder = App::new("holder", "python3")
        .args(["-c", "import socket, sys, time\ns = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\nprint('connected', flush=True)\ntime.sleep(600)"])
        .arg(context("cache", "{{port}}"))
        .ready_when(WaitFor::stdout("connected"));
    let client = TcpClient::new("client")
        .host(context("cache", "{{host}}"))
        .port(context("cache", "{{port}}"));
    let many: Vec<_> = (0..MANY)
        .map(|index| Redis::new(format!("cache{index}")).async_start(true).into())
        .collect();
    Plan::new("service_faults")
        .add(
            MultiTest::new("Graph")
                .suite(Graph)
                .driver(Redis::new("cache"))
                .driver(holder)
                .driver(client),
        )
        .add(
            MultiTest::new("RedisBadConfig")
                .suite(Unused)
                .driver(Redis::new("cache").setting("no-such-directive", "1")),
        )
        .add(
            MultiTest::new("PostgresBadSetting")
                .suite(Unused)
                .driver(Postgres::new("db").setting("shared_buffers", "plenty")),
        )
        .add(
            MultiTest::new("Killed")
                .suite(Killed)
                .driver(Redis::new("cache")),
        )
        .add(MultiTest::new("ManyAtOnce").suite(Many).drivers(many))
        .add(
            MultiTest::new("PostgresRuns")
                .suite(Queries)
                .driver(Postgres::new("db")),
        )
        .run_from_args()
}

//! A real redis-server in one line: `Redis::new("cache")` renders a config into the driver's
//! runpath, starts the machine's `redis-server` (Debian's `redis-server` package) on a free
//! port and gives testcases a client whose replies are JSON. A second driver, an App, reads
//! the server's numeric port through a context value, as a service under test would.
//!
//! Run it: `cargo test -p testrig-examples --test redis -- -v`

use serde_json::json;
use testrig::drivers::{App, Redis, WaitFor};
use testrig::prelude::*;

#[suite]
struct Cache;

#[suite]
impl Cache {
    #[testcase]
    fn set_and_get(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let cache = env.driver::<Redis>("cache");
        result.equal(
            cache.command(["SET", "greeting", "hello"])?,
            json!("OK"),
            "SET",
        );
        result.equal(cache.command(["GET", "greeting"])?, json!("hello"), "GET");
        result.equal(
            cache.command(["GET", "missing"])?,
            json!(null),
            "a missing key",
        );
        result.equal(cache.command(["INCRBY", "hits", "5"])?, json!(5), "INCRBY");
        cache.command(["RPUSH", "queue", "a", "b"])?;
        result.equal(
            cache.command(["LRANGE", "queue", "0", "-1"])?,
            json!(["a", "b"]),
            "a list",
        );
        Ok(())
    }

    /// The settings given to the driver are in the config the server loaded.
    #[testcase]
    fn uses_its_settings(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let cache = env.driver::<Redis>("cache");
        result.equal(
            cache.command(["CONFIG", "GET", "maxmemory-policy"])?,
            json!(["maxmemory-policy", "allkeys-lru"]),
            "maxmemory-policy",
        );
        let error = cache.command(["NOSUCHCOMMAND"]).unwrap_err();
        result.contain(
            "unknown command",
            &error.message,
            "an error reply is an error",
        );
        Ok(())
    }

    /// Another program connects with the port the driver published.
    #[testcase]
    fn a_client_program_connects(
        &self,
        env: &Env,
        result: &mut Recorder,
    ) -> Result<(), DriverError> {
        let cli = env.driver::<App>("cli");
        let stdout =
            std::fs::read_to_string(cli.stdout_path().unwrap_or_default()).unwrap_or_default();
        result.contain("PONG", &stdout, "redis-cli got PONG");
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    let cache = Redis::new("cache").setting("maxmemory-policy", "allkeys-lru");
    // redis-cli pings once a second until the plan stops it.
    let cli = App::new("cli", "sh")
        .arg("-c")
        .arg(context(
            "cache",
            "while redis-cli -p {{port}} PING; do sleep 1; done",
        ))
        .ready_when(WaitFor::stdout("PONG"));
    Plan::new("redis")
        .add(
            MultiTest::new("Redis")
                .suite(Cache)
                .driver(cache)
                .driver(cli),
        )
        .run_from_args()
}

//! The `Redis` driver: a real `redis-server` from the machine's installation (Debian's
//! `redis-server` package) with a config rendered into its runpath, a free port, no
//! persistence, and a client for testcases.
//!
//! The server is an [`App`] underneath (its own process group, logs in the runpath, crashes
//! reported with the log tail); ready means it logged "Ready to accept connections" and its
//! port accepts.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;

use crate::drivers::service::{
    ServiceRun, already_running, find_program, not_started, spawn_on_free_port, wait_on_free_port,
};
use crate::drivers::{App, WaitFor};
use crate::env::{
    Attributes, Driver, DriverCommon, DriverError, DriverSettings, StartContext, default_definition,
};

/// How long a command may take before the client gives up on it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// A redis-server for a test's environment.
///
/// Attributes: `host`, `port` (a number), `url` (`redis://127.0.0.1:PORT/`), `config`, and
/// the server process's `pid`, `cmd`, `stdout`, `stderr`.
///
/// ```ignore
/// let cache = Redis::new("cache").setting("maxmemory", "16mb");
/// // in a testcase:
/// let cache = env.driver::<Redis>("cache");
/// cache.command(["SET", "greeting", "hello"])?;
/// result.equal(cache.command(["GET", "greeting"])?, json!("hello"), "stored");
/// ```
pub struct Redis {
    common: DriverCommon,
    settings: Vec<(String, String)>,
    state: Mutex<RedisState>,
    /// The testcases' connection, apart from the server's state: a query that blocks holds
    /// only this lock, never what `stop`, `failure` and `attributes` need.
    client: Mutex<Option<redis::Connection>>,
}

#[derive(Default)]
struct RedisState {
    server: Option<ServiceRun>,
}

impl Redis {
    /// A server named `name`: no persistence, bound to 127.0.0.1 on a free port.
    pub fn new(name: impl Into<String>) -> Redis {
        Redis {
            common: DriverCommon::new(name),
            settings: Vec::new(),
            state: Mutex::new(RedisState::default()),
            client: Mutex::new(None),
        }
    }

    /// A line of the config file (`setting("maxmemory-policy", "allkeys-lru")`).
    pub fn setting(mut self, key: impl Into<String>, value: impl Into<String>) -> Redis {
        self.settings.push((key.into(), value.into()));
        self
    }

    fn state(&self) -> MutexGuard<'_, RedisState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The port the server listens on (once started).
    pub fn port(&self) -> Option<u16> {
        self.state()
            .server
            .as_ref()
            .map(|server| server.port.port())
    }

    /// Runs a command (`["HSET", "user:1", "name", "ada"]`) and returns the reply as JSON:
    /// strings, integers, `null`, arrays; maps as objects. An error reply is an error.
    pub fn command<I, S>(&self, words: I) -> Result<Value, DriverError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let words: Vec<String> = words.into_iter().map(|word| word.as_ref().into()).collect();
        let name = &self.common.name;
        let shown = words.join(" ");
        let Some(first) = words.first() else {
            return Err(DriverError::new(format!(
                "an empty command for redis `{name}`: give at least the command's name"
            )));
        };
        let Some(port) = self.port() else {
            return Err(DriverError::new(format!(
                "redis `{name}` is not running; start its environment before using it"
            )));
        };
        let mut slot = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        if slot
            .as_ref()
            .is_some_and(|client| !redis::ConnectionLike::is_open(client))
        {
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some(connect(port).map_err(|error| {
                DriverError::new(format!(
                    "failed to connect to redis `{name}` on port {port}: {error}"
                ))
                .with_source(error)
            })?);
        }
        let client = slot.as_mut().expect("connected above");
        let mut command = redis::cmd(first);
        for word in &words[1..] {
            command.arg(word);
        }
        let reply: redis::Value = command.query(client).map_err(|error| {
            // A broken connection is opened again by the next command.
            if error.is_io_error() || error.is_connection_dropped() {
                *slot = None;
            }
            DriverError::new(format!("`{shown}` failed on redis `{name}`: {error}"))
                .with_source(error)
        })?;
        Ok(reply_to_json(reply))
    }

    /// The server for `port`, with its config rendered into the runpath.
    fn server_app(&self, runpath: &Path, binary: &Path, port: u16) -> Result<App, DriverError> {
        let name = &self.common.name;
        let mut config = format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nsave \"\"\nappendonly no\ndaemonize no\nlogfile \"\"\n",
            quote(&runpath.display().to_string())
        );
        for (key, value) in &self.settings {
            config.push_str(&format!("{key} {value}\n"));
        }
        let path = runpath.join("redis.conf");
        std::fs::write(&path, config).map_err(|error| {
            DriverError::new(format!(
                "failed to write the config `{}` of redis `{name}`: {error}",
                path.display()
            ))
        })?;
        Ok(App::new(name.clone(), binary.display().to_string())
            .arg(path.display().to_string())
            .ready_when(WaitFor::all([
                WaitFor::stdout("Ready to accept connections"),
                WaitFor::tcp_port("127.0.0.1", port.to_string()),
            ]))
            .stop_timeout(self.common.stop_timeout))
    }
}

fn connect(port: u16) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let connection = client.get_connection_with_timeout(COMMAND_TIMEOUT)?;
    connection.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    connection.set_write_timeout(Some(COMMAND_TIMEOUT))?;
    Ok(connection)
}

/// A config value in double quotes, as redis reads them.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn reply_to_json(reply: redis::Value) -> Value {
    use redis::Value as Reply;
    match reply {
        Reply::Nil => Value::Null,
        Reply::Int(number) => Value::from(number),
        Reply::BulkString(bytes) => Value::from(String::from_utf8_lossy(&bytes).into_owned()),
        Reply::Array(items) | Reply::Set(items) => {
            Value::Array(items.into_iter().map(reply_to_json).collect())
        }
        Reply::SimpleString(text) => Value::from(text),
        Reply::Okay => Value::from("OK"),
        Reply::Map(pairs) => Value::Object(
            pairs
                .into_iter()
                .map(|(key, value)| {
                    let key = match reply_to_json(key) {
                        Value::String(text) => text,
                        other => other.to_string(),
                    };
                    (key, reply_to_json(value))
                })
                .collect(),
        ),
        Reply::Attribute { data, .. } => reply_to_json(*data),
        Reply::Double(number) => serde_json::Number::from_f64(number)
            .map(Value::Number)
            .unwrap_or_else(|| Value::from(number.to_string())),
        Reply::Boolean(flag) => Value::from(flag),
        Reply::VerbatimString { text, .. } => Value::from(text),
        other => Value::from(format!("{other:?}")),
    }
}

impl DriverSettings for Redis {
    fn common_mut(&mut self) -> &mut DriverCommon {
        &mut self.common
    }
}

impl Driver for Redis {
    fn common(&self) -> &DriverCommon {
        &self.common
    }

    fn kind(&self) -> &'static str {
        "Redis"
    }

    fn start(&self, context: &StartContext) -> Result<(), DriverError> {
        if self.state().server.is_some() {
            return Err(already_running("redis", &self.common.name));
        }
        let binary = find_program("redis-server", &[], "redis-server", &self.common.name)?;
        let runpath = std::path::absolute(&context.runpath).unwrap_or(context.runpath.clone());
        let server = spawn_on_free_port(context, |port| self.server_app(&runpath, &binary, port))?;
        self.state().server = Some(server);
        Ok(())
    }

    fn wait_ready(&self, context: &StartContext) -> Result<(), DriverError> {
        // Resolved before the server is taken out of the state, so an error cannot drop it.
        let binary = find_program("redis-server", &[], "redis-server", &self.common.name)?;
        let Some(mut server) = self.state().server.take() else {
            return Err(not_started("redis", &self.common.name));
        };
        let runpath = std::path::absolute(&context.runpath).unwrap_or(context.runpath.clone());
        let waited = wait_on_free_port(&mut server, context, |port| {
            self.server_app(&runpath, &binary, port)
        });
        self.state().server = Some(server);
        waited
    }

    fn stop(&self) -> Result<(), DriverError> {
        // The testcases' connection goes first (it would hold up postgres's smart shutdown);
        // one busy with a query is cut by the server's stop instead of waited for.
        if let Ok(mut client) = self.client.try_lock() {
            *client = None;
        }
        let server = {
            let mut state = self.state();
            state.server.take()
        };
        server.map_or(Ok(()), |server| server.app.stop())
    }

    fn attributes(&self) -> Attributes {
        let state = self.state();
        let Some(server) = &state.server else {
            return Attributes::new();
        };
        let mut attributes = server.app.attributes();
        let port = server.port.port();
        attributes.insert("host".into(), Value::from("127.0.0.1"));
        attributes.insert("port".into(), Value::from(port));
        attributes.insert(
            "url".into(),
            Value::from(format!("redis://127.0.0.1:{port}/")),
        );
        if let Some(runpath) = attributes.get("runpath").and_then(Value::as_str) {
            let config = Path::new(runpath).join("redis.conf");
            attributes.insert("config".into(), Value::from(config.display().to_string()));
        }
        attributes
    }

    fn failure(&self) -> Option<DriverError> {
        ServiceRun::failure_of(self.state().server.as_ref())
    }

    fn log_tail(&self, lines: usize) -> Vec<String> {
        ServiceRun::log_tail_of(self.state().server.as_ref(), lines)
    }

    fn definition(&self) -> String {
        format!("{} settings={:?}", default_definition(self), self.settings)
    }
}

//! The `Zookeeper` driver: a real standalone ZooKeeper server from the machine's
//! installation (Debian's `zookeeper` package and a Java runtime), with its config and data
//! in the driver's runpath, a free port, and its four-letter-word commands for testcases.
//!
//! The server runs as `java … QuorumPeerMain zoo.cfg` directly (not `zkServer.sh`), so the
//! driver's process is the JVM itself and its log goes to stdout; ZooKeeper 3.8 logs no line
//! that means "ready", so readiness is its `ruok` command answering `imok`. The JVM is kept
//! small (64 MB heap, serial GC, no perf data file). No client library is needed: the
//! four-letter words are plain TCP; a service under test connects with `connection_str`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
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

/// Where Debian's `zookeeper` package puts its jars, and the logging binding that makes the
/// server log at all (without it SLF4J falls back to a no-op logger).
const JARS: [&str; 3] = [
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/slf4j-log4j12.jar",
    "/usr/share/java/log4j-1.2.jar",
];

/// How long a four-letter-word command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the readiness probe waits for `imok` before asking again.
const PROBE_TIMEOUT: Duration = Duration::from_millis(50);

/// A standalone ZooKeeper server for a test's environment.
///
/// Attributes: `host`, `port` (a number), `connection_str` (`127.0.0.1:PORT`), `data_dir`,
/// `config`, and the JVM's `pid`, `cmd`, `stdout`, `stderr`.
///
/// ```ignore
/// let zk = Zookeeper::new("zk");
/// // in a testcase:
/// let zk = env.driver::<Zookeeper>("zk");
/// result.contain("Mode: standalone", &zk.command("srvr")?, "standalone");
/// ```
pub struct Zookeeper {
    common: DriverCommon,
    settings: Vec<(String, String)>,
    state: Mutex<Option<ServiceRun>>,
}

impl Zookeeper {
    /// A server named `name`: standalone, bound to 127.0.0.1 on a free port.
    pub fn new(name: impl Into<String>) -> Zookeeper {
        Zookeeper {
            common: DriverCommon::new(name),
            settings: Vec::new(),
            state: Mutex::new(None),
        }
    }

    /// A line of `zoo.cfg` (`setting("maxClientCnxns", "10")`).
    pub fn setting(mut self, key: impl Into<String>, value: impl Into<String>) -> Zookeeper {
        self.settings.push((key.into(), value.into()));
        self
    }

    fn state(&self) -> MutexGuard<'_, Option<ServiceRun>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The port the server listens on (once started).
    pub fn port(&self) -> Option<u16> {
        self.state().as_ref().map(|server| server.port.port())
    }

    /// `127.0.0.1:PORT`, what ZooKeeper clients take (once started).
    pub fn connection_str(&self) -> Option<String> {
        self.port().map(|port| format!("127.0.0.1:{port}"))
    }

    /// Sends a four-letter-word command (`ruok`, `srvr`, `stat`, `mntr`, `conf`, `envi`,
    /// `cons`, `wchs`, `dump`) and returns the server's answer.
    pub fn command(&self, word: &str) -> Result<String, DriverError> {
        let name = &self.common.name;
        let Some(port) = self.port() else {
            return Err(DriverError::new(format!(
                "zookeeper `{name}` is not running; start its environment before using it"
            )));
        };
        four_letter_word(port, word, COMMAND_TIMEOUT).map_err(|error| {
            DriverError::new(format!(
                "`{word}` failed on zookeeper `{name}` (port {port}): {error}"
            ))
            .with_source(error)
        })
    }

    /// The server for `port`, with its config rendered into the runpath.
    fn server_app(&self, runpath: &Path, java: &Path, port: u16) -> Result<App, DriverError> {
        let name = &self.common.name;
        let data_dir = runpath.join("data");
        let mut config = format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=*\n",
            data_dir.display()
        );
        for (key, value) in &self.settings {
            config.push_str(&format!("{key}={value}\n"));
        }
        let logging = "log4j.rootLogger=INFO, CONSOLE\nlog4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\nlog4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\nlog4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n\n";
        let write = |file: &str, text: &str| {
            let path = runpath.join(file);
            std::fs::create_dir_all(&data_dir)
                .and_then(|()| std::fs::write(&path, text))
                .map(|()| path.clone())
                .map_err(|error| {
                    DriverError::new(format!(
                        "failed to write `{}` of zookeeper `{name}`: {error}",
                        path.display()
                    ))
                })
        };
        let config = write("zoo.cfg", &config)?;
        let logging = write("log4j.properties", logging)?;
        // A server still starting may hold a connection without answering: the probe asks
        // again soon rather than waiting on it.
        let ruok = move |_: &Attributes| {
            four_letter_word(port, "ruok", PROBE_TIMEOUT)
                .map(|answer| answer == "imok")
                .map_err(|error| error.to_string())
        };
        Ok(App::new(name.clone(), java.display().to_string())
            .args([
                "-Xms16m",
                "-Xmx64m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-XX:-UsePerfData",
                "-XX:MaxMetaspaceSize=64m",
            ])
            .arg(format!("-Dlog4j.configuration=file:{}", logging.display()))
            .args(["-cp", &JARS.join(":")])
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(config.display().to_string())
            .ready_when(WaitFor::probe("`ruok` answering `imok`", ruok))
            .stop_timeout(self.common.stop_timeout))
    }
}

fn four_letter_word(port: u16, word: &str, timeout: Duration) -> std::io::Result<String> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(word.as_bytes())?;
    // The server answers and closes.
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// The Java runtime and ZooKeeper's jars, or an error naming the package to install.
fn installation(name: &str) -> Result<PathBuf, DriverError> {
    let java = find_program("java", &[], "default-jre-headless", name)?;
    if let Some(missing) = JARS.iter().find(|jar| !Path::new(jar).exists()) {
        return Err(DriverError::new(format!(
            "`{missing}` (for driver `{name}`) is not installed: install Debian's `zookeeper` package (apt-get install zookeeper)"
        )));
    }
    Ok(java)
}

impl DriverSettings for Zookeeper {
    fn common_mut(&mut self) -> &mut DriverCommon {
        &mut self.common
    }
}

impl Driver for Zookeeper {
    fn common(&self) -> &DriverCommon {
        &self.common
    }

    fn kind(&self) -> &'static str {
        "Zookeeper"
    }

    fn start(&self, context: &StartContext) -> Result<(), DriverError> {
        if self.state().is_some() {
            return Err(already_running("zookeeper", &self.common.name));
        }
        let java = installation(&self.common.name)?;
        let runpath = std::path::absolute(&context.runpath).unwrap_or(context.runpath.clone());
        let server = spawn_on_free_port(context, |port| self.server_app(&runpath, &java, port))?;
        *self.state() = Some(server);
        Ok(())
    }

    fn wait_ready(&self, context: &StartContext) -> Result<(), DriverError> {
        // Resolved before the server is taken out of the state, so an error cannot drop it.
        let java = installation(&self.common.name)?;
        let Some(mut server) = self.state().take() else {
            return Err(not_started("zookeeper", &self.common.name));
        };
        let runpath = std::path::absolute(&context.runpath).unwrap_or(context.runpath.clone());
        let waited = wait_on_free_port(&mut server, context, |port| {
            self.server_app(&runpath, &java, port)
        });
        *self.state() = Some(server);
        waited
    }

    fn stop(&self) -> Result<(), DriverError> {
        let server = self.state().take();
        server.map_or(Ok(()), |server| server.app.stop())
    }

    fn attributes(&self) -> Attributes {
        let state = self.state();
        let Some(server) = state.as_ref() else {
            return Attributes::new();
        };
        let mut attributes = server.app.attributes();
        let port = server.port.port();
        attributes.insert("host".into(), Value::from("127.0.0.1"));
        attributes.insert("port".into(), Value::from(port));
        attributes.insert(
            "connection_str".into(),
            Value::from(format!("127.0.0.1:{port}")),
        );
        if let Some(runpath) = attributes.get("runpath").and_then(Value::as_str) {
            let runpath = PathBuf::from(runpath);
            attributes.insert(
                "data_dir".into(),
                Value::from(runpath.join("data").display().to_string()),
            );
            attributes.insert(
                "config".into(),
                Value::from(runpath.join("zoo.cfg").display().to_string()),
            );
        }
        attributes
    }

    fn failure(&self) -> Option<DriverError> {
        ServiceRun::failure_of(self.state().as_ref())
    }

    fn log_tail(&self, lines: usize) -> Vec<String> {
        ServiceRun::log_tail_of(self.state().as_ref(), lines)
    }

    fn definition(&self) -> String {
        format!("{} settings={:?}", default_definition(self), self.settings)
    }
}

//! Readiness as a value: what a driver waits for before the environment calls it ready.
//!
//! A [`WaitFor`] is a log line (stdout, stderr or a log file the program writes), a TCP port
//! that accepts, an HTTP answer, a file that exists, a probe of your own, or `all`/`any` of
//! those. App takes any number of them (all must hold); the service drivers build theirs
//! from the same pieces. At start the conditions are resolved against the started drivers'
//! attributes into a [`Waiting`] tree that the driver's readiness wait checks at every
//! wake-up (a write to a watched log, or the poll interval); each condition, once met, stays
//! met, and what is still pending is what the timeout message names.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::regex_engine::Regex;

use crate::env::{Attributes, ConfigValue, DriverError, StartContext};

/// A probe of your own: `Ok(true)` once ready, `Ok(false)` (or an error, shown if the wait
/// times out) while not yet. It sees the attributes the driver has so far (`pid`, values
/// extracted from its logs).
pub type ReadinessProbe = Arc<dyn Fn(&Attributes) -> Result<bool, String> + Send + Sync>;

/// A readiness condition (testcontainers' `WaitFor`): combine them with [`WaitFor::all`] and
/// [`WaitFor::any`] and give them to a driver (`App::ready_when`).
///
/// ```ignore
/// App::new("db", "postgres").ready_when(WaitFor::all([
///     WaitFor::stderr("ready to accept connections"),
///     WaitFor::tcp_port("127.0.0.1", context("ports", "{{db}}")),
/// ]));
/// ```
#[derive(Clone)]
pub struct WaitFor(Condition);

#[derive(Clone)]
enum Condition {
    Log {
        source: LogSource,
        regex: Regex,
    },
    TcpPort {
        host: ConfigValue,
        port: ConfigValue,
    },
    Http {
        url: ConfigValue,
    },
    File(ConfigValue),
    Probe {
        name: String,
        probe: ReadinessProbe,
    },
    All(Vec<WaitFor>),
    Any(Vec<WaitFor>),
    /// A condition the builder could not take (an invalid regex): reported as a plan error.
    Invalid(String),
}

#[derive(Clone, Debug)]
enum LogSource {
    Stdout,
    Stderr,
    File(ConfigValue),
}

impl WaitFor {
    fn log(source: LogSource, method: &str, regex: &str) -> WaitFor {
        match Regex::new(regex) {
            Ok(regex) => WaitFor(Condition::Log { source, regex }),
            Err(error) => {
                let reason = crate::regex_engine::reason(&error);
                WaitFor(Condition::Invalid(format!(
                    "{method}: invalid regex `{regex}` ({reason}); fix the pattern (`regex` crate syntax)"
                )))
            }
        }
    }

    /// A stdout (or, with `stderr`, stderr) condition whose invalid regex is reported under
    /// the name of the builder method that took it (`ready_on_stdout`).
    pub(crate) fn output_line(stderr: bool, method: &str, regex: &str) -> WaitFor {
        let source = if stderr {
            LogSource::Stderr
        } else {
            LogSource::Stdout
        };
        WaitFor::log(source, method, regex)
    }

    /// A line of the program's stdout matches `regex`; its named groups (`(?P<port>\d+)`)
    /// become attributes. A regex that does not parse is a plan error (exit 2).
    pub fn stdout(regex: &str) -> WaitFor {
        WaitFor::log(LogSource::Stdout, "WaitFor::stdout", regex)
    }

    /// A line of the program's stderr matches `regex`; its named groups become attributes.
    pub fn stderr(regex: &str) -> WaitFor {
        WaitFor::log(LogSource::Stderr, "WaitFor::stderr", regex)
    }

    /// A line of a log file the program writes (relative to its working directory) matches
    /// `regex`; its named groups become attributes. The file may appear only later.
    pub fn log_file(path: impl Into<ConfigValue>, regex: &str) -> WaitFor {
        WaitFor::log(LogSource::File(path.into()), "WaitFor::log_file", regex)
    }

    /// A TCP connection to `host:port` succeeds.
    pub fn tcp_port(host: impl Into<ConfigValue>, port: impl Into<ConfigValue>) -> WaitFor {
        WaitFor(Condition::TcpPort {
            host: host.into(),
            port: port.into(),
        })
    }

    /// An HTTP GET of `url` (`http://` only) gets a response, whatever its status.
    pub fn http(url: impl Into<ConfigValue>) -> WaitFor {
        WaitFor(Condition::Http { url: url.into() })
    }

    /// The file `path` (relative to the program's working directory) exists.
    pub fn file(path: impl Into<ConfigValue>) -> WaitFor {
        WaitFor(Condition::File(path.into()))
    }

    /// A probe of your own, named for messages; see [`ReadinessProbe`].
    pub fn probe(
        name: impl Into<String>,
        probe: impl Fn(&Attributes) -> Result<bool, String> + Send + Sync + 'static,
    ) -> WaitFor {
        WaitFor(Condition::Probe {
            name: name.into(),
            probe: Arc::new(probe),
        })
    }

    /// Every one of `conditions` holds.
    pub fn all(conditions: impl IntoIterator<Item = WaitFor>) -> WaitFor {
        WaitFor(Condition::All(conditions.into_iter().collect()))
    }

    /// At least one of `conditions` holds.
    pub fn any(conditions: impl IntoIterator<Item = WaitFor>) -> WaitFor {
        WaitFor(Condition::Any(conditions.into_iter().collect()))
    }

    /// What the builder refused (invalid regexes), for the plan's validation.
    pub(crate) fn problems(&self) -> Vec<String> {
        match &self.0 {
            Condition::Invalid(message) => vec![message.clone()],
            Condition::Any(conditions) if conditions.is_empty() => {
                vec!["WaitFor::any([]) can never hold; give it at least one condition".to_string()]
            }
            Condition::All(conditions) | Condition::Any(conditions) => {
                conditions.iter().flat_map(WaitFor::problems).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The context values it reads, so the environment starts their drivers first.
    pub(crate) fn context_values(&self) -> Vec<&ConfigValue> {
        match &self.0 {
            Condition::Log {
                source: LogSource::File(path),
                ..
            } => vec![path],
            Condition::TcpPort { host, port } => vec![host, port],
            Condition::Http { url } => vec![url],
            Condition::File(path) => vec![path],
            Condition::All(conditions) | Condition::Any(conditions) => conditions
                .iter()
                .flat_map(WaitFor::context_values)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The condition as text, settings unresolved (a driver's definition, for code reload).
    pub(crate) fn definition(&self) -> String {
        match &self.0 {
            Condition::Log { source, regex } => format!("log({source:?}, {:?})", regex.as_str()),
            Condition::TcpPort { host, port } => format!("tcp({host:?}, {port:?})"),
            Condition::Http { url } => format!("http({url:?})"),
            Condition::File(path) => format!("file({path:?})"),
            Condition::Probe { name, .. } => format!("probe({name:?})"),
            Condition::All(conditions) | Condition::Any(conditions) => {
                let word = if matches!(self.0, Condition::All(_)) {
                    "all"
                } else {
                    "any"
                };
                let parts: Vec<String> = conditions.iter().map(WaitFor::definition).collect();
                format!("{word}({})", parts.join(", "))
            }
            Condition::Invalid(message) => format!("invalid({message:?})"),
        }
    }

    /// The condition with its settings resolved, ready to be checked; `working_dir` is where
    /// relative paths point.
    pub(crate) fn resolve(
        &self,
        context: &StartContext,
        working_dir: &Path,
    ) -> Result<Waiting, DriverError> {
        let node = match &self.0 {
            Condition::Log { source, regex } => {
                let source = match source {
                    LogSource::Stdout => ResolvedLog::Stdout,
                    LogSource::Stderr => ResolvedLog::Stderr,
                    LogSource::File(path) => {
                        ResolvedLog::File(working_dir.join(context.resolve(path)?))
                    }
                };
                Node::Log {
                    source,
                    regex: regex.clone(),
                    watch: LogWatch::default(),
                }
            }
            Condition::TcpPort { host, port } => {
                let text = context.resolve(port)?;
                let port = text.trim().parse().map_err(|_| {
                    DriverError::new(format!(
                        "readiness on a tcp port: port `{text}` is not a number from 0 to 65535"
                    ))
                })?;
                Node::Tcp(TcpProbe::new(&context.resolve(host)?, port))
            }
            Condition::Http { url } => Node::Http(
                parse_http_url(&context.resolve(url)?)
                    .map_err(|message| DriverError::new(format!("readiness on http: {message}")))?,
            ),
            Condition::File(path) => Node::File(working_dir.join(context.resolve(path)?)),
            Condition::Probe { name, probe } => Node::Probe {
                name: name.clone(),
                probe: probe.clone(),
                last_error: None,
            },
            Condition::All(conditions) | Condition::Any(conditions) => {
                let children = conditions
                    .iter()
                    .map(|condition| condition.resolve(context, working_dir))
                    .collect::<Result<Vec<_>, _>>()?;
                if matches!(self.0, Condition::All(_)) {
                    Node::All(children)
                } else {
                    Node::Any(children)
                }
            }
            Condition::Invalid(message) => return Err(DriverError::new(message.clone())),
        };
        Ok(Waiting { node, met: false })
    }
}

impl std::fmt::Debug for WaitFor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.definition())
    }
}

/// What a readiness check reads: the program's logs, where extracted values go.
pub(crate) struct ProbeTarget<'a> {
    pub(crate) stdout: &'a Path,
    pub(crate) stderr: &'a Path,
    pub(crate) extracts: &'a Mutex<BTreeMap<String, String>>,
    /// Attributes a probe closure sees besides the extracts (`pid`).
    pub(crate) attributes: &'a Attributes,
    pub(crate) deadline: Instant,
}

/// A resolved condition and whether it has been met.
pub(crate) struct Waiting {
    node: Node,
    met: bool,
}

enum Node {
    Log {
        source: ResolvedLog,
        regex: Regex,
        watch: LogWatch,
    },
    Tcp(TcpProbe),
    Http(HttpTarget),
    File(PathBuf),
    Probe {
        name: String,
        probe: ReadinessProbe,
        last_error: Option<String>,
    },
    All(Vec<Waiting>),
    Any(Vec<Waiting>),
}

enum ResolvedLog {
    Stdout,
    Stderr,
    File(PathBuf),
}

impl ResolvedLog {
    fn path<'a>(&'a self, target: &ProbeTarget<'a>) -> &'a Path {
        match self {
            ResolvedLog::Stdout => target.stdout,
            ResolvedLog::Stderr => target.stderr,
            ResolvedLog::File(path) => path,
        }
    }
}

impl Waiting {
    /// Every one of `conditions`: what a driver given several waits for.
    pub(crate) fn all(conditions: Vec<Waiting>) -> Waiting {
        Waiting {
            node: Node::All(conditions),
            met: false,
        }
    }

    /// Checks what is not met yet; true once the whole condition holds.
    pub(crate) fn check(&mut self, target: &ProbeTarget<'_>) -> bool {
        if self.met {
            return true;
        }
        self.met = match &mut self.node {
            Node::Log {
                source,
                regex,
                watch,
            } => watch.poll(source.path(target), regex, target.extracts),
            Node::Tcp(probe) => probe.connect(target.deadline).is_some(),
            Node::Http(http) => http_responds(http, target.deadline),
            Node::File(path) => path.exists(),
            Node::Probe {
                probe, last_error, ..
            } => {
                let mut attributes = target.attributes.clone();
                for (name, value) in target
                    .extracts
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                {
                    attributes
                        .entry(name.clone())
                        .or_insert_with(|| crate::drivers::extracted_value(value));
                }
                match probe(&attributes) {
                    Ok(ready) => ready,
                    Err(error) => {
                        *last_error = Some(error);
                        false
                    }
                }
            }
            // Every child is checked, not only up to the first pending (or met) one: logs
            // are read as they grow and their extracts published.
            Node::All(children) => {
                let mut all = true;
                for child in children {
                    all &= child.check(target);
                }
                all
            }
            Node::Any(children) => {
                let mut any = false;
                for child in children {
                    any |= child.check(target);
                }
                any
            }
        };
        self.met
    }

    /// Whether there is nothing to wait for.
    pub(crate) fn is_empty(&self) -> bool {
        matches!(&self.node, Node::All(children) if children.iter().all(Waiting::is_empty))
    }

    /// Whether every condition still pending is met by a log line, so that nothing but a
    /// write to a log (or the program's exit) can change the answer: the wait then sleeps
    /// until one happens instead of checking at intervals.
    pub(crate) fn only_logs(&self) -> bool {
        self.met
            || match &self.node {
                Node::Log { .. } => true,
                Node::All(children) | Node::Any(children) => {
                    children.iter().all(Waiting::only_logs)
                }
                _ => false,
            }
    }

    /// The log files the conditions read, to wake the wait when they are written to.
    pub(crate) fn logs<'a>(&'a self, target: &ProbeTarget<'a>, logs: &mut Vec<&'a Path>) {
        match &self.node {
            Node::Log { source, .. } => logs.push(source.path(target)),
            Node::All(children) | Node::Any(children) => {
                for child in children {
                    child.logs(target, logs);
                }
            }
            _ => {}
        }
    }

    /// What is still awaited, as phrases for the timeout message.
    pub(crate) fn pending(&self) -> Vec<String> {
        if self.met {
            return Vec::new();
        }
        match &self.node {
            Node::Log { source, regex, .. } => {
                let log = match source {
                    ResolvedLog::Stdout => "stdout".to_string(),
                    ResolvedLog::Stderr => "stderr".to_string(),
                    ResolvedLog::File(path) => format!("`{}`", path.display()),
                };
                vec![format!("a {log} line matching `{regex}`")]
            }
            Node::Tcp(probe) => vec![format!(
                "tcp port {}:{} to accept connections",
                probe.host, probe.port
            )],
            Node::Http(http) => vec![format!("an http response from {}", http.url)],
            Node::File(path) => vec![format!("file `{}` to exist", path.display())],
            Node::Probe {
                name, last_error, ..
            } => vec![match last_error {
                Some(error) => format!("probe `{name}` (last said: {error})"),
                None => format!("probe `{name}`"),
            }],
            Node::All(children) => children.iter().flat_map(Waiting::pending).collect(),
            Node::Any(children) => vec![format!(
                "one of: {}",
                children
                    .iter()
                    .map(|child| child.pending().join(" and "))
                    .collect::<Vec<_>>()
                    .join("; or ")
            )],
        }
    }
}

/// Reads what a log file gained since the last look and tests each complete line.
#[derive(Default)]
struct LogWatch {
    file: Option<File>,
    partial: Vec<u8>,
}

impl LogWatch {
    /// Whether a new complete line matches; its named groups go to `extracts`.
    fn poll(
        &mut self,
        path: &Path,
        regex: &Regex,
        extracts: &Mutex<BTreeMap<String, String>>,
    ) -> bool {
        if self.file.is_none() {
            self.file = File::open(path).ok();
        }
        let Some(file) = &mut self.file else {
            return false;
        };
        let start = self.partial.len();
        if file.read_to_end(&mut self.partial).is_err() || self.partial.len() == start {
            return false;
        }
        // Only complete lines: a line still being written could match with half a value.
        let Some(end) = self.partial.iter().rposition(|&byte| byte == b'\n') else {
            return false;
        };
        let complete: Vec<u8> = self.partial.drain(..=end).collect();
        for line in String::from_utf8_lossy(&complete).lines() {
            if let Some(captures) = regex.captures(line) {
                let mut extracts = extracts.lock().unwrap_or_else(PoisonError::into_inner);
                for name in regex.capture_names().flatten() {
                    if let Some(value) = captures.name(name) {
                        extracts.insert(name.to_string(), value.as_str().to_string());
                    }
                }
                return true;
            }
        }
        false
    }
}

/// A TCP address to connect to, resolved once it resolves.
pub(crate) struct TcpProbe {
    host: String,
    port: u16,
    addresses: Vec<SocketAddr>,
}

impl TcpProbe {
    pub(crate) fn new(host: &str, port: u16) -> TcpProbe {
        TcpProbe {
            host: host.to_string(),
            port,
            addresses: Vec::new(),
        }
    }

    /// A connection, if one of the host's addresses accepts.
    pub(crate) fn connect(&mut self, deadline: Instant) -> Option<TcpStream> {
        if self.addresses.is_empty() {
            // The name may not resolve yet (a container still coming up): try again next time.
            self.addresses = (self.host.as_str(), self.port)
                .to_socket_addrs()
                .ok()?
                .collect();
        }
        // A local refusal is immediate; the cap only matters for a host that drops packets.
        let timeout = deadline
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), Duration::from_millis(100));
        self.addresses
            .iter()
            .find_map(|address| TcpStream::connect_timeout(address, timeout).ok())
    }
}

#[derive(Debug, Clone)]
struct HttpTarget {
    url: String,
    host: String,
    port: u16,
    path: String,
}

fn parse_http_url(url: &str) -> Result<HttpTarget, String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!(
            "`{url}` is not an http:// url; for https wait for its tcp port"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(index) => (&rest[..index], &rest[index..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(format!("`{url}` has an unclosed `[` in its host"));
        };
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(port) => port
            .parse()
            .map_err(|_| format!("`{url}` has an invalid port `{port}`"))?,
        None => 80,
    };
    if host.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    Ok(HttpTarget {
        url: url.to_string(),
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}

/// Whether a GET of the target gets an HTTP status line back.
fn http_responds(target: &HttpTarget, deadline: Instant) -> bool {
    let Some(mut stream) = TcpProbe::new(&target.host, target.port).connect(deadline) else {
        return false;
    };
    // A server that accepted but is still initialising answers once it is up: wait for it,
    // within reason, then try a fresh connection.
    let timeout = deadline
        .saturating_duration_since(Instant::now())
        .clamp(Duration::from_millis(1), Duration::from_secs(1));
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let host = if target.host.contains(':') {
        format!("[{}]", target.host)
    } else {
        target.host.clone()
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}:{}\r\nUser-Agent: testrig\r\nConnection: close\r\n\r\n",
        target.path, target.port
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 5];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) | Err(_) => return false,
            Ok(count) => read += count,
        }
    }
    &head == b"HTTP/"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'a>(
        stdout: &'a Path,
        extracts: &'a Mutex<BTreeMap<String, String>>,
        attributes: &'a Attributes,
    ) -> ProbeTarget<'a> {
        ProbeTarget {
            stdout,
            stderr: stdout,
            extracts,
            attributes,
            deadline: Instant::now() + Duration::from_secs(1),
        }
    }

    fn folder(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("testrig-readiness-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn any_is_met_by_one_branch_and_all_needs_every_one() {
        let dir = folder("any-all");
        let stdout = dir.join("stdout");
        std::fs::write(&stdout, "port=4711\n").unwrap();
        let context = StartContext::new(&dir, Duration::from_secs(1));
        let extracts = Mutex::new(BTreeMap::new());
        let attributes = Attributes::new();
        let target = target(&stdout, &extracts, &attributes);

        let any = WaitFor::any([
            WaitFor::file("never"),
            WaitFor::stdout(r"port=(?P<port>\d+)"),
        ]);
        let mut waiting = any.resolve(&context, &dir).unwrap();
        assert!(waiting.check(&target));
        assert_eq!(extracts.lock().unwrap()["port"], "4711");

        let all = WaitFor::all([WaitFor::file("flag"), WaitFor::stdout("port")]);
        let mut waiting = all.resolve(&context, &dir).unwrap();
        assert!(!waiting.check(&target));
        let pending = waiting.pending();
        assert_eq!(pending.len(), 1, "{pending:?}");
        assert!(pending[0].contains("flag") && pending[0].contains("to exist"));
        std::fs::write(dir.join("flag"), "").unwrap();
        assert!(waiting.check(&target), "the log line stays met");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn any_still_reads_its_logs_once_another_branch_is_met() {
        let dir = folder("any-logs");
        let stdout = dir.join("stdout");
        std::fs::write(&stdout, "port=4711\n").unwrap();
        std::fs::write(dir.join("ready"), "").unwrap();
        let context = StartContext::new(&dir, Duration::from_secs(1));
        let extracts = Mutex::new(BTreeMap::new());
        let attributes = Attributes::new();
        let target = target(&stdout, &extracts, &attributes);
        let mut waiting = WaitFor::any([
            WaitFor::file("ready"),
            WaitFor::stdout(r"port=(?P<port>\d+)"),
        ])
        .resolve(&context, &dir)
        .unwrap();
        assert!(waiting.check(&target));
        assert_eq!(extracts.lock().unwrap()["port"], "4711");
        assert_eq!(
            WaitFor::any([]).problems(),
            ["WaitFor::any([]) can never hold; give it at least one condition"]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_probe_sees_extracted_values_as_numbers_and_its_last_error_is_shown() {
        let dir = folder("probe");
        let stdout = dir.join("stdout");
        std::fs::write(&stdout, "").unwrap();
        let context = StartContext::new(&dir, Duration::from_secs(1));
        let extracts = Mutex::new(BTreeMap::from([("port".to_string(), "80".to_string())]));
        let attributes = Attributes::new();
        let target = target(&stdout, &extracts, &attributes);
        let probe = WaitFor::probe("schema loaded", |attributes| {
            if attributes["port"] == 80 {
                Err("3 of 7 tables".into())
            } else {
                Ok(true)
            }
        });
        let mut waiting = probe.resolve(&context, &dir).unwrap();
        assert!(!waiting.check(&target));
        assert_eq!(
            waiting.pending(),
            ["probe `schema loaded` (last said: 3 of 7 tables)"]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_invalid_regex_is_a_problem_not_a_panic() {
        let wait = WaitFor::all([WaitFor::stdout("ok"), WaitFor::log_file("x.log", "(")]);
        let problems = wait.problems();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("WaitFor::log_file: invalid regex `(`"));
    }

    #[test]
    fn a_log_file_written_later_is_read_from_its_start() {
        let dir = folder("log-file");
        let context = StartContext::new(&dir, Duration::from_secs(1));
        let extracts = Mutex::new(BTreeMap::new());
        let attributes = Attributes::new();
        let stdout = dir.join("stdout");
        let target = target(&stdout, &extracts, &attributes);
        let mut waiting = WaitFor::log_file("logs/server.log", "^ready")
            .resolve(&context, &dir)
            .unwrap();
        assert!(!waiting.check(&target));
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        std::fs::write(dir.join("logs/server.log"), "starting\nready").unwrap();
        assert!(!waiting.check(&target), "a line still being written");
        std::fs::write(dir.join("logs/server.log"), "starting\nready\n").unwrap();
        assert!(waiting.check(&target));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn http_urls_are_parsed_or_rejected_with_a_reason() {
        let target = parse_http_url("http://localhost:8080/health?x=1").unwrap();
        assert_eq!(
            (target.host.as_str(), target.port, target.path.as_str()),
            ("localhost", 8080, "/health?x=1")
        );
        let target = parse_http_url("http://[::1]").unwrap();
        assert_eq!(
            (target.host.as_str(), target.port, target.path.as_str()),
            ("::1", 80, "/")
        );
        assert!(
            parse_http_url("https://example.com")
                .unwrap_err()
                .contains("wait for its tcp port")
        );
        assert!(
            parse_http_url("http://host:port/")
                .unwrap_err()
                .contains("invalid port")
        );
    }
}

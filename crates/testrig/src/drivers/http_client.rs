//! [`HttpClient`]: sends requests to a server (usually another driver, reached through
//! `context("server", "{{port}}")`) and keeps every reply; a `ureq` agent without TLS. Behind
//! the `http-client` feature (on by default), so a plan without HTTP clients compiles no
//! `ureq` or `http`. Every wait has a deadline, so a missing reply becomes a [`DriverError`]
//! rather than a hang.

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::http::{find_header, parse_json};
use super::tcp::{host_port, io_reason, lock, lowercase_first, parse_port};
use crate::env::{
    Attributes, ConfigValue, Driver, DriverCommon, DriverError, DriverSettings, StartContext,
};

/// The largest reply body the client reads.
const MAX_REPLY_BYTES: u64 = 1024 * 1024 * 1024;

/// A reply the client received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// The status code; 4xx and 5xx are replies like any other.
    pub status: u16,
    /// Headers in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The body as UTF-8 (invalid sequences become U+FFFD).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, DriverError> {
        parse_json(
            &self.body,
            &format!("the body of the {} reply", self.status),
        )
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

#[derive(Default)]
struct ClientState {
    base_url: Option<String>,
    host: String,
    port: String,
    agent: Option<ureq::Agent>,
}

/// An HTTP client bound to one server (Testplan's `HTTPClient`). Replies of every status
/// are returned (and kept); redirects are returned rather than followed, so a test sees what
/// the server sent.
///
/// ```no_run
/// use testrig::drivers::HttpClient;
/// use testrig::env::context;
/// let client = HttpClient::new("client").port(context("server", "{{port}}"));
/// // In a testcase: let reply = env.driver::<HttpClient>("client").get("/health")?;
/// ```
pub struct HttpClient {
    common: DriverCommon,
    host: ConfigValue,
    port: ConfigValue,
    protocol: ConfigValue,
    timeout: Duration,
    state: Mutex<ClientState>,
    replies: Mutex<Vec<HttpReply>>,
}

impl HttpClient {
    /// A client for `http://127.0.0.1:80` with a 10 s timeout; set the port.
    pub fn new(name: impl Into<String>) -> HttpClient {
        HttpClient {
            common: DriverCommon::new(name),
            host: ConfigValue::from("127.0.0.1"),
            port: ConfigValue::from(80u16),
            protocol: ConfigValue::from("http"),
            timeout: Duration::from_secs(10),
            state: Mutex::default(),
            replies: Mutex::default(),
        }
    }

    /// The server's host (default `127.0.0.1`), often `context("server", "{{host}}")`.
    pub fn host(mut self, host: impl Into<ConfigValue>) -> HttpClient {
        self.host = host.into();
        self
    }

    /// The server's port, usually `context("server", "{{port}}")`.
    pub fn port(mut self, port: impl Into<ConfigValue>) -> HttpClient {
        self.port = port.into();
        self
    }

    /// The URL scheme (default `http`, the only one supported: the client has no TLS).
    pub fn protocol(mut self, protocol: impl Into<ConfigValue>) -> HttpClient {
        self.protocol = protocol.into();
        self
    }

    /// How long a whole exchange may take (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> HttpClient {
        self.timeout = timeout;
        self
    }

    /// `protocol://host:port`, once started.
    pub fn base_url(&self) -> Option<String> {
        lock(&self.state).base_url.clone()
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<HttpReply, DriverError> {
        self.request("GET", path, &[], Vec::new())
    }

    /// `POST path` with a body.
    pub fn post(&self, path: &str, body: impl Into<Vec<u8>>) -> Result<HttpReply, DriverError> {
        self.request("POST", path, &[], body)
    }

    /// `POST path` with a JSON body and `Content-Type: application/json`.
    pub fn post_json(&self, path: &str, value: &impl Serialize) -> Result<HttpReply, DriverError> {
        let body = serde_json::to_vec(value).map_err(|error| {
            DriverError::new(format!(
                "cannot serialize the json body for POST {path} of driver `{}`: {error}",
                self.common.name
            ))
        })?;
        self.request("POST", path, &[("Content-Type", "application/json")], body)
    }

    /// `PUT path` with a body.
    pub fn put(&self, path: &str, body: impl Into<Vec<u8>>) -> Result<HttpReply, DriverError> {
        self.request("PUT", path, &[], body)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Result<HttpReply, DriverError> {
        self.request("DELETE", path, &[], Vec::new())
    }

    /// Any request: `path` is appended to the base URL (a full `http://` URL is used as is).
    /// Non-2xx statuses are replies; failing to connect or timing out is an error naming the
    /// URL.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> Result<HttpReply, DriverError> {
        let name = &self.common.name;
        let (base_url, agent) = {
            let state = lock(&self.state);
            match (&state.base_url, &state.agent) {
                (Some(base_url), Some(agent)) => (base_url.clone(), agent.clone()),
                _ => {
                    return Err(DriverError::new(format!(
                        "driver `{name}` is not started; start it (as part of the environment) before sending requests"
                    )));
                }
            }
        };
        let url = join_url(&base_url, path);
        let method = method.to_ascii_uppercase();
        let invalid = |error: ureq::http::Error| {
            DriverError::new(format!(
                "invalid request {method} {url} for driver `{name}`: {}",
                lowercase_first(&error.to_string())
            ))
        };
        let mut builder = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(&url);
        for (header, value) in headers {
            builder = builder.header(*header, *value);
        }
        let body = body.into();
        // An empty body is sent as none, so a GET carries no `Content-Length: 0`.
        let outcome = if body.is_empty() {
            agent.run(builder.body(()).map_err(invalid)?)
        } else {
            agent.run(builder.body(body).map_err(invalid)?)
        };
        let failure = |error: ureq::Error| {
            let reason = match &error {
                ureq::Error::Io(error) => io_reason(error),
                ureq::Error::Timeout(_) => format!("timed out after {:?}", self.timeout),
                other => lowercase_first(&other.to_string()),
            };
            DriverError::new(format!(
                "{method} {url} from driver `{name}` failed: {reason}; is the server started and the url right?"
            ))
        };
        let mut response = outcome.map_err(failure)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_REPLY_BYTES)
            .read_to_vec()
            .map_err(failure)?;
        let reply = HttpReply {
            status,
            headers,
            body,
        };
        lock(&self.replies).push(reply.clone());
        Ok(reply)
    }

    /// Every reply received since the start (or the last flush), in order.
    pub fn responses(&self) -> Vec<HttpReply> {
        lock(&self.replies).clone()
    }

    /// The most recent reply.
    pub fn last_response(&self) -> Option<HttpReply> {
        lock(&self.replies).last().cloned()
    }

    /// Forgets the kept replies.
    pub fn flush_responses(&self) {
        lock(&self.replies).clear();
    }
}

fn join_url(base_url: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        path.to_string()
    } else if path.starts_with('/') {
        format!("{base_url}{path}")
    } else {
        format!("{base_url}/{path}")
    }
}

impl DriverSettings for HttpClient {
    fn common_mut(&mut self) -> &mut DriverCommon {
        &mut self.common
    }
}

impl Driver for HttpClient {
    fn common(&self) -> &DriverCommon {
        &self.common
    }

    fn kind(&self) -> &'static str {
        "HttpClient"
    }

    fn context_values(&self) -> Vec<&ConfigValue> {
        vec![&self.host, &self.port, &self.protocol]
    }

    fn start(&self, context: &StartContext) -> Result<(), DriverError> {
        let name = &self.common.name;
        let host = context.resolve(&self.host)?;
        let port = context.resolve(&self.port)?;
        let port_number = parse_port(&port, name)?;
        let protocol = context.resolve(&self.protocol)?.to_ascii_lowercase();
        if protocol != "http" {
            return Err(DriverError::new(format!(
                "protocol `{protocol}` of driver `{name}` is not supported: the client speaks plain http only; use `.protocol(\"http\")`"
            )));
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(self.timeout))
            .max_redirects(0)
            .allow_non_standard_methods(true)
            .build();
        *lock(&self.state) = ClientState {
            base_url: Some(format!("{protocol}://{}", host_port(&host, port_number))),
            host,
            port,
            agent: Some(ureq::Agent::new_with_config(config)),
        };
        lock(&self.replies).clear();
        Ok(())
    }

    fn stop(&self) -> Result<(), DriverError> {
        *lock(&self.state) = ClientState::default();
        Ok(())
    }

    fn attributes(&self) -> Attributes {
        let state = lock(&self.state);
        let mut attributes = Attributes::new();
        if let Some(base_url) = &state.base_url {
            attributes.insert("host".into(), json!(state.host));
            let port = state
                .port
                .trim()
                .parse::<u16>()
                .map_or_else(|_| json!(state.port), |port| json!(port));
            attributes.insert("port".into(), port);
            attributes.insert("base_url".into(), json!(base_url));
        }
        attributes
    }
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("name", &self.common.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("base_url", &self.base_url())
            .finish()
    }
}

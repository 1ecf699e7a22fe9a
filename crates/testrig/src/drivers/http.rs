//! [`HttpServer`]: an in-process mock server that answers with responses the testcase
//! queued and records every request it received (its client, `HttpClient`, lives in
//! `http_client.rs` behind the `http-client` feature).
//!
//! The environment starts and stops it like any driver and reports its status changes as
//! events; testcases reach it with `env.driver::<HttpServer>("server")`. It speaks plain
//! HTTP/1.1, parses requests with `httparse` and closes each connection after one exchange.
//! Every wait has a deadline, so a missing request becomes a [`DriverError`] rather than a
//! hang.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use super::listener::AcceptLoop;
use super::tcp::{bind_listener, handed_off_port, host_port, lock, parse_port, server_definition};
use crate::env::{
    Attributes, ConfigValue, Driver, DriverCommon, DriverError, DriverSettings, DriverSockets,
    StartContext,
};

/// The largest request the mock server accepts; beyond it answers 413.
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// How long a client may take to send a whole request to the mock server.
const REQUEST_READ_LIMIT: Duration = Duration::from_secs(10);

/// How often a connection handler waiting for request bytes looks at the stop flag.
const READ_POLL: Duration = Duration::from_millis(50);

/// Header lookup shared by requests and replies: names compare case-insensitively.
pub(super) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

pub(super) fn parse_json(body: &[u8], what: &str) -> Result<serde_json::Value, DriverError> {
    serde_json::from_slice(body).map_err(|error| {
        let text = String::from_utf8_lossy(body);
        let shown: String = text.chars().take(200).collect();
        DriverError::new(format!("{what} is not json ({error}): {shown:?}"))
    })
}

/// A canned response for [`HttpServer::queue_response`].
///
/// ```
/// use testrig::drivers::HttpResponse;
/// let created = HttpResponse::json(201, &serde_json::json!({"id": 7}));
/// let teapot = HttpResponse::new(418).header("X-Reason", "tea").body("short and stout");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers in order; `Content-Length` and `Connection` are set by the server.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with `status`, no headers and an empty body.
    pub fn new(status: u16) -> HttpResponse {
        HttpResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON response with `Content-Type: application/json`. A value that cannot be
    /// serialized (a map with non-string keys) gives a 500 whose body says why, so the
    /// mistake shows up in the exchange instead of a panic.
    pub fn json(status: u16, value: &impl Serialize) -> HttpResponse {
        match serde_json::to_vec(value) {
            Ok(body) => HttpResponse::new(status)
                .header("Content-Type", "application/json")
                .body(body),
            Err(error) => HttpResponse::new(500)
                .header("Content-Type", "text/plain; charset=utf-8")
                .body(format!(
                    "the queued json response could not be serialized: {error}"
                )),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> HttpResponse {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> HttpResponse {
        self.body = body.into();
        self
    }

    /// The wire form: our own framing headers replace any the user set, since a wrong
    /// `Content-Length` would hang or truncate the client.
    fn to_bytes(&self, include_body: bool) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            self.status,
            reason_phrase(self.status)
        );
        for (name, value) in &self.headers {
            let framing = ["content-length", "connection", "transfer-encoding"]
                .iter()
                .any(|framing| name.eq_ignore_ascii_case(framing));
            if !framing {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = head.into_bytes();
        if include_body {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        418 => "I'm a teapot",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// A request the mock server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The query string without `?` (empty when there was none).
    pub query: String,
    /// Headers in the order received.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked when it was sent chunked).
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    /// The body as UTF-8 (invalid sequences become U+FFFD).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, DriverError> {
        parse_json(
            &self.body,
            &format!("the body of request {} {}", self.method, self.path),
        )
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// What connection handlers need to answer, fixed when the server starts.
struct ServeConfig {
    name: String,
    response_timeout: Duration,
    default_response: Option<HttpResponse>,
}

#[derive(Default)]
struct HttpShared {
    state: Mutex<HttpState>,
    responses_changed: Condvar,
    requests_changed: Condvar,
    stop: AtomicBool,
}

#[derive(Default)]
struct HttpState {
    host: String,
    address: Option<SocketAddr>,
    responses: VecDeque<HttpResponse>,
    requests: Vec<ReceivedRequest>,
    /// Requests already returned by `next_request`.
    taken: usize,
    handlers: Vec<JoinHandle<()>>,
}

/// A mock HTTP server answering with queued responses and recording requests (Testplan's
/// `HTTPServer`).
///
/// ```no_run
/// use testrig::drivers::{HttpResponse, HttpServer};
/// let server = HttpServer::new("server");
/// // In a testcase:
/// // let server = env.driver::<HttpServer>("server");
/// // server.queue_response(HttpResponse::json(200, &serde_json::json!({"ok": true})));
/// // let request = server.next_request(Duration::from_secs(5))?;
/// ```
pub struct HttpServer {
    common: DriverCommon,
    host: ConfigValue,
    port: ConfigValue,
    response_timeout: Duration,
    default_response: Option<HttpResponse>,
    shared: Arc<HttpShared>,
    accept_thread: Mutex<Option<AcceptLoop>>,
}

impl HttpServer {
    /// A server on 127.0.0.1 and an ephemeral port that waits up to 1 s for a queued
    /// response before answering 404.
    pub fn new(name: impl Into<String>) -> HttpServer {
        HttpServer {
            common: DriverCommon::new(name),
            host: ConfigValue::from("127.0.0.1"),
            port: ConfigValue::from(0u16),
            response_timeout: Duration::from_secs(1),
            default_response: None,
            shared: Arc::default(),
            accept_thread: Mutex::new(None),
        }
    }

    /// The address to bind (default `127.0.0.1`).
    pub fn host(mut self, host: impl Into<ConfigValue>) -> HttpServer {
        self.host = host.into();
        self
    }

    /// The port to bind (default 0: the system picks a free one, published as `port`).
    pub fn port(mut self, port: impl Into<ConfigValue>) -> HttpServer {
        self.port = port.into();
        self
    }

    /// How long a request waits for a queued response before the default one is sent
    /// (default 1 s; `Duration::ZERO` answers at once).
    pub fn response_timeout(mut self, timeout: Duration) -> HttpServer {
        self.response_timeout = timeout;
        self
    }

    /// The response sent when none was queued in time (default: 404 saying so).
    pub fn default_response(mut self, response: HttpResponse) -> HttpServer {
        self.default_response = Some(response);
        self
    }

    /// Adds a response to the queue; requests take them in order. May be called before the
    /// server starts.
    pub fn queue_response(&self, response: HttpResponse) {
        lock(&self.shared.state).responses.push_back(response);
        self.shared.responses_changed.notify_all();
    }

    /// How many queued responses no request has taken yet.
    pub fn pending_responses(&self) -> usize {
        lock(&self.shared.state).responses.len()
    }

    /// Every request received since the start (or the last flush), in arrival order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        lock(&self.shared.state).requests.clone()
    }

    /// Waits up to `timeout` for a request not yet returned by this method.
    pub fn next_request(&self, timeout: Duration) -> Result<ReceivedRequest, DriverError> {
        let deadline = crate::deadline::deadline_after(timeout);
        let mut state = lock(&self.shared.state);
        loop {
            if let Some(request) = state.requests.get(state.taken).cloned() {
                state.taken += 1;
                return Ok(request);
            }
            let now = Instant::now();
            if now >= deadline || state.address.is_none() {
                return Err(match state.address {
                    None => DriverError::new(format!(
                        "driver `{}` is not started; start it (as part of the environment) before waiting for requests",
                        self.common.name
                    )),
                    Some(address) => DriverError::new(format!(
                        "no new request reached http server `{}` on http://{address} within {timeout:?} ({} received in all); is the client pointed at this url?",
                        self.common.name,
                        state.requests.len()
                    )),
                });
            }
            state = self
                .shared
                .requests_changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Forgets every recorded request.
    pub fn flush_requests(&self) {
        let mut state = lock(&self.shared.state);
        state.requests.clear();
        state.taken = 0;
    }

    /// The bound port, once started.
    pub fn bound_port(&self) -> Option<u16> {
        lock(&self.shared.state)
            .address
            .map(|address| address.port())
    }

    /// Starts on the configured port, or on `port` when given (code reload).
    fn start_on(&self, context: &StartContext, port: Option<u16>) -> Result<(), DriverError> {
        let name = &self.common.name;
        if lock(&self.accept_thread).is_some() {
            return Err(DriverError::new(format!(
                "driver `{name}` is already started"
            )));
        }
        let host = context.resolve(&self.host)?;
        let port = match port {
            Some(port) => port,
            None => parse_port(&context.resolve(&self.port)?, name)?,
        };
        let (listener, address) = bind_listener(&host, port, name)?;
        {
            let mut state = lock(&self.shared.state);
            // Responses queued before the start are kept: queueing first is a natural order.
            state.host = host;
            state.address = Some(address);
            state.requests.clear();
            state.taken = 0;
        }
        self.shared.stop.store(false, Ordering::SeqCst);
        let config = Arc::new(ServeConfig {
            name: name.clone(),
            response_timeout: self.response_timeout,
            default_response: self.default_response.clone(),
        });
        let shared = Arc::clone(&self.shared);
        let serving = AcceptLoop::start(
            listener,
            format!("http-server-{name}"),
            name,
            move |stream| {
                let (handler_shared, handler_config) = (Arc::clone(&shared), Arc::clone(&config));
                let spawned = std::thread::Builder::new()
                    .name(format!("http-server-{}", config.name))
                    .spawn(move || serve(stream, &handler_shared, &handler_config));
                if let Ok(handle) = spawned {
                    let mut state = lock(&shared.state);
                    state.handlers.retain(|handle| !handle.is_finished());
                    state.handlers.push(handle);
                }
            },
        )?;
        *lock(&self.accept_thread) = Some(serving);
        Ok(())
    }

    /// `http://host:port`, once started.
    pub fn url(&self) -> Option<String> {
        let state = lock(&self.shared.state);
        state
            .address
            .map(|address| format!("http://{}", host_port(&state.host, address.port())))
    }
}

/// Answers one request on one connection.
fn serve(mut stream: TcpStream, shared: &HttpShared, config: &ServeConfig) {
    // Accepted sockets must block: reads rely on socket timeouts to notice a stop.
    let _ = stream.set_nonblocking(false);
    let (response, head_only) = match read_request(&mut stream, &shared.stop) {
        Ok(None) => return,
        Ok(Some(request)) => {
            let head_only = request.method == "HEAD";
            let summary = format!("{} {}", request.method, request.path);
            lock(&shared.state).requests.push(request);
            shared.requests_changed.notify_all();
            (choose_response(shared, config, &summary), head_only)
        }
        Err(RequestError { status, message }) => (
            HttpResponse::new(status)
                .header("Content-Type", "text/plain; charset=utf-8")
                .body(message),
            false,
        ),
    };
    // The client may have gone away; there is nobody to tell.
    let _ = stream.write_all(&response.to_bytes(!head_only));
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

fn choose_response(shared: &HttpShared, config: &ServeConfig, summary: &str) -> HttpResponse {
    let deadline = crate::deadline::deadline_after(config.response_timeout);
    let mut state = lock(&shared.state);
    loop {
        if let Some(response) = state.responses.pop_front() {
            return response;
        }
        if shared.stop.load(Ordering::SeqCst) {
            return HttpResponse::new(503)
                .body(format!("http server `{}` is stopping", config.name));
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        state = shared
            .responses_changed
            .wait_timeout(state, deadline - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    config.default_response.clone().unwrap_or_else(|| {
        HttpResponse::new(404)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(format!(
                "no response was queued in http server `{}` for {summary} within {:?}; queue one with `queue_response(…)` or set `default_response(…)`",
                config.name, config.response_timeout
            ))
    })
}

/// A request the server could not read, answered with `status`.
struct RequestError {
    status: u16,
    message: String,
}

impl RequestError {
    fn bad(message: impl Into<String>) -> RequestError {
        RequestError {
            status: 400,
            message: message.into(),
        }
    }
}

/// The request line and headers, parsed.
struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    length: usize,
}

fn parse_head(buffer: &[u8]) -> Result<Option<Head>, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buffer) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(length)) => Ok(Some(Head {
            method: request.method.unwrap_or_default().to_string(),
            target: request.path.unwrap_or_default().to_string(),
            headers: request
                .headers
                .iter()
                .map(|header| {
                    (
                        header.name.to_string(),
                        String::from_utf8_lossy(header.value).into_owned(),
                    )
                })
                .collect(),
            length,
        })),
        Err(error) => Err(RequestError::bad(format!(
            "malformed http request: {error}"
        ))),
    }
}

/// The body once all of it arrived (`None`: read more).
fn complete_body(head: &Head, rest: &[u8]) -> Result<Option<Vec<u8>>, RequestError> {
    let chunked = find_header(&head.headers, "transfer-encoding")
        .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return decode_chunked(rest);
    }
    let Some(length) = find_header(&head.headers, "content-length") else {
        return Ok(Some(Vec::new()));
    };
    let length: usize = length
        .trim()
        .parse()
        .map_err(|_| RequestError::bad(format!("content-length `{length}` is not a number")))?;
    if length > MAX_REQUEST_BYTES {
        return Err(RequestError {
            status: 413,
            message: format!("a body of {length} bytes is too large"),
        });
    }
    Ok((rest.len() >= length).then(|| rest[..length].to_vec()))
}

fn decode_chunked(data: &[u8]) -> Result<Option<Vec<u8>>, RequestError> {
    let mut body = Vec::new();
    let mut position = 0;
    loop {
        let (size_end, size) = match httparse::parse_chunk_size(&data[position..]) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(RequestError::bad("malformed chunk size in a chunked body")),
        };
        position += size_end;
        if size == 0 {
            // Optional trailer lines end with an empty line.
            let rest = &data[position..];
            let done =
                rest.starts_with(b"\r\n") || rest.windows(4).any(|window| window == b"\r\n\r\n");
            return Ok(done.then_some(body));
        }
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size > MAX_REQUEST_BYTES {
            return Err(RequestError {
                status: 413,
                message: "a chunk is too large".into(),
            });
        }
        if data.len() - position < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&data[position..position + size]);
        position += size + 2;
    }
}

/// Reads one request; `Ok(None)` when the client closed without sending one or the server
/// is stopping.
fn read_request(
    stream: &mut TcpStream,
    stop: &AtomicBool,
) -> Result<Option<ReceivedRequest>, RequestError> {
    let deadline = Instant::now() + REQUEST_READ_LIMIT;
    let _ = stream.set_read_timeout(Some(READ_POLL));
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut head: Option<Head> = None;
    let mut continued = false;
    loop {
        if head.is_none() {
            head = parse_head(&buffer)?;
        }
        if let Some(parsed) = &head {
            if let Some(body) = complete_body(parsed, &buffer[parsed.length..])? {
                let (path, query) = match parsed.target.split_once('?') {
                    Some((path, query)) => (path.to_string(), query.to_string()),
                    None => (parsed.target.clone(), String::new()),
                };
                return Ok(Some(ReceivedRequest {
                    method: parsed.method.clone(),
                    path,
                    query,
                    headers: parsed.headers.clone(),
                    body,
                }));
            }
            let expects_continue = find_header(&parsed.headers, "expect")
                .is_some_and(|value| value.eq_ignore_ascii_case("100-continue"));
            if expects_continue && !continued {
                continued = true;
                let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
        }
        if buffer.len() > MAX_REQUEST_BYTES {
            return Err(RequestError {
                status: 413,
                message: "the request is too large".into(),
            });
        }
        match stream.read(&mut chunk) {
            Ok(0) if buffer.is_empty() => return Ok(None),
            Ok(0) => {
                return Err(RequestError::bad(
                    "the client closed the connection mid-request",
                ));
            }
            Ok(count) => buffer.extend_from_slice(&chunk[..count]),
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                if stop.load(Ordering::SeqCst) {
                    return Ok(None);
                }
                if Instant::now() >= deadline {
                    return Err(RequestError {
                        status: 408,
                        message: format!(
                            "the request did not arrive within {REQUEST_READ_LIMIT:?}"
                        ),
                    });
                }
            }
            Err(_) => return Ok(None),
        }
    }
}

impl DriverSettings for HttpServer {
    fn common_mut(&mut self) -> &mut DriverCommon {
        &mut self.common
    }
}

impl Driver for HttpServer {
    fn common(&self) -> &DriverCommon {
        &self.common
    }

    fn kind(&self) -> &'static str {
        "HttpServer"
    }

    fn context_values(&self) -> Vec<&ConfigValue> {
        vec![&self.host, &self.port]
    }

    fn start(&self, context: &StartContext) -> Result<(), DriverError> {
        self.start_on(context, None)
    }

    fn definition(&self) -> String {
        server_definition(self, &self.host, &self.port)
    }

    fn handoff_state(&self) -> Option<serde_json::Value> {
        self.bound_port().map(|port| json!({ "port": port }))
    }

    /// Its socket closed with the previous image: listen again on the same port.
    fn adopt(&self, state: &serde_json::Value, context: &StartContext) -> Result<(), DriverError> {
        let port = handed_off_port(state, &self.common.name)?;
        self.start_on(context, Some(port))
    }

    fn stop(&self) -> Result<(), DriverError> {
        {
            // Set under the lock so a handler cannot check the flag, miss the notification
            // and then sleep through its whole response timeout.
            let _state = lock(&self.shared.state);
            self.shared.stop.store(true, Ordering::SeqCst);
        }
        // Handlers waiting for a queued response see the flag and answer 503 at once.
        self.shared.responses_changed.notify_all();
        let mut panicked = lock(&self.accept_thread)
            .take()
            .is_some_and(AcceptLoop::stop);
        // The accept loop has ended, so no handler can be added while these are joined.
        let handlers = std::mem::take(&mut lock(&self.shared.state).handlers);
        for handler in handlers {
            panicked |= handler.join().is_err();
        }
        lock(&self.shared.state).address = None;
        self.shared.requests_changed.notify_all();
        if panicked {
            return Err(DriverError::new(format!(
                "a thread of http server `{}` panicked",
                self.common.name
            )));
        }
        Ok(())
    }

    fn attributes(&self) -> Attributes {
        let state = lock(&self.shared.state);
        let mut attributes = Attributes::new();
        if let Some(address) = state.address {
            attributes.insert("host".into(), json!(state.host));
            attributes.insert("port".into(), json!(address.port()));
            attributes.insert(
                "url".into(),
                json!(format!("http://{}", host_port(&state.host, address.port()))),
            );
        }
        attributes
    }

    fn sockets(&self) -> DriverSockets {
        DriverSockets::listening(lock(&self.shared.state).address)
    }
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("name", &self.common.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("url", &self.url())
            .finish()
    }
}

// The mock is tested through the client.
#[cfg(all(test, feature = "http-client"))]
mod tests {
    use super::super::http_client::HttpClient;
    use super::super::tcp::test_support::start_context;
    use super::*;
    use crate::env::context;
    use std::net::TcpListener;

    fn started_server(response_timeout: Duration) -> HttpServer {
        let server = HttpServer::new("server").response_timeout(response_timeout);
        server.start(&start_context("http", &[])).unwrap();
        server
    }

    fn client_of(server: &HttpServer) -> HttpClient {
        let client = HttpClient::new("client")
            .host(context("server", "{{host}}"))
            .port(context("server", "{{port}}"));
        client.start(&start_context("http", &[server])).unwrap();
        client
    }

    #[test]
    fn a_queued_response_is_served_and_the_request_recorded() {
        let server = started_server(Duration::from_secs(5));
        let client = client_of(&server);
        server.queue_response(HttpResponse::new(200).header("X-Mock", "yes").body("hello"));
        let reply = client
            .request(
                "GET",
                "/greeting?lang=en&x=1",
                &[("X-Trace", "abc")],
                Vec::new(),
            )
            .unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), "hello");
        assert_eq!(reply.header("x-mock"), Some("yes"));
        assert_eq!(reply.header("content-length"), Some("5"));
        assert_eq!(client.last_response(), Some(reply));

        let request = server.next_request(Duration::from_secs(1)).unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, "/greeting");
        assert_eq!(request.query, "lang=en&x=1");
        assert_eq!(request.header("x-trace"), Some("abc"));
        assert!(request.body.is_empty());
        assert_eq!(server.requests(), vec![request]);
        assert_eq!(server.pending_responses(), 0);
        assert!(server.next_request(Duration::from_millis(20)).is_err());

        let attributes = client.attributes();
        assert_eq!(attributes["base_url"], json!(server.url().unwrap()));
        assert_eq!(attributes["port"], json!(server.bound_port().unwrap()));
        client.stop().unwrap();
        server.stop().unwrap();
    }

    #[test]
    fn json_round_trips_and_error_statuses_are_replies() {
        let server = started_server(Duration::from_secs(5));
        let client = client_of(&server);
        server.queue_response(HttpResponse::json(201, &json!({"id": 7, "name": "widget"})));
        server.queue_response(HttpResponse::new(500).body("boom"));
        let reply = client
            .post_json("items", &json!({"name": "widget"}))
            .unwrap();
        assert_eq!(reply.status, 201);
        assert_eq!(reply.json().unwrap(), json!({"id": 7, "name": "widget"}));
        assert_eq!(reply.header("Content-Type"), Some("application/json"));
        let reply = client.put("/items/7", "raw").unwrap();
        assert_eq!((reply.status, reply.text().as_str()), (500, "boom"));

        let posted = server.next_request(Duration::from_secs(1)).unwrap();
        assert_eq!(
            (posted.method.as_str(), posted.path.as_str()),
            ("POST", "/items")
        );
        assert_eq!(posted.json().unwrap(), json!({"name": "widget"}));
        assert_eq!(posted.header("content-type"), Some("application/json"));
        let put = server.next_request(Duration::from_secs(1)).unwrap();
        assert_eq!((put.method.as_str(), put.text().as_str()), ("PUT", "raw"));
        assert_eq!(client.responses().len(), 2);
        server.stop().unwrap();
    }

    #[test]
    fn an_empty_queue_answers_404_after_the_response_timeout() {
        let server = started_server(Duration::from_millis(100));
        let client = client_of(&server);
        let started = Instant::now();
        let reply = client.delete("/nothing").unwrap();
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(reply.status, 404);
        assert!(
            reply
                .text()
                .contains("no response was queued in http server `server` for DELETE /nothing"),
            "{}",
            reply.text()
        );
        server.stop().unwrap();

        let server = HttpServer::new("server")
            .response_timeout(Duration::ZERO)
            .default_response(HttpResponse::new(204));
        server.start(&start_context("http", &[])).unwrap();
        assert_eq!(client_of(&server).get("/").unwrap().status, 204);
        server.stop().unwrap();
    }

    #[test]
    fn a_response_queued_while_the_request_waits_is_used() {
        let server = started_server(Duration::from_secs(5));
        let client = client_of(&server);
        std::thread::scope(|scope| {
            let pending = scope.spawn(|| client.get("/late"));
            let request = server.next_request(Duration::from_secs(5)).unwrap();
            assert_eq!(request.path, "/late");
            server.queue_response(HttpResponse::new(200).body("late"));
            assert_eq!(pending.join().unwrap().unwrap().text(), "late");
        });
        server.stop().unwrap();
    }

    #[test]
    fn a_connection_error_names_the_url() {
        let reservation = crate::drivers::ports::port_without_server();
        let port = reservation.port();
        let client = HttpClient::new("client")
            .port(port)
            .timeout(Duration::from_secs(2));
        client.start(&start_context("http", &[])).unwrap();
        let error = client.get("/status").unwrap_err();
        assert!(
            error.message.starts_with(&format!(
                "GET http://127.0.0.1:{port}/status from driver `client` failed: connection refused"
            )),
            "{error}"
        );
        assert!(client.responses().is_empty());
        client.stop().unwrap();
        assert!(client.get("/").unwrap_err().message.contains("not started"));
    }

    #[test]
    fn a_client_times_out_on_a_silent_server() {
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let client = HttpClient::new("client")
            .port(port)
            .timeout(Duration::from_millis(200));
        client.start(&start_context("http", &[])).unwrap();
        let started = Instant::now();
        let error = client.get("/").unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(error.message.contains("timed out after 200ms"), "{error}");
    }

    #[test]
    fn stop_releases_the_port_and_ends_every_thread() {
        let server = started_server(Duration::from_secs(30));
        let port = server.bound_port().unwrap();
        let client = client_of(&server).timeout(Duration::from_secs(5));
        std::thread::scope(|scope| {
            // A request stuck waiting for a response must not hold up the stop.
            let waiting = scope.spawn(|| client.get("/stuck"));
            server.next_request(Duration::from_secs(5)).unwrap();
            let started = Instant::now();
            server.stop().unwrap();
            assert!(started.elapsed() < Duration::from_secs(1));
            assert_eq!(waiting.join().unwrap().unwrap().status, 503);
        });
        assert!(lock(&server.shared.state).handlers.is_empty());
        assert!(server.attributes().is_empty());
        // Tests run in parallel and bind port 0: another one may be handed this port the
        // moment it is free, and hold it for a while. Ours never comes back.
        let deadline = Instant::now() + Duration::from_secs(3);
        while let Err(error) = TcpListener::bind(("127.0.0.1", port)) {
            assert!(Instant::now() < deadline, "the port is free again: {error}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn raw_chunked_requests_are_decoded() {
        let server = started_server(Duration::ZERO);
        let mut stream = TcpStream::connect(("127.0.0.1", server.bound_port().unwrap())).unwrap();
        stream
            .write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
        assert!(answer.contains("Connection: close\r\n"), "{answer}");
        assert_eq!(server.requests()[0].text(), "hello world");
        server.stop().unwrap();
    }

    #[test]
    fn unsupported_protocols_fail_at_start() {
        let client = HttpClient::new("client").protocol("https");
        let error = client.start(&start_context("http", &[])).unwrap_err();
        assert!(
            error
                .message
                .contains("protocol `https` of driver `client` is not supported"),
            "{error}"
        );
    }
}

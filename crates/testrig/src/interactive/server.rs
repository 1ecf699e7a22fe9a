//! The interactive HTTP server: the REST API under `/api/v1/interactive/`, the push channel
//! (server-sent events: a snapshot, then every update), attachments, and the browser UI
//! from `web/`, embedded in the binary.
//!
//! tokio and axum live here only, on threads of their own; everything they do to the plan
//! goes through [`InteractiveState`]. The server binds 127.0.0.1 unless told otherwise and
//! every request passes the checks of [`super::access`] first: the API can start processes,
//! so it is treated like a shell.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Component, Path};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use std::fmt::Write as _;
use testrig_model::{DriverStatus, RuntimeStatus};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::export::web_file;
use crate::interactive::access::{
    AccessPolicy, CONTENT_SECURITY_POLICY, MAX_BODY_BYTES, REPORT_CONTENT_SECURITY_POLICY, error,
    guard, protect,
};
use crate::interactive::reload::Reloader;
use crate::interactive::state::{Compact, InteractiveState, Refusal, TestcaseStep, Update};

/// The OpenAPI document of the API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// How long a client may take to send a request's headers before it is disconnected.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Clone)]
struct AppState {
    state: Arc<InteractiveState>,
    /// Serves `POST /reload`, or why code reload is unavailable.
    reloader: Result<Arc<Reloader>, String>,
}

/// Builds the router; `reloader` serves `POST /reload` (code reload), or says why code
/// reload is unavailable.
pub fn router(
    state: Arc<InteractiveState>,
    policy: AccessPolicy,
    reloader: Result<Arc<Reloader>, String>,
) -> Router {
    let app = AppState { state, reloader };
    let api = Router::new()
        .route("/report", get(get_plan).put(put_plan))
        .route("/report/full", get(get_full))
        .route("/nodes/{*uid}", get(get_node).put(put_node))
        .route("/run", post(post_run))
        .route("/cancel", post(post_cancel))
        .route("/reset", post(post_reset))
        .route("/reload", post(post_reload))
        .route("/events", get(events))
        .route("/attachments/{*path}", get(get_attachment))
        .route("/config", get(get_config))
        .route("/drivers/{test}/{driver}/log", get(get_driver_log));
    Router::new()
        .nest("/api/v1/interactive", api)
        .route(
            "/api/v1/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .route("/", get(|| asset(String::from("index.html"))))
        .route(
            "/{*file}",
            get(|UrlPath(file): UrlPath<String>| asset(file)),
        )
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such route; the API is described at /api/v1/openapi.json",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(Arc::new(policy), guard))
        .layer(middleware::from_fn_with_state(
            CONTENT_SECURITY_POLICY,
            protect,
        ))
        .with_state(app)
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::UnknownNode(message) => error(StatusCode::NOT_FOUND, message),
            Refusal::Conflict(message) => error(StatusCode::CONFLICT, message),
            Refusal::BadRequest(message) => error(StatusCode::BAD_REQUEST, message),
        }
    }
}

async fn asset(file: String) -> Response {
    let Some(content) = web_file(&file) else {
        return error(StatusCode::NOT_FOUND, format!("no file `{file}` in the UI"));
    };
    let content_type = match Path::new(&file).extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    ([(header::CONTENT_TYPE, content_type)], content).into_response()
}

async fn get_plan(State(app): State<AppState>) -> Response {
    match app.state.shallow_node(None) {
        Some(node) => axum::Json(node).into_response(),
        None => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the report is not available",
        ),
    }
}

async fn get_full(State(app): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        app.state.snapshot_json(),
    )
        .into_response()
}

async fn get_node(State(app): State<AppState>, UrlPath(uid): UrlPath<String>) -> Response {
    match app.state.shallow_node(Some(&uid)) {
        Some(node) => axum::Json(node).into_response(),
        None => Refusal::UnknownNode(format!("no node with uid `{uid}`")).into_response(),
    }
}

/// The body of a PUT on a node: what the client wants it to become.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeChange {
    #[serde(default)]
    runtime_status: Option<RuntimeStatus>,
    #[serde(default)]
    env_status: Option<DriverStatus>,
}

/// A JSON object whose fields are all present or absent, never `null`: the OpenAPI
/// document promises exactly that, and serde alone would also take `null` for an optional
/// field and an array for a struct.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Refusal> {
    let invalid = |problem: serde_json::Error| {
        Refusal::BadRequest(format!("invalid request body: {problem}"))
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(invalid)?;
    let Some(object) = value.as_object() else {
        return Err(Refusal::BadRequest(
            "invalid request body: it must be a JSON object".into(),
        ));
    };
    if let Some((name, _)) = object.iter().find(|(_, field)| field.is_null()) {
        return Err(Refusal::BadRequest(format!(
            "invalid request body: field `{name}` is null; leave it out instead"
        )));
    }
    serde_json::from_value(value).map_err(invalid)
}

async fn change_node(app: &AppState, uid: Option<String>, body: &[u8]) -> Response {
    let change: NodeChange = match parse(body) {
        Ok(change) => change,
        Err(refusal) => return refusal.into_response(),
    };
    let state = app.state.clone();
    let outcome = tokio::task::spawn_blocking(move || match (change.runtime_status, change.env_status) {
        (Some(RuntimeStatus::Running), None) => state
            .run_node(uid.as_deref())
            .map(|queued| serde_json::json!({"uid": uid.unwrap_or_else(|| state.plan_uid()), "runtime_status": "waiting", "queued": queued})),
        (None, Some(env_status)) => match &uid {
            Some(uid) => state.set_environment(uid, env_status).map(|()| serde_json::json!({"uid": uid, "env_status": env_status})),
            None => Err(Refusal::BadRequest("`env_status` applies to a test, not the plan".into())),
        },
        (Some(other), None) => Err(Refusal::BadRequest(format!(
            "field `runtime_status` may only be set to `running` (got `{}`)",
            serde_json::to_value(other).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
        ))),
        (None, None) => Err(Refusal::BadRequest("the body must set `runtime_status` or `env_status`".into())),
        (Some(_), Some(_)) => Err(Refusal::BadRequest("set either `runtime_status` or `env_status`, not both".into())),
    })
    .await;
    match outcome {
        Ok(Ok(body)) => (StatusCode::ACCEPTED, axum::Json(body)).into_response(),
        Ok(Err(refusal)) => refusal.into_response(),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request handler failed",
        ),
    }
}

async fn put_node(
    State(app): State<AppState>,
    UrlPath(uid): UrlPath<String>,
    body: axum::body::Bytes,
) -> Response {
    change_node(&app, Some(uid), &body).await
}

async fn put_plan(State(app): State<AppState>, body: axum::body::Bytes) -> Response {
    change_node(&app, None, &body).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunSelection {
    uids: Vec<String>,
}

/// Starts a code reload: 202 with the build command; 409 while one runs or testcases run.
async fn post_reload(State(app): State<AppState>) -> Response {
    let reloader = match &app.reloader {
        Ok(reloader) => reloader.clone(),
        Err(why) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("code reload is not available: {why}"),
            );
        }
    };
    match reloader.start(&app.state) {
        Ok(()) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({ "command": reloader.command() })),
        )
            .into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn post_run(State(app): State<AppState>, body: axum::body::Bytes) -> Response {
    let selection: RunSelection = match parse(&body) {
        Ok(selection) => selection,
        Err(refusal) => return refusal.into_response(),
    };
    if selection.uids.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "field `uids` must list at least one testcase",
        );
    }
    let state = app.state.clone();
    match tokio::task::spawn_blocking(move || state.run_selection(&selection.uids)).await {
        Ok(Ok(queued)) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({ "queued": queued })),
        )
            .into_response(),
        Ok(Err(refusal)) => refusal.into_response(),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request handler failed",
        ),
    }
}

async fn post_cancel(State(app): State<AppState>) -> Response {
    let state = app.state.clone();
    match tokio::task::spawn_blocking(move || state.cancel()).await {
        Ok(dropped) => axum::Json(serde_json::json!({
            "cancelled": dropped.runs,
            "environment_requests": dropped.environment_requests,
        }))
        .into_response(),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the cancel handler failed",
        ),
    }
}

async fn post_reset(State(app): State<AppState>) -> Response {
    match app.state.reset() {
        Ok(()) => axum::Json(serde_json::json!({ "reset": true })).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn get_config(State(app): State<AppState>) -> Response {
    axum::Json(serde_json::json!({
        "editor_url": app.state.editor_url,
        "source_root": crate::compile_dir::source_root(),
        "static": false,
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct LogQuery {
    #[serde(default = "default_log_lines")]
    lines: usize,
}

/// The most log lines one request may ask for.
const MAX_LOG_LINES: usize = 1000;

fn default_log_lines() -> usize {
    50
}

/// The tail of a driver's log files, for the environment panel.
async fn get_driver_log(
    State(app): State<AppState>,
    UrlPath((test, driver)): UrlPath<(String, String)>,
    Query(query): Query<LogQuery>,
) -> Response {
    if query.lines > MAX_LOG_LINES {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "`lines` must be at most {MAX_LOG_LINES} (got {})",
                query.lines
            ),
        );
    }
    match app.state.driver_log(&test, &driver, query.lines) {
        Ok(lines) => {
            axum::Json(serde_json::json!({ "test": test, "driver": driver, "lines": lines }))
                .into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// `attachments/<path>`: only files below the runpath, by a relative path without `..`.
async fn get_attachment(State(app): State<AppState>, UrlPath(path): UrlPath<String>) -> Response {
    read_attachment(&app.state.runpath, &path)
}

/// Types a browser shows inline; anything else downloads. Never HTML: an attachment must not
/// run script on the UI's origin.
fn attachment_type(file: &Path) -> &'static str {
    match file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("txt" | "log" | "csv" | "conf" | "cfg" | "ini" | "toml" | "yaml" | "yml" | "md") => {
            "text/plain; charset=utf-8"
        }
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    }
}

fn read_attachment(runpath: &Path, path: &str) -> Response {
    let relative = Path::new(&path);
    let safe = relative
        .components()
        .all(|component| matches!(component, Component::Normal(_)));
    if !safe {
        return error(
            StatusCode::BAD_REQUEST,
            format!("attachment path `{path}` must be relative, without `..`"),
        );
    }
    let file = runpath.join(relative);
    let inside = match (file.canonicalize(), runpath.canonicalize()) {
        (Ok(file), Ok(root)) => file.starts_with(root),
        _ => false,
    };
    if !inside || !file.is_file() {
        return error(StatusCode::NOT_FOUND, format!("no attachment `{path}`"));
    }
    match std::fs::read(&file) {
        Ok(bytes) => (
            [(header::CONTENT_TYPE, attachment_type(&file))],
            Body::from(bytes),
        )
            .into_response(),
        Err(problem) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to read attachment `{path}`: {problem}"),
        ),
    }
}

/// The query of `GET events` (other parameters are ignored, as they always were).
#[derive(Debug, Deserialize)]
struct EventsQuery {
    /// `?batch=true`: every update waiting when the connection is ready to send goes out as
    /// one `updates` message holding a JSON array, instead of an `update` message each.
    #[serde(default)]
    batch: bool,
    /// `?entries=false`: `entry_recorded` updates carry the entry's `passed` instead of the
    /// entry (`GET nodes/<uid>` has a node's entries).
    #[serde(default = "yes")]
    entries: bool,
    /// `?compact=true` (implies `batch=true` and `entries=false`): `compact` messages, in
    /// which the steps of a testcase a batch holds are one record (see [`compact_batch`]).
    #[serde(default)]
    compact: bool,
}

fn yes() -> bool {
    true
}

/// The most updates one `updates` message holds: a browser parses a message in one task,
/// and a thousand updates (about 250 KB) take it a millisecond or two.
const MAX_BATCH_UPDATES: usize = 1000;

/// The most updates one `compact` message holds: three updates per testcase become one
/// record of about 90 bytes, so this is about a thousand records.
const MAX_COMPACT_UPDATES: usize = 3000;

/// How long an `updates` message waits, after its first update, for more to join it. A run
/// of short testcases makes an update every few microseconds: without the wait each message
/// holds the few that arrived while the connection wrote the last one (thousands of
/// messages, writes and parses per run instead of tens).
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(5);

/// An update's text for a connection that asked for entries or not.
fn update_text(update: &Update, entries: bool) -> &str {
    if entries {
        &update.json
    } else {
        update.without_entries()
    }
}

/// A testcase's steps in one `compact` message.
struct Record {
    /// The seq of its last step.
    seq: u64,
    uid: Arc<str>,
    start: Option<f64>,
    finish: Option<(f64, Arc<str>, Option<Arc<str>>)>,
    entries: u32,
    failed: u32,
}

/// What a `compact` message holds, in order.
enum Item<'a> {
    Record(Record),
    Update(&'a Update),
}

fn write_time(out: &mut String, time: Option<f64>) {
    match time {
        Some(time) if time.is_finite() => {
            let _ = write!(out, "{time:?}");
        }
        _ => out.push_str("null"),
    }
}

/// The `compact` message of a batch of updates (in seq order, without gaps):
/// `{"from": F, "to": T, "updates": [...]}`, where F and T are the seqs of the first and
/// the last update it stands for, and each item is either an update as the batched stream
/// without entries sends it (`{"schema", "seq", "time", "event"}`), or the record of one
/// testcase's steps: `[seq, uid, start, end, status, entries, failed, error]` — the seq of
/// its last step; the time of its `testcase_started` or null; the time, status and error of
/// its `testcase_finished` or nulls; how many `entry_recorded` (and how many of them failed
/// assertions) between the two, or since the last record when it has no start. A record
/// stands where its first step was: a step joins the testcase's record unless the record
/// has that step already (a start after a start, a finish after a finish, an entry after a
/// finish starts a new one), or an update since ordered it (a `runtime_status` of that
/// testcase; a reset, the plan's end or any other update but a test's or a suite's start
/// and finish orders every record). A run of 10,000 short testcases is 10,000 records
/// instead of 30,000 updates (0.9 MB instead of 4.3 MB), and a client folds each once.
fn compact_batch(batch: &[Update]) -> String {
    let mut items: Vec<Item<'_>> = Vec::with_capacity(batch.len() / 2 + 1);
    let mut open: HashMap<Arc<str>, usize> = HashMap::new();
    for update in batch {
        let (uid, step) = match &update.compact {
            Compact::Testcase(uid, step) => (uid, step),
            Compact::Free => {
                items.push(Item::Update(update));
                continue;
            }
            Compact::Orders(uid) => {
                open.remove(uid);
                items.push(Item::Update(update));
                continue;
            }
            Compact::Barrier => {
                open.clear();
                items.push(Item::Update(update));
                continue;
            }
        };
        let joined = open.get(uid).and_then(|&index| match &mut items[index] {
            Item::Record(record) => {
                let joins = match step {
                    TestcaseStep::Started(_) => {
                        record.start.is_none() && record.finish.is_none() && record.entries == 0
                    }
                    TestcaseStep::Entry(_) | TestcaseStep::Finished(..) => record.finish.is_none(),
                };
                joins.then_some(record)
            }
            Item::Update(_) => None,
        });
        let record = match joined {
            Some(record) => record,
            None => {
                open.insert(uid.clone(), items.len());
                items.push(Item::Record(Record {
                    seq: update.seq,
                    uid: uid.clone(),
                    start: None,
                    finish: None,
                    entries: 0,
                    failed: 0,
                }));
                match items.last_mut() {
                    Some(Item::Record(record)) => record,
                    _ => unreachable!("a record was just pushed"),
                }
            }
        };
        record.seq = update.seq;
        match step {
            TestcaseStep::Started(time) => record.start = Some(*time),
            TestcaseStep::Entry(failed) => {
                record.entries += 1;
                record.failed += u32::from(*failed);
            }
            TestcaseStep::Finished(time, status, error) => {
                record.finish = Some((*time, status.clone(), error.clone()));
            }
        }
    }
    let (from, to) = match (batch.first(), batch.last()) {
        (Some(first), Some(last)) => (first.seq, last.seq),
        _ => (0, 0),
    };
    let mut out = String::with_capacity(batch.len() * 40 + 64);
    let _ = write!(out, r#"{{"from":{from},"to":{to},"updates":["#);
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        match item {
            Item::Update(update) => out.push_str(update.without_entries()),
            Item::Record(record) => {
                let _ = write!(out, "[{},{},", record.seq, record.uid);
                write_time(&mut out, record.start);
                out.push(',');
                match &record.finish {
                    Some((time, status, error)) => {
                        write_time(&mut out, Some(*time));
                        out.push(',');
                        out.push_str(status);
                        let _ = write!(out, ",{},{},", record.entries, record.failed);
                        out.push_str(error.as_deref().unwrap_or("null"));
                    }
                    None => {
                        let _ = write!(out, "null,null,{},{},null", record.entries, record.failed);
                    }
                }
                out.push(']');
            }
        }
    }
    out.push_str("]}");
    out
}

/// Server-sent events: a snapshot first, then every update newer than it, in order: one
/// `update` message each, or with `?batch=true` one `updates` message (a JSON array) for
/// every update that is waiting when the connection can send — one write and one parse for
/// a thousand updates where a run of 10,000 testcases would otherwise take 30,000. With
/// `?entries=false`, recorded entries are left out of the updates; with `?compact=true`,
/// `compact` messages hold a record per testcase (see [`compact_batch`]). A client that
/// falls too far behind is disconnected; it reconnects and gets a new snapshot.
async fn events(
    State(app): State<AppState>,
    Query(EventsQuery {
        batch,
        entries,
        compact,
    }): Query<EventsQuery>,
) -> impl IntoResponse {
    let batch = batch || compact;
    let entries = entries && !compact;
    let limit = if compact {
        MAX_COMPACT_UPDATES
    } else {
        MAX_BATCH_UPDATES
    };
    // Subscribe before taking the snapshot so nothing falls between the two.
    let receiver = app.state.updates.subscribe();
    let (snapshot_seq, snapshot) = app.state.snapshot();
    let first = SseEvent::default().event("snapshot").data(snapshot);
    let updates = stream::unfold(Some(receiver), move |receiver| async move {
        let mut receiver = receiver?;
        let update = loop {
            match receiver.recv().await {
                Ok(update) if update.seq <= snapshot_seq => continue,
                Ok(update) => break update,
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return None,
            }
        };
        if !batch {
            let message = SseEvent::default()
                .event("update")
                .data(update_text(&update, entries));
            return Some((Ok(message), Some(receiver)));
        }
        // A backlog of a whole message goes at once; else the updates of the next moment
        // join this one.
        if receiver.len() + 1 < limit {
            tokio::time::sleep(BATCH_WINDOW).await;
        }
        let mut gathered = Vec::with_capacity(limit.min(receiver.len() + 1));
        gathered.push(update);
        let mut next = Some(receiver);
        while gathered.len() < limit {
            let Some(receiver) = next.as_mut() else { break };
            match receiver.try_recv() {
                Ok(update) => gathered.push(update),
                Err(TryRecvError::Empty) => break,
                // What was gathered goes out; the gap ends the stream after it (the client
                // reconnects for a new snapshot).
                Err(TryRecvError::Lagged(_)) | Err(TryRecvError::Closed) => next = None,
            }
        }
        if compact {
            let message = SseEvent::default()
                .event("compact")
                .data(compact_batch(&gathered));
            return Some((Ok(message), next));
        }
        let mut writer = SseEvent::default().event("updates").into_data_writer();
        let _ = writer.write_str("[");
        for (index, update) in gathered.iter().enumerate() {
            if index > 0 {
                let _ = writer.write_str(",");
            }
            let _ = writer.write_str(update_text(update, entries));
        }
        let _ = writer.write_str("]");
        Some((Ok::<_, std::convert::Infallible>(writer.into_event()), next))
    });
    let stream: std::pin::Pin<
        Box<dyn Stream<Item = Result<SseEvent, std::convert::Infallible>> + Send>,
    > = Box::pin(stream::iter([Ok(first)]).chain(updates));
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Binds the listener (before anything is printed, so the printed port is real).
pub fn bind(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves on its own runtime thread until the process exits. Each connection is HTTP/1.1
/// with a header-read timeout, so a client that opens connections and sends nothing (or
/// sends headers a byte at a time) cannot hold them open.
pub fn serve(listener: std::net::TcpListener, router: Router) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("testrig-interactive-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(problem) => {
                        eprintln!("testrig: the interactive server cannot listen: {problem}");
                        return;
                    }
                };
                loop {
                    let stream = match listener.accept().await {
                        Ok((stream, _)) => stream,
                        // Out of descriptors or a connection reset before accept: the
                        // listener is still good, so wait a moment rather than spin.
                        Err(_) => {
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            continue;
                        }
                    };
                    // Pushed updates are small writes: without NODELAY, Nagle's algorithm
                    // and delayed ACKs hold them back by tens of milliseconds.
                    let _ = stream.set_nodelay(true);
                    let service = hyper_util::service::TowerToHyperService::new(router.clone());
                    tokio::spawn(async move {
                        let mut http = hyper::server::conn::http1::Builder::new();
                        http.timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(HEADER_READ_TIMEOUT);
                        let connection = http
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .with_upgrades();
                        // A client that goes away mid-request is its own business.
                        let _ = connection.await;
                    });
                }
            });
        })?;
    Ok(())
}

use futures_util::StreamExt as _;

/// A read-only server over a saved report: the self-contained HTML report at `/`, and the
/// attachments from the report's runpath. Bound to `bound`, it answers only requests that
/// name it in `Host` (plus `allowed_hosts`): the report holds paths and host names that a
/// page elsewhere must not read by DNS rebinding. Read-only, it needs no token.
pub fn report_router(
    report: &testrig_model::Report,
    bound: SocketAddr,
    allowed_hosts: &[String],
) -> std::io::Result<Router> {
    let page = crate::export::render_html_report(report, None)?;
    let runpath = std::path::PathBuf::from(&report.runpath);
    Ok(Router::new()
        .route(
            "/",
            get(
                move || async move { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page) },
            ),
        )
        .route(
            "/api/v1/interactive/attachments/{*path}",
            get(move |UrlPath(path): UrlPath<String>| {
                let runpath = runpath.clone();
                async move { read_attachment(&runpath, &path) }
            }),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such page in a saved report") })
        .layer(middleware::from_fn_with_state(
            Arc::new(AccessPolicy::new(bound, None, allowed_hosts)),
            guard,
        ))
        .layer(middleware::from_fn_with_state(
            REPORT_CONTENT_SECURITY_POLICY,
            protect,
        )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(seq: u64, compact: Compact) -> Update {
        Update {
            seq,
            json: format!(r#"{{"seq":{seq}}}"#).into(),
            without_entry: None,
            compact,
        }
    }

    fn step(uid: &str, step: TestcaseStep) -> Compact {
        Compact::Testcase(serde_json::to_string(uid).unwrap().into(), step)
    }

    fn finished(time: f64) -> TestcaseStep {
        TestcaseStep::Finished(time, r#""passed""#.into(), None)
    }

    #[test]
    fn a_batch_folds_each_testcase_into_one_record_where_its_first_step_was() {
        let batch = [
            update(1, step("t/s/a", TestcaseStep::Started(1.0))),
            update(2, step("t/s/b", TestcaseStep::Started(1.5))),
            update(3, step("t/s/a", TestcaseStep::Entry(false))),
            update(4, step("t/s/a", TestcaseStep::Entry(true))),
            update(5, Compact::Free),
            update(6, step("t/s/a", finished(2.0))),
            update(7, step("t/s/b", TestcaseStep::Entry(false))),
        ];
        assert_eq!(
            compact_batch(&batch),
            r#"{"from":1,"to":7,"updates":[[6,"t/s/a",1.0,2.0,"passed",2,1,null],[7,"t/s/b",1.5,null,null,1,0,null],{"seq":5}]}"#
        );
    }

    #[test]
    fn a_step_a_record_has_or_an_update_that_orders_it_starts_a_new_record() {
        let error =
            TestcaseStep::Finished(4.0, r#""error""#.into(), Some(r#"{"message":"x"}"#.into()));
        let batch = [
            update(10, step("a", TestcaseStep::Started(1.0))),
            update(11, step("a", finished(2.0))),
            // A rerun: a start after a finish.
            update(12, step("a", TestcaseStep::Started(3.0))),
            update(13, Compact::Orders(r#""a""#.into())),
            update(14, step("a", error)),
            update(15, Compact::Barrier),
            update(16, step("a", TestcaseStep::Entry(false))),
        ];
        assert_eq!(
            compact_batch(&batch),
            concat!(
                r#"{"from":10,"to":16,"updates":[[11,"a",1.0,2.0,"passed",0,0,null],"#,
                r#"[12,"a",3.0,null,null,0,0,null],{"seq":13},"#,
                r#"[14,"a",null,4.0,"error",0,0,{"message":"x"}],{"seq":15},"#,
                r#"[16,"a",null,null,null,1,0,null]]}"#
            )
        );
    }
}

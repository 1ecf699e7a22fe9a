//! The interactive HTTP server: the REST API under `/api/v1/interactive/`, the push channel
//! (server-sent events: a snapshot, then every update), attachments, and the browser UI
//! from `web/`, embedded in the binary.
//!
//! tokio and axum live here only, on threads of their own; everything they do to the plan
//! goes through [`InteractiveState`]. The server binds 127.0.0.1 unless told otherwise, and
//! then requires a token: the API can start processes, so it is treated like a shell.

use std::net::SocketAddr;
use std::path::{Component, Path};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use futures_util::stream::{self, Stream};
use rust_embed::RustEmbed;
use serde::Deserialize;
use testrig_model::{DriverStatus, RuntimeStatus};
use tokio::sync::broadcast::error::RecvError;

use crate::interactive::reload::Reloader;
use crate::interactive::state::{InteractiveState, Refusal};

/// The browser UI: ES modules served as they are.
#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/../../web"]
pub struct WebAssets;

/// The OpenAPI document of the API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Largest request body accepted.
const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
struct AppState {
    state: Arc<InteractiveState>,
    token: Option<String>,
    reloader: Option<Arc<Reloader>>,
}

/// Builds the router; `reloader` serves `POST /reload` (code reload), when there is one.
pub fn router(
    state: Arc<InteractiveState>,
    token: Option<String>,
    reloader: Option<Arc<Reloader>>,
) -> Router {
    let app = AppState {
        state,
        token,
        reloader,
    };
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
        .layer(middleware::from_fn_with_state(app.clone(), require_token))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message.into() })),
    )
        .into_response()
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

/// With a token configured, every request must carry it: `X-Testrig-Token`, `?token=`, or
/// the cookie set when the printed URL (with `?token=`) was opened.
async fn require_token(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(expected) = &app.token else {
        return next.run(request).await;
    };
    let from_query = request
        .uri()
        .query()
        .and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("token="))
        })
        .map(str::to_string);
    let from_header = request
        .headers()
        .get("x-testrig-token")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let from_cookie = request
        .headers()
        .get(header::COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(|cookies| {
            cookies
                .split(';')
                .find_map(|c| c.trim().strip_prefix("testrig_token=").map(str::to_string))
        });
    let given = from_header.or(from_query.clone()).or(from_cookie);
    if given.as_deref() != Some(expected.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong access token: open the URL printed at start-up, or send X-Testrig-Token",
        );
    }
    let mut response = next.run(request).await;
    if from_query.is_some()
        && let Ok(cookie) = HeaderValue::from_str(&format!(
            "testrig_token={expected}; Path=/; HttpOnly; SameSite=Strict"
        ))
    {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

async fn asset(file: String) -> Response {
    let Some(content) = WebAssets::get(&file) else {
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
    (
        [(header::CONTENT_TYPE, content_type)],
        content.data.into_owned(),
    )
        .into_response()
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

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body)
        .map_err(|problem| Refusal::BadRequest(format!("invalid request body: {problem}")))
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
    let Some(reloader) = app.reloader.clone() else {
        return error(
            StatusCode::BAD_REQUEST,
            "code reload is not available: the plan's build command is unknown (give it with --reload-command)",
        );
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
        Ok(dropped) => axum::Json(serde_json::json!({ "cancelled": dropped })).into_response(),
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
        "source_root": source_root(),
        "static": false,
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct LogQuery {
    #[serde(default = "default_log_lines")]
    lines: usize,
}

fn default_log_lines() -> usize {
    50
}

/// The tail of a driver's log files, for the environment panel.
async fn get_driver_log(
    State(app): State<AppState>,
    UrlPath((test, driver)): UrlPath<(String, String)>,
    Query(query): Query<LogQuery>,
) -> Response {
    match app.state.driver_log(&test, &driver, query.lines.min(1000)) {
        Ok(lines) => {
            axum::Json(serde_json::json!({ "test": test, "driver": driver, "lines": lines }))
                .into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// The folder source locations are relative to: `file!()` paths are relative to the cargo
/// workspace root, the nearest ancestor of the working folder with a `Cargo.lock`.
pub fn source_root() -> Option<String> {
    let current = std::env::current_dir().ok()?;
    current
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .map(|dir| dir.display().to_string())
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

/// Server-sent events: a snapshot first, then every update newer than it, in order. A
/// client that falls too far behind is disconnected; it reconnects and gets a new snapshot.
async fn events(State(app): State<AppState>) -> impl IntoResponse {
    // Subscribe before taking the snapshot so nothing falls between the two.
    let receiver = app.state.updates.subscribe();
    let snapshot = app.state.snapshot_json();
    let snapshot_seq = serde_json::from_str::<serde_json::Value>(&snapshot)
        .ok()
        .and_then(|value| value["seq"].as_u64())
        .unwrap_or(0);
    let first = SseEvent::default().event("snapshot").data(snapshot);
    let updates = stream::unfold(Some(receiver), move |receiver| async move {
        let mut receiver = receiver?;
        loop {
            match receiver.recv().await {
                Ok(update) if update.seq <= snapshot_seq => continue,
                Ok(update) => {
                    return Some((
                        Ok::<_, std::convert::Infallible>(
                            SseEvent::default().event("update").data(&*update.json),
                        ),
                        Some(receiver),
                    ));
                }
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return None,
            }
        }
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

/// Serves on its own runtime thread until the process exits.
pub fn serve(listener: std::net::TcpListener, router: Router) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("testrig-interactive-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => {
                        // Pushed updates are small writes: without NODELAY, Nagle's algorithm
                        // and delayed ACKs hold them back by tens of milliseconds.
                        let listener = listener.tap_io(|stream| {
                            let _ = stream.set_nodelay(true);
                        });
                        if let Err(problem) = axum::serve(listener, router).await {
                            eprintln!("testrig: the interactive server stopped: {problem}");
                        }
                    }
                    Err(problem) => {
                        eprintln!("testrig: the interactive server cannot listen: {problem}")
                    }
                }
            });
        })?;
    Ok(())
}

use futures_util::StreamExt as _;

/// A read-only server over a saved report: the self-contained HTML report at `/`, and the
/// attachments from the report's runpath.
pub fn report_router(report: &testrig_model::Report) -> std::io::Result<Router> {
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
        ))
}

//! Who may talk to the interactive server, and what every answer carries.
//!
//! The API starts processes and rebuilds code, so it is guarded like a shell (DESIGN.md §5,
//! "The interactive server is safe to leave running"), in this order:
//! 1. **Host**: only names of the bound interface (and `--interactive-allow-host` names),
//!    with the bound port — a page on a name that resolves to 127.0.0.1 (DNS rebinding)
//!    gets 403 (Jupyter's rule, jupyter/notebook#3714).
//! 2. **Cross-site writes**: a PUT, POST, PATCH or DELETE whose `Origin` is not the server's
//!    own, or that the browser marks as not same-origin (`Sec-Fetch-Site`), gets 403 — this
//!    also covers pages on another port of the same host, to which a `SameSite` cookie is
//!    still sent. A body that is not `application/json` gets 415, so no "simple" cross-site
//!    request (text/plain, form, multipart) is ever parsed.
//! 3. **Token**: from the OS random source unless given, compared in constant time, taken
//!    from `X-Testrig-Token`, `Authorization: token …`, `?token=` (URL-decoded) or the
//!    `HttpOnly; SameSite=Strict` cookie the printed URL sets. A browser without it gets a
//!    small page saying how to get in.
//!
//! Every response carries framing, sniffing, referrer and content-security protections, API
//! answers are never cached, and every error body is `{"error": "…"}`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::body::{Body, to_bytes};
use axum::extract::{Query, Request, State};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The policy the UI is served under: no inline script or style, nothing from elsewhere,
/// never framed.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The policy of the self-contained report `testrig serve` shows: its script and style are
/// inline by design (it also opens from a file), so only they may run, and still never framed.
pub(crate) const REPORT_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
    script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// Largest request body accepted; a larger declared `Content-Length` is refused unread.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Length of a generated token, in bytes of OS randomness (printed as twice as many hex
/// digits).
const TOKEN_BYTES: usize = 24;

/// The access rules of one interactive server.
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    token: Option<String>,
    port: u16,
    /// Lower-case host names accepted in `Host` (IPv6 addresses in brackets).
    hosts: Vec<String>,
}

/// Why an access setting cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessError(pub String);

impl std::fmt::Display for AccessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AccessError {}

impl AccessPolicy {
    /// The rules for a server bound to `bound`, with `token` (`None`: no token, see
    /// [`AccessPolicy::check_no_token`]) and extra host names allowed in `Host`.
    pub fn new(bound: SocketAddr, token: Option<String>, allowed_hosts: &[String]) -> AccessPolicy {
        let mut hosts: Vec<String> = Vec::new();
        let ip = bound.ip();
        if ip.is_loopback() || ip.is_unspecified() {
            hosts.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
        }
        if !ip.is_unspecified() {
            hosts.push(host_of(ip));
        }
        hosts.extend(allowed_hosts.iter().map(|name| normalize_host(name)));
        hosts.dedup();
        AccessPolicy {
            token,
            port: bound.port(),
            hosts,
        }
    }

    /// Running without a token is allowed only where no other user of the machine's
    /// network can reach the server by another address: 127.0.0.1 or ::1 exactly.
    pub fn check_no_token(host: IpAddr) -> Result<(), AccessError> {
        if host == IpAddr::from([127, 0, 0, 1])
            || host == IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
        {
            Ok(())
        } else {
            Err(AccessError(format!(
                "--interactive-no-token is allowed only with --interactive-host 127.0.0.1 or ::1, not {host}; drop it (the printed URL carries the token) or give one with --interactive-token"
            )))
        }
    }

    /// The token, when there is one.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The cookie that carries the token: named after the port, since browsers share
    /// cookies between the ports of one host and two plans must not overwrite each other's.
    fn cookie_name(&self) -> String {
        format!("testrig_token_{}", self.port)
    }

    /// Whether a `Host` header names this server.
    fn host_allowed(&self, value: Option<&HeaderValue>) -> bool {
        let Some(authority) = value
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse::<Authority>().ok())
        else {
            return false;
        };
        let port = authority.port_u16().unwrap_or(80);
        port == self.port && self.hosts.contains(&normalize_host(authority.host()))
    }

    fn given_token(&self, request: &Request) -> Vec<String> {
        let headers = request.headers();
        let mut given = Vec::new();
        if let Some(value) = header_text(headers, "x-testrig-token") {
            given.push(value.to_string());
        }
        if let Some(value) = header_text(headers, header::AUTHORIZATION.as_str())
            && let Some((scheme, value)) = value.split_once(' ')
            && (scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer"))
        {
            given.push(value.trim().to_string());
        }
        if let Some(value) = query_token(request) {
            given.push(value);
        }
        let cookie_name = self.cookie_name();
        for cookies in headers.get_all(header::COOKIE) {
            let Ok(cookies) = cookies.to_str() else {
                continue;
            };
            for cookie in cookies.split(';') {
                if let Some((name, value)) = cookie.trim().split_once('=')
                    && name == cookie_name
                {
                    given.push(value.to_string());
                }
            }
        }
        given
    }
}

/// A token from the OS random source, as lower-case hex.
pub fn generate_token() -> Result<String, AccessError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|error| {
        AccessError(format!(
            "failed to read the OS random source for an access token: {error}; give one with --interactive-token"
        ))
    })?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Equal in time that depends on the length only, so that timing tells nothing about how
/// much of a guess was right.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    let difference = given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(difference) == 0
}

fn normalize_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn host_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn query_token(request: &Request) -> Option<String> {
    let Query(query) = Query::<HashMap<String, String>>::try_from_uri(request.uri()).ok()?;
    query.get("token").cloned()
}

/// An error answer: `{"error": "…"}`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message.into() })),
    )
        .into_response()
}

fn changes_state(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The origin a browser names for this request's own page: `http://` and the `Host`.
fn own_origin(headers: &HeaderMap) -> Option<String> {
    header_text(headers, header::HOST.as_str()).map(|host| format!("http://{host}"))
}

/// Refuses what the policy does not allow; see the module documentation for the order.
pub(crate) async fn guard(
    State(policy): State<std::sync::Arc<AccessPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if !policy.host_allowed(headers.get(header::HOST)) {
        let host = header_text(headers, header::HOST.as_str()).unwrap_or("(none)");
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "host `{host}` is not this server's (allowed: {} with port {}); if you reach it by another name, allow that name: start the plan with --interactive-allow-host NAME (`testrig serve`: --allow-host NAME)",
                policy.hosts.join(", "),
                policy.port
            ),
        );
    }
    if changes_state(request.method()) {
        if let Some(origin) = header_text(headers, header::ORIGIN.as_str()) {
            let own = own_origin(headers).unwrap_or_default();
            if !origin.eq_ignore_ascii_case(&own) {
                return error(
                    StatusCode::FORBIDDEN,
                    format!(
                        "cross-origin request from `{origin}` refused: only the UI at {own} may change state"
                    ),
                );
            }
        }
        if let Some(site) = header_text(headers, "sec-fetch-site")
            && site != "same-origin"
            && site != "none"
        {
            return error(
                StatusCode::FORBIDDEN,
                format!("{site} request refused: only the UI's own page may change state"),
            );
        }
        let declared = header_text(headers, header::CONTENT_LENGTH.as_str())
            .and_then(|length| length.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body too large: at most {MAX_BODY_BYTES} bytes"),
            );
        }
        let has_body = declared.is_some_and(|length| length > 0)
            || headers.contains_key(header::TRANSFER_ENCODING);
        if has_body && !is_json(headers) {
            let given = header_text(headers, header::CONTENT_TYPE.as_str()).unwrap_or("none");
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("request bodies must be `Content-Type: application/json` (got `{given}`)"),
            );
        }
    }
    if let Some(expected) = policy.token() {
        let given = policy.given_token(&request);
        let valid = given
            .iter()
            .any(|token| constant_time_eq(token.as_bytes(), expected.as_bytes()));
        if !valid {
            return unauthorized(&request, !given.is_empty());
        }
        let from_query = query_token(&request).is_some();
        let mut response = next.run(request).await;
        if from_query
            && let Ok(cookie) = HeaderValue::from_str(&format!(
                "{}={expected}; Path=/; HttpOnly; SameSite=Strict",
                policy.cookie_name()
            ))
        {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        return response;
    }
    next.run(request).await
}

fn is_json(headers: &HeaderMap) -> bool {
    header_text(headers, header::CONTENT_TYPE.as_str())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// 401: JSON for the API, a page saying how to get in for a browser.
fn unauthorized(request: &Request, wrong: bool) -> Response {
    let what = if wrong { "wrong" } else { "missing" };
    let wants_page = request.method() == Method::GET
        && !request.uri().path().starts_with("/api/")
        && header_text(request.headers(), header::ACCEPT.as_str())
            .is_some_and(|accept| accept.contains("text/html"));
    if !wants_page {
        return error(
            StatusCode::UNAUTHORIZED,
            format!(
                "{what} access token: open the URL printed at start-up (it ends in ?token=…), or send the token as X-Testrig-Token"
            ),
        );
    }
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>testrig: access token needed</title></head>\n\
         <body><h1>This testrig server needs its access token</h1>\n\
         <p>The access token is {what}. Open the URL the plan printed when it started — the line \
         <code>Interactive testrig UI: http://…/?token=…</code> — and this browser remembers the token \
         for as long as the plan runs, across code reloads.</p>\n\
         <p>Scripts send it as the <code>X-Testrig-Token</code> header.</p></body></html>\n"
    );
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

/// Adds the protections every response carries (with the page's content-security policy),
/// and turns any error answer that is not
/// JSON yet (a 405 from routing, a 413 from the body limit, a rejected path or query) into
/// `{"error": "…"}`.
pub(crate) async fn protect(
    State(content_security_policy): State<&'static str>,
    request: Request,
    next: Next,
) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    let status = response.status();
    let typed = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|kind| kind.starts_with("application/json") || kind.starts_with("text/html"));
    if (status.is_client_error() || status.is_server_error()) && !typed {
        let allow = response.headers().get(header::ALLOW).cloned();
        let text = to_bytes(
            std::mem::replace(response.body_mut(), Body::empty()),
            MAX_BODY_BYTES,
        )
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
        let message = match (status, &allow) {
            (StatusCode::METHOD_NOT_ALLOWED, Some(allow)) => format!(
                "method {method} is not allowed on `{path}`; allowed: {}",
                allow.to_str().unwrap_or_default()
            ),
            (StatusCode::PAYLOAD_TOO_LARGE, _) => {
                format!("request body too large: at most {MAX_BODY_BYTES} bytes")
            }
            _ if !text.is_empty() => lowercase_first(&text),
            _ => status
                .canonical_reason()
                .unwrap_or("request refused")
                .to_ascii_lowercase(),
        };
        let mut replaced = error(status, message);
        if let Some(allow) = allow {
            replaced.headers_mut().insert(header::ALLOW, allow);
        }
        response = replaced;
    }
    let headers = response.headers_mut();
    let fixed = [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, content_security_policy),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if api || status == StatusCode::UNAUTHORIZED {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Lower-cases the first letter, as every testrig message starts.
fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(bound: &str, extra: &[&str]) -> AccessPolicy {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        AccessPolicy::new(bound.parse().unwrap(), Some("t".into()), &extra)
    }

    fn allowed(policy: &AccessPolicy, host: &str) -> bool {
        policy.host_allowed(Some(&HeaderValue::from_str(host).unwrap()))
    }

    #[test]
    fn a_loopback_bind_accepts_only_loopback_names_with_its_port() {
        let policy = policy("127.0.0.1:4000", &[]);
        for host in [
            "127.0.0.1:4000",
            "localhost:4000",
            "LOCALHOST:4000",
            "[::1]:4000",
            "localhost.:4000",
        ] {
            assert!(allowed(&policy, host), "{host}");
        }
        for host in [
            "evil.example:4000",
            "127.0.0.1:4001",
            "127.0.0.1",
            "localhost.evil.example:4000",
            "127.0.0.2:4000",
            "",
        ] {
            assert!(!allowed(&policy, host), "{host}");
        }
        assert!(!policy.host_allowed(None));
    }

    #[test]
    fn other_binds_accept_their_address_and_the_names_given() {
        let policy = policy("10.1.2.3:80", &["Build-Box"]);
        assert!(allowed(&policy, "10.1.2.3"));
        assert!(allowed(&policy, "build-box:80"));
        assert!(!allowed(&policy, "localhost:80"));
        let any = policy_any();
        assert!(allowed(&any, "localhost:5000"));
        assert!(!allowed(&any, "0.0.0.0:5000"));
    }

    fn policy_any() -> AccessPolicy {
        policy("0.0.0.0:5000", &[])
    }

    #[test]
    fn no_token_is_allowed_on_exactly_127_0_0_1_and_ipv6_loopback() {
        assert!(AccessPolicy::check_no_token("127.0.0.1".parse().unwrap()).is_ok());
        assert!(AccessPolicy::check_no_token("::1".parse().unwrap()).is_ok());
        for host in ["127.0.0.3", "0.0.0.0", "10.0.0.1"] {
            let refused = AccessPolicy::check_no_token(host.parse().unwrap()).unwrap_err();
            assert!(refused.0.contains(host), "{refused}");
        }
    }

    #[test]
    fn generated_tokens_are_long_random_hex() {
        let first = generate_token().unwrap();
        let second = generate_token().unwrap();
        assert_eq!(first.len(), TOKEN_BYTES * 2);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(first, second);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abd", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
    }
}

//! TLS for sessions (feature `tls`), through the `openssl` crate and the
//! system's libssl.
//!
//! - [`TlsClientConfig`]: what an initiator trusts (a CA file, the system's
//!   CAs, or nothing when explicitly opted out), the server name it checks,
//!   and an optional client certificate.
//! - [`TlsServerConfig`]: the certificate and key an acceptor presents, and
//!   an optional CA its clients' certificates must be signed by.
//!
//! Each is loaded once into a [`TlsConnector`] or [`TlsAcceptor`], so a
//! missing or unreadable file is reported when the session is set up, with
//! the file named, rather than as a failed handshake later. The handshake
//! itself runs on the blocking socket with the logon timeout as its
//! deadline; the session engine then takes the stream over (see
//! `transport.rs` for how one TLS stream serves two threads).

use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openssl::error::ErrorStack;
use openssl::ssl::{
    HandshakeError, SslAcceptor, SslConnector, SslFiletype, SslMethod, SslOptions, SslRef,
    SslStream, SslVerifyMode,
};
use openssl::x509::{X509Name, X509VerifyResult};

use crate::error::FixError;

/// How an initiator sets up TLS: whom it trusts and what it shows.
///
/// ```no_run
/// use testrig_fix::{FixVersion, SessionConfig, TlsClientConfig, connect_tls};
///
/// let tls = TlsClientConfig::new()
///     .with_ca_file("ca.pem")
///     .with_server_name("fix.example.test");
/// let config = SessionConfig::new(FixVersion::Fix44, "CLIENT", "SERVER");
/// let session = connect_tls("127.0.0.1:9878", config, &tls)?;
/// assert!(session.tls_version().is_some());
/// # Ok::<(), testrig_fix::FixError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct TlsClientConfig {
    /// A PEM file with the CA certificate(s) the server's certificate must be
    /// signed by (for a self-signed server certificate: that certificate).
    /// `None` trusts the system's CAs.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate and name. Only when explicitly opted
    /// into: the connection is encrypted but the server is not checked.
    pub insecure: bool,
    /// The name the server's certificate must carry (a DNS name, or an IP
    /// address matched against its IP subjectAltNames); a DNS name is also
    /// sent as SNI. `None`: the IP address connected to.
    pub server_name: Option<String>,
    /// A client certificate (PEM, optionally followed by its chain) and its
    /// private key (PEM), for servers that require one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl TlsClientConfig {
    /// Verifies the server against the system's CAs and the address
    /// connected to, without a client certificate.
    pub fn new() -> TlsClientConfig {
        TlsClientConfig::default()
    }

    /// Sets [`ca_file`](TlsClientConfig::ca_file).
    #[must_use]
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> TlsClientConfig {
        self.ca_file = Some(path.into());
        self
    }

    /// Turns verification of the server's certificate and name off (see
    /// [`insecure`](TlsClientConfig::insecure)).
    #[must_use]
    pub fn insecure(mut self) -> TlsClientConfig {
        self.insecure = true;
        self
    }

    /// Sets [`server_name`](TlsClientConfig::server_name).
    #[must_use]
    pub fn with_server_name(mut self, name: impl Into<String>) -> TlsClientConfig {
        self.server_name = Some(name.into());
        self
    }

    /// Sets [`client_cert`](TlsClientConfig::client_cert): a certificate and
    /// its key.
    #[must_use]
    pub fn with_client_cert(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> TlsClientConfig {
        self.client_cert = Some((cert.into(), key.into()));
        self
    }

    /// Loads the files into a connector for any number of connections.
    pub fn connector(&self) -> Result<TlsConnector, FixError> {
        let mut builder = SslConnector::builder(SslMethod::tls_client())
            .map_err(|e| setup_error("failed to set up a TLS client", &e))?;
        builder.set_options(SslOptions::IGNORE_UNEXPECTED_EOF);
        if let Some(ca) = &self.ca_file {
            readable(ca, "CA file", CA_FIX)?;
            builder
                .set_ca_file(ca)
                .map_err(|e| load_error("CA file", ca, &e, CA_FIX))?;
        }
        if let Some((cert, key)) = &self.client_cert {
            load_identity(&mut builder, cert, key, "client")?;
        }
        if self.insecure {
            builder.set_verify(SslVerifyMode::NONE);
        }
        Ok(TlsConnector {
            inner: builder.build(),
            config: self.clone(),
        })
    }
}

/// How an acceptor sets up TLS: the certificate it presents and, optionally,
/// the CA its clients must have certificates from.
///
/// ```no_run
/// use testrig_fix::{Acceptor, FixVersion, SessionConfig, TlsServerConfig};
///
/// let tls = TlsServerConfig::new("server.pem", "server.key");
/// let config = SessionConfig::new(FixVersion::Fix44, "SERVER", "");
/// let acceptor = Acceptor::bind_tls("127.0.0.1:0", config, &tls)?;
/// # Ok::<(), testrig_fix::FixError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TlsServerConfig {
    /// The server's certificate (PEM, optionally followed by its chain).
    pub cert_file: PathBuf,
    /// The certificate's private key (PEM, unencrypted).
    pub key_file: PathBuf,
    /// When set, every client must present a certificate signed by a CA in
    /// this PEM file; `None` asks for no client certificate.
    pub client_ca_file: Option<PathBuf>,
}

impl TlsServerConfig {
    /// Presents `cert` (with the private key `key`) and asks clients for no
    /// certificate.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsServerConfig {
        TlsServerConfig {
            cert_file: cert.into(),
            key_file: key.into(),
            client_ca_file: None,
        }
    }

    /// Sets [`client_ca_file`](TlsServerConfig::client_ca_file): clients
    /// need a certificate signed by it.
    #[must_use]
    pub fn with_client_ca_file(mut self, path: impl Into<PathBuf>) -> TlsServerConfig {
        self.client_ca_file = Some(path.into());
        self
    }

    /// Loads the files into an acceptor for any number of connections.
    pub fn acceptor(&self) -> Result<TlsAcceptor, FixError> {
        // Mozilla's "intermediate" profile: TLS 1.2 and 1.3 with the ciphers
        // every maintained client has, QuickFIX's included.
        let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
            .map_err(|e| setup_error("failed to set up a TLS server", &e))?;
        builder.set_options(SslOptions::IGNORE_UNEXPECTED_EOF);
        load_identity(&mut builder, &self.cert_file, &self.key_file, "server")?;
        if let Some(ca) = &self.client_ca_file {
            readable(ca, "client CA file", CLIENT_CA_FIX)?;
            builder
                .set_ca_file(ca)
                .map_err(|e| load_error("client CA file", ca, &e, CLIENT_CA_FIX))?;
            // Tells clients which CAs we accept, so one with several
            // certificates can pick the right one.
            let names = X509Name::load_client_ca_file(ca)
                .map_err(|e| load_error("client CA file", ca, &e, CLIENT_CA_FIX))?;
            builder.set_client_ca_list(names);
            builder.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        }
        Ok(TlsAcceptor {
            inner: builder.build(),
            client_ca: self.client_ca_file.clone(),
        })
    }
}

/// A loaded [`TlsClientConfig`], ready to run client handshakes.
#[derive(Clone)]
pub struct TlsConnector {
    inner: SslConnector,
    config: TlsClientConfig,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TlsConnector {
    /// The settings it was loaded from.
    pub fn config(&self) -> &TlsClientConfig {
        &self.config
    }

    /// The client handshake over a connected `stream`, giving up after
    /// `timeout`.
    pub(crate) fn handshake(
        &self,
        stream: TcpStream,
        timeout: Duration,
    ) -> Result<SslStream<TcpStream>, FixError> {
        let peer = stream.peer_addr()?;
        let config = &self.config;
        let name = config
            .server_name
            .clone()
            .unwrap_or_else(|| peer.ip().to_string());
        let mut connect = self
            .inner
            .configure()
            .map_err(|e| setup_error("failed to set up a TLS connection", &e))?;
        if config.insecure {
            connect.set_verify_hostname(false);
        }
        let deadline = crate::time::deadline_after(timeout);
        set_timeouts(&stream, timeout)?;
        let attempt = connect.connect(&name, stream);
        finish(attempt, peer, deadline, timeout, |ssl, reason| {
            self.hint(ssl, reason, &name)
        })
    }

    /// Why the handshake failed and what to change, from the client's side.
    fn hint(&self, ssl: &SslRef, reason: String, name: &str) -> String {
        let verify = ssl.verify_result();
        if verify != X509VerifyResult::OK {
            let trusted = match &self.config.ca_file {
                Some(ca) => format!("`{}`", ca.display()),
                None => "the system's CAs".to_string(),
            };
            return format!(
                "the server's certificate was refused ({}); give the CA certificate that signed it as the CA file (now {trusted}) and a server name the certificate carries (now `{name}`), or turn verification off explicitly",
                verify.error_string()
            );
        }
        format!(
            "{reason}; is the server speaking TLS on this port, and does it accept this client{}?",
            if self.config.client_cert.is_some() {
                "'s certificate"
            } else {
                " without a certificate"
            }
        )
    }
}

/// A loaded [`TlsServerConfig`], ready to run server handshakes.
#[derive(Clone)]
pub struct TlsAcceptor {
    inner: SslAcceptor,
    client_ca: Option<PathBuf>,
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("client_ca", &self.client_ca)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// The server handshake over an accepted `stream`, giving up after
    /// `timeout`.
    pub(crate) fn handshake(
        &self,
        stream: TcpStream,
        timeout: Duration,
    ) -> Result<SslStream<TcpStream>, FixError> {
        let peer = stream.peer_addr()?;
        let deadline = crate::time::deadline_after(timeout);
        set_timeouts(&stream, timeout)?;
        let attempt = self.inner.accept(stream);
        finish(attempt, peer, deadline, timeout, |ssl, reason| {
            let verify = ssl.verify_result();
            match &self.client_ca {
                Some(ca) if verify != X509VerifyResult::OK => format!(
                    "the client's certificate was refused ({}); it must be signed by a CA in the client CA file `{}`",
                    verify.error_string(),
                    ca.display()
                ),
                Some(ca) => format!(
                    "{reason}; does the client connect with TLS, trust this server's certificate and present one signed by a CA in `{}`?",
                    ca.display()
                ),
                None => format!(
                    "{reason}; does the client connect with TLS and trust this server's certificate?"
                ),
            }
        })
    }
}

/// Drives a handshake to its end: retries while the socket's read timeout
/// expires before `deadline`, then maps the outcome to a [`FixError`].
fn finish(
    mut attempt: Result<SslStream<TcpStream>, HandshakeError<TcpStream>>,
    peer: SocketAddr,
    deadline: Instant,
    timeout: Duration,
    explain: impl Fn(&SslRef, String) -> String,
) -> Result<SslStream<TcpStream>, FixError> {
    loop {
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(HandshakeError::WouldBlock(mid)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(FixError::Timeout {
                        waiting_for: format!("the TLS handshake with {peer}"),
                        after: timeout,
                    });
                }
                set_timeouts(mid.get_ref(), left)?;
                attempt = mid.handshake();
            }
            Err(HandshakeError::Failure(mid)) => {
                let reason = describe(mid.error());
                return Err(FixError::TlsHandshake {
                    peer: peer.to_string(),
                    reason: explain(mid.ssl(), reason),
                });
            }
            Err(HandshakeError::SetupFailure(e)) => {
                return Err(setup_error("failed to set up a TLS connection", &e));
            }
        }
    }
}

/// A handshake error in a few words: OpenSSL's reasons ("wrong version
/// number", "certificate verify failed"), the socket's error, or an EOF.
fn describe(error: &openssl::ssl::Error) -> String {
    if let Some(stack) = error.ssl_error() {
        let reasons = reasons(stack);
        if !reasons.is_empty() {
            return reasons;
        }
    }
    match error.io_error() {
        Some(e) => e.to_string(),
        None => "the peer closed the connection during the handshake".to_string(),
    }
}

fn reasons(stack: &ErrorStack) -> String {
    let mut reasons: Vec<String> = Vec::new();
    for error in stack.errors() {
        let reason = error
            .reason()
            .map_or_else(|| format!("error {:#x}", error.code()), str::to_owned);
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
    reasons.join(", ")
}

fn set_timeouts(stream: &TcpStream, timeout: Duration) -> Result<(), FixError> {
    // A zero timeout means "block forever" to the socket API: keep a floor.
    let timeout = timeout.max(Duration::from_millis(1));
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(())
}

const CA_FIX: &str = "give a PEM file with the certificate of the CA that signed the server's certificate (for a self-signed server certificate, that certificate)";
const CLIENT_CA_FIX: &str =
    "give a PEM file with the certificate of the CA that signs the clients' certificates";

/// Loads a certificate (with its chain) and its key, and checks they match.
fn load_identity(
    builder: &mut openssl::ssl::SslContextBuilder,
    cert: &Path,
    key: &Path,
    role: &str,
) -> Result<(), FixError> {
    let cert_fix = format!(
        "give a PEM file with the {role}'s certificate (`-----BEGIN CERTIFICATE-----`), optionally followed by its chain"
    );
    let key_fix = format!(
        "give an unencrypted PEM file with the private key of the {role}'s certificate (`-----BEGIN PRIVATE KEY-----`)"
    );
    readable(cert, "TLS certificate", &cert_fix)?;
    readable(key, "TLS key", &key_fix)?;
    builder
        .set_certificate_chain_file(cert)
        .map_err(|e| load_error("TLS certificate", cert, &e, &cert_fix))?;
    let mismatch = |e: &ErrorStack| FixError::TlsSetup {
        reason: format!(
            "the TLS key `{}` does not belong to the certificate `{}` ({}); give the key the certificate was made with",
            key.display(),
            cert.display(),
            reasons(e)
        ),
    };
    // OpenSSL checks the key against the certificate as it loads it.
    builder
        .set_private_key_file(key, SslFiletype::PEM)
        .map_err(|e| {
            if reasons(&e).contains("mismatch") {
                mismatch(&e)
            } else {
                load_error("TLS key", key, &e, &key_fix)
            }
        })?;
    builder.check_private_key().map_err(|e| mismatch(&e))
}

/// Fails early, naming the file, when it does not exist or cannot be read:
/// OpenSSL's own message for that is "system library".
fn readable(path: &Path, what: &str, fix: &str) -> Result<(), FixError> {
    match std::fs::File::open(path) {
        Ok(_) => Ok(()),
        Err(e) => Err(FixError::TlsSetup {
            reason: format!(
                "failed to load the {what} `{}`: {}; {fix}",
                path.display(),
                crate::error::io_reason(&e)
            ),
        }),
    }
}

fn load_error(what: &str, path: &Path, error: &ErrorStack, fix: &str) -> FixError {
    FixError::TlsSetup {
        reason: format!(
            "failed to load the {what} `{}`: {}; {fix}",
            path.display(),
            reasons(error)
        ),
    }
}

fn setup_error(what: &str, error: &ErrorStack) -> FixError {
    FixError::TlsSetup {
        reason: format!(
            "{what}: {}; is the system's OpenSSL library working?",
            reasons(error)
        ),
    }
}

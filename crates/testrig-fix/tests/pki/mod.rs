//! Certificates for the TLS tests, made at test time with the `openssl`
//! command-line tool (Debian: `apt-get install -y openssl`), once per test
//! binary, in a directory of their own under the target directory.
//!
//! - `server.pem`/`server.key`: self-signed, for `localhost` and
//!   127.0.0.1, so a client trusts it by giving it as its CA file.
//! - `other.pem`/`other.key`: another self-signed certificate, the wrong
//!   CA for the server.
//! - `ca.pem`/`ca.key` and `client.pem`/`client.key`: a CA and a client
//!   certificate it signed, for servers that require client certificates.

#![allow(dead_code)] // Each test binary uses its own part.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const INSTALL: &str = "apt-get install -y openssl";

/// The directory with the certificates, made on first use.
pub fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fix-pki-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        self_signed(&dir, "server", "localhost", "DNS:localhost,IP:127.0.0.1");
        self_signed(&dir, "other", "other.invalid", "DNS:other.invalid");
        self_signed(&dir, "ca", "testrig test CA", "DNS:ca.invalid");
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=RIG-CLIENT",
                "-keyout",
                "client.key",
                "-out",
                "client.csr",
            ],
        );
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "client.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-out",
                "client.pem",
            ],
        );
        dir
    })
}

/// `dir()/name`.
pub fn file(name: &str) -> PathBuf {
    dir().join(name)
}

fn self_signed(dir: &Path, name: &str, cn: &str, alt_names: &str) {
    let key = format!("{name}.key");
    let cert = format!("{name}.pem");
    let subject = format!("/CN={cn}");
    let alt = format!("subjectAltName={alt_names}");
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", &subject, "-days", "1",
            "-keyout", &key, "-out", &cert, "-addext", &alt,
        ],
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `openssl` ({e}); the TLS tests make their certificates with it: `{INSTALL}`")
        });
    assert!(
        output.status.success(),
        "`openssl {}` failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

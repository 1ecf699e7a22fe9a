//! Benchmark plans. `benches/run` builds the binaries in `src/bin/` in release mode, runs
//! them and prints one figure per line; `benches/README.md` records the numbers.

use std::io::{Read, Write};
use std::net::TcpStream;

/// A running plan's interactive server, as its first line of output names it.
#[derive(Debug, Clone)]
pub struct Server {
    /// `host:port`.
    pub address: String,
    /// The access token of the printed URL.
    pub token: Option<String>,
}

impl Server {
    /// Reads `Interactive testrig UI: http://ADDRESS/?token=…`.
    pub fn from_url_line(line: &str) -> Server {
        let url = line
            .trim()
            .trim_start_matches("Interactive testrig UI: http://");
        let (address, rest) = url.split_once('/').unwrap_or((url, ""));
        Server {
            address: address.to_string(),
            token: rest.strip_prefix("?token=").map(str::to_string),
        }
    }

    /// The request line's headers every request carries: `Host` and the token.
    pub fn headers(&self) -> String {
        let token = self
            .token
            .as_ref()
            .map(|token| format!("X-Testrig-Token: {token}\r\n"))
            .unwrap_or_default();
        format!("Host: {}\r\n{token}", self.address)
    }

    /// One HTTP/1.1 request: the status and the whole response.
    pub fn request(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(&self.address)?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\n{}Connection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.headers(),
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        Ok((status, response))
    }
}

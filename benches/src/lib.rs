//! Benchmark plans. `benches/run` builds the binaries in `src/bin/` in release mode, runs
//! them and prints one figure per line; `benches/README.md` records the numbers.

use std::io::{Read, Write};
use std::net::TcpStream;

/// One HTTP/1.1 request to a plan's interactive server: the status and the whole response.
pub fn request(
    address: &str,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
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

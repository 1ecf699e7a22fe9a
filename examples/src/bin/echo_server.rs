//! A tiny TCP echo server for the App driver example: it listens on an ephemeral port,
//! prints `listening on HOST:PORT` (the line the App driver's readiness regex waits for),
//! and echoes every line it receives, upper-cased with `--upper`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

fn serve(stream: TcpStream, upper: bool) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    for line in BufReader::new(stream).lines() {
        let line = line?;
        let reply = if upper { line.to_uppercase() } else { line };
        writer.write_all(format!("{reply}\n").as_bytes())?;
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let upper = std::env::args().any(|arg| arg == "--upper");
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || serve(stream, upper));
    }
    Ok(())
}

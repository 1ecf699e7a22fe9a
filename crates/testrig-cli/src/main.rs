//! `testrig`: tools around plans that are not a plan themselves. `testrig serve REPORT.json`
//! serves the browser UI over a saved JSON report (read-only), with its attachments.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "testrig", about = "Tools for testrig reports")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the browser UI over a saved JSON report (written with --json).
    Serve {
        /// The report file.
        report: PathBuf,
        /// Port to listen on (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Another name the server may be reached by (the `Host` header is checked against
        /// DNS rebinding); repeatable.
        #[arg(long = "allow-host", value_name = "NAME")]
        allow_host: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            report,
            port,
            host,
            allow_host,
        } => match serve(&report, std::net::SocketAddr::new(host, port), &allow_host) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
        },
    }
}

fn serve(
    path: &std::path::Path,
    address: std::net::SocketAddr,
    allowed_hosts: &[String],
) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("failed to read the report `{}`: {error}", path.display()))?;
    let report: testrig::model::Report = serde_json::from_str(&text).map_err(|error| {
        format!(
            "`{}` is not a testrig JSON report (written with --json): {error}",
            path.display()
        )
    })?;
    let listener = testrig::interactive::bind(address).map_err(|error| {
        format!("failed to listen on {address}: {error}; choose another --port")
    })?;
    let bound = listener.local_addr().map_err(|error| error.to_string())?;
    let router = testrig::interactive::report_router(&report, bound, allowed_hosts)
        .map_err(|error| format!("failed to render the UI: {error}"))?;
    testrig::interactive::serve(listener, router)
        .map_err(|error| format!("failed to start the server: {error}"))?;
    // Whoever reads stdout may have stopped (`| head -1`): the server keeps serving.
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "Serving `{}` (plan `{}`) at http://{bound}/",
        path.display(),
        report.plan.name
    );
    let _ = writeln!(out, "Press Ctrl-C to stop.");
    let _ = out.flush();
    loop {
        std::thread::park();
    }
}

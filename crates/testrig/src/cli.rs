//! The plan binary's command line: Testplan's options plus the libtest protocol that cargo,
//! cargo-nextest and IDEs speak to `harness = false` test binaries.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Command-line options of a plan binary.
#[derive(Debug, Clone, Parser)]
#[command(
    about = "Runs a testrig test plan",
    after_help = "Exit status: 0 all passed, 1 something failed or errored, 2 usage or plan error, 130 interrupted."
)]
#[non_exhaustive]
pub struct Options {
    /// Run only testcases whose libtest name (`test::suite::testcase`) contains one of these.
    #[arg(value_name = "FILTER")]
    pub filters: Vec<String>,

    /// With FILTER: match libtest names exactly.
    #[arg(long)]
    pub exact: bool,

    /// Leave out testcases whose name contains this (repeatable).
    #[arg(long, value_name = "FILTER")]
    pub skip: Vec<String>,

    /// Select with Testplan patterns `Test[:Suite[:testcase]]`, globs allowed (repeatable).
    #[arg(long = "patterns", short = 'k', value_name = "PATTERN", num_args = 1.., action = clap::ArgAction::Append)]
    pub patterns: Vec<String>,

    /// Select testcases with any of these tags (comma-separated).
    #[arg(long, value_name = "TAGS", value_delimiter = ',')]
    pub tags: Vec<String>,

    /// Select testcases with all of these tags (comma-separated).
    #[arg(long = "tags-all", value_name = "TAGS", value_delimiter = ',')]
    pub tags_all: Vec<String>,

    /// Run only skipped (ignored) testcases.
    #[arg(long, conflicts_with = "include_ignored")]
    pub ignored: bool,

    /// Run skipped (ignored) testcases too.
    #[arg(long = "include-ignored")]
    pub include_ignored: bool,

    /// List tests, suites and testcases instead of running them.
    #[arg(long)]
    pub list: bool,

    /// Format of --list: a tree, libtest's `name: test` lines, or JSON.
    #[arg(long, value_enum, default_value_t = ListFormat::Pretty)]
    pub format: ListFormat,

    /// Number of tests (MultiTests) run at once [default: the number of cores].
    #[arg(long, alias = "test-threads", value_name = "N")]
    pub workers: Option<usize>,

    /// Where tests run: `process` runs each MultiTest (its environment and testcases) in a
    /// worker process, so a testcase that aborts, segfaults or exits is reported as crashed
    /// and the run goes on; `thread` runs everything in the plan's process, a little faster
    /// [default: process, `--ui` too; thread under cargo-nextest, which isolates each
    /// testcase already, with `-i` (whose code reload then keeps the drivers running) and
    /// when recording coverage].
    #[arg(long, value_enum, value_name = "POOL")]
    pub pool: Option<PoolKind>,

    /// Run a testcase that failed (errored, crashed) again, up to N times, in a fresh
    /// worker and environment; every run is kept in the report, and a testcase that passes
    /// on a rerun is marked flaky.
    #[arg(long = "rerun", value_name = "N", default_value_t = 0)]
    pub rerun: u32,

    /// Limit each worker process to MB megabytes of address space (RLIMIT_AS): a testcase
    /// that allocates without end crashes its worker, reported as crashed, instead of
    /// exhausting the machine.
    #[arg(long = "worker-memory-limit", value_name = "MB")]
    pub worker_memory_limit: Option<u64>,

    /// Shuffle the order of testcases, suites, tests or all of them.
    #[arg(long, value_enum, value_name = "WHAT", value_delimiter = ',')]
    pub shuffle: Vec<ShuffleWhat>,

    /// Seed for --shuffle, to replay an order (printed on every shuffled run).
    #[arg(long = "shuffle-seed", value_name = "N")]
    pub shuffle_seed: Option<u64>,

    /// Output folder for logs and attachments [default: `<cargo target>/testrig/<plan>`].
    #[arg(long, value_name = "DIR")]
    pub runpath: Option<PathBuf>,

    /// Write the report tree as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Write every event of the run to PATH as it happens, one JSON line each
    /// (`{"schema", "seq", "time", "event"}`).
    #[arg(long, value_name = "PATH")]
    pub events: Option<PathBuf>,

    /// Write the report as one self-contained HTML file (the UI with the data inlined).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,

    /// Write JUnit XML: to PATH if it ends in .xml, else one file per test in folder PATH.
    #[arg(long, value_name = "PATH")]
    pub xml: Option<PathBuf>,

    /// Run only the testcases a change affects (the plan must be built by
    /// `cargo testrig affected`, which instruments it for coverage).
    #[arg(long)]
    pub affected: bool,

    /// With --affected: list each selected testcase with its reasons.
    #[arg(long, requires = "affected")]
    pub explain: bool,

    /// With --affected: print the selection without running it.
    #[arg(long = "dry-run", requires = "affected")]
    pub dry_run: bool,

    /// Interactive mode: keep the plan up and serve the UI and API on PORT (0 or none: any
    /// free port).
    #[arg(short = 'i', long, value_name = "PORT", num_args = 0..=1, default_missing_value = "0")]
    pub interactive: Option<u16>,

    /// Run the plan as usual and show it live in the browser UI on PORT (0 or none: any free
    /// port); the finished report stays served until Ctrl-C.
    #[arg(long, value_name = "PORT", num_args = 0..=1, default_missing_value = "0", conflicts_with = "interactive")]
    pub ui: Option<u16>,

    /// Address the interactive server binds (default 127.0.0.1); any other address requires
    /// an access token.
    #[arg(
        long = "interactive-host",
        value_name = "ADDR",
        default_value = "127.0.0.1"
    )]
    pub interactive_host: std::net::IpAddr,

    /// Access token for the interactive server (default: a new one from the OS random
    /// source, printed in the URL and kept across code reloads).
    #[arg(long = "interactive-token", value_name = "TOKEN", value_parser = non_empty_token)]
    pub interactive_token: Option<String>,

    /// Serve the interactive API and UI without an access token; allowed only with
    /// `--interactive-host 127.0.0.1` or `::1`. Host and cross-site checks stay on.
    #[arg(long = "interactive-no-token", conflicts_with = "interactive_token")]
    pub interactive_no_token: bool,

    /// A host name (or `name:port`) the interactive server also answers to, besides the
    /// bound address (and `localhost` on a loopback bind); repeatable. Requests naming any
    /// other host get 403, which defeats DNS rebinding.
    #[arg(long = "interactive-allow-host", value_name = "NAME")]
    pub interactive_allow_host: Vec<String>,

    /// How the UI links source locations to your editor, e.g. `vscode://file/{path}:{line}`.
    #[arg(long = "editor-url", value_name = "PATTERN")]
    pub editor_url: Option<String>,

    /// The command that rebuilds the plan for a code reload in interactive mode (default:
    /// derived from where the plan binary is, e.g. `cargo test --no-run --test NAME`).
    #[arg(long = "reload-command", value_name = "COMMAND")]
    pub reload_command: Option<String>,

    /// In interactive mode, do not rebuild and reload on every saved change (the Reload
    /// button and `POST /api/v1/interactive/reload` still work).
    #[arg(long = "no-reload-watch")]
    pub no_reload_watch: bool,

    /// Internal: the hand-off file of the process image this one replaces on reload.
    #[arg(long = "reload-handoff", value_name = "FILE", hide = true)]
    pub reload_handoff: Option<PathBuf>,

    /// Print when each driver started and stopped, and its attributes.
    #[arg(long = "driver-info")]
    pub driver_info: bool,

    /// Print every assertion, not only failing ones.
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Print only failures and the summary.
    #[arg(short, long)]
    pub quiet: bool,

    /// Colour: auto follows the terminal and NO_COLOR.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Seconds running testcases get to finish after Ctrl-C before the report is written.
    #[arg(
        long = "interrupt-grace",
        value_name = "SECONDS",
        default_value_t = 3.0,
        value_parser = grace_seconds
    )]
    pub interrupt_grace: f64,

    /// Accepted for libtest compatibility; testcase output is never captured.
    #[arg(long)]
    pub nocapture: bool,

    /// Accepted for libtest compatibility; testcase output is never captured.
    #[arg(long = "show-output")]
    pub show_output: bool,

    /// Accepted for libtest compatibility (unstable libtest options are ignored).
    #[arg(short = 'Z', value_name = "FLAG", hide = true)]
    pub unstable: Vec<String>,
}

impl Options {
    /// Parses a command line (the first item is the program name), for plans driven from
    /// code; the error displays as clap's message for the command line (`--help` and
    /// `--version` are errors of their kinds, as in clap).
    pub fn from_args<I, T>(args: I) -> Result<Options, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Options::try_parse_from(args)
    }
}

/// Where the tests of a run run (`--pool`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PoolKind {
    /// Worker threads in the plan's process.
    Thread,
    /// A worker process per MultiTest.
    Process,
}

/// How `--list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// A tree with tags and counts.
    Pretty,
    /// libtest's `name: test` lines, nothing else.
    Terse,
    /// The report skeleton as JSON.
    Json,
}

/// What `--shuffle` reorders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShuffleWhat {
    /// Testcases within each suite.
    Testcases,
    /// Suites within each test.
    Suites,
    /// Tests within the plan.
    Tests,
    /// All of the above.
    All,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is not set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Seconds a run may wait: a finite number from 0 to a day (a `Duration` holds it).
fn grace_seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if (0.0..=86_400.0).contains(&seconds) => Ok(seconds),
        _ => Err("expected seconds from 0 to 86400, e.g. 3 or 0.5".into()),
    }
}

/// An access token must be something to compare against.
fn non_empty_token(text: &str) -> Result<String, String> {
    let token = text.trim();
    if token.is_empty()
        || token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ';')
    {
        return Err(
            "the token must be non-empty, without spaces or `;` (it travels in a cookie)".into(),
        );
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        Options::try_parse_from(std::iter::once("plan").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn the_interrupt_grace_is_seconds_a_duration_holds() {
        assert_eq!(parse(&["--interrupt-grace", "0.5"]).interrupt_grace, 0.5);
        assert_eq!(parse(&[]).interrupt_grace, 3.0);
        for bad in ["inf", "NaN", "-1", "1e20", "soon"] {
            let flag = format!("--interrupt-grace={bad}");
            let error = Options::try_parse_from(["plan", flag.as_str()]).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("expected seconds from 0 to 86400"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn speaks_the_libtest_protocol() {
        let options = parse(&["--list", "--format", "terse", "--ignored"]);
        assert!(options.list && options.ignored);
        assert_eq!(options.format, ListFormat::Terse);
        let options = parse(&[
            "echo::Echo::round_trip",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ]);
        assert_eq!(options.filters, ["echo::Echo::round_trip"]);
        assert!(options.exact);
        assert_eq!(options.workers, Some(1));
    }

    #[test]
    fn takes_testplan_filters() {
        let options = parse(&[
            "--patterns",
            "A:B",
            "A:C:*x",
            "--tags",
            "a,b",
            "--tags-all",
            "c",
            "--shuffle",
            "all",
        ]);
        assert_eq!(options.patterns, ["A:B", "A:C:*x"]);
        assert_eq!(options.tags, ["a", "b"]);
        assert_eq!(options.tags_all, ["c"]);
        assert_eq!(options.shuffle, [ShuffleWhat::All]);
    }

    #[test]
    fn rejects_unknown_flags() {
        assert!(Options::try_parse_from(["plan", "--no-such-flag"]).is_err());
    }
}

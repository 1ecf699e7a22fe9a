//! The plan binary's command line: Testplan's options plus the libtest protocol that cargo,
//! cargo-nextest and IDEs speak to `harness = false` test binaries.

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{Arg, ArgAction, Command, ValueEnum, value_parser};

/// Command-line options of a plan binary.
///
/// Each field is the flag of its name (`tags_all` is `--tags-all`); `--help` says what each
/// does. Parse with [`Options::from_args`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Run only testcases whose libtest name (`test::suite::testcase`) contains one of these.
    pub filters: Vec<String>,

    /// With FILTER: match libtest names exactly.
    pub exact: bool,

    /// Leave out testcases whose name contains this (repeatable).
    pub skip: Vec<String>,

    /// Select with Testplan patterns `Test[:Suite[:testcase]]`, globs allowed (repeatable).
    pub patterns: Vec<String>,

    /// Select testcases with any of these tags (comma-separated).
    pub tags: Vec<String>,

    /// Select testcases with all of these tags (comma-separated).
    pub tags_all: Vec<String>,

    /// Run only skipped (ignored) testcases.
    pub ignored: bool,

    /// Run skipped (ignored) testcases too.
    pub include_ignored: bool,

    /// List tests, suites and testcases instead of running them.
    pub list: bool,

    /// Format of --list: a tree, libtest's `name: test` lines, or JSON.
    pub format: ListFormat,

    /// Number of tests (MultiTests) run at once [default: the number of cores].
    pub workers: Option<usize>,

    /// Where tests run: `process` runs each MultiTest (its environment and testcases) in a
    /// worker process, so a testcase that aborts, segfaults or exits is reported as crashed
    /// and the run goes on; `thread` runs everything in the plan's process, a little faster
    /// [default: process, `--ui` too; thread under cargo-nextest, which isolates each
    /// testcase already, with `-i` (whose code reload then keeps the drivers running) and
    /// when recording coverage].
    pub pool: Option<PoolKind>,

    /// Run a testcase that failed (errored, crashed) again, up to N times, in a fresh
    /// worker and environment; every run is kept in the report, and a testcase that passes
    /// on a rerun is marked flaky.
    pub rerun: u32,

    /// Limit each worker process to MB megabytes of address space (RLIMIT_AS): a testcase
    /// that allocates without end crashes its worker, reported as crashed, instead of
    /// exhausting the machine.
    pub worker_memory_limit: Option<u64>,

    /// Shuffle the order of testcases, suites, tests or all of them.
    pub shuffle: Vec<ShuffleWhat>,

    /// Seed for --shuffle, to replay an order (printed on every shuffled run).
    pub shuffle_seed: Option<u64>,

    /// Output folder for logs and attachments [default: `<cargo target>/testrig/<plan>`].
    pub runpath: Option<PathBuf>,

    /// Write the report tree as JSON to PATH.
    pub json: Option<PathBuf>,

    /// Write every event of the run to PATH as it happens, one JSON line each
    /// (`{"schema", "seq", "time", "event"}`).
    pub events: Option<PathBuf>,

    /// Write the report as one self-contained HTML file (the UI with the data inlined).
    pub html: Option<PathBuf>,

    /// Write JUnit XML: to PATH if it ends in .xml, else one file per test in folder PATH.
    pub xml: Option<PathBuf>,

    /// Run only the testcases a change affects (the plan must be built by
    /// `cargo testrig affected`, which instruments it for coverage).
    pub affected: bool,

    /// With --affected: list each selected testcase with its reasons.
    pub explain: bool,

    /// With --affected: print the selection without running it.
    pub dry_run: bool,

    /// Interactive mode: keep the plan up and serve the UI and API on PORT (0 or none: any
    /// free port).
    pub interactive: Option<u16>,

    /// Run the plan as usual and show it live in the browser UI on PORT (0 or none: any free
    /// port); the finished report stays served until Ctrl-C.
    pub ui: Option<u16>,

    /// Address the interactive server binds (default 127.0.0.1); any other address requires
    /// an access token.
    pub interactive_host: std::net::IpAddr,

    /// Access token for the interactive server (default: a new one from the OS random
    /// source, printed in the URL and kept across code reloads).
    pub interactive_token: Option<String>,

    /// Serve the interactive API and UI without an access token; allowed only with
    /// `--interactive-host 127.0.0.1` or `::1`. Host and cross-site checks stay on.
    pub interactive_no_token: bool,

    /// A host name (or `name:port`) the interactive server also answers to, besides the
    /// bound address (and `localhost` on a loopback bind); repeatable. Requests naming any
    /// other host get 403, which defeats DNS rebinding.
    pub interactive_allow_host: Vec<String>,

    /// How the UI links source locations to your editor, e.g. `vscode://file/{path}:{line}`.
    pub editor_url: Option<String>,

    /// The command that rebuilds the plan for a code reload in interactive mode (default:
    /// derived from where the plan binary is, e.g. `cargo test --no-run --test NAME`).
    pub reload_command: Option<String>,

    /// In interactive mode, do not rebuild and reload on every saved change (the Reload
    /// button and `POST /api/v1/interactive/reload` still work).
    pub no_reload_watch: bool,

    /// Internal: the hand-off file of the process image this one replaces on reload.
    pub reload_handoff: Option<PathBuf>,

    /// Print when each driver started and stopped, and its attributes.
    pub driver_info: bool,

    /// Print every assertion, not only failing ones.
    pub verbose: bool,

    /// Print only failures and the summary.
    pub quiet: bool,

    /// Colour: auto follows the terminal and NO_COLOR.
    pub color: ColorChoice,

    /// Seconds running testcases get to finish after Ctrl-C before the report is written.
    pub interrupt_grace: f64,

    /// Accepted for libtest compatibility; testcase output is never captured.
    pub nocapture: bool,

    /// Accepted for libtest compatibility; testcase output is never captured.
    pub show_output: bool,

    /// Accepted for libtest compatibility (unstable libtest options are ignored).
    pub unstable: Vec<String>,
}
impl Options {
    /// Whether cargo-nextest runs this process as one of its tests: it sets `NEXTEST_RUN_ID`
    /// and passes `--exact` with the test's name. The variable alone says nothing: every
    /// process a test nextest runs starts inherits it, and a plan such a test starts is run
    /// by that test, in worker processes and its usual runpath.
    pub(crate) fn run_by_nextest(&self) -> bool {
        self.exact && std::env::var_os("NEXTEST_RUN_ID").is_some()
    }

    /// Parses a command line (the first item is the program name), for plans driven from
    /// code; the error displays as clap's message for the command line (`--help` and
    /// `--version` are errors of their kinds, as in clap).
    pub fn from_args<I, T>(args: I) -> Result<Options, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Options::command().try_get_matches_from(args)?;
        Ok(Options {
            filters: all(&matches, "filters"),
            exact: matches.get_flag("exact"),
            skip: all(&matches, "skip"),
            patterns: all(&matches, "patterns"),
            tags: all(&matches, "tags"),
            tags_all: all(&matches, "tags_all"),
            ignored: matches.get_flag("ignored"),
            include_ignored: matches.get_flag("include_ignored"),
            list: matches.get_flag("list"),
            format: one(&matches, "format"),
            workers: matches.get_one::<usize>("workers").cloned(),
            pool: matches.get_one::<PoolKind>("pool").cloned(),
            rerun: one(&matches, "rerun"),
            worker_memory_limit: matches.get_one::<u64>("worker_memory_limit").cloned(),
            shuffle: all(&matches, "shuffle"),
            shuffle_seed: matches.get_one::<u64>("shuffle_seed").cloned(),
            runpath: matches.get_one::<PathBuf>("runpath").cloned(),
            json: matches.get_one::<PathBuf>("json").cloned(),
            events: matches.get_one::<PathBuf>("events").cloned(),
            html: matches.get_one::<PathBuf>("html").cloned(),
            xml: matches.get_one::<PathBuf>("xml").cloned(),
            affected: matches.get_flag("affected"),
            explain: matches.get_flag("explain"),
            dry_run: matches.get_flag("dry_run"),
            interactive: matches.get_one::<u16>("interactive").cloned(),
            ui: matches.get_one::<u16>("ui").cloned(),
            interactive_host: matches
                .get_one::<std::net::IpAddr>("interactive_host")
                .copied()
                .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
            interactive_token: matches.get_one::<String>("interactive_token").cloned(),
            interactive_no_token: matches.get_flag("interactive_no_token"),
            interactive_allow_host: all(&matches, "interactive_allow_host"),
            editor_url: matches.get_one::<String>("editor_url").cloned(),
            reload_command: matches.get_one::<String>("reload_command").cloned(),
            no_reload_watch: matches.get_flag("no_reload_watch"),
            reload_handoff: matches.get_one::<PathBuf>("reload_handoff").cloned(),
            driver_info: matches.get_flag("driver_info"),
            verbose: matches.get_flag("verbose"),
            quiet: matches.get_flag("quiet"),
            color: one(&matches, "color"),
            interrupt_grace: one(&matches, "interrupt_grace"),
            nocapture: matches.get_flag("nocapture"),
            show_output: matches.get_flag("show_output"),
            unstable: all(&matches, "unstable"),
        })
    }

    /// The plan binary's command line as a clap `Command`, e.g. to embed it in a program's
    /// own or to render its help. Built with clap's builder rather than its derive: the
    /// derive macro (and `heck`) cost every plan about 1.5 s of compiler time for one struct.
    pub fn command() -> Command {
        Command::new("testrig")
        .about("Runs a testrig test plan")
        .after_help(
            "Exit status: 0 all passed, 1 something failed or errored, 2 usage or plan error, 130 interrupted.",
        )
        .args([
        Arg::new("filters")
            .value_name("FILTER")
            .action(ArgAction::Append)
            .help("Run only testcases whose libtest name (`test::suite::testcase`) contains one of these"),
        Arg::new("exact")
            .long("exact")
            .action(ArgAction::SetTrue)
            .help("With FILTER: match libtest names exactly"),
        Arg::new("skip")
            .long("skip")
            .value_name("FILTER")
            .action(ArgAction::Append)
            .help("Leave out testcases whose name contains this (repeatable)"),
        Arg::new("patterns")
            .long("patterns")
            .short('k')
            .value_name("PATTERN")
            .action(ArgAction::Append)
            .num_args(1..)
            .help("Select with Testplan patterns `Test[:Suite[:testcase]]`, globs allowed (repeatable)"),
        Arg::new("tags")
            .long("tags")
            .value_name("TAGS")
            .action(ArgAction::Append)
            .value_delimiter(',')
            .help("Select testcases with any of these tags (comma-separated)"),
        Arg::new("tags_all")
            .long("tags-all")
            .value_name("TAGS")
            .action(ArgAction::Append)
            .value_delimiter(',')
            .help("Select testcases with all of these tags (comma-separated)"),
        Arg::new("ignored")
            .long("ignored")
            .action(ArgAction::SetTrue)
            .conflicts_with("include_ignored")
            .help("Run only skipped (ignored) testcases"),
        Arg::new("include_ignored")
            .long("include-ignored")
            .action(ArgAction::SetTrue)
            .help("Run skipped (ignored) testcases too"),
        Arg::new("list")
            .long("list")
            .action(ArgAction::SetTrue)
            .help("List tests, suites and testcases instead of running them"),
        Arg::new("format")
            .long("format")
            .value_name("FORMAT")
            .value_parser(value_parser!(ListFormat))
            .default_value("pretty")
            .help("Format of --list: a tree, libtest's `name: test` lines, or JSON"),
        Arg::new("workers")
            .long("workers")
            .alias("test-threads")
            .value_name("N")
            .value_parser(value_parser!(usize))
            .help("Number of tests (MultiTests) run at once [default: the number of cores]"),
        Arg::new("pool")
            .long("pool")
            .value_name("POOL")
            .value_parser(value_parser!(PoolKind))
            .help("Where tests run: `process` runs each MultiTest (its environment and testcases) in a worker process, so a testcase that aborts, segfaults or exits is reported as crashed and the run goes on; `thread` runs everything in the plan's process, a little faster [default: process, `--ui` too; thread under cargo-nextest, which isolates each testcase already, with `-i` (whose code reload then keeps the drivers running) and when recording coverage]"),
        Arg::new("rerun")
            .long("rerun")
            .value_name("N")
            .value_parser(value_parser!(u32))
            .default_value("0")
            .help("Run a testcase that failed (errored, crashed) again, up to N times, in a fresh worker and environment; every run is kept in the report, and a testcase that passes on a rerun is marked flaky"),
        Arg::new("worker_memory_limit")
            .long("worker-memory-limit")
            .value_name("MB")
            .value_parser(value_parser!(u64))
            .help("Limit each worker process to MB megabytes of address space (RLIMIT_AS): a testcase that allocates without end crashes its worker, reported as crashed, instead of exhausting the machine"),
        Arg::new("shuffle")
            .long("shuffle")
            .value_name("WHAT")
            .action(ArgAction::Append)
            .value_parser(value_parser!(ShuffleWhat))
            .value_delimiter(',')
            .help("Shuffle the order of testcases, suites, tests or all of them"),
        Arg::new("shuffle_seed")
            .long("shuffle-seed")
            .value_name("N")
            .value_parser(value_parser!(u64))
            .help("Seed for --shuffle, to replay an order (printed on every shuffled run)"),
        Arg::new("runpath")
            .long("runpath")
            .value_name("DIR")
            .value_parser(value_parser!(PathBuf))
            .help("Output folder for logs and attachments [default: `<cargo target>/testrig/<plan>`]"),
        Arg::new("json")
            .long("json")
            .value_name("PATH")
            .value_parser(value_parser!(PathBuf))
            .help("Write the report tree as JSON to PATH"),
        Arg::new("events")
            .long("events")
            .value_name("PATH")
            .value_parser(value_parser!(PathBuf))
            .help("Write every event of the run to PATH as it happens, one JSON line each (`{\"schema\", \"seq\", \"time\", \"event\"}`)"),
        Arg::new("html")
            .long("html")
            .value_name("PATH")
            .value_parser(value_parser!(PathBuf))
            .help("Write the report as one self-contained HTML file (the UI with the data inlined)"),
        Arg::new("xml")
            .long("xml")
            .value_name("PATH")
            .value_parser(value_parser!(PathBuf))
            .help("Write JUnit XML: to PATH if it ends in .xml, else one file per test in folder PATH"),
        Arg::new("affected")
            .long("affected")
            .action(ArgAction::SetTrue)
            .help("Run only the testcases a change affects (the plan must be built by `cargo testrig affected`, which instruments it for coverage)"),
        Arg::new("explain")
            .long("explain")
            .action(ArgAction::SetTrue)
            .requires("affected")
            .help("With --affected: list each selected testcase with its reasons"),
        Arg::new("dry_run")
            .long("dry-run")
            .action(ArgAction::SetTrue)
            .requires("affected")
            .help("With --affected: print the selection without running it"),
        Arg::new("interactive")
            .long("interactive")
            .short('i')
            .value_name("PORT")
            .value_parser(value_parser!(u16))
            .num_args(0..=1)
            .default_missing_value("0")
            .help("Interactive mode: keep the plan up and serve the UI and API on PORT (0 or none: any free port)"),
        Arg::new("ui")
            .long("ui")
            .value_name("PORT")
            .value_parser(value_parser!(u16))
            .num_args(0..=1)
            .default_missing_value("0")
            .conflicts_with("interactive")
            .help("Run the plan as usual and show it live in the browser UI on PORT (0 or none: any free port); the finished report stays served until Ctrl-C"),
        Arg::new("interactive_host")
            .long("interactive-host")
            .value_name("ADDR")
            .value_parser(value_parser!(std::net::IpAddr))
            .default_value("127.0.0.1")
            .help("Address the interactive server binds (default 127.0.0.1); any other address requires an access token"),
        Arg::new("interactive_token")
            .long("interactive-token")
            .value_name("TOKEN")
            .value_parser(non_empty_token)
            .help("Access token for the interactive server (default: a new one from the OS random source, printed in the URL and kept across code reloads)"),
        Arg::new("interactive_no_token")
            .long("interactive-no-token")
            .action(ArgAction::SetTrue)
            .conflicts_with("interactive_token")
            .help("Serve the interactive API and UI without an access token; allowed only with `--interactive-host 127.0.0.1` or `::1`. Host and cross-site checks stay on"),
        Arg::new("interactive_allow_host")
            .long("interactive-allow-host")
            .value_name("NAME")
            .action(ArgAction::Append)
            .help("A host name (or `name:port`) the interactive server also answers to, besides the bound address (and `localhost` on a loopback bind); repeatable. Requests naming any other host get 403, which defeats DNS rebinding"),
        Arg::new("editor_url")
            .long("editor-url")
            .value_name("PATTERN")
            .help("How the UI links source locations to your editor, e.g. `vscode://file/{path}:{line}`"),
        Arg::new("reload_command")
            .long("reload-command")
            .value_name("COMMAND")
            .help("The command that rebuilds the plan for a code reload in interactive mode (default: derived from where the plan binary is, e.g. `cargo test --no-run --test NAME`)"),
        Arg::new("no_reload_watch")
            .long("no-reload-watch")
            .action(ArgAction::SetTrue)
            .help("In interactive mode, do not rebuild and reload on every saved change (the Reload button and `POST /api/v1/interactive/reload` still work)"),
        Arg::new("reload_handoff")
            .long("reload-handoff")
            .value_name("FILE")
            .value_parser(value_parser!(PathBuf))
            .hide(true)
            .help("Internal: the hand-off file of the process image this one replaces on reload"),
        Arg::new("driver_info")
            .long("driver-info")
            .action(ArgAction::SetTrue)
            .help("Print when each driver started and stopped, and its attributes"),
        Arg::new("verbose")
            .long("verbose")
            .short('v')
            .action(ArgAction::SetTrue)
            .conflicts_with("quiet")
            .help("Print every assertion, not only failing ones"),
        Arg::new("quiet")
            .long("quiet")
            .short('q')
            .action(ArgAction::SetTrue)
            .help("Print only failures and the summary"),
        Arg::new("color")
            .long("color")
            .value_name("COLOR")
            .value_parser(value_parser!(ColorChoice))
            .default_value("auto")
            .help("Colour: auto follows the terminal and NO_COLOR"),
        Arg::new("interrupt_grace")
            .long("interrupt-grace")
            .value_name("SECONDS")
            .value_parser(grace_seconds )
            .default_value("3")
            .help("Seconds running testcases get to finish after Ctrl-C before the report is written"),
        Arg::new("nocapture")
            .long("nocapture")
            .action(ArgAction::SetTrue)
            .help("Accepted for libtest compatibility; testcase output is never captured"),
        Arg::new("show_output")
            .long("show-output")
            .action(ArgAction::SetTrue)
            .help("Accepted for libtest compatibility; testcase output is never captured"),
        Arg::new("unstable")
            .short('Z')
            .value_name("FLAG")
            .action(ArgAction::Append)
            .hide(true)
            .help("Accepted for libtest compatibility (unstable libtest options are ignored)"),
        ])
    }
}

/// The values of a repeatable flag, in order.
fn all<T: Clone + Send + Sync + 'static>(matches: &clap::ArgMatches, id: &str) -> Vec<T> {
    matches
        .get_many::<T>(id)
        .map(|values| values.cloned().collect())
        .unwrap_or_default()
}

/// The value of a flag that has a default, hence always a value.
fn one<T: Clone + Default + Send + Sync + 'static>(matches: &clap::ArgMatches, id: &str) -> T {
    matches.get_one::<T>(id).cloned().unwrap_or_default()
}

/// Implements clap's `ValueEnum` for a plain enum: each variant's name on the command line
/// and its help.
macro_rules! value_enum {
    ($name:ident { $($variant:ident => $value:literal: $help:literal),+ $(,)? }) => {
        impl ValueEnum for $name {
            fn value_variants<'a>() -> &'a [Self] {
                &[$($name::$variant),+]
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(match self {
                    $($name::$variant => PossibleValue::new($value).help($help)),+
                })
            }
        }
    };
}

/// Where the tests of a run run (`--pool`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// Worker threads in the plan's process.
    Thread,
    /// A worker process per MultiTest.
    Process,
}

/// How `--list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListFormat {
    /// A tree with tags and counts.
    #[default]
    Pretty,
    /// libtest's `name: test` lines, nothing else.
    Terse,
    /// The report skeleton as JSON.
    Json,
}

/// What `--shuffle` reorders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is not set.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

value_enum!(PoolKind {
    Thread => "thread": "Worker threads in the plan's process",
    Process => "process": "A worker process per MultiTest",
});
value_enum!(ListFormat {
    Pretty => "pretty": "A tree with tags and counts",
    Terse => "terse": "libtest's `name: test` lines, nothing else",
    Json => "json": "The report skeleton as JSON",
});
value_enum!(ShuffleWhat {
    Testcases => "testcases": "Testcases within each suite",
    Suites => "suites": "Suites within each test",
    Tests => "tests": "Tests within the plan",
    All => "all": "All of the above",
});
value_enum!(ColorChoice {
    Auto => "auto": "Colour when stdout is a terminal and NO_COLOR is not set",
    Always => "always": "Always colour",
    Never => "never": "Never colour",
});

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
        Options::from_args(std::iter::once("plan").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn the_interrupt_grace_is_seconds_a_duration_holds() {
        assert_eq!(parse(&["--interrupt-grace", "0.5"]).interrupt_grace, 0.5);
        assert_eq!(parse(&[]).interrupt_grace, 3.0);
        for bad in ["inf", "NaN", "-1", "1e20", "soon"] {
            let flag = format!("--interrupt-grace={bad}");
            let error = Options::from_args(["plan", flag.as_str()]).unwrap_err();
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
        assert!(Options::from_args(["plan", "--no-such-flag"]).is_err());
    }
}

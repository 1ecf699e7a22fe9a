//! The console reporter: a subscriber of the event stream that prints progress as testcases
//! finish, then the failures with their assertions, then the summary.
//!
//! On a terminal it keeps a progress bar below the lines; elsewhere (CI, pipes) it prints
//! plain lines only. The last line it prints reads `N passed, N failed, N skipped`.

use std::io::{BufWriter, IsTerminal, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

#[cfg(feature = "progress")]
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use testrig_model::{Counts, DriverStatus, Event, NodeKind, Report, ReportNode, Status, Timer};

use crate::env::{describe_attributes, describe_connections};
use crate::events::{EventEnvelope, EventSubscriber, SubscriberError};
use crate::export::entry_text::render_entry;
use crate::export::failure::failure_lines;
use crate::report::ReportBuilder;

/// How much the console prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Failures and the summary.
    Quiet,
    /// A line per testcase, failures, summary.
    Normal,
    /// Also every entry of every testcase.
    Verbose,
}

/// Console settings.
#[derive(Debug, Clone, Copy)]
pub struct ConsoleOptions {
    /// How much to print.
    pub verbosity: Verbosity,
    /// Whether to use colours.
    pub color: bool,
    /// Whether to draw a progress bar (stdout is a terminal; needs the `progress` feature).
    #[cfg_attr(not(feature = "progress"), allow(dead_code))]
    pub progress: bool,
}

impl ConsoleOptions {
    /// Colour and progress follow whether stdout is a terminal and `NO_COLOR`.
    pub fn detect(verbosity: Verbosity, color: Option<bool>) -> ConsoleOptions {
        let terminal = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        ConsoleOptions {
            verbosity,
            color: color.unwrap_or(terminal && !no_color),
            progress: terminal,
        }
    }
}

/// Prints a run as it happens.
pub struct ConsoleReporter {
    out: BufWriter<std::io::Stdout>,
    /// Lines were written since the last flush.
    unflushed: bool,
    /// Each status's label, painted, in [`Status::ALL`] order.
    labels: Vec<String>,
    /// The first write that failed (stdout closed): the console stops following the run.
    failed: Option<std::io::Error>,
    options: ConsoleOptions,
    #[cfg(feature = "progress")]
    bar: Option<ProgressBar>,
    started: Instant,
}

#[derive(Clone, Copy)]
enum Paint {
    Good,
    Bad,
    Warn,
    Dim,
    Bold,
}

impl ConsoleReporter {
    /// A reporter for a run of `total` testcases.
    #[cfg_attr(not(feature = "progress"), allow(unused_variables))] // `total`: the bar's length
    pub fn new(options: ConsoleOptions, total: usize) -> ConsoleReporter {
        #[cfg(feature = "progress")]
        let bar = options.progress.then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stdout());
            if let Ok(style) =
                ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        let mut console = ConsoleReporter {
            out: BufWriter::new(std::io::stdout()),
            labels: Vec::new(),
            unflushed: false,
            failed: None,
            options,
            #[cfg(feature = "progress")]
            bar,
            started: Instant::now(),
        };
        console.labels = Status::ALL
            .iter()
            .map(|status| console.status_label(*status))
            .collect();
        console
    }

    fn paint(&self, text: &str, paint: Paint) -> String {
        if !self.options.color {
            return text.to_string();
        }
        // ANSI SGR: bold green, bold red, bold yellow, faint, bold; then reset.
        let style = match paint {
            Paint::Good => "1;32",
            Paint::Bad => "1;31",
            Paint::Warn => "1;33",
            Paint::Dim => "2",
            Paint::Bold => "1",
        };
        format!("\x1b[{style}m{text}\x1b[0m")
    }

    fn line(&mut self, text: impl std::fmt::Display) {
        #[cfg(feature = "progress")]
        if let Some(bar) = &self.bar {
            bar.println(text.to_string());
            return;
        }
        // Formatted straight into the buffer: no string per line.
        if let Err(error) = writeln!(self.out, "{text}") {
            self.failed.get_or_insert(error);
        }
        self.unflushed = true;
    }

    /// Writes out buffered lines.
    pub fn flush(&mut self) {
        self.unflushed = false;
        if let Err(error) = self.out.flush() {
            self.failed.get_or_insert(error);
        }
    }

    /// The first lines: what runs and where.
    pub fn header(
        &mut self,
        plan: &str,
        tests: usize,
        testcases: usize,
        runpath: &str,
        seed: Option<u64>,
    ) {
        let text = format!(
            "Running plan `{plan}`: {} in {} (runpath: {runpath})",
            plural(testcases, "testcase"),
            plural(tests, "test")
        );
        let text = self.paint(&text, Paint::Bold);
        self.line(text);
        if let Some(seed) = seed {
            self.line(format!(
                "shuffle seed: {seed} (replay this order with --shuffle-seed {seed})"
            ));
        }
    }

    /// Prints what an event means for the reader.
    pub fn on_event(&mut self, event: &Event, builder: &ReportBuilder) {
        match event {
            #[cfg(feature = "progress")]
            Event::TestcaseStarted { uid, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(uid.replace('/', "::"));
                }
            }
            Event::TestcaseRerun { uid, attempt } => {
                if let Some(node) = builder.node(uid) {
                    let label = self.paint(&format!("{:>12}", "RERUN"), Paint::Warn);
                    self.line(format_args!(
                        "{label} run {attempt} of {}",
                        DisplayName(node)
                    ));
                }
            }
            Event::TestcaseFinished { uid, status, .. } => {
                #[cfg(feature = "progress")]
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                let quiet = self.options.verbosity == Verbosity::Quiet;
                if quiet && !status.is_failure() {
                    return;
                }
                let Some(node) = builder.node(uid) else {
                    return;
                };
                let duration = node
                    .timer
                    .duration()
                    .map(|d| format!("{d:.3}s"))
                    .unwrap_or_else(|| "-".into());
                // The commonest line of a run: the labels are moved out for the call (a
                // move, not a copy), as `line` borrows the reporter.
                if node.flaky {
                    let label = self.paint(&format!("{:>12}", "FLAKY"), Paint::Warn);
                    self.line(format_args!(
                        "{label} [{duration:>9}] {} (passed on run {})",
                        DisplayName(node),
                        node.attempts.len() + 1
                    ));
                } else {
                    let labels = std::mem::take(&mut self.labels);
                    let label = &labels[status.position()];
                    self.line(format_args!(
                        "{label} [{duration:>9}] {}",
                        DisplayName(node)
                    ));
                    self.labels = labels;
                }
                if self.options.verbosity == Verbosity::Verbose {
                    let mut lines = Vec::new();
                    for entry in &node.entries {
                        render_entry(entry, 16, &mut lines);
                    }
                    if let Some(error) = &node.error {
                        lines.push(format!("{:16}error: {}", "", error.message));
                    }
                    for line in lines {
                        self.line(line);
                    }
                }
            }
            Event::DriverStatusChanged {
                uid,
                driver,
                status: DriverStatus::Failed,
                error: Some(error),
                log_tail,
                ..
            } => {
                let label = self.paint(&format!("{:>12}", "DRIVER FAIL"), Paint::Bad);
                self.line(format!(
                    "{label} {uid}: driver `{driver}`: {}",
                    error.message
                ));
                for line in log_tail {
                    self.line(format!("{:14}| {line}", ""));
                }
            }
            Event::SuiteFinished {
                uid,
                error: Some(error),
                ..
            }
            | Event::TestFinished {
                uid,
                error: Some(error),
                ..
            } => {
                let label = self.paint(&format!("{:>12}", "ERROR"), Paint::Bad);
                let where_ = error
                    .location
                    .as_ref()
                    .map(|l| format!(" (at {l})"))
                    .unwrap_or_default();
                let mut message = error.message.lines();
                let first = message.next().unwrap_or_default();
                self.line(format!(
                    "{label} {}: {first}{where_}",
                    uid.replace('/', "::")
                ));
                for line in message {
                    self.line(format!("{:14}{line}", ""));
                }
            }
            _ => {}
        }
    }

    fn status_label(&self, status: Status) -> String {
        let (word, paint) = match status {
            Status::Passed => ("PASS", Paint::Good),
            Status::Failed => ("FAIL", Paint::Bad),
            Status::Error => ("ERROR", Paint::Bad),
            Status::Skipped => ("SKIP", Paint::Warn),
            Status::Xfail => ("XFAIL", Paint::Warn),
            Status::Xpass => ("XPASS", Paint::Warn),
            Status::XpassStrict => ("XPASS STRICT", Paint::Bad),
            Status::Incomplete => ("INCOMPLETE", Paint::Bad),
            Status::Cancelled => ("CANCELLED", Paint::Warn),
            Status::Crashed => ("CRASHED", Paint::Bad),
            Status::Unknown => ("NOT RUN", Paint::Dim),
            // A status a newer model adds: shown, and flagged.
            _ => ("OTHER", Paint::Warn),
        };
        self.paint(&format!("{word:>12}"), paint)
    }

    /// After the run: each failure with its failing assertions.
    pub fn failures(&mut self, report: &Report) {
        #[cfg(feature = "progress")]
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        // A plan that did not fail holds no failing testcase: no walk over a large tree.
        if !report.plan.status.is_failure() {
            return;
        }
        let failures: Vec<&ReportNode> = report
            .plan
            .testcases()
            .into_iter()
            .filter(|node| node.status.is_failure())
            .collect();
        if !failures.is_empty() {
            self.line(String::new());
            let heading = self.paint("Failures:", Paint::Bad);
            self.line(heading);
            for node in failures {
                let label = self.status_label(node.status);
                self.line(format!("{label} {}", display_name(node)));
                for line in failure_lines(node) {
                    self.line(format!("{:14}{line}", ""));
                }
            }
        }
    }

    /// `--driver-info`: per test, when each driver started and stopped and what it published.
    pub fn driver_timeline(&mut self, report: &Report) {
        for test in &report.plan.children {
            if test.drivers.is_empty() {
                continue;
            }
            let origin = test
                .drivers
                .iter()
                .filter_map(|driver| driver.start.start)
                .fold(f64::MAX, f64::min);
            let started = test
                .drivers
                .iter()
                .filter_map(|driver| driver.start.end)
                .fold(origin, f64::max);
            let stop_start = test
                .drivers
                .iter()
                .filter_map(|driver| driver.stop.start)
                .fold(f64::MAX, f64::min);
            let stopped = test
                .drivers
                .iter()
                .filter_map(|driver| driver.stop.end)
                .fold(stop_start, f64::max);
            let span = |from: f64, to: f64| {
                if from <= to && from < f64::MAX {
                    format!("{:.3}s", to - from)
                } else {
                    "-".to_string()
                }
            };
            let heading = format!(
                "Environment of `{}`: started in {}, stopped in {}",
                test.name,
                span(origin, started),
                span(stop_start, stopped)
            );
            let heading = self.paint(&heading, Paint::Bold);
            self.line(heading);
            let width = test
                .drivers
                .iter()
                .map(|driver| driver.name.len())
                .max()
                .unwrap_or(0);
            for driver in &test.drivers {
                let offset = |time: Option<f64>| {
                    time.map(|t| format!("+{:.3}s", t - origin))
                        .unwrap_or_else(|| "-".into())
                };
                let duration = |timer: &Timer| {
                    timer
                        .duration()
                        .map(|d| format!("{d:.3}s"))
                        .unwrap_or_else(|| "-".into())
                };
                // Setup (hooks, initdb, spawning) apart from the wait for readiness.
                let start = match (driver.start.duration(), driver.ready_wait) {
                    (Some(total), Some(wait)) if total >= wait => {
                        format!("{total:.3}s: setup {:.3}s, ready {wait:.3}s", total - wait)
                    }
                    _ => duration(&driver.start),
                };
                self.line(format!(
                    "  {:width$}  {:<10} {:<8} start {} → {} ({})  stop {}  {}",
                    driver.name,
                    driver.kind,
                    driver.status.as_str(),
                    offset(driver.start.start),
                    offset(driver.start.end),
                    start,
                    duration(&driver.stop),
                    describe_attributes(&short_attributes(&driver.attributes)),
                ));
            }
            if let Some(connections) = &test.connections {
                let lines = describe_connections(connections);
                if !lines.is_empty() {
                    self.line("  connections:".to_string());
                }
                for line in lines {
                    self.line(format!("    {line}"));
                }
            }
        }
    }

    /// The summary; its last line is the closing `N passed, N failed, N skipped`.
    pub fn summary(&mut self, report: &Report) {
        let counts = report.plan.counts;
        if report.interrupted {
            let text = format!(
                "interrupted: {} not run",
                plural((counts.unknown + counts.incomplete) as usize, "testcase")
            );
            let text = self.paint(&text, Paint::Warn);
            self.line(text);
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let ran = counts.total - counts.unknown - counts.skipped;
        let mut detail = breakdown(&counts);
        let flaky = report
            .plan
            .testcases()
            .into_iter()
            .filter(|testcase| testcase.flaky)
            .count();
        if flaky > 0 {
            detail.push_str(&format!(", {flaky} flaky"));
        }
        let text = format!(
            "Summary [{elapsed:>9.3}s] {} run: {detail}",
            plural(ran as usize, "testcase")
        );
        let paint = if report.plan.status.is_failure() || report.interrupted {
            Paint::Bad
        } else {
            Paint::Good
        };
        let text = self.paint(&text, paint);
        self.line(text);
        self.line(closing_line(&counts));
        self.flush();
    }

    /// Prints a note between the failures and the summary (where reports were written).
    pub fn note(&mut self, text: &str) {
        self.line(text.to_string());
        self.flush();
    }
}

/// Attributes that fit on a timeline line (paths and command lines are in the JSON report).
fn short_attributes(attributes: &crate::env::Attributes) -> crate::env::Attributes {
    attributes
        .iter()
        .filter(|(_, value)| {
            value
                .as_str()
                .is_none_or(|text| text.len() <= 32 && !text.contains('/'))
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// `test::suite::testcase <params>`, the name users filter on.
pub fn display_name(node: &ReportNode) -> String {
    DisplayName(node).to_string()
}

/// [`display_name`] without the allocation.
struct DisplayName<'a>(&'a ReportNode);

impl std::fmt::Display for DisplayName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let node = self.0;
        let mut segments = node.uid.split('/');
        match (node.kind, segments.next(), segments.next()) {
            (NodeKind::Testcase, Some(test), Some(suite)) => {
                write!(f, "{test}::{suite}::{}", node.name)
            }
            _ => {
                for (at, segment) in node.uid.split('/').enumerate() {
                    if at > 0 {
                        f.write_str("::")?;
                    }
                    f.write_str(segment)?;
                }
                Ok(())
            }
        }
    }
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn breakdown(counts: &Counts) -> String {
    let mut parts = vec![
        format!("{} passed", counts.passed),
        format!("{} failed", counts.failed),
    ];
    for (count, word) in [
        (counts.error, "errored"),
        (counts.crashed, "crashed"),
        (counts.xfail, "xfail"),
        (counts.xpass, "xpass"),
        (counts.incomplete, "incomplete"),
        (counts.cancelled, "cancelled"),
        (counts.skipped, "skipped"),
        (counts.unknown, "not run"),
    ] {
        if count > 0 {
            parts.push(format!("{count} {word}"));
        }
    }
    parts.join(", ")
}

/// `N passed, N failed, N skipped` by [`Counts::closing`]: errors, crashes and incomplete testcases
/// count as failed, expected failures (xfail and xpass) as passed.
pub fn closing_line(counts: &Counts) -> String {
    let (passed, failed, skipped) = counts.closing();
    format!("{passed} passed, {failed} failed, {skipped} skipped")
}

/// The console as a subscriber of the event hub: lines are buffered and written out
/// whenever the stream goes quiet, so a burst of testcases costs one write and a line
/// printed before a long testcase still shows at once.
pub struct ConsoleSubscriber {
    console: Arc<Mutex<ConsoleReporter>>,
}

impl ConsoleSubscriber {
    /// Follows the run on `console`, which the caller keeps for the failures and summary.
    pub fn new(console: Arc<Mutex<ConsoleReporter>>) -> ConsoleSubscriber {
        ConsoleSubscriber { console }
    }

    fn console(&self) -> std::sync::MutexGuard<'_, ConsoleReporter> {
        self.console.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The console's first failed write, as the reason it stops following the run.
fn write_failure(console: &mut ConsoleReporter) -> Result<(), SubscriberError> {
    match console.failed.take() {
        Some(source) => Err(SubscriberError {
            subscriber: "console".into(),
            source,
        }),
        None => Ok(()),
    }
}

impl EventSubscriber for ConsoleSubscriber {
    fn on_event(
        &mut self,
        envelope: &EventEnvelope<'_>,
        report: &ReportBuilder,
    ) -> Result<(), SubscriberError> {
        let mut console = self.console();
        console.on_event(envelope.event, report);
        write_failure(&mut console)
    }

    fn idle(&mut self) -> Result<(), SubscriberError> {
        let mut console = self.console();
        if console.unflushed {
            console.flush();
        }
        write_failure(&mut console)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closing_line_counts_errors_as_failures_and_expected_failures_as_passed() {
        let mut counts = Counts::default();
        (counts.total, counts.passed, counts.failed, counts.error) = (9, 2, 1, 1);
        (counts.skipped, counts.xfail, counts.xpass) = (1, 1, 1);
        (counts.cancelled, counts.crashed) = (1, 1);
        assert_eq!(closing_line(&counts), "4 passed, 3 failed, 1 skipped");
        assert_eq!(
            breakdown(&counts),
            "2 passed, 1 failed, 1 errored, 1 crashed, 1 xfail, 1 xpass, 1 cancelled, 1 skipped"
        );
    }

    #[test]
    fn testcases_display_with_test_and_suite() {
        let node = ReportNode::new(NodeKind::Testcase, "t/s/add/a_1", "add <a=1>");
        assert_eq!(display_name(&node), "t::s::add <a=1>");
    }
}

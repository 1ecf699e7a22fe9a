//! Why a testcase failed, as text: its error with the source location, then each failing
//! assertion with its values. Shared by the console and the JUnit exporter so both say the
//! same thing.

use testrig_model::ReportNode;

use crate::export::entry_text::{entry_summary_line, render_entry};

/// A one-line reason: the error, or the first failing assertion.
#[cfg_attr(not(feature = "junit"), allow(dead_code))] // one-line summaries: JUnit messages
pub fn failure_summary(node: &ReportNode) -> String {
    if let Some(error) = &node.error {
        return error.message.clone();
    }
    let failed: Vec<_> = node
        .entries
        .iter()
        .filter(|entry| entry.is_failed_assertion())
        .collect();
    match failed.as_slice() {
        [] => format!("testcase {}", node.status),
        [only] => entry_summary_line(only),
        [first, rest @ ..] => format!(
            "{} (and {} more failing assertions)",
            entry_summary_line(first),
            rest.len()
        ),
    }
}

/// The error and every failing assertion, rendered as plain lines.
pub fn failure_lines(node: &ReportNode) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(error) = &node.error {
        let mut message = error.message.lines();
        let first = message.next().unwrap_or_default();
        match &error.location {
            Some(location) => lines.push(format!("error: {first} (at {location})")),
            None => lines.push(format!("error: {first}")),
        }
        // Multi-line messages (a driver's log tail) stay under their error.
        lines.extend(message.map(|line| format!("    {line}")));
    }
    for entry in node
        .entries
        .iter()
        .filter(|entry| entry.is_failed_assertion())
    {
        render_entry(entry, 0, &mut lines);
    }
    lines
}

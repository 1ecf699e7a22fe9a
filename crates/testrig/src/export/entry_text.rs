//! Plain-text rendering of recorded entries, for the console and JUnit messages.
//!
//! The recorder emits entries as events; the report builder keeps them on their testcase, and
//! the exporters call [`render_entry`] (every detail line of an entry) or
//! [`entry_summary_line`] (one line) to say why an assertion failed without the reader
//! re-running anything. Output is plain text without colours; callers decide how to paint.

use testrig_model::{
    ComparisonOperator, DictComparisonRow, Entry, EntryDetail, RegexOperation, TableCell,
};

/// Longest value shown in a one-line summary before it is cut.
#[cfg_attr(not(feature = "junit"), allow(dead_code))] // one-line summaries: JUnit messages
const SUMMARY_VALUE_CHARS: usize = 80;
/// Most lines of searched text a regex entry shows.
const TEXT_LINES_SHOWN: usize = 20;
/// Tables with more rows than this show only their failing rows (up to this many).
const TABLE_ROWS_SHOWN: usize = 30;

const MISSING: &str = "<missing>";

/// `(Passed)` / `(Failed)` for assertions, nothing for display-only entries.
fn status_mark(entry: &Entry) -> Option<&'static str> {
    match entry.passed {
        Some(true) => Some("(Passed)"),
        Some(false) => Some("(Failed)"),
        None => None,
    }
}

/// What an entry without a description is called.
fn default_title(detail: &EntryDetail) -> String {
    let title = match detail {
        EntryDetail::Comparison { operator, .. } => match operator {
            ComparisonOperator::Equal => "equal",
            ComparisonOperator::NotEqual => "not equal",
            ComparisonOperator::Less => "less",
            ComparisonOperator::LessEqual => "less or equal",
            ComparisonOperator::Greater => "greater",
            ComparisonOperator::GreaterEqual => "greater or equal",
            _ => "compare",
        },
        EntryDetail::IsClose { .. } => "is close",
        EntryDetail::Boolean { expected: true, .. } => "is true",
        EntryDetail::Boolean {
            expected: false, ..
        } => "is false",
        EntryDetail::Fail { message } => return first_line(message).to_string(),
        EntryDetail::Contain { negated: false, .. } => "contain",
        EntryDetail::Contain { negated: true, .. } => "not contain",
        EntryDetail::EqualSlices { .. } => "equal slices",
        EntryDetail::Raises { .. } => "raises",
        EntryDetail::TextDiff { .. } => "equal text",
        EntryDetail::Regex { operation, .. } => {
            return format!("regex {}", operation_name(*operation));
        }
        EntryDetail::TableMatch { .. } => "table match",
        EntryDetail::ColumnContain { .. } => "column contain",
        EntryDetail::TableLog { .. } => "table",
        EntryDetail::DictMatch { .. } => "dict match",
        EntryDetail::DictCheck { .. } => "dict check",
        EntryDetail::Log { message, .. } => return first_line(message).to_string(),
        EntryDetail::Attachment { .. } => "attachment",
        EntryDetail::Group { .. } => "group",
        other => return other.type_name().to_string(),
    };
    title.to_string()
}

fn title(entry: &Entry) -> String {
    if entry.description.is_empty() {
        default_title(&entry.detail)
    } else {
        entry.description.clone()
    }
}

fn operation_name(operation: RegexOperation) -> &'static str {
    match operation {
        RegexOperation::Match => "match",
        RegexOperation::Search => "search",
        RegexOperation::Findall => "findall",
        RegexOperation::NotMatch => "not match",
        RegexOperation::MatchLines => "match lines",
        _ => "regex",
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Cuts `text` to one line of at most `limit` characters, marking what was cut.
#[cfg_attr(not(feature = "junit"), allow(dead_code))] // one-line summaries: JUnit messages
fn shorten(text: &str, limit: usize) -> String {
    let line = first_line(text);
    let cut = line.chars().count() > limit || line.len() < text.trim_end().len();
    if !cut {
        return line.to_string();
    }
    let kept: String = line.chars().take(limit).collect();
    format!("{kept}...")
}

fn plural(count: usize, singular: &str, plural: &str) -> String {
    if count == 1 {
        format!("1 {singular}")
    } else {
        format!("{count} {plural}")
    }
}

fn comparison_text(operator: ComparisonOperator, actual: &str, expected: &str) -> String {
    format!("actual {actual} {} expected {expected}", operator.symbol())
}

/// Python's `isclose` bound, shown so the reader sees how far off the value was allowed to be.
fn allowed_difference(actual: f64, expected: f64, rel_tol: f64, abs_tol: f64) -> f64 {
    (rel_tol * actual.abs().max(expected.abs())).max(abs_tol)
}

fn contain_text(member: &str, container: &str, negated: bool) -> String {
    let relation = if negated { "not in" } else { "in" };
    format!("{member} {relation} {container}")
}

#[cfg_attr(not(feature = "junit"), allow(dead_code))] // one-line summaries: JUnit messages
fn expected_error_text(expected: &str, error: Option<&str>) -> String {
    match error {
        Some(error) => format!("expected {expected}, got: {error}"),
        None => format!("expected {expected}, got no error"),
    }
}

#[cfg_attr(not(feature = "junit"), allow(dead_code))] // one-line summaries: JUnit messages
fn count_cells(rows: &[Vec<TableCell>]) -> (usize, usize) {
    let cells = rows.iter().flatten();
    let failing = cells.clone().filter(|cell| !cell.passed).count();
    (failing, cells.count())
}

#[cfg_attr(not(feature = "junit"), allow(dead_code))] // one-line summaries: JUnit messages
fn dict_failures(comparison: &[DictComparisonRow]) -> Vec<&str> {
    comparison
        .iter()
        .filter(|row| row.passed == Some(false))
        .map(|row| dict_key(&row.key))
        .collect()
}

fn dict_key(key: &str) -> &str {
    if key.is_empty() { "(root)" } else { key }
}

/// The gist of an entry's detail in one line, if there is more to say than its title.
#[cfg_attr(not(feature = "junit"), allow(dead_code))] // one-line summaries: JUnit messages
fn gist(entry: &Entry) -> Option<String> {
    let short = |text: &str| shorten(text, SUMMARY_VALUE_CHARS);
    let gist = match &entry.detail {
        EntryDetail::Comparison {
            operator,
            actual,
            expected,
        } => comparison_text(*operator, &short(actual), &short(expected)),
        EntryDetail::IsClose {
            actual, expected, ..
        } => format!("actual {actual} is close to expected {expected}"),
        EntryDetail::Boolean { expected, actual } => format!("expected {expected}, got {actual}"),
        EntryDetail::Fail { message } if *message != entry.description => short(message),
        EntryDetail::Fail { .. } => return None,
        EntryDetail::Contain {
            member,
            container,
            negated,
        } => contain_text(&short(member), &short(container), *negated),
        EntryDetail::EqualSlices { mismatches, .. } if mismatches.is_empty() => {
            "slices are equal".to_string()
        }
        EntryDetail::EqualSlices { mismatches, .. } => {
            let indices: Vec<String> = mismatches.iter().map(|m| m.index.to_string()).collect();
            format!(
                "{} differ: {}",
                plural(mismatches.len(), "index", "indices"),
                short(&indices.join(", "))
            )
        }
        EntryDetail::Raises { expected, error } => {
            expected_error_text(expected, error.as_deref().map(short).as_deref())
        }
        EntryDetail::TextDiff { diff, .. } if diff.is_empty() => "text is equal".to_string(),
        EntryDetail::TextDiff { diff, .. } => {
            let changed = |sign: char, header: &str| {
                diff.lines()
                    .filter(|line| line.starts_with(sign) && !line.starts_with(header))
                    .count()
            };
            format!(
                "text differs: {} removed, {} added",
                plural(changed('-', "---"), "line", "lines"),
                plural(changed('+', "+++"), "line", "lines")
            )
        }
        EntryDetail::Regex {
            operation,
            pattern,
            matches,
            condition,
            ..
        } => {
            let condition = condition
                .as_ref()
                .map(|condition| format!(", wanted {condition}"))
                .unwrap_or_default();
            format!(
                "{} /{}/: {}{condition}",
                operation_name(*operation),
                short(pattern),
                plural(matches.len(), "match", "matches")
            )
        }
        EntryDetail::TableMatch { rows, notes, .. } => {
            let (failing, total) = count_cells(rows);
            let mut text = format!("{failing} of {} differ", plural(total, "cell", "cells"));
            if !notes.is_empty() {
                text.push_str(&format!("; {}", notes.join("; ")));
            }
            short(&text)
        }
        EntryDetail::ColumnContain {
            column,
            values,
            rows,
        } => {
            let failing = rows.iter().filter(|row| !row.passed).count();
            short(&format!(
                "{failing} of {} in column {column} not in [{}]",
                plural(rows.len(), "value", "values"),
                values.join(", ")
            ))
        }
        EntryDetail::TableLog { columns, rows } => format!(
            "{} x {}",
            plural(rows.len(), "row", "rows"),
            plural(columns.len(), "column", "columns")
        ),
        EntryDetail::DictMatch { comparison } => {
            let failing = dict_failures(comparison);
            let compared = comparison.iter().filter(|row| row.passed.is_some()).count();
            if failing.is_empty() {
                format!("{} match", plural(compared, "key", "keys"))
            } else {
                short(&format!(
                    "{} of {compared} differ: {}",
                    failing.len(),
                    failing.join(", ")
                ))
            }
        }
        EntryDetail::DictCheck {
            missing,
            unexpected,
            ..
        } => {
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!("missing {}", missing.join(", ")));
            }
            if !unexpected.is_empty() {
                parts.push(format!("unexpected {}", unexpected.join(", ")));
            }
            if parts.is_empty() {
                "keys as expected".to_string()
            } else {
                short(&parts.join("; "))
            }
        }
        EntryDetail::Log { .. } if entry.description.is_empty() => {
            // The message already is the title.
            return None;
        }
        EntryDetail::Log { message, .. } => short(message),
        EntryDetail::Attachment { path, size, .. } => format!("{path} ({size} bytes)"),
        EntryDetail::Group { entries } => {
            let failing = entries
                .iter()
                .filter(|entry| entry.is_failed_assertion())
                .count();
            format!(
                "{}, {failing} failed",
                plural(entries.len(), "entry", "entries")
            )
        }
        _ => return None,
    };
    Some(gist)
}

/// One line saying what an entry is, whether it passed and the gist of why:
/// `(Failed) answer: actual 41 == expected 42`.
#[cfg_attr(not(feature = "junit"), allow(dead_code))] // one-line summaries: JUnit messages
pub fn entry_summary_line(entry: &Entry) -> String {
    let mut line = String::new();
    if let Some(mark) = status_mark(entry) {
        line.push_str(mark);
        line.push(' ');
    }
    line.push_str(&shorten(&title(entry), SUMMARY_VALUE_CHARS));
    if let Some(gist) = gist(entry) {
        line.push_str(": ");
        line.push_str(&gist);
    }
    line
}

/// Collects the lines of one entry at one indentation.
struct Lines<'o> {
    out: &'o mut Vec<String>,
    indent: usize,
}

impl Lines<'_> {
    fn push(&mut self, text: impl AsRef<str>) {
        self.out.push(format!(
            "{:indent$}{}",
            "",
            text.as_ref(),
            indent = self.indent
        ));
    }

    /// Pushes each line of a multi-line text.
    fn push_each(&mut self, text: &str) {
        for line in text.lines() {
            self.push(line);
        }
    }
}

/// Appends the lines of an entry, indented by `indent` spaces: a title line with its
/// `(Passed)`/`(Failed)` mark, the values it compared, and for failures where it was recorded.
pub fn render_entry(entry: &Entry, indent: usize, out: &mut Vec<String>) {
    let heading = match status_mark(entry) {
        Some(mark) => format!("{mark} {}", title(entry)),
        None => title(entry),
    };
    out.push(format!("{:indent$}{heading}", ""));
    let mut lines = Lines {
        out,
        indent: indent + 4,
    };
    render_detail(entry, &mut lines);
    if entry.is_failed_assertion()
        && let Some(location) = &entry.location
    {
        lines.push(format!("at {location}"));
    }
}

fn render_detail(entry: &Entry, lines: &mut Lines<'_>) {
    match &entry.detail {
        EntryDetail::Comparison {
            operator,
            actual,
            expected,
        } => lines.push(comparison_text(*operator, actual, expected)),
        EntryDetail::IsClose {
            actual,
            expected,
            rel_tol,
            abs_tol,
        } => {
            lines.push(format!("actual {actual} is close to expected {expected}"));
            let allowed = allowed_difference(*actual, *expected, *rel_tol, *abs_tol);
            lines.push(format!(
                "difference {}, allowed {allowed} (rel_tol {rel_tol}, abs_tol {abs_tol})",
                (actual - expected).abs()
            ));
        }
        EntryDetail::Boolean { expected, actual } => {
            lines.push(format!("expected {expected}, got {actual}"))
        }
        EntryDetail::Fail { message } if *message != entry.description => lines.push_each(message),
        EntryDetail::Fail { .. } => {}
        EntryDetail::Contain {
            member,
            container,
            negated,
        } => lines.push(contain_text(member, container, *negated)),
        EntryDetail::EqualSlices {
            actual,
            expected,
            mismatches,
        } => {
            lines.push(format!("actual   {actual}"));
            lines.push(format!("expected {expected}"));
            for mismatch in mismatches {
                lines.push(format!(
                    "[{}] {} != {}",
                    mismatch.index,
                    mismatch.actual.as_deref().unwrap_or(MISSING),
                    mismatch.expected.as_deref().unwrap_or(MISSING)
                ));
            }
        }
        EntryDetail::Raises { expected, error } => {
            lines.push(format!("expected {expected}"));
            match error {
                Some(error) => lines.push_each(&format!("got: {error}")),
                None => lines.push("got no error"),
            }
        }
        EntryDetail::TextDiff { diff, .. } => lines.push_each(diff),
        EntryDetail::Regex {
            operation,
            pattern,
            text,
            matches,
            condition,
        } => render_regex(
            *operation,
            pattern,
            text,
            matches,
            condition.as_deref(),
            lines,
        ),
        EntryDetail::TableMatch {
            columns,
            rows,
            notes,
        } => {
            for note in notes {
                lines.push(format!("note: {note}"));
            }
            let rendered: Vec<(bool, Vec<String>)> = rows
                .iter()
                .map(|cells| {
                    let passed = cells.iter().all(|cell| cell.passed);
                    (passed, cells.iter().map(table_cell_text).collect())
                })
                .collect();
            render_table(columns, &rendered, lines);
        }
        EntryDetail::ColumnContain {
            column,
            values,
            rows,
        } => {
            lines.push(format!("column {column}, allowed: {}", values.join(", ")));
            let shown = shown_rows(rows.len(), |index| rows[index].passed);
            for &index in &shown {
                let row = &rows[index];
                let mark = if row.passed { "(Passed)" } else { "(Failed)" };
                lines.push(format!("{mark} row {}: {}", row.index, row.value));
            }
            note_hidden_rows(rows.len(), shown.len(), lines);
        }
        EntryDetail::TableLog { columns, rows } => {
            let rendered: Vec<(bool, Vec<String>)> =
                rows.iter().map(|cells| (true, cells.clone())).collect();
            render_table(columns, &rendered, lines);
        }
        EntryDetail::DictMatch { comparison } => {
            for row in comparison {
                lines.push(dict_row_text(row));
            }
        }
        EntryDetail::DictCheck {
            has_keys,
            absent_keys,
            missing,
            unexpected,
        } => {
            if !has_keys.is_empty() {
                lines.push(format!("has keys: {}", has_keys.join(", ")));
            }
            if !missing.is_empty() {
                lines.push(format!("missing: {}", missing.join(", ")));
            }
            if !absent_keys.is_empty() {
                lines.push(format!("absent keys: {}", absent_keys.join(", ")));
            }
            if !unexpected.is_empty() {
                lines.push(format!(
                    "present but should be absent: {}",
                    unexpected.join(", ")
                ));
            }
        }
        EntryDetail::Log { message, .. } => {
            // Without a description the first line is the title already.
            let skip = usize::from(entry.description.is_empty());
            for line in message.lines().skip(skip) {
                lines.push(line);
            }
        }
        EntryDetail::Attachment { source, path, size } => {
            lines.push(format!("{path} ({size} bytes), from {source}"))
        }
        EntryDetail::Group { entries } => {
            for child in entries {
                render_entry(child, lines.indent, lines.out);
            }
        }
        other => lines.push(format!("({})", other.type_name())),
    }
}

fn render_regex(
    operation: RegexOperation,
    pattern: &str,
    text: &str,
    matches: &[testrig_model::RegexSpan],
    condition: Option<&str>,
    lines: &mut Lines<'_>,
) {
    lines.push(format!("{} /{pattern}/", operation_name(operation)));
    if let Some(condition) = condition {
        lines.push(format!("wanted {condition}, found {}", matches.len()));
    }
    let text_lines: Vec<&str> = text.lines().collect();
    match text_lines.as_slice() {
        [] => lines.push("text: (empty)"),
        [only] => lines.push(format!("text: {only}")),
        many => {
            lines.push("text:");
            for line in many.iter().take(TEXT_LINES_SHOWN) {
                lines.push(format!("  {line}"));
            }
            if many.len() > TEXT_LINES_SHOWN {
                lines.push(format!(
                    "  ... {} more",
                    plural(many.len() - TEXT_LINES_SHOWN, "line", "lines")
                ));
            }
        }
    }
    if matches.is_empty() {
        lines.push("no match");
        return;
    }
    let label = if operation == RegexOperation::MatchLines {
        "matching lines:"
    } else {
        "matches:"
    };
    lines.push(label);
    for found in matches.iter().take(TEXT_LINES_SHOWN) {
        lines.push(format!("  {}..{}: {}", found.start, found.end, found.text));
    }
    if matches.len() > TEXT_LINES_SHOWN {
        lines.push(format!("  ... {} more", matches.len() - TEXT_LINES_SHOWN));
    }
}

/// A compared cell: its value when it matched, `actual != expected` when it did not.
fn table_cell_text(cell: &TableCell) -> String {
    let actual = cell.actual.as_deref().unwrap_or(MISSING);
    if cell.passed {
        actual.to_string()
    } else {
        format!(
            "{actual} != {}",
            cell.expected.as_deref().unwrap_or(MISSING)
        )
    }
}

/// Which rows to show: all of a small table, only the failing ones of a large one.
fn shown_rows(count: usize, passed: impl Fn(usize) -> bool) -> Vec<usize> {
    if count <= TABLE_ROWS_SHOWN {
        return (0..count).collect();
    }
    (0..count)
        .filter(|&index| !passed(index))
        .take(TABLE_ROWS_SHOWN)
        .collect()
}

fn note_hidden_rows(count: usize, shown: usize, lines: &mut Lines<'_>) {
    if shown < count {
        lines.push(format!(
            "... {} not shown",
            plural(count - shown, "row", "rows")
        ));
    }
}

/// A text table with aligned columns; failing rows are marked with `>` in the margin.
fn render_table(columns: &[String], rows: &[(bool, Vec<String>)], lines: &mut Lines<'_>) {
    let shown = shown_rows(rows.len(), |index| rows[index].0);
    let column_count = rows
        .iter()
        .map(|(_, cells)| cells.len())
        .max()
        .unwrap_or(0)
        .max(columns.len());
    let width = |column: usize| {
        let header = columns.get(column).map_or(0, |name| name.chars().count());
        shown
            .iter()
            .filter_map(|&row| rows[row].1.get(column))
            .map(|cell| cell.chars().count())
            .max()
            .unwrap_or(0)
            .max(header)
    };
    let widths: Vec<usize> = (0..column_count).map(width).collect();
    let format_row = |margin: &str, cells: &[String]| {
        let padded: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(column, width)| {
                let cell = cells.get(column).map_or("", String::as_str);
                format!("{cell:<width$}")
            })
            .collect();
        format!("{margin}{}", padded.join(" | "))
            .trim_end()
            .to_string()
    };
    lines.push(format_row("  ", columns));
    let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    lines.push(format!("  {}", rule.join("-+-")));
    for &index in &shown {
        let (passed, cells) = &rows[index];
        let margin = if *passed { "  " } else { "> " };
        lines.push(format_row(margin, cells));
    }
    note_hidden_rows(rows.len(), shown.len(), lines);
}

/// A dict row the way Testplan prints it: `(Failed)  Key(b),  2 != 3`, indented by depth.
fn dict_row_text(row: &DictComparisonRow) -> String {
    let mark = match row.passed {
        Some(true) => "(Passed) ",
        Some(false) => "(Failed) ",
        None => "(Ignored)",
    };
    let actual = row.actual.as_deref().unwrap_or(MISSING);
    let expected = row.expected.as_deref().unwrap_or(MISSING);
    let relation = match row.passed {
        Some(true) => "==",
        Some(false) => "!=",
        None => "vs",
    };
    let depth = row.depth as usize * 2;
    format!(
        "{mark} {:depth$}Key({}),  {actual} {relation} {expected}",
        "",
        dict_key(&row.key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use testrig_model::{ColumnContainRow, RegexSpan, SliceMismatch, SourceLocation};

    fn entry(description: &str, passed: Option<bool>, detail: EntryDetail) -> Entry {
        Entry::new(
            description,
            passed,
            Some(SourceLocation::new("tests/plan.rs", 12, 9)),
            0.0,
            detail,
        )
    }

    fn rendered(entry: &Entry) -> Vec<String> {
        let mut out = Vec::new();
        render_entry(entry, 2, &mut out);
        out
    }

    fn answer(passed: bool, actual: &str) -> Entry {
        entry(
            "answer",
            Some(passed),
            EntryDetail::Comparison {
                operator: ComparisonOperator::Equal,
                actual: actual.into(),
                expected: "42".into(),
            },
        )
    }

    #[test]
    fn failed_comparisons_show_values_and_location() {
        assert_eq!(
            rendered(&answer(false, "41")),
            [
                "  (Failed) answer",
                "      actual 41 == expected 42",
                "      at tests/plan.rs:12:9",
            ]
        );
        assert_eq!(
            entry_summary_line(&answer(false, "41")),
            "(Failed) answer: actual 41 == expected 42"
        );
        assert_eq!(
            rendered(&answer(true, "42")).len(),
            2,
            "no location for passes"
        );
    }

    #[test]
    fn summaries_cut_long_values() {
        let long = "x".repeat(200);
        let line = entry_summary_line(&answer(false, &long));
        assert!(line.contains(&format!("{}...", "x".repeat(80))), "{line}");
        assert!(line.len() < 140, "{line}");
    }

    #[test]
    fn empty_descriptions_fall_back_to_the_kind() {
        let mut unnamed = answer(true, "42");
        unnamed.description.clear();
        assert_eq!(
            entry_summary_line(&unnamed),
            "(Passed) equal: actual 42 == expected 42"
        );
        let log = entry(
            "",
            None,
            EntryDetail::Log {
                message: "first\nsecond".into(),
                value: None,
            },
        );
        assert_eq!(entry_summary_line(&log), "first");
        assert_eq!(rendered(&log), ["  first", "      second"]);
    }

    #[test]
    fn is_close_shows_the_allowed_difference() {
        let close = entry(
            "ratio",
            Some(false),
            EntryDetail::IsClose {
                actual: 1.0,
                expected: 2.0,
                rel_tol: 0.25,
                abs_tol: 0.0,
            },
        );
        let lines = rendered(&close);
        assert_eq!(lines[1], "      actual 1 is close to expected 2");
        assert_eq!(
            lines[2],
            "      difference 1, allowed 0.5 (rel_tol 0.25, abs_tol 0)"
        );
    }

    #[test]
    fn booleans_fail_contain_and_raises() {
        let boolean = entry(
            "flag",
            Some(false),
            EntryDetail::Boolean {
                expected: true,
                actual: false,
            },
        );
        assert_eq!(rendered(&boolean)[1], "      expected true, got false");
        let fail = entry(
            "attach",
            Some(false),
            EntryDetail::Fail {
                message: "cannot attach x: no such file".into(),
            },
        );
        assert_eq!(rendered(&fail)[1], "      cannot attach x: no such file");
        let explicit = entry(
            "gave up",
            Some(false),
            EntryDetail::Fail {
                message: "gave up".into(),
            },
        );
        assert_eq!(
            rendered(&explicit),
            ["  (Failed) gave up", "      at tests/plan.rs:12:9"]
        );
        assert_eq!(entry_summary_line(&explicit), "(Failed) gave up");
        let contain = entry(
            "",
            Some(false),
            EntryDetail::Contain {
                member: "3".into(),
                container: "[1, 2]".into(),
                negated: false,
            },
        );
        assert_eq!(
            entry_summary_line(&contain),
            "(Failed) contain: 3 in [1, 2]"
        );
        let raises = entry(
            "slow",
            Some(false),
            EntryDetail::Raises {
                expected: "an error matching /timed out/".into(),
                error: None,
            },
        );
        assert_eq!(
            rendered(&raises)[1..3],
            [
                "      expected an error matching /timed out/",
                "      got no error"
            ]
        );
    }

    #[test]
    fn slices_list_mismatching_indices() {
        let slices = entry(
            "frames",
            Some(false),
            EntryDetail::EqualSlices {
                actual: "[1, 9, 3, 4]".into(),
                expected: "[1, 2, 3]".into(),
                mismatches: vec![
                    SliceMismatch {
                        index: 1,
                        actual: Some("9".into()),
                        expected: Some("2".into()),
                    },
                    SliceMismatch {
                        index: 3,
                        actual: Some("4".into()),
                        expected: None,
                    },
                ],
            },
        );
        assert_eq!(
            rendered(&slices)[1..5],
            [
                "      actual   [1, 9, 3, 4]",
                "      expected [1, 2, 3]",
                "      [1] 9 != 2",
                "      [3] 4 != <missing>",
            ]
        );
        assert_eq!(
            entry_summary_line(&slices),
            "(Failed) frames: 2 indices differ: 1, 3"
        );
    }

    #[test]
    fn text_diffs_are_shown_line_by_line() {
        let diff = "--- expected\n+++ actual\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n";
        let text = entry(
            "config",
            Some(false),
            EntryDetail::TextDiff {
                actual: "a\nB\n".into(),
                expected: "a\nb\n".into(),
                diff: diff.into(),
            },
        );
        let lines = rendered(&text);
        assert_eq!(lines[1], "      --- expected");
        assert_eq!(lines[5], "      -b");
        assert_eq!(lines[6], "      +B");
        assert_eq!(
            entry_summary_line(&text),
            "(Failed) config: text differs: 1 line removed, 1 line added"
        );
    }

    #[test]
    fn regex_entries_show_pattern_text_and_matches() {
        let regex = entry(
            "errors",
            Some(false),
            EntryDetail::Regex {
                operation: RegexOperation::Findall,
                pattern: "ERROR".into(),
                text: "ERROR a\nok".into(),
                matches: vec![RegexSpan {
                    start: 0,
                    end: 5,
                    text: "ERROR".into(),
                }],
                condition: Some("exactly 0 matches".into()),
            },
        );
        assert_eq!(
            rendered(&regex)[1..8],
            [
                "      findall /ERROR/",
                "      wanted exactly 0 matches, found 1",
                "      text:",
                "        ERROR a",
                "        ok",
                "      matches:",
                "        0..5: ERROR",
            ]
        );
        assert_eq!(
            entry_summary_line(&regex),
            "(Failed) errors: findall /ERROR/: 1 match, wanted exactly 0 matches"
        );
    }

    #[test]
    fn table_matches_mark_failing_cells() {
        let cell = |actual: Option<&str>, expected: &str, passed: bool| TableCell {
            actual: actual.map(str::to_string),
            expected: Some(expected.to_string()),
            passed,
        };
        let table = entry(
            "people",
            Some(false),
            EntryDetail::TableMatch {
                columns: vec!["name".into(), "age".into()],
                rows: vec![
                    vec![
                        cell(Some("alice"), "alice", true),
                        cell(Some("30"), "30", true),
                    ],
                    vec![
                        cell(Some("bob"), "bob", true),
                        cell(Some("41"), "42", false),
                    ],
                    vec![cell(None, "carol", false), cell(None, "50", false)],
                ],
                notes: vec!["the actual table has 2 rows, the expected one 3".into()],
            },
        );
        assert_eq!(
            rendered(&table)[1..7],
            [
                "      note: the actual table has 2 rows, the expected one 3",
                "        name               | age",
                "        -------------------+----------------",
                "        alice              | 30",
                "      > bob                | 41 != 42",
                "      > <missing> != carol | <missing> != 50",
            ]
        );
        assert!(entry_summary_line(&table).starts_with("(Failed) people: 3 of 6 cells differ; "));
    }

    #[test]
    fn large_tables_show_only_failing_rows() {
        let rows: Vec<Vec<String>> = (0..40).map(|index| vec![index.to_string()]).collect();
        let log = entry(
            "numbers",
            None,
            EntryDetail::TableLog {
                columns: vec!["n".into()],
                rows,
            },
        );
        let lines = rendered(&log);
        assert_eq!(lines[0], "  numbers");
        assert_eq!(lines.last().unwrap(), "      ... 40 rows not shown");
        let contain = entry(
            "statuses",
            Some(false),
            EntryDetail::ColumnContain {
                column: "status".into(),
                values: vec!["open".into()],
                rows: (0..40)
                    .map(|index| ColumnContainRow {
                        index,
                        value: if index == 7 { "closed" } else { "open" }.into(),
                        passed: index != 7,
                    })
                    .collect(),
            },
        );
        assert_eq!(
            rendered(&contain)[1..4],
            [
                "      column status, allowed: open",
                "      (Failed) row 7: closed",
                "      ... 39 rows not shown",
            ]
        );
        assert_eq!(
            entry_summary_line(&contain),
            "(Failed) statuses: 1 of 40 values in column status not in [open]"
        );
    }

    #[test]
    fn dict_rows_read_like_testplan() {
        let row = |key: &str, depth, passed, actual: Option<&str>, expected: Option<&str>| {
            DictComparisonRow {
                key: key.into(),
                depth,
                passed,
                actual: actual.map(str::to_string),
                expected: expected.map(str::to_string),
            }
        };
        let dict = entry(
            "reply",
            Some(false),
            EntryDetail::DictMatch {
                comparison: vec![
                    row("a", 0, Some(true), Some("1"), Some("1")),
                    row("b.c", 1, Some(false), Some("2"), Some("3")),
                    row("gone", 0, Some(false), None, Some("null")),
                    row("ts", 0, None, Some("5"), Some("6")),
                ],
            },
        );
        assert_eq!(
            rendered(&dict)[1..5],
            [
                "      (Passed)  Key(a),  1 == 1",
                "      (Failed)    Key(b.c),  2 != 3",
                "      (Failed)  Key(gone),  <missing> != null",
                "      (Ignored) Key(ts),  5 vs 6",
            ]
        );
        assert_eq!(
            entry_summary_line(&dict),
            "(Failed) reply: 2 of 3 differ: b.c, gone"
        );
        let check = entry(
            "shape",
            Some(false),
            EntryDetail::DictCheck {
                has_keys: vec!["id".into(), "name".into()],
                absent_keys: vec!["error".into()],
                missing: vec!["name".into()],
                unexpected: vec![],
            },
        );
        assert_eq!(entry_summary_line(&check), "(Failed) shape: missing name");
        assert_eq!(rendered(&check)[2], "      missing: name");
    }

    #[test]
    fn groups_nest_and_attachments_show_paths() {
        let attachment = entry(
            "server log",
            None,
            EntryDetail::Attachment {
                source: "/tmp/server.log".into(),
                path: "t/attachments/server.log".into(),
                size: 8,
            },
        );
        let group = entry(
            "checks",
            Some(false),
            EntryDetail::Group {
                entries: vec![attachment, answer(false, "41")],
            },
        );
        let lines = rendered(&group);
        assert_eq!(lines[0], "  (Failed) checks");
        assert_eq!(lines[1], "      server log");
        assert_eq!(
            lines[2],
            "          t/attachments/server.log (8 bytes), from /tmp/server.log"
        );
        assert_eq!(lines[3], "      (Failed) answer");
        assert_eq!(
            entry_summary_line(&group),
            "(Failed) checks: 2 entries, 1 failed"
        );
    }
}

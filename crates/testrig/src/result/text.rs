//! Text assertions of the recorder: string equality with a unified diff, and the regex family
//! (`result.regex().matches(…)`, `.search`, `.findall`, `.not_match`, `.match_lines`).
//!
//! Like every assertion, these record an entry with the text they looked at and hand it to
//! [`Recorder::record`], which emits it to the report builder; failures return `false`
//! instead of panicking. An invalid pattern is a failed entry that quotes the regex error.

use crate::regex_engine::Regex;
use testrig_model::{EntryDetail, RegexOperation, RegexSpan};

use super::Recorder;

/// The regex assertions, borrowed from a recorder with [`Recorder::regex`].
///
/// Patterns use the `regex` crate's syntax; flags go inline (`(?i)`, `(?m)`, `(?s)`).
#[derive(Debug)]
pub struct RegexAssertions<'a> {
    recorder: &'a mut Recorder,
}

/// Lines of context around each change in a unified diff, as `diff -u`.
const DIFF_CONTEXT: u32 = 3;

/// A unified diff from `expected` to `actual`, as `diff -u` writes it, empty when they are
/// equal. Histogram diff, as git's: moved blocks read as moves, not as noise. The hunks are
/// grouped here rather than by imara-diff's printer, whose headers are off by the leading
/// context when the first change is within the first seven lines (imara-diff 0.2.0).
fn unified_diff(actual: &str, expected: &str) -> String {
    use imara_diff::{Algorithm, Diff, Hunk, InternedInput};
    use std::fmt::Write as _;
    if actual == expected {
        return String::new();
    }
    let input = InternedInput::new(expected, actual);
    let mut diff = Diff::compute(Algorithm::Histogram, &input);
    diff.postprocess_lines(&input);
    let hunks: Vec<Hunk> = diff.hunks().collect();
    let mut out = String::from("--- expected\n+++ actual\n");
    let line = |out: &mut String, sign: char, token: imara_diff::Token| {
        let text = input.interner[token];
        out.push(sign);
        out.push_str(text);
        // `a` against `a\n` would otherwise read as two equal lines.
        if !text.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    };
    let mut rest = hunks.as_slice();
    while let [first, ..] = rest {
        // Changes closer than twice the context share one hunk, as in `diff -u`.
        let together = 1 + rest
            .windows(2)
            .take_while(|pair| pair[1].before.start - pair[0].before.end <= 2 * DIFF_CONTEXT)
            .count();
        let (group, later) = rest.split_at(together);
        let last = &group[together - 1];
        // Outside the changes both sides hold the same lines, so the context is as long on
        // either side.
        let lead = first.before.start.min(DIFF_CONTEXT);
        let trail = (input.before.len() as u32 - last.before.end).min(DIFF_CONTEXT);
        let (before_start, after_start) = (first.before.start - lead, first.after.start - lead);
        let before_len = last.before.end + trail - before_start;
        let after_len = last.after.end + trail - after_start;
        let _ = writeln!(
            out,
            "@@ -{} +{} @@",
            hunk_range(before_start, before_len),
            hunk_range(after_start, after_len)
        );
        let mut at = before_start;
        for hunk in group {
            for &token in &input.before[at as usize..hunk.before.start as usize] {
                line(&mut out, ' ', token);
            }
            for &token in &input.before[hunk.before.start as usize..hunk.before.end as usize] {
                line(&mut out, '-', token);
            }
            for &token in &input.after[hunk.after.start as usize..hunk.after.end as usize] {
                line(&mut out, '+', token);
            }
            at = hunk.before.end;
        }
        for &token in &input.before[at as usize..(last.before.end + trail) as usize] {
            line(&mut out, ' ', token);
        }
        rest = later;
    }
    out
}

/// One side's range in a hunk header, as `diff -u` numbers it: the first line and the
/// count, the count left out when it is one, and an empty side numbered by the line before.
fn hunk_range(start: u32, len: u32) -> String {
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{len}", start + 1),
    }
}

fn span(found: crate::regex_engine::Match<'_>) -> RegexSpan {
    RegexSpan {
        start: found.start(),
        end: found.end(),
        text: found.as_str().to_string(),
    }
}

/// Each line of `text` with its byte offset, without its line terminator.
fn lines_with_offsets(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_inclusive('\n').scan(0, |offset, line| {
        let start = *offset;
        *offset += line.len();
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        Some((start, line))
    })
}

impl Recorder {
    /// Passes when the strings are equal; otherwise the entry carries a unified diff
    /// (expected → actual), which is what makes multi-line text failures readable.
    ///
    /// `result.equal_text(&rendered, "a\nb\n", "rendered config")`
    #[track_caller]
    pub fn equal_text(
        &mut self,
        actual: &str,
        expected: &str,
        description: impl Into<String>,
    ) -> bool {
        self.record(Recorder::make_entry(
            description,
            Some(actual == expected),
            EntryDetail::TextDiff {
                actual: actual.to_string(),
                expected: expected.to_string(),
                diff: unified_diff(actual, expected),
            },
        ))
    }

    /// The regex assertion family.
    ///
    /// `result.regex().search(r"listening on \d+", &log, "server is up")`
    pub fn regex(&mut self) -> RegexAssertions<'_> {
        RegexAssertions { recorder: self }
    }
}

impl RegexAssertions<'_> {
    /// Compiles `pattern`, or records a failed entry quoting the regex error.
    #[track_caller]
    fn compile(&mut self, pattern: &str, description: String) -> Option<Regex> {
        match crate::regex_engine::compiled(pattern) {
            Ok(regex) => Some(regex),
            Err(error) => {
                self.recorder.record(Recorder::make_entry(
                    description,
                    Some(false),
                    EntryDetail::Fail { message: error },
                ));
                None
            }
        }
    }

    #[track_caller]
    fn record_regex(
        &mut self,
        operation: RegexOperation,
        pattern: &str,
        text: &str,
        outcome: (bool, Vec<RegexSpan>),
        condition: Option<String>,
        description: String,
    ) -> bool {
        let (passed, matches) = outcome;
        self.recorder.record(Recorder::make_entry(
            description,
            Some(passed),
            EntryDetail::Regex {
                operation,
                pattern: pattern.to_string(),
                text: text.to_string(),
                matches,
                condition,
            },
        ))
    }

    /// Passes when `pattern` matches at the start of `text` (Python's `re.match`); it need not
    /// match the whole text — end the pattern with `$` for that.
    ///
    /// `result.regex().matches(r"HTTP/1\.1 200", &reply, "status line")`
    #[track_caller]
    pub fn matches(&mut self, pattern: &str, text: &str, description: impl Into<String>) -> bool {
        let description = description.into();
        let Some(regex) = self.compile(pattern, description.clone()) else {
            return false;
        };
        // Leftmost-first search finds a match at offset 0 whenever one exists there.
        let found = regex.find(text).filter(|found| found.start() == 0);
        let outcome = (found.is_some(), found.map(span).into_iter().collect());
        self.record_regex(
            RegexOperation::Match,
            pattern,
            text,
            outcome,
            None,
            description,
        )
    }

    /// Passes when `pattern` matches anywhere in `text`.
    #[track_caller]
    pub fn search(&mut self, pattern: &str, text: &str, description: impl Into<String>) -> bool {
        let description = description.into();
        let Some(regex) = self.compile(pattern, description.clone()) else {
            return false;
        };
        let found = regex.find(text);
        let outcome = (found.is_some(), found.map(span).into_iter().collect());
        self.record_regex(
            RegexOperation::Search,
            pattern,
            text,
            outcome,
            None,
            description,
        )
    }

    /// Records every match of `pattern` in `text`; passes when there is at least one.
    #[track_caller]
    pub fn findall(&mut self, pattern: &str, text: &str, description: impl Into<String>) -> bool {
        let description = description.into();
        let Some(regex) = self.compile(pattern, description.clone()) else {
            return false;
        };
        let matches: Vec<RegexSpan> = regex.find_iter(text).map(span).collect();
        let outcome = (!matches.is_empty(), matches);
        self.record_regex(
            RegexOperation::Findall,
            pattern,
            text,
            outcome,
            Some("at least 1 match".to_string()),
            description,
        )
    }

    /// Records every match of `pattern` in `text`; passes when there are exactly
    /// `expected_count`.
    ///
    /// `result.regex().findall_count("ERROR", &log, 0, "no errors logged")`
    #[track_caller]
    pub fn findall_count(
        &mut self,
        pattern: &str,
        text: &str,
        expected_count: usize,
        description: impl Into<String>,
    ) -> bool {
        let description = description.into();
        let Some(regex) = self.compile(pattern, description.clone()) else {
            return false;
        };
        let matches: Vec<RegexSpan> = regex.find_iter(text).map(span).collect();
        let outcome = (matches.len() == expected_count, matches);
        let plural = if expected_count == 1 { "" } else { "es" };
        self.record_regex(
            RegexOperation::Findall,
            pattern,
            text,
            outcome,
            Some(format!("exactly {expected_count} match{plural}")),
            description,
        )
    }

    /// Passes when `pattern` matches nowhere in `text`; a failure lists the matches found.
    #[track_caller]
    pub fn not_match(&mut self, pattern: &str, text: &str, description: impl Into<String>) -> bool {
        let description = description.into();
        let Some(regex) = self.compile(pattern, description.clone()) else {
            return false;
        };
        let matches: Vec<RegexSpan> = regex.find_iter(text).map(span).collect();
        let outcome = (matches.is_empty(), matches);
        self.record_regex(
            RegexOperation::NotMatch,
            pattern,
            text,
            outcome,
            None,
            description,
        )
    }

    /// Tests each line of `text` (Python's `re.match` per line: anchored at the line's start);
    /// passes when some line matches. The recorded matches are the matching lines.
    ///
    /// `result.regex().match_lines(r"^ready in \d+ms", &stdout, "startup banner")`
    #[track_caller]
    pub fn match_lines(
        &mut self,
        pattern: &str,
        text: &str,
        description: impl Into<String>,
    ) -> bool {
        let description = description.into();
        let Some(regex) = self.compile(pattern, description.clone()) else {
            return false;
        };
        let matches: Vec<RegexSpan> = lines_with_offsets(text)
            .filter(|(_, line)| regex.find(line).is_some_and(|found| found.start() == 0))
            .map(|(start, line)| RegexSpan {
                start,
                end: start + line.len(),
                text: line.to_string(),
            })
            .collect();
        let outcome = (!matches.is_empty(), matches);
        self.record_regex(
            RegexOperation::MatchLines,
            pattern,
            text,
            outcome,
            None,
            description,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testrig_model::Entry;

    fn last(recorder: &Recorder) -> &Entry {
        recorder.entries().last().expect("an entry was recorded")
    }

    /// Operation, (start, end, text) of each match, and condition of a regex entry.
    type RegexSummary<'e> = (
        RegexOperation,
        Vec<(usize, usize, &'e str)>,
        Option<&'e str>,
    );

    fn regex_detail(entry: &Entry) -> RegexSummary<'_> {
        match &entry.detail {
            EntryDetail::Regex {
                operation,
                matches,
                condition,
                ..
            } => (
                *operation,
                matches
                    .iter()
                    .map(|found| (found.start, found.end, found.text.as_str()))
                    .collect(),
                condition.as_deref(),
            ),
            other => panic!("not a regex entry: {other:?}"),
        }
    }

    #[test]
    fn equal_text_records_a_unified_diff_only_when_different() {
        let mut result = Recorder::detached();
        assert!(result.equal_text("a\nb\n", "a\nb\n", "same"));
        match &last(&result).detail {
            EntryDetail::TextDiff { diff, .. } => assert_eq!(diff, ""),
            other => panic!("{other:?}"),
        }
        assert!(!result.equal_text("a\nB\nc\n", "a\nb\nc\n", "changed"));
        let entry = last(&result);
        assert_eq!(entry.passed, Some(false));
        match &entry.detail {
            EntryDetail::TextDiff {
                actual,
                expected,
                diff,
            } => {
                assert_eq!(actual, "a\nB\nc\n");
                assert_eq!(expected, "a\nb\nc\n");
                assert_eq!(
                    diff,
                    "--- expected\n+++ actual\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_unified_diff_reads_as_diff_u() {
        // A missing last line break is a difference, and says so.
        assert_eq!(
            unified_diff("a\nb", "a\nb\n"),
            "--- expected\n+++ actual\n@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n"
        );
        // Added to empty text: the empty side is numbered 0.
        assert_eq!(
            unified_diff("x\n", ""),
            "--- expected\n+++ actual\n@@ -0,0 +1 @@\n+x\n"
        );
        // Far-apart changes are separate hunks with three lines of context.
        let expected: String = (1..=20).map(|n| format!("{n}\n")).collect();
        let actual = expected
            .replace("2\n3\n", "2\nthree\n")
            .replace("18\n", "eighteen\n");
        let diff = unified_diff(&actual, &expected);
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
        assert!(
            diff.contains("@@ -1,6 +1,6 @@\n 1\n 2\n-3\n+three\n 4\n"),
            "{diff}"
        );
    }

    #[test]
    fn matches_is_anchored_at_the_start() {
        let mut result = Recorder::detached();
        assert!(
            result
                .regex()
                .matches(r"HTTP/\d", "HTTP/1 200 OK", "status")
        );
        assert_eq!(
            regex_detail(last(&result)),
            (RegexOperation::Match, vec![(0, 6, "HTTP/1")], None)
        );
        assert!(
            !result
                .regex()
                .matches("200", "HTTP/1 200 OK", "not at start")
        );
        assert_eq!(last(&result).passed, Some(false));
        assert_eq!(regex_detail(last(&result)).1, vec![]);
        match &last(&result).detail {
            EntryDetail::Regex { pattern, text, .. } => {
                assert_eq!(pattern, "200");
                assert_eq!(text, "HTTP/1 200 OK");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn search_finds_anywhere() {
        let mut result = Recorder::detached();
        assert!(result.regex().search(r"\d+", "port 8080 open", "port"));
        assert_eq!(
            regex_detail(last(&result)),
            (RegexOperation::Search, vec![(5, 9, "8080")], None)
        );
        assert!(!result.regex().search(r"\d+", "no digits", "none"));
        assert_eq!(last(&result).passed, Some(false));
    }

    #[test]
    fn findall_and_findall_count() {
        let mut result = Recorder::detached();
        let text = "ERROR a\nok\nERROR b\n";
        assert!(result.regex().findall("ERROR", text, "errors"));
        assert_eq!(
            regex_detail(last(&result)),
            (
                RegexOperation::Findall,
                vec![(0, 5, "ERROR"), (11, 16, "ERROR")],
                Some("at least 1 match")
            )
        );
        assert!(!result.regex().findall("WARN", text, "warnings"));
        assert!(result.regex().findall_count("ERROR", text, 2, "two errors"));
        assert!(!result.regex().findall_count("ERROR", text, 0, "no errors"));
        let (_, matches, condition) = regex_detail(last(&result));
        assert_eq!(matches.len(), 2);
        assert_eq!(condition, Some("exactly 0 matches"));
        assert!(!result.regex().findall_count("ok", text, 3, ""));
        assert_eq!(regex_detail(last(&result)).2, Some("exactly 3 matches"));
    }

    #[test]
    fn not_match_lists_offending_matches() {
        let mut result = Recorder::detached();
        assert!(result.regex().not_match("panic", "all good", "no panic"));
        assert!(
            !result
                .regex()
                .not_match("panic", "x panic y panic", "panics")
        );
        assert_eq!(
            regex_detail(last(&result)),
            (
                RegexOperation::NotMatch,
                vec![(2, 7, "panic"), (10, 15, "panic")],
                None
            )
        );
        assert_eq!(last(&result).passed, Some(false));
    }

    #[test]
    fn match_lines_records_matching_lines() {
        let mut result = Recorder::detached();
        let text = "booting\r\nready in 12ms\nnot ready in 5ms\n";
        assert!(
            result
                .regex()
                .match_lines(r"ready in \d+ms", text, "banner")
        );
        assert_eq!(
            regex_detail(last(&result)),
            (
                RegexOperation::MatchLines,
                vec![(9, 22, "ready in 12ms")],
                None
            )
        );
        assert!(!result.regex().match_lines("^done", text, "never done"));
        assert_eq!(last(&result).passed, Some(false));
    }

    #[test]
    fn invalid_patterns_fail_with_the_regex_error() {
        let mut result = Recorder::detached();
        assert!(!result.regex().search("(unclosed", "text", "bad"));
        let entry = last(&result);
        assert_eq!(entry.passed, Some(false));
        assert_eq!(entry.description, "bad");
        match &entry.detail {
            EntryDetail::Fail { message } => {
                assert!(
                    message.starts_with("invalid regex /(unclosed/"),
                    "{message}"
                );
                // The engine's own words: regex's "unclosed group", regex-lite's "open group
                // without closing ')'".
                assert!(
                    message.contains("unclosed group") || message.contains("without closing"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(!result.passed());
    }

    #[test]
    fn regex_entries_point_at_the_caller() {
        let mut result = Recorder::detached();
        let line = line!() + 1;
        result.regex().search("x", "x", "here");
        let location = last(&result).location.clone().unwrap();
        assert!(location.file.ends_with("text.rs"), "{location:?}");
        assert_eq!(location.line, line);
        let line = line!() + 1;
        result.regex().matches("(", "x", "bad here");
        assert_eq!(last(&result).location.clone().unwrap().line, line);
    }
}

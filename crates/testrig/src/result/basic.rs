//! The basic assertion families of the recorder: comparisons, closeness, booleans, explicit
//! failure, membership, slices, expected errors, logs and attachments.
//!
//! Each method builds an [`Entry`](testrig_model::Entry) holding the values it looked at (as
//! `Debug` text or JSON) and hands it to [`Recorder::record`], which emits it as an event to
//! the report builder. A failed assertion returns `false` and never panics, so a testcase goes
//! on and reports every problem it finds. Every public method is `#[track_caller]`: the entry's
//! location is the line of the testcase, not a line in this file.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::{self, Debug, Display};
use std::fs::{File, OpenOptions};
use std::hash::BuildHasher;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Component, Path, PathBuf};

use crate::regex_engine::Regex;
use serde::Serialize;
use testrig_model::{ComparisonOperator, EntryDetail, SliceMismatch};

use super::Recorder;

/// A collection that can say whether it holds a member, for [`Recorder::contain`].
///
/// Implemented for slices, arrays, `Vec`, `VecDeque`, `HashSet`, `BTreeSet` (items compared
/// with `==`), for the keys of `HashMap` and `BTreeMap`, and for `str`/`String` (substrings
/// and characters).
pub trait Container<M> {
    /// Whether `member` is in the collection.
    fn contains_member(&self, member: &M) -> bool;
}

impl<C: Container<M> + ?Sized, M> Container<M> for &C {
    fn contains_member(&self, member: &M) -> bool {
        (**self).contains_member(member)
    }
}

impl<T: PartialEq<M>, M> Container<M> for [T] {
    fn contains_member(&self, member: &M) -> bool {
        self.iter().any(|item| item == member)
    }
}

impl<T: PartialEq<M>, M, const N: usize> Container<M> for [T; N] {
    fn contains_member(&self, member: &M) -> bool {
        self.as_slice().contains_member(member)
    }
}

impl<T: PartialEq<M>, M> Container<M> for Vec<T> {
    fn contains_member(&self, member: &M) -> bool {
        self.as_slice().contains_member(member)
    }
}

impl<T: PartialEq<M>, M> Container<M> for VecDeque<T> {
    fn contains_member(&self, member: &M) -> bool {
        self.iter().any(|item| item == member)
    }
}

// Sets and maps are searched by `==` rather than by hash so that a `HashSet<String>` can be
// asked about a `&str`, the same as a `Vec<String>` can.
impl<T: PartialEq<M>, M, S: BuildHasher> Container<M> for HashSet<T, S> {
    fn contains_member(&self, member: &M) -> bool {
        self.iter().any(|item| item == member)
    }
}

impl<T: PartialEq<M>, M> Container<M> for BTreeSet<T> {
    fn contains_member(&self, member: &M) -> bool {
        self.iter().any(|item| item == member)
    }
}

impl<K: PartialEq<M>, V, M, S: BuildHasher> Container<M> for HashMap<K, V, S> {
    fn contains_member(&self, member: &M) -> bool {
        self.keys().any(|key| key == member)
    }
}

impl<K: PartialEq<M>, V, M> Container<M> for BTreeMap<K, V> {
    fn contains_member(&self, member: &M) -> bool {
        self.keys().any(|key| key == member)
    }
}

/// Text contains substrings and characters; one impl per member type because a blanket
/// `AsRef<str>` impl would collide with the `char` one.
macro_rules! text_containers {
    ($($text:ty),*) => {
        $(
            impl Container<&str> for $text {
                fn contains_member(&self, member: &&str) -> bool {
                    self.contains(*member)
                }
            }
            impl Container<String> for $text {
                fn contains_member(&self, member: &String) -> bool {
                    self.contains(member.as_str())
                }
            }
            impl Container<&String> for $text {
                fn contains_member(&self, member: &&String) -> bool {
                    self.contains(member.as_str())
                }
            }
            impl Container<char> for $text {
                fn contains_member(&self, member: &char) -> bool {
                    self.contains(*member)
                }
            }
        )*
    };
}

text_containers!(str, String);

/// What the error of [`Recorder::raises`] must look like: anything, a regex on its message,
/// or a predicate on its message.
///
/// A `&str` or `String` converts to a pattern, so `result.raises(op, "timed out", "…")` works.
pub struct ErrorExpectation {
    kind: ExpectationKind,
}

enum ExpectationKind {
    Any,
    Pattern(Result<Regex, String>),
    Predicate {
        description: String,
        check: Box<dyn Fn(&str) -> bool>,
    },
}

impl ErrorExpectation {
    /// Any error (or panic) will do.
    pub fn any() -> ErrorExpectation {
        ErrorExpectation {
            kind: ExpectationKind::Any,
        }
    }

    /// The error message must match `pattern` somewhere (anchor with `^…$` for the whole
    /// message). An invalid pattern makes the assertion fail and says why.
    pub fn pattern(pattern: &str) -> ErrorExpectation {
        let compiled = crate::regex_engine::compiled(pattern);
        ErrorExpectation {
            kind: ExpectationKind::Pattern(compiled),
        }
    }

    /// The error message must satisfy `check`; `description` is what the report shows.
    pub fn predicate(
        description: impl Into<String>,
        check: impl Fn(&str) -> bool + 'static,
    ) -> ErrorExpectation {
        ErrorExpectation {
            kind: ExpectationKind::Predicate {
                description: description.into(),
                check: Box::new(check),
            },
        }
    }

    fn description(&self) -> String {
        match &self.kind {
            ExpectationKind::Any => "any error".to_string(),
            ExpectationKind::Pattern(Ok(regex)) => {
                format!("an error matching /{}/", regex.as_str())
            }
            ExpectationKind::Pattern(Err(reason)) => reason.clone(),
            ExpectationKind::Predicate { description, .. } => description.clone(),
        }
    }

    fn accepts(&self, message: &str) -> bool {
        match &self.kind {
            ExpectationKind::Any => true,
            ExpectationKind::Pattern(Ok(regex)) => regex.is_match(message),
            ExpectationKind::Pattern(Err(_)) => false,
            ExpectationKind::Predicate { check, .. } => check(message),
        }
    }
}

impl Debug for ErrorExpectation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "ErrorExpectation({})", self.description())
    }
}

impl From<&str> for ErrorExpectation {
    fn from(pattern: &str) -> ErrorExpectation {
        ErrorExpectation::pattern(pattern)
    }
}

impl From<String> for ErrorExpectation {
    fn from(pattern: String) -> ErrorExpectation {
        ErrorExpectation::pattern(&pattern)
    }
}

/// Python's `math.isclose`: equal values (including equal infinities) are close, NaN is close
/// to nothing, otherwise the difference must be within either tolerance.
fn floats_close(actual: f64, expected: f64, rel_tol: f64, abs_tol: f64) -> bool {
    if actual == expected {
        return true;
    }
    if actual.is_infinite() || expected.is_infinite() {
        return false;
    }
    let difference = (actual - expected).abs();
    difference <= (rel_tol * expected).abs()
        || difference <= (rel_tol * actual).abs()
        || difference <= abs_tol
}

/// The text of a panic payload: panics carry a `&str` or a `String` unless raised with
/// `panic_any`.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Where an attachment went, as report text: relative to the runpath with `/` separators so
/// reports read the same on every platform, or the full path when it lies outside the runpath.
fn report_path(stored: &Path, runpath: &Path) -> String {
    match stored.strip_prefix(runpath) {
        Ok(relative) => relative
            .components()
            .filter(|component| !matches!(component, Component::CurDir))
            .map(|component| component.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => stored.display().to_string(),
    }
}

/// Claims a file name in `folder` that no other attachment uses (`log.txt`, `log-1.txt`, …);
/// `create_new` makes the claim atomic when several testcases attach at once.
fn create_unique_file(folder: &Path, file_name: &str) -> io::Result<(PathBuf, File)> {
    let (stem, extension) = match file_name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (stem, Some(extension)),
        _ => (file_name, None),
    };
    for attempt in 0u32.. {
        let candidate = match (attempt, extension) {
            (0, _) => file_name.to_string(),
            (_, Some(extension)) => format!("{stem}-{attempt}.{extension}"),
            (_, None) => format!("{stem}-{attempt}"),
        };
        let path = folder.join(candidate);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::other(format!("no free name for {file_name}")))
}

impl Recorder {
    /// Records a comparison entry; shared by the six comparison assertions.
    #[track_caller]
    fn compare<A: Debug, E: Debug>(
        &mut self,
        operator: ComparisonOperator,
        passed: bool,
        actual: &A,
        expected: &E,
        description: String,
    ) -> bool {
        self.record(Recorder::make_entry(
            description,
            Some(passed),
            EntryDetail::Comparison {
                operator,
                actual: format!("{actual:?}"),
                expected: format!("{expected:?}"),
            },
        ))
    }

    /// Passes when `actual == expected`.
    ///
    /// `result.equal(reply.status, 200, "status is OK")`
    #[track_caller]
    pub fn equal<A, E>(&mut self, actual: A, expected: E, description: impl Into<String>) -> bool
    where
        A: PartialEq<E> + Debug,
        E: Debug,
    {
        let passed = actual == expected;
        self.compare(
            ComparisonOperator::Equal,
            passed,
            &actual,
            &expected,
            description.into(),
        )
    }

    /// Passes when `actual != expected`.
    #[track_caller]
    pub fn not_equal<A, E>(
        &mut self,
        actual: A,
        expected: E,
        description: impl Into<String>,
    ) -> bool
    where
        A: PartialEq<E> + Debug,
        E: Debug,
    {
        let passed = actual != expected;
        self.compare(
            ComparisonOperator::NotEqual,
            passed,
            &actual,
            &expected,
            description.into(),
        )
    }

    /// Passes when `actual < expected`.
    #[track_caller]
    pub fn less<A, E>(&mut self, actual: A, expected: E, description: impl Into<String>) -> bool
    where
        A: PartialOrd<E> + Debug,
        E: Debug,
    {
        let passed = actual < expected;
        self.compare(
            ComparisonOperator::Less,
            passed,
            &actual,
            &expected,
            description.into(),
        )
    }

    /// Passes when `actual <= expected`.
    #[track_caller]
    pub fn less_equal<A, E>(
        &mut self,
        actual: A,
        expected: E,
        description: impl Into<String>,
    ) -> bool
    where
        A: PartialOrd<E> + Debug,
        E: Debug,
    {
        let passed = actual <= expected;
        self.compare(
            ComparisonOperator::LessEqual,
            passed,
            &actual,
            &expected,
            description.into(),
        )
    }

    /// Passes when `actual > expected`.
    #[track_caller]
    pub fn greater<A, E>(&mut self, actual: A, expected: E, description: impl Into<String>) -> bool
    where
        A: PartialOrd<E> + Debug,
        E: Debug,
    {
        let passed = actual > expected;
        self.compare(
            ComparisonOperator::Greater,
            passed,
            &actual,
            &expected,
            description.into(),
        )
    }

    /// Passes when `actual >= expected`.
    #[track_caller]
    pub fn greater_equal<A, E>(
        &mut self,
        actual: A,
        expected: E,
        description: impl Into<String>,
    ) -> bool
    where
        A: PartialOrd<E> + Debug,
        E: Debug,
    {
        let passed = actual >= expected;
        self.compare(
            ComparisonOperator::GreaterEqual,
            passed,
            &actual,
            &expected,
            description.into(),
        )
    }

    /// Passes when the floats are close, with Python `math.isclose` semantics:
    /// `|a - b| <= max(rel_tol * max(|a|, |b|), abs_tol)`. Negative tolerances fail the
    /// assertion.
    ///
    /// `result.is_close(ratio, 0.5, 1e-9, 0.0, "half of the requests succeed")`
    #[track_caller]
    pub fn is_close(
        &mut self,
        actual: f64,
        expected: f64,
        rel_tol: f64,
        abs_tol: f64,
        description: impl Into<String>,
    ) -> bool {
        // Comparisons with NaN are false, so NaN tolerances are rejected too.
        let valid_tolerances = rel_tol >= 0.0 && abs_tol >= 0.0;
        if !valid_tolerances {
            return self.record(Recorder::make_entry(
                description,
                Some(false),
                EntryDetail::Fail {
                    message: format!(
                        "is_close tolerances must be non-negative: rel_tol {rel_tol}, abs_tol {abs_tol}"
                    ),
                },
            ));
        }
        let passed = floats_close(actual, expected, rel_tol, abs_tol);
        self.record(Recorder::make_entry(
            description,
            Some(passed),
            EntryDetail::IsClose {
                actual,
                expected,
                rel_tol,
                abs_tol,
            },
        ))
    }

    /// Passes when `value` is true.
    #[track_caller]
    pub fn is_true(&mut self, value: bool, description: impl Into<String>) -> bool {
        self.record(Recorder::make_entry(
            description,
            Some(value),
            EntryDetail::Boolean {
                expected: true,
                actual: value,
            },
        ))
    }

    /// Passes when `value` is false.
    #[track_caller]
    pub fn is_false(&mut self, value: bool, description: impl Into<String>) -> bool {
        self.record(Recorder::make_entry(
            description,
            Some(!value),
            EntryDetail::Boolean {
                expected: false,
                actual: value,
            },
        ))
    }

    /// Records a failure explicitly; always returns `false`.
    ///
    /// `result.fail("the server never answered")`
    #[track_caller]
    pub fn fail(&mut self, description: impl Into<String>) -> bool {
        let description = description.into();
        self.record(Recorder::make_entry(
            description.clone(),
            Some(false),
            EntryDetail::Fail {
                message: description,
            },
        ))
    }

    /// Passes when `container` holds `member` (an item of a collection, a key of a map, a
    /// substring or character of a string).
    ///
    /// `result.contain("alice", &users, "alice is registered")`
    #[track_caller]
    pub fn contain<M, C>(
        &mut self,
        member: M,
        container: &C,
        description: impl Into<String>,
    ) -> bool
    where
        M: Debug,
        C: Container<M> + Debug + ?Sized,
    {
        let passed = container.contains_member(&member);
        self.record_contain(member, container, false, passed, description.into())
    }

    /// Passes when `container` does not hold `member`.
    #[track_caller]
    pub fn not_contain<M, C>(
        &mut self,
        member: M,
        container: &C,
        description: impl Into<String>,
    ) -> bool
    where
        M: Debug,
        C: Container<M> + Debug + ?Sized,
    {
        let passed = !container.contains_member(&member);
        self.record_contain(member, container, true, passed, description.into())
    }

    #[track_caller]
    fn record_contain<M: Debug, C: Debug + ?Sized>(
        &mut self,
        member: M,
        container: &C,
        negated: bool,
        passed: bool,
        description: String,
    ) -> bool {
        self.record(Recorder::make_entry(
            description,
            Some(passed),
            EntryDetail::Contain {
                member: format!("{member:?}"),
                container: format!("{container:?}"),
                negated,
            },
        ))
    }

    /// Passes when both slices have the same length and equal items; the entry lists every
    /// index that differs, including the indices only one of them has.
    ///
    /// `result.equal_slices(&received, &[1, 2, 3], "frames arrive in order")`
    #[track_caller]
    pub fn equal_slices<A, E>(
        &mut self,
        actual: &[A],
        expected: &[E],
        description: impl Into<String>,
    ) -> bool
    where
        A: PartialEq<E> + Debug,
        E: Debug,
    {
        let mismatches: Vec<SliceMismatch> = (0..actual.len().max(expected.len()))
            .filter_map(|index| {
                let actual_item = actual.get(index);
                let expected_item = expected.get(index);
                let same = matches!((actual_item, expected_item), (Some(a), Some(e)) if a == e);
                (!same).then(|| SliceMismatch {
                    index,
                    actual: actual_item.map(|item| format!("{item:?}")),
                    expected: expected_item.map(|item| format!("{item:?}")),
                })
            })
            .collect();
        self.record(Recorder::make_entry(
            description,
            Some(mismatches.is_empty()),
            EntryDetail::EqualSlices {
                actual: format!("{actual:?}"),
                expected: format!("{expected:?}"),
                mismatches,
            },
        ))
    }

    /// Runs `operation` and passes when it fails as expected: it returns `Err` whose message
    /// satisfies `expectation`, or it panics with such a message. Returning `Ok` fails.
    ///
    /// The panic is caught, so the testcase goes on; the panic hook still prints it.
    ///
    /// `result.raises(|| client.call("slow"), "timed out", "slow calls time out")`
    #[track_caller]
    pub fn raises<T, E: Display>(
        &mut self,
        operation: impl FnOnce() -> Result<T, E>,
        expectation: impl Into<ErrorExpectation>,
        description: impl Into<String>,
    ) -> bool {
        let expectation = expectation.into();
        // The closure may leave captured state half-updated when it panics; the recorder only
        // reads the panic message, so observing that state afterwards is the user's choice.
        let outcome = catch_unwind(AssertUnwindSafe(operation));
        let (error_text, message) = match outcome {
            Ok(Ok(_)) => (None, None),
            Ok(Err(error)) => {
                let message = error.to_string();
                (Some(message.clone()), Some(message))
            }
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                (Some(format!("panic: {message}")), Some(message))
            }
        };
        let passed = message
            .as_deref()
            .is_some_and(|message| expectation.accepts(message));
        self.record(Recorder::make_entry(
            description,
            Some(passed),
            EntryDetail::Raises {
                expected: expectation.description(),
                error: error_text,
            },
        ))
    }

    /// Records a message (display only).
    ///
    /// `result.log("server started, sending requests")`
    #[track_caller]
    pub fn log(&mut self, message: impl Into<String>) {
        self.record(Recorder::make_entry(
            "",
            None,
            EntryDetail::Log {
                message: message.into(),
                value: None,
            },
        ));
    }

    /// Records a value as JSON under a description (display only). Returns `false`, with a
    /// failed entry, when the value cannot be serialized.
    ///
    /// `result.log_value("config sent", &config)`
    #[track_caller]
    pub fn log_value<V: Serialize + ?Sized>(
        &mut self,
        description: impl Into<String>,
        value: &V,
    ) -> bool {
        match serde_json::to_value(value) {
            Ok(value) => {
                let message =
                    serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string());
                self.record(Recorder::make_entry(
                    description,
                    None,
                    EntryDetail::Log {
                        message,
                        value: Some(value),
                    },
                ))
            }
            Err(error) => self.record(Recorder::make_entry(
                description,
                Some(false),
                EntryDetail::Fail {
                    message: format!("cannot log the value: {error}"),
                },
            )),
        }
    }

    /// Copies the file at `path` into this testcase's attachments folder (renaming it if the
    /// name is taken) and records where it went, relative to the runpath. A missing or
    /// unreadable file records a failed entry saying so and returns `false`.
    ///
    /// `result.attach(server_log_path, "server log")`
    #[track_caller]
    pub fn attach(&mut self, path: impl AsRef<Path>, description: impl Into<String>) -> bool {
        let source = path.as_ref();
        match self.copy_attachment(source) {
            Ok((stored, size)) => {
                let detail = EntryDetail::Attachment {
                    source: source.display().to_string(),
                    path: report_path(&stored, self.runpath()),
                    size,
                };
                self.record(Recorder::make_entry(description, None, detail))
            }
            Err(message) => self.record(Recorder::make_entry(
                description,
                Some(false),
                EntryDetail::Fail { message },
            )),
        }
    }

    /// Copies `source` into the attachments folder; the error is the message for the report.
    fn copy_attachment(&self, source: &Path) -> Result<(PathBuf, u64), String> {
        let shown = source.display();
        let metadata = std::fs::metadata(source).map_err(|error| {
            // A relative path is resolved against the working folder, which is rarely where
            // the user thinks it is during a test run; say which folder that was.
            let base = match std::env::current_dir() {
                Ok(folder) if source.is_relative() => {
                    format!(" (relative to {})", folder.display())
                }
                _ => String::new(),
            };
            match error.kind() {
                io::ErrorKind::NotFound => format!("cannot attach {shown}{base}: no such file"),
                _ => format!("cannot attach {shown}{base}: {error}"),
            }
        })?;
        if metadata.is_dir() {
            return Err(format!(
                "cannot attach {shown}: it is a directory, not a file"
            ));
        }
        let file_name = source
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment".to_string());
        let folder = self.attachments_dir();
        std::fs::create_dir_all(folder).map_err(|error| {
            format!(
                "cannot attach {shown}: cannot create the attachments folder {}: {error}",
                folder.display()
            )
        })?;
        let mut reader =
            File::open(source).map_err(|error| format!("cannot attach {shown}: {error}"))?;
        let (stored, mut writer) = create_unique_file(folder, &file_name).map_err(|error| {
            format!(
                "cannot attach {shown}: cannot create a file in {}: {error}",
                folder.display()
            )
        })?;
        let size = io::copy(&mut reader, &mut writer).map_err(|error| {
            format!(
                "cannot attach {shown}: copying to {} failed: {error}",
                stored.display()
            )
        })?;
        Ok((stored, size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testrig_model::Entry;

    fn last(recorder: &Recorder) -> &Entry {
        recorder.entries().last().expect("an entry was recorded")
    }

    fn comparison(entry: &Entry) -> (ComparisonOperator, &str, &str) {
        match &entry.detail {
            EntryDetail::Comparison {
                operator,
                actual,
                expected,
            } => (*operator, actual, expected),
            other => panic!("not a comparison: {other:?}"),
        }
    }

    #[test]
    fn equal_records_both_values_and_does_not_panic_on_failure() {
        let mut result = Recorder::detached();
        assert!(result.equal(1 + 1, 2, "sum"));
        assert_eq!(last(&result).passed, Some(true));
        assert!(!result.equal(41, 42, "answer"));
        let entry = last(&result);
        assert_eq!(entry.description, "answer");
        assert_eq!(entry.passed, Some(false));
        assert_eq!(comparison(entry), (ComparisonOperator::Equal, "41", "42"));
        assert!(!result.passed());
        assert_eq!(result.entries().len(), 2);
    }

    #[test]
    fn equal_compares_different_types() {
        let mut result = Recorder::detached();
        assert!(result.equal(String::from("hi"), "hi", "string vs str"));
        assert!(result.equal(vec![b'h', b'i'], b"hi", "bytes"));
        assert_eq!(
            comparison(last(&result)),
            (ComparisonOperator::Equal, "[104, 105]", "[104, 105]")
        );
        assert!(!result.equal(String::from("a"), "b", "differs"));
        assert_eq!(comparison(last(&result)).1, "\"a\"");
    }

    #[test]
    fn entries_point_at_the_caller() {
        let mut result = Recorder::detached();
        let line = line!() + 1;
        result.equal(1, 2, "here");
        let location = last(&result).location.clone().unwrap();
        assert!(location.file.ends_with("basic.rs"), "{location:?}");
        assert_eq!(location.line, line);
        let line = line!() + 1;
        result.raises(|| Err::<(), _>("x"), ErrorExpectation::any(), "raise");
        assert_eq!(last(&result).location.clone().unwrap().line, line);
    }

    #[test]
    fn ordering_comparisons() {
        let mut result = Recorder::detached();
        let cases: [(bool, ComparisonOperator); 12] = [
            (result.not_equal(1, 2, ""), ComparisonOperator::NotEqual),
            (!result.not_equal(2, 2, ""), ComparisonOperator::NotEqual),
            (result.less(1, 2, ""), ComparisonOperator::Less),
            (!result.less(2, 2, ""), ComparisonOperator::Less),
            (result.less_equal(2, 2, ""), ComparisonOperator::LessEqual),
            (!result.less_equal(3, 2, ""), ComparisonOperator::LessEqual),
            (result.greater(3.5, 2.0, ""), ComparisonOperator::Greater),
            (!result.greater(2.0, 2.0, ""), ComparisonOperator::Greater),
            (
                result.greater_equal("b", "a", ""),
                ComparisonOperator::GreaterEqual,
            ),
            (
                !result.greater_equal("a", "b", ""),
                ComparisonOperator::GreaterEqual,
            ),
            (result.less(&1u8, &2u8, ""), ComparisonOperator::Less),
            (
                !result.greater(f64::NAN, 0.0, ""),
                ComparisonOperator::Greater,
            ),
        ];
        for (index, (expectation_held, operator)) in cases.iter().enumerate() {
            assert!(expectation_held, "case {index}");
            assert_eq!(comparison(&result.entries()[index]).0, *operator);
            assert_eq!(result.entries()[index].passed, Some(index % 2 == 0));
        }
        assert_eq!(
            comparison(&result.entries()[3]),
            (ComparisonOperator::Less, "2", "2")
        );
    }

    #[test]
    fn is_close_follows_python_isclose() {
        let mut result = Recorder::detached();
        assert!(result.is_close(1.0, 1.0 + 1e-10, 1e-9, 0.0, "relative"));
        assert!(!result.is_close(1.0, 1.1, 1e-9, 0.0, "too far"));
        match &last(&result).detail {
            EntryDetail::IsClose {
                actual,
                expected,
                rel_tol,
                abs_tol,
            } => assert_eq!(
                (*actual, *expected, *rel_tol, *abs_tol),
                (1.0, 1.1, 1e-9, 0.0)
            ),
            other => panic!("{other:?}"),
        }
        assert!(result.is_close(0.0, 1e-12, 1e-9, 1e-10, "absolute near zero"));
        assert!(!result.is_close(0.0, 1e-12, 1e-9, 0.0, "zero has no relative room"));
        assert!(result.is_close(f64::INFINITY, f64::INFINITY, 0.0, 0.0, "same infinity"));
        assert!(!result.is_close(f64::INFINITY, 1e308, 1.0, 1.0, "infinity vs finite"));
        assert!(!result.is_close(f64::NAN, f64::NAN, 1.0, 1.0, "nan"));
        assert!(result.is_close(100.0, 95.0, 0.05, 0.0, "5% of the larger one"));
        assert!(!result.is_close(1.0, 1.0, -1.0, 0.0, "negative tolerance"));
        match &last(&result).detail {
            EntryDetail::Fail { message } => assert!(message.contains("non-negative"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn booleans_and_fail() {
        let mut result = Recorder::detached();
        assert!(result.is_true(true, "t"));
        assert!(!result.is_true(false, "t"));
        assert_eq!(
            last(&result).detail,
            EntryDetail::Boolean {
                expected: true,
                actual: false
            }
        );
        assert!(result.is_false(false, "f"));
        assert!(!result.is_false(true, "f"));
        assert_eq!(last(&result).passed, Some(false));
        assert!(!result.fail("gave up"));
        let entry = last(&result);
        assert_eq!(entry.description, "gave up");
        assert_eq!(
            entry.detail,
            EntryDetail::Fail {
                message: "gave up".into()
            }
        );
    }

    #[test]
    fn contain_works_on_collections_maps_and_text() {
        let mut result = Recorder::detached();
        assert!(result.contain(2, &vec![1, 2, 3], "vec"));
        assert!(!result.contain(5, &[1, 2, 3], "array"));
        assert_eq!(
            last(&result).detail,
            EntryDetail::Contain {
                member: "5".into(),
                container: "[1, 2, 3]".into(),
                negated: false
            }
        );
        let slice: &[i32] = &[4, 5];
        assert!(result.contain(5, slice, "slice"));
        let names: HashSet<String> = ["alice".to_string()].into();
        assert!(result.contain("alice", &names, "set of strings vs str"));
        assert!(!result.contain("bob", &names, "absent from set"));
        let ordered: BTreeSet<u8> = [1, 2].into();
        assert!(result.contain(1u8, &ordered, "btree set"));
        let ages: BTreeMap<&str, u8> = [("alice", 30)].into();
        assert!(result.contain("alice", &ages, "map key"));
        assert!(result.contain("ell", "hello", "substring"));
        assert!(result.contain('h', &String::from("hello"), "char in String"));
        assert!(!result.contain("xyz", "hello", "missing substring"));
        assert_eq!(last(&result).passed, Some(false));
        assert!(result.not_contain("xyz", "hello", "absent substring"));
        assert!(!result.not_contain(3, &VecDeque::from([3]), "present"));
        assert_eq!(
            last(&result).detail,
            EntryDetail::Contain {
                member: "3".into(),
                container: "[3]".into(),
                negated: true
            }
        );
    }

    #[test]
    fn equal_slices_lists_each_mismatching_index() {
        let mut result = Recorder::detached();
        assert!(result.equal_slices(&[1, 2, 3], &[1, 2, 3], "same"));
        match &last(&result).detail {
            EntryDetail::EqualSlices { mismatches, .. } => assert!(mismatches.is_empty()),
            other => panic!("{other:?}"),
        }
        assert!(!result.equal_slices(&[1, 9, 3, 4], &[1, 2, 3], "differs"));
        match &last(&result).detail {
            EntryDetail::EqualSlices {
                actual,
                expected,
                mismatches,
            } => {
                assert_eq!(actual, "[1, 9, 3, 4]");
                assert_eq!(expected, "[1, 2, 3]");
                assert_eq!(
                    mismatches,
                    &vec![
                        SliceMismatch {
                            index: 1,
                            actual: Some("9".into()),
                            expected: Some("2".into())
                        },
                        SliceMismatch {
                            index: 3,
                            actual: Some("4".into()),
                            expected: None
                        },
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        let words = vec!["a".to_string()];
        assert!(!result.equal_slices(&words, &["a", "b"], "shorter actual"));
        match &last(&result).detail {
            EntryDetail::EqualSlices { mismatches, .. } => {
                assert_eq!(mismatches.len(), 1);
                assert_eq!(mismatches[0].actual, None);
                assert_eq!(mismatches[0].expected.as_deref(), Some("\"b\""));
            }
            other => panic!("{other:?}"),
        }
    }

    fn raises_detail(entry: &Entry) -> (&str, Option<&str>) {
        match &entry.detail {
            EntryDetail::Raises { expected, error } => (expected, error.as_deref()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn raises_matches_errors_by_pattern() {
        let mut result = Recorder::detached();
        assert!(result.raises(
            || Err::<(), _>("request timed out after 5s"),
            "timed out",
            "p"
        ));
        assert_eq!(
            raises_detail(last(&result)),
            (
                "an error matching /timed out/",
                Some("request timed out after 5s")
            )
        );
        assert!(!result.raises(|| Err::<(), _>("connection refused"), "timed out", "p"));
        assert_eq!(last(&result).passed, Some(false));
        assert_eq!(raises_detail(last(&result)).1, Some("connection refused"));
        assert!(!result.raises(|| Ok::<_, String>(1), ErrorExpectation::any(), "no error"));
        assert_eq!(raises_detail(last(&result)), ("any error", None));
    }

    #[test]
    fn raises_with_predicates_and_bad_patterns() {
        let mut result = Recorder::detached();
        let digit =
            || ErrorExpectation::predicate("mentions a digit", |message| message.contains("digit"));
        assert!(result.raises(|| "x".parse::<i32>(), digit(), "parse"));
        assert_eq!(
            raises_detail(last(&result)),
            ("mentions a digit", Some("invalid digit found in string"))
        );
        assert!(!result.raises(|| Err::<(), _>("empty string"), digit(), "other error"));
        assert_eq!(last(&result).passed, Some(false));
        assert!(!result.raises(|| Err::<(), _>("("), "(", "bad pattern"));
        assert!(
            raises_detail(last(&result))
                .0
                .starts_with("invalid regex /(/")
        );
    }

    #[test]
    fn raises_counts_panics() {
        let mut result = Recorder::detached();
        assert!(result.raises(
            || -> Result<(), String> { panic!("index {} out of range", 7) },
            "out of range",
            "formatted panic"
        ));
        assert_eq!(
            raises_detail(last(&result)).1,
            Some("panic: index 7 out of range")
        );
        assert!(!result.raises(
            || -> Result<(), String> { panic!("boom") },
            "^out of range$",
            "other panic"
        ));
        assert!(result.raises(
            || -> Result<(), String> { std::panic::panic_any(5) },
            ErrorExpectation::any(),
            "odd payload"
        ));
        assert_eq!(
            raises_detail(last(&result)).1,
            Some("panic: panic with a non-string payload")
        );
    }

    #[test]
    fn logs_record_messages_and_values() {
        let mut result = Recorder::detached();
        result.log("hello");
        let entry = last(&result);
        assert_eq!(entry.passed, None);
        assert_eq!(
            entry.detail,
            EntryDetail::Log {
                message: "hello".into(),
                value: None
            }
        );
        assert!(result.log_value("config", &BTreeMap::from([("port", 80)])));
        match &last(&result).detail {
            EntryDetail::Log { message, value } => {
                assert_eq!(value, &Some(serde_json::json!({"port": 80})));
                assert!(message.contains("\"port\": 80"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!result.log_value("bad", &BTreeMap::from([(vec![1], 1)])));
        assert_eq!(last(&result).passed, Some(false));
        assert!(!result.passed());
    }

    fn scratch_folder(name: &str) -> PathBuf {
        let folder =
            std::env::temp_dir().join(format!("testrig-basic-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        folder
    }

    #[test]
    fn attach_copies_files_without_clobbering() {
        let runpath = scratch_folder("attach");
        let source = runpath.join("server.log");
        std::fs::write(&source, "started\n").unwrap();
        let mut result = Recorder::new(
            "t",
            None,
            &runpath,
            runpath.join("case").join("attachments"),
        );
        assert!(result.attach(&source, "log"));
        assert!(result.attach(&source, "log again"));
        let paths: Vec<(String, u64)> = result
            .entries()
            .iter()
            .map(|entry| match &entry.detail {
                EntryDetail::Attachment {
                    path,
                    size,
                    source: from,
                } => {
                    assert_eq!(from, &source.display().to_string());
                    (path.clone(), *size)
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            paths,
            vec![
                ("case/attachments/server.log".to_string(), 8),
                ("case/attachments/server-1.log".to_string(), 8),
            ]
        );
        let copied =
            std::fs::read_to_string(runpath.join("case/attachments/server-1.log")).unwrap();
        assert_eq!(copied, "started\n");
        assert_eq!(result.entries()[0].passed, None);
        assert!(result.passed());
        let elsewhere = runpath.join("elsewhere");
        let mut outside = Recorder::new("t", None, runpath.join("run"), &elsewhere);
        assert!(outside.attach(&source, "outside the runpath"));
        match &last(&outside).detail {
            EntryDetail::Attachment { path, .. } => {
                assert_eq!(path, &elsewhere.join("server.log").display().to_string())
            }
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&runpath);
    }

    #[test]
    fn attaching_a_missing_file_fails_with_a_message() {
        let runpath = scratch_folder("missing");
        let mut result = Recorder::new("t", None, &runpath, runpath.join("attachments"));
        let missing = runpath.join("nope.txt");
        assert!(!result.attach(&missing, "gone"));
        let entry = last(&result);
        assert_eq!(entry.passed, Some(false));
        match &entry.detail {
            EntryDetail::Fail { message } => {
                assert!(message.contains("nope.txt"), "{message}");
                assert!(message.contains("no such file"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!result.attach(&runpath, "a folder"));
        assert_eq!(last(&result).passed, Some(false));
        assert!(!result.attach("no/such/relative.txt", "relative"));
        match &last(&result).detail {
            EntryDetail::Fail { message } => {
                assert!(message.contains("(relative to /"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&runpath);
    }

    #[test]
    fn unique_names_keep_extensionless_and_dotfiles_readable() {
        let folder = scratch_folder("names");
        let first = create_unique_file(&folder, ".env").unwrap().0;
        let second = create_unique_file(&folder, ".env").unwrap().0;
        let third = create_unique_file(&folder, "README").unwrap().0;
        let fourth = create_unique_file(&folder, "README").unwrap().0;
        let names: Vec<String> = [first, second, third, fourth]
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [".env", ".env-1", "README", "README-1"]);
        let _ = std::fs::remove_dir_all(&folder);
    }
}

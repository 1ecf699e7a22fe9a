//! Entries: what the result recorder writes into a testcase — assertions with the values they
//! compared, logs, attachments, groups.
//!
//! Values are stored as text (their `Debug` rendering) or as JSON, never as live objects, so a
//! report reader sees *why* an assertion failed without re-running anything.

use serde::{Deserialize, Serialize};

use crate::SourceLocation;

/// One recorded entry: the common envelope plus the family-specific detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Entry {
    /// What the user said the entry checks or shows.
    #[serde(default)]
    pub description: String,
    /// `Some(pass)` for assertions; `None` for display-only entries (logs, tables, attachments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    /// Where in the testcase it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
    /// Seconds since the Unix epoch when it was recorded.
    #[serde(default)]
    pub timestamp: f64,
    /// The family-specific part, tagged by `type`.
    #[serde(flatten)]
    pub detail: EntryDetail,
}

impl Entry {
    /// An entry; `passed` is `None` for display-only entries.
    pub fn new(
        description: impl Into<String>,
        passed: Option<bool>,
        location: Option<SourceLocation>,
        timestamp: f64,
        detail: EntryDetail,
    ) -> Entry {
        Entry {
            description: description.into(),
            passed,
            location,
            timestamp,
            detail,
        }
    }

    /// True for assertions that failed.
    pub fn is_failed_assertion(&self) -> bool {
        self.passed == Some(false)
    }
}

/// Which comparison a [`EntryDetail::Comparison`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ComparisonOperator {
    /// `==`
    Equal,
    /// `!=`
    NotEqual,
    /// `<`
    Less,
    /// `<=`
    LessEqual,
    /// `>`
    Greater,
    /// `>=`
    GreaterEqual,
}

impl ComparisonOperator {
    /// The operator's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            ComparisonOperator::Equal => "==",
            ComparisonOperator::NotEqual => "!=",
            ComparisonOperator::Less => "<",
            ComparisonOperator::LessEqual => "<=",
            ComparisonOperator::Greater => ">",
            ComparisonOperator::GreaterEqual => ">=",
        }
    }
}

/// Which regex operation a [`EntryDetail::Regex`] performed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RegexOperation {
    /// The pattern must match at the start of the text.
    Match,
    /// The pattern must match somewhere.
    Search,
    /// Every match is listed; passes when a condition on the matches holds.
    Findall,
    /// The pattern must not match anywhere.
    NotMatch,
    /// Each line of the text is tested; passes when some line matches.
    MatchLines,
}

/// A span of text a regex matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegexSpan {
    /// Byte offset of the start in the text.
    pub start: usize,
    /// Byte offset of the end.
    pub end: usize,
    /// The matched text.
    pub text: String,
}

/// One index where two slices differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceMismatch {
    /// The index.
    pub index: usize,
    /// The actual element, or `None` when the actual slice is shorter.
    pub actual: Option<String>,
    /// The expected element, or `None` when the expected slice is shorter.
    pub expected: Option<String>,
}

/// One cell of a table comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCell {
    /// The actual value, or `None` when the row or column is missing.
    pub actual: Option<String>,
    /// The expected value (or a description of the comparator).
    pub expected: Option<String>,
    /// Whether this cell matched.
    pub passed: bool,
}

/// One row of a column-contain check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnContainRow {
    /// Row index in the table.
    pub index: usize,
    /// The cell's value.
    pub value: String,
    /// Whether the value is one of the allowed ones.
    pub passed: bool,
}

/// One compared key of a dict match, in depth-first order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DictComparisonRow {
    /// Path of the key from the root (`a.b[2].c`).
    pub key: String,
    /// Nesting depth, for indentation.
    pub depth: u32,
    /// Whether the values matched; `None` for keys that were ignored (excluded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    /// The actual value as JSON text, `None` when the key is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// The expected value as JSON text (or a comparator description), `None` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

/// The family-specific part of an [`Entry`], tagged by `type` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum EntryDetail {
    /// equal, not_equal, less, less_equal, greater, greater_equal.
    Comparison {
        /// The comparison made.
        operator: ComparisonOperator,
        /// `Debug` of the actual value.
        actual: String,
        /// `Debug` of the expected value.
        expected: String,
    },
    /// is_close with relative and absolute tolerance.
    IsClose {
        /// The actual value. NaN and infinities, which JSON has no numbers for, are written
        /// as the strings `"NaN"`, `"Infinity"` and `"-Infinity"` (what JavaScript's
        /// `Number()` reads back).
        #[serde(with = "any_float")]
        actual: f64,
        /// The expected value (non-finite values as for `actual`).
        #[serde(with = "any_float")]
        expected: f64,
        /// Relative tolerance.
        #[serde(with = "any_float")]
        rel_tol: f64,
        /// Absolute tolerance.
        #[serde(with = "any_float")]
        abs_tol: f64,
    },
    /// is_true / is_false.
    Boolean {
        /// The value the assertion wanted.
        expected: bool,
        /// The value it got.
        actual: bool,
    },
    /// An explicit failure.
    Fail {
        /// Why.
        message: String,
    },
    /// contain / not_contain.
    Contain {
        /// `Debug` of the member looked for.
        member: String,
        /// `Debug` of the container.
        container: String,
        /// True for not_contain.
        negated: bool,
    },
    /// equal_slices, with the indices that differ.
    EqualSlices {
        /// `Debug` of the actual slice.
        actual: String,
        /// `Debug` of the expected slice.
        expected: String,
        /// Every index where they differ.
        mismatches: Vec<SliceMismatch>,
    },
    /// raises: a closure that must fail with a matching error.
    Raises {
        /// What the error had to satisfy (a pattern or a predicate's description).
        expected: String,
        /// The error the closure returned or panicked with; `None` if it succeeded.
        error: Option<String>,
    },
    /// String equality, with a unified diff when they differ.
    TextDiff {
        /// The actual text.
        actual: String,
        /// The expected text.
        expected: String,
        /// A unified diff (expected → actual); empty when equal.
        diff: String,
    },
    /// The regex family.
    Regex {
        /// Which operation.
        operation: RegexOperation,
        /// The pattern.
        pattern: String,
        /// The text searched.
        text: String,
        /// What matched (for match_lines: the matching lines).
        matches: Vec<RegexSpan>,
        /// The condition on the matches when it is not implied by the operation
        /// (findall: "exactly 3 matches").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        condition: Option<String>,
    },
    /// table match, cell by cell.
    TableMatch {
        /// Column names compared.
        columns: Vec<String>,
        /// One row of cells per row index (the longer of the two tables).
        rows: Vec<Vec<TableCell>>,
        /// Problems not tied to a cell (missing columns, differing row counts).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        notes: Vec<String>,
    },
    /// column_contain: each cell of a column must be one of the allowed values.
    ColumnContain {
        /// The column checked.
        column: String,
        /// The allowed values.
        values: Vec<String>,
        /// One row per cell checked.
        rows: Vec<ColumnContainRow>,
    },
    /// table log: display only.
    TableLog {
        /// Column names.
        columns: Vec<String>,
        /// Rows of rendered cells.
        rows: Vec<Vec<String>>,
    },
    /// dict match, key by key.
    DictMatch {
        /// Each compared key, depth first.
        comparison: Vec<DictComparisonRow>,
    },
    /// dict check: keys present and absent.
    DictCheck {
        /// Keys that must be present.
        has_keys: Vec<String>,
        /// Keys that must be absent.
        absent_keys: Vec<String>,
        /// Required keys that were missing.
        missing: Vec<String>,
        /// Forbidden keys that were present.
        unexpected: Vec<String>,
    },
    /// A message or a value.
    Log {
        /// The message, or the value rendered for display.
        message: String,
        /// The value as JSON, when a value was logged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<serde_json::Value>,
    },
    /// A file copied into the runpath.
    Attachment {
        /// Where the file came from.
        source: String,
        /// Where it is now, relative to the run's runpath.
        path: String,
        /// Size in bytes.
        size: u64,
    },
    /// Entries grouped under a heading; passes when all of them pass.
    Group {
        /// The grouped entries.
        entries: Vec<Entry>,
    },
}

impl EntryDetail {
    /// The `type` tag of this detail, as it appears in JSON.
    pub fn type_name(&self) -> &'static str {
        match self {
            EntryDetail::Comparison { .. } => "Comparison",
            EntryDetail::IsClose { .. } => "IsClose",
            EntryDetail::Boolean { .. } => "Boolean",
            EntryDetail::Fail { .. } => "Fail",
            EntryDetail::Contain { .. } => "Contain",
            EntryDetail::EqualSlices { .. } => "EqualSlices",
            EntryDetail::Raises { .. } => "Raises",
            EntryDetail::TextDiff { .. } => "TextDiff",
            EntryDetail::Regex { .. } => "Regex",
            EntryDetail::TableMatch { .. } => "TableMatch",
            EntryDetail::ColumnContain { .. } => "ColumnContain",
            EntryDetail::TableLog { .. } => "TableLog",
            EntryDetail::DictMatch { .. } => "DictMatch",
            EntryDetail::DictCheck { .. } => "DictCheck",
            EntryDetail::Log { .. } => "Log",
            EntryDetail::Attachment { .. } => "Attachment",
            EntryDetail::Group { .. } => "Group",
        }
    }
}

/// An `f64` that may be NaN or infinite: finite values as JSON numbers, the others by name.
/// serde_json writes a non-finite float as `null`, which no `f64` reads back, so an entry
/// holding one was lost wherever it crossed JSON (from a worker process to the plan) and
/// showed as `null` in reports. Reading takes a number, a name or `null` (NaN: what reports
/// written before held).
mod any_float {
    use serde::{Deserializer, Serializer, de};

    pub(crate) fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_finite() {
            serializer.serialize_f64(*value)
        } else if value.is_nan() {
            serializer.serialize_str("NaN")
        } else if *value > 0.0 {
            serializer.serialize_str("Infinity")
        } else {
            serializer.serialize_str("-Infinity")
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        deserializer.deserialize_any(AnyFloat)
    }

    struct AnyFloat;

    impl de::Visitor<'_> for AnyFloat {
        type Value = f64;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
            Ok(value)
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
            Ok(value as f64)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
            Ok(value as f64)
        }

        fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
            Ok(f64::NAN)
        }

        fn visit_none<E: de::Error>(self) -> Result<f64, E> {
            Ok(f64::NAN)
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<f64, E> {
            match value {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                _ => Err(E::invalid_value(de::Unexpected::Str(value), &self)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_close_keeps_nan_and_infinities_through_json() {
        let detail = |actual: f64, expected: f64| EntryDetail::IsClose {
            actual,
            expected,
            rel_tol: 1e-9,
            abs_tol: 0.0,
        };
        for (actual, expected, text) in [
            (f64::NAN, 1.0, r#""actual":"NaN","expected":1.0"#),
            (
                f64::INFINITY,
                f64::NEG_INFINITY,
                r#""actual":"Infinity","expected":"-Infinity""#,
            ),
            (0.5, 2.0, r#""actual":0.5,"expected":2.0"#),
        ] {
            let json = serde_json::to_string(&detail(actual, expected)).unwrap();
            assert!(json.contains(text), "{json}");
            let Ok(EntryDetail::IsClose {
                actual: a,
                expected: e,
                ..
            }) = serde_json::from_str::<EntryDetail>(&json)
            else {
                panic!("{json} does not read back");
            };
            assert_eq!(
                (a.to_bits(), e.to_bits()),
                (actual.to_bits(), expected.to_bits())
            );
        }
        // Reports written before: `null` for NaN and infinities alike; integers as numbers.
        let old = r#"{"type":"IsClose","actual":null,"expected":3,"rel_tol":0,"abs_tol":0}"#;
        let Ok(EntryDetail::IsClose {
            actual, expected, ..
        }) = serde_json::from_str::<EntryDetail>(old)
        else {
            panic!("an old report does not read");
        };
        assert!(actual.is_nan());
        assert_eq!(expected, 3.0);
        let wrong = r#"{"type":"IsClose","actual":"lots","expected":3,"rel_tol":0,"abs_tol":0}"#;
        let error = serde_json::from_str::<EntryDetail>(wrong).unwrap_err();
        assert!(error.to_string().contains("\"NaN\""), "{error}");
    }

    #[test]
    fn entries_round_trip_with_a_type_tag() {
        let entry = Entry {
            description: "answer".into(),
            passed: Some(false),
            location: Some(SourceLocation {
                file: "tests/plan.rs".into(),
                line: 7,
                column: 9,
            }),
            timestamp: 1.5,
            detail: EntryDetail::Comparison {
                operator: ComparisonOperator::Equal,
                actual: "41".into(),
                expected: "42".into(),
            },
        };
        let text = serde_json::to_string(&entry).unwrap();
        assert!(text.contains("\"type\":\"Comparison\""), "{text}");
        assert!(text.contains("\"operator\":\"equal\""), "{text}");
        let back: Entry = serde_json::from_str(&text).unwrap();
        assert_eq!(back, entry);
        assert!(back.is_failed_assertion());
    }

    #[test]
    fn groups_nest_entries() {
        let inner = Entry {
            description: String::new(),
            passed: None,
            location: None,
            timestamp: 0.0,
            detail: EntryDetail::Log {
                message: "hi".into(),
                value: None,
            },
        };
        let group = Entry {
            description: "heading".into(),
            passed: Some(true),
            location: None,
            timestamp: 0.0,
            detail: EntryDetail::Group {
                entries: vec![inner],
            },
        };
        let back: Entry = serde_json::from_str(&serde_json::to_string(&group).unwrap()).unwrap();
        assert_eq!(back, group);
    }
}

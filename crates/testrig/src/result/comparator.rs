//! Comparators: what an expected cell of a table or an expected key of a dict may be instead
//! of a literal value — a regex, a predicate, or "any value".
//!
//! The table and dict assertion families share this one type, so a user learns one way to
//! say "this value only has to look like X". Values are compared as JSON (`serde_json::Value`)
//! because both families convert the user's data with `Serialize` before comparing; the
//! description of a comparator is what the recorded entry shows in place of the expected value.

use std::fmt;
use std::sync::Arc;

use crate::regex_engine::Regex;
use serde::Serialize;
use serde_json::Value;

/// What an expected value must satisfy: equality with a literal, a regex, a predicate, or
/// nothing at all.
///
/// ```
/// use testrig::result::Comparator;
/// let id = Comparator::regex("^[0-9]+$");
/// let positive = Comparator::predicate("a positive number", |v| v.as_f64().is_some_and(|n| n > 0.0));
/// let literal: Comparator = 42.into();
/// assert!(id.check(&serde_json::json!("17")));
/// assert!(positive.check(&serde_json::json!(3)));
/// assert!(literal.check(&serde_json::json!(42.0)));
/// ```
#[derive(Clone)]
pub struct Comparator {
    kind: ComparatorKind,
}

/// A predicate shared between clones of a comparator (expected tables are cloned freely).
type SharedPredicate = Arc<dyn Fn(&Value) -> bool + Send + Sync>;

#[derive(Clone)]
enum ComparatorKind {
    Equal(Value),
    Regex(Regex),
    Predicate {
        description: String,
        check: SharedPredicate,
    },
    Any,
    /// A comparator that could not be built (bad regex, unserializable value); it fails every
    /// check and says why in its description, so the mistake shows up in the report instead
    /// of panicking inside the testcase.
    Invalid(String),
}

impl Comparator {
    /// Passes when the actual value equals `value` (numbers compare by value: `1 == 1.0`).
    pub fn equal(value: impl Serialize) -> Comparator {
        match serde_json::to_value(value) {
            Ok(value) => Comparator {
                kind: ComparatorKind::Equal(value),
            },
            Err(error) => Comparator::invalid(format!("unserializable expected value: {error}")),
        }
    }

    /// Passes when `pattern` matches somewhere in the actual value's text (strings without
    /// quotes, other values as JSON); anchor with `^…$` to match the whole value.
    pub fn regex(pattern: &str) -> Comparator {
        match crate::regex_engine::compiled(pattern) {
            Ok(regex) => Comparator {
                kind: ComparatorKind::Regex(regex),
            },
            Err(error) => Comparator::invalid(error),
        }
    }

    /// Passes when `check` returns true; `description` stands in for the expected value in
    /// the report.
    pub fn predicate(
        description: impl Into<String>,
        check: impl Fn(&Value) -> bool + Send + Sync + 'static,
    ) -> Comparator {
        Comparator {
            kind: ComparatorKind::Predicate {
                description: description.into(),
                check: Arc::new(check),
            },
        }
    }

    /// Passes for any value that is present.
    pub fn any() -> Comparator {
        Comparator {
            kind: ComparatorKind::Any,
        }
    }

    fn invalid(reason: String) -> Comparator {
        Comparator {
            kind: ComparatorKind::Invalid(reason),
        }
    }

    /// Whether `actual` satisfies this comparator.
    pub fn check(&self, actual: &Value) -> bool {
        match &self.kind {
            ComparatorKind::Equal(expected) => values_equal(actual, expected),
            ComparatorKind::Regex(regex) => regex.is_match(&display_value(actual)),
            ComparatorKind::Predicate { check, .. } => check(actual),
            ComparatorKind::Any => true,
            ComparatorKind::Invalid(_) => false,
        }
    }

    /// What the report shows as the expected value, with literals as JSON text.
    pub fn description(&self) -> String {
        self.describe_with(json_text)
    }

    /// The expected-value text, rendering a literal with `render_literal` (tables show strings
    /// without quotes, dicts as JSON).
    pub(crate) fn describe_with(&self, render_literal: impl Fn(&Value) -> String) -> String {
        match &self.kind {
            ComparatorKind::Equal(value) => render_literal(value),
            ComparatorKind::Regex(regex) => format!("/{}/", regex.as_str()),
            ComparatorKind::Predicate { description, .. } => description.clone(),
            ComparatorKind::Any => "<any value>".to_string(),
            ComparatorKind::Invalid(reason) => format!("<{reason}>"),
        }
    }
}

impl fmt::Debug for Comparator {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Comparator({})", self.description())
    }
}

impl From<Value> for Comparator {
    fn from(value: Value) -> Comparator {
        Comparator {
            kind: ComparatorKind::Equal(value),
        }
    }
}

impl From<&Value> for Comparator {
    fn from(value: &Value) -> Comparator {
        Comparator::from(value.clone())
    }
}

impl From<&Comparator> for Comparator {
    fn from(comparator: &Comparator) -> Comparator {
        comparator.clone()
    }
}

/// Literals convert to equality comparators, so an expected row can mix plain values with
/// regexes and predicates: `vec![Comparator::regex("^al"), 30.into()]`.
macro_rules! literal_comparators {
    ($($literal:ty),* $(,)?) => {
        $(
            impl From<$literal> for Comparator {
                fn from(value: $literal) -> Comparator {
                    Comparator::from(Value::from(value))
                }
            }
        )*
    };
}

literal_comparators!(
    bool, i8, i16, i32, i64, u8, u16, u32, u64, isize, usize, f32, f64, &str, String
);

/// JSON equality where numbers compare by value, so `1` (an integer) equals `1.0` (a float)
/// the way it would in the Python tools testers are used to.
pub(crate) fn values_equal(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(actual), Value::Number(expected)) => {
            if actual.is_f64() || expected.is_f64() {
                actual.as_f64() == expected.as_f64()
            } else {
                actual == expected
            }
        }
        (Value::Array(actual), Value::Array(expected)) => {
            actual.len() == expected.len()
                && actual
                    .iter()
                    .zip(expected)
                    .all(|(actual, expected)| values_equal(actual, expected))
        }
        (Value::Object(actual), Value::Object(expected)) => {
            actual.len() == expected.len()
                && actual.iter().all(|(key, actual)| {
                    expected
                        .get(key)
                        .is_some_and(|expected| values_equal(actual, expected))
                })
        }
        _ => actual == expected,
    }
}

/// A value as a person reads it in a table cell: strings without quotes, the rest as JSON.
pub(crate) fn display_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => json_text(other),
    }
}

/// A value as compact JSON text.
pub(crate) fn json_text(value: &Value) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literals_compare_numbers_by_value() {
        assert!(Comparator::from(1).check(&json!(1.0)));
        assert!(Comparator::equal([1, 2]).check(&json!([1.0, 2])));
        assert!(!Comparator::from(1).check(&json!("1")));
        assert!(!Comparator::from("a").check(&json!("b")));
        assert_eq!(Comparator::from("a").description(), "\"a\"");
    }

    #[test]
    fn regexes_search_the_display_text() {
        let digits = Comparator::regex("^[0-9]+$");
        assert!(digits.check(&json!("123")));
        assert!(digits.check(&json!(123)));
        assert!(!digits.check(&json!("12a")));
        assert_eq!(digits.description(), "/^[0-9]+$/");
    }

    #[test]
    fn invalid_regexes_fail_and_say_why() {
        let broken = Comparator::regex("(");
        assert!(!broken.check(&json!("(")));
        assert!(broken.description().starts_with("<invalid regex /(/"));
    }

    #[test]
    fn predicates_and_any() {
        let even =
            Comparator::predicate("an even number", |v| v.as_i64().is_some_and(|n| n % 2 == 0));
        assert!(even.check(&json!(4)));
        assert!(!even.check(&json!(3)));
        assert_eq!(even.description(), "an even number");
        assert!(Comparator::any().check(&Value::Null));
        assert_eq!(
            format!("{:?}", Comparator::any()),
            "Comparator(<any value>)"
        );
    }

    #[test]
    fn unserializable_literals_fail() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(vec![1], 1);
        let comparator = Comparator::equal(map);
        assert!(!comparator.check(&json!({})));
        assert!(comparator.description().contains("unserializable"));
    }

    #[test]
    fn display_value_drops_quotes_from_strings_only() {
        assert_eq!(display_value(&json!("x")), "x");
        assert_eq!(display_value(&json!(null)), "null");
        assert_eq!(json_text(&json!("x")), "\"x\"");
    }
}

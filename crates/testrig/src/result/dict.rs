//! Dict assertions of the recorder: nested JSON-like values compared key by key
//! (`result.dict().matches(…)`), checked for present and absent keys (`.check`) or logged.
//!
//! Anything `Serialize` is converted to a `serde_json::Value` first, so structs, maps and
//! `json!` literals all work. The recorded entry lists every compared key depth-first with its
//! path (`a.b[2].c`), both values as JSON and a pass flag — excluded keys appear as ignored —
//! and is emitted to the report builder through [`Recorder::record`].

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;
use testrig_model::{DictComparisonRow, EntryDetail};

use super::Recorder;
use super::comparator::{Comparator, json_text, values_equal};

/// How [`DictAssertions::match_with`] compares.
///
/// Keys are named by path (`a.b[2].c`) or by a bare name (`ts`), which matches that key at
/// any depth. Naming a key covers everything below it.
///
/// ```
/// use testrig::result::{Comparator, DictMatchOptions};
/// let options = DictMatchOptions::new()
///     .exclude_keys(["ts"])
///     .comparator("id", Comparator::regex("^[0-9]+$"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct DictMatchOptions {
    include_keys: Vec<String>,
    exclude_keys: Vec<String>,
    comparators: BTreeMap<String, Comparator>,
    only_expected_keys: bool,
}

impl DictMatchOptions {
    /// Compare every key of both values.
    pub fn new() -> DictMatchOptions {
        DictMatchOptions::default()
    }

    /// Compare only these keys (and what is below them); the others are shown as ignored.
    pub fn include_keys(
        mut self,
        keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> DictMatchOptions {
        self.include_keys.extend(keys.into_iter().map(Into::into));
        self
    }

    /// Do not compare these keys (nor what is below them); they are shown as ignored.
    pub fn exclude_keys(
        mut self,
        keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> DictMatchOptions {
        self.exclude_keys.extend(keys.into_iter().map(Into::into));
        self
    }

    /// Checks the actual value at `key` with `comparator` instead of comparing it with the
    /// expected value (which may then be left out of the expected dict).
    pub fn comparator(
        mut self,
        key: impl Into<String>,
        comparator: Comparator,
    ) -> DictMatchOptions {
        self.comparators.insert(key.into(), comparator);
        self
    }

    /// Ignore keys the actual value has but the expected one does not (Testplan's
    /// `include_only_expected`), for checking a subset of a large document.
    pub fn only_expected_keys(mut self) -> DictMatchOptions {
        self.only_expected_keys = true;
        self
    }
}

/// Where a value sits in the document: its full path and, for object members, its key name
/// (which bare-name key specs match at any depth).
struct KeyPath<'a> {
    full: String,
    name: Option<&'a str>,
}

impl KeyPath<'_> {
    fn root() -> KeyPath<'static> {
        KeyPath {
            full: String::new(),
            name: None,
        }
    }

    fn member<'k>(&self, key: &'k str) -> KeyPath<'k> {
        let full = if self.full.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.full)
        };
        KeyPath {
            full,
            name: Some(key),
        }
    }

    fn element(&self, index: usize) -> KeyPath<'static> {
        KeyPath {
            full: format!("{}[{index}]", self.full),
            name: None,
        }
    }

    /// Whether the key spec names this path: the full path, or a bare key name at any depth.
    fn is_named_by(&self, spec: &str) -> bool {
        spec == self.full
            || (!spec.contains(['.', '[']) && self.name.is_some_and(|name| name == spec))
    }
}

/// One dict comparison in progress: the options and the rows recorded so far.
struct DictComparison<'o> {
    options: &'o DictMatchOptions,
    rows: Vec<DictComparisonRow>,
    /// Comparator keys that named some key of either document.
    used_comparators: BTreeSet<&'o str>,
}

fn optional_json(value: Option<&Value>) -> Option<String> {
    value.map(json_text)
}

impl DictComparison<'_> {
    fn ignored(
        &mut self,
        path: &KeyPath<'_>,
        depth: u32,
        actual: Option<&Value>,
        expected: Option<&Value>,
    ) {
        self.rows.push(DictComparisonRow {
            key: path.full.clone(),
            depth,
            passed: None,
            actual: optional_json(actual),
            expected: optional_json(expected),
        });
    }

    fn compare(
        &mut self,
        path: &KeyPath<'_>,
        depth: u32,
        actual: Option<&Value>,
        expected: Option<&Value>,
        inside_included: bool,
    ) {
        let options = self.options;
        if options
            .exclude_keys
            .iter()
            .any(|spec| path.is_named_by(spec))
        {
            return self.ignored(path, depth, actual, expected);
        }
        let included = inside_included
            || options.include_keys.is_empty()
            || options
                .include_keys
                .iter()
                .any(|spec| path.is_named_by(spec));
        if included
            && let Some((spec, comparator)) = options
                .comparators
                .iter()
                .find(|(spec, _)| path.is_named_by(spec))
        {
            self.used_comparators.insert(spec);
            self.rows.push(DictComparisonRow {
                key: path.full.clone(),
                depth,
                passed: Some(actual.is_some_and(|value| comparator.check(value))),
                actual: optional_json(actual),
                expected: Some(comparator.description()),
            });
            return;
        }
        // Containers with content are compared member by member; empty ones are leaves, so
        // `{}` against `{}` still shows up as a row.
        match (actual, expected) {
            (Some(Value::Object(actual)), Some(Value::Object(expected)))
                if !actual.is_empty() || !expected.is_empty() =>
            {
                let actual_only = actual.keys().filter(|key| !expected.contains_key(*key));
                let keys: Vec<&String> = expected.keys().chain(actual_only).collect();
                // The root's members sit at depth 0; only nested members indent.
                let child_depth = if path.full.is_empty() {
                    depth
                } else {
                    depth + 1
                };
                for key in keys {
                    let child = path.member(key);
                    let (actual_child, expected_child) = (actual.get(key), expected.get(key));
                    if options.only_expected_keys && expected_child.is_none() {
                        self.ignored(&child, child_depth, actual_child, None);
                    } else {
                        self.compare(&child, child_depth, actual_child, expected_child, included);
                    }
                }
            }
            (Some(Value::Array(actual)), Some(Value::Array(expected)))
                if !actual.is_empty() || !expected.is_empty() =>
            {
                let child_depth = if path.full.is_empty() {
                    depth
                } else {
                    depth + 1
                };
                for index in 0..actual.len().max(expected.len()) {
                    let child = path.element(index);
                    self.compare(
                        &child,
                        child_depth,
                        actual.get(index),
                        expected.get(index),
                        included,
                    );
                }
            }
            _ if !included => self.ignored(path, depth, actual, expected),
            _ => self.rows.push(DictComparisonRow {
                key: path.full.clone(),
                depth,
                passed: Some(match (actual, expected) {
                    (Some(actual), Some(expected)) => values_equal(actual, expected),
                    _ => false,
                }),
                actual: optional_json(actual),
                expected: optional_json(expected),
            }),
        }
    }
}

/// Compares two documents, returning the rows depth-first.
fn compare_documents(
    actual: &Value,
    expected: &Value,
    options: &DictMatchOptions,
) -> Vec<DictComparisonRow> {
    let mut comparison = DictComparison {
        options,
        rows: Vec::new(),
        used_comparators: BTreeSet::new(),
    };
    comparison.compare(&KeyPath::root(), 0, Some(actual), Some(expected), false);
    // A comparator promises the key exists (even `Comparator::any()`); one that named nothing
    // would otherwise pass silently when the key is missing from both documents.
    for (spec, comparator) in &options.comparators {
        let excluded = options.exclude_keys.contains(spec);
        if !excluded && !comparison.used_comparators.contains(spec.as_str()) {
            comparison.rows.push(DictComparisonRow {
                key: spec.clone(),
                depth: spec.matches(['.', '[']).count() as u32,
                passed: Some(false),
                actual: None,
                expected: Some(comparator.description()),
            });
        }
    }
    comparison.rows
}

/// One step of a key path: an object member or an array element.
enum PathStep<'p> {
    Member(&'p str),
    Element(usize),
}

/// Splits `a.b[2].c` into steps; `None` when the brackets do not hold an index.
fn parse_path(path: &str) -> Option<Vec<PathStep<'_>>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, mut indices) = match part.find('[') {
            Some(bracket) => (&part[..bracket], &part[bracket..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            steps.push(PathStep::Member(name));
        }
        while let Some(rest) = indices.strip_prefix('[') {
            let (index, after) = rest.split_once(']')?;
            steps.push(PathStep::Element(index.parse().ok()?));
            indices = after;
        }
        if !indices.is_empty() {
            return None;
        }
    }
    Some(steps)
}

/// The value at `path`: a top-level key of that exact name first (keys may contain dots),
/// then the path's steps.
fn lookup<'v>(document: &'v Value, path: &str) -> Option<&'v Value> {
    if let Some(value) = document.get(path) {
        return Some(value);
    }
    parse_path(path)?
        .iter()
        .try_fold(document, |value, step| match step {
            PathStep::Member(name) => value.get(*name),
            PathStep::Element(index) => value.get(*index),
        })
}

/// The dict assertions, borrowed from a recorder with [`Recorder::dict`].
#[derive(Debug)]
pub struct DictAssertions<'a> {
    recorder: &'a mut Recorder,
}

impl Recorder {
    /// The dict assertion family.
    ///
    /// `result.dict().matches(&reply, json!({"status": "ok"}), "reply")`
    pub fn dict(&mut self) -> DictAssertions<'_> {
        DictAssertions { recorder: self }
    }
}

impl DictAssertions<'_> {
    /// Serializes a value, or records a failed entry naming which side could not be.
    #[track_caller]
    fn serialize(&mut self, value: impl Serialize, side: &str, description: &str) -> Option<Value> {
        match serde_json::to_value(value) {
            Ok(value) => Some(value),
            Err(error) => {
                self.recorder.record(Recorder::make_entry(
                    description,
                    Some(false),
                    EntryDetail::Fail {
                        message: format!("cannot serialize the {side} value: {error}"),
                    },
                ));
                None
            }
        }
    }

    /// Passes when both values have the same keys with equal values, recursively (numbers
    /// compare by value: `1 == 1.0`).
    ///
    /// `result.dict().matches(&reply, json!({"status": "ok", "items": [1, 2]}), "reply")`
    #[track_caller]
    pub fn matches(
        &mut self,
        actual: impl Serialize,
        expected: impl Serialize,
        description: impl Into<String>,
    ) -> bool {
        self.match_with(actual, expected, DictMatchOptions::new(), description)
    }

    /// [`matches`](Self::matches) with key selection and per-key comparators.
    ///
    /// `result.dict().match_with(&event, json!({"kind": "fill"}), DictMatchOptions::new().exclude_keys(["ts"]), "event")`
    #[track_caller]
    pub fn match_with(
        &mut self,
        actual: impl Serialize,
        expected: impl Serialize,
        options: DictMatchOptions,
        description: impl Into<String>,
    ) -> bool {
        let description = description.into();
        let Some(actual) = self.serialize(actual, "actual", &description) else {
            return false;
        };
        let Some(expected) = self.serialize(expected, "expected", &description) else {
            return false;
        };
        let comparison = compare_documents(&actual, &expected, &options);
        let passed = comparison.iter().all(|row| row.passed != Some(false));
        self.recorder.record(Recorder::make_entry(
            description,
            Some(passed),
            EntryDetail::DictMatch { comparison },
        ))
    }

    /// Passes when every key of `has_keys` is present and none of `absent_keys` is; keys are
    /// top-level names or paths (`a.b[2].c`).
    ///
    /// `result.dict().check(&reply, ["id", "meta.version"], ["error"], "reply shape")`
    #[track_caller]
    pub fn check(
        &mut self,
        actual: impl Serialize,
        has_keys: impl IntoIterator<Item = impl Into<String>>,
        absent_keys: impl IntoIterator<Item = impl Into<String>>,
        description: impl Into<String>,
    ) -> bool {
        let description = description.into();
        let Some(actual) = self.serialize(actual, "actual", &description) else {
            return false;
        };
        let has_keys: Vec<String> = has_keys.into_iter().map(Into::into).collect();
        let absent_keys: Vec<String> = absent_keys.into_iter().map(Into::into).collect();
        let missing: Vec<String> = has_keys
            .iter()
            .filter(|key| lookup(&actual, key).is_none())
            .cloned()
            .collect();
        let unexpected: Vec<String> = absent_keys
            .iter()
            .filter(|key| lookup(&actual, key).is_some())
            .cloned()
            .collect();
        let passed = missing.is_empty() && unexpected.is_empty();
        self.recorder.record(Recorder::make_entry(
            description,
            Some(passed),
            EntryDetail::DictCheck {
                has_keys,
                absent_keys,
                missing,
                unexpected,
            },
        ))
    }

    /// Records a value for display (as [`Recorder::log_value`] does). Returns `false`, with a
    /// failed entry, when the value cannot be serialized.
    #[track_caller]
    pub fn log(&mut self, value: impl Serialize, description: impl Into<String>) -> bool {
        self.recorder.log_value(description, &value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use testrig_model::Entry;

    fn last(recorder: &Recorder) -> &Entry {
        recorder.entries().last().expect("an entry was recorded")
    }

    fn rows(entry: &Entry) -> &[DictComparisonRow] {
        match &entry.detail {
            EntryDetail::DictMatch { comparison } => comparison,
            other => panic!("not a dict match: {other:?}"),
        }
    }

    fn row(
        key: &str,
        depth: u32,
        passed: Option<bool>,
        actual: Option<&str>,
        expected: Option<&str>,
    ) -> DictComparisonRow {
        DictComparisonRow {
            key: key.into(),
            depth,
            passed,
            actual: actual.map(str::to_string),
            expected: expected.map(str::to_string),
        }
    }

    #[test]
    fn equal_documents_match_key_by_key() {
        let mut result = Recorder::detached();
        let document = json!({"a": 1, "b": {"c": [1, {"d": "x"}]}});
        assert!(result.dict().matches(&document, &document, "same"));
        assert_eq!(
            rows(last(&result)),
            [
                row("a", 0, Some(true), Some("1"), Some("1")),
                row("b.c[0]", 2, Some(true), Some("1"), Some("1")),
                row("b.c[1].d", 3, Some(true), Some("\"x\""), Some("\"x\"")),
            ]
        );
    }

    #[test]
    fn differing_and_missing_keys_fail() {
        let mut result = Recorder::detached();
        let actual = json!({"a": 1, "b": 2, "extra": true, "list": [1]});
        let expected = json!({"a": 1.0, "b": 3, "gone": null, "list": [1, 2]});
        assert!(!result.dict().matches(&actual, &expected, "differs"));
        let entry = last(&result);
        assert_eq!(entry.passed, Some(false));
        assert_eq!(
            rows(entry),
            [
                row("a", 0, Some(true), Some("1"), Some("1.0")),
                row("b", 0, Some(false), Some("2"), Some("3")),
                row("gone", 0, Some(false), None, Some("null")),
                row("list[0]", 1, Some(true), Some("1"), Some("1")),
                row("list[1]", 1, Some(false), None, Some("2")),
                row("extra", 0, Some(false), Some("true"), None),
            ]
        );
    }

    #[test]
    fn kind_mismatches_are_leaf_rows() {
        let mut result = Recorder::detached();
        assert!(
            !result
                .dict()
                .matches(json!({"a": {"b": 1}}), json!({"a": [1]}), "kinds")
        );
        assert_eq!(
            rows(last(&result)),
            [row("a", 0, Some(false), Some("{\"b\":1}"), Some("[1]"))]
        );
        assert!(
            result
                .dict()
                .matches(json!({"a": {}}), json!({"a": {}}), "empty")
        );
        assert_eq!(
            rows(last(&result)),
            [row("a", 0, Some(true), Some("{}"), Some("{}"))]
        );
        assert!(!result.dict().matches(json!(1), json!(2), "scalars"));
        assert_eq!(
            rows(last(&result)),
            [row("", 0, Some(false), Some("1"), Some("2"))]
        );
    }

    #[test]
    fn excluded_keys_are_ignored_at_any_depth_or_by_path() {
        let mut result = Recorder::detached();
        let actual = json!({"ts": 1, "inner": {"ts": 2, "v": 1}, "meta": {"host": "a"}});
        let expected = json!({"ts": 9, "inner": {"ts": 8, "v": 1}, "meta": {"host": "b"}});
        let options = DictMatchOptions::new().exclude_keys(["ts", "meta.host"]);
        assert!(
            result
                .dict()
                .match_with(&actual, &expected, options, "without ts")
        );
        let comparison = rows(last(&result));
        assert!(comparison.contains(&row("ts", 0, None, Some("1"), Some("9"))));
        assert!(comparison.contains(&row("inner.ts", 1, None, Some("2"), Some("8"))));
        assert!(comparison.contains(&row("meta.host", 1, None, Some("\"a\""), Some("\"b\""))));
        assert!(comparison.contains(&row("inner.v", 1, Some(true), Some("1"), Some("1"))));
        let options = DictMatchOptions::new().exclude_keys(["inner"]);
        assert!(
            !result
                .dict()
                .match_with(&actual, &expected, options, "ts still differs")
        );
    }

    #[test]
    fn included_keys_limit_the_comparison() {
        let mut result = Recorder::detached();
        let actual = json!({"a": 1, "b": {"c": 2, "d": 3}});
        let expected = json!({"a": 0, "b": {"c": 2, "d": 0}});
        let options = DictMatchOptions::new().include_keys(["b.c"]);
        assert!(
            result
                .dict()
                .match_with(&actual, &expected, options, "only b.c")
        );
        assert_eq!(
            rows(last(&result)),
            [
                row("a", 0, None, Some("1"), Some("0")),
                row("b.c", 1, Some(true), Some("2"), Some("2")),
                row("b.d", 1, None, Some("3"), Some("0")),
            ]
        );
        let options = DictMatchOptions::new().include_keys(["b"]);
        assert!(
            !result
                .dict()
                .match_with(&actual, &expected, options, "all of b")
        );
        assert_eq!(
            rows(last(&result))[2],
            row("b.d", 1, Some(false), Some("3"), Some("0"))
        );
    }

    #[test]
    fn comparators_check_actual_values() {
        let mut result = Recorder::detached();
        let options = DictMatchOptions::new()
            .comparator("id", Comparator::regex("^[0-9]+$"))
            .comparator("seen", Comparator::any());
        let actual = json!({"id": "123", "seen": "2024", "name": "x"});
        assert!(
            result
                .dict()
                .match_with(&actual, json!({"name": "x"}), options.clone(), "ok")
        );
        assert!(rows(last(&result)).contains(&row(
            "id",
            0,
            Some(true),
            Some("\"123\""),
            Some("/^[0-9]+$/")
        )));
        let bad = json!({"id": "12a", "name": "x"});
        assert!(
            !result
                .dict()
                .match_with(&bad, json!({"name": "x"}), options, "bad")
        );
        let comparison = rows(last(&result));
        assert!(comparison.contains(&row(
            "id",
            0,
            Some(false),
            Some("\"12a\""),
            Some("/^[0-9]+$/")
        )));
        assert!(comparison.contains(&row("seen", 0, Some(false), None, Some("<any value>"))));
    }

    #[test]
    fn only_expected_keys_ignores_extras() {
        let mut result = Recorder::detached();
        let actual = json!({"a": 1, "noise": {"x": 1}});
        let options = DictMatchOptions::new().only_expected_keys();
        assert!(
            result
                .dict()
                .match_with(&actual, json!({"a": 1}), options.clone(), "subset")
        );
        assert_eq!(
            rows(last(&result))[1],
            row("noise", 0, None, Some("{\"x\":1}"), None)
        );
        assert!(
            !result
                .dict()
                .match_with(&actual, json!({"a": 2}), options, "subset differs")
        );
    }

    #[test]
    fn structs_and_maps_serialize() {
        #[derive(Serialize)]
        struct Reply {
            status: &'static str,
            code: u16,
        }
        let mut result = Recorder::detached();
        let reply = Reply {
            status: "ok",
            code: 200,
        };
        let expected = BTreeMap::from([("status", json!("ok")), ("code", json!(200))]);
        assert!(result.dict().matches(&reply, &expected, "struct vs map"));
        let bad_key_map = BTreeMap::from([(vec![1], 1)]);
        assert!(
            !result
                .dict()
                .matches(&bad_key_map, &expected, "unserializable")
        );
        match &last(&result).detail {
            EntryDetail::Fail { message } => {
                assert!(
                    message.starts_with("cannot serialize the actual value"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn check_reports_missing_and_unexpected_keys() {
        let mut result = Recorder::detached();
        let document = json!({"id": 1, "meta": {"tags": ["a", {"k": 1}]}, "dotted.key": 0});
        assert!(result.dict().check(
            &document,
            ["id", "meta.tags[1].k", "dotted.key"],
            ["error", "meta.tags[2]"],
            "shape"
        ));
        assert!(
            !result
                .dict()
                .check(&document, ["id", "name"], ["meta", "x"], "bad shape")
        );
        assert_eq!(
            last(&result).detail,
            EntryDetail::DictCheck {
                has_keys: vec!["id".into(), "name".into()],
                absent_keys: vec!["meta".into(), "x".into()],
                missing: vec!["name".into()],
                unexpected: vec!["meta".into()],
            }
        );
        assert_eq!(last(&result).passed, Some(false));
    }

    #[test]
    fn paths_parse_members_and_indices() {
        let document = json!({"a": [[0, {"b": 5}]]});
        assert_eq!(lookup(&document, "a[0][1].b"), Some(&json!(5)));
        assert_eq!(lookup(&document, "a[x]"), None);
        assert_eq!(lookup(&document, "a[0]]"), None);
        assert_eq!(lookup(&json!([7]), "[0]"), Some(&json!(7)));
    }

    #[test]
    fn log_records_the_value() {
        let mut result = Recorder::detached();
        assert!(result.dict().log(json!({"k": 1}), "state"));
        match &last(&result).detail {
            EntryDetail::Log { value, .. } => assert_eq!(value, &Some(json!({"k": 1}))),
            other => panic!("{other:?}"),
        }
        assert_eq!(last(&result).location.clone().unwrap().file, file!());
    }
}

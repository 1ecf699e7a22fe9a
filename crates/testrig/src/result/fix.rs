//! FIX assertions of the recorder (Testplan's `result.fix`): a FIX message compared tag by
//! tag with an expected one (`result.fix().matches(…)`), checked for present and absent tags
//! (`.check`) or logged (`.log`).
//!
//! A FIX message is a flat list of `tag=value` fields, so it is recorded the way the dict
//! family records a document: a match is a [`EntryDetail::DictMatch`] whose keys are the
//! tags with their FIX names (`ClOrdID(11)`), values as JSON strings (`"ACME"`); a check is a
//! [`EntryDetail::DictCheck`] over tag names; a log is a [`EntryDetail::Log`] with one line
//! per field. The console, JSON, JUnit and browser views render them with no FIX-specific
//! code. A tag that occurs more than once (a repeating group) is keyed by occurrence:
//! `PartyID(448)[0]`, `PartyID(448)[1]`.
//!
//! Per-tag comparators are the dict family's [`Comparator`]; a comparator sees the field's
//! value as a JSON string, and, when the value is a number, as that number too, so
//! `Comparator::from(100)` matches `38=100`.

use std::collections::BTreeMap;

use serde_json::Value;
use testrig_fix::{Message, Tag, msg_type};
use testrig_model::{DictComparisonRow, EntryDetail};

use super::Recorder;
use super::comparator::{Comparator, json_text};

/// The tags a match ignores unless asked to compare them: BeginString (8), BodyLength (9),
/// CheckSum (10), MsgSeqNum (34) and SendingTime (52), which differ between two sends of the
/// same message.
pub const FIX_HEADER_TAGS: [Tag; 5] = [
    Tag::BEGIN_STRING,
    Tag::BODY_LENGTH,
    Tag::CHECK_SUM,
    Tag::MSG_SEQ_NUM,
    Tag::SENDING_TIME,
];

/// How [`FixAssertions::match_with`] compares.
///
/// By default every tag of both messages is compared except [`FIX_HEADER_TAGS`] (8, 9, 10,
/// 34, 52), which are shown as ignored. A tag named in [`include_tags`](Self::include_tags)
/// or given a [`comparator`](Self::comparator) is compared even if it is one of those;
/// [`exclude_tags`](Self::exclude_tags) wins over both.
///
/// ```
/// use testrig::drivers::fix_protocol::Tag;
/// use testrig::result::{Comparator, FixMatchOptions};
/// let options = FixMatchOptions::new()
///     .exclude_tags([Tag::TRANSACT_TIME])
///     .comparator(Tag::ORDER_ID, Comparator::regex("^OID-[0-9]+$"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct FixMatchOptions {
    include_tags: Vec<Tag>,
    exclude_tags: Vec<Tag>,
    comparators: BTreeMap<Tag, Comparator>,
    compare_header: bool,
    only_expected_tags: bool,
}

impl FixMatchOptions {
    /// Compare every tag of both messages but the header and trailer tags 8, 9, 10, 34, 52.
    pub fn new() -> FixMatchOptions {
        FixMatchOptions::default()
    }

    /// Compare only these tags; the others are shown as ignored.
    pub fn include_tags(
        mut self,
        tags: impl IntoIterator<Item = impl Into<Tag>>,
    ) -> FixMatchOptions {
        self.include_tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Do not compare these tags; they are shown as ignored.
    pub fn exclude_tags(
        mut self,
        tags: impl IntoIterator<Item = impl Into<Tag>>,
    ) -> FixMatchOptions {
        self.exclude_tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Checks every occurrence of `tag` in the actual message with `comparator` instead of
    /// comparing it with the expected message (which may then leave the tag out).
    pub fn comparator(mut self, tag: impl Into<Tag>, comparator: Comparator) -> FixMatchOptions {
        self.comparators.insert(tag.into(), comparator);
        self
    }

    /// Compare the header and trailer tags 8, 9, 10, 34 and 52 too.
    pub fn compare_header_tags(mut self) -> FixMatchOptions {
        self.compare_header = true;
        self
    }

    /// Ignore tags the actual message has but the expected one does not, for checking the
    /// fields that matter in a message a real engine filled with more.
    pub fn only_expected_tags(mut self) -> FixMatchOptions {
        self.only_expected_tags = true;
        self
    }

    /// Whether `tag` is compared at all.
    fn compares(&self, tag: Tag) -> bool {
        if self.exclude_tags.contains(&tag) {
            return false;
        }
        let named = self.include_tags.contains(&tag) || self.comparators.contains_key(&tag);
        if !self.include_tags.is_empty() && !named {
            return false;
        }
        named || self.compare_header || !FIX_HEADER_TAGS.contains(&tag)
    }
}

/// The tags of a message in order of first appearance, each with its values in order.
fn fields_by_tag(message: &Message) -> Vec<(Tag, Vec<&str>)> {
    let mut fields: Vec<(Tag, Vec<&str>)> = Vec::new();
    for (tag, value) in message.fields() {
        match fields.iter_mut().find(|(seen, _)| seen == tag) {
            Some((_, values)) => values.push(value),
            None => fields.push((*tag, vec![value])),
        }
    }
    fields
}

/// A value as the report shows it: a JSON string.
fn shown(value: &str) -> String {
    json_text(&Value::String(value.to_string()))
}

/// Whether the comparator accepts the field value, as a string or, when it is one, as a
/// number.
fn accepts(comparator: &Comparator, value: &str) -> bool {
    if comparator.check(&Value::String(value.to_string())) {
        return true;
    }
    match serde_json::from_str::<Value>(value) {
        Ok(number @ Value::Number(_)) => comparator.check(&number),
        _ => false,
    }
}

/// The rows of a FIX match: expected tags in their order, then tags only the actual message
/// has.
fn compare_messages(
    actual: &Message,
    expected: &Message,
    options: &FixMatchOptions,
) -> Vec<DictComparisonRow> {
    let actual_fields = fields_by_tag(actual);
    let expected_fields = fields_by_tag(expected);
    let mut tags: Vec<Tag> = expected_fields.iter().map(|(tag, _)| *tag).collect();
    for (tag, _) in &actual_fields {
        if !tags.contains(tag) {
            tags.push(*tag);
        }
    }
    // A comparator's tag is checked even when neither message has it (it then fails).
    for tag in options.comparators.keys() {
        if !tags.contains(tag) && !options.exclude_tags.contains(tag) {
            tags.push(*tag);
        }
    }
    let values_of = |fields: &[(Tag, Vec<&'_ str>)], tag: Tag| -> Vec<String> {
        fields
            .iter()
            .find(|(seen, _)| *seen == tag)
            .map(|(_, values)| values.iter().map(|value| value.to_string()).collect())
            .unwrap_or_default()
    };
    let mut rows = Vec::new();
    for tag in tags {
        let actual_values = values_of(&actual_fields, tag);
        let expected_values = values_of(&expected_fields, tag);
        let count = actual_values.len().max(expected_values.len()).max(1);
        let compared = options.compares(tag);
        let only_actual = expected_values.is_empty() && !options.comparators.contains_key(&tag);
        for occurrence in 0..count {
            let key = if count > 1 {
                format!("{tag}[{occurrence}]")
            } else {
                tag.to_string()
            };
            let actual_value = actual_values.get(occurrence).map(String::as_str);
            let expected_value = expected_values.get(occurrence).map(String::as_str);
            let mut row = DictComparisonRow {
                key,
                depth: 0,
                passed: None,
                actual: actual_value.map(shown),
                expected: expected_value.map(shown),
            };
            if !compared || (options.only_expected_tags && only_actual) {
                rows.push(row);
                continue;
            }
            row.passed = Some(match options.comparators.get(&tag) {
                Some(comparator) => {
                    row.expected = Some(comparator.description());
                    actual_value.is_some_and(|value| accepts(comparator, value))
                }
                None => actual_value.is_some() && actual_value == expected_value,
            });
            rows.push(row);
        }
    }
    rows
}

/// One line per field for a log entry: `MsgType(35) = D (NewOrderSingle)`.
fn field_lines(message: &Message) -> String {
    let mut lines = Vec::with_capacity(message.len());
    for (tag, value) in message.fields() {
        let meaning = if *tag == Tag::MSG_TYPE {
            msg_type::name(value).map(|name| format!(" ({name})"))
        } else {
            None
        };
        lines.push(format!("{tag} = {value}{}", meaning.unwrap_or_default()));
    }
    lines.join("\n")
}

/// The FIX assertions, borrowed from a recorder with [`Recorder::fix`].
#[derive(Debug)]
pub struct FixAssertions<'a> {
    recorder: &'a mut Recorder,
}

impl Recorder {
    /// The FIX assertion family.
    ///
    /// `result.fix().matches(&report, &expected, "execution report")`
    pub fn fix(&mut self) -> FixAssertions<'_> {
        FixAssertions { recorder: self }
    }
}

impl FixAssertions<'_> {
    /// Passes when both messages have the same tags with equal values (in order, for a tag
    /// that repeats), header and trailer tags 8, 9, 10, 34 and 52 excepted.
    ///
    /// `result.fix().matches(&report, &expected, "execution report")`
    #[track_caller]
    pub fn matches(
        &mut self,
        actual: &Message,
        expected: &Message,
        description: impl Into<String>,
    ) -> bool {
        self.match_with(actual, expected, FixMatchOptions::new(), description)
    }

    /// [`matches`](Self::matches) with tag selection and per-tag comparators.
    ///
    /// `result.fix().match_with(&report, &expected, FixMatchOptions::new().exclude_tags([Tag::EXEC_ID]), "report")`
    #[track_caller]
    pub fn match_with(
        &mut self,
        actual: &Message,
        expected: &Message,
        options: FixMatchOptions,
        description: impl Into<String>,
    ) -> bool {
        let comparison = compare_messages(actual, expected, &options);
        let passed = comparison.iter().all(|row| row.passed != Some(false));
        self.recorder.record(Recorder::make_entry(
            description,
            Some(passed),
            EntryDetail::DictMatch { comparison },
        ))
    }

    /// Passes when every tag of `has_tags` is present and none of `absent_tags` is.
    ///
    /// `result.fix().check(&order, &[Tag::CL_ORD_ID, Tag::SYMBOL], &[Tag::PRICE], "market order")`
    #[track_caller]
    pub fn check(
        &mut self,
        message: &Message,
        has_tags: &[Tag],
        absent_tags: &[Tag],
        description: impl Into<String>,
    ) -> bool {
        fn names<'t>(tags: impl Iterator<Item = &'t Tag>) -> Vec<String> {
            tags.map(Tag::to_string).collect()
        }
        let missing = names(has_tags.iter().filter(|tag| !message.contains(**tag)));
        let unexpected = names(absent_tags.iter().filter(|tag| message.contains(**tag)));
        let passed = missing.is_empty() && unexpected.is_empty();
        self.recorder.record(Recorder::make_entry(
            description,
            Some(passed),
            EntryDetail::DictCheck {
                has_keys: names(has_tags.iter()),
                absent_keys: names(absent_tags.iter()),
                missing,
                unexpected,
            },
        ))
    }

    /// Records a message for display: one line per field with its tag name, the message in
    /// `|`-separated form as the entry's value.
    ///
    /// `result.fix().log(&order, "order sent")`
    #[track_caller]
    pub fn log(&mut self, message: &Message, description: impl Into<String>) {
        self.recorder.record(Recorder::make_entry(
            description,
            None,
            EntryDetail::Log {
                message: field_lines(message),
                value: Some(Value::String(message.to_string())),
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        passed: Option<bool>,
        actual: Option<&str>,
        expected: Option<&str>,
    ) -> DictComparisonRow {
        DictComparisonRow {
            key: key.into(),
            depth: 0,
            passed,
            actual: actual.map(str::to_string),
            expected: expected.map(str::to_string),
        }
    }

    fn report(seq: &str) -> Message {
        format!("8=FIX.4.4|9=99|35=8|34={seq}|52=20240102-03:04:05.000|11=A|55=ACME|38=100|10=123|")
            .parse()
            .unwrap()
    }

    #[test]
    fn equal_messages_match_with_tag_names_and_the_header_ignored() {
        let mut result = Recorder::detached();
        let expected = Message::new("8")
            .with(Tag::CL_ORD_ID, "A")
            .with(Tag::SYMBOL, "ACME")
            .with(Tag::ORDER_QTY, "100");
        assert!(result.fix().matches(&report("7"), &expected, "report"));
        let entry = last(&result);
        assert_eq!(entry.passed, Some(true));
        assert_eq!(
            rows(entry),
            [
                row("MsgType(35)", Some(true), Some("\"8\""), Some("\"8\"")),
                row("ClOrdID(11)", Some(true), Some("\"A\""), Some("\"A\"")),
                row("Symbol(55)", Some(true), Some("\"ACME\""), Some("\"ACME\"")),
                row("OrderQty(38)", Some(true), Some("\"100\""), Some("\"100\"")),
                row("BeginString(8)", None, Some("\"FIX.4.4\""), None),
                row("BodyLength(9)", None, Some("\"99\""), None),
                row("MsgSeqNum(34)", None, Some("\"7\""), None),
                row(
                    "SendingTime(52)",
                    None,
                    Some("\"20240102-03:04:05.000\""),
                    None
                ),
                row("CheckSum(10)", None, Some("\"123\""), None),
            ]
        );
        // Two sends of one message differ only in the header: they match.
        assert!(result.fix().matches(&report("7"), &report("8"), "resent"));
        assert!(!result.fix().match_with(
            &report("7"),
            &report("8"),
            FixMatchOptions::new().compare_header_tags(),
            "with the header"
        ));
        assert!(rows(last(&result)).contains(&row(
            "MsgSeqNum(34)",
            Some(false),
            Some("\"7\""),
            Some("\"8\"")
        )));
    }

    #[test]
    fn differing_missing_and_extra_tags_fail() {
        let mut result = Recorder::detached();
        let expected = Message::new("8")
            .with(Tag::CL_ORD_ID, "B")
            .with(Tag::SYMBOL, "ACME")
            .with(Tag::PRICE, "12.5");
        assert!(!result.fix().matches(&report("1"), &expected, "report"));
        let comparison = rows(last(&result));
        assert!(comparison.contains(&row(
            "ClOrdID(11)",
            Some(false),
            Some("\"A\""),
            Some("\"B\"")
        )));
        assert!(comparison.contains(&row("Price(44)", Some(false), None, Some("\"12.5\""))));
        assert!(comparison.contains(&row("OrderQty(38)", Some(false), Some("\"100\""), None)));
        assert_eq!(last(&result).passed, Some(false));
        assert!(!result.passed());

        // Extra tags of the actual message are ignored on request.
        let mut result = Recorder::detached();
        let subset = Message::new("8").with(Tag::SYMBOL, "ACME");
        let options = FixMatchOptions::new().only_expected_tags();
        assert!(
            result
                .fix()
                .match_with(&report("1"), &subset, options, "subset")
        );
        assert!(rows(last(&result)).contains(&row("OrderQty(38)", None, Some("\"100\""), None)));
    }

    #[test]
    fn included_and_excluded_tags() {
        let mut result = Recorder::detached();
        let expected = Message::new("8")
            .with(Tag::CL_ORD_ID, "other")
            .with(Tag::SYMBOL, "ACME");
        let options = FixMatchOptions::new().include_tags([Tag::SYMBOL, Tag::MSG_TYPE]);
        assert!(
            result
                .fix()
                .match_with(&report("1"), &expected, options, "only symbol")
        );
        assert!(rows(last(&result)).contains(&row(
            "ClOrdID(11)",
            None,
            Some("\"A\""),
            Some("\"other\"")
        )));
        let options = FixMatchOptions::new().exclude_tags([Tag::CL_ORD_ID, Tag::ORDER_QTY]);
        assert!(
            result
                .fix()
                .match_with(&report("1"), &expected, options, "without id")
        );
        // Excluding wins over including.
        let options = FixMatchOptions::new()
            .include_tags([Tag::CL_ORD_ID])
            .exclude_tags([Tag::CL_ORD_ID]);
        assert!(
            result
                .fix()
                .match_with(&report("1"), &expected, options, "nothing")
        );
        assert!(rows(last(&result)).iter().all(|row| row.passed.is_none()));
    }

    #[test]
    fn comparators_check_values_as_strings_or_numbers() {
        let mut result = Recorder::detached();
        let expected = Message::new("8").with(Tag::SYMBOL, "ACME");
        let options = FixMatchOptions::new()
            .comparator(Tag::CL_ORD_ID, Comparator::regex("^[A-Z]$"))
            .comparator(Tag::ORDER_QTY, Comparator::from(100))
            .comparator(
                Tag::SENDING_TIME,
                Comparator::predicate("a timestamp", |v| v.as_str().is_some_and(|t| t.len() == 21)),
            );
        assert!(
            result
                .fix()
                .match_with(&report("1"), &expected, options.clone(), "ok")
        );
        let comparison = rows(last(&result));
        assert!(comparison.contains(&row(
            "ClOrdID(11)",
            Some(true),
            Some("\"A\""),
            Some("/^[A-Z]$/")
        )));
        assert!(comparison.contains(&row(
            "OrderQty(38)",
            Some(true),
            Some("\"100\""),
            Some("100")
        )));
        assert!(comparison.contains(&row(
            "SendingTime(52)",
            Some(true),
            Some("\"20240102-03:04:05.000\""),
            Some("a timestamp")
        )));

        let mut other = report("1");
        other.set(Tag::ORDER_QTY, "99");
        other.remove(Tag::CL_ORD_ID);
        assert!(!result.fix().match_with(&other, &expected, options, "bad"));
        let comparison = rows(last(&result));
        assert!(comparison.contains(&row("ClOrdID(11)", Some(false), None, Some("/^[A-Z]$/"))));
        assert!(comparison.contains(&row(
            "OrderQty(38)",
            Some(false),
            Some("\"99\""),
            Some("100")
        )));
    }

    #[test]
    fn repeating_tags_are_compared_by_occurrence() {
        let mut result = Recorder::detached();
        let mut actual = Message::new("D");
        actual.push(Tag(448), "P1");
        actual.push(Tag(448), "P2");
        let mut expected = Message::new("D");
        expected.push(Tag(448), "P1");
        assert!(!result.fix().matches(&actual, &expected, "parties"));
        assert_eq!(
            rows(last(&result))[1..],
            [
                row("448[0]", Some(true), Some("\"P1\""), Some("\"P1\"")),
                row("448[1]", Some(false), Some("\"P2\""), None),
            ]
        );
    }

    #[test]
    fn check_reports_missing_and_unexpected_tags_by_name() {
        let mut result = Recorder::detached();
        let message = report("1");
        assert!(result.fix().check(
            &message,
            &[Tag::CL_ORD_ID, Tag::SYMBOL],
            &[Tag::PRICE],
            "shape"
        ));
        assert!(!result.fix().check(
            &message,
            &[Tag::CL_ORD_ID, Tag::PRICE],
            &[Tag::SYMBOL, Tag::TEXT],
            "bad shape"
        ));
        assert_eq!(
            last(&result).detail,
            EntryDetail::DictCheck {
                has_keys: vec!["ClOrdID(11)".into(), "Price(44)".into()],
                absent_keys: vec!["Symbol(55)".into(), "Text(58)".into()],
                missing: vec!["Price(44)".into()],
                unexpected: vec!["Symbol(55)".into()],
            }
        );
        assert_eq!(last(&result).passed, Some(false));
    }

    #[test]
    fn log_shows_one_named_field_per_line() {
        let mut result = Recorder::detached();
        let order = Message::new("D")
            .with(Tag::SYMBOL, "ACME")
            .with(Tag(9999), "x");
        result.fix().log(&order, "order");
        let entry = last(&result);
        assert_eq!(entry.passed, None);
        assert!(result.passed());
        assert_eq!(
            entry.detail,
            EntryDetail::Log {
                message: "MsgType(35) = D (NewOrderSingle)\nSymbol(55) = ACME\n9999 = x".into(),
                value: Some(Value::String("35=D|55=ACME|9999=x|".into())),
            }
        );
        assert_eq!(entry.location.clone().unwrap().file, file!());
    }
}

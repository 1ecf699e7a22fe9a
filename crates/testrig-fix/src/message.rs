//! [`Message`]: an ordered list of `(Tag, value)` fields, and [`FixVersion`].
//!
//! A message keeps its fields in the order they were added or received,
//! because FIX repeating groups depend on order and a test comparing wire
//! output wants to see what was sent. Lookups are linear; FIX messages have
//! tens of fields, not thousands.
//!
//! For humans (tests, logs) a message displays and parses with `|` between
//! fields: `8=FIX.4.4|9=5|35=0|10=161|`. The wire form, with SOH separators
//! and a computed BodyLength and CheckSum, is made by [`crate::encode`].

use std::fmt;
use std::str::FromStr;

use crate::error::FixError;
use crate::tag::{Tag, msg_type};

/// The FIX protocol version, carried in BeginString (8).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FixVersion {
    /// `FIX.4.2`.
    Fix42,
    /// `FIX.4.4`.
    Fix44,
}

impl FixVersion {
    /// The BeginString value: `"FIX.4.2"` or `"FIX.4.4"`.
    pub fn begin_string(self) -> &'static str {
        match self {
            FixVersion::Fix42 => "FIX.4.2",
            FixVersion::Fix44 => "FIX.4.4",
        }
    }
}

impl fmt::Display for FixVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.begin_string())
    }
}

impl FromStr for FixVersion {
    type Err = FixError;

    fn from_str(s: &str) -> Result<FixVersion, FixError> {
        match s {
            "FIX.4.2" => Ok(FixVersion::Fix42),
            "FIX.4.4" => Ok(FixVersion::Fix44),
            _ => Err(FixError::BadBeginString {
                found: s.to_owned(),
                expected: None,
            }),
        }
    }
}

/// A FIX message: fields in order, each a [`Tag`] and a string value.
///
/// ```
/// use testrig_fix::{Message, Tag};
///
/// let order = Message::new("D")
///     .with(Tag::CL_ORD_ID, "ORDER-1")
///     .with(Tag::SYMBOL, "ACME")
///     .with(Tag::SIDE, "1");
/// assert_eq!(order.msg_type(), Some("D"));
/// assert_eq!(order.get(Tag::SYMBOL), Some("ACME"));
/// assert_eq!(order.to_string(), "35=D|11=ORDER-1|55=ACME|54=1|");
/// ```
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct Message {
    fields: Vec<(Tag, String)>,
}

impl Message {
    /// A message with only MsgType (35) set.
    pub fn new(msg_type: &str) -> Message {
        Message {
            fields: vec![(Tag::MSG_TYPE, msg_type.to_owned())],
        }
    }

    /// A message with no fields.
    pub fn empty() -> Message {
        Message::default()
    }

    /// Builder form of [`Message::set`].
    #[must_use]
    pub fn with(mut self, tag: Tag, value: impl Into<String>) -> Message {
        self.set(tag, value);
        self
    }

    /// Sets a field: replaces the value of the first field with this tag, or
    /// appends the field when the tag is absent.
    pub fn set(&mut self, tag: Tag, value: impl Into<String>) {
        let value = value.into();
        match self.fields.iter_mut().find(|(t, _)| *t == tag) {
            Some(field) => field.1 = value,
            None => self.fields.push((tag, value)),
        }
    }

    /// Appends a field even if the tag is already present (repeating groups).
    pub fn push(&mut self, tag: Tag, value: impl Into<String>) {
        self.fields.push((tag, value.into()));
    }

    /// The value of the first field with this tag.
    pub fn get(&self, tag: Tag) -> Option<&str> {
        self.fields
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }

    /// The values of every field with this tag, in order.
    pub fn get_all(&self, tag: Tag) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .filter(move |(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a field parsed as a number (or anything `FromStr`), with
    /// a typed error naming the field when it is absent or unparsable.
    pub fn get_parsed<T: FromStr>(&self, tag: Tag) -> Result<T, FixError> {
        let value = self.get(tag).ok_or(FixError::MissingField(tag))?;
        value.parse().map_err(|_| FixError::InvalidField {
            tag,
            value: value.to_owned(),
            reason: format!("not a valid {}", std::any::type_name::<T>()),
        })
    }

    /// Whether a field with this tag is present.
    pub fn contains(&self, tag: Tag) -> bool {
        self.fields.iter().any(|(t, _)| *t == tag)
    }

    /// Removes every field with this tag; returns the first removed value.
    pub fn remove(&mut self, tag: Tag) -> Option<String> {
        let first = self
            .fields
            .iter()
            .position(|(t, _)| *t == tag)
            .map(|i| self.fields[i].1.clone());
        self.fields.retain(|(t, _)| *t != tag);
        first
    }

    /// MsgType (35).
    pub fn msg_type(&self) -> Option<&str> {
        self.get(Tag::MSG_TYPE)
    }

    /// MsgSeqNum (34), if present and numeric.
    pub fn seq_num(&self) -> Option<u64> {
        self.get(Tag::MSG_SEQ_NUM)?.parse().ok()
    }

    /// Whether this is a session-level (admin) message: Logon, Heartbeat,
    /// TestRequest, ResendRequest, Reject, SequenceReset or Logout.
    pub fn is_admin(&self) -> bool {
        self.msg_type().is_some_and(msg_type::is_admin)
    }

    /// Whether a Y/N flag field is `Y`.
    pub fn flag(&self, tag: Tag) -> bool {
        self.get(tag) == Some("Y")
    }

    /// The fields in order.
    pub fn fields(&self) -> &[(Tag, String)] {
        &self.fields
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the message has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl FromIterator<(Tag, String)> for Message {
    fn from_iter<I: IntoIterator<Item = (Tag, String)>>(iter: I) -> Message {
        Message {
            fields: iter.into_iter().collect(),
        }
    }
}

/// `tag=value|` for every field, in order.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (tag, value) in &self.fields {
            write!(f, "{}={}|", tag.0, value)?;
        }
        Ok(())
    }
}

/// Parses the human form: `tag=value` fields separated by `|` or SOH. A
/// trailing separator is optional. BodyLength and CheckSum are kept as
/// written and not checked; use [`crate::Decoder`] for wire bytes.
impl FromStr for Message {
    type Err = FixError;

    fn from_str(s: &str) -> Result<Message, FixError> {
        let s = s.trim_end_matches(['|', '\u{1}']);
        if s.is_empty() {
            return Ok(Message::empty());
        }
        s.split(['|', '\u{1}'])
            .map(parse_field)
            .collect::<Result<Message, FixError>>()
    }
}

/// Parses one `tag=value` field.
pub(crate) fn parse_field(field: &str) -> Result<(Tag, String), FixError> {
    let (tag, value) = field
        .split_once('=')
        .ok_or_else(|| FixError::malformed(format!("field {field:?} has no '='")))?;
    let number: u32 = tag
        .parse()
        .ok()
        .filter(|n| *n > 0 && !tag.starts_with('+'))
        .ok_or_else(|| {
            FixError::malformed(format!(
                "tag {tag:?} in field {field:?} is not a positive number"
            ))
        })?;
    Ok((Tag(number), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_push_remove() {
        let mut m = Message::new("D").with(Tag::SYMBOL, "A");
        m.set(Tag::SYMBOL, "B");
        assert_eq!(m.get(Tag::SYMBOL), Some("B"));
        assert_eq!(m.len(), 2);
        m.push(Tag(448), "P1");
        m.push(Tag(448), "P2");
        assert_eq!(m.get_all(Tag(448)).collect::<Vec<_>>(), ["P1", "P2"]);
        assert_eq!(m.remove(Tag(448)).as_deref(), Some("P1"));
        assert!(!m.contains(Tag(448)));
        assert!(!m.is_admin());
        assert!(Message::new("0").is_admin());
    }

    #[test]
    fn parsed_values_have_typed_errors() {
        let m: Message = "35=D|34=x".parse().unwrap();
        assert!(matches!(
            m.get_parsed::<u64>(Tag::MSG_SEQ_NUM),
            Err(FixError::InvalidField {
                tag: Tag::MSG_SEQ_NUM,
                ..
            })
        ));
        assert_eq!(
            m.get_parsed::<u64>(Tag::PRICE).unwrap_err().to_string(),
            "required field Price(44) is missing"
        );
        assert_eq!(m.seq_num(), None);
    }

    #[test]
    fn pipe_form_round_trips() {
        let text = "8=FIX.4.4|9=5|35=0|10=161|";
        let m: Message = text.parse().unwrap();
        assert_eq!(m.to_string(), text);
        assert_eq!(m.msg_type(), Some("0"));
        let soh: Message = "35=0\u{1}112=T\u{1}".parse().unwrap();
        assert_eq!(soh.get(Tag::TEST_REQ_ID), Some("T"));
        assert_eq!(
            "58=a=b".parse::<Message>().unwrap().get(Tag::TEXT),
            Some("a=b")
        );
    }

    #[test]
    fn pipe_form_errors() {
        let e = "35=D|oops".parse::<Message>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed message: field \"oops\" has no '='"
        );
        let e = "x=1".parse::<Message>().unwrap_err();
        assert!(e.to_string().contains("is not a positive number"), "{e}");
        assert!("0=1".parse::<Message>().is_err());
    }

    #[test]
    fn versions() {
        assert_eq!("FIX.4.2".parse::<FixVersion>().unwrap(), FixVersion::Fix42);
        assert_eq!(FixVersion::Fix44.to_string(), "FIX.4.4");
        assert_eq!(
            "FIX.4.3".parse::<FixVersion>().unwrap_err().to_string(),
            "begin string \"FIX.4.3\" is not a supported fix version"
        );
    }
}

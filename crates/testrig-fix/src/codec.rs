//! The wire format: [`encode`] a [`Message`] into bytes, and a streaming
//! [`Decoder`] that turns bytes read from a socket back into messages.
//!
//! A FIX message on the wire is `8=BeginString SOH 9=BodyLength SOH
//! 35=MsgType SOH ... 10=CheckSum SOH`, where BodyLength counts the bytes
//! from after the `9=` field up to and including the SOH before `10=`, and
//! CheckSum is the sum of every byte before `10=`, modulo 256, written as
//! three digits.
//!
//! The decoder is fed whatever a `read` returned (half a message, three
//! messages) and yields complete messages one at a time. A frame that
//! fails validation is reported as an error and dropped, and decoding
//! resumes at the next `8=FIX`, because FIX says a garbled message is
//! ignored rather than ending the session.
//!
//! Raw data fields (such as RawData 96) that contain SOH are not supported.

use crate::error::FixError;
use crate::message::{FixVersion, Message, parse_field};
use crate::tag::Tag;

/// The field separator, SOH (0x01).
pub const SOH: u8 = 0x01;

/// Largest BodyLength the decoder accepts; a larger one is taken as garbage
/// rather than waiting for megabytes that will never come.
const MAX_BODY_LENGTH: usize = 1 << 20;

/// The FIX checksum: the sum of the bytes modulo 256.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b))
}

/// Encodes a message for the wire.
///
/// BeginString (8), BodyLength (9) and CheckSum (10) are computed; any
/// such fields in `message` are ignored. MsgType (35) comes first, then the
/// other header fields (see [`Tag::is_header`]), then the body, each group
/// in the message's order. Nothing else is checked, so a test can send a
/// message that a peer should reject.
pub fn encode(version: FixVersion, message: &Message) -> Vec<u8> {
    let mut body = Vec::with_capacity(128);
    let mut put = |tag: Tag, value: &str| {
        body.extend_from_slice(tag.0.to_string().as_bytes());
        body.push(b'=');
        body.extend_from_slice(value.as_bytes());
        body.push(SOH);
    };
    if let Some(msg_type) = message.msg_type() {
        put(Tag::MSG_TYPE, msg_type);
    }
    let skip = |t: Tag| matches!(t.0, 8 | 9 | 10 | 35);
    for (tag, value) in message.fields() {
        if tag.is_header() && !skip(*tag) {
            put(*tag, value);
        }
    }
    for (tag, value) in message.fields() {
        if !tag.is_header() && !skip(*tag) {
            put(*tag, value);
        }
    }
    let mut out = format!("8={version}\u{1}9={}\u{1}", body.len()).into_bytes();
    out.extend_from_slice(&body);
    let sum = checksum(&out);
    out.extend_from_slice(format!("10={sum:03}\u{1}").as_bytes());
    out
}

/// Decodes exactly one complete message from `bytes`.
///
/// Errors if the bytes are not one valid message (trailing bytes included).
pub fn decode(bytes: &[u8]) -> Result<Message, FixError> {
    let mut decoder = Decoder::new();
    decoder.feed(bytes);
    match decoder.next_frame()? {
        Some(frame) if decoder.buffered() == 0 => Ok(frame.message),
        Some(_) => Err(FixError::malformed(format!(
            "{} bytes follow the message",
            decoder.buffered()
        ))),
        None => Err(FixError::malformed("message is incomplete")),
    }
}

/// Shows wire bytes with `|` for SOH, for logs and assertion messages.
pub fn to_pipe_form(wire: &[u8]) -> String {
    String::from_utf8_lossy(wire).replace('\u{1}', "|")
}

/// One decoded message and the exact bytes it came from.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Frame {
    /// The message, with every field as received (8, 9 and 10 included).
    pub message: Message,
    /// The wire bytes of the message.
    pub wire: Vec<u8>,
}

/// A streaming decoder: [`feed`](Decoder::feed) it bytes, then call
/// [`next_frame`](Decoder::next_frame) until it returns `Ok(None)`.
///
/// ```
/// use testrig_fix::{Decoder, FixVersion, Message, encode};
///
/// let wire = encode(FixVersion::Fix44, &Message::new("0"));
/// let mut decoder = Decoder::new();
/// decoder.feed(&wire[..10]);
/// assert!(decoder.next_message().unwrap().is_none()); // not complete yet
/// decoder.feed(&wire[10..]);
/// let message = decoder.next_message().unwrap().unwrap();
/// assert_eq!(message.msg_type(), Some("0"));
/// ```
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    version: Option<FixVersion>,
}

impl Decoder {
    /// A decoder that accepts FIX.4.2 and FIX.4.4.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// A decoder that accepts only `version`.
    pub fn expecting(version: FixVersion) -> Decoder {
        Decoder {
            buf: Vec::new(),
            version: Some(version),
        }
    }

    /// Appends bytes read from the connection.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Like [`next_frame`](Decoder::next_frame), without the wire bytes.
    pub fn next_message(&mut self) -> Result<Option<Message>, FixError> {
        Ok(self.next_frame()?.map(|f| f.message))
    }

    /// The next complete message, `Ok(None)` if more bytes are needed, or
    /// the error that made the decoder drop a frame (call again to go on).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FixError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        if !self.buf.starts_with(b"8=") {
            if b"8=".starts_with(&self.buf) {
                return Ok(None);
            }
            let dropped = self.resync(1);
            return Err(FixError::malformed(format!(
                "discarded {dropped} bytes that do not start with BeginString(8)"
            )));
        }

        // 8=BeginString
        let Some(end8) = self.find_soh(0) else {
            return self.incomplete_or(24, |d| d.bad_begin(d.buf.len()));
        };
        let begin = String::from_utf8_lossy(&self.buf[2..end8]).into_owned();
        let known = begin.parse::<FixVersion>().ok();
        if known.is_none() || (self.version.is_some() && known != self.version) {
            return Err(self.bad_begin(end8));
        }

        // 9=BodyLength
        let start9 = end8 + 1;
        let Some(end9) = self.find_soh(start9) else {
            return self.incomplete_or(start9 + 12, |d| {
                d.resync(1);
                FixError::body_length("BodyLength(9) is not terminated")
            });
        };
        let field9 = &self.buf[start9..end9];
        let length = match field9.strip_prefix(b"9=") {
            None => {
                self.resync(1);
                return Err(FixError::body_length("second field is not BodyLength(9)"));
            }
            Some(digits) => {
                let text = String::from_utf8_lossy(digits).into_owned();
                match text.parse::<usize>() {
                    Ok(n) if n <= MAX_BODY_LENGTH && !text.starts_with('+') => n,
                    _ => {
                        self.resync(1);
                        return Err(FixError::body_length(format!(
                            "{text:?} is not a body length"
                        )));
                    }
                }
            }
        };
        let body_start = end9 + 1;
        let body_end = body_start + length;
        let total = body_end + 7; // "10=nnn" SOH
        if self.buf.len() < total {
            // Wait for the rest, unless the checksum field has already gone
            // by, which means BodyLength is too large.
            if let Some(actual) = self.find_trailer(body_start)
                && self.buf.len() >= actual + 7
            {
                self.resync(1);
                return Err(too_long_or_short(length, actual - body_start));
            }
            return Ok(None);
        }
        let trailer = &self.buf[body_end..total];
        let trailer_ok = length > 0
            && self.buf[body_end - 1] == SOH
            && trailer.starts_with(b"10=")
            && trailer[3..6].iter().all(u8::is_ascii_digit)
            && trailer[6] == SOH;
        if !trailer_ok {
            let err = match self.find_trailer(body_start) {
                Some(actual) => too_long_or_short(length, actual - body_start),
                None => FixError::body_length(format!(
                    "body length {length} does not end at CheckSum(10)"
                )),
            };
            self.resync(1);
            return Err(err);
        }
        let declared = String::from_utf8_lossy(&trailer[3..6]).into_owned();
        let computed = checksum(&self.buf[..body_end]);
        if declared.parse::<u8>().ok() != Some(computed) {
            self.buf.drain(..total);
            return Err(FixError::BadChecksum { declared, computed });
        }

        let wire: Vec<u8> = self.buf.drain(..total).collect();
        let mut message = Message::empty();
        message.push(Tag::BEGIN_STRING, begin);
        message.push(Tag::BODY_LENGTH, length.to_string());
        for field in wire[body_start..body_end - 1].split(|b| *b == SOH) {
            let (tag, value) = parse_field(&String::from_utf8_lossy(field))?;
            message.push(tag, value);
        }
        if message.fields()[2].0 != Tag::MSG_TYPE {
            return Err(FixError::malformed("third field is not MsgType(35)"));
        }
        message.push(Tag::CHECK_SUM, declared);
        Ok(Some(Frame { message, wire }))
    }

    fn find_soh(&self, from: usize) -> Option<usize> {
        self.buf[from..]
            .iter()
            .position(|b| *b == SOH)
            .map(|i| from + i)
    }

    /// Where the body would end if the first `SOH 10=` after `from` is the
    /// checksum field.
    fn find_trailer(&self, from: usize) -> Option<usize> {
        self.buf[from.saturating_sub(1)..]
            .windows(4)
            .position(|w| w == b"\x0110=")
            .map(|i| from.saturating_sub(1) + i + 1)
    }

    /// `Ok(None)` while a field that should be short is still arriving; an
    /// error once it has grown past `limit` bytes without ending.
    fn incomplete_or(
        &mut self,
        limit: usize,
        err: impl FnOnce(&mut Decoder) -> FixError,
    ) -> Result<Option<Frame>, FixError> {
        if self.buf.len() <= limit {
            Ok(None)
        } else {
            Err(err(self))
        }
    }

    fn bad_begin(&mut self, end: usize) -> FixError {
        let found = String::from_utf8_lossy(&self.buf[2..end.min(self.buf.len())]).into_owned();
        self.resync(1);
        FixError::BadBeginString {
            found,
            expected: self.version,
        }
    }

    /// Drops bytes up to the next `8=FIX` at or after `from`, keeping a tail
    /// that may be the start of one. Returns how many bytes were dropped.
    fn resync(&mut self, from: usize) -> usize {
        let from = from.min(self.buf.len());
        let cut = match self.buf[from..].windows(5).position(|w| w == b"8=FIX") {
            Some(i) => from + i,
            None => self.buf.len().saturating_sub(4).max(from),
        };
        self.buf.drain(..cut);
        cut
    }
}

fn too_long_or_short(declared: usize, actual: usize) -> FixError {
    FixError::body_length(format!(
        "body length {declared} does not match the actual {actual}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat() -> Message {
        Message::new("0")
            .with(Tag::SENDER_COMP_ID, "A")
            .with(Tag::TARGET_COMP_ID, "B")
            .with(Tag::MSG_SEQ_NUM, "7")
            .with(Tag::SENDING_TIME, "20240102-03:04:05.006")
    }

    fn pipe(s: &str) -> Vec<u8> {
        s.replace('|', "\u{1}").into_bytes()
    }

    #[test]
    fn encodes_length_and_checksum() {
        let wire = encode(FixVersion::Fix44, &heartbeat());
        let text = to_pipe_form(&wire);
        assert_eq!(
            text,
            "8=FIX.4.4|9=45|35=0|49=A|56=B|34=7|52=20240102-03:04:05.006|10=075|"
        );
        let body = "35=0|49=A|56=B|34=7|52=20240102-03:04:05.006|";
        assert_eq!(body.len(), 45);
        let before_sum = &wire[..wire.len() - 7];
        assert_eq!(format!("{:03}", checksum(before_sum)), "075");
    }

    #[test]
    fn header_fields_go_first_and_computed_fields_are_replaced() {
        let m = Message::new("D")
            .with(Tag::SYMBOL, "X")
            .with(Tag::MSG_SEQ_NUM, "2")
            .with(Tag::BODY_LENGTH, "999")
            .with(Tag::CHECK_SUM, "000");
        let text = to_pipe_form(&encode(FixVersion::Fix42, &m));
        assert!(
            text.starts_with("8=FIX.4.2|9=15|35=D|34=2|55=X|10="),
            "{text}"
        );
        assert_eq!(
            decode(&encode(FixVersion::Fix42, &m))
                .unwrap()
                .get(Tag::SYMBOL),
            Some("X")
        );
    }

    #[test]
    fn round_trip_keeps_fields_in_order() {
        let m = heartbeat().with(Tag::TEXT, "héllo = world");
        let wire = encode(FixVersion::Fix42, &m);
        let back = decode(&wire).unwrap();
        assert_eq!(back.get(Tag::BEGIN_STRING), Some("FIX.4.2"));
        let without: Message = back
            .fields()
            .iter()
            .filter(|(t, _)| !matches!(t.0, 8..=10))
            .cloned()
            .collect();
        assert_eq!(without, m);
        assert_eq!(encode(FixVersion::Fix42, &back), wire);
    }

    #[test]
    fn split_reads_and_several_messages_per_read() {
        let a = encode(FixVersion::Fix44, &heartbeat());
        let b = encode(FixVersion::Fix44, &Message::new("D").with(Tag::SYMBOL, "Y"));
        let all: Vec<u8> = [a.clone(), b.clone(), a.clone()].concat();
        // Byte by byte.
        let mut d = Decoder::expecting(FixVersion::Fix44);
        let mut got = Vec::new();
        for byte in &all {
            d.feed(std::slice::from_ref(byte));
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f.wire);
            }
        }
        assert_eq!(got, [a.clone(), b.clone(), a.clone()]);
        // All at once.
        let mut d = Decoder::new();
        d.feed(&all);
        assert_eq!(d.next_message().unwrap().unwrap().msg_type(), Some("0"));
        assert_eq!(d.next_message().unwrap().unwrap().msg_type(), Some("D"));
        assert_eq!(d.next_message().unwrap().unwrap().msg_type(), Some("0"));
        assert_eq!(d.next_message().unwrap(), None);
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn bad_checksum_is_reported_and_skipped() {
        let good = encode(FixVersion::Fix44, &heartbeat());
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 4..n - 1].copy_from_slice(b"123");
        let mut d = Decoder::new();
        d.feed(&bad);
        d.feed(&good);
        let err = d.next_frame().unwrap_err();
        assert_eq!(
            err.to_string(),
            "checksum 123 does not match the computed 075"
        );
        assert!(matches!(err, FixError::BadChecksum { computed: 75, .. }));
        assert_eq!(d.next_frame().unwrap().unwrap().wire, good);
    }

    #[test]
    fn checksum_is_three_digits() {
        // The heartbeat above sums to 75, written "075".
        let text = to_pipe_form(&encode(FixVersion::Fix44, &heartbeat()));
        assert!(text.ends_with("|10=075|"), "{text}");
        // "8=FIX.4.4|9=5|35=0|" sums to 163 (checked by hand).
        assert!(decode(&pipe("8=FIX.4.4|9=5|35=0|10=163|")).is_ok());
        let e = decode(&pipe("8=FIX.4.4|9=5|35=0|10=045|")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "checksum 045 does not match the computed 163"
        );
    }

    #[test]
    fn wrong_body_length() {
        let good = encode(FixVersion::Fix44, &heartbeat());
        let text = to_pipe_form(&good);
        // Too short: the declared end falls inside the body.
        let short = pipe(&text.replace("9=45|", "9=40|"));
        let mut d = Decoder::new();
        d.feed(&short);
        d.feed(&good);
        let e = d.next_frame().unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad body length: body length 40 does not match the actual 45"
        );
        assert_eq!(d.next_frame().unwrap().unwrap().wire, good);
        // Too long: noticed once the checksum field has gone by.
        let long = pipe(&text.replace("9=45|", "9=60|"));
        let mut d = Decoder::new();
        d.feed(&long);
        let e = d.next_frame().unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad body length: body length 60 does not match the actual 45"
        );
        // Not a number.
        let e = decode(&pipe(&text.replace("9=45|", "9=x|"))).unwrap_err();
        assert_eq!(e.to_string(), "bad body length: \"x\" is not a body length");
        let e = decode(&pipe("8=FIX.4.4|35=0|9=5|10=000|")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad body length: second field is not BodyLength(9)"
        );
    }

    #[test]
    fn wrong_begin_string() {
        let wire = encode(FixVersion::Fix42, &heartbeat());
        let mut d = Decoder::expecting(FixVersion::Fix44);
        d.feed(&wire);
        let e = d.next_frame().unwrap_err();
        assert_eq!(
            e.to_string(),
            "begin string \"FIX.4.2\" does not match the session's FIX.4.4"
        );
        let e = decode(&pipe("8=FIXT.1.1|9=5|35=0|10=000|")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "begin string \"FIXT.1.1\" is not a supported fix version"
        );
    }

    #[test]
    fn garbage_before_a_message_is_dropped() {
        let good = encode(FixVersion::Fix44, &heartbeat());
        let mut d = Decoder::new();
        d.feed(b"hello\r\n");
        d.feed(&good);
        let e = d.next_frame().unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed message: discarded 7 bytes that do not start with BeginString(8)"
        );
        assert_eq!(d.next_frame().unwrap().unwrap().wire, good);
        let mut d = Decoder::new();
        d.feed(b"8");
        assert_eq!(d.next_frame().unwrap(), None);
    }

    #[test]
    fn malformed_fields_inside_a_valid_frame() {
        let frame = |body: &str| {
            let body = body.replace('|', "\u{1}");
            let mut w = format!("8=FIX.4.4\u{1}9={}\u{1}{body}", body.len()).into_bytes();
            let sum = checksum(&w);
            w.extend_from_slice(format!("10={sum:03}\u{1}").as_bytes());
            w
        };
        let e = decode(&frame("35=0|junk|")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed message: field \"junk\" has no '='"
        );
        let e = decode(&frame("49=A|35=0|")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed message: third field is not MsgType(35)"
        );
        let m = decode(&frame("35=0|58=|")).unwrap();
        assert_eq!(m.get(Tag::TEXT), Some(""));
    }
}

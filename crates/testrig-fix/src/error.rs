//! [`FixError`]: everything that can go wrong in this crate, as one enum.
//!
//! Messages are lowercase fragments that say what was wrong, so a driver can
//! wrap them ("fix client: checksum 123 does not match the computed 045").

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::message::FixVersion;
use crate::tag::Tag;

/// An error from decoding, validating or running a FIX session.
///
/// It is `Clone` (I/O errors are shared behind an [`Arc`]) so a closed
/// session can hand the reason it closed to every later call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum FixError {
    /// The socket failed.
    Io(Arc<io::Error>),
    /// BeginString (8) is missing, unknown, or not the session's version.
    BadBeginString {
        /// What the message said ("" when the field was missing).
        found: String,
        /// The version the session expected, if it expected one.
        expected: Option<FixVersion>,
    },
    /// BodyLength (9) is missing, not a number, or does not match the body.
    BadBodyLength {
        /// What was wrong with it.
        reason: String,
    },
    /// CheckSum (10) does not match the sum of the bytes before it.
    BadChecksum {
        /// The value the message carried.
        declared: String,
        /// The checksum computed over the received bytes.
        computed: u8,
    },
    /// The bytes are not `tag=value<SOH>` fields in the required order.
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// A field the message needs is absent.
    MissingField(Tag),
    /// A field is present but its value can't be used.
    InvalidField {
        /// The field.
        tag: Tag,
        /// Its value.
        value: String,
        /// Why the value is refused.
        reason: String,
    },
    /// Nothing arrived in time.
    Timeout {
        /// What we were waiting for ("logon response", "an application message").
        waiting_for: String,
        /// How long we waited.
        after: Duration,
    },
    /// The logon was refused, by the peer or by us.
    LogonRefused {
        /// Why (the peer's Text (58) when it sent one).
        reason: String,
    },
    /// The session ended with a Logout (35=5) exchange.
    LoggedOut {
        /// The Text (58) of the peer's Logout, if any.
        text: Option<String>,
    },
    /// The peer sent a MsgSeqNum lower than expected without PossDupFlag,
    /// which FIX treats as fatal: we logged out and disconnected.
    SequenceTooLow {
        /// The sequence number we expected.
        expected: u64,
        /// The one we got.
        received: u64,
    },
    /// The connection ended without a Logout exchange.
    Disconnected {
        /// Why ("peer closed the connection", "no answer to test request").
        reason: String,
    },
    /// The peer broke the session protocol in some other way.
    Protocol {
        /// What it did.
        reason: String,
    },
    /// TLS could not be set up: a certificate, key or CA file is missing,
    /// unreadable or not what it should be (feature `tls`).
    TlsSetup {
        /// What failed, with the file named, and how to fix it.
        reason: String,
    },
    /// The TLS handshake failed: the peer does not speak TLS, or one side
    /// refused the other's certificate (feature `tls`).
    TlsHandshake {
        /// The peer's address.
        peer: String,
        /// Why, and what to check.
        reason: String,
    },
}

impl FixError {
    pub(crate) fn malformed(reason: impl Into<String>) -> FixError {
        FixError::Malformed {
            reason: reason.into(),
        }
    }

    pub(crate) fn body_length(reason: impl Into<String>) -> FixError {
        FixError::BadBodyLength {
            reason: reason.into(),
        }
    }

    pub(crate) fn protocol(reason: impl Into<String>) -> FixError {
        FixError::Protocol {
            reason: reason.into(),
        }
    }

    pub(crate) fn disconnected(reason: impl Into<String>) -> FixError {
        FixError::Disconnected {
            reason: reason.into(),
        }
    }

    /// Whether the error is about the bytes of one message (framing,
    /// checksum, fields) rather than the session or the connection.
    pub fn is_decode_error(&self) -> bool {
        matches!(
            self,
            FixError::BadBeginString { .. }
                | FixError::BadBodyLength { .. }
                | FixError::BadChecksum { .. }
                | FixError::Malformed { .. }
        )
    }
}

impl fmt::Display for FixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixError::Io(e) => write!(f, "i/o error: {e}"),
            FixError::BadBeginString { found, expected } => match (found.is_empty(), expected) {
                (true, _) => write!(f, "message does not start with BeginString(8)"),
                (false, Some(v)) => {
                    write!(f, "begin string {found:?} does not match the session's {v}")
                }
                (false, None) => write!(f, "begin string {found:?} is not a supported fix version"),
            },
            FixError::BadBodyLength { reason } => write!(f, "bad body length: {reason}"),
            FixError::BadChecksum { declared, computed } => {
                write!(
                    f,
                    "checksum {declared} does not match the computed {computed:03}"
                )
            }
            FixError::Malformed { reason } => write!(f, "malformed message: {reason}"),
            FixError::MissingField(tag) => write!(f, "required field {tag} is missing"),
            FixError::InvalidField { tag, value, reason } => {
                write!(f, "field {tag} value {value:?} is invalid: {reason}")
            }
            FixError::Timeout { waiting_for, after } => {
                write!(f, "timed out after {after:?} waiting for {waiting_for}")
            }
            FixError::LogonRefused { reason } => write!(f, "logon refused: {reason}"),
            FixError::LoggedOut { text: Some(text) } => write!(f, "session logged out: {text}"),
            FixError::LoggedOut { text: None } => write!(f, "session logged out"),
            FixError::SequenceTooLow { expected, received } => write!(
                f,
                "msgseqnum {received} is lower than the expected {expected} and is not a possible duplicate"
            ),
            FixError::Disconnected { reason } => write!(f, "disconnected: {reason}"),
            FixError::Protocol { reason } => write!(f, "protocol error: {reason}"),
            FixError::TlsSetup { reason } => f.write_str(reason),
            FixError::TlsHandshake { peer, reason } => {
                write!(f, "the TLS handshake with {peer} failed: {reason}")
            }
        }
    }
}

impl std::error::Error for FixError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FixError::Io(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// An I/O error as a lowercase fragment, without Rust's "(os error N)".
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) fn io_reason(error: &io::Error) -> String {
    let text = error.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl From<io::Error> for FixError {
    fn from(e: io::Error) -> FixError {
        FixError::Io(Arc::new(e))
    }
}

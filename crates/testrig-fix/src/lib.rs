//! FIX 4.2/4.4 messages and sessions for testrig's FIX drivers.
//!
//! - [`Tag`], [`Message`], [`FixVersion`]: typed fields and messages, with a
//!   `|`-separated human form for tests and logs.
//! - [`encode`] and [`Decoder`]: the wire format, with BodyLength and
//!   CheckSum computed and validated.
//! - [`Session`], [`Acceptor`], [`connect`]: a blocking session engine over
//!   `std::net` for both roles (logon, heartbeats, test requests, sequence
//!   numbers, resend requests and gap fills, rejects, logout), with a
//!   [`MessageLog`] of everything sent and received.
//! - With the `tls` feature, the same sessions over TLS (the system's
//!   OpenSSL): `connect_tls` with a `TlsClientConfig`, and
//!   `Acceptor::bind_tls` with a `TlsServerConfig`.

mod codec;
mod error;
mod message;
mod session;
mod tag;
mod time;
#[cfg(feature = "tls")]
mod tls;
mod transport;

pub use codec::{Decoder, Frame, SOH, checksum, decode, encode, to_pipe_form};
pub use error::FixError;
pub use message::{FixVersion, Message};
#[cfg(feature = "tls")]
pub use session::connect_tls;
pub use session::{Acceptor, Direction, LogEntry, MessageLog, Session, SessionConfig, connect};
pub use tag::{Tag, msg_type};
pub use time::utc_timestamp;
#[cfg(feature = "tls")]
pub use tls::{TlsAcceptor, TlsClientConfig, TlsConnector, TlsServerConfig};

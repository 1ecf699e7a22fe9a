//! JSON in and out of the wire types, compiled once, here.
//!
//! serde's code for a type is generic over the serializer and the deserializer, so every
//! crate that writes an [`Event`] into a writer of its own, or reads one from a reader of its
//! own, compiles all of that code again (a fifth of testrig's own build was this). These
//! methods fix the one writer (a `Vec<u8>`) and the one reader (a byte slice) testrig uses:
//! the code is generated in this crate, beside the rest of the dependency graph, and debug
//! builds downstream reuse it instead of generating their own (rustc shares generic code
//! between crates when it does not optimize).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{
    DriverReport, Entry, EntryDetail, ErrorInfo, Event, Parameters, Report, ReportNode, Status,
};

/// A wire type as compact JSON: what reports, event streams and worker pipes carry.
pub trait WireJson: Serialize + DeserializeOwned {
    /// Appends the value's JSON to `out`.
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()>;

    /// Reads a value from JSON bytes.
    fn from_json(bytes: &[u8]) -> serde_json::Result<Self>;
}

macro_rules! wire_json {
    ($($type:ty),* $(,)?) => {$(
        impl WireJson for $type {
            fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
                serde_json::to_writer(out, self)
            }

            fn from_json(bytes: &[u8]) -> serde_json::Result<Self> {
                serde_json::from_slice(bytes)
            }
        }
    )*};
}

wire_json!(
    Event,
    Entry,
    EntryDetail,
    ErrorInfo,
    Status,
    Report,
    ReportNode,
    DriverReport,
    Parameters
);

impl ReportNode {
    /// Appends the node's JSON, indented by two spaces as `serde_json::to_writer_pretty`
    /// writes it (a plan's `--list json`).
    pub fn write_json_pretty(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer_pretty(out, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeKind;

    #[test]
    fn wire_json_round_trips_and_matches_serde_json() {
        let event = Event::TestcaseStarted {
            uid: "t/s/\"case\"".into(),
            time: 1.25,
        };
        let mut bytes = Vec::new();
        event.write_json(&mut bytes).unwrap();
        assert_eq!(bytes, serde_json::to_vec(&event).unwrap());
        assert_eq!(Event::from_json(&bytes).unwrap(), event);
        assert!(Event::from_json(b"{\"type\":").is_err());

        let node = ReportNode::new(NodeKind::Plan, "p", "p");
        let mut pretty = Vec::new();
        node.write_json_pretty(&mut pretty).unwrap();
        assert_eq!(pretty, serde_json::to_vec_pretty(&node).unwrap());
    }
}

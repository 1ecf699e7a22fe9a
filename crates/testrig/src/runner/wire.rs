//! The short lines a worker writes for the three events every testcase has: its start, its
//! entries and its (error-free) end; every other event and notice is a JSON line
//! ([`super::worker`]).
//!
//! A plan of many quick testcases sends three lines per testcase, and the parent's
//! supervisor parsed each as a JSON event: on two cores that parse and the worker's
//! escaping competed with the testcases and the report's fold (measured with callgrind on
//! plan10k: the parent's supervisors spent 11,000 instructions per entry, most of them
//! buffering the entry twice, once for its flattened detail and once for the detail's
//! `type` tag). So:
//! - `S <time> <uid>` and `F <time> <status> <uid>`: the time as the 16 hex digits of the
//!   `f64`'s bits (exact, and no float formatting), the status as its position in
//!   [`Status::ALL`], the UID the rest of the line as it is;
//! - `E <length> <uid><entry>`: the UID's length in bytes, the UID, and the entry as a JSON
//!   array of its common fields and its detail, which reads without buffering the
//!   common fields (the detail keeps its tagged form).
//!
//! A UID holding a line break, or an end carrying an error, goes as a JSON line.

use std::io::Write;

use serde::{Deserialize, Serialize};
use testrig_model::{Entry, EntryDetail, Event, SourceLocation, Status};

/// Appends `event` as a short line to `out` if it has one; `None` when it must go as JSON.
/// A `Vec` rather than any writer: the entry's JSON then reuses the serializer code
/// testrig-model compiled for its wire types (see `WireJson`).
pub(crate) fn write_short_line(out: &mut Vec<u8>, event: &Event) -> Option<std::io::Result<()>> {
    // Written piece by piece rather than with `write!`: the formatting machinery cost more
    // than the rest of the line.
    let written = match event {
        Event::TestcaseStarted { uid, time } if fits(uid) => (|| {
            out.write_all(b"S ")?;
            out.write_all(&hex_bits(*time))?;
            out.write_all(b" ")?;
            out.write_all(uid.as_bytes())?;
            out.write_all(b"\n")
        })(),
        Event::TestcaseFinished {
            uid,
            time,
            status,
            error: None,
        } if fits(uid) => (|| {
            out.write_all(b"F ")?;
            out.write_all(&hex_bits(*time))?;
            out.write_all(b" ")?;
            out.write_all(decimal(status.position()).as_bytes())?;
            out.write_all(b" ")?;
            out.write_all(uid.as_bytes())?;
            out.write_all(b"\n")
        })(),
        Event::EntryRecorded { uid, entry } if fits(uid) => (|| {
            out.write_all(b"E ")?;
            out.write_all(decimal(uid.len()).as_bytes())?;
            out.write_all(b" ")?;
            out.write_all(uid.as_bytes())?;
            let wire = EntryOut(
                &entry.description,
                entry.passed,
                entry.location.as_ref(),
                entry.timestamp,
                &entry.detail,
            );
            serde_json::to_writer(&mut *out, &wire)?;
            out.write_all(b"\n")
        })(),
        _ => return None,
    };
    Some(written)
}

/// The 16 lowercase hex digits of a float's bits.
fn hex_bits(value: f64) -> [u8; 16] {
    let bits = value.to_bits();
    std::array::from_fn(|index| b"0123456789abcdef"[((bits >> (60 - 4 * index)) & 0xf) as usize])
}

/// A number's decimal digits.
fn decimal(mut value: usize) -> DecimalDigits {
    let mut digits = DecimalDigits {
        bytes: [0; 20],
        start: 20,
    };
    loop {
        digits.start -= 1;
        digits.bytes[digits.start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return digits;
        }
    }
}

struct DecimalDigits {
    bytes: [u8; 20],
    start: usize,
}

impl DecimalDigits {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

/// An entry on the wire: description, passed, location, timestamp, detail.
#[derive(Serialize)]
struct EntryOut<'a>(
    &'a str,
    Option<bool>,
    Option<&'a SourceLocation>,
    f64,
    &'a EntryDetail,
);

#[derive(Deserialize)]
struct EntryIn(
    String,
    Option<bool>,
    Option<SourceLocation>,
    f64,
    EntryDetail,
);

fn fits(uid: &str) -> bool {
    !uid.contains(['\n', '\r'])
}

/// Whether a line from a worker is a short line (not JSON).
pub(crate) fn is_short_line(line: &[u8]) -> bool {
    matches!(line.get(..2), Some(b"S " | b"F " | b"E "))
}

/// The event of a short line, line break included; `None` if it is malformed. A line without
/// its break is the last words of a worker that died while writing it: a start or an end cut
/// short would still read, as a shorter UID (another testcase's, perhaps).
pub(crate) fn read_short_line(line: &[u8]) -> Option<Event> {
    let line = line.strip_suffix(b"\n")?;
    let text = std::str::from_utf8(line).ok()?;
    let (kind, rest) = text.split_at_checked(2)?;
    let (head, rest) = rest.split_once(' ')?;
    match kind {
        "S " => Some(Event::TestcaseStarted {
            uid: rest.to_string(),
            time: time(head)?,
        }),
        "F " => {
            let (status, uid) = rest.split_once(' ')?;
            let status = *Status::ALL.get(status.parse::<usize>().ok()?)?;
            Some(Event::TestcaseFinished {
                uid: uid.to_string(),
                time: time(head)?,
                status,
                error: None,
            })
        }
        "E " => {
            let (uid, entry) = rest.split_at_checked(head.parse().ok()?)?;
            let EntryIn(description, passed, location, timestamp, detail) =
                serde_json::from_slice(entry.as_bytes()).ok()?;
            Some(Event::EntryRecorded {
                uid: uid.to_string(),
                entry: Entry::new(description, passed, location, timestamp, detail),
            })
        }
        _ => None,
    }
}

fn time(hex: &str) -> Option<f64> {
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
        .map(f64::from_bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use testrig_model::ErrorInfo;

    fn round_trip(event: &Event) -> Option<Event> {
        let mut out = Vec::new();
        write_short_line(&mut out, event)?.unwrap();
        assert!(is_short_line(&out), "{}", String::from_utf8_lossy(&out));
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(out.last(), Some(&b'\n'));
        Some(read_short_line(&out).expect("a line it wrote reads back"))
    }

    fn entry(description: &str, timestamp: f64) -> Entry {
        Entry::new(
            description,
            Some(false),
            Some(SourceLocation::new("src/plan \"x\".rs", 3, 9)),
            timestamp,
            EntryDetail::Log {
                message: "line one\nline two".into(),
                value: Some(serde_json::json!({"k": [1, 2.5, "three"]})),
            },
        )
    }

    #[test]
    fn starts_entries_and_ends_read_back_exactly() {
        let times = [
            1796320433.2147388,
            0.1 + 0.2,
            1e-7,
            0.0,
            -0.0,
            4.0e15,
            f64::NAN,
        ];
        for time in times {
            for uid in [
                "T/S/case 1",
                "Test:\"q\"/Sü ite/c (x=1, y=' ')",
                " lead\t/trail ",
            ] {
                let started = Event::TestcaseStarted {
                    uid: uid.into(),
                    time,
                };
                let Some(Event::TestcaseStarted { uid: read, time: t }) = round_trip(&started)
                else {
                    panic!("not a start");
                };
                assert_eq!((read.as_str(), t.to_bits()), (uid, time.to_bits()));
                for status in Status::ALL {
                    let Some(Event::TestcaseFinished {
                        uid: read,
                        time: t,
                        status: s,
                        error: None,
                    }) = round_trip(&Event::TestcaseFinished {
                        uid: uid.into(),
                        time,
                        status,
                        error: None,
                    })
                    else {
                        panic!("not an end");
                    };
                    assert_eq!(
                        (read.as_str(), t.to_bits(), s),
                        (uid, time.to_bits(), status)
                    );
                }
                if time.is_finite() {
                    let recorded = Event::EntryRecorded {
                        uid: uid.into(),
                        entry: entry("checks \"this\"\n", time),
                    };
                    assert_eq!(round_trip(&recorded), Some(recorded.clone()));
                }
            }
        }
    }

    #[test]
    fn an_entry_with_non_finite_values_crosses_the_wire() {
        let recorded = Event::EntryRecorded {
            uid: "t/s/c".into(),
            entry: Entry::new(
                "close",
                Some(false),
                None,
                2.0,
                EntryDetail::IsClose {
                    actual: f64::INFINITY,
                    expected: 1.0,
                    rel_tol: 1e-9,
                    abs_tol: 0.0,
                },
            ),
        };
        assert_eq!(round_trip(&recorded), Some(recorded.clone()));
    }

    #[test]
    fn a_line_break_in_the_uid_or_an_error_goes_as_json() {
        let mut out = Vec::new();
        for uid in ["a\nb", "a\rb"] {
            let broken = Event::TestcaseStarted {
                uid: uid.into(),
                time: 1.0,
            };
            assert!(write_short_line(&mut out, &broken).is_none());
            let broken = Event::EntryRecorded {
                uid: uid.into(),
                entry: entry("e", 1.0),
            };
            assert!(write_short_line(&mut out, &broken).is_none());
        }
        let errored = Event::TestcaseFinished {
            uid: "t/s/c".into(),
            time: 1.0,
            status: Status::Error,
            error: Some(ErrorInfo::new("boom", None)),
        };
        assert!(write_short_line(&mut out, &errored).is_none());
        assert!(out.is_empty());
    }

    #[test]
    fn malformed_short_lines_are_refused() {
        for line in [
            &b"S \n"[..],
            b"S x t/s/c\n",
            b"S 3ff00000000000 t/s/c\n",
            b"F 3ff0000000000000 99 t/s/c\n",
            b"F 3ff0000000000000 t/s/c\n",
            b"X 3ff0000000000000 t/s/c\n",
            b"S 3ff0000000000000\n",
            b"E 99 t/s/c[]\n",
            b"E 5 t/s/c[\"d\"]\n",
            b"E x t/s/c[]\n",
            b"E 2 \xc3\xa9[]\n",
            b"E 1 \xc3\xa9[]\n",
            // Cut off before its line break: a worker died while writing it.
            b"S 3ff0000000000000 t/s/c",
            b"F 3ff0000000000000 0 t/s/c",
        ] {
            assert_eq!(
                read_short_line(line),
                None,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        assert!(read_short_line(b"S 3ff0000000000000 t/s/c\n").is_some());
    }
}

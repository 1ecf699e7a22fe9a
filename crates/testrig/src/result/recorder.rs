//! The result recorder: Testplan's `result` object.
//!
//! Every assertion builds an [`Entry`] with the values it compared and hands it to
//! [`Recorder::record`], which keeps it and emits it on the event stream, so the report
//! builder and live views see it as it happens. A failed assertion never aborts the
//! testcase; it only makes [`Recorder::passed`] false.

use std::panic::Location;
use std::path::{Path, PathBuf};

use testrig_model::{Entry, EntryDetail, Event, SourceLocation};

use crate::events::{EventSink, now};

/// Records assertions, logs and attachments for one testcase (or one suite hook).
#[derive(Debug)]
pub struct Recorder {
    uid: String,
    sink: Option<EventSink>,
    runpath: PathBuf,
    attachments_dir: PathBuf,
    entries: Vec<Entry>,
    /// Entries being collected under open `group` headings, innermost last.
    open_groups: Vec<Vec<Entry>>,
    failed: bool,
}

impl Recorder {
    /// A recorder for node `uid` that emits on `sink`; attachments are copied into
    /// `attachments_dir` and reported relative to the plan's `runpath`.
    pub fn new(
        uid: impl Into<String>,
        sink: Option<EventSink>,
        runpath: impl Into<PathBuf>,
        attachments_dir: impl Into<PathBuf>,
    ) -> Recorder {
        Recorder {
            uid: uid.into(),
            sink,
            runpath: runpath.into(),
            attachments_dir: attachments_dir.into(),
            entries: Vec::new(),
            open_groups: Vec::new(),
            failed: false,
        }
    }

    /// A recorder that only keeps entries in memory (for unit tests of assertions).
    pub fn detached() -> Recorder {
        let dir = std::env::temp_dir().join("testrig-detached");
        Recorder::new("detached", None, dir.clone(), dir)
    }

    /// The UID of the node this recorder writes to.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// False once any assertion has failed.
    pub fn passed(&self) -> bool {
        !self.failed
    }

    /// Top-level entries recorded so far by a recorder without an event sink (a
    /// [`detached`](Self::detached) one, as in unit tests of assertions). A recorder in a
    /// run hands each entry to the event stream and keeps no copy: the report holds it.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The plan runpath that attachment paths are relative to.
    pub fn runpath(&self) -> &Path {
        &self.runpath
    }

    /// The folder attachments of this testcase are copied into.
    pub fn attachments_dir(&self) -> &Path {
        &self.attachments_dir
    }

    /// Records an entry: inside an open group it joins the group, otherwise it is kept and
    /// emitted. Returns whether the entry passed (display-only entries count as passed).
    pub fn record(&mut self, entry: Entry) -> bool {
        let passed = entry.passed != Some(false);
        if !passed {
            self.failed = true;
        }
        if let Some(group) = self.open_groups.last_mut() {
            group.push(entry);
            return passed;
        }
        match &self.sink {
            Some(sink) => {
                sink.emit(Event::EntryRecorded {
                    uid: self.uid.clone(),
                    entry,
                });
            }
            None => self.entries.push(entry),
        }
        passed
    }

    /// Builds an entry stamped with the caller's source location and the current time.
    #[track_caller]
    pub fn make_entry(
        description: impl Into<String>,
        passed: Option<bool>,
        detail: EntryDetail,
    ) -> Entry {
        let caller = Location::caller();
        Entry::new(
            description.into(),
            passed,
            Some(SourceLocation::new(
                caller.file(),
                caller.line(),
                caller.column(),
            )),
            now(),
            detail,
        )
    }

    /// Groups the entries recorded by `body` under a heading; the group passes when all of
    /// them do.
    #[track_caller]
    pub fn group<T>(
        &mut self,
        heading: impl Into<String>,
        body: impl FnOnce(&mut Recorder) -> T,
    ) -> T {
        let mut entry = Recorder::make_entry(
            heading,
            None,
            EntryDetail::Group {
                entries: Vec::new(),
            },
        );
        self.open_groups.push(Vec::new());
        let failed_before = self.failed;
        self.failed = false;
        let value = body(self);
        let grouped = self.open_groups.pop().unwrap_or_default();
        let group_passed = !self.failed;
        self.failed = failed_before;
        let has_assertions = grouped.iter().any(|entry| entry.passed.is_some());
        entry.passed = has_assertions.then_some(group_passed);
        entry.detail = EntryDetail::Group { entries: grouped };
        self.record(entry);
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(message: &str) -> Entry {
        Recorder::make_entry(
            "",
            None,
            EntryDetail::Log {
                message: message.into(),
                value: None,
            },
        )
    }

    #[test]
    fn groups_collect_entries_and_pass_only_when_all_pass() {
        let mut recorder = Recorder::detached();
        recorder.group("heading", |r| {
            r.record(log("inside"));
            r.record(Recorder::make_entry(
                "bad",
                Some(false),
                EntryDetail::Fail {
                    message: "x".into(),
                },
            ));
        });
        assert_eq!(recorder.entries().len(), 1);
        assert_eq!(recorder.entries()[0].passed, Some(false));
        assert!(!recorder.passed());
        match &recorder.entries()[0].detail {
            EntryDetail::Group { entries } => assert_eq!(entries.len(), 2),
            other => panic!("not a group: {other:?}"),
        }
    }

    #[test]
    fn entries_carry_the_callers_location() {
        let entry = log("here");
        let location = entry.location.unwrap();
        assert!(location.file.ends_with("recorder.rs"), "{location:?}");
    }

    #[test]
    fn recorded_entries_are_emitted_as_events() {
        let (sink, events) = crate::events::collecting_sink();
        let hub = sink.hub().clone();
        let mut recorder = Recorder::new("t/s/c", Some(sink), "/tmp", "/tmp");
        recorder.record(log("hello"));
        hub.settle();
        match events.lock().unwrap().remove(0) {
            Event::EntryRecorded { uid, entry } => {
                assert_eq!(uid, "t/s/c");
                assert_eq!(entry.description, "");
            }
            other => panic!("unexpected event {other:?}"),
        }
        assert!(recorder.entries().is_empty(), "the report holds the entry");
    }
}

//! The event stream exporter (`--events PATH`): every event of the run as one JSON line, in
//! the hub's envelope (`{"schema", "seq", "time", "event"}`), for tools that follow or replay
//! a run. A subscriber of the event hub, like the console.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::events::{EventEnvelope, EventSubscriber, SubscriberError};
use crate::report::ReportBuilder;

/// Writes each event as a JSON line to a file.
pub struct EventStreamWriter {
    path: PathBuf,
    out: BufWriter<File>,
    /// The line being written: serialized into a `Vec`, whose serializer code testrig-model
    /// already compiled (`WireJson`), then copied into the file's buffer.
    line: Vec<u8>,
}

impl EventStreamWriter {
    /// Creates (or empties) `path`; its folder is created if missing.
    pub fn create(path: &Path) -> Result<EventStreamWriter, String> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|error| {
                format!(
                    "failed to create the folder of the event stream `{}`: {error}",
                    path.display()
                )
            })?;
        }
        let file = File::create(path).map_err(|error| {
            format!(
                "failed to create the event stream `{}`: {error}; pass --events a writable path",
                path.display()
            )
        })?;
        Ok(EventStreamWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            line: Vec::new(),
        })
    }

    fn error(&self, source: std::io::Error) -> SubscriberError {
        SubscriberError {
            subscriber: format!("event stream `{}`", self.path.display()),
            source,
        }
    }
}

impl EventSubscriber for EventStreamWriter {
    fn on_event(
        &mut self,
        envelope: &EventEnvelope<'_>,
        _report: &ReportBuilder,
    ) -> Result<(), SubscriberError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, envelope)
            .map_err(std::io::Error::from)
            .and_then(|()| {
                self.line.push(b'\n');
                self.out.write_all(&self.line)
            })
            .map_err(|error| self.error(error))
    }

    fn finish(&mut self) -> Result<(), SubscriberError> {
        self.out.flush().map_err(|error| self.error(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Event, EventHub};
    use testrig_model::{NodeKind, Report, ReportNode};

    #[test]
    fn each_event_is_one_numbered_json_line() {
        let dir = std::env::temp_dir().join(format!("testrig-events-{}", std::process::id()));
        let path = dir.join("run/events.jsonl");
        let plan = ReportNode::new(NodeKind::Plan, "p", "p");
        let hub = EventHub::start(Report::new(plan, "host".into(), "/tmp".into()));
        hub.subscribe(Box::new(EventStreamWriter::create(&path).unwrap()));
        let sink = hub.sink();
        sink.emit(Event::TestStarted {
            uid: "p/t".into(),
            time: 1.0,
        });
        sink.emit(Event::PlanFinished {
            time: 2.0,
            interrupted: false,
        });
        let (_, failures) = hub.finish();
        assert!(failures.is_empty());
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["schema"], 1);
        assert_eq!(lines[1]["seq"], 2);
        assert_eq!(lines[1]["event"]["event"], "plan_finished");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

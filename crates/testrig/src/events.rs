//! The sending end of the event stream (DESIGN.md §3).
//!
//! Every producer — the result recorder, the runner, suite hooks — holds an [`EventSink`];
//! the report builder holds the only receiver and folds events into the report tree.

use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use testrig_model::Event;

/// A cloneable handle that sends events to the report builder.
#[derive(Clone, Debug)]
pub struct EventSink {
    sender: mpsc::Sender<Event>,
}

impl EventSink {
    /// A sink and the receiver the report builder reads from.
    pub fn channel() -> (EventSink, mpsc::Receiver<Event>) {
        let (sender, receiver) = mpsc::channel();
        (EventSink { sender }, receiver)
    }

    /// Sends an event. After the builder has finished (an interrupted run that abandoned a
    /// testcase), events have no reader any more and are dropped on purpose.
    pub fn emit(&self, event: Event) {
        let _ = self.sender.send(event);
    }
}

/// Seconds since the Unix epoch, the time base of every event and report timer.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

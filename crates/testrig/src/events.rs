//! The sending end of the event stream (DESIGN.md §3).
//!
//! Every producer — the result recorder, the runner, suite hooks — holds an [`EventSink`];
//! the report builder holds the only receiver and folds events into the report tree.

use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{SystemTime, UNIX_EPOCH};

pub use testrig_model::Event;

/// A cloneable handle that sends events to the report builder.
#[derive(Clone, Debug)]
pub struct EventSink {
    sender: mpsc::Sender<Event>,
    /// Events sent through this sink and its clones so far; sending under it numbers the
    /// events in the order the receiver gets them.
    sent: Arc<Mutex<u64>>,
}

impl EventSink {
    /// A sink and the receiver the report builder reads from.
    pub fn channel() -> (EventSink, mpsc::Receiver<Event>) {
        let (sender, receiver) = mpsc::channel();
        let sent = Arc::new(Mutex::new(0));
        (EventSink { sender, sent }, receiver)
    }

    /// How many events were sent so far (the number of the last one).
    pub fn sent(&self) -> u64 {
        *self.sent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends an event and returns its number: the receiver's count of events once it has
    /// taken this one (a caller that must see its event folded waits for that count).
    /// After the builder has finished (an interrupted run that abandoned a testcase),
    /// events have no reader any more and are dropped on purpose.
    pub fn emit(&self, event: Event) -> u64 {
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        *sent += 1;
        let _ = self.sender.send(event);
        *sent
    }
}

/// Seconds since the Unix epoch, the time base of every event and report timer.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

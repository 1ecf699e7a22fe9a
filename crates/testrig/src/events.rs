//! The event hub, the spine of DESIGN.md §3: one stream of events, one owner of the report
//! tree, everyone else subscribes.
//!
//! Every producer — the runner, the result recorder, environments, the interactive API —
//! holds an [`EventSink`]. Emitting numbers the event and queues it; the hub's thread folds
//! each event into its [`ReportBuilder`] and then hands it, in an [`EventEnvelope`], to each
//! subscriber (the console, the JSON-lines stream, the live UI), so every reader sees events
//! in one order. The same hub serves batch runs, `--ui` and interactive mode; nobody reaches
//! the tree except through events and [`EventHub::read`].
//!
//! Why a thread of its own rather than folding on the emitting thread: producers never wait
//! for each other or for a slow subscriber (parallel testcases would queue on the hub's
//! lock, measured 30 % slower on 10,000 short testcases), and subscribers learn when the
//! stream goes quiet ([`EventSubscriber::idle`]), which is when buffered output should go
//! out. A caller that must see its event folded waits for its number
//! ([`EventHub::wait_folded`]).

use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
pub use testrig_model::Event;
use testrig_model::Report;

use crate::report::ReportBuilder;

/// The version of the [`EventEnvelope`] format written to event streams; it changes when a
/// reader of an older stream could misread a newer one.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// One event as subscribers get it and event streams carry it:
/// `{"schema": 1, "seq": 7, "time": 1764672000.5, "event": {"event": "testcase_started", …}}`.
#[derive(Debug, Serialize)]
pub struct EventEnvelope<'a> {
    /// [`EVENT_SCHEMA_VERSION`].
    pub schema: u32,
    /// Position in the stream, from 1; a report snapshot says which events it holds.
    pub seq: u64,
    /// When it happened (the producer's time, or when the hub took it), in seconds since
    /// the Unix epoch.
    pub time: f64,
    /// What happened.
    pub event: &'a Event,
}

/// Why a subscriber stopped taking events.
#[derive(Debug)]
pub struct SubscriberError {
    /// Which subscriber (`console`, `event stream \`events.jsonl\``).
    pub subscriber: String,
    /// What went wrong.
    pub source: std::io::Error,
}

impl std::fmt::Display for SubscriberError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} stopped receiving events: {}; the reports are still written",
            self.subscriber, self.source
        )
    }
}

impl std::error::Error for SubscriberError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Something that follows the event stream: the console, an event stream file, the live
/// UI. Called on the hub's thread, in stream order, with the report already holding the
/// event; it should be quick.
pub trait EventSubscriber: Send + Sync {
    /// Takes one event. An error unsubscribes it, and the run says why when it ends.
    fn on_event(
        &mut self,
        envelope: &EventEnvelope<'_>,
        report: &ReportBuilder,
    ) -> Result<(), SubscriberError>;

    /// No event is waiting: a good time to write out what it buffered.
    fn idle(&mut self) -> Result<(), SubscriberError> {
        Ok(())
    }

    /// The stream has ended: write out what it buffered.
    fn finish(&mut self) -> Result<(), SubscriberError> {
        self.idle()
    }
}

enum HubMessage {
    Event(Event),
    /// Events that arrived together (a worker's pipe read): one wake-up of the fold.
    Events(Vec<Event>),
    /// No event follows: the hub's thread ends.
    End,
}

struct HubState {
    /// The number of the last event folded.
    seq: u64,
    /// `None` once the run is over and the report was taken.
    builder: Option<ReportBuilder>,
    subscribers: Vec<Box<dyn EventSubscriber>>,
    /// Why subscribers stopped, in order.
    failures: Vec<SubscriberError>,
}

/// How many events may wait for the hub's thread. Past it producers wait: a run of a
/// million testcases whose events come faster than they are folded (or than a slow console
/// takes them) would otherwise queue them all in memory. Nothing the hub's thread does
/// waits for a producer, so the wait always ends.
const QUEUE_BOUND: usize = 1024;

/// Takes each event of a hub that forwards instead of folding (a worker process's).
pub(crate) trait EventForwarder: Send {
    /// Passes one event on.
    fn forward(&mut self, event: &Event);
    /// Writes out what is buffered: the stream ends.
    fn flush(&mut self);
}

/// Numbers events in the order they are queued.
struct Sending {
    sender: SyncSender<HubMessage>,
    /// Set for a worker process's hub: events go here, in order, instead of to a fold.
    forward: Option<Box<dyn EventForwarder>>,
    /// Events queued so far (the number of the last one).
    sent: u64,
    /// The stream has ended: late events (from a testcase abandoned by an interrupt) have
    /// nobody to tell and are dropped on purpose.
    ended: bool,
}

/// How far the hub has folded, and whether anyone waits for it (waking nobody would still
/// cost a system call per event).
#[derive(Default)]
struct Folded {
    seq: u64,
    waiting: usize,
}

/// The folding of a hub made with [`EventHub::on_caller`], to run on the caller's thread.
pub struct HubFolding {
    hub: Arc<EventHub>,
    receiver: Receiver<HubMessage>,
}

impl HubFolding {
    /// Folds events until the stream ends.
    pub fn run(self) {
        self.hub.fold(&self.receiver);
    }
}

/// The one owner of the report tree and of the subscribers' order (see the module docs).
pub struct EventHub {
    state: RwLock<HubState>,
    sending: Mutex<Sending>,
    /// The number of the last event folded, for callers that wait for theirs.
    folded: (Mutex<Folded>, Condvar),
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub").finish_non_exhaustive()
    }
}

impl EventHub {
    /// A hub whose tree starts as `report` (the skeleton of what will run), with its thread
    /// started.
    pub fn start(report: Report) -> Arc<EventHub> {
        let (hub, folding) = EventHub::on_caller(report);
        let thread = std::thread::Builder::new()
            .name("testrig-event-hub".into())
            .spawn(move || folding.run());
        match thread {
            Ok(thread) => *hub.thread.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread),
            Err(error) => {
                // Without its thread the hub cannot fold: say so once and drop the events,
                // rather than block every producer.
                eprintln!(
                    "error: failed to start the event hub ({error}); the report will be empty"
                );
                hub.lock_sending().ended = true;
            }
        }
        hub
    }

    /// A hub whose folding runs on the thread that calls [`HubFolding::run`], until
    /// [`end_stream`](Self::end_stream). A batch run folds on its main thread, which has
    /// nothing else to do: its allocations (the entries copied into the tree) then reuse the
    /// memory that the finished tests' definitions free, instead of growing a thread's heap
    /// of its own (about 200 MB less at a million testcases).
    pub fn on_caller(report: Report) -> (Arc<EventHub>, HubFolding) {
        let (sender, receiver) = mpsc::sync_channel(QUEUE_BOUND);
        let hub = Arc::new(EventHub {
            state: RwLock::new(HubState {
                seq: 0,
                builder: Some(ReportBuilder::new(report)),
                subscribers: Vec::new(),
                failures: Vec::new(),
            }),
            sending: Mutex::new(Sending {
                sender,
                forward: None,
                sent: 0,
                ended: false,
            }),
            folded: (Mutex::new(Folded::default()), Condvar::new()),
            thread: Mutex::new(None),
        });
        let folding = HubFolding {
            hub: Arc::clone(&hub),
            receiver,
        };
        (hub, folding)
    }

    /// A hub that folds nothing and hands each event, in order and on the emitting thread,
    /// to `forward`: a worker process's, whose events the parent's hub folds. Forwarding on
    /// the emitting thread means an event is out of the process before the code after it
    /// runs, so a crash right after loses nothing.
    pub(crate) fn forwarding(forward: Box<dyn EventForwarder>) -> Arc<EventHub> {
        let (hub, _folding) = EventHub::on_caller(Report::new(
            testrig_model::ReportNode::new(testrig_model::NodeKind::Plan, "", ""),
            String::new(),
            String::new(),
        ));
        hub.write().builder = None;
        hub.lock_sending().forward = Some(forward);
        hub
    }

    /// Ends the stream: events emitted later are dropped, and the folding returns once it
    /// has folded the ones before.
    pub fn end_stream(&self) {
        let mut sending = self.lock_sending();
        if !sending.ended {
            sending.ended = true;
            let _ = sending.sender.send(HubMessage::End);
            if let Some(forward) = &mut sending.forward {
                forward.flush();
            }
        }
    }

    /// Adds a subscriber; it gets every event folded from now on.
    pub fn subscribe(&self, subscriber: Box<dyn EventSubscriber>) {
        self.write().subscribers.push(subscriber);
    }

    /// A handle producers emit through.
    pub fn sink(self: &Arc<Self>) -> EventSink {
        EventSink {
            hub: Arc::clone(self),
        }
    }

    fn queue_all(&self, events: Vec<Event>) -> u64 {
        let mut sending = self.lock_sending();
        if sending.ended || events.is_empty() {
            return sending.sent;
        }
        sending.sent += events.len() as u64;
        match &mut sending.forward {
            Some(forward) => events.iter().for_each(|event| forward.forward(event)),
            None => {
                let _ = sending.sender.send(HubMessage::Events(events));
            }
        }
        sending.sent
    }

    fn queue(&self, event: Event) -> u64 {
        let mut sending = self.lock_sending();
        if sending.ended {
            return sending.sent;
        }
        sending.sent += 1;
        match &mut sending.forward {
            Some(forward) => forward.forward(&event),
            None => {
                let _ = sending.sender.send(HubMessage::Event(event));
            }
        }
        sending.sent
    }

    /// The hub's thread: folds each event, then tells the subscribers.
    fn fold(&self, receiver: &Receiver<HubMessage>) {
        loop {
            let message = match receiver.try_recv() {
                Ok(message) => message,
                Err(TryRecvError::Empty) => {
                    self.tell_subscribers(|subscriber| subscriber.idle());
                    match receiver.recv() {
                        Ok(message) => message,
                        Err(_) => return,
                    }
                }
                Err(TryRecvError::Disconnected) => return,
            };
            let seq = match message {
                HubMessage::Event(event) => self.fold_one(&event),
                HubMessage::Events(events) => {
                    let mut seq = None;
                    for event in &events {
                        seq = self.fold_one(event).or(seq);
                    }
                    seq
                }
                HubMessage::End => return,
            };
            let Some(seq) = seq else {
                continue;
            };
            let (folded, changed) = &self.folded;
            let mut folded = folded.lock().unwrap_or_else(PoisonError::into_inner);
            folded.seq = seq;
            if folded.waiting > 0 {
                changed.notify_all();
            }
        }
    }

    /// Folds one event and tells the subscribers; its number, unless the report was taken.
    fn fold_one(&self, event: &Event) -> Option<u64> {
        let mut guard = self.write();
        let state = &mut *guard;
        let builder = state.builder.as_mut()?;
        state.seq += 1;
        builder.apply(event);
        let envelope = EventEnvelope {
            schema: EVENT_SCHEMA_VERSION,
            seq: state.seq,
            // The time the producer stamped, when it did: one clock read less per event.
            time: event.time().unwrap_or_else(now),
            event,
        };
        tell_each(&mut state.subscribers, &mut state.failures, |subscriber| {
            subscriber.on_event(&envelope, builder)
        });
        Some(state.seq)
    }

    fn tell_subscribers(
        &self,
        tell: impl FnMut(&mut Box<dyn EventSubscriber>) -> Result<(), SubscriberError>,
    ) {
        let mut guard = self.write();
        let state = &mut *guard;
        tell_each(&mut state.subscribers, &mut state.failures, tell);
    }

    /// Waits until the event numbered `number` by [`EventSink::emit`] is folded (a second
    /// at most: a subscriber could be stuck), so an answer sent after it is never
    /// contradicted by a read that follows.
    pub fn wait_folded(&self, number: u64) {
        let (folded, changed) = &self.folded;
        let mut guard = folded.lock().unwrap_or_else(PoisonError::into_inner);
        guard.waiting += 1;
        let (mut guard, _) = changed
            .wait_timeout_while(guard, Duration::from_secs(1), |folded| folded.seq < number)
            .unwrap_or_else(PoisonError::into_inner);
        guard.waiting -= 1;
    }

    /// Waits until every event emitted so far is folded (see [`wait_folded`](Self::wait_folded)).
    pub fn settle(&self) {
        let sent = self.lock_sending().sent;
        self.wait_folded(sent);
    }

    /// Reads the tree and the number of the last event it holds; `None` once the run is
    /// over and the report was taken.
    pub fn read<T>(&self, read: impl FnOnce(u64, &ReportBuilder) -> T) -> Option<T> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let builder = state.builder.as_ref()?;
        Some(read(state.seq, builder))
    }

    /// A copy of the report as it is now.
    pub fn report(&self) -> Option<Report> {
        self.read(|_, builder| builder.report().clone())
    }

    /// Ends the stream once every event emitted so far is folded: later events are
    /// dropped, the subscribers write out what they buffered, and the finished report is
    /// returned (`None` if it was taken already) with why any subscriber stopped.
    pub fn finish(&self) -> (Option<Report>, Vec<SubscriberError>) {
        self.end_stream();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            eprintln!("error: the event hub panicked; the report may miss the last events");
        }
        self.tell_subscribers(|subscriber| subscriber.finish());
        let mut state = self.write();
        state.subscribers.clear();
        let failures = std::mem::take(&mut state.failures);
        (state.builder.take().map(ReportBuilder::finish), failures)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HubState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_sending(&self) -> std::sync::MutexGuard<'_, Sending> {
        self.sending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Tells each subscriber something; one that fails is unsubscribed and its error kept.
fn tell_each(
    subscribers: &mut Vec<Box<dyn EventSubscriber>>,
    failures: &mut Vec<SubscriberError>,
    mut tell: impl FnMut(&mut Box<dyn EventSubscriber>) -> Result<(), SubscriberError>,
) {
    subscribers.retain_mut(|subscriber| match tell(subscriber) {
        Ok(()) => true,
        Err(error) => {
            failures.push(error);
            false
        }
    });
}

/// A cloneable handle that emits events into an [`EventHub`].
#[derive(Clone, Debug)]
pub struct EventSink {
    hub: Arc<EventHub>,
}

impl EventSink {
    /// Emits an event and returns its number (see [`EventHub::wait_folded`]).
    pub fn emit(&self, event: Event) -> u64 {
        self.hub.queue(event)
    }

    /// Emits events in order, as one message to the hub (events that arrived together, as a
    /// worker's); returns the number of the last.
    pub(crate) fn emit_all(&self, events: Vec<Event>) -> u64 {
        self.hub.queue_all(events)
    }

    /// The hub this sink emits into.
    pub fn hub(&self) -> &Arc<EventHub> {
        &self.hub
    }
}

/// A sink into a hub of an empty plan, and every event emitted into it (unit tests).
#[cfg(test)]
pub(crate) fn collecting_sink() -> (EventSink, Arc<std::sync::Mutex<Vec<Event>>>) {
    struct Collector(Arc<std::sync::Mutex<Vec<Event>>>);
    impl EventSubscriber for Collector {
        fn on_event(
            &mut self,
            envelope: &EventEnvelope<'_>,
            _report: &ReportBuilder,
        ) -> Result<(), SubscriberError> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(envelope.event.clone());
            Ok(())
        }
    }
    let plan = testrig_model::ReportNode::new(testrig_model::NodeKind::Plan, "plan", "plan");
    let hub = EventHub::start(Report::new(plan, "host".into(), "/tmp".into()));
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    hub.subscribe(Box::new(Collector(events.clone())));
    (hub.sink(), events)
}

/// Seconds since the Unix epoch, the time base of every event and report timer.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use testrig_model::{NodeKind, ReportNode, Status};

    /// Keeps what it is given; fails on the event numbered `fail_at`.
    struct Keeper {
        seen: Arc<Mutex<Vec<(u64, bool)>>>,
        fail_at: Option<u64>,
    }

    impl EventSubscriber for Keeper {
        fn on_event(
            &mut self,
            envelope: &EventEnvelope<'_>,
            report: &ReportBuilder,
        ) -> Result<(), SubscriberError> {
            if self.fail_at == Some(envelope.seq) {
                return Err(SubscriberError {
                    subscriber: "keeper".into(),
                    source: std::io::Error::other("disk full"),
                });
            }
            let folded = report
                .node("p/t")
                .is_some_and(|node| node.status != Status::Unknown);
            self.seen.lock().unwrap().push((envelope.seq, folded));
            Ok(())
        }
    }

    fn skeleton() -> Report {
        let mut plan = ReportNode::new(NodeKind::Plan, "p", "p");
        plan.children
            .push(ReportNode::new(NodeKind::Testcase, "p/t", "t"));
        Report::new(plan, "host".into(), "/tmp".into())
    }

    #[test]
    fn subscribers_get_numbered_events_after_the_report_holds_them() {
        let hub = EventHub::start(skeleton());
        let seen = Arc::new(Mutex::new(Vec::new()));
        hub.subscribe(Box::new(Keeper {
            seen: seen.clone(),
            fail_at: None,
        }));
        let sink = hub.sink();
        assert_eq!(
            sink.emit(Event::TestcaseStarted {
                uid: "p/t".into(),
                time: 1.0
            }),
            1
        );
        let finished = Event::TestcaseFinished {
            uid: "p/t".into(),
            time: 2.0,
            status: Status::Passed,
            error: None,
        };
        let number = sink.emit(finished);
        assert_eq!(number, 2);
        hub.wait_folded(number);
        assert_eq!(*seen.lock().unwrap(), vec![(1, false), (2, true)]);
        assert_eq!(hub.read(|seq, _| seq), Some(2));
        let (report, failures) = hub.finish();
        assert_eq!(report.unwrap().plan.status, Status::Passed);
        assert!(failures.is_empty());
        // After the end, events are dropped, not folded into a report nobody reads.
        assert_eq!(
            sink.emit(Event::TestcaseStarted {
                uid: "p/t".into(),
                time: 3.0
            }),
            2
        );
        assert!(hub.report().is_none());
    }

    #[test]
    fn a_failing_subscriber_is_dropped_and_its_error_kept() {
        let hub = EventHub::start(skeleton());
        let seen = Arc::new(Mutex::new(Vec::new()));
        hub.subscribe(Box::new(Keeper {
            seen: seen.clone(),
            fail_at: Some(1),
        }));
        let sink = hub.sink();
        sink.emit(Event::TestcaseStarted {
            uid: "p/t".into(),
            time: 1.0,
        });
        sink.emit(Event::TestcaseStarted {
            uid: "p/t".into(),
            time: 1.0,
        });
        let (_, failures) = hub.finish();
        assert!(seen.lock().unwrap().is_empty());
        assert_eq!(failures.len(), 1);
        assert_eq!(
            failures[0].to_string(),
            "the keeper stopped receiving events: disk full; the reports are still written"
        );
    }
}

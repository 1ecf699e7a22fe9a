//! Exporters: the finished report (or the live event stream) turned into console text,
//! JSON, JSON lines of events, HTML and JUnit XML.

mod atomic;
mod console;
mod entry_text;
mod event_stream;
mod failure;
mod html;
mod json;
#[cfg(feature = "junit")]
mod junit;
mod listing;
mod web_assets;

pub use console::{ConsoleOptions, ConsoleReporter, ConsoleSubscriber, Verbosity};
pub use event_stream::EventStreamWriter;
#[cfg(feature = "interactive")]
pub use html::render_html_report;
pub use html::write_html_report;
pub use json::write_json_report;
#[cfg(feature = "junit")]
pub use junit::write_junit_reports;
pub use listing::{write_terse, write_tree};
#[cfg(feature = "interactive")]
pub(crate) use web_assets::web_file;

//! The result recorder and its assertion families.

mod recorder;

pub use recorder::Recorder;

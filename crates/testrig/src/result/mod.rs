//! The result recorder and its assertion families.

mod basic;
mod comparator;
mod dict;
mod pattern;
mod recorder;
mod table;
mod text;

pub use basic::{Container, ErrorExpectation};
pub use comparator::Comparator;
pub use dict::{DictAssertions, DictMatchOptions};
pub use recorder::Recorder;
pub use table::{ExpectedTable, Table, TableAssertions, TableMatchOptions};
pub use text::RegexAssertions;

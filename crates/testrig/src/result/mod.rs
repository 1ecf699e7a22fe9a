//! The result recorder and its assertion families.

mod basic;
mod comparator;
mod dict;
#[cfg(feature = "fix")]
mod fix;
mod recorder;
mod table;
mod text;

pub use basic::{Container, ErrorExpectation};
pub use comparator::Comparator;
pub use dict::{DictAssertions, DictMatchOptions};
#[cfg(feature = "fix")]
pub use fix::{FIX_HEADER_TAGS, FixAssertions, FixMatchOptions};
pub use recorder::Recorder;
pub use table::{ExpectedTable, Table, TableAssertions, TableMatchOptions};
pub use text::RegexAssertions;

//! The report: the builder that folds events into the tree.

mod builder;

pub use builder::ReportBuilder;

//! The JSON exporter: the whole report tree, as the `testrig-model` types serialize it.

use std::path::Path;

use testrig_model::Report;

use crate::export::atomic::write_atomically;

/// Writes the report as JSON to `path`, atomically.
pub fn write_json_report(report: &Report, path: &Path) -> std::io::Result<()> {
    write_atomically(path, |writer| {
        serde_json::to_writer(writer, report).map_err(std::io::Error::other)
    })
}

//! What a run writes out: the report files (JSON, JUnit, HTML) and the `--list` listings.

use std::io::Write;

use testrig_model::Report;

use crate::cli::ListFormat;
#[cfg(feature = "junit")]
use crate::export::write_junit_reports;
use crate::export::{
    ConsoleReporter, write_html_report, write_json_report, write_terse, write_tree,
};
use crate::testing::{PlanError, Selection};

use super::config::ReportFiles;

/// Writes the requested report files; false if any could not be written.
pub(super) fn write_reports(
    report: &Report,
    files: &ReportFiles,
    console: &mut ConsoleReporter,
) -> bool {
    let mut all_written = true;
    if let Some(path) = &files.json {
        match write_json_report(report, path) {
            Ok(()) => console.note(&format!("JSON report: {}", path.display())),
            Err(error) => {
                eprintln!(
                    "error: failed to write the JSON report `{}`: {error}",
                    path.display()
                );
                all_written = false;
            }
        }
    }
    if let Some(path) = &files.html {
        match write_html_report(report, path, files.editor_url.as_deref()) {
            Ok(()) => console.note(&format!("HTML report: {}", path.display())),
            Err(error) => {
                eprintln!(
                    "error: failed to write the HTML report `{}`: {error}",
                    path.display()
                );
                all_written = false;
            }
        }
    }
    // Without the `junit` feature `--xml` is refused before the run.
    #[cfg(feature = "junit")]
    if let Some(path) = &files.junit {
        match write_junit_reports(report, path) {
            Ok(files) => {
                let names: Vec<String> = files
                    .iter()
                    .map(|file| file.display().to_string())
                    .collect();
                console.note(&format!("JUnit XML: {}", names.join(", ")));
            }
            Err(error) => {
                eprintln!(
                    "error: failed to write the JUnit XML `{}`: {error}",
                    path.display()
                );
                all_written = false;
            }
        }
    }
    all_written
}

pub(super) fn list(
    plan_name: &str,
    selection: &Selection,
    format: ListFormat,
) -> Result<(), PlanError> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = match format {
        ListFormat::Terse => write_terse(selection, &mut out),
        ListFormat::Pretty => write_tree(selection, &mut out),
        ListFormat::Json => {
            let mut json = Vec::new();
            selection
                .skeleton(plan_name)
                .write_json_pretty(&mut json)
                .map_err(std::io::Error::other)
                .and_then(|()| {
                    json.push(b'\n');
                    out.write_all(&json)
                })
        }
    };
    written
        .and_then(|()| out.flush())
        .map_err(|source| PlanError::Output {
            message: format!("failed to print the list: {source}"),
            source,
        })
}

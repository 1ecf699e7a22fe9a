//! Plain-text rendering of entries for the console and JUnit messages.
//! (Minimal version; the assertion-families work replaces it with per-family rendering.)

use testrig_model::Entry;

/// One line saying what an entry is and whether it passed.
pub fn entry_summary_line(entry: &Entry) -> String {
    let mark = match entry.passed {
        Some(true) => "(Passed)",
        Some(false) => "(Failed)",
        None => "",
    };
    format!("{mark} {} {}", entry.detail.type_name(), entry.description)
        .trim()
        .to_string()
}

/// Appends the lines of an entry, indented.
pub fn render_entry(entry: &Entry, indent: usize, out: &mut Vec<String>) {
    out.push(format!("{:indent$}{}", "", entry_summary_line(entry)));
}

//! `--list`: the selection as a tree, as libtest's terse lines, or as JSON.

use std::io::Write;

use crate::testing::Selection;

/// Prints the selection as an indented tree with tags and counts.
pub fn write_tree(selection: &Selection, out: &mut impl Write) -> std::io::Result<()> {
    let mut suites = 0;
    for test in &selection.tests {
        let count: usize = test.suites.iter().map(|suite| suite.cases.len()).sum();
        writeln!(
            out,
            "{}{} ({count} testcases)",
            test.name,
            tags_suffix(&test.tags, &[])
        )?;
        for suite in &test.suites {
            suites += 1;
            writeln!(
                out,
                "  {}{} ({} testcases)",
                suite.name,
                tags_suffix(&suite.tags, &test.tags),
                suite.cases.len()
            )?;
            let mut open_group: Option<String> = None;
            for case in &suite.cases {
                let mut indent = "    ";
                if let Some(group_uid) = case.group_uid() {
                    if open_group.as_ref() != Some(&group_uid) {
                        writeln!(out, "    {} (parametrized)", case.base_name())?;
                        open_group = Some(group_uid);
                    }
                    indent = "      ";
                } else {
                    open_group = None;
                }
                let mut notes = String::new();
                if let Some(reason) = &case.skip {
                    notes.push_str(&format!(" (skip: {reason})"));
                }
                if let Some(xfail) = case.xfail() {
                    notes.push_str(&format!(" (xfail: {})", xfail.reason));
                }
                writeln!(
                    out,
                    "{indent}{}{}{notes}",
                    case.name(),
                    tags_suffix(&case.tags, &suite.tags)
                )?;
            }
        }
    }
    writeln!(
        out,
        "{} tests, {suites} suites, {} testcases",
        selection.tests.len(),
        selection.case_count()
    )
}

/// Own tags only: the ones a node adds to what it inherits.
fn tags_suffix(tags: &[String], inherited: &[String]) -> String {
    let own: Vec<&str> = tags
        .iter()
        .filter(|tag| !inherited.contains(tag))
        .map(String::as_str)
        .collect();
    if own.is_empty() {
        String::new()
    } else {
        format!(" [tags: {}]", own.join(", "))
    }
}

/// libtest's listing: one `name: test` line per testcase and nothing else.
pub fn write_terse(selection: &Selection, out: &mut impl Write) -> std::io::Result<()> {
    for case in selection.cases() {
        writeln!(out, "{}: test", case.libtest_name())?;
    }
    Ok(())
}

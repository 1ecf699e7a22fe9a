//! `--affected` for a run: starting the source fingerprints early, narrowing the selection
//! to what a change affects, and saying why.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use crate::cli::Options;
use crate::impact::{AffectedRun, AffectedSources, inputs_digest};
use crate::testing::{MultiTest, PlanError, Selection};

/// `--affected`: starts reading the plan's sources.
pub(super) fn start_affected(plan: &str) -> Result<AffectedSources, PlanError> {
    let root = crate::interactive::source_root().ok_or_else(|| {
        PlanError(
            "--affected needs a cargo workspace: no Cargo.lock above the working folder".into(),
        )
    })?;
    AffectedSources::start(plan, Path::new(&root)).map_err(PlanError)
}

/// `--affected`: narrows the selection to the affected testcases and says why.
pub(super) fn select_affected(
    sources: AffectedSources,
    tests: &[MultiTest],
    selection: &mut Selection,
    options: &Options,
    in_workers: bool,
) -> Result<AffectedRun, PlanError> {
    let root = sources.root().to_path_buf();
    let digests: BTreeMap<&str, Arc<str>> = tests
        .iter()
        .map(|test| {
            let digest = inputs_digest(&root, &test.declared_inputs());
            (test.name(), Arc::from(digest))
        })
        .collect();
    let no_inputs: Arc<str> = Arc::from("");
    let uids: BTreeMap<String, Arc<str>> = selection
        .cases()
        .map(|case| {
            let uid = case.uid();
            let test = uid.split('/').next().unwrap_or_default();
            let digest = Arc::clone(digests.get(test).unwrap_or(&no_inputs));
            (uid, digest)
        })
        .collect();
    // Every testcase of the plan, whatever the filters: records of the others are dropped.
    // Listed only when the filters left some out.
    let plan_count: usize = tests
        .iter()
        .flat_map(|test| &test.suites)
        .map(|suite| suite.info().cases.len())
        .sum();
    let plan_testcases =
        (uids.len() != plan_count).then(|| Selection::every_case_uid(tests).collect());
    let total = uids.len();
    let mut affected = AffectedRun::prepare(sources, uids, plan_testcases).map_err(PlanError)?;
    let selected = affected.selected();
    let selected_count = selected.as_ref().map_or(total, BTreeSet::len);
    let mut out = std::io::stdout().lock();
    let nothing = if selected_count == 0 {
        "; nothing to record"
    } else {
        ""
    };
    let _ = match &affected.everything {
        Some(reason) => writeln!(
            out,
            "affected: selected {selected_count} of {total} testcases (running everything: {reason}){nothing}"
        ),
        None => writeln!(
            out,
            "affected: selected {selected_count} of {total} testcases{nothing}"
        ),
    };
    if options.explain || options.dry_run {
        for (uid, reasons) in affected.explain() {
            let _ = writeln!(out, "  {}: {}", uid.replace('/', "::"), reasons.join("; "));
        }
    }
    if !options.dry_run && selected_count != 0 {
        let _ = match &affected.not_recording {
            Some(why) => writeln!(out, "affected: not recording coverage: {why}"),
            None if in_workers => writeln!(
                out,
                "affected: recording coverage in worker processes: each reads its own counters, its testcases one at a time, MultiTests in parallel"
            ),
            None => writeln!(
                out,
                "affected: recording coverage, so testcases run one at a time (the coverage counters are process-wide: two testcases at once would mix their counts)"
            ),
        };
    }
    if let Some(selected) = &selected
        && selected.len() != total
    {
        selection.retain_cases(|case| selected.contains(&case.uid()));
    }
    // The reasons and the selected set hold a string per testcase of the plan and are not
    // needed any more: freed on a thread of their own, while the plan goes on.
    let reasons = std::mem::take(&mut affected.reasons);
    crate::background::free_in_background((reasons, selected));
    Ok(affected)
}

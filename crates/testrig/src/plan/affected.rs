//! `--affected` for a run: starting the source fingerprints early, narrowing the selection
//! to what a change affects, and saying why.

#[cfg(feature = "affected")]
use std::collections::{BTreeMap, BTreeSet};
#[cfg(feature = "affected")]
use std::io::Write;
#[cfg(feature = "affected")]
use std::path::Path;
#[cfg(feature = "affected")]
use std::sync::Arc;

#[cfg(feature = "affected")]
use crate::cli::Options;
#[cfg(feature = "affected")]
pub(crate) use crate::impact::AffectedRun;
#[cfg(feature = "affected")]
use crate::impact::{AffectedSources, inputs_digest};
#[cfg(feature = "affected")]
use crate::testing::{MultiTest, PlanError, Selection};

/// `--affected`: starts reading the plan's sources.
#[cfg(feature = "affected")]
pub(super) fn start_affected(plan: &str) -> Result<AffectedSources, PlanError> {
    let root = crate::compile_dir::source_root().ok_or_else(|| {
        PlanError::Affected(
            "--affected needs a cargo workspace: no Cargo.lock above the working folder".into(),
        )
    })?;
    AffectedSources::start(plan, Path::new(&root)).map_err(PlanError::Affected)
}

/// `--affected`: narrows the selection to the affected testcases and says why.
#[cfg(feature = "affected")]
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
    let mut affected =
        AffectedRun::prepare(sources, uids, plan_testcases).map_err(PlanError::Affected)?;
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

/// Without the `affected` feature nothing records: `--affected` is refused before the run
/// (see `Plan::execute`), and these types have no values, so the batch run's recording
/// paths are statically unreachable rather than stubbed.
#[cfg(not(feature = "affected"))]
mod off {
    use std::sync::Arc;
    use std::thread::JoinHandle;

    use testrig_model::Status;

    use crate::runner::{CoverageSink, TestcaseObserver, WindowCoverage};

    /// An affected run, which a plan built without the feature never has.
    pub(crate) enum AffectedRun {}

    /// Its recorder, likewise.
    #[derive(Debug)]
    pub(crate) enum CoverageRecorder {}

    /// What a recording saved.
    pub(crate) struct Saved {
        pub recorded: usize,
        pub incomplete: usize,
        pub warning: Option<String>,
    }

    impl AffectedRun {
        pub(crate) fn records(&self) -> bool {
            match *self {}
        }

        pub(crate) fn recorder(&self) -> CoverageRecorder {
            match *self {}
        }

        pub(crate) fn start_writer(
            self: &Arc<Self>,
            _recorder: &Arc<CoverageRecorder>,
        ) -> JoinHandle<Result<Saved, String>> {
            match **self {}
        }
    }

    impl CoverageRecorder {
        pub(crate) fn finish(&self) {
            match *self {}
        }

        pub(crate) fn problems(&self) -> Vec<String> {
            match *self {}
        }
    }

    impl TestcaseObserver for CoverageRecorder {
        fn before(&self, _uid: &str) {
            match *self {}
        }

        fn after(&self, _uid: &str, _status: Status, _completed: bool) {
            match *self {}
        }
    }

    impl CoverageSink for CoverageRecorder {
        fn absorb(&self, _window: WindowCoverage) {
            match *self {}
        }
    }
}
#[cfg(not(feature = "affected"))]
pub(crate) use off::AffectedRun;

//! `--affected`: choosing the testcases to run from the dependency database, and recording
//! what each testcase depended on.
//!
//! While recording, the coverage counters are snapshotted and reset at every scope
//! boundary the runner reports, and what ran in each window is charged to the testcases it
//! can affect: before the first boundary (the plan's `main`, suite constructors, plan and
//! environment definitions) to every testcase of the plan; a MultiTest's environment start
//! and stop to every testcase of that MultiTest; suite setup and teardown to every testcase
//! of that suite; a testcase's window (its pre/post-testcase hooks included) to itself. A
//! testcase's record is its own window and every window charged to it. Testcases run one at
//! a time: the counters are process-wide and not atomic.
//!
//! Only testcases that ran to completion get new records (not those filtered out, skipped,
//! timed out, cancelled or still running when the run was interrupted); the others keep
//! theirs. Nothing is recorded when a source differs from what the binary was compiled
//! from.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use testrig_model::Status;

use crate::impact::build::{BUILD_SNAPSHOT_VARIABLE, BuildSnapshot};
use crate::impact::coverage::{check_version, is_available, reset_counters, snapshot};
use crate::impact::database::{DatabaseState, ImpactDatabase, TestcaseRecord};
use crate::impact::fingerprint::{
    SourceUnit, UnitKind, fingerprint_workspace, source_key, unit_index_for_span,
};
use crate::impact::profile::{CoverageMap, FunctionRef, executed_spans};
use crate::impact::reload::database_path;
use crate::impact::selection::{Reason, select};
use crate::runner::{TestcaseObserver, interrupted};

/// The environment variable `cargo testrig affected` sets to the run variant (toolchain,
/// target, profile, flags, features, lock file); recorded coverage is only reused within
/// one variant, and each variant has a database of its own.
pub const RUN_VARIANT_VARIABLE: &str = "TESTRIG_RUN_VARIANT";

/// The selection for this run and the state needed to record it.
#[derive(Debug)]
pub struct AffectedRun {
    root: PathBuf,
    database_path: PathBuf,
    variant: String,
    units: Vec<SourceUnit>,
    /// The items digest of each fingerprinted file.
    items: BTreeMap<String, String>,
    /// The inputs digest of each testcase's test, stored with what it executed.
    inputs: BTreeMap<String, String>,
    /// Every testcase of the plan, whatever the filters: records of others are dropped.
    plan_testcases: BTreeSet<String>,
    /// Every testcase of the plan with why it is selected (empty: not affected).
    pub reasons: BTreeMap<String, Vec<Reason>>,
    /// Why everything runs, when it does (no usable database, unparsable sources).
    pub everything: Option<String>,
    /// Why nothing is recorded, when it is not (a source changed since the build).
    pub not_recording: Option<String>,
}

/// What a save wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    /// Testcases that ran to completion and got new records.
    pub recorded: usize,
    /// Testcases that started but did not complete: they keep their previous records.
    pub incomplete: usize,
}

impl AffectedRun {
    /// Reads the sources and the database and decides what runs. `testcases` are the UIDs of
    /// every testcase the other filters selected, each with the digest of its test's
    /// declared inputs ([`inputs_digest`](crate::impact::inputs_digest)); `plan_testcases`
    /// every testcase of the plan. Nothing is written.
    pub fn prepare(
        plan: &str,
        workspace_root: &Path,
        testcases: &BTreeMap<String, String>,
        plan_testcases: BTreeSet<String>,
    ) -> Result<AffectedRun, String> {
        if !is_available() {
            return Err(format!(
                "--affected needs a plan built with coverage instrumentation: run it with `cargo testrig affected --test <name>` (plan `{plan}` was built without it)"
            ));
        }
        check_version().map_err(|error| error.to_string())?;
        let variant = std::env::var(RUN_VARIANT_VARIABLE).unwrap_or_else(|_| "default".to_string());
        let database_path = database_path(workspace_root, plan, &variant);
        let mut everything = None;
        let build = match std::env::var_os(BUILD_SNAPSHOT_VARIABLE) {
            Some(path) => Some(BuildSnapshot::read(Path::new(&path))?),
            None => None,
        };
        // Only files the instrumented code was compiled from can hold code a testcase
        // executed: fingerprinting those (the coverage mapping's, and every source the
        // compiler read for a workspace crate, which includes files with items only), not
        // every file under the workspace, keeps start-up short in a large workspace. Code a
        // build script generated into the target folder counts like any source: testcases
        // execute it.
        let mut files: BTreeSet<PathBuf> = CoverageMap::current()
            .map_err(|error| error.to_string())?
            .files()
            .into_iter()
            .map(Path::to_path_buf)
            .collect();
        files.extend(build.iter().flat_map(|build| build.files.keys().cloned()));
        let files: Vec<PathBuf> = files
            .into_iter()
            .filter(|file| file.starts_with(workspace_root))
            .filter(|file| file.extension().is_some_and(|ext| ext == "rs"))
            .collect();
        let data = build
            .as_ref()
            .map(BuildSnapshot::data_digests)
            .unwrap_or_default();
        let fingerprints = match fingerprint_workspace(workspace_root, &files, &data) {
            Ok(fingerprints) => fingerprints,
            Err(error) => {
                everything = Some(format!("the sources could not be fingerprinted ({error})"));
                Default::default()
            }
        };
        let not_recording = build.as_ref().and_then(|build| {
            let changed: Vec<String> = build
                .files
                .iter()
                .filter_map(|(path, digest)| {
                    let key = source_key(workspace_root, path)?;
                    let now = fingerprints.contents.get(&key)?;
                    (now != digest).then_some(key)
                })
                .collect();
            (!changed.is_empty()).then(|| {
                format!(
                    "{} changed since the plan was built; run again to record",
                    changed.join(", ")
                )
            })
        });
        let (database, state) = ImpactDatabase::open_to_select(&database_path, &variant)?;
        match state {
            DatabaseState::Ready => {}
            DatabaseState::Missing => {
                everything.get_or_insert_with(|| {
                    "no coverage was recorded yet for this run variant".to_string()
                });
            }
            DatabaseState::Unusable(reason) => {
                everything.get_or_insert(format!("the impact database was unusable: {reason}"));
            }
        }
        let reasons = match (&everything, database) {
            (None, Some(database)) => {
                let units: HashMap<&str, &str> = fingerprints
                    .units
                    .iter()
                    .filter(|unit| unit.kind == UnitKind::Function)
                    .map(|unit| (unit.key.as_str(), unit.fingerprint.as_str()))
                    .collect();
                let items: HashMap<&str, &str> = fingerprints
                    .items
                    .iter()
                    .map(|(file, digest)| (file.as_str(), digest.as_str()))
                    .collect();
                select(testcases, &database.testcases_changed(&units, &items)?)
            }
            _ => testcases
                .keys()
                .map(|uid| (uid.clone(), vec![Reason::New]))
                .collect(),
        };
        Ok(AffectedRun {
            root: workspace_root.to_path_buf(),
            database_path,
            variant,
            units: fingerprints.units,
            items: fingerprints.items,
            inputs: testcases.clone(),
            plan_testcases,
            reasons,
            everything,
            not_recording,
        })
    }

    /// UIDs of the selected testcases.
    pub fn selected(&self) -> BTreeSet<String> {
        self.reasons
            .iter()
            .filter(|(_, reasons)| !reasons.is_empty())
            .map(|(uid, _)| uid.clone())
            .collect()
    }

    /// Whether running the selection records anything: something is selected and the
    /// sources are those the binary was built from.
    pub fn records(&self) -> bool {
        self.not_recording.is_none() && !self.selected().is_empty()
    }

    /// The recorder to attach to the run.
    pub fn recorder(&self) -> CoverageRecorder {
        CoverageRecorder {
            root: self.root.clone(),
            units: self.units.clone(),
            state: Mutex::new(RecorderState::default()),
            problems: Mutex::new(Vec::new()),
            #[cfg(test)]
            script: None,
        }
    }

    /// Writes the records of the testcases that ran to completion, in one transaction.
    pub fn save(&self, recorder: &CoverageRecorder) -> Result<Saved, String> {
        let mut state = recorder.lock();
        // What ran since the last boundary (the end of the run) counts like plan set-up.
        recorder.close_window(&mut state, None);
        if let Some(problem) = &state.broken {
            return Err(format!(
                "nothing was recorded: the coverage of `{problem}` could not be read"
            ));
        }
        let (records, incomplete) = self.records_of(&state);
        drop(state);
        let (mut database, _) = ImpactDatabase::open(&self.database_path, &self.variant)?;
        database.record(&records, Some(&self.plan_testcases))?;
        Ok(Saved {
            recorded: records.len(),
            incomplete,
        })
    }

    /// The record of each testcase that ran to completion: its own window and every window
    /// charged to it (the plan's, its test's, its suite's); and how many did not complete.
    fn records_of(&self, state: &RecorderState) -> (BTreeMap<String, TestcaseRecord>, usize) {
        let mut records = BTreeMap::new();
        for (uid, recorded) in &state.records {
            let Some(own) = &recorded.executed else {
                continue;
            };
            let mut all = own.clone();
            // The windows charged to it: the plan's (""), and each ancestor's (its test, its
            // suite, …), whose UIDs are the prefixes of its own up to a `/`.
            let ancestors =
                std::iter::once("").chain(uid.match_indices('/').map(|(at, _)| &uid[..at]));
            for owner in ancestors {
                if let Some(window) = state.windows.get(owner) {
                    all.units.extend(&window.units);
                    all.files.extend(&window.files);
                }
            }
            let record = TestcaseRecord {
                failed: recorded.failed,
                units: all
                    .units
                    .iter()
                    .map(|&unit| {
                        let unit = &self.units[unit];
                        (unit.key.clone(), unit.fingerprint.clone())
                    })
                    .collect(),
                files: all
                    .files
                    .iter()
                    .map(|&file| {
                        let file = &state.files[file];
                        (
                            file.clone(),
                            self.items.get(file).cloned().unwrap_or_default(),
                        )
                    })
                    .collect(),
                inputs: self.inputs.get(uid).cloned().unwrap_or_default(),
            };
            records.insert(uid.clone(), record);
        }
        let incomplete = state.records.len() - records.len();
        (records, incomplete)
    }
}

/// Records, per testcase, the source units and files it executed, and what ran in each
/// scope around the testcases.
#[derive(Debug)]
pub struct CoverageRecorder {
    root: PathBuf,
    units: Vec<SourceUnit>,
    state: Mutex<RecorderState>,
    problems: Mutex<Vec<String>>,
    /// What each window executed, in order, instead of the counters (unit tests).
    #[cfg(test)]
    script: Option<Mutex<std::collections::VecDeque<Executed>>>,
}

/// What the recorder has seen, kept as indices: a testcase runs in microseconds, so the
/// names are only written out when the run is saved.
#[derive(Debug, Default)]
struct RecorderState {
    /// What each executed function maps to, worked out once per function: its file under
    /// the workspace (`None` for dependencies and std) and its unit, as indices.
    resolved: HashMap<FunctionRef, Option<(usize, Option<usize>)>>,
    /// Source keys of the files met so far.
    files: Vec<String>,
    /// Who the code running now is charged to: `""` the plan, a test or suite UID.
    owner: String,
    /// The owner to go back to when the testcase running now ends.
    outer: Option<String>,
    /// What ran in the windows of each scope owner (plan, tests, suites).
    windows: BTreeMap<String, Executed>,
    /// Per testcase UID that started.
    records: BTreeMap<String, Recorded>,
    /// A window whose coverage could not be read: nothing can be recorded safely.
    broken: Option<String>,
}

/// Units and files some code executed.
#[derive(Debug, Clone, Default)]
struct Executed {
    units: BTreeSet<usize>,
    files: BTreeSet<usize>,
}

#[derive(Debug)]
struct Recorded {
    failed: bool,
    /// `None` when it did not run to completion: its previous record stays.
    executed: Option<Executed>,
}

impl CoverageRecorder {
    /// Problems met while recording (a snapshot that could not be decoded).
    pub fn problems(&self) -> Vec<String> {
        self.problems
            .lock()
            .map(|problems| problems.clone())
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecorderState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads and resets the counters: what ran since the last boundary.
    fn take(&self, state: &mut RecorderState) -> Result<Executed, String> {
        #[cfg(test)]
        if let Some(script) = &self.script {
            let next = script.lock().ok().and_then(|mut script| script.pop_front());
            return next.ok_or_else(|| "the script ran out".to_string());
        }
        let mut executed = Executed::default();
        // Most windows between testcases run no instrumented code at all.
        if crate::impact::counters_are_zero() {
            return Ok(executed);
        }
        let snapshot = snapshot().map_err(|error| error.to_string())?;
        let functions = executed_spans(&snapshot).map_err(|error| error.to_string())?;
        reset_counters();
        let RecorderState {
            resolved, files, ..
        } = state;
        for (function, span) in functions {
            let target = resolved.entry(function).or_insert_with(|| {
                // Dependencies and the standard library are not the user's sources.
                let file = source_key(&self.root, &span.file)?;
                let unit = unit_index_for_span(&self.units, &file, span.lines);
                let index = match files.iter().position(|known| *known == file) {
                    Some(index) => index,
                    None => {
                        files.push(file);
                        files.len() - 1
                    }
                };
                Some((index, unit))
            });
            if let Some((file, unit)) = *target {
                executed.units.extend(unit);
                executed.files.insert(file);
            }
        }
        Ok(executed)
    }

    /// Charges what ran since the last boundary to the current owner and makes `next` the
    /// owner (unchanged with `None`).
    fn close_window(&self, state: &mut RecorderState, next: Option<&str>) {
        match self.take(state) {
            Ok(executed) => {
                let window = state.windows.entry(state.owner.clone()).or_default();
                window.units.extend(executed.units);
                window.files.extend(executed.files);
            }
            Err(error) => {
                let owner = if state.owner.is_empty() {
                    "the plan's set-up".to_string()
                } else {
                    state.owner.clone()
                };
                self.problem(format!("coverage of `{owner}` could not be read: {error}"));
                state.broken.get_or_insert(owner);
            }
        }
        if let Some(next) = next {
            state.owner = next.to_string();
        }
    }

    fn problem(&self, problem: String) {
        if let Ok(mut problems) = self.problems.lock() {
            problems.push(problem);
        }
    }
}

impl TestcaseObserver for CoverageRecorder {
    fn scope(&self, uid: &str) {
        let mut state = self.lock();
        self.close_window(&mut state, Some(uid));
    }

    fn before(&self, uid: &str) {
        let mut state = self.lock();
        let outer = state.owner.clone();
        self.close_window(&mut state, Some(uid));
        state.outer = Some(outer);
    }

    fn after(&self, uid: &str, status: Status, completed: bool) {
        let mut state = self.lock();
        let taken = self.take(&mut state);
        let outer = state.outer.take().unwrap_or_default();
        state.owner = outer;
        // A testcase still running when the run was interrupted may have seen its
        // environment stop under it; a cancelled or skipped one did not run its code.
        let completed =
            completed && !interrupted() && !matches!(status, Status::Cancelled | Status::Skipped);
        let executed = match taken {
            Ok(executed) => completed.then_some(executed),
            Err(error) => {
                self.problem(format!("coverage of `{uid}` could not be read: {error}"));
                None
            }
        };
        state.records.insert(
            uid.to_string(),
            Recorded {
                failed: status.is_failure(),
                executed,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(file: &str, name: &str) -> SourceUnit {
        SourceUnit {
            key: format!("{file}::{name}"),
            kind: UnitKind::Function,
            file: file.into(),
            lines: (1, 1),
            fingerprint: format!("print of {name}"),
        }
    }

    fn run(units: Vec<SourceUnit>) -> AffectedRun {
        AffectedRun {
            root: PathBuf::from("/w"),
            database_path: PathBuf::from("/w/target/testrig-impact/p/x.sqlite"),
            variant: "v".into(),
            units,
            items: [("src/lib.rs".to_string(), "items".to_string())].into(),
            inputs: BTreeMap::new(),
            plan_testcases: BTreeSet::new(),
            reasons: BTreeMap::new(),
            everything: None,
            not_recording: None,
        }
    }

    fn executed(units: &[usize]) -> Executed {
        Executed {
            units: units.iter().copied().collect(),
            files: [0].into(),
        }
    }

    #[test]
    fn scopes_are_charged_to_the_testcases_they_can_affect() {
        let names = [
            "main",
            "env_start",
            "setup",
            "a_body",
            "b_body",
            "teardown",
            "env_stop",
            "other",
            "c_body",
        ];
        let affected = run(names
            .iter()
            .map(|name| function("src/lib.rs", name))
            .collect());
        let mut recorder = affected.recorder();
        // One entry per window, in the order the runner reports the boundaries.
        recorder.script = Some(Mutex::new(
            [
                executed(&[0]), // plan set-up, before the first test
                executed(&[1]), // T: environment start
                executed(&[2]), // T/S: setup
                executed(&[3]), // T/S/a (pre/post hooks included)
                executed(&[]),  // T/S between testcases
                executed(&[4]), // T/S/b, abandoned
                executed(&[5]), // T/S: teardown
                executed(&[6]), // T: environment stop
                executed(&[]),  // plan, between tests
                executed(&[7]), // U: another test's set-up
                executed(&[8]), // U/S/c
                executed(&[]),  // U
                executed(&[]),  // the end of the run
            ]
            .into(),
        ));
        recorder
            .state
            .lock()
            .unwrap()
            .files
            .push("src/lib.rs".into());
        recorder.scope("T");
        recorder.scope("T/S");
        recorder.before("T/S/a");
        recorder.after("T/S/a", Status::Failed, true);
        recorder.before("T/S/b");
        recorder.after("T/S/b", Status::Error, false);
        recorder.scope("T");
        recorder.scope("");
        recorder.scope("U");
        recorder.before("U/S/c");
        recorder.after("U/S/c", Status::Passed, true);
        recorder.scope("");
        let mut state = recorder.lock();
        recorder.close_window(&mut state, None);
        assert!(state.broken.is_none(), "{:?}", recorder.problems());
        let (records, incomplete) = affected.records_of(&state);
        assert_eq!(incomplete, 1, "b did not complete: it keeps its old record");
        assert_eq!(records.keys().collect::<Vec<_>>(), ["T/S/a", "U/S/c"]);
        let keys = |uid: &str| -> Vec<String> {
            records[uid]
                .units
                .keys()
                .map(|key| key.trim_start_matches("src/lib.rs::").to_string())
                .collect()
        };
        assert_eq!(
            keys("T/S/a"),
            [
                "a_body",
                "env_start",
                "env_stop",
                "main",
                "setup",
                "teardown"
            ]
        );
        assert_eq!(keys("U/S/c"), ["c_body", "main", "other"]);
        assert!(records["T/S/a"].failed);
        assert_eq!(
            records["T/S/a"].units["src/lib.rs::main"], "print of main",
            "fingerprints as of this run"
        );
        assert_eq!(
            records["T/S/a"].files,
            [("src/lib.rs".to_string(), "items".to_string())].into()
        );
    }

    #[test]
    fn an_unreadable_window_records_nothing_and_a_cancelled_testcase_keeps_its_record() {
        let affected = run(vec![function("src/lib.rs", "f")]);
        let mut recorder = affected.recorder();
        recorder.script = Some(Mutex::new([executed(&[]), executed(&[0])].into()));
        recorder
            .state
            .lock()
            .unwrap()
            .files
            .push("src/lib.rs".into());
        recorder.before("T/S/a");
        recorder.after("T/S/a", Status::Cancelled, true);
        let (records, incomplete) = affected.records_of(&recorder.lock());
        assert!(records.is_empty());
        assert_eq!(incomplete, 1);
        // The script is empty now: the next window cannot be read.
        recorder.scope("T");
        assert!(recorder.lock().broken.is_some());
        assert_eq!(recorder.problems().len(), 1, "{:?}", recorder.problems());
    }
}

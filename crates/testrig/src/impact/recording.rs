//! `--affected`: choosing the testcases to run from the dependency database, and recording,
//! around each testcase that runs, the functions and files it executed.
//!
//! The plan resets the coverage counters before each testcase and snapshots them after it
//! (one testcase at a time: the counters are process-wide and not atomic); each snapshot is
//! decoded into executed functions, mapped onto the fingerprinted source units, and written
//! to the database in one transaction when the run ends.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use testrig_model::Status;

use crate::impact::coverage::{check_version, is_available, reset_counters, snapshot};
use crate::impact::database::{DatabaseState, ImpactDatabase, StoredUnit, TestcaseRecord};
use crate::impact::fingerprint::{
    SourceUnit, UnitKind, fingerprint_crate, source_key, unit_index_for_span,
};
use crate::impact::profile::{CoverageMap, FunctionRef, executed_spans};
use crate::impact::reload::database_path;
use crate::impact::selection::{Reason, select, source_changes};
use crate::runner::TestcaseObserver;

/// The environment variable `cargo testrig affected` sets to the run variant (toolchain,
/// target, flags, lock file); recorded coverage is only reused within one variant.
pub const RUN_VARIANT_VARIABLE: &str = "TESTRIG_RUN_VARIANT";

/// The selection for this run and the state needed to record it.
#[derive(Debug)]
pub struct AffectedRun {
    root: PathBuf,
    database_path: PathBuf,
    variant: String,
    units: Vec<SourceUnit>,
    /// The inputs digest of each testcase's test, stored with what it executed.
    inputs: BTreeMap<String, String>,
    /// Every testcase of the plan with why it is selected (empty: not affected).
    pub reasons: BTreeMap<String, Vec<Reason>>,
    /// Why everything runs, when it does (no usable database, unparsable sources).
    pub everything: Option<String>,
}

impl AffectedRun {
    /// Reads the sources and the database and decides what runs. `testcases` are the UIDs of
    /// every testcase the other filters selected, each with the digest of its test's
    /// declared inputs ([`inputs_digest`](crate::impact::inputs_digest)).
    pub fn prepare(
        plan: &str,
        workspace_root: &Path,
        testcases: &BTreeMap<String, String>,
    ) -> Result<AffectedRun, String> {
        if !is_available() {
            return Err(format!(
                "--affected needs a plan built with coverage instrumentation: run it with `cargo testrig affected --test <name>` (plan `{plan}` was built without it)"
            ));
        }
        check_version().map_err(|error| error.to_string())?;
        let variant = std::env::var(RUN_VARIANT_VARIABLE).unwrap_or_else(|_| "default".to_string());
        let database_path = database_path(workspace_root, plan);
        let mut everything = None;
        // Only files the instrumented code was compiled from can hold code a testcase
        // executed: fingerprinting those, not every file under the workspace, keeps start-up
        // short in a large workspace (and leaves out generated code under the target folder).
        let target = workspace_root.join("target");
        let files: Vec<PathBuf> = CoverageMap::current()
            .map_err(|error| error.to_string())?
            .files()
            .into_iter()
            .filter(|file| file.starts_with(workspace_root) && !file.starts_with(&target))
            .map(Path::to_path_buf)
            .collect();
        let units = match fingerprint_crate(workspace_root, &files) {
            Ok(units) => units,
            Err(error) => {
                everything = Some(format!("the sources could not be fingerprinted ({error})"));
                Vec::new()
            }
        };
        let (database, state) = ImpactDatabase::open(&database_path, &variant)?;
        match state {
            DatabaseState::Ready => {}
            DatabaseState::Missing => {
                everything.get_or_insert_with(|| "no coverage was recorded yet".to_string());
            }
            DatabaseState::Unusable(reason) => {
                everything.get_or_insert(format!("the impact database was unusable: {reason}"));
            }
        }
        let wanted = testcases;
        let reasons = if everything.is_some() {
            wanted
                .keys()
                .map(|uid| (uid.clone(), vec![Reason::New]))
                .collect()
        } else {
            let changes = source_changes(&database.units()?, &stored_units(&units));
            select(
                wanted,
                &database.testcases_touching(&changes.functions, &changes.item_files)?,
                &changes,
            )
        };
        Ok(AffectedRun {
            root: workspace_root.to_path_buf(),
            database_path,
            variant,
            units,
            inputs: testcases.clone(),
            reasons,
            everything,
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

    /// The recorder to attach to the run.
    pub fn recorder(&self) -> CoverageRecorder {
        CoverageRecorder {
            root: self.root.clone(),
            units: self.units.clone(),
            state: Mutex::new(RecorderState::default()),
            problems: Mutex::new(Vec::new()),
        }
    }

    /// Writes what the run recorded, in one transaction.
    pub fn save(&self, recorder: &CoverageRecorder) -> Result<usize, String> {
        let state = recorder
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let records: BTreeMap<String, TestcaseRecord> = state
            .records
            .iter()
            .map(|(uid, recorded)| {
                let record = TestcaseRecord {
                    failed: recorded.failed,
                    units: recorded
                        .units
                        .iter()
                        .map(|&unit| self.units[unit].key.clone())
                        .collect(),
                    files: recorded
                        .files
                        .iter()
                        .map(|&file| state.files[file].clone())
                        .collect(),
                    inputs: self.inputs.get(uid).cloned().unwrap_or_default(),
                };
                (uid.clone(), record)
            })
            .collect();
        drop(state);
        let (mut database, _) = ImpactDatabase::open(&self.database_path, &self.variant)?;
        database.record(&stored_units(&self.units), &records)?;
        Ok(records.len())
    }
}

fn stored_units(units: &[SourceUnit]) -> Vec<StoredUnit> {
    units
        .iter()
        .map(|unit| StoredUnit {
            key: unit.key.clone(),
            is_function: unit.kind == UnitKind::Function,
            file: unit.file.clone(),
            fingerprint: unit.fingerprint.clone(),
        })
        .collect()
}

/// Records, per testcase, the source units and files it executed.
#[derive(Debug)]
pub struct CoverageRecorder {
    root: PathBuf,
    units: Vec<SourceUnit>,
    state: Mutex<RecorderState>,
    problems: Mutex<Vec<String>>,
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
    /// Per testcase UID.
    records: BTreeMap<String, Recorded>,
}

#[derive(Debug)]
struct Recorded {
    failed: bool,
    units: BTreeSet<usize>,
    files: BTreeSet<usize>,
}

impl CoverageRecorder {
    /// Problems met while recording (a snapshot that could not be decoded).
    pub fn problems(&self) -> Vec<String> {
        self.problems
            .lock()
            .map(|problems| problems.clone())
            .unwrap_or_default()
    }
}

impl TestcaseObserver for CoverageRecorder {
    fn before(&self, _uid: &str) {
        reset_counters();
    }

    fn after(&self, uid: &str, status: Status) {
        let mut record = Recorded {
            failed: status.is_failure(),
            units: BTreeSet::new(),
            files: BTreeSet::new(),
        };
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match snapshot().and_then(|snapshot| executed_spans(&snapshot)) {
            Ok(functions) => {
                let RecorderState {
                    resolved, files, ..
                } = &mut *state;
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
                        record.units.extend(unit);
                        record.files.insert(file);
                    }
                }
            }
            Err(error) => {
                // Without coverage the testcase must run next time: record it as failed.
                record.failed = true;
                if let Ok(mut problems) = self.problems.lock() {
                    problems.push(format!("coverage of `{uid}` could not be read: {error}"));
                }
            }
        }
        state.records.insert(uid.to_string(), record);
    }
}

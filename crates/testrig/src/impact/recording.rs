//! `--affected`: choosing the testcases to run from the dependency database, and recording,
//! around each testcase that runs, the functions and files it executed.
//!
//! The plan resets the coverage counters before each testcase and snapshots them after it
//! (one testcase at a time: the counters are process-wide and not atomic); each snapshot is
//! decoded into executed functions, mapped onto the fingerprinted source units, and written
//! to the database in one transaction when the run ends.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use testrig_model::Status;

use crate::impact::coverage::{check_version, is_available, reset_counters, snapshot};
use crate::impact::database::{DatabaseState, ImpactDatabase, StoredUnit, TestcaseRecord};
use crate::impact::fingerprint::{
    SourceUnit, UnitKind, fingerprint_crate, source_key, unit_for_span,
};
use crate::impact::profile::executed_functions;
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
    /// Every testcase of the plan with why it is selected (empty: not affected).
    pub reasons: BTreeMap<String, Vec<Reason>>,
    /// Why everything runs, when it does (no usable database, unparsable sources).
    pub everything: Option<String>,
}

impl AffectedRun {
    /// Reads the sources and the database and decides what runs. `testcases` are the UIDs of
    /// every testcase the other filters selected.
    pub fn prepare(
        plan: &str,
        workspace_root: &Path,
        testcases: &[String],
    ) -> Result<AffectedRun, String> {
        if !is_available() {
            return Err(format!(
                "--affected needs a plan built with coverage instrumentation: run it with `cargo testrig affected --test <name>` (plan `{plan}` was built without it)"
            ));
        }
        check_version().map_err(|error| error.to_string())?;
        let variant = std::env::var(RUN_VARIANT_VARIABLE).unwrap_or_else(|_| "default".to_string());
        let slug: String = plan
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let database_path = workspace_root
            .join("target")
            .join("testrig-impact")
            .join(format!("{slug}.sqlite"));
        let mut everything = None;
        let units = match fingerprint_crate(workspace_root, &[PathBuf::from(".")]) {
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
        let wanted: BTreeMap<String, String> = testcases
            .iter()
            .map(|uid| (uid.clone(), String::new()))
            .collect();
        let reasons = if everything.is_some() {
            wanted
                .keys()
                .map(|uid| (uid.clone(), vec![Reason::New]))
                .collect()
        } else {
            let changes = source_changes(&database.units()?, &stored_units(&units));
            select(
                &wanted,
                &database.testcases_touching(&changes.functions, &changes.item_files)?,
                &changes,
            )
        };
        Ok(AffectedRun {
            root: workspace_root.to_path_buf(),
            database_path,
            variant,
            units,
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
            records: Mutex::new(BTreeMap::new()),
            problems: Mutex::new(Vec::new()),
        }
    }

    /// Writes what the run recorded, in one transaction.
    pub fn save(&self, recorder: &CoverageRecorder) -> Result<usize, String> {
        let records = recorder
            .records
            .lock()
            .map(|records| records.clone())
            .unwrap_or_default();
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
    records: Mutex<BTreeMap<String, TestcaseRecord>>,
    problems: Mutex<Vec<String>>,
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
        let mut record = TestcaseRecord {
            failed: status.is_failure(),
            ..TestcaseRecord::default()
        };
        match snapshot().and_then(|snapshot| executed_functions(&snapshot)) {
            Ok(functions) => {
                for function in functions {
                    // Dependencies and the standard library are not the user's sources.
                    let Some(file) = source_key(&self.root, &function.file) else {
                        continue;
                    };
                    if let Some(unit) = unit_for_span(&self.units, &file, function.lines) {
                        record.units.insert(unit.key.clone());
                    }
                    record.files.insert(file);
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
        if let Ok(mut records) = self.records.lock() {
            records.insert(uid.to_string(), record);
        }
    }
}

//! Which testcases a change affects: a testcase is selected when it is new, failed last
//! time, executed a function whose fingerprint differs from the one recorded with *its*
//! last run, executed code in a file whose items digest differs likewise (coverage cannot
//! see structs, consts or derives, so that rule is conservative), or belongs to a test whose
//! declared inputs changed.

use std::collections::{BTreeMap, BTreeSet};

use crate::impact::database::{StoredUnit, TestcaseRecord};
use crate::inputs::changed_inputs;

/// Why a testcase is selected.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// Never recorded.
    New,
    /// Failed or errored last time.
    FailedLastTime,
    /// Executed functions that changed (their keys).
    ChangedFunctions(Vec<String>),
    /// Executed code in files where a non-function item changed.
    ChangedItems(Vec<String>),
    /// Declared inputs of its test changed (their names).
    ChangedInputs(Vec<String>),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::New => f.write_str("new"),
            Reason::FailedLastTime => f.write_str("failed last time"),
            Reason::ChangedFunctions(keys) => write!(f, "changed: {}", keys.join(", ")),
            Reason::ChangedItems(files) => {
                write!(f, "changed non-function items in {}", files.join(", "))
            }
            Reason::ChangedInputs(names) => write!(f, "changed inputs: {}", names.join(", ")),
        }
    }
}

/// What changed between the stored units and the current ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceChanges {
    /// Function units whose fingerprint changed or that disappeared.
    pub functions: BTreeSet<String>,
    /// Files with a changed, added or removed non-function item.
    pub item_files: BTreeSet<String>,
}

/// Compares the stored units with the current ones.
pub fn source_changes(
    stored: &BTreeMap<String, StoredUnit>,
    current: &[StoredUnit],
) -> SourceChanges {
    let mut changes = SourceChanges::default();
    let current_by_key: BTreeMap<&str, &StoredUnit> = current
        .iter()
        .map(|unit| (unit.key.as_str(), unit))
        .collect();
    for unit in current {
        let changed = stored
            .get(&unit.key)
            .is_none_or(|old| old.fingerprint != unit.fingerprint);
        if changed && !unit.is_function {
            changes.item_files.insert(unit.file.clone());
        } else if changed {
            // A function that is new to the stored units can still be in old records: a
            // testcase deleted and added again must not pass for its old self.
            changes.functions.insert(unit.key.clone());
        }
    }
    for old in stored.values() {
        if !current_by_key.contains_key(old.key.as_str()) {
            if old.is_function {
                changes.functions.insert(old.key.clone());
            } else {
                changes.item_files.insert(old.file.clone());
            }
        }
    }
    changes
}

/// Why the code `record` says a testcase executed is affected by `changes`: the changed
/// functions it executed, the files with changed items it executed code in (empty: none).
pub fn changed_code(record: &TestcaseRecord, changes: &SourceChanges) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let functions: Vec<String> = record
        .units
        .keys()
        .filter(|unit| changes.functions.contains(*unit))
        .cloned()
        .collect();
    if !functions.is_empty() {
        reasons.push(Reason::ChangedFunctions(functions));
    }
    let files: Vec<String> = record
        .files
        .keys()
        .filter(|file| changes.item_files.contains(*file))
        .cloned()
        .collect();
    if !files.is_empty() {
        reasons.push(Reason::ChangedItems(files));
    }
    reasons
}

/// The reasons each testcase in `testcases` (UID → current inputs hash) is selected; an empty
/// list means it is not affected. `changed` holds, per recorded testcase, only the units and
/// files whose fingerprints differ from those recorded with its run
/// ([`ImpactDatabase::testcases_changed`](crate::impact::ImpactDatabase::testcases_changed)).
pub fn select<Digest: AsRef<str>>(
    testcases: &BTreeMap<String, Digest>,
    changed: &BTreeMap<String, TestcaseRecord>,
) -> BTreeMap<String, Vec<Reason>> {
    let mut selection = BTreeMap::new();
    for (uid, inputs) in testcases {
        let inputs = inputs.as_ref();
        let mut reasons = Vec::new();
        match changed.get(uid) {
            None => reasons.push(Reason::New),
            Some(record) => {
                if record.failed {
                    reasons.push(Reason::FailedLastTime);
                }
                if !record.units.is_empty() {
                    reasons.push(Reason::ChangedFunctions(
                        record.units.keys().cloned().collect(),
                    ));
                }
                if !record.files.is_empty() {
                    reasons.push(Reason::ChangedItems(record.files.keys().cloned().collect()));
                }
                if record.inputs != inputs {
                    reasons.push(Reason::ChangedInputs(changed_inputs(
                        &record.inputs,
                        inputs,
                    )));
                }
            }
        }
        selection.insert(uid.clone(), reasons);
    }
    selection
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(key: &str, is_function: bool, fingerprint: &str) -> StoredUnit {
        StoredUnit {
            key: key.into(),
            is_function,
            file: key.split("::").next().unwrap().into(),
            fingerprint: fingerprint.into(),
        }
    }

    /// A record of what changed since a testcase's run (as the database returns it).
    fn changed(units: &[&str], files: &[&str], failed: bool) -> TestcaseRecord {
        TestcaseRecord {
            failed,
            units: units
                .iter()
                .map(|u| (u.to_string(), "old".into()))
                .collect(),
            files: files
                .iter()
                .map(|f| (f.to_string(), "old".into()))
                .collect(),
            inputs: "i".into(),
        }
    }

    #[test]
    fn testcases_are_selected_by_what_changed_since_their_own_run() {
        let records: BTreeMap<String, TestcaseRecord> = [
            ("t/area".to_string(), changed(&["a.rs::area"], &[], false)),
            ("t/perimeter".to_string(), changed(&[], &[], false)),
            ("t/config".to_string(), changed(&[], &["b.rs"], false)),
            ("t/flaky".to_string(), changed(&[], &[], true)),
        ]
        .into();
        let testcases: BTreeMap<String, String> =
            ["t/area", "t/perimeter", "t/config", "t/flaky", "t/new"]
                .iter()
                .map(|uid| (uid.to_string(), "i".to_string()))
                .collect();
        let selection = select(&testcases, &records);
        assert_eq!(
            selection["t/area"],
            [Reason::ChangedFunctions(vec!["a.rs::area".into()])]
        );
        assert!(selection["t/perimeter"].is_empty());
        assert_eq!(
            selection["t/config"],
            [Reason::ChangedItems(vec!["b.rs".into()])]
        );
        assert_eq!(selection["t/flaky"], [Reason::FailedLastTime]);
        assert_eq!(selection["t/new"], [Reason::New]);
    }

    #[test]
    fn changed_inputs_select_and_say_which() {
        let records: BTreeMap<String, TestcaseRecord> =
            [("t/x".to_string(), changed(&[], &[], false))].into();
        // The record's inputs digest is `i`: one line naming no file with a hash.
        let testcases: BTreeMap<String, String> =
            [("t/x".to_string(), "data.csv 0123".to_string())].into();
        assert_eq!(
            select(&testcases, &records)["t/x"],
            [Reason::ChangedInputs(vec!["data.csv".into()])]
        );
        assert_eq!(
            Reason::ChangedInputs(vec!["data.csv".into()]).to_string(),
            "changed inputs: data.csv"
        );
    }

    #[test]
    fn source_changes_between_two_snapshots_find_the_recorded_testcases() {
        let stored: BTreeMap<String, StoredUnit> = [
            unit("a.rs::area", true, "1"),
            unit("a.rs::gone", true, "2"),
            unit("b.rs::Config", false, "3"),
        ]
        .into_iter()
        .map(|u| (u.key.clone(), u))
        .collect();
        let current = vec![
            unit("a.rs::area", true, "1*"),
            unit("a.rs::back", true, "4"),
            unit("b.rs::Config", false, "3*"),
        ];
        let changes = source_changes(&stored, &current);
        assert_eq!(
            changes.functions,
            ["a.rs::area", "a.rs::back", "a.rs::gone"]
                .map(String::from)
                .into()
        );
        assert_eq!(changes.item_files, ["b.rs".to_string()].into());
        let record = changed(&["a.rs::area", "a.rs::kept"], &["b.rs"], false);
        assert_eq!(
            changed_code(&record, &changes),
            [
                Reason::ChangedFunctions(vec!["a.rs::area".into()]),
                Reason::ChangedItems(vec!["b.rs".into()])
            ]
        );
    }
}

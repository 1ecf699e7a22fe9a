//! Which testcases a code reload affects (DESIGN.md §5): an interactive plan keeps its
//! results across a reload, and a result is stale when its testcase executed code the
//! reload changed, as `cargo testrig affected` last recorded it. Each image fingerprints,
//! when it starts, the source files the recording knows; the next image compares those
//! units with the sources it was built from and looks the changed ones up in the database.
//!
//! This side only reads the database: recording stays with `cargo testrig affected`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use md5::Digest;

use crate::impact::database::{ImpactDatabase, StoredUnit};
use crate::impact::fingerprint::fingerprint_crate;
use crate::impact::selection::{Reason, changed_code, source_changes};

/// Where the impact database of the plan named `plan` is for the run variant `variant`,
/// under the workspace at `workspace_root`: a folder per plan, a file per variant, so the
/// records of each variant are kept apart and switching back finds them again.
pub fn database_path(workspace_root: &Path, plan: &str, variant: &str) -> PathBuf {
    let digest: String = md5::Md5::digest(variant.as_bytes())
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    plan_databases(workspace_root, plan).join(format!("{digest}.sqlite"))
}

fn plan_databases(workspace_root: &Path, plan: &str) -> PathBuf {
    workspace_root
        .join("target")
        .join("testrig-impact")
        .join(crate::plan::plan_slug(plan))
}

/// The plan's database written last, whatever its variant.
fn latest_database(workspace_root: &Path, plan: &str) -> Option<PathBuf> {
    std::fs::read_dir(plan_databases(workspace_root, plan))
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sqlite"))
        .max_by_key(|path| {
            std::fs::metadata(path)
                .and_then(|meta| meta.modified())
                .unwrap_or(std::time::UNIX_EPOCH)
        })
}

/// The coverage recorded for a plan, opened to find what a reload affects.
pub struct RecordedCoverage {
    root: PathBuf,
    database: ImpactDatabase,
    files: Vec<PathBuf>,
}

impl RecordedCoverage {
    /// The plan's recorded coverage (of the variant recorded last): `None` when nothing was
    /// recorded, an error when the database cannot be used.
    pub fn open(workspace_root: &Path, plan: &str) -> Result<Option<RecordedCoverage>, String> {
        let Some(path) = latest_database(workspace_root, plan) else {
            return Ok(None);
        };
        let Some(database) = ImpactDatabase::open_to_read(&path).map_err(|error| {
            format!(
                "the impact database `{}` is unusable: {error}",
                path.display()
            )
        })?
        else {
            return Ok(None);
        };
        let files = database.files()?.into_iter().map(PathBuf::from).collect();
        Ok(Some(RecordedCoverage {
            root: workspace_root.to_path_buf(),
            database,
            files,
        }))
    }

    /// The units of the recorded files as they are now; a file that no longer parses is an
    /// error (its changes cannot be told).
    pub fn snapshot(&self) -> Result<Vec<StoredUnit>, String> {
        Ok(fingerprint_crate(&self.root, &self.files)?
            .iter()
            .map(|unit| unit.stored())
            .collect())
    }

    /// The recorded testcases that executed a unit changed between `before` and `after`, each
    /// with why; testcases that did not are left out.
    pub fn affected(
        &self,
        before: &[StoredUnit],
        after: &[StoredUnit],
    ) -> Result<BTreeMap<String, Vec<Reason>>, String> {
        let before: BTreeMap<String, StoredUnit> = before
            .iter()
            .map(|unit| (unit.key.clone(), unit.clone()))
            .collect();
        let changes = source_changes(&before, after);
        let records = self
            .database
            .testcases_touching(&changes.functions, &changes.item_files)?;
        Ok(records
            .into_iter()
            .map(|(uid, record)| (uid, changed_code(&record, &changes)))
            .filter(|(_, reasons)| !reasons.is_empty())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impact::database::TestcaseRecord;

    const LIB: &str = "pub fn area(w: f64, h: f64) -> f64 {\n    w * h\n}\n\npub fn perimeter(w: f64, h: f64) -> f64 {\n    2.0 * (w + h)\n}\n";

    fn record(units: &[StoredUnit], keys: &[&str]) -> TestcaseRecord {
        TestcaseRecord {
            failed: false,
            units: units
                .iter()
                .filter(|unit| keys.contains(&unit.key.as_str()))
                .map(|unit| (unit.key.clone(), unit.fingerprint.clone()))
                .collect(),
            files: [("src/lib.rs".to_string(), "digest".to_string())].into(),
            inputs: String::new(),
        }
    }

    /// A workspace with `src/lib.rs` and a database recording two testcases, each of which
    /// executed one of its functions.
    fn recorded_workspace(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!(
            "testrig-reload-impact-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/lib.rs"), LIB).unwrap();
        let units: Vec<StoredUnit> = fingerprint_crate(&root, &[PathBuf::from("src")])
            .unwrap()
            .iter()
            .map(|unit| unit.stored())
            .collect();
        let path = database_path(&root, "shapes plan", "some variant");
        let (mut database, _) = ImpactDatabase::open(&path, "some variant").unwrap();
        let records: BTreeMap<String, TestcaseRecord> = [
            (
                "T/S/area".to_string(),
                record(&units, &["src/lib.rs::area"]),
            ),
            (
                "T/S/perimeter".to_string(),
                record(&units, &["src/lib.rs::perimeter"]),
            ),
        ]
        .into();
        database.record(&records, None).unwrap();
        // Another variant's empty database, written earlier, is not the one read.
        ImpactDatabase::open(&database_path(&root, "shapes plan", "older"), "older").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(database_path(&root, "shapes plan", "older"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        root
    }

    #[test]
    fn a_changed_helper_affects_the_testcases_that_executed_it() {
        let root = recorded_workspace("helper");
        let coverage = RecordedCoverage::open(&root, "shapes plan")
            .unwrap()
            .expect("a recording");
        let before = coverage.snapshot().unwrap();
        assert!(
            coverage.affected(&before, &before).unwrap().is_empty(),
            "nothing changed"
        );
        std::fs::write(
            root.join("src/lib.rs"),
            LIB.replace("    w * h\n", "    h * w // swapped\n"),
        )
        .unwrap();
        let after = coverage.snapshot().unwrap();
        let affected = coverage.affected(&before, &after).unwrap();
        assert_eq!(
            affected.keys().collect::<Vec<_>>(),
            ["T/S/area"],
            "{affected:?}"
        );
        assert_eq!(
            affected["T/S/area"][0].to_string(),
            "changed: src/lib.rs::area"
        );
        // Reading leaves the database as it was, whatever its variant.
        assert!(database_path(&root, "shapes plan", "some variant").is_file());
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn no_recording_is_none_and_a_broken_one_an_error() {
        let root =
            std::env::temp_dir().join(format!("testrig-reload-impact-{}-none", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        assert!(RecordedCoverage::open(&root, "plan").unwrap().is_none());
        let path = database_path(&root, "plan", "v");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"not a database").unwrap();
        let error = RecordedCoverage::open(&root, "plan").err().unwrap();
        assert!(error.contains("is unusable"), "{error}");
        assert!(path.is_file(), "a reader deletes nothing");
        let _ = std::fs::remove_dir_all(root);
    }
}

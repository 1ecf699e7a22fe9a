//! The dependency database of affected-test selection: SQLite (bundled), one file per run
//! variant, holding the fingerprint of every source unit as of the last recorded run and,
//! per testcase, the units and files it executed and how it ended.
//!
//! Writes happen in one transaction, so an interrupted run never leaves it half-updated. A
//! missing, corrupt or foreign-version database is reported as such; the caller then runs
//! everything and records afresh.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

/// Version of the tables below; a database of another version is rebuilt.
pub const DATABASE_VERSION: u32 = 1;

/// A source unit as stored: its key, whether it is a function, its file and fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredUnit {
    /// `file::item path`.
    pub key: String,
    /// True for functions; other items fall under the per-file rule.
    pub is_function: bool,
    /// The file the unit is in.
    pub file: String,
    /// Hash of the unit's tokens.
    pub fingerprint: String,
}

/// What a testcase executed and how it ended, as of its last recorded run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestcaseRecord {
    /// Whether it failed or errored.
    pub failed: bool,
    /// Keys of the function units it executed.
    pub units: BTreeSet<String>,
    /// Files it executed any code in.
    pub files: BTreeSet<String>,
    /// Hash of the non-source inputs of its test (binaries, templates, data files).
    pub inputs: String,
}

/// Why the database could not be used as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseState {
    /// It holds a previous run of this variant.
    Ready,
    /// There was none (first run).
    Missing,
    /// It could not be read, or was written by another version: it is rebuilt.
    Unusable(String),
}

/// The open database.
pub struct ImpactDatabase {
    connection: Connection,
}

impl ImpactDatabase {
    /// Opens (or creates) the database for `variant` at `path`. A database that cannot be
    /// used is deleted and recreated; the state says why.
    pub fn open(path: &Path, variant: &str) -> Result<(ImpactDatabase, DatabaseState), String> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| {
                format!(
                    "failed to create `{}` for the impact database: {error}",
                    parent.display()
                )
            })?;
        }
        let existed = path.exists();
        let state = if !existed {
            DatabaseState::Missing
        } else {
            match Self::check(path, variant) {
                Ok(()) => DatabaseState::Ready,
                Err(reason) => {
                    std::fs::remove_file(path).map_err(|error| {
                        format!(
                            "failed to remove the unusable impact database `{}`: {error}",
                            path.display()
                        )
                    })?;
                    DatabaseState::Unusable(reason)
                }
            }
        };
        let connection = Connection::open(path).map_err(|error| {
            format!(
                "failed to open the impact database `{}`: {error}",
                path.display()
            )
        })?;
        let database = ImpactDatabase { connection };
        database.create(variant)?;
        Ok((database, state))
    }

    /// Opens an existing database to read it, whatever its run variant (which testcase
    /// executes which function hardly depends on the toolchain or flags): `None` when there
    /// is none, an error when it cannot be used. Nothing is written.
    pub fn open_to_read(path: &Path) -> Result<Option<ImpactDatabase>, String> {
        if !path.is_file() {
            return Ok(None);
        }
        let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|error| format!("it cannot be opened: {error}"))?;
        Self::check_version(&connection)?;
        Ok(Some(ImpactDatabase { connection }))
    }

    fn check(path: &Path, variant: &str) -> Result<(), String> {
        let connection =
            Connection::open(path).map_err(|error| format!("it cannot be opened: {error}"))?;
        Self::check_version(&connection)?;
        let stored: Option<String> = connection
            .query_row("select value from meta where key = 'variant'", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|error| format!("it cannot be read: {error}"))?;
        if stored.as_deref() != Some(variant) {
            return Err(format!(
                "it belongs to another run variant ({})",
                stored.unwrap_or_default()
            ));
        }
        Ok(())
    }

    fn check_version(connection: &Connection) -> Result<(), String> {
        let version: Option<String> = connection
            .query_row("select value from meta where key = 'version'", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|error| format!("it cannot be read: {error}"))?;
        if version.as_deref() != Some(&DATABASE_VERSION.to_string()) {
            return Err(format!(
                "it was written by another version ({}; this is {DATABASE_VERSION})",
                version.unwrap_or_else(|| "none".into())
            ));
        }
        Ok(())
    }

    fn create(&self, variant: &str) -> Result<(), String> {
        self.connection
            .execute_batch(
                // One transaction: one journal and sync instead of one per statement.
                "begin;
                 create table if not exists meta (key text primary key, value text not null);
                 create table if not exists units (key text primary key, is_function integer not null,
                     file text not null, fingerprint text not null);
                 create table if not exists testcases (uid text primary key, failed integer not null,
                     inputs text not null);
                 create table if not exists testcase_units (uid text not null, unit text not null,
                     primary key (uid, unit));
                 create table if not exists testcase_files (uid text not null, file text not null,
                     primary key (uid, file));
                 create index if not exists testcase_units_by_unit on testcase_units (unit);
                 create index if not exists testcase_files_by_file on testcase_files (file);
                 commit;",
            )
            .map_err(|error| format!("failed to create the impact database tables: {error}"))?;
        self.connection
            .execute(
                "insert or replace into meta (key, value) values ('version', ?1), ('variant', ?2)",
                params![DATABASE_VERSION.to_string(), variant],
            )
            .map_err(|error| format!("failed to write the impact database: {error}"))?;
        Ok(())
    }

    /// The units as of the last recorded run, by key.
    pub fn units(&self) -> Result<BTreeMap<String, StoredUnit>, String> {
        let mut statement = self
            .connection
            .prepare("select key, is_function, file, fingerprint from units")
            .map_err(|error| error.to_string())?;
        let rows = statement
            .query_map([], |row| {
                Ok(StoredUnit {
                    key: row.get(0)?,
                    is_function: row.get(1)?,
                    file: row.get(2)?,
                    fingerprint: row.get(3)?,
                })
            })
            .map_err(|error| error.to_string())?;
        rows.map(|row| {
            row.map(|unit| (unit.key.clone(), unit))
                .map_err(|error| error.to_string())
        })
        .collect()
    }

    /// The source files the stored units are in (every file the recorded plan was
    /// compiled from, under the workspace).
    pub fn files(&self) -> Result<Vec<String>, String> {
        let mut statement = self
            .connection
            .prepare("select distinct file from units order by file")
            .map_err(|error| error.to_string())?;
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(|error| error.to_string())?;
        rows.map(|row| row.map_err(|error| error.to_string()))
            .collect()
    }

    /// Every recorded testcase, by UID.
    pub fn testcases(&self) -> Result<BTreeMap<String, TestcaseRecord>, String> {
        let mut records: BTreeMap<String, TestcaseRecord> = BTreeMap::new();
        let read = |sql: &str| -> Result<Vec<(String, String)>, String> {
            let mut statement = self
                .connection
                .prepare(sql)
                .map_err(|error| error.to_string())?;
            let rows = statement
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })
                .map_err(|error| error.to_string())?;
            rows.map(|row| row.map_err(|error| error.to_string()))
                .collect()
        };
        for (uid, failed_and_inputs) in read("select uid, failed || ':' || inputs from testcases")?
        {
            let (failed, inputs) = failed_and_inputs.split_once(':').unwrap_or(("0", ""));
            records.insert(
                uid,
                TestcaseRecord {
                    failed: failed == "1",
                    inputs: inputs.to_string(),
                    ..Default::default()
                },
            );
        }
        for (uid, unit) in read("select uid, unit from testcase_units")? {
            records.entry(uid).or_default().units.insert(unit);
        }
        for (uid, file) in read("select uid, file from testcase_files")? {
            records.entry(uid).or_default().files.insert(file);
        }
        Ok(records)
    }

    /// Every recorded testcase with its status and inputs, but only the executed units and
    /// files among `units` and `files`: all the selection needs, read through the indexes
    /// instead of loading every testcase's coverage.
    pub fn testcases_touching(
        &self,
        units: &BTreeSet<String>,
        files: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, TestcaseRecord>, String> {
        let mut records: BTreeMap<String, TestcaseRecord> = BTreeMap::new();
        let mut statement = self
            .connection
            .prepare("select uid, failed, inputs from testcases")
            .map_err(|error| error.to_string())?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(|error| error.to_string())?;
        for row in rows {
            let (uid, failed, inputs) = row.map_err(|error| error.to_string())?;
            records.insert(
                uid,
                TestcaseRecord {
                    failed: failed == 1,
                    inputs,
                    ..TestcaseRecord::default()
                },
            );
        }
        for (table, column, wanted) in [
            ("testcase_units", "unit", units),
            ("testcase_files", "file", files),
        ] {
            let mut statement = self
                .connection
                .prepare(&format!("select uid from {table} where {column} = ?1"))
                .map_err(|error| error.to_string())?;
            for value in wanted {
                let uids = statement
                    .query_map(params![value], |row| row.get::<_, String>(0))
                    .map_err(|error| error.to_string())?;
                for uid in uids {
                    let record = records
                        .entry(uid.map_err(|error| error.to_string())?)
                        .or_default();
                    if column == "unit" {
                        record.units.insert(value.clone());
                    } else {
                        record.files.insert(value.clone());
                    }
                }
            }
        }
        Ok(records)
    }

    /// Replaces the stored units and the records of the testcases that ran, in one
    /// transaction (testcases that did not run keep their records).
    pub fn record(
        &mut self,
        units: &[StoredUnit],
        ran: &BTreeMap<String, TestcaseRecord>,
    ) -> Result<(), String> {
        let transaction = self
            .connection
            .transaction()
            .map_err(|error| error.to_string())?;
        let write = |transaction: &rusqlite::Transaction| -> rusqlite::Result<()> {
            transaction.execute("delete from units", [])?;
            // Prepared once: a first run records every testcase of the plan.
            let mut insert_unit = transaction.prepare(
                "insert into units (key, is_function, file, fingerprint) values (?1, ?2, ?3, ?4)",
            )?;
            let mut delete_units =
                transaction.prepare("delete from testcase_units where uid = ?1")?;
            let mut delete_files =
                transaction.prepare("delete from testcase_files where uid = ?1")?;
            let mut insert_testcase = transaction.prepare(
                "insert or replace into testcases (uid, failed, inputs) values (?1, ?2, ?3)",
            )?;
            let mut insert_testcase_unit =
                transaction.prepare("insert into testcase_units (uid, unit) values (?1, ?2)")?;
            let mut insert_testcase_file =
                transaction.prepare("insert into testcase_files (uid, file) values (?1, ?2)")?;
            for unit in units {
                insert_unit.execute(params![
                    unit.key,
                    unit.is_function,
                    unit.file,
                    unit.fingerprint
                ])?;
            }
            for (uid, record) in ran {
                delete_units.execute(params![uid])?;
                delete_files.execute(params![uid])?;
                insert_testcase.execute(params![
                    uid,
                    if record.failed { "1" } else { "0" },
                    record.inputs
                ])?;
                for unit in &record.units {
                    insert_testcase_unit.execute(params![uid, unit])?;
                }
                for file in &record.files {
                    insert_testcase_file.execute(params![uid, file])?;
                }
            }
            Ok(())
        };
        write(&transaction)
            .map_err(|error| format!("failed to record the run in the impact database: {error}"))?;
        transaction
            .commit()
            .map_err(|error| format!("failed to commit the impact database: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("testrig-impact-db-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("impact.sqlite")
    }

    fn unit(key: &str, fingerprint: &str) -> StoredUnit {
        StoredUnit {
            key: key.into(),
            is_function: true,
            file: "src/lib.rs".into(),
            fingerprint: fingerprint.into(),
        }
    }

    #[test]
    fn a_recorded_run_reads_back() {
        let path = temp_path("roundtrip");
        let (mut database, state) = ImpactDatabase::open(&path, "v1").unwrap();
        assert_eq!(state, DatabaseState::Missing);
        let mut ran = BTreeMap::new();
        ran.insert(
            "T/S/a".to_string(),
            TestcaseRecord {
                failed: true,
                units: ["src/lib.rs::area".to_string()].into(),
                files: ["src/lib.rs".to_string()].into(),
                inputs: "abc".into(),
            },
        );
        database
            .record(&[unit("src/lib.rs::area", "f1")], &ran)
            .unwrap();
        drop(database);
        let (database, state) = ImpactDatabase::open(&path, "v1").unwrap();
        assert_eq!(state, DatabaseState::Ready);
        assert_eq!(
            database.units().unwrap()["src/lib.rs::area"].fingerprint,
            "f1"
        );
        assert_eq!(database.testcases().unwrap()["T/S/a"], ran["T/S/a"]);
        let touching = database
            .testcases_touching(
                &["src/lib.rs::other".to_string()].into(),
                &["src/lib.rs".to_string()].into(),
            )
            .unwrap();
        assert!(
            touching["T/S/a"].units.is_empty(),
            "only the asked-for units are read"
        );
        assert_eq!(touching["T/S/a"].files, ran["T/S/a"].files);
        assert!(touching["T/S/a"].failed);
    }

    #[test]
    fn another_variant_or_a_corrupt_file_is_rebuilt() {
        let path = temp_path("variant");
        ImpactDatabase::open(&path, "v1").unwrap();
        let (_, state) = ImpactDatabase::open(&path, "v2").unwrap();
        assert!(
            matches!(state, DatabaseState::Unusable(ref reason) if reason.contains("another run variant")),
            "{state:?}"
        );
        std::fs::write(&path, b"not a database").unwrap();
        let (database, state) = ImpactDatabase::open(&path, "v2").unwrap();
        assert!(matches!(state, DatabaseState::Unusable(_)), "{state:?}");
        assert!(database.units().unwrap().is_empty());
    }
}

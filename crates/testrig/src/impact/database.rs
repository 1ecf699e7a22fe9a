//! The dependency database of affected-test selection: SQLite (bundled), one file per plan
//! and run variant, holding per testcase how it ended, the fingerprint of every function it
//! executed and the items digest of every file it executed code in, each as of *its* last
//! run to completion.
//!
//! Keeping the fingerprints per testcase is what makes partial runs safe: a filtered,
//! interrupted or timed-out run updates only the records of the testcases that ran to
//! completion; the others keep theirs, and are selected by any change since they last ran.
//! A (unit, fingerprint) pair and a (file, digest) pair are stored once and referenced by
//! id, so the selection compares each distinct pair with the current sources once, then
//! reads only the testcases of the pairs that changed.
//!
//! Writes happen in one transaction, so an interrupted run never leaves it half-updated. A
//! missing, corrupt or foreign-version database is reported as such; the caller then runs
//! everything and records afresh. Reading for a selection never writes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

/// Version of the tables below; a database of another version is rebuilt.
pub const DATABASE_VERSION: u32 = 3;

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

/// What a testcase executed and how it ended, as of its last run to completion.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestcaseRecord {
    /// Whether it failed or errored.
    pub failed: bool,
    /// The function units it executed (or that ran in a scope charged to it), each with its
    /// fingerprint as of that run.
    pub units: BTreeMap<String, String>,
    /// The files it executed any code in, each with its items digest as of that run.
    pub files: BTreeMap<String, String>,
    /// Hash of the non-source inputs of its test (binaries, templates, data files).
    pub inputs: String,
}

/// Why the database could not be used as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseState {
    /// It holds a previous run of this variant.
    Ready,
    /// There was none (first run of this plan and variant).
    Missing,
    /// It could not be read, or was written by another version: it is rebuilt.
    Unusable(String),
}

/// The open database.
pub struct ImpactDatabase {
    connection: Connection,
}

fn sql(error: rusqlite::Error) -> String {
    error.to_string()
}

impl ImpactDatabase {
    /// Opens (or creates) the database for `variant` at `path`, to record into it. A
    /// database that cannot be used is deleted and recreated; the state says why.
    pub fn open(path: &Path, variant: &str) -> Result<(ImpactDatabase, DatabaseState), String> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| {
                format!(
                    "failed to create `{}` for the impact database: {error}",
                    parent.display()
                )
            })?;
        }
        let state = Self::state(path, variant);
        if let DatabaseState::Unusable(_) = state {
            std::fs::remove_file(path).map_err(|error| {
                format!(
                    "failed to remove the unusable impact database `{}`: {error}",
                    path.display()
                )
            })?;
        }
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

    /// Opens the database for `variant` at `path` to select from it, writing nothing (a
    /// dry run, an explanation, or a run that then fails, leave it as it was): `None` with
    /// the reason when there is none or it cannot be used.
    pub fn open_to_select(
        path: &Path,
        variant: &str,
    ) -> Result<(Option<ImpactDatabase>, DatabaseState), String> {
        let state = Self::state(path, variant);
        if state != DatabaseState::Ready {
            return Ok((None, state));
        }
        let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|error| {
                format!(
                    "failed to open the impact database `{}`: {error}",
                    path.display()
                )
            })?;
        Ok((Some(ImpactDatabase { connection }), state))
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

    fn state(path: &Path, variant: &str) -> DatabaseState {
        if !path.exists() {
            return DatabaseState::Missing;
        }
        match Self::check(path, variant) {
            Ok(()) => DatabaseState::Ready,
            Err(reason) => DatabaseState::Unusable(reason),
        }
    }

    fn check(path: &Path, variant: &str) -> Result<(), String> {
        let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|error| format!("it cannot be opened: {error}"))?;
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
                 create table if not exists testcases (id integer primary key, uid text not null unique,
                     failed integer not null, inputs text not null);
                 create table if not exists fingerprints (id integer primary key, unit text not null,
                     fingerprint text not null, unique (unit, fingerprint));
                 create table if not exists digests (id integer primary key, file text not null,
                     digest text not null, unique (file, digest));
                 create table if not exists testcase_units (testcase integer not null,
                     fingerprint integer not null, primary key (testcase, fingerprint)) without rowid;
                 create table if not exists testcase_files (testcase integer not null,
                     digest integer not null, primary key (testcase, digest)) without rowid;
                 create index if not exists testcase_units_by_fingerprint on testcase_units (fingerprint);
                 create index if not exists testcase_files_by_digest on testcase_files (digest);
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

    /// Every file some testcase executed code in.
    pub fn files(&self) -> Result<Vec<String>, String> {
        let mut statement = self
            .connection
            .prepare("select distinct file from digests order by file")
            .map_err(sql)?;
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(sql)?;
        rows.map(|row| row.map_err(sql)).collect()
    }

    /// Every recorded testcase with its status and inputs, and nothing of what it executed.
    fn bare_testcases(&self) -> Result<BTreeMap<String, TestcaseRecord>, String> {
        let mut statement = self
            .connection
            .prepare("select uid, failed, inputs from testcases")
            .map_err(sql)?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(sql)?;
        let mut records = BTreeMap::new();
        for row in rows {
            let (uid, failed, inputs) = row.map_err(sql)?;
            records.insert(
                uid,
                TestcaseRecord {
                    failed: failed == 1,
                    inputs,
                    ..TestcaseRecord::default()
                },
            );
        }
        Ok(records)
    }

    /// The stored (unit, fingerprint) or (file, digest) pairs, by id.
    fn pairs(&self, table: Pairs) -> Result<Vec<(i64, String, String)>, String> {
        let (name, value) = table.columns();
        let mut statement = self
            .connection
            .prepare(&format!(
                "select id, {name}, {value} from {}",
                table.table()
            ))
            .map_err(sql)?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .map_err(sql)?;
        rows.map(|row| row.map_err(sql)).collect()
    }

    /// Adds to `records` the pairs among `wanted` (id → name, value), for the testcases
    /// that reference them.
    fn add_pairs(
        &self,
        table: Pairs,
        wanted: &[(i64, String, String)],
        records: &mut BTreeMap<String, TestcaseRecord>,
    ) -> Result<(), String> {
        let mut statement = self
            .connection
            .prepare(&format!(
                "select testcases.uid from {} join testcases on testcases.id = testcase where {} = ?1",
                table.link_table(),
                table.link_column()
            ))
            .map_err(sql)?;
        for (id, name, value) in wanted {
            let uids = statement
                .query_map(params![id], |row| row.get::<_, String>(0))
                .map_err(sql)?;
            for uid in uids {
                let record = records.entry(uid.map_err(sql)?).or_default();
                let entries = match table {
                    Pairs::Units => &mut record.units,
                    Pairs::Files => &mut record.files,
                };
                entries.insert(name.clone(), value.clone());
            }
        }
        Ok(())
    }

    /// Every recorded testcase in full, by UID.
    pub fn testcases(&self) -> Result<BTreeMap<String, TestcaseRecord>, String> {
        let mut records = self.bare_testcases()?;
        for table in [Pairs::Units, Pairs::Files] {
            let all = self.pairs(table)?;
            self.add_pairs(table, &all, &mut records)?;
        }
        Ok(records)
    }

    /// Every recorded testcase with its status and inputs, but only the executed units and
    /// files among `units` and `files` (whatever their recorded fingerprints).
    pub fn testcases_touching(
        &self,
        units: &BTreeSet<String>,
        files: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, TestcaseRecord>, String> {
        let mut records = self.bare_testcases()?;
        for (table, wanted) in [(Pairs::Units, units), (Pairs::Files, files)] {
            let pairs: Vec<_> = self
                .pairs(table)?
                .into_iter()
                .filter(|(_, name, _)| wanted.contains(name))
                .collect();
            self.add_pairs(table, &pairs, &mut records)?;
        }
        Ok(records)
    }

    /// Every recorded testcase with its status and inputs, and only what changed since its
    /// run: the units whose recorded fingerprint differs from `units` (unit key → current
    /// fingerprint; missing: the unit is gone), and the files whose recorded items digest
    /// differs from `files`. Only the testcases of changed pairs are read.
    pub fn testcases_changed(
        &self,
        units: &HashMap<&str, &str>,
        files: &HashMap<&str, &str>,
    ) -> Result<BTreeMap<String, TestcaseRecord>, String> {
        let mut records = self.bare_testcases()?;
        for (table, current) in [(Pairs::Units, units), (Pairs::Files, files)] {
            let changed: Vec<_> = self
                .pairs(table)?
                .into_iter()
                .filter(|(_, name, value)| current.get(name.as_str()) != Some(&value.as_str()))
                .collect();
            self.add_pairs(table, &changed, &mut records)?;
        }
        Ok(records)
    }

    /// Replaces the records of the testcases that ran to completion, in one transaction;
    /// the others keep theirs. With `plan`, the records of testcases that are no longer in
    /// the plan are dropped (a testcase deleted and added back is new again).
    pub fn record(
        &mut self,
        ran: &BTreeMap<String, TestcaseRecord>,
        plan: Option<&BTreeSet<String>>,
    ) -> Result<(), String> {
        let transaction = self.connection.transaction().map_err(sql)?;
        let write = |transaction: &rusqlite::Transaction| -> rusqlite::Result<()> {
            // Testcase ids by UID, as stored before this run.
            let mut known: HashMap<String, i64> = {
                let mut statement = transaction.prepare("select uid, id from testcases")?;
                let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut delete_units =
                transaction.prepare("delete from testcase_units where testcase = ?1")?;
            let mut delete_files =
                transaction.prepare("delete from testcase_files where testcase = ?1")?;
            if let Some(plan) = plan {
                let gone: Vec<String> = known
                    .keys()
                    .filter(|uid| !plan.contains(*uid))
                    .cloned()
                    .collect();
                let mut delete_testcase =
                    transaction.prepare("delete from testcases where id = ?1")?;
                for uid in gone {
                    if let Some(id) = known.remove(&uid) {
                        delete_units.execute(params![id])?;
                        delete_files.execute(params![id])?;
                        delete_testcase.execute(params![id])?;
                    }
                }
            }
            let mut update_testcase = transaction
                .prepare("update testcases set failed = ?2, inputs = ?3 where id = ?1")?;
            let mut insert_testcase = transaction
                .prepare("insert into testcases (uid, failed, inputs) values (?1, ?2, ?3)")?;
            let mut ids = PairIds::default();
            let link = |table: Pairs| {
                transaction.prepare(&format!(
                    "insert or ignore into {} (testcase, {}) values (?1, ?2)",
                    table.link_table(),
                    table.link_column()
                ))
            };
            let (mut link_units, mut link_files) = (link(Pairs::Units)?, link(Pairs::Files)?);
            for (uid, record) in ran {
                let failed = if record.failed { 1 } else { 0 };
                let testcase = match known.get(uid) {
                    // Re-recorded: its old links go.
                    Some(&id) => {
                        delete_units.execute(params![id])?;
                        delete_files.execute(params![id])?;
                        update_testcase.execute(params![id, failed, record.inputs])?;
                        id
                    }
                    None => {
                        insert_testcase.execute(params![uid, failed, record.inputs])?;
                        transaction.last_insert_rowid()
                    }
                };
                for (table, link, entries) in [
                    (Pairs::Units, &mut link_units, &record.units),
                    (Pairs::Files, &mut link_files, &record.files),
                ] {
                    for (name, value) in entries {
                        let pair = ids.id(transaction, table, name, value)?;
                        link.execute(params![testcase, pair])?;
                    }
                }
            }
            // Pairs no record references any more.
            for table in [Pairs::Units, Pairs::Files] {
                transaction.execute(
                    &format!(
                        "delete from {} where id not in (select {} from {})",
                        table.table(),
                        table.link_column(),
                        table.link_table()
                    ),
                    [],
                )?;
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

/// The two kinds of stored pair: a unit with its fingerprint, a file with its digest.
#[derive(Debug, Clone, Copy)]
enum Pairs {
    Units,
    Files,
}

impl Pairs {
    fn table(self) -> &'static str {
        match self {
            Pairs::Units => "fingerprints",
            Pairs::Files => "digests",
        }
    }

    fn columns(self) -> (&'static str, &'static str) {
        match self {
            Pairs::Units => ("unit", "fingerprint"),
            Pairs::Files => ("file", "digest"),
        }
    }

    fn link_table(self) -> &'static str {
        match self {
            Pairs::Units => "testcase_units",
            Pairs::Files => "testcase_files",
        }
    }

    fn link_column(self) -> &'static str {
        match self {
            Pairs::Units => "fingerprint",
            Pairs::Files => "digest",
        }
    }
}

/// The ids of the pairs met while recording, so each is looked up or inserted once: per
/// table, name → value → id.
#[derive(Default)]
struct PairIds([HashMap<String, HashMap<String, i64>>; 2]);

impl PairIds {
    fn id(
        &mut self,
        transaction: &rusqlite::Transaction,
        table: Pairs,
        name: &str,
        value: &str,
    ) -> rusqlite::Result<i64> {
        if let Some(&id) = self.0[table as usize]
            .get(name)
            .and_then(|values| values.get(value))
        {
            return Ok(id);
        }
        let (name_column, value_column) = table.columns();
        // Prepared once per table and transaction (the connection caches them).
        let found: Option<i64> = transaction
            .prepare_cached(&format!(
                "select id from {} where {name_column} = ?1 and {value_column} = ?2",
                table.table()
            ))?
            .query_row(params![name, value], |row| row.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                transaction
                    .prepare_cached(&format!(
                        "insert into {} ({name_column}, {value_column}) values (?1, ?2)",
                        table.table()
                    ))?
                    .execute(params![name, value])?;
                transaction.last_insert_rowid()
            }
        };
        self.0[table as usize]
            .entry(name.to_string())
            .or_default()
            .insert(value.to_string(), id);
        Ok(id)
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

    fn record(units: &[(&str, &str)], files: &[(&str, &str)], failed: bool) -> TestcaseRecord {
        let pairs = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect()
        };
        TestcaseRecord {
            failed,
            units: pairs(units),
            files: pairs(files),
            inputs: "abc".into(),
        }
    }

    fn current<'a>(pairs: &[(&'a str, &'a str)]) -> HashMap<&'a str, &'a str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn a_recorded_run_reads_back() {
        let path = temp_path("roundtrip");
        let (mut database, state) = ImpactDatabase::open(&path, "v1").unwrap();
        assert_eq!(state, DatabaseState::Missing);
        let ran: BTreeMap<String, TestcaseRecord> = [(
            "T/S/a".to_string(),
            record(&[("src/lib.rs::area", "f1")], &[("src/lib.rs", "d1")], true),
        )]
        .into();
        database.record(&ran, None).unwrap();
        drop(database);
        let (database, state) = ImpactDatabase::open_to_select(&path, "v1").unwrap();
        assert_eq!(state, DatabaseState::Ready);
        let database = database.unwrap();
        assert_eq!(database.testcases().unwrap(), ran);
        assert_eq!(database.files().unwrap(), ["src/lib.rs"]);
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
        let unchanged = database
            .testcases_changed(
                &current(&[("src/lib.rs::area", "f1")]),
                &current(&[("src/lib.rs", "d1")]),
            )
            .unwrap();
        assert!(unchanged["T/S/a"].units.is_empty() && unchanged["T/S/a"].files.is_empty());
        let changed = database
            .testcases_changed(&current(&[]), &current(&[("src/lib.rs", "d2")]))
            .unwrap();
        assert_eq!(
            changed["T/S/a"],
            record(&[("src/lib.rs::area", "f1")], &[("src/lib.rs", "d1")], true),
            "a unit that is gone and a file with another digest are changed, with the recorded values"
        );
    }

    #[test]
    fn a_partial_run_keeps_the_records_of_what_did_not_run() {
        let path = temp_path("partial");
        let (mut database, _) = ImpactDatabase::open(&path, "v1").unwrap();
        let both: BTreeMap<String, TestcaseRecord> = ["T/S/a", "T/S/b"]
            .iter()
            .map(|uid| {
                (
                    uid.to_string(),
                    record(&[("src/lib.rs::f", "old")], &[], false),
                )
            })
            .collect();
        database.record(&both, None).unwrap();
        // Only `a` ran after `f` changed (a filtered or interrupted run).
        let only_a: BTreeMap<String, TestcaseRecord> = [(
            "T/S/a".to_string(),
            record(&[("src/lib.rs::f", "new")], &[], false),
        )]
        .into();
        database.record(&only_a, None).unwrap();
        let changed = database
            .testcases_changed(&current(&[("src/lib.rs::f", "new")]), &current(&[]))
            .unwrap();
        assert!(changed["T/S/a"].units.is_empty(), "a saw the change");
        assert_eq!(
            changed["T/S/b"].units,
            [("src/lib.rs::f".to_string(), "old".to_string())].into(),
            "b did not: its record still holds the old fingerprint"
        );
        // A run of the whole plan drops the records of testcases no longer in it, and the
        // pairs nothing references.
        database
            .record(&only_a, Some(&["T/S/a".to_string()].into()))
            .unwrap();
        assert_eq!(
            database.testcases().unwrap().keys().collect::<Vec<_>>(),
            ["T/S/a"]
        );
        let pairs = database.pairs(Pairs::Units).unwrap();
        assert_eq!(pairs.len(), 1, "{pairs:?}");
    }

    #[test]
    fn another_variant_or_a_corrupt_file_is_rebuilt_and_selecting_writes_nothing() {
        let path = temp_path("variant");
        ImpactDatabase::open(&path, "v1").unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let (database, state) = ImpactDatabase::open_to_select(&path, "v2").unwrap();
        assert!(database.is_none());
        assert!(
            matches!(state, DatabaseState::Unusable(ref reason) if reason.contains("another run variant")),
            "{state:?}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "selecting wrote nothing"
        );
        let (_, state) = ImpactDatabase::open(&path, "v2").unwrap();
        assert!(matches!(state, DatabaseState::Unusable(_)), "{state:?}");
        std::fs::write(&path, b"not a database").unwrap();
        let (database, state) = ImpactDatabase::open(&path, "v2").unwrap();
        assert!(matches!(state, DatabaseState::Unusable(_)), "{state:?}");
        assert!(database.testcases().unwrap().is_empty());
        let missing = temp_path("missing");
        let (database, state) = ImpactDatabase::open_to_select(&missing, "v1").unwrap();
        assert!(database.is_none() && state == DatabaseState::Missing);
        assert!(!missing.exists(), "selecting created nothing");
    }
}

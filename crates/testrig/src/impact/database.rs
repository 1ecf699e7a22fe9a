//! The dependency database of affected-test selection: SQLite (bundled), one file per plan
//! and run variant, holding per testcase how it ended, the fingerprint of every function it
//! executed and the items digest of every file it executed code in, each as of *its* last
//! run to completion.
//!
//! Keeping the fingerprints per testcase is what makes partial runs safe: a filtered,
//! interrupted or timed-out run updates only the records of the testcases that ran to
//! completion; the others keep theirs, and are selected by any change since they last ran.
//! A (unit, fingerprint) pair and a (file, digest) pair are stored once and referenced by
//! id, and so is what ran in a scope window (plan set-up, a test's environment, a suite's
//! hooks) of one run: a testcase's record holds the ids of its own pairs and of the windows
//! charged to it. The records of the testcases of one parent (a suite, a parametrization)
//! are one row, as they are written and read together: a row per testcase was most of the
//! cost of recording a run of small testcases. The selection compares each distinct pair
//! with the current sources once, then decodes the id lists in one pass.
//!
//! Writes happen in one transaction, so an interrupted run never leaves it half-updated. A
//! missing, corrupt or foreign-version database is reported as such; the caller then runs
//! everything and records afresh. Reading for a selection never writes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

/// Version of the tables below; a database of another version is rebuilt.
pub const DATABASE_VERSION: u32 = 5;

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
        // The database is a cache: losing the last run's records to a power cut only makes
        // the next run select more, while each commit's syncs cost milliseconds. The journal
        // is still written, so a plan killed mid-commit leaves the previous state.
        connection
            .pragma_update(None, "synchronous", "OFF")
            .map_err(|error| format!("failed to configure the impact database: {error}"))?;
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
                // One transaction: the tables and the meta rows in one journal.
                "begin;
                 create table if not exists meta (key text primary key, value text not null);
                 create table if not exists testcase_groups (parent text primary key,
                     records blob not null) without rowid;
                 create table if not exists fingerprints (id integer primary key, unit text not null,
                     fingerprint text not null, unique (unit, fingerprint));
                 create table if not exists digests (id integer primary key, file text not null,
                     digest text not null, unique (file, digest));
                 create table if not exists windows (id integer primary key, units blob not null,
                     files blob not null);",
            )
            .map_err(|error| format!("failed to create the impact database tables: {error}"))?;
        self.connection
            .execute(
                "insert or replace into meta (key, value) values ('version', ?1), ('variant', ?2)",
                params![DATABASE_VERSION.to_string(), variant],
            )
            .and_then(|_| self.connection.execute_batch("commit;"))
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

    /// Every recorded testcase with its status and inputs, and of what it executed only
    /// the (name, value) pairs `wanted` accepts: one pass over the pairs, the windows and
    /// the testcases, decoding id lists, so the cost stays linear in the records.
    fn scan(
        &self,
        wanted: impl Fn(Pairs, &str, &str) -> bool,
    ) -> Result<BTreeMap<String, TestcaseRecord>, String> {
        let mut kept: [HashMap<i64, (String, String)>; 2] = Default::default();
        for table in [Pairs::Units, Pairs::Files] {
            kept[table as usize] = self
                .pairs(table)?
                .into_iter()
                .filter(|(_, name, value)| wanted(table, name, value))
                .map(|(id, name, value)| (id, (name, value)))
                .collect();
        }
        let kept_of = |blob: &[u8], table: Pairs| -> Vec<i64> {
            if kept[table as usize].is_empty() {
                return Vec::new();
            }
            decode_ids(blob)
                .filter(|id| kept[table as usize].contains_key(id))
                .collect()
        };
        let read = || -> rusqlite::Result<BTreeMap<String, TestcaseRecord>> {
            // Windows with a kept pair, and those pairs.
            let mut windows: HashMap<i64, [Vec<i64>; 2]> = HashMap::new();
            let mut statement = self
                .connection
                .prepare("select id, units, files from windows")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let units = kept_of(blob(row, 1)?, Pairs::Units);
                let files = kept_of(blob(row, 2)?, Pairs::Files);
                if !units.is_empty() || !files.is_empty() {
                    windows.insert(row.get(0)?, [units, files]);
                }
            }
            let mut records = BTreeMap::new();
            let mut statement = self
                .connection
                .prepare("select parent, records from testcase_groups")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let parent: String = row.get(0)?;
                for entry in GroupEntries::new(blob(row, 1)?) {
                    let entry = entry.map_err(|error| malformed(1, error))?;
                    let mut record = TestcaseRecord {
                        failed: entry.failed,
                        inputs: entry.inputs.to_string(),
                        ..TestcaseRecord::default()
                    };
                    let mut ids = [
                        kept_of(entry.units, Pairs::Units),
                        kept_of(entry.files, Pairs::Files),
                    ];
                    if !windows.is_empty() {
                        for window in decode_ids(entry.windows) {
                            if let Some([units, files]) = windows.get(&window) {
                                ids[0].extend(units);
                                ids[1].extend(files);
                            }
                        }
                    }
                    for (table, entries) in [
                        (Pairs::Units, &mut record.units),
                        (Pairs::Files, &mut record.files),
                    ] {
                        for id in &ids[table as usize] {
                            if let Some((name, value)) = kept[table as usize].get(id) {
                                entries.insert(name.clone(), value.clone());
                            }
                        }
                    }
                    records.insert(uid_of(&parent, entry.name), record);
                }
            }
            Ok(records)
        };
        read().map_err(sql)
    }

    /// Every recorded testcase in full, by UID.
    pub fn testcases(&self) -> Result<BTreeMap<String, TestcaseRecord>, String> {
        self.scan(|_, _, _| true)
    }

    /// Every recorded testcase with its status and inputs, but only the executed units and
    /// files among `units` and `files` (whatever their recorded fingerprints).
    pub fn testcases_touching(
        &self,
        units: &BTreeSet<String>,
        files: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, TestcaseRecord>, String> {
        self.scan(|table, name, _| match table {
            Pairs::Units => units.contains(name),
            Pairs::Files => files.contains(name),
        })
    }

    /// Every recorded testcase with its status and inputs, and only what changed since its
    /// run: the units whose recorded fingerprint differs from `units` (unit key → current
    /// fingerprint; missing: the unit is gone), and the files whose recorded items digest
    /// differs from `files`. Each distinct pair is compared once.
    pub fn testcases_changed(
        &self,
        units: &HashMap<&str, &str>,
        files: &HashMap<&str, &str>,
    ) -> Result<BTreeMap<String, TestcaseRecord>, String> {
        self.scan(|table, name, value| {
            let current = match table {
                Pairs::Units => units,
                Pairs::Files => files,
            };
            current.get(name) != Some(&value)
        })
    }

    /// Replaces the records of the given testcases, each on its own (no shared windows):
    /// see [`record_run`](Self::record_run).
    pub fn record(
        &mut self,
        ran: &BTreeMap<String, TestcaseRecord>,
        plan: Option<&BTreeSet<String>>,
    ) -> Result<(), String> {
        let in_plan = plan.map(|plan| move |uid: &str| plan.contains(uid));
        self.record_run(
            &RunRecords::from_records(ran),
            in_plan
                .as_ref()
                .map(|in_plan| in_plan as &dyn Fn(&str) -> bool),
        )
    }

    /// Replaces the records of the testcases that ran to completion, in one transaction;
    /// the others keep theirs. With `in_plan`, the records of testcases that are no longer
    /// in the plan are dropped (a testcase deleted and added back is new again). Windows and
    /// pairs no record references any more are dropped.
    pub fn record_run(
        &mut self,
        run: &RunRecords,
        in_plan: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<(), String> {
        let mut writer = self.writer()?;
        let units = run
            .units
            .iter()
            .map(|(name, value)| writer.unit_id(name, value))
            .collect::<Result<Vec<_>, _>>()?;
        let files = run
            .files
            .iter()
            .map(|(name, value)| writer.file_id(name, value))
            .collect::<Result<Vec<_>, _>>()?;
        let ids = |set: &PairSet| -> (Vec<i64>, Vec<i64>) {
            (
                set.units.iter().map(|&unit| units[unit as usize]).collect(),
                set.files.iter().map(|&file| files[file as usize]).collect(),
            )
        };
        let mut windows = Vec::with_capacity(run.windows.len());
        for window in &run.windows {
            let id = writer.reserve_window()?;
            let (units, files) = ids(window);
            writer.fill_window(id, &units, &files)?;
            windows.push(id);
        }
        for testcase in &run.testcases {
            let (units, files) = ids(&testcase.own);
            let charged: Vec<i64> = testcase
                .windows
                .iter()
                .map(|&window| windows[window as usize])
                .collect();
            writer.record(
                &testcase.uid,
                testcase.failed,
                &testcase.inputs,
                &units,
                &files,
                &charged,
            )?;
        }
        writer.finish(in_plan)
    }

    /// Starts writing a run's records, one testcase at a time (while the run goes on); all
    /// of it lands in one transaction at [`RunWriter::finish`], or nothing if the writer is
    /// dropped before.
    pub fn writer(&mut self) -> Result<RunWriter<'_>, String> {
        let failed = |error: rusqlite::Error| {
            format!("failed to record the run in the impact database: {error}")
        };
        let transaction = self.connection.transaction().map_err(failed)?;
        // Into an empty database (the first run of a variant), nothing can go stale.
        let had_records: bool = transaction
            .query_row(
                "select exists (select 1 from testcase_groups) or exists (select 1 from windows)",
                [],
                |row| row.get(0),
            )
            .map_err(failed)?;
        let pairs = [
            stored_pairs(&transaction, Pairs::Units).map_err(failed)?,
            stored_pairs(&transaction, Pairs::Files).map_err(failed)?,
        ];
        Ok(RunWriter {
            transaction,
            had_records,
            groups: HashMap::new(),
            batch: 0,
            written: HashSet::new(),
            pairs,
        })
    }
}

/// A run's records being written (see [`ImpactDatabase::writer`]). Ids are those of the
/// database: pairs and windows are stored once and referenced by the testcases' rows.
pub struct RunWriter<'c> {
    transaction: rusqlite::Transaction<'c>,
    had_records: bool,
    /// The records of this run, by parent UID, written at [`finish`](Self::finish).
    groups: HashMap<String, PendingGroup>,
    /// The number of the current batch (see [`end_batch`](Self::end_batch)).
    batch: u64,
    /// The groups written during this run already.
    written: HashSet<String>,
    /// The stored pairs' ids, per [`Pairs`], by (name, value).
    pairs: [HashMap<(String, String), i64>; 2],
}

/// The records of one parent's testcases in this run, encoded as stored.
#[derive(Default)]
struct PendingGroup {
    records: Vec<u8>,
    /// The last batch that recorded into it.
    batch: u64,
}

fn write_error(error: rusqlite::Error) -> String {
    format!("failed to record the run in the impact database: {error}")
}

impl RunWriter<'_> {
    /// The id of a (unit key, fingerprint) pair, stored if new.
    pub fn unit_id(&mut self, unit: &str, fingerprint: &str) -> Result<i64, String> {
        self.pair_id(Pairs::Units, unit, fingerprint)
    }

    /// The id of a (file, items digest) pair, stored if new.
    pub fn file_id(&mut self, file: &str, digest: &str) -> Result<i64, String> {
        self.pair_id(Pairs::Files, file, digest)
    }

    fn pair_id(&mut self, table: Pairs, name: &str, value: &str) -> Result<i64, String> {
        let key = (name.to_string(), value.to_string());
        if let Some(&id) = self.pairs[table as usize].get(&key) {
            return Ok(id);
        }
        let (name_column, value_column) = table.columns();
        self.transaction
            .prepare_cached(&format!(
                "insert into {} ({name_column}, {value_column}) values (?1, ?2)",
                table.table()
            ))
            .and_then(|mut insert| insert.execute(params![name, value]))
            .map_err(write_error)?;
        let id = self.transaction.last_insert_rowid();
        self.pairs[table as usize].insert(key, id);
        Ok(id)
    }

    /// A new, empty scope window; its content comes with [`fill_window`](Self::fill_window)
    /// once the scope has ended, while testcases can already reference it.
    pub fn reserve_window(&mut self) -> Result<i64, String> {
        self.transaction
            .prepare_cached("insert into windows (units, files) values (x'', x'')")
            .and_then(|mut insert| insert.execute([]))
            .map_err(write_error)?;
        Ok(self.transaction.last_insert_rowid())
    }

    /// What ran in a reserved window: unit and file pair ids.
    pub fn fill_window(&mut self, window: i64, units: &[i64], files: &[i64]) -> Result<(), String> {
        let units = encode_ids(units.iter().copied()).map_err(write_error)?;
        let files = encode_ids(files.iter().copied()).map_err(write_error)?;
        self.transaction
            .prepare_cached("update windows set units = ?2, files = ?3 where id = ?1")
            .and_then(|mut update| update.execute(params![window, units, files]))
            .map_err(write_error)?;
        Ok(())
    }

    /// A testcase's record (replacing its previous one): what its own window executed, as
    /// pair ids, and the windows charged to it.
    pub fn record(
        &mut self,
        uid: &str,
        failed: bool,
        inputs: &str,
        units: &[i64],
        files: &[i64],
        windows: &[i64],
    ) -> Result<(), String> {
        let (parent, name) = split_uid(uid);
        let group = match self.groups.get_mut(parent) {
            Some(group) => group,
            None => self.groups.entry(parent.to_string()).or_default(),
        };
        group.batch = self.batch;
        encode_entry(
            &mut group.records,
            name,
            failed,
            inputs,
            units,
            files,
            windows,
        )
        .map_err(write_error)
    }

    /// Ends a batch of records: the groups none of its testcases recorded into are written
    /// now, as their testcases have most likely all ended, rather than all at the end of the
    /// run, while the plan waits.
    pub fn end_batch(&mut self) -> Result<(), String> {
        let batch = self.batch;
        self.batch += 1;
        let idle: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, group)| group.batch < batch)
            .map(|(parent, _)| parent.clone())
            .collect();
        for parent in idle {
            if let Some(group) = self.groups.remove(&parent) {
                self.write_group(parent, group).map_err(write_error)?;
            }
        }
        Ok(())
    }

    /// Writes the records of one group, merged with what its stored row holds for the
    /// testcases that did not run this time (or ran earlier in this run).
    fn write_group(&mut self, parent: String, group: PendingGroup) -> rusqlite::Result<()> {
        let stored: Option<Vec<u8>> = if self.had_records || self.written.contains(&parent) {
            self.transaction
                .prepare_cached("select records from testcase_groups where parent = ?1")?
                .query_row(params![parent], |row| row.get(0))
                .optional()?
        } else {
            None
        };
        // Merged even without a stored row: a testcase recorded twice in this run keeps
        // its last record.
        let records = merge_entries(stored.as_deref().unwrap_or_default(), &group.records)
            .map_err(|error| malformed(0, error))?;
        self.transaction
            .prepare_cached(
                "insert into testcase_groups (parent, records) values (?1, ?2)
                 on conflict (parent) do update set records = excluded.records",
            )?
            .execute(params![parent, records])?;
        self.written.insert(parent);
        Ok(())
    }

    /// Drops the records of testcases no longer in the plan (with `in_plan`) and what no
    /// record references any more, and commits.
    pub fn finish(mut self, in_plan: Option<&dyn Fn(&str) -> bool>) -> Result<(), String> {
        for (parent, group) in std::mem::take(&mut self.groups) {
            self.write_group(parent, group).map_err(write_error)?;
        }
        let transaction = &self.transaction;
        let sweep = || -> rusqlite::Result<()> {
            // Into an empty database, only testcases of this plan were written.
            if let Some(in_plan) = in_plan
                && self.had_records
            {
                drop_testcases_not_in_plan(transaction, in_plan)?;
            }
            if self.had_records {
                collect_garbage(transaction)?;
            }
            Ok(())
        };
        sweep().map_err(write_error)?;
        self.transaction
            .commit()
            .map_err(|error| format!("failed to commit the impact database: {error}"))
    }
}

/// Rewrites the groups that hold records of testcases `in_plan` rejects without them.
fn drop_testcases_not_in_plan(
    transaction: &rusqlite::Transaction,
    in_plan: &dyn Fn(&str) -> bool,
) -> rusqlite::Result<()> {
    let mut rewritten: Vec<(String, Vec<u8>)> = Vec::new();
    {
        let mut statement = transaction.prepare("select parent, records from testcase_groups")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let parent: String = row.get(0)?;
            let records = blob(row, 1)?;
            let mut kept = Vec::with_capacity(records.len());
            let mut dropped = false;
            for entry in GroupEntries::new(records) {
                let entry = entry.map_err(|error| malformed(1, error))?;
                if in_plan(&uid_of(&parent, entry.name)) {
                    kept.extend_from_slice(entry.bytes);
                } else {
                    dropped = true;
                }
            }
            if dropped {
                rewritten.push((parent, kept));
            }
        }
    }
    for (parent, records) in rewritten {
        if records.is_empty() {
            transaction.execute(
                "delete from testcase_groups where parent = ?1",
                params![parent],
            )?;
        } else {
            transaction.execute(
                "update testcase_groups set records = ?2 where parent = ?1",
                params![parent, records],
            )?;
        }
    }
    Ok(())
}

/// A testcase UID as (parent UID, own name): its records are stored in its parent's row.
fn split_uid(uid: &str) -> (&str, &str) {
    uid.rsplit_once('/').unwrap_or(("", uid))
}

/// The UID of the testcase `name` of `parent` (see [`split_uid`]).
fn uid_of(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// One run's records in the form they are stored: each distinct (unit, fingerprint) and
/// (file, digest) pair once, and what ran in each scope window (plan set-up, a test's
/// environment, a suite's hooks) once, referenced by every testcase it is charged to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunRecords {
    /// (unit key, fingerprint) pairs, referenced by index.
    pub units: Vec<(String, String)>,
    /// (file, items digest) pairs, referenced by index.
    pub files: Vec<(String, String)>,
    /// What ran in each scope window, referenced by index.
    pub windows: Vec<PairSet>,
    /// The testcases that ran to completion.
    pub testcases: Vec<RunTestcase>,
}

/// Indices into [`RunRecords::units`] and [`RunRecords::files`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairSet {
    /// Unit pairs.
    pub units: Vec<u32>,
    /// File pairs.
    pub files: Vec<u32>,
}

/// One testcase's record in a [`RunRecords`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunTestcase {
    /// Its UID.
    pub uid: String,
    /// Whether it failed or errored.
    pub failed: bool,
    /// Hash of the non-source inputs of its test.
    pub inputs: String,
    /// What its own window (body and pre/post-testcase hooks) executed.
    pub own: PairSet,
    /// The scope windows charged to it, as indices into [`RunRecords::windows`].
    pub windows: Vec<u32>,
}

impl RunRecords {
    /// Records given one by one, each with everything it executed as its own.
    pub fn from_records(records: &BTreeMap<String, TestcaseRecord>) -> RunRecords {
        let mut run = RunRecords::default();
        let mut indices: [HashMap<(&str, &str), u32>; 2] = Default::default();
        for (uid, record) in records {
            let mut own = PairSet::default();
            for (table, entries) in [(Pairs::Units, &record.units), (Pairs::Files, &record.files)] {
                let pairs = match table {
                    Pairs::Units => &mut run.units,
                    Pairs::Files => &mut run.files,
                };
                for (name, value) in entries {
                    let index =
                        *indices[table as usize]
                            .entry((name, value))
                            .or_insert_with(|| {
                                pairs.push((name.clone(), value.clone()));
                                (pairs.len() - 1) as u32
                            });
                    match table {
                        Pairs::Units => own.units.push(index),
                        Pairs::Files => own.files.push(index),
                    }
                }
            }
            run.testcases.push(RunTestcase {
                uid: uid.clone(),
                failed: record.failed,
                inputs: record.inputs.clone(),
                own,
                windows: Vec::new(),
            });
        }
        run
    }
}

#[cfg(test)]
impl RunRecords {
    /// Each testcase's record with its windows folded in, as the database reads it back.
    pub(crate) fn expand(&self) -> BTreeMap<String, TestcaseRecord> {
        let pairs = |set: &PairSet, record: &mut TestcaseRecord| {
            for &unit in &set.units {
                let (key, fingerprint) = &self.units[unit as usize];
                record.units.insert(key.clone(), fingerprint.clone());
            }
            for &file in &set.files {
                let (key, digest) = &self.files[file as usize];
                record.files.insert(key.clone(), digest.clone());
            }
        };
        self.testcases
            .iter()
            .map(|testcase| {
                let mut record = TestcaseRecord {
                    failed: testcase.failed,
                    inputs: testcase.inputs.clone(),
                    ..TestcaseRecord::default()
                };
                pairs(&testcase.own, &mut record);
                for &window in &testcase.windows {
                    pairs(&self.windows[window as usize], &mut record);
                }
                (testcase.uid.clone(), record)
            })
            .collect()
    }
}

/// The stored pairs of one kind, by (name, value): read in one pass, since looking each
/// one up costs a statement per pair.
fn stored_pairs(
    transaction: &rusqlite::Transaction,
    table: Pairs,
) -> rusqlite::Result<HashMap<(String, String), i64>> {
    let (name, value) = table.columns();
    let mut stored = HashMap::new();
    let mut statement = transaction.prepare(&format!(
        "select id, {name}, {value} from {}",
        table.table()
    ))?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        stored.insert((row.get(1)?, row.get(2)?), row.get(0)?);
    }
    Ok(stored)
}

/// Drops the windows no testcase references, then the pairs neither a testcase nor a
/// window references.
fn collect_garbage(transaction: &rusqlite::Transaction) -> rusqlite::Result<()> {
    let mut used: [HashSet<i64>; 2] = Default::default();
    let mut used_windows = HashSet::new();
    {
        let mut statement = transaction.prepare("select records from testcase_groups")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            for entry in GroupEntries::new(blob(row, 0)?) {
                let entry = entry.map_err(|error| malformed(0, error))?;
                used[0].extend(decode_ids(entry.units));
                used[1].extend(decode_ids(entry.files));
                used_windows.extend(decode_ids(entry.windows));
            }
        }
    }
    let stale_windows: Vec<i64> = {
        let mut statement = transaction.prepare("select id, units, files from windows")?;
        let mut rows = statement.query([])?;
        let mut stale = Vec::new();
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            if used_windows.contains(&id) {
                used[0].extend(decode_ids(blob(row, 1)?));
                used[1].extend(decode_ids(blob(row, 2)?));
            } else {
                stale.push(id);
            }
        }
        stale
    };
    let mut delete = transaction.prepare("delete from windows where id = ?1")?;
    for id in stale_windows {
        delete.execute(params![id])?;
    }
    for table in [Pairs::Units, Pairs::Files] {
        let stale: Vec<i64> = {
            let mut statement =
                transaction.prepare(&format!("select id from {}", table.table()))?;
            let rows = statement.query_map([], |row| row.get::<_, i64>(0))?;
            rows.filter(|id| {
                id.as_ref()
                    .is_ok_and(|id| !used[table as usize].contains(id))
            })
            .collect::<rusqlite::Result<_>>()?
        };
        let mut delete =
            transaction.prepare(&format!("delete from {} where id = ?1", table.table()))?;
        for id in stale {
            delete.execute(params![id])?;
        }
    }
    Ok(())
}

/// Ids as stored in a blob: little-endian `u32`s, which keeps a testcase's record inside
/// its group's row (a row per executed function was most of the cost of recording).
fn encode_ids(ids: impl Iterator<Item = i64>) -> rusqlite::Result<Vec<u8>> {
    let mut blob = Vec::new();
    for id in ids {
        let id = u32::try_from(id)
            .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?;
        blob.extend_from_slice(&id.to_le_bytes());
    }
    Ok(blob)
}

/// The bytes of a blob column.
fn blob<'r>(row: &'r rusqlite::Row, index: usize) -> rusqlite::Result<&'r [u8]> {
    let value = row.get_ref(index)?;
    value.as_bytes().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(index, value.data_type(), Box::new(error))
    })
}

/// The ids of an [`encode_ids`] blob; a trailing partial id (a damaged row) is ignored.
fn decode_ids(blob: &[u8]) -> impl Iterator<Item = i64> + '_ {
    blob.chunks_exact(4)
        .map(|bytes| i64::from(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])))
}

/// Appends one testcase's record to a group's blob: its name, whether it failed, its inputs
/// digest, then its unit, file and window ids, each string and id list preceded by its
/// length as a little-endian `u32`.
fn encode_entry(
    records: &mut Vec<u8>,
    name: &str,
    failed: bool,
    inputs: &str,
    units: &[i64],
    files: &[i64],
    windows: &[i64],
) -> rusqlite::Result<()> {
    let length = |length: usize| {
        u32::try_from(length)
            .map(u32::to_le_bytes)
            .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))
    };
    records.extend_from_slice(&length(name.len())?);
    records.extend_from_slice(name.as_bytes());
    records.push(u8::from(failed));
    records.extend_from_slice(&length(inputs.len())?);
    records.extend_from_slice(inputs.as_bytes());
    for ids in [units, files, windows] {
        records.extend_from_slice(&length(ids.len())?);
        records.extend_from_slice(&encode_ids(ids.iter().copied())?);
    }
    Ok(())
}

/// One testcase's record in a group's blob, borrowed from it.
struct GroupEntry<'b> {
    name: &'b str,
    failed: bool,
    inputs: &'b str,
    /// Encoded id lists (see [`decode_ids`]).
    units: &'b [u8],
    files: &'b [u8],
    windows: &'b [u8],
    /// The whole entry as encoded.
    bytes: &'b [u8],
}

/// The entries of a group's blob, in order; a damaged blob ends with an error.
struct GroupEntries<'b> {
    rest: &'b [u8],
}

impl<'b> GroupEntries<'b> {
    fn new(records: &'b [u8]) -> Self {
        GroupEntries { rest: records }
    }

    fn take(&mut self, count: usize) -> Result<&'b [u8], &'static str> {
        if self.rest.len() < count {
            return Err("a testcase record is cut short");
        }
        let (taken, rest) = self.rest.split_at(count);
        self.rest = rest;
        Ok(taken)
    }

    fn length(&mut self) -> Result<usize, &'static str> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize)
    }

    fn text(&mut self) -> Result<&'b str, &'static str> {
        let length = self.length()?;
        std::str::from_utf8(self.take(length)?).map_err(|_| "a testcase record is not UTF-8")
    }

    fn ids(&mut self) -> Result<&'b [u8], &'static str> {
        let count = self.length()?;
        self.take(
            count
                .checked_mul(4)
                .ok_or("a testcase record is too long")?,
        )
    }

    fn entry(&mut self) -> Result<GroupEntry<'b>, &'static str> {
        let start = self.rest;
        let name = self.text()?;
        let failed = self.take(1)?[0] != 0;
        let inputs = self.text()?;
        let (units, files, windows) = (self.ids()?, self.ids()?, self.ids()?);
        let bytes = &start[..start.len() - self.rest.len()];
        Ok(GroupEntry {
            name,
            failed,
            inputs,
            units,
            files,
            windows,
            bytes,
        })
    }
}

impl<'b> Iterator for GroupEntries<'b> {
    type Item = Result<GroupEntry<'b>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let entry = self.entry();
        if entry.is_err() {
            self.rest = &[];
        }
        Some(entry)
    }
}

/// The entries of `stored` whose testcases `new` has no entry for, then those of `new`
/// (the last one of each testcase).
fn merge_entries(stored: &[u8], new: &[u8]) -> Result<Vec<u8>, &'static str> {
    let new_entries = GroupEntries::new(new).collect::<Result<Vec<_>, _>>()?;
    let last: HashMap<&str, usize> = new_entries
        .iter()
        .enumerate()
        .map(|(index, entry)| (entry.name, index))
        .collect();
    let mut merged = Vec::with_capacity(stored.len() + new.len());
    for entry in GroupEntries::new(stored) {
        let entry = entry?;
        if !last.contains_key(entry.name) {
            merged.extend_from_slice(entry.bytes);
        }
    }
    for (index, entry) in new_entries.iter().enumerate() {
        if last[entry.name] == index {
            merged.extend_from_slice(entry.bytes);
        }
    }
    Ok(merged)
}

/// The error of a damaged group blob in column `column`.
fn malformed(column: usize, error: &'static str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Blob, error.into())
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
    fn a_window_is_stored_once_and_kept_while_a_record_references_it() {
        let path = temp_path("windows");
        let (mut database, _) = ImpactDatabase::open(&path, "v1").unwrap();
        let pairs = |units: &[(&str, &str)]| -> Vec<(String, String)> {
            units
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect()
        };
        let testcase = |uid: &str, own: u32, windows: Vec<u32>| RunTestcase {
            uid: uid.into(),
            failed: false,
            inputs: "i".into(),
            own: PairSet {
                units: vec![own],
                files: vec![0],
            },
            windows,
        };
        // `setup` ran in the suite's window, charged to both testcases.
        let first = RunRecords {
            units: pairs(&[
                ("src/lib.rs::a", "1"),
                ("src/lib.rs::b", "1"),
                ("src/lib.rs::setup", "old"),
            ]),
            files: pairs(&[("src/lib.rs", "d")]),
            windows: vec![PairSet {
                units: vec![2],
                files: vec![0],
            }],
            testcases: vec![testcase("T/S/a", 0, vec![0]), testcase("T/S/b", 1, vec![0])],
        };
        database.record_run(&first, None).unwrap();
        let records = database.testcases().unwrap();
        assert_eq!(records, first.expand());
        assert_eq!(records["T/S/b"].units["src/lib.rs::setup"], "old");
        // Only `a` runs again after `setup` changed: `b` keeps the old window.
        let second = RunRecords {
            units: pairs(&[("src/lib.rs::a", "1"), ("src/lib.rs::setup", "new")]),
            files: pairs(&[("src/lib.rs", "d")]),
            windows: vec![PairSet {
                units: vec![1],
                files: vec![0],
            }],
            testcases: vec![testcase("T/S/a", 0, vec![0])],
        };
        database.record_run(&second, None).unwrap();
        let changed = database
            .testcases_changed(
                &current(&[
                    ("src/lib.rs::a", "1"),
                    ("src/lib.rs::b", "1"),
                    ("src/lib.rs::setup", "new"),
                ]),
                &current(&[("src/lib.rs", "d")]),
            )
            .unwrap();
        assert!(changed["T/S/a"].units.is_empty(), "{changed:?}");
        assert_eq!(
            changed["T/S/b"].units,
            [("src/lib.rs::setup".to_string(), "old".to_string())].into()
        );
        // Once `b` is gone from the plan, the old window and its pair go too.
        let only_a = |uid: &str| uid == "T/S/a";
        database.record_run(&second, Some(&only_a)).unwrap();
        let windows: i64 = database
            .connection
            .query_row("select count(*) from windows", [], |row| row.get(0))
            .unwrap();
        assert_eq!(windows, 1);
        let units: Vec<String> = database
            .pairs(Pairs::Units)
            .unwrap()
            .into_iter()
            .map(|(_, name, value)| format!("{name} {value}"))
            .collect();
        assert_eq!(units.len(), 2, "{units:?}");
        assert!(!units.contains(&"src/lib.rs::setup old".to_string()));
    }

    #[test]
    fn a_testcase_recorded_twice_in_a_run_keeps_its_last_record_and_damage_is_an_error() {
        let path = temp_path("groups");
        let (mut database, _) = ImpactDatabase::open(&path, "v1").unwrap();
        database
            .record(
                &[
                    ("T/S/a".to_string(), record(&[("f", "1")], &[], false)),
                    ("T/S/b".to_string(), record(&[("f", "1")], &[], false)),
                    ("top".to_string(), record(&[("g", "1")], &[], true)),
                ]
                .into(),
                None,
            )
            .unwrap();
        // A rerun: `T/S/a` ends twice in one run; the last record counts, `T/S/b` keeps its.
        let mut writer = database.writer().unwrap();
        let (first, last) = (
            writer.unit_id("f", "2").unwrap(),
            writer.unit_id("f", "3").unwrap(),
        );
        writer
            .record("T/S/a", true, "", &[first], &[], &[])
            .unwrap();
        writer
            .record("T/S/a", false, "", &[last], &[], &[])
            .unwrap();
        writer.finish(None).unwrap();
        let stored = database.testcases().unwrap();
        assert_eq!(stored.len(), 3, "{stored:?}");
        assert_eq!(stored["T/S/a"].units["f"], "3");
        assert!(!stored["T/S/a"].failed);
        assert_eq!(stored["T/S/b"].units["f"], "1");
        assert!(stored["top"].failed, "a UID without a parent reads back");
        // Into an empty database: a group written at the end of a batch and recorded into
        // again later keeps both.
        let path = temp_path("batches");
        let (mut fresh, _) = ImpactDatabase::open(&path, "v1").unwrap();
        let mut writer = fresh.writer().unwrap();
        let unit = writer.unit_id("f", "1").unwrap();
        writer
            .record("T/S/a", false, "", &[unit], &[], &[])
            .unwrap();
        writer.end_batch().unwrap();
        writer.end_batch().unwrap();
        writer
            .record("T/S/b", false, "", &[unit], &[], &[])
            .unwrap();
        writer.finish(None).unwrap();
        let stored = fresh.testcases().unwrap();
        assert_eq!(stored.keys().collect::<Vec<_>>(), ["T/S/a", "T/S/b"]);
        // A damaged row is an error, not a silently shorter record.
        database
            .connection
            .execute(
                "update testcase_groups set records = x'0500' where parent = 'T/S'",
                [],
            )
            .unwrap();
        let error = database.testcases().unwrap_err();
        assert!(error.contains("cut short"), "{error}");
    }

    #[test]
    fn many_records_land_and_rerecorded_ones_replace_theirs() {
        let path = temp_path("batches");
        let (mut database, _) = ImpactDatabase::open(&path, "v1").unwrap();
        let records = |fingerprint: &str, count: usize| -> BTreeMap<String, TestcaseRecord> {
            (0..count)
                .map(|index| {
                    (
                        format!("T/S/case_{index}"),
                        record(
                            &[("src/lib.rs::f", fingerprint)],
                            &[("src/lib.rs", "d")],
                            false,
                        ),
                    )
                })
                .collect()
        };
        database.record(&records("old", 600), None).unwrap();
        database.record(&records("new", 300), None).unwrap();
        let stored = database.testcases().unwrap();
        assert_eq!(stored.len(), 600);
        let new = stored
            .values()
            .filter(|record| record.units["src/lib.rs::f"] == "new")
            .count();
        assert_eq!(
            new, 300,
            "the re-recorded rows replaced theirs, the others stayed"
        );
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

//! The SQLite driver: a database file in the driver's runpath that testcases fill and query,
//! with query results as [`Table`]s so they feed `result.table().matches(…)` directly
//! (Testplan's `Sqlite3`).
//!
//! The environment starts and stops it like any driver and reports its status changes as
//! events; testcases reach it with `env.driver::<Sqlite>("db")`. Statements take positional
//! parameters ([`SqlParams`]): `()` for none, a tuple such as `(1, "alice")`, or an array.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde_json::{Value, json};

use super::sql_params::SqlParams;
use super::tcp::lock;
use crate::env::{Attributes, Driver, DriverCommon, DriverError, DriverSettings, StartContext};
use crate::result::Table;

#[derive(Default)]
struct SqliteState {
    path: Option<PathBuf>,
    connection: Option<Connection>,
}

/// A SQLite database living in the driver's runpath.
///
/// ```no_run
/// use testrig::drivers::Sqlite;
/// let db = Sqlite::new("db", "app.db");
/// // In a testcase:
/// // let db = env.driver::<Sqlite>("db");
/// // db.execute("insert into users (name, age) values (?1, ?2)", ("alice", 30))?;
/// // result.table().matches(&db.query("select name, age from users", ())?, expected, "users");
/// ```
pub struct Sqlite {
    common: DriverCommon,
    file_name: PathBuf,
    connect_at_start: bool,
    state: Mutex<SqliteState>,
}

/// A cell as JSON: integers and reals as numbers, text as strings, blobs as lowercase hex.
fn cell(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(number) => json!(number),
        ValueRef::Real(number) => serde_json::Number::from_f64(number)
            .map_or_else(|| json!(number.to_string()), Value::Number),
        ValueRef::Text(text) => json!(String::from_utf8_lossy(text)),
        ValueRef::Blob(bytes) => json!(
            bytes
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect::<String>()
        ),
    }
}

impl Sqlite {
    /// A database stored as `file_name` in the driver's runpath (an absolute path is used as
    /// is), opened when the driver starts.
    pub fn new(name: impl Into<String>, file_name: impl Into<PathBuf>) -> Sqlite {
        Sqlite {
            common: DriverCommon::new(name),
            file_name: file_name.into(),
            connect_at_start: true,
            state: Mutex::default(),
        }
    }

    /// Open the database while starting (default); otherwise call [`connect`](Sqlite::connect).
    pub fn connect_at_start(mut self, connect: bool) -> Sqlite {
        self.connect_at_start = connect;
        self
    }

    /// The database file, once started.
    pub fn path(&self) -> Option<PathBuf> {
        lock(&self.state).path.clone()
    }

    /// Opens the database unless it is open.
    pub fn connect(&self) -> Result<(), DriverError> {
        let mut state = lock(&self.state);
        if state.connection.is_some() {
            return Ok(());
        }
        let Some(path) = state.path.clone() else {
            return Err(self.not_started());
        };
        let connection = Connection::open(&path).map_err(|error| {
            DriverError::new(format!(
                "failed to open sqlite database {} for driver `{}`: {error}",
                path.display(),
                self.common.name
            ))
        })?;
        state.connection = Some(connection);
        Ok(())
    }

    /// Closes the database; statements fail until the next [`connect`](Sqlite::connect).
    pub fn close(&self) -> Result<(), DriverError> {
        let Some(connection) = lock(&self.state).connection.take() else {
            return Ok(());
        };
        connection.close().map_err(|(_, error)| {
            DriverError::new(format!(
                "failed to close the sqlite database of driver `{}`: {error}",
                self.common.name
            ))
        })
    }

    /// Runs one statement; returns how many rows it changed.
    pub fn execute(&self, sql: &str, params: impl SqlParams) -> Result<usize, DriverError> {
        let values = params.into_values();
        self.run(|connection| connection.execute(sql, rusqlite::params_from_iter(&values)))
            .map_err(|error| self.sql_error(sql, error))
    }

    /// Runs several `;`-separated statements without parameters (schema scripts).
    pub fn execute_batch(&self, sql: &str) -> Result<(), DriverError> {
        self.run(|connection| connection.execute_batch(sql))
            .map_err(|error| self.sql_error(sql, error))
    }

    /// Runs a query and returns its result as a [`Table`] named after the result columns.
    pub fn query(&self, sql: &str, params: impl SqlParams) -> Result<Table, DriverError> {
        let (columns, rows) = self.run_query(sql, params)?;
        Ok(Table::new(columns, rows))
    }

    /// Runs a query and returns its rows as JSON cells in column order.
    pub fn query_rows(
        &self,
        sql: &str,
        params: impl SqlParams,
    ) -> Result<Vec<Vec<Value>>, DriverError> {
        self.run_query(sql, params).map(|(_, rows)| rows)
    }

    /// The first cell of the first row (`select count(*) …`); a query without rows is an
    /// error.
    pub fn query_value(&self, sql: &str, params: impl SqlParams) -> Result<Value, DriverError> {
        let rows = self.query_rows(sql, params)?;
        rows.into_iter()
            .next()
            .and_then(|row| row.into_iter().next())
            .ok_or_else(|| {
                DriverError::new(format!(
                    "query `{sql}` of driver `{}` returned no rows",
                    self.common.name
                ))
            })
    }

    /// Runs `action` on the open connection: transactions, pragmas, anything the helpers do
    /// not cover. The lock is held meanwhile, so keep it short. The connection is the
    /// `rusqlite` crate's: a plan that uses this adds `rusqlite = "0.41"` to its own
    /// dependencies (testrig does not re-export it, so its versions do not become testrig's).
    pub fn with_connection<T>(
        &self,
        action: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, DriverError> {
        self.run(action).map_err(|error| match error {
            ConnectionError::NotOpen(error) => error,
            ConnectionError::Sql(error) => DriverError::new(format!(
                "a database action of driver `{}` failed: {error}",
                self.common.name
            ))
            .with_source(error),
        })
    }

    fn run<T>(
        &self,
        action: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, ConnectionError> {
        let state = lock(&self.state);
        let Some(connection) = state.connection.as_ref() else {
            return Err(ConnectionError::NotOpen(if state.path.is_some() {
                DriverError::new(format!(
                    "the database of driver `{}` is closed; call `connect()` first",
                    self.common.name
                ))
            } else {
                self.not_started()
            }));
        };
        action(connection).map_err(ConnectionError::Sql)
    }

    fn run_query(
        &self,
        sql: &str,
        params: impl SqlParams,
    ) -> Result<(Vec<String>, Vec<Vec<Value>>), DriverError> {
        let values = params.into_values();
        self.run(|connection| {
            let mut statement = connection.prepare(sql)?;
            let columns: Vec<String> = statement.column_names().map(String::from).collect();
            let mut rows = statement.query(rusqlite::params_from_iter(&values))?;
            let mut cells = Vec::new();
            while let Some(row) = rows.next()? {
                let values = (0..columns.len())
                    .map(|index| row.get_ref(index).map(cell))
                    .collect::<rusqlite::Result<Vec<Value>>>()?;
                cells.push(values);
            }
            Ok((columns, cells))
        })
        .map_err(|error| self.sql_error(sql, error))
    }

    fn sql_error(&self, sql: &str, error: ConnectionError) -> DriverError {
        match error {
            ConnectionError::NotOpen(error) => error,
            ConnectionError::Sql(error) => DriverError::new(format!(
                "sql `{}` failed in driver `{}`: {}",
                sql.trim(),
                self.common.name,
                error
            ))
            .with_source(error),
        }
    }

    fn not_started(&self) -> DriverError {
        DriverError::new(format!(
            "driver `{}` is not started; start it (as part of the environment) before using the database",
            self.common.name
        ))
    }
}

/// Why running on the connection failed: the driver's own state, or SQLite.
enum ConnectionError {
    NotOpen(DriverError),
    Sql(rusqlite::Error),
}

impl DriverSettings for Sqlite {
    fn common_mut(&mut self) -> &mut DriverCommon {
        &mut self.common
    }
}

impl Driver for Sqlite {
    fn common(&self) -> &DriverCommon {
        &self.common
    }

    fn kind(&self) -> &'static str {
        "Sqlite"
    }

    fn start(&self, context: &StartContext) -> Result<(), DriverError> {
        std::fs::create_dir_all(&context.runpath).map_err(|error| {
            DriverError::new(format!(
                "failed to create the runpath {} of driver `{}`: {}",
                context.runpath.display(),
                self.common.name,
                super::tcp::io_reason(&error)
            ))
        })?;
        {
            let mut state = lock(&self.state);
            if state.connection.is_some() {
                return Err(DriverError::new(format!(
                    "driver `{}` is already started",
                    self.common.name
                )));
            }
            state.path = Some(context.runpath.join(&self.file_name));
        }
        if self.connect_at_start {
            self.connect()?;
        }
        Ok(())
    }

    fn stop(&self) -> Result<(), DriverError> {
        // The path stays known so a post-stop hook can still inspect the file.
        self.close()
    }

    fn attributes(&self) -> Attributes {
        let mut attributes = Attributes::new();
        if let Some(path) = self.path() {
            attributes.insert("db_path".into(), json!(path.display().to_string()));
        }
        attributes
    }
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite")
            .field("name", &self.common.name)
            .field("file_name", &self.file_name)
            .field("path", &self.path())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tcp::test_support::start_context;
    use super::*;

    fn started(name: &str) -> (Sqlite, StartContext) {
        let db = Sqlite::new(name, "test.db");
        let context = start_context("sqlite", &[]);
        db.start(&context).unwrap();
        (db, context)
    }

    #[test]
    fn rows_inserted_with_params_come_back_as_a_table() {
        let (db, context) = started("db");
        db.execute_batch("create table users (id integer primary key, name text, score real, avatar blob, note text);")
            .unwrap();
        assert_eq!(
            db.execute(
                "insert into users (name, score, avatar) values (?1, ?2, ?3)",
                ("alice", 9.5, vec![0x0au8, 0xff])
            )
            .unwrap(),
            1
        );
        db.execute("insert into users (name) values (?1)", ("bob",))
            .unwrap();

        let table = db
            .query(
                "select id, name, score, avatar, note from users order by id",
                (),
            )
            .unwrap();
        assert_eq!(table.columns(), ["id", "name", "score", "avatar", "note"]);
        assert_eq!(
            table.rows(),
            [
                vec![
                    json!(1),
                    json!("alice"),
                    json!(9.5),
                    json!("0aff"),
                    Value::Null
                ],
                vec![
                    json!(2),
                    json!("bob"),
                    Value::Null,
                    Value::Null,
                    Value::Null
                ],
            ]
        );
        assert_eq!(
            db.query_value("select count(*) from users where name = ?1", ["bob"])
                .unwrap(),
            json!(1)
        );
        assert_eq!(
            db.query_rows("select name from users where id > ?1", [5])
                .unwrap(),
            Vec::<Vec<Value>>::new()
        );

        let path = db.path().unwrap();
        assert_eq!(path, context.runpath.join("test.db"));
        assert!(path.is_file());
        assert_eq!(
            db.attributes()["db_path"],
            json!(path.display().to_string())
        );
        db.stop().unwrap();
        let _ = std::fs::remove_dir_all(&context.runpath);
    }

    #[test]
    fn bad_sql_is_a_driver_error_quoting_the_sqlite_message() {
        let (db, context) = started("db");
        let error = db.query("select * from missing", ()).unwrap_err();
        assert_eq!(
            error.message,
            "sql `select * from missing` failed in driver `db`: no such table: missing"
        );
        let error = db.execute("selec 1", ()).unwrap_err();
        assert!(error.message.contains("syntax error"), "{error}");
        db.stop().unwrap();
        let _ = std::fs::remove_dir_all(&context.runpath);
    }

    #[test]
    fn a_closed_or_unstarted_database_says_what_to_do() {
        let db = Sqlite::new("db", "lazy.db").connect_at_start(false);
        assert!(
            db.execute("select 1", ())
                .unwrap_err()
                .message
                .contains("is not started")
        );
        let context = start_context("sqlite", &[]);
        db.start(&context).unwrap();
        assert!(
            db.execute_batch("select 1")
                .unwrap_err()
                .message
                .contains("call `connect()` first")
        );
        db.connect().unwrap();
        db.execute_batch("create table t (x)").unwrap();
        db.stop().unwrap();
        assert!(
            db.query("select * from t", ())
                .unwrap_err()
                .message
                .contains("closed")
        );
        // The data outlives the connection: reconnecting finds the table.
        db.connect().unwrap();
        assert_eq!(
            db.query_value("select count(*) from t", ()).unwrap(),
            json!(0)
        );
        db.stop().unwrap();
        let _ = std::fs::remove_dir_all(&context.runpath);
    }
}

//! The `MariaDb` driver: a real MariaDB server from the machine's installation (Debian's
//! `mariadb-server` package), with its own data folder, a free port, and a client for
//! testcases.
//!
//! Start runs `mariadb-install-db` into the driver's runpath (root may log in without a
//! password over TCP), then `mariadbd` with no defaults file on a reserved port, tuned small
//! and fast for tests. Ready means the server logged "ready for connections" *and* its port
//! accepts. The server is an [`App`] underneath: its own process group, logs in the runpath,
//! crashes reported with the log tail, nothing left running after the plan.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use mysql::consts::ColumnType;
use mysql::prelude::Queryable;
use serde_json::Value;

use crate::drivers::service::{
    ScratchGuard, ServiceRun, already_running, find_program, not_started, scratch_folder,
    socket_fits, spawn_on_free_port, wait_on_free_port,
};
use crate::drivers::sql_params::{decimal_cell, first_cell};
use crate::drivers::{App, SqlParams, SqlValue, WaitFor};
use crate::env::{
    Attributes, Driver, DriverCommon, DriverError, DriverSettings, StartContext, default_definition,
};
use crate::result::Table;

/// A MariaDB server for a test's environment.
///
/// Attributes: `host`, `port` (a number), `socket`, `user` (`root`), `database`, `url`
/// (`mysql://root@127.0.0.1:PORT/DATABASE`), `data_dir`, `install_seconds`, and the server
/// process's `pid`, `cmd`, `stdout`, `stderr`.
///
/// ```ignore
/// let db = MariaDb::new("db").database("shop").init_sql("create table orders (id int)");
/// // in a testcase:
/// let db = env.driver::<MariaDb>("db");
/// db.execute("insert into orders values (?)", (7,))?;
/// let rows = db.query("select id from orders", ())?;
/// ```
pub struct MariaDb {
    common: DriverCommon,
    database: String,
    settings: Vec<(String, String)>,
    init_sql: Vec<String>,
    state: Mutex<MariaState>,
    /// The testcases' connection, apart from the server's state: a query that blocks holds
    /// only this lock, never what `stop`, `failure` and `attributes` need.
    client: Mutex<Option<mysql::Conn>>,
}

#[derive(Default)]
struct MariaState {
    launch: Option<Launch>,
    server: Option<ServiceRun>,
}

/// What `mariadb-install-db` made, and where the socket goes.
#[derive(Debug, Clone)]
struct Launch {
    mariadbd: PathBuf,
    data_dir: PathBuf,
    socket: PathBuf,
    scratch: Option<PathBuf>,
    install_seconds: f64,
}

impl MariaDb {
    /// A server named `name`; the client uses database `test` unless told otherwise.
    pub fn new(name: impl Into<String>) -> MariaDb {
        MariaDb {
            common: DriverCommon::new(name),
            database: "test".to_string(),
            settings: Vec::new(),
            init_sql: Vec::new(),
            state: Mutex::new(MariaState::default()),
            client: Mutex::new(None),
        }
    }

    /// The database created at start, which the client and the `url` attribute use.
    pub fn database(mut self, name: impl Into<String>) -> MariaDb {
        self.database = name.into();
        self
    }

    /// A server option (`--key=value`), e.g. `setting("max-connections", "20")`.
    pub fn setting(mut self, key: impl Into<String>, value: impl Into<String>) -> MariaDb {
        self.settings.push((key.into(), value.into()));
        self
    }

    /// SQL run once the server is ready, in the driver's database (a schema, fixtures).
    pub fn init_sql(mut self, sql: impl Into<String>) -> MariaDb {
        self.init_sql.push(sql.into());
        self
    }

    fn state(&self) -> MutexGuard<'_, MariaState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The port the server listens on (once started).
    pub fn port(&self) -> Option<u16> {
        self.state()
            .server
            .as_ref()
            .map(|server| server.port.port())
    }

    /// Runs a statement; returns the number of rows it changed. Parameters are `?`.
    pub fn execute(&self, sql: &str, params: impl SqlParams) -> Result<u64, DriverError> {
        let values = as_params(params);
        self.with_client(sql, |client| {
            client.exec_drop(sql, values)?;
            Ok(client.affected_rows())
        })
    }

    /// Runs several statements separated by `;` (no parameters).
    pub fn execute_batch(&self, sql: &str) -> Result<(), DriverError> {
        self.with_client(sql, |client| client.query_drop(sql))
    }

    /// Runs a query and returns its result as a [`Table`] named after the result columns:
    /// numbers stay numbers (decimals too, unless a float would lose a digit), text is text,
    /// dates and times are ISO text.
    pub fn query(&self, sql: &str, params: impl SqlParams) -> Result<Table, DriverError> {
        let (columns, rows) = self.query_rows(sql, params)?;
        Ok(Table::new(columns, rows))
    }

    /// The first cell of the first row (`select count(*) …`); no rows is an error.
    pub fn query_value(&self, sql: &str, params: impl SqlParams) -> Result<Value, DriverError> {
        let (_, rows) = self.query_rows(sql, params)?;
        first_cell(rows, sql, &format!("mariadb `{}`", self.common.name))
    }

    fn query_rows(
        &self,
        sql: &str,
        params: impl SqlParams,
    ) -> Result<(Vec<String>, Vec<Vec<Value>>), DriverError> {
        let values = as_params(params);
        self.with_client(sql, |client| {
            let mut result = client.exec_iter(sql, values)?;
            let columns: Vec<(String, ColumnType)> = result
                .columns()
                .as_ref()
                .iter()
                .map(|column| (column.name_str().into_owned(), column.column_type()))
                .collect();
            let mut rows = Vec::new();
            for row in result.by_ref() {
                let row = row?;
                let cells = (0..row.len())
                    .map(|index| {
                        let value = row.as_ref(index).cloned().unwrap_or(mysql::Value::NULL);
                        cell(value, columns[index].1)
                    })
                    .collect();
                rows.push(cells);
            }
            Ok((columns.into_iter().map(|(name, _)| name).collect(), rows))
        })
    }

    fn url_for(port: u16, database: &str) -> String {
        format!("mysql://root@127.0.0.1:{port}/{database}")
    }

    /// Runs `action` with the driver's connection, opened on first use and opened again
    /// after the server restarted.
    fn with_client<T>(
        &self,
        sql: &str,
        action: impl FnOnce(&mut mysql::Conn) -> Result<T, mysql::Error>,
    ) -> Result<T, DriverError> {
        let name = &self.common.name;
        let Some(port) = self.port() else {
            return Err(DriverError::new(format!(
                "mariadb `{name}` is not running; start its environment before using it"
            )));
        };
        let mut slot = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_mut().is_some_and(|client| client.ping().is_err()) {
            *slot = None;
        }
        if slot.is_none() {
            let client = connect(port, Some(&self.database)).map_err(|error| {
                DriverError::new(format!(
                    "failed to connect to mariadb `{name}` on port {port}: {error}"
                ))
                .with_source(error)
            })?;
            *slot = Some(client);
        }
        let client = slot.as_mut().expect("connected above");
        action(client).map_err(|error| {
            DriverError::new(format!("`{sql}` failed on mariadb `{name}`: {error}"))
                .with_source(error)
        })
    }

    /// `mariadb-install-db` into the data folder.
    fn prepare(&self, context: &StartContext) -> Result<Launch, DriverError> {
        let name = &self.common.name;
        let system = [PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")];
        let mariadbd = find_program("mariadbd", &system, "mariadb-server", name)?;
        let install = find_program("mariadb-install-db", &system, "mariadb-server", name)?;
        let runpath = std::path::absolute(&context.runpath).unwrap_or(context.runpath.clone());
        std::fs::create_dir_all(&runpath).map_err(|error| {
            DriverError::new(format!(
                "failed to create the runpath `{}` of mariadb `{name}`: {error}",
                runpath.display()
            ))
        })?;
        let scratch = if socket_fits(&runpath, "mysqld.sock") {
            None
        } else {
            Some(scratch_folder("maria", "mariadb", name)?)
        };
        let guard = ScratchGuard(scratch.clone());
        let socket = scratch.as_ref().unwrap_or(&runpath).join("mysqld.sock");
        let data_dir = runpath.join("data");
        let started = Instant::now();
        let mut command = std::process::Command::new(&install);
        // `--no-defaults` first: otherwise the system's my.cnf (port 3306, /run/mysqld)
        // applies. Normal authentication lets root log in over TCP without a password.
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data_dir.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--innodb-log-file-size=8M",
            ]);
        if rustix::process::getuid().is_root() {
            command.arg("--user=root");
        }
        crate::env::run_supervised(
            &mut command,
            &runpath,
            &[],
            (context.deadline, "start_timeout"),
            &runpath.join("install-db.log"),
        )
        .map_err(|error| {
            DriverError::new(format!(
                "mariadb-install-db of mariadb `{name}` failed: {}",
                error.message
            ))
            .with_log_tail(error.log_tail)
        })?;
        guard.keep();
        Ok(Launch {
            mariadbd,
            data_dir,
            socket,
            scratch,
            install_seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// The server on `port`, as an App.
    fn server_app(&self, launch: &Launch, port: u16) -> App {
        let mut app = App::new(
            self.common.name.clone(),
            launch.mariadbd.display().to_string(),
        )
        .arg("--no-defaults")
        .arg(format!("--datadir={}", launch.data_dir.display()))
        .arg(format!("--socket={}", launch.socket.display()))
        .arg(format!("--port={port}"))
        .args(["--bind-address=127.0.0.1", "--skip-name-resolve"])
        // Small and fast: test data is thrown away at stop.
        .args([
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=8M",
            "--innodb-flush-log-at-trx-commit=0",
        ])
        .ready_when(WaitFor::all([
            WaitFor::stderr("ready for connections"),
            WaitFor::tcp_port("127.0.0.1", port.to_string()),
        ]))
        .stop_timeout(self.common.stop_timeout);
        if rustix::process::getuid().is_root() {
            // mariadbd refuses root unless told it is meant.
            app = app.arg("--user=root");
        }
        for (key, value) in &self.settings {
            app = app.arg(format!("--{key}={value}"));
        }
        app
    }

    /// Creates the driver's database and runs the init SQL.
    fn initialise(&self) -> Result<(), DriverError> {
        let name = &self.common.name;
        let port = self.port().unwrap_or_default();
        let mut admin = connect(port, None).map_err(|error| {
            DriverError::new(format!(
                "failed to connect to mariadb `{name}` to create its database: {error}"
            ))
        })?;
        let create = format!(
            "CREATE DATABASE IF NOT EXISTS `{}`",
            self.database.replace('`', "``")
        );
        admin.query_drop(&create).map_err(|error| {
            DriverError::new(format!(
                "failed to create database `{}` of mariadb `{name}`: {error}",
                self.database
            ))
        })?;
        for sql in &self.init_sql {
            self.execute_batch(sql)
                .map_err(|error| DriverError::new(format!("init_sql: {}", error.message)))?;
        }
        Ok(())
    }
}

fn connect(port: u16, database: Option<&str>) -> Result<mysql::Conn, mysql::Error> {
    let options = mysql::OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(port)
        .user(Some("root"))
        .db_name(database)
        .prefer_socket(false);
    mysql::Conn::new(options)
}

fn as_params(params: impl SqlParams) -> mysql::Params {
    let values: Vec<mysql::Value> = params
        .into_values()
        .into_iter()
        .map(|value| match value {
            SqlValue::Null => mysql::Value::NULL,
            SqlValue::Integer(number) => mysql::Value::Int(number),
            SqlValue::Real(number) => mysql::Value::Double(number),
            SqlValue::Text(text) => mysql::Value::Bytes(text.into_bytes()),
            SqlValue::Blob(bytes) => mysql::Value::Bytes(bytes),
        })
        .collect();
    if values.is_empty() {
        mysql::Params::Empty
    } else {
        mysql::Params::Positional(values)
    }
}

/// A result cell as JSON.
fn cell(value: mysql::Value, column: ColumnType) -> Value {
    match value {
        mysql::Value::NULL => Value::Null,
        mysql::Value::Int(number) => Value::from(number),
        mysql::Value::UInt(number) => Value::from(number),
        mysql::Value::Float(number) => float(f64::from(number)),
        mysql::Value::Double(number) => float(number),
        mysql::Value::Bytes(bytes) => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            match column {
                ColumnType::MYSQL_TYPE_NEWDECIMAL | ColumnType::MYSQL_TYPE_DECIMAL => {
                    decimal_cell(&text)
                }
                ColumnType::MYSQL_TYPE_JSON => {
                    serde_json::from_str(&text).unwrap_or(Value::from(text))
                }
                _ => Value::from(text),
            }
        }
        mysql::Value::Date(year, month, day, hour, minute, second, micros) => {
            let date = format!("{year:04}-{month:02}-{day:02}");
            if column == ColumnType::MYSQL_TYPE_DATE {
                Value::from(date)
            } else {
                Value::from(format!(
                    "{date} {hour:02}:{minute:02}:{second:02}{}",
                    fraction(micros)
                ))
            }
        }
        mysql::Value::Time(negative, days, hours, minutes, seconds, micros) => {
            let hours = u32::from(hours) + days * 24;
            Value::from(format!(
                "{}{hours:02}:{minutes:02}:{seconds:02}{}",
                if negative { "-" } else { "" },
                fraction(micros)
            ))
        }
    }
}

fn fraction(micros: u32) -> String {
    if micros == 0 {
        String::new()
    } else {
        format!(".{}", format!("{micros:06}").trim_end_matches('0'))
    }
}

fn float(number: f64) -> Value {
    serde_json::Number::from_f64(number)
        .map(Value::Number)
        .unwrap_or_else(|| Value::from(number.to_string()))
}

impl DriverSettings for MariaDb {
    fn common_mut(&mut self) -> &mut DriverCommon {
        &mut self.common
    }
}

impl Driver for MariaDb {
    fn common(&self) -> &DriverCommon {
        &self.common
    }

    fn kind(&self) -> &'static str {
        "MariaDb"
    }

    fn start(&self, context: &StartContext) -> Result<(), DriverError> {
        if self.state().server.is_some() {
            return Err(already_running("mariadb", &self.common.name));
        }
        let launch = self.prepare(context)?;
        let server = spawn_on_free_port(context, |port| Ok(self.server_app(&launch, port)));
        let mut state = self.state();
        state.launch = Some(launch);
        state.server = Some(server?);
        Ok(())
    }

    fn wait_ready(&self, context: &StartContext) -> Result<(), DriverError> {
        let (Some(launch), Some(mut server)) = ({
            let mut state = self.state();
            (state.launch.clone(), state.server.take())
        }) else {
            return Err(not_started("mariadb", &self.common.name));
        };
        let waited = wait_on_free_port(&mut server, context, |port| {
            Ok(self.server_app(&launch, port))
        });
        self.state().server = Some(server);
        waited?;
        self.initialise()
    }

    fn stop(&self) -> Result<(), DriverError> {
        // The testcases' connection goes first; one busy with a query is cut by the
        // server's stop instead of waited for.
        if let Ok(mut client) = self.client.try_lock() {
            *client = None;
        }
        let (server, launch) = {
            let mut state = self.state();
            (state.server.take(), state.launch.take())
        };
        let stopped = server.map_or(Ok(()), |server| server.app.stop());
        if let Some(scratch) = launch.and_then(|launch| launch.scratch) {
            let _ = std::fs::remove_dir_all(scratch);
        }
        stopped
    }

    fn attributes(&self) -> Attributes {
        let state = self.state();
        let (Some(server), Some(launch)) = (&state.server, &state.launch) else {
            return Attributes::new();
        };
        let mut attributes = server.app.attributes();
        let port = server.port.port();
        attributes.insert("host".into(), Value::from("127.0.0.1"));
        attributes.insert("port".into(), Value::from(port));
        attributes.insert(
            "socket".into(),
            Value::from(launch.socket.display().to_string()),
        );
        attributes.insert("user".into(), Value::from("root"));
        attributes.insert("database".into(), Value::from(self.database.as_str()));
        attributes.insert(
            "url".into(),
            Value::from(MariaDb::url_for(port, &self.database)),
        );
        attributes.insert(
            "data_dir".into(),
            Value::from(launch.data_dir.display().to_string()),
        );
        attributes.insert(
            "install_seconds".into(),
            Value::from((launch.install_seconds * 1000.0).round() / 1000.0),
        );
        attributes
    }

    fn failure(&self) -> Option<DriverError> {
        ServiceRun::failure_of(self.state().server.as_ref())
    }

    fn log_tail(&self, lines: usize) -> Vec<String> {
        ServiceRun::log_tail_of(self.state().server.as_ref(), lines)
    }

    fn definition(&self) -> String {
        format!(
            "{} database={:?} settings={:?} init_sql={:?}",
            default_definition(self),
            self.database,
            self.settings,
            self.init_sql
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_keep_their_types() {
        assert_eq!(
            cell(
                mysql::Value::Bytes(b"187.25".to_vec()),
                ColumnType::MYSQL_TYPE_NEWDECIMAL
            ),
            serde_json::json!(187.25)
        );
        assert_eq!(
            cell(
                mysql::Value::Bytes(b"AAPL".to_vec()),
                ColumnType::MYSQL_TYPE_VAR_STRING
            ),
            serde_json::json!("AAPL")
        );
        assert_eq!(
            cell(
                mysql::Value::Date(2026, 12, 3, 12, 30, 5, 250_000),
                ColumnType::MYSQL_TYPE_DATETIME
            ),
            serde_json::json!("2026-12-03 12:30:05.25")
        );
        assert_eq!(
            cell(
                mysql::Value::Time(true, 1, 2, 3, 4, 0),
                ColumnType::MYSQL_TYPE_TIME
            ),
            serde_json::json!("-26:03:04")
        );
    }
}

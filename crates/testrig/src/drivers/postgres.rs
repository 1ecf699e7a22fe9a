//! The `Postgres` driver: a real PostgreSQL server from the machine's installation, with its
//! own data folder, a free port, and a client for testcases.
//!
//! Start runs `initdb` into the driver's runpath (as the `postgres` user when the plan runs as
//! root: the server refuses root), then the server on a reserved port with a unix socket
//! beside it, tuned for tests (no fsync; data is thrown away at stop). Ready means the server
//! logged that it accepts connections *and* its port accepts. The server is an [`App`]
//! underneath: its own process group, logs in the runpath, crashes reported with the log
//! tail, nothing left running after the plan (the background workers are in its group).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::BytesMut;
use postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type};
use serde_json::Value;

use crate::drivers::service::{
    ScratchGuard, ServiceRun, already_running, find_program, not_started, scratch_folder,
    socket_fits, spawn_on_free_port, versioned_folders, wait_on_free_port,
};
use crate::drivers::sql_params::{decimal_cell, first_cell};
use crate::drivers::{App, RunAs, SqlParams, SqlValue, WaitFor};
use crate::env::{
    Attributes, Driver, DriverCommon, DriverError, DriverSettings, StartContext, default_definition,
};
use crate::result::Table;

/// The superuser `initdb` creates; the client connects as it (trust authentication).
const SUPERUSER: &str = "postgres";

/// A PostgreSQL server for a test's environment.
///
/// Attributes: `host`, `port` (a number), `socket_dir`, `user`, `database`, `dsn`
/// (`postgresql://…`), `data_dir`, `initdb_seconds`, and the server process's `pid`, `cmd`,
/// `stdout`, `stderr`.
///
/// ```ignore
/// let db = Postgres::new("db").database("shop").init_sql("create table orders (id int)");
/// // in a testcase:
/// let db = env.driver::<Postgres>("db")?;
/// db.execute("insert into orders values ($1)", (7,))?;
/// result.table().match_("orders", db.query("select id from orders", ())?, expected);
/// ```
pub struct Postgres {
    common: DriverCommon,
    os_user: Option<String>,
    database: String,
    settings: Vec<(String, String)>,
    init_sql: Vec<String>,
    bin_dir: Option<PathBuf>,
    state: Mutex<PgState>,
    /// The testcases' connection, apart from the server's state: a query that blocks holds
    /// only this lock, never what `stop`, `failure` and `attributes` need.
    client: Mutex<Option<postgres::Client>>,
}

#[derive(Default)]
struct PgState {
    launch: Option<Launch>,
    server: Option<ServiceRun>,
}

/// Everything of a start that does not depend on the port: what `initdb` made.
#[derive(Debug, Clone)]
struct Launch {
    postgres: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    /// A folder outside the runpath (the account cannot reach the runpath, or the socket
    /// path would be too long there): removed at stop.
    scratch: Option<PathBuf>,
    os_user: Option<String>,
    initdb_seconds: f64,
}

impl Postgres {
    /// A server named `name`, with defaults: database `postgres`, superuser `postgres`.
    pub fn new(name: impl Into<String>) -> Postgres {
        Postgres {
            common: DriverCommon::new(name),
            os_user: None,
            database: SUPERUSER.to_string(),
            settings: Vec::new(),
            init_sql: Vec::new(),
            bin_dir: None,
            state: Mutex::new(PgState::default()),
            client: Mutex::new(None),
        }
    }

    /// The system user the server runs as (default: `postgres` when the plan runs as root,
    /// else the plan's own user).
    pub fn user(mut self, name: impl Into<String>) -> Postgres {
        self.os_user = Some(name.into());
        self
    }

    /// A database created at start, which the client and the `dsn` attribute use.
    pub fn database(mut self, name: impl Into<String>) -> Postgres {
        self.database = name.into();
        self
    }

    /// A server setting (`-c key=value`), e.g. `setting("max_connections", "20")`.
    pub fn setting(mut self, key: impl Into<String>, value: impl Into<String>) -> Postgres {
        self.settings.push((key.into(), value.into()));
        self
    }

    /// SQL run once the server is ready, in the driver's database (a schema, fixtures).
    pub fn init_sql(mut self, sql: impl Into<String>) -> Postgres {
        self.init_sql.push(sql.into());
        self
    }

    /// The folder of `postgres` and `initdb` (default: `PATH`, then Debian's
    /// `/usr/lib/postgresql/<newest>/bin`).
    pub fn bin_dir(mut self, folder: impl Into<PathBuf>) -> Postgres {
        self.bin_dir = Some(folder.into());
        self
    }

    fn state(&self) -> MutexGuard<'_, PgState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The port the server listens on (once started).
    pub fn port(&self) -> Option<u16> {
        self.state()
            .server
            .as_ref()
            .map(|server| server.port.port())
    }

    /// The connection string (`postgresql://postgres@127.0.0.1:PORT/DATABASE`).
    pub fn dsn(&self) -> Option<String> {
        self.port().map(|port| self.dsn_for(port, &self.database))
    }

    fn dsn_for(&self, port: u16, database: &str) -> String {
        format!("postgresql://{SUPERUSER}@127.0.0.1:{port}/{database}")
    }

    /// Runs a statement; returns the number of rows it changed. Parameters are `$1`, `$2`, …
    pub fn execute(&self, sql: &str, params: impl SqlParams) -> Result<u64, DriverError> {
        let values = params.into_values();
        self.with_client(sql, |client| client.execute(sql, &as_params(&values)))
    }

    /// Runs several statements separated by `;` (no parameters).
    pub fn execute_batch(&self, sql: &str) -> Result<(), DriverError> {
        self.with_client(sql, |client| client.batch_execute(sql))
    }

    /// Runs a query and returns its result as a [`Table`] named after the result columns:
    /// numbers stay numbers, `json` is JSON, dates and times are ISO text. A column of
    /// another type (`inet`, arrays) is an error that says to cast it (`addr::text`).
    pub fn query(&self, sql: &str, params: impl SqlParams) -> Result<Table, DriverError> {
        let (columns, rows) = self.query_rows(sql, params)?;
        Ok(Table::new(columns, rows))
    }

    /// The first cell of the first row (`select count(*) …`); no rows is an error.
    pub fn query_value(&self, sql: &str, params: impl SqlParams) -> Result<Value, DriverError> {
        let (_, rows) = self.query_rows(sql, params)?;
        first_cell(rows, sql, &format!("postgres `{}`", self.common.name))
    }

    fn query_rows(
        &self,
        sql: &str,
        params: impl SqlParams,
    ) -> Result<(Vec<String>, Vec<Vec<Value>>), DriverError> {
        let values = params.into_values();
        self.with_client(sql, |client| {
            let statement = client.prepare(sql)?;
            let columns: Vec<String> = statement
                .columns()
                .iter()
                .map(|column| column.name().to_string())
                .collect();
            let rows = client.query(&statement, &as_params(&values))?;
            let rows = rows
                .iter()
                .map(|row| {
                    (0..row.len())
                        .map(|index| row.try_get::<_, Cell>(index).map(|cell| cell.0))
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((columns, rows))
        })
    }

    /// Runs `action` with the driver's connection, opened on first use and opened again
    /// after the server restarted.
    fn with_client<T>(
        &self,
        sql: &str,
        action: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T, DriverError> {
        let name = &self.common.name;
        let Some(port) = self.port() else {
            return Err(DriverError::new(format!(
                "postgres `{name}` is not running; start its environment before using it"
            )));
        };
        let mut slot = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_some_and(postgres::Client::is_closed) {
            *slot = None;
        }
        if slot.is_none() {
            let client =
                postgres::Client::connect(&self.dsn_for(port, &self.database), postgres::NoTls)
                    .map_err(|error| {
                        DriverError::new(format!(
                            "failed to connect to postgres `{name}` on port {port}: {}",
                            describe_postgres_error(&error)
                        ))
                        .with_source(error)
                    })?;
            *slot = Some(client);
        }
        let client = slot.as_mut().expect("connected above");
        action(client).map_err(|error| {
            DriverError::new(format!(
                "`{sql}` failed on postgres `{name}`: {}",
                describe_postgres_error(&error)
            ))
            .with_source(error)
        })
    }

    /// `initdb` into the data folder, as the account the server will run as.
    fn prepare(&self, context: &StartContext) -> Result<Launch, DriverError> {
        let name = &self.common.name;
        let folders = match &self.bin_dir {
            Some(folder) => vec![folder.clone()],
            None => versioned_folders("/usr/lib/postgresql", "bin"),
        };
        let find = |program: &str| -> Result<PathBuf, DriverError> {
            match &self.bin_dir {
                Some(folder) => Ok(folder.join(program)),
                None => find_program(program, &folders, "postgresql", name),
            }
        };
        let postgres = find("postgres")?;
        let initdb = find("initdb")?;
        let root = rustix::process::getuid().is_root();
        let os_user = self
            .os_user
            .clone()
            .or_else(|| root.then(|| SUPERUSER.to_string()));
        let account = RunAs {
            user: os_user.clone(),
            group: None,
        }
        .resolve(name)
        .map_err(|error| match (&self.os_user, root) {
            (None, true) => DriverError::new(format!(
                "postgres refuses to run as root and the plan runs as root, so `{name}` runs as user `{SUPERUSER}`, which does not exist: install Debian's `postgresql` package (it creates the user) or set `.user(…)` to a user that exists"
            )),
            _ => error,
        })?;
        let runpath = std::path::absolute(&context.runpath).unwrap_or(context.runpath.clone());
        std::fs::create_dir_all(&runpath).map_err(|error| {
            DriverError::new(format!(
                "failed to create the runpath `{}` of postgres `{name}`: {error}",
                runpath.display()
            ))
        })?;
        // The socket's path must fit in 107 bytes; the server's account must reach its
        // folders: otherwise both go to a scratch folder of their own.
        let socket_in_runpath = socket_fits(&runpath, ".s.PGSQL.65535");
        let reachable = account
            .unreachable_ancestor(&runpath.join("data"))
            .is_none();
        let scratch = if reachable && socket_in_runpath {
            None
        } else {
            Some(scratch_folder("pg", "postgres", name)?)
        };
        let guard = ScratchGuard(scratch.clone());
        let (data_dir, socket_dir) = match (&scratch, reachable) {
            (Some(scratch), false) => (scratch.join("data"), scratch.clone()),
            (Some(scratch), true) => (runpath.join("data"), scratch.clone()),
            (None, _) => (runpath.join("data"), runpath.clone()),
        };
        for folder in [Some(&runpath), scratch.as_ref()].into_iter().flatten() {
            if account.unreachable_ancestor(folder).is_none() {
                account.hand_over(folder, name)?;
            }
        }
        let started = Instant::now();
        let mut command = std::process::Command::new(&initdb);
        command
            .arg("-D")
            .arg(&data_dir)
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync")
            .current_dir(data_dir.parent().unwrap_or(Path::new("/")));
        account.apply(&mut command);
        crate::env::run_supervised(
            &mut command,
            &runpath,
            &[],
            (context.deadline, "start_timeout"),
            &runpath.join("initdb.log"),
        )
        .map_err(|error| {
            DriverError::new(format!(
                "initdb of postgres `{name}` failed: {}",
                error.message
            ))
            .with_log_tail(error.log_tail)
        })?;
        guard.keep();
        Ok(Launch {
            postgres,
            data_dir,
            socket_dir,
            scratch,
            os_user: account.switches().then(|| os_user.unwrap_or_default()),
            initdb_seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// The server on `port`, as an App.
    fn server_app(&self, launch: &Launch, port: u16) -> App {
        let mut app = App::new(
            self.common.name.clone(),
            launch.postgres.display().to_string(),
        )
        .arg("-D")
        .arg(launch.data_dir.display().to_string())
        .args(["-p".to_string(), port.to_string()])
        .arg("-k")
        .arg(launch.socket_dir.display().to_string())
        .args(["-c", "listen_addresses=127.0.0.1"])
        // Test data is thrown away at stop: durability only costs time.
        .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
        .args(["-c", "full_page_writes=off", "-c", "logging_collector=off"])
        .working_dir(
            launch
                .data_dir
                .parent()
                .unwrap_or(Path::new("/"))
                .display()
                .to_string(),
        )
        .ready_when(WaitFor::all([
            WaitFor::stderr("database system is ready to accept connections"),
            WaitFor::tcp_port("127.0.0.1", port.to_string()),
        ]))
        .stop_timeout(self.common.stop_timeout);
        for (key, value) in &self.settings {
            app = app.args(["-c".to_string(), format!("{key}={value}")]);
        }
        if let Some(user) = &launch.os_user {
            app = app.user(user.clone());
        }
        app
    }

    /// Creates the driver's database and runs the init SQL.
    fn initialise(&self) -> Result<(), DriverError> {
        let name = &self.common.name;
        if self.database != SUPERUSER {
            let port = self.port().unwrap_or_default();
            let mut admin =
                postgres::Client::connect(&self.dsn_for(port, SUPERUSER), postgres::NoTls)
                    .map_err(|error| {
                        DriverError::new(format!(
                            "failed to connect to postgres `{name}` to create its database: {}",
                            describe_postgres_error(&error)
                        ))
                    })?;
            let create = format!("CREATE DATABASE \"{}\"", self.database.replace('"', "\"\""));
            admin.batch_execute(&create).map_err(|error| {
                DriverError::new(format!(
                    "failed to create database `{}` of postgres `{name}`: {}",
                    self.database,
                    describe_postgres_error(&error)
                ))
            })?;
        }
        for sql in &self.init_sql {
            self.execute_batch(sql)
                .map_err(|error| DriverError::new(format!("init_sql: {}", error.message)))?;
        }
        Ok(())
    }
}

/// The server's own message (with its detail and hint) rather than "db error".
fn describe_postgres_error(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{} ({})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; {detail}"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            text
        }
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
    }
}

impl DriverSettings for Postgres {
    fn common_mut(&mut self) -> &mut DriverCommon {
        &mut self.common
    }
}

impl Driver for Postgres {
    fn common(&self) -> &DriverCommon {
        &self.common
    }

    fn kind(&self) -> &'static str {
        "Postgres"
    }

    fn start(&self, context: &StartContext) -> Result<(), DriverError> {
        if self.state().server.is_some() {
            return Err(already_running("postgres", &self.common.name));
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
            return Err(not_started("postgres", &self.common.name));
        };
        let waited = wait_on_free_port(&mut server, context, |port| {
            Ok(self.server_app(&launch, port))
        });
        self.state().server = Some(server);
        waited?;
        self.initialise()
    }

    fn stop(&self) -> Result<(), DriverError> {
        // The testcases' connection goes first (it would hold up postgres's smart shutdown);
        // one busy with a query is cut by the server's stop instead of waited for.
        if let Ok(mut client) = self.client.try_lock() {
            *client = None;
        }
        let (server, launch) = {
            let mut state = self.state();
            (state.server.take(), state.launch.take())
        };
        let stopped = match &server {
            Some(server) => {
                // SIGINT is postgres's fast shutdown: clients are disconnected instead of
                // waited for (SIGTERM, which the App sends next, waits for them).
                if let Some(pid) = server
                    .app
                    .pid()
                    .and_then(|pid| rustix::process::Pid::from_raw(pid as i32))
                {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
                }
                server.app.stop()
            }
            None => Ok(()),
        };
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
            "socket_dir".into(),
            Value::from(launch.socket_dir.display().to_string()),
        );
        attributes.insert("user".into(), Value::from(SUPERUSER));
        attributes.insert("database".into(), Value::from(self.database.as_str()));
        attributes.insert(
            "dsn".into(),
            Value::from(self.dsn_for(port, &self.database)),
        );
        attributes.insert(
            "data_dir".into(),
            Value::from(launch.data_dir.display().to_string()),
        );
        attributes.insert(
            "initdb_seconds".into(),
            Value::from((launch.initdb_seconds * 1000.0).round() / 1000.0),
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
            "{} user={:?} database={:?} settings={:?} init_sql={:?} bin_dir={:?}",
            default_definition(self),
            self.os_user,
            self.database,
            self.settings,
            self.init_sql,
            self.bin_dir
        )
    }
}

/// The parameters as the client takes them.
fn as_params(values: &[SqlValue]) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|value| value as &(dyn ToSql + Sync))
        .collect()
}

/// Parameters go to the server as text, which it parses as the parameter's type: an
/// integer binds to `int4` and `numeric` columns alike, where the binary format would need
/// the exact Rust type for each.
impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let text = match self {
            SqlValue::Null => return Ok(IsNull::Yes),
            SqlValue::Integer(value) => value.to_string(),
            SqlValue::Real(value) if value.is_nan() => "NaN".to_string(),
            SqlValue::Real(value) if value.is_infinite() => if *value > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            }
            .to_string(),
            SqlValue::Real(value) => value.to_string(),
            SqlValue::Text(value) => value.clone(),
            SqlValue::Blob(bytes) if *ty == Type::BYTEA => {
                let mut text = String::from("\\x");
                for byte in bytes {
                    text.push_str(&format!("{byte:02x}"));
                }
                text
            }
            SqlValue::Blob(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        };
        out.extend_from_slice(text.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        Format::Text
    }

    postgres::types::to_sql_checked!();
}

/// A result cell as JSON, decoded from the server's binary format.
struct Cell(Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Cell, Box<dyn std::error::Error + Sync + Send>> {
        decode(ty, raw).map(Cell)
    }

    fn from_sql_null(_: &Type) -> Result<Cell, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn decode(ty: &Type, raw: &[u8]) -> Result<Value, Box<dyn std::error::Error + Sync + Send>> {
    let bytes = |count: usize| -> Result<&[u8], Box<dyn std::error::Error + Sync + Send>> {
        raw.get(..count).ok_or_else(|| {
            format!("a `{}` value of {} bytes is short", ty.name(), raw.len()).into()
        })
    };
    let text = || String::from_utf8_lossy(raw).into_owned();
    Ok(match *ty {
        Type::BOOL => Value::from(bytes(1)?[0] != 0),
        Type::INT2 => Value::from(i16::from_be_bytes(bytes(2)?.try_into()?)),
        Type::INT4 => Value::from(i32::from_be_bytes(bytes(4)?.try_into()?)),
        Type::INT8 => Value::from(i64::from_be_bytes(bytes(8)?.try_into()?)),
        Type::OID => Value::from(u32::from_be_bytes(bytes(4)?.try_into()?)),
        Type::FLOAT4 => float(f64::from(f32::from_be_bytes(bytes(4)?.try_into()?))),
        Type::FLOAT8 => float(f64::from_be_bytes(bytes(8)?.try_into()?)),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::CHAR => {
            Value::from(text())
        }
        Type::JSON => serde_json::from_slice(raw)?,
        // jsonb's binary form is a version byte, then the text.
        Type::JSONB => serde_json::from_slice(raw.get(1..).unwrap_or_default())?,
        Type::BYTEA => {
            let mut hex = String::from("\\x");
            for byte in raw {
                hex.push_str(&format!("{byte:02x}"));
            }
            Value::from(hex)
        }
        Type::UUID => {
            let hex: String = bytes(16)?
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect();
            Value::from(format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            ))
        }
        Type::NUMERIC => numeric(raw)?,
        Type::DATE => {
            let days = i32::from_be_bytes(bytes(4)?.try_into()?);
            Value::from(date_text(i64::from(days)))
        }
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(bytes(8)?.try_into()?);
            let days = micros.div_euclid(86_400_000_000);
            let text = format!(
                "{} {}",
                date_text(days),
                time_text(micros.rem_euclid(86_400_000_000))
            );
            // The binary form of timestamptz is UTC.
            Value::from(if *ty == Type::TIMESTAMPTZ {
                format!("{text}+00")
            } else {
                text
            })
        }
        Type::TIME => Value::from(time_text(i64::from_be_bytes(bytes(8)?.try_into()?))),
        _ if matches!(ty.kind(), Kind::Enum(_)) => Value::from(text()),
        _ => {
            return Err(format!(
                "type `{}` is not shown by query(); cast the column to text in the SQL (`column::text`)",
                ty.name()
            )
            .into());
        }
    })
}

fn float(value: f64) -> Value {
    serde_json::Number::from_f64(value)
        .map(Value::Number)
        .unwrap_or_else(|| Value::from(value.to_string()))
}

/// A `numeric` from its binary form (base-10000 digits), as [`decimal_cell`] shows it.
fn numeric(raw: &[u8]) -> Result<Value, Box<dyn std::error::Error + Sync + Send>> {
    let word = |index: usize| -> Result<i16, Box<dyn std::error::Error + Sync + Send>> {
        let start = index * 2;
        Ok(i16::from_be_bytes(
            raw.get(start..start + 2)
                .ok_or("a short numeric value")?
                .try_into()?,
        ))
    };
    let count = word(0)? as usize;
    let weight = i32::from(word(1)?);
    let sign = word(2)? as u16;
    let scale = word(3)?.max(0) as usize;
    match sign {
        0xC000 => return Ok(Value::from("NaN")),
        0xD000 => return Ok(Value::from("Infinity")),
        0xF000 => return Ok(Value::from("-Infinity")),
        _ => {}
    }
    let digits = (0..count)
        .map(|index| word(4 + index))
        .collect::<Result<Vec<_>, _>>()?;
    // Integer part: groups 0..=weight; fraction: the groups after.
    let mut integer = String::new();
    for position in 0..=weight.max(0) {
        let group = usize::try_from(position)
            .ok()
            .and_then(|index| digits.get(index))
            .copied()
            .unwrap_or(0);
        if integer.is_empty() {
            if position <= weight {
                integer = group.to_string();
            }
        } else {
            integer.push_str(&format!("{group:04}"));
        }
    }
    if weight < 0 || integer.is_empty() {
        integer = "0".to_string();
    }
    let mut fraction = String::new();
    let mut position = weight + 1;
    while fraction.len() < scale {
        let group = if position < 0 {
            0
        } else {
            usize::try_from(position)
                .ok()
                .and_then(|index| digits.get(index))
                .copied()
                .unwrap_or(0)
        };
        fraction.push_str(&format!("{group:04}"));
        position += 1;
    }
    fraction.truncate(scale);
    let mut text = if sign == 0x4000 {
        "-".to_string()
    } else {
        String::new()
    };
    text.push_str(&integer);
    if scale > 0 {
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(decimal_cell(&text))
}

/// `YYYY-MM-DD` of a day count from 2000-01-01 (Howard Hinnant's civil-from-days).
fn date_text(days_since_2000: i64) -> String {
    let days = days_since_2000 + 10_957 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `HH:MM:SS[.ffffff]` of microseconds since midnight.
fn time_text(micros: i64) -> String {
    let seconds = micros / 1_000_000;
    let fraction = micros % 1_000_000;
    let text = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    if fraction == 0 {
        text
    } else {
        format!("{text}.{}", format!("{fraction:06}").trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As root, with the runpath below a folder only root may enter (a plan run from
    /// `/root`, as CI machines do): the server, which runs as `postgres`, keeps its data in a
    /// scratch folder of its own, works, and the folder goes at stop.
    #[test]
    fn a_runpath_the_postgres_user_cannot_reach_moves_the_data_to_a_scratch_folder() {
        let root = rustix::process::getuid().is_root();
        let installed = !versioned_folders("/usr/lib/postgresql", "bin").is_empty();
        if !root || !installed {
            eprintln!("skipped: needs root and Debian's postgresql (scripts/setup installs it)");
            return;
        }
        let closed = std::env::temp_dir().join(format!("testrig-pg-closed-{}", std::process::id()));
        let runpath = closed.join("deep/db");
        std::fs::create_dir_all(&runpath).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        let db = Postgres::new("db");
        let context = StartContext::new(&runpath, std::time::Duration::from_secs(60));
        let started = db.start(&context).and_then(|()| db.wait_ready(&context));
        let attributes = db.attributes();
        let answer = db.query_value("select 40 + 2", ());
        let stopped = db.stop();
        started.unwrap();
        let data_dir = PathBuf::from(attributes["data_dir"].as_str().unwrap());
        assert!(
            data_dir.starts_with(std::env::temp_dir()) && !data_dir.starts_with(&closed),
            "{data_dir:?}"
        );
        assert_eq!(answer.unwrap(), serde_json::json!(42));
        stopped.unwrap();
        assert!(!data_dir.exists(), "the scratch folder is removed at stop");
        // The server's log is still in the runpath, written by the plan.
        assert!(runpath.join("stderr").exists());
        let _ = std::fs::remove_dir_all(&closed);
    }

    #[test]
    fn dates_and_times_read_as_iso_text() {
        assert_eq!(date_text(0), "2000-01-01");
        assert_eq!(date_text(-1), "1999-12-31");
        assert_eq!(date_text(9_190), "2025-02-28");
        assert_eq!(date_text(9_191), "2025-03-01");
        assert_eq!(time_text(0), "00:00:00");
        assert_eq!(time_text(45_296_500_000), "12:34:56.5");
    }

    fn numeric_bytes(weight: i16, sign: u16, scale: i16, digits: &[i16]) -> Vec<u8> {
        let mut raw = Vec::new();
        for word in [digits.len() as i16, weight, sign as i16, scale] {
            raw.extend_from_slice(&word.to_be_bytes());
        }
        for digit in digits {
            raw.extend_from_slice(&digit.to_be_bytes());
        }
        raw
    }

    #[test]
    fn numerics_are_numbers_when_exact_and_text_otherwise() {
        // 12345.67: groups 1|2345|6700, weight 1.
        let value = numeric(&numeric_bytes(1, 0, 2, &[1, 2345, 6700])).unwrap();
        assert_eq!(value, serde_json::json!(12345.67));
        // -0.05
        let value = numeric(&numeric_bytes(-1, 0x4000, 2, &[500])).unwrap();
        assert_eq!(value, serde_json::json!(-0.05));
        // 10000 (one group at weight 1, trailing zeros dropped).
        let value = numeric(&numeric_bytes(1, 0, 0, &[1])).unwrap();
        assert_eq!(value, serde_json::json!(10000));
        // More digits than a float keeps: exact text.
        let value = numeric(&numeric_bytes(0, 0, 20, &[1, 1234, 5678, 9012, 3456, 7890])).unwrap();
        assert_eq!(value, serde_json::json!("1.12345678901234567890"));
    }
}

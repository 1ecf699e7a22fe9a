//! A real PostgreSQL server in one line: `Postgres::new("db")` runs `initdb` and the server
//! from the machine's installation (Debian's `postgresql` package) on a free port, as the
//! `postgres` user when the plan runs as root, and gives testcases a client whose query
//! results are tables for the table assertions. A post-start hook runs `psql` against the
//! server's DSN attribute, as any program of yours would.
//!
//! Run it: `cargo test -p testrig-examples --test postgres -- -v`

use serde_json::json;
use std::process::Command;

use testrig::drivers::Postgres;
use testrig::env::Driver;
use testrig::prelude::*;

#[suite]
struct Orders;

#[suite]
impl Orders {
    /// Rows written through the driver's client come back as a table.
    #[testcase]
    fn insert_and_query(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let db = env.driver::<Postgres>("db");
        db.execute("delete from orders", ())?;
        db.execute(
            "insert into orders (symbol, qty, price) values ($1, $2, $3), ($4, $5, $6)",
            ("AAPL", 100, 187.25, "MSFT", 50, 411.5),
        )?;
        let rows = db.query("select symbol, qty, price from orders order by symbol", ())?;
        let expected = Table::new(
            ["symbol", "qty", "price"],
            [json!(["AAPL", 100, 187.25]), json!(["MSFT", 50, 411.5])],
        );
        result.table().matches(&rows, &expected, "orders");
        result.equal(
            db.query_value("select count(*) from orders where qty > $1", (60,))?,
            json!(1),
            "orders above 60",
        );
        Ok(())
    }

    /// The server's own errors reach the testcase with their code and hint.
    #[testcase]
    fn constraint_violation(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let db = env.driver::<Postgres>("db");
        let error = db
            .execute(
                "insert into orders (symbol, qty) values ($1, $2)",
                ("IBM", -5),
            )
            .unwrap_err();
        result.contain(
            "orders_qty_check",
            &error.message,
            "the violated constraint",
        );
        result.contain("(23514)", &error.message, "the SQLSTATE");
        Ok(())
    }

    /// Attributes: a numeric port and a DSN another program can use.
    #[testcase]
    fn attributes(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let db = env.driver::<Postgres>("db");
        let attributes = db.attributes();
        result.is_true(attributes["port"].is_u64(), "the port is a number");
        result.equal(
            attributes["dsn"].as_str(),
            Some(
                format!(
                    "postgresql://postgres@127.0.0.1:{}/shop",
                    attributes["port"]
                )
                .as_str(),
            ),
            "dsn",
        );
        // The post-start hook's psql printed the server's version into the runpath.
        let runpath = attributes["runpath"].as_str().unwrap_or_default();
        let version = std::fs::read_to_string(format!("{runpath}/version.txt")).unwrap_or_default();
        result.contain("PostgreSQL", &version, "psql reached the server");
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    let db = Postgres::new("db")
        .database("shop")
        .init_sql(
            "create table orders (id serial primary key, symbol text not null,
                 qty int not null check (qty > 0), price numeric(10, 2))",
        )
        // Any program reaches the server through its attributes.
        .post_start(|hook| {
            let dsn = hook.attributes()["dsn"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let output = hook.run(Command::new("psql").args([&dsn, "-Atc", "select version()"]))?;
            std::fs::write(hook.runpath().join("version.txt"), output.stdout)?;
            Ok(())
        });
    Plan::new("postgres")
        .add(MultiTest::new("Postgres").suite(Orders).driver(db))
        .run_from_args()
}

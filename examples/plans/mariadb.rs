//! A real MariaDB server in one line: `MariaDb::new("db")` runs `mariadb-install-db` and
//! `mariadbd` from the machine's installation (Debian's `mariadb-server` package) on a free
//! port, and gives testcases a client whose query results are tables.
//!
//! Run it: `cargo test -p testrig-examples --test mariadb -- -v`

use serde_json::json;
use testrig::drivers::MariaDb;
use testrig::env::Driver;
use testrig::prelude::*;

#[suite]
struct Inventory;

#[suite]
impl Inventory {
    /// Rows written through the driver's client come back as a table, decimals as numbers.
    #[testcase]
    fn insert_and_query(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let db = env.driver::<MariaDb>("db");
        db.execute("delete from items", ())?;
        let inserted = db.execute(
            "insert into items (sku, stock, price) values (?, ?, ?), (?, ?, ?)",
            ("A-1", 12, 9.5, "B-2", 0, 120.25),
        )?;
        result.equal(inserted, 2, "two rows inserted");
        let rows = db.query("select sku, stock, price from items order by sku", ())?;
        let expected = Table::new(
            ["sku", "stock", "price"],
            [json!(["A-1", 12, 9.5]), json!(["B-2", 0, 120.25])],
        );
        result.table().matches(&rows, &expected, "items");
        result.equal(
            db.query_value("select count(*) from items where stock > ?", (0,))?,
            json!(1),
            "items in stock",
        );
        Ok(())
    }

    /// The server's errors reach the testcase with their code.
    #[testcase]
    fn duplicate_key(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let db = env.driver::<MariaDb>("db");
        db.execute(
            "insert ignore into items (sku, stock) values ('C-3', 1)",
            (),
        )?;
        let error = db
            .execute("insert into items (sku, stock) values ('C-3', 1)", ())
            .unwrap_err();
        result.contain("Duplicate entry 'C-3'", &error.message, "the duplicate key");
        Ok(())
    }

    #[testcase]
    fn attributes(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let attributes = env.driver::<MariaDb>("db").attributes();
        result.is_true(attributes["port"].is_u64(), "the port is a number");
        result.equal(
            attributes["url"].as_str(),
            Some(format!("mysql://root@127.0.0.1:{}/shop", attributes["port"]).as_str()),
            "url",
        );
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    let db = MariaDb::new("db").database("shop").init_sql(
        "create table items (sku varchar(16) primary key, stock int not null,
             price decimal(10, 2))",
    );
    Plan::new("mariadb")
        .add(MultiTest::new("MariaDb").suite(Inventory).driver(db))
        .run_from_args()
}

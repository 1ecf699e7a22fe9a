//! In-process mock peers: an HTTP server that answers with queued responses and records what
//! it received, an HTTP client wired to it by context values, and a SQLite database whose
//! query results feed the table assertions.
//!
//! Run it: `cargo test -p testrig-examples --test services -- -v`

use serde_json::json;
use testrig::drivers::{HttpClient, HttpResponse, HttpServer, Sqlite};
use testrig::prelude::*;

#[suite]
struct Api;

#[suite]
impl Api {
    /// The server answers with what the testcase queued and records the request.
    #[testcase]
    fn canned_response(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let server = env.driver::<HttpServer>("api");
        let client = env.driver::<HttpClient>("client");
        server.queue_response(HttpResponse::json(201, &json!({"id": 7, "state": "new"})));
        let reply =
            client.post_json("/orders?dry_run=0", &json!({"symbol": "AAPL", "qty": 100}))?;
        result.equal(reply.status, 201, "created");
        result.dict().matches(
            reply.json().unwrap_or_default(),
            json!({"id": 7, "state": "new"}),
            "reply body",
        );
        let request = server.next_request(std::time::Duration::from_secs(1))?;
        result.equal(request.method.as_str(), "POST", "method");
        result.equal(request.path.as_str(), "/orders", "path");
        result.dict().match_with(
            request.json().unwrap_or_default(),
            json!({"symbol": "AAPL", "qty": 100}),
            DictMatchOptions::new().comparator(
                "qty",
                Comparator::predicate("positive", |qty| qty.as_i64() > Some(0)),
            ),
            "request body",
        );
        Ok(())
    }
}

#[suite]
struct Storage;

#[suite]
impl Storage {
    #[setup]
    fn create_schema(&self, env: &Env) -> Result<(), DriverError> {
        let db = env.driver::<Sqlite>("db");
        db.execute_batch("create table positions (symbol text, qty integer);")?;
        db.execute(
            "insert into positions values (?1, ?2), (?3, ?4)",
            ("AAPL", 100, "MSFT", 50),
        )?;
        Ok(())
    }

    /// Query results are tables: compare them cell by cell.
    #[testcase]
    fn positions(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let rows = env
            .driver::<Sqlite>("db")
            .query("select symbol, qty from positions order by symbol", ())?;
        let expected = Table::new(["symbol", "qty"], [("AAPL", 100), ("MSFT", 50)]);
        result.table().matches(&rows, &expected, "positions table");
        result
            .table()
            .column_contain(&rows, "symbol", ["AAPL", "MSFT", "GOOG"], "known symbols");
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    let api = HttpServer::new("api");
    let client = HttpClient::new("client")
        .host(context("api", "{{host}}"))
        .port(context("api", "{{port}}"));
    Plan::new("services")
        .add(MultiTest::new("Http").suite(Api).driver(api).driver(client))
        .add(
            MultiTest::new("Database")
                .suite(Storage)
                .driver(Sqlite::new("db", "positions.sqlite")),
        )
        .run_from_args()
}

//! FIX in a plan. `OrderFlow`: a `FixServer` (the exchange) and a `FixClient` (the trader)
//! wired together by context values; testcases send a NewOrderSingle from the client,
//! receive it on the server, answer with an ExecutionReport and check both with the
//! recorder's `fix` assertions. `QuickFix`: the same client logs on to a real FIX engine,
//! QuickFIX/C++, run as an `App` (the peer program of testrig-fix's interoperability tests,
//! compiled by a `pre_start` hook into the driver's runpath). `OrderFlowTls` (feature
//! `fix-tls`): the order flow over TLS, the exchange presenting a self-signed certificate its
//! `pre_start` hook makes with the `openssl` tool, the trader trusting exactly that
//! certificate (the exchange's `tls_cert` attribute).
//!
//! Needs QuickFIX's headers and library and a C++ compiler:
//! `apt-get install libquickfix-dev g++` (Debian 12); without them the `QuickFix` test fails
//! and says so. `OrderFlowTls` needs `libssl-dev` and `pkg-config` to build and the `openssl`
//! tool to run.
//!
//! Run it: `cargo test -p testrig-examples --test fix -- -v`, with TLS:
//! `cargo test -p testrig-examples --features fix-tls --test fix -- -v`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use testrig::drivers::fix_protocol::{FixVersion, Message, Tag, msg_type};
use testrig::drivers::{App, FixClient, FixServer, reserve_port};
use testrig::env::{HookContext, HookResult};
use testrig::prelude::*;
use testrig::result::FixMatchOptions;

/// How long a testcase waits for a message.
const WAIT: Duration = Duration::from_secs(10);

/// What to install when the QuickFIX peer cannot be built.
const INSTALL: &str = "apt-get install libquickfix-dev g++";

fn new_order(id: &str) -> Message {
    Message::new(msg_type::NEW_ORDER_SINGLE)
        .with(Tag::CL_ORD_ID, id)
        .with(Tag::HANDL_INST, "1")
        .with(Tag::SYMBOL, "ACME")
        .with(Tag::SIDE, "1")
        .with(Tag::TRANSACT_TIME, "20240102-03:04:05.000")
        .with(Tag::ORDER_QTY, "100")
        .with(Tag::ORD_TYPE, "2")
        .with(Tag::PRICE, "12.5")
}

/// The exchange's answer to an order: accepted, nothing filled yet.
fn acknowledgement(order: &Message, exec_id: &str) -> Message {
    let field = |tag: Tag| order.get(tag).unwrap_or_default().to_string();
    Message::new(msg_type::EXECUTION_REPORT)
        .with(Tag::ORDER_ID, "OID-1")
        .with(Tag::EXEC_ID, exec_id)
        .with(Tag::EXEC_TYPE, "0")
        .with(Tag::ORD_STATUS, "0")
        .with(Tag::CL_ORD_ID, field(Tag::CL_ORD_ID))
        .with(Tag::SYMBOL, field(Tag::SYMBOL))
        .with(Tag::SIDE, field(Tag::SIDE))
        .with(Tag::ORDER_QTY, field(Tag::ORDER_QTY))
        .with(Tag::LEAVES_QTY, field(Tag::ORDER_QTY))
        .with(Tag::CUM_QTY, "0")
        .with(Tag::AVG_PX, "0")
}

#[suite]
struct OrderFlow;

#[suite]
impl OrderFlow {
    /// The order reaches the exchange as the trader sent it, addressed by the session.
    #[testcase]
    fn order_reaches_the_exchange(
        &self,
        env: &Env,
        result: &mut Recorder,
    ) -> Result<(), DriverError> {
        let trader = env.driver::<FixClient>("trader");
        let exchange = env.driver::<FixServer>("exchange");
        let order = new_order("ORDER-1");
        trader.send(order.clone())?;
        let received = exchange.receive(WAIT)?;
        result
            .fix()
            .log(&received, "the order as the exchange received it");
        result.fix().check(
            &received,
            &[Tag::CL_ORD_ID, Tag::SYMBOL, Tag::ORDER_QTY, Tag::PRICE],
            &[Tag::TEXT, Tag::POSS_DUP_FLAG],
            "a limit order, not a resend",
        );
        // The session added the CompIDs; 8, 9, 10, 34 and 52 are not compared by default.
        let expected = order
            .with(Tag::SENDER_COMP_ID, "TRADER")
            .with(Tag::TARGET_COMP_ID, "EXCHANGE");
        result
            .fix()
            .matches(&received, &expected, "the order, field by field");
        Ok(())
    }

    /// The exchange acknowledges the order; the trader sees the report.
    #[testcase]
    fn exchange_acknowledges_the_order(
        &self,
        env: &Env,
        result: &mut Recorder,
    ) -> Result<(), DriverError> {
        let trader = env.driver::<FixClient>("trader");
        let exchange = env.driver::<FixServer>("exchange");
        trader.send(new_order("ORDER-2"))?;
        let order = exchange.receive_from("TRADER", WAIT)?;
        let sequence = exchange.send(acknowledgement(&order, "EXEC-2"))?;
        let report = trader.receive(WAIT)?;
        result.equal(
            report.seq_num(),
            Some(sequence),
            "the report carries the sequence number the exchange sent it with",
        );
        let expected = Message::new(msg_type::EXECUTION_REPORT)
            .with(Tag::CL_ORD_ID, "ORDER-2")
            .with(Tag::ORD_STATUS, "0")
            .with(Tag::SYMBOL, "ACME")
            .with(Tag::LEAVES_QTY, "100");
        let options = FixMatchOptions::new()
            .only_expected_tags()
            .comparator(Tag::EXEC_ID, Comparator::regex("^EXEC-[0-9]+$"))
            .comparator(Tag::ORDER_QTY, Comparator::from(100));
        result
            .fix()
            .match_with(&report, &expected, options, "an accepted, unfilled order");
        Ok(())
    }
}

#[suite]
struct QuickFix;

#[suite]
impl QuickFix {
    /// QuickFIX's acceptor answers our order with its own ExecutionReport.
    #[testcase]
    fn quickfix_acknowledges_an_order(
        &self,
        env: &Env,
        result: &mut Recorder,
    ) -> Result<(), DriverError> {
        let rig = env.driver::<FixClient>("rig");
        rig.send(new_order("RIG-1"))?;
        let report = rig.receive(WAIT)?;
        result.fix().log(&report, "QuickFIX's execution report");
        // What qf_peer.cpp answers to every order.
        let expected = Message::new(msg_type::EXECUTION_REPORT)
            .with(Tag::SENDER_COMP_ID, "QF")
            .with(Tag::TARGET_COMP_ID, "RIG")
            .with(Tag::ORDER_ID, "QF-OID-1")
            .with(Tag::EXEC_ID, "QF-EXEC-1")
            .with(Tag::EXEC_TYPE, "0")
            .with(Tag::ORD_STATUS, "0")
            .with(Tag::CL_ORD_ID, "RIG-1")
            .with(Tag::SYMBOL, "ACME")
            .with(Tag::SIDE, "1")
            .with(Tag::ORDER_QTY, "100")
            .with(Tag::LEAVES_QTY, "100")
            .with(Tag::CUM_QTY, "0")
            .with(Tag::AVG_PX, "0");
        result
            .fix()
            .matches(&report, &expected, "the execution report, field by field");
        // The peer prints one line per event: it saw our order as MsgSeqNum 2, after the
        // Logon.
        let peer = env.driver::<App>("quickfix");
        let stdout =
            std::fs::read_to_string(peer.stdout_path().unwrap_or_default()).unwrap_or_default();
        result.contain(
            "ORDER 2 RIG-1",
            stdout.as_str(),
            "QuickFIX logged the order",
        );
        Ok(())
    }
}

/// The order flow over TLS (feature `fix-tls`).
#[cfg(feature = "fix-tls")]
mod tls {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use serde_json::json;
    use testrig::drivers::fix_protocol::{Message, Tag, msg_type};
    use testrig::drivers::{FixClient, FixServer};
    use testrig::env::{Driver, HookContext, HookResult};
    use testrig::prelude::*;
    use testrig::result::FixMatchOptions;

    use super::{WAIT, acknowledgement, new_order};

    #[suite]
    pub struct OrderFlowTls;

    #[suite]
    impl OrderFlowTls {
        /// Both sides run over TLS, and the order and its report go through as in clear.
        #[testcase]
        fn order_and_report_over_tls(
            &self,
            env: &Env,
            result: &mut Recorder,
        ) -> Result<(), DriverError> {
            let trader = env.driver::<FixClient>("trader");
            let exchange = env.driver::<FixServer>("exchange");
            result.equal(
                exchange.attributes().get("tls").cloned(),
                Some(json!(true)),
                "the exchange presents its certificate",
            );
            result.equal(
                trader.attributes().get("tls").cloned(),
                Some(json!(true)),
                "the trader connected with TLS and verified it",
            );
            trader.send(new_order("TLS-1"))?;
            let order = exchange.receive(WAIT)?;
            let expected = new_order("TLS-1")
                .with(Tag::SENDER_COMP_ID, "TRADER")
                .with(Tag::TARGET_COMP_ID, "EXCHANGE");
            result
                .fix()
                .matches(&order, &expected, "the order, field by field");
            exchange.send(acknowledgement(&order, "EXEC-TLS-1"))?;
            let report = trader.receive(WAIT)?;
            let expected = Message::new(msg_type::EXECUTION_REPORT)
                .with(Tag::CL_ORD_ID, "TLS-1")
                .with(Tag::EXEC_ID, "EXEC-TLS-1")
                .with(Tag::ORD_STATUS, "0");
            result.fix().match_with(
                &report,
                &expected,
                FixMatchOptions::new().only_expected_tags(),
                "the acknowledgement",
            );
            Ok(())
        }
    }

    /// A self-signed certificate for 127.0.0.1 and `localhost`, made by the exchange's
    /// `pre_start` hook into `dir`.
    fn make_certificate(hook: &mut HookContext<'_>, dir: &Path) -> HookResult {
        std::fs::create_dir_all(dir)
            .map_err(|error| format!("failed to create `{}`: {error}", dir.display()))?;
        hook.run(
            Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"])
                .args(["-subj", "/CN=localhost"])
                .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
                .arg("-keyout")
                .arg(dir.join("exchange.key"))
                .arg("-out")
                .arg(dir.join("exchange.pem")),
        )
        .map_err(|error| {
            format!("making the exchange's certificate failed: {error}; is the `openssl` tool installed? `apt-get install openssl`")
        })?;
        Ok(())
    }

    /// The exchange and the trader of `OrderFlow`, over TLS.
    pub fn order_flow() -> MultiTest {
        // Somewhere to put the certificate that is known before the hook runs.
        let dir: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("fix-tls-plan-{}", std::process::id()));
        let hook_dir = dir.clone();
        let exchange = FixServer::new("exchange")
            .sender("EXCHANGE")
            .target("TRADER")
            .tls(dir.join("exchange.pem"), dir.join("exchange.key"))
            .pre_start(move |hook| make_certificate(hook, &hook_dir));
        let trader = FixClient::new("trader")
            .host(context("exchange", "{{host}}"))
            .port(context("exchange", "{{port}}"))
            .tls_ca(context("exchange", "{{tls_cert}}"))
            .sender("TRADER")
            .target("EXCHANGE");
        MultiTest::new("OrderFlowTls")
            .suite(OrderFlowTls)
            .driver(exchange)
            .driver(trader)
    }
}

/// The QuickFIX peer's source, in testrig-fix's interoperability tests.
fn peer_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/testrig-fix/tests/peer/qf_peer.cpp")
}

/// Compiles the QuickFIX peer into the driver's runpath (the App's working directory).
fn build_quickfix_peer(hook: &mut HookContext<'_>) -> HookResult {
    if !Path::new("/usr/include/quickfix/Session.h").exists() {
        return Err(format!(
            "the quickfix/c++ headers are missing (no /usr/include/quickfix/Session.h); install quickfix and a c++ compiler: `{INSTALL}`"
        )
        .into());
    }
    // QuickFIX 1.15's headers use dynamic exception specifications, which C++17 removed.
    hook.run(
        Command::new("c++")
            .args(["-std=gnu++14", "-O0", "-w", "-o", "qf_peer"])
            .arg(peer_source())
            .args(["-lquickfix", "-lpthread"]),
    )
    .map_err(|error| {
        format!("building the quickfix peer failed: {error}; are quickfix and a c++ compiler installed? `{INSTALL}`")
    })?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let exchange = FixServer::new("exchange")
        .sender("EXCHANGE")
        .target("TRADER")
        .version(FixVersion::Fix44);
    let trader = FixClient::new("trader")
        .host(context("exchange", "{{host}}"))
        .port(context("exchange", "{{port}}"))
        .sender("TRADER")
        .target("EXCHANGE");

    // qf_peer takes its port on the command line: reserve one for the plan's lifetime.
    let port = match reserve_port() {
        Ok(reservation) => reservation,
        Err(error) => {
            eprintln!("error: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    // The acceptor runs until its standard input closes; the App gives it none, so a `tail`
    // holds the pipe open until the driver stops the process group.
    let quickfix = App::new("quickfix", "sh")
        .args([
            "-c",
            r#"tail -f /dev/null | exec ./qf_peer "$@""#,
            "qf_peer",
            "acceptor",
            "FIX.4.4",
        ])
        .arg(port.port().to_string())
        .args(["QF", "RIG", "."])
        .ready_on_stdout("^READY$")
        .input(peer_source())
        .start_timeout(Duration::from_secs(120))
        .pre_start(build_quickfix_peer);
    let rig = FixClient::new("rig")
        .port(port.port())
        .sender("RIG")
        .target("QF");

    let plan = Plan::new("fix")
        .add(
            MultiTest::new("OrderFlow")
                .suite(OrderFlow)
                .driver(exchange)
                .driver(trader),
        )
        .add(
            MultiTest::new("QuickFix")
                .suite(QuickFix)
                .driver(quickfix)
                .driver(rig),
        );
    #[cfg(feature = "fix-tls")]
    let plan = plan.add(tls::order_flow());
    let code = plan.run_from_args();
    drop(port);
    code
}

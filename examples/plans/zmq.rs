//! ZeroMQ in a plan. `Patterns`: four pairs of `ZmqServer`/`ZmqClient` drivers, wired
//! together by context values, exchange messages in ZeroMQ's four basic patterns — PAIR,
//! REQ/REP, PUB/SUB (with a subscription filter, after waiting out the slow joiner) and
//! PUSH/PULL. `PyZmq`: a REQ client talks to an independent peer, a pyzmq REP echo server
//! (`zmq_peer.py`, with its own bundled libzmq) run as an `App` that prints the port it bound.
//!
//! Needs the `zmq` feature (Debian: `apt-get install libzmq3-dev pkg-config` to build it) and,
//! for `PyZmq`, pyzmq: `python3 -m pip install pyzmq`; without it the `PyZmq` test fails and
//! says so.
//!
//! Run it: `cargo test -p testrig-examples --features zmq --test zmq -- -v`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use testrig::drivers::{App, ZmqClient, ZmqServer, ZmqSocketType};
use testrig::env::{HookContext, HookResult};
use testrig::prelude::*;

/// How long a testcase waits for a message.
const WAIT: Duration = Duration::from_secs(5);

/// What to run when pyzmq is missing.
const INSTALL: &str = "python3 -m pip install pyzmq";

/// The frames of a message as text, for readable assertions.
fn texts(frames: Vec<Vec<u8>>) -> Vec<String> {
    frames
        .into_iter()
        .map(|frame| String::from_utf8_lossy(&frame).into_owned())
        .collect()
}

#[suite]
struct Patterns;

#[suite]
impl Patterns {
    /// PAIR: one exclusive link, both directions, multipart messages arrive whole.
    #[testcase]
    fn pair_talks_both_ways(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let server = env.driver::<ZmqServer>("pair_server");
        let client = env.driver::<ZmqClient>("pair_client");
        client.send_text("hello server")?;
        result.equal(
            server.receive_text(WAIT)?,
            "hello server",
            "the server got the client's message",
        );
        server.send_multipart(&["header", "body"])?;
        result.equal(
            texts(client.receive_multipart(WAIT)?),
            ["header", "body"],
            "the client got both frames of the server's message",
        );
        Ok(())
    }

    /// REQ/REP: each request gets its reply, in turn.
    #[testcase]
    fn req_gets_a_reply_from_rep(
        &self,
        env: &Env,
        result: &mut Recorder,
    ) -> Result<(), DriverError> {
        let server = env.driver::<ZmqServer>("rep_server");
        let client = env.driver::<ZmqClient>("req_client");
        for number in 1..=3 {
            client.send_text(&format!("request {number}"))?;
            let request = server.receive_text(WAIT)?;
            result.equal(
                request.as_str(),
                format!("request {number}").as_str(),
                "the requests arrive in order",
            );
            server.send_text(&format!("reply to {request}"))?;
            result.equal(
                client.receive_text(WAIT)?,
                format!("reply to request {number}"),
                "the reply answers the request",
            );
        }
        // Out of turn: a REQ socket cannot send twice without a reply.
        client.send_text("one")?;
        let refused = client.send_text("two");
        result.is_true(refused.is_err(), "a second request before the reply fails");
        server.receive(WAIT)?;
        server.send_text("done")?;
        client.receive(WAIT)?;
        Ok(())
    }

    /// PUB/SUB: the subscriber sees only the topics it subscribed to, once the subscription
    /// reached the publisher.
    #[testcase]
    fn sub_gets_only_its_topics(
        &self,
        env: &Env,
        result: &mut Recorder,
    ) -> Result<(), DriverError> {
        let publisher = env.driver::<ZmqServer>("pub_server");
        let subscriber = env.driver::<ZmqClient>("sub_client");
        // Without this, the first messages may be published before the subscription arrives
        // and be dropped (ZeroMQ's slow joiner).
        subscriber.wait_subscribed(publisher, "prices.probe", WAIT)?;
        for message in [
            "news: rain",
            "prices: ACME 12.5",
            "news: sun",
            "prices: ACME 12.75",
        ] {
            publisher.send_text(message)?;
        }
        let first = subscriber.receive_text(WAIT)?;
        let second = subscriber.receive_text(WAIT)?;
        result.equal(
            vec![first, second],
            vec![
                "prices: ACME 12.5".to_string(),
                "prices: ACME 12.75".to_string(),
            ],
            "only the prices, in order",
        );
        let nothing_else = subscriber.receive(Duration::from_millis(200));
        result.is_true(nothing_else.is_err(), "the news were filtered out");

        // A topic frame and a body: the filter applies to the first frame.
        publisher.send_multipart(&["prices", "ACME 13"])?;
        result.equal(
            texts(subscriber.receive_multipart(WAIT)?),
            ["prices", "ACME 13"],
            "a multipart message with a topic frame",
        );
        Ok(())
    }

    /// PUSH/PULL: tasks arrive in order.
    #[testcase]
    fn pull_gets_every_pushed_task(
        &self,
        env: &Env,
        result: &mut Recorder,
    ) -> Result<(), DriverError> {
        let sink = env.driver::<ZmqServer>("pull_server");
        let pusher = env.driver::<ZmqClient>("push_client");
        for number in 0..5 {
            pusher.send_text(&format!("task {number}"))?;
        }
        let mut received = Vec::new();
        for _ in 0..5 {
            received.push(sink.receive_text(WAIT)?);
        }
        let expected: Vec<String> = (0..5).map(|number| format!("task {number}")).collect();
        result.equal(received, expected, "all five tasks, in order");
        Ok(())
    }
}

#[suite]
struct PyZmq;

#[suite]
impl PyZmq {
    /// pyzmq's REP server echoes our request.
    #[testcase]
    fn pyzmq_echoes_a_request(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let client = env.driver::<ZmqClient>("client");
        client.send_text("from rust")?;
        result.equal(
            client.receive_text(WAIT)?,
            "py-echo:from rust",
            "the python peer's reply",
        );
        Ok(())
    }

    /// Multipart requests come back whole, the first frame tagged by the peer.
    #[testcase]
    fn pyzmq_echoes_every_frame(
        &self,
        env: &Env,
        result: &mut Recorder,
    ) -> Result<(), DriverError> {
        let client = env.driver::<ZmqClient>("client");
        client.send_multipart(&["key", "value", "more"])?;
        result.equal(
            texts(client.receive_multipart(WAIT)?),
            ["py-echo:key", "value", "more"],
            "three frames back",
        );
        let peer = env.driver::<App>("pyzmq");
        let stdout =
            std::fs::read_to_string(peer.stdout_path().unwrap_or_default()).unwrap_or_default();
        result.contain(
            "request [b'key', b'value', b'more']",
            stdout.as_str(),
            "the peer logged the request",
        );
        Ok(())
    }
}

/// The python peer's source, beside this plan.
fn peer_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/zmq_peer.py")
}

/// Fails the start with the fix when pyzmq cannot be imported.
fn check_pyzmq(hook: &mut HookContext<'_>) -> HookResult {
    hook.run(Command::new("python3").args(["-c", "import zmq"]))
        .map_err(|error| {
            format!("pyzmq is missing for python3: install it with `{INSTALL}` ({error})")
        })?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let pair = |kind_server, kind_client, server: &str, client: &str| {
        (
            ZmqServer::new(server, kind_server),
            ZmqClient::new(client, kind_client)
                .host(context(server, "{{host}}"))
                .port(context(server, "{{port}}")),
        )
    };
    let (pair_server, pair_client) = pair(
        ZmqSocketType::Pair,
        ZmqSocketType::Pair,
        "pair_server",
        "pair_client",
    );
    let (rep_server, req_client) = pair(
        ZmqSocketType::Rep,
        ZmqSocketType::Req,
        "rep_server",
        "req_client",
    );
    let (pub_server, sub_client) = pair(
        ZmqSocketType::Pub,
        ZmqSocketType::Sub,
        "pub_server",
        "sub_client",
    );
    let sub_client = sub_client.subscription("prices");
    // PUSH/PULL the other way round: the server is the sink the client feeds.
    let (pull_server, push_client) = pair(
        ZmqSocketType::Pull,
        ZmqSocketType::Push,
        "pull_server",
        "push_client",
    );

    // The peer binds a free port itself and prints it; the App extracts it as `port`.
    let pyzmq = App::new("pyzmq", "python3")
        .arg("-u")
        .arg(peer_source().display().to_string())
        .ready_on_stdout(r"READY port=(?P<port>\d+)")
        .input(peer_source())
        .pre_start(check_pyzmq);
    let client = ZmqClient::new("client", ZmqSocketType::Req).port(context("pyzmq", "{{port}}"));

    Plan::new("zmq")
        .add(
            MultiTest::new("Patterns")
                .suite(Patterns)
                .driver(pair_server)
                .driver(pair_client)
                .driver(rep_server)
                .driver(req_client)
                .driver(pub_server)
                .driver(sub_client)
                .driver(pull_server)
                .driver(push_client),
        )
        .add(
            MultiTest::new("PyZmq")
                .suite(PyZmq)
                .driver(pyzmq)
                .driver(client),
        )
        .run_from_args()
}

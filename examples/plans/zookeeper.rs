//! A real ZooKeeper in one line: `Zookeeper::new("zk")` starts the machine's ZooKeeper
//! (Debian's `zookeeper` package) standalone on a free port, ready once `ruok` answers
//! `imok`. An App reads its `connection_str` through a context value, as a service under
//! test would, and talks to it.
//!
//! Run it: `cargo test -p testrig-examples --test zookeeper -- -v`

use testrig::drivers::{App, WaitFor, Zookeeper};
use testrig::prelude::*;

#[suite]
struct Coordination;

#[suite]
impl Coordination {
    #[testcase]
    fn standalone(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let zk = env.driver::<Zookeeper>("zk");
        result.equal(zk.command("ruok")?, "imok", "ruok");
        let srvr = zk.command("srvr")?;
        result.contain("Mode: standalone", &srvr, "standalone mode");
        result
            .regex()
            .matches(r"Zookeeper version: 3\.\d+", &srvr, "a version");
        Ok(())
    }

    /// The client App connected with the published connection string.
    #[testcase]
    fn a_client_connects(&self, env: &Env, result: &mut Recorder) -> Result<(), DriverError> {
        let zk = env.driver::<Zookeeper>("zk");
        let connections = zk.command("cons")?;
        // The App's connection and the one of `cons` itself.
        result.greater_equal(connections.lines().count(), 2, "connections listed");
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    let zk = Zookeeper::new("zk").setting("maxClientCnxns", "20");
    // A client holding a session-less TCP connection to the server.
    let client = App::new("client", "python3")
        .args([
            "-c",
            "import socket, sys, time\nhost, port = sys.argv[1].split(':')\ns = socket.create_connection((host, int(port)))\nprint('connected', flush=True)\ntime.sleep(600)",
        ])
        .arg(context("zk", "{{connection_str}}"))
        .ready_when(WaitFor::stdout("connected"));
    Plan::new("zookeeper")
        .add(
            MultiTest::new("Zookeeper")
                .suite(Coordination)
                .driver(zk)
                .driver(client),
        )
        .run_from_args()
}

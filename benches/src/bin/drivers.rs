//! Start-to-ready time of each service driver against starting the same server by hand
//! with the same settings and the same readiness check (its ready line logged, then its port
//! accepting), medians of five runs. A server missing on the machine is reported as skipped.
//!
//! The hand-made start is what a careful script does: initialise the data folder, spawn the
//! server with its log in a file, read the file every millisecond until the ready line is
//! there, connect to the port. The driver's figure is its start timer in the report (from
//! the start request to ready, setup included) and, for the databases, the same without
//! `initdb` / `mariadb-install-db`.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testrig::drivers::{MariaDb, Postgres, Redis, Zookeeper};
use testrig::env::DriverBox;
use testrig::model::Report;
use testrig::prelude::*;

const RUNS: usize = 5;

#[suite]
struct Up;

#[suite]
impl Up {
    #[testcase]
    fn started(&self, _env: &Env, _result: &mut Recorder) {}
}

/// (start seconds, setup seconds such as initdb) of one start of `driver` by testrig.
fn by_testrig(driver: DriverBox, setup_attribute: &str, runpath: &Path) -> Option<(f64, f64)> {
    let options = testrig::cli::Options::from_args([
        "drivers",
        "-q",
        "--pool",
        "thread",
        "--runpath",
        runpath.to_str().unwrap_or("."),
    ])
    .expect("fixed arguments parse");
    let outcome = Plan::new("drivers")
        .add(MultiTest::new("Service").suite(Up).drivers([driver]))
        .run_with(options);
    let report: Report = outcome.report?;
    let driver = report.plan.children.first()?.drivers.first()?.clone();
    if driver.error.is_some() {
        eprintln!(
            "{}: {}",
            driver.name,
            driver.error.map(|error| error.message).unwrap_or_default()
        );
        return None;
    }
    let setup = driver
        .attributes
        .get(setup_attribute)
        .and_then(|value| value.as_f64())
        .unwrap_or(0.0);
    Some((driver.start.duration()?, setup))
}

/// Seconds until `log` has `line` and `port` accepts, reading every millisecond.
fn wait_ready(child: &mut Child, log: &Path, line: &str, port: u16) -> Option<f64> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    let mut seen = false;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return None;
        }
        if !seen {
            let mut text = String::new();
            if let Ok(mut file) = std::fs::File::open(log) {
                let _ = file.read_to_string(&mut text);
            }
            seen = text.contains(line);
        }
        if seen && TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(started.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn fresh(folder: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(folder);
    std::fs::create_dir_all(folder).expect("scratch folder");
    folder.to_path_buf()
}

fn free_port() -> u16 {
    testrig::drivers::reserve_port()
        .map(|reservation| reservation.port())
        .unwrap_or(25432)
}

fn log_file(path: &Path) -> std::fs::File {
    std::fs::File::create(path).expect("log file")
}

/// The server run as `postgres` when this runs as root, as the driver does.
fn as_postgres(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let ids = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&"postgres")).then(|| {
            (
                fields[2].parse::<u32>().unwrap_or(0),
                fields[3].parse::<u32>().unwrap_or(0),
            )
        })
    });
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"));
    if let (true, Some((uid, gid))) = (root, ids) {
        command.uid(uid).gid(gid);
    }
    command
}

/// (initdb seconds, server start-to-ready seconds) by hand.
fn postgres_by_hand(folder: &Path) -> Option<(f64, f64)> {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .max()?;
    let folder = fresh(folder);
    let _ = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(&folder)
        .status();
    let data = folder.join("data");
    let started = Instant::now();
    let initdb = as_postgres(&mut Command::new(bin.join("initdb")))
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    if !initdb.success() {
        return None;
    }
    let initdb_seconds = started.elapsed().as_secs_f64();
    let port = free_port();
    let log = folder.join("stderr");
    let mut child = as_postgres(&mut Command::new(bin.join("postgres")))
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-k"])
        .arg(&folder)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        .args(["-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
        .stderr(log_file(&log))
        .spawn()
        .ok()?;
    let ready = wait_ready(
        &mut child,
        &log,
        "database system is ready to accept connections",
        port,
    );
    stop(child);
    Some((initdb_seconds, ready?))
}

fn mariadb_by_hand(folder: &Path) -> Option<(f64, f64)> {
    let folder = fresh(folder);
    let data = folder.join("data");
    let started = Instant::now();
    let install = Command::new("mariadb-install-db")
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args([
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--innodb-log-file-size=8M",
            "--user=root",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    if !install.success() {
        return None;
    }
    let install_seconds = started.elapsed().as_secs_f64();
    let port = free_port();
    let log = folder.join("stderr");
    let mut child = Command::new("/usr/sbin/mariadbd")
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", folder.join("mysqld.sock").display()))
        .arg(format!("--port={port}"))
        .args([
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=8M",
            "--innodb-flush-log-at-trx-commit=0",
            "--user=root",
        ])
        .stderr(log_file(&log))
        .spawn()
        .ok()?;
    let ready = wait_ready(&mut child, &log, "ready for connections", port);
    stop(child);
    Some((install_seconds, ready?))
}

fn redis_by_hand(folder: &Path) -> Option<(f64, f64)> {
    let folder = fresh(folder);
    let port = free_port();
    let config = folder.join("redis.conf");
    std::fs::write(
        &config,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nsave \"\"\nappendonly no\ndaemonize no\nlogfile \"\"\n",
            folder.display()
        ),
    )
    .ok()?;
    let log = folder.join("stdout");
    let mut child = Command::new("redis-server")
        .arg(&config)
        .stdout(log_file(&log))
        .spawn()
        .ok()?;
    let ready = wait_ready(&mut child, &log, "Ready to accept connections", port);
    stop(child);
    Some((0.0, ready?))
}

/// ZooKeeper logs no ready line: ready is `ruok` answering `imok`, asked every millisecond.
fn zookeeper_by_hand(folder: &Path) -> Option<(f64, f64)> {
    use std::io::Write;
    let folder = fresh(folder);
    let port = free_port();
    let config = folder.join("zoo.cfg");
    std::fs::write(
        &config,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=*\n",
            folder.join("data").display()
        ),
    )
    .ok()?;
    let started = Instant::now();
    let mut child = Command::new("java")
        .args([
            "-Xms16m",
            "-Xmx64m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-XX:-UsePerfData",
            "-XX:MaxMetaspaceSize=64m",
            "-cp",
            "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        ])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = started + Duration::from_secs(60);
    let mut ready = None;
    while Instant::now() < deadline && child.try_wait().ok().flatten().is_none() {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            // A server still starting may hold the connection without answering.
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let mut answer = String::new();
            if stream.write_all(b"ruok").is_ok()
                && stream.read_to_string(&mut answer).is_ok()
                && answer == "imok"
            {
                ready = Some(started.elapsed().as_secs_f64());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = child.kill();
    let _ = child.wait();
    Some((0.0, ready?))
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

fn main() {
    let scratch = std::env::temp_dir().join(format!("testrig-drivers-{}", std::process::id()));
    type Make = fn() -> DriverBox;
    type Hand = fn(&Path) -> Option<(f64, f64)>;
    let services: [(&str, Make, &str, Hand); 4] = [
        (
            "postgres",
            || Postgres::new("db").into(),
            "initdb_seconds",
            postgres_by_hand,
        ),
        (
            "mariadb",
            || MariaDb::new("db").into(),
            "install_seconds",
            mariadb_by_hand,
        ),
        ("redis", || Redis::new("cache").into(), "", redis_by_hand),
        (
            "zookeeper",
            || Zookeeper::new("zk").into(),
            "",
            zookeeper_by_hand,
        ),
    ];
    for (name, make, setup_attribute, hand) in services {
        let mut driver_total = Vec::new();
        let mut driver_server = Vec::new();
        let mut hand_total = Vec::new();
        let mut hand_server = Vec::new();
        for _ in 0..RUNS {
            if let Some((total, setup)) = by_testrig(make(), setup_attribute, &scratch.join(name)) {
                driver_total.push(total);
                driver_server.push(total - setup);
            }
            if let Some((setup, server)) = hand(&scratch.join(format!("{name}-hand"))) {
                hand_total.push(setup + server);
                hand_server.push(server);
            }
        }
        let (Some(driver), Some(by_hand)) = (median(driver_total), median(hand_total)) else {
            println!("{name}_ready_ms skipped (the server is not installed or did not start)");
            continue;
        };
        println!("{name}_ready_ms {:.0} ms", driver * 1000.0);
        println!("{name}_by_hand_ready_ms {:.0} ms", by_hand * 1000.0);
        if !setup_attribute.is_empty()
            && let (Some(driver), Some(by_hand)) = (median(driver_server), median(hand_server))
        {
            println!("{name}_ready_without_init_ms {:.0} ms", driver * 1000.0);
            println!(
                "{name}_by_hand_ready_without_init_ms {:.0} ms",
                by_hand * 1000.0
            );
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

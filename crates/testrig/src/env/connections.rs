//! The driver connection graph: which driver listens where and who is connected to it,
//! read from the running environment just before it stops (Testplan's `--driver-info` flow
//! chart), sent as an event, kept in the report, printed by `--driver-info` and drawn by the
//! UI.
//!
//! Drivers that run processes (App and the service drivers) are read from Linux's `/proc`:
//! every process of the driver's process group, its socket inodes (`/proc/<pid>/fd`), and
//! the kernel's TCP tables (`/proc/net/tcp`, `tcp6`) for what those sockets are bound and
//! connected to. In-process drivers (the mock servers and clients) say which sockets are
//! theirs ([`Driver::sockets`]); the plan process's other client sockets are the
//! testcases'. Only TCP is read; a machine without `/proc` gets an empty graph.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use testrig_model::{DriverConnection, DriverConnections, ListeningSocket};

use crate::env::driver::Driver;

/// The sockets an in-process driver holds in the plan's own process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverSockets {
    /// Addresses it listens on.
    pub listening: Vec<SocketAddr>,
    /// Local addresses of the connections it opened.
    pub connected: Vec<SocketAddr>,
}

impl DriverSockets {
    /// Sockets listening on `addresses`.
    pub fn listening(addresses: impl IntoIterator<Item = SocketAddr>) -> DriverSockets {
        DriverSockets {
            listening: addresses.into_iter().collect(),
            connected: Vec::new(),
        }
    }

    /// Outgoing connections whose local ends are `addresses`.
    pub fn connected(addresses: impl IntoIterator<Item = SocketAddr>) -> DriverSockets {
        DriverSockets {
            listening: Vec::new(),
            connected: addresses.into_iter().collect(),
        }
    }
}

/// Who owns the connecting end of a socket.
const TESTCASES: &str = "testcases";

/// One line of the kernel's TCP table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TcpEntry {
    local: SocketAddr,
    remote: SocketAddr,
    listening: bool,
    established: bool,
    inode: u64,
}

/// The graph of `drivers` as they run now; `None` when no driver has a process or socket to
/// read (nothing to draw).
pub(crate) fn read_connections(drivers: &[Arc<dyn Driver>]) -> Option<DriverConnections> {
    let mut groups: HashMap<i32, String> = HashMap::new();
    let mut in_process: Vec<(String, DriverSockets)> = Vec::new();
    for driver in drivers {
        let sockets = driver.sockets();
        if sockets != DriverSockets::default() {
            in_process.push((driver.name().to_string(), sockets));
        }
        if let Some(pid) = driver.attributes().get("pid").and_then(|pid| pid.as_i64()) {
            groups.insert(pid as i32, driver.name().to_string());
        }
    }
    if groups.is_empty() && in_process.is_empty() {
        return None;
    }
    let owners = socket_owners(&groups);
    // Reading the kernel's TCP tables costs milliseconds on a machine with many sockets:
    // skipped when no driver holds a socket at all.
    let drivers_have_sockets =
        !in_process.is_empty() || owners.values().any(|owner| owner != TESTCASES);
    if !drivers_have_sockets {
        return None;
    }
    let mut table = read_tcp_table("/proc/net/tcp");
    table.extend(read_tcp_table("/proc/net/tcp6"));
    Some(build_graph(&table, &owners, &in_process))
}

/// Socket inode → owner: the driver whose process group holds it, or `testcases` for the
/// plan's own process.
fn socket_owners(groups: &HashMap<i32, String>) -> HashMap<u64, String> {
    let own = std::process::id() as i32;
    let mut owners = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return owners;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        let owner = if pid == own {
            TESTCASES.to_string()
        } else {
            match process_group(pid).and_then(|group| groups.get(&group)) {
                Some(driver) => driver.clone(),
                None => continue,
            }
        };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let inode = target
                .to_str()
                .and_then(|text| text.strip_prefix("socket:["))
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|number| number.parse().ok());
            if let Some(inode) = inode {
                owners.insert(inode, owner.clone());
            }
        }
    }
    owners
}

/// The process group of `pid`, from `/proc/<pid>/stat` (after the command name, which may
/// hold spaces and parentheses).
fn process_group(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(2)?.parse().ok()
}

fn read_tcp_table(path: &str) -> Vec<TcpEntry> {
    std::fs::read_to_string(path)
        .map(|text| text.lines().skip(1).filter_map(parse_tcp_line).collect())
        .unwrap_or_default()
}

/// `sl local rem st tx:rx tr:when retrnsmt uid timeout inode …`
fn parse_tcp_line(line: &str) -> Option<TcpEntry> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let state = u8::from_str_radix(fields.get(3)?, 16).ok()?;
    Some(TcpEntry {
        local: parse_address(fields.get(1)?)?,
        remote: parse_address(fields.get(2)?)?,
        listening: state == 0x0A,
        established: state == 0x01,
        inode: fields.get(9)?.parse().ok()?,
    })
}

/// `0100007F:1F90` (IPv4) or 32 hex digits (IPv6), each 32-bit word printed as a number in
/// the host's byte order, then the port in hex.
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words = (0..address.len() / 8)
        .map(|index| u32::from_str_radix(address.get(index * 8..index * 8 + 8)?, 16).ok())
        .collect::<Option<Vec<u32>>>()?;
    let ip = match words.as_slice() {
        [word] => IpAddr::V4(Ipv4Addr::from(word.to_ne_bytes())),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (index, word) in [a, b, c, d].into_iter().enumerate() {
                bytes[index * 4..index * 4 + 4].copy_from_slice(&word.to_ne_bytes());
            }
            let ip = Ipv6Addr::from(bytes);
            // An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d.
            ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

fn build_graph(
    table: &[TcpEntry],
    owners: &HashMap<u64, String>,
    in_process: &[(String, DriverSockets)],
) -> DriverConnections {
    let mut listeners: Vec<(SocketAddr, String)> = Vec::new();
    for entry in table.iter().filter(|entry| entry.listening) {
        if let Some(owner) = owners.get(&entry.inode).filter(|owner| *owner != TESTCASES) {
            listeners.push((entry.local, owner.clone()));
        }
    }
    for (driver, sockets) in in_process {
        listeners.extend(
            sockets
                .listening
                .iter()
                .map(|address| (*address, driver.clone())),
        );
    }
    listeners.sort();
    listeners.dedup();
    let listener_of = |remote: &SocketAddr| {
        listeners.iter().find(|(address, _)| {
            address.port() == remote.port()
                && (address.ip() == remote.ip() || address.ip().is_unspecified())
        })
    };
    let mut counts: BTreeMap<(String, String, String), u32> = BTreeMap::new();
    for entry in table.iter().filter(|entry| entry.established) {
        let Some((address, to)) = listener_of(&entry.remote) else {
            continue;
        };
        let from = match owners.get(&entry.inode) {
            Some(owner) if owner == TESTCASES => in_process
                .iter()
                .find(|(_, sockets)| sockets.connected.contains(&entry.local))
                .map_or_else(|| TESTCASES.to_string(), |(driver, _)| driver.clone()),
            Some(owner) => owner.clone(),
            None => "another process".to_string(),
        };
        *counts
            .entry((from, to.clone(), address.to_string()))
            .or_default() += 1;
    }
    DriverConnections::new(
        listeners
            .into_iter()
            .map(|(address, driver)| ListeningSocket {
                driver,
                address: address.to_string(),
            })
            .collect(),
        counts
            .into_iter()
            .map(|((from, to, address), count)| DriverConnection {
                from,
                to,
                address,
                count,
            })
            .collect(),
    )
}

/// The graph as text lines, for `--driver-info`.
pub(crate) fn describe_connections(graph: &DriverConnections) -> Vec<String> {
    let mut lines = Vec::new();
    let mut listening: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for socket in &graph.listening {
        listening
            .entry(&socket.driver)
            .or_default()
            .push(&socket.address);
    }
    for (driver, addresses) in listening {
        lines.push(format!("{driver} listens on {}", addresses.join(", ")));
    }
    for connection in &graph.connections {
        let count = if connection.count == 1 {
            String::new()
        } else {
            format!(" ×{}", connection.count)
        };
        lines.push(format!(
            "{} → {} ({}){count}",
            connection.from, connection.to, connection.address
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn kernel_addresses_parse_in_both_families() {
        assert_eq!(
            parse_address("0100007F:1F90"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            parse_address("00000000000000000000000001000000:0050"),
            Some("[::1]:80".parse().unwrap())
        );
        assert_eq!(
            parse_address("0000000000000000FFFF00000100007F:0050"),
            Some("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(parse_address("zz:1"), None);
    }

    #[test]
    fn connections_to_a_listener_are_counted_per_party() {
        let listener: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        let entry = |local: &str, remote: &str, state: (bool, bool), inode| TcpEntry {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            listening: state.0,
            established: state.1,
            inode,
        };
        let table = [
            entry("127.0.0.1:5432", "0.0.0.0:0", (true, false), 1),
            entry("127.0.0.1:40000", "127.0.0.1:5432", (false, true), 2),
            entry("127.0.0.1:40001", "127.0.0.1:5432", (false, true), 3),
            entry("127.0.0.1:40002", "127.0.0.1:5432", (false, true), 4),
            // The server's side of a connection is not a connection *to* it.
            entry("127.0.0.1:5432", "127.0.0.1:40000", (false, true), 5),
            entry("127.0.0.1:40003", "127.0.0.1:5432", (false, true), 6),
        ];
        let owners = HashMap::from([
            (1, "db".to_string()),
            (2, "app".to_string()),
            (3, "app".to_string()),
            (4, TESTCASES.to_string()),
            (5, "db".to_string()),
        ]);
        let graph = build_graph(&table, &owners, &[]);
        assert_eq!(
            graph.listening,
            [ListeningSocket {
                driver: "db".into(),
                address: listener.to_string()
            }]
        );
        assert_eq!(
            describe_connections(&graph),
            [
                "db listens on 127.0.0.1:5432",
                "another process → db (127.0.0.1:5432)",
                "app → db (127.0.0.1:5432) ×2",
                "testcases → db (127.0.0.1:5432)",
            ]
        );
    }

    #[test]
    fn the_plans_own_sockets_are_read_from_proc() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let client = TcpStream::connect(address).unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        let owners = socket_owners(&HashMap::new());
        let mut table = read_tcp_table("/proc/net/tcp");
        table.extend(read_tcp_table("/proc/net/tcp6"));
        // The listener as an in-process driver's: the client socket is the testcases'.
        let in_process = [("server".to_string(), DriverSockets::listening([address]))];
        let graph = build_graph(&table, &owners, &in_process);
        assert!(
            graph
                .connections
                .iter()
                .any(|connection| connection.from == TESTCASES
                    && connection.to == "server"
                    && connection.address == address.to_string()),
            "{graph:?}"
        );
        // Claimed by an in-process client driver, it is that driver's.
        let in_process = [
            ("server".to_string(), DriverSockets::listening([address])),
            (
                "client".to_string(),
                DriverSockets::connected([client.local_addr().unwrap()]),
            ),
        ];
        let graph = build_graph(&table, &owners, &in_process);
        assert!(
            graph
                .connections
                .iter()
                .any(|connection| connection.from == "client" && connection.to == "server"),
            "{graph:?}"
        );
        drop(client);
        let _ = accepted.read(&mut [0u8; 1]);
    }
}

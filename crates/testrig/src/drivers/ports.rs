//! Free TCP ports for servers that cannot take port 0 (postgres, redis, mariadb, zookeeper):
//! a port is chosen, checked free, and *reserved* until the driver that asked stops.
//!
//! Binding port 0, reading the number and closing the socket is racy: another plan's driver
//! can be handed the same number before this one's server binds it. Reservations close that
//! race between testrig processes (parallel plans, nextest's processes, 50 drivers starting
//! at once): each is an exclusive lock on a file named after the port in a folder every
//! testrig process shares, held for as long as the [`PortReservation`] lives and released by
//! the kernel when its process dies, however it dies. Ports are drawn at random below the
//! kernel's ephemeral range, where outgoing connections never take them. What remains — a
//! program outside testrig binding the port between the check and the server's bind — is
//! caught by the service drivers, which see "Address already in use" in the server's log and
//! start it again on another port, a bounded number of times.

use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::PathBuf;

use crate::env::DriverError;

/// Ports are drawn from here: above the well-known and registered services most machines
/// run, below Linux's default ephemeral range (32768–60999).
const RANGE: std::ops::Range<u16> = 20000..32000;

/// How many candidates are tried before giving up (a machine would have to be nearly full).
const ATTEMPTS: usize = 200;

/// A TCP port reserved for one driver until dropped; see the module documentation.
#[derive(Debug)]
pub struct PortReservation {
    port: u16,
    /// Holding the lock is the reservation; the file itself is never read.
    _lock: File,
}

impl PortReservation {
    /// The reserved port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// The folder of the port locks, shared by every testrig process of the machine's users
/// (world-writable with the sticky bit, like `/tmp`, so one user's locks do not block
/// another's reservations of different ports).
fn lock_folder() -> PathBuf {
    std::env::temp_dir().join("testrig-ports")
}

/// Reserves a free TCP port on the loopback and wildcard addresses: one no other testrig
/// process holds and nothing is bound to now.
pub fn reserve_port() -> Result<PortReservation, DriverError> {
    let folder = lock_folder();
    if !folder.is_dir() {
        std::fs::create_dir_all(&folder).map_err(|error| {
            DriverError::new(format!(
                "failed to create the port reservation folder `{}`: {error}",
                folder.display()
            ))
        })?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o1777));
    }
    let random = std::collections::hash_map::RandomState::new();
    for attempt in 0..ATTEMPTS {
        let mut hasher = random.build_hasher();
        hasher.write_usize(attempt);
        hasher.write_u32(std::process::id());
        let span = u64::from(RANGE.end - RANGE.start);
        let port = RANGE.start + u16::try_from(hasher.finish() % span).unwrap_or(0);
        if let Some(reservation) = try_reserve(&folder, port) {
            return Ok(reservation);
        }
    }
    Err(DriverError::new(format!(
        "found no free tcp port in {}..{} after {ATTEMPTS} tries; is the machine out of ports, or are stale locks in `{}`?",
        RANGE.start,
        RANGE.end,
        folder.display()
    )))
}

fn try_reserve(folder: &std::path::Path, port: u16) -> Option<PortReservation> {
    // Read-only is enough for a lock, and works on a lock file another user created; a new
    // one is made readable by every user for the same reason.
    let path = folder.join(format!("{port}.lock"));
    let lock = File::open(&path).ok().or_else(|| {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ok()?;
        use std::os::unix::fs::PermissionsExt;
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o644));
        Some(file)
    })?;
    // Another testrig process (or driver of this one: locks are per open file) holds it.
    lock.try_lock().ok()?;
    if !is_free(port) {
        return None;
    }
    Some(PortReservation { port, _lock: lock })
}

/// Whether the port can be bound now on the addresses servers listen on.
fn is_free(port: u16) -> bool {
    let addresses = [
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
    ];
    addresses.iter().enumerate().all(|(index, address)| {
        match TcpListener::bind(address) {
            Ok(_) => true,
            // A machine without IPv6 cannot bind ::1, which makes the port no less free.
            Err(error) => index == 2 && error.kind() == std::io::ErrorKind::AddrNotAvailable,
        }
    })
}

/// Whether a server's log says its port was taken (the race the reservation cannot close).
pub(crate) fn says_port_taken(log_tail: &[String]) -> bool {
    log_tail
        .iter()
        .any(|line| line.contains("Address already in use") || line.contains("EADDRINUSE"))
}

/// A port nothing listens on, for tests of refused connections and late servers: reserved,
/// not bound and let go, which leaves it in the ephemeral range, where a test running beside
/// the caller can be handed it in the meantime. Held until the reservation is dropped.
#[cfg(test)]
pub(crate) fn port_without_server() -> PortReservation {
    reserve_port().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_never_hand_out_the_same_port_twice_while_held() {
        let held: Vec<PortReservation> = (0..50).map(|_| reserve_port().unwrap()).collect();
        let mut ports: Vec<u16> = held.iter().map(PortReservation::port).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 50);
        assert!(ports.iter().all(|port| RANGE.contains(port)));
        // Dropped, a port can be reserved again. Not always at once: a process another test
        // forks in these microseconds holds copies of the lock files until it execs.
        let port = held[0].port();
        drop(held);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while try_reserve(&lock_folder(), port).is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "port {port} stayed reserved"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn a_bound_port_is_not_free() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(!is_free(port));
        // The lock folder exists (a reservation made it), so only the bind can refuse.
        drop(reserve_port().unwrap());
        assert!(try_reserve(&lock_folder(), port).is_none());
    }

    #[test]
    fn parallel_reservations_from_threads_do_not_collide() {
        let ports: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..50)
                .map(|_| {
                    scope.spawn(|| {
                        let reservation = reserve_port().unwrap();
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        let port = reservation.port();
                        (port, reservation)
                    })
                })
                .collect();
            let held: Vec<(u16, PortReservation)> = handles
                .into_iter()
                .map(|handle| handle.join().unwrap())
                .collect();
            held.iter().map(|(port, _)| *port).collect()
        });
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
    }
}

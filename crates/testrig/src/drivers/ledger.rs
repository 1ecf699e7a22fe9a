//! The ledger of driver process groups a run keeps in its runpath, and the sweep of what a
//! killed run left behind.
//!
//! The reaper ([`super::process`]) stops a plan's drivers however the plan dies — unless it
//! dies too (an OOM kill of both, a container's `kill -9` of everything, a reboot of the
//! reaper's shell). So the plan also writes each live group, with its leader's start time,
//! to `<runpath>/.testrig-processes`, and the next run on that runpath stops any group
//! the ledger names that is still alive, and says so. The start time tells a leftover from
//! an unrelated process that got the same id later.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::process::{process_group_alive, terminate_process_groups};

/// The ledger's file in a runpath.
pub(crate) fn ledger_path(runpath: &Path) -> PathBuf {
    runpath.join(".testrig-processes")
}

/// When the process `pid` started (clock ticks since boot), from `/proc/<pid>/stat`.
pub(crate) fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name (in parentheses, which may hold anything): the state is field
    // 3, the start time field 22.
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// Writes the ledger: one `PGID START_TIME` line per live group, with its leader's start
/// time (a group whose leader was gone when it was asked for is left out; none: the file
/// goes).
pub(crate) fn write(path: &Path, groups: impl Iterator<Item = (i32, Option<u64>)>) {
    let lines: String = groups
        .filter_map(|(pgid, start)| start.map(|start| format!("{pgid} {start}\n")))
        .collect();
    // Best effort: the ledger is a second line of defence behind the reaper.
    let _ = if lines.is_empty() {
        std::fs::remove_file(path)
    } else {
        std::fs::write(path, lines)
    };
}

/// A group a killed run left running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Leftover {
    /// The group's id.
    pub pgid: i32,
    /// Its leader's command line, when the leader is still there.
    pub command: String,
}

/// Stops every group the ledger in `runpath` names that is still alive (SIGTERM, then
/// SIGKILL after `grace`), removes the ledger, and returns what it stopped.
pub(crate) fn sweep(runpath: &Path, grace: Duration) -> Vec<Leftover> {
    let path = ledger_path(runpath);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    let leftovers: Vec<Leftover> = text
        .lines()
        .filter_map(|line| {
            let (pgid, start) = line.split_once(' ')?;
            let (pgid, start) = (pgid.parse::<i32>().ok()?, start.trim().parse::<u64>().ok()?);
            same_group(pgid, start).then(|| Leftover {
                pgid,
                command: command_line(pgid),
            })
        })
        .collect();
    let groups: Vec<i32> = leftovers.iter().map(|leftover| leftover.pgid).collect();
    terminate_process_groups(&groups, grace);
    let _ = std::fs::remove_file(&path);
    leftovers
}

/// Whether the group `pgid` is the one recorded: its leader started at `start`, or the
/// leader is gone and members remain (an id is not given to a new group while any member
/// of the old one lives).
fn same_group(pgid: i32, start: u64) -> bool {
    match start_time(pgid) {
        Some(now) => now == start,
        None => process_group_alive(pgid),
    }
}

fn command_line(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|&byte| byte == 0)
                .filter(|part| !part.is_empty())
                .map(String::from_utf8_lossy)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn a_recorded_group_still_alive_is_stopped_and_an_unrelated_one_is_left_alone() {
        let dir = std::env::temp_dir().join(format!("testrig-ledger-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut left = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let mut unrelated = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let (left_pid, unrelated_pid) = (left.id() as i32, unrelated.id() as i32);
        write(
            &ledger_path(&dir),
            [(left_pid, start_time(left_pid))].into_iter(),
        );
        // The unrelated group is recorded with another start time: a reused id.
        let recorded = std::fs::read_to_string(ledger_path(&dir)).unwrap();
        let stale = start_time(unrelated_pid).unwrap() + 1;
        std::fs::write(
            ledger_path(&dir),
            format!("{recorded}{unrelated_pid} {stale}\n"),
        )
        .unwrap();
        let swept = sweep(&dir, Duration::from_millis(500));
        assert_eq!(swept.len(), 1, "{swept:?}");
        assert_eq!(swept[0].pgid, left_pid);
        assert!(swept[0].command.contains("sleep 30"), "{swept:?}");
        assert!(left.wait().unwrap().signal().is_some());
        assert!(unrelated.try_wait().unwrap().is_none(), "left alone");
        assert!(!ledger_path(&dir).exists());
        let _ = unrelated.kill();
        let _ = unrelated.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }

    use std::os::unix::process::ExitStatusExt;
}

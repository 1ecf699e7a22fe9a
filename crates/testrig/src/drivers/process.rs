//! Process groups that never outlive the plan: the spawn/stop machinery behind the `App`
//! driver and the last-resort clean-up of the plan's exit paths.
//!
//! Every process a driver starts leads its own process group, so one signal reaches it and
//! everything it forked. A global registry holds the groups that may still be alive: drivers
//! stop their own groups when the environment stops them (and report the outcome as events),
//! while the plan calls [`terminate_all_process_groups`] when an interrupt's grace period runs
//! out and [`kill_all_process_groups`] on a second Ctrl-C, so no driver process is left behind
//! whatever way the plan ends. A reaper process outside the plan stops what is left when the
//! plan dies in a way its code never sees (SIGKILL, an OOM kill, an abort).

use std::collections::BTreeMap;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{Pid, Signal};

/// How long a SIGKILL-ed group may take to disappear before stop gives up watching it (a
/// process in uninterruptible sleep dies only when its I/O completes).
const KILL_SETTLE_TIMEOUT: Duration = Duration::from_secs(1);

/// Process groups that may still have live members, by id, and the reaper told of each.
/// Process-wide because a signal handler (the second Ctrl-C) must reach it.
static PROCESS_GROUPS: Mutex<Registry> = Mutex::new(Registry {
    groups: BTreeMap::new(),
    reaper: Reaper::NotStarted,
    observer: None,
    ledger: None,
});

/// Told of every group registered (`true`) and unregistered (`false`).
pub(crate) type GroupObserver = Box<dyn Fn(i32, bool) + Send>;

struct Registry {
    /// With its leader's start time, read once at registration for the ledger (reading it
    /// for every group at every change made each spawn cost more as drivers were added).
    groups: BTreeMap<i32, Option<u64>>,
    reaper: Reaper,
    /// A worker process tells its parent, which stops what a crashed worker left.
    observer: Option<GroupObserver>,
    /// The run's ledger file ([`super::ledger`]), rewritten on every change.
    ledger: Option<std::path::PathBuf>,
}

/// A process outside the plan that stops the registered groups when the plan ends in a way
/// no code of the plan sees — SIGKILL, an OOM kill, `abort()`, a segfault (testcontainers'
/// Ryuk, without a container). It is a POSIX shell in a process group of its own (so a
/// Ctrl-C at the terminal or a signal to the plan's group does not reach it), reading
/// `+ PGID` and `- PGID` lines on its stdin. When the plan is gone, for whatever reason,
/// the kernel closes that pipe: the reaper sends SIGTERM to every group still registered,
/// SIGKILL after two seconds to what remains, and exits. A plan that ends normally has
/// stopped its groups already, and the reaper exits at once.
enum Reaper {
    NotStarted,
    Listening(std::process::ChildStdin),
    /// It could not start (no `/bin/sh`?) or stopped listening: the plan's own exit paths
    /// remain.
    Unavailable,
}

const REAPER_SCRIPT: &str = r#"trap '' INT TERM HUP QUIT PIPE
groups=' '
while read -r op pgid; do
  case "$op" in
    +) groups="$groups$pgid " ;;
    -) kept=' '; for g in $groups; do [ "$g" = "$pgid" ] || kept="$kept$g "; done; groups=$kept ;;
  esac
done
[ -z "${groups# }" ] && exit 0
for g in $groups; do kill -TERM "-$g" 2>/dev/null; done
i=0
while [ "$i" -lt 20 ]; do
  alive=
  for g in $groups; do kill -0 "-$g" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && exit 0
  sleep 0.1
  i=$((i + 1))
done
for g in $groups; do kill -KILL "-$g" 2>/dev/null; done
"#;

impl Registry {
    /// Registers a group: the reaper and the observer hear of it.
    fn insert(&mut self, pgid: i32) {
        if !self.groups.contains_key(&pgid) {
            let start_time = self
                .ledger
                .as_ref()
                .and_then(|_| super::ledger::start_time(pgid));
            self.groups.insert(pgid, start_time);
            self.tell_reaper(format_args!("+ {pgid}\n"));
            if let Some(observer) = &self.observer {
                observer(pgid, true);
            }
            self.write_ledger();
        }
    }

    /// Unregisters a group.
    fn remove(&mut self, pgid: i32) {
        if self.groups.remove(&pgid).is_some() {
            self.tell_reaper(format_args!("- {pgid}\n"));
            if let Some(observer) = &self.observer {
                observer(pgid, false);
            }
            self.write_ledger();
        }
    }

    fn write_ledger(&self) {
        if let Some(path) = &self.ledger {
            super::ledger::write(
                path,
                self.groups.iter().map(|(&pgid, &start)| (pgid, start)),
            );
        }
    }

    /// Tells the reaper a line, starting it first if it is not running yet.
    fn tell_reaper(&mut self, line: std::fmt::Arguments<'_>) {
        use std::io::Write;
        if matches!(self.reaper, Reaper::NotStarted) {
            self.reaper = start_reaper();
        }
        if let Reaper::Listening(stdin) = &mut self.reaper
            && stdin.write_fmt(line).is_err()
        {
            self.reaper = Reaper::Unavailable;
        }
    }
}

fn start_reaper() -> Reaper {
    let reaper = Command::new("/bin/sh")
        .args(["-c", REAPER_SCRIPT, "testrig-reaper"])
        .stdin(std::process::Stdio::piped())
        // Nothing that waits for the plan's output may wait for the reaper too.
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn();
    match reaper {
        Ok(mut child) => match child.stdin.take() {
            // The reaper is never waited for: it outlives the plan by design, and init
            // reaps it.
            Some(stdin) => Reaper::Listening(stdin),
            None => Reaper::Unavailable,
        },
        Err(_) => Reaper::Unavailable,
    }
}

fn registry() -> MutexGuard<'static, Registry> {
    // The set stays consistent even if a holder panicked: every operation is one insert/remove.
    PROCESS_GROUPS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Records a live process group so the plan's exit paths, and the reaper if the plan dies
/// without taking one of them, can stop it.
pub fn register_process_group(pgid: i32) {
    registry().insert(pgid);
}

/// Forgets a process group once everything in it is gone.
pub fn unregister_process_group(pgid: i32) {
    registry().remove(pgid);
}

/// Records the live groups in the ledger file at `path` from now on.
pub(crate) fn keep_ledger(path: std::path::PathBuf) {
    let mut registry = registry();
    registry.ledger = Some(path);
    // Groups registered before there was a ledger get their start times now.
    for (&pgid, start) in registry.groups.iter_mut() {
        if start.is_none() {
            *start = super::ledger::start_time(pgid);
        }
    }
    registry.write_ledger();
}

/// Tells `observer` of every process group registered or unregistered from now on (a
/// worker process passes them on to its parent).
pub(crate) fn observe_process_groups(observer: GroupObserver) {
    registry().observer = Some(observer);
}

/// Tells the reaper to leave every registered group alone: they are handed over to the next
/// image of this plan (code reload), which registers them again. The registry keeps them,
/// so [`watch_handed_over_groups`] can undo this when the hand-off fails.
#[cfg(feature = "interactive")]
pub(crate) fn release_groups_for_handoff() {
    let mut registry = registry();
    let groups: Vec<i32> = registry.groups.keys().copied().collect();
    for pgid in groups {
        registry.tell_reaper(format_args!("- {pgid}\n"));
    }
}

/// Undoes [`release_groups_for_handoff`]: the hand-off did not happen.
#[cfg(feature = "interactive")]
pub(crate) fn watch_handed_over_groups() {
    let mut registry = registry();
    let groups: Vec<i32> = registry.groups.keys().copied().collect();
    for pgid in groups {
        registry.tell_reaper(format_args!("+ {pgid}\n"));
    }
}

/// The process groups registered now.
pub fn registered_process_groups() -> Vec<i32> {
    registry().groups.keys().copied().collect()
}

/// A pid that is safe to signal as a group: never init's, never our own (a group id that came
/// from a bug must not take the plan down with it).
fn signalable_group(pgid: i32) -> Option<Pid> {
    if pgid <= 1 || pgid == rustix::process::getpgrp().as_raw_pid() {
        return None;
    }
    Pid::from_raw(pgid)
}

/// Sends `signal` to every process of a group: whether it reached any. A group that is
/// already gone is not an error.
pub(crate) fn signal_group(pgid: i32, signal: Signal) -> io::Result<bool> {
    let Some(pid) = signalable_group(pgid) else {
        return Ok(false);
    };
    match rustix::process::kill_process_group(pid, signal) {
        Ok(()) => Ok(true),
        Err(Errno::SRCH) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Whether any process of the group is still running. Zombies do not count: a group leader
/// waits for its owner to reap it, and orphaned members wait for init, which in containers
/// may never reap them — neither can do any harm.
pub fn process_group_alive(pgid: i32) -> bool {
    let Some(pid) = signalable_group(pgid) else {
        return false;
    };
    match rustix::process::test_kill_process_group(pid) {
        Err(Errno::SRCH) => false,
        // When /proc cannot tell, trust kill(2): something of the group exists.
        _ => group_has_running_member(pgid).unwrap_or(true),
    }
}

/// The state letter and process group of a process, from `/proc/<pid>/stat`.
pub(crate) fn process_state(pid: u32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let pgrp = fields.nth(1)?.parse().ok()?;
    Some((state, pgrp))
}

/// Whether `pid` is a child of this process (its parent pid in `/proc/<pid>/stat`).
fn is_child(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let parent = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().nth(1))
        .and_then(|field| field.parse::<u32>().ok());
    parent == Some(std::process::id())
}

/// Stops every child process of this process and what is in its process group, each with
/// up to `grace` after SIGTERM, and returns their pids. For a plan image that starts from an
/// unusable code-reload hand-off: any child it has then was started by the previous image,
/// and nothing else knows of it. Call it before this image starts anything.
#[cfg(feature = "interactive")]
pub fn stop_children_left_behind(grace: Duration) -> Vec<u32> {
    let children: Vec<u32> = process_ids()
        .into_iter()
        .flatten()
        .filter(|&pid| is_child(pid))
        .collect();
    let stops: Vec<_> = children
        .iter()
        .map(|&pid| {
            std::thread::spawn(move || match GroupChild::adopt(pid) {
                Ok(group) => {
                    group.stop(grace);
                }
                // Not a group of its own: that one process is all there is to stop.
                Err(_) => {
                    if let Some(process) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
                        let _ = rustix::process::kill_process(process, Signal::KILL);
                        let _ = rustix::process::waitpid(
                            Some(process),
                            rustix::process::WaitOptions::empty(),
                        );
                    }
                }
            })
        })
        .collect();
    for stop in stops {
        let _ = stop.join();
    }
    children
}

/// Whether a process exists and is not a zombie.
#[cfg(test)]
pub(crate) fn process_running(pid: u32) -> bool {
    matches!(process_state(pid), Some((state, _)) if state != 'Z' && state != 'X')
}

/// The pids of every process there is now (the numeric entries of `/proc`).
fn process_ids() -> io::Result<impl Iterator<Item = u32>> {
    Ok(std::fs::read_dir("/proc")?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok()))
}

fn group_has_running_member(pgid: i32) -> io::Result<bool> {
    Ok(process_ids()?.any(|pid| {
        matches!(process_state(pid), Some((state, pgrp))
            if pgrp == pgid && state != 'Z' && state != 'X')
    }))
}

/// How long to sleep between two checks: short at first, because most processes react within
/// milliseconds and start-up overhead is measured, then a little longer.
pub(crate) fn poll_interval(elapsed: Duration) -> Duration {
    if elapsed < Duration::from_millis(100) {
        Duration::from_millis(2)
    } else {
        Duration::from_millis(5)
    }
}

/// Sends SIGTERM to every registered process group, waits up to `grace` for them to end,
/// then sends SIGKILL to what remains and watches it go. Groups stay registered: their owners unregister them
/// once they reaped their processes.
pub fn terminate_all_process_groups(grace: Duration) {
    terminate_process_groups(&registered_process_groups(), grace);
}

/// Sends SIGTERM to each group, waits up to `grace` for them to end, then sends SIGKILL to
/// what remains and returns once it is gone.
pub(crate) fn terminate_process_groups(groups: &[i32], grace: Duration) {
    for &pgid in groups {
        let _ = signal_group(pgid, Signal::TERM);
    }
    let started = Instant::now();
    let mut remaining: Vec<i32> = groups.to_vec();
    loop {
        remaining.retain(|&pgid| process_group_alive(pgid));
        let elapsed = started.elapsed();
        if remaining.is_empty() || elapsed >= grace {
            break;
        }
        std::thread::sleep(poll_interval(elapsed).min(grace - elapsed));
    }
    // Return once they are gone, so the plan's last words (the report) come after them.
    kill_process_groups(&remaining);
}

/// Sends SIGKILL to each group and returns once they are gone (or a second has passed).
pub(crate) fn kill_process_groups(groups: &[i32]) {
    for &pgid in groups {
        let _ = signal_group(pgid, Signal::KILL);
    }
    let killed = Instant::now();
    while groups.iter().any(|&pgid| process_group_alive(pgid))
        && killed.elapsed() < KILL_SETTLE_TIMEOUT
    {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Sends SIGKILL to every registered process group at once (a second Ctrl-C: no more waiting).
pub fn kill_all_process_groups() {
    for pgid in registered_process_groups() {
        let _ = signal_group(pgid, Signal::KILL);
    }
}

/// How a process ended, as a lowercase fragment: `exited with status 3`, `was killed by
/// signal 9 (SIGKILL)`.
pub fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    match status.signal() {
        Some(signal) => match signal_name(signal) {
            Some(name) => format!("was killed by signal {signal} ({name})"),
            None => format!("was killed by signal {signal}"),
        },
        None => format!("ended ({status})"),
    }
}

fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// Formats a duration for messages: `5s`, `0.2s`, `1.25s`.
pub(crate) fn format_seconds(duration: Duration) -> String {
    let text = format!("{:.3}", duration.as_secs_f64());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}s")
}

/// How [`GroupChild::stop`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopOutcome {
    /// How the group leader ended (`None` if its status could not be read).
    pub status: Option<ExitStatus>,
    /// Whether something of the group was still running when the grace period ran out and
    /// had to be killed.
    pub killed: bool,
}

struct ChildSlot {
    leader: Leader,
    status: Option<ExitStatus>,
}

/// The group leader: spawned by this image of the plan, or taken over from the previous one
/// after a code reload (`exec` keeps children; only their pid is known then).
enum Leader {
    Spawned(Child),
    Adopted(Pid),
}

impl ChildSlot {
    fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            let status = match &mut self.leader {
                Leader::Spawned(child) => child.try_wait(),
                Leader::Adopted(pid) => {
                    rustix::process::waitpid(Some(*pid), rustix::process::WaitOptions::NOHANG)
                        .map(|reaped| {
                            reaped.map(|(_, status)| ExitStatus::from_raw(status.as_raw()))
                        })
                        .map_err(io::Error::from)
                }
            };
            match status {
                Ok(status) => self.status = status,
                // ECHILD: other code in the plan reaped it, so it is gone and its status
                // lost; a plain exit keeps callers from waiting for it forever.
                Err(_) => self.status = Some(ExitStatus::from_raw(0)),
            }
        }
        self.status
    }

    /// The spawned child, for tests that read its pipes.
    #[cfg(test)]
    fn spawned(&mut self) -> &mut Child {
        match &mut self.leader {
            Leader::Spawned(child) => child,
            Leader::Adopted(pid) => panic!("process {pid:?} was adopted, not spawned"),
        }
    }

    /// Waits for the leader to exit and reaps it.
    fn wait(&mut self) -> Option<ExitStatus> {
        match &mut self.leader {
            Leader::Spawned(child) => child.wait().ok(),
            Leader::Adopted(pid) => {
                rustix::process::waitpid(Some(*pid), rustix::process::WaitOptions::empty())
                    .ok()
                    .flatten()
                    .map(|(_, status)| ExitStatus::from_raw(status.as_raw()))
            }
        }
    }
}

/// A child process leading its own process group, registered from spawn until stopped.
///
/// Dropping it without [`GroupChild::stop`] kills the group: a forgotten handle must not leave
/// processes behind.
pub struct GroupChild {
    pid: u32,
    slot: Mutex<ChildSlot>,
    stopped: AtomicBool,
    outcome: Mutex<Option<StopOutcome>>,
}

impl std::fmt::Debug for GroupChild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupChild")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl GroupChild {
    /// Spawns `command` as the leader of a new process group and registers the group.
    pub fn spawn(command: &mut Command) -> io::Result<GroupChild> {
        command.process_group(0);
        // Spawning under the registry lock: a concurrent terminate_all either sees the new
        // group or runs before it exists, never between spawn and registration.
        let mut registry = registry();
        let child = command.spawn()?;
        let pid = child.id();
        registry.insert(pid as i32);
        drop(registry);
        Ok(GroupChild {
            pid,
            slot: Mutex::new(ChildSlot {
                leader: Leader::Spawned(child),
                status: None,
            }),
            stopped: AtomicBool::new(false),
            outcome: Mutex::new(None),
        })
    }

    /// Takes over a process group the previous image of this plan spawned (code reload:
    /// `exec` keeps the children): `pid` must be a child of this process and the leader of
    /// its own group. It is registered again, so no exit path leaves it behind. A leader
    /// that exited meanwhile (a zombie) is taken over too: its exit status is read, and
    /// stopping it still kills what is left of its group and reaps it.
    pub fn adopt(pid: u32) -> io::Result<GroupChild> {
        let not_ours = |why: &str| io::Error::other(format!("process {pid} {why}"));
        let raw = i32::try_from(pid).map_err(|_| not_ours("is not a valid pid"))?;
        let leader = Pid::from_raw(raw).ok_or_else(|| not_ours("is not a valid pid"))?;
        match process_state(pid) {
            None | Some(('X', _)) => return Err(not_ours("is gone")),
            Some((_, group)) if group != raw => {
                return Err(not_ours("does not lead its own process group"));
            }
            Some(_) => {}
        }
        if !is_child(pid) {
            return Err(not_ours("is not a child of this plan"));
        }
        register_process_group(raw);
        Ok(GroupChild {
            pid,
            slot: Mutex::new(ChildSlot {
                leader: Leader::Adopted(leader),
                status: None,
            }),
            stopped: AtomicBool::new(false),
            outcome: Mutex::new(None),
        })
    }

    /// The leader's pid, which is also the process group id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn slot(&self) -> MutexGuard<'_, ChildSlot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The leader's exit status once it has exited (it is reaped then, and the status kept).
    pub fn try_status(&self) -> Option<ExitStatus> {
        self.slot().try_status()
    }

    /// Whether [`GroupChild::stop`] has been called.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Stops the group: SIGTERM to all of it, up to `grace` for the leader to exit and every
    /// other member to go, then SIGKILL to the group regardless (a grandchild that outlived
    /// the leader dies too), reaps the leader and unregisters the group. Calling it again
    /// returns the first outcome.
    pub fn stop(&self, grace: Duration) -> StopOutcome {
        let mut outcome_slot = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(outcome) = *outcome_slot {
            return outcome;
        }
        self.stopped.store(true, Ordering::SeqCst);
        let pgid = self.pid as i32;
        let _ = signal_group(pgid, Signal::TERM);
        let started = Instant::now();
        let killed = loop {
            if self.try_status().is_some() && !process_group_alive(pgid) {
                break false;
            }
            let elapsed = started.elapsed();
            if elapsed >= grace {
                break true;
            }
            std::thread::sleep(poll_interval(elapsed).min(grace - elapsed));
        };
        let status = self.finish();
        let outcome = StopOutcome { status, killed };
        *outcome_slot = Some(outcome);
        outcome
    }

    /// SIGKILL to the group, reap the leader, unregister: the end of every path.
    fn finish(&self) -> Option<ExitStatus> {
        let pgid = self.pid as i32;
        let signalled = signal_group(pgid, Signal::KILL).unwrap_or(true);
        let mut slot = self.slot();
        if slot.status.is_none() {
            slot.status = slot.wait();
        }
        let status = slot.status;
        drop(slot);
        if signalled {
            // kill(2) returns before the signal is acted on; members other than the leader
            // are not ours to wait for, so watch them go (SIGKILL takes milliseconds).
            let started = Instant::now();
            while process_group_alive(pgid) && started.elapsed() < KILL_SETTLE_TIMEOUT {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        unregister_process_group(pgid);
        status
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        let outcome = self
            .outcome
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if outcome.is_none() {
            self.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg(script);
        command
    }

    fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
        let started = Instant::now();
        while !condition() {
            assert!(started.elapsed() < timeout, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn a_group_that_exits_on_sigterm_stops_gracefully_and_is_unregistered() {
        let child = GroupChild::spawn(&mut sh("exec sleep 30")).unwrap();
        let pgid = child.pid() as i32;
        assert!(registered_process_groups().contains(&pgid));
        assert_eq!(
            process_state(child.pid()).map(|(_, pgrp)| pgrp),
            Some(pgid),
            "leads its own group"
        );
        let outcome = child.stop(Duration::from_secs(5));
        assert!(!outcome.killed);
        assert_eq!(outcome.status.and_then(|status| status.signal()), Some(15));
        assert!(!registered_process_groups().contains(&pgid));
        assert!(!process_running(child.pid()));
        assert_eq!(
            child.stop(Duration::from_secs(5)),
            outcome,
            "a second stop returns the first outcome"
        );
    }

    #[test]
    fn a_group_spawned_elsewhere_in_this_process_is_taken_over_and_stopped() {
        // As after a code reload: the child exists, but only its pid is known.
        let spawned = sh("exec sleep 30").process_group(0).spawn().unwrap();
        let pid = spawned.id();
        std::mem::forget(spawned);
        let adopted = GroupChild::adopt(pid).unwrap();
        assert!(registered_process_groups().contains(&(pid as i32)));
        assert_eq!(adopted.try_status(), None);
        let outcome = adopted.stop(Duration::from_secs(5));
        assert!(!outcome.killed);
        assert_eq!(outcome.status.and_then(|status| status.signal()), Some(15));
        assert!(!registered_process_groups().contains(&(pid as i32)));
        assert!(process_state(pid).is_none(), "reaped");

        let exits = sh("exit 3").process_group(0).spawn().unwrap();
        let pid = exits.id();
        std::mem::forget(exits);
        let adopted = GroupChild::adopt(pid).unwrap();
        wait_until("the exit", Duration::from_secs(5), || {
            adopted.try_status().is_some()
        });
        assert_eq!(
            adopted.try_status().and_then(|status| status.code()),
            Some(3)
        );
    }

    #[test]
    fn only_a_live_child_leading_its_own_group_can_be_taken_over() {
        let error = GroupChild::adopt(1).unwrap_err().to_string();
        assert!(error.starts_with("process 1 "), "{error}");
        let same_group = sh("exec sleep 30").spawn().unwrap();
        let error = GroupChild::adopt(same_group.id()).unwrap_err().to_string();
        assert!(
            error.contains("does not lead its own process group"),
            "{error}"
        );
        let mut same_group = same_group;
        let _ = same_group.kill();
        let _ = same_group.wait();
        let error = GroupChild::adopt(same_group.id()).unwrap_err().to_string();
        assert!(error.contains("is gone"), "{error}");
    }

    #[test]
    fn a_group_that_ignores_sigterm_is_killed_after_the_grace_period() {
        let child = GroupChild::spawn(
            sh("trap '' TERM; echo; sleep 30").stdout(std::process::Stdio::piped()),
        )
        .unwrap();
        // Wait until the trap is set, or SIGTERM could arrive before it.
        let mut stdout = child.slot().spawned().stdout.take().unwrap();
        io::Read::read(&mut stdout, &mut [0u8; 1]).unwrap();
        let started = Instant::now();
        let outcome = child.stop(Duration::from_millis(150));
        assert!(outcome.killed);
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert_eq!(outcome.status.and_then(|status| status.signal()), Some(9));
        assert!(!process_group_alive(child.pid() as i32));
    }

    #[test]
    fn dropping_a_group_child_kills_its_group() {
        let child = GroupChild::spawn(&mut sh("sleep 30 & wait")).unwrap();
        let pgid = child.pid() as i32;
        wait_until("the grandchild", Duration::from_secs(2), || {
            std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
                let pid = entry
                    .file_name()
                    .to_str()
                    .and_then(|name| name.parse::<u32>().ok());
                pid.is_some_and(|pid| {
                    pid != child.pid() && process_state(pid).is_some_and(|(_, pgrp)| pgrp == pgid)
                })
            })
        });
        drop(child);
        assert!(!process_group_alive(pgid));
        assert!(!registered_process_groups().contains(&pgid));
    }

    #[test]
    fn a_zombie_leader_does_not_keep_its_group_alive() {
        let child = GroupChild::spawn(&mut sh("exit 0")).unwrap();
        let pid = child.pid();
        wait_until("the leader to exit", Duration::from_secs(2), || {
            process_state(pid).is_some_and(|(state, _)| state == 'Z')
        });
        assert!(
            !process_group_alive(pid as i32),
            "only an unreaped zombie is left"
        );
        assert!(child.try_status().is_some_and(|status| status.success()));
        assert!(!process_running(pid));
    }

    #[test]
    fn the_registry_remembers_groups_until_unregistered() {
        // Beyond any pid_max: nothing real can be signalled by mistake.
        let fake = 2_000_000_000;
        register_process_group(fake);
        assert!(registered_process_groups().contains(&fake));
        assert!(!process_group_alive(fake));
        unregister_process_group(fake);
        assert!(!registered_process_groups().contains(&fake));
        assert!(!process_group_alive(1), "init's group is never a driver's");
        assert!(
            !process_group_alive(rustix::process::getpgrp().as_raw_pid()),
            "nor the plan's own"
        );
    }

    #[test]
    fn exit_statuses_and_durations_read_well() {
        assert_eq!(
            describe_exit(ExitStatus::from_raw(3 << 8)),
            "exited with status 3"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(9)),
            "was killed by signal 9 (SIGKILL)"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(40)),
            "was killed by signal 40"
        );
        assert_eq!(format_seconds(Duration::from_secs(5)), "5s");
        assert_eq!(format_seconds(Duration::from_millis(200)), "0.2s");
        assert_eq!(format_seconds(Duration::from_millis(1250)), "1.25s");
    }

    const CHILD_VARIABLE: &str = "TESTRIG_PROCESS_GROUPS_TEST_CHILD";

    /// Signalling every registered group would hit the groups of tests running concurrently
    /// in this process, so the real functions run in a child test process of their own.
    #[test]
    fn terminate_all_and_kill_all_stop_every_registered_group() {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "drivers::process::tests::in_a_child_process_signal_all_groups",
            ])
            .args(["--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_VARIABLE, "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "the child test failed:\n{text}");
        assert!(
            text.contains("1 passed"),
            "the child test did not run:\n{text}"
        );
    }

    #[test]
    #[ignore = "run in a child process by terminate_all_and_kill_all_stop_every_registered_group"]
    fn in_a_child_process_signal_all_groups() {
        if std::env::var_os(CHILD_VARIABLE).is_none() {
            return;
        }
        let polite = GroupChild::spawn(&mut sh("exec sleep 30")).unwrap();
        let stubborn = GroupChild::spawn(
            sh("trap '' TERM; echo; sleep 30").stdout(std::process::Stdio::piped()),
        )
        .unwrap();
        let mut stdout = stubborn.slot().spawned().stdout.take().unwrap();
        io::Read::read(&mut stdout, &mut [0u8; 1]).unwrap();
        // A group registered by id only, as after a re-exec that adopted its drivers.
        let mut foreign = sh("exec sleep 30").process_group(0).spawn().unwrap();
        register_process_group(foreign.id() as i32);

        let started = Instant::now();
        terminate_all_process_groups(Duration::from_millis(150));
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(150),
            "waited for the stubborn group: {elapsed:?}"
        );
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        for pgid in [polite.pid(), stubborn.pid(), foreign.id()] {
            assert!(!process_group_alive(pgid as i32), "group {pgid} survived");
        }
        assert_eq!(
            polite.try_status().and_then(|status| status.signal()),
            Some(15)
        );
        assert_eq!(
            stubborn.try_status().and_then(|status| status.signal()),
            Some(9)
        );
        assert_eq!(foreign.wait().unwrap().signal(), Some(15));
        unregister_process_group(foreign.id() as i32);
        drop((polite, stubborn));
        assert!(registered_process_groups().is_empty());

        let stubborn = GroupChild::spawn(
            sh("trap '' TERM; echo; sleep 30").stdout(std::process::Stdio::piped()),
        )
        .unwrap();
        let mut stdout = stubborn.slot().spawned().stdout.take().unwrap();
        io::Read::read(&mut stdout, &mut [0u8; 1]).unwrap();
        let started = Instant::now();
        kill_all_process_groups();
        wait_until("the kill", Duration::from_secs(2), || {
            !process_group_alive(stubborn.pid() as i32)
        });
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(
            stubborn.try_status().and_then(|status| status.signal()),
            Some(9)
        );
    }
}

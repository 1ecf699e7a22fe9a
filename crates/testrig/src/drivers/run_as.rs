//! Running a driver's program as another user (`App::user`): what a service that refuses
//! root (postgres) needs when the plan runs as root, as it does in containers and CI.
//!
//! The account is read from `/etc/passwd` and `/etc/group` at start; the program gets its
//! uid, gid and `HOME`/`USER`/`LOGNAME`, and the driver's runpath is handed to it (the
//! program writes its data and files there). The process stays in the driver's process
//! group, so it is stopped and reaped like any other.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::env::DriverError;

/// The user and group a program is to run as, by name, as the builder took them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RunAs {
    pub(crate) user: Option<String>,
    pub(crate) group: Option<String>,
}

/// A resolved account.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    name: String,
    uid: u32,
    gid: u32,
    home: Option<PathBuf>,
    /// Whether it differs from the plan's own user (otherwise nothing is switched).
    switch: bool,
}

impl RunAs {
    /// Looks the names up; an unknown name, or a switch without root, is an error that says
    /// what to do.
    pub(crate) fn resolve(&self, driver: &str) -> Result<Account, DriverError> {
        let own_uid = rustix::process::getuid().as_raw();
        let own_gid = rustix::process::getgid().as_raw();
        let (name, uid, mut gid, home) = match &self.user {
            Some(user) => {
                let entry = lookup("/etc/passwd", user).ok_or_else(|| {
                    DriverError::new(format!(
                        "`{driver}` is to run as user `{user}`, which is not in /etc/passwd; create it (useradd --system {user}) or install the package that does"
                    ))
                })?;
                let number = |index: usize| entry.get(index).and_then(|field| field.parse().ok());
                let (Some(uid), Some(gid)) = (number(2), number(3)) else {
                    return Err(DriverError::new(format!(
                        "the /etc/passwd entry of user `{user}` (for `{driver}`) has no valid uid/gid"
                    )));
                };
                let home = entry
                    .get(5)
                    .filter(|home| !home.is_empty())
                    .map(PathBuf::from);
                (user.clone(), uid, gid, home)
            }
            None => (
                std::env::var("USER").unwrap_or_default(),
                own_uid,
                own_gid,
                None,
            ),
        };
        if let Some(group) = &self.group {
            let entry = lookup("/etc/group", group).ok_or_else(|| {
                DriverError::new(format!(
                    "`{driver}` is to run with group `{group}`, which is not in /etc/group; create it (groupadd --system {group})"
                ))
            })?;
            gid = entry
                .get(2)
                .and_then(|field| field.parse().ok())
                .ok_or_else(|| {
                    DriverError::new(format!(
                        "the /etc/group entry of `{group}` has no valid gid"
                    ))
                })?;
        }
        let switch = uid != own_uid || gid != own_gid;
        if switch && own_uid != 0 {
            return Err(DriverError::new(format!(
                "`{driver}` is to run as `{name}` (uid {uid}, gid {gid}), but the plan runs as uid {own_uid}; only root can switch users: run the plan as root or drop `.user(…)`"
            )));
        }
        Ok(Account {
            name,
            uid,
            gid,
            home,
            switch,
        })
    }
}

impl Account {
    /// Whether the program runs as another user than the plan.
    #[cfg(feature = "postgres")]
    pub(crate) fn switches(&self) -> bool {
        self.switch
    }

    /// An error unless the account can reach `folder`.
    pub(crate) fn check_reachable(&self, folder: &Path, driver: &str) -> Result<(), DriverError> {
        match self.unreachable_ancestor(folder) {
            Some(blocked) if self.switch => Err(DriverError::new(format!(
                "`{driver}` runs as `{}`, which cannot enter `{}` to reach `{}`; run the plan from a folder other users can enter, or give it a runpath there (--runpath)",
                self.name,
                blocked.display(),
                folder.display()
            ))),
            _ => Ok(()),
        }
    }

    /// Makes `folder` (and everything in it) the account's, after checking it can reach it.
    pub(crate) fn hand_over(&self, folder: &Path, driver: &str) -> Result<(), DriverError> {
        if !self.switch {
            return Ok(());
        }
        self.check_reachable(folder, driver)?;
        chown_tree(folder, self.uid, self.gid).map_err(|error| {
            DriverError::new(format!(
                "failed to hand the runpath `{}` of `{driver}` to user `{}`: {error}",
                folder.display(),
                self.name
            ))
        })
    }

    /// The first folder above `path` the account may not search.
    pub(crate) fn unreachable_ancestor(&self, path: &Path) -> Option<PathBuf> {
        path.ancestors().skip(1).find_map(|folder| {
            let metadata = std::fs::metadata(folder).ok()?;
            let mode = metadata.mode();
            let searchable = if metadata.uid() == self.uid {
                mode & 0o100 != 0
            } else if metadata.gid() == self.gid {
                mode & 0o010 != 0
            } else {
                mode & 0o001 != 0
            };
            (!searchable).then(|| folder.to_path_buf())
        })
    }

    /// Sets the command's uid, gid and user variables (std drops supplementary groups).
    pub(crate) fn apply(&self, command: &mut Command) {
        if !self.switch {
            return;
        }
        command.uid(self.uid).gid(self.gid);
        command.env("USER", &self.name).env("LOGNAME", &self.name);
        if let Some(home) = &self.home {
            command.env("HOME", home);
        }
    }
}

/// The fields of the line of a colon-separated account file whose first field is `name`.
fn lookup(file: &str, name: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let fields: Vec<String> = line.split(':').map(str::to_string).collect();
        (fields.first().map(String::as_str) == Some(name)).then_some(fields)
    })
}

/// Hands `path` and what it holds to `uid:gid`. A sub-folder the account already owns is
/// left as it is: it is the account's own work (postgres's data folder of a thousand files,
/// made by `initdb` running as postgres), and walking it again on every start costs
/// milliseconds. The top folder is always walked: the plan writes files into it.
///
/// The walk goes by open folder, never by path, and never follows a symlink: the account
/// owns the runpath after the first hand-over, so a process of its own could swap a folder
/// for a link to `/etc` between a check and a `chown` by path.
fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    use rustix::fs::{Gid, Uid};
    let (uid, gid) = (Uid::from_raw(uid), Gid::from_raw(gid));
    let top = open_folder(rustix::fs::CWD, path)?;
    rustix::fs::fchown(&top, Some(uid), Some(gid))?;
    chown_entries(&top, uid, gid)
}

fn open_folder<P: rustix::path::Arg>(
    parent: impl std::os::fd::AsFd,
    name: P,
) -> std::io::Result<std::os::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rustix::fs::openat(parent, name, flags, Mode::empty())?)
}

fn chown_entries(
    folder: &std::os::fd::OwnedFd,
    uid: rustix::fs::Uid,
    gid: rustix::fs::Gid,
) -> std::io::Result<()> {
    use rustix::fs::{AtFlags, FileType};
    for entry in rustix::fs::Dir::read_from(folder)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let stat = rustix::fs::statat(folder, name, AtFlags::SYMLINK_NOFOLLOW)?;
        let owned = stat.st_uid == uid.as_raw() && stat.st_gid == gid.as_raw();
        let is_folder = FileType::from_raw_mode(stat.st_mode) == FileType::Directory;
        if is_folder && owned {
            continue;
        }
        if !owned {
            rustix::fs::chownat(
                folder,
                name,
                Some(uid),
                Some(gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        if is_folder {
            chown_entries(&open_folder(folder, name)?, uid, gid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_user_is_an_error_that_names_it() {
        let run_as = RunAs {
            user: Some("no-such-user-testrig".into()),
            group: None,
        };
        let error = run_as.resolve("db").unwrap_err();
        assert!(
            error
                .message
                .contains("user `no-such-user-testrig`, which is not in /etc/passwd"),
            "{error}"
        );
    }

    #[test]
    fn the_plans_own_user_switches_nothing() {
        let own = std::fs::read_to_string("/etc/passwd")
            .unwrap()
            .lines()
            .find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields[2].parse::<u32>().ok() == Some(rustix::process::getuid().as_raw()))
                    .then(|| fields[0].to_string())
            })
            .unwrap();
        let account = RunAs {
            user: Some(own),
            group: None,
        }
        .resolve("db")
        .unwrap();
        assert!(!account.switch);
    }

    #[test]
    fn a_hand_over_never_follows_a_symlink_and_skips_what_the_account_owns() {
        if !rustix::process::getuid().is_root() {
            eprintln!("skipped: handing files to another user needs root");
            return;
        }
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("testrig-chown-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let outside = dir.join("outside.txt");
        let runpath = dir.join("runpath");
        std::fs::create_dir_all(runpath.join("logs")).unwrap();
        std::fs::create_dir_all(runpath.join("data")).unwrap();
        std::fs::write(&outside, "root's").unwrap();
        std::fs::write(runpath.join("logs/server.log"), "").unwrap();
        std::fs::write(runpath.join("data/root-file"), "").unwrap();
        std::os::unix::fs::symlink(&outside, runpath.join("link")).unwrap();
        std::os::unix::fs::chown(runpath.join("data"), Some(65534), Some(65534)).unwrap();
        chown_tree(&runpath, 65534, 65534).unwrap();
        let owner = |path: &Path| std::fs::symlink_metadata(path).unwrap().uid();
        assert_eq!(owner(&runpath), 65534);
        assert_eq!(owner(&runpath.join("logs/server.log")), 65534);
        assert_eq!(owner(&runpath.join("link")), 65534, "the link itself");
        assert_eq!(owner(&outside), 0, "not what it points to");
        assert_eq!(
            owner(&runpath.join("data/root-file")),
            0,
            "an owned folder is skipped"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_folder_others_cannot_search_blocks_another_user() {
        let account = Account {
            name: "nobody".into(),
            uid: 65534,
            gid: 65534,
            home: None,
            switch: true,
        };
        let dir = std::env::temp_dir().join(format!("testrig-run-as-{}", std::process::id()));
        let inner = dir.join("closed/runpath");
        std::fs::create_dir_all(&inner).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("closed"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        assert_eq!(
            account.unreachable_ancestor(&inner),
            Some(dir.join("closed"))
        );
        std::fs::set_permissions(dir.join("closed"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        assert_eq!(account.unreachable_ancestor(&inner), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

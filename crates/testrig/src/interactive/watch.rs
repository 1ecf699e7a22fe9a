//! What reload on save watches: the plan's own cargo workspace, found from its binary (never
//! from the working folder), and in it only what can change the build — each member's
//! manifest and source folders, the workspace's `Cargo.toml` and `Cargo.lock`, and the
//! tests' declared input files. Folders are walked here, one inotify watch each, so that
//! `target/`, `node_modules/`, hidden folders and the runpath get no watch at all: a
//! recursive watch would register one on each of their (often thousands of) folders.

use std::collections::{BTreeMap, BTreeSet};

use crate::compile_dir::compile_dirs;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The cargo target a plan binary was built as, read from where it lies:
/// `<target>/<profile>/deps/<name>-<hash>` (a test), `<target>/<profile>/examples/<name>`
/// (an example) or `<target>/<profile>/<name>` (a bin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryTarget {
    /// `test`, `example` or `bin`, as cargo metadata names target kinds.
    pub kind: &'static str,
    /// The target's name (a test binary's has `_` where the target's name may have `-`).
    pub name: String,
    /// `<target>/<profile>`.
    pub profile_dir: PathBuf,
}

impl BinaryTarget {
    /// The target `exe` was built as, if it lies as cargo leaves its outputs.
    pub fn of(exe: &Path) -> Option<BinaryTarget> {
        let file = exe.file_name()?.to_str()?;
        let parent = exe.parent()?;
        let (kind, name, profile_dir) = match parent.file_name()?.to_str()? {
            "deps" => ("test", file.rsplit_once('-')?.0, parent.parent()?),
            "examples" => ("example", file, parent.parent()?),
            _ => ("bin", file, parent),
        };
        Some(BinaryTarget {
            kind,
            name: name.to_string(),
            profile_dir: profile_dir.to_path_buf(),
        })
    }

    /// The target folder.
    pub fn target_dir(&self) -> Option<&Path> {
        self.profile_dir.parent()
    }

    /// Whether cargo built it: cargo keeps its fingerprints beside its outputs.
    pub fn built_by_cargo(&self) -> bool {
        self.profile_dir.join(".fingerprint").is_dir()
    }
}

/// A cargo workspace as `cargo metadata --no-deps` describes it.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The workspace root (where `Cargo.lock` is, and where cargo builds from).
    pub root: PathBuf,
    /// Each member's folder and the source paths of its targets.
    pub members: Vec<(PathBuf, Vec<PathBuf>)>,
    /// Every member target's kind and name (`-` as `_`, as in binary names).
    pub targets: Vec<(String, String)>,
}

impl Workspace {
    /// The workspace that builds `binary`: tried in turn are the folder the compiler ran in
    /// (from the binary's debug information), the package cargo ran it for
    /// (`CARGO_MANIFEST_DIR`) and the folders above the target folder; the first whose
    /// metadata has the binary's target wins.
    pub fn of_binary(exe: &Path, binary: &BinaryTarget) -> Result<Workspace, String> {
        let target_dir = binary
            .target_dir()
            .ok_or_else(|| format!("`{}` is not in a cargo target folder", exe.display()))?;
        let mut candidates: Vec<PathBuf> = compile_dirs(exe);
        candidates.extend(std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from));
        candidates.extend(
            target_dir
                .ancestors()
                .skip(1)
                .find(|dir| dir.join("Cargo.toml").is_file())
                .map(Path::to_path_buf),
        );
        let mut tried = Vec::new();
        for candidate in candidates {
            if tried.contains(&candidate) || !candidate.join("Cargo.toml").is_file() {
                continue;
            }
            if let Ok(workspace) = Workspace::read(&candidate, target_dir)
                && workspace.has_target(binary)
            {
                return Ok(workspace);
            }
            tried.push(candidate);
        }
        let tried = match tried.as_slice() {
            [] => String::new(),
            dirs => format!(
                " (looked in {})",
                dirs.iter()
                    .map(|dir| format!("`{}`", dir.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Err(format!(
            "no cargo workspace with the {} target `{}` that `{}` was built as{tried}; run the plan with `cargo test`/`cargo run` from its workspace, or give the build with --reload-command",
            binary.kind,
            binary.name,
            exe.display()
        ))
    }

    /// `cargo metadata --no-deps` of the workspace `dir` is in, building into `target_dir`.
    fn read(dir: &Path, target_dir: &Path) -> Result<Workspace, String> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = Command::new(&cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", target_dir)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|error| format!("cannot run `{cargo} metadata`: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "`{cargo} metadata` failed in `{}`: {}",
                dir.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
            .map_err(|error| format!("unreadable `cargo metadata` output: {error}"))?;
        let root = metadata["workspace_root"]
            .as_str()
            .map(PathBuf::from)
            .ok_or("`cargo metadata` names no workspace root")?;
        let mut workspace = Workspace {
            root,
            members: Vec::new(),
            targets: Vec::new(),
        };
        for package in metadata["packages"].as_array().into_iter().flatten() {
            let Some(dir) = package["manifest_path"]
                .as_str()
                .and_then(|manifest| Path::new(manifest).parent())
            else {
                continue;
            };
            let mut sources = Vec::new();
            for target in package["targets"].as_array().into_iter().flatten() {
                let kinds = target["kind"].as_array().into_iter().flatten();
                if let Some(name) = target["name"].as_str() {
                    workspace.targets.extend(
                        kinds
                            .filter_map(|kind| kind.as_str())
                            .map(|kind| (kind.to_string(), name.replace('-', "_"))),
                    );
                }
                sources.extend(target["src_path"].as_str().map(PathBuf::from));
            }
            workspace.members.push((dir.to_path_buf(), sources));
        }
        Ok(workspace)
    }

    /// Whether a member target builds `binary`: in `deps/` lie the test binaries of every
    /// kind of target (a lib's or a bin's unit tests too), so there only the name counts.
    fn has_target(&self, binary: &BinaryTarget) -> bool {
        let name = binary.name.replace('-', "_");
        self.targets
            .iter()
            .any(|(kind, target)| *target == name && (binary.kind == "test" || kind == binary.kind))
    }
}

/// Which entries of a watched folder count as a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entries {
    /// Every file (but hidden ones): a source folder.
    All,
    /// Only these names: a manifest folder, or the folder of a declared input.
    Only(BTreeSet<OsString>),
}

/// The folders to watch, each with the entries that count.
#[derive(Debug, Clone, Default)]
pub struct WatchSet {
    /// Folder → what in it counts.
    pub folders: BTreeMap<PathBuf, Entries>,
    /// Never watched, nor anything below: the target folder and the runpath.
    skipped: Vec<PathBuf>,
}

/// Folders of a package that cargo finds targets in by convention, even before they exist.
const SOURCE_FOLDERS: [&str; 4] = ["src", "tests", "benches", "examples"];

impl WatchSet {
    /// What can change the build of `workspace`, and the declared `inputs`; nothing below
    /// the `skipped` folders (the target folder, the runpath).
    pub fn new(workspace: &Workspace, inputs: &[PathBuf], skipped: Vec<PathBuf>) -> WatchSet {
        let mut set = WatchSet {
            folders: BTreeMap::new(),
            skipped,
        };
        set.only(&workspace.root, "Cargo.toml");
        set.only(&workspace.root, "Cargo.lock");
        for (dir, sources) in &workspace.members {
            set.only(dir, "Cargo.toml");
            let mut trees: BTreeSet<PathBuf> = SOURCE_FOLDERS
                .iter()
                .map(|name| dir.join(name))
                .filter(|folder| folder.is_dir())
                .collect();
            for source in sources {
                match source.strip_prefix(dir).ok().map(Path::components) {
                    // `build.rs` and other sources at the top: that file only.
                    Some(mut parts) if parts.clone().count() == 1 => {
                        if let Some(name) = parts.next() {
                            set.only(dir, name.as_os_str());
                        }
                    }
                    Some(mut parts) => {
                        if let Some(first) = parts.next() {
                            trees.insert(dir.join(first));
                        }
                    }
                    None => {
                        trees.extend(source.parent().map(Path::to_path_buf));
                    }
                }
            }
            for tree in trees {
                set.walk(&tree);
            }
        }
        for input in inputs {
            let input = std::path::absolute(input).unwrap_or_else(|_| input.clone());
            if let (Some(dir), Some(name)) = (input.parent(), input.file_name())
                && !set.is_skipped(&input)
            {
                set.only(dir, name);
            }
        }
        set
    }

    fn only(&mut self, dir: &Path, name: impl Into<OsString>) {
        if self.is_skipped(dir) {
            return;
        }
        match self
            .folders
            .entry(dir.to_path_buf())
            .or_insert_with(|| Entries::Only(BTreeSet::new()))
        {
            Entries::All => {}
            Entries::Only(names) => {
                names.insert(name.into());
            }
        }
    }

    /// Adds `tree` and the folders below it that can hold sources; the new folders.
    pub fn walk(&mut self, tree: &Path) -> Vec<PathBuf> {
        let mut added = Vec::new();
        let mut stack = vec![tree.to_path_buf()];
        while let Some(dir) = stack.pop() {
            if self.is_skipped(&dir) || !dir.is_dir() {
                continue;
            }
            if self.folders.insert(dir.clone(), Entries::All) != Some(Entries::All) {
                added.push(dir.clone());
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    stack.push(entry.path());
                }
            }
        }
        added
    }

    /// The target folder, the runpath, `target/`, `node_modules/` and hidden folders.
    fn is_skipped(&self, path: &Path) -> bool {
        let name = path.file_name().map(|name| name.to_string_lossy());
        name.as_deref()
            .is_some_and(|name| name == "target" || name == "node_modules" || hidden(name))
            || self.skipped.iter().any(|skipped| path.starts_with(skipped))
    }

    /// Whether a change at `path` can change the build.
    pub fn counts(&self, path: &Path) -> bool {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return false;
        };
        match self.folders.get(dir) {
            Some(Entries::All) => !hidden(&name.to_string_lossy()) && !self.is_skipped(path),
            Some(Entries::Only(names)) => names.contains(name),
            None => false,
        }
    }

    /// A folder created in a watched source folder, to be watched too.
    pub fn is_new_source_folder(&self, path: &Path) -> bool {
        path.parent()
            .is_some_and(|dir| self.folders.get(dir) == Some(&Entries::All))
            && !self.folders.contains_key(path)
            && !self.is_skipped(path)
            && path.is_dir()
    }
}

fn hidden(name: &str) -> bool {
    name.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_names_its_target_and_the_folder_it_was_compiled_in() {
        let exe = std::env::current_exe().unwrap();
        let binary = BinaryTarget::of(&exe).unwrap();
        assert_eq!(binary.kind, "test", "{exe:?}");
        assert_eq!(binary.name, "testrig");
        assert!(binary.built_by_cargo());
        // This crate's unit tests are compiled in this workspace's root.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .unwrap();
        assert_eq!(compile_dirs(&exe).first().map(PathBuf::as_path), Some(root));
        let workspace = Workspace::of_binary(&exe, &binary).unwrap();
        assert_eq!(workspace.root, root);
        assert!(
            BinaryTarget::of(Path::new("/usr/bin/sh"))
                .is_some_and(|binary| !binary.built_by_cargo())
        );
    }

    #[test]
    fn the_watch_set_has_sources_and_manifests_but_no_target_or_hidden_folders() {
        let root = std::env::temp_dir().join(format!("testrig-watch-set-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in [
            "member/src/nested",
            "member/src/.hidden",
            "member/src/node_modules/x",
            "member/target/debug",
            "member/plans",
            "target/debug/deps",
            "node_modules/a/b",
            ".git/objects",
            "runpath/x",
            "data",
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        let workspace = Workspace {
            root: root.clone(),
            members: vec![(
                root.join("member"),
                vec![
                    root.join("member/src/lib.rs"),
                    root.join("member/plans/echo.rs"),
                    root.join("member/build.rs"),
                ],
            )],
            targets: Vec::new(),
        };
        let set = WatchSet::new(
            &workspace,
            &[
                root.join("data/config.toml"),
                root.join("target/debug/server"),
            ],
            vec![root.join("runpath"), root.join("target")],
        );
        let folders: Vec<String> = set
            .folders
            .keys()
            .map(|dir| dir.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            folders,
            [
                "",
                "data",
                "member",
                "member/plans",
                "member/src",
                "member/src/nested"
            ]
        );
        assert!(set.counts(&root.join("Cargo.lock")));
        assert!(
            !set.counts(&root.join("notes.txt")),
            "only the manifests at the root"
        );
        assert!(set.counts(&root.join("member/build.rs")));
        assert!(set.counts(&root.join("member/src/nested/mod.rs")));
        assert!(!set.counts(&root.join("member/src/.lib.rs.swp")));
        assert!(set.counts(&root.join("data/config.toml")));
        assert!(!set.counts(&root.join("data/other.toml")));
        assert!(!set.counts(&root.join("target/debug/server")));
        std::fs::create_dir_all(root.join("member/src/added")).unwrap();
        assert!(set.is_new_source_folder(&root.join("member/src/added")));
        assert!(!set.is_new_source_folder(&root.join("member/src/.hidden")));
        let _ = std::fs::remove_dir_all(root);
    }
}

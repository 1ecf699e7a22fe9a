//! What the plan binary was compiled from: `cargo testrig affected` wraps rustc, hashes the
//! sources of each workspace crate before the compiler reads them, and keeps those the
//! compiler's dep-info names. The plan compares them with the sources it fingerprints, so
//! results of a binary built from other sources (a file saved during the build) are never
//! recorded against the new sources.
//!
//! Per compiled crate the wrapper writes one [`BuildSnapshot`] file; `cargo testrig affected`
//! merges those of the crates the build produced and hands the merged one to the plan in
//! [`BUILD_SNAPSHOT_VARIABLE`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

/// The environment variable naming the merged snapshot of the plan's build.
pub const BUILD_SNAPSHOT_VARIABLE: &str = "TESTRIG_BUILD_SNAPSHOT";

/// The sources one build (or one crate of it) was compiled from.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BuildSnapshot {
    /// Absolute path → MD5 of the bytes, as hashed before the compiler ran.
    pub files: BTreeMap<PathBuf, String>,
    /// Crate (name and cargo's hash suffix) → the features it was compiled with.
    pub features: BTreeMap<String, Vec<String>>,
    /// Package folder → what else its crates were compiled from (`include_str!` data, files
    /// a build script generated) → MD5 as compiled.
    #[serde(default)]
    pub data: BTreeMap<PathBuf, BTreeMap<PathBuf, String>>,
}

impl BuildSnapshot {
    /// Reads a snapshot file.
    pub fn read(path: &Path) -> Result<BuildSnapshot, String> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            format!(
                "failed to read the build snapshot `{}`: {error}",
                path.display()
            )
        })?;
        serde_json::from_str(&text).map_err(|error| {
            format!(
                "the build snapshot `{}` is unusable ({error}); build again with `cargo testrig affected`",
                path.display()
            )
        })
    }

    /// Writes it to `path` through a temporary file, so a reader never sees half of it.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string(self).map_err(|error| error.to_string())?;
        let partial = path.with_extension(format!("partial-{}", std::process::id()));
        std::fs::write(&partial, text)
            .and_then(|()| std::fs::rename(&partial, path))
            .map_err(|error| {
                format!(
                    "failed to write the build snapshot `{}`: {error}",
                    path.display()
                )
            })
    }

    /// Adds another crate's snapshot.
    pub fn merge(&mut self, other: BuildSnapshot) {
        self.files.extend(other.files);
        self.features.extend(other.features);
        for (package, data) in other.data {
            self.data.entry(package).or_default().extend(data);
        }
    }

    /// Per package folder, one digest of its data files (names and contents; a build
    /// script's output folder counts by file name, since its path holds a hash).
    pub fn data_digests(&self) -> BTreeMap<PathBuf, String> {
        self.data
            .iter()
            .map(|(package, files)| {
                let lines: Vec<String> = files
                    .iter()
                    .map(|(path, digest)| {
                        let name = path
                            .strip_prefix(package)
                            .unwrap_or_else(|_| Path::new(path.file_name().unwrap_or_default()));
                        format!("{} {digest}", name.display())
                    })
                    .collect();
                (package.clone(), digest_hex(lines.join("\n").as_bytes()))
            })
            .collect()
    }

    /// The files whose content now differs from the snapshot (or that are gone).
    pub fn changed_files(&self) -> Vec<&Path> {
        self.files
            .iter()
            .filter(|(path, digest)| file_digest(path).as_deref() != Some(digest.as_str()))
            .map(|(path, _)| path.as_path())
            .collect()
    }
}

/// The MD5 of a file's bytes in hex; `None` when it cannot be read.
pub fn file_digest(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|bytes| digest_hex(&bytes))
}

/// The MD5 of `bytes` in hex, as the fingerprints report file contents.
pub fn digest_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// Lowercase hex of a digest.
pub(crate) fn hex(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(digest.len() * 2);
    for byte in digest {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_round_trips_and_names_the_files_changed_since() {
        let dir = std::env::temp_dir().join(format!("testrig-build-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (kept, edited, gone) = (dir.join("a.rs"), dir.join("b.rs"), dir.join("c.rs"));
        for file in [&kept, &edited, &gone] {
            std::fs::write(file, "fn f() {}\n").unwrap();
        }
        let mut snapshot = BuildSnapshot::default();
        for file in [&kept, &edited] {
            snapshot
                .files
                .insert(file.clone(), file_digest(file).unwrap());
        }
        let mut other = BuildSnapshot::default();
        other
            .files
            .insert(gone.clone(), file_digest(&gone).unwrap());
        other
            .features
            .insert("demo-1234".into(), vec!["strict".into()]);
        snapshot.merge(other);
        let path = dir.join("merged.json");
        snapshot.write(&path).unwrap();
        let read = BuildSnapshot::read(&path).unwrap();
        assert_eq!(read, snapshot);
        assert!(read.changed_files().is_empty());
        std::fs::write(&edited, "fn f() { g() }\n").unwrap();
        std::fs::remove_file(&gone).unwrap();
        assert_eq!(read.changed_files(), [edited.as_path(), gone.as_path()]);
        std::fs::write(&path, "{").unwrap();
        let error = BuildSnapshot::read(&path).unwrap_err();
        assert!(error.contains("build again"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn data_digests_follow_contents_not_build_folder_hashes() {
        let package = PathBuf::from("/w/pkg");
        let digests = |out_dir: &str, rates: &str| {
            let mut snapshot = BuildSnapshot::default();
            snapshot.data.insert(
                package.clone(),
                [
                    (package.join("data/defaults.txt"), "d1".to_string()),
                    (PathBuf::from(out_dir).join("rates.rs"), rates.to_string()),
                ]
                .into(),
            );
            // Merging keeps what another crate of the package read.
            let mut other = BuildSnapshot::default();
            other.data.insert(
                package.clone(),
                [(package.join("data/extra.txt"), "e1".to_string())].into(),
            );
            snapshot.merge(other);
            assert_eq!(snapshot.data[&package].len(), 3);
            snapshot.data_digests()[&package].clone()
        };
        let first = digests("/t/debug/build/pkg-aaaa/out", "r1");
        assert_eq!(
            first,
            digests("/t/debug/build/pkg-bbbb/out", "r1"),
            "the build folder's hash is no change"
        );
        assert_ne!(first, digests("/t/debug/build/pkg-aaaa/out", "r2"));
    }
}

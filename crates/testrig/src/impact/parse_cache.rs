//! The parse of each source file, kept by content in the target folder, so that
//! fingerprinting the sources (the "what changed" half of affected selection) parses only
//! what no build and no run has parsed before.
//!
//! Parsing is the costly part of fingerprinting (tens of milliseconds for a large file, on
//! the second core while the testcases run). `cargo testrig affected`'s compiler wrapper
//! parses each instrumented crate's sources as compiled, right after rustc, and a plan
//! that meets a file no entry holds parses it and stores it. An entry is named by the MD5
//! of the file's bytes and holds units without their file (the key prefix), so it is right
//! for those bytes wherever they sit; it also names the testrig version and the cache
//! format, since a new parser may cut units differently. The folder is
//! `testrig-fingerprints` in the target folder the plan was built in (the one holding
//! Cargo's `CACHEDIR.TAG`), found from the running binary; a binary moved elsewhere parses
//! everything, as before.

use std::path::{Path, PathBuf};

use crate::impact::build::digest_hex;
use crate::impact::fingerprint::{SourceUnit, UnitKind, UnitNames};

/// Bumped whenever the parse cuts or fingerprints units differently.
const FORMAT: &str = concat!(env!("CARGO_PKG_VERSION"), "/1");

/// The folder's name inside the target folder.
const FOLDER: &str = "testrig-fingerprints";

/// Entries kept at most; past it the oldest half goes (a few per edited file and build).
const MAX_ENTRIES: usize = 4096;

/// A file's units and names as the parse produced them, keys without the file.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedParse {
    format: String,
    units: Vec<CachedUnit>,
    names: Vec<UnitNames>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CachedUnit {
    /// The key after the file (`::impl Rect::area`).
    path: String,
    function: bool,
    lines: (u32, u32),
    fingerprint: String,
}

/// The parse cache of one target folder.
#[derive(Debug)]
pub(crate) struct ParseCache {
    folder: PathBuf,
    /// The folder is pruned once per process, at its first store, not at every store.
    pruned: std::sync::Once,
}

impl ParseCache {
    /// The cache of the target folder `target`.
    pub(crate) fn in_target(target: &Path) -> ParseCache {
        ParseCache {
            folder: target.join(FOLDER),
            pruned: std::sync::Once::new(),
        }
    }

    /// The cache of the target folder the running binary was built in: the nearest folder
    /// above it holding Cargo's `CACHEDIR.TAG`.
    pub(crate) fn of_running_binary() -> Option<ParseCache> {
        let executable = std::env::current_exe().ok()?;
        target_folder_of(&executable).map(|target| ParseCache::in_target(&target))
    }

    /// The units of `source` (the file `file`, whose bytes have the MD5 `digest`): the
    /// stored parse when there is one, else parsed now and stored.
    pub(crate) fn units(
        &self,
        file: &str,
        source: &str,
        digest: &str,
    ) -> Result<(Vec<SourceUnit>, Vec<UnitNames>), String> {
        if let Some(parsed) = self.load(file, digest) {
            return Ok(parsed);
        }
        let parsed = crate::impact::fingerprint::parse_units(file, source)?;
        self.store(digest, &parsed);
        Ok(parsed)
    }

    /// Parses and stores each of `files` that no entry holds yet; a file that cannot be
    /// read or parsed is left out (the plan reports it when it meets it).
    pub(crate) fn fill(&self, files: &[PathBuf]) {
        for path in files {
            let Ok(source) = std::fs::read_to_string(path) else {
                continue;
            };
            let digest = digest_hex(source.as_bytes());
            if self.entry(&digest).exists() {
                continue;
            }
            if let Ok(parsed) = crate::impact::fingerprint::parse_units("", &source) {
                self.store(&digest, &parsed);
            }
        }
    }

    fn entry(&self, digest: &str) -> PathBuf {
        self.folder.join(format!("{digest}.json"))
    }

    fn load(&self, file: &str, digest: &str) -> Option<(Vec<SourceUnit>, Vec<UnitNames>)> {
        let text = std::fs::read(self.entry(digest)).ok()?;
        let cached: CachedParse = serde_json::from_slice(&text).ok()?;
        // A damaged entry is parsed again: one whose line ranges run backwards would make the
        // span arithmetic underflow.
        if cached.format != FORMAT
            || cached.units.len() != cached.names.len()
            || cached.units.iter().any(|unit| unit.lines.0 > unit.lines.1)
        {
            return None;
        }
        let units = cached
            .units
            .into_iter()
            .map(|unit| SourceUnit {
                key: format!("{file}{}", unit.path),
                kind: if unit.function {
                    UnitKind::Function
                } else {
                    UnitKind::Item
                },
                file: file.to_string(),
                lines: unit.lines,
                fingerprint: unit.fingerprint,
            })
            .collect();
        Some((units, cached.names))
    }

    /// Stores a parse, through a temporary file so that a reader never sees half of it.
    /// Failing to store only costs a parse next time.
    fn store(&self, digest: &str, (units, names): &(Vec<SourceUnit>, Vec<UnitNames>)) {
        let cached = CachedParse {
            format: FORMAT.to_string(),
            units: units
                .iter()
                .map(|unit| CachedUnit {
                    path: unit.key[unit.file.len()..].to_string(),
                    function: unit.kind == UnitKind::Function,
                    lines: unit.lines,
                    fingerprint: unit.fingerprint.clone(),
                })
                .collect(),
            names: names.clone(),
        };
        let Ok(text) = serde_json::to_vec(&cached) else {
            return;
        };
        if std::fs::create_dir_all(&self.folder).is_err() {
            return;
        }
        self.pruned.call_once(|| self.prune());
        let entry = self.entry(digest);
        let partial = entry.with_extension(format!("partial-{}", std::process::id()));
        if std::fs::write(&partial, text)
            .and_then(|()| std::fs::rename(&partial, &entry))
            .is_err()
        {
            let _ = std::fs::remove_file(&partial);
        }
    }

    /// Keeps the folder bounded: past [`MAX_ENTRIES`], the oldest half is removed.
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.folder) else {
            return;
        };
        let mut entries: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let modified = entry.metadata().and_then(|meta| meta.modified()).ok()?;
                Some((modified, entry.path()))
            })
            .collect();
        if entries.len() <= MAX_ENTRIES {
            return;
        }
        entries.sort();
        for (_, path) in &entries[..entries.len() / 2] {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The target folder `path` (a binary or a compiler output folder) lies in: the nearest
/// folder above it holding Cargo's `CACHEDIR.TAG`.
pub(crate) fn target_folder_of(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .skip(1)
        .find(|folder| folder.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
}

/// Parses the Rust sources among `files` into the parse cache of the target folder that
/// `output_folder` (where the compiler wrote a crate) lies in, so that the plan built from
/// them does not parse them again. What `cargo testrig affected`'s compiler wrapper calls
/// after compiling an instrumented crate, with the sources the compiler read.
pub fn cache_parses<'a>(output_folder: &Path, files: impl IntoIterator<Item = &'a PathBuf>) {
    let Some(target) = target_folder_of(output_folder) else {
        return;
    };
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|file| file.extension().is_some_and(|ext| ext == "rs"))
        .cloned()
        .collect();
    let cache = ParseCache::in_target(&target);
    let _ = crate::impact::fingerprint::on_parser_thread(|| {
        cache.fill(&files);
        Ok(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "pub struct Rect { w: f64 }\nimpl Rect {\n    pub fn area(&self) -> f64 {\n        self.w * self.w\n    }\n}\n";

    fn folder(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("testrig-parse-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn parse(file: &str, source: &str) -> (Vec<SourceUnit>, Vec<UnitNames>) {
        crate::impact::fingerprint::on_parser_thread(|| {
            crate::impact::fingerprint::parse_units(file, source)
        })
        .unwrap()
    }

    #[test]
    fn a_stored_parse_reads_back_as_a_fresh_parse_under_any_file_name() {
        let dir = folder("roundtrip");
        let cache = ParseCache::in_target(&dir);
        let digest = digest_hex(SOURCE.as_bytes());
        let stored = crate::impact::fingerprint::on_parser_thread(|| {
            cache.units("src/a.rs", SOURCE, &digest)
        })
        .unwrap();
        assert_eq!(stored.0, parse("src/a.rs", SOURCE).0);
        assert!(cache.entry(&digest).is_file());
        // The same bytes under another name: the entry serves, keys carry the new name.
        let loaded = cache
            .load("lib/b.rs", &digest)
            .expect("the entry is read back");
        assert_eq!(loaded.0, parse("lib/b.rs", SOURCE).0);
        assert_eq!(
            serde_json::to_string(&loaded.1).unwrap(),
            serde_json::to_string(&parse("lib/b.rs", SOURCE).1).unwrap()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_entry_of_another_format_or_a_damaged_one_is_parsed_again() {
        let dir = folder("stale");
        let cache = ParseCache::in_target(&dir);
        let digest = digest_hex(SOURCE.as_bytes());
        std::fs::create_dir_all(&cache.folder).unwrap();
        std::fs::write(
            cache.entry(&digest),
            "{\"format\": \"0.0.0/0\", \"units\": [], \"names\": []}",
        )
        .unwrap();
        assert!(cache.load("src/a.rs", &digest).is_none());
        std::fs::write(cache.entry(&digest), "{\"units\": [").unwrap();
        assert!(cache.load("src/a.rs", &digest).is_none());
        let parsed = crate::impact::fingerprint::on_parser_thread(|| {
            cache.units("src/a.rs", SOURCE, &digest)
        })
        .unwrap();
        assert_eq!(parsed.0, parse("src/a.rs", SOURCE).0);
        assert!(
            cache.load("src/a.rs", &digest).is_some(),
            "the fresh parse replaced it"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_wrapper_fills_the_cache_of_the_target_folder_above_its_output() {
        let dir = folder("fill");
        std::fs::write(
            dir.join("CACHEDIR.TAG"),
            "Signature: 8a477f597d28d172789f06886806bc55\n",
        )
        .unwrap();
        let deps = dir.join("debug").join("deps");
        std::fs::create_dir_all(&deps).unwrap();
        let source = dir.join("lib.rs");
        std::fs::write(&source, SOURCE).unwrap();
        let broken = dir.join("broken.rs");
        std::fs::write(&broken, "fn (").unwrap();
        cache_parses(&deps, &[source, broken, dir.join("data.txt")]);
        let cache = ParseCache::in_target(&dir);
        assert!(
            cache
                .load("src/x.rs", &digest_hex(SOURCE.as_bytes()))
                .is_some()
        );
        assert!(
            !cache.entry(&digest_hex(b"fn (")).exists(),
            "an unparsable file is not stored"
        );
        assert_eq!(target_folder_of(&deps.join("plan")), Some(dir.clone()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

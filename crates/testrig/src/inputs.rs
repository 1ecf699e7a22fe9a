//! Inputs that are not source: the files a MultiTest or its drivers declare (binaries they
//! start, config templates, data files), hashed per MultiTest. Coverage cannot see them,
//! so a change to one selects every testcase of that MultiTest.
//!
//! The digest is a text of sorted `name md5` lines, stored with each recorded testcase; two
//! digests are compared line by line so that the selection can say which input changed.

#[cfg(feature = "affected")]
use std::collections::BTreeSet;
#[cfg(feature = "affected")]
use std::path::Path;
use std::path::PathBuf;

#[cfg(feature = "affected")]
use md5::{Digest, Md5};

/// One declared input of a MultiTest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeclaredInput {
    /// A file, hashed by content; a missing file hashes as `missing`.
    File(PathBuf),
    /// Text held in the plan itself under a name (e.g. a driver's config template), hashed
    /// as given: its source tokens may not change when an `include_str!` file does.
    Text {
        /// How the input is named in explanations.
        name: String,
        /// The text.
        text: String,
    },
}

/// The digest of a MultiTest's inputs, with file names relative to `root` where they are
/// under it. Empty when nothing is declared.
#[cfg(feature = "affected")]
pub fn inputs_digest(root: &Path, inputs: &[DeclaredInput]) -> String {
    let lines: BTreeSet<String> = inputs
        .iter()
        .map(|input| match input {
            DeclaredInput::File(path) => {
                let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                let shown = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                let digest = std::fs::read(&path)
                    .map(|bytes| hex(&Md5::digest(&bytes)))
                    .unwrap_or_else(|_| "missing".to_string());
                format!("{shown} {digest}")
            }
            DeclaredInput::Text { name, text } => {
                format!("{name} {}", hex(&Md5::digest(text.as_bytes())))
            }
        })
        .collect();
    lines.into_iter().collect::<Vec<_>>().join("\n")
}

/// The names of the inputs that differ between two digests (changed, added or removed).
#[cfg(feature = "affected")]
pub fn changed_inputs(stored: &str, current: &str) -> Vec<String> {
    let parse = |digest: &str| -> BTreeSet<(String, String)> {
        digest
            .lines()
            .filter_map(|line| line.rsplit_once(' '))
            .map(|(name, hash)| (name.to_string(), hash.to_string()))
            .collect()
    };
    let (stored, current) = (parse(stored), parse(current));
    let names: BTreeSet<String> = stored
        .symmetric_difference(&current)
        .map(|(name, _)| name.clone())
        .collect();
    names.into_iter().collect()
}

/// Where a program named on a command line is: a path as given, or a bare name looked up
/// on `PATH` (as spawning it would). `None` when it cannot be found.
pub fn program_path(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

#[cfg(feature = "affected")]
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(all(test, feature = "affected"))]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_or_template_is_named() {
        let dir = std::env::temp_dir().join(format!("testrig-inputs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data = dir.join("data.csv");
        std::fs::write(&data, "a,b\n").unwrap();
        let template = |text: &str| DeclaredInput::Text {
            name: "driver `db` template `db.conf`".into(),
            text: text.into(),
        };
        let before = inputs_digest(&dir, &[DeclaredInput::File(data.clone()), template("x")]);
        assert!(before.contains("data.csv "), "{before}");
        assert_eq!(
            before,
            inputs_digest(&dir, &[template("x"), DeclaredInput::File(data.clone())]),
            "the order of declaration does not matter"
        );
        std::fs::write(&data, "a,b,c\n").unwrap();
        let after = inputs_digest(&dir, &[DeclaredInput::File(data.clone()), template("x")]);
        assert_eq!(
            changed_inputs(&before, &after),
            vec!["data.csv".to_string()]
        );
        let retemplated = inputs_digest(&dir, &[DeclaredInput::File(data.clone()), template("y")]);
        assert_eq!(
            changed_inputs(&after, &retemplated),
            vec!["driver `db` template `db.conf`".to_string()]
        );
        std::fs::remove_file(&data).unwrap();
        let missing = inputs_digest(&dir, &[DeclaredInput::File(data), template("y")]);
        assert!(missing.contains("data.csv missing"), "{missing}");
        assert_eq!(changed_inputs("", ""), Vec::<String>::new());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn programs_are_found_on_path_or_as_given() {
        assert_eq!(program_path("./x"), Some(PathBuf::from("./x")));
        assert!(program_path("sh").is_some_and(|path| path.is_file()));
        assert_eq!(program_path("no-such-program-testrig"), None);
    }
}

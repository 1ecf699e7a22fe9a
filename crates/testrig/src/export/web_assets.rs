//! The browser UI's files (`web/`), compiled into the library: the interactive server serves
//! them as they are, the HTML exporter inlines them into one self-contained report.
//!
//! The list is written out rather than read from the folder by a derive macro: a derive
//! (rust-embed) put a second `syn`, a SHA-2 stack, `walkdir` and MIME tables into every
//! plan's build for thirteen files. A test keeps the list and the folder the same.

/// Names and contents of the UI's files, each compiled in with `include_bytes!` (so an edit
/// of a file rebuilds the library).
macro_rules! web_files {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/", $name)))),*]
    };
}

static WEB_FILES: &[(&str, &[u8])] = web_files!(
    "index.html",
    "style.css",
    "bundle-order.json",
    "api.js",
    "app.js",
    "details.js",
    "drivergraph.js",
    "driverlog.js",
    "entries.js",
    "filter.js",
    "state.js",
    "tree.js",
    "util.js",
);

/// The contents of the UI file `name` (a file name of `web/`, e.g. `app.js`).
pub(crate) fn web_file(name: &str) -> Option<&'static [u8]> {
    WEB_FILES
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, bytes)| *bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_web_folder_is_compiled_in_and_nothing_else() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
        let mut on_disk: Vec<String> = std::fs::read_dir(&folder)
            .expect("the web folder")
            .map(|entry| {
                entry
                    .expect("an entry")
                    .file_name()
                    .into_string()
                    .expect("UTF-8")
            })
            .filter(|name| name != "README.md")
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = WEB_FILES.iter().map(|(name, _)| name.to_string()).collect();
        listed.sort();
        assert_eq!(
            listed, on_disk,
            "web_assets.rs must list every file of web/ (README.md aside)"
        );
        for (name, bytes) in WEB_FILES {
            let disk = std::fs::read(folder.join(name)).expect("a web file");
            assert_eq!(&disk[..], *bytes, "`{name}` differs from web/{name}");
        }
        assert!(web_file("app.js").is_some());
        assert!(web_file("../Cargo.toml").is_none());
        assert!(web_file("README.md").is_none());
    }
}

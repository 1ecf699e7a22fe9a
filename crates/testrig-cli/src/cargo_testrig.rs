//! `cargo testrig affected [--test NAME | -p PKG] [-- plan args]`: builds the plan with
//! coverage instrumentation applied only to the workspace's own crates (not dependencies,
//! build scripts or proc macros), in a target folder of its own so normal builds are
//! untouched, then runs it with `--affected`.
//!
//! The same binary doubles as the `RUSTC_WRAPPER` that adds the flags: cargo calls it with
//! the real rustc as the first argument. The workspace's crates (every member, found by its
//! manifest folder) get `-C instrument-coverage`; every crate gets `--cfg testrig_coverage`,
//! which switches on testrig's recorder (a dependency of the plan, never instrumented).
//!
//! Before running rustc on an instrumented crate the wrapper hashes the crate's sources, and
//! after it keeps those the compiler's dep-info names, with the crate's features: a
//! [`BuildSnapshot`] per crate. After the build the snapshots of the crates it produced are
//! merged and compared with the files as they are now; a file saved during the build means
//! building again (a few times at most), and the plan gets the merged snapshot so that it
//! never records results against sources other than those it was built from.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use testrig::impact::{
    BUILD_SNAPSHOT_VARIABLE, BuildSnapshot, RUN_VARIANT_VARIABLE, cache_parses, digest_hex,
    file_digest,
};

const WRAPPER_MARK: &str = "TESTRIG_COVERAGE_WRAPPER";
/// The workspace root, passed to the wrapper so that it can tell the workspace's crates.
const WORKSPACE_ROOT: &str = "TESTRIG_WORKSPACE_ROOT";
/// Where the wrapper writes the snapshot of each crate it compiles.
const SNAPSHOT_DIR: &str = "TESTRIG_SNAPSHOT_DIR";
/// The digest given to a file that was modified while the compiler ran: it matches no
/// content, so the file shows as changed since the build.
const SAVED_DURING_BUILD: &str = "saved during the build";
/// How often a build is repeated because sources changed while it ran.
const BUILD_ATTEMPTS: usize = 3;

/// Instrumentation, for the workspace's own crates.
const INSTRUMENT: [&str; 2] = ["-C", "instrument-coverage"];
/// The cfg that switches testrig's recorder on.
const RECORDER: [&str; 2] = ["--cfg", "testrig_coverage"];

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if std::env::var_os(WRAPPER_MARK).is_some() && args.len() > 1 {
        return wrap_rustc(&args[1..]);
    }
    // `cargo testrig …` runs us as `cargo-testrig testrig …`.
    let mut rest: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if rest.first().map(String::as_str) == Some("testrig") {
        rest.remove(0);
    }
    match rest.first().map(String::as_str) {
        Some("affected") => match affected(&rest[1..]) {
            Ok(code) => code,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
        },
        Some("watch") => match watch(&rest[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!(
                "usage: cargo testrig affected|watch [--test NAME | -p PACKAGE] [--variant TEXT]... [-- PLAN ARGS]\n\
                 affected: builds the plan with per-testcase coverage and runs only the testcases a change affects\n\
                 watch: does that again on every saved change under the workspace (Ctrl-C stops)"
            );
            ExitCode::from(2)
        }
    }
}

/// testrig's own crates: the recorder runs around every testcase, so instrumenting it (when
/// it is a member of the workspace, as in testrig's own) would only add noise and cost.
const FRAMEWORK: [&str; 2] = ["testrig", "testrig_model"];

/// Whether cargo compiles a crate of the workspace being tested (any member, not only the
/// package named on the command line), rather than a dependency.
fn is_workspace_crate() -> bool {
    if std::env::var_os("CARGO_PRIMARY_PACKAGE").is_some() {
        return true;
    }
    match (
        std::env::var_os(WORKSPACE_ROOT),
        std::env::var_os("CARGO_MANIFEST_DIR"),
    ) {
        (Some(root), Some(manifest)) => Path::new(&manifest).starts_with(root),
        _ => false,
    }
}

/// Runs rustc, adding the coverage flags unless this compiles a build script or a proc macro
/// (their coverage would only describe the build).
fn wrap_rustc(args: &[OsString]) -> ExitCode {
    let text: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let build_script = text
        .windows(2)
        .any(|w| w[0] == "--crate-name" && w[1].starts_with("build_script_"));
    let proc_macro = text
        .windows(2)
        .any(|w| w[0] == "--crate-type" && w[1] == "proc-macro");
    let mut command = Command::new(&args[0]);
    command.args(&args[1..]);
    let probe = text
        .iter()
        .any(|arg| arg == "-vV" || arg == "--version" || arg.starts_with("--print"));
    let mut snapshot = None;
    if !build_script && !proc_macro && !probe {
        command.args(RECORDER);
        let crate_name = text
            .windows(2)
            .find(|w| w[0] == "--crate-name")
            .map(|w| w[1].as_str());
        if is_workspace_crate() && !crate_name.is_some_and(|name| FRAMEWORK.contains(&name)) {
            command.args(INSTRUMENT);
            // Hashed before the compiler reads them: a save from now on shows as a change.
            snapshot = std::env::var_os("CARGO_MANIFEST_DIR")
                .map(|manifest| CrateSnapshot::before(&text, Path::new(&manifest)));
        }
    }
    match command.status() {
        Ok(status) => {
            if status.success()
                && let Some(snapshot) = snapshot
            {
                let read = snapshot.compiled_files();
                // Parsed now, on the build's time, so the plan does not parse them again.
                if let Some(out_dir) = &snapshot.out_dir {
                    cache_parses(out_dir, &read);
                }
                if let Err(error) = snapshot.write(read) {
                    eprintln!("error: cargo testrig: {error}");
                    return ExitCode::from(2);
                }
            }
            ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8)
        }
        Err(error) => {
            eprintln!(
                "error: cargo testrig could not run rustc `{}`: {error}",
                text[0]
            );
            ExitCode::from(2)
        }
    }
}

/// The sources of one crate as hashed before rustc ran, and where rustc's dep-info goes.
struct CrateSnapshot {
    /// `crate_name` plus cargo's `-C extra-filename` (the stem of its outputs).
    stem: String,
    crate_name: String,
    dep_info: Option<PathBuf>,
    /// Where rustc writes the crate (`--out-dir`).
    out_dir: Option<PathBuf>,
    sources: std::collections::BTreeMap<PathBuf, String>,
    features: Vec<String>,
    /// The package folder (`CARGO_MANIFEST_DIR`).
    package: PathBuf,
    /// When rustc was started: a file it read that was modified later was saved mid-build.
    started: std::time::SystemTime,
}

impl CrateSnapshot {
    fn before(args: &[String], manifest: &Path) -> CrateSnapshot {
        let value = |flag: &str| args.windows(2).find(|w| w[0] == flag).map(|w| w[1].clone());
        let crate_name = value("--crate-name").unwrap_or_default();
        let extra = args
            .iter()
            .find_map(|arg| {
                arg.strip_prefix("extra-filename=")
                    .or_else(|| arg.strip_prefix("-Cextra-filename="))
            })
            .unwrap_or_default();
        let stem = format!("{crate_name}{extra}");
        let features = args
            .windows(2)
            .filter(|w| w[0] == "--cfg")
            .filter_map(|w| w[1].strip_prefix("feature=\""))
            .map(|feature| feature.trim_end_matches('"').to_string())
            .collect();
        let started = std::time::SystemTime::now();
        let mut sources = std::collections::BTreeMap::new();
        hash_sources(manifest, &mut sources);
        CrateSnapshot {
            package: manifest.to_path_buf(),
            started,
            dep_info: value("--out-dir").map(|dir| Path::new(&dir).join(format!("{stem}.d"))),
            out_dir: value("--out-dir").map(PathBuf::from),
            stem,
            crate_name,
            sources,
            features,
        }
    }

    /// The files the compiler read, as its dep-info names them (empty without one).
    fn compiled_files(&self) -> std::collections::BTreeSet<PathBuf> {
        // rustc writes the paths as cargo gave them: relative to its working folder, which
        // is this process's.
        let here = std::env::current_dir().unwrap_or_default();
        self.dep_info
            .as_deref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .map(|text| dep_info_files(&text))
            .unwrap_or_default()
            .into_iter()
            .map(|path| here.join(path))
            .collect()
    }

    /// Keeps the sources the compiler read (`read`, from its dep-info) and writes the
    /// snapshot where `cargo testrig affected` looks for it.
    fn write(self, read: std::collections::BTreeSet<PathBuf>) -> Result<(), String> {
        let Some(folder) = std::env::var_os(SNAPSHOT_DIR) else {
            return Ok(());
        };
        let mut files: std::collections::BTreeMap<PathBuf, String> = self
            .sources
            .into_iter()
            .filter(|(path, _)| read.is_empty() || read.contains(path))
            .collect();
        // What else the compiler read in the workspace (`include_str!` data, modules found
        // through `#[path]`) was not hashed before it ran: its modification time tells
        // whether the content hashed now is the content compiled.
        // Those files and what a build script generated are the package's data: their
        // digests, as compiled, go with the sources.
        let workspace = std::env::var_os(WORKSPACE_ROOT).map(PathBuf::from);
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from);
        let mut data = std::collections::BTreeMap::new();
        for path in read {
            let in_workspace = workspace
                .as_ref()
                .is_some_and(|root| path.starts_with(root));
            let built = target.as_ref().is_some_and(|dir| path.starts_with(dir))
                || path.components().any(|part| part.as_os_str() == "target");
            if files.contains_key(&path) || !(in_workspace || built) {
                continue;
            }
            if built {
                // Generated before rustc ran, not by the user: as compiled.
                if let Some(digest) = file_digest(&path) {
                    data.insert(path, digest);
                }
                continue;
            }
            let saved_since = std::fs::metadata(&path)
                .and_then(|meta| meta.modified())
                .is_ok_and(|modified| modified >= self.started);
            let digest = if saved_since {
                SAVED_DURING_BUILD.to_string()
            } else {
                file_digest(&path).unwrap_or_else(|| SAVED_DURING_BUILD.to_string())
            };
            if path.extension().is_none_or(|ext| ext != "rs") {
                data.insert(path.clone(), digest.clone());
            }
            files.insert(path, digest);
        }
        let snapshot = BuildSnapshot {
            files,
            features: [(self.crate_name, self.features)].into(),
            data: [(self.package, data)].into(),
        };
        let folder = Path::new(&folder);
        std::fs::create_dir_all(folder)
            .map_err(|error| format!("failed to create `{}`: {error}", folder.display()))?;
        snapshot.write(&folder.join(format!("{}.json", self.stem)))
    }
}

/// Hashes every `.rs` file under `dir`, leaving out build output (`target`, any folder
/// with Cargo's `CACHEDIR.TAG`) and hidden folders.
fn hash_sources(dir: &Path, out: &mut std::collections::BTreeMap<PathBuf, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let skip = name.to_string_lossy().starts_with('.')
                || name == "target"
                || path.join("CACHEDIR.TAG").exists();
            if !skip {
                hash_sources(&path, out);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs")
            && let Some(digest) = file_digest(&path)
        {
            out.insert(path, digest);
        }
    }
}

/// The files a Makefile-style dep-info names as dependencies (each has a `path:` line of
/// its own).
fn dep_info_files(text: &str) -> std::collections::BTreeSet<PathBuf> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.strip_suffix(':'))
        .map(|path| PathBuf::from(path.replace("\\ ", " ")))
        .collect()
}

fn workspace_root() -> Result<PathBuf, String> {
    if let Some(root) = std::env::current_dir()
        .ok()
        .and_then(|here| find_workspace_root(&here))
    {
        return Ok(root);
    }
    let output = Command::new(cargo())
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .output()
        .map_err(|error| format!("failed to run cargo: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "not in a cargo project: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let manifest = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    Ok(manifest.parent().unwrap_or(Path::new(".")).to_path_buf())
}

/// The workspace root as cargo finds it in the common layouts, without starting cargo (a
/// no-change run is mostly process starts): the package is the nearest folder with a
/// `Cargo.toml`, its workspace the nearest folder from there up whose manifest has a
/// `[workspace]` table, or the package itself. `None` (ask cargo) when the package names
/// its workspace with `package.workspace`.
fn find_workspace_root(here: &Path) -> Option<PathBuf> {
    let mut folders = here
        .ancestors()
        .filter(|dir| dir.join("Cargo.toml").is_file());
    let package = folders.next()?;
    let has_workspace_table = |dir: &Path| {
        std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|text| {
            text.lines()
                .map(str::trim)
                .any(|line| line == "[workspace]" || line.starts_with("[workspace."))
        })
    };
    let manifest = std::fs::read_to_string(package.join("Cargo.toml")).ok()?;
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && line.starts_with("workspace") && line.contains('=') {
            return None;
        }
    }
    if has_workspace_table(package) {
        return Some(package.to_path_buf());
    }
    Some(
        folders
            .find(|dir| has_workspace_table(dir))
            .unwrap_or(package)
            .to_path_buf(),
    )
}

fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn affected(args: &[String]) -> Result<ExitCode, String> {
    let (build_args, plan_args) = match args.iter().position(|arg| arg == "--") {
        Some(split) => (&args[..split], &args[split + 1..]),
        None => (args, &[][..]),
    };
    let (build_args, variants) = split_variants(build_args)?;
    let build_args = build_args.as_slice();
    let root = workspace_root()?;
    // A folder of its own keeps normal builds untouched (the flags differ).
    let target = std::env::var_os("TESTRIG_COVERAGE_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("testrig-coverage"));
    let me = std::env::current_exe()
        .map_err(|error| format!("failed to find cargo-testrig itself: {error}"))?;
    let snapshots = target.join("testrig-snapshots");
    let mut attempt = 1;
    let (executable, build) = loop {
        let (executable, build) = build_plan(&root, &target, &snapshots, &me, build_args)?;
        // Cargo names the outputs of a package alike in every checkout, and judges them
        // fresh by modification times: in a target folder that two checkouts share, the
        // binary can be the other checkout's. Its results would not be this code's.
        if let Some(foreign) = build.files.keys().find(|path| !path.starts_with(&root)) {
            return Err(format!(
                "the instrumented plan in `{}` was compiled from another checkout (`{}`), which shares that target folder; give each checkout a coverage target folder of its own (unset TESTRIG_COVERAGE_TARGET_DIR, or set it per checkout)",
                target.display(),
                foreign.display()
            ));
        }
        let changed = build.changed_files();
        if changed.is_empty() {
            break (executable, build);
        }
        let shown: Vec<String> = changed
            .iter()
            .map(|path| {
                path.strip_prefix(&root)
                    .unwrap_or(path)
                    .display()
                    .to_string()
            })
            .collect();
        if attempt == BUILD_ATTEMPTS {
            // The plan notices too, and records nothing.
            eprintln!(
                "cargo testrig: {} changed during each of {BUILD_ATTEMPTS} builds; running without recording",
                shown.join(", ")
            );
            break (executable, build);
        }
        eprintln!(
            "cargo testrig: {} changed during the build; building again",
            shown.join(", ")
        );
        attempt += 1;
    };
    let merged = snapshots.join(format!("plan-{}.json", std::process::id()));
    build.write(&merged)?;
    let mut variant = run_variant(&root, &target, build_args, &build);
    for extra in &variants {
        variant.push_str("; ");
        variant.push_str(extra);
    }
    // Profiles of earlier versions, which had the plan dump one at exit.
    if let Ok(entries) = std::fs::read_dir(&target) {
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("exit-") && name.ends_with(".profraw") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let status = Command::new(&executable)
        .arg("--affected")
        .args(plan_args)
        // This command runs the plan, not cargo-nextest, even when a test nextest runs
        // started it: the plan would take nextest's variable for its runner and run on
        // threads, in a runpath per nextest test.
        .env_remove("NEXTEST_RUN_ID")
        .env(RUN_VARIANT_VARIABLE, variant)
        .env(BUILD_SNAPSHOT_VARIABLE, &merged)
        .status();
    let _ = std::fs::remove_file(&merged);
    let status = status.map_err(|error| format!("failed to run `{executable}`: {error}"))?;
    Ok(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
}

/// Builds the instrumented plan; its executable and the merged snapshot of the sources its
/// workspace crates were compiled from.
fn build_plan(
    root: &Path,
    target: &Path,
    snapshots: &Path,
    me: &Path,
    build_args: &[String],
) -> Result<(String, BuildSnapshot), String> {
    let output = Command::new(cargo())
        .args([
            "test",
            "--no-run",
            "--message-format",
            "json-render-diagnostics",
        ])
        .args(build_args)
        .env("CARGO_TARGET_DIR", target)
        .env("RUSTC_WRAPPER", me)
        .env(WRAPPER_MARK, "1")
        .env(WORKSPACE_ROOT, root)
        .env(SNAPSHOT_DIR, snapshots)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("failed to run cargo: {error}"))?;
    if !output.status.success() {
        return Err("the instrumented build failed (see the compiler's messages above)".into());
    }
    let messages: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .collect();
    let executables: Vec<String> = messages
        .iter()
        .filter(|message| message["profile"]["test"] == true)
        .filter(|message| {
            message["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "test"))
        })
        .filter_map(|message| message["executable"].as_str().map(str::to_string))
        .collect();
    let [executable] = executables.as_slice() else {
        return Err(format!(
            "expected one plan binary, the build produced {}: name it with --test NAME",
            executables.len()
        ));
    };
    // Each output is `[lib]STEM[.ext]`; the wrapper named the crate's snapshot `STEM.json`
    // (fresh crates keep the one from the build that compiled them).
    let mut build = BuildSnapshot::default();
    for message in &messages {
        for file in message["filenames"].as_array().into_iter().flatten() {
            let Some(name) = file.as_str().and_then(|file| Path::new(file).file_name()) else {
                continue;
            };
            let name = name.to_string_lossy();
            let stem = name.split_once('.').map_or(&*name, |(stem, _)| stem);
            for candidate in [stem, stem.strip_prefix("lib").unwrap_or(stem)] {
                let path = snapshots.join(format!("{candidate}.json"));
                if path.is_file() {
                    build.merge(BuildSnapshot::read(&path)?);
                    break;
                }
            }
        }
    }
    Ok((executable.clone(), build))
}

/// Takes the `--variant TEXT` options (what else must match for recorded coverage to be
/// reused, like testmon's `run_variant_expression`: `--variant "db=$DB_VERSION"`) out of the
/// arguments meant for cargo.
fn split_variants(args: &[String]) -> Result<(Vec<String>, Vec<String>), String> {
    let mut cargo_args = Vec::new();
    let mut variants = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--variant" {
            let value = rest
                .next()
                .ok_or("--variant needs a value, e.g. --variant \"db=$DB_VERSION\"")?;
            variants.push(value.clone());
        } else if let Some(value) = arg.strip_prefix("--variant=") {
            variants.push(value.to_string());
        } else {
            cargo_args.push(arg.clone());
        }
    }
    Ok((cargo_args, variants))
}

/// `rustc -vV` of the compiler cargo built with: from cargo's own cache in the target folder
/// (`.rustc_info.json`, which cargo clears whenever the compiler changes, so after a build it
/// describes the compiler of that build), else asked of the compiler (`$RUSTC`, or the
/// `rustc` beside `$CARGO`) and cached under the binary's path, size and modification time.
fn rustc_version(target: &Path) -> String {
    cargo_cached_rustc_version(target).unwrap_or_else(|| asked_rustc_version(target))
}

/// The `rustc -vV` output cargo cached in `target`, if any.
fn cargo_cached_rustc_version(target: &Path) -> Option<String> {
    let text = std::fs::read_to_string(target.join(".rustc_info.json")).ok()?;
    let info: serde_json::Value = serde_json::from_str(&text).ok()?;
    let outputs = info.get("outputs")?.as_object()?;
    let mut versions = outputs
        .values()
        .filter(|output| output.get("success").and_then(serde_json::Value::as_bool) == Some(true))
        .filter_map(|output| output.get("stdout")?.as_str())
        .filter(|stdout| stdout.starts_with("rustc ") && stdout.contains("\nhost: "));
    let version = versions.next()?;
    // Two compilers in one cache would be a cache this code does not understand.
    versions.next().is_none().then(|| version.to_string())
}

fn asked_rustc_version(target: &Path) -> String {
    let rustc: PathBuf = std::env::var_os("RUSTC")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO")
                .map(|cargo| Path::new(&cargo).with_file_name("rustc"))
                .filter(|rustc| rustc.is_file())
        })
        .unwrap_or_else(|| "rustc".into());
    let key = std::fs::metadata(&rustc).ok().map(|meta| {
        format!(
            "{} {} {:?}",
            rustc.display(),
            meta.len(),
            meta.modified().ok()
        )
    });
    let cache = target.join("testrig-snapshots").join("rustc-version.txt");
    if let Some(key) = &key
        && let Ok(text) = std::fs::read_to_string(&cache)
        && let Some((cached_key, version)) = text.split_once('\n')
        && cached_key == key
    {
        return version.to_string();
    }
    let version = Command::new(&rustc)
        .arg("-vV")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    if let Some(key) = key
        && !version.is_empty()
        && let Some(folder) = cache.parent()
        && std::fs::create_dir_all(folder).is_ok()
    {
        // A cache: when it cannot be written, the next run asks rustc again.
        let _ = std::fs::write(&cache, format!("{key}\n{version}"));
    }
    version
}

/// Cargo options that change what it prints or how it schedules, never the binary.
const COSMETIC_FLAGS: [&str; 8] = [
    "-q",
    "--quiet",
    "-v",
    "-vv",
    "--verbose",
    "--timings",
    "--frozen",
    "--locked",
];
/// The same, with a value.
const COSMETIC_OPTIONS: [&str; 4] = ["--color", "-j", "--jobs", "--message-format"];

/// The cargo arguments that can change the binary: [`COSMETIC_FLAGS`] and
/// [`COSMETIC_OPTIONS`] left out.
fn binary_args(build_args: &[String]) -> Vec<&str> {
    let mut kept = Vec::new();
    let mut rest = build_args.iter();
    while let Some(arg) = rest.next() {
        if COSMETIC_FLAGS.contains(&arg.as_str()) || arg == "--offline" {
            continue;
        }
        if COSMETIC_OPTIONS.contains(&arg.as_str()) {
            rest.next();
            continue;
        }
        let jobs_attached = arg
            .strip_prefix("-j")
            .is_some_and(|count| !count.is_empty() && count.chars().all(|c| c.is_ascii_digit()));
        if jobs_attached
            || COSMETIC_OPTIONS
                .iter()
                .any(|option| arg.starts_with(&format!("{option}=")))
        {
            continue;
        }
        kept.push(arg.as_str());
    }
    kept
}

/// What must match for recorded coverage to be reused: toolchain, host and target, profile,
/// rustc flags, the features every workspace crate was compiled with (defaults declared in
/// any Cargo.toml included: the compiler was given them), the lock file, and the cargo
/// arguments that can change the binary.
fn run_variant(root: &Path, target: &Path, build_args: &[String], build: &BuildSnapshot) -> String {
    let rustc = rustc_version(target);
    let lock = std::fs::read(root.join("Cargo.lock")).unwrap_or_default();
    let lock_digest = digest_hex(&lock);
    let line = |name: &str| {
        rustc
            .lines()
            .find(|line| line.starts_with(name))
            .map_or_else(|| format!("{name} ?"), str::to_string)
    };
    let args = binary_args(build_args);
    let value = |flag: &str| {
        args.windows(2)
            .find(|w| w[0] == flag)
            .map(|w| w[1].to_string())
            .or_else(|| {
                args.iter()
                    .find_map(|arg| arg.strip_prefix(&format!("{flag}=")).map(str::to_string))
            })
    };
    let profile = value("--profile").unwrap_or_else(|| {
        if args.iter().any(|arg| *arg == "--release" || *arg == "-r") {
            "release".into()
        } else {
            "dev".into()
        }
    });
    let build_target = value("--target")
        .or_else(|| std::env::var("CARGO_BUILD_TARGET").ok())
        .unwrap_or_else(|| "host".into());
    let flags: Vec<String> = [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
    ]
    .iter()
    .filter_map(|name| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.is_empty())
            .map(|value| format!("{name}={value:?}"))
    })
    .collect();
    let features: Vec<String> = build
        .features
        .iter()
        .map(|(krate, features)| format!("{krate}[{}]", features.join(",")))
        .collect();
    format!(
        "{}; {}; {}; target: {build_target}; profile: {profile}; flags: {}; features: {}; args: {}; lock: {lock_digest}",
        line("release:"),
        line("commit-hash:"),
        line("host:"),
        flags.join(" "),
        features.join(" "),
        args.join(" ")
    )
}

/// `cargo testrig watch`: `affected` now and after every saved change under the workspace
/// (debounced; the target folder is ignored), until Ctrl-C.
fn watch(args: &[String]) -> Result<(), String> {
    use notify_debouncer_mini::notify::RecursiveMode;

    let root = workspace_root()?;
    let target = root.join("target");
    let (changes, events) = std::sync::mpsc::channel();
    let mut debouncer =
        notify_debouncer_mini::new_debouncer(std::time::Duration::from_millis(300), changes)
            .map_err(|error| format!("failed to watch `{}`: {error}", root.display()))?;
    debouncer
        .watcher()
        .watch(&root, RecursiveMode::Recursive)
        .map_err(|error| format!("failed to watch `{}`: {error}", root.display()))?;
    println!(
        "cargo testrig watch: watching {} (Ctrl-C stops)",
        root.display()
    );
    let mut last_run = std::time::SystemTime::now();
    report_run(affected(args));
    for batch in events {
        let Ok(batch) = batch else { continue };
        // The watcher also reports files that were only opened (by the build, the
        // fingerprinting or the plan itself): only a file written since the last run started,
        // or removed, is a change.
        let changed: Vec<&Path> = batch
            .iter()
            .map(|event| event.path.as_path())
            .filter(|path| {
                !path.starts_with(&target)
                    && !path.components().any(|part| part.as_os_str() == ".git")
            })
            .filter(|path| match std::fs::metadata(path) {
                Ok(meta) => meta.modified().is_ok_and(|modified| modified >= last_run),
                Err(_) => true,
            })
            .collect();
        // Name a changed file rather than the folder it is in.
        let Some(first) = changed
            .iter()
            .find(|path| path.is_file())
            .or(changed.first())
        else {
            continue;
        };
        let shown = first
            .strip_prefix(&root)
            .unwrap_or(first)
            .display()
            .to_string();
        let more = if changed.len() > 1 {
            format!(" and {} more", changed.len() - 1)
        } else {
            String::new()
        };
        println!("cargo testrig watch: {shown}{more} changed");
        last_run = std::time::SystemTime::now();
        report_run(affected(args));
    }
    Ok(())
}

fn report_run(outcome: Result<ExitCode, String>) {
    match outcome {
        Ok(code) if code == ExitCode::SUCCESS => {
            println!("cargo testrig watch: passed; waiting for changes")
        }
        Ok(_) => println!("cargo testrig watch: failed; waiting for changes"),
        Err(message) => println!("cargo testrig watch: {message}; waiting for changes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(name: &str, manifests: &[(&str, &str)]) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("testrig-layout-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (folder, text) in manifests {
            std::fs::create_dir_all(root.join(folder).join("src")).unwrap();
            std::fs::write(root.join(folder).join("Cargo.toml"), text).unwrap();
        }
        root
    }

    #[test]
    fn the_workspace_root_is_found_as_cargo_finds_it() {
        let root = layout(
            "members",
            &[
                ("", "[workspace]\nmembers = [\"crates/a\"]\n"),
                ("crates/a", "[package]\nname = \"a\"\n"),
            ],
        );
        let from_member_source = root.join("crates/a/src");
        assert_eq!(find_workspace_root(&from_member_source), Some(root.clone()));
        assert_eq!(find_workspace_root(&root), Some(root.clone()));
        std::fs::remove_dir_all(&root).unwrap();

        let root = layout("alone", &[("pkg", "[package]\nname = \"p\"\n")]);
        assert_eq!(
            find_workspace_root(&root.join("pkg/src")),
            Some(root.join("pkg")),
            "a package without a workspace is its own root"
        );
        std::fs::remove_dir_all(&root).unwrap();

        let root = layout(
            "pointer",
            &[(
                "pkg",
                "[package]\nname = \"p\"\nworkspace = \"../elsewhere\"\n",
            )],
        );
        assert_eq!(
            find_workspace_root(&root.join("pkg")),
            None,
            "package.workspace: ask cargo"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn cosmetic_cargo_flags_are_no_part_of_the_variant() {
        let args: Vec<String> = [
            "-q",
            "--color",
            "never",
            "-j4",
            "--jobs=2",
            "--release",
            "--features",
            "x",
            "--locked",
        ]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
        assert_eq!(binary_args(&args), ["--release", "--features", "x"]);
    }

    #[test]
    fn dep_info_names_every_dependency_once() {
        let text = "/t/deps/a-1.d: src/lib.rs src/m.rs data/x\\ y.txt\n\nsrc/lib.rs:\nsrc/m.rs:\ndata/x\\ y.txt:\n# env-dep:OUT_DIR=/t\n";
        let files = dep_info_files(text);
        assert_eq!(
            files.into_iter().collect::<Vec<_>>(),
            [
                PathBuf::from("data/x y.txt"),
                PathBuf::from("src/lib.rs"),
                PathBuf::from("src/m.rs")
            ]
        );
    }

    #[test]
    fn the_compiler_version_comes_from_cargos_cache_when_it_holds_one() {
        let target = layout("rustc-info", &[]);
        std::fs::create_dir_all(&target).unwrap();
        assert_eq!(cargo_cached_rustc_version(&target), None, "no cache yet");
        let version = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\nhost: x86_64-unknown-linux-gnu\nrelease: 1.95.0\n";
        let info = serde_json::json!({
            "rustc_fingerprint": 1,
            "outputs": {
                "1": { "success": true, "status": "", "code": 0, "stdout": version, "stderr": "" },
                "2": { "success": true, "status": "", "code": 0, "stdout": "___\nlib___.rlib\n", "stderr": "" }
            },
            "successes": {}
        });
        std::fs::write(target.join(".rustc_info.json"), info.to_string()).unwrap();
        assert_eq!(
            cargo_cached_rustc_version(&target).as_deref(),
            Some(version)
        );
        std::fs::write(target.join(".rustc_info.json"), "{ not json").unwrap();
        assert_eq!(cargo_cached_rustc_version(&target), None);
    }
}

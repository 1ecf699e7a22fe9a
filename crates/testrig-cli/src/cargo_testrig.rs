//! `cargo testrig affected [--test NAME | -p PKG] [-- plan args]`: builds the plan with
//! coverage instrumentation applied only to the workspace's own crates (not dependencies,
//! build scripts or proc macros), in a target folder of its own so normal builds are
//! untouched, then runs it with `--affected`.
//!
//! The same binary doubles as the `RUSTC_WRAPPER` that adds the flags: cargo calls it with
//! the real rustc as the first argument. The workspace's crates (every member, found by its
//! manifest folder) get `-C instrument-coverage`; every crate gets `--cfg testrig_coverage`,
//! which switches on testrig's recorder (a dependency of the plan, never instrumented).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use md5::{Digest, Md5};

const WRAPPER_MARK: &str = "TESTRIG_COVERAGE_WRAPPER";
/// The workspace root, passed to the wrapper so that it can tell the workspace's crates.
const WORKSPACE_ROOT: &str = "TESTRIG_WORKSPACE_ROOT";

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
    if !build_script && !proc_macro && !probe {
        command.args(RECORDER);
        let crate_name = text
            .windows(2)
            .find(|w| w[0] == "--crate-name")
            .map(|w| w[1].as_str());
        if is_workspace_crate() && !crate_name.is_some_and(|name| FRAMEWORK.contains(&name)) {
            command.args(INSTRUMENT);
        }
    }
    match command.status() {
        Ok(status) => ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8),
        Err(error) => {
            eprintln!(
                "error: cargo testrig could not run rustc `{}`: {error}",
                text[0]
            );
            ExitCode::from(2)
        }
    }
}

fn workspace_root() -> Result<PathBuf, String> {
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
    let output = Command::new(cargo())
        .args([
            "test",
            "--no-run",
            "--message-format",
            "json-render-diagnostics",
        ])
        .args(build_args)
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTC_WRAPPER", &me)
        .env(WRAPPER_MARK, "1")
        .env(WORKSPACE_ROOT, &root)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("failed to run cargo: {error}"))?;
    if !output.status.success() {
        return Err("the instrumented build failed (see the compiler's messages above)".into());
    }
    let executables: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["profile"]["test"] == true
        })
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
    let mut variant = run_variant(&root, build_args);
    for extra in &variants {
        variant.push_str("; ");
        variant.push_str(extra);
    }
    let status = Command::new(executable)
        .arg("--affected")
        .args(plan_args)
        .env("TESTRIG_RUN_VARIANT", variant)
        .env("LLVM_PROFILE_FILE", target.join("exit-%p.profraw"))
        .status()
        .map_err(|error| format!("failed to run `{executable}`: {error}"))?;
    Ok(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
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

/// What must match for recorded coverage to be reused: toolchain, flags, the lock file.
fn run_variant(root: &Path, build_args: &[String]) -> String {
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    let lock = std::fs::read(root.join("Cargo.lock")).unwrap_or_default();
    let lock_digest: String = Md5::digest(&lock)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let release = rustc
        .lines()
        .find(|line| line.starts_with("release:"))
        .unwrap_or("release: ?");
    let host = rustc
        .lines()
        .find(|line| line.starts_with("host:"))
        .unwrap_or("host: ?");
    format!(
        "{release}; {host}; args: {}; lock: {lock_digest}",
        build_args.join(" ")
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

//! `--affected`: choosing the testcases to run from the dependency database, and recording
//! what each testcase depended on.
//!
//! While recording, the coverage counters are snapshotted and reset at every scope
//! boundary the runner reports, and what ran in each window is charged to the testcases it
//! can affect: before the first boundary (the plan's `main`, suite constructors, plan and
//! environment definitions) to every testcase of the plan; a MultiTest's environment start
//! and stop to every testcase of that MultiTest; suite setup and teardown to every testcase
//! of that suite; a testcase's window (its pre/post-testcase hooks included) to itself. A
//! testcase's record is its own window and every window charged to it. Testcases run one at
//! a time in a process: the counters are process-wide and not atomic. In worker processes
//! each worker reads its own counters at the same boundaries and sends each window's
//! functions as positions of the binary's counter index ([`WindowCoverage`]); the plan,
//! the same binary, maps them to sources and charges them as if it had read them, so the
//! MultiTests record in parallel.
//!
//! Only testcases that ran to completion get new records (not those filtered out, skipped,
//! timed out, cancelled or still running when the run was interrupted); the others keep
//! theirs. Nothing is recorded when a source differs from what the binary was compiled
//! from.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread::JoinHandle;

use testrig_model::Status;

use crate::impact::build::{BUILD_SNAPSHOT_VARIABLE, BuildSnapshot};
use crate::impact::coverage::{check_version, is_available};
use crate::impact::database::{DatabaseState, ImpactDatabase, RunWriter};
use crate::impact::fingerprint::{
    Fingerprints, PARSER_STACK, UnitKind, UnitsByFile, WorkspaceSources, source_key,
};
use crate::impact::parse_cache::ParseCache;
use crate::impact::profile::{CoverageMap, FunctionSpan, position_span, take_executed_positions};
use crate::impact::reload::database_path;
use crate::impact::selection::{Reason, select};
use crate::runner::{CoverageSink, TestcaseEnd, TestcaseObserver, WindowCoverage};

/// The environment variable `cargo testrig affected` sets to the run variant (toolchain,
/// target, profile, flags, features, lock file); recorded coverage is only reused within
/// one variant, and each variant has a database of its own.
pub const RUN_VARIANT_VARIABLE: &str = "TESTRIG_RUN_VARIANT";

/// The selection for this run and the state needed to record it.
#[derive(Debug)]
pub struct AffectedRun {
    root: PathBuf,
    database_path: PathBuf,
    variant: String,
    /// The sources' fingerprints; computed while the testcases run when nothing needs them
    /// to select (there is no database yet), since only recording does.
    fingerprints: OnceLock<Fingerprints>,
    pending: Mutex<Option<JoinHandle<FingerprintOutcome>>>,
    /// Why the fingerprints computed while the testcases ran could not be.
    late_problem: Mutex<Option<String>>,
    /// The inputs digest of each testcase's test, stored with what it executed.
    inputs: BTreeMap<String, Arc<str>>,
    /// Every testcase of the plan, whatever the filters: records of others are dropped.
    plan_testcases: Option<BTreeSet<String>>,
    /// Every testcase of the plan with why it is selected (empty: not affected); `None`
    /// when everything runs (see [`everything`](Self::everything)). The caller may take
    /// them once it has used them.
    pub reasons: Option<BTreeMap<String, Vec<Reason>>>,
    /// Whether any testcase is selected.
    any_selected: bool,
    /// Why everything runs, when it does (no usable database, unparsable sources).
    pub everything: Option<String>,
    /// Why nothing is recorded, when it is not (a source changed since the build).
    pub not_recording: Option<String>,
}

/// What a save wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// Testcases that ran to completion and got new records.
    pub recorded: usize,
    /// Testcases that started but did not complete: they keep their previous records.
    pub incomplete: usize,
    /// Why the records hold files but no functions (the sources could not be
    /// fingerprinted): the next run selects every testcase again.
    pub warning: Option<String>,
}

/// The first half of `--affected`, started before the plan's selection is built: reads
/// the build snapshot and the sources the binary was compiled from, and fingerprints them on
/// a thread of its own; [`AffectedRun::prepare`] waits for the fingerprints only when the
/// selection needs them (recording alone can wait until the testcases have run).
#[derive(Debug)]
pub struct AffectedSources {
    plan: String,
    root: PathBuf,
    checked: mpsc::Receiver<Result<SourceCheck, String>>,
    fingerprints: JoinHandle<FingerprintOutcome>,
}

/// What the fingerprint thread ends with: `None` when the sources could not be read.
type FingerprintOutcome = Option<Result<Fingerprints, String>>;

/// What the reading of the sources found, before they are fingerprinted.
#[derive(Debug)]
struct SourceCheck {
    /// Why the sources could not be read.
    unreadable: Option<String>,
    /// Which sources differ from what the binary was compiled from.
    not_recording: Option<String>,
}

impl AffectedSources {
    /// Starts reading and fingerprinting the sources of `plan` under `workspace_root`.
    pub fn start(plan: &str, workspace_root: &Path) -> Result<AffectedSources, String> {
        if !is_available() {
            return Err(format!(
                "--affected needs a plan built with coverage instrumentation: run it with `cargo testrig affected --test <name>` (plan `{plan}` was built without it)"
            ));
        }
        check_version().map_err(|error| error.to_string())?;
        let (send, checked) = mpsc::channel();
        let root = workspace_root.to_path_buf();
        let fingerprints = std::thread::Builder::new()
            .name("testrig-fingerprint".into())
            .stack_size(PARSER_STACK)
            .spawn(move || match read_sources(&root) {
                Ok((sources, check)) => {
                    let _ = send.send(Ok(check));
                    sources.map(WorkspaceSources::fingerprint_on_this_thread)
                }
                Err(error) => {
                    let _ = send.send(Err(error));
                    None
                }
            })
            .map_err(|error| format!("failed to start the source reader: {error}"))?;
        Ok(AffectedSources {
            plan: plan.to_string(),
            root: workspace_root.to_path_buf(),
            checked,
            fingerprints,
        })
    }

    /// The workspace root.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Reads the build snapshot and the sources to fingerprint, and checks them against what
/// was compiled.
fn read_sources(root: &Path) -> Result<(Option<WorkspaceSources>, SourceCheck), String> {
    let build = match std::env::var_os(BUILD_SNAPSHOT_VARIABLE) {
        Some(path) => Some(BuildSnapshot::read(Path::new(&path))?),
        None => None,
    };
    // Only files the instrumented code was compiled from can hold code a testcase
    // executed: fingerprinting those (the coverage mapping's, and every source the compiler
    // read for a workspace crate, which includes files with items only), not every file
    // under the workspace, keeps start-up short in a large workspace. Code a build script
    // generated into the target folder counts like any source: testcases execute it.
    let mut files: BTreeSet<PathBuf> = CoverageMap::current()
        .map_err(|error| error.to_string())?
        .files()
        .into_iter()
        .map(Path::to_path_buf)
        .collect();
    files.extend(build.iter().flat_map(|build| build.files.keys().cloned()));
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|file| file.starts_with(root))
        .filter(|file| file.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    let data = build
        .as_ref()
        .map(BuildSnapshot::data_digests)
        .unwrap_or_default();
    let sources = match WorkspaceSources::read(root, &files, &data) {
        Ok(sources) => sources.with_parse_cache(ParseCache::of_running_binary()),
        Err(error) => {
            let check = SourceCheck {
                unreadable: Some(format!("the sources could not be fingerprinted ({error})")),
                not_recording: None,
            };
            return Ok((None, check));
        }
    };
    let not_recording = build.as_ref().and_then(|build| {
        let contents = sources.contents();
        let changed: Vec<String> = build
            .files
            .iter()
            .filter_map(|(path, digest)| {
                let key = source_key(root, path)?;
                let now = contents.get(&key)?;
                (now != digest).then_some(key)
            })
            .collect();
        (!changed.is_empty()).then(|| {
            format!(
                "{} changed since the plan was built; run again to record",
                changed.join(", ")
            )
        })
    });
    let check = SourceCheck {
        unreadable: None,
        not_recording,
    };
    Ok((Some(sources), check))
}

impl AffectedRun {
    /// Reads the database and decides what runs. `testcases` are the UIDs of every
    /// testcase the other filters selected, each with the digest of its test's declared
    /// inputs ([`inputs_digest`](crate::impact::inputs_digest)); `plan_testcases` every
    /// testcase of the plan (`None` when the filters selected all of them). Nothing is
    /// written.
    pub fn prepare(
        sources: AffectedSources,
        testcases: BTreeMap<String, Arc<str>>,
        plan_testcases: Option<BTreeSet<String>>,
    ) -> Result<AffectedRun, String> {
        let AffectedSources {
            plan,
            root,
            checked,
            fingerprints: pending,
        } = sources;
        let workspace_root = root.as_path();
        let check = checked
            .recv()
            .map_err(|_| "the source reader stopped unexpectedly".to_string())??;
        let variant = std::env::var(RUN_VARIANT_VARIABLE).unwrap_or_else(|_| "default".to_string());
        let database_path = database_path(workspace_root, &plan, &variant);
        let mut everything = check.unreadable;
        let not_recording = check.not_recording;
        let (database, state) = ImpactDatabase::open_to_select(&database_path, &variant)?;
        match &state {
            DatabaseState::Ready => {}
            DatabaseState::Missing => {
                everything.get_or_insert_with(|| {
                    "no coverage was recorded yet for this run variant".to_string()
                });
            }
            DatabaseState::Unusable(reason) => {
                everything.get_or_insert(format!("the impact database was unusable: {reason}"));
            }
        }
        let fingerprints = OnceLock::new();
        let mut pending = Some(pending);
        if state == DatabaseState::Ready && everything.is_none() {
            // Selecting compares them with the records: needed now.
            match pending.take().map(join_fingerprints) {
                Some(Some(Ok(done))) => {
                    let _ = fingerprints.set(done);
                }
                Some(Some(Err(error))) => {
                    everything = Some(format!("the sources could not be fingerprinted ({error})"));
                }
                _ => {}
            }
        }
        let reasons = match (&everything, database, fingerprints.get()) {
            (None, Some(database), Some(fingerprints)) => {
                let units: HashMap<&str, &str> = fingerprints
                    .units
                    .iter()
                    .filter(|unit| unit.kind == UnitKind::Function)
                    .map(|unit| (unit.key.as_str(), unit.fingerprint.as_str()))
                    .collect();
                let items: HashMap<&str, &str> = fingerprints
                    .items
                    .iter()
                    .map(|(file, digest)| (file.as_str(), digest.as_str()))
                    .collect();
                Some(select(
                    &testcases,
                    &database.testcases_changed(&units, &items)?,
                ))
            }
            // Everything runs: no reason per testcase is worth a string per testcase.
            _ => None,
        };
        Ok(AffectedRun {
            root: root.clone(),
            database_path,
            variant,
            fingerprints,
            pending: Mutex::new(pending),
            late_problem: Mutex::new(None),
            any_selected: reasons.as_ref().map_or(!testcases.is_empty(), |reasons| {
                reasons.values().any(|reasons| !reasons.is_empty())
            }),
            inputs: testcases,
            plan_testcases,
            reasons,
            everything,
            not_recording,
        })
    }

    /// The sources' fingerprints, waiting for them when they are computed in the
    /// background; empty when they could not be (records then hold files only, whose
    /// digests never match, so the next run selects everything again).
    fn fingerprints(&self) -> &Fingerprints {
        self.fingerprints.get_or_init(|| {
            let pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            match pending.and_then(join_fingerprints) {
                Some(Ok(fingerprints)) => fingerprints,
                Some(Err(error)) => {
                    *self
                        .late_problem
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(format!(
                        "the sources could not be fingerprinted ({error}): the records hold no functions, so the next --affected run runs everything"
                    ));
                    Fingerprints::default()
                }
                None => Fingerprints::default(),
            }
        })
    }
}

fn join_fingerprints(thread: JoinHandle<FingerprintOutcome>) -> FingerprintOutcome {
    thread
        .join()
        .unwrap_or_else(|_| Some(Err("the source parser panicked".to_string())))
}

impl AffectedRun {
    /// UIDs of the selected testcases; `None` when every testcase given to
    /// [`prepare`](Self::prepare) is.
    pub fn selected(&self) -> Option<BTreeSet<String>> {
        let reasons = self.reasons.as_ref()?;
        Some(
            reasons
                .iter()
                .filter(|(_, reasons)| !reasons.is_empty())
                .map(|(uid, _)| uid.clone())
                .collect(),
        )
    }

    /// Why each testcase runs (nothing for those that do not): what `--explain` prints.
    pub fn explain(&self) -> Vec<(&str, Vec<String>)> {
        match &self.reasons {
            Some(reasons) => reasons
                .iter()
                .filter(|(_, reasons)| !reasons.is_empty())
                .map(|(uid, reasons)| {
                    (
                        uid.as_str(),
                        reasons.iter().map(ToString::to_string).collect(),
                    )
                })
                .collect(),
            None => self
                .inputs
                .keys()
                .map(|uid| (uid.as_str(), vec![Reason::New.to_string()]))
                .collect(),
        }
    }

    /// Whether running the selection records anything: something is selected and the
    /// sources are those the binary was built from.
    pub fn records(&self) -> bool {
        self.not_recording.is_none() && self.any_selected
    }

    /// The recorder to attach to the run.
    pub fn recorder(&self) -> CoverageRecorder {
        CoverageRecorder {
            state: Mutex::new(RecorderState::default()),
            problems: Mutex::new(Vec::new()),
            completed: Mutex::new(None),
            #[cfg(test)]
            script: None,
        }
    }

    /// Starts writing the records while the run goes on: each testcase that runs to
    /// completion is written as soon as the fingerprints are ready, so only the scope
    /// windows and the commit are left when the run ends. The records land in one
    /// transaction once [`CoverageRecorder::finish`] has been called, or not at all.
    pub fn start_writer(
        self: &Arc<Self>,
        recorder: &Arc<CoverageRecorder>,
    ) -> JoinHandle<Result<Saved, String>> {
        let (send, completed) = mpsc::channel();
        *recorder
            .completed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(send);
        let (affected, recorder) = (Arc::clone(self), Arc::clone(recorder));
        let spawned = std::thread::Builder::new()
            .name("testrig-impact-writer".into())
            .spawn(move || {
                let saved = affected.write(&recorder, completed);
                // A string or two per testcase: not freed while the plan waits for the save.
                crate::background::free_in_background((affected, recorder));
                saved
            });
        match spawned {
            Ok(thread) => thread,
            // Without a writer, the same work happens on a thread that only reports why.
            Err(error) => std::thread::spawn(move || {
                Err(format!(
                    "failed to start the impact database writer: {error}"
                ))
            }),
        }
    }

    /// Writes the records of the testcases that ran to completion, in one transaction, after
    /// the run (what [`start_writer`](Self::start_writer) does while it runs).
    pub fn save(&self, recorder: &CoverageRecorder) -> Result<Saved, String> {
        let (send, completed) = mpsc::channel();
        {
            let state = recorder.lock();
            let mut new_spans = state.spans.clone();
            let batch = state
                .records
                .iter()
                .filter_map(|(uid, recorded)| {
                    Some(CompletedTestcase {
                        uid: uid.clone(),
                        failed: recorded.failed,
                        functions: recorded.executed.clone()?,
                        new_spans: std::mem::take(&mut new_spans),
                    })
                })
                .collect();
            let _ = send.send(batch);
        }
        drop(send);
        recorder.finish();
        self.write(recorder, completed)
    }

    /// Writes each completed testcase as it arrives, then, once the run is over, the scope
    /// windows, and commits.
    fn write(
        &self,
        recorder: &CoverageRecorder,
        completed: mpsc::Receiver<Vec<CompletedTestcase>>,
    ) -> Result<Saved, String> {
        let fingerprints = self.fingerprints();
        let (mut database, _) = ImpactDatabase::open(&self.database_path, &self.variant)?;
        let mut writer = database.writer()?;
        let mut pairs = PairMapper::new(&self.root, fingerprints);
        // The window rows of each scope owner, reserved when a testcase first needs them.
        let mut windows: HashMap<String, i64> = HashMap::new();
        // Testcases come in run order, those of one suite after each other: the windows of
        // the last parent are reused.
        // The windows charged to the last parent.
        let mut last_parent = String::new();
        let mut charged: Vec<i64> = Vec::new();
        let (mut units, mut files) = (Vec::new(), Vec::new());
        let mut recorded = 0;
        for batch in completed {
            for testcase in batch {
                pairs.spans.extend(testcase.new_spans);
                pairs.ids(&mut writer, &testcase.functions, &mut units, &mut files)?;
                let uid = testcase.uid.as_str();
                let parent = uid.rsplit_once('/').map_or("", |(parent, _)| parent);
                if charged.is_empty() || last_parent != parent {
                    // The windows charged to it: the plan's (""), and each ancestor's (its test,
                    // its suite, …), whose UIDs are the prefixes of its own up to a `/`.
                    charged.clear();
                    let owners =
                        std::iter::once("").chain(uid.match_indices('/').map(|(at, _)| &uid[..at]));
                    for owner in owners {
                        let id = match windows.get(owner) {
                            Some(&id) => id,
                            None => {
                                let id = writer.reserve_window()?;
                                windows.insert(owner.to_string(), id);
                                id
                            }
                        };
                        charged.push(id);
                    }
                    parent.clone_into(&mut last_parent);
                }
                let inputs = self.inputs.get(uid).map_or("", |digest| &**digest);
                writer.record(uid, testcase.failed, inputs, &units, &files, &charged)?;
                recorded += 1;
            }
            writer.end_batch()?;
        }
        // The channel is closed: the run is over and the recorder closed its last window.
        let state = recorder.lock();
        if let Some(problem) = &state.broken {
            return Err(format!(
                "nothing was recorded: the coverage of `{problem}` could not be read"
            ));
        }
        let known = pairs.spans.len();
        pairs.spans.extend(state.spans.iter().skip(known).copied());
        for (owner, &window) in &windows {
            let functions: Vec<u32> = state
                .windows
                .get(owner)
                .map(|functions| functions.iter().copied().collect())
                .unwrap_or_default();
            pairs.ids(&mut writer, &functions, &mut units, &mut files)?;
            writer.fill_window(window, &units, &files)?;
        }
        let incomplete = state.records.len().saturating_sub(recorded);
        drop(state);
        let in_plan = |uid: &str| match &self.plan_testcases {
            Some(plan) => plan.contains(uid),
            None => self.inputs.contains_key(uid),
        };
        writer.finish(Some(&in_plan))?;
        Ok(Saved {
            recorded,
            incomplete,
            warning: self
                .late_problem
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        })
    }
}

/// A testcase that ran to completion, as the recorder hands it to the writer.
#[derive(Debug)]
struct CompletedTestcase {
    uid: String,
    failed: bool,
    /// What its own window executed, as indices of the recorder's spans.
    functions: Vec<u32>,
    /// The spans the recorder met since its last message, in order.
    new_spans: Vec<&'static FunctionSpan>,
}

/// Maps executed functions to the database ids of their (unit, fingerprint) and (file,
/// digest) pairs, each function once.
struct PairMapper<'a> {
    root: &'a Path,
    fingerprints: &'a Fingerprints,
    by_file: UnitsByFile<'a>,
    keys: HashMap<&'static Path, Option<String>>,
    /// Every span the recorder met, by function index.
    spans: Vec<&'static FunctionSpan>,
    /// Per function index mapped so far: its file pair and unit pair (`None`: not the
    /// user's source).
    mapped: Vec<Option<(i64, Option<i64>)>>,
}

impl<'a> PairMapper<'a> {
    fn new(root: &'a Path, fingerprints: &'a Fingerprints) -> PairMapper<'a> {
        PairMapper {
            root,
            fingerprints,
            by_file: UnitsByFile::new(&fingerprints.units),
            keys: HashMap::new(),
            spans: Vec::new(),
            mapped: Vec::new(),
        }
    }

    /// The unit and file pair ids of what `functions` executed, sorted, each once, into
    /// `units` and `files` (cleared first: one pair of buffers serves every testcase).
    fn ids(
        &mut self,
        writer: &mut RunWriter,
        functions: &[u32],
        units: &mut Vec<i64>,
        files: &mut Vec<i64>,
    ) -> Result<(), String> {
        units.clear();
        files.clear();
        for &function in functions {
            while self.mapped.len() <= function as usize {
                let span = *self.spans.get(self.mapped.len()).ok_or_else(|| {
                    format!("the recorder lost the source span of function {function}")
                })?;
                let pair = self.map(writer, span)?;
                self.mapped.push(pair);
            }
            if let Some((file, unit)) = self.mapped[function as usize] {
                files.push(file);
                units.extend(unit);
            }
        }
        for ids in [units, files] {
            ids.sort_unstable();
            ids.dedup();
        }
        Ok(())
    }

    fn map(
        &mut self,
        writer: &mut RunWriter,
        span: &'static FunctionSpan,
    ) -> Result<Option<(i64, Option<i64>)>, String> {
        // Dependencies and the standard library are not the user's sources.
        let Some(file) = self
            .keys
            .entry(span.file.as_path())
            .or_insert_with(|| source_key(self.root, &span.file))
            .clone()
        else {
            return Ok(None);
        };
        let unit = match self.by_file.unit_for_span(&file, span.lines) {
            Some(unit) => {
                let unit = &self.fingerprints.units[unit];
                Some(writer.unit_id(&unit.key, &unit.fingerprint)?)
            }
            None => None,
        };
        let digest = self
            .fingerprints
            .items
            .get(&file)
            .map_or("", String::as_str);
        Ok(Some((writer.file_id(&file, digest)?, unit)))
    }
}

/// Records, per testcase, the source units and files it executed, and what ran in each
/// scope around the testcases.
#[derive(Debug)]
pub struct CoverageRecorder {
    state: Mutex<RecorderState>,
    problems: Mutex<Vec<String>>,
    /// Where completed testcases go while the run goes on (see
    /// [`AffectedRun::start_writer`]).
    completed: Mutex<Option<mpsc::Sender<Vec<CompletedTestcase>>>>,
    /// What each window executed, in order, instead of the counters (unit tests).
    #[cfg(test)]
    script: Option<Mutex<std::collections::VecDeque<Vec<u32>>>>,
}

/// What the recorder has seen, kept as indices: a testcase runs in microseconds, so
/// functions are only mapped to sources and names written out when the run is saved.
#[derive(Debug, Default)]
struct RecorderState {
    /// The counters that moved in the last window (the buffer is reused).
    moved: Vec<usize>,
    /// Per position in the binary's counter index: the index in `spans` of that function,
    /// once it ran (`u32::MAX` before; capture code maps to `CAPTURE`).
    functions: Vec<u32>,
    /// Where each executed function is in the sources.
    spans: Vec<&'static FunctionSpan>,
    /// How many of `spans` went to the writer already.
    spans_sent: usize,
    /// Who the code running now is charged to: `""` the plan, a test or suite UID.
    owner: String,
    /// The owner to go back to when the testcase running now ends.
    outer: Option<String>,
    /// The functions executed in the windows of each scope owner (plan, tests, suites).
    windows: BTreeMap<String, BTreeSet<u32>>,
    /// Per testcase UID that started.
    records: BTreeMap<String, Recorded>,
    /// Completed testcases not handed to the writer yet: they go in batches, since waking
    /// the writer for each would cost more than writing it.
    unsent: Vec<CompletedTestcase>,
    /// A window whose coverage could not be read: nothing can be recorded safely.
    broken: Option<String>,
}

/// How many completed testcases go to the writer in one message.
const WRITER_BATCH: usize = 128;

/// A function position not met yet, and one of the capture code's (not the user's).
const UNSEEN: u32 = u32::MAX;
const CAPTURE: u32 = u32::MAX - 1;

#[derive(Debug)]
struct Recorded {
    failed: bool,
    /// The functions it executed, for [`AffectedRun::save`]; `None` when it did not run to
    /// completion (its previous record stays) or when the writer of
    /// [`AffectedRun::start_writer`] took them as it ended.
    executed: Option<Vec<u32>>,
}

impl CoverageRecorder {
    /// Ends the recording: what ran since the last boundary (the end of the run) is charged
    /// like plan set-up, and the writer learns that no testcase follows.
    pub fn finish(&self) {
        let mut state = self.lock();
        self.close_window(&mut state, None);
        self.send_unsent(&mut state);
        drop(state);
        self.completed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }

    /// Hands the completed testcases not sent yet to the writer.
    fn send_unsent(&self, state: &mut RecorderState) {
        if state.unsent.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut state.unsent);
        if let Ok(completed) = self.completed.lock()
            && let Some(completed) = completed.as_ref()
        {
            // A writer that gave up (its error is reported when it is joined) reads nothing.
            let _ = completed.send(batch);
        }
    }

    /// Problems met while recording (a snapshot that could not be decoded).
    pub fn problems(&self) -> Vec<String> {
        self.problems
            .lock()
            .map(|problems| problems.clone())
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecorderState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads and resets the counters: the functions that ran since the last boundary.
    fn take(&self, state: &mut RecorderState) -> Result<Vec<u32>, String> {
        #[cfg(test)]
        if let Some(script) = &self.script {
            let next = script.lock().ok().and_then(|mut script| script.pop_front());
            return next.ok_or_else(|| "the script ran out".to_string());
        }
        let positions = take_executed_positions(&mut state.moved).map_err(|e| e.to_string())?;
        Self::functions_at(state, positions.into_iter())
    }

    /// The recorder's function indices of the functions at these positions of the binary's
    /// counter index (this process's, or a worker's: the same binary), the capture code's
    /// own left out.
    fn functions_at(
        state: &mut RecorderState,
        positions: impl Iterator<Item = usize>,
    ) -> Result<Vec<u32>, String> {
        let RecorderState {
            functions, spans, ..
        } = state;
        let mut executed = Vec::with_capacity(positions.size_hint().0);
        for position in positions {
            if functions.len() <= position {
                functions.resize(position + 1, UNSEEN);
            }
            if functions[position] == UNSEEN {
                // Met for the first time: mapped to its source span once.
                functions[position] = match position_span(position).map_err(|e| e.to_string())? {
                    Some(span) => {
                        spans.push(span);
                        (spans.len() - 1) as u32
                    }
                    None => CAPTURE,
                };
            }
            if functions[position] != CAPTURE {
                executed.push(functions[position]);
            }
        }
        Ok(executed)
    }

    /// Charges what ran since the last boundary to the current owner and makes `next` the
    /// owner (unchanged with `None`).
    fn close_window(&self, state: &mut RecorderState, next: Option<&str>) {
        match self.take(state) {
            Ok(executed) => {
                if !executed.is_empty() {
                    let owner = state.owner.clone();
                    state.windows.entry(owner).or_default().extend(executed);
                }
            }
            Err(error) => {
                let owner = if state.owner.is_empty() {
                    "the plan's set-up".to_string()
                } else {
                    state.owner.clone()
                };
                self.problem(format!("coverage of `{owner}` could not be read: {error}"));
                state.broken.get_or_insert(owner);
            }
        }
        if let Some(next) = next {
            state.owner = next.to_string();
        }
    }

    fn problem(&self, problem: String) {
        if let Ok(mut problems) = self.problems.lock() {
            problems.push(problem);
        }
    }
}

impl TestcaseObserver for CoverageRecorder {
    fn scope(&self, uid: &str) {
        let mut state = self.lock();
        self.close_window(&mut state, Some(uid));
    }

    fn before(&self, uid: &str) {
        let mut state = self.lock();
        let outer = state.owner.clone();
        self.close_window(&mut state, Some(uid));
        state.outer = Some(outer);
    }

    fn after(&self, uid: &str, status: Status, completed: bool) {
        let mut state = self.lock();
        let taken = self.take(&mut state);
        let outer = state.outer.take().unwrap_or_default();
        state.owner = outer;
        let end = testcase_end(status, completed);
        self.record_testcase(&mut state, uid, end, taken);
    }
}

/// How a testcase ended, as far as its record is concerned: `completed` is false for a
/// testcase still running when the run was interrupted (it may have seen its environment
/// stop under it); a cancelled or skipped one did not run its code.
fn testcase_end(status: Status, completed: bool) -> TestcaseEnd {
    TestcaseEnd {
        failed: status.is_failure(),
        completed: completed && !matches!(status, Status::Cancelled | Status::Skipped),
    }
}

impl CoverageRecorder {
    /// Records what a testcase's window executed (its new record, when it completed).
    fn record_testcase(
        &self,
        state: &mut RecorderState,
        uid: &str,
        end: TestcaseEnd,
        taken: Result<Vec<u32>, String>,
    ) {
        let mut executed = match taken {
            Ok(executed) => end.completed.then_some(executed),
            Err(error) => {
                self.problem(format!("coverage of `{uid}` could not be read: {error}"));
                None
            }
        };
        if executed.is_some()
            && self
                .completed
                .lock()
                .is_ok_and(|completed| completed.is_some())
        {
            // The writer takes it from here: the record below only counts it.
            let new_spans = state.spans[state.spans_sent..].to_vec();
            state.spans_sent = state.spans.len();
            state.unsent.push(CompletedTestcase {
                uid: uid.to_string(),
                failed: end.failed,
                functions: executed.take().unwrap_or_default(),
                new_spans,
            });
            if state.unsent.len() >= WRITER_BATCH {
                self.send_unsent(state);
            }
        }
        state.records.insert(
            uid.to_string(),
            Recorded {
                failed: end.failed,
                executed,
            },
        );
    }
}

/// A recording run in worker processes: each worker reads its own counters (see
/// [`worker_coverage`]) and the plan's recorder takes what each window executed as if it
/// had read it itself.
impl CoverageSink for CoverageRecorder {
    fn absorb(&self, window: WindowCoverage) {
        let mut state = self.lock();
        let positions = window.positions.iter().map(|&position| position as usize);
        let functions = match window.error {
            Some(error) => Err(error),
            None => Self::functions_at(&mut state, positions),
        };
        match window.testcase {
            Some(end) => self.record_testcase(&mut state, &window.owner, end, functions),
            None => match functions {
                Ok(functions) => {
                    if !functions.is_empty() {
                        state
                            .windows
                            .entry(window.owner)
                            .or_default()
                            .extend(functions);
                    }
                }
                Err(error) => {
                    let owner = if window.owner.is_empty() {
                        "the plan's set-up".to_string()
                    } else {
                        window.owner
                    };
                    self.problem(format!("coverage of `{owner}` could not be read: {error}"));
                    state.broken.get_or_insert(owner);
                }
            },
        }
    }
}

/// The observer of a recording worker process: at every boundary the runner reports, it
/// reads and resets the worker's counters and sends what ran — as positions of the binary's
/// counter index — to the plan, whose recorder maps and charges them.
struct WorkerCoverage {
    send: Box<dyn Fn(WindowCoverage) + Send + Sync>,
    state: Mutex<WorkerCoverageState>,
}

#[derive(Default)]
struct WorkerCoverageState {
    moved: Vec<usize>,
    /// Who the code running now is charged to, and who to go back to after a testcase.
    owner: String,
    outer: Option<String>,
}

impl std::fmt::Debug for WorkerCoverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkerCoverage")
    }
}

/// The observer a recording worker runs its tests with; `send` carries each window to the
/// plan (see [`crate::runner::CoverageSink`]).
pub(crate) fn worker_coverage(
    send: Box<dyn Fn(WindowCoverage) + Send + Sync>,
) -> Arc<dyn TestcaseObserver> {
    Arc::new(WorkerCoverage {
        send,
        state: Mutex::new(WorkerCoverageState::default()),
    })
}

impl WorkerCoverage {
    /// Sends what ran since the last boundary, charged to `owner` (ended as `testcase`).
    fn close(&self, state: &mut WorkerCoverageState, owner: String, testcase: Option<TestcaseEnd>) {
        let (positions, error) = match take_executed_positions(&mut state.moved) {
            Ok(positions) => (
                positions
                    .into_iter()
                    .map(|position| position as u32)
                    .collect(),
                None,
            ),
            Err(error) => (Vec::new(), Some(error.to_string())),
        };
        // The gaps between testcases mostly execute nothing of the user's: not sent.
        if testcase.is_none() && positions.is_empty() && error.is_none() {
            return;
        }
        (self.send)(WindowCoverage {
            owner,
            testcase,
            positions,
            error,
        });
    }
}

impl WorkerCoverage {
    fn lock(&self) -> std::sync::MutexGuard<'_, WorkerCoverageState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends the window of the current owner and makes `uid` the owner; returns the one
    /// before.
    fn enter(&self, state: &mut WorkerCoverageState, uid: &str) -> String {
        let owner = std::mem::replace(&mut state.owner, uid.to_string());
        self.close(state, owner.clone(), None);
        owner
    }
}

impl TestcaseObserver for WorkerCoverage {
    fn scope(&self, uid: &str) {
        let mut state = self.lock();
        self.enter(&mut state, uid);
    }

    fn before(&self, uid: &str) {
        let mut state = self.lock();
        let outer = self.enter(&mut state, uid);
        state.outer = Some(outer);
    }

    fn after(&self, uid: &str, status: Status, completed: bool) {
        let mut state = self.lock();
        state.owner = state.outer.take().unwrap_or_default();
        self.close(
            &mut state,
            uid.to_string(),
            Some(testcase_end(status, completed)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::impact::fingerprint::SourceUnit;

    /// A function on line `line` of `src/lib.rs`.
    fn function(name: &str, line: u32) -> SourceUnit {
        SourceUnit {
            key: format!("src/lib.rs::{name}"),
            kind: UnitKind::Function,
            file: "src/lib.rs".into(),
            lines: (line, line),
            fingerprint: format!("print of {name}"),
        }
    }

    /// A run over functions named `names`, the n-th on line n + 1, recording into a database
    /// of its own named `name`.
    fn run(name: &str, names: &[&str]) -> AffectedRun {
        let units = names
            .iter()
            .zip(1..)
            .map(|(name, line)| function(name, line))
            .collect();
        AffectedRun {
            root: PathBuf::from("/w"),
            database_path: {
                let dir = std::env::temp_dir()
                    .join(format!("testrig-recording-{}-{name}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                dir.join("x.sqlite")
            },
            variant: "v".into(),
            fingerprints: OnceLock::from(Fingerprints {
                units,
                items: [("src/lib.rs".to_string(), "items".to_string())].into(),
                contents: BTreeMap::new(),
            }),
            pending: Mutex::new(None),
            late_problem: Mutex::new(None),
            inputs: BTreeMap::new(),
            plan_testcases: Some(
                ["T/S/a", "T/S/b", "U/S/c"]
                    .map(String::from)
                    .into_iter()
                    .collect(),
            ),
            reasons: None,
            any_selected: true,
            everything: None,
            not_recording: None,
        }
    }

    /// A recorder for `affected` that has met one function per unit, in unit order, and
    /// takes `windows` (function indices) in turn instead of reading the counters.
    fn scripted(affected: &AffectedRun, windows: Vec<Vec<u32>>) -> CoverageRecorder {
        let mut recorder = affected.recorder();
        recorder.script = Some(Mutex::new(windows.into()));
        let mut state = recorder.lock();
        for unit in &affected.fingerprints().units {
            state.spans.push(Box::leak(Box::new(FunctionSpan {
                file: PathBuf::from("/w").join(&unit.file),
                lines: unit.lines,
            })));
        }
        drop(state);
        recorder
    }

    #[test]
    fn scopes_are_charged_to_the_testcases_they_can_affect() {
        let names = [
            "main",
            "env_start",
            "setup",
            "a_body",
            "b_body",
            "teardown",
            "env_stop",
            "other",
            "c_body",
        ];
        let affected = Arc::new(run("scopes", &names));
        // One entry per window, in the order the runner reports the boundaries.
        let recorder = Arc::new(scripted(
            &affected,
            vec![
                vec![0], // plan set-up, before the first test
                vec![1], // T: environment start
                vec![2], // T/S: setup
                vec![3], // T/S/a (pre/post hooks included)
                vec![],  // T/S between testcases
                vec![4], // T/S/b, abandoned
                vec![5], // T/S: teardown
                vec![6], // T: environment stop
                vec![],  // plan, between tests
                vec![7], // U: another test's set-up
                vec![8], // U/S/c
                vec![],  // U
                vec![],  // the end of the run
            ],
        ));
        // Written while the run goes on, as a batch run does.
        let writer = affected.start_writer(&recorder);
        recorder.scope("T");
        recorder.scope("T/S");
        recorder.before("T/S/a");
        recorder.after("T/S/a", Status::Failed, true);
        recorder.before("T/S/b");
        recorder.after("T/S/b", Status::Error, false);
        recorder.scope("T");
        recorder.scope("");
        recorder.scope("U");
        recorder.before("U/S/c");
        recorder.after("U/S/c", Status::Passed, true);
        recorder.scope("");
        recorder.finish();
        let saved = writer.join().unwrap().unwrap();
        assert!(recorder.problems().is_empty(), "{:?}", recorder.problems());
        assert_eq!(saved.recorded, 2);
        assert_eq!(
            saved.incomplete, 1,
            "b did not complete: it keeps its old record"
        );
        let records = ImpactDatabase::open_to_read(&affected.database_path)
            .unwrap()
            .unwrap()
            .testcases()
            .unwrap();
        assert_eq!(records.keys().collect::<Vec<_>>(), ["T/S/a", "U/S/c"]);
        let keys = |uid: &str| -> Vec<String> {
            records[uid]
                .units
                .keys()
                .map(|key| key.trim_start_matches("src/lib.rs::").to_string())
                .collect()
        };
        assert_eq!(
            keys("T/S/a"),
            [
                "a_body",
                "env_start",
                "env_stop",
                "main",
                "setup",
                "teardown"
            ]
        );
        assert_eq!(keys("U/S/c"), ["c_body", "main", "other"]);
        assert!(records["T/S/a"].failed);
        assert_eq!(
            records["T/S/a"].units["src/lib.rs::main"], "print of main",
            "fingerprints as of this run"
        );
        assert_eq!(
            records["T/S/a"].files,
            [("src/lib.rs".to_string(), "items".to_string())].into()
        );
    }

    #[test]
    fn an_unreadable_window_records_nothing_and_a_cancelled_testcase_keeps_its_record() {
        let affected = run("cancelled", &["f"]);
        let recorder = scripted(&affected, vec![vec![], vec![0]]);
        recorder.before("T/S/a");
        recorder.after("T/S/a", Status::Cancelled, true);
        // The script is empty now: the end of the run cannot be read.
        let refused = affected.save(&recorder).unwrap_err();
        assert!(refused.contains("nothing was recorded"), "{refused}");
        assert_eq!(
            ImpactDatabase::open_to_read(&affected.database_path)
                .unwrap()
                .map(|database| database.testcases().unwrap().len()),
            Some(0),
            "the transaction was not committed"
        );
        let affected = run("cancelled-only", &["f"]);
        let recorder = scripted(&affected, vec![vec![], vec![0], vec![]]);
        recorder.before("T/S/a");
        recorder.after("T/S/a", Status::Cancelled, true);
        let saved = affected.save(&recorder).unwrap();
        assert_eq!((saved.recorded, saved.incomplete), (0, 1));
        let recorder = scripted(&affected, vec![]);
        // The script is empty: the next window cannot be read.
        recorder.scope("T");
        assert!(recorder.lock().broken.is_some());
        assert_eq!(recorder.problems().len(), 1, "{:?}", recorder.problems());
    }
}

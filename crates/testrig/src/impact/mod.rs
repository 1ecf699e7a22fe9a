//! Affected-test selection: which testcases a code change can affect (DESIGN.md §5,
//! "Affected testcases from coverage, on stable Rust").

mod build;
mod coverage;
mod database;
mod fingerprint;
mod parse_cache;
mod profile;
mod recording;
mod reload;
mod selection;

pub use crate::inputs::{DeclaredInput, changed_inputs, inputs_digest, program_path};
pub use build::{BUILD_SNAPSHOT_VARIABLE, BuildSnapshot, digest_hex, file_digest};
pub(crate) use coverage::skip_exit_dump;
pub use coverage::{
    CounterSnapshot, CoverageError, PINNED_RAW_VERSION, ProfileSections, check_version,
    is_available, raw_version, reset_counters, snapshot,
};
pub use database::{
    DATABASE_VERSION, DatabaseState, ImpactDatabase, PairSet, RunRecords, RunTestcase, StoredUnit,
    TestcaseRecord,
};
pub use fingerprint::{
    Fingerprints, SourceUnit, UnitKind, WorkspaceSources, fingerprint_crate, fingerprint_source,
    fingerprint_workspace, source_key, unit_for_span, unit_index_for_span,
};
pub use parse_cache::cache_parses;
pub use profile::{
    CounterIndex, CoverageMap, ExecutedFunction, FunctionRef, FunctionSpan, PINNED_MAPPING_VERSION,
    decode, decode_names, demangle, executed_functions, executed_records, executed_spans, name_ref,
};
pub(crate) use recording::worker_coverage;
pub use recording::{AffectedRun, AffectedSources, CoverageRecorder, RUN_VARIANT_VARIABLE, Saved};
pub use reload::{RecordedCoverage, database_path};
pub use selection::{Reason, SourceChanges, changed_code, select, source_changes};

//! In-process capture of LLVM source-based coverage counters, one testcase at a time.
//!
//! `cargo testrig affected` builds the plan with `-C instrument-coverage --cfg
//! testrig_coverage`: rustc then links LLVM's profile runtime (`profiler_builtins`) into the
//! binary, and every instrumented function bumps plain `u64` counters in the
//! `__llvm_prf_cnts` section. While recording, the plan calls [`reset_counters`] before each
//! testcase and [`snapshot`] after it. A snapshot is only a copy of the counters (a memcpy,
//! a few microseconds) plus a shared handle on the sections that never change while the
//! process runs; `profile.rs` later decodes it into the functions the testcase executed and
//! their source spans, which the selection maps to fingerprinted units.
//!
//! The runtime's symbols exist only in instrumented binaries (referencing them without the
//! flag fails to link, and they are hidden, so `dlsym` cannot find them either), hence
//! everything touching them sits behind `cfg(testrig_coverage)`. Without it the same API
//! reports [`CoverageError::NotInstrumented`] and [`is_available`] is false.
//!
//! The counters are process-wide and incremented without atomics: testcases must run one
//! at a time while recording, and threads a testcase starts must be joined before its
//! snapshot, or work leaks from one testcase into another.
//!
//! This file and `profile.rs` use only std and their own dependencies (no `crate::` paths),
//! so the coverage fixture can compile them standalone with `#[path]`.

use std::fmt;
use std::sync::Arc;

/// The raw profile format this module reads: the runtime of LLVM 19 to 22 (rustc 1.95
/// ships LLVM 22) writes version 10, with 64-byte data records and `u64` counters. Later
/// versions change the record layout, so any other value is refused.
pub const PINNED_RAW_VERSION: u64 = 10;

/// Why coverage could not be captured or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoverageError {
    /// The binary was built without coverage instrumentation.
    NotInstrumented,
    /// The profile runtime uses a raw format other than [`PINNED_RAW_VERSION`].
    UnsupportedRawVersion(u64),
    /// The binary's coverage mapping has a version field other than the pinned one (6).
    UnsupportedMappingVersion(u32),
    /// The profile sections in memory or in the binary are not laid out as expected.
    Malformed(String),
    /// The running executable could not be read or parsed.
    Binary(String),
}

impl fmt::Display for CoverageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoverageError::NotInstrumented => f.write_str(
                "not instrumented: build with `cargo testrig affected` \
                 (it adds `-C instrument-coverage --cfg testrig_coverage`)",
            ),
            CoverageError::UnsupportedRawVersion(version) => write!(
                f,
                "unsupported LLVM profile raw version {version:#x}: testrig reads version \
                 {PINNED_RAW_VERSION} (the runtime of LLVM 19 to 22, as in rustc 1.95); use such \
                 a toolchain or update testrig"
            ),
            CoverageError::UnsupportedMappingVersion(version) => write!(
                f,
                "unsupported coverage-mapping version field {version}: testrig reads 6 \
                 (LLVM's CovMapVersion7, as written by rustc 1.95); use such a toolchain or \
                 update testrig"
            ),
            CoverageError::Malformed(what) => write!(
                f,
                "malformed coverage data: {what}; rebuild the plan with `cargo testrig affected`"
            ),
            CoverageError::Binary(what) => write!(
                f,
                "cannot read the coverage mapping of the running executable: {what}"
            ),
        }
    }
}

impl std::error::Error for CoverageError {}

/// The profile runtime's sections that stay the same while the process runs, copied once:
/// the per-function data records (which locate each function's counters) and the names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProfileSections {
    /// Bytes of `__llvm_prf_data`: one 64-byte record per instrumented function (raw v10).
    pub data: Vec<u8>,
    /// Address of the first data record in memory: a record finds its counters at its own
    /// address plus its relative counter pointer.
    pub data_address: u64,
    /// Address of the first counter in memory (`__llvm_prf_cnts`).
    pub counters_address: u64,
    /// Bytes of `__llvm_prf_names`: compressed chunks of the functions' PGO names.
    pub names: Vec<u8>,
}

/// The counters as they were at one moment, with the sections needed to decode them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterSnapshot {
    sections: Arc<ProfileSections>,
    counters: Vec<u64>,
}

impl CounterSnapshot {
    /// A snapshot from parts, e.g. counters captured elsewhere or synthetic ones in tests.
    pub fn new(sections: Arc<ProfileSections>, counters: Vec<u64>) -> CounterSnapshot {
        CounterSnapshot { sections, counters }
    }

    /// The sections the counters belong to.
    pub fn sections(&self) -> &ProfileSections {
        &self.sections
    }

    /// The counters, in section order.
    pub fn counters(&self) -> &[u64] {
        &self.counters
    }
}

/// Whether this binary was built with coverage instrumentation (and the recorder's cfg).
pub fn is_available() -> bool {
    cfg!(testrig_coverage)
}

/// The profile runtime's raw format version, or `None` in an uninstrumented binary.
#[cfg(testrig_coverage)]
pub fn raw_version() -> Option<u64> {
    Some(runtime::raw_version())
}

/// The profile runtime's raw format version, or `None` in an uninstrumented binary.
#[cfg(not(testrig_coverage))]
pub fn raw_version() -> Option<u64> {
    None
}

/// Fails unless the binary is instrumented and its runtime uses the pinned raw format;
/// call it once before recording to report a wrong build early.
pub fn check_version() -> Result<(), CoverageError> {
    match raw_version() {
        None => Err(CoverageError::NotInstrumented),
        Some(PINNED_RAW_VERSION) => Ok(()),
        Some(other) => Err(CoverageError::UnsupportedRawVersion(other)),
    }
}

/// This file as rustc was given it, so that decoding can leave out the capture code: it
/// runs between every reset and snapshot, and would otherwise show up in every testcase.
pub const CAPTURE_SOURCE: &str = file!();

/// Zeroes every counter, before a testcase; does nothing in an uninstrumented binary.
pub fn reset_counters() {
    #[cfg(testrig_coverage)]
    runtime::reset_counters();
}

/// What ran since the last call, for a recorder taking one window after another: the
/// indices of the counters that moved, which are zeroed. One pass over the live counters,
/// copying nothing but the blocks that moved, so its cost follows what ran rather than the
/// size of the binary (most windows between testcases run no instrumented code at all).
/// Also returns [`current_sections`], to decode the indices with.
pub(crate) fn take_moved_counters(
    moved: &mut Vec<usize>,
) -> Result<(Arc<ProfileSections>, usize), CoverageError> {
    #[cfg(testrig_coverage)]
    return runtime::take_moved_counters(moved);
    #[cfg(not(testrig_coverage))]
    {
        moved.clear();
        Err(CoverageError::NotInstrumented)
    }
}

/// The data and names sections of this process and the number of its counters.
pub(crate) fn current_sections() -> Result<(Arc<ProfileSections>, usize), CoverageError> {
    #[cfg(testrig_coverage)]
    return runtime::current_sections();
    #[cfg(not(testrig_coverage))]
    Err(CoverageError::NotInstrumented)
}

/// Copies the counters, after a testcase. The first call also checks the raw version and
/// copies the data and names sections, which later snapshots share.
#[cfg(testrig_coverage)]
pub fn snapshot() -> Result<CounterSnapshot, CoverageError> {
    runtime::snapshot()
}

/// Copies the counters, after a testcase; an uninstrumented binary has none to copy.
#[cfg(not(testrig_coverage))]
pub fn snapshot() -> Result<CounterSnapshot, CoverageError> {
    Err(CoverageError::NotInstrumented)
}

/// Sends the profile runtime's dump at exit nowhere, unless `LLVM_PROFILE_FILE` asks for one.
///
/// The runtime would otherwise write `default_*.profraw` into whatever folder the plan was
/// started from, the user's source tree included; testrig reads the counters in-process and
/// has no use for the file. A user who sets the variable (for a coverage report of their
/// own) still gets it. Does nothing in an uninstrumented binary.
pub fn skip_exit_dump() {
    #[cfg(testrig_coverage)]
    if std::env::var_os("LLVM_PROFILE_FILE").is_none() {
        runtime::dump_to_null();
    }
}

/// The only code that touches the profile runtime, compiled only into instrumented builds.
#[cfg(testrig_coverage)]
// The workspace (and the fixture that includes this file) denies `unsafe_code`; calling the
// runtime and copying its sections needs it, and this module is the one place allowed to.
#[expect(
    unsafe_code,
    reason = "the profile runtime is only reachable through FFI and raw pointers"
)]
mod runtime {
    use std::sync::{Arc, OnceLock};

    use super::{CounterSnapshot, CoverageError, ProfileSections};

    // Declared by compiler-rt's profile runtime (InstrProfiling.h). The section bounds are
    // linker-provided `__start_`/`__stop_` symbols; reading them, or the version, has no
    // precondition, hence `safe`. Resetting writes the counters, so it stays unsafe.
    unsafe extern "C" {
        safe fn __llvm_profile_get_version() -> u64;
        safe fn __llvm_profile_begin_data() -> *const u8;
        safe fn __llvm_profile_end_data() -> *const u8;
        safe fn __llvm_profile_begin_counters() -> *const u8;
        safe fn __llvm_profile_end_counters() -> *const u8;
        safe fn __llvm_profile_begin_names() -> *const u8;
        safe fn __llvm_profile_end_names() -> *const u8;
        fn __llvm_profile_reset_counters();
        fn __llvm_profile_set_filename(pattern: *const std::ffi::c_char);
    }

    /// Points the exit dump at `/dev/null`. (Marking the profile as already written would
    /// skip the write, but the runtime then prints a note on every exit.)
    pub(super) fn dump_to_null() {
        // SAFETY: the pattern is a NUL-terminated string with static lifetime (the runtime
        // copies it anyway); called on the main thread before any testcase runs, so no
        // dump is in progress.
        unsafe { __llvm_profile_set_filename(c"/dev/null".as_ptr()) }
    }

    pub(super) fn raw_version() -> u64 {
        __llvm_profile_get_version()
    }

    pub(super) fn reset_counters() {
        // Copy the sections now rather than in the first snapshot, so that the first
        // testcase's counters do not include that one-off work; an error resurfaces there.
        let _ = sections();
        // SAFETY: the runtime zeroes its own counter, bitmap and value-profile memory, which
        // Rust code never holds references to (snapshots copy through raw pointers). Counters
        // bumped concurrently by another thread would race, as with any instrumented code;
        // the recorder runs testcases one at a time for that reason.
        unsafe { __llvm_profile_reset_counters() }
    }

    pub(super) fn current_sections() -> Result<(Arc<ProfileSections>, usize), CoverageError> {
        Ok((sections()?, counters_bounds()?.1))
    }

    pub(super) fn take_moved_counters(
        moved: &mut Vec<usize>,
    ) -> Result<(Arc<ProfileSections>, usize), CoverageError> {
        moved.clear();
        let sections = sections()?;
        let (begin, len) = counters_bounds()?;
        const BLOCK: usize = 16;
        // SAFETY (every `read` and `write` below): `begin` is the 8-aligned start of
        // `__llvm_prf_cnts`, which holds `len` u64 counters for the life of the process
        // (checked in `counters_bounds`), and every index is below `len`. Counters are read
        // one by one through raw pointers, creating no reference to memory that
        // instrumented code writes; fixed-size blocks let the compiler vectorize the reads
        // (a copy of each block into a buffer cost a `memcpy` call per block, twice the
        // time). Zeroing a counter through a raw pointer is all
        // `__llvm_profile_reset_counters` does that matters here (the MC/DC bitmaps and
        // value-profile data it also clears are never read).
        let counter = |index: usize| unsafe { begin.add(index).read() };
        let mut start = 0;
        while start + BLOCK <= len {
            // The OR of a block vectorizes; most blocks are zero.
            let any = (start..start + BLOCK).fold(0, |any, index| any | counter(index));
            if any != 0 {
                moved.extend((start..start + BLOCK).filter(|&index| counter(index) != 0));
            }
            start += BLOCK;
        }
        moved.extend((start..len).filter(|&index| counter(index) != 0));
        for &index in moved.iter() {
            // SAFETY: see above.
            unsafe { begin.cast_mut().add(index).write(0) };
        }
        Ok((sections, len))
    }

    pub(super) fn snapshot() -> Result<CounterSnapshot, CoverageError> {
        let sections = sections()?;
        let (begin, len) = counters_bounds()?;
        let mut counters = Vec::<u64>::with_capacity(len);
        if len > 0 {
            // SAFETY: `begin` is the 8-aligned start of `__llvm_prf_cnts`, which holds `len`
            // u64 counters for the whole life of the process (checked in `counters_bounds`);
            // `counters` has room for `len` of them and cannot overlap a static section.
            // Copying through raw pointers creates no reference to memory that instrumented
            // code keeps writing.
            unsafe {
                std::ptr::copy_nonoverlapping(begin, counters.as_mut_ptr(), len);
                counters.set_len(len);
            }
        }
        Ok(CounterSnapshot::new(sections, counters))
    }

    /// The data and names sections, copied once (they do not change at run time).
    fn sections() -> Result<Arc<ProfileSections>, CoverageError> {
        static SECTIONS: OnceLock<Result<Arc<ProfileSections>, CoverageError>> = OnceLock::new();
        SECTIONS
            .get_or_init(|| {
                super::check_version()?;
                let (counters, _) = counters_bounds()?;
                let data_begin = __llvm_profile_begin_data();
                Ok(Arc::new(ProfileSections {
                    data: copy_section(data_begin, __llvm_profile_end_data()),
                    data_address: data_begin as u64,
                    counters_address: counters as u64,
                    names: copy_section(__llvm_profile_begin_names(), __llvm_profile_end_names()),
                }))
            })
            .clone()
    }

    /// Start and length (in counters) of `__llvm_prf_cnts`.
    fn counters_bounds() -> Result<(*const u64, usize), CoverageError> {
        let begin = __llvm_profile_begin_counters();
        let end = __llvm_profile_end_counters();
        let bytes = (end as usize).saturating_sub(begin as usize);
        if bytes == 0 || begin.is_null() {
            return Ok((std::ptr::null(), 0));
        }
        // Raw v10 without the byte-coverage variant (refused by the version check) has u64
        // counters; anything else means the layout is not the one this code knows.
        if !begin.cast::<u64>().is_aligned() || !bytes.is_multiple_of(8) {
            return Err(CoverageError::Malformed(format!(
                "the counters section at {begin:p} ({bytes} bytes) does not hold u64 counters"
            )));
        }
        Ok((begin.cast::<u64>(), bytes / 8))
    }

    /// Copies the bytes between two section bounds (none when the section is absent).
    fn copy_section(begin: *const u8, end: *const u8) -> Vec<u8> {
        let len = (end as usize).saturating_sub(begin as usize);
        if begin.is_null() || len == 0 {
            return Vec::new();
        }
        // SAFETY: `begin..end` are the linker's bounds of one section of this executable,
        // mapped for the whole life of the process; the data and names sections are only
        // written by the linker, so the bytes are initialized and do not change.
        unsafe { std::slice::from_raw_parts(begin, len) }.to_vec()
    }
}

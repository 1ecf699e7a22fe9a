//! Decoding of coverage snapshots into the functions a testcase executed and their spans.
//!
//! The plan resets the counters before each testcase and snapshots them after it
//! (`coverage.rs`); this module turns a snapshot into [`ExecutedFunction`]s (demangled name,
//! absolute source file, first and last line), which the selection maps to fingerprinted
//! units by span containment. Two sources are combined:
//!
//! - the snapshot: the profile data records (raw format v10, 64 bytes each) say which
//!   counters belong to which function, named by a NameRef (the first 8 bytes, little-endian,
//!   of the MD5 of its PGO name) and a FuncHash; the names section maps NameRefs back to
//!   mangled names;
//! - the running executable itself: `__llvm_covmap` (per codegen unit, the source file list)
//!   and `__llvm_covfun` (per function, its mapping regions), coverage-mapping format version
//!   field 6. It is parsed once per process ([`CoverageMap::current`]).
//!
//! The capture code itself (`coverage.rs`) runs between every reset and snapshot, so its
//! functions are recognized by their source file and left out.
//!
//! NameRefs and FuncHashes differ between builds (debug and release, any edit), so they are
//! resolved right here, against the binary that produced them, and never stored.
//!
//! Pure safe Rust; like `coverage.rs` it uses only std and its own dependencies, so the
//! coverage fixture can compile it standalone with `#[path]`.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use md5::{Digest, Md5};
use object::{CompressionFormat, Object, ObjectSection};

use super::coverage::{CAPTURE_SOURCE, CounterSnapshot, CoverageError, ProfileSections};

/// The coverage-mapping version field this module reads: 6, LLVM's `CovMapVersion7`, which
/// rustc 1.95 writes. Any other value is refused rather than guessed at.
pub const PINNED_MAPPING_VERSION: u32 = 6;

/// Size of one `__llvm_prf_data` record in raw format v10 on 64-bit targets.
const DATA_RECORD_SIZE: usize = 64;

/// Size of a `__llvm_covfun` record header: NameRef, DataSize, FuncHash, FilenamesRef.
const COVFUN_HEADER_SIZE: usize = 8 + 4 + 8 + 8;

/// One instrumented function as the profile data names it. Generic instantiations and
/// closures are functions of their own, with their own NameRef.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionRef {
    /// First 8 bytes, little-endian, of the MD5 of the function's PGO name ([`name_ref`]).
    pub name_ref: u64,
    /// Hash of the function's control flow, as computed by rustc for this build.
    pub func_hash: u64,
}

/// A function's source span: the file of its own regions and the lines they cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpan {
    /// Absolute path of the source file (relative ones are joined with the compilation dir).
    pub file: PathBuf,
    /// First and last line (1-based, inclusive) of the function's regions.
    pub lines: (u32, u32),
}

/// A function that ran during a testcase, with where it is in the sources.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExecutedFunction {
    /// Demangled name without crate hashes, e.g. `demo::geometry::area`,
    /// `<demo::Rect>::diagonal`, `demo::largest::<i32>`, `demo::total::{closure#0}`.
    pub name: String,
    /// Absolute path of its source file.
    pub file: PathBuf,
    /// First and last line (1-based, inclusive): a closure's span lies inside its enclosing
    /// function's, and every instantiation of a generic has the generic's span.
    pub lines: (u32, u32),
}

/// The NameRef of a PGO name: the first 8 bytes, little-endian, of its MD5.
pub fn name_ref(pgo_name: &str) -> u64 {
    md5_low64(pgo_name.as_bytes())
}

/// The readable name of a PGO name: a local-linkage `file;` prefix dropped, the symbol
/// demangled without crate hashes (`rustc-demangle`'s alternate form).
pub fn demangle(pgo_name: &str) -> String {
    // Rust symbols (v0 or legacy) never contain `;`, so the last segment is the symbol.
    let symbol = pgo_name.rsplit(';').next().unwrap_or(pgo_name);
    format!("{:#}", rustc_demangle::demangle(symbol))
}

/// Where each function's counters are in the counters section: computed once per set of
/// sections (they do not change while the process runs) and reused for every snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterIndex {
    /// Per function with counters: its first counter, one past its last, and its ref.
    functions: Vec<(usize, usize, FunctionRef)>,
}

impl CounterIndex {
    /// Reads the data records of `sections`, checking each points inside `counters` counters.
    pub fn new(sections: &ProfileSections, counters: usize) -> Result<CounterIndex, CoverageError> {
        if !sections.data.len().is_multiple_of(DATA_RECORD_SIZE) {
            return Err(CoverageError::Malformed(format!(
                "the profile data section is {} bytes, not a multiple of the {DATA_RECORD_SIZE}-byte \
                 records of raw format v10",
                sections.data.len()
            )));
        }
        let mut functions = Vec::new();
        for (index, record) in sections.data.chunks_exact(DATA_RECORD_SIZE).enumerate() {
            // Layout (raw v10, x86_64): NameRef u64 @0, FuncHash u64 @8, RelativeCounterPtr
            // i64 @16, RelativeBitmapPtr @24, FunctionPointer @32, Values @40, NumCounters u32
            // @48.
            let num_counters = le_u32(record, 48) as usize;
            if num_counters == 0 {
                continue;
            }
            // The counter pointer is relative to the record's own address, so that the data
            // section needs no relocations.
            let record_address = sections
                .data_address
                .wrapping_add((index * DATA_RECORD_SIZE) as u64);
            let counters_at = record_address.wrapping_add_signed(le_u64(record, 16) as i64);
            let offset = counters_at.wrapping_sub(sections.counters_address);
            let first = usize::try_from(offset / 8).unwrap_or(usize::MAX);
            let end = first
                .checked_add(num_counters)
                .filter(|&end| offset.is_multiple_of(8) && end <= counters)
                .ok_or_else(|| {
                    CoverageError::Malformed(format!(
                        "profile data record {index} points at {num_counters} counters outside \
                         the {counters} of the counters section"
                    ))
                })?;
            functions.push((
                first,
                end,
                FunctionRef {
                    name_ref: le_u64(record, 0),
                    func_hash: le_u64(record, 8),
                },
            ));
        }
        functions.sort_unstable_by_key(|(first, _, _)| *first);
        Ok(CounterIndex { functions })
    }

    /// The positions (dense, stable for one binary) of the functions owning the counters
    /// at `moved` (sorted indices), each once.
    pub fn owners(&self, moved: &[usize]) -> Vec<usize> {
        let mut owners: Vec<usize> = Vec::new();
        for &counter in moved {
            // Functions are sorted by their first counter and do not overlap.
            let owner = self
                .functions
                .partition_point(|(first, _, _)| *first <= counter)
                .checked_sub(1)
                .filter(|&index| counter < self.functions[index].1);
            if let Some(owner) = owner
                && owners.last() != Some(&owner)
            {
                owners.push(owner);
            }
        }
        owners
    }

    /// The function at a position [`owners`](Self::owners) returned.
    pub fn function(&self, position: usize) -> Option<FunctionRef> {
        self.functions
            .get(position)
            .map(|(_, _, function)| *function)
    }

    /// The functions with any nonzero counter in `counters`.
    pub fn executed(&self, counters: &[u64]) -> Vec<FunctionRef> {
        let mut executed = Vec::new();
        // Most counters are zero after a testcase: skip them a block at a time (the OR of a
        // block vectorizes), and only look up the owners of nonzero ones.
        const BLOCK: usize = 16;
        for (block_index, block) in counters.chunks(BLOCK).enumerate() {
            if block.iter().fold(0, |any, &count| any | count) == 0 {
                continue;
            }
            for (offset, &count) in block.iter().enumerate() {
                if count == 0 {
                    continue;
                }
                let counter = block_index * BLOCK + offset;
                // Functions are sorted by their first counter and do not overlap.
                let owner = self
                    .functions
                    .partition_point(|(first, _, _)| *first <= counter)
                    .checked_sub(1)
                    .map(|index| self.functions[index])
                    .filter(|(_, end, _)| counter < *end);
                if let Some((_, _, function)) = owner
                    && executed.last() != Some(&function)
                {
                    executed.push(function);
                }
            }
        }
        executed
    }
}

/// The functions of `snapshot` with any nonzero counter.
pub fn executed_records(snapshot: &CounterSnapshot) -> Result<Vec<FunctionRef>, CoverageError> {
    let index = CounterIndex::new(snapshot.sections(), snapshot.counters().len())?;
    Ok(index.executed(snapshot.counters()))
}

/// NameRef → PGO name for every name in a `__llvm_prf_names` section: chunks of
/// `[ULEB128 uncompressed length][ULEB128 compressed length, 0 = stored][bytes]`, zlib,
/// names separated by `\x01`, zero padding between chunks.
pub fn decode_names(section: &[u8]) -> Result<HashMap<u64, String>, CoverageError> {
    let mut names = HashMap::new();
    let mut reader = Reader::new(section, "the names section");
    while !reader.is_empty() {
        let uncompressed_len = reader.uleb_usize()?;
        let compressed_len = reader.uleb_usize()?;
        let text = if compressed_len == 0 {
            Cow::Borrowed(reader.take(uncompressed_len)?)
        } else {
            let compressed = reader.take(compressed_len)?;
            Cow::Owned(inflate(compressed, uncompressed_len, "the names section")?)
        };
        for name in text
            .split(|&byte| byte == 0x01)
            .filter(|name| !name.is_empty())
        {
            let name = std::str::from_utf8(name).map_err(|_| {
                CoverageError::Malformed("a function name in the names section is not UTF-8".into())
            })?;
            names.insert(name_ref(name), name.to_owned());
        }
        reader.skip_zeros();
    }
    Ok(names)
}

/// Where every function of a binary is in the sources, from its coverage-mapping sections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoverageMap {
    spans: HashMap<FunctionRef, FunctionSpan>,
    /// Functions of the capture code (`coverage.rs`), left out of every decoded snapshot.
    capture: HashSet<FunctionRef>,
}

impl CoverageMap {
    /// The map of the running executable, read and parsed once per process.
    ///
    /// Call it early when recording: the file is read on first use, and an executable
    /// rebuilt on disk in the meantime no longer matches the counters of this process.
    pub fn current() -> Result<&'static CoverageMap, CoverageError> {
        static CURRENT: OnceLock<Result<CoverageMap, CoverageError>> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let exe = std::env::current_exe()
                    .map_err(|error| CoverageError::Binary(format!("cannot locate it: {error}")))?;
                let file = std::fs::File::open(&exe).map_err(|error| {
                    CoverageError::Binary(format!("cannot read {}: {error}", exe.display()))
                })?;
                // Read only the headers and the two mapping sections, not the whole
                // executable (tens of megabytes with debug line tables).
                CoverageMap::parse(&object::read::ReadCache::new(file))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Parses the `__llvm_covmap` and `__llvm_covfun` sections of an ELF executable.
    pub fn parse<'data, R: object::ReadRef<'data>>(
        binary: R,
    ) -> Result<CoverageMap, CoverageError> {
        let file = object::File::parse(binary).map_err(|error| {
            CoverageError::Binary(format!("not an ELF file testrig can read: {error}"))
        })?;
        let mut covmap = Vec::new();
        let mut covfun = Vec::new();
        for section in file.sections() {
            let list = match section.name() {
                Ok("__llvm_covmap") => &mut covmap,
                Ok("__llvm_covfun") => &mut covfun,
                _ => continue,
            };
            let name = section.name().unwrap_or_default();
            let compressed = section
                .compressed_file_range()
                .map(|range| range.format != CompressionFormat::None)
                .unwrap_or(true);
            if compressed {
                return Err(CoverageError::Binary(format!(
                    "section `{name}` is compressed; link without compressing it"
                )));
            }
            let data = section.data().map_err(|error| {
                CoverageError::Binary(format!("cannot read section `{name}`: {error}"))
            })?;
            list.push(data);
        }
        if covmap.is_empty() {
            return Err(CoverageError::NotInstrumented);
        }
        CoverageMap::from_sections(&covmap, &covfun)
    }

    /// Parses the contents of `__llvm_covmap` and `__llvm_covfun` sections (an executable
    /// normally has one of each).
    pub fn from_sections(covmap: &[&[u8]], covfun: &[&[u8]]) -> Result<CoverageMap, CoverageError> {
        let mut filenames = HashMap::new();
        for section in covmap {
            parse_covmap(section, &mut filenames)?;
        }
        let mut map = CoverageMap::default();
        for section in covfun {
            parse_covfun(section, &filenames, &mut map)?;
        }
        Ok(map)
    }

    /// The span of a function, if the binary maps it.
    pub fn span(&self, function: FunctionRef) -> Option<&FunctionSpan> {
        self.spans.get(&function)
    }

    /// Every source file with a mapped function, without duplicates.
    pub fn files(&self) -> BTreeSet<&Path> {
        self.spans
            .values()
            .map(|span| span.file.as_path())
            .collect()
    }

    /// Whether a function belongs to the capture code (`coverage.rs`), which runs between
    /// every reset and snapshot and so is left out of decoded snapshots.
    pub fn is_capture(&self, function: FunctionRef) -> bool {
        self.capture.contains(&function)
    }

    /// Number of functions mapped (instantiated ones: unused-function records are skipped;
    /// the capture code's are not counted).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether no function is mapped.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// Decodes a snapshot against a coverage map and a name table (from [`decode_names`]):
/// the executed functions, sorted by file, lines and name, without duplicates.
pub fn decode(
    snapshot: &CounterSnapshot,
    map: &CoverageMap,
    names: &HashMap<u64, String>,
) -> Result<Vec<ExecutedFunction>, CoverageError> {
    let mut functions = Vec::new();
    for (function, span) in spans_of(executed_records(snapshot)?, map, names)? {
        let pgo_name = names.get(&function.name_ref).ok_or_else(|| {
            CoverageError::Malformed(format!(
                "executed function {:#018x} has no name in the names section",
                function.name_ref
            ))
        })?;
        functions.push(ExecutedFunction {
            name: demangle(pgo_name),
            file: span.file.clone(),
            lines: span.lines,
        });
    }
    // Identical demangled names can repeat (e.g. a lib and a bin of the same crate name).
    functions.sort_by(|a, b| (&a.file, a.lines, &a.name).cmp(&(&b.file, b.lines, &b.name)));
    functions.dedup();
    Ok(functions)
}

/// The spans of executed functions, leaving out the capture code.
fn spans_of<'m>(
    executed: Vec<FunctionRef>,
    map: &'m CoverageMap,
    names: &HashMap<u64, String>,
) -> Result<Vec<(FunctionRef, &'m FunctionSpan)>, CoverageError> {
    let mut spans = Vec::with_capacity(executed.len());
    for function in executed {
        if map.is_capture(function) {
            continue;
        }
        // An executed function always has a mapping record in the binary it ran from; a
        // miss means the executable on disk is not the one that produced the counters.
        let span = map.span(function).ok_or_else(|| {
            let name = names.get(&function.name_ref).map_or_else(
                || format!("{:#018x}", function.name_ref),
                |name| demangle(name),
            );
            CoverageError::Malformed(format!(
                "executed function `{name}` (hash {:#x}) has no coverage-mapping record in the \
                 executable; was it rebuilt while it ran?",
                function.func_hash
            ))
        })?;
        spans.push((function, span));
    }
    Ok(spans)
}

/// The name table of the running executable, decoded on first use.
fn current_names(
    sections: &ProfileSections,
) -> Result<&'static HashMap<u64, String>, CoverageError> {
    static NAMES: OnceLock<Result<HashMap<u64, String>, CoverageError>> = OnceLock::new();
    NAMES
        .get_or_init(|| decode_names(&sections.names))
        .as_ref()
        .map_err(Clone::clone)
}

/// Decodes a snapshot taken in this process against the running executable; the name
/// table and the coverage map are built on first use and reused.
pub fn executed_functions(
    snapshot: &CounterSnapshot,
) -> Result<Vec<ExecutedFunction>, CoverageError> {
    decode(
        snapshot,
        CoverageMap::current()?,
        current_names(snapshot.sections())?,
    )
}

/// The executed functions of a snapshot taken in this process with their spans, unsorted
/// and without names: the cheap form for a recorder that caches what each function maps to.
pub fn executed_spans(
    snapshot: &CounterSnapshot,
) -> Result<Vec<(FunctionRef, &'static FunctionSpan)>, CoverageError> {
    // The sections of this process never change: index them once.
    let index = current_index(snapshot.sections(), snapshot.counters().len())?;
    spans_of(
        index.executed(snapshot.counters()),
        CoverageMap::current()?,
        current_names(snapshot.sections())?,
    )
}

/// The counter index of the running executable, built on first use.
fn current_index(
    sections: &ProfileSections,
    counters: usize,
) -> Result<&'static CounterIndex, CoverageError> {
    static INDEX: OnceLock<Result<CounterIndex, CoverageError>> = OnceLock::new();
    INDEX
        .get_or_init(|| CounterIndex::new(sections, counters))
        .as_ref()
        .map_err(Clone::clone)
}

/// Takes what ran in this process since the last call (see
/// [`take_moved_counters`](crate::impact::coverage::take_moved_counters)): the positions
/// of the functions that ran, to map with [`position_span`] once each.
pub(crate) fn take_executed_positions(moved: &mut Vec<usize>) -> Result<Vec<usize>, CoverageError> {
    let (sections, counters) = super::coverage::take_moved_counters(moved)?;
    if moved.is_empty() {
        return Ok(Vec::new());
    }
    Ok(current_index(&sections, counters)?.owners(moved))
}

/// The function at `position` of this process's counter index with its source span;
/// `None` for the capture code's own functions.
pub(crate) fn position_span(
    position: usize,
) -> Result<Option<&'static FunctionSpan>, CoverageError> {
    let (sections, counters) = super::coverage::current_sections()?;
    let function = current_index(&sections, counters)?
        .function(position)
        .ok_or_else(|| CoverageError::Malformed(format!("no function at position {position}")))?;
    let names = current_names(&sections)?;
    Ok(spans_of(vec![function], CoverageMap::current()?, names)?
        .into_iter()
        .next()
        .map(|(_, span)| span))
}

/// Reads one `__llvm_covmap` section: per codegen unit, an 8-aligned header
/// `{u32 NRecords = 0, u32 FilenamesSize, u32 CoverageSize = 0, u32 Version}` and the
/// encoded file list, registered under FilenamesRef = MD5-low64 of its encoded bytes.
/// A list is `None` when two different lists share a FilenamesRef (LLVM drops both too).
fn parse_covmap(
    section: &[u8],
    filenames: &mut HashMap<u64, Option<Vec<SourceFile>>>,
) -> Result<(), CoverageError> {
    let mut reader = Reader::new(section, "`__llvm_covmap`");
    while !reader.is_empty() {
        if reader.rest().iter().all(|&byte| byte == 0) {
            break; // trailing alignment padding
        }
        let _records = reader.u32()?;
        let filenames_size = reader.u32()? as usize;
        let coverage_size = reader.u32()?;
        let version = reader.u32()?;
        if version != PINNED_MAPPING_VERSION {
            return Err(CoverageError::UnsupportedMappingVersion(version));
        }
        if coverage_size != 0 {
            return Err(reader.error("a header carries inline function records"));
        }
        let region = reader.take(filenames_size)?;
        let list = parse_filenames(region)?;
        match filenames.entry(md5_low64(region)) {
            Entry::Vacant(entry) => {
                entry.insert(Some(list));
            }
            Entry::Occupied(mut entry) => {
                if entry.get().as_ref() != Some(&list) {
                    entry.insert(None);
                }
            }
        }
        reader.align(8);
    }
    Ok(())
}

/// One entry of a codegen unit's file list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SourceFile {
    /// Absolute and without `.` or `..` components.
    path: PathBuf,
    /// Whether it is the capture code's file (`coverage.rs`).
    capture: bool,
}

/// Decodes a file list: `[ULEB count][ULEB uncompressed length][ULEB compressed length,
/// 0 = stored][data]`, data = count × `[ULEB length][bytes]`; entry 0 is the compilation
/// dir, to which relative entries are joined.
fn parse_filenames(region: &[u8]) -> Result<Vec<SourceFile>, CoverageError> {
    let what = "a file list in `__llvm_covmap`";
    let mut reader = Reader::new(region, what);
    let count = reader.uleb_usize()?;
    if count == 0 {
        return Err(reader.error("the file list is empty"));
    }
    let uncompressed_len = reader.uleb_usize()?;
    let compressed_len = reader.uleb_usize()?;
    let data = if compressed_len == 0 {
        Cow::Borrowed(reader.rest())
    } else {
        Cow::Owned(inflate(
            reader.take(compressed_len)?,
            uncompressed_len,
            what,
        )?)
    };
    let mut reader = Reader::new(&data, what);
    let compilation_dir = PathBuf::from(reader.string()?);
    let mut files = vec![SourceFile {
        path: normalize(&compilation_dir),
        capture: false,
    }];
    for _ in 1..count {
        // Joining keeps an absolute name as it is. The capture file is recognized before
        // normalizing: rustc wrote the same path text that `file!()` gave, `..` included
        // (the fixture includes it as `src/../../../../src/impact/coverage.rs`).
        let path = compilation_dir.join(reader.string()?);
        files.push(SourceFile {
            capture: path.ends_with(CAPTURE_SOURCE),
            path: normalize(&path),
        });
    }
    Ok(files)
}

/// Reads one `__llvm_covfun` section: 8-aligned, packed records `{i64 NameRef, u32
/// DataSize, u64 FuncHash, u64 FilenamesRef, u8[DataSize] mapping}`.
fn parse_covfun(
    section: &[u8],
    filenames: &HashMap<u64, Option<Vec<SourceFile>>>,
    map: &mut CoverageMap,
) -> Result<(), CoverageError> {
    let mut reader = Reader::new(section, "`__llvm_covfun`");
    while !reader.is_empty() {
        if reader.rest().len() < COVFUN_HEADER_SIZE && reader.rest().iter().all(|&b| b == 0) {
            break; // trailing alignment padding
        }
        let name_ref = reader.u64()?;
        let data_size = reader.u32()? as usize;
        let func_hash = reader.u64()?;
        let filenames_ref = reader.u64()?;
        let mapping = reader.take(data_size)?;
        reader.align(8);
        // FuncHash 0 marks an "unused function" record (never codegened, or a dummy beside
        // an inlined copy): it has no counters, and the real record, if any, has its own
        // hash. Executed functions are matched on NameRef and FuncHash, so skip it.
        if func_hash == 0 {
            continue;
        }
        let function = FunctionRef {
            name_ref,
            func_hash,
        };
        if map.spans.contains_key(&function) || map.capture.contains(&function) {
            continue; // the same function mapped by another codegen unit
        }
        let files = match filenames.get(&filenames_ref) {
            Some(Some(files)) => files,
            Some(None) => continue, // FilenamesRef collision: unusable, as in LLVM
            None => {
                return Err(reader.error(&format!(
                    "a function record refers to file list {filenames_ref:#x}, which \
                     `__llvm_covmap` does not have"
                )));
            }
        };
        match parse_mapping(mapping, files)? {
            Some(mapped) if mapped.file.capture => {
                map.capture.insert(function);
            }
            Some(Mapped { file, lines }) => {
                let file = file.path.clone();
                map.spans.insert(function, FunctionSpan { file, lines });
            }
            None => {}
        }
    }
    Ok(())
}

/// A function's own file and the lines its regions there cover.
struct Mapped<'f> {
    file: &'f SourceFile,
    lines: (u32, u32),
}

/// The span of one function from its mapping data: `[ULEB NumFileIDs][ULEB file index…]`,
/// `[ULEB NumExpressions][ULEB lhs, ULEB rhs…]`, then per file id `[ULEB NumRegions]` and
/// its regions. File id 0 is the function's own file; later ids are macro expansions, so
/// only file id 0's regions (which include the expansion sites) make the span.
fn parse_mapping<'f>(
    mapping: &[u8],
    files: &'f [SourceFile],
) -> Result<Option<Mapped<'f>>, CoverageError> {
    let mut reader = Reader::new(mapping, "a function's mapping in `__llvm_covfun`");
    let file_ids = reader.uleb_usize()?;
    let mut own_file = None;
    for id in 0..file_ids {
        let index = reader.uleb_usize()?;
        let file = files
            .get(index)
            .ok_or_else(|| reader.error(&format!("file index {index} is not in the file list")))?;
        if id == 0 {
            own_file = Some(file);
        }
    }
    let Some(own_file) = own_file else {
        return Ok(None);
    };
    let expressions = reader.uleb()?;
    for _ in 0..expressions {
        reader.uleb()?;
        reader.uleb()?;
    }
    let regions = reader.uleb()?;
    let mut line_start = 0u64;
    let mut lines: Option<(u64, u64)> = None;
    for _ in 0..regions {
        // `[ULEB counter | kind]`: tag bits 0-1 (0 = zero counter, 1 = counter,
        // 2 = subtract, 3 = add). With tag 0, bit 2 marks an expansion region; otherwise
        // bits 3.. give the region kind and its extra fields.
        let head = reader.uleb()?;
        if head & 0b11 == 0 && head & 0b100 == 0 {
            let extra = match head >> 3 {
                0 | 2 => 0, // code region with a zero counter; skipped region
                4 => 2,     // branch: true and false counters
                5 => 2,     // MC/DC decision: bitmap index, number of conditions
                6 => 5,     // MC/DC branch: two counters, three condition ids
                kind => return Err(reader.error(&format!("unknown region kind {kind}"))),
            };
            for _ in 0..extra {
                reader.uleb()?;
            }
        }
        let line_delta = reader.uleb()?;
        let _column_start = reader.uleb()?;
        let line_count = reader.uleb()?;
        let _column_end = reader.uleb()?; // bit 31 marks a gap region: still the function's
        line_start = line_start.saturating_add(line_delta);
        let line_end = line_start.saturating_add(line_count);
        lines = Some(match lines {
            None => (line_start, line_end),
            Some((first, last)) => (first.min(line_start), last.max(line_end)),
        });
    }
    let Some((first, last)) = lines else {
        return Ok(None);
    };
    let line = |value: u64| {
        u32::try_from(value).map_err(|_| reader.error(&format!("line {value} is out of range")))
    };
    Ok(Some(Mapped {
        file: own_file,
        lines: (line(first)?, line(last)?),
    }))
}

/// Inflates a zlib stream that must decompress to exactly `expected_len` bytes.
fn inflate(compressed: &[u8], expected_len: usize, what: &str) -> Result<Vec<u8>, CoverageError> {
    let data = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(compressed, expected_len)
        .map_err(|error| CoverageError::Malformed(format!("cannot inflate {what}: {error}")))?;
    if data.len() != expected_len {
        return Err(CoverageError::Malformed(format!(
            "{what} inflates to {} bytes instead of {expected_len}",
            data.len()
        )));
    }
    Ok(data)
}

/// `a/./b/../c` → `a/c`, as LLVM does when it joins a relative file to the compilation dir.
fn normalize(path: &Path) -> PathBuf {
    let mut normalized = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(
                    normalized.components().next_back(),
                    Some(Component::Normal(_))
                ) =>
            {
                normalized.pop();
            }
            other => normalized.push(other),
        }
    }
    normalized
}

fn md5_low64(bytes: &[u8]) -> u64 {
    let digest = Md5::digest(bytes);
    le_u64(&digest, 0)
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut value = [0; 8];
    value.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(value)
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut value = [0; 4];
    value.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(value)
}

/// A cursor over a section's bytes whose errors say where decoding stopped.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader {
            bytes,
            position: 0,
            what,
        }
    }

    fn error(&self, problem: &str) -> CoverageError {
        CoverageError::Malformed(format!(
            "{} at byte {}: {problem}",
            self.what, self.position
        ))
    }

    fn is_empty(&self) -> bool {
        self.position >= self.bytes.len()
    }

    fn rest(&self) -> &'a [u8] {
        &self.bytes[self.position.min(self.bytes.len())..]
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], CoverageError> {
        let rest = self.rest();
        if len > rest.len() {
            return Err(self.error(&format!("{len} bytes expected, {} left", rest.len())));
        }
        self.position += len;
        Ok(&rest[..len])
    }

    fn u32(&mut self) -> Result<u32, CoverageError> {
        Ok(le_u32(self.take(4)?, 0))
    }

    fn u64(&mut self) -> Result<u64, CoverageError> {
        Ok(le_u64(self.take(8)?, 0))
    }

    fn uleb(&mut self) -> Result<u64, CoverageError> {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let byte = *self
                .bytes
                .get(self.position)
                .ok_or_else(|| self.error("a ULEB128 number is cut off"))?;
            if shift >= 64 || (shift == 63 && byte & 0x7e != 0) {
                return Err(self.error("a ULEB128 number overflows 64 bits"));
            }
            self.position += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    fn uleb_usize(&mut self) -> Result<usize, CoverageError> {
        let value = self.uleb()?;
        usize::try_from(value).map_err(|_| self.error(&format!("{value} is too large")))
    }

    fn string(&mut self) -> Result<String, CoverageError> {
        let len = self.uleb_usize()?;
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    fn align(&mut self, to: usize) {
        self.position = self.position.next_multiple_of(to).min(self.bytes.len());
    }

    fn skip_zeros(&mut self) {
        while self.bytes.get(self.position) == Some(&0) {
            self.position += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::coverage::ProfileSections;
    use super::*;

    fn uleb(mut value: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        miniz_oxide::deflate::compress_to_vec_zlib(bytes, 6)
    }

    /// A covmap header and compressed file list; returns the section and its FilenamesRef.
    fn covmap(version: u32, files: &[&str]) -> (Vec<u8>, u64) {
        let mut raw = Vec::new();
        for file in files {
            uleb(file.len() as u64, &mut raw);
            raw.extend_from_slice(file.as_bytes());
        }
        let compressed = zlib(&raw);
        let mut region = Vec::new();
        uleb(files.len() as u64, &mut region);
        uleb(raw.len() as u64, &mut region);
        uleb(compressed.len() as u64, &mut region);
        region.extend_from_slice(&compressed);
        let mut section = Vec::new();
        for field in [0, region.len() as u32, 0, version] {
            section.extend_from_slice(&field.to_le_bytes());
        }
        section.extend_from_slice(&region);
        section.resize(section.len().next_multiple_of(8), 0);
        (section, md5_low64(&region))
    }

    /// A covfun record whose file id 0 is `file_index`, with code regions given as
    /// (line delta, line count), plus an expansion file whose lines must not count.
    fn covfun(
        section: &mut Vec<u8>,
        name: &str,
        hash: u64,
        files_ref: u64,
        file_index: u64,
        regions: &[(u64, u64)],
    ) {
        let mut data = Vec::new();
        uleb(2, &mut data); // two file ids
        uleb(file_index, &mut data);
        uleb(file_index, &mut data);
        uleb(1, &mut data); // one expression
        uleb(1 << 2 | 1, &mut data);
        uleb(2 << 2 | 1, &mut data);
        uleb(regions.len() as u64 + 2, &mut data);
        for &(delta, count) in regions {
            uleb(1 << 2 | 1, &mut data); // counter 1
            for field in [delta, 5, count, 9] {
                uleb(field, &mut data);
            }
        }
        // A branch region (kind 4: two extra counters) and a gap region on the last line.
        uleb(4 << 3, &mut data);
        uleb(1 << 2 | 1, &mut data);
        uleb(0, &mut data);
        for field in [0, 1, 0, 1 | 1 << 31] {
            uleb(field, &mut data);
        }
        uleb(1 << 3 | 1 << 2, &mut data); // expansion of file id 1, its site in file id 0
        for field in [0, 1, 0, 4] {
            uleb(field, &mut data);
        }
        uleb(1, &mut data); // file id 1: far away, must be ignored
        uleb(1 << 2 | 1, &mut data);
        for field in [900, 1, 3, 2] {
            uleb(field, &mut data);
        }
        section.extend_from_slice(&name_ref(name).to_le_bytes());
        section.extend_from_slice(&(data.len() as u32).to_le_bytes());
        section.extend_from_slice(&hash.to_le_bytes());
        section.extend_from_slice(&files_ref.to_le_bytes());
        section.extend_from_slice(&data);
        section.resize(section.len().next_multiple_of(8), 0);
    }

    #[test]
    fn name_ref_is_the_low_half_of_md5() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e.
        assert_eq!(name_ref(""), 0x04b2_008f_d98c_1dd4);
    }

    #[test]
    fn demangles_v0_and_drops_a_file_prefix() {
        let symbol = "_RNvNtCs3jKo6YUO1AP_4demo8geometry4area";
        assert_eq!(demangle(symbol), "demo::geometry::area");
        assert_eq!(
            demangle(&format!("src/lib.rs;{symbol}")),
            "demo::geometry::area"
        );
    }

    #[test]
    fn decodes_compressed_and_stored_name_chunks() {
        let names = ["alpha", "beta", "gamma"];
        let joined = names[..2].join("\x01");
        let compressed = zlib(joined.as_bytes());
        let mut section = Vec::new();
        uleb(joined.len() as u64, &mut section);
        uleb(compressed.len() as u64, &mut section);
        section.extend_from_slice(&compressed);
        section.extend_from_slice(&[0, 0, 0]); // padding between chunks
        uleb(names[2].len() as u64, &mut section);
        uleb(0, &mut section);
        section.extend_from_slice(names[2].as_bytes());
        section.extend_from_slice(&[0; 5]);
        let table = decode_names(&section).unwrap();
        assert_eq!(table.len(), 3);
        for name in names {
            assert_eq!(table[&name_ref(name)], name);
        }
        let cut = &section[..section.len() - 9];
        assert!(matches!(
            decode_names(cut),
            Err(CoverageError::Malformed(_))
        ));
    }

    fn data_record(name: &str, hash: u64, relative: i64, counters: u32) -> Vec<u8> {
        let mut record = vec![0; DATA_RECORD_SIZE];
        record[0..8].copy_from_slice(&name_ref(name).to_le_bytes());
        record[8..16].copy_from_slice(&hash.to_le_bytes());
        record[16..24].copy_from_slice(&relative.to_le_bytes());
        record[48..52].copy_from_slice(&counters.to_le_bytes());
        record
    }

    /// Two functions at data 0x1000 with counters at 0x2000: `f` owns counters 0-1, `g` 2-4.
    fn sections(names: &[&str]) -> Arc<ProfileSections> {
        let mut data = data_record("f", 11, 0x2000 - 0x1000, 2);
        data.extend(data_record("g", 22, 0x2010 - 0x1040, 3));
        let joined = names.join("\x01");
        let mut names = Vec::new();
        uleb(joined.len() as u64, &mut names);
        uleb(0, &mut names);
        names.extend_from_slice(joined.as_bytes());
        Arc::new(ProfileSections {
            data,
            data_address: 0x1000,
            counters_address: 0x2000,
            names,
        })
    }

    #[test]
    fn executed_records_are_those_with_a_nonzero_counter() {
        let sections = sections(&["f", "g"]);
        let of = |counters: Vec<u64>| {
            executed_records(&CounterSnapshot::new(Arc::clone(&sections), counters)).unwrap()
        };
        assert!(of(vec![0; 5]).is_empty());
        let f = FunctionRef {
            name_ref: name_ref("f"),
            func_hash: 11,
        };
        let g = FunctionRef {
            name_ref: name_ref("g"),
            func_hash: 22,
        };
        assert_eq!(of(vec![0, 3, 0, 0, 0]), [f]);
        assert_eq!(of(vec![0, 0, 0, 0, 1]), [g]);
        assert_eq!(of(vec![1, 0, 1, 0, 0]), [f, g]);
        // Fewer counters than the records claim: refused, not read out of bounds.
        let short = CounterSnapshot::new(sections, vec![0; 4]);
        assert!(matches!(
            executed_records(&short),
            Err(CoverageError::Malformed(_))
        ));
    }

    #[test]
    fn maps_functions_to_spans_and_skips_unused_records() {
        let (map_section, files_ref) = covmap(6, &["/work/demo", "src/./lib.rs", "/abs/other.rs"]);
        let mut fun_section = Vec::new();
        // `f`: lines 10..=12 (regions 10+2 and 11+0), then a hash-0 dummy elsewhere.
        covfun(&mut fun_section, "f", 11, files_ref, 1, &[(10, 2), (1, 0)]);
        covfun(&mut fun_section, "f", 0, files_ref, 2, &[(100, 1)]);
        covfun(&mut fun_section, "g", 22, files_ref, 2, &[(30, 0), (2, 4)]);
        let map = CoverageMap::from_sections(&[&map_section], &[&fun_section]).unwrap();
        assert_eq!(map.len(), 2);
        // Separately: the capture code's file, given relative to the compilation dir.
        let (capture_map, capture_ref) = covmap(6, &["/work", CAPTURE_SOURCE]);
        let mut capture_fun = Vec::new();
        covfun(&mut capture_fun, "f", 11, capture_ref, 1, &[(3, 1)]);
        let capture = CoverageMap::from_sections(&[&capture_map], &[&capture_fun]).unwrap();
        let f_in_capture = FunctionRef {
            name_ref: name_ref("f"),
            func_hash: 11,
        };
        assert!(capture.is_capture(f_in_capture) && capture.span(f_in_capture).is_none());
        let snapshot = CounterSnapshot::new(sections(&["f", "g"]), vec![1, 0, 0, 0, 0]);
        let names = decode_names(&snapshot.sections().names).unwrap();
        assert_eq!(decode(&snapshot, &capture, &names), Ok(Vec::new()));

        let f = FunctionRef {
            name_ref: name_ref("f"),
            func_hash: 11,
        };
        assert_eq!(
            map.span(f),
            Some(&FunctionSpan {
                file: PathBuf::from("/work/demo/src/lib.rs"),
                lines: (10, 12),
            })
        );
        let dummy = FunctionRef { func_hash: 0, ..f };
        assert_eq!(map.span(dummy), None);

        let sections = sections(&["f", "g"]);
        let snapshot = CounterSnapshot::new(sections, vec![0, 0, 7, 0, 0]);
        let names = decode_names(&snapshot.sections().names).unwrap();
        assert_eq!(
            decode(&snapshot, &map, &names).unwrap(),
            [ExecutedFunction {
                name: "g".into(),
                file: PathBuf::from("/abs/other.rs"),
                lines: (30, 36),
            }]
        );
    }

    #[test]
    fn refuses_other_mapping_versions() {
        let (section, _) = covmap(5, &["/work/demo", "src/lib.rs"]);
        assert_eq!(
            CoverageMap::from_sections(&[&section], &[]),
            Err(CoverageError::UnsupportedMappingVersion(5))
        );
        let message = CoverageError::UnsupportedMappingVersion(5).to_string();
        assert!(message.contains("reads 6"), "{message}");
    }

    #[test]
    fn a_function_of_an_unknown_file_list_is_malformed() {
        let (map_section, files_ref) = covmap(6, &["/work/demo", "src/lib.rs"]);
        let mut fun_section = Vec::new();
        covfun(&mut fun_section, "f", 11, files_ref ^ 1, 1, &[(1, 1)]);
        let result = CoverageMap::from_sections(&[&map_section], &[&fun_section]);
        assert!(
            matches!(result, Err(CoverageError::Malformed(_))),
            "{result:?}"
        );
    }

    #[test]
    fn an_unmapped_executed_function_is_an_error() {
        let snapshot = CounterSnapshot::new(sections(&["f", "g"]), vec![1, 0, 0, 0, 0]);
        let names = decode_names(&snapshot.sections().names).unwrap();
        let error = decode(&snapshot, &CoverageMap::default(), &names).unwrap_err();
        assert!(error.to_string().contains("`f`"), "{error}");
    }

    #[test]
    fn normalizes_joined_paths() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/../a")), PathBuf::from("/../a"));
    }

    #[test]
    fn uninstrumented_builds_say_how_to_build() {
        if !super::super::coverage::is_available() {
            let error = super::super::coverage::snapshot().unwrap_err();
            assert_eq!(error, CoverageError::NotInstrumented);
            assert!(error.to_string().contains("cargo testrig affected"));
            assert_eq!(super::super::coverage::check_version(), Err(error));
        }
    }
}

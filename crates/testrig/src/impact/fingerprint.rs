//! Fingerprints of the user's sources, the "what changed" half of affected-test selection.
//!
//! Every recorded run stores one fingerprint per source unit ([`SourceUnit::stored`]); the
//! next run fingerprints the sources again and compares
//! ([`source_changes`](crate::impact::source_changes)) to find the testcases to re-run.
//! A unit is either a function (free fn, method, trait default method, also nested in other
//! fns or inline modules) or another item (struct, enum, const, static, type alias, use,
//! `macro_rules!` definition, macro invocation, an impl's or trait's non-function part).
//!
//! - The **key** is the file relative to the workspace root plus the item path
//!   (`src/geometry.rs::<impl Rect>::diagonal`). It has no line numbers, so lines inserted
//!   above a unit leave its key alone.
//! - The **fingerprint** is an MD5 of the unit's token text without doc comments. Comments and
//!   whitespace are not tokens, doc comments are dropped (they only become `#[doc]`
//!   attributes), so none of the three, nor a line shift, changes a fingerprint.
//! - The **lines** are only for mapping coverage: an executed function's span (a closure's
//!   too) maps to the innermost function unit containing it ([`unit_for_span`]), so closures
//!   count as part of their enclosing fn.
//!
//! Coverage cannot see non-function items (derived impls have no counters), so a changed
//! item unit is meant to select every testcase that executed code in its file: that rule is
//! conservative, and per-file is all an item unit's key is used for.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use md5::Digest as _;
use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit::{self, Visit};
use syn::{Attribute, Block, ImplItem, Item, ItemImpl, ItemMod, ItemTrait, TraitItem};

use crate::impact::build::digest_hex as md5_hex;
use crate::impact::database::StoredUnit;
use crate::impact::parse_cache::ParseCache;

/// What kind of source unit a [`SourceUnit`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitKind {
    /// A function with a body: coverage sees it, so it is selected on its own.
    Function,
    /// Any other item: coverage cannot see it, so it falls under the per-file rule.
    Item,
}

/// One fingerprinted unit of a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUnit {
    /// `file::item path`, e.g. `src/geometry.rs::<impl Rect>::diagonal`; no line numbers.
    /// Units that would share a key (`#[cfg]` twins) get `#2`, `#3`… in source order.
    pub key: String,
    /// Function or other item.
    pub kind: UnitKind,
    /// The file, relative to the workspace root, with `/` separators.
    pub file: String,
    /// First and last line (1-based, inclusive), attributes and doc comments included; for
    /// mapping coverage spans only, never part of the key or fingerprint.
    pub lines: (u32, u32),
    /// MD5 of the unit's token text without doc comments, in hex.
    pub fingerprint: String,
}

impl SourceUnit {
    /// The unit as the impact database stores it.
    pub fn stored(&self) -> StoredUnit {
        StoredUnit {
            key: self.key.clone(),
            is_function: self.kind == UnitKind::Function,
            file: self.file.clone(),
            fingerprint: self.fingerprint.clone(),
        }
    }
}

/// Fingerprints one source file; `file` is its path relative to the workspace root and
/// prefixes every key. A syntax error is an error naming `file` and the position.
pub fn fingerprint_source(file: &str, source: &str) -> Result<Vec<SourceUnit>, String> {
    on_parser_thread(|| units_of(file, source))
}

/// Fingerprints every `.rs` file under `source_dirs` (folders or single files, relative to
/// `root` or absolute; missing ones contribute nothing). Folders holding a build
/// (`root/target`, or any folder with Cargo's `CACHEDIR.TAG`), hidden folders (`.git`) and
/// symlinked folders are skipped. Keys are relative to `root` with `/` separators; units come sorted by file, then
/// in source order.
///
/// Any unreadable or unparsable file is an error naming it: a syntax error must not look
/// like "nothing changed", the caller runs everything instead.
pub fn fingerprint_crate(root: &Path, source_dirs: &[PathBuf]) -> Result<Vec<SourceUnit>, String> {
    let sources = read_sources(root, source_dirs)?;
    on_parser_thread(|| {
        let mut units = Vec::new();
        for (key, source) in &sources {
            units.extend(units_of(key, source)?);
        }
        Ok(units)
    })
}

/// The `.rs` files under `source_dirs`, each with its key, sorted by key.
fn read_sources(root: &Path, source_dirs: &[PathBuf]) -> Result<Vec<(String, String)>, String> {
    let mut files = BTreeSet::new();
    for dir in source_dirs {
        let dir = root.join(dir);
        match fs::metadata(&dir) {
            Ok(meta) if meta.is_file() => {
                files.insert(dir);
            }
            Ok(_) => collect_sources(root, &dir, &mut files)?,
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => return Err(format!("reading {}: {err}", dir.display())),
        }
    }
    let mut sources = Vec::with_capacity(files.len());
    for path in files {
        let key = source_key(root, &path)
            .ok_or_else(|| format!("{} is outside {}", path.display(), root.display()))?;
        let source = fs::read_to_string(&path)
            .map_err(|err| format!("reading {}: {err}", path.display()))?;
        sources.push((key, source));
    }
    sources.sort();
    sources.dedup_by(|a, b| a.0 == b.0);
    Ok(sources)
}

/// The key prefix for `path`: its path relative to `root`, `.` and `..` resolved lexically,
/// with `/` separators; `None` when it is not under `root`. Use it to turn the absolute
/// paths of coverage spans into the `file` of [`SourceUnit`]s.
pub fn source_key(root: &Path, path: &Path) -> Option<String> {
    let root = normalize(root);
    let path = normalize(&root.join(path));
    let relative = path.strip_prefix(&root).ok()?;
    let parts: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The innermost function unit of `file` whose lines contain `lines` (first and last line of
/// an executed function's coverage span), so a closure maps to its enclosing fn and a nested
/// fn to itself. `None` when no function contains it, e.g. code generated by a
/// `macro_rules!` (its spans point at the definition, an item): the per-file rule covers it.
///
/// Lines cannot tell apart two fns on one line; the later one in source order wins.
pub fn unit_for_span<'a>(
    units: &'a [SourceUnit],
    file: &str,
    lines: (u32, u32),
) -> Option<&'a SourceUnit> {
    unit_index_for_span(units, file, lines).map(|index| &units[index])
}

/// [`unit_for_span`], as an index into `units`.
pub fn unit_index_for_span(units: &[SourceUnit], file: &str, lines: (u32, u32)) -> Option<usize> {
    innermost_unit(units.iter().enumerate(), file, lines)
}

/// [`unit_index_for_span`] among `candidates` (index, unit).
fn innermost_unit<'a>(
    candidates: impl Iterator<Item = (usize, &'a SourceUnit)>,
    file: &str,
    lines: (u32, u32),
) -> Option<usize> {
    let mut best: Option<(usize, &SourceUnit)> = None;
    for (index, unit) in candidates {
        let contains = unit.kind == UnitKind::Function
            && unit.file == file
            && unit.lines.0 <= lines.0
            && lines.1 <= unit.lines.1;
        let smaller =
            best.is_none_or(|(_, b)| unit.lines.1 - unit.lines.0 <= b.lines.1 - b.lines.0);
        if contains && smaller {
            best = Some((index, unit));
        }
    }
    best.map(|(index, _)| index)
}

/// The function units of each file sorted by first line, to map many spans without
/// scanning every unit.
pub(crate) struct UnitsByFile<'a> {
    units: &'a [SourceUnit],
    by_file: HashMap<&'a str, Vec<usize>>,
}

impl<'a> UnitsByFile<'a> {
    pub(crate) fn new(units: &'a [SourceUnit]) -> UnitsByFile<'a> {
        let mut by_file: HashMap<&str, Vec<usize>> = HashMap::new();
        for (index, unit) in units.iter().enumerate() {
            if unit.kind == UnitKind::Function {
                by_file.entry(unit.file.as_str()).or_default().push(index);
            }
        }
        for indices in by_file.values_mut() {
            indices.sort_by_key(|&index| (units[index].lines.0, index));
        }
        UnitsByFile { units, by_file }
    }

    /// [`unit_index_for_span`]: the candidates are those starting at or before the span,
    /// and the innermost one that contains it starts last (nested fns start inside their
    /// parent), so only units sharing that first line need comparing.
    pub(crate) fn unit_for_span(&self, file: &str, lines: (u32, u32)) -> Option<usize> {
        let candidates = self.by_file.get(file)?;
        let end = candidates.partition_point(|&index| self.units[index].lines.0 <= lines.0);
        let mut best: Option<usize> = None;
        for &index in candidates[..end].iter().rev() {
            let unit = &self.units[index];
            if let Some(found) = best
                && unit.lines.0 < self.units[found].lines.0
            {
                break;
            }
            let contains = lines.1 <= unit.lines.1;
            let smaller = best.is_none_or(|found| {
                let found = &self.units[found];
                unit.lines.1 - unit.lines.0 < found.lines.1 - found.lines.0
            });
            if contains && smaller {
                best = Some(index);
            }
        }
        best
    }
}

/// Runs `parse` on a thread of its own: proc-macro2 keeps the text of every parsed file in a
/// thread-local map until the thread ends (and wraps at 4 GiB), which a watch loop would
/// otherwise grow forever on the caller's thread.
/// syn recurses per nesting level: parser threads get the main thread's usual stack.
pub(crate) const PARSER_STACK: usize = 8 << 20;

pub(crate) fn on_parser_thread<T: Send>(
    parse: impl FnOnce() -> Result<T, String> + Send,
) -> Result<T, String> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("testrig-fingerprint".into())
            .stack_size(PARSER_STACK)
            .spawn_scoped(scope, parse)
            .map_err(|err| format!("starting the parser thread: {err}"))?
            .join()
            .map_err(|_| "the source parser panicked".to_string())?
    })
}

fn collect_sources(root: &Path, dir: &Path, files: &mut BTreeSet<PathBuf>) -> Result<(), String> {
    let hidden = dir != root
        && dir
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'));
    if hidden || dir == root.join("target") || dir.join("CACHEDIR.TAG").exists() {
        return Ok(());
    }
    let entries = fs::read_dir(dir).map_err(|err| format!("reading {}: {err}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|err| format!("reading {}: {err}", dir.display()))?;
        let path = entry.path();
        let file_type = entry
            .file_type()
            .map_err(|err| format!("reading {}: {err}", path.display()))?;
        if file_type.is_dir() {
            collect_sources(root, &path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "rs")
            // A symlinked file counts; symlinked folders are not followed (cycles).
            && (file_type.is_file() || path.is_file())
        {
            files.insert(path);
        }
    }
    Ok(())
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn units_of(file: &str, source: &str) -> Result<Vec<SourceUnit>, String> {
    Ok(parse_units(file, source)?.0)
}

pub(crate) fn parse_units(
    file: &str,
    source: &str,
) -> Result<(Vec<SourceUnit>, Vec<UnitNames>), String> {
    let parsed = syn::parse_file(source).map_err(|err| {
        let at = err.span().start();
        format!("{file}:{}:{}: {err}", at.line, at.column + 1)
    })?;
    let mut walker = Walker {
        file,
        units: Vec::new(),
        names: Vec::new(),
        seen: HashMap::new(),
    };
    if parsed.attrs.iter().any(|attr| !is_doc(attr)) {
        let mut tokens = TokenStream::new();
        for attr in &parsed.attrs {
            attr.to_tokens(&mut tokens);
        }
        walker.push(&[], "#!".into(), UnitKind::Item, tokens, false, Vec::new());
    }
    walker.items(&parsed.items, &[], false);
    Ok((walker.units, walker.names))
}

/// Walks a file's items depth-first, emitting units in source order (an enclosing fn before
/// the fns nested in it).
struct Walker<'a> {
    file: &'a str,
    units: Vec<SourceUnit>,
    /// What each unit of `units` (same index) defines and names.
    names: Vec<UnitNames>,
    /// How often each key was emitted, to number `#[cfg]` twins.
    seen: HashMap<String, usize>,
}

impl Walker<'_> {
    /// `nested`: the items sit inside a fn body (or an item's expression), whose unit already
    /// hashes all their tokens; only their functions become units of their own, so a
    /// nested struct does not also trip the per-file rule.
    fn items(&mut self, items: &[Item], path: &[String], nested: bool) {
        for item in items {
            self.item(item, path, nested);
        }
    }

    fn item(&mut self, item: &Item, path: &[String], nested: bool) {
        match item {
            Item::Fn(function) => {
                let name = function.sig.ident.to_string();
                let tokens = function.to_token_stream();
                let defines = const_fn_name(&function.sig);
                self.push(
                    path,
                    name.clone(),
                    UnitKind::Function,
                    tokens,
                    false,
                    defines,
                );
                self.nested_in_block(&function.block, &extend(path, name));
            }
            Item::Mod(module) => self.module(module, path, nested),
            Item::Impl(block) => self.impl_block(block, path, nested),
            Item::Trait(block) => self.trait_block(block, path, nested),
            other => {
                let name = item_name(other);
                if !nested {
                    let keep_docs = has_derive(item_attrs(other));
                    self.push(
                        path,
                        name.clone(),
                        UnitKind::Item,
                        other.to_token_stream(),
                        keep_docs,
                        item_defines(other),
                    );
                    if let (Item::Use(_), Some(names)) = (other, self.names.last_mut()) {
                        // A `use` evaluates nothing: only code naming what it brings in does.
                        names.naming = false;
                    }
                    let runs_once = match other {
                        Item::Static(_) => true,
                        Item::Macro(item) => item.mac.path.segments.last().is_some_and(|last| {
                            ONCE_MACROS.contains(&last.ident.to_string().as_str())
                        }),
                        _ => false,
                    };
                    if runs_once && let Some(names) = self.names.last_mut() {
                        names.once = names.idents.clone();
                    }
                }
                // Fns inside a const or static initializer still have coverage of their own.
                let mut finder = NestedItems::default();
                visit::visit_item(&mut finder, other);
                self.items_ref(&finder.items, &extend(path, name));
            }
        }
    }

    fn items_ref(&mut self, items: &[&Item], path: &[String]) {
        for item in items {
            self.item(item, path, true);
        }
    }

    fn nested_in_block(&mut self, block: &Block, path: &[String]) {
        let mut finder = NestedItems::default();
        visit::visit_block(&mut finder, block);
        self.items_ref(&finder.items, path);
    }

    fn module(&mut self, module: &ItemMod, path: &[String], nested: bool) {
        let name = module.ident.to_string();
        if !nested {
            // The header only (attributes, inner ones included, and `mod name`): the
            // content's items are units of their own.
            let header = ItemMod {
                attrs: module.attrs.clone(),
                vis: module.vis.clone(),
                unsafety: module.unsafety,
                mod_token: module.mod_token,
                ident: module.ident.clone(),
                content: module
                    .content
                    .as_ref()
                    .map(|(brace, _)| (*brace, Vec::new())),
                semi: module.semi,
            };
            self.push(
                path,
                name.clone(),
                UnitKind::Item,
                header.to_token_stream(),
                false,
                vec![name.clone()],
            );
        }
        if let Some((_, items)) = &module.content {
            self.items(items, &extend(path, name), nested);
        }
    }

    fn impl_block(&mut self, block: &ItemImpl, path: &[String], nested: bool) {
        let segment = impl_segment(block);
        if !nested {
            // Attributes, header, associated consts and types; the methods are units.
            // Built field by field: cloning the block would copy every method too.
            let rest = ItemImpl {
                attrs: block.attrs.clone(),
                modifiers: block.modifiers.clone(),
                unsafety: block.unsafety,
                impl_token: block.impl_token,
                generics: block.generics.clone(),
                trait_: block.trait_.clone(),
                self_ty: block.self_ty.clone(),
                brace_token: block.brace_token,
                items: block
                    .items
                    .iter()
                    .filter(|item| !matches!(item, ImplItem::Fn(_)))
                    .cloned()
                    .collect(),
            };
            self.push(
                path,
                segment.clone(),
                UnitKind::Item,
                rest.to_token_stream(),
                false,
                impl_defines(block),
            );
        }
        let path = extend(path, segment);
        for item in &block.items {
            if let ImplItem::Fn(method) = item {
                let name = method.sig.ident.to_string();
                self.push(
                    &path,
                    name.clone(),
                    UnitKind::Function,
                    method.to_token_stream(),
                    false,
                    const_fn_name(&method.sig),
                );
                self.nested_in_block(&method.block, &extend(&path, name));
            }
        }
    }

    fn trait_block(&mut self, block: &ItemTrait, path: &[String], nested: bool) {
        let name = block.ident.to_string();
        let has_body =
            |item: &TraitItem| matches!(item, TraitItem::Fn(method) if method.default.is_some());
        if !nested {
            // Required methods' signatures stay here: they have no code of their own.
            let mut rest = block.clone();
            rest.items.retain(|item| !has_body(item));
            self.push(
                path,
                name.clone(),
                UnitKind::Item,
                rest.to_token_stream(),
                false,
                trait_defines(block),
            );
        }
        let path = extend(path, name);
        for item in &block.items {
            if let TraitItem::Fn(method) = item
                && let Some(body) = &method.default
            {
                let name = method.sig.ident.to_string();
                self.push(
                    &path,
                    name.clone(),
                    UnitKind::Function,
                    method.to_token_stream(),
                    false,
                    const_fn_name(&method.sig),
                );
                self.nested_in_block(body, &extend(&path, name));
            }
        }
    }

    fn push(
        &mut self,
        path: &[String],
        name: String,
        kind: UnitKind,
        tokens: TokenStream,
        keep_docs: bool,
        defines: Vec<String>,
    ) {
        let mut key = self.file.to_string();
        for segment in path.iter().chain([&name]) {
            key.push_str("::");
            key.push_str(segment);
        }
        let count = self.seen.entry(key.clone()).or_default();
        *count += 1;
        if *count > 1 {
            key = format!("{key}#{count}");
        }
        let lines = line_span(&tokens);
        // One walk hashes the tokens (doc comments left out) and collects the identifiers.
        let mut digest = TokenDigest::default();
        digest.walk(tokens.clone(), keep_docs);
        let TokenDigest { hasher, idents, .. } = digest;
        let mut once = BTreeSet::new();
        // Only a unit that says one of the markers can hold once-code.
        let has_marker = idents.iter().any(|ident| {
            ONCE_METHODS.contains(&ident.as_str())
                || ONCE_MACROS.contains(&ident.as_str())
                || LAZY_TYPES.contains(&ident.as_str())
        });
        if has_marker {
            let tokens = if keep_docs {
                tokens
            } else {
                strip_docs(tokens)
            };
            collect_once_idents(&tokens, &mut once);
        }
        self.names.push(UnitNames {
            defines,
            idents: idents.into_iter().collect(),
            naming: true,
            callable: (kind == UnitKind::Function).then(|| name.clone()),
            once: once.into_iter().collect(),
        });
        self.units.push(SourceUnit {
            key,
            kind,
            file: self.file.to_string(),
            lines,
            fingerprint: crate::impact::build::hex(&hasher.finalize()),
        });
    }
}

/// The hash of a unit's tokens and the identifiers in them, in one walk: the token text
/// is hashed as it would print (identifiers, literals, punctuation with its spacing, group
/// delimiters), so comments and whitespace never count, and doc comments only when asked.
#[derive(Default)]
struct TokenDigest {
    hasher: md5::Md5,
    idents: BTreeSet<String>,
    text: String,
}

impl TokenDigest {
    fn walk(&mut self, tokens: TokenStream, keep_docs: bool) {
        use md5::Digest;
        let mut trees = tokens.into_iter().peekable();
        while let Some(tree) = trees.next() {
            match tree {
                TokenTree::Punct(punct) => {
                    if punct.as_char() == '#' && !keep_docs && is_doc_attribute(&mut trees) {
                        continue;
                    }
                    let spacing: &[u8] = match punct.spacing() {
                        proc_macro2::Spacing::Joint => b"j",
                        proc_macro2::Spacing::Alone => b" ",
                    };
                    let mut buffer = [0u8; 4];
                    self.hasher
                        .update(punct.as_char().encode_utf8(&mut buffer).as_bytes());
                    self.hasher.update(spacing);
                }
                TokenTree::Ident(ident) => {
                    self.text.clear();
                    use std::fmt::Write;
                    let _ = write!(self.text, "{ident}");
                    self.hasher.update(self.text.as_bytes());
                    self.hasher.update(b" ");
                    let name = self.text.strip_prefix("r#").unwrap_or(&self.text);
                    if !self.idents.contains(name) {
                        self.idents.insert(name.to_string());
                    }
                }
                TokenTree::Literal(literal) => {
                    self.hasher.update(literal.to_string().as_bytes());
                    self.hasher.update(b" ");
                }
                TokenTree::Group(group) => {
                    let (open, close): (&[u8], &[u8]) = match group.delimiter() {
                        Delimiter::Parenthesis => (b"(", b")"),
                        Delimiter::Brace => (b"{", b"}"),
                        Delimiter::Bracket => (b"[", b"]"),
                        Delimiter::None => (b"\x01", b"\x02"),
                    };
                    self.hasher.update(open);
                    self.walk(group.stream(), keep_docs);
                    self.hasher.update(close);
                }
            }
        }
    }
}

/// After a `#`: whether an attribute `[doc …]` (or `![doc …]`) follows; if so it is consumed.
fn is_doc_attribute(trees: &mut std::iter::Peekable<proc_macro2::token_stream::IntoIter>) -> bool {
    let is_doc = |group: &Group| {
        group.delimiter() == Delimiter::Bracket
            && matches!(group.stream().into_iter().next(), Some(TokenTree::Ident(ident)) if ident == "doc")
    };
    match trees.peek() {
        Some(TokenTree::Group(group)) if is_doc(group) => {
            trees.next();
            true
        }
        Some(TokenTree::Punct(bang)) if bang.as_char() == '!' => {
            // `#!`: look past the `!` without losing it when no doc attribute follows.
            let mut ahead = trees.clone();
            ahead.next();
            match ahead.next() {
                Some(TokenTree::Group(group)) if is_doc(&group) => {
                    *trees = ahead;
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// What a unit defines and names, for the name closure of compile-time dependencies.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct UnitNames {
    /// Names other code can refer to it by (an item's name, fields and variants, a `const
    /// fn`'s name); empty for ordinary functions, which coverage sees.
    defines: Vec<String>,
    /// Every identifier in its tokens, sorted.
    idents: Vec<String>,
    /// False for `use` items: bringing a name into scope evaluates nothing.
    naming: bool,
    /// The name a function is called by (`None` for items).
    callable: Option<String>,
    /// Identifiers in code that runs once per process (a `static`'s initializer, the
    /// closure given to `get_or_init`, `call_once`, `LazyLock::new`, `thread_local!`, …):
    /// only the first testcase to get there executes it, so what it calls is folded into
    /// this unit's fingerprint instead.
    once: Vec<String>,
}

/// The fingerprints of a set of files, with compile-time dependencies folded in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprints {
    /// Every unit; a function's fingerprint also covers the items it names, transitively
    /// (see [`fingerprint_workspace`]).
    pub units: Vec<SourceUnit>,
    /// Per file (key as in [`source_key`]): the digest of its own non-function items and of
    /// every workspace item they name, transitively.
    pub items: BTreeMap<String, String>,
    /// Per file: the MD5 of its bytes as read, to compare with what was compiled.
    pub contents: BTreeMap<String, String>,
}

/// Fingerprints `files` (as [`fingerprint_crate`]) and folds in what coverage cannot see:
/// code evaluated at compile time (a `const fn` in a `const`, a `static` initializer, an
/// enum discriminant) and items used across files (a struct's field types, a const).
///
/// The rule: a function's fingerprint covers every workspace item (non-function items and
/// `const fn`s) whose name appears as an identifier in it — an item that names another
/// pulls that one in too, over the whole name graph — and a file's items digest covers its
/// own non-function items and the same closure of what they name. Names are matched as bare
/// identifiers, ignoring paths and scopes, so a changed `const fn Version::new` changes
/// every function that says `new` or `Version`: less precise than name resolution, but a
/// changed item can only influence code that names it or names something naming it.
///
/// Two more kinds of code run where coverage charges them to one testcase or none:
/// - code that runs once per process (see [`UnitNames::once`]): a unit holding it also
///   covers every workspace function and item that code names, transitively (functions
///   included, since the first testcase alone executes them);
/// - files the compiler read that are not Rust sources (`include_str!` data, code a build
///   script generated): `data` gives, per package folder, a digest of those files as
///   compiled. It is folded into the items digest of every file of that package and into
///   each unit that says `include!`, `include_str!` or `include_bytes!`.
pub fn fingerprint_workspace(
    root: &Path,
    files: &[PathBuf],
    data: &BTreeMap<PathBuf, String>,
) -> Result<Fingerprints, String> {
    WorkspaceSources::read(root, files, data)?.fingerprint()
}

/// The sources [`fingerprint_workspace`] works on, read, with the digest of each: what was
/// compiled can be checked at once, and the parse (tens of milliseconds for a large file)
/// can run on a thread of its own while testcases run.
#[derive(Debug)]
pub struct WorkspaceSources {
    root: PathBuf,
    sources: Vec<(String, String)>,
    data: BTreeMap<PathBuf, String>,
    contents: BTreeMap<String, String>,
    /// Where parses are kept by content (see [`ParseCache`]); `None`: every file is parsed.
    parses: Option<ParseCache>,
}

impl WorkspaceSources {
    /// Reads `files` (see [`fingerprint_workspace`]).
    pub fn read(
        root: &Path,
        files: &[PathBuf],
        data: &BTreeMap<PathBuf, String>,
    ) -> Result<WorkspaceSources, String> {
        let sources = read_sources(root, files)?;
        let contents = sources
            .iter()
            .map(|(key, source)| (key.clone(), md5_hex(source.as_bytes())))
            .collect();
        Ok(WorkspaceSources {
            root: root.to_path_buf(),
            sources,
            data: data.clone(),
            contents,
            parses: None,
        })
    }

    /// Takes each file's parse from `cache` when it holds one for the file's bytes, and
    /// stores those it did not.
    pub(crate) fn with_parse_cache(mut self, cache: Option<ParseCache>) -> WorkspaceSources {
        self.parses = cache;
        self
    }

    /// Per file: the MD5 of its bytes as read.
    pub fn contents(&self) -> &BTreeMap<String, String> {
        &self.contents
    }

    /// Fingerprints the sources on a parser thread and waits.
    pub fn fingerprint(self) -> Result<Fingerprints, String> {
        on_parser_thread(|| self.fingerprint_here())
    }

    /// Fingerprints the sources on the calling thread, which must have a stack of
    /// [`PARSER_STACK`] and end soon after (see [`fingerprint`](Self::fingerprint)).
    pub(crate) fn fingerprint_on_this_thread(self) -> Result<Fingerprints, String> {
        self.fingerprint_here()
    }

    fn fingerprint_here(self) -> Result<Fingerprints, String> {
        let WorkspaceSources {
            root,
            sources,
            data,
            contents,
            parses,
        } = self;
        fold_fingerprints(&root, &sources, &data, contents, parses.as_ref())
    }
}

fn fold_fingerprints(
    root: &Path,
    sources: &[(String, String)],
    data: &BTreeMap<PathBuf, String>,
    contents: BTreeMap<String, String>,
    parses: Option<&ParseCache>,
) -> Result<Fingerprints, String> {
    // The package a file belongs to: the deepest package folder holding it.
    let package_data = |file: &str| {
        let path = root.join(file);
        data.iter()
            .filter(|(folder, _)| path.starts_with(folder))
            .max_by_key(|(folder, _)| folder.as_os_str().len())
            .map(|(_, digest)| digest.as_str())
    };
    {
        let mut units = Vec::new();
        let mut names = Vec::new();
        for (key, source) in sources {
            let (file_units, file_names) = match (parses, contents.get(key)) {
                (Some(cache), Some(digest)) => cache.units(key, source, digest)?,
                _ => parse_units(key, source)?,
            };
            units.extend(file_units);
            names.extend(file_names);
        }
        for (unit, unit_names) in units.iter_mut().zip(&names) {
            let includes = unit_names
                .idents
                .iter()
                .any(|ident| INCLUDE_MACROS.contains(&ident.as_str()));
            if includes && let Some(digest) = package_data(&unit.file) {
                unit.fingerprint =
                    md5_hex(format!("{} data {digest}", unit.fingerprint).as_bytes());
            }
        }
        if names.iter().any(|unit_names| !unit_names.once.is_empty()) {
            // Every function is a node here, named by what calls it.
            let call_names: Vec<UnitNames> = names
                .iter()
                .map(|unit_names| UnitNames {
                    defines: unit_names
                        .defines
                        .iter()
                        .cloned()
                        .chain(unit_names.callable.clone())
                        .collect(),
                    ..unit_names.clone()
                })
                .collect();
            let calls = NameClosure::new(&units, &call_names);
            let folded: Vec<Option<String>> = names
                .iter()
                .map(|unit_names| calls.digest(unit_names.once.iter().map(String::as_str)))
                .collect();
            for (unit, reached) in units.iter_mut().zip(folded) {
                if let Some(reached) = reached {
                    unit.fingerprint =
                        md5_hex(format!("{} once {reached}", unit.fingerprint).as_bytes());
                }
            }
        }
        let closure = NameClosure::new(&units, &names);
        let mut items: BTreeMap<String, (BTreeSet<String>, BTreeSet<&str>)> = sources
            .iter()
            .map(|(key, _)| (key.clone(), Default::default()))
            .collect();
        for (unit, unit_names) in units.iter_mut().zip(&names) {
            match unit.kind {
                UnitKind::Function => {
                    if let Some(named) =
                        closure.digest(unit_names.idents.iter().map(String::as_str))
                    {
                        unit.fingerprint =
                            md5_hex(format!("{} {named}", unit.fingerprint).as_bytes());
                    }
                }
                UnitKind::Item => {
                    let (own, idents) = items.entry(unit.file.clone()).or_default();
                    own.insert(format!("{} {}", unit.key, unit.fingerprint));
                    if unit_names.naming {
                        idents.extend(unit_names.idents.iter().map(String::as_str));
                    }
                }
            }
        }
        let items = items
            .into_iter()
            .map(|(file, (own, idents))| {
                let mut text = own.into_iter().collect::<Vec<_>>().join("\n");
                if let Some(named) = closure.digest(idents.into_iter()) {
                    text.push_str("\nnames ");
                    text.push_str(&named);
                }
                if let Some(digest) = package_data(&file) {
                    text.push_str("\ndata ");
                    text.push_str(digest);
                }
                (file, md5_hex(text.as_bytes()))
            })
            .collect();
        Ok(Fingerprints {
            units,
            items,
            contents,
        })
    }
}

/// The graph of items (units that define names) and the items each one names, condensed
/// into strongly connected components, each with a digest of everything it reaches.
struct NameClosure<'a> {
    /// Name → the components of the items defining it.
    by_name: HashMap<&'a str, Vec<usize>>,
    /// Per component: MD5 of its items' keys and fingerprints and of the digests of the
    /// components it names.
    digests: Vec<String>,
}

impl<'a> NameClosure<'a> {
    fn new(units: &[SourceUnit], names: &'a [UnitNames]) -> NameClosure<'a> {
        let nodes: Vec<usize> = (0..units.len())
            .filter(|&unit| !names[unit].defines.is_empty())
            .collect();
        let mut node_by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        for (node, &unit) in nodes.iter().enumerate() {
            for name in &names[unit].defines {
                node_by_name.entry(name.as_str()).or_default().push(node);
            }
        }
        let edges: Vec<Vec<usize>> = nodes
            .iter()
            .map(|&unit| {
                let mut targets: Vec<usize> = names[unit]
                    .idents
                    .iter()
                    .filter_map(|ident| node_by_name.get(ident.as_str()))
                    .flatten()
                    .copied()
                    .collect();
                targets.sort_unstable();
                targets.dedup();
                targets
            })
            .collect();
        let (component_of, components) = strongly_connected(&edges);
        // Tarjan's algorithm emits a component after every component it reaches.
        let mut digests: Vec<String> = Vec::with_capacity(components.len());
        for members in &components {
            let own = component_of[members[0]];
            let mut lines: BTreeSet<String> = members
                .iter()
                .map(|&node| {
                    let unit = &units[nodes[node]];
                    format!("{} {}", unit.key, unit.fingerprint)
                })
                .collect();
            for &node in members {
                for &target in &edges[node] {
                    let component = component_of[target];
                    if component != own {
                        lines.insert(format!("-> {}", digests[component]));
                    }
                }
            }
            digests.push(md5_hex(
                lines.into_iter().collect::<Vec<_>>().join("\n").as_bytes(),
            ));
        }
        let by_name = node_by_name
            .into_iter()
            .map(|(name, nodes)| {
                let mut reached: Vec<usize> =
                    nodes.iter().map(|&node| component_of[node]).collect();
                reached.sort_unstable();
                reached.dedup();
                (name, reached)
            })
            .collect();
        NameClosure { by_name, digests }
    }

    /// The digest of every item the identifiers name, transitively; `None` when they name
    /// none.
    fn digest<'b>(&self, idents: impl Iterator<Item = &'b str>) -> Option<String> {
        let reached: BTreeSet<&str> = idents
            .filter_map(|ident| self.by_name.get(ident))
            .flatten()
            .map(|&component| self.digests[component].as_str())
            .collect();
        (!reached.is_empty())
            .then(|| md5_hex(reached.into_iter().collect::<Vec<_>>().join(" ").as_bytes()))
    }
}

/// Tarjan's strongly connected components, without recursion (item graphs can be deep):
/// each node's component and the components' members, every component after those it
/// reaches.
fn strongly_connected(edges: &[Vec<usize>]) -> (Vec<usize>, Vec<Vec<usize>>) {
    const UNSEEN: usize = usize::MAX;
    let count = edges.len();
    let (mut index, mut low) = (vec![UNSEEN; count], vec![0; count]);
    let mut on_stack = vec![false; count];
    let (mut stack, mut component_of) = (Vec::new(), vec![UNSEEN; count]);
    let mut components: Vec<Vec<usize>> = Vec::new();
    let mut next = 0;
    for start in 0..count {
        if index[start] != UNSEEN {
            continue;
        }
        // (node, position of the next edge to follow)
        let mut path = vec![(start, 0)];
        index[start] = next;
        low[start] = next;
        next += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some(top) = path.len().checked_sub(1) {
            let (node, edge) = path[top];
            if let Some(&target) = edges[node].get(edge) {
                path[top].1 += 1;
                if index[target] == UNSEEN {
                    index[target] = next;
                    low[target] = next;
                    next += 1;
                    stack.push(target);
                    on_stack[target] = true;
                    path.push((target, 0));
                } else if on_stack[target] {
                    low[node] = low[node].min(index[target]);
                }
                continue;
            }
            path.pop();
            if let Some(&(parent, _)) = path.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut members = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component_of[member] = components.len();
                    members.push(member);
                    if member == node {
                        break;
                    }
                }
                components.push(members);
            }
        }
    }
    (component_of, components)
}

/// Primitive type names: a macro invocation that mentions `u32` does not define it.
const PRIMITIVES: [&str; 17] = [
    "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
    "i128", "isize", "f32", "f64",
];

fn collect_idents(tokens: &TokenStream, out: &mut BTreeSet<String>) {
    for tree in tokens.clone() {
        match tree {
            TokenTree::Ident(ident) => {
                let text = ident.to_string();
                out.insert(text.strip_prefix("r#").map(str::to_string).unwrap_or(text));
            }
            TokenTree::Group(group) => collect_idents(&group.stream(), out),
            _ => {}
        }
    }
}

/// Methods whose argument runs once per process (std's `OnceLock`, `OnceCell`, `Once`,
/// once_cell's, `Option::get_or_insert_with` on a static).
const ONCE_METHODS: [&str; 6] = [
    "get_or_init",
    "get_or_try_init",
    "get_or_init_with",
    "call_once",
    "call_once_force",
    "get_or_insert_with",
];
/// Macros that compile a file's content in.
const INCLUDE_MACROS: [&str; 3] = ["include", "include_str", "include_bytes"];
/// Types whose `new` takes code that runs on first use.
const LAZY_TYPES: [&str; 3] = ["LazyLock", "LazyCell", "Lazy"];
/// Macros whose initializers run once per process or thread.
const ONCE_MACROS: [&str; 2] = ["lazy_static", "thread_local"];

/// The identifiers in the once-per-process code of `tokens`: the arguments of
/// [`ONCE_METHODS`], of `LAZY_TYPES::new` and of [`ONCE_MACROS`] invocations.
fn collect_once_idents(tokens: &TokenStream, out: &mut BTreeSet<String>) {
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    for (at, tree) in trees.iter().enumerate() {
        match tree {
            TokenTree::Group(group) => collect_once_idents(&group.stream(), out),
            TokenTree::Ident(ident) => {
                let name = ident.to_string();
                let is_punct = |offset: usize, ch: char| matches!(trees.get(at + offset), Some(TokenTree::Punct(p)) if p.as_char() == ch);
                let group_at = |offset: usize| match trees.get(at + offset) {
                    Some(TokenTree::Group(group)) => Some(group.stream()),
                    _ => None,
                };
                let argument = if ONCE_METHODS.contains(&name.as_str()) {
                    group_at(1)
                } else if ONCE_MACROS.contains(&name.as_str()) && is_punct(1, '!') {
                    group_at(2)
                } else if LAZY_TYPES.contains(&name.as_str())
                    && is_punct(1, ':')
                    && is_punct(2, ':')
                    && matches!(trees.get(at + 3), Some(TokenTree::Ident(new)) if new == "new")
                {
                    group_at(4)
                } else {
                    None
                };
                if let Some(argument) = argument {
                    collect_idents(&argument, out);
                }
            }
            _ => {}
        }
    }
}

/// A `const fn` can run at compile time, where coverage does not see it: it is named like
/// an item.
fn const_fn_name(sig: &syn::Signature) -> Vec<String> {
    match sig.constness {
        Some(_) => vec![sig.ident.to_string()],
        None => Vec::new(),
    }
}

fn field_names(fields: &syn::Fields) -> impl Iterator<Item = String> + '_ {
    fields
        .iter()
        .filter_map(|field| field.ident.as_ref().map(ToString::to_string))
}

/// The names code elsewhere can use a non-function item by: its name, and the fields and
/// variants that can be used without naming it (`rect.width` after type inference).
fn item_defines(item: &Item) -> Vec<String> {
    match item {
        Item::Const(item) => vec![item.ident.to_string()],
        Item::Static(item) => vec![item.ident.to_string()],
        Item::Type(item) => vec![item.ident.to_string()],
        Item::TraitAlias(item) => vec![item.ident.to_string()],
        Item::Struct(item) => std::iter::once(item.ident.to_string())
            .chain(field_names(&item.fields))
            .collect(),
        Item::Union(item) => std::iter::once(item.ident.to_string())
            .chain(
                item.fields
                    .named
                    .iter()
                    .filter_map(|field| field.ident.as_ref().map(ToString::to_string)),
            )
            .collect(),
        Item::Enum(item) => std::iter::once(item.ident.to_string())
            .chain(item.variants.iter().flat_map(|variant| {
                std::iter::once(variant.ident.to_string()).chain(field_names(&variant.fields))
            }))
            .collect(),
        Item::ExternCrate(item) => vec![
            item.rename
                .as_ref()
                .map_or(&item.ident, |(_, rename)| rename)
                .to_string(),
        ],
        Item::ForeignMod(block) => block
            .items
            .iter()
            .filter_map(|item| match item {
                syn::ForeignItem::Fn(function) => Some(function.sig.ident.to_string()),
                syn::ForeignItem::Static(item) => Some(item.ident.to_string()),
                syn::ForeignItem::Type(item) => Some(item.ident.to_string()),
                _ => None,
            })
            .collect(),
        Item::Use(item) => {
            let mut renames = Vec::new();
            use_renames(&item.tree, &mut renames);
            renames
        }
        Item::Macro(item) => match &item.ident {
            Some(ident) => vec![ident.to_string()],
            // An invocation may generate anything its tokens name.
            None => {
                let mut idents = BTreeSet::new();
                collect_idents(&item.mac.tokens, &mut idents);
                idents.extend(item.mac.path.segments.last().map(|s| s.ident.to_string()));
                idents
                    .into_iter()
                    .filter(|ident| !PRIMITIVES.contains(&ident.as_str()))
                    .collect()
            }
        },
        _ => Vec::new(),
    }
}

fn use_renames(tree: &syn::UseTree, out: &mut Vec<String>) {
    match tree {
        syn::UseTree::Path(path) => use_renames(&path.tree, out),
        syn::UseTree::Rename(rename) => out.push(rename.rename.to_string()),
        syn::UseTree::Group(group) => group.items.iter().for_each(|tree| use_renames(tree, out)),
        _ => {}
    }
}

/// The last path segment of every type named in an impl's self type (`Rect` in
/// `impl Shape for &Rect`).
fn type_names(ty: &syn::Type, out: &mut Vec<String>) {
    match ty {
        syn::Type::Path(path) => out.extend(path.path.segments.last().map(|s| s.ident.to_string())),
        syn::Type::Reference(inner) => type_names(&inner.elem, out),
        syn::Type::Slice(inner) => type_names(&inner.elem, out),
        syn::Type::Array(inner) => type_names(&inner.elem, out),
        syn::Type::Paren(inner) => type_names(&inner.elem, out),
        syn::Type::Group(inner) => type_names(&inner.elem, out),
        syn::Type::Tuple(tuple) => tuple.elems.iter().for_each(|elem| type_names(elem, out)),
        _ => {}
    }
}

/// An impl's header is part of its type (and trait): bounds and associated consts and
/// types change what code using them compiles to.
fn impl_defines(block: &ItemImpl) -> Vec<String> {
    let mut names = Vec::new();
    type_names(&block.self_ty, &mut names);
    if let Some((path, _)) = &block.trait_ {
        names.extend(path.segments.last().map(|s| s.ident.to_string()));
    }
    for item in &block.items {
        match item {
            ImplItem::Const(item) => names.push(item.ident.to_string()),
            ImplItem::Type(item) => names.push(item.ident.to_string()),
            _ => {}
        }
    }
    names
}

fn trait_defines(block: &ItemTrait) -> Vec<String> {
    std::iter::once(block.ident.to_string())
        .chain(block.items.iter().filter_map(|item| match item {
            TraitItem::Const(item) => Some(item.ident.to_string()),
            TraitItem::Type(item) => Some(item.ident.to_string()),
            TraitItem::Fn(method) if method.default.is_none() => Some(method.sig.ident.to_string()),
            _ => None,
        }))
        .collect()
}

/// Collects the items directly inside a syntax node (not those inside them: the walker
/// recurses itself, with the right path).
#[derive(Default)]
struct NestedItems<'ast> {
    items: Vec<&'ast Item>,
}

impl<'ast> Visit<'ast> for NestedItems<'ast> {
    fn visit_item(&mut self, item: &'ast Item) {
        self.items.push(item);
    }
}

fn extend(path: &[String], segment: String) -> Vec<String> {
    let mut path = path.to_vec();
    path.push(segment);
    path
}

/// `<impl Rect>`, `<impl Shape for Rect>`, `<impl Wrapper<T>>`: the impl's trait and type,
/// without its generic parameters and bounds (those are in the impl's item unit).
fn impl_segment(block: &ItemImpl) -> String {
    let self_ty = compact(&block.self_ty.to_token_stream());
    match &block.trait_ {
        Some((trait_, _)) => {
            let polarity = if block.modifiers.polarity.is_some() {
                "!"
            } else {
                ""
            };
            format!(
                "<impl {polarity}{} for {self_ty}>",
                compact(&trait_.to_token_stream())
            )
        }
        None => format!("<impl {self_ty}>"),
    }
}

/// The key segment of a non-function item.
fn item_name(item: &Item) -> String {
    match item {
        Item::Const(item) => item.ident.to_string(),
        Item::Enum(item) => item.ident.to_string(),
        Item::Static(item) => item.ident.to_string(),
        Item::Struct(item) => item.ident.to_string(),
        Item::TraitAlias(item) => item.ident.to_string(),
        Item::Type(item) => item.ident.to_string(),
        Item::Union(item) => item.ident.to_string(),
        Item::ExternCrate(item) => format!("extern crate {}", item.ident),
        Item::ForeignMod(item) => format!("extern {}", compact(&item.abi.to_token_stream())),
        Item::Use(item) => format!("use {}", compact(&item.tree.to_token_stream())),
        Item::Macro(item) => match &item.ident {
            Some(ident) => format!("macro_rules! {ident}"),
            None => format!("{}!", compact(&item.mac.path.to_token_stream())),
        },
        _ => "item".into(),
    }
}

fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(item) => &item.attrs,
        Item::Enum(item) => &item.attrs,
        Item::Static(item) => &item.attrs,
        Item::Struct(item) => &item.attrs,
        Item::Type(item) => &item.attrs,
        Item::Union(item) => &item.attrs,
        Item::Macro(item) => &item.attrs,
        _ => &[],
    }
}

/// Derives may read doc comments (clap turns them into `--help` text), so a derived item
/// keeps them in its fingerprint.
fn has_derive(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| attr.path().is_ident("derive"))
}

fn is_doc(attr: &Attribute) -> bool {
    attr.path().is_ident("doc")
}

/// Token text made readable for keys: `Wrapper < T >` becomes `Wrapper<T>`. Spaces stay only
/// between two words, after `,`/`;` and around `+`/`=`.
fn compact(tokens: &TokenStream) -> String {
    let text = tokens.to_string();
    let chars: Vec<char> = text.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev = out.chars().next_back().unwrap_or(' ');
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            let keep = (word(prev) && word(next))
                || matches!(prev, ',' | ';' | '+' | '=')
                || matches!(next, '+' | '=');
            if !keep {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Removes `#[doc …]` and `#![doc …]` (doc comments) at every depth, nested items' and
/// fields' included.
fn strip_docs(tokens: TokenStream) -> TokenStream {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::with_capacity(trees.len());
    let mut i = 0;
    while i < trees.len() {
        if let TokenTree::Punct(pound) = &trees[i]
            && pound.as_char() == '#'
        {
            let bang = matches!(&trees.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!');
            let at = if bang { i + 2 } else { i + 1 };
            if let Some(TokenTree::Group(group)) = trees.get(at)
                && group.delimiter() == Delimiter::Bracket
                && matches!(group.stream().into_iter().next(), Some(TokenTree::Ident(ident)) if ident == "doc")
            {
                i = at + 1;
                continue;
            }
        }
        out.push(match &trees[i] {
            TokenTree::Group(group) => {
                let mut stripped = Group::new(group.delimiter(), strip_docs(group.stream()));
                stripped.set_span(group.span());
                TokenTree::Group(stripped)
            }
            other => other.clone(),
        });
        i += 1;
    }
    out.into_iter().collect()
}

fn line_span(tokens: &TokenStream) -> (u32, u32) {
    let mut trees = tokens.clone().into_iter();
    let first = trees.next();
    let last = trees.last().or_else(|| first.clone());
    let line = |tree: Option<TokenTree>, end: bool| {
        tree.map_or(0, |tree| {
            let span = tree.span();
            let at = if end { span.end() } else { span.start() };
            u32::try_from(at.line).unwrap_or(u32::MAX)
        })
    };
    (line(first, false), line(last, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(source: &str) -> Vec<SourceUnit> {
        fingerprint_source("src/a.rs", source).unwrap()
    }

    fn unit<'a>(units: &'a [SourceUnit], key: &str) -> &'a SourceUnit {
        units
            .iter()
            .find(|unit| unit.key == key)
            .unwrap_or_else(|| panic!("no unit {key} in {:#?}", keys(units)))
    }

    fn keys(units: &[SourceUnit]) -> Vec<(&str, UnitKind)> {
        units
            .iter()
            .map(|unit| (unit.key.as_str(), unit.kind))
            .collect()
    }

    /// Key → fingerprint, to compare two versions of a file.
    fn prints(units: &[SourceUnit]) -> BTreeSet<(String, String)> {
        units
            .iter()
            .map(|unit| (unit.key.clone(), unit.fingerprint.clone()))
            .collect()
    }

    /// Keys whose fingerprint differs between two versions with the same keys.
    fn changed(before: &[SourceUnit], after: &[SourceUnit]) -> Vec<String> {
        assert_eq!(keys(before), keys(after));
        before
            .iter()
            .zip(after)
            .filter(|(old, new)| old.fingerprint != new.fingerprint)
            .map(|(old, _)| old.key.clone())
            .collect()
    }

    const GEOMETRY: &str = r#"
use std::fmt;

/// A rectangle.
#[derive(Debug, Clone)]
pub struct Rect {
    pub w: f64,
    pub h: f64,
}

pub const UNIT: f64 = 1.0;

pub trait Shape {
    fn area(&self) -> f64;
    /// Says what it is.
    fn describe(&self) -> String {
        format!("shape of area {}", self.area())
    }
}

impl Rect {
    pub fn diagonal(&self) -> f64 {
        (square(self.w) + square(self.h)).sqrt()
    }

    pub fn area(&self) -> f64 {
        self.w * self.h
    }
}

impl Shape for Rect {
    fn area(&self) -> f64 {
        Rect::area(self)
    }
}

pub struct Wrapper<T>(pub T);

impl<T: fmt::Display> Wrapper<T> {
    pub fn show(&self) -> String {
        self.0.to_string()
    }
}

#[inline(always)]
fn square(x: f64) -> f64 {
    x * x
}

pub fn total_area(shapes: &[Rect]) -> f64 {
    shapes.iter().map(|shape| {
        shape.area()
    }).sum()
}
"#;

    #[test]
    fn comments_whitespace_doc_comments_and_line_shifts_change_nothing() {
        let before = units(GEOMETRY);
        let edited = GEOMETRY
            .replace(
                "    pub fn area(&self) -> f64 {\n        self.w * self.h",
                "    /// Width times height.\n    pub fn area( &self )->f64{ // cheap\n\n        self.w   *   self.h /* no overflow */",
            )
            .replace("/// Says what it is.", "/// Says what it is, politely.\n    /// Twice.")
            .replace("x * x", "x\n        * x // squared");
        let shifted = format!("//! Geometry.\n\n// five\n// lines\n// above\n{edited}");
        let after = units(&shifted);
        assert_eq!(prints(&before), prints(&after));
        let (old, new) = (
            unit(&before, "src/a.rs::<impl Rect>::area"),
            unit(&after, "src/a.rs::<impl Rect>::area"),
        );
        // The key and fingerprint survive; only the lines (which map coverage) moved: 5 at
        // the top, 1 more doc line in `Shape`, then its own new doc line (where the unit
        // now starts) and blank line.
        assert_eq!(new.lines.0, old.lines.0 + 5 + 1);
        assert_eq!(new.lines.1, old.lines.1 + 5 + 1 + 2);
    }

    #[test]
    fn a_body_change_changes_only_that_function() {
        let before = units(GEOMETRY);
        let after = units(&GEOMETRY.replace("self.w * self.h", "self.h * self.w"));
        assert_eq!(changed(&before, &after), ["src/a.rs::<impl Rect>::area"]);
        let after = units(&GEOMETRY.replace("shape.area()", "shape.area() * UNIT"));
        assert_eq!(changed(&before, &after), ["src/a.rs::total_area"]);
    }

    #[test]
    fn methods_get_keys_by_impl_and_trait() {
        let all = units(GEOMETRY);
        assert_eq!(
            keys(&all),
            [
                ("src/a.rs::use std::fmt", UnitKind::Item),
                ("src/a.rs::Rect", UnitKind::Item),
                ("src/a.rs::UNIT", UnitKind::Item),
                ("src/a.rs::Shape", UnitKind::Item),
                ("src/a.rs::Shape::describe", UnitKind::Function),
                ("src/a.rs::<impl Rect>", UnitKind::Item),
                ("src/a.rs::<impl Rect>::diagonal", UnitKind::Function),
                ("src/a.rs::<impl Rect>::area", UnitKind::Function),
                ("src/a.rs::<impl Shape for Rect>", UnitKind::Item),
                ("src/a.rs::<impl Shape for Rect>::area", UnitKind::Function),
                ("src/a.rs::Wrapper", UnitKind::Item),
                ("src/a.rs::<impl Wrapper<T>>", UnitKind::Item),
                ("src/a.rs::<impl Wrapper<T>>::show", UnitKind::Function),
                ("src/a.rs::square", UnitKind::Function),
                ("src/a.rs::total_area", UnitKind::Function),
            ]
        );
        assert!(all.iter().all(|unit| unit.file == "src/a.rs"));
        assert_ne!(
            unit(&all, "src/a.rs::<impl Rect>::area").fingerprint,
            unit(&all, "src/a.rs::<impl Shape for Rect>::area").fingerprint
        );
        // An impl's header is part of its item: new bounds select by the per-file rule.
        let after =
            units(&GEOMETRY.replace("impl<T: fmt::Display>", "impl<T: fmt::Display + Clone>"));
        assert_eq!(changed(&all, &after), ["src/a.rs::<impl Wrapper<T>>"]);
    }

    #[test]
    fn trait_default_methods_are_functions_and_required_ones_part_of_the_trait() {
        let before = units(GEOMETRY);
        let after = units(&GEOMETRY.replace("shape of area", "area"));
        assert_eq!(changed(&before, &after), ["src/a.rs::Shape::describe"]);
        let after = units(&GEOMETRY.replace("fn area(&self) -> f64;", "fn area(&self) -> f32;"));
        assert_eq!(changed(&before, &after), ["src/a.rs::Shape"]);
    }

    #[test]
    fn inline_modules_nest_keys() {
        let all = units(
            "mod outer {\n    #![allow(dead_code)]\n    pub fn f() {}\n    mod inner {\n        struct S;\n        fn g() {}\n    }\n}\nmod other;\n",
        );
        assert_eq!(
            keys(&all),
            [
                ("src/a.rs::outer", UnitKind::Item),
                ("src/a.rs::outer::f", UnitKind::Function),
                ("src/a.rs::outer::inner", UnitKind::Item),
                ("src/a.rs::outer::inner::S", UnitKind::Item),
                ("src/a.rs::outer::inner::g", UnitKind::Function),
                ("src/a.rs::other", UnitKind::Item),
            ]
        );
        // A module's item is its header only; its content's units are on their own.
        let after = units(
            "mod outer {\n    #![allow(dead_code)]\n    pub fn f() { let _ = 1; }\n    mod inner {\n        struct S;\n        fn g() {}\n    }\n}\nmod other;\n",
        );
        assert_eq!(changed(&all, &after), ["src/a.rs::outer::f"]);
        let after = units(
            "mod outer {\n    #![allow(unused)]\n    pub fn f() {}\n    mod inner {\n        struct S;\n        fn g() {}\n    }\n}\nmod other;\n",
        );
        assert_eq!(changed(&all, &after), ["src/a.rs::outer"]);
    }

    const MACROS: &str = "macro_rules! make_double {\n    ($name:ident, $t:ty) => {\n        pub fn $name(x: $t) -> $t { x * 2 }\n    };\n}\n\nmake_double!(double_i32, i32);\n\npub fn four() -> i32 {\n    double_i32(2)\n}\n";

    #[test]
    fn macro_definitions_and_invocations_are_items() {
        let before = units(MACROS);
        assert_eq!(
            keys(&before),
            [
                ("src/a.rs::macro_rules! make_double", UnitKind::Item),
                ("src/a.rs::make_double!", UnitKind::Item),
                ("src/a.rs::four", UnitKind::Function),
            ]
        );
        let after = units(&MACROS.replace("x * 2", "x + x"));
        assert_eq!(
            changed(&before, &after),
            ["src/a.rs::macro_rules! make_double"]
        );
        let after = units(&MACROS.replace("double_i32, i32", "double_i32, i64"));
        assert_eq!(changed(&before, &after), ["src/a.rs::make_double!"]);
        // A generated fn's coverage points into the definition: no fn contains it.
        assert_eq!(unit_for_span(&before, "src/a.rs", (3, 3)), None);
    }

    #[test]
    fn a_struct_field_change_changes_only_that_item() {
        let before = units(GEOMETRY);
        let after = units(&GEOMETRY.replace("pub h: f64", "pub h: f32"));
        assert_eq!(changed(&before, &after), ["src/a.rs::Rect"]);
        let after = units(&GEOMETRY.replace("UNIT: f64 = 1.0", "UNIT: f64 = 2.0"));
        assert_eq!(changed(&before, &after), ["src/a.rs::UNIT"]);
    }

    #[test]
    fn derived_items_keep_their_doc_comments() {
        let source = "/// Options.\n#[derive(clap::Parser)]\nstruct Args {\n    /// Be loud.\n    verbose: bool,\n}\n/// Plain.\nstruct Plain {\n    /// A field.\n    x: u8,\n}\n";
        let before = units(source);
        let after = units(
            &source
                .replace("Be loud.", "Be very loud.")
                .replace("A field.", "The field."),
        );
        assert_eq!(changed(&before, &after), ["src/a.rs::Args"]);
    }

    #[test]
    fn twins_get_numbered_keys() {
        let all = units(
            "#[cfg(unix)]\nfn open() {}\n#[cfg(not(unix))]\nfn open() {}\nmake!(a);\nmake!(b);\n",
        );
        assert_eq!(
            keys(&all),
            [
                ("src/a.rs::open", UnitKind::Function),
                ("src/a.rs::open#2", UnitKind::Function),
                ("src/a.rs::make!", UnitKind::Item),
                ("src/a.rs::make!#2", UnitKind::Item),
            ]
        );
    }

    #[test]
    fn file_attributes_are_an_item_and_module_docs_are_not() {
        assert!(
            units("//! Docs only.\nfn f() {}\n")
                .iter()
                .all(|unit| unit.key != "src/a.rs::#!")
        );
        let with = units("//! Docs.\n#![allow(unused)]\nfn f() {}\n");
        assert_eq!(unit(&with, "src/a.rs::#!").kind, UnitKind::Item);
    }

    const NESTED: &str = "fn outer() -> i32 {\n    let add = |a: i32| {\n        a + 1\n    };\n    fn inner() -> i32 {\n        let twice = |b: i32| b * 2;\n        twice(3)\n    }\n    add(inner())\n}\n\nstruct S;\n\nimpl S {\n    fn method(&self) {\n        fn helper() {}\n        helper()\n    }\n}\n";

    #[test]
    fn spans_map_to_the_innermost_enclosing_function() {
        let all = units(NESTED);
        assert_eq!(
            keys(&all),
            [
                ("src/a.rs::outer", UnitKind::Function),
                ("src/a.rs::outer::inner", UnitKind::Function),
                ("src/a.rs::S", UnitKind::Item),
                ("src/a.rs::<impl S>", UnitKind::Item),
                ("src/a.rs::<impl S>::method", UnitKind::Function),
                ("src/a.rs::<impl S>::method::helper", UnitKind::Function),
            ]
        );
        let key = |lines| unit_for_span(&all, "src/a.rs", lines).map(|unit| unit.key.as_str());
        assert_eq!(unit(&all, "src/a.rs::outer").lines, (1, 10));
        // The closure `add` (lines 2-4) belongs to `outer`.
        assert_eq!(key((2, 4)), Some("src/a.rs::outer"));
        // The closure inside `inner` and `inner` itself map to `inner`.
        assert_eq!(key((6, 6)), Some("src/a.rs::outer::inner"));
        assert_eq!(key((5, 8)), Some("src/a.rs::outer::inner"));
        assert_eq!(key((16, 16)), Some("src/a.rs::<impl S>::method::helper"));
        assert_eq!(key((15, 18)), Some("src/a.rs::<impl S>::method"));
        // Items, lines outside every fn and other files map to nothing.
        assert_eq!(key((12, 12)), None);
        assert_eq!(key((9, 11)), None);
        assert_eq!(unit_for_span(&all, "src/b.rs", (2, 4)), None);
        // A nested fn's edit changes the enclosing fn too: its tokens are part of it.
        let after = units(&NESTED.replace("b * 2", "b + b"));
        assert_eq!(
            changed(&all, &after),
            ["src/a.rs::outer", "src/a.rs::outer::inner"]
        );
        // A nested item is part of its fn, not a unit of its own (no per-file rule).
        let after =
            units(&NESTED.replace("fn helper() {}", "struct Local;\n        fn helper() {}"));
        assert_eq!(keys(&all), keys(&after));
    }

    #[test]
    fn the_per_file_index_maps_every_span_as_the_full_scan_does() {
        // Two fns on one line as well as nesting: the later one in source order wins.
        let source = format!("{NESTED}fn a() {{}} fn b() {{}}\n");
        let all = units(&source);
        let index = UnitsByFile::new(&all);
        let last = source.lines().count() as u32 + 1;
        for first in 1..=last {
            for end in first..=last {
                assert_eq!(
                    index.unit_for_span("src/a.rs", (first, end)),
                    unit_index_for_span(&all, "src/a.rs", (first, end)),
                    "lines {first}-{end}"
                );
            }
        }
        assert_eq!(index.unit_for_span("src/b.rs", (1, 1)), None);
    }

    #[test]
    fn syntax_errors_name_the_file_and_position() {
        let err = fingerprint_source("src/broken.rs", "fn ok() {}\n\nfn broken( {\n").unwrap_err();
        assert!(err.starts_with("src/broken.rs:3:"), "{err}");
    }

    fn scratch_folder(name: &str) -> PathBuf {
        let folder =
            std::env::temp_dir().join(format!("testrig-fingerprint-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&folder);
        fs::create_dir_all(&folder).unwrap();
        folder
    }

    #[test]
    fn crates_are_walked_with_keys_relative_to_the_root() {
        let root = scratch_folder("crate");
        fs::create_dir_all(root.join("lib/src/geometry")).unwrap();
        fs::create_dir_all(root.join("lib/target/debug")).unwrap();
        fs::create_dir_all(root.join("lib/tests")).unwrap();
        fs::create_dir_all(root.join("target/debug")).unwrap();
        fs::write(
            root.join("lib/src/lib.rs"),
            "pub mod geometry;\npub fn f() {}\n",
        )
        .unwrap();
        fs::write(
            root.join("lib/src/geometry/mod.rs"),
            "pub fn area() -> u8 { 1 }\n",
        )
        .unwrap();
        fs::write(root.join("lib/src/notes.txt"), "not rust {").unwrap();
        fs::write(
            root.join("lib/target/CACHEDIR.TAG"),
            "Signature: 8a477f597d28d172789f06886806bc55",
        )
        .unwrap();
        fs::write(root.join("lib/target/debug/build.rs"), "fn broken(").unwrap();
        fs::write(root.join("target/debug/out.rs"), "fn broken(").unwrap();
        let dirs = [
            PathBuf::from("lib/src"),
            root.join("lib/tests"),
            PathBuf::from("lib/missing"),
            PathBuf::from("target"),
        ];
        let all = fingerprint_crate(&root, &dirs).unwrap();
        assert_eq!(
            keys(&all),
            [
                ("lib/src/geometry/mod.rs::area", UnitKind::Function),
                ("lib/src/lib.rs::geometry", UnitKind::Item),
                ("lib/src/lib.rs::f", UnitKind::Function),
            ]
        );
        assert_eq!(all[0].file, "lib/src/geometry/mod.rs");
        assert_eq!(all[0].lines, (1, 1));

        fs::write(
            root.join("lib/tests/broken.rs"),
            "fn ok() {}\nfn broken( {\n",
        )
        .unwrap();
        let err = fingerprint_crate(&root, &dirs).unwrap_err();
        assert!(err.starts_with("lib/tests/broken.rs:2:"), "{err}");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn source_keys_are_relative_and_normalized() {
        let root = Path::new("/work/app");
        assert_eq!(
            source_key(root, Path::new("/work/app/src/lib.rs")).as_deref(),
            Some("src/lib.rs")
        );
        assert_eq!(
            source_key(root, Path::new("src/./x/../lib.rs")).as_deref(),
            Some("src/lib.rs")
        );
        assert_eq!(
            source_key(
                Path::new("/work/app/"),
                Path::new("/work/app/crates/../src/a.rs")
            )
            .as_deref(),
            Some("src/a.rs")
        );
        assert_eq!(
            source_key(root, Path::new("/rustc/abc/library/std/src/lib.rs")),
            None
        );
        assert_eq!(source_key(root, Path::new("/work/app")), None);
    }

    #[test]
    fn units_convert_to_stored_units() {
        let all = units(GEOMETRY);
        let stored = unit(&all, "src/a.rs::square").stored();
        assert!(stored.is_function);
        assert_eq!(stored.file, "src/a.rs");
        assert_eq!(stored.fingerprint.len(), 32);
        assert!(!unit(&all, "src/a.rs::Rect").stored().is_function);
    }

    /// Writes `files` under a scratch root and fingerprints them with the name closure.
    fn workspace(name: &str, files: &[(&str, &str)]) -> Fingerprints {
        workspace_with_data(name, files, None)
    }

    /// The same, with a data digest for the package at the root.
    fn workspace_with_data(name: &str, files: &[(&str, &str)], data: Option<&str>) -> Fingerprints {
        let root = scratch_folder(name);
        for (file, text) in files {
            fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            fs::write(root.join(file), text).unwrap();
        }
        let data: BTreeMap<PathBuf, String> = data
            .map(|digest| (root.clone(), digest.to_string()))
            .into_iter()
            .collect();
        let all = fingerprint_workspace(&root, &[PathBuf::from("src")], &data).unwrap();
        fs::remove_dir_all(&root).unwrap();
        all
    }

    const SETTINGS: &str = "use std::sync::OnceLock;\n\npub fn settings() -> &'static u32 {\n    static SETTINGS: OnceLock<u32> = OnceLock::new();\n    SETTINGS.get_or_init(|| parse(\"4\"))\n}\n\npub fn parse(text: &str) -> u32 {\n    helper(text)\n}\n\nfn helper(text: &str) -> u32 {\n    text.len() as u32\n}\n\npub fn caller() -> u32 {\n    parse(\"1\")\n}\n\npub static TABLE: std::sync::LazyLock<u32> = std::sync::LazyLock::new(|| build());\n\nfn build() -> u32 {\n    7\n}\n\npub fn reads_table() -> u32 {\n    *TABLE\n}\n";

    #[test]
    fn code_that_runs_once_folds_in_what_it_calls_transitively() {
        let before = workspace("once-before", &[("src/lib.rs", SETTINGS)]);
        // A change two calls deep from the once-closure.
        let after = workspace(
            "once-after",
            &[(
                "src/lib.rs",
                &SETTINGS.replace("text.len() as u32", "text.len() as u32 + 1"),
            )],
        );
        assert_ne!(
            print_of(&before, "src/lib.rs::settings"),
            print_of(&after, "src/lib.rs::settings"),
            "the function holding the OnceLock covers what its initializer calls"
        );
        // An ordinary caller is charged by coverage, not by the fold.
        assert_eq!(
            print_of(&before, "src/lib.rs::caller"),
            print_of(&after, "src/lib.rs::caller")
        );
        // A LazyLock static's initializer: whoever names the static covers it.
        let lazy = workspace(
            "once-lazy",
            &[("src/lib.rs", &SETTINGS.replace("    7\n", "    8\n"))],
        );
        assert_ne!(
            print_of(&before, "src/lib.rs::reads_table"),
            print_of(&lazy, "src/lib.rs::reads_table")
        );
        assert_eq!(
            print_of(&before, "src/lib.rs::settings"),
            print_of(&lazy, "src/lib.rs::settings")
        );
    }

    #[test]
    fn once_macros_and_lazy_types_mark_their_code_as_once() {
        let mut once = BTreeSet::new();
        let tokens: TokenStream = "thread_local! { static A: u32 = init_a(); } \
             lazy_static! { static ref B: u32 = init_b(); } \
             static C: std::sync::LazyLock<u32> = std::sync::LazyLock::new(|| init_c()); \
             fn f() { ONCE.call_once(|| init_d()); plain(); }"
            .parse()
            .unwrap();
        collect_once_idents(&tokens, &mut once);
        for name in ["init_a", "init_b", "init_c", "init_d"] {
            assert!(once.contains(name), "{name} in {once:?}");
        }
        assert!(!once.contains("plain"), "{once:?}");
    }

    #[test]
    fn data_compiled_into_a_package_changes_its_files_and_what_includes_it() {
        let lib = "pub const DEFAULTS: &str = include_str!(\"../data/defaults.txt\");\n\npub fn plain() -> u32 {\n    1\n}\n";
        let user = "pub fn defaults() -> &'static str {\n    crate::DEFAULTS\n}\n";
        let files = [("src/lib.rs", lib), ("src/user.rs", user)];
        let before = workspace_with_data("data-before", &files, Some("one"));
        let after = workspace_with_data("data-after", &files, Some("two"));
        assert_ne!(
            print_of(&before, "src/user.rs::defaults"),
            print_of(&after, "src/user.rs::defaults"),
            "a function naming the included const"
        );
        assert_ne!(before.items["src/user.rs"], after.items["src/user.rs"]);
        assert_ne!(before.items["src/lib.rs"], after.items["src/lib.rs"]);
        assert_eq!(
            print_of(&before, "src/lib.rs::plain"),
            print_of(&after, "src/lib.rs::plain")
        );
    }

    fn print_of<'a>(all: &'a Fingerprints, key: &str) -> &'a str {
        &unit(&all.units, key).fingerprint
    }

    const VERSION: &str = "pub struct Version { pub major: u32 }\n\nimpl Version {\n    pub const fn new(major: u32) -> Version {\n        Version { major }\n    }\n}\n\npub fn plain() -> u32 {\n    1\n}\n";
    const USES: &str = "use crate::version::Version;\n\npub const CURRENT: Version = Version::new(1);\n\npub fn current_major() -> u32 {\n    CURRENT.major\n}\n\npub fn unrelated() -> u32 {\n    plain_helper()\n}\n\nfn plain_helper() -> u32 {\n    2\n}\n";

    #[test]
    fn a_changed_const_fn_changes_every_function_and_file_that_names_it_transitively() {
        let before = workspace(
            "closure-before",
            &[("src/version.rs", VERSION), ("src/uses.rs", USES)],
        );
        let after = workspace(
            "closure-after",
            &[
                (
                    "src/version.rs",
                    &VERSION.replace("Version { major }", "Version { major: major + 1 }"),
                ),
                ("src/uses.rs", USES),
            ],
        );
        // `current_major` only names `CURRENT`, whose initializer calls the const fn.
        assert_ne!(
            print_of(&before, "src/uses.rs::current_major"),
            print_of(&after, "src/uses.rs::current_major")
        );
        // `CURRENT` is an item of uses.rs: its file's items digest changes too.
        assert_ne!(before.items["src/uses.rs"], after.items["src/uses.rs"]);
        for key in [
            "src/uses.rs::unrelated",
            "src/uses.rs::plain_helper",
            "src/version.rs::plain",
        ] {
            assert_eq!(print_of(&before, key), print_of(&after, key), "{key}");
        }
        assert_eq!(
            before.contents["src/uses.rs"], after.contents["src/uses.rs"],
            "contents are the bytes"
        );
        assert_ne!(
            before.contents["src/version.rs"],
            after.contents["src/version.rs"]
        );
    }

    #[test]
    fn a_field_used_after_type_inference_and_an_enum_discriminant_count() {
        let lib = "pub struct Rect { pub width: u32 }\npub enum Level { Low = 1, High = 2 }\n";
        let user = "pub fn wide(make: fn() -> crate::lib::Make) -> bool {\n    make().rect.width > 3\n}\n\npub fn high() -> u8 {\n    crate::lib::Level::High as u8\n}\n";
        let before = workspace(
            "fields-before",
            &[("src/lib.rs", lib), ("src/user.rs", user)],
        );
        let after = workspace(
            "fields-after",
            &[
                (
                    "src/lib.rs",
                    &lib.replace("width: u32", "width: u8")
                        .replace("High = 2", "High = 3"),
                ),
                ("src/user.rs", user),
            ],
        );
        assert_ne!(
            print_of(&before, "src/user.rs::wide"),
            print_of(&after, "src/user.rs::wide")
        );
        assert_ne!(
            print_of(&before, "src/user.rs::high"),
            print_of(&after, "src/user.rs::high")
        );
        // user.rs has no items of its own that name them: its items digest stays.
        assert_eq!(before.items["src/user.rs"], after.items["src/user.rs"]);
        assert_ne!(before.items["src/lib.rs"], after.items["src/lib.rs"]);
    }

    #[test]
    fn a_use_names_nothing_and_names_outside_the_workspace_change_nothing() {
        let lib = "pub struct Rect { pub w: u32 }\n";
        let user = "use crate::lib::Rect;\n\npub fn f() -> String {\n    String::new()\n}\n";
        let before = workspace("use-before", &[("src/lib.rs", lib), ("src/user.rs", user)]);
        let after = workspace(
            "use-after",
            &[
                ("src/lib.rs", &lib.replace("w: u32", "w: u64")),
                ("src/user.rs", user),
            ],
        );
        assert_eq!(before.items["src/user.rs"], after.items["src/user.rs"]);
        assert_eq!(
            print_of(&before, "src/user.rs::f"),
            print_of(&after, "src/user.rs::f")
        );
        // A function naming no workspace item keeps its plain token fingerprint.
        let plain = fingerprint_source("src/user.rs", user).unwrap();
        assert_eq!(
            print_of(&before, "src/user.rs::f"),
            unit(&plain, "src/user.rs::f").fingerprint
        );
    }

    #[test]
    fn name_cycles_are_closed_over() {
        // `A` and `B` name each other; `C` names `A`: a change to `B` reaches `C`'s user.
        let lib = "pub struct A { pub b: Option<Box<B>> }\npub struct B { pub a: Option<Box<A>>, pub n: u8 }\npub const C: Option<A> = None;\n";
        let user = "pub fn g() -> bool {\n    crate::lib::C.is_none()\n}\n";
        let before = workspace(
            "cycle-before",
            &[("src/lib.rs", lib), ("src/user.rs", user)],
        );
        let after = workspace(
            "cycle-after",
            &[
                ("src/lib.rs", &lib.replace("n: u8", "n: u16")),
                ("src/user.rs", user),
            ],
        );
        assert_ne!(
            print_of(&before, "src/user.rs::g"),
            print_of(&after, "src/user.rs::g")
        );
        assert_eq!(strongly_connected(&[vec![1], vec![0], vec![0]]).1.len(), 2);
    }
}

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

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use md5::{Digest, Md5};
use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit::{self, Visit};
use syn::{Attribute, Block, ImplItem, Item, ItemImpl, ItemMod, ItemTrait, TraitItem};

use crate::impact::database::StoredUnit;

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
    on_parser_thread(|| {
        let mut units = Vec::new();
        for (key, source) in &sources {
            units.extend(units_of(key, source)?);
        }
        Ok(units)
    })
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
    let mut best: Option<(usize, &SourceUnit)> = None;
    for (index, unit) in units.iter().enumerate() {
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

/// Runs `parse` on a thread of its own: proc-macro2 keeps the text of every parsed file in a
/// thread-local map until the thread ends (and wraps at 4 GiB), which a watch loop would
/// otherwise grow forever on the caller's thread.
fn on_parser_thread<T: Send>(
    parse: impl FnOnce() -> Result<T, String> + Send,
) -> Result<T, String> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("testrig-fingerprint".into())
            // syn recurses per nesting level; give it the main thread's usual stack.
            .stack_size(8 << 20)
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
    let parsed = syn::parse_file(source).map_err(|err| {
        let at = err.span().start();
        format!("{file}:{}:{}: {err}", at.line, at.column + 1)
    })?;
    let mut walker = Walker {
        file,
        units: Vec::new(),
        seen: HashMap::new(),
    };
    if parsed.attrs.iter().any(|attr| !is_doc(attr)) {
        let mut tokens = TokenStream::new();
        for attr in &parsed.attrs {
            attr.to_tokens(&mut tokens);
        }
        walker.push(&[], "#!".into(), UnitKind::Item, tokens, false);
    }
    walker.items(&parsed.items, &[], false);
    Ok(walker.units)
}

/// Walks a file's items depth-first, emitting units in source order (an enclosing fn before
/// the fns nested in it).
struct Walker<'a> {
    file: &'a str,
    units: Vec<SourceUnit>,
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
                self.push(path, name.clone(), UnitKind::Function, tokens, false);
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
                    );
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
            let mut header = module.clone();
            if let Some((_, items)) = &mut header.content {
                items.clear();
            }
            self.push(
                path,
                name.clone(),
                UnitKind::Item,
                header.to_token_stream(),
                false,
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
            let mut rest = block.clone();
            rest.items.retain(|item| !matches!(item, ImplItem::Fn(_)));
            self.push(
                path,
                segment.clone(),
                UnitKind::Item,
                rest.to_token_stream(),
                false,
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
        let tokens = if keep_docs {
            tokens
        } else {
            strip_docs(tokens)
        };
        self.units.push(SourceUnit {
            key,
            kind,
            file: self.file.to_string(),
            lines,
            fingerprint: md5_hex(tokens.to_string().as_bytes()),
        });
    }
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

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
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
}

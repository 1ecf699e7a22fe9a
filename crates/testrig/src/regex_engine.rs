//! The regex engine behind every pattern a plan writes: the recorder's regex assertions,
//! `Comparator::regex`, `ErrorExpectation::pattern` and log readiness (`ready_on_stdout`,
//! `WaitFor::log_file`). With the `unicode-regex` feature (default) it is the `regex` crate;
//! without it `regex-lite`, which compiles in a fifth of the time and matches the same
//! syntax except Unicode: `\w`, `\d`, `\s` and `\b` are ASCII, `(?i)` folds ASCII only, and
//! `\p{…}` classes, nested classes (`[a[bc]]`) and class set operations (`&&`, `--`, `~~`)
//! are errors that name the feature. Either way a pattern is compiled
//! once: a testcase that asserts one pattern in a loop, or 10,000 testcases asserting the
//! same one, share it. The report only ever sees the pattern's text.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

#[cfg(feature = "unicode-regex")]
pub(crate) use regex::{Error, Match, Regex};
#[cfg(not(feature = "unicode-regex"))]
pub(crate) use regex_lite::{Error, Match, Regex};

/// Patterns kept at most; a plan that builds patterns from data cannot grow the cache
/// without bound (it starts over when full).
const CAPACITY: usize = 1024;

static CACHE: LazyLock<Mutex<HashMap<String, Regex>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// `pattern` compiled, from the cache when it was compiled before. A clone of a compiled
/// regex shares its program, so handing one out costs a reference count. The error is the
/// message an assertion reports: `invalid regex /…/: …`.
pub(crate) fn compiled(pattern: &str) -> Result<Regex, String> {
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(regex) = cache.get(pattern) {
        return Ok(regex.clone());
    }
    let regex = Regex::new(pattern)
        .map_err(|error| format!("invalid regex /{pattern}/: {}", reason(&error)))?;
    if cache.len() >= CAPACITY {
        cache.clear();
    }
    cache.insert(pattern.to_string(), regex.clone());
    Ok(regex)
}

/// What is wrong with a pattern, on one line. The regex crate's message spans lines (the
/// pattern with a caret under it) and its last line says what is wrong. What regex-lite
/// refuses but the regex crate takes (Unicode classes, nested classes and class set
/// operations) also says which feature accepts it.
pub(crate) fn reason(error: &Error) -> String {
    let text = error.to_string();
    let last = text.lines().last().unwrap_or_default();
    let reason = last.strip_prefix("error: ").unwrap_or(last).trim();
    let regex_takes_it = reason.ends_with("not supported")
        && (reason.contains("character class") || reason.contains("Unicode"));
    if cfg!(not(feature = "unicode-regex")) && regex_takes_it {
        format!("{reason}: enable testrig's `unicode-regex` feature (Cargo.toml) for them")
    } else {
        reason.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_compiles_once_and_errors_are_not_kept() {
        let first = compiled("^a+$").unwrap();
        let second = compiled("^a+$").unwrap();
        assert!(first.is_match("aaa") && second.is_match("a"));
        assert!(CACHE.lock().unwrap().contains_key("^a+$"));
        let error = compiled("(").unwrap_err();
        assert!(error.starts_with("invalid regex /(/: "), "{error}");
        assert!(!error.contains('\n'), "one line: {error}");
        assert!(!CACHE.lock().unwrap().contains_key("("));
    }

    #[test]
    fn unicode_classes_follow_the_feature() {
        let letters = compiled(r"^\p{L}+$");
        if cfg!(feature = "unicode-regex") {
            assert!(letters.unwrap().is_match("δx"));
            assert!(compiled(r"^\w$").unwrap().is_match("δ"));
        } else {
            let error = letters.unwrap_err();
            assert!(error.contains("`unicode-regex` feature"), "{error}");
            assert!(!compiled(r"^\w$").unwrap().is_match("δ"));
            let nested = compiled("[a[bc]]").unwrap_err();
            assert!(nested.contains("`unicode-regex` feature"), "{nested}");
        }
    }
}

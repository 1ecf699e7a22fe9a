//! Compiled regexes shared by every assertion family: a testcase that asserts one pattern in
//! a loop, or 10,000 testcases asserting the same one, compile it once. The recorder's
//! assertions are the only users; the report only ever sees the pattern's text.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use regex::Regex;

/// Patterns kept at most; a plan that builds patterns from data cannot grow the cache
/// without bound (it starts over when full).
const CAPACITY: usize = 1024;

static CACHE: LazyLock<Mutex<HashMap<String, Regex>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// `pattern` compiled, from the cache when it was compiled before. A clone of a compiled
/// regex shares its program, so handing one out costs a reference count.
pub(crate) fn compiled(pattern: &str) -> Result<Regex, regex::Error> {
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(regex) = cache.get(pattern) {
        return Ok(regex.clone());
    }
    let regex = Regex::new(pattern)?;
    if cache.len() >= CAPACITY {
        cache.clear();
    }
    cache.insert(pattern.to_string(), regex.clone());
    Ok(regex)
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
        assert!(compiled("(").is_err());
        assert!(!CACHE.lock().unwrap().contains_key("("));
    }
}

//! `timeout = …` values: a number of seconds (`2`, `2.5`) or a string with a unit (`"500ms"`,
//! `"2s"`, `"1.5s"`, `"1m"`, `"1h"`), turned into a `Duration` at compile time.

use std::time::Duration;

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::ParseStream;
use syn::{Lit, Token};

const EXPECTED: &str = "expected seconds as a number (`2`, `2.5`) or a string with a unit (\"500ms\", \"2s\", \"1.5s\", \"1m\", \"1h\")";

/// Parses the value after `timeout =`.
pub(crate) fn parse(input: ParseStream) -> syn::Result<Duration> {
    if input.peek(Token![-]) {
        return Err(input.error("a timeout must be greater than zero"));
    }
    let lit: Lit = input.parse()?;
    let parsed = match &lit {
        Lit::Int(int) => from_seconds(int.base10_digits()),
        Lit::Float(float) => from_seconds(float.base10_digits()),
        Lit::Str(text) => from_text(&text.value()),
        _ => Err(format!("invalid timeout: {EXPECTED}")),
    };
    parsed.map_err(|message| syn::Error::new(lit.span(), message))
}

/// `Duration::new(secs, nanos)` for generated code.
pub(crate) fn to_tokens(duration: Duration) -> TokenStream {
    let secs = duration.as_secs();
    let nanos = duration.subsec_nanos();
    quote!(::core::time::Duration::new(#secs, #nanos))
}

/// A string timeout: a number followed by an optional unit (seconds when there is none).
fn from_text(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let factor = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("invalid timeout \"{text}\": {EXPECTED}")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid timeout \"{text}\": {EXPECTED}"))?;
    positive(value * factor)
}

fn from_seconds(digits: &str) -> Result<Duration, String> {
    let value: f64 = digits
        .parse()
        .map_err(|_| format!("invalid timeout `{digits}`: {EXPECTED}"))?;
    positive(value)
}

fn positive(seconds: f64) -> Result<Duration, String> {
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        Ok(_) => Err("a timeout must be greater than zero".to_owned()),
        Err(_) => Err(format!("timeout of {seconds} seconds is out of range")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_with_units() {
        assert_eq!(from_text("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(from_text("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(from_text("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(from_text("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(from_text("2 h"), Ok(Duration::from_secs(7200)));
        assert_eq!(from_text("3"), Ok(Duration::from_secs(3)));
    }

    #[test]
    fn bad_strings_say_what_is_expected() {
        for bad in ["", "ms", "5x", "1.2.3s", "0s", "s5"] {
            let error = from_text(bad).unwrap_err();
            assert!(error.contains("timeout"), "{bad}: {error}");
        }
    }

    #[test]
    fn numbers_are_seconds() {
        let duration: Duration = syn::parse::Parser::parse_str(parse, "2.5").unwrap();
        assert_eq!(duration, Duration::from_millis(2500));
        let duration: Duration = syn::parse::Parser::parse_str(parse, "2").unwrap();
        assert_eq!(duration, Duration::from_secs(2));
        assert!(syn::parse::Parser::parse_str(parse, "-1").is_err());
        assert!(syn::parse::Parser::parse_str(parse, "0").is_err());
    }
}

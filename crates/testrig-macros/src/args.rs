//! The arguments of `#[suite(...)]` (on the struct) and `#[testcase(...)]`.

use std::collections::HashSet;
use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Ident, LitBool, LitStr, Meta, Token, token};

use crate::timeout;

const SUITE_KEYS: &[&str] = &["name", "tags"];
const TESTCASE_KEYS: &[&str] = &[
    "name",
    "tags",
    "skip",
    "xfail",
    "timeout",
    "execution_group",
    "parameters",
];
const XFAIL_KEYS: &[&str] = &["reason", "strict"];

/// `#[suite(name = "…", tags = […])]`.
#[derive(Default)]
pub(crate) struct SuiteArgs {
    pub(crate) name: Option<LitStr>,
    pub(crate) tags: Vec<LitStr>,
}

impl SuiteArgs {
    /// Parses the tokens inside `#[suite(…)]`.
    pub(crate) fn parse(tokens: TokenStream) -> syn::Result<SuiteArgs> {
        let mut args = SuiteArgs::default();
        let mut seen = Seen::default();
        let parser = syn::meta::parser(|meta| {
            seen.first(&meta)?;
            if meta.path.is_ident("name") {
                args.name = Some(non_empty(
                    value(&meta, "name = \"Suite name\"")?.parse()?,
                    "name",
                )?);
            } else if meta.path.is_ident("tags") {
                args.tags = parse_tags(value(&meta, "tags = [\"smoke\"]")?)?;
            } else {
                return Err(unknown(&meta.path, "suite", SUITE_KEYS));
            }
            Ok(())
        });
        parser.parse2(tokens)?;
        Ok(args)
    }
}

/// `xfail = "reason"` or `xfail(reason = "…", strict = true)`.
pub(crate) struct XfailArg {
    pub(crate) reason: LitStr,
    pub(crate) strict: bool,
}

/// The two ways to give the cases of a parametrized testcase.
pub(crate) enum Parameters {
    /// `parameters = [(1, 2), (3, 4)]`: one case per element, or any expression whose value
    /// iterates over the cases.
    Cases { key: Span, cases: Expr },
    /// `parameters(a = [1, 2], b = [3, 4])`: the product of the per-parameter values.
    Product {
        key: Span,
        values: Vec<(Ident, Expr)>,
    },
}

impl Parameters {
    /// The `parameters` key, where errors about the whole attribute point.
    pub(crate) fn key(&self) -> Span {
        match self {
            Parameters::Cases { key, .. } | Parameters::Product { key, .. } => *key,
        }
    }
}

/// `#[testcase(name = …, tags = …, skip = …, xfail = …, timeout = …, execution_group = …,
/// parameters…)]`.
#[derive(Default)]
pub(crate) struct TestcaseArgs {
    pub(crate) name: Option<LitStr>,
    pub(crate) tags: Vec<LitStr>,
    pub(crate) skip: Option<LitStr>,
    pub(crate) xfail: Option<XfailArg>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) execution_group: Option<LitStr>,
    pub(crate) parameters: Option<Parameters>,
}

impl TestcaseArgs {
    /// Parses `#[testcase]` or `#[testcase(…)]`.
    pub(crate) fn parse(attr: &Attribute) -> syn::Result<TestcaseArgs> {
        let mut args = TestcaseArgs::default();
        let list = match &attr.meta {
            Meta::Path(_) => return Ok(args),
            Meta::List(list) => list,
            Meta::NameValue(pair) => {
                return Err(syn::Error::new(
                    pair.eq_token.span(),
                    "testcase settings go in parentheses: #[testcase(name = \"…\", tags = [\"…\"])]",
                ));
            }
        };
        let mut seen = Seen::default();
        list.parse_nested_meta(|meta| {
            seen.first(&meta)?;
            let key = meta
                .path
                .get_ident()
                .map(Ident::to_string)
                .unwrap_or_default();
            match key.as_str() {
                "name" => {
                    args.name = Some(non_empty(value(&meta, "name = \"…\"")?.parse()?, "name")?)
                }
                "tags" => args.tags = parse_tags(value(&meta, "tags = [\"smoke\"]")?)?,
                "skip" => args.skip = Some(value(&meta, "skip = \"why it is skipped\"")?.parse()?),
                "xfail" => args.xfail = Some(parse_xfail(&meta)?),
                "timeout" => {
                    args.timeout = Some(timeout::parse(value(&meta, "timeout = \"500ms\"")?)?)
                }
                "execution_group" => {
                    let group = value(&meta, "execution_group = \"group\"")?.parse()?;
                    args.execution_group = Some(non_empty(group, "execution_group")?);
                }
                "parameters" => args.parameters = Some(parse_parameters(&meta)?),
                _ => return Err(unknown(&meta.path, "testcase", TESTCASE_KEYS)),
            }
            Ok(())
        })?;
        Ok(args)
    }
}

/// Rejects a key given twice.
#[derive(Default)]
struct Seen(HashSet<String>);

impl Seen {
    fn first(&mut self, meta: &ParseNestedMeta) -> syn::Result<()> {
        let key = path_text(&meta.path);
        if self.0.insert(key.clone()) {
            Ok(())
        } else {
            Err(syn::Error::new_spanned(
                &meta.path,
                format!("`{key}` is given twice"),
            ))
        }
    }
}

fn path_text(path: &syn::Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

fn unknown(path: &syn::Path, what: &str, expected: &[&str]) -> syn::Error {
    let key = path_text(path);
    syn::Error::new_spanned(
        path,
        format!(
            "unknown {what} attribute `{key}`; expected one of {}",
            expected.join(", ")
        ),
    )
}

/// The input after `key =`, or an error showing the expected form.
fn value<'a>(meta: &ParseNestedMeta<'a>, example: &str) -> syn::Result<ParseStream<'a>> {
    if meta.input.peek(Token![=]) {
        meta.value()
    } else {
        Err(syn::Error::new_spanned(
            &meta.path,
            format!("expected a value: `{example}`"),
        ))
    }
}

fn non_empty(lit: LitStr, key: &str) -> syn::Result<LitStr> {
    if lit.value().trim().is_empty() {
        Err(syn::Error::new(
            lit.span(),
            format!("`{key}` must not be empty"),
        ))
    } else {
        Ok(lit)
    }
}

/// `["a", "b"]` or a single `"a"`.
fn parse_tags(input: ParseStream) -> syn::Result<Vec<LitStr>> {
    let tags: Vec<LitStr> = if input.peek(token::Bracket) {
        let content;
        syn::bracketed!(content in input);
        Punctuated::<LitStr, Token![,]>::parse_terminated(&content)?
            .into_iter()
            .collect()
    } else {
        vec![input.parse()?]
    };
    tags.into_iter()
        .map(|tag| non_empty(tag, "a tag"))
        .collect()
}

fn parse_xfail(meta: &ParseNestedMeta) -> syn::Result<XfailArg> {
    if !meta.input.peek(token::Paren) {
        let reason = value(
            meta,
            "xfail = \"why it fails\"` or `xfail(reason = \"…\", strict = true)",
        )?
        .parse()?;
        return Ok(XfailArg {
            reason,
            strict: false,
        });
    }
    let mut reason: Option<LitStr> = None;
    let mut strict = false;
    let mut seen = Seen::default();
    meta.parse_nested_meta(|inner| {
        seen.first(&inner)?;
        if inner.path.is_ident("reason") {
            reason = Some(value(&inner, "reason = \"why it fails\"")?.parse()?);
        } else if inner.path.is_ident("strict") {
            strict = value(&inner, "strict = true")?.parse::<LitBool>()?.value;
        } else {
            return Err(unknown(&inner.path, "xfail", XFAIL_KEYS));
        }
        Ok(())
    })?;
    match reason {
        Some(reason) => Ok(XfailArg { reason, strict }),
        None => Err(syn::Error::new_spanned(
            &meta.path,
            "xfail needs a reason: xfail(reason = \"why it fails\", strict = true)",
        )),
    }
}

fn parse_parameters(meta: &ParseNestedMeta) -> syn::Result<Parameters> {
    let key = meta.path.span();
    if !meta.input.peek(token::Paren) {
        let cases = value(
            meta,
            "parameters = [(1, 2), (3, 4)]` or `parameters(a = [1, 3], b = [2, 4])",
        )?
        .parse()?;
        return Ok(Parameters::Cases { key, cases });
    }
    let mut values = Vec::new();
    meta.parse_nested_meta(|inner| {
        let Some(name) = inner.path.get_ident() else {
            return Err(syn::Error::new_spanned(
                &inner.path,
                "expected a parameter name",
            ));
        };
        let expr: Expr = value(&inner, &format!("{name} = [values…]"))?.parse()?;
        values.push((name.clone(), expr));
        Ok(())
    })?;
    if values.is_empty() {
        return Err(syn::Error::new(
            key,
            "`parameters(…)` lists no parameters: parameters(a = [1, 2], b = [3])",
        ));
    }
    Ok(Parameters::Product { key, values })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testcase(attr: Attribute) -> syn::Result<TestcaseArgs> {
        TestcaseArgs::parse(&attr)
    }

    #[test]
    fn every_testcase_setting() {
        let args = testcase(syn::parse_quote! {
            #[testcase(name = "n", tags = ["a", "b"], skip = "s", xfail(reason = "r", strict = true),
                       timeout = 2.5, execution_group = "g", parameters(a = [1], b = [2]))]
        })
        .unwrap();
        assert_eq!(args.name.unwrap().value(), "n");
        assert_eq!(args.tags.len(), 2);
        assert_eq!(args.skip.unwrap().value(), "s");
        let xfail = args.xfail.unwrap();
        assert_eq!((xfail.reason.value().as_str(), xfail.strict), ("r", true));
        assert_eq!(args.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(args.execution_group.unwrap().value(), "g");
        assert!(
            matches!(args.parameters, Some(Parameters::Product { values, .. }) if values.len() == 2)
        );
    }

    #[test]
    fn mistakes_are_named() {
        let error = |attr: Attribute| testcase(attr).err().unwrap().to_string();
        assert_eq!(
            error(syn::parse_quote!(#[testcase(skp = "x")])),
            "unknown testcase attribute `skp`; expected one of name, tags, skip, xfail, timeout, \
             execution_group, parameters"
        );
        assert!(
            error(syn::parse_quote!(#[testcase(name = "a", name = "b")])).contains("given twice")
        );
        assert!(error(syn::parse_quote!(#[testcase(timeout = "5x")])).contains("invalid timeout"));
        assert!(error(syn::parse_quote!(#[testcase(xfail)])).contains("xfail = \"why it fails\""));
        assert!(
            error(syn::parse_quote!(#[testcase(xfail(strict = true))])).contains("needs a reason")
        );
        assert!(error(syn::parse_quote!(#[testcase(tags = [""])])).contains("must not be empty"));
    }

    #[test]
    fn suite_settings() {
        let args = SuiteArgs::parse(quote::quote!(name = "Echo", tags = "tcp")).unwrap();
        assert_eq!(args.name.unwrap().value(), "Echo");
        assert_eq!(args.tags[0].value(), "tcp");
        let error = SuiteArgs::parse(quote::quote!(nme = "x")).err().unwrap();
        assert_eq!(
            error.to_string(),
            "unknown suite attribute `nme`; expected one of name, tags"
        );
    }
}

//! The attributes on items under `#[suite]`: doc comments become descriptions, and the marker
//! attributes (`#[testcase]`, `#[setup]`, …) say what each method is.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Attribute, Expr, ExprLit, Lit, Meta, Path};

/// The argument a handled marker is rewritten to. `#[suite]` leaves the marker on the method
/// (so the user's `use …::testcase` stays used) but neutralised: the standalone macro passes
/// an item carrying it through untouched.
pub(crate) const HANDLED: &str = "__testrig_handled_by_suite";

/// What a marker attribute makes of a method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Marker {
    Testcase,
    Setup,
    Teardown,
    PreTestcase,
    PostTestcase,
}

impl Marker {
    const ALL: [Marker; 5] = [
        Marker::Testcase,
        Marker::Setup,
        Marker::Teardown,
        Marker::PreTestcase,
        Marker::PostTestcase,
    ];

    /// The attribute's name, as written.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Marker::Testcase => "testcase",
            Marker::Setup => "setup",
            Marker::Teardown => "teardown",
            Marker::PreTestcase => "pre_testcase",
            Marker::PostTestcase => "post_testcase",
        }
    }

    /// `testcase`, `testrig::testcase`, `testrig::prelude::testcase`…; a `setup` attribute of
    /// some other crate (`other::setup`) is left alone.
    fn of(path: &Path) -> Option<Marker> {
        let first = path.segments.first()?;
        if path.segments.len() > 1 && first.ident != "testrig" {
            return None;
        }
        let last = &path.segments.last()?.ident;
        Marker::ALL.into_iter().find(|marker| last == marker.name())
    }
}

/// A marker found on a method.
pub(crate) struct Marked {
    /// Which marker.
    pub(crate) marker: Marker,
    /// The attribute as the user wrote it (its arguments are the testcase's settings).
    pub(crate) attr: Attribute,
}

/// Finds the marker among `attrs` and neutralises it in place (see [`HANDLED`]). A method
/// with two markers is an error, since one method cannot be, say, a testcase and a hook; both
/// are neutralised all the same, so the error is not followed by "must be used inside …".
pub(crate) fn take_marker(attrs: &mut [Attribute]) -> syn::Result<Option<Marked>> {
    let mut found: Vec<Marked> = Vec::new();
    for attr in attrs.iter_mut() {
        let Some(marker) = Marker::of(attr.path()) else {
            continue;
        };
        let path = attr.path().clone();
        let handled = syn::Ident::new(HANDLED, Span::call_site());
        let neutral: Attribute = syn::parse_quote!(#[#path(#handled)]);
        found.push(Marked {
            marker,
            attr: std::mem::replace(attr, neutral),
        });
    }
    let mut found = found.into_iter();
    let first = found.next();
    if let (Some(first), Some(second)) = (&first, found.next()) {
        let message = if first.marker == second.marker {
            format!("#[{}] is given twice on this method", second.marker.name())
        } else {
            format!(
                "a method is either a testcase or one hook: this one has both #[{}] and #[{}]",
                first.marker.name(),
                second.marker.name()
            )
        };
        return Err(syn::Error::new_spanned(&second.attr, message));
    }
    Ok(first)
}

/// True when a standalone marker macro is invoked on a method `#[suite]` already handled.
pub(crate) fn is_handled(args: &TokenStream) -> bool {
    let handled = syn::Ident::new(HANDLED, Span::call_site());
    args.to_string() == quote!(#handled).to_string()
}

/// The doc comment: `///` lines joined with newlines, each without the one space that follows
/// `///`, trimmed. `#[doc = include_str!(…)]` and other non-literal docs are skipped.
pub(crate) fn doc_string(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            Meta::NameValue(pair) => match &pair.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(text),
                    ..
                }) => Some(text.value()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let joined = lines.join("\n");
    let unindented: Vec<&str> = joined
        .lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect();
    let text = unindented.join("\n");
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_comments_become_one_trimmed_string() {
        let item: syn::ItemStruct = syn::parse_quote! {
            /// First line.
            ///
            ///     indented code
            #[derive(Debug)]
            struct S;
        };
        assert_eq!(
            doc_string(&item.attrs).as_deref(),
            Some("First line.\n\n    indented code")
        );
        let bare: syn::ItemStruct = syn::parse_quote!(
            struct S;
        );
        assert_eq!(doc_string(&bare.attrs), None);
    }

    #[test]
    fn markers_are_recognised_and_neutralised() {
        let mut item: syn::ImplItemFn = syn::parse_quote! {
            #[inline]
            #[testrig::testcase(tags = ["a"])]
            fn t(&self) {}
        };
        let marked = take_marker(&mut item.attrs).unwrap().unwrap();
        assert_eq!(marked.marker, Marker::Testcase);
        assert_eq!(item.attrs.len(), 2);
        let Meta::List(list) = &item.attrs[1].meta else {
            panic!("not a list")
        };
        assert!(is_handled(&list.tokens));

        let mut foreign: syn::ImplItemFn = syn::parse_quote!(
            #[other::setup]
            fn t(&self) {}
        );
        assert!(take_marker(&mut foreign.attrs).unwrap().is_none());

        let mut both: syn::ImplItemFn = syn::parse_quote!(
            #[setup]
            #[teardown]
            fn t(&self) {}
        );
        let error = take_marker(&mut both.attrs).err().unwrap();
        assert!(
            error.to_string().contains("both #[setup] and #[teardown]"),
            "{error}"
        );
    }
}

//! Token-building helpers shared by the expansions.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{LitStr, ReturnType, Signature};

/// A local variable of generated code. Mixed-site hygiene keeps it apart from names in the
/// user's tokens spliced next to it (a parameter value calling a user fn named `cases`, say);
/// `at` only decides where diagnostics point.
pub(crate) fn local(name: &str, at: Span) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site().located_at(at))
}

/// A `SourceLocation` expression for the line of `span`: `line!()` takes the line of the span
/// it is invoked with, so the location is the user's item rather than the macro's call site.
pub(crate) fn source_location(span: Span) -> TokenStream {
    quote_spanned! {span=>
        ::testrig::__private::SourceLocation::new(::core::file!(), ::core::line!(), 0)
    }
}

/// `Some(String::from("…"))` or `None`.
pub(crate) fn optional_string(value: Option<&str>) -> TokenStream {
    match value {
        Some(text) => quote!(::core::option::Option::Some(::std::string::String::from(#text))),
        None => quote!(::core::option::Option::None),
    }
}

/// `Some(String::from(lit))` or `None`, keeping the literal's span.
pub(crate) fn optional_lit(value: Option<&LitStr>) -> TokenStream {
    match value {
        Some(lit) => quote!(::core::option::Option::Some(::std::string::String::from(#lit))),
        None => quote!(::core::option::Option::None),
    }
}

/// Where a method's return value is converted into an outcome: its return type, so that
/// "`IntoOutcome` is not implemented for `i32`" points at `-> i32`.
pub(crate) fn return_span(sig: &Signature) -> Span {
    match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => sig.ident.span(),
    }
}

/// Statements converting the value of `call` into an outcome attributed to the `location`
/// variable. The value is bound to a variable first because the compiler points its error at
/// the argument; the variable has the return type's span, hygiene included (a mixed-site one
/// makes the compiler fall back to the `#[suite]` line), which is safe as no user expression
/// is in scope of it. Being in the user's context, it would get their lints: a method
/// returning `()` makes it a `let_unit_value`.
pub(crate) fn into_outcome(
    sig: &Signature,
    call: TokenStream,
    location: &TokenStream,
) -> TokenStream {
    let span = return_span(sig);
    let value = syn::Ident::new("__testrig_value", span);
    quote_spanned! {span=>
        #[allow(clippy::let_unit_value)]
        let #value = #call;
        ::testrig::__private::IntoOutcome::into_outcome(#value, &#location)
    }
}

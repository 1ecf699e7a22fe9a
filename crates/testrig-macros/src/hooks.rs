//! `#[setup]`, `#[teardown]`, `#[pre_testcase]` and `#[post_testcase]`: each method becomes a
//! non-capturing closure, coerced to the fn-pointer type the runner calls, that adapts the
//! user's signature (with or without `result`, any `IntoOutcome` return type).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{Attribute, ImplItemFn, Meta};

use crate::attrs::Marker;
use crate::codegen::{into_outcome, local, source_location};
use crate::signature::{self, Borrow};

/// Statements that store the hook of `method` in the `definition` variable.
pub(crate) fn expand(
    marker: Marker,
    method: &ImplItemFn,
    attr: &Attribute,
    definition: &syn::Ident,
) -> syn::Result<TokenStream> {
    if !matches!(attr.meta, Meta::Path(_)) {
        let message = format!("#[{}] takes no arguments", marker.name());
        return Err(syn::Error::new_spanned(&attr.meta, message));
    }
    let sig = &method.sig;
    let checked = signature::check(sig, marker)?;
    let per_testcase = matches!(marker, Marker::PreTestcase | Marker::PostTestcase);
    // Per-testcase hooks come first in the arguments with the testcase's name.
    let leading = usize::from(per_testcase);
    let count = checked.args.len();
    if count != leading + 1 && count != leading + 2 {
        let plural = if count == 1 { "" } else { "s" };
        return Err(syn::Error::new(
            sig.paren_token.span.join(),
            format!(
                "#[{}] method `{}` takes {count} argument{plural} after the receiver; expected {}",
                marker.name(),
                sig.ident,
                signature::expected(marker)
            ),
        ));
    }
    if per_testcase && checked.borrow == Borrow::Exclusive {
        return Err(syn::Error::new_spanned(
            &sig.inputs[0],
            format!(
                "#[{}] method `{}` must take `&self`, not `&mut self`: it runs next to testcases, which \
                 share the suite; keep mutable state in a Mutex or an atomic",
                marker.name(),
                sig.ident
            ),
        ));
    }

    let method_name = &sig.ident;
    let suite = local("suite", method_name.span());
    let location = local("location", method_name.span());
    let name = local("name", checked.args[0].ty.span());
    let env = local("env", checked.args[leading].ty.span());
    let result_arg = checked.args.get(leading + 1);
    let result = local(
        "result",
        result_arg.map_or(method_name.span(), |arg| arg.ty.span()),
    );
    // Without a `result` argument the closure's parameter is `_`, which no lint complains about.
    let (result_param, result_call) = match result_arg {
        Some(_) => (quote!(#result), quote!(, #result)),
        None => (quote!(_), quote!()),
    };
    let leading_param = per_testcase.then(|| quote!(#name: &str,));
    let leading_call = per_testcase.then(|| quote!(#name,));
    let self_ty = match checked.borrow {
        Borrow::Shared => quote!(&Self),
        Borrow::Exclusive => quote!(&mut Self),
    };
    let call = quote!(#suite.#method_name(#leading_call #env #result_call));
    let outcome = into_outcome(sig, call, &quote!(#location));
    let location_value = source_location(method_name.span());
    let closure = quote! {
        |#suite: #self_ty, #leading_param #env: &::testrig::Env, #result_param: &mut ::testrig::Recorder|
            -> ::testrig::__private::Outcome
        {
            let #location = #location_value;
            #outcome
        }
    };
    let field = format_ident!("{}", marker.name());
    let hook = local("hook", method_name.span());
    Ok(match (per_testcase, checked.borrow) {
        (true, _) => quote! {
            let #hook: ::testrig::__private::TestcaseHook<Self> = #closure;
            #definition.#field = ::core::option::Option::Some(#hook);
        },
        (false, Borrow::Shared) => quote! {
            #definition.#field =
                ::core::option::Option::Some(::testrig::__private::SuiteHook::<Self>::Shared(#closure));
        },
        (false, Borrow::Exclusive) => quote! {
            #definition.#field =
                ::core::option::Option::Some(::testrig::__private::SuiteHook::<Self>::Exclusive(#closure));
        },
    })
}

//! `#[testcase]` methods: checking the signature against the settings and building the
//! `TestcaseDefinition` expression.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, ImplItemFn, Pat};

use crate::args::{TestcaseArgs, XfailArg};
use crate::attrs::{Marker, doc_string};
use crate::codegen::{into_outcome, local, optional_lit, optional_string, source_location};
use crate::diagnostics::Errors;
use crate::parameters::{self, Param};
use crate::signature::{self, Borrow};
use crate::timeout;

/// One expanded testcase.
pub(crate) struct Expanded {
    /// Its name, to find duplicates within the suite.
    pub(crate) name: String,
    /// Where the name comes from (the method or `name = "…"`).
    pub(crate) name_span: Span,
    /// An expression of type `TestcaseDefinition<Self>`.
    pub(crate) definition: TokenStream,
}

/// Expands the `#[testcase]` method `method` whose marker is `attr`.
pub(crate) fn expand(method: &ImplItemFn, attr: &Attribute) -> syn::Result<Expanded> {
    let sig = &method.sig;
    let (args, checked) = match (
        TestcaseArgs::parse(attr),
        signature::check(sig, Marker::Testcase),
    ) {
        (Ok(args), Ok(checked)) => (args, checked),
        (Err(mut error), Err(other)) => {
            error.combine(other);
            return Err(error);
        }
        (Err(error), _) | (_, Err(error)) => return Err(error),
    };

    let testcase = sig.ident.unraw().to_string();
    if checked.borrow == Borrow::Exclusive {
        return Err(syn::Error::new_spanned(
            &sig.inputs[0],
            format!(
                "#[testcase] method `{testcase}` must take `&self`, not `&mut self`: testcases of a suite \
                 may run concurrently, so keep mutable state in a Mutex or an atomic, or change it in \
                 #[setup] (which may take `&mut self`)"
            ),
        ));
    }
    if checked.args.len() < 2 {
        let count = checked.args.len();
        return Err(syn::Error::new(
            sig.paren_token.span.join(),
            format!(
                "#[testcase] method `{testcase}` takes {count} argument{} after `&self`; expected {}",
                if count == 1 { "" } else { "s" },
                signature::expected(Marker::Testcase)
            ),
        ));
    }
    let (env_arg, result_arg) = (checked.args[0], checked.args[1]);
    let mut errors = Errors::default();
    let params: Vec<Param> = checked.args[2..]
        .iter()
        .filter_map(|arg| match &*arg.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => Some(Param {
                name: pat.ident.unraw().to_string(),
                ty: &arg.ty,
            }),
            other => {
                errors.push(syn::Error::new(
                    other.span(),
                    "a parameter of a parametrized testcase must be a plain name (`a: i32`), since \
                     the report shows it by name",
                ));
                None
            }
        })
        .collect();
    errors.finish()?;
    match (&args.parameters, params.first()) {
        (None, Some(_)) => {
            return Err(syn::Error::new(
                checked.args[2].span(),
                format!(
                    "{} but no values for them: add #[testcase(parameters = [(…), …])] with one tuple per \
                     case, or #[testcase(parameters({} = […], …))] for every combination",
                    parameters::describe(&testcase, &params),
                    params[0].name
                ),
            ));
        }
        (Some(parameters), None) => {
            return Err(syn::Error::new(
                parameters.key(),
                format!(
                    "testcase `{testcase}` has `parameters` but takes no parameters after `result`; add \
                     them to its signature: fn {testcase}(&self, env: &Env, result: &mut Recorder, a: i32)"
                ),
            ));
        }
        _ => {}
    }

    let method_name = &sig.ident;
    let location = local("location", method_name.span());
    let suite = local("suite", method_name.span());
    let env = local("env", env_arg.ty.span());
    let result = local("result", result_arg.ty.span());
    let closure = |extra: &[TokenStream]| {
        let call = quote!(#suite.#method_name(#env, #result #(, #extra)*));
        let outcome = into_outcome(sig, call, &quote!(#location));
        quote! {
            move |#suite: &Self, #env: &::testrig::Env, #result: &mut ::testrig::Recorder|
                -> ::testrig::__private::Outcome
            {
                #outcome
            }
        }
    };
    let body = match &args.parameters {
        None => {
            let closure = closure(&[]);
            quote! {{
                let #location = ::core::clone::Clone::clone(&#location);
                ::testrig::__private::TestcaseBody::Single(::std::sync::Arc::new(#closure))
            }}
        }
        Some(parameters) => parameters::body(&testcase, &params, parameters, &location, &closure)?,
    };

    let (name, name_span) = match &args.name {
        Some(lit) => (lit.value(), lit.span()),
        None => (testcase.clone(), method_name.span()),
    };
    let tags = &args.tags;
    let description = optional_string(doc_string(&method.attrs).as_deref());
    let skip = optional_lit(args.skip.as_ref());
    let xfail = match &args.xfail {
        Some(XfailArg { reason, strict }) => quote! {
            ::core::option::Option::Some(::testrig::__private::Xfail {
                reason: ::std::string::String::from(#reason),
                strict: #strict,
            })
        },
        None => quote!(::core::option::Option::None),
    };
    let timeout = match args.timeout {
        Some(duration) => {
            let duration = timeout::to_tokens(duration);
            quote!(::core::option::Option::Some(#duration))
        }
        None => quote!(::core::option::Option::None),
    };
    let execution_group = optional_lit(args.execution_group.as_ref());
    let location_value = source_location(method_name.span());
    let body_var = local("body", method_name.span());
    let definition = quote! {{
        let #location = #location_value;
        let #body_var = #body;
        ::testrig::__private::TestcaseDefinition {
            name: ::std::string::String::from(#name),
            tags: ::std::vec![#(::std::string::String::from(#tags)),*],
            description: #description,
            location: #location,
            skip: #skip,
            xfail: #xfail,
            timeout: #timeout,
            execution_group: #execution_group,
            body: #body_var,
        }
    }};
    Ok(Expanded {
        name,
        name_span,
        definition,
    })
}

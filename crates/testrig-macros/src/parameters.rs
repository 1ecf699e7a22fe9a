//! Parametrized testcases: the `TestcaseBody::Parametrized` expression built from
//! `parameters = [cases…]` or `parameters(name = [values…], …)`.
//!
//! Each case's values are moved into the closure of its parametrization and cloned on every
//! call (a testcase may run more than once), and rendered with `Debug` for the report, so
//! parameter types must be `Clone + Debug + Send + Sync + 'static`. Trait errors are spanned at
//! the parameter's type in the signature.

use std::collections::HashMap;

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Expr, Ident, Type};

use crate::args::Parameters;
use crate::codegen::local;
use crate::diagnostics::Errors;

/// A parameter of a parametrized testcase (an argument after `result`).
pub(crate) struct Param<'a> {
    /// Its name, as the report shows it.
    pub(crate) name: String,
    /// Its type.
    pub(crate) ty: &'a Type,
}

/// "testcase `add` takes 3 parameters after `result` (a, b, sum)".
pub(crate) fn describe(testcase: &str, params: &[Param]) -> String {
    let names: Vec<&str> = params.iter().map(|param| param.name.as_str()).collect();
    let plural = if params.len() == 1 { "" } else { "s" };
    format!(
        "testcase `{testcase}` takes {} parameter{plural} after `result` ({})",
        params.len(),
        names.join(", ")
    )
}

/// The body expression. `location` is the testcase's location variable; `closure` makes the
/// body closure of one case from the argument expressions passed after `result`.
pub(crate) fn body(
    testcase: &str,
    params: &[Param],
    parameters: &Parameters,
    location: &Ident,
    closure: &dyn Fn(&[TokenStream]) -> TokenStream,
) -> syn::Result<TokenStream> {
    let values: Vec<Ident> = (0..params.len())
        .map(|index| local(&format!("value{index}"), params[index].ty.span()))
        .collect();
    let list = local("parametrizations", location.span());
    let push = {
        let parametrization = parametrization(params, &values, location, closure);
        quote!(#list.push(#parametrization);)
    };
    let loops = match parameters {
        Parameters::Cases { cases, .. } => cases_loop(testcase, params, cases, &values, push)?,
        Parameters::Product { key, values: lists } => {
            product_loops(testcase, params, *key, lists, &values, push)?
        }
    };
    Ok(quote! {{
        let mut #list = ::std::vec::Vec::new();
        #loops
        ::testrig::__private::TestcaseBody::Parametrized(#list)
    }})
}

/// `parameters = [(1, 2), (3, 4)]`: one loop over the cases.
fn cases_loop(
    testcase: &str,
    params: &[Param],
    cases: &Expr,
    values: &[Ident],
    push: TokenStream,
) -> syn::Result<TokenStream> {
    let single = params.len() == 1;
    let case_ty = if single {
        let ty = params[0].ty;
        quote!(#ty)
    } else {
        let types = params.iter().map(|param| param.ty);
        quote!((#(#types),*))
    };
    let init = match cases {
        Expr::Array(array) => {
            if array.elems.is_empty() {
                return Err(syn::Error::new_spanned(
                    array,
                    format!("`parameters` of testcase `{testcase}` has no cases"),
                ));
            }
            let mut errors = Errors::default();
            let elems: Vec<&Expr> = array
                .elems
                .iter()
                .map(|case| match case {
                    // With one parameter a case may be a plain value or a 1-tuple.
                    Expr::Tuple(tuple) if single && tuple.elems.len() == 1 => &tuple.elems[0],
                    _ => {
                        if let Some(count) =
                            case_arity(case).filter(|count| !single && *count != params.len())
                        {
                            let plural = if count == 1 { "value" } else { "values" };
                            errors.push(syn::Error::new_spanned(
                                case,
                                format!(
                                    "{} but this case has {count} {plural}",
                                    describe(testcase, params)
                                ),
                            ));
                        }
                        case
                    }
                })
                .collect();
            errors.finish()?;
            quote_spanned!(array.span()=> ::std::vec![#(#elems),*])
        }
        other => collect(other),
    };
    let cases_var = local("cases", cases.span());
    let pattern = if single {
        let value = &values[0];
        quote!(#value)
    } else {
        quote!((#(#values),*))
    };
    Ok(quote! {
        let #cases_var: ::std::vec::Vec<#case_ty> = #init;
        for #pattern in #cases_var {
            #push
        }
    })
}

/// How many values a case has, when its syntax tells.
fn case_arity(case: &Expr) -> Option<usize> {
    match case {
        Expr::Tuple(tuple) => Some(tuple.elems.len()),
        Expr::Lit(_) | Expr::Paren(_) | Expr::Array(_) | Expr::Unary(_) | Expr::Reference(_) => {
            Some(1)
        }
        _ => None,
    }
}

/// `parameters(a = [1, 2], b = [3, 4])`: nested loops in signature order, so the first
/// parameter varies slowest.
fn product_loops(
    testcase: &str,
    params: &[Param],
    key: proc_macro2::Span,
    lists: &[(Ident, Expr)],
    values: &[Ident],
    push: TokenStream,
) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let mut by_name: HashMap<String, &Expr> = HashMap::new();
    for (ident, expr) in lists {
        let name = ident.unraw().to_string();
        if !params.iter().any(|param| param.name == name) {
            let names: Vec<&str> = params.iter().map(|param| param.name.as_str()).collect();
            errors.push(syn::Error::new(
                ident.span(),
                format!(
                    "testcase `{testcase}` has no parameter `{name}`; its parameters after `result` are {}",
                    names.join(", ")
                ),
            ));
        } else if by_name.insert(name.clone(), expr).is_some() {
            errors.push(syn::Error::new(
                ident.span(),
                format!("values for `{name}` are given twice"),
            ));
        }
    }
    // A misspelt name would otherwise be reported a second time as a missing one.
    if errors.is_empty() {
        for param in params
            .iter()
            .filter(|param| !by_name.contains_key(&param.name))
        {
            errors.push(syn::Error::new(
                key,
                format!(
                    "parameter `{}` of testcase `{testcase}` has no values: add `{} = […]` to `parameters(…)`",
                    param.name, param.name
                ),
            ));
        }
    }
    errors.finish()?;

    let mut lets = Vec::new();
    let mut loops = Vec::new();
    let mut clones = Vec::new();
    for (index, (param, value)) in params.iter().zip(values).enumerate() {
        let expr = by_name[&param.name];
        let init = match expr {
            Expr::Array(array) if array.elems.is_empty() => {
                return Err(syn::Error::new_spanned(
                    array,
                    format!("parameter `{}` has no values", param.name),
                ));
            }
            Expr::Array(array) => {
                let elems = &array.elems;
                quote_spanned!(array.span()=> ::std::vec![#elems])
            }
            other => collect(other),
        };
        let ty = param.ty;
        let list = local(&format!("values_of_{index}"), expr.span());
        let each = local(&format!("each_{index}"), expr.span());
        lets.push(quote!(let #list: ::std::vec::Vec<#ty> = #init;));
        loops.push(quote!(for #each in &#list));
        // Cloned in the innermost loop: a value moved into one case's closure is needed again
        // by the next combination.
        clones.push(
            quote_spanned!(ty.span()=> let #value = <#ty as ::core::clone::Clone>::clone(#each);),
        );
    }
    let mut body = quote!(#(#clones)* #push);
    for each_loop in loops.into_iter().rev() {
        body = quote!(#each_loop { #body });
    }
    Ok(quote!(#(#lets)* #body))
}

/// Cases or values given as any expression that iterates over them (a `const`, a range, a
/// function call).
fn collect(expr: &Expr) -> TokenStream {
    quote_spanned! {expr.span()=>
        ::core::iter::Iterator::collect(::core::iter::IntoIterator::into_iter(#expr))
    }
}

/// One `Parametrization` from the owned values of a case.
fn parametrization(
    params: &[Param],
    values: &[Ident],
    location: &Ident,
    closure: &dyn Fn(&[TokenStream]) -> TokenStream,
) -> TokenStream {
    let rendered = params.iter().zip(values).map(|(param, value)| {
        let name = &param.name;
        quote_spanned! {param.ty.span()=>
            (#name, &#value as &dyn ::core::fmt::Debug)
        }
    });
    let arguments: Vec<TokenStream> = params
        .iter()
        .zip(values)
        .map(|(param, value)| {
            let ty = param.ty;
            quote_spanned!(ty.span()=> <#ty as ::core::clone::Clone>::clone(&#value))
        })
        .collect();
    let closure = closure(&arguments);
    quote! {{
        let #location = ::core::clone::Clone::clone(&#location);
        ::testrig::__private::Parametrization {
            parameters: ::testrig::__private::Parameters::from_debug(&[#(#rendered),*]),
            body: ::std::sync::Arc::new(#closure),
        }
    }}
}

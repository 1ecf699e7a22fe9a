//! `#[suite]`: on the struct it records the suite's name, tags, description and location
//! (`SuiteAttributes`); on the inherent impl it collects the marked methods into
//! `Suite::definition`.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, ImplItem, ImplItemFn, Item, ItemImpl, ItemStruct};

use crate::args::SuiteArgs;
use crate::attrs::{Marker, doc_string, take_marker};
use crate::codegen::local;
use crate::diagnostics::Errors;
use crate::{hooks, testcase};

/// Expands `#[suite(args)] item`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(item)) => expand_struct(args, item),
        Ok(Item::Impl(item)) => expand_impl(args, item),
        Ok(other) => {
            let (span, found) = describe(&other);
            let error = syn::Error::new(
                span,
                format!(
                    "#[suite] goes on a struct (the suite's state) and on its inherent `impl` block (the \
                     testcases), not on {found}"
                ),
            );
            let error = error.to_compile_error();
            quote!(#error #other)
        }
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#error #item)
        }
    }
}

/// Where to point at an item that cannot be a suite, and what to call it.
fn describe(item: &Item) -> (Span, &'static str) {
    match item {
        Item::Enum(item) => (item.enum_token.span, "an enum"),
        Item::Fn(item) => (item.sig.fn_token.span, "a function"),
        Item::Trait(item) => (item.trait_token.span, "a trait"),
        Item::Mod(item) => (item.mod_token.span, "a module"),
        Item::Union(item) => (item.union_token.span, "a union"),
        Item::Type(item) => (item.type_token.span, "a type alias"),
        Item::Const(item) => (item.const_token.span, "a constant"),
        Item::Static(item) => (item.static_token.span, "a static"),
        Item::Use(item) => (item.use_token.span, "a `use`"),
        other => (other.span(), "this item"),
    }
}

/// `impl SuiteAttributes for S`; on bad arguments the impl is still emitted with the
/// defaults, so the error is not followed by "`S` is not marked as a testrig suite".
fn expand_struct(args: TokenStream, item: ItemStruct) -> TokenStream {
    let mut errors = Errors::default();
    let args = errors.ok(SuiteArgs::parse(args)).unwrap_or_default();
    let ident = &item.ident;
    let name = match &args.name {
        Some(name) => name.value(),
        None => ident.unraw().to_string(),
    };
    let tags = &args.tags;
    let description = match doc_string(&item.attrs) {
        Some(text) => quote!(::core::option::Option::Some(#text)),
        None => quote!(::core::option::Option::None),
    };
    let location = quote_spanned!(ident.span()=> (::core::file!(), ::core::line!()));
    let (impl_generics, type_generics, where_clause) = item.generics.split_for_impl();
    let errors = errors.into_tokens();
    quote! {
        #item
        impl #impl_generics ::testrig::__private::SuiteAttributes for #ident #type_generics #where_clause {
            const NAME: &'static str = #name;
            const TAGS: &'static [&'static str] = &[#(#tags),*];
            const DESCRIPTION: ::core::option::Option<&'static str> = #description;
            const LOCATION: (&'static str, u32) = #location;
        }
        #errors
    }
}

/// The impl (markers neutralised) and `impl Suite`. Methods with errors are left out of the
/// definition but the rest is still generated, so each mistake gives one error.
fn expand_impl(args: TokenStream, mut item: ItemImpl) -> TokenStream {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.push(syn::Error::new_spanned(
            &args,
            "#[suite] on an impl block takes no arguments; give `name` and `tags` on the struct: \
             #[suite(name = \"…\")] struct …",
        ));
    }
    if let Some((path, _)) = &item.trait_ {
        errors.push(syn::Error::new_spanned(
            path,
            "#[suite] goes on the inherent impl block of the suite (`impl Echo { … }`), not on a trait impl",
        ));
        let errors = errors.into_tokens();
        return quote!(#errors #item);
    }

    let mut collected = Collected::new();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let Some(marked) = errors.ok(take_marker(&mut method.attrs)).flatten() else {
            continue;
        };
        let result = match marked.marker {
            Marker::Testcase => collected.testcase(method, &marked.attr),
            hook => collected.hook(hook, method, &marked.attr),
        };
        errors.ok(result);
    }
    let Collected {
        definition,
        testcases,
        hooks,
        ..
    } = collected;

    let self_ty = &item.self_ty;
    // Spanned at the type so that a missing `#[suite]` on the struct is reported there.
    let attributes =
        quote_spanned!(self_ty.span()=> <#self_ty as ::testrig::__private::SuiteAttributes>);
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let errors = errors.into_tokens();
    quote! {
        #item
        impl #impl_generics ::testrig::__private::Suite for #self_ty #where_clause {
            fn definition() -> ::testrig::__private::SuiteDefinition<Self> {
                let mut #definition = ::testrig::__private::SuiteDefinition::new(#attributes::NAME);
                #definition.tags = #attributes::TAGS.iter().map(|tag| ::std::string::String::from(*tag)).collect();
                #definition.description = #attributes::DESCRIPTION.map(::std::string::String::from);
                #definition.location = ::core::option::Option::Some(::testrig::__private::SourceLocation::new(
                    #attributes::LOCATION.0,
                    #attributes::LOCATION.1,
                    0,
                ));
                #(#testcases)*
                #(#hooks)*
                #definition
            }
        }
        #errors
    }
}

/// The statements filling the definition, gathered method by method.
struct Collected {
    /// The variable holding the `SuiteDefinition` under construction.
    definition: syn::Ident,
    testcases: Vec<TokenStream>,
    hooks: Vec<TokenStream>,
    /// Testcase names so far, to reject duplicates.
    names: HashMap<String, Span>,
    /// The method of each hook so far, to reject a second one.
    first_hooks: HashMap<Marker, syn::Ident>,
}

impl Collected {
    fn new() -> Collected {
        Collected {
            definition: local("definition", Span::call_site()),
            testcases: Vec::new(),
            hooks: Vec::new(),
            names: HashMap::new(),
            first_hooks: HashMap::new(),
        }
    }

    fn testcase(&mut self, method: &ImplItemFn, attr: &Attribute) -> syn::Result<()> {
        let expanded = testcase::expand(method, attr)?;
        let cfgs = cfgs(method);
        // Methods under `#[cfg]` may well share a name, one per configuration.
        if cfgs.is_empty() {
            if let Some(first) = self.names.get(&expanded.name) {
                let mut error = syn::Error::new(
                    expanded.name_span,
                    format!(
                        "duplicate testcase name `{}` in this suite; rename one with \
                         #[testcase(name = \"…\")]",
                        expanded.name
                    ),
                );
                error.combine(syn::Error::new(
                    *first,
                    format!("`{}` is first defined here", expanded.name),
                ));
                return Err(error);
            }
            self.names.insert(expanded.name, expanded.name_span);
        }
        let definition = &self.definition;
        let testcase = expanded.definition;
        self.testcases
            .push(quote!(#(#cfgs)* #definition.testcases.push(#testcase);));
        Ok(())
    }

    fn hook(&mut self, marker: Marker, method: &ImplItemFn, attr: &Attribute) -> syn::Result<()> {
        let cfgs = cfgs(method);
        if cfgs.is_empty() {
            if let Some(first) = self.first_hooks.get(&marker) {
                return Err(syn::Error::new(
                    method.sig.ident.span(),
                    format!(
                        "a suite has at most one #[{}]: `{}` is a second one (the first is \
                         `{first}`); call one from the other instead",
                        marker.name(),
                        method.sig.ident
                    ),
                ));
            }
            self.first_hooks.insert(marker, method.sig.ident.clone());
        }
        let statements = hooks::expand(marker, method, attr, &self.definition)?;
        self.hooks.push(quote!(#(#cfgs)* { #statements }));
        Ok(())
    }
}

/// The method's `#[cfg]` attributes: the statements registering it must be compiled exactly
/// when it is, since the compiler removes it only after `#[suite]` has run.
fn cfgs(method: &ImplItemFn) -> Vec<&Attribute> {
    method
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .collect()
}

//! Checks of the method signatures `#[suite]` adapts: testcases and hooks are plain,
//! synchronous, non-generic methods taking `&self` (or `&mut self` for setup and teardown).

use quote::ToTokens;
use syn::{FnArg, PatType, ReceiverKind, Safety, Signature};

use crate::attrs::Marker;

/// How the method borrows the suite.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Borrow {
    /// `&self`
    Shared,
    /// `&mut self`
    Exclusive,
}

/// A checked method: how it borrows the suite and its arguments after the receiver.
pub(crate) struct Checked<'a> {
    pub(crate) borrow: Borrow,
    pub(crate) args: Vec<&'a PatType>,
}

/// The signature a marker expects, for error messages.
pub(crate) fn expected(marker: Marker) -> &'static str {
    match marker {
        Marker::Testcase => {
            "`fn name(&self, env: &Env, result: &mut Recorder)`, followed by the parameters of a \
             parametrized testcase"
        }
        Marker::Setup | Marker::Teardown => {
            "`fn name(&self, env: &Env, result: &mut Recorder)` or `fn name(&mut self, env: &Env)` \
             (`&self` or `&mut self`; the `result` argument is optional)"
        }
        Marker::PreTestcase | Marker::PostTestcase => {
            "`fn name(&self, name: &str, env: &Env, result: &mut Recorder)` (the `result` argument \
             is optional)"
        }
    }
}

/// Checks what every marked method must be and splits off the receiver.
pub(crate) fn check(sig: &Signature, marker: Marker) -> syn::Result<Checked<'_>> {
    let what = format!("#[{}] method `{}`", marker.name(), sig.ident);
    let reject = |culprit: &dyn ToTokens, problem: &str| {
        Err(syn::Error::new_spanned(
            culprit,
            format!("{what} {problem}; expected {}", expected(marker)),
        ))
    };
    if let Some(token) = &sig.asyncness {
        return reject(
            token,
            "cannot be `async`: testcases and hooks are synchronous",
        );
    }
    if let Some(token) = &sig.constness {
        return reject(token, "cannot be `const`");
    }
    if let Safety::Unsafe(token) = &sig.safety {
        return reject(token, "cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        return reject(abi, "cannot have an `extern` ABI");
    }
    if !sig.generics.params.is_empty() {
        return reject(&sig.generics, "cannot be generic");
    }
    let mut inputs = sig.inputs.iter();
    let borrow = match inputs.next() {
        Some(FnArg::Receiver(receiver)) => match &receiver.kind {
            ReceiverKind::Reference(_, _, None) => Borrow::Shared,
            ReceiverKind::Reference(_, _, Some(_)) => Borrow::Exclusive,
            _ => return reject(receiver, "must borrow the suite as `&self`"),
        },
        _ => return reject(&sig.ident, "needs a `&self` receiver"),
    };
    let mut args = Vec::new();
    for input in inputs {
        match input {
            FnArg::Typed(arg) => args.push(arg),
            FnArg::Receiver(receiver) => {
                return reject(receiver, "has `self` in the wrong place");
            }
        }
    }
    Ok(Checked { borrow, args })
}

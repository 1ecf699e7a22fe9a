//! `#[suite]` and `#[testcase]`: the attribute macros of testrig plans.
//!
//! Use them through `testrig::prelude`; the expansions name items as `::testrig::…`, so the
//! crate using them depends on `testrig` alone.
//!
//! `#[suite]` on a struct implements `SuiteAttributes` (name, tags, description, location);
//! `#[suite]` on the struct's inherent impl implements `Suite`, whose definition lists the
//! methods marked `#[testcase]` in declaration order and the hooks marked `#[setup]`,
//! `#[teardown]`, `#[pre_testcase]` and `#[post_testcase]`. The markers only mean something
//! inside such an impl; anywhere else they are compile errors.

mod args;
mod attrs;
mod codegen;
mod diagnostics;
mod hooks;
mod parameters;
mod signature;
mod suite;
mod testcase;
mod timeout;

use proc_macro::TokenStream;

use crate::attrs::Marker;

/// Makes a struct a suite and its impl block the suite's testcases.
///
/// ```ignore
/// /// The doc comment becomes the suite's description.
/// #[suite(name = "Echo suite", tags = ["tcp", "smoke"])]   // both optional: #[suite]
/// struct Echo {
///     sent: std::sync::atomic::AtomicU32,
/// }
///
/// #[suite]                                                  // no arguments here
/// impl Echo {
///     #[setup]
///     fn setup(&mut self, env: &Env, result: &mut Recorder) -> Result<(), String> { Ok(()) }
///
///     #[testcase(tags = ["slow"])]
///     fn round_trip(&self, env: &Env, result: &mut Recorder) {}
/// }
/// ```
///
/// - On the struct: `name = "…"` (default: the type's name) and `tags = ["…", …]` (or one
///   `"…"`); the struct's doc comment becomes the description.
/// - On the impl (inherent, not a trait impl): no arguments. Methods without a marker stay
///   ordinary methods.
/// - Hooks, at most one of each: `#[setup]` and `#[teardown]` take `&self` or `&mut self`,
///   `env: &Env` and optionally `result: &mut Recorder`; `#[pre_testcase]` and
///   `#[post_testcase]` take `&self`, the testcase's `name: &str`, `env: &Env` and optionally
///   `result: &mut Recorder`. They return `()` or `Result<(), E: Display>`, like testcases.
#[proc_macro_attribute]
pub fn suite(args: TokenStream, item: TokenStream) -> TokenStream {
    suite::expand(args.into(), item.into()).into()
}

/// Marks a testcase: a method of a `#[suite]` impl taking `&self, env: &Env, result: &mut
/// Recorder` and returning `()` or `Result<(), E: Display>` (an `Err` errors the testcase
/// with its message, attributed to the method's line). The doc comment becomes the
/// description.
///
/// Settings, all optional:
///
/// - `name = "…"`: the testcase's name (default: the method's).
/// - `tags = ["…", …]` (or one `"…"`).
/// - `skip = "reason"`: listed, reported as skipped, not run.
/// - `xfail = "reason"` or `xfail(reason = "…", strict = true)`: expected to fail; a strict
///   xfail that passes counts as a failure.
/// - `timeout = 2.5` (seconds, integer or float) or `timeout = "500ms"` (units `ms`, `s`,
///   `m`, `h`).
/// - `execution_group = "…"`: testcases of one group may run in parallel with each other.
/// - `parameters = [(1, 2, 3), (2, 3, 5)]`: the method takes parameters after `result`; one
///   testcase is generated per tuple (with one parameter, plain values: `[1, 2]`). Instead of
///   an array literal, any expression iterating over the tuples (a `const`, a fn call).
/// - `parameters(base = [2, 10], exponent = [0, 1, 3])`: one testcase per combination, the
///   first parameter varying slowest; each list may also be any iterable (`0..4`).
///
/// Parameter values must be `Clone + Debug + Send + Sync + 'static`: each case owns its values,
/// clones them for every call, and shows them with `Debug` in the report. A `&str` parameter
/// works with string literals (they are `'static`).
///
/// ```ignore
/// #[testcase(parameters = [(1, 2, 3), (2, 3, 5)], timeout = "1s")]
/// fn add(&self, _env: &Env, result: &mut Recorder, a: i32, b: i32, sum: i32) {
///     result.equal(a + b, sum, "sum");
/// }
/// ```
#[proc_macro_attribute]
pub fn testcase(args: TokenStream, item: TokenStream) -> TokenStream {
    misplaced(Marker::Testcase, args, item)
}

/// Marks the suite's setup, run once before its testcases; a failure errors every testcase
/// without running it. See [`macro@suite`] for the signature.
#[proc_macro_attribute]
pub fn setup(args: TokenStream, item: TokenStream) -> TokenStream {
    misplaced(Marker::Setup, args, item)
}

/// Marks the suite's teardown, run once after its testcases, always. See [`macro@suite`] for
/// the signature.
#[proc_macro_attribute]
pub fn teardown(args: TokenStream, item: TokenStream) -> TokenStream {
    misplaced(Marker::Teardown, args, item)
}

/// Marks the hook run before each testcase, given its name; a failure errors that testcase.
/// See [`macro@suite`] for the signature.
#[proc_macro_attribute]
pub fn pre_testcase(args: TokenStream, item: TokenStream) -> TokenStream {
    misplaced(Marker::PreTestcase, args, item)
}

/// Marks the hook run after each testcase, always, given its name. See [`macro@suite`] for
/// the signature.
#[proc_macro_attribute]
pub fn post_testcase(args: TokenStream, item: TokenStream) -> TokenStream {
    misplaced(Marker::PostTestcase, args, item)
}

/// The markers do their work through `#[suite]`, which rewrites them to a handled form; the
/// compiler invoking one otherwise means it sits outside a `#[suite]` impl. The item is kept
/// so that the error is not followed by others about it missing.
fn misplaced(marker: Marker, args: TokenStream, item: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let item = proc_macro2::TokenStream::from(item);
    if attrs::is_handled(&args) {
        return item.into();
    }
    let message = format!(
        "#[{}] must be used on a method inside an `impl` block marked #[suite]",
        marker.name()
    );
    quote::quote!(::core::compile_error!(#message); #item).into()
}

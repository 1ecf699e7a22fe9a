//! `#[suite]` and `#[testcase]`: the attribute macros of testrig plans.

use proc_macro::TokenStream;

/// Marks a suite struct or its impl block.
#[proc_macro_attribute]
pub fn suite(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
/// Marks a testcase.
#[proc_macro_attribute]
pub fn testcase(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
/// Marks setup.
#[proc_macro_attribute]
pub fn setup(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
/// Marks teardown.
#[proc_macro_attribute]
pub fn teardown(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
/// Marks pre_testcase.
#[proc_macro_attribute]
pub fn pre_testcase(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
/// Marks post_testcase.
#[proc_macro_attribute]
pub fn post_testcase(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}

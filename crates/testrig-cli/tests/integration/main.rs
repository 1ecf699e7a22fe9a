//! The `cargo testrig` and `testrig` commands end to end, as one test binary: affected
//! selection on fixture workspaces (scripted edits and the mutation suite) and `testrig
//! serve`. The fixture tests share one instrumented target folder and take turns in it
//! ([`fixture::take_turn`]).

#[path = "../common/fixture.rs"]
mod fixture;

mod affected;
mod mutation;
mod serve;

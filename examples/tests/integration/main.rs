//! Integration tests: the example plans run as real processes, checked by exit status,
//! console output and the report files they write.

mod assertions;
mod browser;
mod counting;
mod crashes;
mod drivers;
mod failures;
mod filtering;
mod groups;
mod interactive;
mod interactive_workers;
mod interrupt;
mod reload;
mod run_queue;
mod security;
mod services;
mod user_crate;
mod util;

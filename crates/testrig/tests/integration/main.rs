//! testrig's integration tests as one binary (one link instead of four; ripgrep does the
//! same): each module exercises a part of the library the way a user's plan meets it.

mod coverage;
mod environment;
mod features;
mod macros;
mod validation;

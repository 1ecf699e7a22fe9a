//! Example plans live in `src/bin/`; each is a plan binary.

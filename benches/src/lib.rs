//! Benchmark plans. `benches/run` builds the binaries in `src/bin/` in release mode, runs
//! them and prints one figure per line; `benches/README.md` records the numbers.

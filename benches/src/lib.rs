//! Criterion benchmarks of rewind live in `benches/`; run them with
//! `cargo bench -p rewind-benches`. This library is empty.

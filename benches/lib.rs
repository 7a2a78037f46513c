//! Support package for flowlogd's benchmarks; the benchmarks themselves are the `[[bench]]`
//! targets next to this file (see `BENCHMARKS.md` at the repository root).

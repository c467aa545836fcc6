//! tiderun's benchmark harness. Numbers are ratios and differences measured in one run on one
//! machine (tiderun vs the bare process, interleaved), reported as medians and p99 — never
//! asserted in tests. Owns measuring; must never be linked into the request path.

pub mod compile;
pub mod cpu;
pub mod e2e;
pub mod languages;
pub mod machine;
pub mod nodes;
pub mod sandbox_overhead;
pub mod soak;
pub mod stats;

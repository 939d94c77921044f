//! The lock-based reference strategies the seed describes: kept as
//! baselines for the benchmarks and, for `FineGrained`, as the oracle of
//! the conformance and differential tests.

mod fine;
mod global;

pub use fine::FineGrained;
pub use global::GlobalLock;

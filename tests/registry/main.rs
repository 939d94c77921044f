//! The registry's tests (`lockfree_metrics::registry`): lifecycle,
//! readings under load and churn, histograms' sums and saturation, bad
//! input, memory, and records from thread-local destructors. The
//! differential model has a binary of its own (`tests/registry_differential/`).
//! The tests that need a process of their own run in a child
//! (`support::child::alone`).

#[path = "../support/mod.rs"]
mod support;

mod churn;
mod fuzz;
mod histogram_saturation;
mod histogram_sum_count;
mod lifecycle;
mod memory;
mod readings;
mod snapshots;
mod tls_destructor;

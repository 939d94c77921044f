//! The engine's tests: the `MetricsCollector` strategies (`GlobalLock`,
//! `FineGrained`, `Atomic`, `Sharded`, `Ring`), their clocks and their
//! memory, and the README's snippets. One module a subject; the tests that
//! need a process of their own run in a child (`support::child::alone`).

#[path = "../support/mod.rs"]
mod support;

mod churn;
mod clock;
mod concurrent_contract;
mod conformance;
mod debug_output;
mod differential;
mod epoch_isolation;
mod exact_sums;
mod fuzz;
mod readme;
mod resident_memory;
mod ring;
mod saturating_totals;
mod tls_destructor;
mod user_clock;

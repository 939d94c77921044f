//! loom models of the lock-free protocols in `lockfree-metrics` live in `tests/`.

//! How many cases a property test runs: `$var` if set (the long runs in
//! the README), else `default`; and where its failures are kept.

use proptest::test_runner::{Config, FileFailurePersistence};

/// `$var` parsed as a case count, or `default`.
pub(crate) fn cases(var: &str, default: u32) -> u32 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A proptest configuration of `cases` cases that keeps failing cases in
/// `<source file stem>.proptest-regressions` beside the test's source
/// file. (proptest's default would put them under `tests/proptest-regressions/`,
/// since a test binary's folder holds a `main.rs`.)
pub(crate) fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

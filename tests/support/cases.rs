//! How many cases a property test runs: `$var` if set (the long runs in
//! the README), else `default`.

/// `$var` parsed as a case count, or `default`.
pub(crate) fn cases(var: &str, default: u32) -> u32 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

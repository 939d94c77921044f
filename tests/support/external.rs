//! Finding the real programs the exporter tests run against (Prometheus,
//! promtool, Java, a Python with `prometheus_client`). The build script
//! (`build.rs`) sets `--cfg external_NAME` for each one it finds, and a
//! test whose program is missing is `#[ignore]`d with the reason, so
//! cargo's summary counts it as ignored. CI sets
//! `LOCKFREE_METRICS_REQUIRE_EXTERNAL=1`: every test runs, and a missing
//! program fails it. Run with `--include-ignored` anyway, a test whose
//! program is missing says SKIPPED and checks nothing.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Whether a missing program fails the test (CI) rather than skipping it.
pub(crate) fn required() -> bool {
    std::env::var_os("LOCKFREE_METRICS_REQUIRE_EXTERNAL").is_some_and(|v| v == "1")
}

/// `program` from `$env_var` if set, else found on `PATH` (or at one of
/// `fallbacks`); `None` (after saying so, or failing under CI) if absent.
pub(crate) fn find(program: &str, env_var: &str, fallbacks: &[&str]) -> Option<PathBuf> {
    let candidates = std::env::var_os(env_var)
        .map(PathBuf::from)
        .into_iter()
        .chain(
            std::env::var_os("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join(program))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        )
        .chain(fallbacks.iter().map(PathBuf::from));
    for c in candidates {
        if c.is_file() {
            return Some(c);
        }
    }
    missing(&format!("{program} (set {env_var})"));
    None
}

/// A file the tests need (a jar, say): `$env_var` if set, else the first
/// of `defaults` that exists; `None` (after saying so, or failing under CI)
/// if none does.
pub(crate) fn find_file(what: &str, env_var: &str, defaults: &[&str]) -> Option<PathBuf> {
    let candidates = std::env::var_os(env_var)
        .map(PathBuf::from)
        .into_iter()
        .chain(defaults.iter().map(PathBuf::from));
    for c in candidates {
        if c.is_file() {
            return Some(c);
        }
    }
    missing(&format!("{what} (set {env_var})"));
    None
}

/// A Python interpreter that can `import module`: `$LOCKFREE_METRICS_PYTHON`,
/// the CI venv, or the development venv.
pub(crate) fn python_with(module: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = std::env::var_os("LOCKFREE_METRICS_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            root.join("target/ci-venv/bin/python"),
            root.join("target/dev-venv/bin/python"),
        ]);
    for python in candidates {
        let ok = Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    missing(&format!(
        "a Python with `{module}` (set LOCKFREE_METRICS_PYTHON, or pip install it into target/dev-venv)"
    ));
    None
}

fn missing(what: &str) {
    assert!(
        !required(),
        "{what} is missing, and LOCKFREE_METRICS_REQUIRE_EXTERNAL=1 requires it"
    );
    eprintln!("SKIPPED: {what} not found; this test checked nothing");
}

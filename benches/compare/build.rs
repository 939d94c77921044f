//! Sets `--cfg external_chromium` where Chromium is found (or under
//! `LOCKFREE_METRICS_REQUIRE_EXTERNAL=1`, CI's setting), so that
//! `tests/report.rs`'s browser test shows as ignored, with its reason,
//! where there is no browser, instead of passing having checked nothing.

use std::{env, path::PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(external_chromium)");
    println!("cargo::rerun-if-changed=build.rs");
    for var in [
        "LOCKFREE_METRICS_REQUIRE_EXTERNAL",
        "LOCKFREE_METRICS_CHROMIUM",
        "PATH",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let path: Vec<PathBuf> = env::var_os("PATH")
        .map(|p| env::split_paths(&p).collect())
        .unwrap_or_default();
    // Installing the browser changes its folder (only existing folders are
    // watched: cargo reruns a script on every build for a missing path).
    for dir in path.iter().filter(|d| d.is_dir()) {
        println!("cargo::rerun-if-changed={}", dir.display());
    }
    let required = env::var_os("LOCKFREE_METRICS_REQUIRE_EXTERNAL").is_some_and(|v| v == "1");
    let found = env::var_os("LOCKFREE_METRICS_CHROMIUM")
        .is_some_and(|p| PathBuf::from(p).is_file())
        || path.iter().any(|d| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .any(|n| d.join(n).is_file())
        });
    if found || required {
        println!("cargo::rustc-cfg=external_chromium");
    }
}

//! Marks which of the real programs the exporter tests run against are on
//! this machine, as `--cfg external_NAME`, so that a test whose program is
//! missing is `#[ignore]`d with the reason in cargo's own summary instead
//! of passing having checked nothing. Under
//! `LOCKFREE_METRICS_REQUIRE_EXTERNAL=1` (CI) every cfg is set: the tests
//! run, and fail if their program is missing.
//!
//! Nothing here changes the library: the cfgs are read by `tests/` only,
//! and the published package leaves this script out.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

/// cfg name, program (or file), the variable that names it, fallbacks.
const PROGRAMS: [(&str, &str, &str, &[&str]); 4] = [
    (
        "external_prometheus",
        "prometheus",
        "LOCKFREE_METRICS_PROMETHEUS",
        &["/usr/bin/prometheus"],
    ),
    (
        "external_promtool",
        "promtool",
        "LOCKFREE_METRICS_PROMTOOL",
        &["/usr/bin/promtool"],
    ),
    (
        "external_java",
        "java",
        "LOCKFREE_METRICS_JAVA",
        &["/usr/bin/java"],
    ),
    (
        "external_hdr_jar",
        "",
        "LOCKFREE_METRICS_HDR_JAR",
        &["/usr/share/java/hdrhistogram.jar"],
    ),
];

/// cfg name, the Python module the tests import.
const PYTHON_MODULES: [(&str, &str); 2] = [
    ("external_python_prometheus", "prometheus_client"),
    (
        "external_python_otlp",
        "opentelemetry.proto.collector.metrics.v1.metrics_service_pb2",
    ),
];

/// VictoriaMetrics, the OTLP receiver: `$LOCKFREE_METRICS_VICTORIA_METRICS`,
/// on `PATH`, or unpacked by `tests/support/fetch_victoria_metrics.sh`.
const VICTORIA_METRICS: &str = "target/victoria-metrics/root/usr/bin/victoria-metrics";

fn on_path(program: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

fn python_has(module: &str, root: &Path) -> bool {
    env::var_os("LOCKFREE_METRICS_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            root.join("target/ci-venv/bin/python"),
            root.join("target/dev-venv/bin/python"),
        ])
        .any(|python| {
            Command::new(python)
                .args(["-c", &format!("import {module}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

fn main() {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let required = env::var_os("LOCKFREE_METRICS_REQUIRE_EXTERNAL").is_some_and(|v| v == "1");
    println!("cargo::rerun-if-env-changed=LOCKFREE_METRICS_REQUIRE_EXTERNAL");
    println!("cargo::rerun-if-env-changed=LOCKFREE_METRICS_PYTHON");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-changed=build.rs");
    // A program installed later changes its folder. Only folders that exist
    // are watched: cargo reruns a script on every build for a missing path.
    // (A venv made after the first build is seen after `touch build.rs`.)
    let mut watched: Vec<PathBuf> = env::var_os("PATH")
        .map(|p| env::split_paths(&p).collect())
        .unwrap_or_default();
    watched.extend(
        [
            "/usr/share/java",
            "target/ci-venv/bin",
            "target/dev-venv/bin",
        ]
        .map(|d| root.join(d)),
    );
    for dir in watched.iter().filter(|d| d.is_dir()) {
        println!("cargo::rerun-if-changed={}", dir.display());
    }
    for (cfg, program, var, fallbacks) in PROGRAMS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        let found = env::var_os(var)
            .map(PathBuf::from)
            .is_some_and(|p| p.is_file())
            || (!program.is_empty() && on_path(program).is_some())
            || fallbacks.iter().any(|f| Path::new(f).is_file());
        if found || required {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
    println!("cargo::rustc-check-cfg=cfg(external_victoria_metrics)");
    println!("cargo::rerun-if-env-changed=LOCKFREE_METRICS_VICTORIA_METRICS");
    let victoria = env::var_os("LOCKFREE_METRICS_VICTORIA_METRICS")
        .map(PathBuf::from)
        .is_some_and(|p| p.is_file())
        || on_path("victoria-metrics").is_some()
        || root.join(VICTORIA_METRICS).is_file();
    if victoria || required {
        println!("cargo::rustc-cfg=external_victoria_metrics");
    }
    for (cfg, module) in PYTHON_MODULES {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if required || python_has(module, &root) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}

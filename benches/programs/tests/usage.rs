//! Every measuring program prints its usage on `--help` (exit 0) and
//! answers a bad flag or value with an error and its usage (exit 2),
//! never a panic (exit 101) or a run.

use std::{
    process::{Command, Output},
    time::{Duration, Instant},
};

const PROGRAMS: [&str; 13] = [
    env!("CARGO_BIN_EXE_soak"),
    env!("CARGO_BIN_EXE_precision"),
    env!("CARGO_BIN_EXE_snapshot_p50"),
    env!("CARGO_BIN_EXE_windows_read"),
    env!("CARGO_BIN_EXE_transition_storm"),
    env!("CARGO_BIN_EXE_facade_cost"),
    env!("CARGO_BIN_EXE_instructions"),
    env!("CARGO_BIN_EXE_registry_bench"),
    env!("CARGO_BIN_EXE_otlp_push"),
    env!("CARGO_BIN_EXE_registry_cycles"),
    env!("CARGO_BIN_EXE_ring_measure"),
    env!("CARGO_BIN_EXE_classic_buckets"),
    env!("CARGO_BIN_EXE_registry_rss"),
];

/// Runs `bin args`, killed after 20 s: a program that starts measuring
/// instead of answering fails here rather than hanging the suite.
fn run(bin: &str, args: &[&str]) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the program starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("{bin} {args:?} still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn help_prints_usage() {
    for bin in PROGRAMS {
        let out = run(bin, &["--help"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{bin} --help: {out:?}");
        assert!(
            stdout.to_lowercase().contains("usage"),
            "{bin} --help printed {stdout}"
        );
    }
}

#[test]
fn a_bad_flag_is_an_error_not_a_panic() {
    for bin in PROGRAMS {
        let out = run(bin, &["--no-such-flag"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bin} --no-such-flag: {stderr}");
        assert!(stderr.to_lowercase().contains("usage"), "{bin}: {stderr}");
        assert!(!stderr.contains("panicked"), "{bin}: {stderr}");
    }
}

#[test]
fn a_bad_value_is_an_error_not_a_panic() {
    let cases: [(&str, &[&str]); 9] = [
        (env!("CARGO_BIN_EXE_precision"), &["many"]),
        (env!("CARGO_BIN_EXE_snapshot_p50"), &["1", "1", "2,x"]),
        (env!("CARGO_BIN_EXE_snapshot_p50"), &["1", "1", "2", "9"]),
        (env!("CARGO_BIN_EXE_transition_storm"), &["-5"]),
        (env!("CARGO_BIN_EXE_facade_cost"), &["1", "two"]),
        (env!("CARGO_BIN_EXE_soak"), &["--live", "0"]),
        (env!("CARGO_BIN_EXE_otlp_push"), &["--kind", "gauge"]),
        (env!("CARGO_BIN_EXE_registry_cycles"), &["families"]),
        (env!("CARGO_BIN_EXE_registry_cycles"), &["evict", "many"]),
    ];
    for (bin, args) in cases {
        let out = run(bin, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bin} {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{bin} {args:?}: {stderr}");
    }
}

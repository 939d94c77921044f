//! The memory and churn workloads' child process, run as the comparison
//! runs it: the `compare` binary with its hidden first argument and a job.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

/// Runs the binary as a child with `job`; its outcome line, parsed.
fn child(job: Value) -> Value {
    let mut c = Command::new(env!("CARGO_BIN_EXE_compare"))
        .arg("__library-child")
        .arg(job.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.try_wait().expect("waits").is_none() {
        if Instant::now() > deadline {
            let _ = c.kill();
            let _ = c.wait();
            panic!("the child ran past 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = c.wait_with_output().expect("its output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no result line in {stdout:?}"));
    serde_json::from_str(line).expect("a JSON outcome")
}

#[test]
fn the_memory_child_reports_a_positive_rss_and_counts_exactly() {
    let o = child(json!({"memory": {
        "option": "lockfree-metrics registry", "series": 4, "writers": 2,
        "rate": 50000, "seconds": 0.2, "sample_ms": 10
    }}));
    assert!(o["rss_start_kib"].as_u64().unwrap() > 0, "{o}");
    assert!(o["rss_end_kib"].as_u64().unwrap() > 0, "{o}");
    let samples = o["samples"].as_array().unwrap();
    assert!(samples.len() >= 5, "{o}");
    assert!(samples.iter().all(|s| s[1].as_u64().unwrap() > 0));
    let made = o["made"].as_u64().unwrap();
    assert!(made > 0);
    assert_eq!(o["counted"].as_u64(), Some(made));
}

#[test]
fn the_churn_child_counts_every_record() {
    let o = child(json!({"churn": {
        "option": "lockfree-metrics registry", "series": 3, "waves": 3,
        "threads": 4, "records": 100, "idle_ms": 1
    }}));
    assert_eq!(o["made"].as_u64(), Some(3 * 4 * 100), "{o}");
    assert_eq!(o["counted"].as_u64(), Some(3 * 4 * 100), "{o}");
}

#[test]
fn a_bad_job_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_compare"))
        .args(["__library-child", "{not json"])
        .output()
        .expect("the binary starts");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad job"));
    let out = Command::new(env!("CARGO_BIN_EXE_compare"))
        .args([
            "__library-child",
            r#"{"churn": {"option": "nonesuch", "series": 1, "waves": 1, "threads": 1, "records": 1, "idle_ms": 0}}"#,
        ])
        .output()
        .expect("the binary starts");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no option named 'nonesuch'"));
}

/// A job names one operation that starts children; anything else is
/// refused as a bad job (status 64), not run.
#[test]
fn a_job_names_one_operation_with_children() {
    for (job, says) in [
        (r#"{"nonesuch": {}}"#, "no operation is named"),
        (r#"{"accuracy": {}}"#, "accuracy runs no child"),
        (r#"{}"#, "not one operation's job"),
        (r#"{"churn": {}, "memory": {}}"#, "not one operation's job"),
        (r#"{"churn": {"option": 1}}"#, "bad job"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_compare"))
            .args(["__library-child", job])
            .output()
            .expect("the binary starts");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{job}: {err}");
        assert!(
            err.contains("bad job") && err.contains(says),
            "{job}: {err}"
        );
    }
}

#[test]
fn the_scrape_child_renders_and_counts() {
    let o = child(json!({"scrape": {
        "option": "lockfree-metrics registry", "series": 20,
        "plan": {"series": [20], "rates": [{"hz": 100, "writers": [1]}],
                 "reps": 1, "run_s": 0.02, "max_run_s": 0.02}
    }}));
    let groups = o["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{o}");
    let scraped = groups.iter().find(|g| g["hz"] == 100).unwrap();
    assert!(!scraped["runs"][0]["render_ns"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(o["counted"], o["made"], "{o}");
    assert!(o["mismatches"].as_array().unwrap().is_empty(), "{o}");
    assert!(o["peak_rss_kib"].as_u64().unwrap() > 0);
}

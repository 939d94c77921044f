//! The comparison binary end to end: a tiny run's results.json holds
//! numbers as numbers under a schema version; its report.html, rendered by
//! headless Chromium, shows the run's sections, tables and drawn plots; and
//! Ctrl-C keeps what was measured.
//!
//! Chromium is found as `$LOCKFREE_METRICS_CHROMIUM`, else `chromium`,
//! `chromium-browser` or `google-chrome` on the PATH. Without one the
//! rendering test says SKIPPED and checks nothing, unless
//! `LOCKFREE_METRICS_REQUIRE_EXTERNAL=1` (CI), where it fails: the same
//! convention as the root crate's tests/support/external.rs.

use std::{
    fs,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{mpsc, OnceLock},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_compare");

/// A fresh folder for one test's output.
fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("compare-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// Waits for `child` at most `limit`; kills it (and says so) past that.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The tiny run both the JSON and the HTML checks read, made once: three
/// workloads (a throughput table, a reader, the overhead tables), four
/// thread counts (tables as wide as a default run's), 5 ms runs.
fn tiny_run() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = out_dir("tiny");
        let mut child = Command::new(BIN)
            .args([
                "--quick",
                "--workloads",
                "same-metric,with-reader,overhead",
                "--strategies",
                "FineGrained,Sharded,SyncHistogram",
                "--threads",
                "1,2,3,4",
                "--reader-hz",
                "100",
                "--duration",
                "5ms",
                "--warmup",
                "2ms",
                "--out",
            ])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the compare binary starts");
        let status = wait_bounded(&mut child, Duration::from_secs(180));
        let mut stderr = String::new();
        let _ = child
            .stderr
            .take()
            .map(|mut e| e.read_to_string(&mut stderr));
        let status = status.unwrap_or_else(|| panic!("compare ran past 180 s: {stderr}"));
        assert!(status.success(), "compare failed ({status}): {stderr}");
        dir
    })
}

fn results(dir: &Path) -> Value {
    let text = fs::read_to_string(dir.join("results.json")).expect("results.json");
    serde_json::from_str(&text).expect("results.json parses")
}

#[test]
fn results_json_holds_numbers_under_a_schema_version() {
    let r = results(tiny_run());
    assert_eq!(
        r["schema_version"].as_u64(),
        Some(4),
        "{}",
        r["schema_version"]
    );
    // The verdict comes first, as the report opens with it.
    let text = fs::read_to_string(tiny_run().join("results.json")).expect("results.json");
    assert!(
        text.starts_with("{\n  \"verdict\": {"),
        "{}",
        &text[..text.len().min(200)]
    );
    assert!(
        r["verdict"]["lines"]
            .as_array()
            .is_some_and(|l| !l.is_empty() && l.iter().all(Value::is_string)),
        "{}",
        r["verdict"]
    );
    assert_eq!(r["complete"], Value::Bool(true));
    let m = &r["machine"];
    assert!(m["memory_bytes"].as_u64().is_some_and(|b| b > 0), "{m}");
    for load in ["load_at_start", "load_at_end"] {
        for f in ["one_min", "five_min", "fifteen_min"] {
            assert!(m[load][f].is_f64(), "machine.{load}.{f}: {}", m[load][f]);
        }
    }
    assert!(r["argv"].as_array().is_some_and(|a| a.len() > 1));
    let command = r["command"].as_str().expect("command");
    assert!(command.contains("--quick") && !command.starts_with("cargo"));
    assert!(r["cargo_command"].as_str().is_some_and(
        |c| c.starts_with("cargo run --release -p lockfree-metrics-compare -- --quick")
    ));

    let points = r["points"].as_array().expect("points");
    let readers: Vec<&Value> = points
        .iter()
        .filter(|p| p["workload"] == "with-reader")
        .collect();
    assert!(!readers.is_empty());
    assert!(readers.iter().all(|p| p["reader_hz"].as_u64() == Some(100)));
    assert!(points.iter().all(|p| p["rate"].is_f64()));

    let cells = r["cells"].as_array().expect("cells");
    let sharded = cells
        .iter()
        .find(|c| c["case"] == "same-metric" && c["row"] == "Sharded" && c["threads"] == 2)
        .expect("a Sharded cell at 2 threads");
    let x = &sharded["vs_fine_grained"];
    for f in ["median", "min", "max"] {
        assert!(x[f].is_f64(), "vs_fine_grained.{f}: {x}");
    }
    assert!(x["overlap"].is_boolean() && sharded["noisy"].is_boolean());

    let noise = &r["noise"];
    assert!(noise["noisy"].is_boolean() && noise["threshold_percent"].is_f64());
    assert!(noise["two_threads_ns"]["min"].is_f64(), "{noise}");
    let calibrations = noise["calibrations"].as_array().expect("calibrations");
    // One before the first table and one after each: three workloads at
    // four thread counts are 12 tables.
    assert_eq!(calibrations.len(), 13, "{noise}");
    assert!(calibrations.iter().all(|c| c["one_thread_ns"].is_f64()));
}

/// Chromium, or `None` after a SKIPPED line (a failure under
/// `LOCKFREE_METRICS_REQUIRE_EXTERNAL=1`).
fn chromium() -> Option<PathBuf> {
    let from_env = std::env::var_os("LOCKFREE_METRICS_CHROMIUM").map(PathBuf::from);
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .flat_map(|d| ["chromium", "chromium-browser", "google-chrome"].map(|n| d.join(n)))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let found = from_env.into_iter().chain(on_path).find(|c| c.is_file());
    if found.is_none() {
        let required =
            std::env::var_os("LOCKFREE_METRICS_REQUIRE_EXTERNAL").is_some_and(|v| v == "1");
        assert!(
            !required,
            "chromium (set LOCKFREE_METRICS_CHROMIUM) is missing, and \
             LOCKFREE_METRICS_REQUIRE_EXTERNAL=1 requires it"
        );
        eprintln!(
            "SKIPPED: chromium (set LOCKFREE_METRICS_CHROMIUM) not found; this test checked nothing"
        );
    }
    found
}

/// The DOM of `page` after Chromium loaded it and ran its script.
fn rendered_dom(chromium: &Path, page: &Path, scratch: &Path) -> String {
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--dump-dom",
        // The width the report must fit without sideways scrolling.
        "--window-size=1400,1000",
        "--hide-scrollbars",
    ]);
    cmd.arg(format!("--user-data-dir={}", scratch.display()));
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        // Chromium refuses to run as root inside its sandbox.
        cmd.arg("--no-sandbox");
    }
    let mut child = cmd
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Drain both pipes while waiting, so a full pipe cannot stall it.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let dom = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let log = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let status = wait_bounded(&mut child, Duration::from_secs(90));
    let (dom, log) = (dom.join().unwrap(), log.join().unwrap());
    let status = status.unwrap_or_else(|| panic!("chromium ran past 90 s and was killed: {log}"));
    assert!(status.success(), "chromium failed ({status}): {log}");
    dom
}

/// The values of attribute `name` in `dom`.
fn attribute_values<'a>(dom: &'a str, name: &str) -> Vec<&'a str> {
    let key = format!("{name}=\"");
    dom.match_indices(&key)
        .filter_map(|(at, _)| {
            let rest = &dom[at + key.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

#[test]
#[cfg_attr(
    not(external_chromium),
    ignore = "chromium not found (Debian: chromium; or set LOCKFREE_METRICS_CHROMIUM)"
)]
fn report_html_renders_its_sections_tables_and_plots_in_chromium() {
    let dir = tiny_run();
    let Some(chromium) = chromium() else { return };
    let page = dir.join("report.html");
    assert!(page.is_file(), "no report.html in {}", dir.display());
    let scratch = out_dir("chromium-profile");
    let dom = rendered_dom(&chromium, &page, &scratch);
    let _ = fs::remove_dir_all(&scratch);

    for id in ["run", "recommendation", "headline", "accounting"] {
        assert!(
            dom.contains(&format!("<section id=\"{id}\"")),
            "no section {id}"
        );
    }
    for title in [
        "same-metric: records/s",
        "with-reader 100/s: writer requests/s",
        "with-reader 100/s: snapshot latency",
        "overhead: the records inside a request",
        "overhead: end to end, CPU time per request",
    ] {
        assert!(
            dom.contains(&format!("<h2>{title}</h2>")),
            "no section '{title}'"
        );
    }
    // Six tables (same-metric's, with-reader's two, overhead's three), each
    // with rows.
    let tables = dom.matches("<table>").count();
    assert_eq!(tables, 6, "tables in the DOM");
    assert!(dom.matches("<tr>").count() > tables * 3);
    assert!(dom.contains("Sharded"));

    // Every SVG the run drew is inlined, and Chromium laid each out with
    // content: the page's script wrote each one's drawn size.
    let svgs = fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".svg"))
        })
        .count();
    // Throughput of same-metric and with-reader, snapshot latency, overhead.
    assert_eq!(svgs, 4, "the run's plots");
    assert_eq!(dom.matches("<svg").count(), svgs, "inline svg elements");
    let widths = attribute_values(&dom, "data-drawn-width");
    let heights = attribute_values(&dom, "data-drawn-height");
    assert_eq!(widths.len(), svgs, "plots the script measured");
    for (w, h) in widths.iter().zip(&heights) {
        let (w, h): (f64, f64) = (w.parse().unwrap(), h.parse().unwrap());
        assert!(w > 100.0 && h > 100.0, "a plot drawn {w} x {h}");
    }
    assert_eq!(
        attribute_values(&dom, "data-plots-drawn"),
        [svgs.to_string().as_str()]
    );

    // No sideways scrolling at 1400 px: the widest table (four thread
    // columns of rates, ratios and ranges) and the plots fit the window.
    let width = |name| -> u32 {
        let v = attribute_values(&dom, name);
        assert_eq!(v.len(), 1, "{name}: {v:?}");
        v[0].parse().unwrap()
    };
    assert_eq!(width("data-window-width"), 1400);
    let scroll = width("data-scroll-width");
    assert!(scroll <= 1400, "the page is {scroll} px wide at 1400 px");
    // The verdict opens the page, before the run's header.
    let verdict = dom
        .find("<section id=\"verdict\"")
        .expect("a verdict section");
    assert!(verdict < dom.find("<section id=\"run\"").expect("the run section"));
}

#[test]
fn ctrl_c_writes_what_was_measured_and_exits_130() {
    let dir = out_dir("interrupted");
    // About 20 s planned: interrupted well before its end.
    let mut child = Command::new(BIN)
        .args([
            "--workloads",
            "same-metric",
            "--strategies",
            "FineGrained,Sharded",
            "--threads",
            "1",
            "--duration",
            "50ms",
            "--warmup",
            "5ms",
            "--reps",
            "200",
            "--out",
        ])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the compare binary starts");
    let started = Instant::now();
    // stderr read on a thread, line by line, so that waiting for the run to
    // start is bounded too.
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let (lines, seen) = mpsc::channel::<String>();
    let rest = thread::spawn(move || {
        let mut all = String::new();
        for line in stderr.lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = lines.send(line);
        }
        all
    });
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match seen.recv_timeout(left) {
            Ok(line) if line.starts_with("measuring") => break,
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("compare did not start measuring within 60 s, or ended first");
            }
        }
    }
    thread::sleep(Duration::from_millis(600)); // a few runs measured
    let pid = libc::pid_t::try_from(child.id()).expect("a pid");
    // SAFETY: kill has no memory preconditions; `pid` is our live child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    let log = rest.join().unwrap();
    let status = status.unwrap_or_else(|| panic!("compare ignored SIGINT for 60 s: {log}"));
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "it ran the whole plan"
    );
    let r = results(&dir);
    assert_eq!(r["complete"], Value::Bool(false));
    let points = r["points"].as_array().expect("points");
    assert!(!points.is_empty(), "nothing measured was kept: {log}");
    assert!(points.len() < 2 * 200, "the whole plan ran");
    let table = fs::read_to_string(dir.join("table.txt")).expect("table.txt");
    assert!(table.contains("INCOMPLETE"));
    assert!(dir.join("report.html").is_file() && dir.join("throughput-same-metric.svg").is_file());
    let _ = fs::remove_dir_all(&dir);
}

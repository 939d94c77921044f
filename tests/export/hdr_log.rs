//! `export::hdr_log` against real counterparts.
//!
//! 1. **Java's `HistogramLogProcessor`** (HdrHistogram 2.1.11, the
//!    reference implementation) reads an interval log the crate wrote
//!    (four tagged series, one with odd label values, one of bytes, one
//!    empty in two intervals; three intervals) and prints, per tag, each
//!    interval's count, 50%, 90% and max, the running totals' count, 50%,
//!    90%, 99%, 99.9%, 99.99% and max, and the merged percentile
//!    distribution: every figure must be the crate's own
//!    (`HistogramValue::quantile`, `max`, `count`) over the same intervals,
//!    to the printed precision, and every distribution row's total count
//!    exact. Its `-listtags` must list exactly the crate's tags.
//! 2. **Two processes, merged**: two children (this binary re-executed)
//!    each record half of a deterministic workload on four threads and
//!    write an interval log (V2+DEFLATE) and V2 histograms; the parent
//!    merges them with `hdrhistogram`'s `add` and must get exactly what one
//!    registry that recorded everything reports: count, min, max, 1,004
//!    quantiles, and every bucket.
//!
//! Java and the jar are found by `support/external.rs`
//! (`LOCKFREE_METRICS_JAVA`, `LOCKFREE_METRICS_HDR_JAR`): a local run
//! without them skips test 1 loudly; CI requires them.
#![cfg(feature = "hdr-log")]

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::{self, File},
    io::BufWriter,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use hdrhistogram::{
    serialization::interval_log::{IntervalLogIterator, LogEntry},
    Histogram as Hdr,
};
use lockfree_metrics::{
    export::hdr_log::{self, tag_for, Compression, IntervalLog, IntervalLogger},
    registry::{Histogram, HistogramOpts, HistogramValue, Registry, RegistrySnapshot, SeriesKey},
};

use crate::support::{child, external};

/// A directory of the test's own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "lockfree-metrics-{name}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `command` with its output in files under `dir`, killing it past
/// `limit`; returns its stdout. Panics (with its stderr) unless it exits 0.
fn run_bounded(mut command: Command, dir: &Path, name: &str, limit: Duration) -> String {
    let out_path = dir.join(format!("{name}.stdout"));
    let err_path = dir.join(format!("{name}.stderr"));
    let mut child = command
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: cannot start: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name}: still running after {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        status.success(),
        "{name}: {status}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// SplitMix64: item `i`'s pseudo-random word, the same in every process.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Log-uniform in `low ..= low * 1000`, from a word.
fn spread(word: u64, low: u64) -> u64 {
    let u = (word >> 11) as f64 / (1_u64 << 53) as f64;
    (low as f64 * 1000_f64.powf(u)) as u64
}

/// Parsed interval lines, per tag: (start, length, max column, histogram).
type Lines = BTreeMap<String, Vec<(f64, f64, f64, Hdr<u64>)>>;

fn parse_log(text: &[u8]) -> Lines {
    let mut lines = Lines::new();
    for entry in IntervalLogIterator::new(text) {
        if let LogEntry::Interval(line) = entry.expect("the log parses") {
            let tag = line
                .tag()
                .expect("every line is tagged")
                .as_str()
                .to_string();
            let h = hdr_log::decode_interval(&line).unwrap();
            lines.entry(tag).or_default().push((
                line.start_timestamp().as_secs_f64(),
                line.duration().as_secs_f64(),
                line.max(),
                h,
            ));
        }
    }
    lines
}

fn histogram_of<'a>(snapshot: &'a RegistrySnapshot, tag: &str) -> &'a HistogramValue {
    snapshot
        .iter()
        .find(|s| tag_for(&s.key) == tag)
        .and_then(|s| s.as_histogram())
        .unwrap_or_else(|| panic!("no histogram tagged {tag}"))
}

/// Java's printed figure `printed` is `ours` (in the histogram's unit)
/// divided by `ratio`, to the printed decimals.
fn assert_printed(printed: &str, ours: u64, ratio: f64, what: &str) {
    let decimals = printed.split_once('.').map_or(0, |(_, d)| d.len());
    let java: f64 = printed
        .parse()
        .unwrap_or_else(|_| panic!("{what}: {printed:?}"));
    let ours = ours as f64 / ratio;
    let half_unit = 0.5 * 10_f64.powi(-(decimals as i32));
    assert!(
        (java - ours).abs() <= half_unit * (1.0 + 1e-9),
        "{what}: Java printed {printed}, the crate {ours:.6}"
    );
}

/// One series of the Java test's workload.
struct Workload {
    name: &'static str,
    labels: &'static [(&'static str, &'static str)],
    opts: HistogramOpts,
    /// Values recorded per interval.
    counts: [u64; 3],
    /// The lowest value recorded (log-uniform up to 1000 times it).
    low: u64,
    /// `-outputValueUnitRatio`: the unit Java prints in, which the log's
    /// max column must use too (ms for ns histograms, as is for bytes).
    ratio: f64,
}

#[test]
#[cfg_attr(
    not(all(external_java, external_hdr_jar)),
    ignore = "Java or HdrHistogram's jar not found (Debian: default-jre-headless, libhdrhistogram-java)"
)]
fn java_log_processor_prints_the_crate_percentiles() {
    let Some(java) = external::find("java", "LOCKFREE_METRICS_JAVA", &["/usr/bin/java"]) else {
        return;
    };
    let Some(jar) = external::find_file(
        "HdrHistogram's Java jar (Debian: libhdrhistogram-java)",
        "LOCKFREE_METRICS_HDR_JAR",
        &["/usr/share/java/hdrhistogram.jar"],
    ) else {
        return;
    };
    let started = Instant::now();
    let ns = HistogramOpts::default();
    let bytes = HistogramOpts::new(1, 1 << 30, 3)
        .unwrap()
        .scale(1.0)
        .unwrap();
    // Every interval's count and running total is not a multiple of 5, so
    // q * count is never a whole number for q in 0.9, 0.99, 0.999, 0.9999,
    // where Java (ceil of nextAfter(q, -inf) * count) and the crate (ceil
    // of q * count) may round a floating-point product differently.
    let workloads = [
        Workload {
            name: "rpc_seconds",
            labels: &[("method", "get")],
            opts: ns,
            counts: [12_347, 8_191, 10_003],
            low: 300_000,
            ratio: 1e6,
        },
        Workload {
            name: "rpc_seconds",
            labels: &[("method", "put"), ("path", "/items/{id}?q=a b,c;é%")],
            opts: ns,
            counts: [4_001, 3_003, 2_002],
            low: 1_000_000,
            ratio: 1e6,
        },
        Workload {
            name: "payload_bytes",
            labels: &[],
            opts: bytes,
            counts: [3_001, 3_001, 3_001],
            low: 100_000,
            ratio: 1.0,
        },
        Workload {
            name: "idle_seconds",
            labels: &[],
            opts: ns,
            counts: [0, 7, 0],
            low: 500_000,
            ratio: 1e6,
        },
    ];
    for w in &workloads {
        let mut total = 0;
        for n in w.counts {
            total += n;
            assert!(n % 5 != 0 || n == 0, "{}: {n}", w.name);
            assert!(total % 5 != 0 || total == 0, "{}: {total}", w.name);
        }
    }
    let registry = Registry::new();
    let handles: Vec<Histogram> = workloads
        .iter()
        .map(|w| registry.histogram_with(w.name, w.labels, w.opts).unwrap())
        .collect();
    let tags: Vec<String> = registry
        .snapshot()
        .iter()
        .map(|s| tag_for(&s.key))
        .collect();
    let tag_of = |i: usize| {
        let key = SeriesKey::new(workloads[i].name, workloads[i].labels);
        tag_for(&key.unwrap())
    };
    // Not a histogram: not in the log.
    registry
        .counter("requests_total", &[])
        .unwrap()
        .increment(5);
    // Before the logger: in no interval, so in none of Java's figures.
    handles[0].record_n(50_000_000_000, 999);
    handles[3].record_n(1, 5);

    let dir = TempDir::new("java-hdr-log");
    let log_path = dir.0.join("rpc.hlog");
    let log = IntervalLog::new(BufWriter::new(File::create(&log_path).unwrap())).unwrap();
    let mut logger = IntervalLogger::new(&registry, log);
    // Each interval alone, and everything since the logger began up to the
    // end of interval k: the crate's own readers, cursors of their own.
    let mut interval_reader = registry.interval_reader();
    let mut total_readers: Vec<_> = (0..3).map(|_| registry.interval_reader()).collect();
    let mut intervals = Vec::new();
    let mut totals = Vec::new();
    // When each interval ended, as seconds since the log's StartTime (its
    // BaseTime too): before and after each `log_interval`.
    let log_start = logger.log().start_time();
    let since_start = || {
        SystemTime::now()
            .duration_since(log_start)
            .unwrap()
            .as_secs_f64()
    };
    let mut ends = Vec::new();
    let mut item = 0_u64;
    for (k, total_reader) in total_readers.iter_mut().enumerate() {
        std::thread::scope(|s| {
            for (w, h) in workloads.iter().zip(&handles) {
                let first = item;
                item += w.counts[k];
                s.spawn(move || {
                    for i in first..first + w.counts[k] {
                        h.record(spread(mix(i), w.low));
                    }
                });
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        let before = since_start();
        logger.log_interval().unwrap();
        ends.push((before, since_start()));
        intervals.push(interval_reader.take());
        totals.push(total_reader.take());
    }
    drop(logger);
    let text = fs::read(&log_path).unwrap();
    let lines = parse_log(&text);
    assert_eq!(lines.keys().cloned().collect::<Vec<_>>(), tags);

    let java_run = |args: &[&str], name: &str| {
        let mut command = Command::new(&java);
        command
            .args([
                "-Duser.language=en",
                "-Duser.country=US",
                "-XX:TieredStopAtLevel=1",
            ])
            .arg("-cp")
            .arg(&jar)
            .arg("org.HdrHistogram.HistogramLogProcessor")
            .arg("-i")
            .arg(&log_path)
            .args(args);
        run_bounded(command, &dir.0, name, Duration::from_secs(60))
    };
    let out_of = |i: usize| dir.0.join(format!("out{i}"));
    // All of Java's runs at once: each is mostly JVM start-up.
    let listed = std::thread::scope(|s| {
        let java_run = &java_run;
        let runs: Vec<_> = workloads
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let (tag, ratio, out) = (tag_of(i), w.ratio.to_string(), out_of(i));
                s.spawn(move || {
                    let out = out.to_str().unwrap();
                    let args = [
                        "-tag",
                        &tag,
                        "-outputValueUnitRatio",
                        &ratio,
                        "-csv",
                        "-o",
                        out,
                    ];
                    java_run(&args, &format!("processor{i}"))
                })
            })
            .collect();
        let listed = java_run(&["-listtags"], "listtags");
        for run in runs {
            run.join().unwrap();
        }
        listed
    });
    let java_tags: BTreeSet<&str> = listed
        .lines()
        .skip_while(|l| !l.starts_with("Tags found"))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let ours: BTreeSet<&str> = tags.iter().map(String::as_str).collect();
    assert_eq!(java_tags, ours, "Java's -listtags:\n{listed}");
    eprintln!("java -listtags:\n{listed}");

    for (i, w) in workloads.iter().enumerate() {
        let tag = tag_of(i);
        let out = out_of(i);
        let ratio = w.ratio;
        let intervals_csv = fs::read_to_string(&out).unwrap();
        let distribution_csv = fs::read_to_string(out.with_extension("hgrm")).unwrap();
        eprintln!("== {tag} (-outputValueUnitRatio {ratio})\n{intervals_csv}");
        let rows = |csv: &str| -> Vec<Vec<String>> {
            csv.lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('"'))
                .map(|l| l.split(',').map(str::to_string).collect())
                .collect()
        };

        // Per interval, and running totals.
        let interval_rows = rows(&intervals_csv);
        assert_eq!(interval_rows.len(), 3, "{tag}: {intervals_csv}");
        for (k, row) in interval_rows.iter().enumerate() {
            let what = |col: &str| format!("{tag}, interval {k}, {col}");
            let iv = histogram_of(&intervals[k], &tag);
            let total = histogram_of(&totals[k], &tag);
            let (start, length, max_column, logged) = &lines[&tag][k];
            assert_eq!(logged, &iv.to_hdr(), "{}", what("the logged histogram"));
            assert_eq!(
                row[1].parse::<u64>().unwrap(),
                iv.count(),
                "{}",
                what("Int_Count")
            );
            assert_eq!(iv.count(), w.counts[k]);
            // Java prints where the interval ends, relative to StartTime,
            // through whole milliseconds since the epoch (truncated: 1 ms
            // more slack than the log's 3 decimals): the line's start and
            // length, and when the test saw the interval end.
            let java_end: f64 = row[0].parse().unwrap();
            assert!(
                (java_end - (start + length)).abs() <= 0.0015 + 1e-9,
                "{}: Java {java_end}, the log {start} + {length}",
                what("Timestamp")
            );
            // Against when the test saw it end: the log's start and length
            // are each rounded to 1 ms (0.5 ms each) on top of the 1.5 ms
            // above, so 2.5 ms of slack (a line timed from the epoch instead
            // is off by decades).
            let (before, after) = ends[k];
            assert!(
                before - 0.0025 <= java_end && java_end <= after + 0.0025,
                "{}: Java {java_end}, the interval ended in {before} ..= {after} s",
                what("Timestamp")
            );
            assert_printed(&row[2], iv.quantile(0.5), w.ratio, &what("Int_50%"));
            assert_printed(&row[3], iv.quantile(0.9), w.ratio, &what("Int_90%"));
            assert_printed(&row[4], iv.max(), w.ratio, &what("Int_Max"));
            // The log's max column is in the unit Java prints in.
            let java_max: f64 = row[4].parse().unwrap();
            assert!(
                (java_max - max_column).abs() <= 1e-3 + 1e-9,
                "{}: Java {java_max}, the log's max column {max_column}",
                what("max column")
            );
            // The running total is the merge of the intervals so far.
            let mut merged = histogram_of(&intervals[0], &tag).to_hdr();
            for later in &intervals[1..=k] {
                merged.add(histogram_of(later, &tag).to_hdr()).unwrap();
            }
            assert_eq!(merged, total.to_hdr(), "{}", what("merge of intervals"));
            assert_eq!(
                row[5].parse::<u64>().unwrap(),
                total.count(),
                "{}",
                what("Total_Count")
            );
            for (col, q) in [(6, 0.5), (7, 0.9), (8, 0.99), (9, 0.999), (10, 0.9999)] {
                assert_printed(
                    &row[col],
                    total.quantile(q),
                    w.ratio,
                    &what(&format!("Total_{q}")),
                );
                if total.count() > 0 {
                    assert_eq!(total.quantile(q), merged.value_at_quantile(q));
                }
            }
            assert_printed(&row[11], total.max(), w.ratio, &what("Total_Max"));
        }

        // The merged distribution, row by row: (value, percentile, count
        // up to the value). A printed percentile (12 decimals) stands for
        // levels within 5e-13 of it.
        let all = histogram_of(&totals[2], &tag);
        let distribution = rows(&distribution_csv);
        if all.count() == 0 {
            assert!(distribution.is_empty(), "{tag}: {distribution_csv}");
            continue;
        }
        assert!(distribution.len() >= 2, "{tag}: {distribution_csv}");
        let digits = i32::from(w.opts.digits());
        for row in &distribution {
            let q: f64 = row[1].parse().unwrap();
            let java_count: u64 = row[2].parse().unwrap();
            let fits = [q - 5e-13, q, q + 5e-13].into_iter().any(|q| {
                let top = all.quantile(q);
                let below: u64 = all
                    .buckets()
                    .filter(|b| b.high <= top)
                    .map(|b| b.count)
                    .sum();
                let java: f64 = row[0].parse().unwrap();
                let printed_unit = 0.5 * 10_f64.powi(-digits);
                below == java_count
                    && (java - top as f64 / w.ratio).abs() <= printed_unit * (1.0 + 1e-9)
            });
            assert!(
                fits,
                "{tag}: Java's row {row:?}; the crate: {} with {} up to it",
                all.quantile(q) as f64 / w.ratio,
                all.buckets()
                    .filter(|b| b.high <= all.quantile(q))
                    .map(|b| b.count)
                    .sum::<u64>()
            );
            if q > 0.0 {
                assert_eq!(all.quantile(q), all.to_hdr().value_at_quantile(q));
            }
        }
        let last = distribution.last().unwrap();
        assert_eq!(last[1], "1.000000000000");
        assert_eq!(last[2].parse::<u64>().unwrap(), all.count());
        eprintln!(
            "{} distribution rows, first {:?}, last {:?}",
            distribution.len(),
            distribution[0],
            last
        );
    }
    eprintln!("java test: {:?}", started.elapsed());
}

/// Set in a re-executed child to `index:dir`.
const CHILD_ENV: &str = "LOCKFREE_METRICS_HDR_LOG_CHILD";
/// Items in the two-process workload (each child records half).
const ITEMS: u64 = 60_000;
const THREADS: u64 = 4;

/// The two-process workload's series: ns latencies (some past the highest
/// trackable value, so clamped), with labels, and bytes.
fn child_series(registry: &Registry) -> Vec<Histogram> {
    let bytes = HistogramOpts::new(1, 1 << 30, 3)
        .unwrap()
        .scale(1.0)
        .unwrap();
    vec![
        registry.histogram("op_seconds", &[("op", "read")]).unwrap(),
        registry
            .histogram("op_seconds", &[("op", "write"), ("disk", "sd a,1")])
            .unwrap(),
        registry.histogram_with("op_bytes", &[], bytes).unwrap(),
    ]
}

/// Records items `range` that `keep` selects, on `THREADS` threads.
fn record_items(
    series: &[Histogram],
    range: std::ops::Range<u64>,
    keep: impl Fn(u64) -> bool + Sync,
) {
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (range, keep) = (range.clone(), &keep);
            s.spawn(move || {
                for i in range.filter(|i| keep(*i) && (i / 2) % THREADS == t) {
                    let word = mix(i);
                    let value = match i % 3 {
                        // 1 ns to 4.8 hours: most bucket sizes, a few values clamped.
                        0 | 1 => word >> (20 + word % 44),
                        _ => spread(word, 10),
                    };
                    series[(i % 3) as usize].record(value);
                }
            });
        }
    });
}

/// A child's role: its half of the items in two intervals, an interval log
/// (V2+DEFLATE) and the V2 of its totals, one `tag base64` line per series.
#[test]
fn hdr_log_child() {
    let Ok(role) = std::env::var(CHILD_ENV) else {
        return; // not a child: nothing to do
    };
    let (index, dir) = role.split_once(':').unwrap();
    let index: u64 = index.parse().unwrap();
    let dir = Path::new(dir);
    let registry = Registry::new();
    let series = child_series(&registry);
    let file = File::create(dir.join(format!("child{index}.hlog"))).unwrap();
    let mut logger =
        IntervalLogger::new(&registry, IntervalLog::new(BufWriter::new(file)).unwrap());
    for part in 0..2 {
        let range = part * ITEMS / 2..(part + 1) * ITEMS / 2;
        record_items(&series, range, |i| i % 2 == index);
        assert_eq!(logger.log_interval().unwrap(), 3);
    }
    drop(logger);
    let mut v2 = String::new();
    for s in registry.snapshot().iter() {
        let h = s.as_histogram().unwrap();
        v2 += &format!(
            "{} {}\n",
            tag_for(&s.key),
            hdr_log::to_base64(h, Compression::None).unwrap()
        );
    }
    fs::write(dir.join(format!("child{index}.v2")), v2).unwrap();
}

#[test]
fn histograms_from_two_processes_merge_into_one_processes() {
    let started = Instant::now();
    let dir = TempDir::new("two-processes");
    // Both children at once, while this process records everything.
    let children: Vec<_> = (0..2)
        .map(|index| {
            let mut command = child::rerun(&child::test_path(module_path!(), "hdr_log_child"));
            command.env(CHILD_ENV, format!("{index}:{}", dir.0.display()));
            let dir = dir.0.clone();
            std::thread::spawn(move || {
                run_bounded(
                    command,
                    &dir,
                    &format!("child{index}"),
                    Duration::from_secs(120),
                )
            })
        })
        .collect();
    let registry = Registry::new();
    let series = child_series(&registry);
    record_items(&series, 0..ITEMS, |_| true);
    let single = registry.snapshot();
    for child in children {
        let stdout = child.join().unwrap();
        assert!(
            stdout.contains("1 passed"),
            "the child role did not run:\n{stdout}"
        );
    }

    // The interval logs, V2+DEFLATE: every interval of both, merged.
    let mut merged: BTreeMap<String, Hdr<u64>> = BTreeMap::new();
    for index in 0..2 {
        let text = fs::read(dir.0.join(format!("child{index}.hlog"))).unwrap();
        for (tag, lines) in parse_log(&text) {
            assert_eq!(lines.len(), 2, "{tag}: one line per interval");
            for (_, _, _, h) in lines {
                match merged.get_mut(&tag) {
                    Some(m) => m.add(&h).unwrap(),
                    None => drop(merged.insert(tag.clone(), h)),
                }
            }
        }
    }
    let tags: Vec<String> = single.iter().map(|s| tag_for(&s.key)).collect();
    assert_eq!(merged.keys().cloned().collect::<Vec<_>>(), tags);
    let quantiles: Vec<f64> = (0..=1_000)
        .map(|i| f64::from(i) / 1e3)
        .chain([0.9995, 0.9999, 0.99999])
        .collect();
    for s in single.iter() {
        let tag = tag_for(&s.key);
        let one = s.as_histogram().unwrap();
        let two = &merged[&tag];
        assert_eq!(one.count(), ITEMS / 3, "{tag}");
        assert_eq!(two.len(), one.count(), "{tag}: count");
        assert_eq!(two.min(), one.min(), "{tag}: min");
        assert_eq!(two.max(), one.max(), "{tag}: max");
        let one_hdr = one.to_hdr();
        assert_eq!(*two, one_hdr, "{tag}: counts");
        for &q in &quantiles {
            assert_eq!(
                two.value_at_quantile(q),
                one_hdr.value_at_quantile(q),
                "{tag}: q {q}"
            );
            if q > 0.0 {
                // hdrhistogram 7.6 answers q = 0 with the bucket's floor,
                // the crate (and Java's percentile table) with its top.
                assert_eq!(two.value_at_quantile(q), one.quantile(q), "{tag}: q {q}");
            }
        }
    }

    // The V2 (uncompressed) totals, merged, bucket for bucket.
    let mut merged_v2: BTreeMap<String, Hdr<u64>> = BTreeMap::new();
    for index in 0..2 {
        let text = fs::read_to_string(dir.0.join(format!("child{index}.v2"))).unwrap();
        for line in text.lines() {
            let (tag, encoded) = line.split_once(' ').unwrap();
            assert!(
                encoded.starts_with("HISTE"),
                "{tag}: the V2 cookie, not DEFLATE's"
            );
            let h = hdr_log::from_base64(encoded).unwrap();
            match merged_v2.get_mut(tag) {
                Some(m) => m.add(&h).unwrap(),
                None => drop(merged_v2.insert(tag.to_string(), h)),
            }
        }
    }
    for s in single.iter() {
        let tag = tag_for(&s.key);
        let one = s.as_histogram().unwrap();
        let two = &merged_v2[&tag];
        let buckets: Vec<(u64, u64, u64)> = two
            .iter_recorded()
            .map(|v| {
                let top = v.value_iterated_to();
                (two.lowest_equivalent(top), top, v.count_at_value())
            })
            .collect();
        let expected: Vec<(u64, u64, u64)> =
            one.buckets().map(|b| (b.low, b.high, b.count)).collect();
        assert_eq!(buckets, expected, "{tag}");
        eprintln!(
            "{tag}: {} samples in {} buckets, p50 {} p99 {} max {} (both ways)",
            one.count(),
            expected.len(),
            one.quantile(0.5),
            one.quantile(0.99),
            one.max()
        );
    }
    eprintln!("two processes: {:?}", started.elapsed());
}

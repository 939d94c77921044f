//! The error of Prometheus' `histogram_quantile` through classic `le`
//! buckets, for the exporter's default layout and denser candidates.
//!
//! For each of the comparison's accuracy distributions
//! (`benches/compare/src/operations/accuracy.rs`: the same generator,
//! seed and sample count), the samples are recorded into a registry
//! histogram (default options: 1 ns to 1 h, 2 significant digits, exported
//! in seconds), rendered as Prometheus text 0.0.4 with each layout's
//! boundaries over the histogram's range (unsnapped, as the default is),
//! and the `_bucket` lines parsed back. `histogram_quantile` is computed
//! as Prometheus does: the bucket holding rank `q * count`, linear
//! interpolation between its lower bound (0 for the first bucket) and its
//! `le`. The error is against the sorted samples' `ceil(q n)`-th value.
//! Bytes per series: the series' sample lines in the text format (the
//! family's `# HELP`/`# TYPE` lines excluded).
//!
//! The last row of each distribution is the exponential buckets that
//! Prometheus native histograms and OTLP exponential histograms carry
//! (the same scale, 6 at the default 2 digits, from one index:
//! `metric::exponential`), read from the OTLP encoding: the error of the
//! quantile's bucket, as the worse of its two ends, which bounds any
//! estimate a reader interpolates inside it.
//!
//! `cargo run --release -p lockfree-metrics-programs --bin classic_buckets [SAMPLES]`

use std::time::SystemTime;

use lockfree_metrics::{
    export::{
        otlp::{encode_snapshot, proto::metrics::v1::metric::Data, OtlpOpts, Temporality},
        prometheus::{render_registry, Buckets, Format, RenderOpts},
    },
    registry::Registry,
};
use lockfree_metrics_programs::{arg, positional};
use rand::{rngs::SmallRng, Rng as _, SeedableRng as _};
use rand_distr::{Distribution as _, LogNormal};

const USAGE: &str = "usage: classic_buckets [SAMPLES]

histogram_quantile's error at p50, p99 and p99.9 through classic buckets,
for the default layout and denser candidates, on the comparison's accuracy
distributions, and the bytes each layout renders per series. SAMPLES: per
distribution (default 1000000, as the comparison's default run).";

const HOUR_NS: f64 = 3.6e12;
const SEED: u64 = 0x5EED;
const QS: [f64; 3] = [0.5, 0.99, 0.999];

/// Layouts: a name and the mantissas of each decade.
const LAYOUTS: [(&str, &[&str]); 4] = [
    ("1-2-5", &["1", "2", "5"]),
    ("1-1.5-2-3-5-7", &["1", "1.5", "2", "3", "5", "7"]),
    (
        "1-1.5-2-2.5-3-4-5-6-7-8",
        &["1", "1.5", "2", "2.5", "3", "4", "5", "6", "7", "8"],
    ),
    (
        "R10 (10 log-spaced)",
        &["1", "1.25", "1.6", "2", "2.5", "3.15", "4", "5", "6.3", "8"],
    ),
];

/// The layout `RenderOpts::default()` renders (checked).
const DEFAULT: &str = "1-1.5-2-3-5-7";

/// The comparison's distributions, drawn as it draws them.
fn samples(shape: usize, n: usize) -> Vec<u64> {
    let mut rng = SmallRng::seed_from_u64(SEED);
    let lognormal = |median: f64, sigma: f64| LogNormal::new(f64::ln(median), sigma).unwrap();
    let clamp = |x: f64| x.round().clamp(1.0, HOUR_NS) as u64;
    if shape == 0 {
        let d = lognormal(1e6, 1.5);
        (0..n).map(|_| clamp(d.sample(&mut rng))).collect()
    } else {
        let (fast, slow) = (lognormal(2e5, 0.3), lognormal(5e7, 0.5));
        (0..n)
            .map(|_| {
                let d = if rng.random::<f64>() < 0.1 {
                    &slow
                } else {
                    &fast
                };
                clamp(d.sample(&mut rng))
            })
            .collect()
    }
}

const SHAPES: [&str; 2] = [
    "log-normal, median 1 ms, sigma 1.5",
    "bimodal: 90% median 200 us sigma 0.3, 10% median 50 ms sigma 0.5",
];

/// `mantissas` times each power of ten within `low ..= high`, each the
/// `f64` nearest its decimal (as the exporter's default makes 1-2-5).
fn bounds(mantissas: &[&str], low: f64, high: f64) -> Vec<f64> {
    let mut out = Vec::new();
    for exp in (low.log10().floor() as i32 - 1)..=(high.log10().ceil() as i32 + 1) {
        for m in mantissas {
            let v: f64 = format!("{m}e{exp}").parse().unwrap();
            if v >= low && v <= high {
                out.push(v);
            }
        }
    }
    out
}

/// Prometheus' `histogram_quantile` over cumulative (le, count) buckets
/// ending with +Inf.
fn histogram_quantile(buckets: &[(f64, u64)], q: f64) -> f64 {
    let total = buckets.last().unwrap().1;
    let rank = q * total as f64;
    let i = buckets.iter().position(|&(_, c)| c as f64 >= rank).unwrap();
    let (upper, count) = buckets[i];
    if upper.is_infinite() {
        return buckets[i - 1].0;
    }
    let (lower, below) = if i == 0 { (0.0, 0) } else { buckets[i - 1] };
    if count == below {
        return upper;
    }
    lower + (upper - lower) * (rank - below as f64) / (count - below) as f64
}

/// The `_bucket` lines of `text` (cumulative), and the bytes of the
/// series' sample lines.
fn parse(text: &str) -> (Vec<(f64, u64)>, usize) {
    let mut buckets = Vec::new();
    let mut bytes = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        bytes += line.len() + 1;
        if let Some(rest) = line.strip_prefix("latency_seconds_bucket{le=\"") {
            let (le, count) = rest.split_once("\"} ").unwrap();
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            buckets.push((le, count.trim().parse().unwrap()));
        }
    }
    (buckets, bytes)
}

/// The `q` quantile's exponential bucket, `(lower, upper]` in seconds:
/// where the running count (zero bucket first) reaches `ceil(q n)`.
fn exponential_bucket(zero: u64, scale: i32, offset: i32, counts: &[u64], q: f64) -> (f64, f64) {
    let n = zero + counts.iter().sum::<u64>();
    let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
    if zero >= rank {
        return (0.0, 0.0);
    }
    let base = 2_f64.powf(2_f64.powi(-scale));
    let mut running = zero;
    for (j, &c) in counts.iter().enumerate() {
        running += c;
        if running >= rank {
            let i = offset + j as i32;
            return (base.powi(i), base.powi(i + 1));
        }
    }
    unreachable!("the running count reaches n")
}

fn main() {
    let args = positional(USAGE, &["SAMPLES"]);
    let n: usize = arg(USAGE, &args, 0, "SAMPLES", 1_000_000);
    if n == 0 {
        lockfree_metrics_programs::usage_error(USAGE, "SAMPLES must be at least 1");
    }
    println!("classic_buckets: {n} samples per distribution, seed {SEED:#x}");
    println!("| distribution | layout | buckets | bytes/series | p50 err | p99 err | p99.9 err |");
    println!("|---|---|---|---|---|---|---|");
    for (shape, label) in SHAPES.iter().enumerate() {
        let values = samples(shape, n);
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let exact = |q: f64| sorted[((q * n as f64).ceil() as usize).max(1) - 1] as f64 / 1e9;
        let registry = Registry::new();
        let h = registry.histogram("latency_seconds", &[]).unwrap();
        for &v in &values {
            h.record(v);
        }
        for (name, mantissas) in LAYOUTS {
            let b = bounds(mantissas, 1e-9, 3600.0);
            let opts = RenderOpts::default().buckets(Buckets::explicit(&b));
            let (text, _) = render_registry(&registry, Format::Text, &opts);
            let (buckets, bytes) = parse(std::str::from_utf8(&text).unwrap());
            assert_eq!(
                buckets.len(),
                b.len() + 1,
                "{name}: every boundary rendered"
            );
            if name == DEFAULT {
                let (default, _) = render_registry(&registry, Format::Text, &RenderOpts::default());
                assert_eq!(default, text, "the exporter's default is {DEFAULT}");
            }
            let errs: Vec<String> = QS
                .iter()
                .map(|&q| {
                    let (est, want) = (histogram_quantile(&buckets, q), exact(q));
                    format!(
                        "{:+.1}% ({:.3} ms for {:.3} ms)",
                        (est / want - 1.0) * 100.0,
                        est * 1e3,
                        want * 1e3
                    )
                })
                .collect();
            println!(
                "| {label} | {name} | {} | {bytes} | {} |",
                b.len(),
                errs.join(" | ")
            );
        }
        let snapshot = registry.snapshot();
        let request = encode_snapshot(
            &snapshot,
            Temporality::Cumulative,
            SystemTime::UNIX_EPOCH,
            SystemTime::now(),
            &OtlpOpts::default(),
        );
        let metric = &request.resource_metrics[0].scope_metrics[0].metrics[0];
        let Some(Data::ExponentialHistogram(e)) = &metric.data else {
            panic!("the registry's histogram encodes as exponential: {metric:?}")
        };
        let p = &e.data_points[0];
        let positive = p.positive.as_ref().expect("positive buckets");
        let errs: Vec<String> = QS
            .iter()
            .map(|&q| {
                let (lo, hi) = exponential_bucket(
                    p.zero_count,
                    p.scale,
                    positive.offset,
                    &positive.bucket_counts,
                    q,
                );
                let want = exact(q);
                let worst = [lo, hi]
                    .into_iter()
                    .map(|end| end / want - 1.0)
                    .fold(0.0_f64, |w, e| if e.abs() > w.abs() { e } else { w });
                format!(
                    "{:+.2}% (bucket {:.4}-{:.4} ms for {:.4} ms)",
                    worst * 100.0,
                    lo * 1e3,
                    hi * 1e3,
                    want * 1e3
                )
            })
            .collect();
        println!(
            "| {label} | native / OTLP exponential, scale {} (either end of the quantile's bucket) | {} | - | {} |",
            p.scale,
            positive.bucket_counts.len(),
            errs.join(" | ")
        );
    }
}

//! `accuracy`: latency samples spread over decades (a log-normal and a
//! bimodal distribution), recorded into each option; p50, p99 and p999 as
//! the option reads them, against the exact values of the sorted samples.

use rand::{rngs::SmallRng, Rng, SeedableRng};
use rand_distr::{Distribution as _, LogNormal};
use serde::Serialize;

use crate::{
    failure::Failure,
    libraries::contenders::{text_quantiles, Contender, Library, Visit, Writer as _, BUCKETS},
    operations::{
        drive::{series_for, with_background},
        operation::{operation, Report},
    },
    section::Section,
    units::ns,
};

/// The quantiles compared.
pub(crate) const QS: [f64; 3] = [0.5, 0.99, 0.999];
/// The largest sample, 1 hour in ns (the registry's default range).
const HOUR_NS: f64 = 3.6e12;

/// The nearest-rank `q` quantile of a sorted, non-empty sample: the value
/// at rank `ceil(q * n)` (1-based, at least 1), the definition
/// hdrhistogram's `value_at_quantile` approximates.
pub(crate) fn exact(sorted: &[u64], q: f64) -> u64 {
    let n = sorted.len();
    let rank = (q * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// `(estimate - exact) / exact`; NaN when `exact` is 0 or the estimate is
/// not finite.
pub(crate) fn relative_error(estimate: f64, exact: f64) -> f64 {
    if exact == 0.0 || !estimate.is_finite() {
        return f64::NAN;
    }
    (estimate - exact) / exact
}

/// Where an option's quantiles come from.
pub(crate) fn method(peer: Contender) -> String {
    let buckets = format!(
        "histogram_quantile over Prometheus' default buckets ({} from {} to {} s)",
        BUCKETS.len(),
        BUCKETS[0],
        BUCKETS[BUCKETS.len() - 1]
    );
    match peer {
        Contender::Registry | Contender::Facade => "its HDR quantile (2 significant digits)".into(),
        Contender::Sharded => "its snapshot's HDR p50/p99/p999".into(),
        Contender::Exporter => "its summary's quantile (DDSketch, rolling 3 x 20 s)".into(),
        Contender::AtomicBucket => "none: a raw sample buffer".into(),
        Contender::SyncHistogram => "its HDR quantile (2 significant digits, from 1 µs)".into(),
        Contender::ExporterBuckets
        | Contender::PromHistogram
        | Contender::PromLocal
        | Contender::ClientHistogram
        | Contender::OtelHistogram
        | Contender::OtelBound => buckets,
    }
}

/// Records `samples` into series 0 of an option and reads its quantiles,
/// and the same from its text exposition (what a scraper sees).
struct Read<'a>(&'a [u64]);

impl Visit for Read<'_> {
    type Out = Result<(Option<Vec<f64>>, Option<Vec<f64>>), String>;

    fn visit<L: Library>(self, peer: Contender) -> Self::Out {
        let lib = L::new(peer, series_for(peer, 1))?;
        with_background(&lib, || {
            let mut w = lib.writer();
            for &ns in self.0 {
                w.record(0, ns);
            }
            w.finish();
        });
        let scraped = lib.render().and_then(|t| text_quantiles(&t, 0, &QS));
        Ok((lib.quantiles(0, &QS), scraped))
    }
}

/// Every option's estimates after recording `samples`. This crate's
/// registry has a second row: its text exposition's buckets read with
/// `histogram_quantile`, as a Prometheus server reads it.
pub(crate) fn read_all(peers: &[Contender], samples: &[u64], exact_ns: &[u64]) -> Vec<Estimate> {
    let mut out = Vec::new();
    for &peer in peers {
        let (own, scraped) = match peer.visit(Read(samples)) {
            Ok(r) => r,
            Err(why) => {
                out.push(estimate(peer.name(), method(peer), Err(why), exact_ns));
                continue;
            }
        };
        let own = own.ok_or_else(|| "no quantiles".to_string());
        out.push(estimate(peer.name(), method(peer), own, exact_ns));
        if peer == Contender::Registry {
            out.push(estimate(
                &format!("{} (scraped)", peer.name()),
                "histogram_quantile over its text exposition's default 1-1.5-2-3-5-7 buckets"
                    .into(),
                scraped.ok_or_else(|| "no buckets in its text".to_string()),
                exact_ns,
            ));
        }
    }
    out
}

/// A latency distribution.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub(crate) enum Shape {
    /// Log-normal, median `median_ns`, shape `sigma`.
    LogNormal { median_ns: f64, sigma: f64 },
    /// Two log-normal modes: `slow` of the samples from the second.
    Bimodal {
        fast_median_ns: f64,
        fast_sigma: f64,
        slow_median_ns: f64,
        slow_sigma: f64,
        slow: f64,
    },
}

impl Shape {
    /// The two distributions of the default run.
    pub(crate) const ALL: [Shape; 2] = [
        // 1 ms median; 99.8% between 10 µs and 100 ms.
        Shape::LogNormal {
            median_ns: 1e6,
            sigma: 1.5,
        },
        // Cache hits around 200 µs, 10% misses around 50 ms.
        Shape::Bimodal {
            fast_median_ns: 2e5,
            fast_sigma: 0.3,
            slow_median_ns: 5e7,
            slow_sigma: 0.5,
            slow: 0.1,
        },
    ];

    /// A short description for the table title.
    pub(crate) fn label(&self) -> String {
        match *self {
            Shape::LogNormal { median_ns, sigma } => {
                format!("log-normal, median {}, sigma {sigma}", ns(median_ns))
            }
            Shape::Bimodal {
                fast_median_ns,
                fast_sigma,
                slow_median_ns,
                slow_sigma,
                slow,
            } => format!(
                "bimodal: {:.0}% log-normal median {} sigma {fast_sigma}, {:.0}% median {} sigma {slow_sigma}",
                (1.0 - slow) * 100.0,
                ns(fast_median_ns),
                slow * 100.0,
                ns(slow_median_ns)
            ),
        }
    }

    /// `n` samples in ns from a generator seeded with `seed`, each
    /// rounded and kept within 1 ns ..= 1 h.
    pub(crate) fn samples(&self, n: usize, seed: u64) -> Vec<u64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let lognormal = |median: f64, sigma: f64| {
            LogNormal::new(median.ln(), sigma).expect("a finite median and a positive sigma")
        };
        let clamp = |x: f64| x.round().clamp(1.0, HOUR_NS) as u64;
        match *self {
            Shape::LogNormal { median_ns, sigma } => {
                let d = lognormal(median_ns, sigma);
                (0..n).map(|_| clamp(d.sample(&mut rng))).collect()
            }
            Shape::Bimodal {
                fast_median_ns,
                fast_sigma,
                slow_median_ns,
                slow_sigma,
                slow,
            } => {
                let fast = lognormal(fast_median_ns, fast_sigma);
                let slow_d = lognormal(slow_median_ns, slow_sigma);
                (0..n)
                    .map(|_| {
                        let d = if rng.random::<f64>() < slow {
                            &slow_d
                        } else {
                            &fast
                        };
                        clamp(d.sample(&mut rng))
                    })
                    .collect()
            }
        }
    }
}

/// What `accuracy` runs.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Plan {
    /// Samples per distribution.
    pub(crate) samples: usize,
    pub(crate) seed: u64,
    pub(crate) shapes: Vec<Shape>,
}

impl Plan {
    /// The default run, or `--quick`'s.
    pub(crate) fn new(quick: bool) -> Self {
        Plan {
            samples: if quick { 100_000 } else { 1_000_000 },
            seed: 0x5EED,
            shapes: Shape::ALL.to_vec(),
        }
    }
}

/// One option's reading of one distribution.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Estimate {
    pub(crate) option: String,
    /// Where its quantiles come from.
    pub(crate) method: String,
    /// p50, p99, p999 in ns, as [`QS`]; `None` where it gave none.
    pub(crate) ns: Option<Vec<f64>>,
    /// `(estimate - exact) / exact`, per quantile.
    pub(crate) relative_error: Option<Vec<f64>>,
    /// Why it gave none.
    pub(crate) note: Option<String>,
}

/// One distribution's figures.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Case {
    pub(crate) shape: Shape,
    pub(crate) label: String,
    /// The exact p50, p99, p999 of the sorted samples, ns.
    pub(crate) exact_ns: Vec<u64>,
    pub(crate) estimates: Vec<Estimate>,
}

/// `accuracy`'s part of results.json.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Results {
    pub(crate) plan: Plan,
    pub(crate) cases: Vec<Case>,
}

/// Compares `got` (ns per [`QS`]) with the exact quantiles.
pub(crate) fn estimate(
    option: &str,
    method: String,
    got: Result<Vec<f64>, String>,
    exact_ns: &[u64],
) -> Estimate {
    match got {
        Ok(v) => Estimate {
            option: option.into(),
            method,
            relative_error: Some(
                v.iter()
                    .zip(exact_ns)
                    .map(|(&e, &x)| relative_error(e, x as f64))
                    .collect(),
            ),
            ns: Some(v),
            note: None,
        },
        Err(why) => Estimate {
            option: option.into(),
            method,
            ns: None,
            relative_error: None,
            note: Some(why),
        },
    }
}

/// Runs the plan over `peers`: every option records each distribution's
/// samples and reads [`QS`].
pub(crate) fn run(plan: &Plan, peers: &[Contender], progress: &mut dyn FnMut(&str)) -> Results {
    let mut cases = Vec::new();
    for (i, &shape) in plan.shapes.iter().enumerate() {
        progress(&format!("accuracy / {}", shape.label()));
        let samples = shape.samples(plan.samples, plan.seed + i as u64);
        let mut sorted = samples.clone();
        sorted.sort_unstable();
        let exact_ns: Vec<u64> = QS.iter().map(|&q| exact(&sorted, q)).collect();
        drop(sorted);
        let estimates = read_all(peers, &samples, &exact_ns);
        cases.push(Case {
            shape,
            label: shape.label(),
            exact_ns,
            estimates,
        });
    }
    Results {
        plan: plan.clone(),
        cases,
    }
}

/// `+1.23%`, or "n/a".
fn percent(x: f64) -> String {
    if x.is_finite() {
        format!("{:+.2}%", x * 100.0)
    } else {
        "n/a".into()
    }
}

/// The tables: one per distribution.
pub(crate) fn sections(r: &Results) -> Vec<Section> {
    r.cases
        .iter()
        .map(|c| {
            let mut header = vec![String::new(), "quantiles from".to_string()];
            header.extend(QS.iter().map(|q| format!("p{}", q * 100.0)));
            let mut rows = vec![{
                let mut row = vec!["exact".to_string(), "the sorted samples".to_string()];
                row.extend(c.exact_ns.iter().map(|&x| ns(x as f64)));
                row
            }];
            for e in &c.estimates {
                let mut row = vec![e.option.clone(), e.method.clone()];
                match (&e.ns, &e.relative_error) {
                    (Some(v), Some(err)) => row.extend(
                        v.iter()
                            .zip(err)
                            .map(|(&x, &er)| format!("{} ({})", ns(x), percent(er))),
                    ),
                    _ => row.push(e.note.clone().unwrap_or_else(|| "none".into())),
                }
                rows.push(row);
            }
            let mut notes = vec![format!(
                    "{} samples (seeded) recorded into one series of each option; each cell: the \
                     option's quantile (relative error against the exact nearest-rank value of the \
                     sorted samples). Bucketed libraries are read as Prometheus reads them: \
                     histogram_quantile (linear interpolation within the bucket) over the buckets \
                     of their text exposition; summaries and HDR histograms give their own quantile.",
                    r.plan.samples
                )];
            for e in &c.estimates {
                if let Some(v) = &e.ns {
                    if v.len() == 3 && v[1] == v[2] && c.exact_ns[1] != c.exact_ns[2] {
                        notes.push(format!(
                            "{}: p99 and p999 read the same value, {} (the exact ones: {} and {})",
                            e.option,
                            ns(v[1]),
                            ns(c.exact_ns[1] as f64),
                            ns(c.exact_ns[2] as f64)
                        ));
                    }
                }
            }
            Section {
                title: format!("accuracy: {}", c.label),
                notes,
                header,
                rows,
                plots: Vec::new(),
            }
        })
        .collect()
}

operation! {
    /// The accuracy operation, as `operations` lists it.
    Accuracy: "accuracy",
    "p50/p99/p999 of log-normal and bimodal latencies against the \
        exact sorted values (bucketed options via histogram_quantile)",
    planned_ms: (500, 8_000),
}

impl Report for Results {
    fn sections(&self) -> Vec<Section> {
        sections(self)
    }

    /// None: an estimate's error is a finding, not a miscount.
    fn failures(&self) -> Vec<Failure> {
        Vec::new()
    }

    /// Who reads quantiles within 1%, and the worst.
    fn recommendation(&self) -> Vec<String> {
        let mut out = Vec::new();
        for case in &self.cases {
            let worst = |e: &Estimate| {
                e.relative_error
                    .as_ref()
                    .map(|r| r.iter().fold(0.0_f64, |m, x| m.max(x.abs())))
            };
            let mut close: Vec<&str> = Vec::new();
            let mut far: Option<(&str, f64)> = None;
            for e in &case.estimates {
                match worst(e) {
                    Some(w) if w <= 0.01 => close.push(&e.option),
                    Some(w) if far.is_none_or(|(_, f)| w > f) => far = Some((&e.option, w)),
                    _ => {}
                }
            }
            let mut line = format!(
                "accuracy, {}: p50/p99/p999 within 1% of the exact values: {}",
                case.label,
                if close.is_empty() {
                    "none".to_string()
                } else {
                    close.join(", ")
                }
            );
            if let Some((o, w)) = far {
                line.push_str(&format!("; worst {o}, off by up to {:.0}%", w * 100.0));
            }
            out.push(line);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_samples_are_seeded_and_spread_over_decades() {
        for shape in Shape::ALL {
            let a = shape.samples(20_000, 7);
            assert_eq!(a, shape.samples(20_000, 7));
            assert_ne!(a, shape.samples(20_000, 8));
            let mut s = a.clone();
            s.sort_unstable();
            let (p1, p999) = (exact(&s, 0.01), exact(&s, 0.999));
            assert!(p999 as f64 / p1 as f64 > 100.0, "{shape:?}: {p1} .. {p999}");
        }
        // The bimodal one: p50 among the fast, p99 among the slow.
        let mut s = Shape::ALL[1].samples(50_000, 1);
        s.sort_unstable();
        assert!(exact(&s, 0.5) < 400_000 && exact(&s, 0.99) > 20_000_000);
    }

    #[test]
    fn exact_quantiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(exact(&v, 0.5), 500);
        assert_eq!(exact(&v, 0.99), 990);
        assert_eq!(exact(&v, 0.999), 999);
        assert_eq!(exact(&v, 0.0), 1);
        assert_eq!(exact(&v, 1.0), 1000);
        assert_eq!(exact(&[7], 0.999), 7);
    }

    #[test]
    fn errors_are_relative_to_the_exact_values() {
        let e = estimate(
            "x",
            "m".into(),
            Ok(vec![110.0, 990.0, 0.0]),
            &[100, 1000, 0],
        );
        let err = e.relative_error.unwrap();
        assert!((err[0] - 0.1).abs() < 1e-12 && (err[1] + 0.01).abs() < 1e-12);
        assert!(err[2].is_nan());
        let none = estimate("y", "m".into(), Err("no quantiles".into()), &[1, 2, 3]);
        assert!(none.ns.is_none() && none.note.is_some());
    }

    #[test]
    fn every_option_reads_a_known_distribution() {
        // 1,000 samples of 1..=1000 µs: exact p50 500 µs, p99 990 µs.
        let samples: Vec<u64> = (1..=1_000).map(|i| i * 1_000).collect();
        let exact_ns = [500_000, 990_000, 999_000];
        let all = read_all(&Contender::ALL, &samples, &exact_ns);
        let find = |name: &str| all.iter().find(|e| e.option == name).unwrap();
        // HDR at 2 digits: within 1/128.
        let ours = find(Contender::Registry.name())
            .relative_error
            .clone()
            .unwrap();
        assert!(ours.iter().all(|e| e.abs() < 1.0 / 128.0), "{ours:?}");
        // Every sample is below the first default bucket (5 ms): the
        // interpolation from 0 to 5 ms puts p50 at 2.5 ms.
        let tikv = find(Contender::PromHistogram.name()).ns.clone().unwrap();
        assert!((tikv[0] - 2.5e6).abs() < 1.0, "{tikv:?}");
        // The scraped registry's default buckets: uniform samples are what
        // the interpolation assumes, so p50 is close; the `le="0.0005"`
        // count misses the HDR bucket straddling 500 µs, so p50 lands just
        // inside (500 µs, 700 µs].
        let scraped = find(&format!("{} (scraped)", Contender::Registry.name()));
        let p50 = scraped.ns.clone().unwrap()[0];
        assert!(p50 > 5e5 && p50 < 5e5 * 1.01, "{p50}");
        assert!(find(Contender::AtomicBucket.name()).ns.is_none());
    }
}

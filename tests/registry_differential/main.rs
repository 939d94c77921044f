//! Differential property tests of the registry (`lockfree_metrics::registry`)
//! against a plain sequential model written for these tests.
//!
//! **Sequential.** Random sequences of operations over a fixed set of
//! series (counters, gauges and histograms, some looked up through the
//! registry, some through families; two histogram layouts, one with a
//! lowest unit above 1): increments and `absolute`, gauge `set`, `add` and
//! `sub` (NaN and infinities included), histogram `record`, `record_n`,
//! `record_f64` (rejected and clamped values included) and
//! `record_duration`, handle lookups and drops, `remove`, interval takes
//! from two readers, and snapshots. The model (`Model` below) keeps each
//! series' raw samples and computes every figure from them; after every
//! step the registry's `stats()` and the held handles' getters must equal
//! the model's, and at every reading:
//!
//! - the snapshot holds exactly the model's shown series, sorted by (name,
//!   labels), with equal values: counters exactly, gauges bit for bit,
//!   histograms' count, exact sum, clamp and reject counts, buckets, `min`,
//!   `max`, quantiles and `to_hdr()`'s counts equal to an
//!   `hdrhistogram::Histogram` fed the same values (each histogram's count
//!   is also its buckets' total);
//! - **lifecycle**: `remove` drops a series no handle holds (`Dropped`: a
//!   later lookup starts it at zero) and hides one a handle holds
//!   (`Hidden`): left out of readings until its value changes (then shown
//!   for good, with its cumulative value) or a lookup wants it;
//! - **intervals**: each reader's take is what was recorded since that
//!   reader's previous take, for every shown series (a series hidden in
//!   between included: its records land in exactly one interval of each
//!   reader), and gauges as they are; a counter or histogram dropped since
//!   (removed, or hidden and unheld at a snapshot) adds what it recorded
//!   since the reader last reported it, once, to its key's entry.
//!
//! **Concurrent.** Order-independent operations (increments, integral
//! gauge adds, histogram records) split over 2 to 4 threads, large enough
//! to promote series to per-thread cells, while the main thread takes
//! snapshots (monotonic per series) and intervals: the intervals add up
//! to the totals, and the final snapshot equals the model fed every
//! operation in sequence.
//!
//! CI runs `REGISTRY_DIFF_CASES` cases (default 96); a long run:
//! `REGISTRY_DIFF_CASES=20000 cargo test --release --test registry_differential`.
//!
//! A binary of its own, not a module of `tests/registry/`: a removal here
//! must drop, not hide, a series whose family handles are gone, which
//! needs crossbeam's process-wide epoch to reclaim the family caches'
//! retired maps; the other registry tests' family lookups, running beside
//! these, pin that epoch and could hold it back (`SERIAL` below keeps this
//! binary's own tests apart).

#[path = "../support/mod.rs"]
mod support;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Barrier, Mutex},
    thread,
    time::Duration,
};

use lockfree_metrics::registry::{
    Counter, Family, Gauge, Histogram, HistogramOpts, HistogramValue, IntervalReader, Registry,
    RegistrySnapshot, Removal, Stats, Value,
};
use proptest::prelude::*;

use crate::support::cases;

/// The tests of this file one at a time: a removal decides between
/// dropping and hiding by the references that exist, and a family cache's
/// retired maps are reclaimed through the process-wide epoch, which
/// another test's concurrent family lookups could hold back.
static SERIAL: Mutex<()> = Mutex::new(());

// ---------------------------------------------------------------------------
// The series under test.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// How a series is looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Registry,
    /// Through the family of that index in `Families` (label `k`).
    Family,
}

struct Spec {
    name: &'static str,
    /// As passed to the registry (not necessarily sorted).
    labels: &'static [(&'static str, &'static str)],
    kind: Kind,
    via: Via,
    /// Histograms: index into `opts()`.
    opts: usize,
}

const fn spec(
    name: &'static str,
    labels: &'static [(&'static str, &'static str)],
    kind: Kind,
    via: Via,
    opts: usize,
) -> Spec {
    Spec {
        name,
        labels,
        kind,
        via,
        opts,
    }
}

/// Names chosen so that creation order (random) and sorted order differ.
const SPECS: &[Spec] = &[
    spec("c_total", &[], Kind::Counter, Via::Registry, 0),
    spec("c_total", &[("k", "a")], Kind::Counter, Via::Registry, 0),
    spec(
        "c_total",
        &[("z", "1"), ("k", "b")],
        Kind::Counter,
        Via::Registry,
        0,
    ),
    spec("b_total", &[("k", "a")], Kind::Counter, Via::Family, 0),
    spec("b_total", &[("k", "b")], Kind::Counter, Via::Family, 0),
    spec("g", &[], Kind::Gauge, Via::Registry, 0),
    spec("g", &[("k", "a")], Kind::Gauge, Via::Registry, 0),
    spec("a_gauge", &[("k", "a")], Kind::Gauge, Via::Family, 0),
    spec("a_gauge", &[("k", "b")], Kind::Gauge, Via::Family, 0),
    spec("h", &[], Kind::Histogram, Via::Registry, 0),
    spec("h", &[("k", "a")], Kind::Histogram, Via::Registry, 1),
    spec("hf", &[("k", "a")], Kind::Histogram, Via::Family, 1),
    spec("hf", &[("k", "b")], Kind::Histogram, Via::Family, 1),
];

/// Two small layouts: values as they are (scale 1) to 10,000 at 1 digit,
/// and 16-unit buckets to 2^20 at 2 digits with the default scale (1e9,
/// so that `record_duration` takes its nanosecond path).
fn opts() -> [HistogramOpts; 2] {
    [
        HistogramOpts::new(1, 10_000, 1)
            .unwrap()
            .scale(1.0)
            .unwrap(),
        HistogramOpts::new(16, 1 << 20, 2).unwrap(),
    ]
}

fn opts_of(i: usize) -> HistogramOpts {
    opts()[SPECS[i].opts]
}

#[derive(Clone, Debug)]
enum Handle {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

struct Families {
    counters: Family<Counter>,
    gauges: Family<Gauge>,
    histograms: Family<Histogram>,
}

impl Families {
    fn new(r: &Registry) -> Self {
        Families {
            counters: r.counter_family("b_total", &["k"]).unwrap(),
            gauges: r.gauge_family("a_gauge", &["k"]).unwrap(),
            histograms: r.histogram_family("hf", &["k"], Some(opts()[1])).unwrap(),
        }
    }
}

/// A handle of series `i`, looked up as its spec says.
fn lookup(r: &Registry, f: &Families, i: usize) -> Handle {
    let s = &SPECS[i];
    match (s.kind, s.via) {
        (Kind::Counter, Via::Registry) => Handle::Counter(r.counter(s.name, s.labels).unwrap()),
        (Kind::Gauge, Via::Registry) => Handle::Gauge(r.gauge(s.name, s.labels).unwrap()),
        (Kind::Histogram, Via::Registry) => {
            Handle::Histogram(r.histogram_with(s.name, s.labels, opts_of(i)).unwrap())
        }
        (Kind::Counter, Via::Family) => Handle::Counter(f.counters.with(&[s.labels[0].1]).unwrap()),
        (Kind::Gauge, Via::Family) => Handle::Gauge(f.gauges.with(&[s.labels[0].1]).unwrap()),
        (Kind::Histogram, Via::Family) => {
            Handle::Histogram(f.histograms.with(&[s.labels[0].1]).unwrap())
        }
    }
}

/// Series `i`'s key as the snapshot must show it: labels sorted.
fn sorted_key(i: usize) -> (String, Vec<(String, String)>) {
    let s = &SPECS[i];
    let mut labels: Vec<(String, String)> = s
        .labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    (s.name.to_string(), labels)
}

// ---------------------------------------------------------------------------
// Operations.

#[derive(Clone, Debug)]
enum Write {
    Increment(u64),
    Absolute(u64),
    Set(f64),
    Add(f64),
    Sub(f64),
    Record(u64),
    RecordN(u64, u64),
    RecordF64(f64),
    RecordDuration(Duration),
}

#[derive(Clone, Debug)]
enum Op {
    /// A write through the held handle, or a handle looked up for it.
    Write(usize, Write),
    /// Look the series up and hold the handle.
    Hold(usize),
    /// Drop the held handle, if any.
    Release(usize),
    Remove(usize),
    Take(usize),
    Snapshot,
}

fn counter_write() -> impl Strategy<Value = Write> {
    let n = prop_oneof![
        4 => 0..4_u64,
        4 => 0..5_000_u64,
        1 => Just(1_024_u64),
        1 => Just(1_u64 << 32),
        1 => Just(u64::MAX - 1),
        1 => Just(u64::MAX),
    ];
    let v = prop_oneof![0..20_000_u64, Just(u64::MAX)];
    prop_oneof![
        4 => n.prop_map(Write::Increment),
        1 => v.prop_map(Write::Absolute),
    ]
}

fn gauge_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => -1e6..1e6_f64,
        2 => (-100..100_i32).prop_map(f64::from),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => Just(f64::MAX),
    ]
}

fn gauge_write() -> impl Strategy<Value = Write> {
    prop_oneof![
        gauge_value().prop_map(Write::Set),
        gauge_value().prop_map(Write::Add),
        gauge_value().prop_map(Write::Sub),
    ]
}

fn histogram_write() -> impl Strategy<Value = Write> {
    let v = prop_oneof![
        6 => 0..12_000_u64,
        2 => 0..1_200_000_u64,
        1 => Just(u64::MAX),
    ];
    let n = prop_oneof![0..4_u64, Just(1_u64 << 20)];
    let x = prop_oneof![
        4 => -10.0..12_000.0_f64,
        2 => 0.0..0.002_f64,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => Just(-0.4),
        1 => Just(-0.6),
        1 => Just(2.5),
        1 => Just(1e-320),
        1 => Just(1e300),
    ];
    prop_oneof![
        4 => v.clone().prop_map(Write::Record),
        2 => (v, n).prop_map(|(v, n)| Write::RecordN(v, n)),
        2 => x.prop_map(Write::RecordF64),
        1 => (0..2_000_000_u64).prop_map(|ns| Write::RecordDuration(Duration::from_nanos(ns))),
        1 => (0..20_u64).prop_map(|s| Write::RecordDuration(Duration::from_millis(s * 250))),
    ]
}

fn write_for(i: usize) -> BoxedStrategy<Write> {
    match SPECS[i].kind {
        Kind::Counter => counter_write().boxed(),
        Kind::Gauge => gauge_write().boxed(),
        Kind::Histogram => histogram_write().boxed(),
    }
}

fn op() -> impl Strategy<Value = Op> {
    let series = 0..SPECS.len();
    prop_oneof![
        12 => series.clone().prop_flat_map(|i| write_for(i).prop_map(move |w| Op::Write(i, w))),
        2 => series.clone().prop_map(Op::Hold),
        2 => series.clone().prop_map(Op::Release),
        3 => series.prop_map(Op::Remove),
        2 => (0..2_usize).prop_map(Op::Take),
        2 => Just(Op::Snapshot),
    ]
}

// ---------------------------------------------------------------------------
// The model.

/// Samples recorded into a histogram, as recorded (clamped), in order.
#[derive(Clone, Debug, Default)]
struct Samples {
    samples: Vec<(u64, u64)>,
    clamped: u64,
    rejected: u64,
}

impl Samples {
    fn record_n(&mut self, opts: HistogramOpts, value: u64, n: u64) {
        if n == 0 {
            return;
        }
        let v = value.min(opts.highest());
        if value > opts.highest() {
            self.clamped += n;
        }
        self.samples.push((v, n));
    }

    /// The documented rule: `round(x * scale)`, NaN and below zero
    /// rejected, anything past the range (`+inf` included) clamped.
    fn record_f64(&mut self, opts: HistogramOpts, x: f64) {
        let scaled = (x * opts.get_scale()).round();
        if scaled.is_nan() || scaled < 0.0 {
            self.rejected += 1;
        } else if scaled >= 18_446_744_073_709_551_615.0 {
            self.record_n(opts, u64::MAX, 1);
        } else {
            self.record_n(opts, scaled as u64, 1);
        }
    }

    fn record_duration(&mut self, opts: HistogramOpts, d: Duration) {
        if opts.get_scale() == 1e9 {
            let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            self.record_n(opts, ns, 1);
        } else {
            self.record_f64(opts, d.as_secs_f64());
        }
    }

    fn count(&self) -> u64 {
        self.samples.iter().map(|(_, n)| n).sum()
    }

    /// The part recorded since `base`.
    fn since(&self, base: &HistBase) -> Samples {
        Samples {
            samples: self.samples[base.len..].to_vec(),
            clamped: self.clamped - base.clamped,
            rejected: self.rejected - base.rejected,
        }
    }
}

#[derive(Clone, Debug)]
enum State {
    /// The unsaturated total (reported saturated at `u64::MAX`).
    Counter(u128),
    Gauge(f64),
    Histogram(Samples),
}

/// What a series' visibility depends on: its value, as the registry
/// compares it (see `registry::series`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Print {
    Counter(u64),
    Gauge(u64),
    Histogram(u64, u64, u64),
}

impl State {
    fn print(&self) -> Print {
        match self {
            State::Counter(t) => Print::Counter(saturated(*t)),
            // Every NaN alike, as the registry prints them.
            State::Gauge(g) if g.is_nan() => Print::Gauge(f64::NAN.to_bits()),
            State::Gauge(g) => Print::Gauge(g.to_bits()),
            State::Histogram(h) => Print::Histogram(h.count(), h.clamped, h.rejected),
        }
    }
}

fn saturated(total: u128) -> u64 {
    u64::try_from(total).unwrap_or(u64::MAX)
}

#[derive(Clone, Debug)]
struct MSeries {
    /// Identity: a series dropped and created again is another one.
    generation: u64,
    state: State,
    /// Hidden at this value.
    hidden: Option<Print>,
}

#[derive(Clone, Debug)]
struct HistBase {
    len: usize,
    clamped: u64,
    rejected: u64,
}

#[derive(Clone, Debug)]
enum Base {
    Counter(u64),
    Histogram(HistBase),
}

/// An expected reading: a series' sorted key and value.
#[derive(Debug)]
enum Expected {
    Counter(u64),
    Gauge(f64),
    Histogram(Samples, HistogramOpts),
}

#[derive(Default)]
struct Model {
    series: BTreeMap<usize, MSeries>,
    next_generation: u64,
    created: u64,
    removed: u64,
    non_finite: u64,
    /// Per interval reader: its cursor by generation.
    readers: [HashMap<u64, Base>; 2],
    /// Per interval reader: the final state of each counter and histogram
    /// dropped since its last take (series, generation, state).
    dropped: [Vec<(usize, u64, State)>; 2],
}

impl Model {
    /// A lookup: creates the series at zero, or shows it.
    fn lookup(&mut self, i: usize) {
        if let Some(s) = self.series.get_mut(&i) {
            s.hidden = None;
            return;
        }
        let state = match SPECS[i].kind {
            Kind::Counter => State::Counter(0),
            Kind::Gauge => State::Gauge(0.0),
            Kind::Histogram => State::Histogram(Samples::default()),
        };
        self.series.insert(
            i,
            MSeries {
                generation: self.next_generation,
                state,
                hidden: None,
            },
        );
        self.next_generation += 1;
        self.created += 1;
    }

    fn write(&mut self, i: usize, w: &Write) {
        let opts = opts_of(i);
        let s = self.series.get_mut(&i).expect("looked up first");
        match (&mut s.state, w) {
            (State::Counter(t), Write::Increment(n)) => *t += u128::from(*n),
            (State::Counter(t), Write::Absolute(v)) => *t = (*t).max(u128::from(*v)),
            (State::Gauge(g), Write::Set(v)) => *g = *v,
            (State::Gauge(g), Write::Add(d)) => *g += *d,
            (State::Gauge(g), Write::Sub(d)) => *g += -*d,
            (State::Histogram(h), Write::Record(v)) => h.record_n(opts, *v, 1),
            (State::Histogram(h), Write::RecordN(v, n)) => h.record_n(opts, *v, *n),
            (State::Histogram(h), Write::RecordF64(x)) => h.record_f64(opts, *x),
            (State::Histogram(h), Write::RecordDuration(d)) => h.record_duration(opts, *d),
            (state, w) => unreachable!("{w:?} on {state:?}"),
        }
        if let State::Gauge(g) = s.state {
            if matches!(w, Write::Set(_) | Write::Add(_) | Write::Sub(_)) && !g.is_finite() {
                self.non_finite += 1;
            }
        }
    }

    fn remove(&mut self, i: usize, held: bool) -> Removal {
        match self.series.get_mut(&i) {
            None => Removal::Absent,
            Some(s) if held => {
                s.hidden = Some(s.state.print());
                Removal::Hidden
            }
            Some(_) => {
                self.drop_series(i);
                Removal::Dropped
            }
        }
    }

    /// Drops series `i`: each interval reader gets its final state.
    fn drop_series(&mut self, i: usize) {
        let s = self.series.remove(&i).expect("present");
        self.removed += 1;
        if !matches!(s.state, State::Gauge(_)) {
            for dropped in &mut self.dropped {
                dropped.push((i, s.generation, s.state.clone()));
            }
        }
    }

    /// A reading: a hidden series whose value changed is shown for good.
    /// Returns the shown series.
    fn read(&mut self) -> Vec<usize> {
        for s in self.series.values_mut() {
            if s.hidden.is_some_and(|p| p != s.state.print()) {
                s.hidden = None;
            }
        }
        let mut shown: Vec<usize> = self
            .series
            .iter()
            .filter(|(_, s)| s.hidden.is_none())
            .map(|(&i, _)| i)
            .collect();
        shown.sort_by_key(|&i| sorted_key(i));
        shown
    }

    /// A snapshot: also drops the hidden series no handle holds (`held[i]`).
    fn snapshot(&mut self, held: &[bool]) -> Vec<(usize, Expected)> {
        let shown = self.read();
        let unheld: Vec<usize> = self
            .series
            .iter()
            .filter(|(&i, s)| s.hidden.is_some() && !held[i])
            .map(|(&i, _)| i)
            .collect();
        for i in unheld {
            self.drop_series(i);
        }
        shown
            .into_iter()
            .map(|i| {
                let e = match &self.series[&i].state {
                    State::Counter(t) => Expected::Counter(saturated(*t)),
                    State::Gauge(g) => Expected::Gauge(*g),
                    State::Histogram(h) => Expected::Histogram(h.clone(), opts_of(i)),
                };
                (i, e)
            })
            .collect()
    }

    fn take(&mut self, reader: usize) -> Vec<(usize, Expected)> {
        let shown = self.read();
        let base = &self.readers[reader];
        let mut out: Vec<(usize, Expected)> = shown
            .into_iter()
            .map(|i| {
                let s = &self.series[&i];
                let e = match (&s.state, base.get(&s.generation)) {
                    (State::Counter(t), Some(Base::Counter(b))) => {
                        Expected::Counter(saturated(*t).saturating_sub(*b))
                    }
                    (State::Counter(t), _) => Expected::Counter(saturated(*t)),
                    (State::Gauge(g), _) => Expected::Gauge(*g),
                    (State::Histogram(h), Some(Base::Histogram(b))) => {
                        Expected::Histogram(h.since(b), opts_of(i))
                    }
                    (State::Histogram(h), _) => Expected::Histogram(h.clone(), opts_of(i)),
                };
                (i, e)
            })
            .collect();
        // Dropped series: what they recorded since this reader last
        // reported them, once, added to their key's live series if any.
        for (i, generation, state) in std::mem::take(&mut self.dropped[reader]) {
            let e = match (&state, base.get(&generation)) {
                (State::Counter(t), Some(Base::Counter(b))) => {
                    Expected::Counter(saturated(*t).saturating_sub(*b))
                }
                (State::Counter(t), _) => Expected::Counter(saturated(*t)),
                (State::Histogram(h), Some(Base::Histogram(b))) => {
                    Expected::Histogram(h.since(b), opts_of(i))
                }
                (State::Histogram(h), _) => Expected::Histogram(h.clone(), opts_of(i)),
                (State::Gauge(_), _) => unreachable!("gauges leave no final state"),
            };
            match (out.iter_mut().find(|(j, _)| *j == i), e) {
                (Some((_, Expected::Counter(live))), Expected::Counter(more)) => {
                    *live = live.saturating_add(more);
                }
                (Some((_, Expected::Histogram(live, _))), Expected::Histogram(more, _)) => {
                    live.samples.extend(more.samples);
                    live.clamped += more.clamped;
                    live.rejected += more.rejected;
                }
                (Some(_), e) => unreachable!("one kind per series: {e:?}"),
                (None, Expected::Counter(0)) => {}
                (None, Expected::Histogram(h, _)) if h.samples.is_empty() && h.rejected == 0 => {}
                (None, e) => out.push((i, e)),
            }
        }
        out.sort_by_key(|(i, _)| sorted_key(*i));
        // The cursor: every series present. A hidden one keeps the base it
        // was last reported from (or none), so that what it recorded
        // before it was hidden is reported once, when it shows again.
        let old = &self.readers[reader];
        self.readers[reader] = self
            .series
            .values()
            .filter_map(|s| {
                if s.hidden.is_some() {
                    return old.get(&s.generation).map(|b| (s.generation, b.clone()));
                }
                let b = match &s.state {
                    State::Counter(t) => Base::Counter(saturated(*t)),
                    State::Gauge(_) => return None,
                    State::Histogram(h) => Base::Histogram(HistBase {
                        len: h.samples.len(),
                        clamped: h.clamped,
                        rejected: h.rejected,
                    }),
                };
                Some((s.generation, b))
            })
            .collect();
        out
    }

    fn stats_match(&self, stats: &Stats) -> Result<(), String> {
        let hists = self.series.values().filter_map(|s| match &s.state {
            State::Histogram(h) => Some(h),
            _ => None,
        });
        let (clamped, rejected) = hists.fold((0, 0), |(c, r), h| (c + h.clamped, r + h.rejected));
        let expected = [
            ("series", self.series.len() as u64, stats.series as u64),
            (
                "hidden",
                self.series.values().filter(|s| s.hidden.is_some()).count() as u64,
                stats.hidden as u64,
            ),
            ("created", self.created, stats.created),
            ("removed", self.removed, stats.removed),
            ("evicted", 0, stats.evicted),
            ("folded", 0, stats.folded),
            (
                "non_finite_gauge_writes",
                self.non_finite,
                stats.non_finite_gauge_writes,
            ),
            ("clamped_samples", clamped, stats.clamped_samples),
            ("rejected_samples", rejected, stats.rejected_samples),
        ];
        for (what, model, registry) in expected {
            if model != registry {
                return Err(format!("stats.{what}: model {model}, registry {registry}"));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Comparisons.

/// The quantiles compared with `hdrhistogram`'s `value_at_quantile`.
const QUANTILES: [f64; 10] = [0.0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0];

/// `h` against `hdrhistogram` fed `expected`'s samples.
fn same_histogram(
    h: &HistogramValue,
    expected: &Samples,
    opts: HistogramOpts,
) -> Result<(), String> {
    let mut hdr = hdrhistogram::Histogram::<u64>::new_with_bounds(
        opts.lowest(),
        opts.highest(),
        opts.digits(),
    )
    .unwrap();
    for &(v, n) in &expected.samples {
        hdr.record_n(v, n).unwrap();
    }
    let sum: u128 = expected
        .samples
        .iter()
        .map(|&(v, n)| u128::from(v) * u128::from(n))
        .sum();
    let check = |what: &str, got: u128, want: u128| {
        if got == want {
            Ok(())
        } else {
            Err(format!("{what}: registry {got}, expected {want}"))
        }
    };
    check("count", h.count().into(), expected.count().into())?;
    check("sum", h.sum(), sum)?;
    check("clamped", h.clamped().into(), expected.clamped.into())?;
    check("rejected", h.rejected().into(), expected.rejected.into())?;
    let buckets: Vec<(u64, u64, u64)> = h.buckets().map(|b| (b.low, b.high, b.count)).collect();
    let hdr_buckets: Vec<(u64, u64, u64)> = hdr
        .iter_recorded()
        .map(|v| {
            let top = v.value_iterated_to();
            (hdr.lowest_equivalent(top), top, v.count_at_value())
        })
        .collect();
    if buckets != hdr_buckets {
        return Err(format!(
            "buckets: registry {buckets:?}, hdrhistogram {hdr_buckets:?}"
        ));
    }
    check(
        "count vs buckets",
        h.count().into(),
        buckets.iter().map(|b| u128::from(b.2)).sum(),
    )?;
    check("min", h.min().into(), hdr.min().into())?;
    check("max", h.max().into(), hdr.max().into())?;
    for q in QUANTILES {
        check(
            &format!("quantile({q})"),
            h.quantile(q).into(),
            hdr.value_at_quantile(q).into(),
        )?;
    }
    // The same counts (not `==`: values below the lowest unit share index
    // 0 with zero, so a histogram of counts cannot tell 1 from 0, which
    // hdrhistogram's `max` and `min_nz` do).
    let converted = h.to_hdr();
    let counts = |h: &hdrhistogram::Histogram<u64>| -> Vec<(u64, u64)> {
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    };
    if counts(&converted) != counts(&hdr) || converted.len() != hdr.len() {
        return Err("to_hdr() counts differ from hdrhistogram fed the samples".into());
    }
    Ok(())
}

fn same_reading(got: &RegistrySnapshot, expected: &[(usize, Expected)]) -> Result<(), String> {
    let keys: Vec<(String, Vec<(String, String)>)> = got
        .iter()
        .map(|s| {
            let labels = s.key.labels().map(|(k, v)| (k.into(), v.into())).collect();
            (s.key.name().to_string(), labels)
        })
        .collect();
    let want: Vec<_> = expected.iter().map(|(i, _)| sorted_key(*i)).collect();
    if keys != want {
        return Err(format!("series: registry {keys:?}, expected {want:?}"));
    }
    for (s, (i, e)) in got.iter().zip(expected) {
        let at = |m: String| format!("{}: {m}", s.key);
        match (&s.value, e) {
            (Value::Counter(v), Expected::Counter(w)) if v == w => {}
            (Value::Gauge(v), Expected::Gauge(w))
                if v.to_bits() == w.to_bits() || (v.is_nan() && w.is_nan()) => {}
            (Value::Histogram(h), Expected::Histogram(samples, opts)) => {
                same_histogram(h, samples, *opts).map_err(at)?;
            }
            (v, e) => return Err(at(format!("registry {v:?}, expected {e:?} (spec {i})"))),
        }
        // `get` finds every series of a sorted snapshot.
        let labels: Vec<(&str, &str)> = SPECS[*i].labels.to_vec();
        if got.get(SPECS[*i].name, &labels).map(|g| &g.key) != Some(&s.key) {
            return Err(at("snapshot.get does not find it".into()));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The sequential run.

struct Sut {
    registry: Registry,
    families: Families,
    held: Vec<Option<Handle>>,
    readers: [IntervalReader; 2],
}

fn apply(h: &Handle, w: &Write) {
    match (h, w) {
        (Handle::Counter(c), Write::Increment(n)) => c.increment(*n),
        (Handle::Counter(c), Write::Absolute(v)) => c.absolute(*v),
        (Handle::Gauge(g), Write::Set(v)) => g.set(*v),
        (Handle::Gauge(g), Write::Add(d)) => g.add(*d),
        (Handle::Gauge(g), Write::Sub(d)) => g.sub(*d),
        (Handle::Histogram(h), Write::Record(v)) => h.record(*v),
        (Handle::Histogram(h), Write::RecordN(v, n)) => h.record_n(*v, *n),
        (Handle::Histogram(h), Write::RecordF64(x)) => h.record_f64(*x),
        (Handle::Histogram(h), Write::RecordDuration(d)) => h.record_duration(*d),
        (h, w) => unreachable!("{w:?} on {h:?}"),
    }
}

fn run(ops: &[Op]) -> Result<(), String> {
    let registry = Registry::new();
    let readers = [registry.interval_reader(), registry.interval_reader()];
    let mut sut = Sut {
        families: Families::new(&registry),
        registry,
        held: vec![None; SPECS.len()],
        readers,
    };
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        let ctx = |e: String| format!("step {step} ({op:?}): {e}");
        match op {
            Op::Write(i, w) => {
                if let Some(h) = &sut.held[*i] {
                    apply(h, w);
                } else {
                    model.lookup(*i);
                    apply(&lookup(&sut.registry, &sut.families, *i), w);
                }
                model.write(*i, w);
            }
            Op::Hold(i) => {
                model.lookup(*i);
                sut.held[*i] = Some(lookup(&sut.registry, &sut.families, *i));
            }
            Op::Release(i) => sut.held[*i] = None,
            Op::Remove(i) => {
                let s = &SPECS[*i];
                let got = sut.registry.remove(s.name, s.labels).unwrap();
                let want = model.remove(*i, sut.held[*i].is_some());
                if got != want {
                    return Err(ctx(format!("remove: registry {got:?}, model {want:?}")));
                }
            }
            Op::Take(r) => {
                let got = sut.readers[*r].take();
                same_reading(&got, &model.take(*r)).map_err(|e| ctx(format!("take {r}: {e}")))?;
            }
            Op::Snapshot => {
                let held: Vec<bool> = sut.held.iter().map(Option::is_some).collect();
                same_reading(&sut.registry.snapshot(), &model.snapshot(&held)).map_err(ctx)?;
            }
        }
        model.stats_match(&sut.registry.stats()).map_err(ctx)?;
        for (i, h) in sut.held.iter().enumerate() {
            let s = model.series.get(&i).map(|s| &s.state);
            match (h, s) {
                (None, _) => {}
                (Some(Handle::Counter(c)), Some(State::Counter(t))) if c.get() == saturated(*t) => {
                }
                (Some(Handle::Gauge(g)), Some(State::Gauge(v)))
                    if g.get().to_bits() == v.to_bits() || (g.get().is_nan() && v.is_nan()) => {}
                (Some(Handle::Histogram(_)), Some(State::Histogram(_))) => {}
                (Some(h), s) => return Err(ctx(format!("held {h:?}: model {s:?}"))),
            }
        }
    }
    let held: Vec<bool> = sut.held.iter().map(Option::is_some).collect();
    same_reading(&sut.registry.snapshot(), &model.snapshot(&held))
        .map_err(|e| format!("end: {e}"))?;
    for r in 0..2 {
        same_reading(&sut.readers[r].take(), &model.take(r))
            .map_err(|e| format!("end, take {r}: {e}"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The concurrent run.

/// An order-independent write: totals do not depend on the interleaving.
#[derive(Clone, Debug)]
enum CWrite {
    Increment(u64),
    /// Integral, so every sum is exact in any order.
    GaugeAdd(i32),
    RecordN(u64, u64),
    RecordF64(f64),
}

fn cwrite_for(i: usize) -> BoxedStrategy<CWrite> {
    match SPECS[i].kind {
        Kind::Counter => prop_oneof![1..5_000_u64, Just(1_024_u64),]
            .prop_map(CWrite::Increment)
            .boxed(),
        Kind::Gauge => (-1_000..1_000_i32).prop_map(CWrite::GaugeAdd).boxed(),
        Kind::Histogram => prop_oneof![
            3 => (0..20_000_u64, prop_oneof![1..8_u64, 1_000..3_000_u64])
                .prop_map(|(v, n)| CWrite::RecordN(v, n)),
            1 => prop_oneof![-5.0..5_000.0_f64, Just(f64::NAN), Just(f64::INFINITY)]
                .prop_map(CWrite::RecordF64),
        ]
        .boxed(),
    }
}

fn cop() -> impl Strategy<Value = (usize, CWrite)> {
    (0..SPECS.len()).prop_flat_map(|i| cwrite_for(i).prop_map(move |w| (i, w)))
}

fn capply(h: &Handle, w: &CWrite) {
    match (h, w) {
        (Handle::Counter(c), CWrite::Increment(n)) => c.increment(*n),
        (Handle::Gauge(g), CWrite::GaugeAdd(d)) => g.add(f64::from(*d)),
        (Handle::Histogram(h), CWrite::RecordN(v, n)) => h.record_n(*v, *n),
        (Handle::Histogram(h), CWrite::RecordF64(x)) => h.record_f64(*x),
        (h, w) => unreachable!("{w:?} on {h:?}"),
    }
}

/// Counter values and histogram counts by key, for monotonicity and
/// interval sums.
fn totals(s: &RegistrySnapshot) -> BTreeMap<String, u64> {
    s.iter()
        .filter_map(|s| {
            let v = match &s.value {
                Value::Counter(v) => *v,
                Value::Histogram(h) => h.count(),
                Value::Gauge(_) => return None,
            };
            Some((s.key.to_string(), v))
        })
        .collect()
}

/// A reading is sorted, and its histograms' counts are their buckets'
/// totals.
fn well_formed(r: &RegistrySnapshot) -> Result<(), String> {
    let keys: Vec<_> = r.iter().map(|s| s.key.clone()).collect();
    if !keys.windows(2).all(|w| w[0] < w[1]) {
        return Err(format!("unsorted: {keys:?}"));
    }
    for s in r.iter() {
        if let Some(h) = s.as_histogram() {
            let buckets: u64 = h.buckets().map(|b| b.count).sum();
            if buckets != h.count() {
                return Err(format!(
                    "{}: count {} != buckets {buckets}",
                    s.key,
                    h.count()
                ));
            }
        }
    }
    Ok(())
}

fn run_concurrent(
    threads: usize,
    ops: &[(usize, CWrite)],
    owner: &[usize],
) -> Result<Stats, String> {
    let registry = Registry::new();
    let families = Families::new(&registry);
    let mut reader = registry.interval_reader();
    let mut summed: BTreeMap<String, u64> = BTreeMap::new();
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    let start = Barrier::new(threads + 1);
    let done = std::sync::atomic::AtomicUsize::new(0);
    thread::scope(|s| {
        let mut writers = Vec::new();
        for t in 0..threads {
            let (registry, families, start, done) = (&registry, &families, &start, &done);
            writers.push(s.spawn(move || {
                let mut handles: Vec<Option<Handle>> = vec![None; SPECS.len()];
                start.wait();
                for (k, (i, w)) in ops.iter().enumerate() {
                    if owner[k] % threads == t {
                        let h = handles[*i].get_or_insert_with(|| lookup(registry, families, *i));
                        capply(h, w);
                    }
                }
                done.fetch_add(1, std::sync::atomic::Ordering::Release);
            }));
        }
        start.wait();
        loop {
            let finished = done.load(std::sync::atomic::Ordering::Acquire) == threads;
            let snapshot = registry.snapshot();
            if let Err(e) = well_formed(&snapshot) {
                panic!("a reading taken meanwhile: {e}");
            }
            let now = totals(&snapshot);
            for (k, &v) in &last {
                if now.get(k).is_some_and(|&n| n < v) {
                    panic!("{k} went from {v} to {:?}", now.get(k));
                }
            }
            last = now;
            for (k, v) in totals(&reader.take()) {
                *summed.entry(k).or_default() += v;
            }
            if finished {
                break;
            }
        }
        // Joined one by one, so that their thread-local destructors have
        // run (a scope's end waits for the closures only): an exiting
        // thread pins the process-wide epoch once more, which would hold
        // back the reclamation of family caches that a removal in the next
        // test waits for (it would then hide, not drop).
        for w in writers {
            w.join().unwrap();
        }
    });
    for (k, v) in totals(&reader.take()) {
        *summed.entry(k).or_default() += v;
    }
    // The same writes in sequence.
    let mut model = Model::default();
    for (i, w) in ops {
        model.lookup(*i);
        let w = match w {
            CWrite::Increment(n) => Write::Increment(*n),
            CWrite::GaugeAdd(d) => Write::Add(f64::from(*d)),
            CWrite::RecordN(v, n) => Write::RecordN(*v, *n),
            CWrite::RecordF64(x) => Write::RecordF64(*x),
        };
        model.write(*i, &w);
    }
    let final_snapshot = registry.snapshot();
    // Nothing is removed here, so nothing is hidden either.
    same_reading(&final_snapshot, &model.snapshot(&[true; SPECS.len()]))?;
    let final_totals = totals(&final_snapshot);
    if summed != final_totals {
        return Err(format!(
            "intervals add up to {summed:?}, totals are {final_totals:?}"
        ));
    }
    let stats = registry.stats();
    model.stats_match(&stats)?;
    Ok(stats)
}

// ---------------------------------------------------------------------------

fn cases() -> u32 {
    cases::cases("REGISTRY_DIFF_CASES", 96)
}

proptest! {
    #![proptest_config(cases::config(cases()))]

    /// The registry agrees with the sequential model after every step.
    #[test]
    fn registry_agrees_with_the_model(ops in prop::collection::vec(op(), 1..64)) {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = run(&ops) {
            prop_assert!(false, "{}", e);
        }
    }

    /// Order-independent writes from 2 to 4 threads add up to the model's
    /// totals, and intervals taken meanwhile add up to them too.
    #[test]
    fn concurrent_writes_add_up(
        threads in 2..=4_usize,
        ops in prop::collection::vec(cop(), 1..160),
        owner in prop::collection::vec(0..4_usize, 160),
    ) {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = run_concurrent(threads, &ops, &owner).map(drop) {
            prop_assert!(false, "{}", e);
        }
    }
}

// ---------------------------------------------------------------------------
// Cases spelled out.

/// Many records from each of four threads into one counter and one
/// histogram promote both, and the totals stay exact.
#[test]
fn concurrent_records_promote_and_stay_exact() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ops: Vec<(usize, CWrite)> = (0..4_000)
        .map(|k| {
            if k % 2 == 0 {
                (0, CWrite::Increment(1_024))
            } else {
                (9, CWrite::RecordN(k as u64 * 7, 1_500))
            }
        })
        .collect();
    let owner: Vec<usize> = (0..4_000).map(|k| (k / 2) % 4).collect();
    let stats = run_concurrent(4, &ops, &owner).unwrap();
    // The counter promotes to per-thread cells; the histogram's threads
    // take lanes (a thread may continue an exited one's), counted as
    // promoted when more than one is claimed at once.
    assert!((1..=2).contains(&stats.promoted), "{stats:?}");
    assert!(stats.shards >= 1, "{stats:?}");
}

/// A series hidden while an interval reader reads is counted once: what
/// was recorded before the hiding is not reported again when it shows.
#[test]
fn hidden_series_are_counted_once_per_reader() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run(&[
        Op::Hold(0),
        Op::Write(0, Write::Increment(5)),
        Op::Take(0),
        Op::Remove(0),
        Op::Take(0),
        Op::Write(0, Write::Increment(1)),
        Op::Take(0),
        Op::Take(1),
    ])
    .unwrap();
}

/// A family's published cache does not keep a series it no longer hands
/// out: removing it once its handles are gone drops it.
#[test]
fn family_caches_do_not_hold_removed_series() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Enough lookups to publish the family's cache (and republish it).
    let mut ops: Vec<Op> = (0..24).map(|_| Op::Write(3, Write::Increment(1))).collect();
    ops.extend((0..24).map(|_| Op::Write(4, Write::Increment(1))));
    ops.extend([Op::Remove(3), Op::Snapshot, Op::Remove(4), Op::Snapshot]);
    run(&ops).unwrap();
}

/// `increment(u64::MAX)` then a small increment saturates, and never
/// wraps the counter back to a small value.
#[test]
fn a_saturated_counter_stays_saturated() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run(&[
        Op::Write(0, Write::Increment(u64::MAX)),
        Op::Write(0, Write::Increment(1)),
        Op::Snapshot,
        Op::Write(0, Write::Increment(u64::MAX)),
        Op::Write(0, Write::Absolute(3)),
        Op::Snapshot,
    ])
    .unwrap();
}

/// `quantile(0.0)` is `hdrhistogram`'s: the lowest sample's bucket floor.
#[test]
fn quantile_zero_is_the_lowest_bucket_floor() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    run(&[
        Op::Write(10, Write::Record(1_000)),
        Op::Write(10, Write::Record(77_777)),
        Op::Snapshot,
    ])
    .unwrap();
}

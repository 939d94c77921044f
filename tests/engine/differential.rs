//! Differential property tests: random sequences of operations, edge values
//! included, applied to every strategy and to a plain sequential model
//! written for these tests; after every step each strategy's snapshot must
//! equal the model's.
//!
//! The model (`Model` below) shares no code with the library: it keeps the
//! raw samples since the last reset and computes every statistic from them
//! directly (sorting for percentiles, exact integer sums for means and
//! totals, a map from time slot to the sums recorded in it for windows).
//! The only library knowledge it uses is the documented contract:
//!
//! - **HDR figures.** The library reports latency min and max, and the
//!   queue-depth max, exactly (the smallest and largest sample), and
//!   latency percentiles as `hdrhistogram` does (`src/snapshot.rs`): a
//!   percentile `q` is the highest value equivalent to the sample of rank
//!   `ceil(q * n)` (at least 1), kept within `[min, max]`. Equivalence is
//!   HdrHistogram's, which `Hdr` below derives from its definition: values
//!   below `2^unit * sub_buckets` (the first bucket) are equivalent in runs
//!   of `2^unit`, where `unit = floor(log2(lowest))` and
//!   `sub_buckets = 2^ceil(log2(2 * 10^digits))`; each following bucket
//!   doubles the run length. So these figures are compared *exactly*
//!   against the model's exact sample passed through `Hdr`, and, as a
//!   check of the documented precision, `|reported - exact|` is at most
//!   the run length at the exact value.
//! - **Means** are exact means of the recorded (clamped) values, kept
//!   within `[min, max]` (as reported). Latency means are compared exactly
//!   (rounded to the nanosecond), but `Atomic`'s, whose `f64` sum is
//!   within a relative `n * 2^-53`, plus 1 ns for the roundings; queue
//!   depth and batch means within a relative 1e-9.
//! - **Windows** hold the `window / resolution` most recent slots, the
//!   current one included, and only records since the last reset; a slot
//!   saturates at 2^32 - 1 per quantity; totals saturate at `u64::MAX`
//!   since the reset; a call that saturates a slot or (but in `Sharded`,
//!   whose totals are 128-bit) a total counts once as clamped.
//! - **Clamping**: latency above the highest, batch size above the largest,
//!   queue depth above the largest are recorded as that limit and counted.
//! - **Mode**: the current mode survives resets; a transition is a change;
//!   `seq` numbers every change ever made; `recent` lists the last
//!   `transition_log` changes since the reset, oldest first.
//!
//! Failing cases shrink to a minimal sequence; proptest keeps their seeds
//! in `tests/differential.proptest-regressions`, and the shrunk cases found
//! while writing this suite are spelled out as plain tests at the end.
//!
//! CI runs `DIFF_CASES` cases (default 128); a long run:
//! `DIFF_CASES=100000 cargo test --release --test engine differential::`.

use std::{collections::BTreeMap, time::Duration};

use lockfree_metrics::{
    Atomic, BatchSnapshot, Clock, Config, FineGrained, GlobalLock, LatencySnapshot, ManualClock,
    MetricsCollector, Mode, ModeSnapshot, QueueDepthSnapshot, Ring, Sharded, Snapshot,
    ThroughputSnapshot, Transition,
};
use proptest::prelude::*;

use crate::support::{cases, invariants};

const SLOT_MAX: u128 = (1 << 32) - 1;

// ---------------------------------------------------------------------------
// HdrHistogram equivalence, from its definition.

/// Equivalence runs of an HDR histogram with a given lowest discernible
/// value and significant digits.
#[derive(Clone, Copy, Debug)]
struct Hdr {
    unit: u32,
    sub_bucket_bits: u32,
}

impl Hdr {
    fn new(lowest: u64, digits: u8) -> Self {
        let largest = 2 * 10_u64.pow(u32::from(digits));
        Hdr {
            unit: 63 - lowest.leading_zeros(),
            // ceil(log2(largest))
            sub_bucket_bits: 64 - (largest - 1).leading_zeros(),
        }
    }

    /// log2 of the length of the run of equivalent values holding `v`.
    fn run_bits(&self, v: u64) -> u32 {
        let bits = 64 - v.leading_zeros();
        self.unit + bits.saturating_sub(self.sub_bucket_bits + self.unit)
    }

    fn lowest_equivalent(&self, v: u64) -> u64 {
        let r = self.run_bits(v);
        v >> r << r
    }

    fn highest_equivalent(&self, v: u64) -> u64 {
        self.lowest_equivalent(v) + ((1 << self.run_bits(v)) - 1)
    }

    fn run_len(&self, v: u64) -> u64 {
        1 << self.run_bits(v)
    }
}

// ---------------------------------------------------------------------------
// The model.

/// Exact statistics of samples, reported as the contract says.
struct Hdrs {
    min: u64,
    max: u64,
    /// Exact mean, as f64.
    mean: f64,
    /// Exact sum.
    sum: u128,
    sorted: Vec<u64>,
}

fn hdr_stats(samples: &[u64]) -> Option<Hdrs> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let (lo, hi) = (sorted[0], *sorted.last().unwrap());
    let sum: u128 = sorted.iter().map(|&v| u128::from(v)).sum();
    Some(Hdrs {
        min: lo,
        max: hi,
        mean: sum as f64 / sorted.len() as f64,
        sum,
        sorted,
    })
}

impl Hdrs {
    /// The sample of rank ceil(q * n) (at least 1).
    fn exact_at(&self, q: f64) -> u64 {
        let rank = ((q * self.sorted.len() as f64).ceil() as usize).max(1);
        self.sorted[rank - 1]
    }

    fn reported_at(&self, q: f64, hdr: Hdr) -> u64 {
        hdr.highest_equivalent(self.exact_at(q))
            .clamp(self.min, self.max)
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct SlotSums {
    tokens: u128,
    requests: u128,
}

/// Where a window slot's 2^32 - 1 saturation point is counted from
/// (`ThroughputSnapshot::clamped`'s docs): the references and `Atomic`
/// start a slot over at a reset; `Sharded`'s per-thread slots are
/// cumulative, so a reset that falls inside a slot leaves what the slot
/// held before it counting toward the saturation point (the window shows
/// the saturated count less what the slot held at the reset). Throughput
/// totals saturate at `u64::MAX` since the reset in every strategy
/// (`Sharded`'s are 128-bit per thread), and only `SinceReset` strategies
/// count the calls a total cut.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Saturation {
    SinceReset,
    SinceCreation,
}

/// A plain sequential model of the contract.
struct Model {
    config: Config,
    latency_hdr: Hdr,
    reset_at: u64,
    latencies: Vec<u64>,
    latency_clamped: u64,
    /// Tokens and requests recorded since creation (unsaturated).
    totals: SlotSums,
    /// `totals` at the last reset.
    totals_at_reset: SlotSums,
    /// Calls clamped, for each `Saturation`.
    throughput_clamped: [u64; 2],
    /// Slot -> what was recorded in it since creation (unsaturated); only
    /// slots from the reset's on are read.
    slots: BTreeMap<u64, SlotSums>,
    /// The slot of the last reset, and what it held then.
    reset_slot: (u64, SlotSums),
    batches: Vec<u64>,
    batch_clamped: u64,
    batch_current: Option<u64>,
    depths: Vec<u64>,
    queue_clamped: u64,
    queue_current: Option<u64>,
    mode: Option<Mode>,
    /// Every transition ever made.
    transitions: Vec<Transition>,
    seq_at_reset: u64,
}

impl Model {
    fn new(config: &Config, now: u64) -> Self {
        Model {
            latency_hdr: Hdr::new(
                config.latency_lowest().as_nanos() as u64,
                config.significant_digits(),
            ),
            config: config.clone(),
            reset_at: now,
            latencies: Vec::new(),
            latency_clamped: 0,
            totals: SlotSums::default(),
            totals_at_reset: SlotSums::default(),
            throughput_clamped: [0; 2],
            slots: BTreeMap::new(),
            reset_slot: (
                (u128::from(now) / config.window_resolution().as_nanos()) as u64,
                SlotSums::default(),
            ),
            batches: Vec::new(),
            batch_clamped: 0,
            batch_current: None,
            depths: Vec::new(),
            queue_clamped: 0,
            queue_current: None,
            mode: None,
            transitions: Vec::new(),
            seq_at_reset: 0,
        }
    }

    fn resolution(&self) -> u128 {
        self.config.window_resolution().as_nanos()
    }

    fn record_latency(&mut self, d: Duration) {
        let highest = self.config.latency_highest().as_nanos();
        let ns = d.as_nanos();
        self.latencies.push(ns.min(highest) as u64);
        self.latency_clamped += u64::from(ns > highest);
    }

    fn record_throughput(&mut self, now: u64, tokens: u64, requests: u64) {
        let slot = (u128::from(now) / self.resolution()) as u64;
        let at_reset = self.held_at_reset(slot);
        let totals = &mut self.totals;
        let sums = self.slots.entry(slot).or_default();
        let saturates = |max: u128, before: u128, n: u64| before.min(max) + u128::from(n) > max;
        let cut = |max, sums: &SlotSums, from: SlotSums| {
            saturates(max, sums.tokens - from.tokens, tokens)
                || saturates(max, sums.requests - from.requests, requests)
        };
        // Slots saturate from the point of each `Saturation`; totals from
        // the reset, and only `SinceReset` strategies count their cuts
        // (`Sharded`'s totals are 128-bit: `ThroughputSnapshot`'s docs).
        let from = [
            (at_reset, Some(self.totals_at_reset)),
            (SlotSums::default(), None),
        ];
        for (i, (slot_from, total_from)) in from.into_iter().enumerate() {
            let total_cut = total_from.is_some_and(|from| cut(u64::MAX.into(), totals, from));
            if cut(SLOT_MAX, sums, slot_from) | total_cut {
                self.throughput_clamped[i] += 1;
            }
        }
        for sums in [sums, totals] {
            sums.tokens += u128::from(tokens);
            sums.requests += u128::from(requests);
        }
    }

    /// What `slot` held at the last reset (nothing unless the reset fell
    /// in it).
    fn held_at_reset(&self, slot: u64) -> SlotSums {
        if slot == self.reset_slot.0 {
            self.reset_slot.1
        } else {
            SlotSums::default()
        }
    }

    /// What `slot` shows in a window, saturated as `sat` says.
    fn slot_value(&self, slot: u64, sums: SlotSums, sat: Saturation) -> (u128, u128) {
        let before = self.held_at_reset(slot);
        match sat {
            Saturation::SinceReset => (
                (sums.tokens - before.tokens).min(SLOT_MAX),
                (sums.requests - before.requests).min(SLOT_MAX),
            ),
            Saturation::SinceCreation => (
                sums.tokens.min(SLOT_MAX) - before.tokens.min(SLOT_MAX),
                sums.requests.min(SLOT_MAX) - before.requests.min(SLOT_MAX),
            ),
        }
    }

    fn record_batch(&mut self, size: usize) {
        let max = self.config.max_batch_size() as u64;
        let size = size as u64;
        self.batches.push(size.min(max));
        self.batch_clamped += u64::from(size > max);
        self.batch_current = Some(size.min(max));
    }

    fn record_queue(&mut self, depth: usize) {
        let max = self.config.max_queue_depth();
        let depth = depth as u64;
        self.depths.push(depth.min(max));
        self.queue_clamped += u64::from(depth > max);
        self.queue_current = Some(depth.min(max));
    }

    fn record_mode(&mut self, now: u64, mode: Mode) {
        if self.mode != Some(mode) {
            self.transitions.push(Transition {
                seq: self.transitions.len() as u64 + 1,
                at: Duration::from_nanos(now),
                from: self.mode,
                to: mode,
            });
            self.mode = Some(mode);
        }
    }

    fn reset(&mut self, now: u64) {
        let keep = Model::new(&self.config, now);
        let mode = self.mode;
        let transitions = std::mem::take(&mut self.transitions);
        let slots = std::mem::take(&mut self.slots);
        let slot = keep.reset_slot.0;
        *self = Model {
            mode,
            seq_at_reset: transitions.len() as u64,
            transitions,
            reset_slot: (slot, slots.get(&slot).copied().unwrap_or_default()),
            slots,
            totals: self.totals,
            totals_at_reset: self.totals,
            ..keep
        };
    }

    fn latency(&self) -> LatencySnapshot {
        let hdr = self.latency_hdr;
        let Some(s) = hdr_stats(&self.latencies) else {
            return LatencySnapshot {
                clamped: self.latency_clamped,
                ..LatencySnapshot::default()
            };
        };
        let ns = Duration::from_nanos;
        LatencySnapshot {
            count: self.latencies.len() as u64,
            min: ns(s.min),
            max: ns(s.max),
            // Rounded to the nanosecond in integers, so exact at any sum.
            mean: ns({
                let n = self.latencies.len() as u128;
                ((s.sum + n / 2) / n).clamp(s.min.into(), s.max.into()) as u64
            }),
            p50: ns(s.reported_at(0.5, hdr)),
            p95: ns(s.reported_at(0.95, hdr)),
            p99: ns(s.reported_at(0.99, hdr)),
            p999: ns(s.reported_at(0.999, hdr)),
            clamped: self.latency_clamped,
        }
    }

    fn throughput(&self, now: u64, sat: Saturation) -> ThroughputSnapshot {
        let now_slot = (u128::from(now) / self.resolution()) as u64;
        let windows = self
            .config
            .windows()
            .iter()
            .map(|&w| {
                let len = (w.as_nanos() / self.resolution()) as u64;
                let first = now_slot.saturating_sub(len - 1).max(self.reset_slot.0);
                let (mut tokens, mut requests) = (0_u128, 0_u128);
                for (&slot, &sums) in self.slots.range(first..=now_slot) {
                    let (t, r) = self.slot_value(slot, sums, sat);
                    tokens += t;
                    requests += r;
                }
                // Covered: from the window's first slot's start, or the
                // reset if later, to now (2^64 - 1 ns shares the slot
                // before it, as `WindowSpec::slot_of` documents).
                let last_slot = now_slot.min(u64::MAX - 1);
                let start = ((u128::from(last_slot) + 1).saturating_sub(u128::from(len))
                    * self.resolution())
                .max(u128::from(self.reset_at));
                let covered = Duration::from_nanos((u128::from(now) - start) as u64).min(w);
                let secs = covered.as_secs_f64();
                let rate = |n: u128| if secs > 0.0 { n as f64 / secs } else { 0.0 };
                lockfree_metrics::WindowRate {
                    window: w,
                    covered,
                    tokens: tokens as u64,
                    requests: requests as u64,
                    tokens_per_sec: rate(tokens),
                    requests_per_sec: rate(requests),
                }
            })
            .collect();
        let max = u128::from(u64::MAX);
        let (now, then) = (self.totals, self.totals_at_reset);
        // Since the reset, saturated, for every strategy.
        let (total_tokens, total_requests) = (
            (now.tokens - then.tokens).min(max),
            (now.requests - then.requests).min(max),
        );
        ThroughputSnapshot {
            windows,
            total_tokens: total_tokens as u64,
            total_requests: total_requests as u64,
            clamped: self.throughput_clamped[match sat {
                Saturation::SinceReset => 0,
                Saturation::SinceCreation => 1,
            }],
        }
    }

    fn batch(&self) -> BatchSnapshot {
        let mut distribution = BTreeMap::new();
        for &b in &self.batches {
            *distribution.entry(b).or_insert(0) += 1;
        }
        let count = self.batches.len() as u64;
        let sum: u128 = self.batches.iter().map(|&b| u128::from(b)).sum();
        BatchSnapshot {
            count,
            current: self.batch_current,
            min: self.batches.iter().copied().min().unwrap_or(0),
            max: self.batches.iter().copied().max().unwrap_or(0),
            mean: if count == 0 {
                0.0
            } else {
                sum as f64 / count as f64
            },
            distribution,
            clamped: self.batch_clamped,
        }
    }

    fn queue_depth(&self) -> QueueDepthSnapshot {
        let Some(s) = hdr_stats(&self.depths) else {
            return QueueDepthSnapshot {
                current: self.queue_current,
                clamped: self.queue_clamped,
                ..QueueDepthSnapshot::default()
            };
        };
        QueueDepthSnapshot {
            count: self.depths.len() as u64,
            current: self.queue_current,
            max: s.max,
            mean: s.mean.clamp(s.min as f64, s.max as f64),
            clamped: self.queue_clamped,
        }
    }

    fn mode(&self) -> ModeSnapshot {
        let since: Vec<Transition> = self.transitions[self.seq_at_reset as usize..].to_vec();
        let keep = self.config.transition_log();
        ModeSnapshot {
            current: self.mode,
            transitions: since.len() as u64,
            recent: since[since.len().saturating_sub(keep)..].to_vec(),
        }
    }

    fn snapshot(&self, now: u64, sat: Saturation) -> Snapshot {
        Snapshot {
            taken_at: Duration::from_nanos(now),
            since_reset: Duration::from_nanos(now - self.reset_at),
            latency: self.latency(),
            throughput: self.throughput(now, sat),
            batch: self.batch(),
            queue_depth: self.queue_depth(),
            mode: self.mode(),
        }
    }
}

// ---------------------------------------------------------------------------
// Comparison.

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()) || a == b
}

/// Whether the contract promises an exact sum for `samples`: the
/// lock-free strategies keep sums modulo 2^64 and recover the wraps from
/// the histogram, which works while half the samples' equivalence ranges
/// add up to less than 2^63 (at 3 significant digits, sums below about
/// 2^73 ns; at 0 digits, about 2^64 ns).
fn sum_recoverable(samples: &[u64], hdr: Hdr) -> bool {
    samples
        .iter()
        .map(|&v| u128::from(hdr.run_len(v) / 2))
        .sum::<u128>()
        < 1 << 63
}

fn same_latency(got: &LatencySnapshot, want: &LatencySnapshot, m: &Model, check: Check, ctx: &str) {
    let promised = check.sum == Sum::Exact || sum_recoverable(&m.latencies, m.latency_hdr);
    let tolerance = match check.sum {
        Sum::Exact | Sum::Recovered => 0.0,
        // Each add rounds once: a relative `(n - 1) * 2^-53` of the sum,
        // and so of the mean, plus 1 ns for the two means' roundings.
        Sum::Float => {
            1.0 + m.latencies.len() as f64 * (f64::EPSILON / 2.0) * want.mean.as_nanos() as f64
        }
    };
    assert!(
        !promised || (got.mean.as_nanos() as f64 - want.mean.as_nanos() as f64).abs() <= tolerance,
        "{ctx}: latency mean {:?}, model {:?}",
        got.mean,
        want.mean
    );
    let mut got = got.clone();
    got.mean = want.mean;
    assert_eq!(&got, want, "{ctx}: latency");
    // The documented precision, against the exact samples.
    if let Some(s) = hdr_stats(&m.latencies) {
        let hdr = m.latency_hdr;
        for (q, p) in [
            (0.5, got.p50),
            (0.95, got.p95),
            (0.99, got.p99),
            (0.999, got.p999),
        ] {
            let exact = s.exact_at(q);
            let p = p.as_nanos() as u64;
            assert!(
                p.abs_diff(exact) < hdr.run_len(exact),
                "{ctx}: p{q} {p} not within HDR precision of {exact}"
            );
        }
    }
}

fn same_throughput(got: &ThroughputSnapshot, want: &ThroughputSnapshot, ctx: &str) {
    let mut got = got.clone();
    for (g, w) in got.windows.iter_mut().zip(&want.windows) {
        assert!(
            close(g.tokens_per_sec, w.tokens_per_sec, 1e-12)
                && close(g.requests_per_sec, w.requests_per_sec, 1e-12),
            "{ctx}: rates {g:?} vs model {w:?}"
        );
        g.tokens_per_sec = w.tokens_per_sec;
        g.requests_per_sec = w.requests_per_sec;
    }
    assert_eq!(&got, want, "{ctx}: throughput");
}

fn same_batch(got: &BatchSnapshot, want: &BatchSnapshot, ctx: &str) {
    assert!(close(got.mean, want.mean, 1e-12), "{ctx}: batch mean");
    let mut got = got.clone();
    got.mean = want.mean;
    assert_eq!(&got, want, "{ctx}: batch");
}

fn same_queue(got: &QueueDepthSnapshot, want: &QueueDepthSnapshot, ctx: &str) {
    assert!(
        close(got.mean, want.mean, 1e-9),
        "{ctx}: queue mean {} vs model {}",
        got.mean,
        want.mean
    );
    let mut got = got.clone();
    got.mean = want.mean;
    assert_eq!(&got, want, "{ctx}: queue depth");
}

fn same_snapshot(got: &Snapshot, model: &Model, now: u64, check: Check, ctx: &str) {
    invariants::check_quiescent(got);
    let want = model.snapshot(now, check.sat);
    assert_eq!(got.taken_at, want.taken_at, "{ctx}: taken_at");
    assert_eq!(got.since_reset, want.since_reset, "{ctx}: since_reset");
    same_latency(&got.latency, &want.latency, model, check, ctx);
    same_throughput(&got.throughput, &want.throughput, ctx);
    same_batch(&got.batch, &want.batch, ctx);
    same_queue(&got.queue_depth, &want.queue_depth, ctx);
    assert_eq!(got.mode, want.mode, "{ctx}: mode");
}

// ---------------------------------------------------------------------------
// Operations, with their arguments relative to the configuration so that
// they shrink and stay meaningful under every configuration.

#[derive(Clone, Copy, Debug)]
enum Lat {
    Zero,
    One,
    /// Inside the first equivalence run, above zero: `1 + n % (unit - 1)`.
    BelowUnit(u64),
    Lowest,
    /// `lowest + n % (highest - lowest)`.
    InRange(u64),
    Highest,
    AboveHighest,
    U64MaxNanos,
    Max,
}

#[derive(Clone, Copy, Debug)]
enum Count {
    Zero,
    One,
    Small(u16),
    Half,
    SlotMax,
    AboveSlot,
    U64Max,
    Any(u64),
}

#[derive(Clone, Copy, Debug)]
enum Size {
    Zero,
    One,
    /// `n % (max + 1)`.
    Below(u32),
    Max,
    AboveMax,
    UsizeMax,
}

#[derive(Clone, Copy, Debug)]
enum Advance {
    /// `n % resolution` ns: usually within the slot.
    Nanos(u64),
    /// Whole slots.
    Slots(u16),
    /// The length of window `i % windows`, plus `extra` slots (0 or 1).
    Window(u8, u8),
    /// The ring's length in slots (as `WindowSpec` sizes it), plus `extra`.
    Ring(u8),
    Hours(u16),
    Years(u16),
    /// `Duration::MAX`: the manual clock saturates at 2^64 - 1 ns.
    Max,
}

#[derive(Clone, Copy, Debug)]
enum Getter {
    Latency,
    Throughput,
    Batch,
    Queue,
    Mode,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Latency(Lat),
    Throughput(Count, Count),
    Batch(Size),
    Queue(Size),
    Mode(u16),
    Reset,
    Interval,
    Snapshot,
    Get(Getter),
    Advance(Advance),
}

fn lat() -> impl Strategy<Value = Lat> {
    prop_oneof![
        1 => Just(Lat::Zero),
        1 => Just(Lat::One),
        1 => any::<u64>().prop_map(Lat::BelowUnit),
        1 => Just(Lat::Lowest),
        4 => any::<u64>().prop_map(Lat::InRange),
        1 => Just(Lat::Highest),
        1 => Just(Lat::AboveHighest),
        1 => Just(Lat::U64MaxNanos),
        1 => Just(Lat::Max),
    ]
}

fn count() -> impl Strategy<Value = Count> {
    prop_oneof![
        1 => Just(Count::Zero),
        1 => Just(Count::One),
        4 => any::<u16>().prop_map(Count::Small),
        1 => Just(Count::Half),
        1 => Just(Count::SlotMax),
        1 => Just(Count::AboveSlot),
        1 => Just(Count::U64Max),
        1 => any::<u64>().prop_map(Count::Any),
    ]
}

fn size() -> impl Strategy<Value = Size> {
    prop_oneof![
        1 => Just(Size::Zero),
        1 => Just(Size::One),
        4 => any::<u32>().prop_map(Size::Below),
        1 => Just(Size::Max),
        1 => Just(Size::AboveMax),
        1 => Just(Size::UsizeMax),
    ]
}

fn advance() -> impl Strategy<Value = Advance> {
    prop_oneof![
        4 => any::<u64>().prop_map(Advance::Nanos),
        4 => (0..50_u16).prop_map(Advance::Slots),
        2 => (any::<u8>(), 0..2_u8).prop_map(|(i, e)| Advance::Window(i, e)),
        1 => (0..2_u8).prop_map(Advance::Ring),
        1 => (1..10_000_u16).prop_map(Advance::Hours),
        1 => (1..600_u16).prop_map(Advance::Years),
        1 => Just(Advance::Max),
    ]
}

fn getter() -> impl Strategy<Value = Getter> {
    prop::sample::select(vec![
        Getter::Latency,
        Getter::Throughput,
        Getter::Batch,
        Getter::Queue,
        Getter::Mode,
    ])
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => lat().prop_map(Op::Latency),
        5 => (count(), count()).prop_map(|(t, r)| Op::Throughput(t, r)),
        4 => size().prop_map(Op::Batch),
        4 => size().prop_map(Op::Queue),
        4 => prop_oneof![Just(0_u16), Just(u16::MAX), 0..4_u16].prop_map(Op::Mode),
        1 => Just(Op::Reset),
        2 => Just(Op::Interval),
        1 => Just(Op::Snapshot),
        2 => getter().prop_map(Op::Get),
        6 => advance().prop_map(Op::Advance),
    ]
}

/// Small, varied, valid configurations.
fn config() -> impl Strategy<Value = Config> {
    // Nanoseconds: 1 ns, 1 us, 1 ms, 100 ms, 250 ms, 1 s.
    let resolution = prop::sample::select(vec![
        1_u64,
        1_000,
        1_000_000,
        100_000_000,
        250_000_000,
        1_000_000_000,
    ]);
    let windows = prop::collection::btree_set(1..=40_u64, 1..=3);
    let lowest = prop::sample::select(vec![1_u64, 2, 7, 1_000, 1_024, 999_999]);
    // highest = lowest * span, at most 2^62 (MAX_TRACKABLE).
    let span = prop::sample::select(vec![2_u64, 3, 1_000, 1_000_000, 1 << 40, u64::MAX]);
    let max_batch = prop_oneof![1..=8_usize, 1..=1_024_usize];
    let max_queue = prop_oneof![2..=16_u64, 2..=100_000_u64, Just(1 << 32)];
    (
        resolution,
        windows,
        lowest,
        span,
        0..=3_u8,
        max_batch,
        max_queue,
        0..=8_usize,
    )
        .prop_map(
            |(res, windows, lowest, span, digits, max_batch, max_queue, log)| {
                let highest = lowest.saturating_mul(span).min(1 << 62);
                Config::builder()
                    .window_resolution(Duration::from_nanos(res))
                    .windows(windows.iter().map(|&k| Duration::from_nanos(k * res)))
                    .latency_range(Duration::from_nanos(lowest), Duration::from_nanos(highest))
                    .significant_digits(digits)
                    .max_batch_size(max_batch)
                    .max_queue_depth(max_queue)
                    .transition_log(log)
                    .build()
                    .expect("generated configurations are valid")
            },
        )
}

// ---------------------------------------------------------------------------
// Running a sequence.

fn resolve_latency(l: Lat, c: &Config) -> Duration {
    let lowest = c.latency_lowest().as_nanos() as u64;
    let highest = c.latency_highest().as_nanos() as u64;
    let unit = 1_u64 << (63 - lowest.leading_zeros());
    let ns = Duration::from_nanos;
    match l {
        Lat::Zero => Duration::ZERO,
        Lat::One => ns(1),
        Lat::BelowUnit(n) => ns(if unit > 1 { 1 + n % (unit - 1) } else { 0 }),
        Lat::Lowest => ns(lowest),
        Lat::InRange(n) => ns(lowest + n % (highest - lowest)),
        Lat::Highest => ns(highest),
        Lat::AboveHighest => ns(highest + 1),
        Lat::U64MaxNanos => ns(u64::MAX),
        Lat::Max => Duration::MAX,
    }
}

fn resolve_count(n: Count) -> u64 {
    match n {
        Count::Zero => 0,
        Count::One => 1,
        Count::Small(n) => u64::from(n),
        Count::Half => 1 << 31,
        Count::SlotMax => (1 << 32) - 1,
        Count::AboveSlot => 1 << 32,
        Count::U64Max => u64::MAX,
        Count::Any(n) => n,
    }
}

fn resolve_size(s: Size, max: u64) -> usize {
    (match s {
        Size::Zero => 0,
        Size::One => 1,
        Size::Below(n) => u64::from(n) % (max + 1),
        Size::Max => max,
        Size::AboveMax => max + 1,
        Size::UsizeMax => return usize::MAX,
    }) as usize
}

fn resolve_advance(a: Advance, c: &Config) -> Duration {
    let res = c.window_resolution();
    let slots_of = |w: Duration| (w.as_nanos() / res.as_nanos()) as u32;
    let longest = slots_of(*c.windows().last().unwrap());
    let ring = (longest + 1).next_power_of_two();
    match a {
        Advance::Nanos(n) => Duration::from_nanos(n % res.as_nanos() as u64),
        Advance::Slots(k) => res * u32::from(k),
        Advance::Window(i, extra) => {
            let w = c.windows()[usize::from(i) % c.windows().len()];
            w + res * u32::from(extra)
        }
        Advance::Ring(extra) => res * (ring + u32::from(extra)),
        Advance::Hours(h) => Duration::from_secs(3_600 * u64::from(h)),
        Advance::Years(y) => Duration::from_secs(365 * 86_400 * u64::from(y)),
        Advance::Max => Duration::MAX,
    }
}

type Make = fn(Config, ManualClock) -> Box<dyn MetricsCollector>;

/// One strategy under test.
struct Subject {
    name: &'static str,
    make: Make,
    /// Where its slots and totals saturate from.
    sat: Saturation,
    /// How it keeps latency sums.
    sum: Sum,
}

/// How a strategy keeps latency sums (`LatencySnapshot`'s docs).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sum {
    /// Integers: always exact.
    Exact,
    /// Modulo 2^64, recovered while `sum_recoverable` holds.
    Recovered,
    /// An `f64`, read through the same recovery: within a relative
    /// `n * 2^-53` while it holds.
    Float,
}

fn strategies() -> [Subject; 6] {
    use Saturation::*;
    [
        Subject {
            name: "GlobalLock",
            make: |c, k| Box::new(GlobalLock::with_clock(c, k)),
            sat: SinceReset,
            sum: Sum::Exact,
        },
        Subject {
            name: "FineGrained",
            make: |c, k| Box::new(FineGrained::with_clock(c, k)),
            sat: SinceReset,
            sum: Sum::Exact,
        },
        Subject {
            name: "Atomic",
            make: |c, k| Box::new(Atomic::with_clock(c, k)),
            sat: SinceReset,
            sum: Sum::Float,
        },
        Subject {
            name: "Sharded",
            make: |c, k| Box::new(Sharded::with_clock(c, k)),
            sat: SinceCreation,
            sum: Sum::Recovered,
        },
        Subject {
            name: "Ring",
            make: |c, k| Box::new(Ring::with_clock(c, k)),
            sat: SinceReset,
            sum: Sum::Exact,
        },
        // Rings of 2: most records go through the overflow batches.
        Subject {
            name: "Ring (capacity 2)",
            make: |c, k| Box::new(Ring::with_capacity(c, k, 2)),
            sat: SinceReset,
            sum: Sum::Exact,
        },
    ]
}

/// What to compare for one strategy at one moment.
#[derive(Clone, Copy, Debug)]
struct Check {
    sat: Saturation,
    sum: Sum,
}

/// Applies `ops` to every strategy and to the model, comparing after every
/// step. Panics (with the strategy and step) on the first disagreement.
fn run(config: &Config, ops: &[Op]) {
    let clock = ManualClock::new();
    let all: Vec<(Subject, Box<dyn MetricsCollector>)> = strategies()
        .into_iter()
        .map(|s| {
            let m = (s.make)(config.clone(), clock.clone());
            (s, m)
        })
        .collect();
    let check = |_now: u64, s: &Subject| Check {
        sat: s.sat,
        sum: s.sum,
    };
    let mut model = Model::new(config, clock.now_ns());
    let max_batch = config.max_batch_size() as u64;
    let max_queue = config.max_queue_depth();
    for (step, &op) in ops.iter().enumerate() {
        let now = clock.now_ns();
        // Reads and resets are checked against the model as they happen.
        for (s, m) in &all {
            let check = check(now, s);
            let ctx = format!("{}, step {step} ({op:?})", s.name);
            match op {
                Op::Latency(l) => m.record_latency(resolve_latency(l, config)),
                Op::Throughput(t, r) => m.record_throughput(resolve_count(t), resolve_count(r)),
                Op::Batch(s) => m.record_batch_size(resolve_size(s, max_batch)),
                Op::Queue(s) => m.record_queue_depth(resolve_size(s, max_queue)),
                Op::Mode(id) => m.record_mode_transition(Mode(id)),
                Op::Reset => m.reset(),
                Op::Interval => same_snapshot(&m.take_interval(), &model, now, check, &ctx),
                Op::Snapshot => same_snapshot(&m.snapshot(), &model, now, check, &ctx),
                Op::Get(Getter::Latency) => {
                    same_latency(&m.latency(), &model.latency(), &model, check, &ctx)
                }
                Op::Get(Getter::Throughput) => {
                    same_throughput(&m.throughput(), &model.throughput(now, check.sat), &ctx)
                }
                Op::Get(Getter::Batch) => same_batch(&m.batch(), &model.batch(), &ctx),
                Op::Get(Getter::Queue) => same_queue(&m.queue_depth(), &model.queue_depth(), &ctx),
                Op::Get(Getter::Mode) => assert_eq!(m.mode(), model.mode(), "{ctx}: mode"),
                Op::Advance(_) => {}
            }
        }
        match op {
            Op::Latency(l) => model.record_latency(resolve_latency(l, config)),
            Op::Throughput(t, r) => {
                model.record_throughput(now, resolve_count(t), resolve_count(r))
            }
            Op::Batch(s) => model.record_batch(resolve_size(s, max_batch)),
            Op::Queue(s) => model.record_queue(resolve_size(s, max_queue)),
            Op::Mode(id) => model.record_mode(now, Mode(id)),
            Op::Reset | Op::Interval => model.reset(now),
            Op::Advance(a) => clock.advance(resolve_advance(a, config)),
            Op::Snapshot | Op::Get(_) => {}
        }
        // And every strategy's full snapshot after every step.
        let now = clock.now_ns();
        for (s, m) in &all {
            let ctx = format!("{}, after step {step} ({op:?})", s.name);
            same_snapshot(&m.snapshot(), &model, now, check(now, s), &ctx);
        }
    }
}

fn cases() -> u32 {
    cases::cases("DIFF_CASES", 128)
}

proptest! {
    #![proptest_config(cases::config(cases()))]

    /// Every strategy agrees with the model after every step.
    #[test]
    fn strategies_agree_with_the_model(
        config in config(),
        ops in prop::collection::vec(op(), 1..48),
    ) {
        run(&config, &ops);
    }
}

// ---------------------------------------------------------------------------
// Self-checks of the model's HDR rules against hdrhistogram itself (the
// model is written from the definition; this confirms the definition).

#[test]
fn hdr_rules_match_hdrhistogram() {
    for (lowest, highest, digits) in [
        (1_u64, 1_u64 << 40, 0_u8),
        (1, 1 << 62, 3),
        (7, 1 << 30, 1),
        (1_000, 3_600_000_000_000, 3),
        (999_999, 1 << 50, 2),
    ] {
        let h = hdrhistogram::Histogram::<u64>::new_with_bounds(lowest, highest, digits).unwrap();
        let hdr = Hdr::new(lowest, digits);
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        for i in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = if i < 64 { (1 << i) - 1 } else { x >> (x % 64) }.min(highest);
            assert_eq!(hdr.lowest_equivalent(v), h.lowest_equivalent(v), "{v}");
            assert_eq!(hdr.highest_equivalent(v), h.highest_equivalent(v), "{v}");
        }
    }
}

// ---------------------------------------------------------------------------
// The shrunk failing cases found while writing this suite, as plain tests
// (their seeds are also in `differential.proptest-regressions`).

fn tiny(lowest: u64, highest: u64) -> lockfree_metrics::ConfigBuilder {
    Config::builder()
        .windows([Duration::from_nanos(1)])
        .window_resolution(Duration::from_nanos(1))
        .latency_range(Duration::from_nanos(lowest), Duration::from_nanos(highest))
        .significant_digits(0)
        .max_batch_size(1)
        .max_queue_depth(2)
        .transition_log(0)
}

/// Library bug, fixed: `Atomic` and `Sharded` rebuilt their histograms
/// with every sample below the first equivalence run's top as zero, so a
/// 1 ns latency (lowest 2 ns) read as max 0 and p50 0 (and, with the
/// default 1 us lowest, a 300 ns latency as mean 0 instead of 300 ns).
#[test]
fn regression_sub_unit_latency_keeps_its_max() {
    run(&tiny(2, 4).build().unwrap(), &[Op::Latency(Lat::One)]);
    run(&Config::default(), &[Op::Latency(Lat::BelowUnit(299))]);
}

/// Library bug, fixed: `Sharded` measured an interval's latency sum as the
/// difference of two cumulative `f64` sums, so after one 1.8e16 ns sample
/// and a reset, a 2 ns sample read as mean 0.
#[test]
fn regression_sharded_mean_exact_after_a_huge_sum() {
    let config = tiny(7, 1 << 62).build().unwrap();
    run(
        &config,
        &[
            Op::Latency(Lat::InRange(18_051_486_080_110_911)),
            Op::Reset,
            Op::Latency(Lat::BelowUnit(18_193_353_624_100_153_738)),
        ],
    );
}

/// Model tolerance: an `f64` sum of two 2^62 ns samples is exact to its
/// 53-bit mantissa, not to 1 ns.
#[test]
fn regression_mean_near_the_trackable_limit() {
    let config = tiny(1, 1 << 62).build().unwrap();
    run(
        &config,
        &[
            Op::Latency(Lat::InRange(7_345_429_885_438_039_039)),
            Op::Latency(Lat::Highest),
            Op::Latency(Lat::Highest),
        ],
    );
}

/// Documented, not a bug: `Sharded`'s slots saturate from creation, so a
/// reset inside a slot leaves the slot's earlier records counting toward
/// 2^32 - 1 (window 2^32 - 2 and one clamp here); the others start over.
#[test]
fn regression_slot_saturation_across_a_reset() {
    run(
        &tiny(1, 2).build().unwrap(),
        &[
            Op::Throughput(Count::Zero, Count::One),
            Op::Reset,
            Op::Throughput(Count::Zero, Count::SlotMax),
        ],
    );
}

/// Issue 21, item 15: totals saturate at `u64::MAX` since the reset in
/// every strategy; `Sharded` once kept saturating per-thread totals from
/// creation, so after a reset its interval total stayed 0 and the next
/// call counted as clamped. Now all count it in full.
#[test]
fn regression_total_saturation_across_a_reset() {
    run(
        &tiny(1, 2).build().unwrap(),
        &[
            Op::Throughput(Count::U64Max, Count::One),
            Op::Throughput(Count::U64Max, Count::One),
            Op::Reset,
            Op::Throughput(Count::Small(5), Count::U64Max),
        ],
    );
}

/// Found by the differential tests: the lock-free slot rings keep 32 bits
/// of lap, and a ring entry left unwritten for 2^31 laps (here 2^31 x 16 ms,
/// about 1.1 years) was taken for a newer one, so the next record in it was
/// dropped from the windows. Rings now zero the entries a record skips
/// (`src/lockfree/slots.rs`, the watermark), so no old entry survives to be
/// confused.
#[test]
fn regression_lap_wrap_after_long_idle() {
    let config = Config::builder()
        .windows([Duration::from_millis(8)])
        .window_resolution(Duration::from_millis(1))
        .build()
        .unwrap();
    run(
        &config,
        &[
            Op::Throughput(Count::Zero, Count::One),
            Op::Advance(Advance::Years(182)),
            Op::Throughput(Count::Zero, Count::One),
        ],
    );
}

//! `lockfree_metrics._native`: the engine's five strategies behind one
//! Python class, `Collector`, which the pure-Python package subclasses as
//! the seed's `MetricsCollector` (its dataclasses are built there from the
//! plain tuples returned here).
//!
//! Threading: records run with the GIL held and take no other lock (the
//! strategy's own record path aside: `global` and `fine` lock by design).
//! Readings release the GIL while the engine merges and computes. Mode
//! strings are interned in [`Interner`], which only code holding the GIL
//! touches, and never across a call that could run Python code; the module
//! therefore declares `gil_used = true`, so a free-threaded interpreter
//! keeps the GIL on while it is loaded (README.md, "Free-threaded Python").

use std::{collections::HashMap, time::Duration};

use lockfree_metrics::{
    Atomic, BatchSnapshot, Config, FineGrained, GlobalLock, LatencySnapshot, MetricsCollector,
    Mode, ModeSnapshot, QueueDepthSnapshot, RequestRecord, Ring, Sharded, Snapshot,
    ThroughputSnapshot,
};
use pyo3::{
    exceptions::{PyOverflowError, PyRuntimeError, PyTypeError, PyValueError},
    prelude::*,
    types::PyString,
};

/// The strategy names `Collector` accepts, in the crate's order.
const STRATEGIES: [&str; 5] = ["global", "fine", "atomic", "sharded", "ring"];

/// Distinct mode strings a collector can intern: every `Mode(u16)` id.
const MAX_MODES: usize = 1 << 16;

/// Mode strings and their `Mode` ids, both ways.
///
/// A separate (mutable) pyclass, so that interning borrows it, not the
/// frozen `Collector` whose readings run with the GIL released. Every
/// borrow is taken with the GIL held and released before any call that
/// could run Python code (allocation can start the garbage collector and
/// its finalizers), so no other thread can meet a borrow in progress.
#[pyclass(module = "lockfree_metrics._native")]
#[derive(Debug, Default)]
struct Interner {
    ids: HashMap<Box<str>, u16>,
    names: Vec<Py<PyString>>,
}

/// One collector: a strategy of the engine and its mode interner.
#[pyclass(frozen, subclass, module = "lockfree_metrics._native")]
struct Collector {
    inner: Box<dyn MetricsCollector>,
    strategy: &'static str,
    modes: Py<Interner>,
}

/// A latency: (count, min, max, mean, p50, p95, p99, p999, clamped), in ns.
type LatencyTuple = (u64, u64, u64, u64, u64, u64, u64, u64, u64);
/// A window: (window s, covered s, tokens, requests, tokens/s, requests/s).
type WindowTuple = (f64, f64, u64, u64, f64, f64);
/// Throughput: (windows, total tokens, total requests, clamped).
type ThroughputTuple = (Vec<WindowTuple>, u64, u64, u64);
/// Batches: (count, current, min, max, mean, distribution, clamped).
type BatchTuple = (
    u64,
    Option<u64>,
    u64,
    u64,
    f64,
    std::collections::BTreeMap<u64, u64>,
    u64,
);
/// Queue depth: (count, current, max, mean, clamped).
type QueueTuple = (u64, Option<u64>, u64, f64, u64);
/// A transition: (seq, at s, from, to).
type TransitionTuple = (u64, f64, Option<Py<PyString>>, Py<PyString>);
/// Mode: (current, transitions, recent transitions oldest first).
type ModeTuple = (Option<Py<PyString>>, u64, Vec<TransitionTuple>);
/// Everything: (taken at s, since reset s, latency, throughput, batch, queue, mode).
type SnapshotTuple = (
    f64,
    f64,
    LatencyTuple,
    ThroughputTuple,
    BatchTuple,
    QueueTuple,
    ModeTuple,
);

/// A duration given in seconds: finite and positive.
fn seconds(name: &str, secs: f64) -> PyResult<Duration> {
    if !(secs.is_finite() && secs > 0.0) {
        return Err(PyValueError::new_err(format!(
            "{name} must be a finite number of seconds > 0, got {secs}"
        )));
    }
    Duration::try_from_secs_f64(secs)
        .map_err(|e| PyValueError::new_err(format!("{name}: {secs} s: {e}")))
}

/// The name of `value`'s type, for an error message.
fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A latency in milliseconds, checked (a real number, finite, >= 0), in
/// nanoseconds. A wrong type names the argument, as `count` does.
fn latency_ns(value: &Bound<'_, PyAny>) -> PyResult<u64> {
    let latency_ms = value.extract::<f64>().map_err(|e| {
        if e.is_instance_of::<PyOverflowError>(value.py()) {
            PyOverflowError::new_err("latency_ms is too large for a float")
        } else {
            PyTypeError::new_err(format!(
                "latency_ms must be a real number (int or float), not {}",
                type_name(value)
            ))
        }
    })?;
    if !(latency_ms.is_finite() && latency_ms >= 0.0) {
        return Err(PyValueError::new_err(format!(
            "latency_ms must be a finite number >= 0, got {latency_ms}"
        )));
    }
    // `as` saturates: a latency past u64 nanoseconds (584 years) is past
    // every configurable maximum, and clamped there.
    Ok((latency_ms * 1e6).round() as u64)
}

/// A non-negative integer that fits a `u64`, with an error naming the
/// argument: the engine clamps (and counts) what exceeds its configured
/// maxima, so only what no `u64` holds is refused.
fn count(name: &str, value: &Bound<'_, PyAny>) -> PyResult<u64> {
    match value.extract::<u64>() {
        Ok(n) => Ok(n),
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => {
            let negative = value.lt(0).unwrap_or(false);
            Err(PyOverflowError::new_err(if negative {
                format!("{name} must be >= 0")
            } else {
                format!("{name} must be at most 2**64 - 1")
            }))
        }
        Err(_) => Err(PyTypeError::new_err(format!(
            "{name} must be an int, not {}",
            type_name(value)
        ))),
    }
}

/// A `usize` for the engine's sizes; on a 64-bit target every `u64` fits,
/// elsewhere what does not fit is as far above the maximum as `usize::MAX`.
fn size(name: &str, value: &Bound<'_, PyAny>) -> PyResult<usize> {
    Ok(usize::try_from(count(name, value)?).unwrap_or(usize::MAX))
}

/// A borrow of the interner met another: only possible without the GIL.
fn busy() -> PyErr {
    PyRuntimeError::new_err("mode interner busy (is the GIL disabled?)")
}

fn latency_tuple(l: &LatencySnapshot) -> LatencyTuple {
    let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    (
        l.count,
        ns(l.min),
        ns(l.max),
        ns(l.mean),
        ns(l.p50),
        ns(l.p95),
        ns(l.p99),
        ns(l.p999),
        l.clamped,
    )
}

fn throughput_tuple(t: &ThroughputSnapshot) -> ThroughputTuple {
    let windows = t
        .windows
        .iter()
        .map(|w| {
            (
                w.window.as_secs_f64(),
                w.covered.as_secs_f64(),
                w.tokens,
                w.requests,
                w.tokens_per_sec,
                w.requests_per_sec,
            )
        })
        .collect();
    (windows, t.total_tokens, t.total_requests, t.clamped)
}

fn batch_tuple(b: BatchSnapshot) -> BatchTuple {
    (
        b.count,
        b.current,
        b.min,
        b.max,
        b.mean,
        b.distribution,
        b.clamped,
    )
}

fn queue_tuple(q: &QueueDepthSnapshot) -> QueueTuple {
    (q.count, q.current, q.max, q.mean, q.clamped)
}

impl Collector {
    /// The mode snapshot with ids turned back into the strings recorded.
    fn mode_tuple(&self, py: Python<'_>, m: &ModeSnapshot) -> PyResult<ModeTuple> {
        // Only reference-count increments while the interner is borrowed:
        // nothing here can run Python code.
        let modes = self.modes.bind(py).try_borrow().map_err(|_| busy())?;
        let name = |mode: Mode| -> PyResult<Py<PyString>> {
            modes
                .names
                .get(usize::from(mode.0))
                .map(|s| s.clone_ref(py))
                .ok_or_else(|| PyRuntimeError::new_err(format!("unknown mode id {}", mode.0)))
        };
        let current = m.current.map(name).transpose()?;
        let recent = m
            .recent
            .iter()
            .map(|t| {
                Ok((
                    t.seq,
                    t.at.as_secs_f64(),
                    t.from.map(name).transpose()?,
                    name(t.to)?,
                ))
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok((current, m.transitions, recent))
    }

    fn snapshot_tuple(&self, py: Python<'_>, s: Snapshot) -> PyResult<SnapshotTuple> {
        let mode = self.mode_tuple(py, &s.mode)?;
        Ok((
            s.taken_at.as_secs_f64(),
            s.since_reset.as_secs_f64(),
            latency_tuple(&s.latency),
            throughput_tuple(&s.throughput),
            batch_tuple(s.batch),
            queue_tuple(&s.queue_depth),
            mode,
        ))
    }

    /// The id of `mode`, interned on first sight.
    fn mode_id(&self, mode: &Bound<'_, PyAny>) -> PyResult<u16> {
        let py = mode.py();
        let s = mode.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "mode must be a str, not {}",
                mode.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|_| "?".into())
            ))
        })?;
        // Reads the str's own UTF-8 buffer: no Python code runs, even for
        // a str subclass (an Enum's __hash__, say).
        let text = s.to_str()?;
        let interner = self.modes.bind(py);
        if let Some(&id) = interner.try_borrow().map_err(|_| busy())?.ids.get(text) {
            return Ok(id);
        }
        // A new mode: allocate its exact str before borrowing mutably, then
        // check again (the allocation may have let another thread in).
        let stored = PyString::new(py, text).unbind();
        let mut table = interner.try_borrow_mut().map_err(|_| busy())?;
        if let Some(&id) = table.ids.get(text) {
            return Ok(id);
        }
        let Ok(id) = u16::try_from(table.names.len()) else {
            return Err(PyValueError::new_err(format!(
                "too many distinct modes: a collector holds at most {MAX_MODES}"
            )));
        };
        table.ids.insert(text.into(), id);
        table.names.push(stored);
        Ok(id)
    }
}

#[pymethods]
impl Collector {
    /// `window_sizes_s`: throughput windows in seconds (default 1, 10, 60);
    /// each a multiple of `window_resolution_s` (default 0.1).
    #[new]
    #[pyo3(signature = (
        window_sizes_s = None,
        strategy = "sharded",
        *,
        window_resolution_s = None,
        max_latency_ms = None,
        significant_digits = None,
        max_batch_size = None,
        max_queue_depth = None,
        transition_log = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        window_sizes_s: Option<Vec<f64>>,
        strategy: &str,
        window_resolution_s: Option<f64>,
        max_latency_ms: Option<f64>,
        significant_digits: Option<u8>,
        max_batch_size: Option<usize>,
        max_queue_depth: Option<u64>,
        transition_log: Option<usize>,
    ) -> PyResult<Self> {
        let Some(&strategy) = STRATEGIES.iter().find(|&&s| s == strategy) else {
            return Err(PyValueError::new_err(format!(
                "unknown strategy {strategy:?}: choose one of {}",
                STRATEGIES.join(", ")
            )));
        };
        let mut b = Config::builder();
        if let Some(windows) = window_sizes_s {
            let windows = windows
                .into_iter()
                .map(|w| seconds("each of window_sizes_s", w))
                .collect::<PyResult<Vec<_>>>()?;
            b = b.windows(windows);
        }
        if let Some(r) = window_resolution_s {
            b = b.window_resolution(seconds("window_resolution_s", r)?);
        }
        if let Some(ms) = max_latency_ms {
            b = b.latency_range(
                Duration::from_micros(1),
                seconds("max_latency_ms", ms / 1e3)?,
            );
        }
        if let Some(d) = significant_digits {
            b = b.significant_digits(d);
        }
        if let Some(n) = max_batch_size {
            b = b.max_batch_size(n);
        }
        if let Some(n) = max_queue_depth {
            b = b.max_queue_depth(n);
        }
        if let Some(n) = transition_log {
            b = b.transition_log(n);
        }
        let config = b
            .build()
            .map_err(|e| PyValueError::new_err(format!("invalid configuration: {e}")))?;
        let inner: Box<dyn MetricsCollector> = match strategy {
            "global" => Box::new(GlobalLock::new(config)),
            "fine" => Box::new(FineGrained::new(config)),
            "atomic" => Box::new(Atomic::new(config)),
            "ring" => Box::new(Ring::new(config)),
            _ => Box::new(Sharded::new(config)),
        };
        Ok(Collector {
            inner,
            strategy,
            modes: Py::new(py, Interner::default())?,
        })
    }

    /// The strategy's name.
    #[getter]
    fn strategy(&self) -> &'static str {
        self.strategy
    }

    /// The throughput windows, in seconds, shortest first.
    #[getter]
    fn window_sizes_s(&self) -> Vec<f64> {
        let mut w: Vec<f64> = self
            .inner
            .config()
            .windows()
            .iter()
            .map(Duration::as_secs_f64)
            .collect();
        w.sort_by(f64::total_cmp);
        w
    }

    /// Records one request latency in milliseconds (finite, >= 0; above
    /// the configured maximum it is recorded as the maximum and counted in
    /// `clamped`).
    fn record_latency(&self, latency_ms: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.record_latency_ns(latency_ns(latency_ms)?);
        Ok(())
    }

    /// Records generated tokens and completed requests.
    #[pyo3(signature = (tokens, requests = None))]
    fn record_throughput(
        &self,
        tokens: &Bound<'_, PyAny>,
        requests: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let tokens = count("tokens", tokens)?;
        let requests = match requests {
            Some(r) => count("requests", r)?,
            None => 1,
        };
        self.inner.record_throughput(tokens, requests);
        Ok(())
    }

    /// Records a batch size.
    fn record_batch_size(&self, size: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.record_batch_size(self::size("size", size)?);
        Ok(())
    }

    /// Records the queue depth.
    fn record_queue_depth(&self, depth: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.record_queue_depth(size("depth", depth)?);
        Ok(())
    }

    /// Records a finished request's five records in one call: the same as
    /// `record_latency`, `record_throughput`, `record_batch_size`,
    /// `record_queue_depth` and `record_mode_transition`, in that order
    /// (the engine's `record_request`: one shard lookup and one clock
    /// reading with "sharded"). Every argument is checked before anything
    /// is recorded, so a bad one records nothing.
    #[pyo3(signature = (latency_ms, tokens, batch_size, queue_depth, mode, requests = None))]
    fn record_request(
        &self,
        latency_ms: &Bound<'_, PyAny>,
        tokens: &Bound<'_, PyAny>,
        batch_size: &Bound<'_, PyAny>,
        queue_depth: &Bound<'_, PyAny>,
        mode: &Bound<'_, PyAny>,
        requests: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let request = RequestRecord {
            latency: Duration::from_nanos(latency_ns(latency_ms)?),
            tokens: count("tokens", tokens)?,
            requests: match requests {
                Some(r) => count("requests", r)?,
                None => 1,
            },
            batch_size: size("batch_size", batch_size)?,
            queue_depth: size("queue_depth", queue_depth)?,
            mode: Mode(self.mode_id(mode)?),
        };
        self.inner.record_request(&request);
        Ok(())
    }

    /// Records the scheduler's mode; a change of mode is a transition (the
    /// first mode counts as one).
    fn record_mode_transition(&self, mode: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = self.mode_id(mode)?;
        self.inner.record_mode_transition(Mode(id));
        Ok(())
    }

    fn _latency(&self, py: Python<'_>) -> LatencyTuple {
        latency_tuple(&py.detach(|| self.inner.latency()))
    }

    fn _throughput(&self, py: Python<'_>) -> ThroughputTuple {
        throughput_tuple(&py.detach(|| self.inner.throughput()))
    }

    fn _batch(&self, py: Python<'_>) -> BatchTuple {
        batch_tuple(py.detach(|| self.inner.batch()))
    }

    fn _queue_depth(&self, py: Python<'_>) -> QueueTuple {
        queue_tuple(&py.detach(|| self.inner.queue_depth()))
    }

    fn _mode(&self, py: Python<'_>) -> PyResult<ModeTuple> {
        let m = py.detach(|| self.inner.mode());
        self.mode_tuple(py, &m)
    }

    fn _snapshot(&self, py: Python<'_>) -> PyResult<SnapshotTuple> {
        let s = py.detach(|| self.inner.snapshot());
        self.snapshot_tuple(py, s)
    }

    fn _take_interval(&self, py: Python<'_>) -> PyResult<SnapshotTuple> {
        let s = py.detach(|| self.inner.take_interval());
        self.snapshot_tuple(py, s)
    }

    /// Clears every metric; keeps the configuration, the current mode and
    /// the interned mode strings.
    fn reset(&self, py: Python<'_>) {
        py.detach(|| self.inner.reset());
    }
}

/// The native half of `lockfree_metrics`.
#[pymodule(gil_used = true)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Collector>()?;
    m.add("STRATEGIES", STRATEGIES.to_vec())?;
    m.add("MAX_MODES", MAX_MODES)?;
    Ok(())
}

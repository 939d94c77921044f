"""The seed scheduler's ``MetricsCollector`` API on the lockfree-metrics engine.

``MetricsCollector`` records from any thread with no lock beyond the GIL (with
the default ``"sharded"`` strategy) and reads with the GIL released. Readings
come back as the frozen dataclasses below; ``snapshot()`` is one consistent
reading of everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Union

try:
    from ._native import MAX_MODES, STRATEGIES, Collector as _Collector
except ImportError as _e:  # the source folder, or a build without the extension
    import os as _os

    raise ImportError(
        "lockfree_metrics: the native extension (lockfree_metrics._native) is "
        f"missing from {_os.path.dirname(__file__)}. This is the package's "
        "source folder, not an installed package: install it with "
        "`pip install ./python` from the repository root (or `pip install .` "
        "in python/), then import it from any folder but python/, whose "
        "source copy would shadow the installed one."
    ) from _e

__all__ = [
    "MetricsCollector",
    "LatencyMetrics",
    "WindowThroughput",
    "ThroughputMetrics",
    "BatchMetrics",
    "QueueDepthMetrics",
    "Transition",
    "ModeMetrics",
    "Snapshot",
    "STRATEGIES",
    "MAX_MODES",
]

_NS_PER_MS = 1e6


@dataclass(frozen=True)
class LatencyMetrics:
    """Latency since the last reset, in milliseconds.

    ``min_ms`` and ``max_ms`` are the exact smallest and largest latency
    recorded (to the nanosecond), but that with the ``atomic`` and
    ``sharded`` strategies a reading racing a ``reset`` may show the HDR
    bucket's bound instead. Percentiles come from an HDR histogram: each
    within 1/128 of the exact value at the default 2 significant digits.
    ``clamped`` counts latencies above the configured maximum (1 h by
    default), recorded as that maximum.
    """

    p50_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    min_ms: float
    max_ms: float
    mean_ms: float
    count: int
    clamped: int = 0


class WindowThroughput(NamedTuple):
    """Tokens and requests recorded in the last ``window_s`` seconds, and
    their rates over ``covered_s``, the time the window covers: ``window_s``
    less the unelapsed part of the current slot once the window is full,
    and only the time since the last reset (or creation) before that, so
    a window not yet full shows the rate it saw rather than a fraction of
    it. Rates are 0 while ``covered_s`` is 0. A named tuple, like ``Transition``: readings build many of them, and a
    tuple is built several times faster than a frozen dataclass."""

    window_s: Union[int, float]
    tokens: int
    requests: int
    tokens_per_s: float
    requests_per_s: float
    covered_s: float


@dataclass(frozen=True)
class ThroughputMetrics:
    """``windows`` maps each window's length in seconds (an ``int`` when
    whole) to its ``WindowThroughput``, shortest first; totals are since the
    last reset. ``clamped`` counts calls cut by a saturated counter."""

    windows: Dict[Union[int, float], WindowThroughput]
    total_tokens: int
    total_requests: int
    clamped: int = 0


@dataclass(frozen=True)
class BatchMetrics:
    """Batch sizes since the last reset; ``distribution`` maps size to count.
    ``clamped`` counts sizes above ``max_batch_size``, recorded as it."""

    current_size: int
    min_size: int
    max_size: int
    mean_size: float
    distribution: Dict[int, int]
    count: int = 0
    clamped: int = 0


@dataclass(frozen=True)
class QueueDepthMetrics:
    """Queue depths since the last reset (``current`` is 0 before the first).
    ``clamped`` counts depths above ``max_queue_depth``, recorded as it."""

    current: int
    max: int
    mean: float
    count: int
    clamped: int = 0


class Transition(NamedTuple):
    """One change of mode: ``seq`` numbers changes from 1 and is not reset;
    ``at_s`` is on the collector's clock; ``from_mode`` is None for the first."""

    seq: int
    at_s: float
    from_mode: Optional[str]
    to_mode: str


@dataclass(frozen=True)
class ModeMetrics:
    """The current mode (kept across resets), the changes since the last
    reset (the first mode ever recorded counts as one) and the most recent
    of them, oldest first."""

    current_mode: Optional[str]
    transitions: int
    recent: List[Transition] = field(default_factory=list)


@dataclass(frozen=True)
class Snapshot:
    """Every metric from one reading."""

    latency: LatencyMetrics
    throughput: ThroughputMetrics
    batch: BatchMetrics
    queue_depth: QueueDepthMetrics
    mode: ModeMetrics
    taken_at_s: float
    since_reset_s: float


def _latency(t) -> LatencyMetrics:
    count, lo, hi, mean, p50, p95, p99, p999, clamped = t
    ms = _NS_PER_MS
    return LatencyMetrics(
        p50_ms=p50 / ms,
        p95_ms=p95 / ms,
        p99_ms=p99 / ms,
        p999_ms=p999 / ms,
        min_ms=lo / ms,
        max_ms=hi / ms,
        mean_ms=mean / ms,
        count=count,
        clamped=clamped,
    )


def _window_key(seconds: float) -> Union[int, float]:
    return int(seconds) if seconds.is_integer() else seconds


def _throughput(t) -> ThroughputMetrics:
    windows, total_tokens, total_requests, clamped = t
    return ThroughputMetrics(
        windows={
            _window_key(w): WindowThroughput(_window_key(w), tok, req, tps, rps, cov)
            for w, cov, tok, req, tps, rps in windows
        },
        total_tokens=total_tokens,
        total_requests=total_requests,
        clamped=clamped,
    )


def _batch(t) -> BatchMetrics:
    count, current, lo, hi, mean, distribution, clamped = t
    return BatchMetrics(
        current_size=0 if current is None else current,
        min_size=lo,
        max_size=hi,
        mean_size=mean,
        distribution=distribution,
        count=count,
        clamped=clamped,
    )


def _queue(t) -> QueueDepthMetrics:
    count, current, hi, mean, clamped = t
    return QueueDepthMetrics(
        current=0 if current is None else current,
        max=hi,
        mean=mean,
        count=count,
        clamped=clamped,
    )


def _mode(t) -> ModeMetrics:
    current, transitions, recent = t
    return ModeMetrics(current, transitions, list(map(Transition._make, recent)))


def _snapshot(t) -> Snapshot:
    taken_at, since_reset, lat, thr, batch, queue, mode = t
    return Snapshot(
        latency=_latency(lat),
        throughput=_throughput(thr),
        batch=_batch(batch),
        queue_depth=_queue(queue),
        mode=_mode(mode),
        taken_at_s=taken_at,
        since_reset_s=since_reset,
    )


class MetricsCollector(_Collector):
    """``MetricsCollector(window_sizes_s=None, strategy="sharded", *,
    window_resolution_s=None, max_latency_ms=None, significant_digits=None,
    max_batch_size=None, max_queue_depth=None, transition_log=None)``

    ``window_sizes_s``: throughput windows in seconds (default ``[1, 10,
    60]``), each a multiple of ``window_resolution_s`` (default 0.1).
    ``strategy``: one of ``STRATEGIES`` (``"global"``, ``"fine"``,
    ``"atomic"``, ``"sharded"``, ``"ring"``). A bad value raises ``ValueError``.

    The record methods are the native ones, called directly:
    ``record_latency(latency_ms)``, ``record_throughput(tokens,
    requests=1)``, ``record_batch_size(size)``, ``record_queue_depth(depth)``,
    ``record_mode_transition(mode)`` (a ``str``; at most ``MAX_MODES``
    distinct ones), and ``record_request(latency_ms, tokens, batch_size,
    queue_depth, mode, requests=1)``, the five in one call (checked whole
    before anything is recorded). Negative, NaN or infinite latencies, negative integers or
    integers past 2**64 - 1 and wrong types raise ``ValueError``,
    ``OverflowError`` or ``TypeError``; values above the configured maxima
    are clamped to them and counted in the readings' ``clamped`` fields.
    """

    __slots__ = ()

    def get_latency_metrics(self) -> LatencyMetrics:
        """Latency percentiles since the last reset."""
        return _latency(self._latency())

    def get_throughput_metrics(self) -> ThroughputMetrics:
        """Tokens/s and requests/s per window, and totals."""
        return _throughput(self._throughput())

    def get_batch_metrics(self) -> BatchMetrics:
        """Batch sizes since the last reset."""
        return _batch(self._batch())

    def get_queue_depth(self) -> int:
        """The most recently recorded queue depth (0 before the first)."""
        current = self._queue_depth()[1]
        return 0 if current is None else current

    def get_queue_depth_metrics(self) -> QueueDepthMetrics:
        """Queue depths since the last reset."""
        return _queue(self._queue_depth())

    def get_mode(self) -> ModeMetrics:
        """The current mode and the transitions since the last reset."""
        return _mode(self._mode())

    def snapshot(self) -> Snapshot:
        """Every metric from one reading of the engine."""
        return _snapshot(self._snapshot())

    def take_interval(self) -> Snapshot:
        """A snapshot and a reset in one step: each count lands in exactly
        one interval."""
        return _snapshot(self._take_interval())

    def __repr__(self) -> str:
        return (
            f"MetricsCollector(window_sizes_s={self.window_sizes_s!r}, "
            f"strategy={self.strategy!r})"
        )

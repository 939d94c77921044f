"""The seed's MetricsCollector semantics, on every strategy of the engine.

Each test bounds its own time with ``bounded``: a hang fails instead of
stalling CI (pytest-timeout is not a dependency).
"""

from __future__ import annotations

import functools
import math
import threading
import time

import pytest

import lockfree_metrics as lm
from lockfree_metrics import MetricsCollector

STRATEGIES = ["global", "fine", "atomic", "sharded", "ring"]
# 2 significant digits: every percentile within 1/128 of the exact value.
HDR_REL = 1 / 128


def bounded(seconds: float):
    """Fails the test if it runs longer than ``seconds`` (run in a thread)."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            outcome = {}

            def target():
                try:
                    fn(*args, **kwargs)
                except BaseException as e:  # re-raised in the test's thread
                    outcome["error"] = e

            t = threading.Thread(target=target, daemon=True)
            t.start()
            t.join(seconds)
            if t.is_alive():
                pytest.fail(f"{fn.__name__} ran past {seconds} s")
            if "error" in outcome:
                raise outcome["error"]

        return run

    return wrap


def exact_percentile(sorted_values, q):
    """The value at quantile ``q``: the smallest with at least q*n at or below."""
    n = len(sorted_values)
    rank = max(1, math.ceil(q * n))
    return sorted_values[rank - 1]


@pytest.fixture(params=STRATEGIES)
def strategy(request):
    return request.param


@bounded(10)
def test_empty_collector_reads_zeros(strategy):
    m = MetricsCollector(strategy=strategy)
    lat = m.get_latency_metrics()
    assert lat.count == 0 and lat.p50_ms == 0 and lat.max_ms == 0
    b = m.get_batch_metrics()
    assert (b.current_size, b.min_size, b.max_size, b.mean_size, b.distribution) == (
        0,
        0,
        0,
        0.0,
        {},
    )
    assert m.get_queue_depth() == 0
    mode = m.get_mode()
    assert mode.current_mode is None and mode.transitions == 0 and mode.recent == []
    t = m.get_throughput_metrics()
    assert list(t.windows) == [1, 10, 60]
    assert t.total_tokens == 0


@bounded(20)
def test_percentiles_within_hdr_precision(strategy):
    m = MetricsCollector(strategy=strategy)
    # Latencies from 0.05 ms to 5 s, spread log-uniformly, deterministic.
    values = [0.05 * (1.0001**i) for i in range(0, 100_000, 7)]
    for v in values:
        m.record_latency(v)
    lat = m.get_latency_metrics()
    values.sort()
    assert lat.count == len(values)
    for q, got in [(0.50, lat.p50_ms), (0.95, lat.p95_ms), (0.99, lat.p99_ms), (0.999, lat.p999_ms)]:
        exact = exact_percentile(values, q)
        assert got == pytest.approx(exact, rel=HDR_REL), q
    # min and max are exact, to the nanosecond the engine records.
    assert lat.min_ms == round(values[0] * 1e6) / 1e6
    assert lat.max_ms == round(values[-1] * 1e6) / 1e6
    assert lat.mean_ms == pytest.approx(sum(values) / len(values), rel=1e-6)
    assert lat.min_ms <= lat.p50_ms <= lat.p95_ms <= lat.p99_ms <= lat.p999_ms <= lat.max_ms


@bounded(20)
def test_min_and_max_are_exact(strategy):
    m = MetricsCollector(strategy=strategy)
    m.record_latency(1.0)
    m.record_latency(1.234567)
    lat = m.get_latency_metrics()
    # Not the HDR bucket's bounds (1.0 ms was 0.999424 ms).
    assert (lat.min_ms, lat.max_ms) == (1.0, 1.234567)
    m.reset()

    def work(k):
        for i in range(2_000):
            m.record_latency(2.0 + ((k * 7919 + i * 104729) % 50_000) / 1e3)
            m.record_queue_depth((k * 31 + i) % 4_000)
            if k == 2 and i == 1_000:
                m.record_latency(1.000001)
                m.record_latency(987.654321)
                m.record_queue_depth(4_097)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat = m.get_latency_metrics()
    assert lat.count == 8_002
    assert (lat.min_ms, lat.max_ms) == (1.000001, 987.654321)
    assert m.get_queue_depth_metrics().max == 4_097


@bounded(10)
def test_throughput_windows(strategy):
    m = MetricsCollector([1, 5], strategy=strategy)
    m.record_throughput(100)
    m.record_throughput(50, 2)
    t = m.get_throughput_metrics()
    assert list(t.windows) == [1, 5]
    assert t.total_tokens == 150 and t.total_requests == 3
    one, five = t.windows[1], t.windows[5]
    assert (one.tokens, one.requests) == (150, 3)
    # Neither window is full: both cover the time since creation, and their
    # rates are over it.
    assert 0 < one.covered_s == five.covered_s < 1
    assert one.tokens_per_s == pytest.approx(150 / one.covered_s)
    assert one.requests_per_s == pytest.approx(3 / one.covered_s)
    assert five.tokens_per_s == one.tokens_per_s
    assert five.requests_per_s == one.requests_per_s


@bounded(10)
def test_window_rate_is_over_the_time_covered(strategy):
    m = MetricsCollector([0.2, 60], strategy=strategy, window_resolution_s=0.1)
    time.sleep(0.35)
    m.record_throughput(700)
    t = m.get_throughput_metrics()
    short, long = t.windows[0.2], t.windows[60]
    # The 0.2 s window is full: its slot before the current one, and the
    # current one's elapsed part.
    assert 0.1 <= short.covered_s <= 0.2
    assert short.tokens_per_s == pytest.approx(700 / short.covered_s)
    # The 60 s window covers only the time since creation, not 60 s.
    assert 0.35 <= long.covered_s < 5
    assert long.tokens_per_s == pytest.approx(700 / long.covered_s)
    assert long.tokens_per_s > 700 / 5


@bounded(10)
def test_throughput_window_expires(strategy):
    m = MetricsCollector([0.2, 10], strategy=strategy)
    m.record_throughput(10)
    time.sleep(0.5)
    t = m.get_throughput_metrics()
    assert t.windows[0.2].tokens == 0
    assert t.windows[10].tokens == 10
    assert t.total_tokens == 10


@bounded(10)
def test_batch_distribution(strategy):
    m = MetricsCollector(strategy=strategy)
    for size in [4, 8, 8, 16, 8, 1]:
        m.record_batch_size(size)
    b = m.get_batch_metrics()
    assert b.current_size == 1
    assert (b.min_size, b.max_size) == (1, 16)
    assert b.mean_size == pytest.approx(45 / 6)
    assert b.distribution == {1: 1, 4: 1, 8: 3, 16: 1}
    assert b.count == 6


@bounded(10)
def test_queue_depth(strategy):
    m = MetricsCollector(strategy=strategy)
    for d in [3, 10, 0, 7]:
        m.record_queue_depth(d)
    assert m.get_queue_depth() == 7
    q = m.get_queue_depth_metrics()
    assert (q.current, q.max, q.count) == (7, 10, 4)
    assert q.mean == pytest.approx(5.0)


@bounded(10)
def test_mode_strings_and_transitions(strategy):
    m = MetricsCollector(strategy=strategy)
    for mode in ["batch", "batch", "direct", "direct", "batch", "hybrid"]:
        m.record_mode_transition(mode)
    mode = m.get_mode()
    assert mode.current_mode == "hybrid"
    # The first mode counts as a transition; repeats do not.
    assert mode.transitions == 4
    assert [(t.from_mode, t.to_mode) for t in mode.recent] == [
        (None, "batch"),
        ("batch", "direct"),
        ("direct", "batch"),
        ("batch", "hybrid"),
    ]
    assert [t.seq for t in mode.recent] == [1, 2, 3, 4]
    ats = [t.at_s for t in mode.recent]
    assert ats == sorted(ats)


@bounded(10)
def test_mode_str_subclass_and_unicode(strategy):
    import enum

    class Mode(str, enum.Enum):
        FAST = "fast"

    m = MetricsCollector(strategy=strategy)
    m.record_mode_transition(Mode.FAST)
    m.record_mode_transition("fast")  # the same mode: its text
    m.record_mode_transition("schnell-ß-🚀")
    mode = m.get_mode()
    assert mode.transitions == 2
    assert mode.current_mode == "schnell-ß-🚀"
    assert type(mode.recent[0].to_mode) is str and mode.recent[0].to_mode == "fast"


@bounded(60)
def test_too_many_modes_is_a_value_error():
    m = MetricsCollector()
    for i in range(lm.MAX_MODES):
        m.record_mode_transition(f"m{i}")
    m.record_mode_transition("m0")  # known modes still work
    with pytest.raises(ValueError, match="too many distinct modes"):
        m.record_mode_transition("one more")
    assert m.get_mode().current_mode == "m0"


@bounded(10)
def test_reset(strategy):
    m = MetricsCollector(strategy=strategy)
    m.record_latency(5.0)
    m.record_throughput(10)
    m.record_batch_size(4)
    m.record_queue_depth(2)
    m.record_mode_transition("a")
    m.reset()
    s = m.snapshot()
    assert s.latency.count == 0
    assert s.throughput.total_tokens == 0
    assert s.batch.distribution == {} and s.batch.current_size == 0
    assert s.queue_depth.count == 0
    # The mode is the scheduler's state: kept, with no transitions counted.
    assert s.mode.current_mode == "a" and s.mode.transitions == 0
    m.record_mode_transition("a")
    assert m.get_mode().transitions == 0
    m.record_mode_transition("b")
    assert m.get_mode().transitions == 1


@bounded(10)
def test_snapshot_and_take_interval(strategy):
    m = MetricsCollector(strategy=strategy)
    for i in range(10):
        m.record_latency(float(i))
        m.record_throughput(2)
    s = m.take_interval()
    assert s.latency.count == 10 and s.throughput.total_tokens == 20
    assert s.taken_at_s >= s.since_reset_s >= 0
    assert m.snapshot().latency.count == 0


@bounded(10)
def test_bad_input(strategy):
    m = MetricsCollector(strategy=strategy)
    for bad in [-1.0, -1e-9, math.nan, math.inf, -math.inf]:
        with pytest.raises(ValueError, match="latency_ms"):
            m.record_latency(bad)
    # A wrong type names the argument and the type given.
    with pytest.raises(TypeError, match="latency_ms must be a real number .*, not str"):
        m.record_latency("5")
    with pytest.raises(TypeError, match="latency_ms must be a real number .*, not NoneType"):
        m.record_latency(None)
    with pytest.raises(OverflowError, match="latency_ms"):
        m.record_latency(10**400)
    for method, name in [
        (m.record_throughput, "tokens"),
        (m.record_batch_size, "size"),
        (m.record_queue_depth, "depth"),
    ]:
        with pytest.raises(OverflowError, match=f"{name} must be >= 0"):
            method(-1)
        with pytest.raises(OverflowError, match=f"{name} must be at most"):
            method(2**64)
        with pytest.raises(OverflowError):
            method(-(10**5000))
        with pytest.raises(TypeError, match=f"{name} must be an int, not float"):
            method(1.5)
        with pytest.raises(TypeError):
            method("3")
    with pytest.raises(OverflowError, match="requests must be >= 0"):
        m.record_throughput(1, -1)
    for bad in [None, 3, b"bytes"]:
        with pytest.raises(TypeError, match="mode must be a str"):
            m.record_mode_transition(bad)
    # Nothing was recorded by the refused calls.
    s = m.snapshot()
    assert s.latency.count == 0 and s.throughput.total_tokens == 0
    assert s.batch.count == 0 and s.queue_depth.count == 0 and s.mode.transitions == 0


@bounded(10)
def test_values_above_the_maxima_are_clamped_and_counted(strategy):
    m = MetricsCollector(
        strategy=strategy, max_latency_ms=1000, max_batch_size=64, max_queue_depth=100
    )
    m.record_latency(5000.0)
    m.record_latency(1e300)  # past u64 nanoseconds: saturates, then clamps
    m.record_latency(10.0)
    m.record_batch_size(2**64 - 1)
    m.record_batch_size(65)
    m.record_queue_depth(101)
    m.record_throughput(2**64 - 1)
    m.record_throughput(1)
    s = m.snapshot()
    assert s.latency.count == 3 and s.latency.clamped == 2
    assert s.latency.max_ms == pytest.approx(1000.0, rel=HDR_REL)
    assert s.batch.clamped == 2 and s.batch.distribution == {64: 2}
    assert s.queue_depth.clamped == 1 and s.queue_depth.max == 100
    assert s.throughput.total_tokens == 2**64 - 1
    assert s.throughput.clamped >= 1


@bounded(10)
def test_bad_configuration():
    with pytest.raises(ValueError, match="global, fine, atomic, sharded"):
        MetricsCollector(strategy="lockfree")
    with pytest.raises(ValueError, match="not a multiple of the resolution"):
        MetricsCollector([0.05])
    with pytest.raises(ValueError, match="window_sizes_s"):
        MetricsCollector([0])
    with pytest.raises(ValueError, match="window_sizes_s"):
        MetricsCollector([math.nan])
    with pytest.raises(ValueError, match="at least one throughput window"):
        MetricsCollector([])
    with pytest.raises(TypeError):
        MetricsCollector("1,10")
    assert MetricsCollector([0.05], window_resolution_s=0.05).window_sizes_s == [0.05]
    assert MetricsCollector(strategy="fine").strategy == "fine"


THREADS = 10
PER_THREAD = 2_000


@bounded(60)
def test_threads_count_exactly(strategy):
    m = MetricsCollector(strategy=strategy)
    start = threading.Barrier(THREADS + 1)
    stop_reading = threading.Event()

    def worker(t):
        start.wait()
        for i in range(PER_THREAD):
            m.record_latency(1.0 + (i % 100))
            m.record_throughput(3, 1)
            m.record_batch_size(t)
            m.record_queue_depth(i % 50)
            m.record_mode_transition("even" if t % 2 == 0 else "odd")

    def reader():
        # Readings release the GIL; they must not disturb the counts.
        while not stop_reading.is_set():
            m.snapshot()
            m.get_mode()

    workers = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    r = threading.Thread(target=reader)
    for w in workers:
        w.start()
    r.start()
    start.wait()
    for w in workers:
        w.join()
    stop_reading.set()
    r.join()

    n = THREADS * PER_THREAD
    s = m.snapshot()
    assert s.latency.count == n
    assert s.latency.mean_ms == pytest.approx(sum(1.0 + (i % 100) for i in range(PER_THREAD)) / PER_THREAD)
    assert s.throughput.total_tokens == 3 * n and s.throughput.total_requests == n
    assert s.batch.distribution == {t: PER_THREAD for t in range(THREADS)}
    assert s.queue_depth.count == n and s.queue_depth.max == 49
    assert s.mode.current_mode in ("even", "odd")
    assert 1 <= s.mode.transitions <= n
    assert s.mode.recent[-1].to_mode == s.mode.current_mode


@bounded(60)
def test_threads_intervals_add_up(strategy):
    """Concurrent take_interval: every record lands in exactly one interval."""
    m = MetricsCollector(strategy=strategy)
    done = threading.Event()
    intervals = []

    def worker():
        for _ in range(PER_THREAD):
            m.record_throughput(1, 1)
            m.record_batch_size(2)

    def taker():
        while not done.is_set():
            intervals.append(m.take_interval())
            time.sleep(0.001)

    workers = [threading.Thread(target=worker) for _ in range(THREADS)]
    tk = threading.Thread(target=taker)
    tk.start()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done.set()
    tk.join()
    intervals.append(m.take_interval())
    n = THREADS * PER_THREAD
    assert sum(i.throughput.total_tokens for i in intervals) == n
    assert sum(i.batch.distribution.get(2, 0) for i in intervals) == n


@bounded(30)
def test_mode_interning_under_threads():
    m = MetricsCollector()
    names = [f"mode-{i}" for i in range(200)]

    def worker(offset):
        for i in range(2_000):
            m.record_mode_transition(names[(i + offset) % len(names)])

    workers = [threading.Thread(target=worker, args=(t * 7,)) for t in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    mode = m.get_mode()
    assert mode.current_mode in names
    assert all(t.to_mode in names for t in mode.recent)


@bounded(10)
def test_record_request_is_its_five_records(strategy):
    a = MetricsCollector(strategy=strategy, max_batch_size=64)
    b = MetricsCollector(strategy=strategy, max_batch_size=64)
    for i in range(500):
        latency, tokens, batch, depth = 0.5 + i % 37, i % 300, i % 70, i % 1_000
        mode = ["prefill", "decode", "mixed"][i // 50 % 3]
        a.record_request(latency, tokens, batch, depth, mode, requests=1 + i % 2)
        b.record_latency(latency)
        b.record_throughput(tokens, 1 + i % 2)
        b.record_batch_size(batch)
        b.record_queue_depth(depth)
        b.record_mode_transition(mode)
    sa, sb = a.snapshot(), b.snapshot()
    assert sa.latency == sb.latency
    assert sa.batch == sb.batch and sa.batch.clamped > 0
    assert sa.queue_depth == sb.queue_depth
    assert (sa.throughput.total_tokens, sa.throughput.total_requests) == (
        sb.throughput.total_tokens,
        sb.throughput.total_requests,
    )
    assert (sa.mode.current_mode, sa.mode.transitions) == (
        sb.mode.current_mode,
        sb.mode.transitions,
    )


@bounded(10)
def test_record_request_with_a_bad_argument_records_nothing(strategy):
    m = MetricsCollector(strategy=strategy)
    with pytest.raises(ValueError, match="latency_ms"):
        m.record_request(math.nan, 1, 1, 1, "a")
    with pytest.raises(OverflowError, match="tokens"):
        m.record_request(1.0, -1, 1, 1, "a")
    with pytest.raises(TypeError, match="mode must be a str"):
        m.record_request(1.0, 1, 1, 1, 7)
    with pytest.raises(TypeError, match="latency_ms must be a real number"):
        m.record_request("1.0", 1, 1, 1, "a")
    s = m.snapshot()
    assert (s.latency.count, s.throughput.total_tokens, s.batch.count) == (0, 0, 0)
    assert (s.queue_depth.count, s.mode.transitions) == (0, 0)


@bounded(60)
def test_importing_the_source_folder_says_what_to_do():
    """Run from inside python/, `import lockfree_metrics` finds the source
    folder, which has no extension: the error says how to install it."""
    import pathlib
    import subprocess
    import sys

    source = pathlib.Path(__file__).resolve().parents[1]
    assert (source / "lockfree_metrics" / "__init__.py").exists()
    r = subprocess.run(
        [sys.executable, "-c", "import lockfree_metrics"],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert r.returncode != 0
    assert "pip install ./python" in r.stderr, r.stderr
    assert "source folder" in r.stderr, r.stderr

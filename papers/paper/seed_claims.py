#!/usr/bin/env python3
"""Measurements for the paper's claims table that python/bench/bench.py does
not make: lock hold and wait times, Lock against RLock, ten threads on
different or the same metric, a writer's stalls while a reader reads, a
reset observed half done, and the locks' memory.

The seed's collectors are the ones python/bench/bench.py rebuilds from the
report's code (imported from there, not copied); the extension is this
repository's (``pip install ./python``). Standard library only, besides the
extension. About a minute on a 2-core machine; ``--quick`` for a smoke run.

    python papers/paper/seed_claims.py --out papers/paper/data/seed_claims.json

Every figure printed is also written to the JSON file, with the machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import threading
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python", "bench"))

import bench  # noqa: E402  (the seed's collectors: bench.SeedV141, bench.SeedPhase4)
import lockfree_metrics  # noqa: E402

pc = time.perf_counter_ns
MODES = bench.MODES


# -- Instrumented locks --------------------------------------------------------


class TimedLock:
    """A lock that adds up, per use, the time waited to acquire it and the
    time it was held. Both sums are updated while the lock is held, so they
    need no lock of their own."""

    def __init__(self, inner):
        self.inner = inner
        self.wait_ns = 0
        self.hold_ns = 0
        self.uses = 0
        self._t = 0

    def __enter__(self):
        t0 = pc()
        self.inner.acquire()
        t1 = pc()
        self.wait_ns += t1 - t0
        self._t = t1
        return self

    def __exit__(self, *exc):
        self.hold_ns += pc() - self._t
        self.uses += 1
        self.inner.release()
        return False

    def clear(self):
        self.wait_ns = self.hold_ns = self.uses = 0


LOCK_NAMES = {
    "seed v1.4.1": ["_lock"],
    "seed Phase 4": ["_latency_lock", "_throughput_lock", "_batch_lock", "_queue_lock", "_mode_lock"],
}


def timed(name: str):
    """A seed collector whose locks are TimedLocks; returns (collector, locks)."""
    m = bench.SeedV141() if name == "seed v1.4.1" else bench.SeedPhase4()
    locks = []
    for attr in LOCK_NAMES[name]:
        t = TimedLock(getattr(m, attr))
        setattr(m, attr, t)
        locks.append(t)
    return m, locks


def totals(locks):
    return sum(l.wait_ns for l in locks), sum(l.hold_ns for l in locks), sum(l.uses for l in locks)


def clear(locks):
    for l in locks:
        l.clear()


def record_request(m, i: int):
    m.record_latency(1.0 + (i & 127))
    m.record_throughput(64, 1)
    m.record_batch_size(1 + (i & 31))
    m.record_queue_depth(i & 63)
    m.record_mode_transition(MODES[(i >> 6) % 3])


def fill(m, n: int):
    for i in range(n):
        record_request(m, i)


# -- Measurements --------------------------------------------------------------


def timer_floor(reps: int) -> float:
    """ns a TimedLock adds to an empty block's hold time (one perf_counter_ns)."""
    t = TimedLock(threading.Lock())
    out = []
    for _ in range(reps):
        t.clear()
        for _ in range(20_000):
            with t:
                pass
        out.append(t.hold_ns / t.uses)
    return statistics.median(out)


def lock_cost(n: int, reps: int) -> dict:
    """ns per uncontended `with lock: pass`, Lock and RLock; and ns per
    record_latency of v1.4.1 as printed (RLock) and with a Lock in its place.
    The two run in turn within each repetition; medians, minima (the least
    disturbed repetition) and the median of the per-repetition ratios."""

    def with_block(lk):
        t0 = pc()
        for _ in range(n):
            with lk:
                pass
        return (pc() - t0) / n

    def record(factory):
        m = bench.SeedV141()
        m._lock = factory()
        rec = m.record_latency
        t0 = pc()
        for _ in range(n):
            rec(1.0)
        return (pc() - t0) / n

    bare = {"Lock": [], "RLock": []}
    calls = {"RLock (as printed)": [], "Lock in its place": []}
    empty = []
    for _ in range(reps):
        bare["Lock"].append(with_block(threading.Lock()))
        bare["RLock"].append(with_block(threading.RLock()))
        t0 = pc()
        for _ in range(n):
            pass
        empty.append((pc() - t0) / n)
        calls["RLock (as printed)"].append(record(threading.RLock))
        calls["Lock in its place"].append(record(threading.Lock))
    out = {k: statistics.median(v) for k, v in bare.items()}
    out["min"] = {k: min(v) for k, v in bare.items()}
    out["RLock / Lock, median of per-repetition ratios"] = statistics.median(
        r / l for r, l in zip(bare["RLock"], bare["Lock"]))
    out["empty loop"] = statistics.median(empty)
    out["v1.4.1 record_latency"] = {k: statistics.median(v) for k, v in calls.items()}
    out["v1.4.1 record_latency, RLock / Lock, median of per-repetition ratios"] = statistics.median(
        r / l for r, l in zip(calls["RLock (as printed)"], calls["Lock in its place"]))
    return out


OPS = ["record_latency", "record_throughput", "record_batch_size", "record_queue_depth", "record_mode_transition"]
GETS = ["get_latency_metrics", "get_throughput_metrics", "get_batch_metrics", "get_queue_depth", "get_mode"]


def hold_times(records: int, calls: int, reps: int) -> dict:
    """µs of lock hold and wait per call of each method, one thread, after
    `records` records of each kind (median over reps): `calls` calls of each
    record method, calls / 100 of each get_*, one reset."""
    out = {}
    for name in LOCK_NAMES:
        row = {}
        for op in OPS + GETS + ["reset"]:
            hold, wait = [], []
            for _ in range(reps):
                m, locks = timed(name)
                fill(m, records)
                clear(locks)
                n = 1 if op == "reset" else (calls if op in OPS else max(1, calls // 100))
                fn = getattr(m, op)
                if op in OPS:
                    args = {
                        "record_latency": (2.0,),
                        "record_throughput": (64, 1),
                        "record_batch_size": (8,),
                        "record_queue_depth": (3,),
                        "record_mode_transition": ("batch",),
                    }[op]
                    for _ in range(n):
                        fn(*args)
                else:
                    for _ in range(n):
                        fn()
                w, h, uses = totals(locks)
                hold.append(h / n / 1e3)
                wait.append(w / n / 1e3)
            row[op] = {"hold_us": statistics.median(hold), "wait_us": statistics.median(wait)}
        out[name] = row
    return out


def per_request_locks(threads: int, requests: int, reps: int) -> dict:
    """Per request (the five records), µs waiting for and holding the
    collector's locks, with `threads` threads recording requests at once;
    and the wall time per request over all threads. The two collectors
    alternate within each repetition, so that the machine's load changes
    hit both alike."""
    samples = {name: {"wait": [], "hold": [], "wall": []} for name in LOCK_NAMES}
    for _ in range(reps):
        for name in LOCK_NAMES:
            m, locks = timed(name)
            start = threading.Barrier(threads + 1)

            def worker(k):
                start.wait()
                for i in range(requests):
                    record_request(m, i + k)

            ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
            for t in ts:
                t.start()
            start.wait()
            t0 = pc()
            for t in ts:
                t.join()
            wall = pc() - t0
            w, h, _ = totals(locks)
            n = threads * requests
            samples[name]["wait"].append(w / n / 1e3)
            samples[name]["hold"].append(h / n / 1e3)
            samples[name]["wall"].append(wall / n / 1e3)
    out = {}
    for name, d in samples.items():
        out[name] = {
            "wait_us": statistics.median(d["wait"]),
            "hold_us": statistics.median(d["hold"]),
            "wall_us": statistics.median(d["wall"]),
            "wait_us_range": [min(d["wait"]), max(d["wait"])],
            "hold_us_range": [min(d["hold"]), max(d["hold"])],
        }
    a, b = samples["seed v1.4.1"], samples["seed Phase 4"]
    out["Phase 4 / v1.4.1, median of per-repetition ratios"] = {
        q: statistics.median(y / x for x, y in zip(a[q], b[q])) for q in ["wait", "hold", "wall"]
    }
    return out


COLLECTORS = {
    "seed v1.4.1": bench.SeedV141,
    "seed Phase 4": bench.SeedPhase4,
    "ext sharded": lambda: lockfree_metrics.MetricsCollector(strategy="sharded"),
    "ext fine": lambda: lockfree_metrics.MetricsCollector(strategy="fine"),
    "ext global": lambda: lockfree_metrics.MetricsCollector(strategy="global"),
}

KIND_CALLS = [
    lambda m, i: m.record_latency(1.0 + (i & 127)),
    lambda m, i: m.record_throughput(64, 1),
    lambda m, i: m.record_batch_size(1 + (i & 31)),
    lambda m, i: m.record_queue_depth(i & 63),
    lambda m, i: m.record_mode_transition(MODES[(i >> 6) % 3]),
]


def ten_threads(threads: int, per_thread: int, reps: int) -> dict:
    """Wall ms for `threads` threads making `per_thread` records each, on
    different metrics (thread t records kind t mod 5) and on the same metric
    (latency), and for the different-metrics records made by one thread.
    Every collector and mode runs once per repetition, in turn, so that the
    machine's load changes hit them alike; ratios are taken within a
    repetition."""

    def one(make, mode):
        m = make()
        if mode == "one thread":
            calls = [KIND_CALLS[t % 5] for t in range(threads)]
            t0 = pc()
            for t in range(threads):
                call = calls[t]
                for i in range(per_thread):
                    call(m, i)
            return (pc() - t0) / 1e6
        start = threading.Barrier(threads + 1)

        def worker(t):
            call = KIND_CALLS[t % 5] if mode == "different" else KIND_CALLS[0]
            start.wait()
            for i in range(per_thread):
                call(m, i)

        ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        for t in ts:
            t.start()
        start.wait()
        t0 = pc()
        for t in ts:
            t.join()
        return (pc() - t0) / 1e6

    modes = ["different", "same", "one thread"]
    samples = {mode: {name: [] for name in COLLECTORS} for mode in modes}
    for _ in range(reps):
        for mode in modes:
            for name, make in COLLECTORS.items():
                samples[mode][name].append(one(make, mode))
    out = {}
    for mode in modes:
        out[mode] = {name: {"median_ms": statistics.median(v), "min_ms": min(v), "max_ms": max(v)}
                     for name, v in samples[mode].items()}
    ratio = lambda a, b: statistics.median(x / y for x, y in zip(a, b))
    out["ratios (median of per-repetition ratios)"] = {
        "v1.4.1 / Phase 4, different": ratio(samples["different"]["seed v1.4.1"], samples["different"]["seed Phase 4"]),
        "v1.4.1 / Phase 4, same": ratio(samples["same"]["seed v1.4.1"], samples["same"]["seed Phase 4"]),
        "ten / one thread, v1.4.1": ratio(samples["different"]["seed v1.4.1"], samples["one thread"]["seed v1.4.1"]),
        "ten / one thread, Phase 4": ratio(samples["different"]["seed Phase 4"], samples["one thread"]["seed Phase 4"]),
    }
    return out


def writer_stalls(records: int, secs: float) -> dict:
    """One writer times each record_latency call for `secs` while a reader
    calls get_latency_metrics() in a loop on a collector holding `records`
    latencies (and, as a baseline, with no reader). Per-call wall ns: p50,
    p99, max; calls over 1 ms; reads made."""
    out = {}
    for name, make in COLLECTORS.items():
        for reader_on in [False, True]:
            m = make()
            for i in range(records):
                m.record_latency(1.0 + (i % 1000))
            stop = threading.Event()
            reads = [0]

            def reader():
                g = m.get_latency_metrics
                while not stop.is_set():
                    g()
                    reads[0] += 1

            r = threading.Thread(target=reader) if reader_on else None
            if r:
                r.start()
                time.sleep(0.02)
            lat = []
            rec = m.record_latency
            end = pc() + int(secs * 1e9)
            while True:
                t0 = pc()
                rec(5.0)
                t1 = pc()
                lat.append(t1 - t0)
                if t1 > end:
                    break
            stop.set()
            if r:
                r.join()
            lat.sort()
            key = f"{name}, {'reader' if reader_on else 'no reader'}"
            out[key] = {
                "calls": len(lat),
                "p50_ns": lat[len(lat) // 2],
                "p99_ns": lat[int(len(lat) * 0.99)],
                "max_ns": lat[-1],
                "over_1ms": sum(1 for x in lat if x > 1_000_000),
                "reads": reads[0],
                "calls_per_s": len(lat) / secs,
            }
    return out


def half_reset_frozen() -> dict:
    """Phase 4's reset stopped between its blocks (the test holds the batch
    lock, so the reset has cleared latency and throughput and waits there):
    what a reader sees meanwhile."""
    m = bench.SeedPhase4()
    fill(m, 1000)
    before = {"latency_count": m.get_latency_metrics().count, "queue_depth": m.get_queue_depth(),
              "transitions": m.get_mode()[1]}
    m._batch_lock.acquire()
    t = threading.Thread(target=m.reset)
    t.start()
    deadline = time.monotonic() + 5
    while len(m._latencies) and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(0.01)
    during = {"latency_count": m.get_latency_metrics().count,
              "throughput_entries": sum(len(w["tokens"]) for w in m._throughput_windows.values()),
              "queue_depth": m.get_queue_depth(), "transitions": m.get_mode()[1],
              "batch_sizes": len(m._batch_sizes)}
    m._batch_lock.release()
    t.join(5)
    after = {"latency_count": m.get_latency_metrics().count, "queue_depth": m.get_queue_depth(),
             "transitions": m.get_mode()[1]}
    return {"before": before, "during (reset paused at the batch lock)": during, "after": after}


def half_reset_race(n: int, secs: float) -> dict:
    """A resetter thread loops {reset(); record n requests}, a reader loops
    over one view of two metrics (latency count and batch count, which every
    request adds to alike). A view whose two counts differ by more than n/2
    is torn. A view during which no record was in flight (the resetter was
    not filling when the view began, and had begun and finished no fill when
    it ended) can overlap only a reset: a torn one of those saw a reset half
    done, with no writer running. Seed collectors: two get_* calls (v1.4.1
    also with its RLock held around both, which its reentrancy allows); the
    extension: one snapshot()."""

    def seed_view(m):
        lat = m.get_latency_metrics().count
        b = sum(m.get_batch_metrics().distribution.values())
        return lat, b

    def seed_view_locked(m):
        with m._lock:
            return seed_view(m)

    def ext_view(m):
        s = m.snapshot()
        return s.latency.count, s.batch.count

    cases = [
        ("seed v1.4.1, two get_* calls", bench.SeedV141, seed_view),
        ("seed v1.4.1, two get_* calls under its RLock", bench.SeedV141, seed_view_locked),
        ("seed Phase 4, two get_* calls", bench.SeedPhase4, seed_view),
    ] + [
        (f"ext {s}, snapshot()", (lambda s=s: lockfree_metrics.MetricsCollector(strategy=s)), ext_view)
        for s in ["global", "fine", "atomic", "sharded"]
    ]
    out = {}
    for label, make, view in cases:
        m = make()
        fill(m, n)
        stop = threading.Event()
        resets = [0]
        fills = [0, 0]  # begun, done: only the resetter writes them

        def resetter():
            is_ext = hasattr(m, "record_request")
            while not stop.is_set():
                m.reset()
                resets[0] += 1
                fills[0] += 1
                if is_ext:
                    rr = m.record_request
                    for i in range(n):
                        rr(1.0 + (i & 127), 64, 1 + (i & 31), i & 63, MODES[(i >> 6) % 3])
                else:
                    fill(m, n)
                fills[1] += 1

        t = threading.Thread(target=resetter)
        t.start()
        views = torn = quiet = quiet_torn = 0
        worst = 0
        end = time.monotonic() + secs
        while time.monotonic() < end:
            b0, d0 = fills
            a, b = view(m)
            b1, d1 = fills
            views += 1
            d = abs(a - b)
            worst = max(worst, d)
            if d > n // 2:
                torn += 1
            if b0 == d0 == b1 == d1:
                quiet += 1
                if d > 0:
                    quiet_torn += 1
        stop.set()
        t.join()
        out[label] = {"views": views, "straddling_a_reset": torn, "largest_difference": worst, "resets": resets[0],
                      "views_with_no_record_in_flight": quiet, "of_those_unequal": quiet_torn}
    return out


def deadlock_free(secs: float) -> dict:
    """Four threads record, read and reset Phase 4 for `secs`, once with the
    reset's blocks in the printed order and once reversed; each run must end
    within a deadline."""

    class Reversed(bench.SeedPhase4):
        def reset(self):
            with self._mode_lock:
                self._mode_transitions = 0
                self._current_mode = None
            with self._queue_lock:
                self._queue_depths.clear()
            with self._batch_lock:
                self._batch_sizes.clear()
                self._batch_distribution.clear()
            with self._throughput_lock:
                for w in self._throughput_windows.values():
                    w["tokens"].clear()
                    w["requests"].clear()
            with self._latency_lock:
                self._latencies.clear()

    out = {}
    for label, make in [("printed order", bench.SeedPhase4), ("reversed order", Reversed)]:
        m = make()
        stop = threading.Event()
        ops = [0, 0, 0, 0]

        def work(k):
            i = 0
            while not stop.is_set():
                if k == 0:
                    m.reset()
                elif k == 1:
                    for g in GETS:
                        getattr(m, g)()
                else:
                    record_request(m, i)
                i += 1
                ops[k] += 1

        ts = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(4)]
        for t in ts:
            t.start()
        time.sleep(secs)
        stop.set()
        deadline = time.monotonic() + 10
        for t in ts:
            t.join(max(0.0, deadline - time.monotonic()))
        out[label] = {"finished": not any(t.is_alive() for t in ts), "resets": ops[0], "reads": ops[1],
                      "requests": ops[2] + ops[3]}
    return out


def mode_after_reset() -> dict:
    """Record a mode, reset, record the same mode again: the transitions
    counted after the reset (the scheduler's mode did not change)."""
    out = {}
    for name, make in COLLECTORS.items():
        m = make()
        m.record_mode_transition("batch")
        m.reset()
        m.record_mode_transition("batch")
        mode = m.get_mode()
        out[name] = mode[1] if isinstance(mode, tuple) else mode.transitions
    return out


def memory() -> dict:
    """Bytes: sys.getsizeof and tracemalloc for the locks; tracemalloc for the
    seed collectors' data after 10,000 records of each kind."""

    def traced(fn):
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        keep = fn()
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        del keep
        return used

    out = {
        "getsizeof Lock": sys.getsizeof(threading.Lock()),
        "getsizeof RLock": sys.getsizeof(threading.RLock()),
        "traced 5 Locks": traced(lambda: (threading.Lock(), threading.Lock(), threading.Lock(), threading.Lock(),
                                          threading.Lock())),
        "traced 1 RLock": traced(lambda: threading.RLock()),
    }
    for name in ["seed v1.4.1", "seed Phase 4"]:
        def make(name=name):
            m = COLLECTORS[name]()
            fill(m, 10_000)
            return m
        out[f"traced {name} after 10,000 requests"] = traced(make)
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "data", "seed_claims.json"))
    args = ap.parse_args()
    q = args.quick
    started = time.perf_counter()
    res = {
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "load_at_start": os.getloadavg(), "switch_interval_s": sys.getswitchinterval()},
        "command": "python " + " ".join(sys.argv),
    }
    res["timer_floor_ns"] = timer_floor(3)
    res["lock_cost_ns"] = lock_cost(20_000 if q else 100_000, 1 if q else 15)
    res["hold_times_us"] = hold_times(1_000 if q else 10_000, 200 if q else 2_000, 1 if q else 3)
    res["per_request_locks"] = {
        "1 thread": per_request_locks(1, 500 if q else 5_000, 1 if q else 7),
        "10 threads": per_request_locks(10, 100 if q else 1_000, 1 if q else 7),
    }
    res["ten_threads_ms"] = ten_threads(10, 500 if q else 5_000, 1 if q else 7)
    res["writer_stalls"] = writer_stalls(10_000, 0.2 if q else 1.0)
    res["half_reset_frozen"] = half_reset_frozen()
    res["half_reset_race"] = half_reset_race(1_000, 0.3 if q else 2.0)
    res["deadlock"] = deadlock_free(0.3 if q else 2.0)
    res["mode_after_reset"] = mode_after_reset()
    res["memory_bytes"] = memory()
    res["machine"]["load_at_end"] = os.getloadavg()
    res["wall_s"] = time.perf_counter() - started
    print(json.dumps(res, indent=1))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

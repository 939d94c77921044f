#!/usr/bin/env python3
"""Regenerates the paper's numbers, tables and figures from committed
results, writes them into papers/paper.md between its markers, and renders
papers/paper.html with pandoc.

Inputs (all committed under papers/):
  results/results.json              the default comparison run (cargo run --release -p lockfree-metrics-compare);
                                    schema 1 to 4 (papers/results/README.md); Section 5.6's library and
                                    operations tables need schema 2 (a schema 1 run leaves placeholders)
  paper/data/compare-10threads/     a 10-thread comparison (command in its table.txt)
  paper/data/seed_claims*.json      python papers/paper/seed_claims.py
  paper/data/python-bench-*.json    python python/bench/bench.py

Markers in paper.md:
  <!-- v:NAME -->text<!-- /v -->              one value, rewritten in place
  <!-- BEGIN gen:NAME --> ... <!-- END gen:NAME -->   a generated block (a table)
An unknown NAME is an error. Outputs: paper.md (in place), paper/fig-*.svg,
paper.html. Standard library only; pandoc for the HTML (Debian: apt-get
install pandoc; skipped with a warning when missing, or with --no-html).

    python3 papers/paper/build.py            # regenerate and render
    python3 papers/paper/build.py --check    # exit 1 if paper.md is not what the data give,
                                             # or a statement of its text no longer holds (PROSE CHECK)
    python3 papers/paper/build.py --check --no-html --results /tmp/x/results.json
                                             # the same against another run (paths in the tables follow it)
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PAPERS = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")

# -- formatting ------------------------------------------------------------------


def si(v: float, digits: int = 3) -> str:
    """1234567 -> 1.23M (three significant digits)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    for div, suf in [(1e9, "G"), (1e6, "M"), (1e3, "k")]:
        if abs(v) >= div:
            return f"{v / div:.{max(0, digits - 1 - int(math.log10(abs(v) / div)))}f}{suf}"
    return f"{v:.{max(0, digits - 1 - int(math.log10(abs(v)))) if v else 0}f}"


def num(v: float, nd: int | None = None) -> str:
    """A plain number with thousands separators; nd decimals (default: by size)."""
    if v is None:
        return "n/a"
    if nd is None:
        a = abs(v)
        nd = 0 if a >= 100 else 1 if a >= 10 else 2 if a >= 0.1 else 3
    return f"{v:,.{nd}f}"


def ns(v: float) -> str:
    """ns -> '412 ns', '1.23 µs', '4.5 ms'."""
    if v is None:
        return "n/a"
    a = abs(v)
    if a >= 1e6:
        return f"{num(v / 1e6)} ms"
    if a >= 1e3:
        return f"{num(v / 1e3)} µs"
    return f"{num(v)} ns"


def xr(v: float) -> str:
    if v is None:
        return "n/a"
    return f"{v:.2f}x" if v < 10 else f"{v:.1f}x" if v < 100 else f"{v:,.0f}x"


def pct(v: float, nd: int = 0) -> str:
    if v is None:
        return "n/a"
    t = f"{v:.{nd}f}%"
    return t[1:] if t.startswith("-") and float(t[:-1]) == 0 else t


def rng(vals, f) -> str:
    """A value over runs: one figure, or 'min-max'."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    lo, hi = min(vals), max(vals)
    a, b = f(lo), f(hi)
    if a == b:
        return a
    if lo < 0:
        return f"{a} to {b}"
    # '1.2 µs-3.4 µs' -> '1.2-3.4 µs' when the units agree
    ua, ub = a.split(" ")[-1], b.split(" ")[-1]
    if " " in a and ua == ub:
        return f"{a.rsplit(' ', 1)[0]}-{b}"
    return f"{a}-{b}"


# -- inputs ----------------------------------------------------------------------


def load(path):
    with open(path) as f:
        return json.load(f)


class Run:
    """One comparison run's results.json."""

    def __init__(self, path):
        self.d = load(path)
        self.path = os.path.relpath(os.path.abspath(path), os.path.dirname(PAPERS))
        # Schema 1 (no version field) and 2 (papers/results/README.md). Schema 2
        # gives vs_fine_grained as {median, min, max, overlap} and load averages
        # as {one_min, five_min, fifteen_min}; both are read into schema 1's
        # shapes here (the ratio's range kept as vs_fine_grained_range).
        self.schema = self.d.get("schema_version", 1)
        # Schema 3 is schema 2 with library.measured.failures in accounting_failures'
        # shape, which this script does not read; schema 4 adds the verdict and
        # operations.scrape.over_cap, which it does not read either.
        if self.schema not in (1, 2, 3, 4):
            raise SystemExit(f"{path}: results.json schema {self.schema!r}; this script reads schemas 1 to 4")
        self.cells = {}
        for c in self.d.get("cells", []):
            v = c.get("vs_fine_grained")
            if isinstance(v, dict):
                c = dict(c, vs_fine_grained=v.get("median"), vs_fine_grained_range=v)
            self.cells[(c["case"], c["row"], c["threads"])] = c
        self.library = self.d.get("library")
        self.operations = self.d.get("operations")
        self.threads = list(self.d.get("settings", {}).get("threads", []))

    def cell(self, case, row, t):
        return self.cells.get((case, row, t))

    def rate(self, case, row, t):
        c = self.cell(case, row, t)
        return c["rate"]["median"] if c and c.get("rate") else None

    def x(self, case, row, t):
        c = self.cell(case, row, t)
        return c.get("vs_fine_grained") if c else None

    def rows(self, case):
        seen = []
        for (k, r, _t) in self.cells:
            if k == case and r not in seen:
                seen.append(r)
        return seen

    def case_threads(self, case):
        return sorted({t for (k, _r, t) in self.cells if k == case})

    def machine(self):
        m = self.d.get("machine", {})
        return (f"{m.get('cores', '?')} cores ({m.get('cpu', '?')}), {m.get('os', '?')}, Linux {m.get('kernel', '?')}, "
                f"{m.get('rustc', '?').split(' (')[0]}")

    def load_avg(self):
        m = self.d.get("machine", {})
        a, b = m.get("load_at_start"), m.get("load_at_end")
        def f(v):
            if isinstance(v, dict):
                return f"{v['one_min']:.2f}" if v.get("one_min") is not None else "?"
            if isinstance(v, (list, tuple)) and v:
                return f"{v[0]:.2f}"
            return str(v).split()[0] if v else "?"

        return f"{f(a)} at its start, {f(b)} at its end"

    def accounting(self):
        pts = self.d.get("points", [])
        recs = sum((p.get("accounting") or {}).get("counted", 0) for p in pts)
        bad = sum(1 for p in pts if (p.get("accounting") or {}).get("mismatches"))
        return len(pts), recs, bad

    def on_core(self):
        shares = [c["cpu_share"]["median"] for c in self.cells.values() if c.get("cpu_share")]
        return statistics.median(shares) if shares else None


def seed_runs():
    return [load(p) for p in sorted(glob.glob(os.path.join(DATA, "seed_claims*.json")))]


def bench_runs():
    return [load(p) for p in sorted(glob.glob(os.path.join(DATA, "python-bench-*.json")))]


COLL = {"v141": "seed v1.4.1", "p4": "seed Phase 4", "sharded": "ext sharded", "fine": "ext fine", "global": "ext global"}

# -- values ----------------------------------------------------------------------


def values(R: Run, C10: Run | None, S: list, B: list) -> dict:
    V = {}

    # The default comparison run.
    V["r.machine"] = R.machine()
    V["r.command"] = R.d.get("command", "?")
    V["r.commit"] = R.d.get("machine", {}).get("git_commit", "?")
    V["r.load"] = R.load_avg()
    V["r.threads"] = ", ".join(str(t) for t in R.threads)
    tmax = max(R.threads) if R.threads else None
    V["r.tmax"] = str(tmax)
    V["r.wall"] = f"{R.d.get('wall_s', 0):.0f} s"
    runs, recs, bad = R.accounting()
    V["r.acct.runs"] = f"{runs:,}"
    V["r.acct.records"] = f"{recs:,}"
    V["r.acct.bad"] = f"{bad:,}"
    oc = R.on_core()
    V["r.oncore"] = pct(oc * 100 if oc else None)
    for (case, row, t), c in R.cells.items():
        key = f"r.{case.replace(' ', '').replace('/', '')}.{row}.{t}"
        if c.get("rate"):
            V[key + ".rate"] = si(c["rate"]["median"])
        V[key + ".x"] = xr(c.get("vs_fine_grained"))
        if c.get("snapshot"):
            V[key + ".p50"] = ns(c["snapshot"]["p50_ns"])
            V[key + ".p99"] = ns(c["snapshot"]["p99_ns"])
        o = c.get("overhead") or {}
        if o.get("records_ns"):
            V[key + ".rec"] = ns(o["records_ns"]["median"])
            V[key + ".recpct"] = pct(o.get("records_percent"), 3)
        if t == tmax:
            alias = f"r.{case.replace(' ', '').replace('/', '')}.{row}.tmax"
            for suffix in [".rate", ".x", ".p50", ".p99", ".rec", ".recpct"]:
                if key + suffix in V:
                    V[alias + suffix] = V[key + suffix]

    for case in {k for (k, _r, _t) in R.cells}:
        ths = R.case_threads(case)
        if len(ths) == 1:
            for row in R.rows(case):
                base = f"r.{case.replace(' ', '').replace('/', '')}.{row}"
                for suffix in [".rate", ".x", ".p50", ".p99", ".rec", ".recpct"]:
                    if f"{base}.{ths[0]}{suffix}" in V:
                        V[f"{base}.only{suffix}"] = V[f"{base}.{ths[0]}{suffix}"]

    def cut(case, a, b, t):
        """% less time per operation in row b than in row a (rates)."""
        ra, rb = R.rate(case, a, t), R.rate(case, b, t)
        return None if not ra or not rb else (1 - ra / rb) * 100

    for t in R.threads + ["tmax"]:
        tt = tmax if t == "tmax" else t
        c2 = cut("request-cycle", "GlobalLock", "FineGrained", tt)
        V[f"r.c2.cut.{t}"] = pct(c2)
        g, f = R.rate("different-metrics", "GlobalLock", tt), R.rate("different-metrics", "FineGrained", tt)
        V[f"r.c3.fg.{t}"] = xr(f / g) if f and g else "n/a"
        V[f"r.c3.cut.{t}"] = pct(cut("different-metrics", "GlobalLock", "FineGrained", tt))
        g, f = R.rate("same-metric", "GlobalLock", tt), R.rate("same-metric", "FineGrained", tt)
        V[f"r.c4same.fg.{t}"] = xr(f / g) if f and g else "n/a"
    c2 = cut("request-cycle", "GlobalLock", "FineGrained", 2)
    V["r.c2.verdict"] = ("n/a" if c2 is None else "holds at 2 threads" if 30 <= c2 <= 40 else
                         f"fails at 2 threads ({c2:.0f}%, against 30-40%)")
    # The seed's sequential 50 requests, in Rust.
    seq = {}
    for row in R.rows("sequential"):
        c = R.cell("sequential", row, 1)
        o = (c or {}).get("overhead") or {}
        if o.get("records_ns"):
            seq[row] = o["records_ns"]["median"]
    if seq:
        V["r.seq.range"] = rng(list(seq.values()), ns)
        V["r.seq.factor"] = f"{16.2e6 / max(seq.values()):,.0f}"
        V["r.seq.maxpct"] = pct(max((R.cell("sequential", r, 1)["overhead"]["records_percent"] for r in seq)), 2)
    hf_t = R.case_threads("high-frequency")
    if hf_t:
        t = hf_t[0]
        V["r.hf.threads"] = str(t)
        g, f = R.rate("high-frequency", "GlobalLock", t), R.rate("high-frequency", "FineGrained", t)
        V["r.hf.fg"] = xr(f / g) if f and g else "n/a"
        V["r.hf.fg.pct"] = pct((f / g - 1) * 100) if f and g else "n/a"
        for row in R.rows("high-frequency"):
            c = R.cell("high-frequency", row, t)
            if c and c.get("slowest_thread_records_per_s"):
                V[f"r.hf.{row}.slowest"] = si(c["slowest_thread_records_per_s"]["median"])
                V[f"r.hf.{row}.records"] = si(c["rate"]["median"] * 5)
    st = R.case_threads("stress")
    V["r.stress.threads"] = str(st[0]) if st else "n/a"

    # The 10-thread comparison.
    if C10:
        V["c10.command"] = C10.d.get("command", "?")
        V["c10.oncore"] = pct(C10.on_core() * 100 if C10.on_core() else None)
        V["c10.load"] = C10.load_avg()
        for (case, row, t), c in C10.cells.items():
            key = f"c10.{case}.{row}.{t}"
            V[key + ".rate"] = si(c["rate"]["median"])
            V[key + ".x"] = xr(c.get("vs_fine_grained"))
        for case in ["same-metric", "different-metrics", "request-cycle"]:
            g, f = C10.rate(case, "GlobalLock", 10), C10.rate(case, "FineGrained", 10)
            V[f"c10.{case}.fg"] = xr(f / g) if f and g else "n/a"
            V[f"c10.{case}.cut"] = pct((1 - g / f) * 100) if f and g else "n/a"

    # Python: python/bench/bench.py, every committed run.
    if B:
        V["b.runs"] = str(len(B))
        V["b.python"] = B[0]["machine"]["python"]
        V["b.cpu"] = f"{B[0]['machine']['cpu']}, {B[0]['machine']['cpus']} CPUs"
        V["b.wall"] = rng([b["wall_s"] for b in B], lambda v: f"{v:.0f} s")
        for tk, tname in [("1", "1 thread"), ("10", "10 threads")]:
            for meth in B[0]["record_ns"][tname]:
                for ck, cn in COLL.items():
                    if cn in B[0]["record_ns"][tname][meth]:
                        V[f"b.rec{tk}.{meth}.{ck}"] = rng([b["record_ns"][tname][meth][cn] for b in B], ns)
            for ck, cn in COLL.items():
                vals = [b["record_ns"][tname][m][cn] for b in B for m in b["record_ns"][tname]
                        if cn in b["record_ns"][tname][m]]
                if vals:
                    V[f"b.rec{tk}.all.{ck}"] = rng(vals, ns)
        for g in B[0]["get_us"]:
            for ck, cn in COLL.items():
                if cn in B[0]["get_us"][g]:
                    V[f"b.get.{g}.{ck}"] = rng([b["get_us"][g][cn] * 1e3 for b in B], ns)
        for ck, cn in COLL.items():
            if cn in B[0]["scenario_us_per_request"]:
                V[f"b.scen.{ck}"] = rng([b["scenario_us_per_request"][cn] * 1e3 for b in B], ns)
        scen = [b["scenario_us_per_request"][COLL[c]] for b in B for c in ["v141", "p4"]]
        V["b.scen.seed.max"] = ns(max(scen) * 1e3)
        V["b.scen.factor"] = f"{16.2e3 / max(scen):,.0f}"  # 16.2 ms / measured µs
        V["b.scen.50.ms"] = num(max(scen) * 50 / 1e3, 2) + " ms"
        V["b.scen.50.pct"] = pct(max(scen) * 50 / 0.81e6 * 100, 2)
        # improvement Phase 4 over v1.4.1 per request, as % of the seed's 4.09 s request
        imp = [(b["scenario_us_per_request"]["seed v1.4.1"] - b["scenario_us_per_request"]["seed Phase 4"]) for b in B]
        V["b.scen.imp"] = rng(imp, lambda v: ns(v * 1e3))
        V["b.scen.imp.pct"] = rng([v / 4.0948e6 * 100 for v in imp], lambda v: f"{v:+.5f}%")
        V["b.scen.share.pct"] = pct(max(scen) / 4.0948e6 * 100, 4)
        V["b.scen.under"] = f"{0.05 / (max(scen) / 4.0948e6 * 100):,.0f}"
        rec1 = [b["record_ns"]["1 thread"][m][c] for b in B for m in b["record_ns"]["1 thread"]
                for c in ["seed v1.4.1"]]
        V["b.hf.share"] = pct(1000 * max(rec1) / 1e9 * 100, 1)
        V["b.rec.factor"] = rng([0.5e6 / v for v in rec1], lambda v: f"{v:,.0f}")
        mt = [b["record_ns"]["1 thread"]["record_mode_transition"][c] for b in B for c in ["seed v1.4.1", "seed Phase 4"]]
        V["b.mode.seed"] = rng(mt, ns)
        V["b.mode.atomic.factor"] = rng([10e3 / max(mt), 20e3 / min(mt)], lambda v: f"{v:,.0f}")
        V["b.ring.factor"] = rng([100e3 / max(rec1), 200e3 / min(rec1)], lambda v: f"{v:,.0f}")
        # get_latency_metrics: Phase 4 / v1.4.1 within each run
        V["b.getlat.ratio"] = rng([b["get_us"]["get_latency_metrics"]["seed Phase 4"] /
                                   b["get_us"]["get_latency_metrics"]["seed v1.4.1"] for b in B], xr)
        V["b.q.ratio1"] = rng([b["record_ns"]["1 thread"]["record_queue_depth"]["seed Phase 4"] /
                               b["record_ns"]["1 thread"]["record_queue_depth"]["seed v1.4.1"] for b in B], xr)
        V["b.thr.ratio1"] = rng([b["record_ns"]["1 thread"]["record_throughput"]["seed Phase 4"] /
                                 b["record_ns"]["1 thread"]["record_throughput"]["seed v1.4.1"] for b in B], xr)
        # the extension at 1 and 10 threads: ns per call ratio (10 threads / 1 thread)
        for ck in ["sharded", "fine"]:
            cn = COLL[ck]
            V[f"b.scale.{ck}"] = rng([statistics.median(b["record_ns"]["10 threads"][m][cn] / b["record_ns"]["1 thread"][m][cn]
                                                        for m in b["record_ns"]["1 thread"]) for b in B], xr)
        V["b.ext.vs.seed"] = rng([statistics.median(b["record_ns"]["1 thread"][m]["seed Phase 4"] / b["record_ns"]["1 thread"][m]["ext sharded"]
                                                    for m in b["record_ns"]["1 thread"]) for b in B], xr)
        V["b.sharded.fine.10"] = rng([statistics.median(b["record_ns"]["10 threads"][m]["ext fine"] / b["record_ns"]["10 threads"][m]["ext sharded"]
                                                        for m in b["record_ns"]["10 threads"]) for b in B], xr)
        # run-to-run spread of each seed figure (max/min over runs), the benchmark's own noise
        spreads = []
        for tname in ["1 thread"]:
            for m in B[0]["record_ns"][tname]:
                for cn in ["seed v1.4.1", "seed Phase 4"]:
                    vals = [b["record_ns"][tname][m][cn] for b in B]
                    spreads.append((max(vals) / min(vals) - 1) * 100)
        V["b.spread"] = rng(spreads, lambda v: f"{v:.0f}%")
        for ck in ["sharded", "fine"]:
            cn = COLL[ck]
            V[f"b.req.{ck}.five"] = rng([b["request_ns"][cn]["five calls"] for b in B], ns)
            V[f"b.req.{ck}.one"] = rng([b["request_ns"][cn]["record_request"] for b in B], ns)

    # Python: papers/paper/seed_claims.py, every committed run.
    if S:
        V["s.runs"] = str(len(S))
        V["s.load"] = rng([s["machine"]["load_at_start"][0] for s in S] + [s["machine"]["load_at_end"][0] for s in S],
                          lambda v: f"{v:.1f}")
        V["s.floor"] = rng([s["timer_floor_ns"] for s in S], ns)
        V["s.switch"] = f"{S[0]['machine']['switch_interval_s'] * 1e3:.0f} ms"
        for k in ["Lock", "RLock", "empty loop"]:
            V[f"s.lock.{k.replace(' ', '')}"] = rng([s["lock_cost_ns"][k] for s in S], ns)
        V["s.lock.diff"] = rng([s["lock_cost_ns"]["RLock"] - s["lock_cost_ns"]["Lock"] for s in S], ns)
        V["s.lock.diffpct"] = rng([(s["lock_cost_ns"]["RLock"] / s["lock_cost_ns"]["Lock"] - 1) * 100 for s in S], pct)
        V["s.lock.ratio"] = rng([s["lock_cost_ns"]["RLock / Lock, median of per-repetition ratios"] for s in S], xr)
        V["s.lock.rec.ratio"] = rng([s["lock_cost_ns"]["v1.4.1 record_latency, RLock / Lock, median of per-repetition ratios"]
                                     for s in S], xr)
        rl = lambda s: s["lock_cost_ns"]["v1.4.1 record_latency"]
        V["s.lock.rec.RLock"] = rng([rl(s)["RLock (as printed)"] for s in S], ns)
        V["s.lock.rec.Lock"] = rng([rl(s)["Lock in its place"] for s in S], ns)
        V["s.lock.rec.diffpct"] = rng([(rl(s)["RLock (as printed)"] / rl(s)["Lock in its place"] - 1) * 100 for s in S], pct)
        for ck in ["v141", "p4"]:
            cn = COLL[ck]
            for op in S[0]["hold_times_us"][cn]:
                V[f"s.hold.{ck}.{op}"] = rng([s["hold_times_us"][cn][op]["hold_us"] * 1e3 for s in S], ns)
                V[f"s.wait.{ck}.{op}"] = rng([s["hold_times_us"][cn][op]["wait_us"] * 1e3 for s in S], ns)
            for tk in ["1 thread", "10 threads"]:
                t = tk.split()[0]
                r = [s["per_request_locks"][tk][cn] for s in S]
                V[f"s.req.{t}.{ck}.wait"] = rng([x["wait_us"] * 1e3 for x in r], ns)
                V[f"s.req.{t}.{ck}.hold"] = rng([x["hold_us"] * 1e3 for x in r], ns)
                V[f"s.req.{t}.{ck}.wall"] = rng([x["wall_us"] * 1e3 for x in r], ns)
                V[f"s.req.{t}.{ck}.waitrange"] = rng([v * 1e3 for x in r for v in x["wait_us_range"]], ns)
                V[f"s.req.{t}.{ck}.total"] = rng([(x["wait_us"] + x["hold_us"]) * 1e3 for x in r], ns)
        for tk in ["1 thread", "10 threads"]:
            t = tk.split()[0]
            for q in ["wait", "hold", "wall"]:
                V[f"s.req.{t}.{q}cut"] = rng([(1 - s["per_request_locks"][tk]["Phase 4 / v1.4.1, median of per-repetition ratios"][q]) * 100
                                              for s in S], pct)
            V[f"s.req.{t}.v141.factor"] = rng([500 / ((s["per_request_locks"][tk]["seed v1.4.1"]["wait_us"] +
                                                       s["per_request_locks"][tk]["seed v1.4.1"]["hold_us"])) for s in S],
                                              lambda v: f"{v:,.0f}")
        # hold cuts by op, Phase 4 vs v1.4.1
        for op in S[0]["hold_times_us"]["seed v1.4.1"]:
            V[f"s.holdcut.{op}"] = rng([(1 - s["hold_times_us"]["seed Phase 4"][op]["hold_us"] /
                                         s["hold_times_us"]["seed v1.4.1"][op]["hold_us"]) * 100 for s in S], pct)
        gets = ["get_latency_metrics", "get_throughput_metrics", "get_batch_metrics", "get_queue_depth", "get_mode"]
        V["s.holdcut.gets"] = rng([(1 - sum(s["hold_times_us"]["seed Phase 4"][g]["hold_us"] for g in gets) /
                                    sum(s["hold_times_us"]["seed v1.4.1"][g]["hold_us"] for g in gets)) * 100 for s in S], pct)
        for mode in ["different", "same", "one thread"]:
            mk = mode.replace(" ", "")
            for ck, cn in COLL.items():
                V[f"s.ten.{mk}.{ck}"] = rng([s["ten_threads_ms"][mode][cn]["median_ms"] * 1e6 for s in S], ns)
            if mode != "one thread":
                V[f"s.ten.{mk}.p4speedup"] = rng([s["ten_threads_ms"]["ratios (median of per-repetition ratios)"]
                                                  [f"v1.4.1 / Phase 4, {mode}"] for s in S], xr)
            if mode != "one thread":
                V[f"s.ten.{mk}.p4cut"] = rng([(1 - 1 / s["ten_threads_ms"]["ratios (median of per-repetition ratios)"]
                                               [f"v1.4.1 / Phase 4, {mode}"]) * 100 for s in S], pct)
        # different metrics on 10 threads against the same records on one thread
        for ck, label in [("v141", "v1.4.1"), ("p4", "Phase 4")]:
            V[f"s.ten.vsone.{ck}"] = rng([s["ten_threads_ms"]["ratios (median of per-repetition ratios)"]
                                          [f"ten / one thread, {label}"] for s in S], xr)
        # ten records, the seed's "10 threads": per record of the different-metrics run, x 10
        pt = S[0]["ten_threads_ms"]
        V["s.ten.records"] = f"{10 * 5_000:,}" if True else ""
        V["s.ten.per10.v141"] = rng([s["ten_threads_ms"]["different"]["seed v1.4.1"]["median_ms"] * 1e6 / 5_000
                                     for s in S], ns)
        V["s.ten.per10.p4"] = rng([s["ten_threads_ms"]["different"]["seed Phase 4"]["median_ms"] * 1e6 / 5_000
                                   for s in S], ns)
        for ck, cn in COLL.items():
            a = [s["writer_stalls"][f"{cn}, no reader"] for s in S]
            b = [s["writer_stalls"][f"{cn}, reader"] for s in S]
            V[f"s.stall.{ck}.loss"] = rng([(1 - y["calls_per_s"] / x["calls_per_s"]) * 100 for x, y in zip(a, b)], pct)
            V[f"s.stall.{ck}.reads"] = rng([y["reads"] for y in b], lambda v: f"{v:,}")
            V[f"s.stall.{ck}.p99"] = rng([y["p99_ns"] for y in b], ns)
            V[f"s.stall.{ck}.max"] = rng([y["max_ns"] for y in b], ns)
        fr = S[-1]["half_reset_frozen"]
        d = fr["during (reset paused at the batch lock)"]
        V["s.frozen.before"] = (f"latency count {fr['before']['latency_count']:,}, queue depth {fr['before']['queue_depth']}, "
                                f"{fr['before']['transitions']} transitions")
        V["s.frozen.during"] = (f"latency count {d['latency_count']}, throughput entries {d['throughput_entries']}, "
                                f"{d['batch_sizes']:,} batch sizes, queue depth {d['queue_depth']}, {d['transitions']} transitions")
        for label in S[0]["half_reset_race"]:
            k = re.sub(r"[^a-z0-9]+", "", label.lower())
            r = [s["half_reset_race"][label] for s in S]
            V[f"s.race.{k}.torn"] = rng([x["straddling_a_reset"] for x in r], lambda v: f"{v:,}")
            V[f"s.race.{k}.views"] = rng([x["views"] for x in r], lambda v: f"{v:,}")
            V[f"s.race.{k}.resets"] = rng([x["resets"] for x in r], lambda v: f"{v:,}")
            if "views_with_no_record_in_flight" in r[0]:
                V[f"s.race.{k}.quiet"] = rng([x["views_with_no_record_in_flight"] for x in r], lambda v: f"{v:,}")
                V[f"s.race.{k}.quiettorn"] = rng([x["of_those_unequal"] for x in r], lambda v: f"{v:,}")
        for label in ["printed order", "reversed order"]:
            k = label.split()[0]
            r = [s["deadlock"][label] for s in S]
            V[f"s.dead.{k}.resets"] = rng([x["resets"] for x in r], lambda v: f"{v:,}")
            V[f"s.dead.{k}.finished"] = "finished" if all(x["finished"] for x in r) else "DID NOT FINISH"
        V["s.ten.factor"] = rng([5e6 / (s["ten_threads_ms"]["different"]["seed v1.4.1"]["median_ms"] * 1e6 / 5_000)
                                 for s in S], lambda v: f"{v:,.0f}")
        V["s.holdfactor.record_throughput"] = rng([100e3 / (s["hold_times_us"]["seed Phase 4"]["record_throughput"]["hold_us"] * 1e3)
                                                   for s in S], lambda v: f"{v:,.0f}")
        V["s.holdfactor.records"] = rng([claim * 1e3 / (s["hold_times_us"]["seed Phase 4"][op]["hold_us"] * 1e3)
                                         for s in S for op, claim in SEED_HOLD if op.startswith("record_")],
                                        lambda v: f"{v:,.0f}")
        cuts = [(1 - s["per_request_locks"]["10 threads"]["Phase 4 / v1.4.1, median of per-repetition ratios"]["wall"]) * 100
                for s in S]
        V["s.req.10.vs"] = ("within the claimed 30-40%" if all(30 <= c <= 40 for c in cuts) else
                            "below the claimed 30-40%" if max(cuts) < 30 else
                            "above the claimed 30-40%" if min(cuts) > 40 else "partly within the claimed 30-40%")
        V["s.holdfactor.gets"] = rng([claim / s["hold_times_us"]["seed Phase 4"][op]["hold_us"] for s in S
                                      for op, claim in SEED_HOLD if op in ("get_latency_metrics", "get_throughput_metrics",
                                                                           "get_batch_metrics")], xr)
        V["s.holdfactor.reset"] = rng([200 / s["hold_times_us"]["seed Phase 4"]["reset"]["hold_us"] for s in S], xr)
        if "mode_after_reset" in S[-1]:
            for ck, cn in COLL.items():
                V[f"s.modereset.{ck}"] = str(S[-1]["mode_after_reset"][cn])
        m = S[-1]["memory_bytes"]
        V["s.mem.lock"] = f"{m['getsizeof Lock']} bytes"
        V["s.mem.rlock"] = f"{m['getsizeof RLock']} bytes"
        V["s.mem.5locks"] = f"{m['traced 5 Locks']} bytes"
        V["s.mem.5getsizeof"] = f"{5 * m['getsizeof Lock']} bytes"
        V["s.mem.v141"] = f"{m['traced seed v1.4.1 after 10,000 requests'] / 2**20:.1f} MiB"
        V["s.mem.p4"] = f"{m['traced seed Phase 4 after 10,000 requests'] / 2**20:.1f} MiB"
    return V


# -- generated blocks ----------------------------------------------------------------

WORKLOADS = ["same-metric", "different-metrics", "request-cycle", "request-record", "with-reader 10/s",
             "with-reader 1000/s"]
STRATS = ["GlobalLock", "FineGrained", "Atomic", "Sharded", "Sharded+coarse"]


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    return "\n".join(out)


def block_ratios(R: Run):
    ths = R.threads
    head = ["workload", "row"] + [f"{t} thr" for t in ths]
    rows = []
    for case in WORKLOADS + ["stress"]:
        case_ths = R.case_threads(case)
        for row in R.rows(case):
            if row == "FineGrained":
                cells = [si(R.rate(case, row, t)) if R.cell(case, row, t) else "" for t in ths]
                if case == "stress":
                    cells = [si(R.rate(case, row, case_ths[0]))] + [""] * (len(ths) - 1)
                rows.append([case, "FineGrained (rate)"] + cells)
                continue
            if case == "stress":
                cells = [xr(R.x(case, row, case_ths[0]))] + [""] * (len(ths) - 1)
            else:
                cells = [xr(R.x(case, row, t)) if R.cell(case, row, t) else "" for t in ths]
            rows.append([case, row] + cells)
    note = (f"FineGrained's own rate is records/s in same-metric and different-metrics, requests/s in the others. "
            f"Rates are medians ({R.d.get('settings', {}).get('reps', '?')} runs of "
            f"{R.d.get('settings', {}).get('duration_ms', '?'):.0f} ms); other rows are x FineGrained's median in the same "
            f"run; stress has {R.case_threads('stress')[0] if R.case_threads('stress') else '?'} threads (first column). "
            f"Source: `{R.path}`.")
    return md_table(head, rows) + "\n\n" + note


def block_crossovers(R: Run):
    """Per workload: the rows against FineGrained at each thread count, and
    where Sharded wins, ties or loses."""
    head = ["workload", "Sharded below 0.95x at", "Sharded 0.95-1.05x at", "Sharded above 1.05x at", "best other row"]
    rows = []
    for case in WORKLOADS:
        lo, tie, hi = [], [], []
        best = []
        for t in R.case_threads(case):
            x = R.x(case, "Sharded", t)
            if x is None:
                continue
            (lo if x < 0.95 else tie if x <= 1.05 else hi).append(f"{t} ({xr(x)})")
            others = [(R.x(case, r, t) or 0, r) for r in ["GlobalLock", "Atomic"] if R.cell(case, r, t)]
            if others:
                bx, br = max(others)
                best.append(f"{br} {xr(bx)} at {t}")
        rows.append([case, ", ".join(lo) or "-", ", ".join(tie) or "-", ", ".join(hi) or "-", "; ".join(best) or "-"])
    # overhead: ns the five records add to a cache-cold request
    lo, tie, hi = [], [], []
    for t in R.case_threads("overhead"):
        s = R.cell("overhead", "Sharded", t)
        f = R.cell("overhead", "FineGrained", t)
        if s and f and s.get("overhead", {}).get("records_ns") and f.get("overhead", {}).get("records_ns"):
            a, b = s["overhead"]["records_ns"]["median"], f["overhead"]["records_ns"]["median"]
            x = b / a  # >1: Sharded adds less
            (lo if x < 0.95 else tie if x <= 1.05 else hi).append(f"{t} ({ns(a)} vs {ns(b)})")
    rows.append(["overhead (ns the records add)", ", ".join(lo) or "-", ", ".join(tie) or "-", ", ".join(hi) or "-", ""])
    return md_table(head, rows) + f"\n\nx is Sharded's median over FineGrained's, same run (`{R.path}`)."


def block_snapshots(R: Run):
    ths = R.threads
    head = ["reader", "row"] + [f"{t} thr p50 / p99" for t in ths]
    rows = []
    for case in ["with-reader 10/s", "with-reader 1000/s", "stress"]:
        case_ths = ths if case != "stress" else R.case_threads("stress")
        for row in R.rows(case):
            cells = []
            for t in case_ths:
                c = R.cell(case, row, t)
                s = (c or {}).get("snapshot")
                cells.append(f"{ns(s['p50_ns'])} / {ns(s['p99_ns'])}" if s else "")
            cells += [""] * (len(ths) - len(cells))
            label = case if case != "stress" else f"stress ({case_ths[0] if case_ths else '?'} thr, 100/s)"
            rows.append([label, row] + cells)
    return md_table(head, rows) + f"\n\nSnapshot latency pooled over the runs (`{R.path}`)."


def block_overhead(R: Run):
    head = ["case", "threads"] + [r for r in STRATS]
    rows = []
    for case in ["overhead", "sequential", "concurrent"]:
        for t in R.case_threads(case):
            cells = []
            for r in STRATS:
                c = R.cell(case, r, t)
                o = (c or {}).get("overhead") or {}
                p50 = (o.get("records_p50_ns") or {}).get("median")
                cells.append(f"+{ns(o['records_ns']['median'])} ({pct(o.get('records_percent'), 2)}), p50 +{ns(p50)}"
                             if o.get("records_ns") else "")
            rows.append([case, str(t)] + cells)
    return md_table(head, rows) + (f"\n\nWhat the five records add to a request of "
                                   f"{R.d.get('settings', {}).get('work_us', '?')} µs busy work: clock reads around the "
                                   f"recording step minus the same reads around nothing: the mean per request (median over "
                                   f"runs; it also catches preemptions that land in the step when threads outnumber "
                                   f"cores), as % of a bare request's CPU time, and the median request's (p50). "
                                   f"Source: `{R.path}`.")


def block_peers(R: Run):
    ths = R.case_threads("same-metric")
    head = ["row"] + [f"{t} thr records/s" for t in ths] + [f"Sharded ÷ row at {t}" for t in ths]
    rows = []
    for row in R.rows("same-metric"):
        rates = [R.rate("same-metric", row, t) for t in ths]
        sh = [R.rate("same-metric", "Sharded", t) for t in ths]
        rows.append([row] + [si(v) for v in rates] + [xr(s / v) if s and v else "" for s, v in zip(sh, rates)])
    return md_table(head, rows) + (f"\n\n`same-metric`: every thread records latencies as fast as it can. Peers: "
                                   f"`SyncHistogram` (one `Recorder` per thread, refreshed every 50 ms), "
                                   f"`MutexHistogram` (`Mutex<hdrhistogram::Histogram>`), `LocalHistogram` (an unread, "
                                   f"unshared histogram per thread: the limit). Source: `{R.path}`.")


# -- the peers as libraries: results.json's library and operations parts (schema 2) ----------


def mr(d, f) -> str:
    """A {median, min, max} object: 'median [min-max]'."""
    if not d or d.get("median") is None:
        return "n/a"
    return f"{f(d['median'])} [{f(d['min'])}-{f(d['max'])}]"


def ratio_txt(r) -> str:
    """A recommendation ratio ({ratio: {median, min, max}, overlap})."""
    if not r:
        return "n/a"
    return mr(r["ratio"], lambda v: f"{v:.2f}") + "x" + (" (ranges overlap)" if r.get("overlap") else "")


class Lib:
    """results.json's `library` part: the peers as a user would deploy them."""

    def __init__(self, R: Run):
        self.L = R.library or {}
        self.src = R.path
        self.peers = list(self.L.get("settings", {}).get("peers", []))
        self.cells = self.L.get("cells", [])

    def __bool__(self):
        return bool(self.cells)

    def get(self, workload, threads=None, choice=None, series=None, path="cached"):
        out = {}
        for c in self.cells:
            s = c["shape"]
            if (s["workload"] == workload and (threads is None or s["threads"] == threads)
                    and (choice is None or s["choice"] == choice) and (series is None or s["series"] == series)
                    and c["path"] == path):
                out[c["peer"]] = c
        return out

    def rate(self, workload, peer, **kw):
        c = self.get(workload, **kw).get(peer)
        return c["records_per_s"] if c else None

    def threads(self, workload):
        return sorted({c["shape"]["threads"] for c in self.cells if c["shape"]["workload"] == workload})

    def series(self, workload):
        return sorted({c["shape"]["series"] for c in self.cells if c["shape"]["workload"] == workload})

    def choices(self, workload):
        return sorted({c["shape"]["choice"] for c in self.cells if c["shape"]["workload"] == workload})

    def order(self, peers):
        return [p for p in self.peers if p in peers] + sorted(p for p in peers if p not in self.peers)


def lost(o) -> list:
    """An outcome's [counted, made - counted]; 'n/a' where the option keeps no count."""
    if o.get("counted") is None:
        return ["n/a (keeps no count)", "n/a"]
    return [f"{o['counted']:,}", f"{o['made'] - o['counted']:,}"]


def many_shape(L: "Lib"):
    """The largest series count of many-series, and the largest thread count run with it."""
    ss = L.series("many-series") if L else []
    if not ss:
        return None, None
    n = max(ss)
    return n, max(c["shape"]["threads"] for c in L.cells
                  if c["shape"]["workload"] == "many-series" and c["shape"]["series"] == n)


NO_LIB = "(not in this run: its results.json has no `library` part; schema 2 runs have one)"
NO_OPS = "(not in this run: its results.json has no `operations` part; schema 2 runs have one)"
RATE = lambda v: si(v)


def block_lib_one(R: Run):
    L = Lib(R)
    if not L:
        return NO_LIB
    ths = L.threads("one-series")
    peers = L.order({p for t in ths for p in L.get("one-series", threads=t)})
    rows = [[f"`{p}`"] + [mr(L.rate("one-series", p, threads=t), RATE) for t in ths] for p in peers]
    st = L.L.get("settings", {})
    return md_table(["option"] + [f"{t} thr records/s" for t in ths], rows) + (
        f"\n\nOne latency series, every thread recording into it through a kept handle; records/s, median "
        f"[min-max] over {st.get('reps', '?')} runs of {st.get('duration_ms', 0):.0f} ms. Source: `{L.src}`, "
        f"`library.cells` (workload `one-series`).")


def block_lib_many(R: Run):
    L = Lib(R)
    if not L or not L.series("many-series"):
        return NO_LIB
    n, t = many_shape(L)
    chs = L.choices("many-series")
    peers = L.order({p for ch in chs for p in L.get("many-series", threads=t, choice=ch, series=n)})
    rows = [[f"`{p}`"] + [mr(L.rate("many-series", p, threads=t, choice=ch, series=n), RATE) for ch in chs]
            for p in peers]
    st = L.L.get("settings", {})
    skipped = sorted({f"`{s['peer']}` ({s['why']})" for s in L.L.get("measured", {}).get("skipped", [])
                      if "series" in s.get("shape", "")})
    return md_table(["option"] + [f"{n:,} series, {ch}, {t} thr, records/s" for ch in chs], rows) + (
        f"\n\n{n:,} series (the largest count measured; counts run: "
        f"{', '.join(f'{x:,}' for x in L.series('many-series'))}), each record choosing its series uniformly or "
        f"Zipf-distributed, through kept handles; median [min-max] over {st.get('reps', '?')} runs of "
        f"{st.get('many_duration_ms', 0):.0f} ms."
        + (f" Not run: {'; '.join(skipped)}." if skipped else "") + f" Source: `{L.src}`, `library.cells`.")


def block_lib_lookup(R: Run):
    L = Lib(R)
    if not L or not L.threads("lookup"):
        return NO_LIB
    t = max(L.threads("lookup"))
    kept, look = L.get("lookup", threads=t), L.get("lookup", threads=t, path="labelled")
    recs = {r["peer"]: r for r in L.L.get("recommendation", {}).get("lookups", []) if r["threads"] == t}
    rows = []
    for p in L.order(set(kept) | set(look)):
        rows.append([f"`{p}`", mr((kept.get(p) or {}).get("records_per_s"), RATE),
                     mr((look.get(p) or {}).get("records_per_s"), RATE), ratio_txt((recs.get(p) or {}).get("cached_over_lookup"))])
    st = L.L.get("settings", {})
    return md_table(["option", "kept handle, records/s", "lookup per call, records/s", "kept ÷ lookup"], rows) + (
        f"\n\n{st.get('lookup_series', '?'):,} series, {t} threads; a lookup per call finds the series by its "
        f"labels on every record. Ratio: median [min-max] of the per-repetition ratios "
        f"(`library.recommendation.lookups`). Source: `{L.src}`.")


def scrape_cells(R: Run):
    O = (R.operations or {}).get("scrape") or {}
    cells = O.get("cells", [])
    if not cells:
        return None, []
    n = max(c["series"] for c in cells)
    return n, [c for c in cells if c["series"] == n]


def block_ops_scrape(R: Run):
    n, cells = scrape_cells(R)
    if not cells:
        return NO_OPS
    rows = []
    for c in cells:
        rows.append([f"`{c['option']}`", str(c["writers"]), f"{c['hz']}/s", ns(c["render_p50_ns"]), ns(c["render_p99_ns"]),
                     "n/a" if c.get("bytes_per_render") is None else f"{c['bytes_per_render']:,}", mr(c["rate"], RATE), mr(c["ratio"], lambda v: f"{v:.2f}") + "x"
                     + ("" if c.get("within_noise") else " (outside noise)")])
    plan = R.operations["scrape"].get("plan", {})
    skipped = [s[1] for s in R.operations["scrape"].get("skipped", [])]
    return md_table(["option", "writers", "scrapes", "render p50", "render p99", "bytes/render", "writer records/s",
                     "with ÷ without scrapes"], rows) + (
        f"\n\n{n:,} series (the largest count scraped). A scraper renders the Prometheus text exposition at the "
        f"given rate while the writers record; the last column is the writers' rate with scrapes over their rate "
        f"without, median [min-max] of {plan.get('reps', '?')} paired runs of up to {plan.get('max_run_s', 0):g} s "
        f"(\"outside noise\": the range excludes 1)."
        + (f" Not scraped: {'; '.join(skipped)}." if skipped else "") + f" Source: `{R.path}`, `operations.scrape`.")


def block_ops_accuracy(R: Run):
    A = (R.operations or {}).get("accuracy") or {}
    cases = A.get("cases", [])
    if not cases:
        return NO_OPS
    opts = []
    for cs in cases:
        for e in cs["estimates"]:
            if e["option"] not in opts:
                opts.append(e["option"])
    head = ["option", "estimate"] + [f"{cs['label']}: p50 / p99 / p999" for cs in cases]
    rows = []
    f = lambda v: "n/a" if v is None else f"{v * 100:+.1f}%" if abs(v) >= 0.001 else f"{v * 100:+.2f}%"
    for o in opts:
        es = [next((e for e in cs["estimates"] if e["option"] == o), None) for cs in cases]
        meth = next((e["method"] for e in es if e), "")
        cells = []
        for e in es:
            if not e or not e.get("relative_error"):
                cells.append((e or {}).get("note") or "n/a")
            else:
                cells.append(" / ".join(f(v) for v in e["relative_error"]))
        rows.append([f"`{o}`", meth] + cells)
    plan = A.get("plan", {})
    exact = "; ".join(f"{cs['label']}: " + " / ".join(ns(v) for v in cs["exact_ns"]) for cs in cases)
    return md_table(head, rows) + (
        f"\n\nRelative error of each option's p50 / p99 / p999 against the exact quantiles of the same "
        f"{plan.get('samples', 0):,} samples (seed {plan.get('seed', '?')}), as (estimate - exact) / exact. "
        f"Exact: {exact}. Source: `{R.path}`, `operations.accuracy`.")


def block_ops_memory(R: Run):
    M = (R.operations or {}).get("memory") or {}
    if not M.get("rows"):
        return NO_OPS
    rows = []
    for r in M["rows"]:
        o = r.get("outcome") or {}
        rows.append([f"`{r['option']}`", f"{r['slope_mib_per_s']:.2f}", f"{r['growth_mib']:.2f}",
                     f"{r['bytes_per_record']:.1f}", si(r["rate"]), lost(o)[1]])
    p = M.get("plan", {})
    failed = M.get("failed") or []
    return md_table(["option", "RSS slope, MiB/s", "growth, MiB", "bytes per record", "records/s", "records lost"],
                    rows) + (
        f"\n\nNo scrapes: {p.get('writers', '?')} writers record into {p.get('series', '?')} series at "
        f"{p.get('rate', 0):,} records/s in all for {p.get('seconds', 0):g} s; resident memory sampled every "
        f"{p.get('sample_ms', '?')} ms, slope by least squares. An option that keeps raw samples until a scrape "
        f"drains them grows here." + (f" Failed: {failed}." if failed else "") + f" Source: `{R.path}`, "
        f"`operations.memory`.")


def block_ops_churn(R: Run):
    C = (R.operations or {}).get("churn") or {}
    if not C.get("outcomes"):
        return NO_OPS
    rows = [[f"`{o['option']}`", f"{o['made']:,}", *lost(o),
             f"{len(o.get('mismatches') or [])}",
             "n/a" if o.get("rss_end_kib") is None or o.get("rss_start_kib") is None
             else f"{(o['rss_end_kib'] - o['rss_start_kib']) / 1024:.2f}"]
            for o in C["outcomes"]]
    p = C.get("plan", {})
    failed = C.get("failed") or []
    return md_table(["option", "records made", "counted", "lost", "mismatched series", "RSS growth, MiB"], rows) + (
        f"\n\n{p.get('waves', '?')} waves of {p.get('threads', '?')} short-lived threads, each making "
        f"{p.get('records', '?')} records into {p.get('series', '?')} series and exiting ({p.get('idle_ms', '?')} ms "
        f"idle between waves); counted: what a final read reports." + (f" Failed: {failed}." if failed else "")
        + f" Source: `{R.path}`, `operations.churn`.")


def block_run_noise(R: Run):
    """The run's `noise` part: the calibration loop's spread and the tables it marked noisy."""
    N = R.d.get("noise")
    if not N:
        return "(not in this run: its results.json records no `noise` part; schema 2 runs do)"
    f = lambda d: mr(d, ns)
    def tab(t):
        # threads 0: a part timed as one table (library workloads, library operations)
        where = f"{t['case']} {t['threads']} thr" if t["threads"] else t["case"]
        return f"{where} ({pct(t['varied_percent'])})"

    tabs = ", ".join(tab(t) for t in N.get("noisy_tables") or []) or "none"
    return (f"Calibration loop, {len(N.get('calibrations') or [])} timings before the tables: one thread "
            f"{f(N.get('one_thread_ns'))} (varied {pct(N.get('one_thread_varied_percent'))}), two threads "
            f"{f(N.get('two_threads_ns'))} (varied {pct(N.get('two_threads_varied_percent'))}), median [min-max], "
            f"varied = max / min - 1. A table is noisy when the timing before or after it was more than "
            f"{pct(N.get('threshold_percent'))} slower than the run's fastest; noisy tables (by how much): {tabs}. "
            f"Source: `{R.path}`, `noise`.")


def block_lib_recommend(R: Run):
    rec = (R.library or {}).get("recommendation") or {}
    lines = [r["text"] for r in rec.get("fastest", [])] + [r["text"] for r in rec.get("crossovers", [])] + \
            [r["text"] for r in rec.get("lookups", [])] + list(rec.get("summary", []))
    if not lines:
        return NO_LIB
    return "\n".join(f"- {l}" for l in lines) + f"\n\nAs the run printed them (`{R.path}`, `library.recommendation`)."


def lib_values(R: Run, V: dict):
    """§5.6's values: the noise of the run and a few figures its prose quotes."""
    N = R.d.get("noise") or {}
    V["r.schema"] = str(R.schema)
    V["r.complete"] = "complete" if R.d.get("complete", True) else "incomplete (ended by Ctrl-C)"
    if N:
        V["r.noise.one"] = pct(N.get("one_thread_varied_percent"))
        V["r.noise.two"] = pct(N.get("two_threads_varied_percent"))
        V["r.noise.threshold"] = pct(N.get("threshold_percent"))
        V["r.noise.noisy"] = "noisy" if N.get("noisy") else "quiet"
        V["r.noise.tables"] = f"{len(N.get('noisy_tables') or [])}"
    else:
        for k in ["one", "two", "threshold", "noisy", "tables"]:
            V[f"r.noise.{k}"] = "n/a (schema 1 records no noise)"
    L = Lib(R)
    REG, SYNC = "lockfree-metrics registry", "hdrhistogram SyncHistogram"
    ths = L.threads("one-series") if L else []
    for t in sorted(set(ths) | {1}) + ["tmax"]:
        tt = (max(ths) if ths else None) if t == "tmax" else t
        a, b = (L.rate("one-series", SYNC, threads=tt), L.rate("one-series", REG, threads=tt)) if L else (None, None)
        V[f"lib.one.sync_over_reg.{t}"] = xr(a["median"] / b["median"]) if a and b else "n/a"
    n, tm = many_shape(L)
    V["lib.many.n"] = f"{n:,}" if n else "n/a"
    V["lib.many.t"] = str(tm) if n else "n/a"
    for ch in ["uniform", "zipf"]:
        cells = L.get("many-series", threads=tm, choice=ch, series=n) if n else {}
        reg = cells.get(REG)
        above = [p for p, c in cells.items() if reg and p != REG and c["records_per_s"]["median"] > reg["records_per_s"]["median"]]
        V[f"lib.many.{ch}.above"] = str(len(above)) if reg else "n/a"
        V[f"lib.many.{ch}.of"] = str(len(cells) - 1) if reg else "n/a"
    sn, sc = scrape_cells(R)
    V["ops.scrape.n"] = f"{sn:,}" if sn else "n/a"


def lib_checks(R: Run) -> list:
    """§5.6's comparative statements, each checked against the run. Each is
    None (not checkable: the run has no library or operations part) or a bool."""
    L = Lib(R)
    REG, SYNC = "lockfree-metrics registry", "hdrhistogram SyncHistogram"
    ops = R.operations or {}

    def ok(f):
        try:
            return bool(f())
        except (TypeError, ZeroDivisionError, KeyError, ValueError):
            return False

    def beats(a, b, t):
        """One series, t threads: a's slowest run above b's fastest (ranges apart)."""
        return L.rate("one-series", a, threads=t)["min"] > L.rate("one-series", b, threads=t)["max"]

    def many(ch):
        n, t = many_shape(L)
        return L.get("many-series", threads=t, choice=ch, series=n)

    def acc(opt, case=None):
        out = []
        for cs in ops["accuracy"]["cases"]:
            e = next(e for e in cs["estimates"] if e["option"] == opt)
            out.append(e["relative_error"])
        return out

    sn, sc = scrape_cells(R)
    sc_by = lambda o: [c for c in sc if c["option"] == o]
    mem = {r["option"]: r for r in (ops.get("memory") or {}).get("rows", [])}
    lib, op = bool(L), bool(ops)
    return [
        ("5.6: one series, 1 thread: the registry's median above SyncHistogram's",
         (lib or None) and ok(lambda: L.rate("one-series", REG, threads=1)["median"] > L.rate("one-series", SYNC, threads=1)["median"])),
        ("5.6: one series, 1 thread: prometheus LocalHistogram's median above the registry's, their ranges overlapping",
         (lib or None) and ok(lambda: L.rate("one-series", "prometheus LocalHistogram", threads=1)["median"] > L.rate("one-series", REG, threads=1)["median"]
                             and not beats("prometheus LocalHistogram", REG, 1))),
        ("5.6: one series: the registry records faster than metrics + exporter-prometheus at every thread count",
         (lib or None) and ok(lambda: all(L.rate("one-series", REG, threads=t)["median"] >
                                L.rate("one-series", "metrics + exporter-prometheus", threads=t)["median"]
                                for t in L.threads("one-series")))),
        ("5.6: many series (largest count, uniform and Zipf): the registry is slower than prometheus LocalHistogram",
         (lib or None) and ok(lambda: all(many(ch)["prometheus LocalHistogram"]["records_per_s"]["median"] > many(ch)[REG]["records_per_s"]["median"]
                                for ch in L.choices("many-series")))),
        ("5.6: lookup: a kept handle is faster than a lookup per call for every option, ranges apart",
         (lib or None) and ok(lambda: all(r["cached_over_lookup"]["ratio"]["min"] > 1 and not r["cached_over_lookup"]["overlap"]
                                for r in L.L["recommendation"]["lookups"]))),
        ("5.6: scrape: the registry's exposition is the largest per render at the largest series count",
         (op or None) and ok(lambda: min(c["bytes_per_render"] for c in sc_by(REG)) >
                   max(c["bytes_per_render"] for c in sc if c["option"] != REG))),
        ("5.6: scrape: the registry renders faster (p50) than metrics + exporter-prometheus in every scrape setting",
         (op or None) and ok(lambda: all(a["render_p50_ns"] < b["render_p50_ns"] for a in sc_by(REG)
                               for b in sc_by("metrics + exporter-prometheus")
                               if (a["writers"], a["hz"]) == (b["writers"], b["hz"])) and sc_by(REG))),
        ("5.6: accuracy: the registry's p50/p99/p999 within 1% in every distribution",
         (op or None) and ok(lambda: all(abs(v) < 0.01 for r in acc(REG) for v in r))),
        ("5.6: accuracy: Prometheus' default buckets are off by more than 10% at p50 in every distribution",
         (op or None) and ok(lambda: all(abs(r[0]) > 0.10 for r in acc("prometheus Histogram")))),
        ("5.6: accuracy: the registry's text exposition (1-1.5-2-3-5-7 buckets) is off by more than 1% at some quantile and by at most 10% at every one",
         (op or None) and ok(lambda: any(abs(v) > 0.01 for r in acc(REG + " (scraped)") for v in r) and
                             all(abs(v) <= 0.10 for r in acc(REG + " (scraped)") for v in r))),
        ("5.6: memory: AtomicBucket and metrics + exporter-prometheus grow faster than the registry with no scrapes",
         (op or None) and ok(lambda: mem["metrics-util AtomicBucket"]["slope_mib_per_s"] > mem[REG]["slope_mib_per_s"] and
                   mem["metrics + exporter-prometheus"]["slope_mib_per_s"] > mem[REG]["slope_mib_per_s"])),
        ("5.6: churn: no option that keeps a count lost a record",
         (op or None) and ok(lambda: any(o.get("counted") is not None for o in ops["churn"]["outcomes"]) and
                             all(o["made"] == o["counted"] for o in ops["churn"]["outcomes"]
                                 if o.get("counted") is not None))),
    ] if (lib or op) else [("5.6 (library, operations): not checked, the run has no library or operations part",
                           None)]


def block_c10(C: Run):
    head = ["workload", "row", "1 thr", "10 thr, median [min-max]", "10 thr, x FineGrained"]
    rows = []
    for case in ["same-metric", "different-metrics", "request-cycle"]:
        for row in C.rows(case):
            c = C.cell(case, row, 10)
            span = f" [{si(c['rate']['min'])}-{si(c['rate']['max'])}]" if c else ""
            rows.append([case, row, si(C.rate(case, row, 1)), si(C.rate(case, row, 10)) + span, xr(C.x(case, row, 10))])
    return md_table(head, rows) + (f"\n\nCommand: `{C.d.get('command')}`; load {C.load_avg()}; the measured threads were on "
                                   f"a core {pct(C.on_core() * 100)} of the time they could have been (median), so these "
                                   f"rows carry the other sessions' load. Source: `{C.path}`.")


SEED_HOLD = [
    # (op, the seed's Appendix figure in µs)
    ("record_latency", 50), ("record_throughput", 100), ("record_batch_size", 50), ("record_queue_depth", 50),
    ("record_mode_transition", 50), ("get_latency_metrics", 50), ("get_throughput_metrics", 100),
    ("get_batch_metrics", 50), ("get_queue_depth", 10), ("reset", 200),
]


def block_hold(S: list):
    head = ["operation", "seed's figure (Phase 4)", "measured hold, Phase 4", "measured hold, v1.4.1", "seed's ÷ measured (Phase 4)"]
    rows = []
    for op, claim in SEED_HOLD:
        p4 = [s["hold_times_us"]["seed Phase 4"][op]["hold_us"] for s in S]
        v1 = [s["hold_times_us"]["seed v1.4.1"][op]["hold_us"] for s in S]
        rows.append([f"`{op}()`", ns(claim * 1e3), rng([v * 1e3 for v in p4], ns), rng([v * 1e3 for v in v1], ns),
                     rng([claim / v for v in p4], xr)])
    return md_table(head, rows) + ("\n\nOne thread; each `get_*` and `reset` after 10,000 records of every kind "
                                   "(the deques' bound, `bench.SEED_MAXLEN`). A hold is timed from the lock's acquisition "
                                   "to its release by `TimedLock`, whose own cost is in every figure (the timer floor "
                                   "in the text). Ratios above 1: the seed's figure is larger. Source: "
                                   "`papers/paper/data/seed_claims*.json`.")


def block_python(B: list):
    head = ["figure", "seed v1.4.1", "seed Phase 4", "ext sharded", "ext fine"]
    rows = []
    for tname in ["1 thread", "10 threads"]:
        for m in B[0]["record_ns"][tname]:
            rows.append([f"`{m}`, {tname} (ns per call)"] +
                        [rng([b["record_ns"][tname][m][c] for b in B], lambda v: num(v, 0)) for c in
                         ["seed v1.4.1", "seed Phase 4", "ext sharded", "ext fine"]])
    for g in B[0]["get_us"]:
        rows.append([f"`{g}` after 10,000 records (µs)"] +
                    [rng([b["get_us"][g][c] for b in B], lambda v: num(v)) for c in
                     ["seed v1.4.1", "seed Phase 4", "ext sharded", "ext fine"]])
    rows.append(["the seed's 50 sequential requests: µs of metrics work per request"] +
                [rng([b["scenario_us_per_request"][c] for b in B], lambda v: num(v)) for c in
                 ["seed v1.4.1", "seed Phase 4", "ext sharded", "ext fine"]])
    return md_table(head, rows) + (f"\n\nRanges over {len(B)} runs of `python python/bench/bench.py` "
                                   f"(`papers/paper/data/python-bench-*.json`), {B[0]['machine']['cpu']}, "
                                   f"{B[0]['machine']['cpus']} CPUs, Python {B[0]['machine']['python']}.")


def block_ten(S: list):
    head = ["10 threads x 5,000 records", "seed v1.4.1", "seed Phase 4", "ext sharded", "ext fine", "ext global"]
    rows = []
    for mode, label in [("different", "different metrics (thread t: kind t mod 5)"), ("same", "the same metric (latency)"),
                        ("one thread", "the different-metrics records, on one thread")]:
        rows.append([label] + [rng([s["ten_threads_ms"][mode][COLL[c]]["median_ms"] for s in S], lambda v: num(v) + " ms")
                               for c in ["v141", "p4", "sharded", "fine", "global"]])
    return md_table(head, rows) + ("\n\nWall time: the median of each run's repetitions, the range over the "
                                   "committed runs (`papers/paper/data/seed_claims*.json`, `ten_threads_ms`).")


# -- figures -------------------------------------------------------------------------


def svg_text(x, y, s, anchor="start", size=11, weight="normal", fill="#222"):
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-family="sans-serif" font-size="{size}" '
            f'text-anchor="{anchor}" font-weight="{weight}" fill="{fill}">{s}</text>')


def fig_estimates(S, B, path):
    """The seed's estimates against what its own code costs (log scale, ns)."""
    b0 = B
    rec1 = [b["record_ns"]["1 thread"][m]["seed v1.4.1"] for b in b0 for m in b["record_ns"]["1 thread"]]
    scen = [b["scenario_us_per_request"][c] * 1e3 for b in b0 for c in ["seed v1.4.1", "seed Phase 4"]]
    mt = [b["record_ns"]["1 thread"]["record_mode_transition"][c] for b in b0 for c in ["seed v1.4.1", "seed Phase 4"]]
    r1 = [s["per_request_locks"]["1 thread"] for s in S]
    r10 = [s["per_request_locks"]["10 threads"] for s in S]
    hold = lambda c, op: [s["hold_times_us"][c][op]["hold_us"] * 1e3 for s in S]
    ten = [s["ten_threads_ms"]["different"][c]["median_ms"] * 1e6 / 5_000 for s in S for c in ["seed v1.4.1"]]
    items = [
        ("a record_*() call, v1.4.1 (§Perf. Analysis)", [0.5e6], rec1),
        ("metrics per request, v1.4.1 (§Perf. Analysis)", [16.2e6], scen),
        ("lock acquisition per request, v1.4.1, 1 thread", [0.2e6], [x["seed v1.4.1"]["wait_us"] * 1e3 for x in r1]),
        ("lock acquisition per request, v1.4.1, 10 threads", [0.2e6], [x["seed v1.4.1"]["wait_us"] * 1e3 for x in r10]),
        ("lock hold per request, v1.4.1", [0.3e6], [x["seed v1.4.1"]["hold_us"] * 1e3 for x in r1]),
        ("lock hold per request, Phase 4", [0.1e6], [x["seed Phase 4"]["hold_us"] * 1e3 for x in r1]),
        ("record_latency hold, Phase 4 (Appendix)", [50e3], hold("seed Phase 4", "record_latency")),
        ("record_throughput hold, Phase 4 (Appendix)", [100e3], hold("seed Phase 4", "record_throughput")),
        ("10 records on 10 threads, v1.4.1 (§Best Case)", [5e6], [v * 10 for v in ten]),
        ("atomic counters' gain per transition (§Rec. 3)", [10e3, 20e3], mt),
        ("ring buffer's gain per record (§Rec. 3)", [100e3, 200e3], rec1),
    ]
    W, left, right, top, rowh = 860, 330, 30, 40, 26
    H = top + rowh * len(items) + 60
    lo, hi = 1e2, 1e8  # 100 ns .. 100 ms
    X = lambda v: left + (math.log10(max(lo, min(hi, v))) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * (W - left - right)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           svg_text(W / 2, 20, "The seed's figures (red) against what its own code costs (blue: measured range; "
                               "for a gain, the whole cost it would remove)", "middle", 12, "bold")]
    for e in range(2, 9):
        x = X(10 ** e)
        out.append(f'<line x1="{x:.1f}" y1="{top - 5}" x2="{x:.1f}" y2="{top + rowh * len(items)}" stroke="#ddd"/>')
        lab = {2: "100 ns", 3: "1 µs", 4: "10 µs", 5: "100 µs", 6: "1 ms", 7: "10 ms", 8: "100 ms"}[e]
        out.append(svg_text(x, top + rowh * len(items) + 16, lab, "middle", 10))
    for i, (label, claim, meas) in enumerate(items):
        y = top + rowh * i + rowh / 2
        out.append(svg_text(left - 8, y + 4, label, "end", 11))
        a, b = X(min(meas)), X(max(meas))
        out.append(f'<rect x="{a:.1f}" y="{y - 6:.1f}" width="{max(3, b - a):.1f}" height="12" fill="#2b6cb0"/>')
        ca, cb = X(min(claim)), X(max(claim))
        if cb - ca > 2:
            out.append(f'<rect x="{ca:.1f}" y="{y - 6:.1f}" width="{cb - ca:.1f}" height="12" fill="#c53030"/>')
        else:
            out.append(f'<circle cx="{ca:.1f}" cy="{y:.1f}" r="6" fill="#c53030"/>')
        out.append(svg_text(max(b, cb) + 10, y + 4, f"{max(claim) / max(meas):,.0f}x" if max(claim) > max(meas) else "", "start", 10, fill="#555"))
    out.append(svg_text(20, H - 22, "Log scale. The number at the right: the seed's figure over the largest measured value.",
                        "start", 10, fill="#555"))
    out.append(svg_text(20, H - 8, "Data: papers/paper/data/python-bench-*.json and seed_claims*.json "
                                   "(python python/bench/bench.py; python papers/paper/seed_claims.py).", "start", 10,
                        fill="#555"))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def fig_ratios(R: Run, path):
    """Each strategy's rate over FineGrained's, per workload and thread count."""
    cases = [c for c in ["same-metric", "different-metrics", "request-cycle", "request-record", "with-reader 1000/s"]
             if R.rows(c)]
    rows = ["GlobalLock", "Atomic", "Sharded", "Sharded+coarse"]
    colors = {"GlobalLock": "#718096", "Atomic": "#d69e2e", "Sharded": "#2b6cb0", "Sharded+coarse": "#63b3ed"}
    ths = R.threads
    W, H, left, top, bottom = 900, 380, 60, 50, 70
    groups = [(c, t) for c in cases for t in ths]
    gw = (W - left - 20) / max(1, len(groups))
    bw = gw * 0.8 / len(rows)
    lo, hi = 0.1, 100
    Y = lambda v: top + (1 - (math.log10(max(lo, min(hi, v))) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))) * (H - top - bottom)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           svg_text(W / 2, 18, "Rate over FineGrained's (the seed's Phase 4), same run; log scale", "middle", 12, "bold")]
    for v in [0.1, 0.3, 1, 3, 10, 30, 100]:
        y = Y(v)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{W - 20}" y2="{y:.1f}" stroke="{"#333" if v == 1 else "#ddd"}"/>')
        out.append(svg_text(left - 6, y + 4, f"{v:g}x", "end", 10))
    for gi, (c, t) in enumerate(groups):
        x0 = left + gi * gw + gw * 0.1
        for ri, r in enumerate(rows):
            v = R.x(c, r, t)
            if v is None:
                continue
            y1, y0 = Y(v), Y(1)
            out.append(f'<rect x="{x0 + ri * bw:.1f}" y="{min(y0, y1):.1f}" width="{bw - 1:.1f}" '
                       f'height="{abs(y1 - y0):.1f}" fill="{colors[r]}"/>')
        out.append(svg_text(left + gi * gw + gw / 2, H - bottom + 14, f"{t} thr", "middle", 9))
    for ci, c in enumerate(cases):
        out.append(svg_text(left + (ci * len(ths) + len(ths) / 2) * gw, H - bottom + 30, c, "middle", 10, "bold"))
    for ri, r in enumerate(rows):
        out.append(f'<rect x="{left + ri * 150}" y="{H - 24}" width="12" height="12" fill="{colors[r]}"/>')
        out.append(svg_text(left + ri * 150 + 16, H - 14, r, "start", 10))
    out.append(svg_text(W - 20, H - 14, f"data: {R.path}", "end", 9, fill="#555"))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


# -- the prose's claims about the default run -----------------------------------------


def prose_checks(R: Run) -> list:
    """The statements the paper's text makes about the default comparison
    run, each with whether the committed run bears it out. A failed one
    means the text around it must be rewritten for the new run."""
    tmax = max(R.threads) if R.threads else None
    x = R.x

    def rec(row, t):
        c = R.cell("overhead", row, t)
        o = (c or {}).get("overhead") or {}
        return (o.get("records_ns") or {}).get("median")

    def ok(f):
        try:
            return bool(f())
        except (TypeError, ZeroDivisionError):
            return False

    fg = lambda case, t: R.rate(case, "FineGrained", t) / R.rate(case, "GlobalLock", t)
    return [
        ("5.1, rows 13, 16: Sharded far ahead of FineGrained with 2 threads (same-metric > 10x)",
         ok(lambda: x("same-metric", "Sharded", 2) > 10)),
        ("5.1: Atomic, sharing lines, stays below 5x at 2 threads (same-metric)",
         ok(lambda: x("same-metric", "Atomic", 2) < 5)),
        ("5.1, abstract: no gain for Sharded at 1 thread in request-cycle (0.8x-1.1x)",
         ok(lambda: 0.8 <= x("request-cycle", "Sharded", 1) <= 1.1)),
        ("5.1: record_request and CoarseClock put Sharded above FineGrained at 1 thread",
         ok(lambda: x("request-record", "Sharded", 1) > 1.2 and x("request-cycle", "Sharded+coarse", 1) > 1.2)),
        ("5.1: overhead, Sharded and FineGrained within 1.5x of each other at 1 thread; Sharded adds less at 2",
         ok(lambda: max(rec("Sharded", 1), rec("FineGrained", 1)) <= 1.5 * min(rec("Sharded", 1), rec("FineGrained", 1))
            and rec("Sharded", 2) < rec("FineGrained", 2))),
        ("rows 5-6, 5.1: FineGrained gains most over GlobalLock in different-metrics at the largest thread count",
         ok(lambda: fg("different-metrics", tmax) > 2 and fg("different-metrics", tmax) >= fg("different-metrics", 2))),
        ("row 6: same-metric, FineGrained within 0.8x-1.25x of GlobalLock at 2 threads",
         ok(lambda: 0.8 <= fg("same-metric", 2) <= 1.25)),
        ("5.1: stress and high-frequency keep Sharded above FineGrained",
         ok(lambda: x("stress", "Sharded", R.case_threads("stress")[0]) > 1.5 and
            R.rate("high-frequency", "Sharded", 10) > R.rate("high-frequency", "FineGrained", 10))),
        ("row 11: FineGrained above GlobalLock in high-frequency",
         ok(lambda: fg("high-frequency", R.case_threads("high-frequency")[0]) > 1)),
        ("5.2: one and two threads, every strategy's records add under 1 µs per request",
         ok(lambda: all(rec(r, t) < 1000 for r in STRATS for t in [1, 2] if rec(r, t) is not None))),
        ("5.6: Sharded ahead of SyncHistogram in same-metric at every thread count",
         ok(lambda: all(R.rate("same-metric", "Sharded", t) > R.rate("same-metric", "SyncHistogram", t)
                        for t in R.case_threads("same-metric")))),
    ]


# -- main ----------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if paper.md would change; write nothing")
    ap.add_argument("--no-html", action="store_true", help="skip pandoc")
    ap.add_argument("--results", default=os.path.join(PAPERS, "results", "results.json"),
                    help="the comparison run to read (default: papers/results/results.json)")
    args = ap.parse_args()

    R = Run(args.results)
    c10p = os.path.join(DATA, "compare-10threads", "results.json")
    C10 = Run(c10p) if os.path.exists(c10p) else None
    S, B = seed_runs(), bench_runs()
    V = values(R, C10, S, B)
    lib_values(R, V)
    with open(os.path.join(PAPERS, "paper.md")) as f:
        claim_rows = [l for l in f.read().splitlines() if re.match(r"^\| \d+ \| ", l)]
    V["claims.count"] = str(len(claim_rows))
    tally = {}
    for l in claim_rows:
        m = re.search(r"\*\*(Holds|Fails|Cannot be tested|Defect)", l.rstrip(" |").rsplit(" | ", 1)[-1])
        k = m.group(1) if m else "unclassified"
        tally[k] = tally.get(k, 0) + 1
    V["claims.summary"] = ", ".join(f"{k.lower()} {v}" for k, v in sorted(tally.items(), key=lambda kv: -kv[1]))
    blocks = {
        "rust-ratios": lambda: block_ratios(R),
        "rust-crossovers": lambda: block_crossovers(R),
        "rust-snapshots": lambda: block_snapshots(R),
        "rust-overhead": lambda: block_overhead(R),
        "rust-peers": lambda: block_peers(R),
        "lib-one": lambda: block_lib_one(R),
        "lib-many": lambda: block_lib_many(R),
        "lib-lookup": lambda: block_lib_lookup(R),
        "lib-recommendation": lambda: block_lib_recommend(R),
        "run-noise": lambda: block_run_noise(R),
        "ops-scrape": lambda: block_ops_scrape(R),
        "ops-accuracy": lambda: block_ops_accuracy(R),
        "ops-memory": lambda: block_ops_memory(R),
        "ops-churn": lambda: block_ops_churn(R),
        "rust-c10": lambda: block_c10(C10) if C10 else "(no 10-thread run committed)",
        "seed-hold": lambda: block_hold(S),
        "python-bench": lambda: block_python(B),
        "python-ten": lambda: block_ten(S),
    }

    md_path = os.path.join(PAPERS, "paper.md")
    with open(md_path) as f:
        text = f.read()
    missing = set()

    def sub_v(m):
        name = m.group(1)
        if name not in V:
            missing.add(name)
            return m.group(0)
        return f"<!-- v:{name} -->{V[name]}<!-- /v -->"

    def sub_b(m):
        name = m.group(1)
        if name not in blocks:
            missing.add("block " + name)
            return m.group(0)
        return f"<!-- BEGIN gen:{name} -->\n{blocks[name]()}\n<!-- END gen:{name} -->"

    new = re.sub(r"<!-- v:([\w.+/\-]+) -->(.*?)<!-- /v -->", sub_v, text)
    new = re.sub(r"<!-- BEGIN gen:([\w\-]+) -->\n.*?<!-- END gen:\1 -->", sub_b, new, flags=re.S)
    if missing:
        print("unknown names in paper.md:", ", ".join(sorted(missing)), file=sys.stderr)
        return 2
    checks = prose_checks(R) + lib_checks(R)
    # None: the statement's part of results.json is absent. A schema 1 run has
    # no library or operations part (noted, not failed); a schema 2 run must.
    for t, good in checks:
        if good is None:
            print(f"PROSE CHECK NOT RUN (no data in {R.path}): {t}", file=sys.stderr)
    stale = [t for t, good in checks if good is False or (good is None and R.schema >= 2)]
    for t in stale:
        print(f"PROSE CHECK FAILED (rewrite the text it names for this run): {t}", file=sys.stderr)
    if args.check:
        if stale:
            return 1
        if new != text:
            print("paper.md is not what the committed results give: run python3 papers/paper/build.py", file=sys.stderr)
            return 1
        print("paper.md matches the committed results")
        return 0
    with open(md_path, "w") as f:
        f.write(new)
    fig_estimates(S, B, os.path.join(HERE, "fig-estimates.svg"))
    fig_ratios(R, os.path.join(HERE, "fig-ratios.svg"))
    print(f"paper.md: {len(re.findall(r'<!-- v:', new))} values, {len(re.findall(r'<!-- BEGIN gen:', new))} blocks; "
          f"figures: paper/fig-estimates.svg, paper/fig-ratios.svg")
    if args.no_html:
        return 0
    pandoc = shutil.which("pandoc")
    if not pandoc:
        print("pandoc not found (Debian: apt-get install pandoc): paper.html not rendered", file=sys.stderr)
        return 0
    subprocess.run([pandoc, "paper.md", "--standalone", "--toc", "--toc-depth=2", "--css", "paper/paper.css",
                    "--metadata", "pagetitle=No Benchmark Required? (lockfree-metrics)", "--from", "gfm+pipe_tables",
                    "--to", "html5", "-o", "paper.html"], cwd=PAPERS, check=True)
    print("paper.html rendered by", subprocess.run([pandoc, "--version"], capture_output=True, text=True).stdout.splitlines()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())

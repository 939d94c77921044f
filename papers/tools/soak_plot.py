#!/usr/bin/env python3
"""Turns the output of `benches/programs/src/bin/soak.rs` into the markdown table and the SVG
plot of papers/memory-soak.md: python3 papers/tools/soak_plot.py soak.txt"""
import re
import sys

rows = []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 8 and f[0].isdigit():
        rows.append([int(x) for x in f])

print("| t (s) | VmRSS (KiB) | VmHWM (KiB) | shards | threads churned | records of each kind | snapshots | intervals |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    if r[0] % 30 == 0 or r[0] in (10, 20):
        print("| " + " | ".join(f"{v:,}" for v in r) + " |")

late = [r for r in rows if r[0] >= 60]
rss = [r[1] for r in late]
n = len(late)
xs = [r[0] / 60 for r in late]
mx, my = sum(xs) / n, sum(rss) / n
slope = sum((x - mx) * (y - my) for x, y in zip(xs, rss)) / sum((x - mx) ** 2 for x in xs)
print(f"\nfrom 60 s on: {min(rss):,} to {max(rss):,} KiB, mean {my:,.0f}, slope {slope:+.1f} KiB/min",
      file=sys.stderr)

w, h, x0, y0 = 350, 200, 60, 20
tmax = rows[-1][0]
ymax = 8 * 1024
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="640" height="260" font-family="sans-serif" font-size="11">',
       f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
for mib in range(0, 9, 2):
    y = y0 + h - h * mib * 1024 / ymax
    svg.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#eee"/>')
    svg.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{mib}</text>')
pts = " ".join(f"{x0 + w * r[0] / tmax:.1f},{y0 + h - h * r[1] / ymax:.1f}" for r in rows)
svg.append(f'<polyline points="{pts}" fill="none" stroke="#2a7" stroke-width="2"/>')
svg.append(f'<text x="{x0 + w / 2}" y="{y0 + h + 28}" text-anchor="middle">time (s), 0 to {tmax}</text>')
svg.append(f'<text x="16" y="{y0 + h / 2}" transform="rotate(-90 16 {y0 + h / 2})" text-anchor="middle">VmRSS (MiB)</text>')
svg.append(f'<text x="{x0 + w + 10}" y="{y0 + 14}">Sharded: resident memory</text>')
svg.append(f'<text x="{x0 + w + 10}" y="{y0 + 30}">under thread churn</text>')
svg.append('</svg>')
open(sys.argv[2] if len(sys.argv) > 2 else "memory-soak.svg", "w").write("\n".join(svg) + "\n")

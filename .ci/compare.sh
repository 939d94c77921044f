#!/usr/bin/env bash
# CI job: the main job, the comparison, briefly (--quick). Fails on any
# accounting mismatch and on a missing output.
source "$(dirname "$0")/lib.sh"

step "main job: the comparison, briefly"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
started=$SECONDS
# Exits 2 if a run's snapshot did not count exactly the records made.
cargo run --release -p lockfree-metrics-compare -- --quick --out "$out" | tee "$out/stdout.txt"
if grep -q 'ACCOUNTING MISMATCH' "$out/stdout.txt"; then
    echo "compare --quick reported an accounting mismatch" >&2
    exit 1
fi
for f in table.txt results.json throughput-same-metric.svg overhead.svg report.html; do
    test -s "$out/$f" || { echo "compare --quick wrote no $f" >&2; exit 1; }
done
# report.html is one self-contained page: every plot inlined, none linked.
svgs=$(ls "$out"/*.svg | wc -l)
inlined=$(grep -o '<svg' "$out/report.html" | wc -l)
test "$inlined" -eq "$svgs" || { echo "report.html inlines $inlined of $svgs plots" >&2; exit 1; }
echo "compare --quick: $((SECONDS - started)) s, including its build"

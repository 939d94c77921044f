#!/usr/bin/env bash
# Before/after figures of the engine's second generation (papers/engine-v2.md),
# in one session on one machine: the first generation's binaries and the
# second's, run alternately so that the machine's load falls on both alike.
#
#   git worktree add /tmp/old 6e47f8f       # the first generation
#   (cd /tmp/old && cargo build --release --examples --benches)
#   papers/tools/engine-v2.sh /tmp/old      # writes $OUT (default /tmp/engine-v2)
set -euo pipefail
cd "$(dirname "$0")/../.."
old=$(cd "$1" && pwd)
out=${OUT:-/tmp/engine-v2}
mkdir -p "$out"
cargo build --release --benches -p lockfree-metrics -p lockfree-metrics-compare -p lockfree-metrics-programs >/dev/null 2>&1

# Deterministic: instructions per call (callgrind).
(cd "$old" && bash benches/callgrind.sh sharded fine-grained) >"$out/callgrind-old.txt"
bash benches/callgrind.sh sharded fine-grained >"$out/callgrind-new.txt"

# Resident memory per recording thread.
(cd "$old" && cargo test --release --test resident_memory -- --nocapture 2>&1 | grep VmRSS) >"$out/resident-old.txt"
cargo test --release --test engine resident_memory -- --nocapture --test-threads=1 2>&1 | grep VmRSS >"$out/resident-new.txt"

# Timed, alternating: the comparison's single-thread and 2-thread rows, and
# snapshot cost with 2 and 64 recording threads.
for rep in 1 2; do
    for side in old new; do
        if [ "$side" = old ]; then bin=$old/target/release/examples/compare; rows=GlobalLock,FineGrained,Sharded
            snapshot=$old/target/release/examples/snapshot_p50
        else bin=target/release/compare; rows=GlobalLock,FineGrained,Sharded,Sharded+coarse
            snapshot=target/release/snapshot_p50; fi
        "$bin" --threads 1,2 --strategies "$rows" \
            --workloads request-cycle,with-reader,overhead --reps 3 --no-plots \
            --out "$out/compare-$side-$rep" >"$out/compare-$side-$rep.txt" 2>/dev/null
        "$snapshot" 3 300 2,64 >"$out/snapshot-$side-$rep.txt"
    done
done

# Single-operation times (criterion medians), old then new.
for side in old new; do
    dir=.; [ "$side" = old ] && dir=$old
    (cd "$dir" && cargo bench --bench record -- --warm-up-time 1 --measurement-time 2 \
        'Sharded|FineGrained/record|peers|clock' >/dev/null 2>&1)
    for f in "$dir"/target/criterion/*/*/new/estimates.json; do
        case $f in *Atomic*|*GlobalLock*|*FineGrained/snapshot*|*FineGrained/reset*) continue ;; esac
        printf '%s %s\n' "$(basename "$(dirname "$(dirname "$(dirname "$f")")")")/$(basename "$(dirname "$(dirname "$f")")")" \
            "$(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['median']['point_estimate'], 2))" "$f")"
    done >"$out/criterion-$side.txt"
done
echo "wrote $out"

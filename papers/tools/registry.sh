#!/usr/bin/env bash
# The registry's figures (papers/registry.md), into $OUT (default
# /tmp/registry).
#
#   papers/tools/registry.sh
#       this tree: the instruction counts (benches/callgrind.sh sharded
#       registry) and registry_bench's default run (every section, five
#       interleaved repetitions);
#   papers/tools/registry.sh BEFORE AFTER
#       two commits' registry, each built from `git archive` under $OUT
#       with this tree's measuring tools (benches/programs/src/bin/registry_bench.rs,
#       benches/programs/src/bin/instructions.rs, benches/callgrind.sh) put over it, so that
#       both sides are measured by the same code: each side's counts
#       (callgrind-COMMIT.txt), then three alternations of BEFORE and AFTER
#       runs of the records, snapshot and memory sections (two repetitions
#       each; BEFORE-AFTER/COMMIT-N.txt), so that the machine's load falls
#       on both alike.
#
# papers/registry.md's before/after tables: `fc8687d bff44ef` (the probe)
# and `bff44ef 56773a5` (the snapshot).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/registry}
mkdir -p "$out"

if [ $# -eq 0 ]; then
    cargo build --release -p lockfree-metrics-programs --bin registry_bench --bin instructions >/dev/null 2>&1
    bash benches/callgrind.sh sharded registry >"$out/callgrind.txt"
    target/release/registry_bench >"$out/registry_bench.txt"
    echo "wrote $out"
    exit 0
fi

[ $# -eq 2 ] || { echo "usage: $0 [BEFORE AFTER]" >&2; exit 2; }
tree=$(pwd)
for commit in "$1" "$2"; do
    src=$out/src-$commit
    rm -rf "$src"
    mkdir -p "$src"
    git archive "$commit" | tar -x -C "$src"
    # This tree's measuring programs (their crate and what it reaches by
    # #[path]: the comparison's machine description, the shared support).
    rm -rf "$src/benches/programs"
    cp -r benches/programs benches/compare benches/support benches/callgrind.sh "$src/benches/"
    mkdir -p "$src/tests/support"; cp tests/support/cycles.rs tests/support/resident.rs "$src/tests/support/"
    # The measuring tools' dependencies, as this tree declares them.
    cp Cargo.toml Cargo.lock "$src/"
    # `git archive` dates files at the commit, older than the shared target's
    # last build of the other side: fresh dates make cargo rebuild the crate.
    find "$src" -type f -exec touch {} +
    (cd "$src" && CARGO_TARGET_DIR=$out/target cargo build --release -p lockfree-metrics \
        -p lockfree-metrics-programs --bin registry_bench --bin instructions >/dev/null 2>&1)
    mkdir -p "$out/bin-$commit"
    cp "$out/target/release/registry_bench" "$out/target/release/instructions" \
        "$out/bin-$commit/"
    BIN=$out/bin-$commit/instructions bash "$tree/benches/callgrind.sh" sharded registry \
        >"$out/callgrind-$commit.txt"
done
runs=$out/$1-$2
mkdir -p "$runs"
for rep in 1 2 3; do
    for commit in "$1" "$2"; do
        "$out/bin-$commit/registry_bench" --sections records,snapshot,memory --reps 2 \
            --memory-reps 1 >"$runs/$commit-$rep.txt"
    done
done
echo "wrote $out"

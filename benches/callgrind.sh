#!/usr/bin/env bash
# Instructions per call of each operation on each strategy, counted by
# valgrind's callgrind (deterministic: the same binary and inputs give the
# same counts on any load). Usage: benches/callgrind.sh [strategies...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example instructions >/dev/null 2>&1
bin=target/release/examples/instructions
strategies=("${@:-global-lock fine-grained atomic sharded}")
ops=(latency latency-ns throughput batch queue mode-same mode-change snapshot reset)
out=$(mktemp -d)

count() { # strategy op n -> instructions inside `measure`
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" \
        --toggle-collect='instructions::measure*' "$bin" "$1" "$2" "$3" >/dev/null 2>&1
    callgrind_annotate "$out/cg" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}

per_call() { # strategy op n -> instructions per call, loop overhead removed
    local full base
    full=$(count "$1" "$2" "$3")
    base=$(count "$1" baseline "$3")
    echo "scale=1; ($full - $base) / $3" | bc
}

printf '%-14s' op; for s in ${strategies[*]}; do printf '%16s' "$s"; done; echo
for op in "${ops[@]}"; do
    n=20000
    case $op in snapshot|reset) n=50 ;; esac
    printf '%-14s' "$op"
    for s in ${strategies[*]}; do printf '%16s' "$(per_call "$s" "$op" "$n")"; done
    echo
done
rm -rf "$out"

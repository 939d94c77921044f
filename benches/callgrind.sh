#!/usr/bin/env bash
# Instructions per call of each operation on each strategy, counted by
# valgrind's callgrind (deterministic: the same binary and inputs give the
# same counts on any load). Usage: benches/callgrind.sh [strategies...]
# ("registry" among them, or no arguments, adds the registry's table:
# benches/programs/src/bin/instructions.rs says what each of its ops records).
set -euo pipefail
cd "$(dirname "$0")/.."
# BIN: another build's instructions binary (before/after comparisons).
if [ -z "${BIN:-}" ]; then cargo build --release -p lockfree-metrics-programs --bin instructions >/dev/null 2>&1; fi
bin=${BIN:-target/release/instructions}
strategies=("${@:-global-lock fine-grained atomic sharded registry}")
collectors=() registry=
for s in ${strategies[*]}; do
    if [ "$s" = registry ]; then registry=1; else collectors+=("$s"); fi
done
ops=(latency latency-ns throughput batch queue mode-same mode-change snapshot reset)
registry_ops=(histogram histogram-promoted histogram-promoted-alternating counter counter-promoted family-lookup snapshot-1k snapshot-10k)
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

if [ ${#collectors[@]} -gt 0 ]; then
    printf '%-14s' op; for s in "${collectors[@]}"; do printf '%16s' "$s"; done; echo
    for op in "${ops[@]}"; do
        n=20000
        case $op in snapshot|reset) n=50 ;; esac
        printf '%-14s' "$op"
        for s in "${collectors[@]}"; do printf '%16s' "$(per_call "$s" "$op" "$n")"; done
        echo
    done
fi
if [ -n "$registry" ]; then
    [ ${#collectors[@]} -gt 0 ] && echo
    printf '%-40s%16s\n' registry-op registry
    for op in "${registry_ops[@]}"; do
        n=20000
        case $op in snapshot-1k) n=20 ;; snapshot-10k) n=5 ;; esac
        printf '%-40s%16s\n' "registry-$op" "$(per_call registry "$op" "$n")"
    done
fi
rm -rf "$out"

#!/usr/bin/env bash
# CI job: the loom models of every lock-free protocol (listed in loom-tests/README.md).
source "$(dirname "$0")/lib.sh"

step "loom models"
loom_start=$SECONDS
loom=(env RUSTFLAGS="--cfg loom --cfg crossbeam_loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=3)
"${loom[@]}" cargo clippy -p lockfree-metrics --lib --no-default-features --features loom -- -D warnings
"${loom[@]}" cargo clippy -p loom-tests --lib --tests -- -D warnings
"${loom[@]}" cargo test -p loom-tests --release -- --nocapture
echo "loom step: $((SECONDS - loom_start)) s"

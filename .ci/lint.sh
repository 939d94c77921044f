#!/usr/bin/env bash
# CI job: formatting, clippy, the sync shim, docs, and every feature set.
source "$(dirname "$0")/lib.sh"

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "sync shim: atomics, locks and cells come from src/sync.rs only"
python3 .ci/sync_shim.py src

step "docs (broken links fail)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p lockfree-metrics --features otlp

step "features: every combination of the library's optional features builds without warnings"
bash .ci/features.sh

step "dependencies: the default features stay within their crate budget"
bash .ci/deps.sh

step "rust-version: dependencies' declared versions, and clippy's incompatible_msrv live"
bash .ci/msrv.sh

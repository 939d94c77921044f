#!/usr/bin/env bash
# CI job: the README's test command, doc tests included.
source "$(dirname "$0")/lib.sh"
ensure_setup

step "tests (the README's test command; doc tests included)"
# The exporter tests fail, rather than skip, if a real counterpart is
# missing; they find the venv's Python through LOCKFREE_METRICS_PYTHON and
# VictoriaMetrics where .ci/setup.sh unpacked it. The workspace build turns
# the library's `otlp` feature on (benches/programs asks for it), so the
# OTLP tests run here too.
LOCKFREE_METRICS_REQUIRE_EXTERNAL=1 LOCKFREE_METRICS_PYTHON="$CI_VENV/bin/python" \
    cargo test --workspace

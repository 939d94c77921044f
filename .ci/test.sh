#!/usr/bin/env bash
# CI job: the README's test command, doc tests included.
source "$(dirname "$0")/lib.sh"
ensure_setup

step "tests (the README's test command; doc tests included)"
# The exporter tests fail, rather than skip, if a real counterpart is
# missing; they find the venv's Python through LOCKFREE_METRICS_PYTHON.
LOCKFREE_METRICS_REQUIRE_EXTERNAL=1 LOCKFREE_METRICS_PYTHON="$CI_VENV/bin/python" \
    cargo test --workspace

#!/usr/bin/env bash
# CI job: the Python package's tests, against the package installed in the
# venv (run .ci/setup.sh first to test a changed package).
source "$(dirname "$0")/lib.sh"
ensure_setup

step "python: pytest python/tests (the package installed in the venv)"
py_start=$SECONDS
# From the root, through the venv's pytest script: python/ on sys.path would
# shadow the installed package with its source (no extension). Each test
# bounds its own time; timeout bounds the whole run.
timeout 600 "$CI_VENV/bin/pytest" -q -p no:cacheprovider python/tests
echo "python step: $((SECONDS - py_start)) s"

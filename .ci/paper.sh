#!/usr/bin/env bash
# CI job: every generated number in papers/paper.md matches the committed results.
source "$(dirname "$0")/lib.sh"

step "paper: generated numbers match papers/results"
python3 papers/paper/build.py --check --no-html

#!/usr/bin/env bash
# Regenerates the paper's numbers, tables and figures from the committed
# results and renders papers/paper.html (see build.py's header).
# pandoc renders the HTML; on Debian: apt-get install pandoc (2.17 here).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v pandoc >/dev/null || echo "pandoc missing (apt-get install pandoc): paper.html will not be rendered" >&2
exec python3 papers/paper/build.py "$@"

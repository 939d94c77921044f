# Sourced by every job script in .ci/: strict mode, the repository root as
# the working directory, and the shared helpers. A job script runs alone,
# locally, unchanged: `bash .ci/lint.sh`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n=== %s\n' "$*"; }

# The venv the exporter tests and pytest use (made by .ci/setup.sh).
CI_VENV="$PWD/target/ci-venv"

# Makes the system packages and the venv if this machine lacks them.
ensure_setup() {
    if [ ! -x "$CI_VENV/bin/python" ] || ! command -v prometheus >/dev/null 2>&1 \
        || [ ! -x target/victoria-metrics/root/usr/bin/victoria-metrics ]; then
        bash .ci/setup.sh
    fi
}

#!/usr/bin/env bash
# CI job: what the other jobs need from outside the repository. System
# packages (Debian's, installed only where missing) and a fresh venv with
# the Python package, pytest and prometheus-client's reference parsers.
source "$(dirname "$0")/lib.sh"

step "toolchain"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo --version

step "system packages: Python (venv, headers), Prometheus + promtool, Java + HdrHistogram's log tools, Chromium"
# pyo3 links -lpython<version> (python3-dev ships that .so); Debian's python3
# has no ensurepip without python3-venv. The exporter tests run the real
# Prometheus server and promtool (prometheus), and HdrHistogram's Java
# HistogramLogProcessor (libhdrhistogram-java, on a headless JRE). The
# comparison's report test renders report.html in headless Chromium (chromium).
python_ready() {
    command -v python3 >/dev/null 2>&1 && python3 - 2>/dev/null <<'PY'
import ensurepip, os, sysconfig, venv
lib = f"libpython{sysconfig.get_config_var('LDVERSION')}.so"
raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_config_var("LIBDIR") or "", lib)))
PY
}
packages=()
python_ready || packages+=(python3-venv python3-dev)
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
command -v java >/dev/null 2>&1 || packages+=(default-jre-headless)
test -f /usr/share/java/hdrhistogram.jar || packages+=(libhdrhistogram-java)
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
if [ ${#packages[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
fi
python3 --version
prometheus --version 2>&1 | head -1
java -version 2>&1 | head -1
chromium --version 2>&1 | head -1

step "victoria-metrics (Debian trixie's, unpacked under target/, not installed): the OTLP receiver of tests/export/otlp_victoriametrics.rs"
# The mirror is this machine's own (from its apt sources); the script caches
# the unpacked package under target/victoria-metrics, where the tests look.
echo "victoria-metrics: $(bash tests/support/fetch_victoria_metrics.sh)"

step "python venv: the package, pytest, prometheus-client's reference parsers, the OpenTelemetry project's OTLP messages"
py_start=$SECONDS
rm -rf "$CI_VENV"
python3 -m venv "$CI_VENV"
"$CI_VENV/bin/pip" install --quiet ./python pytest prometheus-client opentelemetry-proto==1.45.2
echo "venv: $((SECONDS - py_start)) s"

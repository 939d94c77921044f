#!/usr/bin/env bash
# Fetches Debian trixie's victoria-metrics package and unpacks it (no
# install: the system's packages are untouched) for tests/export/otlp_victoriametrics.rs.
#
# The mirror comes from this machine's own apt sources (deb822 *.sources,
# one-line *.list): the first entry serving the machine's own release
# (VERSION_CODENAME) is reused with the suite replaced by trixie, in a
# private sources list and private state directories. Nothing here names a
# host.
#
# Usage: fetch_victoria_metrics.sh [CACHE_DIR]   (default: target/victoria-metrics)
# Prints the path of the victoria-metrics binary. Idempotent: a cached
# binary is reused.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${1:-$root/target/victoria-metrics}"
bin="$cache/root/usr/bin/victoria-metrics"
if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
fi
mkdir -p "$cache"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
[ -n "$codename" ] || { echo "no VERSION_CODENAME in /etc/os-release" >&2; exit 1; }

# "URI SIGNED_BY" of the first entry serving $codename itself.
entry="$(python3 - "$codename" <<'PY'
import glob, re, sys
codename = sys.argv[1]
files = []
if glob.os.path.exists("/etc/apt/sources.list"):
    files.append("/etc/apt/sources.list")
files += sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
files += sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
for path in files:
    text = open(path, encoding="utf-8", errors="replace").read()
    if path.endswith(".sources"):
        for stanza in re.split(r"\n\s*\n", text):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip()
            if fields.get("enabled", "yes").lower() == "no":
                continue
            if "deb" not in fields.get("types", "").split():
                continue
            if codename in fields.get("suites", "").split() and "main" in fields.get("components", "").split():
                print(fields["uris"].split()[0], fields.get("signed-by", ""))
                sys.exit(0)
    else:
        for line in text.splitlines():
            m = re.match(r"\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)", line)
            if m and m.group(3) == codename and "main" in m.group(4).split():
                opts = m.group(1) or ""
                sb = re.search(r"signed-by=(\S+?)\]?(\s|$)", opts)
                print(m.group(2), sb.group(1) if sb else "")
                sys.exit(0)
sys.exit(f"no apt source serves {codename} main")
PY
)"
uri="${entry%% *}"
signed_by="${entry#* }"
opts=""
[ -n "$signed_by" ] && [ "$signed_by" != "$uri" ] && opts="[signed-by=$signed_by] "
echo "deb ${opts}${uri} trixie main" > "$work/trixie.list"
mkdir -p "$work/lists/partial" "$work/archives/partial"
apt=(apt-get -q
    -o Dir::Etc::sourcelist="$work/trixie.list"
    -o Dir::Etc::sourceparts=-
    -o Dir::State::Lists="$work/lists"
    -o Dir::Cache::Archives="$work/archives"
    -o Dir::Cache::pkgcache="$work/pkgcache.bin"
    -o Dir::Cache::srcpkgcache="$work/srcpkgcache.bin"
    -o APT::Get::List-Cleanup=0)
"${apt[@]}" update >&2
(cd "$work" && "${apt[@]}" download victoria-metrics >&2)
deb="$(ls "$work"/victoria-metrics_*.deb)"
rm -rf "$cache/root"
dpkg-deb -x "$deb" "$cache/root"

test -x "$bin" || { echo "the package holds no usr/bin/victoria-metrics" >&2; exit 1; }
echo "$bin"

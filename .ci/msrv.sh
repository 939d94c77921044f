#!/usr/bin/env bash
# CI job part: what this machine can check of `rust-version` without a
# second toolchain.
#  1. Every package a user's build compiles (normal and build dependencies
#     under every user-facing feature, on this host's platform, at the
#     versions in Cargo.lock) declares a rust-version no newer than ours
#     (or none). The `loom` feature is left out: it is for loom-tests only,
#     and loom's `generator` needs a newer Rust.
#  2. clippy's `incompatible_msrv` lint, which reads rust-version and flags
#     std APIs stabilised after it, is live on this toolchain: a canary
#     crate at our rust-version calling `File::lock` (stable in 1.89) must
#     be flagged. `cargo clippy` in lint.sh then applies it to our code.
# Not checked: language features and lints newer than rust-version, and
# dependencies' own code (each is trusted to meet its declared version).
source "$(dirname "$0")/lib.sh"

msrv=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["package"]["rust-version"])')
features=$(python3 -c '
import tomllib
f = tomllib.load(open("Cargo.toml", "rb"))["features"]
print(",".join(sorted(k for k in f if k not in ("default", "loom"))))')
echo "rust-version $msrv; features $features"

step "dependencies' declared rust-version against $msrv"
cargo tree -q --offline -p lockfree-metrics -e normal,build --features "$features" \
    --prefix none --format '{p}' | sed 's/ (\*)$//; s/ (proc-macro)$//; s/ (\/.*)$//' | sort -u >target/msrv-packages.txt
cargo metadata -q --offline --format-version 1 | python3 -c '
import json, sys
msrv = tuple(int(x) for x in sys.argv[1].split("."))
wanted = {tuple(l.split()[:2]) for l in open("target/msrv-packages.txt") if l.strip()}
too_new, checked = [], 0
for p in json.load(sys.stdin)["packages"]:
    if (p["name"], "v" + p["version"]) not in wanted:
        continue
    checked += 1
    rv = p.get("rust_version")
    if rv and tuple(int(x) for x in rv.split(".")[:2]) > msrv[:2]:
        too_new.append(" ".join([p["name"], p["version"], "needs", rv]))
print(f"{checked} packages checked (of {len(wanted)})")
if checked != len(wanted):
    sys.exit("some packages were not found in cargo metadata")
if too_new:
    sys.exit("newer than rust-version:\n  " + "\n  ".join(too_new))
' "$msrv"

step "clippy's incompatible_msrv flags an API newer than $msrv"
canary=$(mktemp -d)
trap 'rm -rf "$canary"' EXIT
mkdir "$canary/src"
printf '[package]\nname = "msrv-canary"\nversion = "0.0.0"\nedition = "2021"\nrust-version = "%s"\n[workspace]\n' "$msrv" >"$canary/Cargo.toml"
printf '%s\n' '//! Calls an API stabilised in 1.89.' \
    'fn main() { let f = std::fs::File::open("/dev/null").unwrap(); let _ = f.lock(); }' >"$canary/src/main.rs"
out=$(cd "$canary" && CARGO_TARGET_DIR="$canary/target" cargo clippy -q --offline 2>&1 || true)
if ! grep -q "incompatible_msrv" <<<"$out"; then
    echo "$out"
    echo "clippy did not flag File::lock (1.89) under rust-version $msrv" >&2
    exit 1
fi
echo "flagged: $(grep -m1 -o 'current MSRV is [^ ]* but this item is stable since `[^`]*`' <<<"$out" || grep -m1 warning <<<"$out")"

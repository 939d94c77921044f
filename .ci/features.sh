#!/usr/bin/env bash
# CI job part: the library builds, warning-free, under every combination of
# its optional features (the feature powerset, each set closed under the
# features it enables, duplicates checked once; `loom` excluded: it needs
# --cfg loom and is checked by .ci/loom.sh). A loop rather than cargo-hack,
# which would be one more tool to build on every fresh machine.
source "$(dirname "$0")/lib.sh"

mapfile -t sets < <(python3 - <<'PY'
import itertools, tomllib
with open("Cargo.toml", "rb") as f:
    feats = tomllib.load(f)["features"]
names = sorted(k for k in feats if k not in ("default", "loom"))

def closure(s):
    s, todo = set(s), list(s)
    while todo:
        for dep in feats[todo.pop()]:
            if dep in feats and dep not in s:
                s.add(dep)
                todo.append(dep)
    return frozenset(s)

seen = []
for r in range(len(names) + 1):
    for combo in itertools.combinations(names, r):
        c = closure(combo)
        if c not in seen:
            seen.append(c)
            print(",".join(sorted(c)))
PY
)
echo "${#sets[@]} distinct feature sets"
for list in "${sets[@]}"; do
    echo "--- [${list:-no features}]"
    RUSTFLAGS="-D warnings" CARGO_TARGET_DIR=target/features \
        cargo check -q -p lockfree-metrics --lib --no-default-features ${list:+--features "$list"}
done

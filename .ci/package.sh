#!/usr/bin/env bash
# CI job: the library packages and publishes (dry run) as crates.io would
# take it, and the package holds the library only.
source "$(dirname "$0")/lib.sh"

step "package contents: the library, its benches, docs and licences; no papers, data, tests or bindings"
list=$(cargo package -q -p lockfree-metrics --list)
echo "$list" | wc -l
if bad=$(grep -Ev '^(src/|benches/(record|contention)\.rs$|benches/support/inputs\.rs$|Cargo\.(toml|toml\.orig|lock)$|\.cargo_vcs_info\.json$|README\.md$|CHANGELOG\.md$|LICENSE-(MIT|APACHE)$)' <<<"$list"); then
    echo "$bad"
    echo "files outside the library in the package" >&2
    exit 1
fi
for needed in LICENSE-MIT LICENSE-APACHE README.md CHANGELOG.md src/lib.rs; do
    grep -qx "$needed" <<<"$list" || { echo "$needed missing from the package" >&2; exit 1; }
done

# The packaged crate builds alone, with its default features and no
# build.rs (which the package leaves out: it only marks tests' programs).
step "cargo package (builds the packaged crate)"
cargo package -p lockfree-metrics

step "a user's crate on the default features"
bash .ci/default_user.sh

step "cargo publish --dry-run"
cargo publish --dry-run -p lockfree-metrics

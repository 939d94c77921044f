#!/usr/bin/env bash
# CI job part: the default feature set stays lean. A user's build with
# default features compiles at most MAX_CRATES packages (normal and build
# dependencies, this crate included), counted in the lock file's
# resolution; and no build script or proc macro compiles a .proto.
source "$(dirname "$0")/lib.sh"

MAX_CRATES=30
count() {
    cargo tree -q --offline -p lockfree-metrics -e normal,build --prefix none "$@" \
        | sed 's/ (\*)$//; s/ (proc-macro)$//' | sort -u
}
default=$(count)
n=$(wc -l <<<"$default")
echo "default features: $n crates (at most $MAX_CRATES)"
if [ "$n" -gt "$MAX_CRATES" ]; then
    echo "$default"
    echo "the default features pull in $n crates, more than $MAX_CRATES" >&2
    exit 1
fi
for compiler in protox prost-build protobuf-codegen; do
    if grep -q "^$compiler v" <<<"$default$(count --all-features)"; then
        echo "$compiler is built for users: commit generated code instead (.ci/gen_prometheus_proto.sh)" >&2
        exit 1
    fi
done

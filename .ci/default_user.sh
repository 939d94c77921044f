#!/usr/bin/env bash
# CI job part: a user's crate on the default features. This package's own
# tests build with every exporter on (its self dev-dependency), so the
# default build is checked here, as a user would have it: it builds, and
# protobuf, which needs the `protobuf` feature, is never negotiated and
# renders as text 0.0.4 under the text content type.
source "$(dirname "$0")/lib.sh"

user="$PWD/target/default-user"
rm -rf "$user"
mkdir -p "$user/src"
printf '[package]\nname = "default-user"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n[dependencies]\nlockfree-metrics = { path = "%s" }\n[workspace]\n' "$PWD" >"$user/Cargo.toml"
cp Cargo.lock "$user/"
cat >"$user/src/main.rs" <<'RS'
use lockfree_metrics::export::prometheus::{render, Format, RenderOpts, TEXT_CONTENT_TYPE};
use lockfree_metrics::registry::Registry;

fn main() {
    // What Prometheus sends with native histograms on: protobuf first.
    let accept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.5";
    assert!(!Format::Protobuf.is_available());
    assert_eq!(Format::negotiate(accept), Format::OpenMetrics);
    let registry = Registry::new();
    registry.counter("jobs_total", &[]).unwrap().increment(1);
    let opts = RenderOpts::default();
    let (body, content_type) = render(&registry.snapshot(), Format::Protobuf, &opts);
    assert_eq!(content_type, TEXT_CONTENT_TYPE);
    assert_eq!((body, content_type), render(&registry.snapshot(), Format::Text, &opts));
    println!("default features: protobuf falls back to text 0.0.4");
}
RS
# The repository's target folder: the dependencies `cargo package` built.
target="${CARGO_TARGET_DIR:-$PWD/target}"
(cd "$user" && CARGO_TARGET_DIR="$target" cargo run -q --offline)

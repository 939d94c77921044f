//! `Debug` output stays a short summary in every strategy: a collector
//! holds tens of thousands of histogram counters, which no log line wants.

use std::time::Duration;

use lockfree_metrics::{
    Atomic, Config, FineGrained, GlobalLock, ManualClock, MetricsCollector, Sharded,
};

fn check(name: &str, m: &(impl MetricsCollector + std::fmt::Debug)) {
    for (style, text) in [("{:?}", format!("{m:?}")), ("{:#?}", format!("{m:#?}"))] {
        assert!(text.len() < 2_048, "{name} {style}: {} bytes", text.len());
        assert!(text.starts_with(name), "{name} {style}: {text}");
    }
}

fn record(m: &impl MetricsCollector) {
    m.record_latency(Duration::from_millis(3));
    m.record_throughput(10, 1);
    m.record_batch_size(8);
    m.record_queue_depth(4);
}

macro_rules! debug_is_short {
    ($($test:ident: $strategy:ident),* $(,)?) => {$(
        #[test]
        fn $test() {
            let m = $strategy::with_clock(Config::default(), ManualClock::new());
            check(stringify!($strategy), &m);
            record(&m);
            check(stringify!($strategy), &m);
        }
    )*};
}

debug_is_short! {
    global_lock: GlobalLock,
    fine_grained: FineGrained,
    atomic: Atomic,
    sharded: Sharded,
}

//! The conformance suite: one set of tests, run against every strategy.
//! A strategy joins with one line in `conformance!` below.

mod suite;

/// Expands every test of `suite` for one strategy constructor
/// `fn(Config, ManualClock) -> impl MetricsCollector`.
macro_rules! conformance {
    ($($strategy:ident => $make:expr),* $(,)?) => {$(
        mod $strategy {
            use lockfree_metrics::*;
            suite_tests!($make;
                latency_hand_computed,
                percentiles_within_precision_of_sorted_samples,
                throughput_windows_follow_the_clock,
                window_rates_divide_by_time_covered,
                batch_semantics,
                queue_depth_semantics,
                mode_transitions_count_changes_only,
                transition_log_keeps_the_most_recent,
                getters_agree_with_snapshot,
                snapshot_invariants_hold,
                reset_clears_every_metric,
                take_interval_partitions_records,
                bad_input_is_clamped_and_counted,
                zero_is_a_valid_value,
                extreme_modes_and_throughput,
                agrees_with_the_oracle,
                exact_accounting_under_concurrency,
                concurrent_intervals_partition_records,
                record_request_is_its_five_records,
            );
        }
    )*};
}

macro_rules! suite_tests {
    ($make:expr; $($test:ident),* $(,)?) => {$(
        #[test]
        fn $test() {
            super::suite::$test($make);
        }
    )*};
}

conformance! {
    global_lock => GlobalLock::with_clock,
    fine_grained => FineGrained::with_clock,
    atomic => Atomic::with_clock,
    sharded => Sharded::with_clock,
    ring => Ring::with_clock,
}

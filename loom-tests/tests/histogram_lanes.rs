//! A registry histogram's lanes and pages (`src/registry/lanes.rs`,
//! `src/registry/histogram.rs`, `src/registry/histogram/pages.rs`): the
//! owner-lane protocol.
//!
//! A model thread's exit is `lanes_exit_thread()`, called last in it:
//! loom drops a thread's thread-locals after a join returns.
//!
//! Under loom a series has 2 lanes, pages of 2 counters, and a narrow
//! counter carries at 4 (`CARRY`), so that the models reach claims,
//! directories and carries in a few records.
//!
//! | model | claim asserted | broken variant it catches |
//! |---|---|---|
//! | `first_records_claim_lanes` | two threads' first records into one series claim lanes concurrently; no record is lost | `lane_claim_not_cas` (a load then a store: both own lane 0, a plain store is lost) |
//! | `a_dead_owners_lane_is_taken_over` | a thread records and exits; another, not joined to it, takes its lane over (or uses the other) and continues from its count | `lane_takeover_relaxed` (the liveness load Relaxed: the taker's load of the counter may miss the dead owner's store) |
//! | `a_carry_is_read_consistently` | a reader during an owner's carry reads a count between 1 and the records made, exact at rest | `carry_without_pending` (no pending bit: a reader between steps counts the carry twice) |
//! | `the_directory_holds_the_first_page` | an owner's second page makes the directory while a reader reads; every record is found | `pages_dir_without_first` (the first page left out), `pages_publish_relaxed` (a page published Relaxed) |

#[cfg(loom)]
mod tests {
    use lockfree_metrics::{
        __loom::{histogram_count_sum, lanes_exit_thread},
        registry::{Histogram, HistogramOpts, Registry},
    };
    use loom::thread;
    use loom_tests::model;

    /// A histogram of values 1 to 16: 1 significant digit, so that 1..4
    /// are separate buckets of the first pages.
    fn histogram() -> Histogram {
        let registry = Registry::new();
        let opts = HistogramOpts::new(1, 16, 1).unwrap();
        registry.histogram_with("h", &[], opts).unwrap()
    }

    #[test]
    fn first_records_claim_lanes() {
        model("histogram_lanes/first_records_claim_lanes", || {
            let h = histogram();
            let other = {
                let h = h.clone();
                thread::spawn(move || {
                    h.record(1);
                    lanes_exit_thread();
                })
            };
            h.record(1);
            other.join().unwrap();
            assert_eq!(histogram_count_sum(&h), (2, 2), "a record was lost");
        });
    }

    #[test]
    fn a_dead_owners_lane_is_taken_over() {
        model("histogram_lanes/a_dead_owners_lane_is_taken_over", || {
            let h = histogram();
            let first = {
                let h = h.clone();
                thread::spawn(move || {
                    h.record(1);
                    lanes_exit_thread();
                })
            };
            let second = {
                let h = h.clone();
                thread::spawn(move || {
                    h.record(1);
                    lanes_exit_thread();
                })
            };
            h.record(1);
            first.join().unwrap();
            second.join().unwrap();
            assert_eq!(histogram_count_sum(&h), (3, 3), "a record was lost");
        });
    }

    #[test]
    fn a_carry_is_read_consistently() {
        model("histogram_lanes/a_carry_is_read_consistently", || {
            let h = histogram();
            // The owner claims its lane and page before the reader starts.
            h.record(1);
            let reader = {
                let h = h.clone();
                thread::spawn(move || {
                    let (count, _) = histogram_count_sum(&h);
                    assert!((1..=4).contains(&count), "{count} counted of 4 records");
                })
            };
            // Three more: the narrow counter carries at the fourth record.
            for _ in 0..3 {
                h.record(1);
            }
            reader.join().unwrap();
            assert_eq!(histogram_count_sum(&h), (4, 4));
        });
    }

    #[test]
    fn the_directory_holds_the_first_page() {
        model("histogram_lanes/the_directory_holds_the_first_page", || {
            let h = histogram();
            h.record(1);
            let reader = {
                let h = h.clone();
                thread::spawn(move || {
                    let (count, sum) = histogram_count_sum(&h);
                    assert!((1..=2).contains(&count), "{count} counted of 2");
                    assert!(sum <= 9);
                })
            };
            // Another page: the directory is made, with page 0 in it.
            h.record(8);
            reader.join().unwrap();
            assert_eq!(
                histogram_count_sum(&h),
                (2, 9),
                "a page's records are missing"
            );
        });
    }
}

//! One-writer 128-bit totals (`OwnedWide` in `src/lockfree/counters.rs`):
//! a wrapping low word and a carry sequence, read without the writer's
//! help. Every reading is a value the total held or passed through while
//! the reading ran, and readings never go backwards.
//!
//! Broken variant: `wide_carry_unfenced` (a carry without its odd phase and
//! fence: a reader pairs the wrapped low word with the old carry count).

#[cfg(loom)]
mod tests {
    use std::sync::Arc;

    use lockfree_metrics::__loom::OwnedWide;
    use loom::thread;
    use loom_tests::model;

    /// The owner adds `u64::MAX - 1`, then 3 (a carry: 2^64 + 1), then 1,
    /// while a reader reads twice. A reading is 0, `u64::MAX - 1`, or
    /// within the carrying record's span `u64::MAX - 1 ..= 2^64 + 1`, or
    /// 2^64 + 2: never the wrapped low word alone, nor 2^64 plus the old
    /// low word.
    #[test]
    fn readings_are_values_the_total_passed() {
        model("wide/readings_are_values_the_total_passed", || {
            let w = Arc::new(OwnedWide::default());
            let reader = {
                let w = Arc::clone(&w);
                thread::spawn(move || {
                    let first = w.load();
                    let second = w.load();
                    let two_64 = 1_u128 << 64;
                    for r in [first, second] {
                        assert!(
                            r == 0 || (u128::from(u64::MAX - 1)..=two_64 + 2).contains(&r),
                            "read {r:#x}"
                        );
                    }
                    assert!(first <= second, "{first:#x} then {second:#x}");
                })
            };
            w.add_owned(u64::MAX - 1);
            w.add_owned(3);
            w.add_owned(1);
            reader.join().unwrap();
            assert_eq!(w.load(), (1 << 64) + 2);
        });
    }
}

//! Shard registration and iteration: the registry that stands in for
//! `thread_local::ThreadLocal` under loom (`src/lockfree/shard_map.rs`),
//! directly and through `Sharded`. A thread registering its shard while a
//! reader iterates must never expose a half-built shard, and nothing a
//! thread recorded may be missed once it is done.
//!
//! `thread_local` itself has no loom support (its thread ids come from std
//! thread-locals), so these models check the registry `Sharded` uses under
//! loom, and the way `Sharded` uses whichever map it is given.
//!
//! Broken variant: `registry_relaxed` (the entry pointer published with
//! `Relaxed`).

#[cfg(loom)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use crossbeam_epoch::Collector;
    use lockfree_metrics::{__loom::ShardMap, ManualClock, MetricsCollector, Sharded};
    use loom::{
        sync::atomic::{AtomicU64, Ordering},
        thread,
    };
    use loom_tests::{model, tiny_config};

    /// A shard of one counter, written only by its thread.
    #[derive(Debug, Default)]
    struct Shard(AtomicU64);

    impl Shard {
        fn add(&self) {
            // Relaxed: a single writer's counter, as in `Counters::add_owned`.
            self.0
                .store(self.0.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }

        fn get(&self) -> u64 {
            // Relaxed: each reading is a cut of this one counter.
            self.0.load(Ordering::Relaxed)
        }
    }

    fn total(map: &ShardMap<Shard>) -> (usize, u64) {
        map.iter()
            .fold((0, 0), |(n, sum), s| (n + 1, sum + s.get()))
    }

    /// Two threads register and record (one twice, through the same shard)
    /// while a third iterates the registry.
    #[test]
    fn register_while_iterating() {
        model("shard_map/register_while_iterating", || {
            let map = Arc::new(ShardMap::<Shard>::new());
            let reader = {
                let map = Arc::clone(&map);
                thread::spawn(move || {
                    let (shards, sum) = total(&map);
                    assert!(shards <= 2 && sum <= 3, "{shards} shards, {sum} records");
                })
            };
            let other = {
                let map = Arc::clone(&map);
                thread::spawn(move || map.get_or(Shard::default).add())
            };
            map.get_or(Shard::default).add();
            map.get_or(|| unreachable!("registered twice")).add();
            other.join().unwrap();
            reader.join().unwrap();
            assert_eq!(total(&map), (2, 3), "a shard or a record was lost");
        });
    }

    /// Through `Sharded`: two threads make their first records (registering
    /// their shards) while a reader takes latency snapshots. A snapshot
    /// counts at most what was recorded, and at the end exactly that.
    #[test]
    fn sharded_register_while_reading() {
        model("shard_map/sharded_register_while_reading", || {
            let m = Arc::new(Sharded::with_collector(
                tiny_config(1, 0),
                ManualClock::new(),
                Collector::new(),
            ));
            let reader = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    let count = m.latency().count;
                    assert!(count <= 2, "counted {count} of 2 records");
                })
            };
            let other = {
                let m = Arc::clone(&m);
                thread::spawn(move || m.record_latency(Duration::from_nanos(1)))
            };
            m.record_latency(Duration::from_nanos(3));
            other.join().unwrap();
            reader.join().unwrap();
            let s = m.latency();
            assert_eq!(s.count, 2, "{s:?}");
            assert_eq!(m.shards_allocated(), 2);
        });
    }
}

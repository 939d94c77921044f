//! loom models of the lock-free protocols in `lockfree-metrics`, one file
//! per protocol in `tests/` (see `README.md`). This library holds what the
//! models share; like them, it is empty unless built with
//! `RUSTFLAGS="--cfg loom --cfg crossbeam_loom"`.
//!
//! # Arranging a model for loom 0.7
//!
//! loom's DPOR remembers only the *last* access to each atomic
//! (tokio-rs/loom#166, #392). When thread X loads a word and thread Y later
//! loads it and then stores it, Y's own load replaces X's as the last
//! access, so the interleaving with Y's store before X's load is never
//! tried. A thread's *pending* operation, though, is checked against every
//! access the running thread makes. Hence the models' shape: the thread
//! that writes a word with a load then a store (a shard's owner, a reset
//! installing its reading) is the main thread, which runs first, and the
//! threads that read that word are spawned, so that their pending loads
//! meet each of the writer's stores. Where both sides write words the
//! other reads (the `Atomic` strategy's epoch), the race is modelled both
//! ways round. [`model`] fails a model that explores a single execution:
//! its threads never raced.

#[cfg(loom)]
pub use support::*;

#[cfg(loom)]
mod support {
    use std::{
        sync::{
            atomic::{AtomicUsize, Ordering},
            Arc,
        },
        time::{Duration, Instant},
    };

    use lockfree_metrics::Config;

    /// The preemption bound when `LOOM_MAX_PREEMPTIONS` is unset: every
    /// model runs in seconds at 2 (CI runs 3), and none runs unbounded by
    /// accident.
    pub const DEFAULT_PREEMPTIONS: usize = 2;

    /// Runs `f` under `loom::model`, every interleaving up to the
    /// preemption bound, and prints how many executions it explored and how
    /// long it took (run with `--nocapture` to see it). If an execution
    /// fails, prints how many executions had been explored, the failing one
    /// included, before the panic propagates. Returns the execution count.
    pub fn model<F>(name: &str, f: F) -> usize
    where
        F: Fn() + Send + Sync + 'static,
    {
        model_with_branches(name, 0, f)
    }

    /// [`model`], with loom's cap on the branches (atomic operations and
    /// switches) of one execution raised to at least `max_branches`, for a
    /// model whose executions are long rather than many: a registry
    /// reading pins crossbeam-epoch, tens of branches each, and the default
    /// cap (1,000, or `LOOM_MAX_BRANCHES`) would fail an execution for its
    /// length, not for its property.
    pub fn model_with_branches<F>(name: &str, max_branches: usize, f: F) -> usize
    where
        F: Fn() + Send + Sync + 'static,
    {
        model_bounded(name, max_branches, usize::MAX, f)
    }

    /// [`model_with_branches`], with the preemption bound capped at
    /// `max_preemptions`: for a model whose bug needs that many preemptions
    /// at most (each model says why), and whose executions under the
    /// CI's bound would take many minutes.
    pub fn model_bounded<F>(name: &str, max_branches: usize, max_preemptions: usize, f: F) -> usize
    where
        F: Fn() + Send + Sync + 'static,
    {
        let mut builder = loom::model::Builder::new();
        builder.max_branches = builder.max_branches.max(max_branches);
        let bound = builder
            .preemption_bound
            .unwrap_or(DEFAULT_PREEMPTIONS)
            .min(max_preemptions);
        builder.preemption_bound = Some(bound);
        // A std atomic, outside the model: loom runs one execution at a time.
        let executions = Arc::new(AtomicUsize::new(0));
        let report = Report {
            name: name.to_owned(),
            bound,
            executions: Arc::clone(&executions),
            started: Instant::now(),
        };
        builder.check(move || {
            // Relaxed: a count read after the model, on this thread.
            executions.fetch_add(1, Ordering::Relaxed);
            f();
        });
        // Relaxed: see above.
        let n = report.executions.load(Ordering::Relaxed);
        assert!(n > 1, "model {name} explored one execution: nothing raced");
        n
    }

    /// Prints the count on the way out, whether the model passed or failed.
    struct Report {
        name: String,
        bound: usize,
        executions: Arc<AtomicUsize>,
        started: Instant,
    }

    impl Drop for Report {
        fn drop(&mut self) {
            // Relaxed: see `model`.
            let n = self.executions.load(Ordering::Relaxed);
            let outcome = if std::thread::panicking() {
                format!("FAILED in execution {n}")
            } else {
                format!("passed, {n} executions")
            };
            println!(
                "model {}: {outcome}, preemption bound {}, {:.2} s",
                self.name,
                self.bound,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    /// The smallest configuration: one window of one slot (a ring of two
    /// entries), a latency histogram of a few counters, batches up to
    /// `max_batch`, queue depths up to 4, a transition log of `log` entries.
    pub fn tiny_config(max_batch: usize, log: usize) -> Config {
        Config::builder()
            .windows([Duration::from_millis(1)])
            .window_resolution(Duration::from_millis(1))
            .latency_range(Duration::from_nanos(1), Duration::from_nanos(4))
            .significant_digits(0)
            .max_batch_size(max_batch)
            .max_queue_depth(4)
            .transition_log(log)
            .build()
            .expect("a valid tiny configuration")
    }
}

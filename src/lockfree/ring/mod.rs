//! `Ring`: the seed's third v1.5.0 direction, "lock-free ring buffers feed
//! an aggregator" (message passing). Every recording thread owns a bounded
//! single-producer ring of record messages (`lane`); readers drain every
//! ring into one aggregate of HDR histograms and slot rings under the
//! aggregator's lock, applying each record whole, and compute the snapshot
//! from it. The protocol and its measurements are in `papers/ring.md`.
//!
//! **Record path** (wait-free after a thread's first record into a
//! collector): a one-entry thread-local cache finds the thread's lane, and
//! the record is stored as one message (latency; tokens and requests with
//! their clock reading; a batch size or a queue depth with its clock
//! reading) and published with one `Release` store. A full ring never drops
//! a record and never waits: the writer folds the record into its lane's
//! overflow batch, a private aggregate that readers take whole (`lane`).
//! Writers never take the aggregator's lock, so no reader ever waits for a
//! writer (a writer that drained its own ring under the lock when it
//! found it free would make readers wait for it if it were descheduled
//! there). Mode
//! changes go through the same shared mode word and transition log as
//! `Sharded`'s (`lockfree::log`): transitions are defined in one global
//! order, which per-thread rings do not have.
//!
//! **Read path.** A reader locks the aggregator and drains every lane: the
//! published messages of each ring, and its batch unless the writer is
//! folding into it at that instant (then the batch waits for the next
//! read: a reader never waits for a writer). `take_interval` drains,
//! reads and clears the aggregate under the one lock, so each record is in
//! exactly one interval, whole: its bucket, sum, clamp count and window
//! share together, and each thread's records are cut at one point of its
//! program order.
//!
//! **Threads.** A thread finds its lanes through a `thread_local!` of its
//! own (one lane per collector it records into), whose destructor marks
//! them retired as the thread exits and offers them to new threads through
//! a bounded lock-free queue (`crossbeam_queue::ArrayQueue`, 64 lanes). A
//! new thread claims a retired lane with a CAS and keeps pushing where the
//! exited thread stopped (its unread records stay for the readers); a
//! reader that finds a lane retired drains it and removes it with a CAS
//! from the same state, so exactly one of the two wins and no record goes
//! into a removed lane. Lanes are shared by reference count (`Arc`): the
//! thread, the readers' list and the queue each hold one, and the last to
//! let go frees it; no reader can reach a lane it has not counted, so
//! crossbeam-epoch would add a pin per drain for nothing. New lanes reach
//! readers through a lock-free queue (`SegQueue`); a record made from a
//! thread-local destructor after the thread's lanes were retired is pushed
//! to that queue's sibling, `late`, as a single message.
//!
//! Progress: records are wait-free once the thread has its lane (a mode
//! change is lock-free, as in `Sharded`; a new overflow batch may
//! allocate); a thread's first record into a collector pops a lock-free
//! queue and claims by CAS, or allocates and pushes onto a lock-free
//! queue. Readers serialise on the aggregator's lock, which only readers
//! take, each doing bounded work (the published messages of every lane,
//! one batch per lane); a reader never waits for a writer.

#[cfg(not(loom))]
mod collector;
// `pub` for the loom models: see `lockfree`'s `mod` lines.
#[cfg_attr(not(loom), allow(unreachable_pub))]
mod lane;

#[cfg(not(loom))]
pub use collector::{Ring, DEFAULT_RING_CAPACITY};
#[cfg(loom)]
pub use lane::{Fold, Lane, Msg, Pushed, Retired, Sink};

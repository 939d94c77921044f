//! The lock-free strategies and the protocols they are built from.
//!
//! | module | algorithm | progress |
//! |---|---|---|
//! | `counters` | monotonic counter arrays: owned (load + store) or shared (`fetch_add`) | wait-free |
//! | `slots` | window slot ring, lap and count packed in one word | wait-free (owned), lock-free (shared) |
//! | `mode` | mode and transition count in one CAS word | lock-free |
//! | `log` | the mode word's log: entries indexed by sequence number, validated per entry | lock-free |
//! | `extremes` | exact min and max: a word each, lowered/raised by records, swapped empty by resets | wait-free (owned), lock-free (shared) |
//! | `gauge` | current values: alternating seqlock slots (one writer), epoch-tagged words (many) | wait-free writes, lock-free reads |
//! | `shard_map` | per-thread shards (`thread_local`; a registry under loom) | wait-free after the first record |
//! | `published` | a value replaced by CAS, reclaimed by crossbeam-epoch | lock-free |
//! | `ring` | per-thread SPSC rings of record messages, overflow batches taken whole, drained under the reader's lock | wait-free records, blocking among readers only |
//! | `zeroed` | word arrays on their own zero pages, resident only where written | (plain data) |
//! | `readout` | readings of the cells and their conversion to snapshots | (plain data) |

// The `pub` items of the modules marked below are the loom models' surface
// (`crate::__loom`): reachable under `--cfg loom`, where `unreachable_pub`
// checks them, and from nowhere outside the crate otherwise.
mod atomic;
#[cfg_attr(not(loom), allow(unreachable_pub))]
pub(crate) mod counters;
#[cfg_attr(not(loom), allow(unreachable_pub))]
mod extremes;
mod gauge;
#[cfg_attr(not(loom), allow(unreachable_pub))]
mod log;
#[cfg_attr(not(loom), allow(unreachable_pub))]
mod mode;
#[cfg_attr(not(loom), allow(unreachable_pub))]
pub(crate) mod published;
pub(crate) mod readout;
mod ring;
mod shard_map;
mod sharded;
mod slots;
mod zeroed;

pub use atomic::Atomic;
#[cfg(not(loom))]
pub use ring::{Ring, DEFAULT_RING_CAPACITY};
pub(crate) use shard_map::note_record;
#[cfg(loom)]
pub use shard_map::ShardMap;
#[cfg(not(loom))]
pub(crate) use shard_map::ShardMap;
pub use sharded::Sharded;

// For `crate::__loom` only: the loom models drive these protocols directly.
#[cfg(loom)]
pub use self::{
    counters::{OwnedCounters, OwnedWide, RelaxedLoads, SharedCounters},
    extremes::Extremes,
    log::TransitionLog,
    mode::{Change, ModeCell, ModeState},
    published::Published,
    ring::{Fold, Lane, Msg, Pushed, Retired, Sink},
};

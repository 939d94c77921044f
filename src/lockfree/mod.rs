//! The lock-free strategies and the protocols they are built from.
//!
//! | module | algorithm | progress |
//! |---|---|---|
//! | `counters` | monotonic counter arrays: owned (load + store) or shared (`fetch_add`) | wait-free |
//! | `slots` | window slot ring, lap and count packed in one word | wait-free (owned), lock-free (shared) |
//! | `mode` | mode and transition count in one CAS word | lock-free |
//! | `ring` | overwrite ring of transition events with per-entry seqlocks | wait-free |
//! | `shard_map` | per-thread shards (`thread_local`; a registry under loom) | wait-free after the first record |
//! | `published` | a value replaced by CAS, reclaimed by crossbeam-epoch | lock-free |
//! | `readout` | readings of the cells and their conversion to snapshots | (plain data) |

mod atomic;
mod counters;
mod mode;
mod published;
mod readout;
mod ring;
mod shard_map;
mod sharded;
mod slots;

pub use atomic::Atomic;
pub use sharded::Sharded;

// For `crate::__loom` only: the loom models drive these protocols directly.
#[cfg(loom)]
pub use self::{
    counters::{OwnedCounters, SharedCounters},
    mode::{Change, ModeCell, ModeState},
    published::Published,
    ring::EventRing,
    shard_map::ShardMap,
};

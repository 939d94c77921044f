//! The strategy comparison: this crate's strategies (and the hdrhistogram
//! peers that record latency only) under the same workloads, table by
//! table.
//!
//! | module | what |
//! |---|---|
//! | `workloads` | the rows, the workloads, and what one measured thread does in each |
//! | `bench` | one row of one workload at one thread count, run again and again, and its accounting check |
//! | `tables` | the strategy tables, as `Section`s |
//! | `charts` | the SVG plots of the strategy tables |

pub(crate) mod bench;
pub(crate) mod charts;
pub(crate) mod tables;
pub(crate) mod workloads;

//! What the test binaries share, included once by each
//! (`#[path = "../support/mod.rs"] mod support;`); a binary uses only some
//! of it, hence `dead_code` allowed here.
#![allow(dead_code)]

pub mod cases;
pub mod child;
pub mod cycles;
pub mod external;
pub mod generated;
pub mod invariants;
pub mod python;
pub mod resident;

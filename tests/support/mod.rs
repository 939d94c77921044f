//! What the test binaries share, included once by each
//! (`#[path = "../support/mod.rs"] mod support;`); a binary uses only some
//! of it, hence `dead_code` allowed here.
#![allow(dead_code)]

pub(crate) mod cases;
pub(crate) mod child;
// `pub` inside: also public modules of benches/programs' library.
#[allow(unreachable_pub)]
pub(crate) mod cycles;
pub(crate) mod external;
pub(crate) mod generated;
pub(crate) mod invariants;
pub(crate) mod python;
// `pub` inside, as `cycles`.
#[allow(unreachable_pub)]
pub(crate) mod resident;

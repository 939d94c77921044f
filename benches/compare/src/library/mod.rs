//! The library comparison: this crate's registry against the crates a
//! user would pick instead, each set up as its documentation says a server
//! would, measured in the same run and process.

pub(crate) mod peers;

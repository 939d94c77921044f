//! The library comparison: this crate's registry against the crates a
//! user would pick instead, each set up as its documentation says a server
//! would, measured in the same run and process.

pub(crate) mod peers;

// Scraping while writing, accuracy, memory with no scrapes, thread churn.
pub(crate) mod accuracy;
pub(crate) mod child;
pub(crate) mod churn;
pub(crate) mod drive;
pub(crate) mod memory;
pub(crate) mod runs;
pub(crate) mod scrape;

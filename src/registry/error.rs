//! Why a registry call could not be done.

use std::fmt;

use super::Kind;
use crate::config::ConfigError;

/// Why a registry call could not be done.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RegistryError {
    /// The metric name is not `[a-zA-Z_:][a-zA-Z0-9_:]*` (see
    /// [`sanitize_name`](super::sanitize_name)).
    InvalidName(String),
    /// A label name is not `[a-zA-Z_][a-zA-Z0-9_]*`, or starts with `__`
    /// (see [`sanitize_label_name`](super::sanitize_label_name)).
    InvalidLabelName(String),
    /// A label name appears twice.
    DuplicateLabel(String),
    /// The name already holds series of another kind.
    KindMismatch {
        /// The name.
        name: String,
        /// The kind its series have.
        existing: Kind,
        /// The kind asked for.
        requested: Kind,
    },
    /// A histogram of this name and labels exists with other options.
    OptionsMismatch(String),
    /// A family lookup gave a different number of values than it has
    /// label names.
    LabelCount {
        /// Label names of the family.
        expected: usize,
        /// Values given.
        got: usize,
    },
    /// Histogram bounds or precision `hdrhistogram` refuses.
    Histogram(ConfigError),
    /// A histogram scale that is not finite and positive.
    InvalidScale(f64),
    /// The name's series would be exposed under a sample name that series
    /// of another name already use (counters `requests` and
    /// `requests_total` both render `requests_total`; a gauge
    /// `latency_count` clashes with the histogram `latency`'s
    /// `latency_count`). The older name keeps it until its last series is
    /// gone, as client_golang refuses to register a clashing collector.
    NameClash {
        /// The name asked for.
        name: String,
        /// The name whose series claim the sample name now.
        existing: String,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::InvalidName(n) => write!(
                f,
                "invalid metric name {n:?}: must match [a-zA-Z_:][a-zA-Z0-9_:]*"
            ),
            RegistryError::InvalidLabelName(n) => write!(
                f,
                "invalid label name {n:?}: must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __"
            ),
            RegistryError::DuplicateLabel(n) => write!(f, "label {n:?} is given twice"),
            RegistryError::KindMismatch {
                name,
                existing,
                requested,
            } => write!(
                f,
                "{name:?} is a {existing:?}; it cannot also be a {requested:?}"
            ),
            RegistryError::OptionsMismatch(k) => {
                write!(f, "histogram {k} exists with other options")
            }
            RegistryError::LabelCount { expected, got } => {
                write!(f, "the family has {expected} labels; {got} values given")
            }
            RegistryError::Histogram(e) => write!(f, "histogram options: {e}"),
            RegistryError::InvalidScale(s) => {
                write!(f, "histogram scale {s} is not finite and positive")
            }
            RegistryError::NameClash { name, existing } => write!(
                f,
                "{name:?} would be exposed under a sample name of {existing:?}, which has series"
            ),
        }
    }
}

impl std::error::Error for RegistryError {}

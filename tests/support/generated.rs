//! What the property-generated registries of the Python-checked exporter
//! tests (`prometheus_python`, `otlp_python`) draw alike: awkward text,
//! and each series' values.

use proptest::prelude::*;

/// Text with the characters exporters must escape or pass through
/// (backslash, quote, newline, braces, separators, NUL, DEL, U+2028,
/// non-ASCII), plain letters, and any `char`: up to `max` of them.
pub(crate) fn awkward_text(max: usize) -> impl Strategy<Value = String> + Clone {
    let c = prop_oneof![
        3 => prop::sample::select(vec![
            '\\', '"', '\n', 'é', '漢', '🎉', ' ', '\r', '\t', '{', '}', ',', '=', '#', '\u{2028}', '\u{0}', '\u{7f}',
        ]),
        2 => prop::char::range('a', 'z'),
        1 => any::<char>(),
    ];
    prop::collection::vec(c, 0..max).prop_map(String::from_iter)
}

/// One series of a generated case: the index of its name in the case,
/// its labels, and what it records as a counter, a gauge or a histogram
/// (which of them its name's kind says).
#[derive(Clone, Debug)]
pub(crate) struct Series {
    pub(crate) name: usize,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) counter: u64,
    pub(crate) gauge: f64,
    pub(crate) values: Vec<u64>,
}

/// A counter's increment: mostly small, sometimes any `u64`.
pub(crate) fn counter() -> impl Strategy<Value = u64> + Clone {
    prop_oneof![3 => 0..1_000_u64, 1 => any::<u64>()]
}

/// Up to `max` histogram samples, each from one of four magnitudes.
pub(crate) fn values(max: usize) -> impl Strategy<Value = Vec<u64>> + Clone {
    prop::collection::vec(
        prop_oneof![
            0..1_000_u64,
            0..10_000_000_u64,
            0..10_000_000_000_000_u64,
            any::<u64>()
        ],
        0..max,
    )
}

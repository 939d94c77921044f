//! How the tables write numbers: SI suffixes, durations, ratios, thread
//! counts, ranges. A leaf: every part's tables use it.

use crate::measure::Spread;

/// Three significant digits with an SI suffix: 658M, 17.7M, 3.21k.
pub(crate) fn si(x: f64) -> String {
    let (div, suffix) = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
        .into_iter()
        .find(|&(d, _)| x.abs() >= d)
        .unwrap_or((1.0, ""));
    format!("{}{suffix}", sig3(x / div))
}

fn sig3(x: f64) -> String {
    match x.abs() {
        a if a >= 99.95 => format!("{x:.0}"),
        a if a >= 9.995 => format!("{x:.1}"),
        _ => format!("{x:.2}"),
    }
}

/// A duration in ns, in the unit that reads best: 850ns, 12.3µs, 4.56ms.
pub(crate) fn ns(x: f64) -> String {
    let (div, unit) = [(1e9, "s"), (1e6, "ms"), (1e3, "µs")]
        .into_iter()
        .find(|&(d, _)| x.abs() >= d)
        .unwrap_or((1.0, "ns"));
    if div == 1.0 {
        format!("{x:.0}ns")
    } else {
        format!("{}{unit}", sig3(x / div))
    }
}

fn signed_ns(x: f64) -> String {
    if x >= 0.0 {
        format!("+{}", ns(x))
    } else {
        format!("-{}", ns(-x))
    }
}

/// A ratio: 37.2x, 0.97x.
pub(crate) fn ratio(x: f64) -> String {
    match x {
        x if x >= 99.5 => format!("{x:.0}x"),
        x if x >= 9.95 => format!("{x:.1}x"),
        _ => format!("{x:.2}x"),
    }
}

/// "1 thread", "2 threads".
pub(crate) fn threads(n: usize) -> String {
    if n == 1 {
        "1 thread".into()
    } else {
        format!("{n} threads")
    }
}

/// A spread as "median [min-max]", each formatted by `f`.
pub(crate) fn ranged(s: &Spread, f: impl Fn(f64) -> String) -> String {
    format!("{} [{}-{}]", f(s.median), f(s.min), f(s.max))
}

/// A cost added over a baseline, per run: "+74.2µs +72.4% [+70.1µs, +80.0µs]",
/// or "within noise [-12ns, +30ns]" when the range spans zero (a signed
/// median would then be noise printed as overhead).
pub(crate) fn added(d: &Spread, percent: Option<f64>) -> String {
    let range = format!("[{}, {}]", signed_ns(d.min), signed_ns(d.max));
    if d.min <= 0.0 && d.max >= 0.0 {
        format!("within noise {range}")
    } else {
        match percent {
            Some(p) => format!("{} {p:+.3}% {range}", signed_ns(d.median)),
            None => format!("{} {range}", signed_ns(d.median)),
        }
    }
}

/// The column headings of a table by thread count, a noisy column marked.
pub(crate) fn threads_header(counts: &[usize], noisy: impl Fn(usize) -> bool) -> Vec<String> {
    std::iter::once(String::new())
        .chain(counts.iter().map(|&t| {
            if noisy(t) {
                format!("{} (noisy)", threads(t))
            } else {
                threads(t)
            }
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(si(658_200_000.0), "658M");
        assert_eq!(si(17_700_000.0), "17.7M");
        assert_eq!(si(3_210.0), "3.21k");
        assert_eq!(si(12.0), "12.0");
        assert_eq!(ns(850.0), "850ns");
        assert_eq!(ns(12_345.0), "12.3µs");
        assert_eq!(ns(4_560_000.0), "4.56ms");
        assert_eq!(signed_ns(-95.0), "-95ns");
        assert_eq!(ratio(37.18), "37.2x");
        assert_eq!(ratio(0.974), "0.97x");
        assert_eq!(threads(1), "1 thread");
        assert_eq!(threads(2), "2 threads");
    }

    #[test]
    fn a_range_spanning_zero_is_within_noise() {
        let d = |median, min, max| Spread { median, min, max };
        assert_eq!(
            added(&d(74_200.0, -1_000.0, 90_000.0), Some(72.4)),
            "within noise [-1.00µs, +90.0µs]"
        );
        assert_eq!(
            added(&d(300.0, 100.0, 500.0), Some(0.3)),
            "+300ns +0.300% [+100ns, +500ns]"
        );
        assert_eq!(
            added(&d(-300.0, -500.0, -100.0), None),
            "-300ns [-500ns, -100ns]"
        );
    }
}

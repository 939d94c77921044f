//! The SVG helpers every part's plots use, drawn with `plotters` without
//! any font library (the SVG names a generic font family and the viewer
//! lays the text out). A log axis is drawn in log10 space (plot
//! `log10(v)`), ticked at 1-2-5 values between decades and labelled in one
//! format with its unit; thread axes are log2 with a marker at the core
//! count; the legend sits beside the chart, so the data can use the whole
//! plot area. A leaf: it knows no part's data.

use std::collections::BTreeSet;

use plotters::{
    coord::{
        ranged1d::{DefaultFormatting, KeyPointHint},
        types::RangedCoordf64,
        Shift,
    },
    prelude::*,
};

use crate::measure::Spread;

/// What a plot function returns: plotters' errors, boxed.
pub(crate) type Fallible = Result<(), Box<dyn std::error::Error>>;

/// The font family every plot names.
pub(crate) const FONT: &str = "sans-serif";

/// What an axis measures, for its tick labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Per second: "2M/s", "500k/s".
    PerSecond,
    /// Nanoseconds: "500 ns", "2 µs", "1.5 ms".
    Nanos,
    /// A plain number: "2M", "500".
    Plain,
}

/// `x` with at most three significant digits and no trailing zeros: "2",
/// "2.5", "12.5", "250".
pub(crate) fn short(x: f64) -> String {
    let t = match x.abs() {
        a if a >= 99.95 => format!("{x:.0}"),
        a if a >= 9.995 => format!("{x:.1}"),
        _ => format!("{x:.2}"),
    };
    if t.contains('.') {
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        t
    }
}

/// A value as an axis labels it, in `unit`: "2M/s", "500 ns", "2 µs",
/// "20k".
pub(crate) fn label(v: f64, unit: Unit) -> String {
    let scaled = |steps: &[(f64, &'static str)], base: &'static str| {
        steps
            .iter()
            .find(|&&(d, _)| v.abs() >= d * 0.9995)
            .map_or((v, base), |&(d, u)| (v / d, u))
    };
    match unit {
        Unit::Nanos => {
            let (x, u) = scaled(&[(1e9, "s"), (1e6, "ms"), (1e3, "µs")], "ns");
            format!("{} {u}", short(x))
        }
        Unit::PerSecond | Unit::Plain => {
            let (x, u) = scaled(&[(1e9, "G"), (1e6, "M"), (1e3, "k")], "");
            let per = if unit == Unit::PerSecond { "/s" } else { "" };
            format!("{}{u}{per}", short(x))
        }
    }
}

/// The unit a linear panel of values up to `max_abs` ns reads best in:
/// (divisor, name), ns below 1 µs, else µs, else ms.
pub(crate) fn time_unit(max_abs: f64) -> (f64, &'static str) {
    match max_abs {
        m if m >= 1e6 => (1e6, "ms"),
        m if m >= 1e3 => (1e3, "µs"),
        _ => (1.0, "ns"),
    }
}

/// Ticks for a log axis over `lo..hi` (both > 0): 1, 2 and 5 times each
/// power of ten within the range; every power of ten alone when that
/// would be more than 12 ticks; 1 to 9 times each power when 1-2-5 gives
/// fewer than 4 (a narrow range).
pub(crate) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi >= lo && hi.is_finite()) {
        return Vec::new();
    }
    let within = |mantissas: &[f64]| -> Vec<f64> {
        let mut out = Vec::new();
        let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        for e in first..=last {
            for &m in mantissas {
                // Rounded through the decimal form, so 10^-1 x 2 prints as 0.2.
                let v: f64 = format!("{m}e{e}").parse().expect("a number");
                if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                    out.push(v);
                }
            }
        }
        out
    };
    let ticks = within(&[1.0, 2.0, 5.0]);
    if ticks.len() > 12 {
        within(&[1.0])
    } else if ticks.len() < 4 {
        within(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    } else {
        ticks
    }
}

/// About `target` ticks for a linear axis over `lo..hi`, at a 1-2-5 step.
pub(crate) fn linear_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(hi > lo && lo.is_finite() && hi.is_finite()) || target == 0 {
        return Vec::new();
    }
    let raw = (hi - lo) / target as f64;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * power);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// `lo..hi` padded by `pad` of its span on each side (a zero span gets
/// some room).
pub(crate) fn padded(lo: f64, hi: f64, pad: f64) -> std::ops::Range<f64> {
    let span = hi - lo;
    let room = if span > 0.0 {
        span * pad
    } else {
        lo.abs().max(1.0) * 0.1
    };
    (lo - room)..(hi + room)
}

/// A linear f64 axis ticked exactly at the given points (plotters'
/// `with_key_points` gives up its default label formatting). A log axis is
/// one of these in log10 space: see [`log_axis`].
#[derive(Clone)]
pub(crate) struct Ticked {
    range: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    /// An axis over `range`, ticked at `ticks`.
    pub(crate) fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Self {
        Ticked {
            range: range.into(),
            ticks,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.range.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.max_num_points() == 0 {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.range()
    }
}

/// A log axis fitted to data from `lo` to `hi` (> 0): in log10 space,
/// padded by 6% of the data's span (at least 0.04 decade), ticked by
/// [`log_ticks`]. Plot `v.log10()`; label ticks with [`log_label`].
pub(crate) fn log_axis(lo: f64, hi: f64) -> Ticked {
    let (lo, hi) = (lo.max(1e-12), hi.max(lo.max(1e-12)));
    let (a, b) = (lo.log10(), hi.log10());
    let room = ((b - a) * 0.06).max(0.04);
    let range = (a - room)..(b + room);
    let ticks = log_ticks(10f64.powf(range.start), 10f64.powf(range.end))
        .into_iter()
        .map(f64::log10)
        .collect();
    Ticked::new(range, ticks)
}

/// The label of a [`log_axis`] tick (a log10 value) in `unit`.
pub(crate) fn log_label(x: &f64, unit: Unit) -> String {
    label(10f64.powf(*x), unit)
}

/// Thread counts on a log2 axis, ticked at the counts measured, wide
/// enough to show the core count's marker ([`core_marker`]).
pub(crate) fn thread_axis(counts: &[usize], cores: usize) -> Ticked {
    let ts: BTreeSet<usize> = counts.iter().copied().collect();
    let xs: Vec<f64> = ts.iter().map(|&t| (t as f64).log2()).collect();
    let c = (cores.max(1) as f64).log2();
    let (lo, hi) = (xs[0].min(c), xs[xs.len() - 1].max(c));
    let pad = ((hi - lo) * 0.08).max(0.4);
    Ticked::new(lo - pad..hi + pad, xs)
}

/// A [`thread_axis`] tick's label: the thread count.
pub(crate) fn thread_label(x: &f64) -> String {
    format!("{}", 2f64.powf(*x).round())
}

/// The chart type of a thread-axis plot: log2 threads by a [`Ticked`] y.
pub(crate) type ThreadChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Ticked, Ticked>>;

/// A dashed vertical line at the core count on a [`thread_axis`] chart,
/// labelled "N cores": past it, threads share cores.
pub(crate) fn core_marker(chart: &mut ThreadChart<'_, '_>, cores: usize) -> Fallible {
    let x = (cores.max(1) as f64).log2();
    let y = chart.y_range();
    let grey = RGBColor(110, 110, 110);
    chart.draw_series(DashedLineSeries::new(
        vec![(x, y.start), (x, y.end)],
        6,
        4,
        grey.stroke_width(1),
    ))?;
    let text = if cores == 1 {
        "1 core".to_string()
    } else {
        format!("{cores} cores")
    };
    chart.draw_series(std::iter::once(
        EmptyElement::at((x, y.end)) + Text::new(text, (5, 2), (FONT, 13).into_font().color(&grey)),
    ))?;
    Ok(())
}

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mark {
    /// A solid line with a filled marker.
    Solid,
    /// A dashed line with a hollow marker.
    Dashed,
    /// A filled box (a bar).
    Bar,
}

/// One line of a legend.
#[derive(Clone, Debug)]
pub(crate) struct LegendEntry {
    pub(crate) label: String,
    pub(crate) color: RGBColor,
    pub(crate) mark: Mark,
}

/// Draws `entries` top-down in `area` (a strip beside the chart): the
/// data then has the whole plot area.
pub(crate) fn legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    entries: &[LegendEntry],
) -> Fallible {
    for (i, e) in entries.iter().enumerate() {
        let y = 40 + 22 * i as i32;
        let c = e.color;
        match e.mark {
            Mark::Solid => {
                area.draw(&PathElement::new(vec![(8, y), (36, y)], c.stroke_width(2)))?;
                area.draw(&Circle::new((22, y), 4, c.filled()))?;
            }
            Mark::Dashed => {
                area.draw(&PathElement::new(vec![(8, y), (14, y)], c.stroke_width(2)))?;
                area.draw(&PathElement::new(vec![(30, y), (36, y)], c.stroke_width(2)))?;
                area.draw(&Circle::new((22, y), 4, WHITE.filled()))?;
                area.draw(&Circle::new((22, y), 4, c.stroke_width(2)))?;
            }
            Mark::Bar => {
                area.draw(&Rectangle::new([(12, y - 6), (32, y + 6)], c.filled()))?;
            }
        }
        area.draw(&Text::new(
            e.label.clone(),
            (44, y - 7),
            (FONT, 13).into_font(),
        ))?;
    }
    Ok(())
}

/// Splits `area` into the chart (left) and a legend strip `width` wide.
pub(crate) fn with_legend<'b>(
    area: &DrawingArea<SVGBackend<'b>, Shift>,
    width: u32,
) -> (
    DrawingArea<SVGBackend<'b>, Shift>,
    DrawingArea<SVGBackend<'b>, Shift>,
) {
    let w = area.dim_in_pixel().0;
    area.split_horizontally(w.saturating_sub(width))
}

/// The y range of a bar panel: from the data, but at most 3x the median
/// bar height (in magnitude) on either side of zero, so one outlier cannot
/// flatten every other bar; (range, clipped).
pub(crate) fn bar_range(values: &[Spread]) -> (std::ops::Range<f64>, bool) {
    let lo = values.iter().map(|v| v.min).fold(0.0, f64::min);
    let hi = values.iter().map(|v| v.max).fold(0.0, f64::max);
    let typical = Spread::of(values.iter().map(|v| v.median.abs()))
        .map_or(0.0, |s| s.median)
        .max(1e-9);
    let cap = 3.0
        * values.iter().map(|v| v.median.abs()).fold(typical, |a, b| {
            // Medians within 3x of the typical one count; beyond, outliers.
            if b <= 3.0 * typical {
                a.max(b)
            } else {
                a
            }
        });
    let (lo2, hi2) = (lo.max(-cap), hi.min(cap));
    let clipped = lo2 > lo || hi2 < hi;
    (padded(lo2, hi2, 0.06), clipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_are_1_2_5_between_decades() {
        assert_eq!(
            log_ticks(1.0, 1000.0),
            [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        );
        assert_eq!(log_ticks(3e6, 4.5e8), [5e6, 1e7, 2e7, 5e7, 1e8, 2e8]);
        // Seven decades: decades only.
        assert_eq!(log_ticks(1.0, 1e7).len(), 8);
        // Narrow: 1 to 9 per decade.
        assert_eq!(log_ticks(2.6e8, 4.4e8), [3e8, 4e8]);
        assert_eq!(log_ticks(0.15, 0.6), [0.2, 0.3, 0.4, 0.5, 0.6]);
        assert!(log_ticks(0.0, 1.0).is_empty());
    }

    #[test]
    fn labels_have_one_format_with_units() {
        assert_eq!(label(2e6, Unit::PerSecond), "2M/s");
        assert_eq!(label(5e5, Unit::PerSecond), "500k/s");
        assert_eq!(label(1e9, Unit::PerSecond), "1G/s");
        assert_eq!(label(500.0, Unit::Nanos), "500 ns");
        assert_eq!(label(2_000.0, Unit::Nanos), "2 µs");
        assert_eq!(label(1_500_000.0, Unit::Nanos), "1.5 ms");
        assert_eq!(label(20_000.0, Unit::Plain), "20k");
        assert_eq!(time_unit(900.0), (1.0, "ns"));
        assert_eq!(time_unit(23_000.0), (1e3, "µs"));
    }

    #[test]
    fn linear_ticks_step_by_1_2_5() {
        assert_eq!(
            linear_ticks(0.0, 100.0, 5),
            [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(linear_ticks(-3.0, 12.0, 3), [0.0, 5.0, 10.0]);
    }

    #[test]
    fn one_outlier_does_not_set_the_bar_axis() {
        let s = |m: f64| Spread {
            median: m,
            min: m * 0.8,
            max: m * 1.2,
        };
        let mut v: Vec<Spread> = [200.0, 300.0, 250.0, 150.0].map(s).to_vec();
        let (r, clipped) = bar_range(&v);
        assert!(!clipped && r.end > 360.0 && r.end < 400.0, "{r:?}");
        v.push(s(23_000.0));
        let (r, clipped) = bar_range(&v);
        assert!(clipped && r.end < 1_000.0, "{r:?}");
    }
}

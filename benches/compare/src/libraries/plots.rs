//! SVG plots of the library comparison (`plotters`, no font library):
//! throughput against threads with one line per option, throughput against
//! the series count (one plot per series choice), and ns per record with
//! a kept handle (solid) against a lookup per call (dashed). Log axes,
//! ticked at the values measured; medians with min-max bars. Each option
//! has its own colour (a qualitative palette) and marker; points are
//! joined only across what was measured in one workload.

use std::path::Path;

use plotters::prelude::*;

use super::{
    run::{Choice, Path as RecordPath},
    shapes::{Cell, LibraryWorkload},
};
use crate::{
    measure::Spread,
    svg::{label, log_ticks, Ticked, Unit},
};

type Fallible = Result<(), Box<dyn std::error::Error>>;

const SIZE: (u32, u32) = (1_040, 640);
const FONT: &str = "sans-serif";

/// One colour per option, in `Contender::ALL`'s order: a qualitative
/// palette (Okabe-Ito's eight, then four of ColorBrewer's Dark2/Set1) with
/// this crate's registry in black. Each option also has its own marker
/// ([`MARKERS`]), so no two lines share both.
const COLORS: [RGBColor; 12] = [
    RGBColor(0, 0, 0),       // lockfree-metrics registry
    RGBColor(0, 158, 115),   // lockfree-metrics facade
    RGBColor(120, 120, 120), // Sharded
    RGBColor(230, 159, 0),   // metrics + exporter-prometheus
    RGBColor(86, 180, 233),  // … (buckets)
    RGBColor(160, 150, 0),   // metrics-util AtomicBucket
    RGBColor(0, 114, 178),   // prometheus Histogram
    RGBColor(213, 94, 0),    // prometheus LocalHistogram
    RGBColor(204, 121, 167), // prometheus-client Histogram
    RGBColor(117, 112, 179), // opentelemetry_sdk Histogram
    RGBColor(166, 86, 40),   // opentelemetry_sdk bound
    RGBColor(231, 41, 138),  // hdrhistogram SyncHistogram
];

/// A marker's outline, as offsets in pixels from the point, and whether
/// it is filled.
type Marker = (&'static [(i32, i32)], bool);

const CIRCLE: &[(i32, i32)] = &[
    (0, -5),
    (4, -4),
    (5, 0),
    (4, 4),
    (0, 5),
    (-4, 4),
    (-5, 0),
    (-4, -4),
];
const SQUARE: &[(i32, i32)] = &[(-4, -4), (4, -4), (4, 4), (-4, 4)];
const UP: &[(i32, i32)] = &[(0, -6), (5, 4), (-5, 4)];
const DOWN: &[(i32, i32)] = &[(0, 6), (5, -4), (-5, -4)];
const DIAMOND: &[(i32, i32)] = &[(0, -6), (5, 0), (0, 6), (-5, 0)];
const STAR: &[(i32, i32)] = &[
    (0, -6),
    (2, -2),
    (6, -2),
    (3, 1),
    (4, 6),
    (0, 3),
    (-4, 6),
    (-3, 1),
    (-6, -2),
    (-2, -2),
];

/// One marker per option, in `Contender::ALL`'s order: six shapes, filled
/// then hollow.
const MARKERS: [Marker; 12] = [
    (CIRCLE, true),
    (SQUARE, true),
    (UP, true),
    (DOWN, true),
    (DIAMOND, true),
    (STAR, true),
    (CIRCLE, false),
    (SQUARE, false),
    (UP, false),
    (DOWN, false),
    (DIAMOND, false),
    (STAR, false),
];

fn index(peer: &str) -> usize {
    super::contenders::Contender::of_name(peer)
        .and_then(|p| {
            super::contenders::Contender::ALL
                .iter()
                .position(|&q| q == p)
        })
        .unwrap_or(0)
}

fn color(peer: &str) -> RGBColor {
    COLORS[index(peer) % COLORS.len()]
}

fn marker(peer: &str) -> Marker {
    MARKERS[index(peer) % MARKERS.len()]
}

/// A [`Marker`] drawn at `$at` (a point in any coordinate system) in
/// `$col`: an element for `draw` or `draw_series` (a macro, as the
/// composed element's type depends on the backend and the coordinates).
macro_rules! mark {
    ($at:expr, $marker:expr, $col:expr) => {{
        let (outline, filled): Marker = $marker;
        let col: RGBColor = $col;
        let mut closed = outline.to_vec();
        closed.push(outline[0]);
        EmptyElement::at($at)
            + Polygon::new(outline.to_vec(), if filled { col } else { WHITE }.filled())
            + PathElement::new(closed, col.stroke_width(2))
    }};
}

fn ticked(values: &[f64]) -> Ticked {
    let xs: Vec<f64> = values.iter().map(|v| v.log10()).collect();
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.08).max(0.15);
    Ticked::new((lo - pad)..(hi + pad), xs)
}

/// One option's line: a legend name, a colour and marker, solid or
/// dashed, and its points (x, median, min, max) in segments: the points
/// of a segment are joined, two segments are not (a gap nothing was
/// measured in, or a point from another workload).
struct Line {
    name: String,
    color: RGBColor,
    marker: Marker,
    dashed: bool,
    segments: Vec<Vec<(f64, Spread)>>,
}

impl Line {
    /// `peer`'s line, its marker and colour, its points joined as one
    /// segment (each of `apart` a segment of its own, unjoined).
    fn new(
        name: String,
        peer: &str,
        dashed: bool,
        apart: Vec<(f64, Spread)>,
        joined: Vec<(f64, Spread)>,
    ) -> Self {
        Line {
            name,
            color: color(peer),
            marker: marker(peer),
            dashed,
            segments: apart
                .into_iter()
                .map(|p| vec![p])
                .chain(Some(joined).filter(|j| !j.is_empty()))
                .collect(),
        }
    }

    fn points(&self) -> impl Iterator<Item = &(f64, Spread)> {
        self.segments.iter().flatten()
    }
}

/// The caption's font size: 18 px, smaller where the title would
/// otherwise be wider than `width` px (a sans-serif glyph is about 0.55
/// em wide on average), so it is never clipped.
fn caption_px(title: &str, width: u32) -> f64 {
    let chars = title.chars().count().max(1) as f64;
    (f64::from(width) / (0.58 * chars)).clamp(9.0, 18.0)
}

/// A chart's title, axis descriptions and tick label formats.
struct Axes<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    x_label: &'a dyn Fn(f64) -> String,
    y_label: &'a dyn Fn(f64) -> String,
}

/// Width of the legend column right of the plot.
const LEGEND: u32 = 320;

fn chart(
    file: &Path,
    axes: Axes<'_>,
    lines: &[Line],
    marker: Option<(f64, &str)>,
    footer: &str,
) -> Fallible {
    let Axes {
        title,
        x_desc,
        y_desc,
        x_label,
        y_label,
    } = axes;
    let root = SVGBackend::new(file, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (area, bottom) = root.split_vertically(SIZE.1 - 28);
    let (area, side) = area.split_horizontally(SIZE.0 - LEGEND);
    bottom.draw(&Text::new(
        footer.chars().take(170).collect::<String>(),
        (10, 6),
        (FONT, 11).into_font().color(&RGBColor(90, 90, 90)),
    ))?;
    let mut xs: Vec<f64> = lines.iter().flat_map(|l| l.points().map(|p| p.0)).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let lo = lines
        .iter()
        .flat_map(|l| l.points().map(|p| p.1.min))
        .fold(f64::INFINITY, f64::min)
        .max(1e-3);
    let hi = lines
        .iter()
        .flat_map(|l| l.points().map(|p| p.1.max))
        .fold(0.0, f64::max)
        .max(lo * 1.01);
    // y: log10 coordinates, ticked at 1-2-5 steps inside the range.
    let (ylo, yhi) = ((lo / 1.3).log10(), (hi * 1.3).log10());
    let yt = log_ticks(lo / 1.3, hi * 1.3)
        .into_iter()
        .map(f64::log10)
        .collect();
    let y_axis = Ticked::new(ylo..yhi, yt);
    let mut c = ChartBuilder::on(&area)
        .caption(title, (FONT, caption_px(title, SIZE.0 - LEGEND - 24)))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(78)
        .build_cartesian_2d(ticked(&xs), y_axis)?;
    c.configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|x| x_label(10f64.powf(*x)))
        .y_label_formatter(&|y| y_label(10f64.powf(*y)))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for line in lines {
        let col = line.color;
        let style = col.stroke_width(2);
        for segment in line.segments.iter().filter(|s| s.len() > 1) {
            let pts: Vec<(f64, f64)> = segment
                .iter()
                .map(|(x, s)| (x.log10(), s.median.log10()))
                .collect();
            if line.dashed {
                c.draw_series(DashedLineSeries::new(pts, 8, 5, style))?;
            } else {
                c.draw_series(LineSeries::new(pts, style))?;
            }
        }
        c.draw_series(line.points().map(|(x, s)| {
            ErrorBar::new_vertical(
                x.log10(),
                s.min.log10(),
                s.median.log10(),
                s.max.log10(),
                col.stroke_width(1),
                6,
            )
        }))?;
        c.draw_series(
            line.points()
                .map(|(x, s)| mark!((x.log10(), s.median.log10()), line.marker, col)),
        )?;
    }
    if let Some((x, label)) = marker {
        // A vertical dashed line, e.g. at the core count.
        let grey = RGBColor(120, 120, 120);
        c.draw_series(DashedLineSeries::new(
            [(x.log10(), ylo), (x.log10(), yhi)],
            4,
            4,
            grey.stroke_width(1),
        ))?;
        c.draw_series(std::iter::once(Text::new(
            label.to_string(),
            (x.log10(), yhi),
            (FONT, 12).into_font().color(&grey),
        )))?;
    }
    // The legend, in its own column: each line's colour and style.
    for (i, line) in lines.iter().enumerate() {
        let y = 50 + 18 * i as i32;
        let style = line.color.stroke_width(2);
        if line.dashed {
            for x in [4, 32] {
                side.draw(&PathElement::new(vec![(x, y), (x + 6, y)], style))?;
            }
        } else {
            side.draw(&PathElement::new(vec![(4, y), (38, y)], style))?;
        }
        side.draw(&mark!((21, y), line.marker, line.color))?;
        side.draw(&Text::new(
            line.name.clone(),
            (44, y - 7),
            (FONT, 12).into_font(),
        ))?;
    }
    root.present()?;
    Ok(())
}

fn peers_of<'a>(cells: &[&'a Cell]) -> Vec<&'a str> {
    let mut out = Vec::new();
    for c in cells {
        if !out.contains(&c.peer) {
            out.push(c.peer);
        }
    }
    out
}

fn threads_label(x: f64) -> String {
    format!("{}", x.round())
}

/// Draws every plot the cells support into `dir`; their file names.
pub(crate) fn all(
    dir: &Path,
    cells: &[Cell],
    cores: usize,
    footer: &str,
) -> Result<Vec<String>, String> {
    let cores_marker = format!("{cores} cores");
    let at_cores = Some((cores as f64, cores_marker.as_str()));
    let mut files = Vec::new();
    let mut draw = || -> Fallible {
        let one: Vec<&Cell> = cells
            .iter()
            .filter(|c| c.shape.workload == LibraryWorkload::OneSeries)
            .collect();
        if !one.is_empty() {
            let lines: Vec<Line> = peers_of(&one)
                .into_iter()
                .map(|p| {
                    let points = one
                        .iter()
                        .filter(|c| c.peer == p)
                        .map(|c| (c.shape.threads as f64, c.records_per_s))
                        .collect();
                    Line::new(p.to_string(), p, false, Vec::new(), points)
                })
                .collect();
            let name = "library-one-series.svg";
            chart(
                &dir.join(name),
                Axes {
                    title: "one series: records/s against writer threads (median, bars min-max)",
                    x_desc: "writer threads (log scale)",
                    y_desc: "records/s, all threads (log scale)",
                    x_label: &threads_label,
                    y_label: &|v| label(v, Unit::PerSecond),
                },
                &lines,
                at_cores,
                footer,
            )?;
            files.push(name.to_string());
        }
        let many: Vec<&Cell> = cells
            .iter()
            .filter(|c| c.shape.workload == LibraryWorkload::ManySeries)
            .collect();
        if let Some(max_t) = many.iter().map(|c| c.shape.threads).max() {
            let at: Vec<&Cell> = many
                .into_iter()
                .filter(|c| c.shape.threads == max_t)
                .collect();
            // One plot per series choice, each option's line joining the
            // series counts measured; its one-series cell at the same
            // thread count (where the choice makes no difference) is a
            // marker of its own, not joined across the unmeasured gap.
            for choice in [Choice::Uniform, Choice::Zipf] {
                let lines: Vec<Line> = peers_of(&at)
                    .into_iter()
                    .map(|p| {
                        let apart = cells
                            .iter()
                            .filter(|c| {
                                c.shape.workload == LibraryWorkload::OneSeries
                                    && c.shape.threads == max_t
                                    && c.peer == p
                            })
                            .map(|c| (1.0, c.records_per_s))
                            .collect();
                        let joined = at
                            .iter()
                            .filter(|c| c.peer == p && c.shape.choice == choice)
                            .map(|c| (c.shape.series as f64, c.records_per_s))
                            .collect();
                        Line::new(p.to_string(), p, false, apart, joined)
                    })
                    .filter(|l| {
                        l.segments
                            .iter()
                            .any(|s| s.first().is_some_and(|p| p.0 > 1.0))
                    })
                    .collect();
                if lines.is_empty() {
                    continue;
                }
                let file = match choice {
                    Choice::Uniform => "uniform",
                    Choice::Zipf => "zipf",
                };
                let name = format!("library-many-series-{file}.svg");
                chart(
                    &dir.join(&name),
                    Axes {
                        title: &format!(
                            "{} series choice, {max_t} writer threads: records/s against series",
                            choice.name()
                        ),
                        x_desc: "series (log scale); at 1: the one-series run, not joined",
                        y_desc: "records/s, all threads (log scale)",
                        x_label: &|x| label(x, Unit::Plain),
                        y_label: &|v| label(v, Unit::PerSecond),
                    },
                    &lines,
                    None,
                    footer,
                )?;
                files.push(name);
            }
        }
        let lookup: Vec<&Cell> = cells
            .iter()
            .filter(|c| c.shape.workload == LibraryWorkload::Lookup)
            .collect();
        if !lookup.is_empty() {
            let mut lines = Vec::new();
            for p in peers_of(&lookup) {
                for path in [RecordPath::Cached, RecordPath::Labelled] {
                    let points: Vec<(f64, Spread)> = lookup
                        .iter()
                        .filter(|c| c.peer == p && c.path == path)
                        .map(|c| (c.shape.threads as f64, c.ns_per_record))
                        .collect();
                    if !points.is_empty() {
                        let how = if path == RecordPath::Cached {
                            "kept handle"
                        } else {
                            "lookup"
                        };
                        lines.push(Line::new(
                            format!("{p}, {how}"),
                            p,
                            path == RecordPath::Labelled,
                            Vec::new(),
                            points,
                        ));
                    }
                }
            }
            let name = "library-lookup.svg";
            chart(
                &dir.join(name),
                Axes {
                    title: "ns per record, 100 series: kept handle solid, lookup per call dashed",
                    x_desc: "writer threads (log scale)",
                    y_desc: "ns per record, thread time (log scale)",
                    x_label: &threads_label,
                    y_label: &|v| label(v, Unit::Nanos),
                },
                &lines,
                at_cores,
                footer,
            )?;
            files.push(name.to_string());
        }
        Ok(())
    };
    draw().map_err(|e| e.to_string())?;
    Ok(files)
}

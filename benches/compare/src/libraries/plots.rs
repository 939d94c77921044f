//! SVG plots of the library comparison (`plotters`, no font library):
//! throughput against threads with one line per option, throughput against
//! the series count (uniform solid, Zipf dashed), and ns per record with
//! a kept handle (solid) against a lookup per call (dashed). Log axes,
//! ticked at the values measured; medians with min-max bars.

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

/// Twelve distinguishable colours (Tableau 10, then two darker ones).
const COLORS: [RGBColor; 12] = [
    RGBColor(44, 160, 44),
    RGBColor(23, 190, 207),
    RGBColor(127, 127, 127),
    RGBColor(31, 119, 180),
    RGBColor(174, 199, 232),
    RGBColor(255, 127, 14),
    RGBColor(214, 39, 40),
    RGBColor(255, 152, 150),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
];

fn color(peer: &str) -> RGBColor {
    let i = super::contenders::Contender::of_name(peer)
        .and_then(|p| {
            super::contenders::Contender::ALL
                .iter()
                .position(|&q| q == p)
        })
        .unwrap_or(0);
    COLORS[i % COLORS.len()]
}

fn ticked(values: &[f64]) -> Ticked {
    let xs: Vec<f64> = values.iter().map(|v| v.log10()).collect();
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.08).max(0.15);
    Ticked::new((lo - pad)..(hi + pad), xs)
}

/// One line: a legend name, a colour, solid or dashed, and its points
/// (x, median, min, max).
struct Line {
    name: String,
    color: RGBColor,
    dashed: bool,
    points: Vec<(f64, Spread)>,
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
    let mut xs: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let lo = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1.min))
        .fold(f64::INFINITY, f64::min)
        .max(1e-3);
    let hi = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1.max))
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
        .caption(title, (FONT, 18))
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
        let pts: Vec<(f64, f64)> = line
            .points
            .iter()
            .map(|(x, s)| (x.log10(), s.median.log10()))
            .collect();
        let style = col.stroke_width(2);
        if line.dashed {
            c.draw_series(DashedLineSeries::new(pts.clone(), 8, 5, style))?;
        } else {
            c.draw_series(LineSeries::new(pts.clone(), style))?;
        }
        c.draw_series(pts.iter().map(|&p| Circle::new(p, 3, col.filled())))?;
        c.draw_series(line.points.iter().map(|(x, s)| {
            ErrorBar::new_vertical(
                x.log10(),
                s.min.log10(),
                s.median.log10(),
                s.max.log10(),
                col.stroke_width(1),
                6,
            )
        }))?;
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
        let y = 50 + 17 * i as i32;
        let style = line.color.stroke_width(2);
        if line.dashed {
            for x in [6, 18, 30] {
                side.draw(&PathElement::new(vec![(x, y), (x + 7, y)], style))?;
            }
        } else {
            side.draw(&PathElement::new(vec![(6, y), (37, y)], style))?;
            side.draw(&Circle::new((21, y), 3, line.color.filled()))?;
        }
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
                .map(|p| Line {
                    name: p.to_string(),
                    color: color(p),
                    dashed: false,
                    points: one
                        .iter()
                        .filter(|c| c.peer == p)
                        .map(|c| (c.shape.threads as f64, c.records_per_s))
                        .collect(),
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
            let mut lines = Vec::new();
            for p in peers_of(&at) {
                for choice in [Choice::Uniform, Choice::Zipf] {
                    // One series is the one-series workload's cell at the
                    // same thread count (the choice makes no difference).
                    let one_series = cells.iter().filter(|c| {
                        choice == Choice::Uniform
                            && c.shape.workload == LibraryWorkload::OneSeries
                            && c.shape.threads == max_t
                            && c.peer == p
                    });
                    let points: Vec<(f64, Spread)> = one_series
                        .chain(
                            at.iter()
                                .copied()
                                .filter(|c| c.peer == p && c.shape.choice == choice),
                        )
                        .map(|c| (c.shape.series as f64, c.records_per_s))
                        .collect();
                    if !points.is_empty() {
                        lines.push(Line {
                            name: format!("{p}, {}", choice.name()),
                            color: color(p),
                            dashed: choice == Choice::Zipf,
                            points,
                        });
                    }
                }
            }
            let name = "library-many-series.svg";
            chart(
                &dir.join(name),
                Axes {
                    title: &format!("records/s against series count, {max_t} writer threads: uniform solid, zipf(1.1) dashed (1 series: one-series)"),
                    x_desc: "series (log scale)",
                    y_desc: "records/s, all threads (log scale)",
                    x_label: &|x| label(x, Unit::Plain),
                    y_label: &|v| label(v, Unit::PerSecond),
                },
                &lines,
                None,
                footer,
            )?;
            files.push(name.to_string());
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
                        lines.push(Line {
                            name: format!(
                                "{p}, {}",
                                if path == RecordPath::Cached {
                                    "kept handle"
                                } else {
                                    "lookup"
                                }
                            ),
                            color: color(p),
                            dashed: path == RecordPath::Labelled,
                            points,
                        });
                    }
                }
            }
            let name = "library-lookup.svg";
            chart(
                &dir.join(name),
                Axes {
                    title: "ns per record: kept handle solid, lookup per call dashed (100 series, uniform)",
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

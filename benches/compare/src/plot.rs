//! SVG plots of a comparison, drawn with `plotters` without any font
//! library: the SVG names a generic font family and the viewer lays the
//! text out.

use std::{collections::BTreeSet, path::Path};

use plotters::{
    coord::{
        ranged1d::{DefaultFormatting, KeyPointHint},
        types::RangedCoordf64,
        Shift,
    },
    prelude::*,
};

use crate::{
    bench::Case,
    measure::Spread,
    report::{ns, si, Cell, Results},
    workloads::{Row, Workload},
};

type Fallible = Result<(), Box<dyn std::error::Error>>;

const SIZE: (u32, u32) = (960, 600);
/// The width of the three-panel overhead plot.
const WIDE: u32 = 1440;
const FOOTER: u32 = 44;
const FONT: &str = "sans-serif";

fn color(row: &str) -> RGBColor {
    match row {
        "GlobalLock" => RGBColor(214, 39, 40),
        "FineGrained" => RGBColor(255, 127, 14),
        "Atomic" => RGBColor(31, 119, 180),
        "Sharded" => RGBColor(44, 160, 44),
        "Sharded+coarse" => RGBColor(188, 189, 34),
        "SyncHistogram" => RGBColor(148, 103, 189),
        "MutexHistogram" => RGBColor(140, 86, 75),
        "LocalHistogram" => RGBColor(127, 127, 127),
        _ => RGBColor(23, 190, 207),
    }
}

/// Colours for the series of the overhead plot.
const SERIES: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draws every plot into `dir`.
pub(crate) fn all(dir: &Path, r: &Results, cases: &[Case]) -> Result<(), String> {
    let footer = format!(
        "{} | load {} at start | {}",
        r.machine.one_line(),
        r.machine
            .load_at_start
            .map_or("unknown".to_string(), |l| l.to_string()),
        r.command
    );
    let run = || -> Fallible {
        for case in cases {
            if matches!(
                case.workload,
                Workload::SameMetric
                    | Workload::DifferentMetrics
                    | Workload::RequestCycle
                    | Workload::RequestRecord
                    | Workload::WithReader
            ) {
                let label = case.label();
                let cells: Vec<&Cell> = r.cells.iter().filter(|c| c.case == label).collect();
                if !cells.is_empty() {
                    let file = dir.join(throughput_file(&label));
                    throughput(&file, &label, &cells, &footer)?;
                }
            }
        }
        let readers: Vec<String> = cases
            .iter()
            .filter(|c| c.workload == Workload::WithReader)
            .map(Case::label)
            .collect();
        if r.cells.iter().any(|c| readers.contains(&c.case)) {
            snapshot_latency(&dir.join(SNAPSHOT_FILE), r, &readers, &footer)?;
        }
        if r.cells.iter().any(|c| c.overhead.is_some()) {
            overhead(&dir.join(OVERHEAD_FILE), r, &footer)?;
        }
        Ok(())
    };
    run().map_err(|e| e.to_string())
}

/// The snapshot-latency plot's file name.
pub(crate) const SNAPSHOT_FILE: &str = "snapshot-latency.svg";
/// The overhead plot's file name.
pub(crate) const OVERHEAD_FILE: &str = "overhead.svg";

/// The throughput plot's file name for the table labelled `label`.
pub(crate) fn throughput_file(label: &str) -> String {
    format!("throughput-{}.svg", slug(label))
}

fn slug(label: &str) -> String {
    label
        .replace("/s", "hz")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The plot area above a footer line naming the machine and command.
fn framed<'b>(
    root: &DrawingArea<SVGBackend<'b>, Shift>,
    footer: &str,
) -> Result<DrawingArea<SVGBackend<'b>, Shift>, Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let (area, bottom) = root.split_vertically(SIZE.1 - FOOTER);
    let chars = (root.dim_in_pixel().0 as usize / 6).max(60);
    for (i, line) in wrap(footer, chars).iter().enumerate() {
        bottom.draw(&Text::new(
            line.clone(),
            (10, 6 + 16 * i as i32),
            (FONT, 12).into_font().color(&RGBColor(90, 90, 90)),
        ))?;
    }
    Ok(area)
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let last = lines.last_mut().expect("one line");
        if !last.is_empty() && last.chars().count() + word.chars().count() >= width {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

/// A linear f64 axis ticked exactly at the given points (plotters'
/// `with_key_points` gives up its default label formatting).
#[derive(Clone)]
struct Ticked {
    range: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Self {
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

/// Thread counts on a log2 axis, ticked at the counts measured.
fn thread_axis(cells: &[&Cell]) -> Ticked {
    let ts: BTreeSet<usize> = cells.iter().map(|c| c.threads).collect();
    let xs: Vec<f64> = ts.iter().map(|&t| (t as f64).log2()).collect();
    let (lo, hi) = (xs[0], xs[xs.len() - 1]);
    let pad = ((hi - lo) * 0.08).max(0.4);
    Ticked::new(lo - pad..hi + pad, xs)
}

fn thread_label(x: &f64) -> String {
    format!("{}", 2f64.powf(*x).round())
}

/// A log range around `lo..hi` with some room.
fn log_range(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let lo = lo.max(1e-3);
    (lo / 1.6)..(hi.max(lo * 1.01) * 1.6)
}

fn rows_of<'a>(cells: &[&'a Cell]) -> Vec<&'a str> {
    let mut rows = Vec::new();
    for c in cells {
        if !rows.contains(&c.row) {
            rows.push(c.row);
        }
    }
    rows
}

fn throughput(file: &Path, case: &str, cells: &[&Cell], footer: &str) -> Fallible {
    let root = SVGBackend::new(file, SIZE).into_drawing_area();
    let area = framed(&root, footer)?;
    let x_axis = thread_axis(cells);
    let lo = cells
        .iter()
        .map(|c| c.rate.min)
        .fold(f64::INFINITY, f64::min);
    let hi = cells.iter().map(|c| c.rate.max).fold(0.0, f64::max);
    let unit = cells[0].unit;
    let mut chart = ChartBuilder::on(&area)
        .caption(
            format!("{case}: throughput against threads (median, bars min-max)"),
            (FONT, 20),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x_axis, log_range(lo, hi * 6.0).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("threads (log scale)")
        .y_desc(format!("{unit}, all threads (log scale)"))
        .y_labels(8)
        .x_label_formatter(&thread_label)
        .y_label_formatter(&|y| si(*y))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for row in rows_of(cells) {
        let c = color(row);
        let mine: Vec<&&Cell> = cells.iter().filter(|x| x.row == row).collect();
        let pts: Vec<(f64, f64)> = mine
            .iter()
            .map(|x| ((x.threads as f64).log2(), x.rate.median))
            .collect();
        let width = if row == "Sharded" { 3 } else { 2 };
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(width)))?
            .label(Row::label_of(row))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
        chart.draw_series(mine.iter().map(|x| {
            ErrorBar::new_vertical(
                (x.threads as f64).log2(),
                x.rate.min,
                x.rate.median,
                x.rate.max,
                c.stroke_width(1),
                8,
            )
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FONT, 14))
        .draw()?;
    root.present()?;
    Ok(())
}

fn snapshot_latency(file: &Path, r: &Results, readers: &[String], footer: &str) -> Fallible {
    let root = SVGBackend::new(file, SIZE).into_drawing_area();
    let area = framed(&root, footer)?;
    let panels = area.split_evenly((1, readers.len()));
    for (panel, case) in panels.iter().zip(readers) {
        let cells: Vec<&Cell> = r
            .cells
            .iter()
            .filter(|c| &c.case == case && c.snapshot.is_some())
            .collect();
        if cells.is_empty() {
            continue;
        }
        let snap = |c: &Cell| c.snapshot.clone().expect("filtered");
        let lo = cells
            .iter()
            .map(|c| snap(c).p50_ns as f64)
            .fold(f64::INFINITY, f64::min);
        let hi = cells
            .iter()
            .map(|c| snap(c).p99_ns as f64)
            .fold(0.0, f64::max);
        let x_axis = thread_axis(&cells);
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "snapshot latency, {case}: p99 thick, p50 thin (n >= {})",
                    cells.iter().map(|c| snap(c).count).min().unwrap_or(0)
                ),
                (FONT, 16),
            )
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(x_axis, log_range(lo, hi * 8.0).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("writer threads (log scale)")
            .y_desc("snapshot() latency (log scale)")
            .x_label_formatter(&thread_label)
            .y_label_formatter(&|y| ns(*y))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for row in rows_of(&cells) {
            let c = color(row);
            let mine: Vec<&&Cell> = cells.iter().filter(|x| x.row == row).collect();
            let at = |x: &Cell, q99: bool| {
                let s = snap(x);
                let v = if q99 { s.p99_ns } else { s.p50_ns };
                ((x.threads as f64).log2(), v as f64)
            };
            let p99: Vec<(f64, f64)> = mine.iter().map(|x| at(x, true)).collect();
            let p50: Vec<(f64, f64)> = mine.iter().map(|x| at(x, false)).collect();
            chart
                .draw_series(LineSeries::new(p99.clone(), c.stroke_width(3)))?
                .label(Row::label_of(row))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], c.stroke_width(3))
                });
            chart.draw_series(LineSeries::new(p50.clone(), c.stroke_width(1)))?;
            chart.draw_series(
                p99.iter()
                    .chain(&p50)
                    .map(|&p| Circle::new(p, 3, c.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .label_font((FONT, 13))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// What the five records cost inside a request, per run: the mean.
fn direct(c: &Cell) -> Option<Spread> {
    c.overhead.as_ref()?.records_ns
}

/// The same, for the median request.
fn direct_p50(c: &Cell) -> Option<Spread> {
    c.overhead.as_ref()?.records_p50_ns
}

/// The CPU time (else wall time) a request gained over 'no metrics', per
/// run.
fn end_to_end(c: &Cell) -> Option<Spread> {
    if c.row == Row::NoMetrics.name() {
        return None; // the baseline: zero by construction
    }
    let o = c.overhead.as_ref()?;
    o.cpu.as_ref().or(o.wall.as_ref())?.delta_ns
}

/// Three panels of grouped bars: the direct measure (mean and median
/// request) and the end-to-end one.
fn overhead(file: &Path, r: &Results, footer: &str) -> Fallible {
    let root = SVGBackend::new(file, (WIDE, SIZE.1)).into_drawing_area();
    let area = framed(&root, footer)?;
    let panels = area.split_evenly((1, 3));
    let on_cpu = r
        .cells
        .iter()
        .any(|c| c.overhead.as_ref().is_some_and(|o| o.cpu.is_some()));
    bars(
        &panels[0],
        "the five records in a request: mean",
        "ns per request (clock reads around them)",
        &r.cells,
        direct,
    )?;
    bars(
        &panels[1],
        "the five records: the median request",
        "ns per request (clock reads around them)",
        &r.cells,
        direct_p50,
    )?;
    bars(
        &panels[2],
        &format!("end to end, {} µs requests", r.settings.work_us),
        if on_cpu {
            "CPU ns added per request (below 0: noise)"
        } else {
            "wall ns added per request (below 0: noise)"
        },
        &r.cells,
        end_to_end,
    )?;
    root.present()?;
    Ok(())
}

/// Grouped bars of `value`: one group per row, one bar per (case, threads),
/// at the median with min-max.
fn bars(
    panel: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    y_desc: &str,
    all: &[Cell],
    value: fn(&Cell) -> Option<Spread>,
) -> Fallible {
    let cells: Vec<&Cell> = all.iter().filter(|c| value(c).is_some()).collect();
    if cells.is_empty() {
        return Ok(());
    }
    let groups = rows_of(&cells);
    let mut series: Vec<(String, usize)> = Vec::new();
    for c in &cells {
        if !series.iter().any(|(k, t)| k == &c.case && *t == c.threads) {
            series.push((c.case.clone(), c.threads));
        }
    }
    let v = |c: &Cell| value(c).expect("filtered");
    let lo = cells.iter().map(|c| v(c).min).fold(0.0, f64::min);
    let hi = cells.iter().map(|c| v(c).max).fold(0.0, f64::max);
    let span = (hi - lo).max(1.0);
    let centres: Vec<f64> = (0..groups.len()).map(|g| g as f64).collect();
    let group_names: Vec<String> = groups
        .iter()
        .map(|g| Row::label_of(g).replace(" (ref)", ""))
        .collect();
    let mut chart = ChartBuilder::on(panel)
        .caption(title, (FONT, 17))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(
            Ticked::new(-0.5..groups.len() as f64 - 0.5, centres),
            (lo - span * 0.05)..(hi + span * 0.45),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|x| {
            group_names
                .get(x.round() as usize)
                .cloned()
                .unwrap_or_default()
        })
        .y_desc(y_desc)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let slot = 0.8 / series.len() as f64;
    for (i, (case, threads)) in series.iter().enumerate() {
        let c = SERIES[i % SERIES.len()];
        let mine: Vec<(f64, Spread)> = cells
            .iter()
            .filter(|x| &x.case == case && x.threads == *threads)
            .filter_map(|x| {
                let g = groups.iter().position(|g| *g == x.row)?;
                Some((g as f64 - 0.4 + slot * (i as f64 + 0.5), v(x)))
            })
            .collect();
        let name = if case == "sequential" {
            "sequential, 50 requests".to_string()
        } else {
            format!("{case}, {threads} thread(s)")
        };
        chart
            .draw_series(mine.iter().map(|&(x, d)| {
                Rectangle::new(
                    [(x - slot * 0.45, 0.0), (x + slot * 0.45, d.median)],
                    c.filled(),
                )
            }))?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        chart.draw_series(mine.iter().map(|&(x, d)| {
            ErrorBar::new_vertical(x, d.min, d.median, d.max, BLACK.stroke_width(1), 5)
        }))?;
    }
    chart.draw_series(LineSeries::new(
        vec![(-0.5, 0.0), (groups.len() as f64 - 0.5, 0.0)],
        BLACK.stroke_width(1),
    ))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font((FONT, 12))
        .draw()?;
    Ok(())
}

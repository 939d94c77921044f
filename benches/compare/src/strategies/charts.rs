//! SVG plots of the strategy tables: throughput against threads per
//! workload, snapshot latency, and overhead per request. The axis, tick,
//! unit and legend helpers are in `crate::svg`.

use std::path::Path;

use plotters::{coord::Shift, prelude::*};

use crate::{
    measure::Spread,
    results::{Cell, Results},
    strategies::{
        bench::Case,
        workloads::{Contender, Workload},
    },
    svg::{
        bar_range, core_marker, legend, linear_ticks, log_axis, log_label, short, thread_axis,
        thread_label, time_unit, with_legend, Fallible, LegendEntry, Mark, Ticked, Unit, FONT,
    },
    units,
};

const SIZE: (u32, u32) = (960, 600);
/// The width of the three-panel overhead plot.
const WIDE: u32 = 1440;
const FOOTER: u32 = 44;

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
                    throughput(&file, &label, &cells, &footer, r.machine.cores)?;
                }
            }
        }
        let readers: Vec<String> = cases
            .iter()
            .filter(|c| c.workload == Workload::WithReader)
            .map(Case::label)
            .collect();
        if r.cells.iter().any(|c| readers.contains(&c.case)) {
            snapshot_latency(
                &dir.join(SNAPSHOT_FILE),
                r,
                &readers,
                &footer,
                r.machine.cores,
            )?;
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

fn rows_of<'a>(cells: &[&'a Cell]) -> Vec<&'a str> {
    let mut rows = Vec::new();
    for c in cells {
        if !rows.contains(&c.row) {
            rows.push(c.row);
        }
    }
    rows
}

fn counts(cells: &[&Cell]) -> Vec<usize> {
    cells.iter().map(|c| c.threads).collect()
}

// ------------------------------------------------------------------ plots

fn throughput(file: &Path, case: &str, cells: &[&Cell], footer: &str, cores: usize) -> Fallible {
    let root = SVGBackend::new(file, SIZE).into_drawing_area();
    let area = framed(&root, footer)?;
    let (plot, side) = with_legend(&area, 230);
    let lo = cells
        .iter()
        .map(|c| c.rate.min)
        .fold(f64::INFINITY, f64::min);
    let hi = cells.iter().map(|c| c.rate.max).fold(0.0, f64::max);
    let unit = cells[0].unit;
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            format!("{case}: throughput against threads (median, bars min-max)"),
            (FONT, 20),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(78)
        .build_cartesian_2d(thread_axis(&counts(cells), cores), log_axis(lo, hi))?;
    chart
        .configure_mesh()
        .x_desc("threads (log scale)")
        .y_desc(format!("{unit}, all threads (log scale)"))
        .x_label_formatter(&thread_label)
        .y_label_formatter(&|y| log_label(y, Unit::PerSecond))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    core_marker(&mut chart, cores)?;
    let mut entries = Vec::new();
    for row in rows_of(cells) {
        let c = color(row);
        let mine: Vec<&&Cell> = cells.iter().filter(|x| x.row == row).collect();
        let pts: Vec<(f64, f64)> = mine
            .iter()
            .map(|x| ((x.threads as f64).log2(), x.rate.median.log10()))
            .collect();
        let width = if row == "Sharded" { 3 } else { 2 };
        chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(width)))?;
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
        chart.draw_series(mine.iter().map(|x| {
            ErrorBar::new_vertical(
                (x.threads as f64).log2(),
                x.rate.min.log10(),
                x.rate.median.log10(),
                x.rate.max.log10(),
                c.stroke_width(1),
                8,
            )
        }))?;
        entries.push(LegendEntry {
            label: Contender::label_of(row),
            color: c,
            mark: Mark::Solid,
        });
    }
    legend(&side, &entries)?;
    root.present()?;
    Ok(())
}

fn snapshot_latency(
    file: &Path,
    r: &Results,
    readers: &[String],
    footer: &str,
    cores: usize,
) -> Fallible {
    let root = SVGBackend::new(file, SIZE).into_drawing_area();
    let area = framed(&root, footer)?;
    let (plot, side) = with_legend(&area, 230);
    let panels = plot.split_evenly((1, readers.len()));
    let mut rows_seen: Vec<&str> = Vec::new();
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
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "snapshot latency, {case} (n >= {})",
                    cells.iter().map(|c| snap(c).count).min().unwrap_or(0)
                ),
                (FONT, 16),
            )
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(thread_axis(&counts(&cells), cores), log_axis(lo, hi))?;
        chart
            .configure_mesh()
            .x_desc("writer threads (log scale)")
            .y_desc("snapshot() latency (log scale)")
            .x_label_formatter(&thread_label)
            .y_label_formatter(&|y| log_label(y, Unit::Nanos))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        core_marker(&mut chart, cores)?;
        for row in rows_of(&cells) {
            let c = color(row);
            let mine: Vec<&&Cell> = cells.iter().filter(|x| x.row == row).collect();
            let at = |x: &Cell, q99: bool| {
                let s = snap(x);
                let v = if q99 { s.p99_ns } else { s.p50_ns };
                ((x.threads as f64).log2(), (v.max(1) as f64).log10())
            };
            let p99: Vec<(f64, f64)> = mine.iter().map(|x| at(x, true)).collect();
            let p50: Vec<(f64, f64)> = mine.iter().map(|x| at(x, false)).collect();
            chart.draw_series(LineSeries::new(p50.clone(), c.stroke_width(2)))?;
            chart.draw_series(p50.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
            chart.draw_series(DashedLineSeries::new(p99.clone(), 8, 5, c.stroke_width(2)))?;
            chart.draw_series(p99.iter().map(|&p| Circle::new(p, 4, WHITE.filled())))?;
            chart.draw_series(p99.iter().map(|&p| Circle::new(p, 4, c.stroke_width(2))))?;
            if !rows_seen.contains(&row) {
                rows_seen.push(row);
            }
        }
    }
    let grey = RGBColor(90, 90, 90);
    let mut entries = vec![
        LegendEntry {
            label: "p50 (solid, filled)".into(),
            color: grey,
            mark: Mark::Solid,
        },
        LegendEntry {
            label: "p99 (dashed, hollow)".into(),
            color: grey,
            mark: Mark::Dashed,
        },
    ];
    entries.extend(rows_seen.iter().map(|row| LegendEntry {
        label: Contender::label_of(row),
        color: color(row),
        mark: Mark::Bar,
    }));
    legend(&side, &entries)?;
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
    if c.row == Contender::NoMetrics.name() {
        return None; // the baseline: zero by construction
    }
    let o = c.overhead.as_ref()?;
    o.cpu.as_ref().or(o.wall.as_ref())?.delta_ns
}

/// The series of the overhead plot: one per (case, threads), in run order.
fn overhead_series(cells: &[Cell]) -> Vec<(String, usize)> {
    let mut series: Vec<(String, usize)> = Vec::new();
    for c in cells.iter().filter(|c| c.overhead.is_some()) {
        if !series.iter().any(|(k, t)| k == &c.case && *t == c.threads) {
            series.push((c.case.clone(), c.threads));
        }
    }
    series
}

fn series_name(case: &str, threads: usize) -> String {
    if case == "sequential" {
        "sequential, 50 requests".to_string()
    } else {
        format!("{case}, {}", units::threads(threads))
    }
}

/// Three panels of grouped bars: the direct measure (mean and median
/// request) and the end-to-end one, with one legend above them.
fn overhead(file: &Path, r: &Results, footer: &str) -> Fallible {
    let root = SVGBackend::new(file, (WIDE, SIZE.1)).into_drawing_area();
    let area = framed(&root, footer)?;
    let (top, body) = area.split_vertically(50);
    let series = overhead_series(&r.cells);
    for (i, (case, threads)) in series.iter().enumerate() {
        let x = 14 + 230 * i as i32;
        let c = SERIES[i % SERIES.len()];
        top.draw(&Rectangle::new([(x, 12), (x + 18, 24)], c.filled()))?;
        top.draw(&Text::new(
            series_name(case, *threads),
            (x + 24, 11),
            (FONT, 13).into_font(),
        ))?;
    }
    top.draw(&Text::new(
        "(clipped): an outlier would flatten the rest; whiskers end at the axis, a bar past it \
         states its value",
        (14, 32),
        (FONT, 12).into_font().color(&RGBColor(90, 90, 90)),
    ))?;
    let panels = body.split_evenly((1, 3));
    let on_cpu = r
        .cells
        .iter()
        .any(|c| c.overhead.as_ref().is_some_and(|o| o.cpu.is_some()));
    bars(
        &panels[0],
        "records in a request: mean",
        "added per request (clock reads around them)",
        &r.cells,
        &series,
        direct,
    )?;
    bars(
        &panels[1],
        "records: the median request",
        "added per request (clock reads around them)",
        &r.cells,
        &series,
        direct_p50,
    )?;
    bars(
        &panels[2],
        &format!("end to end, {} µs requests", r.settings.work_us),
        if on_cpu {
            "CPU time added per request (below 0: noise)"
        } else {
            "wall time added per request (below 0: noise)"
        },
        &r.cells,
        &series,
        end_to_end,
    )?;
    root.present()?;
    Ok(())
}

/// Grouped bars of `value`: one group per row, one bar per (case, threads),
/// at the median with min-max; the unit (ns, µs, ms) chosen for the panel;
/// bars and whiskers past the axis clipped, their true value written.
fn bars(
    panel: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    y_desc: &str,
    all: &[Cell],
    series: &[(String, usize)],
    value: fn(&Cell) -> Option<Spread>,
) -> Fallible {
    let cells: Vec<&Cell> = all.iter().filter(|c| value(c).is_some()).collect();
    if cells.is_empty() {
        return Ok(());
    }
    let groups = rows_of(&cells);
    let v = |c: &Cell| value(c).expect("filtered");
    let spreads: Vec<Spread> = cells.iter().map(|c| v(c)).collect();
    let (range, clipped) = bar_range(&spreads);
    let (div, unit) = time_unit(range.start.abs().max(range.end.abs()));
    let y_ticks = linear_ticks(range.start, range.end, 8);
    let centres: Vec<f64> = (0..groups.len()).map(|g| g as f64).collect();
    let group_names: Vec<String> = groups
        .iter()
        .map(|g| Contender::label_of(g).replace(" (ref)", ""))
        .collect();
    let caption = if clipped {
        format!("{title} (clipped)")
    } else {
        title.to_string()
    };
    let mut chart = ChartBuilder::on(panel)
        .caption(caption, (FONT, 15))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(
            Ticked::new(-0.5..groups.len() as f64 - 0.5, centres),
            Ticked::new(range.clone(), y_ticks),
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
        .y_desc(format!("{y_desc}, {unit}"))
        .y_label_formatter(&|y| format!("{} {unit}", short(*y / div)))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let clip = |y: f64| y.clamp(range.start, range.end);
    let slot = 0.8 / series.len().max(1) as f64;
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
        chart.draw_series(mine.iter().map(|&(x, d)| {
            Rectangle::new(
                [(x - slot * 0.45, 0.0), (x + slot * 0.45, clip(d.median))],
                c.filled(),
            )
        }))?;
        chart.draw_series(mine.iter().map(|&(x, d)| {
            ErrorBar::new_vertical(
                x,
                clip(d.min),
                clip(d.median),
                clip(d.max),
                BLACK.stroke_width(1),
                5,
            )
        }))?;
        // A clipped bar gets its median written at the edge; a clipped
        // whisker just ends there (the caption says so).
        for &(x, d) in &mine {
            if d.median > range.end || d.median < range.start {
                let at = clip(d.median);
                chart.draw_series(std::iter::once(
                    EmptyElement::at((x, at))
                        + Text::new(
                            units::ns(d.median),
                            (-14, if d.median > 0.0 { 2 } else { -14 }),
                            (FONT, 11).into_font().color(&RGBColor(150, 0, 0)),
                        ),
                ))?;
            }
        }
    }
    chart.draw_series(LineSeries::new(
        vec![(-0.5, 0.0), (groups.len() as f64 - 0.5, 0.0)],
        BLACK.stroke_width(1),
    ))?;
    Ok(())
}

//! The verdict: the few lines the report opens with, saying when to use
//! this crate's registry, when `Sharded` (the engine alone), and when a
//! peer instead, all derived from this run's library cells (and its
//! accuracy cases), never written in advance.
//!
//! The rule, per shape (a workload, series count, series choice and thread
//! count, kept handles): the registry *wins* where its median records/s is
//! the highest of the options a user would pick (`Sharded`, the engine
//! reference, is judged apart); it is *within range* where another
//! option's median is higher but the registry's median lies inside that
//! option's [min-max] over the runs, so the runs do not separate them; a
//! peer *wins* where the fastest option's min is above the registry's
//! median. The lines name the shapes of each kind and the ratios, as
//! medians' ratios [min-max of the per-run ratios].

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{
    libraries::{
        contenders::Contender,
        recommend::{plain, Ratio},
        run::{Choice, Path},
        shapes::{thousands, Cell, LibraryWorkload, Shape},
    },
    operations::{accuracy, drive::is_ours},
};

/// Where the registry stands in one shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Standing {
    /// Its median records/s is the highest.
    Fastest,
    /// Another option's median is higher, but the registry's median lies in
    /// that option's [min-max]: the runs do not separate them.
    WithinRange,
    /// Another option is faster beyond its own range.
    Slower,
}

/// The registry against the fastest other option, in one shape.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ShapeVerdict {
    /// The shape.
    pub(crate) shape: Shape,
    /// Its label, e.g. "100 series uniform, 4 threads".
    pub(crate) label: String,
    /// Where the registry stands.
    pub(crate) standing: Standing,
    /// The fastest option other than the registry (and `Sharded`).
    pub(crate) best_other: &'static str,
    /// The registry's records/s over `best_other`'s.
    pub(crate) registry_over_best_other: Option<Ratio>,
}

/// The verdict: its lines, as printed first, and the per-shape standings
/// they are derived from.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Verdict {
    /// What to use when, one line each: the registry, `Sharded`, then each
    /// peer that wins somewhere; last, how to read them.
    pub(crate) lines: Vec<String>,
    /// The registry's standing per shape (kept handles, one and many series).
    pub(crate) shapes: Vec<ShapeVerdict>,
    /// `Sharded` over the registry per one-series shape, where both ran.
    pub(crate) sharded_over_registry: Vec<(String, Ratio)>,
}

/// "one series at 1, 2 threads; 100 series uniform at 4 threads": the
/// shapes grouped by workload, series count and choice.
fn shapes_text<'a>(shapes: impl IntoIterator<Item = &'a Shape>) -> String {
    let mut families: BTreeMap<(LibraryWorkload, usize, Choice), Vec<usize>> = BTreeMap::new();
    for s in shapes {
        families
            .entry((s.workload, s.series, s.choice))
            .or_default()
            .push(s.threads);
    }
    families
        .into_iter()
        .map(|((workload, series, choice), mut threads)| {
            threads.sort_unstable();
            threads.dedup();
            let family = match workload {
                LibraryWorkload::OneSeries => "one series".to_string(),
                _ => format!("{} series {}", thousands(series), choice.name()),
            };
            let list: Vec<String> = threads.iter().map(usize::to_string).collect();
            let unit = if threads == [1] { "thread" } else { "threads" };
            format!("{family} at {} {unit}", list.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The verdict `cells` (the library comparison's) and `accuracy` (the
/// accuracy operation's, when it ran) support.
pub(crate) fn verdict(cells: &[Cell], accuracy: Option<&accuracy::Results>) -> Verdict {
    let registry = Contender::Registry.name();
    let sharded = Contender::Sharded.name();
    let kept: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.path == Path::Cached)
        .filter(|c| c.shape.workload != LibraryWorkload::Lookup)
        .collect();
    let mut by_shape: BTreeMap<Shape, Vec<&Cell>> = BTreeMap::new();
    for c in &kept {
        by_shape.entry(c.shape).or_default().push(c);
    }
    let mut v = Verdict::default();
    for (shape, cs) in &by_shape {
        let Some(reg) = cs.iter().find(|c| c.peer == registry) else {
            continue;
        };
        let Some(best) = cs
            .iter()
            .filter(|c| c.peer != registry && c.peer != sharded)
            .max_by(|a, b| a.records_per_s.median.total_cmp(&b.records_per_s.median))
        else {
            continue;
        };
        let (r, b) = (&reg.records_per_s, &best.records_per_s);
        let standing = if r.median >= b.median {
            Standing::Fastest
        } else if r.median >= b.min {
            Standing::WithinRange
        } else {
            Standing::Slower
        };
        v.shapes.push(ShapeVerdict {
            shape: *shape,
            label: shape.label(),
            standing,
            best_other: best.peer,
            registry_over_best_other: Ratio::of(reg, best),
        });
        if shape.workload == LibraryWorkload::OneSeries {
            if let Some(ratio) = cs
                .iter()
                .find(|c| c.peer == sharded)
                .and_then(|s| Ratio::of(s, reg))
            {
                v.sharded_over_registry.push((shape.label(), ratio));
            }
        }
    }
    v.lines.push(registry_line(&v.shapes));
    if let Some(line) = accuracy.and_then(accuracy_line) {
        v.lines.push(line);
    }
    v.lines.push(sharded_line(&v.sharded_over_registry));
    v.lines.extend(peer_lines(&v.shapes));
    v.lines.push(
        "(how to read: medians over the runs of this one run, ratios as median [min-max] of the \
         per-run ratios; 'within range': the registry's median lies in the fastest option's \
         [min-max]; every shape is in 'library: recommendation' below)"
            .into(),
    );
    v
}

impl Verdict {
    /// Says, before the reading note, that the run was noisy (`line`: the
    /// noise calibration's summary).
    pub(crate) fn note_noise(&mut self, line: &str) {
        let at = self.lines.len().saturating_sub(1);
        self.lines.insert(
            at,
            format!("this run was NOISY, so repeat it before acting on a close call: {line}"),
        );
    }
}

/// "use this crate's registry when …".
fn registry_line(shapes: &[ShapeVerdict]) -> String {
    if shapes.is_empty() {
        return "use this crate's registry when …: not measured in this run (the library \
                workloads one-series and many-series measure it)"
            .into();
    }
    let of =
        |s: Standing| -> Vec<&ShapeVerdict> { shapes.iter().filter(|v| v.standing == s).collect() };
    let (fastest, within) = (of(Standing::Fastest), of(Standing::WithinRange));
    if fastest.is_empty() && within.is_empty() {
        let (lo, hi) = shapes
            .iter()
            .filter_map(|v| v.registry_over_best_other.as_ref())
            .map(|r| 1.0 / r.ratio.median)
            .fold((f64::INFINITY, 0.0_f64), |(lo, hi), x| {
                (lo.min(x), hi.max(x))
            });
        return format!(
            "use this crate's registry when its other strengths matter more than speed: in none \
             of the {} shapes measured was it the fastest or within the fastest's range (the \
             fastest option recorded {}x to {}x its records/s)",
            shapes.len(),
            plain(lo),
            plain(hi)
        );
    }
    let mut parts = Vec::new();
    if !fastest.is_empty() {
        // The clearest win: the largest margin over the next option.
        let top = fastest
            .iter()
            .filter_map(|v| v.registry_over_best_other.as_ref().map(|r| (v, r)))
            .max_by(|a, b| a.1.ratio.median.total_cmp(&b.1.ratio.median));
        parts.push(format!(
            "it is the fastest in {}{}",
            shapes_text(fastest.iter().map(|v| &v.shape)),
            top.map_or(String::new(), |(v, r)| format!(
                " (up to {} over {} at {})",
                r.text(),
                v.best_other,
                v.label
            ))
        ));
    }
    if !within.is_empty() {
        parts.push(format!(
            "within the fastest option's range in {}",
            shapes_text(within.iter().map(|v| &v.shape))
        ));
    }
    format!(
        "use this crate's registry when you record through kept handles: {} ({} of {} shapes \
         measured)",
        parts.join("; "),
        fastest.len() + within.len(),
        shapes.len()
    )
}

/// The registry against the peers on quantile accuracy, where it ran.
fn accuracy_line(a: &accuracy::Results) -> Option<String> {
    // The worst |relative error| of an option over every case's quantiles.
    let mut worst: BTreeMap<&str, f64> = BTreeMap::new();
    for case in &a.cases {
        for e in &case.estimates {
            if let Some(errors) = &e.relative_error {
                let w = errors.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
                let entry = worst.entry(e.option.as_str()).or_insert(0.0);
                *entry = entry.max(w);
            }
        }
    }
    let ours = *worst.get(Contender::Registry.name())?;
    let peers: Vec<(&str, f64)> = worst
        .iter()
        .filter(|(o, _)| Contender::of_name(o).is_some_and(|c| !is_ours(c)))
        .map(|(o, w)| (*o, *w))
        .collect();
    let worse: Vec<&(&str, f64)> = peers.iter().filter(|(_, w)| *w > ours).collect();
    let far = worse.iter().max_by(|a, b| a.1.total_cmp(&b.1));
    Some(format!(
        "use this crate's registry when you read quantiles: its worst error over p50/p99/p99.9 \
         of {} distributions was {:.1}%; {} of {} peers with quantiles did worse{}",
        a.cases.len(),
        ours * 100.0,
        worse.len(),
        peers.len(),
        far.map_or(String::new(), |(o, w)| format!(
            ", up to {:.0}% ({o})",
            w * 100.0
        ))
    ))
}

/// "use `Sharded` when …": the engine alone, against the registry at one
/// series.
fn sharded_line(ratios: &[(String, Ratio)]) -> String {
    if ratios.is_empty() {
        return "use `Sharded` (the engine alone: a fixed set of metrics, no names or labels) \
                when …: not measured against the registry in this run (one-series measures both)"
            .into();
    }
    // Faster beyond the runs' ranges: a higher median, and ranges apart.
    let beyond = |r: &Ratio| r.ratio.median > 1.0 && !r.overlap;
    let faster: Vec<&(String, Ratio)> = ratios.iter().filter(|(_, r)| beyond(r)).collect();
    let listed = |rs: &[&(String, Ratio)]| -> String {
        rs.iter()
            .map(|(label, r)| {
                format!(
                    "{} at {}",
                    r.text(),
                    label.trim_start_matches("one series, ")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if faster.is_empty() {
        let all: Vec<&(String, Ratio)> = ratios.iter().collect();
        format!(
            "use `Sharded` (the engine alone) only if you need its API: at one series it was not \
             faster than the registry beyond the runs' ranges (its records/s over the registry's: \
             {})",
            listed(&all)
        )
    } else {
        format!(
            "use `Sharded` (the engine alone: a fixed set of metrics, no names, labels or \
             exporters) when one series per metric is enough and every nanosecond counts: at one \
             series it records faster than the registry, {} (its records/s over the \
             registry's){}",
            listed(&faster),
            if faster.len() < ratios.len() {
                let rest: Vec<&str> = ratios
                    .iter()
                    .filter(|(_, r)| !beyond(r))
                    .map(|(label, _)| label.trim_start_matches("one series, "))
                    .collect();
                format!("; not beyond the runs' ranges at {}", rest.join(", "))
            } else {
                String::new()
            }
        )
    }
}

/// "use X instead when …": each peer that is faster than the registry
/// beyond the range somewhere, with its largest margin.
fn peer_lines(shapes: &[ShapeVerdict]) -> Vec<String> {
    let mut wins: BTreeMap<&str, Vec<&ShapeVerdict>> = BTreeMap::new();
    for v in shapes.iter().filter(|v| v.standing == Standing::Slower) {
        wins.entry(v.best_other).or_default().push(v);
    }
    if wins.is_empty() && !shapes.is_empty() {
        return vec![format!(
            "no peer was faster than the registry beyond the runs' ranges in any of the {} shapes \
             measured",
            shapes.len()
        )];
    }
    let mut wins: Vec<(&str, Vec<&ShapeVerdict>)> = wins.into_iter().collect();
    // The peer that wins the most shapes first.
    wins.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    wins.into_iter()
        .map(|(peer, vs)| {
            let top = vs
                .iter()
                .filter_map(|v| v.registry_over_best_other.as_ref().map(|r| (v, r)))
                .min_by(|a, b| a.1.ratio.median.total_cmp(&b.1.ratio.median));
            format!(
                "use {peer} instead when you record into {}: it is faster than the registry \
                 beyond the runs' ranges there{}",
                shapes_text(vs.iter().map(|v| &v.shape)),
                top.map_or(String::new(), |(v, r)| format!(
                    ", up to {} at {}",
                    inverse(r),
                    v.label
                ))
            )
        })
        .collect()
}

/// A ratio turned over: `b / a` from `a / b`, as "2.00x [1.50-2.50]".
fn inverse(r: &Ratio) -> String {
    format!(
        "{}x [{}-{}]",
        plain(1.0 / r.ratio.median),
        plain(1.0 / r.ratio.max),
        plain(1.0 / r.ratio.min)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(peer: Contender, workload: LibraryWorkload, threads: usize, rates: &[f64]) -> Cell {
        let shape = Shape {
            workload,
            series: if workload == LibraryWorkload::OneSeries {
                1
            } else {
                100
            },
            ..Cell::one_series(threads)
        };
        Cell::of_rates(peer.name(), shape, rates)
    }

    const ONE: LibraryWorkload = LibraryWorkload::OneSeries;
    const MANY: LibraryWorkload = LibraryWorkload::ManySeries;

    #[test]
    fn the_registry_wins_where_its_median_is_highest() {
        let cells = [
            cell(Contender::Registry, ONE, 2, &[30.0, 31.0, 32.0]),
            cell(Contender::PromLocal, ONE, 2, &[10.0, 11.0, 12.0]),
            // The engine is judged apart: faster, yet the registry wins.
            cell(Contender::Sharded, ONE, 2, &[90.0, 91.0, 92.0]),
        ];
        let v = verdict(&cells, None);
        assert_eq!(v.shapes.len(), 1);
        assert_eq!(v.shapes[0].standing, Standing::Fastest);
        assert_eq!(v.shapes[0].best_other, Contender::PromLocal.name());
        assert!(
            v.lines[0].starts_with("use this crate's registry when")
                && v.lines[0].contains("fastest in one series at 2 threads")
                && v.lines[0].contains("up to 2.82x [2.67-3.00] over prometheus LocalHistogram"),
            "{:?}",
            v.lines
        );
        assert!(
            v.lines[1].starts_with("use `Sharded`") && v.lines[1].contains("2.94x"),
            "{:?}",
            v.lines
        );
        assert!(
            v.lines[2].starts_with("no peer was faster"),
            "{:?}",
            v.lines
        );
    }

    #[test]
    fn a_peer_wins_beyond_its_range_and_the_line_says_by_how_much() {
        let cells = [
            cell(Contender::Registry, MANY, 4, &[10.0, 10.0, 10.0]),
            cell(Contender::PromLocal, MANY, 4, &[38.0, 40.0, 42.0]),
            cell(Contender::Registry, ONE, 4, &[10.0, 10.0, 10.0]),
            cell(Contender::Sharded, ONE, 4, &[10.0, 10.5, 11.0]),
            cell(Contender::PromLocal, ONE, 4, &[19.0, 20.0, 21.0]),
        ];
        let v = verdict(&cells, None);
        assert!(v.shapes.iter().all(|s| s.standing == Standing::Slower));
        assert!(
            v.lines[0].contains("in none of the 2 shapes") && v.lines[0].contains("2.00x to 4.00x"),
            "{:?}",
            v.lines
        );
        // Sharded's range overlaps the registry's: no claim it is faster.
        assert!(v.lines[1].contains("not faster"), "{:?}", v.lines);
        assert_eq!(
            v.lines[2],
            "use prometheus LocalHistogram instead when you record into one series at 4 \
             threads; 100 series uniform at 4 threads: it is faster than the registry beyond \
             the runs' ranges there, up to 4.00x [3.80-4.20] at 100 series uniform, 4 threads"
        );
    }

    #[test]
    fn within_the_fastest_range_counts_for_the_registry_and_for_no_peer() {
        let cells = [
            // The peer's median is higher, but its min is below the
            // registry's median: the runs do not separate them.
            cell(Contender::Registry, ONE, 1, &[9.0, 10.0, 11.0]),
            cell(Contender::PromHistogram, ONE, 1, &[9.5, 10.5, 12.0]),
        ];
        let v = verdict(&cells, None);
        assert_eq!(v.shapes[0].standing, Standing::WithinRange);
        assert!(
            v.lines[0].contains("within the fastest option's range in one series at 1 thread")
                && v.lines[0].contains("(1 of 1 shapes measured)"),
            "{:?}",
            v.lines
        );
        assert!(
            v.lines.iter().all(|l| !l.contains("instead")),
            "{:?}",
            v.lines
        );
        // The same data one step further apart: the peer wins.
        let cells = [
            cell(Contender::Registry, ONE, 1, &[9.0, 10.0, 11.0]),
            cell(Contender::PromHistogram, ONE, 1, &[10.1, 10.5, 12.0]),
        ];
        assert_eq!(verdict(&cells, None).shapes[0].standing, Standing::Slower);
    }

    #[test]
    fn nothing_measured_says_so() {
        let v = verdict(&[], None);
        assert!(v.lines[0].contains("not measured"), "{:?}", v.lines);
        assert!(v.lines[1].contains("not measured"), "{:?}", v.lines);
    }
}

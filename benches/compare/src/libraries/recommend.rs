//! Which option to use when, derived from the measured cells: the fastest
//! option of each shape with its ratio to the runner-up, the crossovers
//! between thread counts, and what a lookup on every call costs. Every
//! ratio is the medians' ratio with the [min-max] of the per-repetition
//! ratios (the options of a shape run interleaved, rep by rep), flagged
//! when the two options' ranges of records/s overlap.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    contenders::Contender,
    run::{Choice, Path},
    shapes::{thousands, Cell, LibraryWorkload, Shape},
};
use crate::measure::Spread;

/// `a / b`, one option's rate over another's in the same shape.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Ratio {
    /// `median`: `a`'s median rate over `b`'s; `min`, `max`: of the
    /// per-repetition ratios (`a`'s rate over `b`'s in the same repetition).
    pub(crate) ratio: Spread,
    /// The two options' records/s ranges overlap: the order may not hold.
    pub(crate) overlap: bool,
}

impl Ratio {
    /// The ratio of `a` to `b`: their medians' ratio (so that it agrees
    /// with a ranking by median), in the range of the per-repetition
    /// ratios (None without paired runs).
    pub(crate) fn of(a: &Cell, b: &Cell) -> Option<Ratio> {
        let paired = Spread::of(
            a.rates
                .iter()
                .zip(&b.rates)
                .filter(|(_, &y)| y > 0.0)
                .map(|(x, y)| x / y),
        )?;
        let ratio = Spread {
            median: a.records_per_s.median / b.records_per_s.median,
            ..paired
        };
        let (ra, rb) = (&a.records_per_s, &b.records_per_s);
        Some(Ratio {
            ratio,
            overlap: ra.min <= rb.max && rb.min <= ra.max,
        })
    }

    /// "1.23x [1.10-1.40]", with " (ranges overlap)" where they do.
    pub(crate) fn text(&self) -> String {
        let r = &self.ratio;
        format!(
            "{} [{}-{}]{}",
            times(r.median),
            plain(r.min),
            plain(r.max),
            if self.overlap {
                " (ranges overlap)"
            } else {
                ""
            }
        )
    }
}

/// A ratio's number: 3 significant digits, up to 2 decimals.
pub(crate) fn plain(x: f64) -> String {
    match x {
        x if x >= 99.5 => format!("{x:.0}"),
        x if x >= 9.95 => format!("{x:.1}"),
        _ => format!("{x:.2}"),
    }
}

fn times(x: f64) -> String {
    format!("{}x", plain(x))
}

/// The fastest option of one shape.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Fastest {
    /// The shape.
    pub(crate) shape: Shape,
    /// Its label.
    pub(crate) label: String,
    /// The option with the highest median records/s.
    pub(crate) fastest: &'static str,
    /// The next one.
    pub(crate) runner_up: Option<&'static str>,
    /// Fastest over runner-up.
    pub(crate) margin: Option<Ratio>,
    /// Fastest over this crate's registry, where the registry is not it.
    pub(crate) over_registry: Option<Ratio>,
    /// The sentence.
    pub(crate) text: String,
}

/// A change of the fastest option between two adjacent thread counts.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Crossover {
    /// The workload, series count and choice the thread counts share.
    pub(crate) family: String,
    /// The thread count below the change, and the fastest option there.
    pub(crate) below: (usize, &'static str),
    /// The thread count at the change, and the fastest option there.
    pub(crate) at: (usize, &'static str),
    /// At `at`, the new fastest over the old.
    pub(crate) ratio: Option<Ratio>,
    /// The sentence.
    pub(crate) text: String,
}

/// What a lookup on every record costs one option.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct LookupCost {
    /// Threads.
    pub(crate) threads: usize,
    /// The option.
    pub(crate) peer: &'static str,
    /// Cached records/s over labelled records/s.
    pub(crate) cached_over_lookup: Ratio,
    /// The sentence.
    pub(crate) text: String,
}

/// The recommendation: structured items and the text they make.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Recommendation {
    /// The fastest option per shape.
    pub(crate) fastest: Vec<Fastest>,
    /// Where the fastest option changes with the thread count.
    pub(crate) crossovers: Vec<Crossover>,
    /// Lookup against cached handle, per option and thread count.
    pub(crate) lookups: Vec<LookupCost>,
    /// A summary line per workload.
    pub(crate) summary: Vec<String>,
}

impl Recommendation {
    /// Every sentence, summary first.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.summary
            .iter()
            .cloned()
            .chain(self.fastest.iter().map(|f| f.text.clone()))
            .chain(self.crossovers.iter().map(|c| c.text.clone()))
            .chain(self.lookups.iter().map(|l| l.text.clone()))
            .collect()
    }
}

/// The recommendation `cells` support. The engine reference (`Sharded`)
/// is left out: it is not a library a user would pick.
pub(crate) fn recommend(cells: &[Cell]) -> Recommendation {
    let candidates: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.path == Path::Cached)
        .filter(|c| c.shape.workload != LibraryWorkload::Lookup)
        .filter(|c| !Contender::of_name(c.peer).is_some_and(Contender::is_reference))
        .collect();
    let mut by_shape: BTreeMap<Shape, Vec<&Cell>> = BTreeMap::new();
    for c in &candidates {
        by_shape.entry(c.shape).or_default().push(c);
    }
    let registry = Contender::Registry.name();
    let mut r = Recommendation::default();
    for (shape, mut cs) in by_shape {
        cs.sort_by(|a, b| b.records_per_s.median.total_cmp(&a.records_per_s.median));
        let best = cs[0];
        let second = cs.get(1).copied();
        let margin = second.and_then(|s| Ratio::of(best, s));
        let over_registry = cs
            .iter()
            .find(|c| c.peer == registry && c.peer != best.peer)
            .and_then(|reg| Ratio::of(best, reg));
        let mut text = format!("{}: {} fastest", shape.label(), best.peer);
        match (second, &margin) {
            (Some(s), Some(m)) => text.push_str(&format!(", {} over {}", m.text(), s.peer)),
            _ => text.push_str(" (the only option)"),
        }
        if let Some(o) = &over_registry {
            if second.is_some_and(|s| s.peer != registry) {
                text.push_str(&format!("; {} over {registry}", o.text()));
            }
        }
        r.fastest.push(Fastest {
            shape,
            label: shape.label(),
            fastest: best.peer,
            runner_up: second.map(|s| s.peer),
            margin,
            over_registry,
            text,
        });
    }
    // Crossovers: adjacent thread counts of one workload, series count and
    // choice whose fastest option differs.
    let mut families: BTreeMap<(LibraryWorkload, usize, Choice), Vec<&Fastest>> = BTreeMap::new();
    for f in &r.fastest {
        families
            .entry((f.shape.workload, f.shape.series, f.shape.choice))
            .or_default()
            .push(f);
    }
    for ((workload, series, choice), mut fs) in families {
        fs.sort_by_key(|f| f.shape.threads);
        let family = match workload {
            LibraryWorkload::OneSeries => "one series".to_string(),
            _ => format!("{} series {}", thousands(series), choice.name()),
        };
        for w in fs.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            if lo.fastest == hi.fastest {
                continue;
            }
            let at = |peer: &str| {
                candidates
                    .iter()
                    .find(|c| c.shape == hi.shape && c.peer == peer)
                    .copied()
            };
            let ratio = at(hi.fastest)
                .zip(at(lo.fastest))
                .and_then(|(a, b)| Ratio::of(a, b));
            let below = match lo.shape.threads {
                1 => "at 1 thread".to_string(),
                t => format!("up to {t} threads"),
            };
            let text = format!(
                "{family}: {below} {} is fastest; from {} threads {} overtakes it{}",
                lo.fastest,
                hi.shape.threads,
                hi.fastest,
                ratio
                    .as_ref()
                    .map_or(String::new(), |x| format!(", {}", x.text()))
            );
            r.crossovers.push(Crossover {
                family: family.clone(),
                below: (lo.shape.threads, lo.fastest),
                at: (hi.shape.threads, hi.fastest),
                ratio,
                text,
            });
        }
    }
    // Lookup against cached handle.
    for c in cells
        .iter()
        .filter(|c| c.shape.workload == LibraryWorkload::Lookup && c.path == Path::Cached)
    {
        let Some(l) = cells
            .iter()
            .find(|l| l.shape == c.shape && l.peer == c.peer && l.path == Path::Labelled)
        else {
            continue;
        };
        let Some(ratio) = Ratio::of(c, l) else {
            continue;
        };
        let text = format!(
            "lookup, {}: {} with a kept handle records {} as fast as with a lookup per call",
            crate::units::threads(c.shape.threads),
            c.peer,
            ratio.text()
        );
        r.lookups.push(LookupCost {
            threads: c.shape.threads,
            peer: c.peer,
            cached_over_lookup: ratio,
            text,
        });
    }
    // A summary per workload: how often each option is fastest.
    let mut wins: BTreeMap<LibraryWorkload, BTreeMap<&str, usize>> = BTreeMap::new();
    for f in &r.fastest {
        *wins
            .entry(f.shape.workload)
            .or_default()
            .entry(f.fastest)
            .or_default() += 1;
    }
    for (workload, w) in wins {
        let total: usize = w.values().sum();
        let mut w: Vec<(&str, usize)> = w.into_iter().collect();
        w.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let listed: Vec<String> = w.iter().map(|(p, n)| format!("{p} in {n}")).collect();
        let close = r
            .fastest
            .iter()
            .filter(|f| f.shape.workload == workload)
            .filter(|f| f.margin.as_ref().is_some_and(|m| m.overlap))
            .count();
        r.summary.push(format!(
            "{}: fastest {} of {total} shapes{}",
            workload.name(),
            listed.join(", "),
            if close > 0 {
                format!(" ({close} of them within the runner-up's range)")
            } else {
                String::new()
            }
        ));
    }
    if let Some(worst) = r.lookups.iter().max_by(|a, b| {
        a.cached_over_lookup
            .ratio
            .median
            .total_cmp(&b.cached_over_lookup.ratio.median)
    }) {
        r.summary.push(format!(
            "lookup: keep the handle; a lookup per call costs up to {} ({}, {})",
            worst.cached_over_lookup.text(),
            worst.peer,
            crate::units::threads(worst.threads)
        ));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(peer: &'static str, threads: usize, rates: &[f64]) -> Cell {
        Cell::of_rates(peer, Cell::one_series(threads), rates)
    }

    #[test]
    fn overlapping_ranges_are_flagged() {
        let a = cell("a", 1, &[10.0, 12.0, 11.0]);
        let b = cell("b", 1, &[9.0, 11.5, 10.0]);
        let r = Ratio::of(&a, &b).unwrap();
        assert!(r.overlap);
        assert!(r.text().ends_with("(ranges overlap)"), "{}", r.text());
        let c = cell("c", 1, &[5.0, 5.5, 5.2]);
        let r = Ratio::of(&a, &c).unwrap();
        assert!(!r.overlap);
        // Medians 11 and 5.2; paired ratios 2.0, 2.18, 2.12.
        assert_eq!(r.text(), "2.12x [2.00-2.18]");
    }

    #[test]
    fn the_fastest_and_the_crossover_come_from_the_data() {
        let reg = Contender::Registry.name();
        let tikv = Contender::PromLocal.name();
        let sharded = Contender::Sharded.name();
        let cells = vec![
            cell(reg, 1, &[8.0, 8.2, 8.1]),
            cell(tikv, 1, &[10.0, 10.1, 10.2]),
            cell(sharded, 1, &[100.0, 100.0, 100.0]),
            cell(reg, 4, &[30.0, 31.0, 32.0]),
            cell(tikv, 4, &[12.0, 12.0, 12.0]),
        ];
        let r = recommend(&cells);
        assert_eq!(r.fastest.len(), 2);
        assert_eq!(
            r.fastest[0].fastest, tikv,
            "Sharded is the reference, left out"
        );
        assert_eq!(r.fastest[1].fastest, reg);
        assert_eq!(r.crossovers.len(), 1);
        let c = &r.crossovers[0];
        assert_eq!((c.below, c.at), ((1, tikv), (4, reg)));
        assert!(
            c.text
                .contains("at 1 thread prometheus LocalHistogram is fastest; from 4 threads"),
            "{}",
            c.text
        );
        assert!(!c.ratio.as_ref().unwrap().overlap);
        assert!(
            r.summary[0].starts_with("one-series: fastest"),
            "{:?}",
            r.summary
        );
    }
}

//! The library comparison's tables, as [`Section`]s.

use super::{
    contenders::Contender,
    recommend::Recommendation,
    run::{Choice, Path, LATENCY_NS, ZIPF_S},
    shapes::{thousands, Cell, LibraryWorkload, Measured, Settings},
};
use crate::{
    measure::Spread,
    section::Section,
    units::{ns, si},
};

/// A rate as "12.3M [11.0M-13.1M]".
fn rate(s: &Spread) -> String {
    format!("{} [{}-{}]", si(s.median), si(s.min), si(s.max))
}

fn nanos(s: &Spread) -> String {
    format!("{} [{}-{}]", ns(s.median), ns(s.min), ns(s.max))
}

fn bytes(x: f64) -> String {
    let (div, unit) = [(1_048_576.0, "MiB"), (1_024.0, "KiB")]
        .into_iter()
        .find(|&(d, _)| x.abs() >= d)
        .unwrap_or((1.0, "B"));
    if div == 1.0 {
        format!("{x:.0} B")
    } else {
        format!("{:.1} {unit}", x / div)
    }
}

fn threads_header(first: &str, threads: &[usize]) -> Vec<String> {
    std::iter::once(first.to_string())
        .chain(threads.iter().map(|&t| {
            if t == 1 {
                "1 thread".into()
            } else {
                format!("{t} threads")
            }
        }))
        .collect()
}

/// The row label: the name, marked where the count could not be checked.
fn label(peer: &str, exact: bool) -> String {
    let reference = Contender::of_name(peer).is_some_and(Contender::is_reference);
    format!(
        "{peer}{}{}",
        if reference { " (engine ref)" } else { "" },
        if exact { "" } else { " [count unchecked]" }
    )
}

fn rows_of<'a>(cells: &[&'a Cell]) -> Vec<&'a str> {
    let mut rows = Vec::new();
    for c in cells {
        if !rows.contains(&c.peer) {
            rows.push(c.peer);
        }
    }
    rows
}

fn threads_of(cells: &[&Cell]) -> Vec<usize> {
    let mut t: Vec<usize> = cells.iter().map(|c| c.shape.threads).collect();
    t.sort_unstable();
    t.dedup();
    t
}

/// A table of `cells` with one column per thread count.
fn by_threads(cells: &[&Cell], f: &dyn Fn(&Cell) -> String) -> (Vec<String>, Vec<Vec<String>>) {
    let threads = threads_of(cells);
    let rows = rows_of(cells)
        .into_iter()
        .map(|peer| {
            let exact = cells.iter().filter(|c| c.peer == peer).all(|c| c.exact);
            std::iter::once(label(peer, exact))
                .chain(threads.iter().map(|&t| {
                    cells
                        .iter()
                        .find(|c| c.peer == peer && c.shape.threads == t)
                        .map_or(String::new(), |c| f(c))
                }))
                .collect()
        })
        .collect();
    (threads_header("", &threads), rows)
}

/// Every section of the library comparison.
pub(crate) fn sections(
    s: &Settings,
    m: &Measured,
    cells: &[Cell],
    rec: &Recommendation,
    plots: &[String],
) -> Vec<Section> {
    let mut out = Vec::new();
    let values = format!(
        "latencies log-uniform {} to {} (a table of 4,096 per thread, cycled), series choices \
         pre-generated (65,536 per thread, cycled), so no generator is timed",
        ns(LATENCY_NS.0),
        ns(LATENCY_NS.1)
    );
    let method = format!(
        "median [min-max] over {} runs per cell, options interleaved run by run; each run sets \
         its library up afresh, makes every thread's handles, releases the threads together for a \
         {:.0} ms warm-up on that instance (counted, not timed; with many series at least one pass \
         over the thread's 65,536 series choices), then measures {:.0} ms ({:.0} ms \
         in many-series, {:.0} ms in lookup). Short runs include first-touch costs (page faults of lazily allocated \
         counts, allocations of new samples) for series first written in the measured part",
        s.reps, s.warmup_ms, s.duration_ms, s.many_duration_ms, s.lookup_duration_ms
    );
    let one: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.shape.workload == LibraryWorkload::OneSeries)
        .collect();
    if !one.is_empty() {
        let (header, rows) = by_threads(&one, &|c| rate(&c.records_per_s));
        let mut notes = vec![
            "every thread records into one series (label series=\"0\") through the handle it keeps; \
             records/s over all threads"
                .to_string(),
            values.clone(),
            method.clone(),
        ];
        notes.extend(
            rows_of(&one)
                .iter()
                .filter_map(|p| Contender::of_name(p))
                .map(|p| format!("{}: {}", p.name(), p.how())),
        );
        out.push(Section {
            title: "library: one series × threads, records/s".into(),
            notes,
            header,
            rows,
            plots: plots
                .iter()
                .filter(|p| p.contains("one-series"))
                .cloned()
                .collect(),
        });
        let (header, rows) = by_threads(&one, &|c| {
            format!(
                "{} / {}",
                nanos(&c.ns_per_record),
                c.cpu_ns_per_record.as_ref().map_or("n/a".into(), nanos)
            )
        });
        out.push(Section {
            title: "library: one series, ns per record: thread time / CPU time".into(),
            notes: vec![
                "thread time: each writer's recording time over its records, averaged; CPU time: \
                 the same on the thread's CPU clock (it leaves out time the thread waited for a \
                 core, which thread time counts when threads outnumber cores)"
                    .into(),
            ],
            header,
            rows,
            plots: Vec::new(),
        });
    }
    for &series in &s.series {
        let cs: Vec<&Cell> = cells
            .iter()
            .filter(|c| c.shape.workload == LibraryWorkload::ManySeries && c.shape.series == series)
            .collect();
        if cs.is_empty() {
            continue;
        }
        let threads = threads_of(&cs);
        let mut header = vec![String::new()];
        for choice in [Choice::Uniform, Choice::Zipf] {
            for &t in &threads {
                header.push(format!("{} {t}t", choice.name()));
            }
        }
        let rows = rows_of(&cs)
            .into_iter()
            .map(|peer| {
                let exact = cs.iter().filter(|c| c.peer == peer).all(|c| c.exact);
                let mut row = vec![label(peer, exact)];
                for choice in [Choice::Uniform, Choice::Zipf] {
                    for &t in &threads {
                        row.push(
                            cs.iter()
                                .find(|c| {
                                    c.peer == peer
                                        && c.shape.threads == t
                                        && c.shape.choice == choice
                                })
                                .map_or(String::new(), |c| rate(&c.records_per_s)),
                        );
                    }
                }
                row
            })
            .collect();
        let skipped: Vec<String> = m
            .skipped
            .iter()
            .filter(|k| {
                k.shape
                    .starts_with(&format!("{} series", thousands(series)))
            })
            .map(|k| format!("{}: {}", k.peer, k.why))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut notes = vec![format!(
            "{} series of one histogram, set up (and every thread's handle to each made) before \
             the run; each record's series picked uniformly or Zipf({ZIPF_S}) (series 0 the most \
             often); records/s over all threads; 't' = writer threads; 1 series is the one-series table",
            thousands(series)
        )];
        notes.extend(skipped.into_iter().map(|k| format!("not run: {k}")));
        out.push(Section {
            title: format!("library: {} series, records/s", thousands(series)),
            notes,
            header,
            rows,
            plots: plots
                .iter()
                .filter(|p| p.contains("many-series"))
                .cloned()
                .collect(),
        });
    }
    let many: Vec<&Cell> = cells
        .iter()
        .filter(|c| {
            c.shape.workload == LibraryWorkload::ManySeries && c.shape.choice == Choice::Uniform
        })
        .collect();
    if !many.is_empty() {
        let max_t = threads_of(&many).last().copied().unwrap_or(1);
        let at: Vec<&Cell> = many
            .iter()
            .copied()
            .filter(|c| c.shape.threads == max_t)
            .collect();
        let mut header = vec![String::new()];
        for &n in &s.series {
            header.push(format!("{}: setup / end (RSS)", thousands(n)));
        }
        header.push("own accounting".into());
        let rows = rows_of(&at)
            .into_iter()
            .map(|peer| {
                let mut row = vec![peer.to_string()];
                let mut own = String::new();
                for &n in &s.series {
                    let c = at.iter().find(|c| c.peer == peer && c.shape.series == n);
                    row.push(c.map_or(String::new(), |c| {
                        let b = |x: &Option<Spread>| {
                            x.as_ref().map_or("n/a".into(), |s| bytes(s.median))
                        };
                        format!(
                            "{} / {}",
                            b(&c.setup_bytes_per_series),
                            b(&c.end_bytes_per_series)
                        )
                    }));
                    if let Some(o) = c.and_then(|c| c.own_bytes_per_series.as_ref()) {
                        own = format!("{} at {}", bytes(o.median), thousands(n));
                    }
                }
                row.push(own);
                row
            })
            .collect();
        out.push(Section {
            title: format!("library: bytes per series ({max_t} writer threads, uniform)"),
            notes: vec![
                "resident memory (RSS, /proc/self/statm) grown from before the library was made \
                 (after malloc_trim) to: 'setup', every series made and every writer holding its \
                 handles; 'end', after the run and the read-back; divided by the series count \
                 (median over runs). 'end' includes samples a library buffers (AtomicBucket, the \
                 exporter between drains), so it grows with the run. 'own accounting': the \
                 registry's Stats (series_bytes + shard_bytes), the only library that keeps one. At \
                 100 series the RSS figures are within the allocator's noise (hence negative ones)."
                    .into(),
            ],
            header,
            rows,
            plots: Vec::new(),
        });
    }
    let lookup: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.shape.workload == LibraryWorkload::Lookup)
        .collect();
    if !lookup.is_empty() {
        let threads = threads_of(&lookup);
        let rows = rows_of(&lookup)
            .into_iter()
            .map(|peer| {
                let mut row = vec![peer.to_string()];
                for &t in &threads {
                    let get = |path| {
                        lookup
                            .iter()
                            .find(|c| c.peer == peer && c.shape.threads == t && c.path == path)
                    };
                    row.push(match (get(Path::Cached), get(Path::Labelled)) {
                        (Some(c), Some(l)) => {
                            let ratio = rec
                                .lookups
                                .iter()
                                .find(|x| x.peer == peer && x.threads == t)
                                .map_or(String::new(), |x| {
                                    format!(" (kept handle {})", x.cached_over_lookup.text())
                                });
                            format!(
                                "{} / {}{ratio}",
                                ns(c.ns_per_record.median),
                                ns(l.ns_per_record.median)
                            )
                        }
                        _ => String::new(),
                    });
                }
                row
            })
            .collect();
        let mut notes = vec![format!(
            "{} series, uniform: ns per record (thread time, median) with the handle each thread \
             keeps / with a lookup by label value on every record; the ratio is the kept \
             handle's records/s over the lookup's, median [min-max] over paired runs",
            s.lookup_series
        )];
        notes.extend(
            rows_of(&lookup)
                .iter()
                .filter_map(|p| Contender::of_name(p))
                .filter_map(|p| p.lookup().map(|l| format!("{}: {l}", p.name()))),
        );
        out.push(Section {
            title: "library: lookup on every call against the kept handle".into(),
            notes,
            header: threads_header("", &threads),
            rows,
            plots: plots
                .iter()
                .filter(|p| p.contains("lookup"))
                .cloned()
                .collect(),
        });
    }
    out.push(Section {
        title: "library: recommendation (derived from this run)".into(),
        notes: vec![
            "per shape, the option with the highest median records/s and its ratio to the \
             runner-up: the medians' ratio [min-max of the per-run ratios]; '(ranges overlap)' when the two \
             options' records/s ranges overlap, so the order may not hold. Sharded (the engine) \
             is left out."
                .into(),
        ],
        header: vec!["".into()],
        rows: rec.lines().into_iter().map(|l| vec![l]).collect(),
        plots: Vec::new(),
    });
    let accounting = if m.failures.is_empty() {
        format!(
            "every library run (its warm-up included) counted exactly the records made: {} runs, {} \
             records checked against the libraries' own counts{}",
            m.runs,
            m.records_checked,
            if m.unchecked_runs > 0 {
                format!("; {} runs could not be checked (marked)", m.unchecked_runs)
            } else {
                String::new()
            }
        )
    } else {
        format!("ACCOUNTING MISMATCH in {} library run(s)", m.failures.len())
    };
    out.push(Section {
        title: "library: accounting".into(),
        notes: vec![accounting],
        header: vec!["".into()],
        rows: m
            .failures
            .iter()
            .map(|f| {
                vec![format!(
                    "{}, {}, {}: {}",
                    f.case,
                    f.row,
                    f.run,
                    f.mismatches.join("; ")
                )]
            })
            .collect(),
        plots: Vec::new(),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libraries::recommend::recommend;

    fn cell(peer: Contender, threads: usize, rates: &[f64], exact: bool) -> Cell {
        Cell {
            exact,
            ..Cell::of_rates(peer.name(), Cell::one_series(threads), rates)
        }
    }

    #[test]
    fn the_sections_mark_unchecked_rows_and_overlapping_ratios() {
        let cells = vec![
            cell(Contender::Registry, 1, &[10e6, 12e6, 11e6], true),
            cell(Contender::PromLocal, 1, &[9e6, 11.5e6, 10e6], false),
        ];
        let rec = recommend(&cells);
        let s = Settings::new(vec![1], true, None, None, None);
        let m = Measured::default();
        let sections = sections(&s, &m, &cells, &rec, &["library-one-series.svg".into()]);
        let text: String = sections.iter().map(Section::text).collect();
        assert!(
            text.contains("== library: one series × threads, records/s"),
            "{text}"
        );
        assert!(
            text.contains("prometheus LocalHistogram [count unchecked]"),
            "{text}"
        );
        assert!(text.contains("11.0M [10.0M-12.0M]"), "{text}");
        assert!(
            text.contains("one series, 1 thread: lockfree-metrics registry fastest, 1.10x")
                && text.contains("(ranges overlap) over prometheus LocalHistogram"),
            "{text}"
        );
        assert_eq!(sections[0].plots, ["library-one-series.svg"]);
        assert!(text.contains("counted exactly"), "{text}");
    }
}

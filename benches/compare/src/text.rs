//! table.txt: the header, the noise and accounting banners, every
//! part's sections, the recommendation and the headline, as text.

use std::fmt::Write as _;

use crate::{
    failure::Failure,
    machine::LoadAverage,
    results::{Noise, Results},
    section::Section,
    units::threads,
};

/// The header lines table.txt and report.html open with: (label, text).
pub(crate) fn header(r: &Results) -> Vec<(&'static str, String)> {
    let s = &r.settings;
    let m = &r.machine;
    let load = |l: Option<LoadAverage>| l.map_or("unknown".to_string(), |l| l.to_string());
    let mut lines = Vec::new();
    if !r.complete {
        lines.push((
            "status",
            "INCOMPLETE: interrupted by Ctrl-C; what was measured before is below, the rest of \
             the plan is missing"
                .to_string(),
        ));
    }
    lines.extend([
        ("machine", m.one_line()),
        (
            "load",
            format!(
                "{} at start, {} at end (1/5/15-min load averages: other work on the machine \
                 shows here)",
                load(m.load_at_start),
                load(m.load_at_end)
            ),
        ),
        ("command", r.command.clone()),
        ("reproduce", r.cargo_command.clone()),
        ("commit", m.git_commit.clone()),
        (
            "settings",
            format!(
                "{} ms per run after a {} ms warm-up, {} runs per row interleaved row by row; \
                 threads {:?}; wall time {:.1} s",
                s.duration_ms, s.warmup_ms, s.reps, s.threads, r.wall_s
            ),
        ),
        (
            "reading",
            "median [min-max] over the runs; 'x': the rate over FineGrained's in the same table \
             and repetition, median [min-max] over the repetitions; 'overlap': the two rows' \
             [min-max] ranges overlap, so the runs do not separate them"
                .to_string(),
        ),
        ("noise", r.noise.line()),
    ]);
    lines
}

/// The loud banner of a noisy run.
pub(crate) fn noise_banner(noise: &Noise) -> String {
    let mut out = String::new();
    if !noise.noisy {
        return out;
    }
    let bar = "!".repeat(78);
    let _ = writeln!(out, "{bar}");
    let _ = writeln!(out, "!!! NOISY RUN, {}", noise.line());
    for t in &noise.noisy_tables {
        // Thread count 0: a table that is no single thread count (the
        // library's workloads, timed as one).
        let table = if t.threads == 0 {
            t.case.clone()
        } else {
            format!("{}, {}", t.case, threads(t.threads))
        };
        let _ = writeln!(
            out,
            "!!!   {table}: calibration {:.0}% over the fastest",
            t.varied_percent
        );
    }
    let _ = writeln!(
        out,
        "!!! figures from these tables may not reproduce; the headline marks them (noisy)"
    );
    let _ = writeln!(out, "{bar}");
    out
}

/// What the accounting check found, in one paragraph.
pub(crate) fn accounting_line(r: &Results) -> String {
    let runs = r.points.len();
    let records: u64 = r.points.iter().map(|p| p.accounting.made).sum();
    if r.accounting_failures.is_empty() {
        format!(
            "every run (warm-ups included) counted exactly the records made: {runs} measured \
             runs, {records} records checked against the snapshot taken after them"
        )
    } else {
        format!(
            "ACCOUNTING MISMATCH in {} run(s): a strategy lost or double-counted records",
            r.accounting_failures.len()
        )
    }
}

/// The whole text report: header, every section (the strategy tables and
/// any other part's), the recommendation, headline, accounting.
pub(crate) fn render(r: &Results, sections: &[Section], recommendation: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lockfree-metrics: comparison. Verdict, derived from this run (details below):"
    );
    for line in &r.verdict.lines {
        let _ = writeln!(out, "  - {line}");
    }
    let _ = writeln!(out, "\n== the run");
    for (label, text) in header(r) {
        let _ = writeln!(out, "{label:<9} {text}");
    }
    out.push_str(&noise_banner(&r.noise));
    for s in sections {
        out.push_str(&s.text());
    }
    if !recommendation.is_empty() {
        let _ = writeln!(out, "\n== recommendation");
        for line in recommendation {
            let _ = writeln!(out, "  - {line}");
        }
    }
    let _ = writeln!(out, "\n== headline");
    for line in &r.headline {
        let _ = writeln!(out, "  {line}");
    }
    if r.headline.is_empty() {
        let _ = writeln!(
            out,
            "  (none: the headline needs Sharded with FineGrained or SyncHistogram, or the overhead workloads)"
        );
    }
    let _ = writeln!(out, "\n== accounting");
    if r.accounting_failures.is_empty() {
        let _ = writeln!(out, "  {}", accounting_line(r));
    } else {
        out.push_str(&failure_banner(&r.accounting_failures, usize::MAX));
    }
    if !r.complete {
        let _ = writeln!(
            out,
            "\n!!! INCOMPLETE RUN: interrupted by Ctrl-C; the tables hold what was measured"
        );
    }
    out
}

/// The loud report of accounting mismatches, listing at most `limit`.
pub(crate) fn failure_banner(failures: &[Failure], limit: usize) -> String {
    let mut out = String::new();
    let bar = "!".repeat(78);
    let _ = writeln!(out, "{bar}");
    let _ = writeln!(
        out,
        "!!! ACCOUNTING MISMATCH in {} run(s): a strategy lost or double-counted records",
        failures.len()
    );
    for f in failures.iter().take(limit) {
        let _ = writeln!(out, "!!!   {f}");
    }
    if failures.len() > limit {
        let _ = writeln!(out, "!!!   ... and {} more", failures.len() - limit);
    }
    let _ = writeln!(out, "{bar}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Calibration;

    #[test]
    fn a_slow_calibration_marks_the_tables_around_it() {
        let c = |before_table, one, two| Calibration {
            before_table,
            one_thread_ns: one,
            two_threads_ns: two,
        };
        let tables = [
            ("a".to_string(), 1),
            ("b".to_string(), 2),
            ("c".to_string(), 4),
        ];
        let quiet = Noise::of(
            vec![
                c(0, 1e6, 1.1e6),
                c(1, 1.02e6, 1.1e6),
                c(2, 1e6, 1.12e6),
                c(3, 1.05e6, 1.1e6),
            ],
            &tables,
        );
        assert!(!quiet.noisy && quiet.noisy_tables.is_empty(), "{quiet:?}");
        assert!(quiet.line().starts_with("quiet: "));
        // A busy sibling core between tables b and c: two threads take 1.5x.
        let busy = Noise::of(
            vec![
                c(0, 1e6, 1.1e6),
                c(1, 1.02e6, 1.1e6),
                c(2, 1.01e6, 1.65e6),
                c(3, 1e6, 1.1e6),
            ],
            &tables,
        );
        assert!(busy.noisy);
        let marked: Vec<&str> = busy.noisy_tables.iter().map(|t| t.case.as_str()).collect();
        assert_eq!(marked, ["b", "c"]);
        assert!(busy.table_is_noisy("b", 2) && !busy.table_is_noisy("a", 1));
        assert!(
            busy.line()
                .starts_with("noisy: calibration varied 50% [1.10ms-1.65ms]"),
            "{}",
            busy.line()
        );
        let banner = noise_banner(&busy);
        assert!(
            banner.contains("!!!   b, 2 threads: calibration 50%"),
            "{banner}"
        );
        assert!(noise_banner(&quiet).is_empty());
        // The library's workloads are one table, with no thread count.
        let library = Noise::of(
            vec![c(0, 1e6, 1.1e6), c(1, 1e6, 1.6e6)],
            &[("library workloads".to_string(), 0)],
        );
        assert!(noise_banner(&library).contains("!!!   library workloads: calibration 45%"));
    }
}

//! `report.html`: the whole run in one self-contained page (no network,
//! no other file): the verdict (what to use when), the run's header
//! (machine, command, noise), the recommendation, every [`Section`] as a table with its SVG plots
//! inlined, the headline and the accounting. Every string is escaped with
//! `html-escape`; a tiny script records each plot's drawn size on its
//! element, so that a headless browser's DOM shows the plots were laid out.

use std::{fmt::Write as _, fs, io, path::Path};

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use crate::{
    results::Results,
    section::Section,
    text::{accounting_line, header},
};

/// The page's style: readable tables, plots that fit the window.
const STYLE: &str = "\
body{font-family:sans-serif;margin:2em auto;max-width:1500px;padding:0 1em;color:#222}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}\
dl.run{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dl.run dt{font-weight:bold}\
dl.run dd{margin:0;font-family:monospace;white-space:pre-wrap;word-break:break-all}\
.alarm{background:#fde2e2;border:2px solid #c0392b;padding:.5em 1em;font-weight:bold}\
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}\
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top;\
overflow-wrap:anywhere}table{max-width:100%}\
th{background:#f3f3f3}td.overlap{background:#fff5d6}td.noisy,th.noisy{background:#fde2e2}\
td.noise{color:#777}p.note{margin:.2em 0;color:#444;max-width:110ch}\
figure{margin:1em 0}figure svg{max-width:100%;height:auto;border:1px solid #eee}\
nav li{margin:.1em 0}";

/// Records each inline plot's drawn size (`data-drawn-width`,
/// `data-drawn-height`), the number drawn (`data-plots-drawn` on
/// `<body>`) and the page's laid-out width against the window's
/// (`data-scroll-width`, `data-window-width`: sideways scrolling where the
/// first is larger), so that a headless browser's DOM shows all three.
const SCRIPT: &str = "\
document.addEventListener('DOMContentLoaded',function(){var n=0;\
document.querySelectorAll('figure svg').forEach(function(s){var b=s.getBBox();\
s.setAttribute('data-drawn-width',Math.round(b.width));\
s.setAttribute('data-drawn-height',Math.round(b.height));if(b.width>0&&b.height>0)n++;});\
document.body.setAttribute('data-plots-drawn',n);\
document.body.setAttribute('data-scroll-width',document.documentElement.scrollWidth);\
document.body.setAttribute('data-window-width',window.innerWidth);});";

/// Writes `report.html` into `dir`, inlining the plots `sections` name
/// (files in `dir`).
pub(crate) fn write(
    dir: &Path,
    r: &Results,
    sections: &[Section],
    recommendation: &[String],
) -> io::Result<()> {
    fs::write(
        dir.join("report.html"),
        page(dir, r, sections, recommendation),
    )
}

/// The page.
pub(crate) fn page(
    dir: &Path,
    r: &Results,
    sections: &[Section],
    recommendation: &[String],
) -> String {
    let mut out = String::new();
    let title = "lockfree-metrics: comparison";
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style><script>{SCRIPT}</script></head><body>\n\
         <h1>{}</h1>\n",
        text(title),
        text(title)
    );
    verdict_list(&mut out, &r.verdict.lines);
    if !r.complete {
        let _ = writeln!(
            out,
            "<p class=\"alarm\" id=\"incomplete\">Incomplete run: interrupted by Ctrl-C. \
             The tables hold what was measured before.</p>"
        );
    }
    if r.noise.noisy {
        let _ = writeln!(
            out,
            "<p class=\"alarm\" id=\"noisy\">{}</p>",
            text(&r.noise.line())
        );
    }
    if !r.accounting_failures.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"alarm\" id=\"mismatch\">{}</p>",
            text(&accounting_line(r))
        );
    }
    let _ = writeln!(
        out,
        "<section id=\"run\"><h2>The run</h2><dl class=\"run\">"
    );
    for (label, line) in header(r) {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", text(label), text(&line));
    }
    let _ = writeln!(out, "</dl></section>");

    let _ = writeln!(out, "<nav><h2>Contents</h2><ol>");
    let _ = writeln!(out, "<li><a href=\"#verdict\">Verdict</a></li>");
    let _ = writeln!(
        out,
        "<li><a href=\"#recommendation\">Recommendation</a></li>"
    );
    for (i, s) in sections.iter().enumerate() {
        let _ = writeln!(
            out,
            "<li><a href=\"#{}\">{}</a></li>",
            attr(&anchor(i)),
            text(&s.title)
        );
    }
    let _ = writeln!(
        out,
        "<li><a href=\"#headline\">Headline</a></li>\
         <li><a href=\"#accounting\">Accounting</a></li></ol></nav>"
    );

    recommendation_list(&mut out, recommendation);

    // Only the plots a section names: a folder may hold older runs' files.
    for (i, s) in sections.iter().enumerate() {
        section(&mut out, dir, &anchor(i), s);
    }
    let _ = writeln!(out, "<section id=\"headline\"><h2>Headline</h2><ul>");
    for line in &r.headline {
        let _ = writeln!(out, "<li>{}</li>", text(line));
    }
    let _ = writeln!(out, "</ul></section>");
    let _ = writeln!(
        out,
        "<section id=\"accounting\"><h2>Accounting</h2><p>{}</p>",
        text(&accounting_line(r))
    );
    if !r.accounting_failures.is_empty() {
        let _ = writeln!(out, "<ul>");
        for f in &r.accounting_failures {
            let _ = writeln!(out, "<li>{}</li>", text(&f.to_string()));
        }
        let _ = writeln!(out, "</ul>");
    }
    let _ = writeln!(out, "</section>\n</body></html>");
    out
}

/// The verdict the page opens with: what to use when, derived from the run.
fn verdict_list(out: &mut String, lines: &[String]) {
    let _ = writeln!(
        out,
        "<section id=\"verdict\"><h2>Verdict (derived from this run)</h2><ul>"
    );
    for line in lines {
        let _ = writeln!(out, "<li>{}</li>", text(line));
    }
    let _ = writeln!(out, "</ul></section>");
}

/// The recommendation: its lines as a list, or a placeholder saying none
/// was measured.
fn recommendation_list(out: &mut String, recommendation: &[String]) {
    let _ = writeln!(
        out,
        "<section id=\"recommendation\"><h2>Recommendation</h2>"
    );
    if recommendation.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"placeholder\">None: this run measured none of the workloads the \
             recommendation is derived from.</p>"
        );
    } else {
        let _ = writeln!(out, "<ul>");
        for line in recommendation {
            let _ = writeln!(out, "<li>{}</li>", text(line));
        }
        let _ = writeln!(out, "</ul>");
    }
    let _ = writeln!(out, "</section>");
}

fn anchor(i: usize) -> String {
    format!("section-{}", i + 1)
}

/// The class that highlights a cell: an unresolved ratio, a noisy table, a
/// figure within noise.
fn class_of(cell: &str) -> &'static str {
    if cell.contains("(noisy)") {
        " class=\"noisy\""
    } else if cell.contains("overlap") {
        " class=\"overlap\""
    } else if cell.contains("within noise") {
        " class=\"noise\""
    } else {
        ""
    }
}

/// One section: title, notes, table, plots.
fn section(out: &mut String, dir: &Path, id: &str, s: &Section) {
    let _ = writeln!(
        out,
        "<section class=\"table\" id=\"{}\"><h2>{}</h2>",
        attr(id),
        text(&s.title)
    );
    for n in &s.notes {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", text(n));
    }
    let _ = write!(out, "<table><thead><tr>");
    for h in &s.header {
        let _ = write!(out, "<th{}>{}</th>", class_of(h), text(h));
    }
    let _ = writeln!(out, "</tr></thead><tbody>");
    for row in &s.rows {
        let _ = write!(out, "<tr>");
        for (i, c) in row.iter().enumerate() {
            let tag = if i == 0 { "th" } else { "td" };
            let _ = write!(out, "<{tag}{}>{}</{tag}>", class_of(c), text(c));
        }
        let _ = writeln!(out, "</tr>");
    }
    let _ = writeln!(out, "</tbody></table>");
    for name in &s.plots {
        figure(out, dir, name);
    }
    let _ = writeln!(out, "</section>");
}

/// A plot file of `dir`, inlined (its XML prologue dropped); a note in its
/// place if it cannot be read. Only plain file names are read.
fn figure(out: &mut String, dir: &Path, name: &str) {
    let plain = !name.is_empty() && !name.contains(['/', '\\']) && name != ".." && name != ".";
    let svg = plain
        .then(|| fs::read_to_string(dir.join(name)).ok())
        .flatten()
        .and_then(|s| s.find("<svg").map(|at| s[at..].to_string()));
    match svg {
        Some(svg) => {
            let _ = writeln!(
                out,
                "<figure data-file=\"{}\">{svg}<figcaption>{}</figcaption></figure>",
                attr(name),
                text(name)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "<p class=\"note\">(plot {} not drawn: --no-plots, or it could not be read)</p>",
                text(name)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_become_escaped_tables_with_their_plots() {
        let dir = std::env::temp_dir().join(format!("compare-html-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("p.svg"),
            "<?xml version=\"1.0\"?>\n<svg width=\"10\"><path d=\"M0 0\"/></svg>",
        )
        .unwrap();
        let s = Section {
            title: "a <b> & c".into(),
            notes: vec!["n\"1\"".into()],
            header: vec!["".into(), "2 threads (noisy)".into()],
            rows: vec![vec!["<script>".into(), "1.2x [1.0x-1.4x] overlap".into()]],
            plots: vec!["p.svg".into(), "missing.svg".into(), "../p.svg".into()],
        };
        let mut out = String::new();
        section(&mut out, &dir, "section-1", &s);
        fs::remove_dir_all(&dir).unwrap();
        assert!(out.contains("<h2>a &lt;b&gt; &amp; c</h2>"), "{out}");
        assert!(out.contains("<th>&lt;script&gt;</th>") && !out.contains("<script>"));
        assert!(out.contains("<th class=\"noisy\">2 threads (noisy)</th>"));
        assert!(out.contains("<td class=\"overlap\">1.2x [1.0x-1.4x] overlap</td>"));
        // The plot inlined without its XML prologue; the others noted.
        assert_eq!(out.matches("<svg").count(), 1);
        assert!(!out.contains("<?xml"));
        assert!(out.contains("(plot missing.svg not drawn"));
        assert!(out.contains("(plot ../p.svg not drawn"));
    }

    #[test]
    fn the_recommendation_is_a_list_or_a_placeholder() {
        let mut out = String::new();
        recommendation_list(&mut out, &[]);
        assert!(out.contains("class=\"placeholder\"") && !out.contains("<li>"));
        let mut out = String::new();
        recommendation_list(&mut out, &["use A < 4 threads".into(), "else B".into()]);
        assert!(out.contains("<li>use A &lt; 4 threads</li>") && out.contains("<li>else B</li>"));
    }
}

//! One part of the report, in a form every output shares: `table.txt`
//! prints it as aligned columns, `report.html` as a table with its plots.

use serde::Serialize;

/// A titled table with the notes a reader needs, and the plots drawn from it.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Section {
    /// The table's title, e.g. "one series: records/s".
    pub(crate) title: String,
    /// Sentences printed under the title: what was measured, and how.
    pub(crate) notes: Vec<String>,
    /// Column headings; the first column names the row.
    pub(crate) header: Vec<String>,
    /// The cells, already formatted (a number with its [min-max] range).
    pub(crate) rows: Vec<Vec<String>>,
    /// File names (in the output folder) of the SVG plots of this section.
    pub(crate) plots: Vec<String>,
}

impl Section {
    /// The section as `table.txt` prints it.
    pub(crate) fn text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "\n== {}", self.title);
        for n in &self.notes {
            let _ = writeln!(out, "  {n}");
        }
        let width = |i: usize| {
            std::iter::once(&self.header)
                .chain(&self.rows)
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.header.len()).map(width).collect();
        for r in std::iter::once(&self.header).chain(&self.rows) {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, &w)| format!("{c:<w$}"))
                .collect();
            let _ = writeln!(out, "  {}", line.join("  ").trim_end());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_under_their_headings() {
        let s = Section {
            title: "t".into(),
            notes: vec!["n".into()],
            header: vec!["".into(), "1 thread".into()],
            rows: vec![vec!["Sharded".into(), "12M".into()]],
            plots: vec![],
        };
        assert_eq!(
            s.text(),
            "\n== t\n  n\n           1 thread\n  Sharded  12M\n"
        );
    }
}

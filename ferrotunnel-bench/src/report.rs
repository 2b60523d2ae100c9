//! The result of a run: one table (figure × direct, ferrotunnel and any peer tunnel, each
//! tunnel with its ratio to direct), the machine it was measured on, and per-run details.
//!
//! The table is Markdown, so what the terminal shows can be pasted into `docs/benchmarks.md`
//! as it is.

use std::fmt::{self, Write as _};

/// How a figure compares with its direct value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Lower is better (milliseconds): the ratio and the time added.
    Time,
    /// Higher is better: the tunnel's value as a percentage of direct.
    Throughput,
    /// No direct counterpart (memory of the tunnel's own processes).
    Alone,
    /// An error count: must be zero, no ratio.
    Errors,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// What is measured, with its unit.
    pub figure: String,
    pub compare: Compare,
    /// The median direct value, if this figure has one.
    pub direct: Option<f64>,
    /// The median value through each tunnel, in the order of [`Report::tunnels`]; `None`
    /// where a tunnel was not measured on this figure.
    pub through: Vec<Option<f64>>,
}

/// Everything a run printed.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Machine and build, printed above the table.
    pub machine: Vec<String>,
    /// How the run was shaped (sizes, runs), printed above the table.
    pub plan: Vec<String>,
    /// The tunnels compared: `ferrotunnel` first, then `ferrotunnel+layers` (the same with
    /// auth, a rate limit, metrics and the watched dashboard on), with `--feature-columns`
    /// one column per layer alone (`+policy`, `+dashboard`, `+metrics`, `+traces`), then any
    /// peer found (`rathole`, `bore`, `ferrotunnel-1.5`).
    pub tunnels: Vec<String>,
    /// How many of [`tunnels`](Self::tunnels), from the first, are ferrotunnel's own columns;
    /// the rest are peers, whose failures are shown but are theirs to answer for.
    pub ours: usize,
    pub rows: Vec<Row>,
    /// Every run's values and anything worth knowing, printed below the table.
    pub details: Vec<String>,
}

impl Report {
    /// The row for `figure`, if measured.
    pub fn row(&self, figure: &str) -> Option<&Row> {
        self.rows.iter().find(|row| row.figure == figure)
    }

    /// What makes this report unusable: a figure not produced (direct or through
    /// ferrotunnel), a value that is not a positive finite number, or any error counted.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for row in &self.rows {
            let ours = row.through.first().copied().flatten();
            let mut cells = vec![("ferrotunnel", ours)];
            if row.compare != Compare::Alone {
                cells.push(("direct", row.direct));
            }
            for (column, value) in cells {
                match (row.compare, value) {
                    (_, None) => problems.push(format!("{}: no {column} value", row.figure)),
                    (Compare::Errors, Some(v)) if v != 0.0 => {
                        problems.push(format!("{}: {v} {column} errors", row.figure));
                    }
                    (Compare::Errors, Some(_)) => {}
                    (_, Some(v)) if !(v.is_finite() && v > 0.0) => {
                        problems.push(format!(
                            "{}: {column} value {v} is not positive",
                            row.figure
                        ));
                    }
                    _ => {}
                }
            }
            let ours = self.tunnels.iter().zip(&row.through).take(self.ours);
            for (tunnel, value) in ours.skip(1) {
                if row.compare == Compare::Errors && value.is_some_and(|v| v != 0.0) {
                    problems.push(format!("{}: {tunnel} had errors", row.figure));
                }
            }
        }
        problems
    }

    /// The table alone, as Markdown.
    pub fn table(&self) -> String {
        let mut header = vec!["figure".to_owned(), "direct".to_owned()];
        for tunnel in &self.tunnels {
            header.push(tunnel.clone());
            header.push(format!("{tunnel} vs direct"));
        }
        let mut lines = vec![header];
        for row in &self.rows {
            let mut line = vec![row.figure.clone(), value(row.compare, row.direct)];
            for cell in &row.through {
                line.push(value(row.compare, *cell));
                line.push(ratio(row.compare, row.direct, *cell));
            }
            lines.push(line);
        }
        let widths: Vec<usize> = (0..lines[0].len())
            .map(|i| {
                lines
                    .iter()
                    .map(|l| l.get(i).map_or(0, |c| c.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for (n, line) in lines.iter().enumerate() {
            out.push('|');
            for (i, cell) in line.iter().enumerate() {
                let width = widths[i];
                if i == 0 {
                    let _ = write!(out, " {cell:<width$} |");
                } else {
                    let _ = write!(out, " {cell:>width$} |");
                }
            }
            out.push('\n');
            if n == 0 {
                out.push('|');
                for (i, width) in widths.iter().enumerate() {
                    let dashes = "-".repeat(*width);
                    if i == 0 {
                        let _ = write!(out, " {dashes} |");
                    } else {
                        let _ = write!(out, " {}: |", &dashes[1..]);
                    }
                }
                out.push('\n');
            }
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.machine.iter().chain(&self.plan) {
            writeln!(f, "{line}")?;
        }
        writeln!(f)?;
        write!(f, "{}", self.table())?;
        if !self.details.is_empty() {
            writeln!(f)?;
            for line in &self.details {
                writeln!(f, "{line}")?;
            }
        }
        Ok(())
    }
}

fn value(compare: Compare, value: Option<f64>) -> String {
    let Some(v) = value else {
        return "—".to_owned();
    };
    match compare {
        Compare::Time if v < 10.0 => format!("{v:.3}"),
        Compare::Time => format!("{v:.1}"),
        Compare::Errors => format!("{v:.0}"),
        Compare::Throughput | Compare::Alone if v >= 1000.0 => format!("{v:.0}"),
        Compare::Throughput | Compare::Alone => format!("{v:.1}"),
    }
}

fn ratio(compare: Compare, direct: Option<f64>, through: Option<f64>) -> String {
    let (Some(direct), Some(through)) = (direct, through) else {
        return "—".to_owned();
    };
    match compare {
        Compare::Time if direct > 0.0 => {
            let added = through - direct;
            format!("×{:.2} ({added:+.3} ms)", through / direct)
        }
        Compare::Throughput if direct > 0.0 => format!("{:.1} %", through / direct * 100.0),
        _ => "—".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            tunnels: vec!["ferrotunnel".into()],
            ours: 1,
            rows: vec![
                Row {
                    figure: "latency p50 (ms)".into(),
                    compare: Compare::Time,
                    direct: Some(0.1),
                    through: vec![Some(0.25)],
                },
                Row {
                    figure: "req/s".into(),
                    compare: Compare::Throughput,
                    direct: Some(40000.0),
                    through: vec![Some(10000.0)],
                },
                Row {
                    figure: "server RSS (MiB)".into(),
                    compare: Compare::Alone,
                    direct: None,
                    through: vec![Some(6.5)],
                },
                Row {
                    figure: "errors".into(),
                    compare: Compare::Errors,
                    direct: Some(0.0),
                    through: vec![Some(0.0)],
                },
            ],
            ..Report::default()
        }
    }

    #[test]
    fn the_table_has_ratios() {
        let table = report().table();
        assert!(table.contains("×2.50 (+0.150 ms)"), "{table}");
        assert!(table.contains("25.0 %"), "{table}");
        assert!(table.contains("| server RSS (MiB) |      — |"), "{table}");
        assert_eq!(table.lines().count(), 6, "{table}");
    }

    #[test]
    fn missing_or_failed_figures_are_problems() {
        assert!(report().problems().is_empty());
        let mut bad = report();
        bad.rows[0].through[0] = None;
        bad.rows[1].direct = Some(0.0);
        bad.rows[3].through[0] = Some(2.0);
        let problems = bad.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
    }
}

//! A query's result as the SQL client shows it.
//!
//! Changes (`+I`, `-U`, `+U`, `-D`) are applied to a materialized table: an
//! insert or update-after adds a row, an update-before or delete removes
//! one equal row. On a terminal the table is redrawn in place as changes
//! arrive; otherwise every change is printed as a line of Flink's tableau
//! changelog (`| op | col | ... |`), so a script's output can be read and
//! compared.

use std::io::Write;

/// Rows of the result as it stands.
#[derive(Debug, Default)]
pub struct ResultView {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    changes: u64,
    /// Lines drawn by the last redraw (to move the cursor back over them).
    drawn: usize,
}

/// How NULL is shown.
const NULL: &str = "<NULL>";

impl ResultView {
    /// An empty view of a query with these columns.
    pub fn new(columns: Vec<String>) -> Self {
        ResultView {
            columns,
            ..Self::default()
        }
    }

    /// Applies one change.
    pub fn apply(&mut self, kind: &str, fields: &[Option<String>]) {
        self.changes += 1;
        let row: Vec<String> = fields
            .iter()
            .map(|f| f.clone().unwrap_or_else(|| NULL.to_string()))
            .collect();
        match kind {
            "-U" | "-D" | "UPDATE_BEFORE" | "DELETE" => {
                if let Some(i) = self.rows.iter().position(|r| *r == row) {
                    self.rows.remove(i);
                }
            }
            _ => self.rows.push(row),
        }
    }

    /// The current rows.
    #[cfg(test)]
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// Redraws the table in place on a terminal, showing the last rows that
    /// fit in `height` lines.
    pub fn redraw(&mut self, out: &mut impl Write, status: &str, height: usize) {
        let fit = height.saturating_sub(6).max(1);
        let hidden = self.rows.len().saturating_sub(fit);
        let header: Vec<&str> = self.columns.iter().map(String::as_str).collect();
        let mut text = riffle_sql::tableau::render(&header, &self.rows[hidden..]);
        // The renderer's "N rows in set" line becomes our status line.
        if let Some(cut) = text.rfind('\n') {
            text.truncate(cut + 1);
        } else {
            text.clear();
        }
        if hidden > 0 {
            text.push_str(&format!("({hidden} earlier rows not shown)\n"));
        }
        text.push_str(&format!(
            "{} rows, {} changes | {status}\n",
            self.rows.len(),
            self.changes
        ));
        let mut buf = String::new();
        if self.drawn > 0 {
            buf.push_str(&format!("\x1b[{}A\x1b[J", self.drawn));
        }
        buf.push_str(&text);
        self.drawn = text.lines().count();
        let _ = out.write_all(buf.as_bytes());
        let _ = out.flush();
    }

    /// The header of the changelog form.
    pub fn changelog_header(&self) -> String {
        let mut cells = vec!["op".to_string()];
        cells.extend(self.columns.iter().cloned());
        format!("| {} |", cells.join(" | "))
    }

    /// One change in the changelog form.
    pub fn changelog_line(kind: &str, fields: &[Option<String>]) -> String {
        let mut cells = vec![short_kind(kind).to_string()];
        cells.extend(
            fields
                .iter()
                .map(|f| f.clone().unwrap_or_else(|| NULL.to_string())),
        );
        format!("| {} |", cells.join(" | "))
    }

    /// Changes applied so far.
    pub fn changes(&self) -> u64 {
        self.changes
    }
}

fn short_kind(kind: &str) -> &str {
    match kind {
        "INSERT" => "+I",
        "UPDATE_BEFORE" => "-U",
        "UPDATE_AFTER" => "+U",
        "DELETE" => "-D",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|s| Some(s.to_string())).collect()
    }

    #[test]
    fn updates_replace_rows() {
        let mut v = ResultView::new(vec!["k".into(), "n".into()]);
        v.apply("INSERT", &f(&["a", "1"]));
        v.apply("INSERT", &f(&["b", "1"]));
        v.apply("UPDATE_BEFORE", &f(&["a", "1"]));
        v.apply("UPDATE_AFTER", &f(&["a", "2"]));
        v.apply("DELETE", &f(&["b", "1"]));
        assert_eq!(v.rows(), &[vec!["a".to_string(), "2".to_string()]]);
        assert_eq!(v.changes(), 5);
        assert_eq!(
            ResultView::changelog_line("UPDATE_AFTER", &[Some("a".into()), None]),
            "| +U | a | <NULL> |"
        );
    }

    #[test]
    fn a_redraw_moves_back_over_the_previous_table() {
        let mut v = ResultView::new(vec!["k".into()]);
        v.apply("INSERT", &f(&["a"]));
        let mut first = Vec::new();
        v.redraw(&mut first, "RUNNING", 40);
        let first = String::from_utf8(first).unwrap();
        assert!(!first.contains("\x1b["), "{first}");
        assert!(first.ends_with("1 rows, 1 changes | RUNNING\n"), "{first}");
        let mut second = Vec::new();
        v.redraw(&mut second, "FINISHED", 40);
        let second = String::from_utf8(second).unwrap();
        assert!(second.starts_with(&format!("\x1b[{}A\x1b[J", first.lines().count())));
    }
}

//! Result tables drawn with box characters, as Flink's SQL client prints
//! them in tableau mode (`SHOW TABLES`, `DESCRIBE`, query results).

/// Renders a header and rows; ends with `N row(s) in set`.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, v) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(v.chars().count());
            }
        }
    }
    let rule: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(w + 2)))
        .collect::<String>()
        + "+\n";
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (c, w) in cells.zip(&widths) {
            s.push_str(&format!("| {c:>w$} "));
        }
        s + "|\n"
    };
    let mut out = rule.clone();
    out.push_str(&line(&mut header.iter().copied()));
    out.push_str(&rule);
    for r in rows {
        out.push_str(&line(&mut r.iter().map(String::as_str)));
    }
    if !rows.is_empty() {
        out.push_str(&rule);
    }
    match rows.len() {
        0 => out.push_str("Empty set"),
        1 => out.push_str("1 row in set"),
        n => out.push_str(&format!("{n} rows in set")),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_value() {
        let t = render(
            &["table name"],
            &[vec!["bid".into()], vec!["person".into()]],
        );
        assert_eq!(
            t,
            "+------------+\n| table name |\n+------------+\n|        bid |\n|     person |\n+------------+\n2 rows in set"
        );
        assert!(render(&["x"], &[]).ends_with("Empty set"));
    }
}

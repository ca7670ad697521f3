//! Splits typed or scripted text into statements at `;`, ignoring `;`
//! inside quotes (`'...'`, `"..."`, `` `...` ``) and comments (`--`, `/* */`),
//! so a statement may span lines and a line may hold several statements.

/// Accumulates input and yields complete statements.
#[derive(Debug, Default)]
pub struct Splitter {
    buf: String,
}

impl Splitter {
    /// Adds a line (or a whole script); returns the statements it completed,
    /// without their `;`, trimmed. Text after the last `;` stays buffered.
    pub fn push(&mut self, text: &str) -> Vec<String> {
        self.buf.push_str(text);
        self.buf.push('\n');
        let mut out = Vec::new();
        let mut start = 0;
        let chars: Vec<(usize, char)> = self.buf.char_indices().collect();
        let mut i = 0;
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let (pos, c) = chars[i];
            let next = chars.get(i + 1).map(|x| x.1);
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '\'' | '"' | '`' => quote = Some(c),
                    '-' if next == Some('-') => {
                        while i < chars.len() && chars[i].1 != '\n' {
                            i += 1;
                        }
                        continue;
                    }
                    '/' if next == Some('*') => {
                        i += 2;
                        while i < chars.len()
                            && !(chars[i].1 == '*' && chars.get(i + 1).map(|x| x.1) == Some('/'))
                        {
                            i += 1;
                        }
                        i += 2;
                        continue;
                    }
                    ';' => {
                        let stmt = self.buf[start..pos].trim();
                        if !stmt.is_empty() {
                            out.push(stmt.to_string());
                        }
                        start = pos + 1;
                    }
                    _ => {}
                },
            }
            i += 1;
        }
        self.buf = self.buf[start..].to_string();
        if self.buf.trim().is_empty() || only_comments(&self.buf) {
            self.buf.clear();
        }
        out
    }

    /// Whether part of a statement is waiting for its `;`.
    pub fn is_pending(&self) -> bool {
        !self.buf.trim().is_empty()
    }

    /// The unfinished text (for an error at the end of a script).
    pub fn rest(&self) -> &str {
        self.buf.trim()
    }
}

fn only_comments(s: &str) -> bool {
    s.lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with("--"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_span_lines_and_skip_quoted_semicolons() {
        let mut s = Splitter::default();
        assert!(s.push("CREATE TABLE t (a STRING) WITH (").is_empty());
        assert!(s.is_pending());
        assert_eq!(
            s.push("  'x' = 'a;b');  SHOW TABLES; SELECT"),
            vec![
                "CREATE TABLE t (a STRING) WITH (\n  'x' = 'a;b')".to_string(),
                "SHOW TABLES".to_string()
            ]
        );
        assert_eq!(
            s.push("1 -- ; not yet\n;"),
            vec!["SELECT\n1 -- ; not yet".to_string()]
        );
        assert!(!s.is_pending());
        assert_eq!(
            s.push("/* a; b */ SET 'k' = 'v';"),
            vec!["/* a; b */ SET 'k' = 'v'"]
        );
        assert!(s.push("-- just a comment").is_empty());
        assert!(!s.is_pending());
    }
}

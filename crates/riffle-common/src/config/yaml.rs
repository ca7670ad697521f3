//! Reading Flink's `config.yaml` (the standard-YAML format of Flink 1.19+).
//!
//! Flink flattens the document into dotted keys: nested mappings
//! (`taskmanager:` / `  numberOfTaskSlots: 2`) and flat keys
//! (`taskmanager.numberOfTaskSlots: 2`) are the same option and may be mixed.
//! Values stay text, exactly as written (the parser's events keep the source
//! text of `2`, `true` or `0x10`, where a YAML-to-value loader would reinterpret
//! them); quotes are removed; a list becomes Flink's `;`-joined string.
//!
//! Rules beyond Flink's, so mistakes surface instead of being silently merged:
//! a key set twice (also `a.b` next to `a: {b: ..}`) is an error, and so are
//! lists of mappings, nested lists, non-scalar keys and multiple documents.
//! A key with no value (`key:` or `key: null`) is left unset.
//! Every error names its 1-based line.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::{Configuration, Origin};
use crate::{Error, Result};

impl Configuration {
    /// Parses the text of a Flink `config.yaml`; an empty document (or one of
    /// only comments) is an empty configuration. `origin` names the source of
    /// the value at a 1-based line.
    pub fn from_yaml(text: &str, origin: &dyn Fn(usize) -> Origin) -> Result<Configuration> {
        let mut flattener = Flattener::default();
        let mut parser = Parser::new_from_str(text);
        parser
            .load(&mut flattener, true)
            .map_err(|e| Error::ConfigSyntax {
                line: e.marker().line(),
                reason: e.info().to_string(),
            })?;
        if let Some(e) = flattener.error {
            return Err(e);
        }
        let mut config = Configuration::new();
        for (key, (value, line)) in flattener.entries {
            config.set_from(key, value, origin(line));
        }
        Ok(config)
    }
}

/// Joins list items the way Flink turns a `List<String>` into one string:
/// `;`-separated, an item holding `;` or a quote wrapped in single quotes with
/// inner single quotes doubled.
fn join_list(items: &[String]) -> String {
    items
        .iter()
        .map(|item| {
            if item.contains([';', '\'', '"']) {
                format!("'{}'", item.replace('\'', "''"))
            } else {
                item.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// YAML 1.2 core-schema null: an empty plain scalar, `~` or `null`.
fn is_null(value: &str, style: TScalarStyle) -> bool {
    style == TScalarStyle::Plain && matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

/// An open mapping or sequence while the event stream is walked.
enum Frame {
    /// A mapping whose keys get `prefix.` in front; `key` is the key whose
    /// value comes next, if any.
    Map { prefix: String, key: Option<String> },
    /// A list, the value of `key`.
    Seq {
        key: String,
        items: Vec<String>,
        anchor: usize,
        line: usize,
    },
}

/// Turns parser events into flat `key -> (value, line)` entries.
#[derive(Default)]
struct Flattener {
    stack: Vec<Frame>,
    entries: HashMap<String, (String, usize)>,
    /// Values of anchors on scalars and lists (`None` = null), for aliases.
    anchors: HashMap<usize, Option<String>>,
    documents: usize,
    error: Option<Error>,
}

impl MarkedEventReceiver for Flattener {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        if let Err(reason) = self.step(ev, mark.line()) {
            self.error = Some(Error::ConfigSyntax {
                line: mark.line(),
                reason,
            });
        }
    }
}

impl Flattener {
    /// Handles one event; `Err` is the reason for a syntax error at `line`.
    fn step(&mut self, ev: Event, line: usize) -> Result<(), String> {
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err("only one YAML document is allowed".into());
                }
            }
            Event::MappingStart(anchor, _) => {
                if anchor != 0 {
                    // Aliases to whole mappings are not supported.
                    self.anchors.remove(&anchor);
                }
                let prefix = match self.stack.last_mut() {
                    None => String::new(),
                    Some(Frame::Map { prefix, key }) => match key.take() {
                        Some(k) => join_key(prefix, &k),
                        None => return Err("a key must be a plain value, not a mapping".into()),
                    },
                    Some(Frame::Seq { .. }) => {
                        return Err("a list item cannot be a mapping".into());
                    }
                };
                self.stack.push(Frame::Map { prefix, key: None });
            }
            Event::MappingEnd => {
                self.stack.pop();
            }
            Event::SequenceStart(anchor, _) => {
                let key = match self.stack.last_mut() {
                    None => {
                        return Err("the top level must be a mapping of keys to values".into());
                    }
                    Some(Frame::Map { prefix, key }) => match key.take() {
                        Some(k) => join_key(prefix, &k),
                        None => return Err("a key must be a plain value, not a list".into()),
                    },
                    Some(Frame::Seq { .. }) => {
                        return Err("a list item cannot be a list".into());
                    }
                };
                self.stack.push(Frame::Seq {
                    key,
                    items: Vec::new(),
                    anchor,
                    line,
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    key,
                    items,
                    anchor,
                    line,
                }) = self.stack.pop()
                {
                    let value = join_list(&items);
                    if anchor != 0 {
                        self.anchors.insert(anchor, Some(value.clone()));
                    }
                    self.insert(key, value, line)?;
                }
            }
            Event::Scalar(value, style, anchor, _tag) => {
                let value = (!is_null(&value, style)).then_some(value);
                if anchor != 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.scalar(value, line)?;
            }
            Event::Alias(anchor) => match self.anchors.get(&anchor) {
                Some(value) => self.scalar(value.clone(), line)?,
                None => {
                    return Err("an alias may only refer to a value or a list".into());
                }
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }

    /// A scalar (or resolved alias) in whatever position it appears.
    fn scalar(&mut self, value: Option<String>, line: usize) -> Result<(), String> {
        match self.stack.last_mut() {
            None => match value {
                None => Ok(()),
                Some(_) => Err("the top level must be a mapping of keys to values".into()),
            },
            Some(Frame::Seq { items, .. }) => {
                items.push(value.unwrap_or_default());
                Ok(())
            }
            Some(Frame::Map { prefix, key }) => match key.take() {
                None => match value {
                    Some(k) if !k.trim().is_empty() => {
                        *key = Some(k.trim().to_string());
                        Ok(())
                    }
                    _ => Err("empty key".into()),
                },
                Some(k) => {
                    let full = join_key(prefix, &k);
                    match value {
                        Some(v) => self.insert(full, v, line),
                        None => Ok(()),
                    }
                }
            },
        }
    }

    fn insert(&mut self, key: String, value: String, line: usize) -> Result<(), String> {
        if let Some((_, first)) = self.entries.get(&key) {
            return Err(format!("duplicate key '{key}' (first set at line {first})"));
        }
        self.entries.insert(key, (value, line));
        Ok(())
    }
}

fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Configuration> {
        Configuration::from_yaml(text, &|line| Origin::File {
            path: "config.yaml".into(),
            line,
        })
    }

    fn entries(c: &Configuration) -> Vec<(String, String)> {
        c.entries()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn syntax_line(text: &str) -> Option<usize> {
        match parse(text) {
            Err(Error::ConfigSyntax { line, .. }) => Some(line),
            _ => None,
        }
    }

    #[test]
    fn flat_form() -> Result<()> {
        let c =
            parse("# Flink config\ntaskmanager.numberOfTaskSlots: 2\nrest.port: 8081 # comment\n")?;
        assert_eq!(c.get("taskmanager.numberOfTaskSlots"), Some("2"));
        assert_eq!(c.get("rest.port"), Some("8081"));
        assert_eq!(c.entries().count(), 2);
        Ok(())
    }

    #[test]
    fn nested_and_mixed_forms() -> Result<()> {
        let text = "\
jobmanager:
  rpc:
    address: jm
    port: 6123
  memory.process.size: 1600m
taskmanager.numberOfTaskSlots: 4
taskmanager:
  bind-host: 0.0.0.0
";
        let c = parse(text)?;
        assert_eq!(
            entries(&c),
            [
                ("jobmanager.memory.process.size", "1600m"),
                ("jobmanager.rpc.address", "jm"),
                ("jobmanager.rpc.port", "6123"),
                ("taskmanager.bind-host", "0.0.0.0"),
                ("taskmanager.numberOfTaskSlots", "4"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        Ok(())
    }

    #[test]
    fn scalars_stay_as_written() -> Result<()> {
        let c = parse(
            "a: true\nb: 1.50\nc: 0x10\nd: 'quoted # not a comment'\ne: \"x: y\"\nf:\ng: ~\nh: ''\n",
        )?;
        assert_eq!(c.get("a"), Some("true"));
        assert_eq!(c.get("b"), Some("1.50"));
        assert_eq!(c.get("c"), Some("0x10"));
        assert_eq!(c.get("d"), Some("quoted # not a comment"));
        assert_eq!(c.get("e"), Some("x: y"));
        assert_eq!(c.get("f"), None);
        assert_eq!(c.get("g"), None);
        assert_eq!(c.get("h"), Some(""));
        Ok(())
    }

    #[test]
    fn lists_become_semicolon_joined() -> Result<()> {
        let text = "\
metrics.reporters: [prom, jmx]
env:
  java:
    opts:
      all:
        - -Xmx1g
        - \"-Da=b;c\"
empty: []
";
        let c = parse(text)?;
        assert_eq!(c.get("metrics.reporters"), Some("prom;jmx"));
        assert_eq!(c.get("env.java.opts.all"), Some("-Xmx1g;'-Da=b;c'"));
        assert_eq!(c.get("empty"), Some(""));
        Ok(())
    }

    #[test]
    fn aliases_of_values() -> Result<()> {
        let c = parse("a: &port 6123\nb: *port\n")?;
        assert_eq!(c.get("b"), Some("6123"));
        Ok(())
    }

    #[test]
    fn empty_and_comment_only_files() -> Result<()> {
        assert_eq!(parse("")?, Configuration::new());
        assert_eq!(parse("# nothing\n\n  # here\n")?, Configuration::new());
        assert_eq!(parse("---\n")?, Configuration::new());
        Ok(())
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            syntax_line("a: 1\nb: [1, 2\nc: 3\n").map(|l| l >= 2),
            Some(true)
        );
        assert_eq!(syntax_line("a: 1\n  b: 2\n"), Some(2));
        assert_eq!(syntax_line("a: 1\nb:\n  - x: 1\n"), Some(3));
        assert_eq!(syntax_line("a:\n  - [1]\n"), Some(2));
        assert_eq!(syntax_line("a.b: 1\na:\n  b: 2\n"), Some(3));
        assert_eq!(syntax_line("a: 1\na: 2\n"), Some(2));
        assert_eq!(syntax_line("- 1\n- 2\n"), Some(1));
        assert_eq!(syntax_line("just text\n"), Some(1));
        assert_eq!(syntax_line("a: 1\n---\nb: 2\n"), Some(2));
        assert_eq!(syntax_line("? [a, b]\n: 1\n"), Some(1));
        let e = parse("a: 1\na: 2\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("line 2") && e.contains("'a'"), "{e}");
    }
}

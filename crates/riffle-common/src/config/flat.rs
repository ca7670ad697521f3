//! Flink's line format `key: value`: the legacy `flink-conf.yaml` and the
//! `RIFFLE_PROPERTIES` environment variable (Riffle's `FLINK_PROPERTIES`).
//!
//! This is not YAML, and is read the way Flink's legacy loader reads it: a
//! `#` starts a comment wherever it appears (so values cannot contain `#`),
//! the key is the text before the first `:`, the value everything after it,
//! both trimmed, with no unquoting. Blank lines are skipped, and so is a line
//! with an empty value, as Flink does. Unlike Flink, which only logs it, a
//! non-blank line without `:` is an error naming the line: in an environment
//! variable it is most likely a mangled entry.

use super::{Configuration, Origin};
use crate::{Error, Result};

impl Configuration {
    /// Parses `key: value` lines (legacy `flink-conf.yaml`, `RIFFLE_PROPERTIES`).
    /// `origin` names the source of the value at a 1-based line.
    pub fn from_flat_properties(
        text: &str,
        origin: &dyn Fn(usize) -> Origin,
    ) -> Result<Configuration> {
        let mut config = Configuration::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let syntax = |reason: &str| Error::ConfigSyntax {
                line: index + 1,
                reason: reason.to_string(),
            };
            let (key, value) = line
                .split_once(':')
                .ok_or_else(|| syntax("expected 'key: value'"))?;
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() {
                return Err(syntax("empty key before ':'"));
            }
            if !value.is_empty() {
                config.set_from(key, value, origin(index + 1));
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Configuration> {
        Configuration::from_flat_properties(text, &|line| Origin::Env {
            var: "RIFFLE_PROPERTIES".into(),
            line,
        })
    }

    #[test]
    fn flink_conf_lines() -> Result<()> {
        let text = "\
# Flink's old format
jobmanager.rpc.address: jm-host
taskmanager.numberOfTaskSlots:   4   # trailing comment

rest.bind-address: http://0.0.0.0
env.java.opts.all: -Dx='a b'
empty.value:
";
        let c = parse(text)?;
        assert_eq!(c.get("jobmanager.rpc.address"), Some("jm-host"));
        assert_eq!(c.get("taskmanager.numberOfTaskSlots"), Some("4"));
        assert_eq!(c.get("rest.bind-address"), Some("http://0.0.0.0"));
        assert_eq!(c.get("env.java.opts.all"), Some("-Dx='a b'"));
        assert_eq!(c.get("empty.value"), None);
        assert_eq!(c.entries().count(), 4);
        Ok(())
    }

    #[test]
    fn later_lines_win() -> Result<()> {
        let c = parse("a: 1\na: 2\n")?;
        assert_eq!(c.get("a"), Some("2"));
        Ok(())
    }

    #[test]
    fn a_line_without_colon_names_the_line() {
        let r = parse("a: 1\n\n# c\nparallelism.default=2\n");
        match r {
            Err(Error::ConfigSyntax { line, .. }) => assert_eq!(line, 4),
            other => panic!("expected a syntax error, got {other:?}"),
        }
        assert!(parse(": x").is_err());
    }
}

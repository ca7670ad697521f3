//! Typed reads of configuration values: the one place where text becomes a
//! bool, a number, a port or a port range.
//!
//! Both the typed getters on [`Configuration`] and [`Configuration::validate`]
//! call these parsers, so a value that validates is a value that reads, and
//! every failure is an [`Error::InvalidConfig`] naming the key.

use std::fmt;
use std::ops::RangeInclusive;

use super::Configuration;
use crate::{Error, Result};

/// Largest count Flink accepts for its `Integer` options (`Integer.MAX_VALUE`).
pub const MAX_INT: u32 = i32::MAX as u32;

/// A port or an inclusive range of ports, as Flink writes them: `"6123"` or
/// `"50100-50200"`. Port `0` (alone) means "any free port".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port of the range.
    pub start: u16,
    /// Last port of the range (equal to `start` for a single port).
    pub end: u16,
}

impl PortRange {
    /// A range holding one port.
    pub const fn single(port: u16) -> Self {
        PortRange {
            start: port,
            end: port,
        }
    }

    /// Parses `"N"` or `"N-M"` (N ≤ M); `key` is named in the error.
    pub fn parse(key: &str, value: &str) -> Result<Self> {
        let bad = |reason: &str| invalid(key, value, reason);
        let v = value.trim();
        let range = match v.split_once('-') {
            None => PortRange::single(parse_port(key, v)?),
            Some((a, b)) => {
                let start = parse_port(key, a)?;
                let end = parse_port(key, b)?;
                if start > end {
                    return Err(bad("the first port of a range must not exceed the last"));
                }
                if start == 0 && end > 0 {
                    return Err(bad("port 0 (any free port) cannot be part of a range"));
                }
                PortRange { start, end }
            }
        };
        Ok(range)
    }

    /// True for `0`: let the operating system pick a free port.
    pub fn is_any(&self) -> bool {
        self.start == 0 && self.end == 0
    }

    /// The ports to try, in order.
    pub fn ports(&self) -> RangeInclusive<u16> {
        self.start..=self.end
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// The error for a bad value of `key`.
pub(crate) fn invalid(key: &str, value: &str, reason: &str) -> Error {
    Error::InvalidConfig {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// `true` or `false`, any case (Flink accepts nothing else).
pub(crate) fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "expected true or false")),
    }
}

/// A TCP port, `0..=65535`.
pub(crate) fn parse_port(key: &str, value: &str) -> Result<u16> {
    value
        .trim()
        .parse::<u16>()
        .map_err(|_| invalid(key, value, "expected a port number between 0 and 65535"))
}

/// An integer in `min..=MAX_INT`.
pub(crate) fn parse_u32(key: &str, value: &str, min: u32) -> Result<u32> {
    match value.trim().parse::<u32>() {
        Ok(n) if (min..=MAX_INT).contains(&n) => Ok(n),
        _ => Err(invalid(
            key,
            value,
            &format!("expected an integer between {min} and {MAX_INT}"),
        )),
    }
}

/// A positive integer (the rule of [`Configuration::get_usize`]).
pub(crate) fn parse_positive_usize(key: &str, value: &str) -> Result<usize> {
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(key, value, "expected a positive integer")),
    }
}

/// Any 64-bit integer.
pub(crate) fn parse_i64(key: &str, value: &str) -> Result<i64> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| invalid(key, value, "expected an integer"))
}

/// A finite decimal number in `min..=max`.
pub(crate) fn parse_f64(key: &str, value: &str, min: f64, max: f64) -> Result<f64> {
    match value.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= min && x <= max => Ok(x),
        _ => Err(invalid(
            key,
            value,
            &if max == f64::MAX {
                format!("expected a number of at least {min}")
            } else {
                format!("expected a number between {min} and {max}")
            },
        )),
    }
}

/// A duration in ms that must be above zero.
pub(crate) fn parse_positive_duration_ms(key: &str, value: &str) -> Result<i64> {
    match crate::time::parse_duration_ms(key, value)? {
        0 => Err(invalid(key, value, "expected a duration above zero")),
        ms => Ok(ms),
    }
}

/// A host name or address: not empty, no whitespace.
pub(crate) fn parse_host(key: &str, value: &str) -> Result<String> {
    let v = value.trim();
    if v.is_empty() || v.contains(char::is_whitespace) {
        return Err(invalid(
            key,
            value,
            "expected a host name or IP address without spaces",
        ));
    }
    Ok(v.to_string())
}

/// One of `allowed` (lowercase), compared case-insensitively; returns the
/// matching entry of `allowed`.
pub(crate) fn parse_one_of(
    key: &str,
    value: &str,
    allowed: &'static [&'static str],
) -> Result<&'static str> {
    let v = value.trim().to_ascii_lowercase();
    allowed.iter().copied().find(|a| *a == v).ok_or_else(|| {
        invalid(
            key,
            value,
            &format!("expected one of {}", allowed.join(", ")),
        )
    })
}

impl Configuration {
    /// `true`/`false` (any case), or `default` when unset.
    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool> {
        self.get(key).map_or(Ok(default), |v| parse_bool(key, v))
    }

    /// The trimmed text of a key, or `default` when unset.
    pub fn get_string(&self, key: &str, default: &str) -> String {
        self.get(key).map_or(default, str::trim).to_string()
    }

    /// A non-negative integer up to Flink's `Integer.MAX_VALUE`, or `default` when unset.
    pub fn get_u32(&self, key: &str, default: u32) -> Result<u32> {
        self.get(key).map_or(Ok(default), |v| parse_u32(key, v, 0))
    }

    /// A TCP port (`0..=65535`), or `default` when unset.
    pub fn get_port(&self, key: &str, default: u16) -> Result<u16> {
        self.get(key).map_or(Ok(default), |v| parse_port(key, v))
    }

    /// A port or port range (`"N"` or `"N-M"`), or `default` when unset.
    pub fn get_port_range(&self, key: &str, default: PortRange) -> Result<PortRange> {
        self.get(key)
            .map_or(Ok(default), |v| PortRange::parse(key, v))
    }

    /// A host name or address (not empty, no spaces), or `default` when unset.
    pub fn get_host(&self, key: &str, default: &str) -> Result<String> {
        self.get(key)
            .map_or(Ok(default.to_string()), |v| parse_host(key, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() -> Result<()> {
        assert_eq!(PortRange::parse("k", "6123")?, PortRange::single(6123));
        let r = PortRange::parse("k", " 50100 - 50200 ")?;
        assert_eq!((r.start, r.end), (50100, 50200));
        assert_eq!(r.to_string(), "50100-50200");
        assert_eq!(r.ports().count(), 101);
        assert!(PortRange::parse("k", "0")?.is_any());
        for bad in ["", "x", "70000", "9260-9250", "0-10", "1-2-3", "-5"] {
            let e = PortRange::parse("metrics.reporter.prom.port", bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("metrics.reporter.prom.port"), "{bad:?}: {e}");
        }
        Ok(())
    }

    #[test]
    fn typed_getters() -> Result<()> {
        let mut c = Configuration::new();
        c.set("b", "TRUE");
        c.set("n", "7");
        c.set("p", "65535");
        c.set("h", " example.org ");
        assert!(c.get_bool("b", false)?);
        assert!(!c.get_bool("unset", false)?);
        assert_eq!(c.get_u32("n", 1)?, 7);
        assert_eq!(c.get_port("p", 1)?, 65535);
        assert_eq!(c.get_host("h", "x")?, "example.org");
        assert_eq!(c.get_string("unset", "d"), "d");
        c.set("b", "yes");
        c.set("n", "-1");
        c.set("p", "65536");
        c.set("h", "two words");
        assert!(c.get_bool("b", false).is_err());
        assert!(c.get_u32("n", 1).is_err());
        assert!(c.get_port("p", 1).is_err());
        assert!(c.get_host("h", "x").is_err());
        assert!(parse_u32("k", "2147483648", 0).is_err());
        assert!(parse_f64("k", "NaN", 0.0, 1.0).is_err());
        assert_eq!(parse_one_of("k", " JSON ", &["text", "json"])?, "json");
        Ok(())
    }
}

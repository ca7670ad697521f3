//! The one parser per value type: text in, typed value out.
//!
//! Every configuration value (and every connector option of the same type)
//! goes through these functions, so `10 s` means the same thing in
//! `config.yaml`, in `-D`, in `SET` and in a `WITH (...)` clause. The forms
//! are Flink's (`TimeUtils.parseDuration`, `MemorySize.parse`,
//! `ConfigurationUtils`); a failure is a [`BadValue`] saying which form was
//! expected, and the caller adds the key and the value's origin.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a text is not a value of the wanted type: the form that was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadValue(pub String);

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadValue {}

fn bad(expected: impl Into<String>) -> BadValue {
    BadValue(expected.into())
}

/// Result of a parser.
pub type Parsed<T> = std::result::Result<T, BadValue>;

/// Splits `"10 s"` into the number and the unit text.
fn number_and_unit(text: &str) -> (&str, &str) {
    let t = text.trim();
    let end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(end);
    (num, unit.trim())
}

/// Flink's time units, each with its accepted labels (a long label also
/// takes a plural `s`), as `TimeUtils` lists them.
const TIME_UNITS: &[(&[&str], u128)] = &[
    (&["d", "day"], 86_400_000_000_000),
    (&["h", "hour"], 3_600_000_000_000),
    (&["min", "m", "minute"], 60_000_000_000),
    (&["s", "sec", "second"], 1_000_000_000),
    (&["ms", "milli", "millisecond"], 1_000_000),
    (&["µs", "us", "micro", "microsecond"], 1_000),
    (&["ns", "nano", "nanosecond"], 1),
];

const DURATION_FORM: &str = "expected a duration: a whole number with an optional unit \
     (ns, µs, ms, s, min, h, d, or their long forms such as 'seconds'); a bare number is \
     milliseconds";

/// A Flink duration: `200` (milliseconds), `200 ms`, `10s`, `1 min`, `2 hours`, `1d`.
pub fn duration(text: &str) -> Parsed<Duration> {
    let (num, unit) = number_and_unit(text);
    if num.is_empty() {
        return Err(bad(DURATION_FORM));
    }
    let n: u128 = num.parse().map_err(|_| bad(DURATION_FORM))?;
    let unit = unit.to_lowercase();
    let nanos_per = if unit.is_empty() {
        1_000_000
    } else {
        TIME_UNITS
            .iter()
            .find(|(labels, _)| {
                labels
                    .iter()
                    .any(|l| *l == unit || (l.len() >= 3 && unit.strip_suffix('s') == Some(l)))
            })
            .map(|(_, n)| *n)
            .ok_or_else(|| bad(format!("unknown time unit '{unit}'; {DURATION_FORM}")))?
    };
    let nanos = n
        .checked_mul(nanos_per)
        .filter(|ns| *ns <= u64::MAX as u128 * 1_000)
        .ok_or_else(|| bad("the duration is too long (at most about 584 years)"))?;
    let secs = u64::try_from(nanos / 1_000_000_000)
        .map_err(|_| bad("the duration is too long (at most about 584 years)"))?;
    // Durations travel as milliseconds in i64 through the rest of the system.
    if secs > (i64::MAX / 1_000) as u64 {
        return Err(bad(
            "the duration is too long (at most about 292 million years)",
        ));
    }
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// Flink's memory units (all powers of 1024), each with its labels.
const MEMORY_UNITS: &[(&[&str], u64)] = &[
    (&["b", "bytes"], 1),
    (&["k", "kb", "kibibytes"], 1 << 10),
    (&["m", "mb", "mebibytes"], 1 << 20),
    (&["g", "gb", "gibibytes"], 1 << 30),
    (&["t", "tb", "tebibytes"], 1 << 40),
];

const SIZE_FORM: &str = "expected a memory size: a whole number with an optional unit \
     (b, k/kb, m/mb, g/gb, t/tb; powers of 1024); a bare number is bytes";

/// A Flink memory size in bytes: `1024`, `64 kb`, `512mb`, `1g`, `2 gibibytes`.
pub fn memory_size(text: &str) -> Parsed<u64> {
    let (num, unit) = number_and_unit(text);
    if num.is_empty() {
        return Err(bad(SIZE_FORM));
    }
    let n: u64 = num.parse().map_err(|_| bad(SIZE_FORM))?;
    let unit = unit.to_lowercase();
    let factor = if unit.is_empty() {
        1
    } else {
        MEMORY_UNITS
            .iter()
            .find(|(labels, _)| labels.contains(&unit.as_str()))
            .map(|(_, f)| *f)
            .ok_or_else(|| bad(format!("unknown memory unit '{unit}'; {SIZE_FORM}")))?
    };
    n.checked_mul(factor)
        .ok_or_else(|| bad("the memory size is too large (at most 16 EiB)"))
}

/// Formats bytes the way Flink prints a `MemorySize`: the largest unit that
/// divides it (`512 mb`, `1 gb`, `100 bytes`).
pub fn format_memory_size(bytes: u64) -> String {
    for (labels, factor) in MEMORY_UNITS.iter().rev() {
        if *factor > 1 && bytes != 0 && bytes.is_multiple_of(*factor) {
            return format!("{} {}", bytes / factor, labels[1]);
        }
    }
    format!("{bytes} bytes")
}

/// Formats a duration with the largest unit that divides it (`10 s`, `1 min`, `250 ms`).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0 ms".into();
    }
    for (labels, per) in TIME_UNITS {
        if nanos.is_multiple_of(*per) {
            return format!("{} {}", nanos / per, labels[0]);
        }
    }
    format!("{nanos} ns")
}

/// `true` or `false`, any case (Flink accepts nothing else).
pub fn boolean(text: &str) -> Parsed<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad("expected true or false")),
    }
}

/// One of `allowed`, any case (Flink's enum options); returns the entry of
/// `allowed` as declared.
pub fn enumeration(text: &str, allowed: &'static [&'static str]) -> Parsed<&'static str> {
    let v = text.trim();
    allowed
        .iter()
        .copied()
        .find(|a| a.eq_ignore_ascii_case(v))
        .ok_or_else(|| bad(format!("expected one of {}", allowed.join(", "))))
}

/// An integer within `range`.
pub fn integer(text: &str, range: RangeInclusive<i64>) -> Parsed<i64> {
    match text.trim().parse::<i64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ if *range.end() == i64::MAX => Err(bad(format!(
            "expected an integer of at least {}",
            range.start()
        ))),
        _ => Err(bad(format!(
            "expected an integer between {} and {}",
            range.start(),
            range.end()
        ))),
    }
}

/// A finite decimal number within `range`.
pub fn float(text: &str, range: RangeInclusive<f64>) -> Parsed<f64> {
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && range.contains(&x) => Ok(x),
        _ if *range.end() == f64::MAX => Err(bad(format!(
            "expected a number of at least {}",
            range.start()
        ))),
        _ => Err(bad(format!(
            "expected a number between {} and {}",
            range.start(),
            range.end()
        ))),
    }
}

/// A host name or address: not empty, no whitespace.
pub fn host(text: &str) -> Parsed<String> {
    let v = text.trim();
    if v.is_empty() || v.contains(char::is_whitespace) {
        return Err(bad("expected a host name or IP address without spaces"));
    }
    Ok(v.to_string())
}

/// A TCP port, `0..=65535`.
pub fn port(text: &str) -> Parsed<u16> {
    text.trim()
        .parse::<u16>()
        .map_err(|_| bad("expected a port number between 0 and 65535"))
}

/// A Flink list: items separated by `;`; an item holding `;` is wrapped in
/// single quotes, with inner quotes doubled (the form `config.yaml` lists are
/// flattened to). Blank items are dropped.
pub fn list(text: &str) -> Parsed<Vec<String>> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' if quoted && chars.peek() == Some(&'\'') => {
                chars.next();
                current.push('\'');
            }
            '\'' if quoted => quoted = false,
            '\'' if current.trim().is_empty() => {
                current.clear();
                quoted = true;
            }
            ';' if !quoted => items.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if quoted {
        return Err(bad("a quoted list item is not closed (a ' is missing)"));
    }
    items.push(current);
    Ok(items
        .into_iter()
        .map(|i| i.trim().to_string())
        .filter(|i| !i.is_empty())
        .collect())
}

/// A Flink map: `key1:value1,key2:value2`.
pub fn map(text: &str) -> Parsed<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (k, v) = entry
            .split_once(':')
            .ok_or_else(|| bad("expected a map such as 'key1:value1,key2:value2'"))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(bad("a map entry has an empty key before ':'"));
        }
        out.insert(k.to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// A port or an inclusive range of ports, as Flink writes them: `"6123"` or
/// `"50100-50200"`. Port `0` (alone) means "any free port".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

    /// Parses `"N"` or `"N-M"` (N ≤ M).
    pub fn parse(text: &str) -> Parsed<Self> {
        let v = text.trim();
        match v.split_once('-') {
            None => Ok(PortRange::single(port(v)?)),
            Some((a, b)) => {
                let (start, end) = (port(a)?, port(b)?);
                if start > end {
                    return Err(bad("the first port of a range must not exceed the last"));
                }
                if start == 0 && end > 0 {
                    return Err(bad("port 0 (any free port) cannot be part of a range"));
                }
                Ok(PortRange { start, end })
            }
        }
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

/// `UTC`, `Z`, `GMT`, `UT`, `+08:00`, `+0800`, `UTC+8`, `GMT-05:30` as an
/// offset in milliseconds. Zone names (`Asia/Shanghai`) need a time zone
/// database Riffle does not ship yet.
pub fn time_zone_offset_ms(text: &str) -> Parsed<i64> {
    zone_offset(text).ok_or_else(|| {
        bad(
            "expected UTC or a fixed offset such as GMT+08:00, +0800 or -05:00 (zone names \
             need a time zone database Riffle does not ship yet)",
        )
    })
}

fn zone_offset(v: &str) -> Option<i64> {
    let v = v.trim();
    let rest = ["UTC", "GMT", "UT"]
        .iter()
        .find_map(|p| v.strip_prefix(p))
        .unwrap_or(v);
    if rest.is_empty() || rest == "Z" {
        return Some(0);
    }
    let (sign, body) = match rest.as_bytes().first()? {
        b'+' => (1, rest.get(1..)?),
        b'-' => (-1, rest.get(1..)?),
        _ => return None,
    };
    let (h, m) = match body.split_once(':') {
        Some((h, m)) => (h, m),
        None if body.len() == 4 => (body.get(..2)?, body.get(2..)?),
        None => (body, "0"),
    };
    let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
    if !(0..=18).contains(&h) || !(0..=59).contains(&m) {
        return None;
    }
    Some(sign * (h * 3_600_000 + m * 60_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> Parsed<u128> {
        duration(text).map(|d| d.as_millis())
    }

    #[test]
    fn every_flink_time_unit() -> Parsed<()> {
        assert_eq!(ms("200")?, 200);
        for (text, want) in [
            ("1d", 86_400_000),
            ("1 day", 86_400_000),
            ("2 days", 172_800_000),
            ("1h", 3_600_000),
            ("1 hour", 3_600_000),
            ("3 hours", 10_800_000),
            ("1min", 60_000),
            ("1 m", 60_000),
            ("1 minute", 60_000),
            ("2 minutes", 120_000),
            ("10s", 10_000),
            ("10 sec", 10_000),
            ("1 second", 1_000),
            ("5 seconds", 5_000),
            ("250ms", 250),
            ("1 milli", 1),
            ("7 millis", 7),
            ("1 millisecond", 1),
            ("9 milliseconds", 9),
            ("10 S", 10_000),
            ("1 MIN", 60_000),
        ] {
            assert_eq!(ms(text)?, want, "{text}");
        }
        assert_eq!(duration("3000 µs")?, Duration::from_micros(3000));
        assert_eq!(duration("5 micros")?, Duration::from_micros(5));
        assert_eq!(duration("1 microsecond")?, Duration::from_micros(1));
        assert_eq!(duration("42ns")?, Duration::from_nanos(42));
        assert_eq!(duration("2 nanoseconds")?, Duration::from_nanos(2));
        assert_eq!(duration(" 0 ")?, Duration::ZERO);
        Ok(())
    }

    #[test]
    fn bad_durations_say_the_form() {
        for text in [
            "",
            "s",
            "1.5 s",
            "-1 s",
            "10 parsecs",
            "1 secs x",
            "9999999999999999999 d",
        ] {
            let e = duration(text).map(|_| ()).unwrap_err().to_string();
            assert!(
                e.contains("duration") || e.contains("unit"),
                "{text:?}: {e}"
            );
        }
        assert!(duration("106751991167301 d").is_err(), "overflows i64 ms");
        assert_eq!(format_duration(Duration::from_secs(60)), "1 min");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500 ms");
    }

    #[test]
    fn every_flink_memory_unit() -> Parsed<()> {
        for (text, want) in [
            ("100", 100),
            ("100 b", 100),
            ("100 bytes", 100),
            ("64k", 64 << 10),
            ("64 kb", 64 << 10),
            ("2 kibibytes", 2 << 10),
            ("512m", 512 << 20),
            ("512mb", 512 << 20),
            ("1 mebibytes", 1 << 20),
            ("1g", 1 << 30),
            ("1 GB", 1 << 30),
            ("3 gibibytes", 3 << 30),
            ("1t", 1 << 40),
            ("2 tb", 2 << 40),
            ("1 tebibytes", 1 << 40),
        ] {
            assert_eq!(memory_size(text)?, want, "{text}");
        }
        for text in ["", "mb", "1.5g", "12 parsecs", "99999999999 tb"] {
            assert!(memory_size(text).is_err(), "{text}");
        }
        assert_eq!(format_memory_size(512 << 20), "512 mb");
        assert_eq!(format_memory_size(1728 << 20), "1728 mb");
        assert_eq!(format_memory_size(100), "100 bytes");
        Ok(())
    }

    #[test]
    fn booleans_enums_numbers() -> Parsed<()> {
        assert!(boolean(" TRUE ")?);
        assert!(!boolean("false")?);
        assert_eq!(boolean("yes").unwrap_err().0, "expected true or false");
        assert_eq!(
            enumeration("Exponential-Delay", &["none", "exponential-delay"])?,
            "exponential-delay"
        );
        assert!(
            enumeration("sometimes", &["none", "fixed-delay"])
                .unwrap_err()
                .0
                .contains("none, fixed-delay")
        );
        assert_eq!(integer(" 7 ", 1..=10)?, 7);
        assert!(
            integer("0", 1..=i64::MAX)
                .unwrap_err()
                .0
                .contains("at least 1")
        );
        assert!(
            integer("11", 1..=10)
                .unwrap_err()
                .0
                .contains("between 1 and 10")
        );
        assert!(float("NaN", 0.0..=1.0).is_err());
        assert_eq!(float("0.5", 0.0..=1.0)?, 0.5);
        assert!(host("two words").is_err());
        assert_eq!(port("65535")?, 65535);
        assert!(port("65536").is_err());
        Ok(())
    }

    #[test]
    fn lists_and_maps() -> Parsed<()> {
        assert_eq!(list("a;b; c ;")?, vec!["a", "b", "c"]);
        assert_eq!(list("'x;y';'it''s'")?, vec!["x;y", "it's"]);
        assert!(list("'open").is_err());
        assert!(list("")?.is_empty());
        let m = map("a:1, b : two")?;
        assert_eq!(m.get("a").map(String::as_str), Some("1"));
        assert_eq!(m.get("b").map(String::as_str), Some("two"));
        assert!(map("novalue").is_err());
        Ok(())
    }

    #[test]
    fn port_ranges_and_zones() -> Parsed<()> {
        assert_eq!(PortRange::parse("6123")?, PortRange::single(6123));
        let r = PortRange::parse(" 50100 - 50200 ")?;
        assert_eq!(r.to_string(), "50100-50200");
        assert_eq!(r.ports().count(), 101);
        assert!(PortRange::parse("0")?.is_any());
        for text in ["", "x", "70000", "9260-9250", "0-10", "1-2-3", "-5"] {
            assert!(PortRange::parse(text).is_err(), "{text:?}");
        }
        assert_eq!(time_zone_offset_ms("UTC")?, 0);
        assert_eq!(time_zone_offset_ms("+08:00")?, 8 * 3_600_000);
        assert_eq!(time_zone_offset_ms("GMT-5")?, -5 * 3_600_000);
        assert_eq!(time_zone_offset_ms("UT+0530")?, 5 * 3_600_000 + 30 * 60_000);
        assert_eq!(
            time_zone_offset_ms("-05:30")?,
            -(5 * 3_600_000 + 30 * 60_000)
        );
        assert!(time_zone_offset_ms("Europe/Paris").is_err());
        assert!(time_zone_offset_ms("+19").is_err());
        Ok(())
    }
}

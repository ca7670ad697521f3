//! Partitions of a `PARTITIONED BY` table: directory names and partition times.
//!
//! A row goes to the directory `k1=v1/k2=v2/` below the table's path, one
//! `key=value` level per partition column in `PARTITIONED BY` order, as in
//! Flink and Hive. Values are rendered as Flink's `field.toString()` renders
//! its internal data (strings as they are, `TIMESTAMP` as `2015-07-15T00:01`),
//! NULL and `''` become `partition.default-name`, and keys and values are
//! escaped like Flink's `PartitionPathUtils.escapePathName`: ASCII control
//! characters and `" # % ' * / : = ? \ { [ ] ^` become `%XX` (upper-case
//! hex), so `hm=00:01` is written as `hm=00%3A01`. Reading a path back
//! unescapes it ([`values_of`]), which is how Flink extracts the values too.
//!
//! The partition time (for the `partition-time` commit trigger) comes from
//! the values through `partition.time-extractor.timestamp-pattern`: every
//! `$key` is replaced by the key's value (`'$dt $hm:00'`), and without a
//! pattern the first value is the time. The text is parsed with
//! `partition.time-extractor.timestamp-formatter` (a Java `DateTimeFormatter`
//! pattern) or, without one, leniently as `yyyy-M-d[ H:m:s[.SSS]]`, as Flink's
//! default extractor does; a date alone means midnight.

use std::fmt::Write;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use chrono::{NaiveDate, NaiveDateTime};
use riffle_common::config::parse::{BadValue, Parsed};

use super::commit::PartitionCommit;
use crate::{Error, Result};

/// Flink's default `partition.default-name`.
pub(super) const DEFAULT_PARTITION_NAME: &str = "__DEFAULT_PARTITION__";

/// Whether Flink's `escapePathName` escapes `c`.
fn needs_escaping(c: char) -> bool {
    matches!(
        c,
        '\u{0}'
            ..='\u{1f}'
                | '\u{7f}'
                | '"'
                | '#'
                | '%'
                | '\''
                | '*'
                | '/'
                | ':'
                | '='
                | '?'
                | '\\'
                | '{'
                | '['
                | ']'
                | '^'
    )
}

/// Appends `name` escaped for a path segment (Flink's `escapePathName`).
pub(super) fn escape_path_name(name: &str, out: &mut String) {
    for c in name.chars() {
        if needs_escaping(c) {
            let _ = write!(out, "%{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
}

/// Undoes [`escape_path_name`] (Flink's `unescapePathName`: a `%` not
/// followed by two hex digits stays as it is).
pub(super) fn unescape_path_name(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(hex) = path.get(i + 1..i + 3)
            && let Ok(code) = u8::from_str_radix(hex, 16)
            && hex.bytes().all(|h| h.is_ascii_hexdigit())
        {
            out.push(code);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The partition values of a partition directory (`dt=x/hm=y`), unescaped,
/// in path order; segments that are not `key=value` are skipped.
pub(super) fn values_of(dir: &str) -> Vec<String> {
    dir.split('/')
        .filter_map(|seg| {
            let (k, v) = seg.split_once('=')?;
            (!k.is_empty() && !v.is_empty()).then(|| unescape_path_name(v))
        })
        .collect()
}

/// Whether the sink can name a partition after a column of this type.
pub(super) fn is_partition_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Decimal128(_, _)
            | DataType::Date32
            | DataType::Timestamp(_, None)
    )
}

/// Appends the value at `row` as Flink's partition computer renders it;
/// `false` (nothing appended) for NULL. Values print as the `print`
/// connector shows them, except timestamps, which Flink renders with
/// `LocalDateTime.toString()`.
pub(super) fn write_partition_value(array: &dyn Array, row: usize, out: &mut String) -> bool {
    if array.is_null(row) {
        return false;
    }
    let DataType::Timestamp(unit, _) = array.data_type() else {
        crate::format::write_value(array, row, crate::format::Style::Print, out);
        return true;
    };
    let (secs, nanos) = match unit {
        TimeUnit::Second => (array.as_primitive::<TimestampSecondType>().value(row), 0),
        TimeUnit::Millisecond => {
            let v = array.as_primitive::<TimestampMillisecondType>().value(row);
            (v.div_euclid(1000), v.rem_euclid(1000) * 1_000_000)
        }
        TimeUnit::Microsecond => {
            let v = array.as_primitive::<TimestampMicrosecondType>().value(row);
            (v.div_euclid(1_000_000), v.rem_euclid(1_000_000) * 1000)
        }
        TimeUnit::Nanosecond => {
            let v = array.as_primitive::<TimestampNanosecondType>().value(row);
            (v.div_euclid(1_000_000_000), v.rem_euclid(1_000_000_000))
        }
    };
    match chrono::DateTime::from_timestamp(secs, nanos as u32) {
        Some(dt) => write_local_date_time(&dt.naive_utc(), out),
        None => {
            let _ = write!(out, "{secs}");
        }
    }
    true
}

/// Java's `LocalDateTime.toString()`: `2015-07-15T00:01`, seconds only when
/// not zero, then milli-, micro- or nanoseconds as needed.
fn write_local_date_time(dt: &NaiveDateTime, out: &mut String) {
    use chrono::Timelike;
    let _ = write!(out, "{}", dt.format("%Y-%m-%dT%H:%M"));
    let (s, n) = (dt.second(), dt.nanosecond());
    if s == 0 && n == 0 {
        return;
    }
    let _ = write!(out, ":{s:02}");
    if n == 0 {
    } else if n % 1_000_000 == 0 {
        let _ = write!(out, ".{:03}", n / 1_000_000);
    } else if n % 1000 == 0 {
        let _ = write!(out, ".{:06}", n / 1000);
    } else {
        let _ = write!(out, ".{n:09}");
    }
}

/// How a partitioned table's rows are split into directories.
#[derive(Debug, Clone)]
pub(super) struct Partitioning {
    /// The partition columns, in `PARTITIONED BY` order.
    pub keys: Vec<String>,
    /// Their indices in the table's columns.
    pub key_indices: Vec<usize>,
    /// The escaped `key=` of each directory level.
    prefixes: Vec<String>,
    /// The columns written into the files: all but the partition columns.
    pub data_indices: Vec<usize>,
    /// `partition.default-name`, escaped.
    default_name: String,
    /// Partition commit, when `sink.partition-commit.policy.kind` is set.
    pub commit: Option<PartitionCommit>,
}

impl Partitioning {
    /// Partitioning by `keys` (columns at `key_indices` of `num_columns`).
    pub(super) fn new(
        keys: Vec<String>,
        key_indices: Vec<usize>,
        num_columns: usize,
        default_name: &str,
        commit: Option<PartitionCommit>,
    ) -> Self {
        let prefixes = keys
            .iter()
            .map(|k| {
                let mut p = String::new();
                escape_path_name(k, &mut p);
                p.push('=');
                p
            })
            .collect();
        let mut escaped_default = String::new();
        escape_path_name(default_name, &mut escaped_default);
        Partitioning {
            data_indices: (0..num_columns)
                .filter(|i| !key_indices.contains(i))
                .collect(),
            keys,
            key_indices,
            prefixes,
            default_name: escaped_default,
            commit,
        }
    }

    /// Writes the directory of `row` (`dt=2015-07-15/hm=00%3A01`, no
    /// trailing `/`) into `out`; `scratch` is reused for each value.
    pub(super) fn dir_of(
        &self,
        columns: &[ArrayRef],
        row: usize,
        scratch: &mut String,
        out: &mut String,
    ) -> Result<()> {
        out.clear();
        for (level, (&i, prefix)) in self.key_indices.iter().zip(&self.prefixes).enumerate() {
            let col = columns.get(i).ok_or_else(|| {
                Error::Io(format!(
                    "the sink got {} columns, but partition column '{}' is column {}",
                    columns.len(),
                    self.keys.get(level).map(String::as_str).unwrap_or("?"),
                    i + 1
                ))
            })?;
            if level > 0 {
                out.push('/');
            }
            out.push_str(prefix);
            scratch.clear();
            if write_partition_value(col.as_ref(), row, scratch) && !scratch.is_empty() {
                escape_path_name(scratch, out);
            } else {
                out.push_str(&self.default_name);
            }
        }
        Ok(())
    }
}

/// One item of a translated Java date-time pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Text matched as is.
    Literal(String),
    /// A chrono `strftime` specifier.
    Spec(&'static str),
}

/// `partition.time-extractor.timestamp-formatter`: a Java
/// `DateTimeFormatter` pattern, translated to chrono's format once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TimestampFormatter {
    /// The pattern as the user wrote it (for messages).
    pattern: String,
    /// The chrono format string.
    chrono: String,
}

/// The pattern letters [`TimestampFormatter`] understands.
const FORMATTER_LETTERS: &str = "y, u, M, d, D, H, h, a, m, s, S (3, 6 or 9), E";

impl TimestampFormatter {
    /// Translates `pattern`; fails on letters or constructs Riffle does not
    /// implement (optional sections, zones), naming the supported letters.
    pub(super) fn compile(pattern: &str) -> Parsed<Self> {
        let bad = |why: String| {
            BadValue(format!(
                "{why}; expected a date-time pattern of the supported pattern letters \
                 {FORMATTER_LETTERS}, and text in '...'"
            ))
        };
        let chars: Vec<char> = pattern.chars().collect();
        let mut pieces = Vec::new();
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            if c.is_ascii_alphabetic() {
                let start = i;
                while chars.get(i) == Some(&c) {
                    i += 1;
                }
                let n = i - start;
                let spec = match (c, n) {
                    ('y' | 'u', 2) => "%y",
                    ('y' | 'u', _) => "%Y",
                    ('M', 1 | 2) => "%m",
                    ('M', 3) => "%b",
                    ('M', 4) => "%B",
                    ('d', 1 | 2) => "%d",
                    ('D', 1..=3) => "%j",
                    ('H', 1 | 2) => "%H",
                    ('h', 1 | 2) => "%I",
                    ('a', 1) => "%p",
                    ('m', 1 | 2) => "%M",
                    ('s', 1 | 2) => "%S",
                    ('S', 3) => "%3f",
                    ('S', 6) => "%6f",
                    ('S', 9) => "%9f",
                    ('E', 1..=3) => "%a",
                    ('E', 4) => "%A",
                    _ => {
                        return Err(bad(format!(
                            "pattern letter '{}' is not supported",
                            c.to_string().repeat(n)
                        )));
                    }
                };
                pieces.push(Piece::Spec(spec));
            } else if c == '\'' {
                // 'text' is literal, '' is one quote.
                i += 1;
                let mut text = String::new();
                if chars.get(i) == Some(&'\'') {
                    text.push('\'');
                    i += 1;
                } else {
                    loop {
                        match chars.get(i) {
                            None => return Err(bad("an unclosed quote".into())),
                            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                                text.push('\'');
                                i += 2;
                            }
                            Some('\'') => {
                                i += 1;
                                break;
                            }
                            Some(&other) => {
                                text.push(other);
                                i += 1;
                            }
                        }
                    }
                }
                pieces.push(Piece::Literal(text));
            } else if matches!(c, '[' | ']' | '{' | '}' | '#') {
                return Err(bad(format!("'{c}' is not supported")));
            } else {
                pieces.push(Piece::Literal(c.to_string()));
                i += 1;
            }
        }
        let mut chrono = String::new();
        for p in pieces {
            match p {
                Piece::Spec(s) => chrono.push_str(s),
                Piece::Literal(t) => chrono.push_str(&t.replace('%', "%%")),
            }
        }
        Ok(TimestampFormatter {
            pattern: pattern.to_string(),
            chrono,
        })
    }

    /// Parses `text` as a date-time, or as a date at midnight.
    fn parse(&self, text: &str) -> Option<NaiveDateTime> {
        NaiveDateTime::parse_from_str(text, &self.chrono)
            .ok()
            .or_else(|| {
                NaiveDate::parse_from_str(text, &self.chrono)
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })
    }
}

/// Flink's default extractor format: `y-M-d[ H:m:s[.fraction]]`, fields of one
/// or two digits (the year of one or more).
fn parse_default(text: &str) -> Option<NaiveDateTime> {
    fn num(s: &str, max_len: usize) -> Option<u32> {
        if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }
    let (date, time) = match text.split_once(' ') {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut d = date.splitn(3, '-');
    let year = i32::try_from(num(d.next()?, 9)?).ok()?;
    let month = num(d.next()?, 2)?;
    let day = num(d.next()?, 2)?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let Some(time) = time else {
        return date.and_hms_opt(0, 0, 0);
    };
    let mut t = time.splitn(3, ':');
    let h = num(t.next()?, 2)?;
    let m = num(t.next()?, 2)?;
    let seconds = t.next()?;
    let (s, frac) = match seconds.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (seconds, None),
    };
    let s = num(s, 2)?;
    let nanos = match frac {
        None => 0,
        Some(f) => {
            let digits = num(f, 9)?;
            digits * 10u32.pow(9 - f.len() as u32)
        }
    };
    date.and_hms_nano_opt(h, m, s, nanos)
}

/// Flink's default partition time extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TimeExtractor {
    /// The partition columns, in `PARTITIONED BY` order.
    keys: Vec<String>,
    /// `partition.time-extractor.timestamp-pattern`.
    pattern: Option<String>,
    /// `partition.time-extractor.timestamp-formatter`.
    formatter: Option<TimestampFormatter>,
}

impl TimeExtractor {
    /// An extractor for a table partitioned by `keys`.
    pub(super) fn new(
        keys: Vec<String>,
        pattern: Option<String>,
        formatter: Option<TimestampFormatter>,
    ) -> Self {
        TimeExtractor {
            keys,
            pattern,
            formatter,
        }
    }

    /// The partition's local date-time as milliseconds (the date-time read
    /// as if it were UTC); `values` are in `PARTITIONED BY` order.
    pub(super) fn extract(&self, values: &[String]) -> Result<i64> {
        let text = match &self.pattern {
            None => values.first().cloned().unwrap_or_default(),
            Some(p) => {
                let mut t = p.clone();
                for (k, v) in self.keys.iter().zip(values) {
                    t = t.replace(&format!("${k}"), v);
                }
                t
            }
        };
        let parsed = match &self.formatter {
            Some(f) => f.parse(&text),
            None => parse_default(&text),
        };
        let Some(dt) = parsed else {
            let how = match &self.formatter {
                Some(f) => format!("the formatter '{}'", f.pattern),
                None => "the default format 'yyyy-MM-dd HH:mm:ss' (or 'yyyy-MM-dd')".into(),
            };
            let from = match &self.pattern {
                Some(p) => format!("the timestamp pattern '{p}'"),
                None => format!(
                    "the first partition column '{}'",
                    self.keys.first().map(String::as_str).unwrap_or_default()
                ),
            };
            return Err(Error::Options(format!(
                "cannot extract a partition time from '{text}' (made from {from}) with {how}; \
                 check 'partition.time-extractor.timestamp-pattern' and \
                 'partition.time-extractor.timestamp-formatter'"
            )));
        };
        Ok(dt.and_utc().timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, StringArray, TimestampMillisecondArray};

    fn escaped(s: &str) -> String {
        let mut out = String::new();
        escape_path_name(s, &mut out);
        out
    }

    #[test]
    fn names_are_escaped_like_flink() {
        assert_eq!(escaped("00:01"), "00%3A01");
        assert_eq!(escaped("2015-07-15"), "2015-07-15");
        assert_eq!(escaped("a/b=c%d"), "a%2Fb%3Dc%25d");
        assert_eq!(escaped("tab\there\n"), "tab%09here%0A");
        assert_eq!(
            escaped("\u{7f}#?*'\"\\{[]^"),
            "%7F%23%3F%2A%27%22%5C%7B%5B%5D%5E"
        );
        // Not escaped: spaces, other punctuation, non-ASCII.
        assert_eq!(escaped("a b-c_d.e}f~ü"), "a b-c_d.e}f~ü");
        for s in ["00:01", "a/b=c%d", "x%zz", "ü:ö", "%", "%4"] {
            assert_eq!(unescape_path_name(&escaped(s)), s);
        }
        // A `%` without two hex digits stays.
        assert_eq!(unescape_path_name("50%"), "50%");
        assert_eq!(unescape_path_name("%zz"), "%zz");
        assert_eq!(
            values_of("dt=2015-07-15/hm=00%3A01"),
            vec!["2015-07-15", "00:01"]
        );
    }

    #[test]
    fn values_are_rendered_like_flink() {
        let mut out = String::new();
        let s = StringArray::from(vec![Some("x:y"), None]);
        assert!(write_partition_value(&s, 0, &mut out));
        assert!(!write_partition_value(&s, 1, &mut out));
        assert_eq!(out, "x:y");
        let ts = TimestampMillisecondArray::from(vec![
            1_436_918_460_000,
            1_436_918_461_000,
            1_436_918_461_500,
        ]);
        let text: Vec<String> = (0..3)
            .map(|i| {
                let mut o = String::new();
                write_partition_value(&ts, i, &mut o);
                o
            })
            .collect();
        assert_eq!(
            text,
            vec![
                "2015-07-15T00:01",
                "2015-07-15T00:01:01",
                "2015-07-15T00:01:01.500"
            ]
        );
        let d = arrow::array::Date32Array::from(vec![16_631]);
        let mut o = String::new();
        write_partition_value(&d, 0, &mut o);
        assert_eq!(o, "2015-07-15");
        let i = Int32Array::from(vec![-7]);
        let mut o = String::new();
        write_partition_value(&i, 0, &mut o);
        assert_eq!(o, "-7");
    }

    const MIN_1: i64 = 1_436_918_460_000; // 2015-07-15 00:01:00 UTC

    #[test]
    fn time_from_the_pattern() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let keys = vec!["dt".to_string(), "hm".to_string()];
        let q10 = TimeExtractor::new(keys.clone(), Some("$dt $hm:00".into()), None);
        assert_eq!(q10.extract(&["2015-07-15".into(), "00:01".into()])?, MIN_1);
        // Default: the first value, a timestamp or a date.
        let first = TimeExtractor::new(keys.clone(), None, None);
        assert_eq!(
            first.extract(&["2015-07-15 00:01:00".into(), "x".into()])?,
            MIN_1
        );
        assert_eq!(
            first.extract(&["2015-7-15".into(), "x".into()])?,
            MIN_1 - 60_000
        );
        assert_eq!(
            first.extract(&["2015-07-15 00:01:00.250".into()])?,
            MIN_1 + 250
        );
        let e = first
            .extract(&[DEFAULT_PARTITION_NAME.into(), "x".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("__DEFAULT_PARTITION__"), "{e}");
        // A formatter, as in Flink's docs.
        let f = TimestampFormatter::compile("yyyyMMdd HH:mm:ss")?;
        let ymdh = TimeExtractor::new(
            vec!["year".into(), "month".into(), "day".into(), "hour".into()],
            Some("$year$month$day $hour:01:00".into()),
            Some(f),
        );
        assert_eq!(
            ymdh.extract(&["2015".into(), "07".into(), "15".into(), "00".into()])?,
            MIN_1
        );
        let date_only = TimeExtractor::new(
            vec!["d".into()],
            None,
            Some(TimestampFormatter::compile("yyyy/MM/dd")?),
        );
        assert_eq!(date_only.extract(&["2015/07/15".into()])?, MIN_1 - 60_000);
        let quoted = TimestampFormatter::compile("yyyy-MM-dd'T'HH:mm")?;
        let t = TimeExtractor::new(vec!["t".into()], None, Some(quoted));
        assert_eq!(t.extract(&["2015-07-15T00:01".into()])?, MIN_1);
        Ok(())
    }

    #[test]
    fn unsupported_formatters_are_refused() {
        for p in ["yyyy-MM-dd[ HH]", "yyyy VV", "'open"] {
            let e = TimestampFormatter::compile(p).unwrap_err().to_string();
            assert!(e.contains("supported pattern letters"), "{p}: {e}");
        }
    }
}

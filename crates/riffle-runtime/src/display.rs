//! Plan text for people: durations and literals the way Flink SQL writes them.
//!
//! EXPLAIN output and planner errors are made of DataFusion's renderings of
//! expressions, and DataFusion prints some literals with Rust's debug format:
//! an interval as `IntervalMonthDayNano { months: 0, days: 0, nanoseconds:
//! 4000000000 }` (wrapped in `IntervalMonthDayNano("...")` in the logical
//! plan), a timestamp as `TimestampMillisecond(1704067140000, None)`. Those
//! types and their printing belong to other crates, and the expression trees
//! are printed by DataFusion, so the finished text is rewritten instead:
//! [`readable_literals`] replaces exactly those renderings with Flink SQL
//! literals (`INTERVAL '4' SECOND`, `TIMESTAMP '2023-12-31 23:59:00'`) and
//! leaves everything it does not recognize as it was. The shapes are those of
//! DataFusion 55 (pinned by the workspace); the tests below spell them out, so
//! an upgrade that changes them shows up here.
//!
//! Window sizes and gaps print as Flink's plans print them, in the largest
//! unit that divides them: `10 s`, `1 min`, `500 ms` ([`duration_ms`]).

/// A length in milliseconds in the largest whole unit of `d`, `h`, `min`,
/// `s`, `ms` (Flink's `TimeUtils.formatWithHighestUnit`): `10 s`, `90 s`,
/// `1 min`, `1500 ms`.
pub fn duration_ms(ms: i64) -> String {
    // The configuration's formatter, so plans and `riffle config` agree.
    let text = riffle_common::config::parse::format_duration(std::time::Duration::from_millis(
        ms.unsigned_abs(),
    ));
    if ms < 0 { format!("-{text}") } else { text }
}

/// A subtask as people name it: `subtask 0 of vertex 2` (ids are
/// `(vertex, subtask index)` pairs inside Riffle).
pub fn subtask(id: (usize, usize)) -> String {
    format!("subtask {} of vertex {}", id.1, id.0)
}

/// An interval as a Flink SQL literal: `INTERVAL '10' SECOND`,
/// `INTERVAL '2' MONTH`, `INTERVAL '0.5' SECOND`. The day-time part is given
/// in the largest unit (`DAY`, `HOUR`, `MINUTE`, `SECOND`) that divides it; an
/// interval with both parts is their sum in parentheses.
pub fn interval_literal(months: i64, days: i64, nanoseconds: i64) -> String {
    let nanos = i128::from(days) * NANOS_PER_DAY + i128::from(nanoseconds);
    let year_month = if months % 12 == 0 {
        format!("INTERVAL '{}' YEAR", months / 12)
    } else {
        format!("INTERVAL '{months}' MONTH")
    };
    match (months, nanos) {
        (0, _) => day_time_literal(nanos),
        (_, 0) => year_month,
        _ => format!("({year_month} + {})", day_time_literal(nanos)),
    }
}

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const NANOS_PER_DAY: i128 = 86_400 * NANOS_PER_SECOND;

/// A day-time interval of `nanos` in the largest unit that divides it, else
/// in seconds with a fraction.
fn day_time_literal(nanos: i128) -> String {
    const UNITS: [(i128, &str); 4] = [
        (NANOS_PER_DAY, "DAY"),
        (3_600 * NANOS_PER_SECOND, "HOUR"),
        (60 * NANOS_PER_SECOND, "MINUTE"),
        (NANOS_PER_SECOND, "SECOND"),
    ];
    if nanos == 0 {
        return "INTERVAL '0' SECOND".to_string();
    }
    for (size, unit) in UNITS {
        if nanos % size == 0 {
            return format!("INTERVAL '{}' {unit}", nanos / size);
        }
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.unsigned_abs();
    let per_second = NANOS_PER_SECOND.unsigned_abs();
    let fraction = format!("{:09}", abs % per_second);
    format!(
        "INTERVAL '{sign}{}.{}' SECOND",
        abs / per_second,
        fraction.trim_end_matches('0')
    )
}

/// A timestamp literal: `TIMESTAMP '2023-12-31 23:59:00.5'` for a local
/// timestamp, `TO_TIMESTAMP_LTZ(epoch, precision)` for an instant (Flink has
/// no literal for those). `per_second` is the value's unit (1, 1 000,
/// 1 000 000 or 1 000 000 000 per second).
pub fn timestamp_literal(value: i64, per_second: i64, instant: bool) -> String {
    let digits = match per_second {
        1 => 0,
        1_000 => 3,
        1_000_000 => 6,
        _ => 9,
    };
    if instant {
        return format!("TO_TIMESTAMP_LTZ({value}, {digits})");
    }
    let per_second = per_second.max(1);
    let seconds = value.div_euclid(per_second);
    let fraction = value.rem_euclid(per_second);
    let mut text = String::new();
    riffle_common::time::format_timestamp_ms(seconds.saturating_mul(1_000), &mut text);
    // Whole seconds: drop the formatter's `.000`, then add the real fraction.
    if let Some(dot) = text.rfind('.') {
        text.truncate(dot);
    }
    if fraction != 0 {
        let fraction = format!("{fraction:0digits$}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    format!("TIMESTAMP '{text}'")
}

/// Rewrites DataFusion's debug renderings of interval and timestamp literals
/// in plan or error text into Flink SQL literals (see the module doc).
pub fn readable_literals(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['I', 'T']) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match rewrite_literal(rest) {
            Some((literal, used)) => {
                out.push_str(&literal);
                rest = &rest[used..];
            }
            None => {
                // 'I' and 'T' are one byte: the next search starts after it.
                out.push_str(&rest[..1]);
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The Flink literal for a DataFusion literal at the start of `s`, and the
/// length of the text it replaces.
fn rewrite_literal(s: &str) -> Option<(String, usize)> {
    if let Some(after) = s.strip_prefix("IntervalMonthDayNano(\"") {
        let (v, used) = fields(
            after,
            "IntervalMonthDayNano",
            &["months", "days", "nanoseconds"],
        )?;
        let used = used + after[used..].strip_prefix("\")").map(|_| 2)?;
        return Some((
            interval_literal(v[0], v[1], v[2]),
            s.len() - after.len() + used,
        ));
    }
    if let Some(after) = s.strip_prefix("IntervalDayTime(\"") {
        let (v, used) = fields(after, "IntervalDayTime", &["days", "milliseconds"])?;
        let used = used + after[used..].strip_prefix("\")").map(|_| 2)?;
        let nanos = v[1].checked_mul(1_000_000)?;
        return Some((
            interval_literal(0, v[0], nanos),
            s.len() - after.len() + used,
        ));
    }
    if let Some(after) = s.strip_prefix("IntervalYearMonth(\"") {
        let end = after.find("\")")?;
        let months = after[..end].parse().ok()?;
        return Some((
            interval_literal(months, 0, 0),
            s.len() - after.len() + end + 2,
        ));
    }
    if s.starts_with("IntervalMonthDayNano {") {
        let (v, used) = fields(
            s,
            "IntervalMonthDayNano",
            &["months", "days", "nanoseconds"],
        )?;
        return Some((interval_literal(v[0], v[1], v[2]), used));
    }
    if s.starts_with("IntervalDayTime {") {
        let (v, used) = fields(s, "IntervalDayTime", &["days", "milliseconds"])?;
        return Some((
            interval_literal(0, v[0], v[1].checked_mul(1_000_000)?),
            used,
        ));
    }
    for (name, per_second) in [
        ("TimestampSecond(", 1),
        ("TimestampMillisecond(", 1_000),
        ("TimestampMicrosecond(", 1_000_000),
        ("TimestampNanosecond(", 1_000_000_000),
    ] {
        if let Some(after) = s.strip_prefix(name) {
            return timestamp(after, per_second)
                .map(|(text, used)| (text, s.len() - after.len() + used));
        }
    }
    None
}

/// `VALUE, None)` or `VALUE, Some("zone"))` after a `TimestampX(`.
fn timestamp(s: &str, per_second: i64) -> Option<(String, usize)> {
    let comma = s.find(", ")?;
    let value = &s[..comma];
    let after = &s[comma + 2..];
    let (instant, zone_len) = if after.starts_with("None)") {
        (false, "None)".len())
    } else {
        let zone = after.strip_prefix("Some(\"")?;
        (true, "Some(\"".len() + zone.find("\"))")? + "\"))".len())
    };
    let used = comma + 2 + zone_len;
    if value == "NULL" {
        let digits = match per_second {
            1 => 0,
            1_000 => 3,
            1_000_000 => 6,
            _ => 9,
        };
        let kind = if instant {
            "TIMESTAMP_LTZ"
        } else {
            "TIMESTAMP"
        };
        return Some((format!("CAST(NULL AS {kind}({digits}))"), used));
    }
    let value: i64 = value.parse().ok()?;
    Some((timestamp_literal(value, per_second, instant), used))
}

/// Parses `NAME { a: 1, b: -2 }` with exactly the `names` fields, in order;
/// returns the values and the length of the text.
fn fields(s: &str, name: &str, names: &[&str]) -> Option<(Vec<i64>, usize)> {
    let mut rest = s.strip_prefix(name)?.strip_prefix(" { ")?;
    let mut values = Vec::with_capacity(names.len());
    for (i, field) in names.iter().enumerate() {
        rest = rest.strip_prefix(field)?.strip_prefix(": ")?;
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '-'))
            .unwrap_or(rest.len());
        values.push(rest[..end].parse().ok()?);
        rest = &rest[end..];
        let sep = if i + 1 == names.len() { " }" } else { ", " };
        rest = rest.strip_prefix(sep)?;
    }
    Some((values, s.len() - rest.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_largest_unit() {
        for (ms, text) in [
            (0, "0 ms"),
            (500, "500 ms"),
            (1_500, "1500 ms"),
            (10_000, "10 s"),
            (90_000, "90 s"),
            (60_000, "1 min"),
            (3_600_000, "1 h"),
            (86_400_000, "1 d"),
            (-5_000, "-5 s"),
        ] {
            assert_eq!(duration_ms(ms), text);
        }
    }

    #[test]
    fn intervals_as_flink_sql() {
        let s = 1_000_000_000;
        for ((months, days, nanos), text) in [
            ((0, 0, 10 * s), "INTERVAL '10' SECOND"),
            ((0, 0, 60 * s), "INTERVAL '1' MINUTE"),
            ((0, 0, 90 * s), "INTERVAL '90' SECOND"),
            ((0, 0, 3_600 * s), "INTERVAL '1' HOUR"),
            ((0, 1, 0), "INTERVAL '1' DAY"),
            ((0, 1, 7_200 * s), "INTERVAL '26' HOUR"),
            ((0, 0, s / 2), "INTERVAL '0.5' SECOND"),
            ((0, 0, 1), "INTERVAL '0.000000001' SECOND"),
            ((0, 0, -5 * s), "INTERVAL '-5' SECOND"),
            ((0, 0, -s / 4), "INTERVAL '-0.25' SECOND"),
            ((2, 0, 0), "INTERVAL '2' MONTH"),
            ((24, 0, 0), "INTERVAL '2' YEAR"),
            ((1, 3, 0), "(INTERVAL '1' MONTH + INTERVAL '3' DAY)"),
            ((0, 0, 0), "INTERVAL '0' SECOND"),
        ] {
            assert_eq!(interval_literal(months, days, nanos), text);
        }
    }

    #[test]
    fn timestamps_as_flink_sql() {
        assert_eq!(
            timestamp_literal(1_704_067_140_000, 1_000, false),
            "TIMESTAMP '2023-12-31 23:59:00'"
        );
        assert_eq!(
            timestamp_literal(1_704_067_140_500, 1_000, false),
            "TIMESTAMP '2023-12-31 23:59:00.5'"
        );
        assert_eq!(
            timestamp_literal(1_704_067_140_000_001, 1_000_000, false),
            "TIMESTAMP '2023-12-31 23:59:00.000001'"
        );
        assert_eq!(
            timestamp_literal(-1, 1, false),
            "TIMESTAMP '1969-12-31 23:59:59'"
        );
        assert_eq!(timestamp_literal(5, 1_000, true), "TO_TIMESTAMP_LTZ(5, 3)");
    }

    /// The exact renderings of DataFusion 55: logical plans print a literal
    /// with `Debug`, physical plans with `Display`.
    #[test]
    fn datafusion_renderings_become_flink_literals() {
        for (datafusion, flink) in [
            (
                "watermark=[t.ts - IntervalMonthDayNano(\"IntervalMonthDayNano { months: 0, days: 0, nanoseconds: 5000000000 }\")]",
                "watermark=[t.ts - INTERVAL '5' SECOND]",
            ),
            (
                "watermark=[ts@0 - IntervalMonthDayNano { months: 0, days: 0, nanoseconds: 4000000000 }]",
                "watermark=[ts@0 - INTERVAL '4' SECOND]",
            ),
            (
                "a - IntervalMonthDayNano { months: 1, days: 0, nanoseconds: 0 } AND b",
                "a - INTERVAL '1' MONTH AND b",
            ),
            (
                "IntervalDayTime(\"IntervalDayTime { days: 0, milliseconds: 60000 }\")",
                "INTERVAL '1' MINUTE",
            ),
            (
                "IntervalDayTime { days: 2, milliseconds: 0 }",
                "INTERVAL '2' DAY",
            ),
            ("IntervalYearMonth(\"14\")", "INTERVAL '14' MONTH"),
            (
                "Filter: t.ts > TimestampMillisecond(1704067140000, None) AND x",
                "Filter: t.ts > TIMESTAMP '2023-12-31 23:59:00' AND x",
            ),
            (
                "lt > TimestampMillisecond(0, Some(\"+00:00\"))",
                "lt > TO_TIMESTAMP_LTZ(0, 3)",
            ),
            (
                "TimestampNanosecond(NULL, None)",
                "CAST(NULL AS TIMESTAMP(9))",
            ),
        ] {
            assert_eq!(readable_literals(datafusion), flink);
        }
    }

    #[test]
    fn other_text_is_kept() {
        for text in [
            "",
            "Int64(123) Utf8(\"IntervalX\") Timestamp TIMESTAMP",
            "IntervalMonthDayNano { months: x, days: 0, nanoseconds: 0 }",
            "TimestampMillisecond(12, Other)",
            "TimestampMillisecond(",
            "Ünïcödé Interval Tumble",
        ] {
            assert_eq!(readable_literals(text), text);
        }
    }
}

//! Quartz cron expressions, as `kubernetes.operator.periodic.*.interval`
//! takes them: `seconds minutes hours day-of-month month day-of-week [year]`,
//! each field `*`, `?` (day fields), a number, a range `a-b`, a step `a/n`,
//! `*/n` or `a-b/n`, or a list of those; months `JAN`–`DEC` and weekdays
//! `SUN`–`SAT` (1 = Sunday, as in Quartz) by name. Exactly one of the two
//! day fields is `?`. Times are UTC. Quartz's `L`, `W` and `#` are refused
//! by name rather than misread.

use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone, Utc};

/// A parsed expression: the allowed values of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: Vec<u32>,
    minutes: Vec<u32>,
    hours: Vec<u32>,
    days: Days,
    months: Vec<u32>,
    years: Option<Vec<u32>>,
}

/// The day fields: one of them is `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Days {
    OfMonth(Vec<u32>),
    /// 1 = Sunday … 7 = Saturday.
    OfWeek(Vec<u32>),
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// How far ahead a next time is looked for.
const HORIZON_DAYS: i64 = 366 * 5;

impl Cron {
    /// Parses an expression; the error names the field and what is wrong.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if !(6..=7).contains(&fields.len()) {
            return Err(format!(
                "a cron expression has 6 or 7 fields (seconds minutes hours day-of-month month \
                 day-of-week [year]), this one {}",
                fields.len()
            ));
        }
        let dom = fields[3];
        let dow = fields[5];
        let days = match (dom == "?", dow == "?") {
            (true, false) => Days::OfWeek(field(dow, "day-of-week", 1, 7, &WEEKDAYS)?),
            (false, true) => Days::OfMonth(field(dom, "day-of-month", 1, 31, &[])?),
            _ => {
                return Err("exactly one of day-of-month and day-of-week must be '?'".to_string());
            }
        };
        Ok(Cron {
            seconds: field(fields[0], "seconds", 0, 59, &[])?,
            minutes: field(fields[1], "minutes", 0, 59, &[])?,
            hours: field(fields[2], "hours", 0, 23, &[])?,
            days,
            months: field(fields[4], "month", 1, 12, &MONTHS)?,
            years: fields
                .get(6)
                .map(|y| field(y, "year", 1970, 2199, &[]))
                .transpose()?,
        })
    }

    fn day_matches(&self, d: NaiveDate) -> bool {
        let day_ok = match &self.days {
            Days::OfMonth(v) => v.contains(&d.day()),
            Days::OfWeek(v) => v.contains(&(d.weekday().num_days_from_sunday() + 1)),
        };
        day_ok
            && self.months.contains(&d.month())
            && self
                .years
                .as_ref()
                .is_none_or(|y| u32::try_from(d.year()).is_ok_and(|year| y.contains(&year)))
    }

    /// The first time the expression names strictly after `after` (epoch
    /// milliseconds), within five years.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let start = after.div_euclid(1000).checked_add(1)?;
        let first = Utc.timestamp_opt(start, 0).single()?;
        let first_day = first.date_naive();
        let first_time = first.time();
        for offset in 0..HORIZON_DAYS {
            let day = first_day.checked_add_days(chrono::Days::new(u64::try_from(offset).ok()?))?;
            if !self.day_matches(day) {
                continue;
            }
            for &h in &self.hours {
                for &m in &self.minutes {
                    for &s in &self.seconds {
                        let t = NaiveTime::from_hms_opt(h, m, s)?;
                        if offset == 0 && t < first_time {
                            continue;
                        }
                        let at = day.and_time(t).and_utc();
                        return Some(at.timestamp_millis());
                    }
                }
            }
        }
        None
    }
}

/// One field's allowed values, sorted.
fn field(text: &str, name: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<u32>, String> {
    let bad = |why: String| format!("cron field {name} '{text}': {why}");
    if text.contains(['L', 'W', '#']) && !names.iter().any(|n| text.contains(n)) {
        return Err(bad(
            "Quartz's L, W and # are not supported; list the days instead".into(),
        ));
    }
    let value = |v: &str| -> Result<u32, String> {
        let upper = v.to_ascii_uppercase();
        if let Some(i) = names.iter().position(|n| *n == upper) {
            return Ok(min + u32::try_from(i).unwrap_or(0));
        }
        let n: u32 = v
            .parse()
            .map_err(|_| bad(format!("'{v}' is not a number between {min} and {max}")))?;
        if !(min..=max).contains(&n) {
            return Err(bad(format!("{n} is outside {min}-{max}")));
        }
        Ok(n)
    };
    let mut out = Vec::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| bad(format!("step '{s}' is not a positive number")))?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = match range {
            "*" | "?" => (min, max),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                // `a/n` runs from a to the end, `a` alone is just a.
                None if step > 1 || part.contains('/') => (value(r)?, max),
                None => {
                    let v = value(r)?;
                    (v, v)
                }
            },
        };
        if lo > hi {
            return Err(bad(format!("range {lo}-{hi} runs backwards")));
        }
        out.extend((lo..=hi).step_by(usize::try_from(step).unwrap_or(1)));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.timestamp_millis())
            .unwrap_or(0)
    }

    fn next(expr: &str, after: &str) -> Option<i64> {
        Cron::parse(expr).ok()?.next_after(at(after))
    }

    #[test]
    fn next_times_follow_quartz_fields() {
        assert_eq!(
            next("0 0/5 * * * ?", "2026-12-05T10:02:30Z"),
            Some(at("2026-12-05T10:05:00Z"))
        );
        // Strictly after.
        assert_eq!(
            next("0 0/5 * * * ?", "2026-12-05T10:05:00Z"),
            Some(at("2026-12-05T10:10:00Z"))
        );
        assert_eq!(
            next("0 30 2 ? * MON-FRI", "2026-12-05T10:00:00Z"),
            Some(at("2026-12-07T02:30:00Z")),
            "Saturday → Monday"
        );
        assert_eq!(
            next("0 0 0 1 JAN ? 2028", "2026-12-05T10:00:00Z"),
            Some(at("2028-01-01T00:00:00Z"))
        );
        assert_eq!(
            next("15,45 * * * * ?", "2026-12-05T10:00:20Z"),
            Some(at("2026-12-05T10:00:45Z"))
        );
        assert_eq!(next("0 0 0 31 FEB ?", "2026-12-05T10:00:00Z"), None);
    }

    #[test]
    fn mistakes_name_the_field() {
        for (expr, says) in [
            ("0 0 * * *", "6 or 7 fields"),
            ("0 0 * * * *", "exactly one of day-of-month and day-of-week"),
            ("0 61 * * * ?", "minutes '61'"),
            ("0 0 0 L * ?", "L, W and #"),
            ("0 0/0 * * * ?", "step '0'"),
            ("0 0 5-2 * * ?", "backwards"),
        ] {
            let e = Cron::parse(expr).err().unwrap_or_default();
            assert!(e.contains(says), "{expr}: {e}");
        }
    }
}

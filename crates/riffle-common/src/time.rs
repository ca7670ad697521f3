//! Time helpers shared by connectors, planner and runtime: the SQL timestamp
//! text format `yyyy-MM-dd HH:mm:ss.SSS`. (Durations are parsed by
//! [`crate::config::parse::duration`].)

/// Converts days since the epoch to a civil date (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Converts a civil date to days since the epoch.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats epoch milliseconds as `yyyy-MM-dd HH:mm:ss.SSS` (Flink's SQL format).
pub fn format_timestamp_ms(ms: i64, out: &mut String) {
    use std::fmt::Write;
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    let h = rem / 3_600_000;
    let mi = rem / 60_000 % 60;
    let s = rem / 1000 % 60;
    let milli = rem % 1000;
    let _ = write!(
        out,
        "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{milli:03}"
    );
}

/// Parses `yyyy-MM-dd HH:mm:ss[.fff]` or `yyyy-MM-ddTHH:mm:ss[.fff]` into epoch
/// milliseconds; `None` if the text does not have that shape.
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    let t = text.trim().as_bytes();
    let num = |s: &[u8]| -> Option<i64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    if t.len() < 10 || t[4] != b'-' || t[7] != b'-' {
        return None;
    }
    let y = num(&t[0..4])?;
    let mo = num(&t[5..7])? as u32;
    let d = num(&t[8..10])? as u32;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, mo, d) * 86_400_000;
    if t.len() == 10 {
        return Some(ms);
    }
    if t.len() < 19 || !(t[10] == b' ' || t[10] == b'T') || t[13] != b':' || t[16] != b':' {
        return None;
    }
    let h = num(&t[11..13])?;
    let mi = num(&t[14..16])?;
    let s = num(&t[17..19])?;
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    ms += h * 3_600_000 + mi * 60_000 + s * 1000;
    if t.len() > 19 {
        if t[19] != b'.' {
            return None;
        }
        let frac = &t[20..];
        if frac.is_empty() || frac.len() > 9 || !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut v = 0i64;
        for (i, c) in frac.iter().take(3).enumerate() {
            v += (c - b'0') as i64 * 10i64.pow(2 - i as u32);
        }
        ms += v;
    }
    Some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        for ms in [
            0i64,
            1_436_918_400_123,
            -1,
            951_782_400_000,
            4_102_444_799_999,
        ] {
            let mut s = String::new();
            format_timestamp_ms(ms, &mut s);
            assert_eq!(parse_timestamp_ms(&s), Some(ms), "{s}");
        }
        let mut s = String::new();
        format_timestamp_ms(1_436_918_400_123, &mut s);
        assert_eq!(s, "2015-07-15 00:00:00.123");
        assert_eq!(
            parse_timestamp_ms("2015-07-15T00:00:01.5"),
            Some(1_436_918_401_500)
        );
        assert_eq!(parse_timestamp_ms("2015-13-15 00:00:00"), None);
        assert_eq!(parse_timestamp_ms("nonsense"), None);
    }
}

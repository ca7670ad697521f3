//! Java date-time patterns, compiled once and applied to chrono values.
//!
//! Flink formats and parses date-times with two different Java classes, and
//! their pattern languages differ in detail, so a pattern is compiled for one
//! [`Dialect`]:
//!
//! - `java.time.format.DateTimeFormatter.ofPattern` (English locale, strict,
//!   case-sensitive, `ResolverStyle.SMART`) backs `DATE_FORMAT(TIMESTAMP, ..)`
//!   and `TO_TIMESTAMP(string, format)`. It prints a `LocalDateTime`, so the
//!   zone and offset letters (`V z O X x Z`) fail at format time.
//! - `java.text.SimpleDateFormat` (English locale, lenient, UTC) backs
//!   `DATE_FORMAT(STRING, ..)` and `DATE_FORMAT(DATE, ..)`.
//!
//! Both share the quoting rules: `'text'` is literal text, `''` is one quote,
//! and every character that is not an ASCII letter stands for itself. An ASCII
//! letter is always a pattern letter: one the dialect does not know is an
//! error, as it is in Java. Week fields use the US rules of Flink's default
//! locale (weeks start on Sunday; week 1 is the week containing January 1).
//!
//! Pattern letters Riffle does not implement (`p` padding, `B` day periods,
//! `g` modified Julian day, `F` in the `DateTimeFormatter` dialect) are
//! rejected when the pattern is compiled rather than printed wrongly.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};

/// Which Java class a pattern follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Dialect {
    /// `java.time.format.DateTimeFormatter.ofPattern`.
    DateTimeFormatter,
    /// `java.text.SimpleDateFormat` in UTC.
    SimpleDateFormat,
}

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// Text printed and matched as is.
    Literal(String),
    /// A run of `count` copies of a pattern letter.
    Field { letter: char, count: usize },
    /// A `DateTimeFormatter` optional section, `[...]`.
    Optional(Vec<Item>),
    /// A fraction of a second of `min..=max` digits, optionally introduced by a
    /// decimal point; only used by Flink's default `TO_TIMESTAMP` format.
    Fraction {
        min: usize,
        max: usize,
        decimal_point: bool,
    },
}

/// A compiled Java date-time pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JavaPattern {
    dialect: Dialect,
    items: Vec<Item>,
}

/// The result of parsing text with a [`JavaPattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// The text parsed to this local date-time.
    Value(NaiveDateTime),
    /// The text does not match the pattern, or its fields conflict or are out
    /// of range (Java's `DateTimeParseException`).
    Mismatch,
    /// The text matched but the fields do not form a valid date-time (Java's
    /// `DateTimeException` from `LocalDateTime.of`).
    Invalid,
}

const MONTHS_FULL: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_SHORT: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// Day names, Monday first (ISO order).
const DAYS_FULL: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const DAYS_SHORT: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const QUARTERS_FULL: [&str; 4] = ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"];

/// The letters `SimpleDateFormat` knows.
const SIMPLE_DATE_FORMAT_LETTERS: &str = "GyMdkHmsSEDFwWahKzZYuXL";

impl JavaPattern {
    /// Compiles `pattern`; the error text follows Java's exception message.
    pub(crate) fn compile(pattern: &str, dialect: Dialect) -> Result<Self, String> {
        let chars: Vec<char> = pattern.chars().collect();
        // Open optional sections; the outermost list is the pattern itself.
        let mut open: Vec<Vec<Item>> = vec![Vec::new()];
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            if c.is_ascii_alphabetic() {
                let start = i;
                while chars.get(i) == Some(&c) {
                    i += 1;
                }
                let count = i - start;
                match dialect {
                    Dialect::DateTimeFormatter => check_formatter_letter(c, count)?,
                    Dialect::SimpleDateFormat => check_simple_letter(c, count)?,
                }
                push_item(&mut open, Item::Field { letter: c, count });
            } else if c == '\'' {
                let (literal, next) = quoted(&chars, i, dialect)?;
                push_literal(&mut open, &literal);
                i = next;
            } else if dialect == Dialect::DateTimeFormatter && c == '[' {
                open.push(Vec::new());
                i += 1;
            } else if dialect == Dialect::DateTimeFormatter && c == ']' {
                if open.len() < 2 {
                    return Err("Pattern invalid as it contains ] without previous [".into());
                }
                let section = open.pop().unwrap_or_default();
                push_item(&mut open, Item::Optional(section));
                i += 1;
            } else if dialect == Dialect::DateTimeFormatter && matches!(c, '{' | '}' | '#') {
                return Err(format!("Pattern includes reserved character: '{c}'"));
            } else {
                push_literal(&mut open, c.encode_utf8(&mut [0; 4]));
                i += 1;
            }
        }
        // Java closes sections left open at the end of the pattern.
        while open.len() > 1 {
            let section = open.pop().unwrap_or_default();
            push_item(&mut open, Item::Optional(section));
        }
        Ok(Self {
            dialect,
            items: open.pop().unwrap_or_default(),
        })
    }

    /// Flink's `DEFAULT_TIMESTAMP_FORMATTER`, used by `TO_TIMESTAMP(string)`:
    /// `yyyy-[MM][M]-[dd][d]`, then optionally ` [HH][H]:[mm][m]:[ss][s]` and
    /// a fraction of up to nine digits after a decimal point.
    pub(crate) fn flink_default_timestamp() -> Self {
        fn field(letter: char, count: usize) -> Item {
            Item::Field { letter, count }
        }
        fn either(letter: char) -> [Item; 2] {
            [
                Item::Optional(vec![field(letter, 2)]),
                Item::Optional(vec![field(letter, 1)]),
            ]
        }
        let lit = |s: &str| Item::Literal(s.to_string());
        let mut time = vec![lit(" ")];
        time.extend(either('H'));
        time.push(lit(":"));
        time.extend(either('m'));
        time.push(lit(":"));
        time.extend(either('s'));
        time.push(Item::Fraction {
            min: 0,
            max: 9,
            decimal_point: true,
        });
        let mut items = vec![field('y', 4), lit("-")];
        items.extend(either('M'));
        items.push(lit("-"));
        items.extend(either('d'));
        items.push(Item::Optional(time));
        Self {
            dialect: Dialect::DateTimeFormatter,
            items,
        }
    }

    /// Appends `dt` formatted with this pattern to `out`.
    pub(crate) fn format(&self, dt: &NaiveDateTime, out: &mut String) -> Result<(), String> {
        format_items(&self.items, self.dialect, dt, out).map_err(|letter| {
            format!(
                "pattern letter '{letter}' needs a time zone or offset, which a TIMESTAMP value does not carry"
            )
        })
    }

    /// Fails when the pattern uses a letter that [`Self::parse`] cannot read.
    pub(crate) fn check_parsable(&self) -> Result<(), String> {
        fn check(items: &[Item]) -> Result<(), String> {
            for item in items {
                match item {
                    Item::Field { letter, count } => {
                        let ok = numeric_spec(*letter, *count).is_some()
                            || matches!((*letter, *count), ('M' | 'L', 3 | 4) | ('E', 1..=4))
                            || matches!((*letter, *count), ('a', 1) | ('G', 1..=4));
                        if !ok {
                            let run: String = std::iter::repeat_n(*letter, *count).collect();
                            return Err(format!(
                                "pattern field '{run}' is not supported for parsing"
                            ));
                        }
                    }
                    Item::Optional(inner) => check(inner)?,
                    Item::Literal(_) | Item::Fraction { .. } => {}
                }
            }
            Ok(())
        }
        check(&self.items)
    }

    /// Parses the whole of `text` as a `DateTimeFormatter` would, then builds
    /// the date-time the way Flink does: fields the pattern lacks default to
    /// 1970-01-01 00:00:00, and the fraction is truncated to milliseconds.
    pub(crate) fn parse(&self, text: &str) -> Parsed {
        let mut fields = Fields::default();
        let mut pos = 0;
        if parse_items(&self.items, text, &mut pos, &mut fields).is_none() || pos != text.len() {
            return Parsed::Mismatch;
        }
        fields.resolve()
    }
}

fn push_item(open: &mut [Vec<Item>], item: Item) {
    if let Some(current) = open.last_mut() {
        current.push(item);
    }
}

fn push_literal(open: &mut [Vec<Item>], text: &str) {
    if let Some(current) = open.last_mut() {
        if let Some(Item::Literal(last)) = current.last_mut() {
            last.push_str(text);
        } else {
            current.push(Item::Literal(text.to_string()));
        }
    }
}

/// Reads a quoted literal starting at the quote at `start`; returns the text
/// and the index after the closing quote.
fn quoted(chars: &[char], start: usize, dialect: Dialect) -> Result<(String, usize), String> {
    if chars.get(start + 1) == Some(&'\'') {
        return Ok(("'".to_string(), start + 2));
    }
    let mut text = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => {
                return Err(match dialect {
                    Dialect::DateTimeFormatter => {
                        "Pattern ends with an incomplete string literal".to_string()
                    }
                    Dialect::SimpleDateFormat => "Unterminated quote".to_string(),
                });
            }
            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                text.push('\'');
                i += 2;
            }
            Some('\'') => return Ok((text, i + 1)),
            Some(c) => {
                text.push(*c);
                i += 1;
            }
        }
    }
}

fn check_formatter_letter(letter: char, count: usize) -> Result<(), String> {
    let too_many = || Err(format!("Too many pattern letters: {letter}"));
    match letter {
        'G' | 'E' | 'M' | 'L' | 'Q' | 'q' | 'e' if count > 5 => too_many(),
        'c' if count == 2 => Err("Invalid pattern \"cc\"".into()),
        'c' if count > 5 => too_many(),
        'y' | 'u' | 'Y' | 'n' | 'N' | 'A' if count > 19 => too_many(),
        'a' | 'W' if count > 1 => too_many(),
        'd' | 'h' | 'H' | 'k' | 'K' | 'm' | 's' | 'w' if count > 2 => too_many(),
        'D' if count > 3 => too_many(),
        'S' if count > 9 => Err(format!(
            "Minimum width must be from 0 to 9 inclusive but was {count}"
        )),
        'V' if count != 2 => Err("Pattern letter count must be 2: V".into()),
        'z' if count > 4 => too_many(),
        'O' if count != 1 && count != 4 => Err("Pattern letter count must be 1 or 4: O".into()),
        'X' | 'x' | 'Z' if count > 5 => too_many(),
        'G' | 'y' | 'u' | 'Y' | 'M' | 'L' | 'Q' | 'q' | 'w' | 'W' | 'E' | 'e' | 'c' | 'a' | 'd'
        | 'D' | 'h' | 'H' | 'k' | 'K' | 'm' | 's' | 'S' | 'n' | 'N' | 'A' | 'V' | 'z' | 'O'
        | 'X' | 'x' | 'Z' => Ok(()),
        'p' | 'B' | 'g' | 'F' => Err(format!("pattern letter '{letter}' is not supported")),
        _ => Err(format!("Unknown pattern letter: {letter}")),
    }
}

fn check_simple_letter(letter: char, count: usize) -> Result<(), String> {
    if !SIMPLE_DATE_FORMAT_LETTERS.contains(letter) {
        return Err(format!("Illegal pattern character '{letter}'"));
    }
    if letter == 'X' && count > 3 {
        return Err(format!("invalid ISO 8601 format: length={count}"));
    }
    Ok(())
}

/// Formats `items`; `Err(letter)` when a field needs a zone or offset.
fn format_items(
    items: &[Item],
    dialect: Dialect,
    dt: &NaiveDateTime,
    out: &mut String,
) -> Result<(), char> {
    for item in items {
        match item {
            Item::Literal(text) => out.push_str(text),
            Item::Field { letter, count } => match dialect {
                Dialect::DateTimeFormatter => format_formatter_field(*letter, *count, dt, out)?,
                Dialect::SimpleDateFormat => format_simple_field(*letter, *count, dt, out),
            },
            Item::Optional(inner) => {
                // Java prints an optional section only if every field in it
                // is available.
                let mark = out.len();
                if format_items(inner, dialect, dt, out).is_err() {
                    out.truncate(mark);
                }
            }
            Item::Fraction {
                min,
                max,
                decimal_point,
            } => {
                let digits = format!("{:09}", dt.nanosecond() % 1_000_000_000);
                let trimmed = digits.trim_end_matches('0');
                let len = trimmed.len().clamp(*min, *max);
                if len > 0 {
                    if *decimal_point {
                        out.push('.');
                    }
                    out.push_str(digits.get(..len).unwrap_or(&digits));
                }
            }
        }
    }
    Ok(())
}

fn format_formatter_field(
    letter: char,
    count: usize,
    dt: &NaiveDateTime,
    out: &mut String,
) -> Result<(), char> {
    let date = dt.date();
    let hour = i64::from(dt.hour());
    match letter {
        'G' => out.push_str(era_text(date.year(), count)),
        'y' => push_year(out, i64::from(year_of_era(date.year())), count),
        'u' => push_year(out, i64::from(date.year()), count),
        'Y' => push_year(out, i64::from(us_week(date).0), count),
        'M' | 'L' => push_month(out, date.month0(), count),
        'Q' | 'q' => {
            let quarter = date.month0() / 3;
            match count {
                1 | 2 => push_padded(out, i64::from(quarter) + 1, count),
                3 => {
                    out.push('Q');
                    push_padded(out, i64::from(quarter) + 1, 1);
                }
                4 => out.push_str(QUARTERS_FULL[quarter as usize % 4]),
                _ => push_padded(out, i64::from(quarter) + 1, 1),
            }
        }
        'w' => push_padded(out, i64::from(us_week(date).1), count),
        'W' => push_padded(out, i64::from(us_week_of_month(date)), count),
        'E' => push_day_text(out, date, count.max(3)),
        'e' | 'c' if count <= 2 => {
            let day = date.weekday().num_days_from_sunday() + 1;
            push_padded(out, i64::from(day), count);
        }
        'e' | 'c' => push_day_text(out, date, count),
        'a' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
        'd' => push_padded(out, i64::from(date.day()), count),
        'D' => push_padded(out, i64::from(date.ordinal()), count),
        'H' => push_padded(out, hour, count),
        'k' => push_padded(out, if hour == 0 { 24 } else { hour }, count),
        'K' => push_padded(out, hour % 12, count),
        'h' => push_padded(out, clock_hour_of_ampm(hour), count),
        'm' => push_padded(out, i64::from(dt.minute()), count),
        's' => push_padded(out, i64::from(dt.second()), count),
        'S' => {
            let digits = format!("{:09}", dt.nanosecond() % 1_000_000_000);
            out.push_str(digits.get(..count).unwrap_or(&digits));
        }
        'n' => push_padded(out, i64::from(dt.nanosecond() % 1_000_000_000), count),
        'N' => push_padded(out, nano_of_day(dt), count),
        'A' => push_padded(out, nano_of_day(dt) / 1_000_000, count),
        // Zone and offset letters, which a LocalDateTime cannot print.
        other => return Err(other),
    }
    Ok(())
}

fn format_simple_field(letter: char, count: usize, dt: &NaiveDateTime, out: &mut String) {
    let date = dt.date();
    let hour = i64::from(dt.hour());
    match letter {
        'G' => out.push_str(if date.year() > 0 { "AD" } else { "BC" }),
        'y' | 'Y' => {
            let year = if letter == 'y' {
                year_of_era(date.year())
            } else {
                year_of_era(us_week(date).0)
            };
            if count == 2 {
                push_padded(out, i64::from(year).rem_euclid(100), 2);
            } else {
                push_padded(out, i64::from(year), count);
            }
        }
        'M' | 'L' => match count {
            1 | 2 => push_padded(out, i64::from(date.month()), count),
            3 => out.push_str(MONTHS_SHORT[date.month0() as usize % 12]),
            _ => out.push_str(MONTHS_FULL[date.month0() as usize % 12]),
        },
        'd' => push_padded(out, i64::from(date.day()), count),
        'k' => push_padded(out, if hour == 0 { 24 } else { hour }, count),
        'H' => push_padded(out, hour, count),
        'm' => push_padded(out, i64::from(dt.minute()), count),
        's' => push_padded(out, i64::from(dt.second()), count),
        'S' => push_padded(
            out,
            i64::from((dt.nanosecond() % 1_000_000_000) / 1_000_000),
            count,
        ),
        'E' => {
            let day = date.weekday().num_days_from_monday() as usize % 7;
            out.push_str(if count >= 4 {
                DAYS_FULL[day]
            } else {
                DAYS_SHORT[day]
            });
        }
        'D' => push_padded(out, i64::from(date.ordinal()), count),
        'F' => push_padded(out, i64::from(date.day0() / 7 + 1), count),
        'w' => push_padded(out, i64::from(us_week(date).1), count),
        'W' => push_padded(out, i64::from(us_week_of_month(date)), count),
        'a' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
        'h' => push_padded(out, clock_hour_of_ampm(hour), count),
        'K' => push_padded(out, hour % 12, count),
        'z' => out.push_str(if count >= 4 {
            "Coordinated Universal Time"
        } else {
            "UTC"
        }),
        'Z' => out.push_str("+0000"),
        'X' => out.push('Z'),
        'u' => push_padded(out, i64::from(date.weekday().number_from_monday()), count),
        // Every other letter was rejected when the pattern was compiled.
        _ => {}
    }
}

/// Appends `value` zero-padded to `width` digits, after a minus sign if
/// negative.
fn push_padded(out: &mut String, value: i64, width: usize) {
    if value < 0 {
        out.push('-');
    }
    out.push_str(&format!("{:0width$}", value.unsigned_abs()));
}

/// Appends a year the way `DateTimeFormatter` prints `y`, `u` and `Y`: two
/// letters print the last two digits; four or more pad to the count and
/// print a `+` when the year needs more digits than that.
fn push_year(out: &mut String, year: i64, count: usize) {
    if count == 2 {
        push_padded(out, year.rem_euclid(100), 2);
        return;
    }
    if count >= 4 && year >= 0 && year.to_string().len() > count {
        out.push('+');
    }
    push_padded(out, year, count);
}

fn push_month(out: &mut String, month0: u32, count: usize) {
    let index = month0 as usize % 12;
    match count {
        1 | 2 => push_padded(out, i64::from(month0) + 1, count),
        3 => out.push_str(MONTHS_SHORT[index]),
        4 => out.push_str(MONTHS_FULL[index]),
        _ => out.push_str(MONTHS_FULL[index].get(..1).unwrap_or_default()),
    }
}

fn push_day_text(out: &mut String, date: NaiveDate, count: usize) {
    let index = date.weekday().num_days_from_monday() as usize % 7;
    match count {
        4 => out.push_str(DAYS_FULL[index]),
        5 => out.push_str(DAYS_FULL[index].get(..1).unwrap_or_default()),
        _ => out.push_str(DAYS_SHORT[index]),
    }
}

fn era_text(year: i32, count: usize) -> &'static str {
    let ad = year > 0;
    match (count, ad) {
        (4, true) => "Anno Domini",
        (4, false) => "Before Christ",
        (5, true) => "A",
        (5, false) => "B",
        (_, true) => "AD",
        (_, false) => "BC",
    }
}

fn year_of_era(year: i32) -> i32 {
    if year > 0 { year } else { 1 - year }
}

fn clock_hour_of_ampm(hour: i64) -> i64 {
    match hour % 12 {
        0 => 12,
        h => h,
    }
}

fn nano_of_day(dt: &NaiveDateTime) -> i64 {
    i64::from(dt.num_seconds_from_midnight()) * 1_000_000_000
        + i64::from(dt.nanosecond() % 1_000_000_000)
}

/// The US week-based year and week of that year of `date`: weeks start on
/// Sunday and week 1 is the week that contains January 1.
fn us_week(date: NaiveDate) -> (i32, u32) {
    let weekday = date.weekday().num_days_from_sunday();
    let days_to_saturday = i64::from(6 - weekday);
    let saturday = TimeDelta::try_days(days_to_saturday).and_then(|d| date.checked_add_signed(d));
    if saturday.is_some_and(|s| s.year() > date.year()) {
        return (date.year() + 1, 1);
    }
    let jan1_weekday = (weekday + 7 - date.ordinal0() % 7) % 7;
    (date.year(), (date.ordinal0() + jan1_weekday) / 7 + 1)
}

/// The US week of the month of `date` (week 1 contains the first day).
fn us_week_of_month(date: NaiveDate) -> u32 {
    let weekday = date.weekday().num_days_from_sunday();
    let first_weekday = (weekday + 7 - date.day0() % 7) % 7;
    (date.day0() + first_weekday) / 7 + 1
}

/// Builds a date-time the way a lenient `java.util.GregorianCalendar` does:
/// a field out of its range carries into the next larger one (month 13 is
/// January of the next year, 25:00 is 01:00 the next day).
pub(crate) fn lenient_datetime(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    nano: i64,
) -> Option<NaiveDateTime> {
    let months = year.checked_mul(12)?.checked_add(month.checked_sub(1)?)?;
    let first = NaiveDate::from_ymd_opt(
        i32::try_from(months.div_euclid(12)).ok()?,
        u32::try_from(months.rem_euclid(12) + 1).ok()?,
        1,
    )?;
    first
        .and_time(NaiveTime::MIN)
        .checked_add_signed(TimeDelta::try_days(day.checked_sub(1)?)?)?
        .checked_add_signed(TimeDelta::try_hours(hour)?)?
        .checked_add_signed(TimeDelta::try_minutes(minute)?)?
        .checked_add_signed(TimeDelta::try_seconds(second)?)?
        .checked_add_signed(TimeDelta::nanoseconds(nano))
}

/// How a numeric field parses: `min..=max` digits; a two-digit reduced year
/// adds `base`; a fraction scales its digits to nanoseconds.
#[derive(Debug, Clone, Copy)]
struct NumericSpec {
    min: usize,
    max: usize,
    base: Option<i64>,
    fraction: bool,
}

/// The numeric parse rule of a `DateTimeFormatter` pattern field, or `None`
/// when the field is text or not parsed by Riffle.
fn numeric_spec(letter: char, count: usize) -> Option<NumericSpec> {
    let spec = |min, max| NumericSpec {
        min,
        max,
        base: None,
        fraction: false,
    };
    match (letter, count) {
        ('y' | 'u', 2) => Some(NumericSpec {
            base: Some(2000),
            ..spec(2, 2)
        }),
        ('y' | 'u', 1) => Some(spec(1, 19)),
        ('y' | 'u', n) => Some(spec(n, 19)),
        ('M' | 'L' | 'd' | 'H' | 'h' | 'K' | 'k' | 'm' | 's', 1) => Some(spec(1, 19)),
        ('M' | 'L' | 'd' | 'H' | 'h' | 'K' | 'k' | 'm' | 's', 2) => Some(spec(2, 2)),
        ('D', 1) => Some(spec(1, 19)),
        ('D', 2) => Some(spec(2, 3)),
        ('D', 3) => Some(spec(3, 3)),
        ('S', n) => Some(NumericSpec {
            fraction: true,
            ..spec(n, n)
        }),
        _ => None,
    }
}

/// The width of an item that takes part in adjacent value parsing as a
/// fixed-width follower (Java's `subsequentWidth`).
fn fixed_width(item: &Item) -> Option<usize> {
    match item {
        Item::Field { letter, count } => {
            numeric_spec(*letter, *count).and_then(|s| (s.min == s.max).then_some(s.min))
        }
        Item::Fraction {
            min,
            max,
            decimal_point: false,
        } if min == max => Some(*min),
        _ => None,
    }
}

/// Fields read from the text, before resolution.
#[derive(Debug, Clone, Default)]
struct Fields {
    era: Option<i64>,
    year_of_era: Option<i64>,
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    /// ISO day of week, Monday = 1.
    day_of_week: Option<i64>,
    hour_of_day: Option<i64>,
    clock_hour_of_day: Option<i64>,
    hour_of_ampm: Option<i64>,
    clock_hour_of_ampm: Option<i64>,
    ampm: Option<i64>,
    minute: Option<i64>,
    second: Option<i64>,
    nano: Option<i64>,
}

/// Stores a parsed value; a second, different value for the same field is a
/// conflict, which fails the parse.
fn store(slot: &mut Option<i64>, value: i64) -> Option<()> {
    match slot {
        Some(old) if *old != value => None,
        _ => {
            *slot = Some(value);
            Some(())
        }
    }
}

fn parse_items(items: &[Item], text: &str, pos: &mut usize, fields: &mut Fields) -> Option<()> {
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::Literal(literal) => {
                if !text.get(*pos..)?.starts_with(literal.as_str()) {
                    return None;
                }
                *pos += literal.len();
            }
            Item::Optional(inner) => {
                let (saved_pos, saved_fields) = (*pos, fields.clone());
                if parse_items(inner, text, pos, fields).is_none() {
                    *pos = saved_pos;
                    *fields = saved_fields;
                }
            }
            Item::Fraction {
                min,
                max,
                decimal_point,
            } => parse_fraction(text, pos, *min, *max, *decimal_point, fields)?,
            Item::Field { letter, count } => {
                if let Some(spec) = numeric_spec(*letter, *count) {
                    // A variable-width field leaves room for the fixed-width
                    // numeric fields right after it ("yyyyMMdd").
                    let reserved = if spec.min == spec.max {
                        0
                    } else {
                        items
                            .get(i + 1..)
                            .unwrap_or_default()
                            .iter()
                            .map_while(fixed_width)
                            .sum()
                    };
                    let (value, digits) = parse_digits(text, pos, spec.min, spec.max, reserved)?;
                    let value = if spec.fraction {
                        value.checked_mul(10_i64.checked_pow(9_u32.checked_sub(digits)?)?)?
                    } else {
                        value + spec.base.unwrap_or(0)
                    };
                    store_numeric(*letter, value, fields)?;
                } else {
                    parse_text_field(*letter, *count, text, pos, fields)?;
                }
            }
        }
    }
    Some(())
}

fn store_numeric(letter: char, value: i64, fields: &mut Fields) -> Option<()> {
    let slot = match letter {
        'y' => &mut fields.year_of_era,
        'u' => &mut fields.year,
        'M' | 'L' => &mut fields.month,
        'd' => &mut fields.day,
        'D' => &mut fields.day_of_year,
        'H' => &mut fields.hour_of_day,
        'k' => &mut fields.clock_hour_of_day,
        'K' => &mut fields.hour_of_ampm,
        'h' => &mut fields.clock_hour_of_ampm,
        'm' => &mut fields.minute,
        's' => &mut fields.second,
        'S' => &mut fields.nano,
        _ => return None,
    };
    store(slot, value)
}

/// Reads `min..=max` ASCII digits, leaving `reserved` digits for the fields
/// that follow; returns the value and the number of digits read.
fn parse_digits(
    text: &str,
    pos: &mut usize,
    min: usize,
    max: usize,
    reserved: usize,
) -> Option<(i64, u32)> {
    let rest = text.get(*pos..)?.as_bytes();
    let available = rest
        .iter()
        .take(max + reserved)
        .take_while(|b| b.is_ascii_digit())
        .count();
    let take = if reserved > 0 {
        available.saturating_sub(reserved).max(min)
    } else {
        available
    };
    if take < min || take > available || take > 18 {
        return None;
    }
    let digits = rest.get(..take)?;
    let value = digits
        .iter()
        .fold(0_i64, |acc, d| acc * 10 + i64::from(d - b'0'));
    *pos += take;
    Some((value, u32::try_from(take).ok()?))
}

fn parse_fraction(
    text: &str,
    pos: &mut usize,
    min: usize,
    max: usize,
    decimal_point: bool,
    fields: &mut Fields,
) -> Option<()> {
    let rest = text.get(*pos..)?;
    if rest.is_empty() || (decimal_point && !rest.starts_with('.')) {
        // The whole fraction is absent: fine if it may be empty.
        return (min == 0).then_some(());
    }
    let start = *pos + usize::from(decimal_point);
    let digits = text
        .get(start..)?
        .bytes()
        .take(max)
        .take_while(u8::is_ascii_digit)
        .count();
    if digits < min {
        return None;
    }
    let mut nano = 0_i64;
    for (i, d) in text.get(start..start + digits)?.bytes().enumerate() {
        let scale = 10_i64.checked_pow(8_u32.checked_sub(u32::try_from(i).ok()?)?)?;
        nano += i64::from(d - b'0') * scale;
    }
    *pos = start + digits;
    store(&mut fields.nano, nano)
}

fn parse_text_field(
    letter: char,
    count: usize,
    text: &str,
    pos: &mut usize,
    fields: &mut Fields,
) -> Option<()> {
    let rest = text.get(*pos..)?;
    let (slot, choices): (&mut Option<i64>, Vec<(&str, i64)>) = match (letter, count) {
        ('M' | 'L', 3) => (&mut fields.month, numbered(&MONTHS_SHORT, 1)),
        ('M' | 'L', 4) => (&mut fields.month, numbered(&MONTHS_FULL, 1)),
        ('E', 1..=3) => (&mut fields.day_of_week, numbered(&DAYS_SHORT, 1)),
        ('E', 4) => (&mut fields.day_of_week, numbered(&DAYS_FULL, 1)),
        ('a', 1) => (&mut fields.ampm, vec![("AM", 0), ("PM", 1)]),
        ('G', 1..=3) => (&mut fields.era, vec![("AD", 1), ("BC", 0)]),
        ('G', 4) => (
            &mut fields.era,
            vec![("Anno Domini", 1), ("Before Christ", 0)],
        ),
        _ => return None,
    };
    // Java tries the longest text first.
    let (matched, value) = choices
        .into_iter()
        .filter(|(t, _)| rest.starts_with(t))
        .max_by_key(|(t, _)| t.len())?;
    *pos += matched.len();
    store(slot, value)
}

fn numbered<'a>(names: &[&'a str], first: i64) -> Vec<(&'a str, i64)> {
    names.iter().copied().zip(first..).collect()
}

impl Fields {
    /// Resolves the parsed fields as `ResolverStyle.SMART` does, then builds
    /// the value as Flink's `DateTimeUtils.fromTemporalAccessor` does.
    fn resolve(&self) -> Parsed {
        match self.resolve_fields() {
            Some(resolved) => resolved.build(),
            None => Parsed::Mismatch,
        }
    }

    fn resolve_fields(&self) -> Option<Resolved> {
        let mut year = self.year;
        if let Some(yoe) = self.year_of_era {
            if yoe < 1 {
                return None;
            }
            let proleptic = if self.era == Some(0) { 1 - yoe } else { yoe };
            store(&mut year, proleptic)?;
        }
        let in_range = |v: Option<i64>, lo: i64, hi: i64| v.is_none_or(|v| (lo..=hi).contains(&v));
        if !in_range(self.month, 1, 12)
            || !in_range(self.day, 1, 31)
            || !in_range(self.day_of_year, 1, 366)
        {
            return None;
        }

        let mut date = match (year, self.month, self.day) {
            (Some(y), Some(m), Some(d)) => {
                let y = i32::try_from(y).ok()?;
                let m = u32::try_from(m).ok()?;
                // SMART clamps a day past the end of the month to its last day.
                let last = last_day_of_month(y, m)?;
                let date = NaiveDate::from_ymd_opt(y, m, u32::try_from(d).ok()?.min(last))?;
                if let Some(doy) = self.day_of_year
                    && i64::from(date.ordinal()) != doy
                {
                    return None;
                }
                Some(date)
            }
            (Some(y), None, None) => match self.day_of_year {
                Some(doy) => Some(NaiveDate::from_yo_opt(
                    i32::try_from(y).ok()?,
                    u32::try_from(doy).ok()?,
                )?),
                None => None,
            },
            _ => None,
        };
        if let (Some(d), Some(dow)) = (date, self.day_of_week)
            && i64::from(d.weekday().number_from_monday()) != dow
        {
            return None;
        }

        let mut hour = self.hour_of_day;
        if let Some(ch) = self.clock_hour_of_day {
            if ch != 0 && !(1..=24).contains(&ch) {
                return None;
            }
            store(&mut hour, if ch == 24 { 0 } else { ch })?;
        }
        let mut hour_of_ampm = self.hour_of_ampm;
        if let Some(ch) = self.clock_hour_of_ampm {
            if ch != 0 && !(1..=12).contains(&ch) {
                return None;
            }
            store(&mut hour_of_ampm, if ch == 12 { 0 } else { ch })?;
        }
        // Without AM/PM an hour of the half day stays unresolved, and Flink
        // then reads the hour of day as absent.
        if let (Some(ampm), Some(h)) = (self.ampm, hour_of_ampm) {
            if !(0..=11).contains(&h) {
                return None;
            }
            store(&mut hour, ampm * 12 + h)?;
        }

        let (mut minute, mut second, mut nano) = (self.minute, self.second, self.nano);
        if let Some(h) = hour {
            let defaultable = !((minute.is_none() && (second.is_some() || nano.is_some()))
                || (minute.is_some() && second.is_none() && nano.is_some()));
            if defaultable {
                let (m, s, n) = (minute.unwrap_or(0), second.unwrap_or(0), nano.unwrap_or(0));
                if h == 24 && m == 0 && s == 0 && n == 0 {
                    // SMART reads 24:00 as midnight of the next day.
                    hour = Some(0);
                    date = date.and_then(|d| d.succ_opt());
                } else if !(0..=23).contains(&h) || !(0..=59).contains(&m) || !(0..=59).contains(&s)
                {
                    return None;
                }
                (minute, second, nano) = (Some(m), Some(s), Some(n));
            }
        }

        Some(Resolved {
            date,
            year,
            month: self.month,
            day: self.day,
            hour,
            minute,
            second,
            nano,
        })
    }
}

/// Fields after resolution; `date` is set when year, month and day resolved.
struct Resolved {
    date: Option<NaiveDate>,
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    hour: Option<i64>,
    minute: Option<i64>,
    second: Option<i64>,
    nano: Option<i64>,
}

impl Resolved {
    fn build(&self) -> Parsed {
        self.try_build().map_or(Parsed::Invalid, Parsed::Value)
    }

    fn try_build(&self) -> Option<NaiveDateTime> {
        let date = match self.date {
            Some(date) => date,
            None => NaiveDate::from_ymd_opt(
                i32::try_from(self.year.unwrap_or(1970)).ok()?,
                u32::try_from(self.month.unwrap_or(1)).ok()?,
                u32::try_from(self.day.unwrap_or(1)).ok()?,
            )?,
        };
        // TO_TIMESTAMP has precision 3: the fraction is truncated to millis.
        let nano = self.nano.unwrap_or(0) / 1_000_000 * 1_000_000;
        let time = NaiveTime::from_hms_nano_opt(
            u32::try_from(self.hour.unwrap_or(0)).ok()?,
            u32::try_from(self.minute.unwrap_or(0)).ok()?,
            u32::try_from(self.second.unwrap_or(0)).ok()?,
            u32::try_from(nano).ok()?,
        )?;
        Some(date.and_time(time))
    }
}

fn last_day_of_month(year: i32, month: u32) -> Option<u32> {
    let (next_year, next_month) = if month == 12 {
        (year.checked_add(1)?, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(next_year, next_month, 1)?
        .pred_opt()
        .map(|d| d.day())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_common::Result;

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    fn fmt(pattern: &str, dialect: Dialect, value: &str) -> Result<String, String> {
        let compiled = JavaPattern::compile(pattern, dialect)?;
        let mut out = String::new();
        compiled.format(&dt(value), &mut out)?;
        Ok(out)
    }

    fn dtf(pattern: &str, value: &str) -> String {
        fmt(pattern, Dialect::DateTimeFormatter, value).unwrap()
    }

    fn sdf(pattern: &str, value: &str) -> String {
        fmt(pattern, Dialect::SimpleDateFormat, value).unwrap()
    }

    #[test]
    fn formats_common_fields() -> Result<()> {
        let v = "2024-03-05 07:08:09.123456789";
        assert_eq!(dtf("yyyy-MM-dd HH:mm:ss", v), "2024-03-05 07:08:09");
        assert_eq!(dtf("yy M d H m s", v), "24 3 5 7 8 9");
        assert_eq!(dtf("SSS S SSSSSS", v), "123 1 123456");
        assert_eq!(
            dtf("hh a, EEE EEEE MMM MMMM", v),
            "07 AM, Tue Tuesday Mar March"
        );
        assert_eq!(dtf("h:mm a", "2024-03-05 00:30:00"), "12:30 AM");
        assert_eq!(dtf("h:mm a", "2024-03-05 13:30:00"), "1:30 PM");
        assert_eq!(dtf("k K", "2024-03-05 00:30:00"), "24 0");
        assert_eq!(dtf("D DDD Q QQQ QQQQ", v), "65 065 1 Q1 1st quarter");
        assert_eq!(dtf("G GGGG MMMMM EEEEE", v), "AD Anno Domini M T");
        assert_eq!(dtf("y yyy yyyyy uuuu", v), "2024 2024 02024 2024");
        Ok(())
    }

    #[test]
    fn formats_quotes_and_literals() -> Result<()> {
        let v = "2024-03-05 07:08:09";
        assert_eq!(dtf("yyyy'T'HH", v), "2024T07");
        assert_eq!(dtf("'at' HH 'o''clock'", v), "at 07 o'clock");
        assert_eq!(dtf("HH''mm", v), "07'08");
        assert_eq!(dtf("yyyy/MM/dd-HH.mm,ss", v), "2024/03/05-07.08,09");
        assert_eq!(dtf("yyyy年MM月", v), "2024年03月");
        Ok(())
    }

    #[test]
    fn optional_sections_print_when_available() -> Result<()> {
        let v = "2024-03-05 07:08:09";
        assert_eq!(dtf("yyyy[-MM]", v), "2024-03");
        // An offset cannot be printed for a LocalDateTime: the section is dropped.
        assert_eq!(dtf("HH:mm[ XXX]", v), "07:08");
        Ok(())
    }

    #[test]
    fn rejects_bad_patterns() -> Result<()> {
        let err = |p: &str, d| JavaPattern::compile(p, d).unwrap_err();
        assert_eq!(
            err("yyyy-bb", Dialect::DateTimeFormatter),
            "Unknown pattern letter: b"
        );
        assert_eq!(
            err("ddd", Dialect::DateTimeFormatter),
            "Too many pattern letters: d"
        );
        assert_eq!(
            err("'abc", Dialect::DateTimeFormatter),
            "Pattern ends with an incomplete string literal"
        );
        assert_eq!(
            err("yyyy#", Dialect::DateTimeFormatter),
            "Pattern includes reserved character: '#'"
        );
        assert_eq!(
            err("yyyy-ii", Dialect::SimpleDateFormat),
            "Illegal pattern character 'i'"
        );
        // A zone letter compiles but cannot format a TIMESTAMP.
        assert!(fmt("HH z", Dialect::DateTimeFormatter, "2024-03-05 07:08:09").is_err());
        Ok(())
    }

    #[test]
    fn simple_date_format_differences() -> Result<()> {
        let v = "2024-03-05 07:08:09.123";
        // S is milliseconds, padded; any letter count is accepted.
        assert_eq!(sdf("S SSSS ddd", v), "123 0123 005");
        assert_eq!(
            sdf("yyyy-MM-dd HH:mm:ss z Z X", v),
            "2024-03-05 07:08:09 UTC +0000 Z"
        );
        assert_eq!(sdf("EEEE MMMMM u F", v), "Tuesday March 2 1");
        assert_eq!(sdf("[yyyy]", v), "[2024]");
        Ok(())
    }

    #[test]
    fn us_week_fields() -> Result<()> {
        // 2024-12-31 is a Tuesday in the week that holds 2025-01-01.
        assert_eq!(dtf("YYYY-ww", "2024-12-31 00:00:00"), "2025-01");
        assert_eq!(dtf("YYYY-ww", "2022-01-01 00:00:00"), "2022-01");
        assert_eq!(dtf("YYYY-ww", "2022-01-02 00:00:00"), "2022-02");
        assert_eq!(dtf("W e c", "2024-03-05 00:00:00"), "2 3 3");
        Ok(())
    }

    fn parse(pattern: &str, text: &str) -> Parsed {
        let compiled = JavaPattern::compile(pattern, Dialect::DateTimeFormatter).unwrap();
        compiled.check_parsable().unwrap();
        compiled.parse(text)
    }

    #[test]
    fn parses_strictly() -> Result<()> {
        assert_eq!(
            parse("yyyy-MM-dd HH:mm:ss", "2024-03-05 07:08:09"),
            Parsed::Value(dt("2024-03-05 07:08:09"))
        );
        assert_eq!(
            parse("yyyy-MM-dd HH:mm:ss.SSS", "2024-03-05 07:08:09.123"),
            Parsed::Value(dt("2024-03-05 07:08:09.123"))
        );
        // Fixed-width fields need their exact digit count.
        assert_eq!(parse("yyyy-MM-dd", "2024-3-05"), Parsed::Mismatch);
        assert_eq!(
            parse("yyyy-M-d", "2024-3-5"),
            Parsed::Value(dt("2024-03-05 00:00:00"))
        );
        // Trailing text fails.
        assert_eq!(parse("yyyy-MM-dd", "2024-03-05 x"), Parsed::Mismatch);
        // Adjacent numeric fields.
        assert_eq!(
            parse("yyyyMMddHHmmss", "20240305070809"),
            Parsed::Value(dt("2024-03-05 07:08:09"))
        );
        assert_eq!(
            parse("yyMMdd", "240305"),
            Parsed::Value(dt("2024-03-05 00:00:00"))
        );
        // Text fields are case-sensitive.
        assert_eq!(
            parse("dd MMM yyyy hh:mm a", "05 Mar 2024 07:08 PM"),
            Parsed::Value(dt("2024-03-05 19:08:00"))
        );
        assert_eq!(parse("dd MMM yyyy", "05 mar 2024"), Parsed::Mismatch);
        Ok(())
    }

    #[test]
    fn resolves_like_smart() -> Result<()> {
        // A day past the end of the month is clamped.
        assert_eq!(
            parse("yyyy-MM-dd", "2023-02-31"),
            Parsed::Value(dt("2023-02-28 00:00:00"))
        );
        assert_eq!(parse("yyyy-MM-dd", "2023-13-01"), Parsed::Mismatch);
        assert_eq!(parse("HH:mm", "25:00"), Parsed::Mismatch);
        // Missing fields default to 1970-01-01 00:00.
        assert_eq!(
            parse("HH:mm", "10:30"),
            Parsed::Value(dt("1970-01-01 10:30:00"))
        );
        assert_eq!(
            parse("yyyy", "2024"),
            Parsed::Value(dt("2024-01-01 00:00:00"))
        );
        // An hour of the half day without AM/PM does not resolve.
        assert_eq!(
            parse("hh:mm", "05:30"),
            Parsed::Value(dt("1970-01-01 00:30:00"))
        );
        // A day of week that contradicts the date conflicts.
        assert_eq!(parse("EEE yyyy-MM-dd", "Mon 2024-03-05"), Parsed::Mismatch);
        assert_eq!(
            parse("EEE yyyy-MM-dd", "Tue 2024-03-05"),
            Parsed::Value(dt("2024-03-05 00:00:00"))
        );
        // Fractions are truncated to milliseconds.
        assert_eq!(
            parse("ss.SSSSSS", "01.123999"),
            Parsed::Value(dt("1970-01-01 00:00:01.123"))
        );
        Ok(())
    }

    #[test]
    fn default_timestamp_format() -> Result<()> {
        let p = JavaPattern::flink_default_timestamp();
        assert_eq!(
            p.parse("2024-03-05 07:08:09"),
            Parsed::Value(dt("2024-03-05 07:08:09"))
        );
        assert_eq!(
            p.parse("2024-3-5 7:8:9.1234"),
            Parsed::Value(dt("2024-03-05 07:08:09.123"))
        );
        assert_eq!(
            p.parse("2024-03-05"),
            Parsed::Value(dt("2024-03-05 00:00:00"))
        );
        assert_eq!(p.parse("2024-03-05 07:08"), Parsed::Mismatch);
        assert_eq!(p.parse("2024/03/05"), Parsed::Mismatch);
        Ok(())
    }

    #[test]
    fn lenient_rolls_over() -> Result<()> {
        assert_eq!(
            lenient_datetime(2023, 13, 1, 0, 0, 0, 0),
            Some(dt("2024-01-01 00:00:00"))
        );
        assert_eq!(
            lenient_datetime(2023, 2, 30, 25, 0, 0, 0),
            Some(dt("2023-03-03 01:00:00"))
        );
        assert_eq!(
            lenient_datetime(2023, 0, 1, 0, -1, 0, 0),
            Some(dt("2022-11-30 23:59:00"))
        );
        Ok(())
    }
}

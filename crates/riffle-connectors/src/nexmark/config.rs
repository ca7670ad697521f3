//! Options of the `nexmark` connector.
//!
//! The keys and defaults are those of Flink's Nexmark table source, so a
//! `CREATE TABLE ... WITH ('connector' = 'nexmark', ...)` statement written for
//! Flink works here unchanged. Options that Flink parses but never uses
//! (`next-event.rate`, `rate.shape`, `rate.period`, `rate.limited`) are still
//! accepted and validated, so such DDL is not rejected; they have no effect on
//! the generated data. Two options are our own: `seed` makes the random fields
//! reproducible and `base-time` pins the event time of event number 0, where
//! Flink uses the wall clock at planning time.

use std::collections::BTreeMap;
use std::time::Duration;

/// Every option key the connector accepts, besides `connector` itself.
pub const OPTION_KEYS: &[&str] = &[
    "first-event.rate",
    "next-event.rate",
    "events.num",
    "person.proportion",
    "auction.proportion",
    "bid.proportion",
    "bid.hot-ratio.auctions",
    "bid.hot-ratio.bidders",
    "auction.hot-ratio.sellers",
    "person.avg-size",
    "auction.avg-size",
    "bid.avg-size",
    "keep-alive",
    "stop-at",
    "max-emit-speed",
    "rate.shape",
    "rate.period",
    "rate.limited",
    "seed",
    "base-time",
];

/// Default `base-time`: `2015-07-15 00:00:00.000` UTC in epoch milliseconds.
pub const DEFAULT_BASE_TIME_MS: i64 = 1_436_918_400_000;

/// Shape of the event rate over time (`rate.shape`); parsed but, as in Flink,
/// not used for timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateShape {
    /// A square wave between the first and the next event rate.
    Square,
    /// A sine wave between the first and the next event rate.
    Sine,
}

/// The parsed options of one `nexmark` table.
#[derive(Debug, Clone, PartialEq)]
pub struct NexmarkConfig {
    /// `first-event.rate`: events per second over all splits; sets the inter-event delay.
    pub first_event_rate: u32,
    /// `next-event.rate`: parsed for compatibility, unused.
    pub next_event_rate: u32,
    /// `events.num`: total events over all splits; 0 means effectively unbounded.
    pub events_num: u64,
    /// `person.proportion`: persons per `total proportion` events.
    pub person_proportion: u32,
    /// `auction.proportion`: auctions per `total proportion` events.
    pub auction_proportion: u32,
    /// `bid.proportion`: bids per `total proportion` events.
    pub bid_proportion: u32,
    /// `bid.hot-ratio.auctions`: a bid names a hot auction with P = 1 - 1/ratio.
    pub hot_auction_ratio: u32,
    /// `bid.hot-ratio.bidders`: a bid comes from a hot bidder with P = 1 - 1/ratio.
    pub hot_bidders_ratio: u32,
    /// `auction.hot-ratio.sellers`: an auction has a hot seller with P = 1 - 1/ratio.
    pub hot_sellers_ratio: u32,
    /// `person.avg-size` in bytes: the `extra` field pads persons toward it.
    pub person_avg_size: u32,
    /// `auction.avg-size` in bytes: the `extra` field pads auctions toward it.
    pub auction_avg_size: u32,
    /// `bid.avg-size` in bytes: the `extra` field pads bids toward it.
    pub bid_avg_size: u32,
    /// `keep-alive`: the source stays running after its last event.
    pub keep_alive: bool,
    /// `stop-at`: when non-negative, stop after this many events (over all splits).
    pub stop_at: i64,
    /// `max-emit-speed`: emit as fast as possible instead of pacing by event time.
    pub max_emit_speed: bool,
    /// `rate.shape`: parsed for compatibility, unused.
    pub rate_shape: RateShape,
    /// `rate.period`: parsed for compatibility, unused.
    pub rate_period: Duration,
    /// `rate.limited`: parsed for compatibility, unused.
    pub rate_limited: bool,
    /// `seed`: seeds every random field, so equal seeds give equal data.
    pub seed: u64,
    /// `base-time`: event time of event number 0, in epoch milliseconds (UTC).
    pub base_time_ms: i64,
}

impl Default for NexmarkConfig {
    fn default() -> Self {
        Self {
            first_event_rate: 10_000,
            next_event_rate: 10_000,
            events_num: 0,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            hot_auction_ratio: 2,
            hot_bidders_ratio: 4,
            hot_sellers_ratio: 4,
            person_avg_size: 200,
            auction_avg_size: 500,
            bid_avg_size: 100,
            keep_alive: false,
            stop_at: -1,
            max_emit_speed: true,
            rate_shape: RateShape::Square,
            rate_period: Duration::from_secs(600),
            rate_limited: false,
            seed: 0,
            base_time_ms: DEFAULT_BASE_TIME_MS,
        }
    }
}

impl NexmarkConfig {
    /// Parses the WITH options of a `nexmark` table.
    ///
    /// Missing keys take Flink's defaults. The `connector` key is ignored. Any
    /// other unknown key, or a value that does not parse, is an error whose
    /// message names the key (and, for unknown keys, lists the allowed ones).
    pub fn from_options(options: &BTreeMap<String, String>) -> Result<NexmarkConfig, String> {
        let mut cfg = NexmarkConfig::default();
        for (key, value) in options {
            if key == "connector" {
                continue;
            }
            cfg.apply(key, value)?;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Sum of the three proportions: the length of one block of event ids.
    pub fn total_proportion(&self) -> u64 {
        u64::from(self.person_proportion)
            + u64::from(self.auction_proportion)
            + u64::from(self.bid_proportion)
    }

    /// Sets the field that `key` names from its textual `value`.
    fn apply(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "first-event.rate" => self.first_event_rate = parse_int(key, value)?,
            "next-event.rate" => self.next_event_rate = parse_int(key, value)?,
            "events.num" => self.events_num = parse_long(key, value)?,
            "person.proportion" => self.person_proportion = parse_int(key, value)?,
            "auction.proportion" => self.auction_proportion = parse_int(key, value)?,
            "bid.proportion" => self.bid_proportion = parse_int(key, value)?,
            "bid.hot-ratio.auctions" => self.hot_auction_ratio = parse_int(key, value)?,
            "bid.hot-ratio.bidders" => self.hot_bidders_ratio = parse_int(key, value)?,
            "auction.hot-ratio.sellers" => self.hot_sellers_ratio = parse_int(key, value)?,
            "person.avg-size" => self.person_avg_size = parse_memory_size(key, value)?,
            "auction.avg-size" => self.auction_avg_size = parse_memory_size(key, value)?,
            "bid.avg-size" => self.bid_avg_size = parse_memory_size(key, value)?,
            "keep-alive" => self.keep_alive = parse_bool(key, value)?,
            "stop-at" => self.stop_at = parse_signed_long(key, value)?,
            "max-emit-speed" => self.max_emit_speed = parse_bool(key, value)?,
            "rate.shape" => self.rate_shape = parse_rate_shape(key, value)?,
            "rate.period" => self.rate_period = parse_duration(key, value)?,
            "rate.limited" => self.rate_limited = parse_bool(key, value)?,
            "seed" => self.seed = parse_seed(key, value)?,
            "base-time" => self.base_time_ms = parse_base_time(key, value)?,
            _ => return Err(unknown_key_message(key)),
        }
        Ok(())
    }

    /// Rejects combinations the generator cannot run with.
    fn validate(&self) -> Result<(), String> {
        if self.first_event_rate == 0 {
            return Err(
                "Invalid value for option 'first-event.rate': expected a positive integer (int)"
                    .into(),
            );
        }
        if self.total_proportion() == 0 {
            return Err("Invalid options 'person.proportion', 'auction.proportion', 'bid.proportion': at least one must be positive".into());
        }
        for (key, ratio) in [
            ("bid.hot-ratio.auctions", self.hot_auction_ratio),
            ("bid.hot-ratio.bidders", self.hot_bidders_ratio),
            ("auction.hot-ratio.sellers", self.hot_sellers_ratio),
        ] {
            if ratio == 0 {
                return Err(format!(
                    "Invalid value '0' for option '{key}': expected a positive integer (int)"
                ));
            }
        }
        Ok(())
    }
}

/// The error for a key that is not a `nexmark` option.
fn unknown_key_message(key: &str) -> String {
    format!(
        "Unsupported option '{key}' for connector 'nexmark'. Supported options: connector, {}",
        OPTION_KEYS.join(", ")
    )
}

/// The error for a value that does not parse as `expected`.
fn bad_value(key: &str, value: &str, expected: &str) -> String {
    format!("Invalid value '{value}' for option '{key}': expected {expected}")
}

/// Parses a non-negative Java `int`.
fn parse_int(key: &str, value: &str) -> Result<u32, String> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|v| i32::try_from(*v).is_ok())
        .ok_or_else(|| bad_value(key, value, "a non-negative integer (int)"))
}

/// Parses a non-negative Java `long`.
fn parse_long(key: &str, value: &str) -> Result<u64, String> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|v| i64::try_from(*v).is_ok())
        .ok_or_else(|| bad_value(key, value, "a non-negative integer (long)"))
}

/// Parses a signed Java `long`.
fn parse_signed_long(key: &str, value: &str) -> Result<i64, String> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| bad_value(key, value, "an integer (long)"))
}

/// Parses the seed: any unsigned 64-bit integer, or a negative `long`
/// taken as its two's complement bits.
fn parse_seed(key: &str, value: &str) -> Result<u64, String> {
    let v = value.trim();
    v.parse::<u64>()
        .or_else(|_| v.parse::<i64>().map(|s| s as u64))
        .map_err(|_| bad_value(key, value, "an integer (u64)"))
}

/// Parses a boolean the way Flink does: `true` or `false`, any case.
fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad_value(key, value, "a boolean (true or false)")),
    }
}

/// Parses `rate.shape`, case-insensitively.
fn parse_rate_shape(key: &str, value: &str) -> Result<RateShape, String> {
    match value.trim().to_ascii_uppercase().as_str() {
        "SQUARE" => Ok(RateShape::Square),
        "SINE" => Ok(RateShape::Sine),
        _ => Err(bad_value(key, value, "one of SQUARE, SINE")),
    }
}

/// Splits `"<digits><spaces><unit>"` into its number and lower-cased unit.
fn split_number_unit(value: &str) -> Option<(u64, String)> {
    let v = value.trim();
    let digits_end = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let number = v.get(..digits_end)?.parse::<u64>().ok()?;
    let unit = v.get(digits_end..)?.trim().to_ascii_lowercase();
    Some((number, unit))
}

/// Parses a Flink `MemorySize` (`200`, `200b`, `1kb`, `2 mb`, ...) into bytes
/// that fit a Java `int`.
fn parse_memory_size(key: &str, value: &str) -> Result<u32, String> {
    let expected = "a memory size such as 200b, 1kb or 2mb";
    let (number, unit) = split_number_unit(value).ok_or_else(|| bad_value(key, value, expected))?;
    let multiplier: u64 = match unit.as_str() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kibibytes" => 1 << 10,
        "m" | "mb" | "mebibytes" => 1 << 20,
        "g" | "gb" | "gibibytes" => 1 << 30,
        "t" | "tb" | "tebibytes" => 1 << 40,
        _ => return Err(bad_value(key, value, expected)),
    };
    number
        .checked_mul(multiplier)
        .and_then(|bytes| u32::try_from(bytes).ok())
        .filter(|bytes| i32::try_from(*bytes).is_ok())
        .ok_or_else(|| bad_value(key, value, "a memory size below 2 GiB"))
}

/// Parses a Flink `Duration` (`600 s`, `10 min`, `500ms`; no unit means milliseconds).
fn parse_duration(key: &str, value: &str) -> Result<Duration, String> {
    let expected = "a duration such as 600 s, 10 min or 500 ms";
    let (number, unit) = split_number_unit(value).ok_or_else(|| bad_value(key, value, expected))?;
    let nanos_per_unit: u128 = match unit.as_str() {
        "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => 1,
        "us" | "µs" | "micro" | "micros" | "microsecond" | "microseconds" => 1_000,
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1_000_000,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000_000,
        "m" | "min" | "minute" | "minutes" => 60_000_000_000,
        "h" | "hour" | "hours" => 3_600_000_000_000,
        "d" | "day" | "days" => 86_400_000_000_000,
        _ => return Err(bad_value(key, value, expected)),
    };
    let nanos = u128::from(number) * nanos_per_unit;
    let secs = u64::try_from(nanos / 1_000_000_000)
        .map_err(|_| bad_value(key, value, "a shorter duration"))?;
    // The remainder is below 10^9 and so always fits a u32.
    let sub = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, sub))
}

/// Parses `base-time`: epoch milliseconds, or `yyyy-MM-dd HH:mm:ss[.SSS]` in UTC.
fn parse_base_time(key: &str, value: &str) -> Result<i64, String> {
    let v = value.trim();
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms);
    }
    chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f")
        .map(|t| t.and_utc().timestamp_millis())
        .map_err(|_| {
            bad_value(
                key,
                value,
                "epoch milliseconds or a timestamp 'yyyy-MM-dd HH:mm:ss[.SSS]'",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_flink() {
        let cfg = NexmarkConfig::from_options(&opts(&[("connector", "nexmark")])).unwrap();
        assert_eq!(cfg, NexmarkConfig::default());
        assert_eq!(cfg.first_event_rate, 10_000);
        assert_eq!(cfg.total_proportion(), 50);
        assert_eq!(cfg.stop_at, -1);
        assert!(cfg.max_emit_speed);
        assert_eq!(cfg.rate_period, Duration::from_secs(600));
    }

    #[test]
    fn default_base_time_is_2015_07_15() {
        let parsed = parse_base_time("base-time", "2015-07-15 00:00:00.000").unwrap();
        assert_eq!(parsed, DEFAULT_BASE_TIME_MS);
        assert_eq!(
            parse_base_time("base-time", "2015-07-15 00:00:01").unwrap(),
            DEFAULT_BASE_TIME_MS + 1000
        );
        assert_eq!(parse_base_time("base-time", "12345").unwrap(), 12345);
        assert!(parse_base_time("base-time", "yesterday").is_err());
    }

    #[test]
    fn parses_every_key() {
        let cfg = NexmarkConfig::from_options(&opts(&[
            ("connector", "nexmark"),
            ("first-event.rate", "10000000"),
            ("next-event.rate", "10000000"),
            ("events.num", "100000000"),
            ("person.proportion", "2"),
            ("auction.proportion", "4"),
            ("bid.proportion", "44"),
            ("bid.hot-ratio.auctions", "3"),
            ("bid.hot-ratio.bidders", "5"),
            ("auction.hot-ratio.sellers", "6"),
            ("person.avg-size", "1kb"),
            ("auction.avg-size", "2 KB"),
            ("bid.avg-size", "200b"),
            ("keep-alive", "TRUE"),
            ("stop-at", "150000000"),
            ("max-emit-speed", "false"),
            ("rate.shape", "sine"),
            ("rate.period", "10 min"),
            ("rate.limited", "true"),
            ("seed", "42"),
            ("base-time", "1600000000000"),
        ]))
        .unwrap();
        assert_eq!(cfg.first_event_rate, 10_000_000);
        assert_eq!(cfg.events_num, 100_000_000);
        assert_eq!(cfg.total_proportion(), 50);
        assert_eq!(cfg.hot_sellers_ratio, 6);
        assert_eq!(cfg.person_avg_size, 1024);
        assert_eq!(cfg.auction_avg_size, 2048);
        assert_eq!(cfg.bid_avg_size, 200);
        assert!(cfg.keep_alive);
        assert_eq!(cfg.stop_at, 150_000_000);
        assert!(!cfg.max_emit_speed);
        assert_eq!(cfg.rate_shape, RateShape::Sine);
        assert_eq!(cfg.rate_period, Duration::from_secs(600));
        assert!(cfg.rate_limited);
        assert_eq!(cfg.seed, 42);
        assert_eq!(cfg.base_time_ms, 1_600_000_000_000);
    }

    #[test]
    fn unknown_option_lists_allowed_keys() {
        let err = NexmarkConfig::from_options(&opts(&[("events.nmu", "10")])).unwrap_err();
        assert!(err.contains("'events.nmu'"), "{err}");
        for key in OPTION_KEYS {
            assert!(err.contains(key), "{err} should list {key}");
        }
    }

    #[test]
    fn bad_values_name_key_and_type() {
        let err = NexmarkConfig::from_options(&opts(&[("events.num", "lots")])).unwrap_err();
        assert!(
            err.contains("'events.num'") && err.contains("long"),
            "{err}"
        );
        let err = NexmarkConfig::from_options(&opts(&[("keep-alive", "yes")])).unwrap_err();
        assert!(
            err.contains("'keep-alive'") && err.contains("boolean"),
            "{err}"
        );
        let err =
            NexmarkConfig::from_options(&opts(&[("bid.avg-size", "10 parsecs")])).unwrap_err();
        assert!(
            err.contains("'bid.avg-size'") && err.contains("memory size"),
            "{err}"
        );
        let err = NexmarkConfig::from_options(&opts(&[("first-event.rate", "0")])).unwrap_err();
        assert!(err.contains("'first-event.rate'"), "{err}");
        let err = NexmarkConfig::from_options(&opts(&[("rate.shape", "TRIANGLE")])).unwrap_err();
        assert!(err.contains("'rate.shape'"), "{err}");
    }

    #[test]
    fn memory_sizes_and_durations() {
        assert_eq!(parse_memory_size("k", "100").unwrap(), 100);
        assert_eq!(parse_memory_size("k", "1k").unwrap(), 1024);
        assert_eq!(parse_memory_size("k", "1 mb").unwrap(), 1 << 20);
        assert!(parse_memory_size("k", "4gb").is_err());
        assert!(parse_memory_size("k", "kb").is_err());
        assert_eq!(
            parse_duration("d", "1500").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            parse_duration("d", "2 h").unwrap(),
            Duration::from_secs(7200)
        );
        assert!(parse_duration("d", "2 fortnights").is_err());
    }
}

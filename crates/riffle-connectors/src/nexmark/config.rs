//! Options of the `nexmark` connector.
//!
//! The keys and defaults are those of Flink's Nexmark table source, so a
//! `CREATE TABLE ... WITH ('connector' = 'nexmark', ...)` statement written for
//! Flink works here unchanged. Options that Flink parses but never uses
//! (`next-event.rate`, `rate.shape`, `rate.period`, `rate.limited`) are
//! accepted and validated and have no effect on the generated data; with
//! `max-emit-speed = false` and `rate.limited = true` they shape how fast the
//! events are emitted (see `pace.rs`), which Flink's source does not do. Two options are our own: `seed` makes the random fields
//! reproducible and `base-time` pins the event time of event number 0, where
//! Flink uses the wall clock at planning time.

use std::time::Duration;

use riffle_common::config::parse::{self, BadValue, Parsed};

use crate::options::{OptionReader, check_keys, invalid_value};
use crate::{Result, TableDescriptor};

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

/// Shape of the emission rate over time (`rate.shape`); event times do not
/// follow it, as in Flink.
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
    /// `next-event.rate`: the second emission rate of `rate.shape` (with `rate.limited`).
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
    /// `rate.shape`: how the emission rate moves between the two rates (with `rate.limited`).
    pub rate_shape: RateShape,
    /// `rate.period`: one period of `rate.shape`.
    pub rate_period: Duration,
    /// `rate.limited`: with `max-emit-speed = false`, emit at the rates of `rate.shape`.
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
    /// Parses the `WITH` options of a `nexmark` table.
    ///
    /// Missing keys take Flink's defaults. An unknown key is an error that
    /// lists the allowed ones; a value that does not parse, or that the
    /// generator cannot run with (a rate or hot ratio of 0), is an error
    /// naming the key, the value and the expected form.
    pub fn parse(table: &TableDescriptor) -> Result<NexmarkConfig> {
        check_keys(&table.name, "nexmark", &table.options, OPTION_KEYS, &[])?;
        let r = OptionReader::new(table);
        let mut cfg = NexmarkConfig::default();
        for (key, value) in &table.options {
            cfg.apply(key, value)
                .map_err(|e| invalid_value(&table.name, key, value, &e))?;
        }
        if cfg.total_proportion() == 0 {
            let key = "bid.proportion";
            return Err(r.invalid(
                key,
                r.raw(key).unwrap_or_default(),
                "at least one of 'person.proportion', 'auction.proportion' and \
                 'bid.proportion' must be positive",
            ));
        }
        Ok(cfg)
    }

    /// Sum of the three proportions: the length of one block of event ids.
    pub fn total_proportion(&self) -> u64 {
        u64::from(self.person_proportion)
            + u64::from(self.auction_proportion)
            + u64::from(self.bid_proportion)
    }

    /// Sets the field that `key` names from its textual `value`.
    fn apply(&mut self, key: &str, value: &str) -> Parsed<()> {
        match key {
            "first-event.rate" => self.first_event_rate = positive_int(value)?,
            "next-event.rate" => self.next_event_rate = int(value)?,
            "events.num" => self.events_num = long(value)?,
            "person.proportion" => self.person_proportion = int(value)?,
            "auction.proportion" => self.auction_proportion = int(value)?,
            "bid.proportion" => self.bid_proportion = int(value)?,
            "bid.hot-ratio.auctions" => self.hot_auction_ratio = positive_int(value)?,
            "bid.hot-ratio.bidders" => self.hot_bidders_ratio = positive_int(value)?,
            "auction.hot-ratio.sellers" => self.hot_sellers_ratio = positive_int(value)?,
            "person.avg-size" => self.person_avg_size = int_memory_size(value)?,
            "auction.avg-size" => self.auction_avg_size = int_memory_size(value)?,
            "bid.avg-size" => self.bid_avg_size = int_memory_size(value)?,
            "keep-alive" => self.keep_alive = parse::boolean(value)?,
            "stop-at" => self.stop_at = parse::integer(value, i64::MIN..=i64::MAX)?,
            "max-emit-speed" => self.max_emit_speed = parse::boolean(value)?,
            "rate.shape" => {
                self.rate_shape = match parse::enumeration(value, &["SQUARE", "SINE"])? {
                    "SINE" => RateShape::Sine,
                    _ => RateShape::Square,
                }
            }
            "rate.period" => self.rate_period = parse::duration(value)?,
            "rate.limited" => self.rate_limited = parse::boolean(value)?,
            "seed" => self.seed = seed(value)?,
            "base-time" => self.base_time_ms = base_time(value)?,
            // `connector`; every other key was checked by `check_keys`.
            _ => {}
        }
        Ok(())
    }
}

/// A non-negative Java `int`.
fn int(value: &str) -> Parsed<u32> {
    parse::integer(value, 0..=i64::from(i32::MAX)).map(|n| n.unsigned_abs() as u32)
}

/// A positive Java `int` (a rate or a ratio the generator divides by).
fn positive_int(value: &str) -> Parsed<u32> {
    parse::integer(value, 1..=i64::from(i32::MAX)).map(|n| n.unsigned_abs() as u32)
}

/// A non-negative Java `long`.
fn long(value: &str) -> Parsed<u64> {
    parse::integer(value, 0..=i64::MAX).map(i64::unsigned_abs)
}

/// A Flink memory size in bytes that fits a Java `int`, as Flink's Nexmark
/// source reads the average sizes.
fn int_memory_size(value: &str) -> Parsed<u32> {
    let bytes = parse::memory_size(value)?;
    u32::try_from(bytes)
        .ok()
        .filter(|b| i32::try_from(*b).is_ok())
        .ok_or_else(|| BadValue("expected a memory size below 2 gb".into()))
}

/// The seed: any unsigned 64-bit integer, or a negative `long` taken as its
/// two's complement bits.
fn seed(value: &str) -> Parsed<u64> {
    let v = value.trim();
    v.parse::<u64>()
        .or_else(|_| v.parse::<i64>().map(|s| s as u64))
        .map_err(|_| BadValue("expected a 64-bit integer".into()))
}

/// `base-time`: epoch milliseconds, or `yyyy-MM-dd HH:mm:ss[.SSS]` in UTC.
fn base_time(value: &str) -> Parsed<i64> {
    let v = value.trim();
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(ms);
    }
    chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f")
        .map(|t| t.and_utc().timestamp_millis())
        .map_err(|_| {
            BadValue(
                "expected epoch milliseconds or a timestamp 'yyyy-MM-dd HH:mm:ss[.SSS]'".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&str, &str)]) -> TableDescriptor {
        TableDescriptor {
            name: "datagen".into(),
            schema: super::super::nexmark_schema(),
            options: [("connector", "nexmark")]
                .iter()
                .chain(pairs)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            partition_keys: Vec::new(),
            metadata: Vec::new(),
        }
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        NexmarkConfig::parse(&table(pairs)).unwrap_err().to_string()
    }

    #[test]
    fn defaults_match_flink() -> Result<()> {
        let cfg = NexmarkConfig::parse(&table(&[]))?;
        assert_eq!(cfg, NexmarkConfig::default());
        assert_eq!(cfg.first_event_rate, 10_000);
        assert_eq!(cfg.total_proportion(), 50);
        assert_eq!(cfg.stop_at, -1);
        assert!(cfg.max_emit_speed);
        assert_eq!(cfg.rate_period, Duration::from_secs(600));
        Ok(())
    }

    #[test]
    fn default_base_time_is_2015_07_15() -> Parsed<()> {
        assert_eq!(base_time("2015-07-15 00:00:00.000")?, DEFAULT_BASE_TIME_MS);
        assert_eq!(
            base_time("2015-07-15 00:00:01")?,
            DEFAULT_BASE_TIME_MS + 1000
        );
        assert_eq!(base_time("12345")?, 12345);
        assert!(base_time("yesterday").is_err());
        Ok(())
    }

    #[test]
    fn parses_every_key() -> Result<()> {
        let cfg = NexmarkConfig::parse(&table(&[
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
        ]))?;
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
        assert_eq!(
            NexmarkConfig::parse(&table(&[("seed", "-1")]))?.seed,
            u64::MAX
        );
        Ok(())
    }

    #[test]
    fn unknown_option_lists_allowed_keys() {
        let err = error(&[("events.nmu", "10")]);
        assert!(err.contains("'events.nmu'"), "{err}");
        for key in OPTION_KEYS {
            assert!(err.contains(key), "{err} should list {key}");
        }
    }

    #[test]
    fn bad_values_name_key_value_and_form() {
        for (key, value, form) in [
            ("events.num", "lots", "expected an integer of at least 0"),
            ("events.num", "-1", "expected an integer of at least 0"),
            (
                "person.proportion",
                "3000000000",
                "between 0 and 2147483647",
            ),
            ("keep-alive", "yes", "expected true or false"),
            (
                "bid.avg-size",
                "10 parsecs",
                "unknown memory unit 'parsecs'",
            ),
            ("bid.avg-size", "4gb", "expected a memory size below 2 gb"),
            (
                "first-event.rate",
                "0",
                "expected an integer between 1 and 2147483647",
            ),
            ("bid.hot-ratio.bidders", "0", "between 1 and"),
            ("rate.shape", "TRIANGLE", "expected one of SQUARE, SINE"),
            (
                "rate.period",
                "2 fortnights",
                "unknown time unit 'fortnights'",
            ),
            ("seed", "0x2a", "expected a 64-bit integer"),
            ("base-time", "yesterday", "expected epoch milliseconds"),
        ] {
            let err = error(&[(key, value)]);
            assert!(
                err.starts_with(&format!(
                    "invalid value {value:?} for option '{key}' of table 'datagen': "
                )) && err.contains(form),
                "{key} = {value}: {err}"
            );
        }
        let err = error(&[
            ("person.proportion", "0"),
            ("auction.proportion", "0"),
            ("bid.proportion", "0"),
        ]);
        assert!(err.contains("must be positive"), "{err}");
    }

    #[test]
    fn memory_sizes_and_durations() -> Parsed<()> {
        assert_eq!(int_memory_size("100")?, 100);
        assert_eq!(int_memory_size("1k")?, 1024);
        assert_eq!(int_memory_size("1 mb")?, 1 << 20);
        assert_eq!(int_memory_size("2047 mb")?, 2047 << 20);
        assert!(int_memory_size("2 gb").is_err());
        assert!(int_memory_size("kb").is_err());
        let cfg = |v: &str| NexmarkConfig::parse(&table(&[("rate.period", v)]));
        assert!(cfg("1500").is_ok_and(|c| c.rate_period == Duration::from_millis(1500)));
        assert!(cfg("2 h").is_ok_and(|c| c.rate_period == Duration::from_secs(7200)));
        Ok(())
    }
}

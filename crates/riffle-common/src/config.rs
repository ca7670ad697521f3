//! Flink-style configuration: string keys and values, typed on read.
//!
//! A Flink user's keys work unchanged for the options Riffle supports. Values
//! stay strings until read, so `SET 'k' = 'v'`, `-D k=v` and config files all
//! feed one map; a bad value fails with the key named. Keys Riffle does not
//! know are kept and reported by [`Configuration::unknown_keys`] so callers can
//! warn once instead of silently dropping them.
//!
//! Submodules, one concept each: `keys` (the catalogue of known keys and their
//! types), `value` (text to typed values, [`PortRange`]), `cluster` (the
//! JobManager/TaskManager options), `state` (checkpoints, savepoints and the S3
//! file system), `yaml` and `flat` (the two file formats),
//! `load` (files, `RIFFLE_PROPERTIES` and `-D` in Flink's precedence) and
//! `validate` (start-up checking).

use std::collections::BTreeMap;

use crate::time::parse_duration_ms;
use crate::{Error, Result};

mod cluster;
mod flat;
mod keys;
mod load;
mod state;
mod validate;
pub(crate) mod value;
mod yaml;

pub use cluster::*;
pub use keys::{KNOWN_KEYS, ValueKind, key_kind};
pub use load::{
    CONF_DIR_ENV, CONFIG_FILE, LEGACY_CONFIG_FILE, PROPERTIES_ENV, load_cluster_config,
    load_cluster_config_from_env,
};
pub use state::*;
pub use value::{MAX_INT, PortRange};

/// `parallelism.default`: parallelism of operators without their own.
pub const PARALLELISM_DEFAULT: &str = "parallelism.default";
/// `pipeline.max-parallelism`: number of key groups.
pub const MAX_PARALLELISM: &str = "pipeline.max-parallelism";
/// `pipeline.auto-watermark-interval`: how often sources emit watermarks; `0` = after every record.
pub const AUTO_WATERMARK_INTERVAL: &str = "pipeline.auto-watermark-interval";
/// `table.exec.source.idle-timeout`: after this long without records a source split is idle.
pub const SOURCE_IDLE_TIMEOUT: &str = "table.exec.source.idle-timeout";
/// `table.local-time-zone`: the session time zone (for `TIMESTAMP_LTZ` and `PROCTIME()`).
pub const LOCAL_TIME_ZONE: &str = "table.local-time-zone";
/// `execution.runtime-mode`: only `streaming` is supported.
pub const RUNTIME_MODE: &str = "execution.runtime-mode";
/// Riffle: rows per batch produced by sources.
pub const BATCH_SIZE: &str = "riffle.batch-size";
/// Riffle: when set, every sink also writes its changelog as JSON lines into this directory.
pub const SINK_TAP_DIR: &str = "riffle.sink.tap-dir";

/// A set of configuration entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Configuration {
    entries: BTreeMap<String, String>,
}

/// A configuration from key/value pairs (a job's shipped map, test fixtures).
impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Configuration {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut c = Configuration::new();
        for (k, v) in pairs {
            c.set(k, v);
        }
        c
    }
}

impl Configuration {
    /// An empty configuration (all defaults).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a key, replacing any earlier value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.entries.insert(key.into(), value.into());
    }

    /// Parses `key=value` (the `-D` form).
    pub fn set_pair(&mut self, pair: &str) -> Result<()> {
        let (k, v) = pair.split_once('=').ok_or_else(|| Error::InvalidConfig {
            key: pair.to_string(),
            value: String::new(),
            reason: "expected key=value".into(),
        })?;
        self.set(k.trim(), v.trim());
        Ok(())
    }

    /// Copies every entry of `other` into `self`; `other` wins on conflicts.
    pub fn merge_from(&mut self, other: &Configuration) {
        for (k, v) in &other.entries {
            self.entries.insert(k.clone(), v.clone());
        }
    }

    /// The raw value of a key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// All entries, sorted by key.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Keys that Riffle does not interpret.
    pub fn unknown_keys(&self) -> Vec<&str> {
        self.entries
            .keys()
            .map(String::as_str)
            .filter(|k| !KNOWN_KEYS.iter().any(|(known, _)| known == k))
            .collect()
    }

    /// A positive integer value, or `default` when unset.
    pub fn get_usize(&self, key: &str, default: usize) -> Result<usize> {
        self.get(key)
            .map_or(Ok(default), |v| value::parse_positive_usize(key, v))
    }

    /// A duration in milliseconds, or `default` when unset.
    pub fn get_duration_ms(&self, key: &str, default: i64) -> Result<i64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => parse_duration_ms(key, v),
        }
    }

    /// `parallelism.default` (default 1).
    pub fn parallelism(&self) -> Result<usize> {
        self.get_usize(PARALLELISM_DEFAULT, 1)
    }

    /// `pipeline.max-parallelism` (default 128).
    pub fn max_parallelism(&self) -> Result<usize> {
        self.get_usize(MAX_PARALLELISM, crate::keygroup::DEFAULT_MAX_PARALLELISM)
    }

    /// `pipeline.auto-watermark-interval` in ms (Flink's default 200 ms).
    pub fn auto_watermark_interval_ms(&self) -> Result<i64> {
        self.get_duration_ms(AUTO_WATERMARK_INTERVAL, 200)
    }

    /// `table.exec.source.idle-timeout` in ms (default 0 = disabled).
    pub fn source_idle_timeout_ms(&self) -> Result<i64> {
        self.get_duration_ms(SOURCE_IDLE_TIMEOUT, 0)
    }

    /// `riffle.batch-size` (default 8192).
    pub fn batch_size(&self) -> Result<usize> {
        self.get_usize(BATCH_SIZE, 8192)
    }

    /// `table.local-time-zone` (default `UTC`); only fixed offsets and UTC are supported.
    pub fn local_time_zone_offset_ms(&self) -> Result<i64> {
        let Some(v) = self.get(LOCAL_TIME_ZONE) else {
            return Ok(0);
        };
        parse_zone_offset_ms(v).ok_or_else(|| Error::InvalidConfig {
            key: LOCAL_TIME_ZONE.into(),
            value: v.into(),
            reason: "expected UTC, Z, GMT or a fixed offset such as +08:00".into(),
        })
    }
}

/// Parses `UTC`, `Z`, `GMT`, `+08:00`, `UTC+8`, `GMT-05:30` into an offset in ms.
pub(crate) fn parse_zone_offset_ms(v: &str) -> Option<i64> {
    let v = v.trim();
    let rest = v
        .strip_prefix("UTC")
        .or_else(|| v.strip_prefix("GMT"))
        .unwrap_or(v);
    if rest.is_empty() || rest == "Z" {
        return Some(0);
    }
    let (sign, body) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return None,
    };
    let (h, m) = match body.split_once(':') {
        Some((h, m)) => (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?),
        None => (body.parse::<i64>().ok()?, 0),
    };
    if h > 18 || m > 59 {
        return None;
    }
    Some(sign * (h * 3_600_000 + m * 60_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_reads_name_the_key() {
        let mut c = Configuration::new();
        c.set(PARALLELISM_DEFAULT, "zero");
        let e = c.parallelism().unwrap_err().to_string();
        assert!(e.contains(PARALLELISM_DEFAULT), "{e}");
        c.set_pair("parallelism.default = 4").unwrap();
        assert_eq!(c.parallelism().unwrap(), 4);
        assert!(c.set_pair("novalue").is_err());
    }

    #[test]
    fn unknown_keys_are_reported() {
        let mut c = Configuration::new();
        c.set("table.exec.mini-batch.enabled", "true");
        c.set("no.such.key", "1");
        assert_eq!(c.unknown_keys(), vec!["no.such.key"]);
    }

    #[test]
    fn zones() {
        assert_eq!(parse_zone_offset_ms("UTC"), Some(0));
        assert_eq!(parse_zone_offset_ms("+08:00"), Some(8 * 3_600_000));
        assert_eq!(parse_zone_offset_ms("GMT-5"), Some(-5 * 3_600_000));
        assert_eq!(parse_zone_offset_ms("Europe/Paris"), None);
    }
}

//! A Kafka table's `WITH (...)` options, read once into [`KafkaOptions`].
//!
//! The keys and values are Flink's Kafka SQL connector's, so a Flink DDL
//! plans unchanged. `properties.*` go to the client as they are (librdkafka
//! and the Java client share the common names: `bootstrap.servers`,
//! `group.id`, `isolation.level`, `auto.offset.reset`, ...); a property the
//! client does not know is an error at planning time that names it, and the
//! few Java-only ones Flink users set out of habit (deserializers, poll
//! sizes) are dropped with a warning instead (see [`JAVA_ONLY_PROPERTIES`]).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use riffle_common::config::parse::{self, BadValue, Parsed};
use riffle_connectors::TableDescriptor;
use riffle_connectors::format::records::ParseErrors;
use riffle_connectors::options::{OptionReader, check_keys};

use crate::{Error, Result};

/// Options the Kafka connector reads, besides `properties.*` and the
/// format's own options.
const KEYS: &[&str] = &[
    "topic",
    "topic-pattern",
    "format",
    "value.format",
    "scan.startup.mode",
    "scan.startup.specific-offsets",
    "scan.startup.timestamp-millis",
    "scan.bounded.mode",
    "scan.bounded.specific-offsets",
    "scan.bounded.timestamp-millis",
    "scan.topic-partition-discovery.interval",
    "scan.parallelism",
    "sink.partitioner",
    "sink.delivery-guarantee",
    "sink.parallelism",
];

/// Option prefixes: client properties and the formats' options.
const PREFIXES: &[&str] = &[
    "properties.",
    "json.",
    "csv.",
    "raw.",
    "value.json.",
    "value.csv.",
    "value.raw.",
];

/// Java client properties without a librdkafka counterpart that only tune
/// the Java consumer or name its classes: dropped with a warning.
pub const JAVA_ONLY_PROPERTIES: &[&str] = &[
    "key.deserializer",
    "value.deserializer",
    "key.serializer",
    "value.serializer",
    "max.poll.records",
    "max.poll.interval.ms",
    "partition.discovery.interval.ms",
    "client.id.prefix",
    "register.consumer.metrics",
    "commit.offsets.on.checkpoint",
];

/// How the value (or key) bytes of a record are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Flink's `json` format: one JSON object per record.
    Json,
    /// Flink's `csv` format: one CSV line per record.
    Csv,
    /// Flink's `raw` format: the bytes as one column (STRING or BYTES).
    Raw,
}

impl Format {
    fn parse(text: &str) -> Parsed<Format> {
        match parse::enumeration(text, &["json", "csv", "raw"])? {
            "csv" => Ok(Format::Csv),
            "raw" => Ok(Format::Raw),
            _ => Ok(Format::Json),
        }
    }

    /// The option name, as in `'format' = '...'`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Raw => "raw",
        }
    }
}

/// Where reading starts in each partition (`scan.startup.mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupMode {
    /// The first offset still in the partition.
    Earliest,
    /// The end of the partition when the job starts.
    Latest,
    /// The group's committed offset (`properties.group.id`); without one,
    /// `properties.auto.offset.reset` decides, else the job fails.
    GroupOffsets,
    /// The first record with a timestamp at or after this (ms since epoch).
    Timestamp(i64),
    /// Given offsets per partition of the one topic; others start at
    /// the group's offsets.
    SpecificOffsets(BTreeMap<i32, i64>),
}

/// Where reading ends (`scan.bounded.mode`): never, or at offsets fixed
/// when a partition's reading begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoundedMode {
    /// Read forever.
    Unbounded,
    /// The end of each partition when its reading begins.
    Latest,
    /// The group's committed offsets.
    GroupOffsets,
    /// The first offset with a timestamp after this (ms since epoch).
    Timestamp(i64),
    /// Given offsets per partition of the one topic (exclusive).
    SpecificOffsets(BTreeMap<i32, i64>),
}

/// Which topics a table reads or writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topics {
    /// `topic`: one or more names (`a;b`).
    Names(Vec<String>),
    /// `topic-pattern`: every topic whose whole name matches (sources only).
    Pattern(String),
}

/// `sink.partitioner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioner {
    /// By the key's hash when there is a key, else spread by the client.
    Default,
    /// Each sink subtask writes to one partition (subtask mod partitions).
    Fixed,
    /// Records go to the partitions in turn.
    RoundRobin,
}

/// `sink.delivery-guarantee`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryGuarantee {
    /// Records may be lost or written twice after a failure.
    None,
    /// Every record is written at least once: the sink waits for the
    /// broker's acknowledgement of everything before a checkpoint completes.
    AtLeastOnce,
}

/// A Kafka table's options, checked.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// The table's name (for messages).
    pub table: String,
    /// `topic` or `topic-pattern`.
    pub topics: Topics,
    /// `properties.*` without the prefix, Java-only ones removed.
    pub properties: BTreeMap<String, String>,
    /// The value format.
    pub format: Format,
    /// The format's parse-error handling (sources).
    pub parse_errors: ParseErrors,
    /// `scan.startup.mode` and its offsets or timestamp.
    pub startup: StartupMode,
    /// `scan.bounded.mode` and its offsets or timestamp.
    pub bounded: BoundedMode,
    /// `scan.topic-partition-discovery.interval`; `None` = never.
    pub discovery_interval: Option<Duration>,
    /// `sink.partitioner`.
    pub partitioner: Partitioner,
    /// `sink.delivery-guarantee`.
    pub delivery: DeliveryGuarantee,
}

impl KafkaOptions {
    /// Reads and checks `table`'s options.
    pub fn parse(table: &TableDescriptor) -> Result<KafkaOptions> {
        check_keys(&table.name, "kafka", &table.options, KEYS, PREFIXES)?;
        let r = OptionReader::new(table);
        let topics = match (r.raw("topic"), r.raw("topic-pattern")) {
            (Some(_), Some(_)) => {
                return Err(Error::Options(format!(
                    "table '{}' sets both 'topic' and 'topic-pattern'; set one",
                    table.name
                )));
            }
            (Some(t), None) => Topics::Names(topic_list(&r, t)?),
            (None, Some(p)) => Topics::Pattern(p.to_string()),
            (None, None) => {
                return Err(Error::Options(format!(
                    "table '{}' needs 'topic' (names, separated by ';') or 'topic-pattern'",
                    table.name
                )));
            }
        };
        let properties = client_properties(table)?;
        if !properties.contains_key("bootstrap.servers") {
            return Err(Error::Options(format!(
                "table '{}' needs 'properties.bootstrap.servers' (host:port of the brokers)",
                table.name
            )));
        }
        let format = match (
            r.get("format", Format::parse)?,
            r.get("value.format", Format::parse)?,
        ) {
            (Some(_), Some(_)) => {
                return Err(Error::Options(format!(
                    "table '{}' sets both 'format' and 'value.format'; set one",
                    table.name
                )));
            }
            (Some(f), None) | (None, Some(f)) => f,
            (None, None) => {
                return Err(Error::Options(format!(
                    "table '{}' needs a 'format' option ('json', 'csv' or 'raw')",
                    table.name
                )));
            }
        };
        let prefix = if r.raw("value.format").is_some() {
            "value."
        } else {
            ""
        };
        let ignore = r.boolean(
            &format!("{prefix}{}.ignore-parse-errors", format.name()),
            false,
        )?;
        let fail_on_missing_field = format == Format::Json
            && r.boolean(&format!("{prefix}json.fail-on-missing-field"), false)?;
        if ignore && fail_on_missing_field {
            return Err(Error::Options(format!(
                "table '{}': 'json.fail-on-missing-field' and 'json.ignore-parse-errors' \
                 cannot both be true",
                table.name
            )));
        }
        let startup = startup_mode(&r)?;
        let bounded = bounded_mode(&r)?;
        let needs_one_topic = matches!(startup, StartupMode::SpecificOffsets(_))
            || matches!(bounded, BoundedMode::SpecificOffsets(_));
        if needs_one_topic && !matches!(&topics, Topics::Names(n) if n.len() == 1) {
            return Err(Error::Options(format!(
                "table '{}': specific offsets ('partition:0,offset:42;...') need exactly one topic",
                table.name
            )));
        }
        let discovery_interval = r
            .get("scan.topic-partition-discovery.interval", parse::duration)?
            .or(Some(Duration::from_secs(300)))
            .filter(|d| !d.is_zero());
        let partitioner =
            r.get_or(
                "sink.partitioner",
                Partitioner::Default,
                |v| match parse::enumeration(v, &["default", "fixed", "round-robin"])? {
                    "fixed" => Ok(Partitioner::Fixed),
                    "round-robin" => Ok(Partitioner::RoundRobin),
                    _ => Ok(Partitioner::Default),
                },
            )?;
        let delivery = r.get_or(
            "sink.delivery-guarantee",
            DeliveryGuarantee::AtLeastOnce,
            |v| match parse::enumeration(v, &["none", "at-least-once", "exactly-once"])? {
                "none" => Ok(DeliveryGuarantee::None),
                "exactly-once" => Err(BadValue(
                    "'exactly-once' (Kafka transactions) is not supported yet; use \
                     'at-least-once'"
                        .into(),
                )),
                _ => Ok(DeliveryGuarantee::AtLeastOnce),
            },
        )?;
        Ok(KafkaOptions {
            table: table.name.clone(),
            topics,
            properties,
            format,
            parse_errors: ParseErrors {
                ignore,
                fail_on_missing_field,
            },
            startup,
            bounded,
            discovery_interval,
            partitioner,
            delivery,
        })
    }

    /// Checks what only a source needs: a group for group offsets (the
    /// default startup mode, as in Flink).
    pub fn check_source(&self) -> Result<()> {
        let group_offsets = matches!(self.startup, StartupMode::GroupOffsets)
            || matches!(self.bounded, BoundedMode::GroupOffsets);
        if group_offsets && !self.properties.contains_key("group.id") {
            return Err(Error::Options(format!(
                "table '{}': reading from group offsets (the default 'scan.startup.mode') needs \
                 'properties.group.id'; or set 'scan.startup.mode' to 'earliest-offset'",
                self.table
            )));
        }
        Ok(())
    }

    /// `properties.bootstrap.servers` (for messages).
    pub fn bootstrap(&self) -> &str {
        self.properties
            .get("bootstrap.servers")
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The error for a failed request to the brokers: what failed, the
    /// table, the brokers and the client's reason.
    pub fn broker_error(&self, what: &str, e: &rdkafka::error::KafkaError) -> Error {
        Error::Broker(format!(
            "table '{}': {what} (brokers {}): {e}",
            self.table,
            self.bootstrap()
        ))
    }

    /// A client configuration with the table's properties over `defaults`.
    pub fn client_config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        for (k, v) in defaults {
            c.set(*k, *v);
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

/// `topic`: names separated by `;` (Flink's list form), none empty.
fn topic_list(r: &OptionReader<'_>, text: &str) -> Result<Vec<String>> {
    let names: Vec<String> = text
        .split(';')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    if names.is_empty() {
        return Err(r
            .invalid("topic", text, "expected topic names separated by ';'")
            .into());
    }
    Ok(names)
}

/// `properties.*` without the prefix; Java-only keys dropped with a
/// warning; every other key checked against the client.
fn client_properties(table: &TableDescriptor) -> Result<BTreeMap<String, String>> {
    let mut props = BTreeMap::new();
    for (k, v) in &table.options {
        let Some(key) = k.strip_prefix("properties.") else {
            continue;
        };
        if JAVA_ONLY_PROPERTIES.contains(&key) {
            tracing::warn!(
                table = %table.name,
                "'properties.{key}' is a setting of Kafka's Java client only; ignored"
            );
            continue;
        }
        props.insert(key.to_string(), v.clone());
    }
    let mut config = ClientConfig::new();
    for (k, v) in &props {
        config.set(k, v);
    }
    // Applies every property to a librdkafka configuration (no connection).
    config.create_native_config().map_err(|e| {
        Error::Options(format!(
            "table '{}': the Kafka client refuses a 'properties.*' option: {e}",
            table.name
        ))
    })?;
    Ok(props)
}

fn startup_mode(r: &OptionReader<'_>) -> Result<StartupMode> {
    let mode = r.get_or("scan.startup.mode", "group-offsets", |v| {
        parse::enumeration(
            v,
            &[
                "earliest-offset",
                "latest-offset",
                "group-offsets",
                "timestamp",
                "specific-offsets",
            ],
        )
    })?;
    Ok(match mode {
        "earliest-offset" => StartupMode::Earliest,
        "latest-offset" => StartupMode::Latest,
        "timestamp" => StartupMode::Timestamp(required(
            r,
            "scan.startup.timestamp-millis",
            mode,
            timestamp_millis,
        )?),
        "specific-offsets" => StartupMode::SpecificOffsets(required(
            r,
            "scan.startup.specific-offsets",
            mode,
            specific_offsets,
        )?),
        _ => StartupMode::GroupOffsets,
    })
}

fn bounded_mode(r: &OptionReader<'_>) -> Result<BoundedMode> {
    let mode = r.get_or("scan.bounded.mode", "unbounded", |v| {
        parse::enumeration(
            v,
            &[
                "unbounded",
                "latest-offset",
                "group-offsets",
                "timestamp",
                "specific-offsets",
            ],
        )
    })?;
    Ok(match mode {
        "latest-offset" => BoundedMode::Latest,
        "group-offsets" => BoundedMode::GroupOffsets,
        "timestamp" => BoundedMode::Timestamp(required(
            r,
            "scan.bounded.timestamp-millis",
            mode,
            timestamp_millis,
        )?),
        "specific-offsets" => BoundedMode::SpecificOffsets(required(
            r,
            "scan.bounded.specific-offsets",
            mode,
            specific_offsets,
        )?),
        _ => BoundedMode::Unbounded,
    })
}

/// The option a mode needs, or an error naming both.
fn required<T>(
    r: &OptionReader<'_>,
    key: &str,
    mode: &str,
    parser: impl FnOnce(&str) -> Parsed<T>,
) -> Result<T> {
    r.get(key, parser)?
        .ok_or_else(|| Error::Options(format!("mode '{mode}' needs the option '{key}'")))
}

fn timestamp_millis(text: &str) -> Parsed<i64> {
    parse::integer(text, 0..=i64::MAX)
}

/// Flink's `partition:0,offset:42;partition:1,offset:300`.
fn specific_offsets(text: &str) -> Parsed<BTreeMap<i32, i64>> {
    let bad = || BadValue("expected 'partition:<n>,offset:<n>' pairs separated by ';'".into());
    let mut out = BTreeMap::new();
    for pair in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (p, o) = pair.split_once(',').ok_or_else(bad)?;
        let p = p.trim().strip_prefix("partition:").ok_or_else(bad)?;
        let o = o.trim().strip_prefix("offset:").ok_or_else(bad)?;
        let p: i32 = p.trim().parse().map_err(|_| bad())?;
        let o: i64 = o.trim().parse().map_err(|_| bad())?;
        if p < 0 || o < 0 {
            return Err(bad());
        }
        out.insert(p, o);
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn table(pairs: &[(&str, &str)]) -> TableDescriptor {
        TableDescriptor {
            name: "k".into(),
            schema: Arc::new(arrow::datatypes::Schema::empty()),
            options: [("connector", "kafka")]
                .iter()
                .chain(pairs)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            partition_keys: Vec::new(),
            metadata: Vec::new(),
        }
    }

    const BASE: &[(&str, &str)] = &[
        ("topic", "t"),
        ("properties.bootstrap.servers", "127.0.0.1:9092"),
        ("format", "json"),
    ];

    fn with(extra: &[(&str, &str)]) -> Result<KafkaOptions> {
        let pairs: Vec<(&str, &str)> = BASE.iter().chain(extra).copied().collect();
        KafkaOptions::parse(&table(&pairs))
    }

    fn error(extra: &[(&str, &str)]) -> String {
        with(extra).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn a_flink_table_reads_with_flinks_defaults() {
        let o = with(&[("properties.group.id", "g")]).expect("options");
        assert_eq!(o.topics, Topics::Names(vec!["t".into()]));
        assert_eq!(o.startup, StartupMode::GroupOffsets);
        assert_eq!(o.bounded, BoundedMode::Unbounded);
        assert_eq!(o.discovery_interval, Some(Duration::from_secs(300)));
        assert_eq!(o.partitioner, Partitioner::Default);
        assert_eq!(o.delivery, DeliveryGuarantee::AtLeastOnce);
    }

    #[test]
    fn modes_take_their_offsets_and_timestamps() {
        let o = with(&[
            ("scan.startup.mode", "specific-offsets"),
            (
                "scan.startup.specific-offsets",
                "partition:0,offset:42;partition:2,offset:7",
            ),
            ("scan.bounded.mode", "timestamp"),
            ("scan.bounded.timestamp-millis", "1700000000000"),
        ])
        .expect("options");
        assert_eq!(
            o.startup,
            StartupMode::SpecificOffsets([(0, 42), (2, 7)].into())
        );
        assert_eq!(o.bounded, BoundedMode::Timestamp(1_700_000_000_000));
        let e = error(&[("scan.startup.mode", "timestamp")]);
        assert!(
            e.contains("needs the option 'scan.startup.timestamp-millis'"),
            "{e}"
        );
        let e = error(&[
            ("scan.startup.mode", "specific-offsets"),
            ("scan.startup.specific-offsets", "0:42"),
        ]);
        assert!(e.contains("partition:<n>,offset:<n>"), "{e}");
    }

    #[test]
    fn mistakes_are_named() {
        let e = error(&[("scan.startup.mod", "earliest-offset")]);
        assert!(e.contains("unsupported option 'scan.startup.mod'"), "{e}");
        assert!(e.contains("'scan.startup.mode'"), "{e}");
        let e = error(&[("scan.startup.mode", "earliest")]);
        assert!(e.contains("earliest-offset"), "{e}");
        let e = error(&[("properties.no.such.thing", "1")]);
        assert!(e.contains("no.such.thing"), "{e}");
        let e = with(&[("scan.startup.mode", "group-offsets")])
            .and_then(|o| o.check_source())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("needs 'properties.group.id'"), "{e}");
        let e = error(&[("topic-pattern", "t.*")]);
        assert!(e.contains("both 'topic' and 'topic-pattern'"), "{e}");
        let e = error(&[("sink.delivery-guarantee", "exactly-once")]);
        assert!(e.contains("not supported yet"), "{e}");
    }

    #[test]
    fn java_only_properties_are_dropped() {
        let o = with(&[
            ("properties.max.poll.records", "500"),
            ("properties.group.id", "g"),
            ("properties.isolation.level", "read_committed"),
        ])
        .expect("options");
        assert!(!o.properties.contains_key("max.poll.records"));
        assert_eq!(
            o.properties.get("isolation.level").map(String::as_str),
            Some("read_committed")
        );
    }
}

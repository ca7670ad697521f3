//! The Kafka connector's metadata columns (Flink's keys and types):
//! `topic`, `partition`, `offset`, `timestamp`, `timestamp-type` and
//! `headers` are read; `timestamp` and `headers` are written.
//!
//! A source collects each record's metadata beside its value
//! ([`Collected`]) and turns it into columns of the types the table
//! declares ([`Collected::column`]: built in the key's own type, then cast,
//! so `offset BIGINT` and `offset DECIMAL(20, 0)` both work as in Flink).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryBuilder, Int32Array, Int64Array, MapBuilder, StringArray, StringBuilder,
    TimestampMillisecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use rdkafka::message::{BorrowedMessage, Headers, Message, Timestamp};

use crate::{Error, Result};

/// Readable keys with their Flink types.
pub const READABLE: &[(&str, &str)] = &[
    ("topic", "STRING NOT NULL"),
    ("partition", "INT NOT NULL"),
    ("offset", "BIGINT NOT NULL"),
    ("timestamp", "TIMESTAMP_LTZ(3) NOT NULL"),
    ("timestamp-type", "STRING NOT NULL"),
    ("headers", "MAP<STRING, BYTES> NOT NULL"),
];

/// Writable keys with their Flink types.
pub const WRITABLE: &[(&str, &str)] = &[
    ("timestamp", "TIMESTAMP_LTZ(3) NOT NULL"),
    ("headers", "MAP<STRING, BYTES> NOT NULL"),
];

/// A readable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Topic,
    Partition,
    Offset,
    Timestamp,
    TimestampType,
    Headers,
}

impl Key {
    /// The key of `name`, if readable.
    pub fn parse(name: &str) -> Option<Key> {
        Some(match name {
            "topic" => Key::Topic,
            "partition" => Key::Partition,
            "offset" => Key::Offset,
            "timestamp" => Key::Timestamp,
            "timestamp-type" => Key::TimestampType,
            "headers" => Key::Headers,
            _ => return None,
        })
    }
}

/// The metadata of the records of one batch, in record order.
#[derive(Debug, Default)]
pub struct Collected {
    topics: Vec<Arc<str>>,
    partitions: Vec<i32>,
    offsets: Vec<i64>,
    timestamps: Vec<Option<i64>>,
    types: Vec<&'static str>,
    headers: Vec<Vec<(String, Option<Vec<u8>>)>>,
    /// Whether headers are wanted (copying them costs).
    with_headers: bool,
}

impl Collected {
    /// Collects headers only if `with_headers`.
    pub fn new(with_headers: bool) -> Collected {
        Collected {
            with_headers,
            ..Collected::default()
        }
    }

    /// Records `m`'s metadata (`topic` is the interned name of its topic).
    pub fn push(&mut self, topic: &Arc<str>, m: &BorrowedMessage<'_>) {
        self.topics.push(Arc::clone(topic));
        self.partitions.push(m.partition());
        self.offsets.push(m.offset());
        let (ts, kind) = match m.timestamp() {
            Timestamp::NotAvailable => (None, "NoTimestampType"),
            Timestamp::CreateTime(t) => (Some(t), "CreateTime"),
            Timestamp::LogAppendTime(t) => (Some(t), "LogAppendTime"),
        };
        self.timestamps.push(ts);
        self.types.push(kind);
        if self.with_headers {
            let headers = m
                .headers()
                .map(|hs| {
                    hs.iter()
                        .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default();
            self.headers.push(headers);
        }
    }

    /// Where record `i` came from, for messages.
    pub fn describe(&self, i: usize) -> String {
        match (
            self.topics.get(i),
            self.partitions.get(i),
            self.offsets.get(i),
        ) {
            (Some(t), Some(p), Some(o)) => format!("offset {o} of partition {p} of topic '{t}'"),
            _ => "a record".to_string(),
        }
    }

    /// Drops the metadata of the records at `skipped` (indices, any order).
    pub fn remove(&mut self, skipped: &[usize]) {
        if skipped.is_empty() {
            return;
        }
        let keep = |i: usize| !skipped.contains(&i);
        fn retain<T>(v: &mut Vec<T>, keep: impl Fn(usize) -> bool) {
            let mut i = 0;
            v.retain(|_| {
                let k = keep(i);
                i += 1;
                k
            });
        }
        retain(&mut self.topics, keep);
        retain(&mut self.partitions, keep);
        retain(&mut self.offsets, keep);
        retain(&mut self.timestamps, keep);
        retain(&mut self.types, keep);
        retain(&mut self.headers, keep);
    }

    /// Forgets everything (after a batch).
    pub fn clear(&mut self) {
        self.topics.clear();
        self.partitions.clear();
        self.offsets.clear();
        self.timestamps.clear();
        self.types.clear();
        self.headers.clear();
    }

    /// The column of `key`, in the declared type `to`.
    pub fn column(&self, key: Key, to: &DataType, column: &str) -> Result<ArrayRef> {
        let natural: ArrayRef = match key {
            Key::Topic => Arc::new(StringArray::from_iter_values(
                self.topics.iter().map(|t| &**t),
            )),
            Key::Partition => Arc::new(Int32Array::from(self.partitions.clone())),
            Key::Offset => Arc::new(Int64Array::from(self.offsets.clone())),
            Key::Timestamp => Arc::new(
                TimestampMillisecondArray::from(self.timestamps.clone()).with_timezone("UTC"),
            ),
            Key::TimestampType => Arc::new(StringArray::from(self.types.clone())),
            Key::Headers => {
                let mut b = MapBuilder::new(None, StringBuilder::new(), BinaryBuilder::new());
                for hs in &self.headers {
                    for (k, v) in hs {
                        b.keys().append_value(k);
                        match v {
                            Some(v) => b.values().append_value(v),
                            None => b.values().append_null(),
                        }
                    }
                    b.append(true).map_err(|e| Error::Data(e.to_string()))?;
                }
                Arc::new(b.finish())
            }
        };
        if natural.data_type() == to {
            return Ok(natural);
        }
        cast(&natural, to).map_err(|e| {
            Error::Options(format!(
                "metadata column '{column}' is declared {to} but its value is {}: {e}",
                natural.data_type()
            ))
        })
    }
}

//! The Kafka sink: one producer per subtask writing each row as a record of
//! the table's format to its topic.
//!
//! Delivery: with `at-least-once` (the default, as in Flink) a checkpoint
//! barrier waits until the broker acknowledged every record written before
//! it, so a checkpoint never completes with records that could still be
//! lost; after a failure the records since the last checkpoint are written
//! again. With `none` nothing waits. A record the broker refused fails the
//! job at the next flush or checkpoint, with the broker's reason.
//!
//! Partitions (`sink.partitioner`): `default` leaves the choice to the
//! client (records without a key spread over the partitions), `fixed`
//! writes all of a subtask's records to partition `subtask mod partitions`,
//! `round-robin` deals records to the partitions in turn.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray, MapArray, TimestampMillisecondArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMillisecondType};
use rdkafka::ClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use riffle_common::Chunk;
use riffle_connectors::TableDescriptor;
use riffle_connectors::format::{csv, json};
use riffle_runtime::TaskInfo;
use riffle_runtime::connector::{SinkFactory, SinkWriter};

use crate::metadata::WRITABLE;
use crate::options::{DeliveryGuarantee, Format, KafkaOptions, Partitioner, Topics};
use crate::{Error, Result};

/// How long a flush (checkpoint, end of input) waits for acknowledgements.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a request for the topic's partitions may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);

/// The columns a sink receives (the table's persisted columns): which are
/// the record's and which are written as metadata.
#[derive(Debug)]
struct Written {
    /// Indices of the record's columns.
    record: Vec<usize>,
    /// The column of `timestamp`, if written.
    timestamp: Option<usize>,
    /// The column of `headers`, if written.
    headers: Option<usize>,
}

impl Written {
    fn new(table: &TableDescriptor) -> Result<Written> {
        let persisted = table.persisted_schema();
        let mut w = Written {
            record: Vec::new(),
            timestamp: None,
            headers: None,
        };
        for (i, f) in persisted.fields().iter().enumerate() {
            let Some(m) = table.metadata.iter().find(|m| m.name == *f.name()) else {
                w.record.push(i);
                continue;
            };
            match m.key.as_str() {
                "timestamp" => w.timestamp = Some(i),
                "headers" => w.headers = Some(i),
                other => {
                    return Err(Error::Options(format!(
                        "metadata column '{}' of table '{}' (key '{other}') cannot be written; \
                         declare it VIRTUAL, or write only: {}",
                        m.name,
                        table.name,
                        WRITABLE
                            .iter()
                            .map(|(k, _)| *k)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        }
        Ok(w)
    }
}

/// Creates a Kafka writer per subtask.
#[derive(Debug)]
pub struct KafkaSinkFactory {
    options: Arc<KafkaOptions>,
    topic: String,
    schema: SchemaRef,
    written: Arc<Written>,
}

impl KafkaSinkFactory {
    /// A sink of `table`'s persisted columns (its options read into
    /// `options`) into its topic.
    pub fn new(options: KafkaOptions, table: &TableDescriptor) -> Result<KafkaSinkFactory> {
        let written = Arc::new(Written::new(table)?);
        let schema = table.record_schema();
        let topic = match &options.topics {
            Topics::Names(names) if names.len() == 1 => names[0].clone(),
            _ => {
                return Err(Error::Options(format!(
                    "table '{}': a sink writes to exactly one 'topic'",
                    options.table
                )));
            }
        };
        Ok(KafkaSinkFactory {
            options: Arc::new(options),
            topic,
            schema,
            written,
        })
    }
}

impl SinkFactory for KafkaSinkFactory {
    fn connector(&self) -> &str {
        "kafka"
    }

    fn accepts_updates(&self) -> bool {
        false
    }

    fn create_writer(&self, task: &TaskInfo) -> riffle_runtime::Result<Box<dyn SinkWriter>> {
        Ok(Box::new(KafkaWriter::new(
            Arc::clone(&self.options),
            self.topic.clone(),
            Arc::clone(&self.schema),
            Arc::clone(&self.written),
            task,
        )?))
    }
}

/// Counts what the broker refused, from the producer's delivery reports.
#[derive(Default)]
struct Deliveries {
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        if let Err((e, _)) = result
            && let Ok(mut first) = self.first_error.lock()
            && first.is_none()
        {
            *first = Some(e.to_string());
        }
    }
}

/// One subtask's writer.
struct KafkaWriter {
    options: Arc<KafkaOptions>,
    topic: String,
    producer: ThreadedProducer<Deliveries>,
    /// The partition of every record (`fixed`), or the partition count
    /// records are dealt over (`round-robin`).
    partitions: i32,
    fixed: Option<i32>,
    next: i32,
    is_string: bool,
    written: Arc<Written>,
    line: String,
}

impl KafkaWriter {
    fn new(
        options: Arc<KafkaOptions>,
        topic: String,
        schema: SchemaRef,
        written: Arc<Written>,
        task: &TaskInfo,
    ) -> Result<KafkaWriter> {
        let acks = match options.delivery {
            DeliveryGuarantee::None => "1",
            DeliveryGuarantee::AtLeastOnce => "all",
        };
        let producer: ThreadedProducer<Deliveries> = options
            .client_config(&[("acks", acks), ("linger.ms", "5")])
            .create_with_context(Deliveries::default())
            .map_err(|e| options.broker_error("cannot create a Kafka producer", &e))?;
        let partitions = match options.partitioner {
            Partitioner::Default => 0,
            Partitioner::Fixed | Partitioner::RoundRobin => {
                let metadata = producer
                    .client()
                    .fetch_metadata(Some(&topic), METADATA_TIMEOUT)
                    .map_err(|e| options.broker_error("cannot read the topic's metadata", &e))?;
                let count = metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic)
                    .map(|t| t.partitions().len())
                    .unwrap_or(0);
                if count == 0 {
                    return Err(Error::Options(format!(
                        "table '{}': topic '{topic}' does not exist on {} (create it first)",
                        options.table,
                        options.bootstrap()
                    )));
                }
                count as i32
            }
        };
        let fixed = (options.partitioner == Partitioner::Fixed)
            .then(|| (task.subtask_index % partitions.max(1) as usize) as i32);
        let is_string = options.format == Format::Raw
            && schema
                .fields()
                .first()
                .is_some_and(|f| f.data_type() == &DataType::Utf8);
        Ok(KafkaWriter {
            next: task.subtask_index as i32,
            options,
            topic,
            producer,
            partitions,
            fixed,
            is_string,
            written,
            line: String::new(),
        })
    }

    /// The partition of the next record, if the partitioner picks one.
    fn partition(&mut self) -> Option<i32> {
        match self.options.partitioner {
            Partitioner::Default => None,
            Partitioner::Fixed => self.fixed,
            Partitioner::RoundRobin => {
                let p = self.next.rem_euclid(self.partitions.max(1));
                self.next = self.next.wrapping_add(1);
                Some(p)
            }
        }
    }

    /// Hands one record to the producer, waiting while its queue is full.
    fn send(&mut self, payload: Option<&[u8]>, meta: RecordMeta) -> Result<()> {
        let partition = self.partition();
        let mut record: BaseRecord<'_, (), [u8]> = BaseRecord::to(&self.topic);
        if let Some(p) = payload {
            record = record.payload(p);
        }
        if let Some(p) = partition {
            record = record.partition(p);
        }
        if let Some(ts) = meta.timestamp {
            record = record.timestamp(ts);
        }
        if let Some(h) = meta.headers {
            record = record.headers(h);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    r,
                )) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => {
                    return Err(self
                        .options
                        .broker_error("cannot write a record to Kafka", &e));
                }
            }
        }
    }

    /// Waits for every acknowledgement; fails with the first refusal.
    fn flush(&self) -> Result<()> {
        self.producer.flush(FLUSH_TIMEOUT).map_err(|e| {
            self.options
                .broker_error("records were not acknowledged in time", &e)
        })?;
        let refused = self
            .producer
            .context()
            .first_error
            .lock()
            .ok()
            .and_then(|mut e| e.take());
        match refused {
            Some(reason) => Err(Error::Broker(format!(
                "table '{}': the broker refused a record of topic '{}': {reason}",
                self.options.table, self.topic
            ))),
            None => Ok(()),
        }
    }
}

impl SinkWriter for KafkaWriter {
    fn write(&mut self, chunk: &Chunk) -> riffle_runtime::Result<()> {
        let written = Arc::clone(&self.written);
        let data = chunk.data.project(&written.record)?;
        let timestamps = written
            .timestamp
            .map(|i| timestamps_ms(chunk.data.column(i)))
            .transpose()?;
        let headers = written
            .headers
            .map(|i| chunk.data.column(i).as_map().clone());
        for row in 0..data.num_rows() {
            let meta = RecordMeta {
                timestamp: timestamps
                    .as_ref()
                    .filter(|t| t.is_valid(row))
                    .map(|t| t.value(row)),
                headers: headers.as_ref().map(|h| owned_headers(h, row)),
            };
            match self.options.format {
                Format::Raw => {
                    let col = data.column(0);
                    if col.is_null(row) {
                        self.send(None, meta)?;
                    } else if self.is_string {
                        self.send(Some(col.as_string::<i32>().value(row).as_bytes()), meta)?;
                    } else {
                        self.send(Some(col.as_binary::<i32>().value(row)), meta)?;
                    }
                }
                Format::Json | Format::Csv => {
                    let mut line = std::mem::take(&mut self.line);
                    line.clear();
                    if self.options.format == Format::Json {
                        json::write_row(&data, row, &mut line);
                    } else {
                        csv::write_row(&data, row, &mut line);
                    }
                    let sent = self.send(Some(line.as_bytes()), meta);
                    self.line = line;
                    sent?;
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> riffle_runtime::Result<()> {
        Ok(self.flush()?)
    }

    fn pre_commit(&mut self, _checkpoint_id: u64) -> riffle_runtime::Result<Vec<Vec<u8>>> {
        if self.options.delivery == DeliveryGuarantee::AtLeastOnce {
            self.flush()?;
        }
        Ok(Vec::new())
    }
}

/// The metadata written with one record.
struct RecordMeta {
    timestamp: Option<i64>,
    headers: Option<OwnedHeaders>,
}

/// A `timestamp` column as epoch milliseconds.
fn timestamps_ms(column: &ArrayRef) -> Result<TimestampMillisecondArray> {
    let ms = cast(column, &DataType::Timestamp(TimeUnit::Millisecond, None))
        .map_err(|e| Error::Data(format!("the 'timestamp' metadata column: {e}")))?;
    Ok(ms.as_primitive::<TimestampMillisecondType>().clone())
}

/// Row `row` of a `headers` map column as Kafka headers.
fn owned_headers(map: &MapArray, row: usize) -> OwnedHeaders {
    let mut out = OwnedHeaders::new();
    if map.is_null(row) {
        return out;
    }
    let entries = map.value(row);
    let (Some(keys), Some(values)) = (
        entries.column(0).as_string_opt::<i32>(),
        entries.column(1).as_binary_opt::<i32>(),
    ) else {
        return out;
    };
    for i in 0..entries.len() {
        out = out.insert(Header {
            key: keys.value(i),
            value: values.is_valid(i).then(|| values.value(i)),
        });
    }
    out
}

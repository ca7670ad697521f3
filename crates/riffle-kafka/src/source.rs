//! The Kafka source: each subtask reads the partitions it owns
//! ([`crate::split::owner`]) with one consumer that assigns them itself, as
//! Flink's Kafka source does (the group id only names where offsets are
//! committed; there is no group rebalancing).
//!
//! Offsets are resolved to numbers when a partition's reading begins (the
//! startup mode for partitions found when the job starts, the earliest
//! offset for partitions found later or missing from a restored
//! checkpoint), and so is the end of a bounded read; both go into the
//! checkpoint with the offset of the next record, so a restored job reads
//! exactly the records after the checkpoint and ends where the first
//! attempt would have.
//!
//! Record values are decoded by the table's format in chunks of up to
//! `batch_size` records (the file formats' decoders, so parse errors are
//! treated alike); empty values (tombstones) are skipped, as Flink's
//! formats skip them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, BinaryBuilder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, SchemaRef};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use regex::Regex;
use riffle_connectors::TableDescriptor;
use riffle_connectors::format::csv::CsvDecoder;
use riffle_connectors::format::json::JsonDecoder;
use riffle_connectors::format::records::{BadRecord, ChunkError, RecordFormat, Span, decode_chunk};
use riffle_runtime::TaskInfo;
use riffle_runtime::connector::{SourceFactory, SourcePoll, SourceReader};
use riffle_runtime::metrics::TaskMetrics;

use crate::metadata::{Collected, Key, READABLE};
use crate::options::{BoundedMode, Format, KafkaOptions, StartupMode, Topics};
use crate::split::{PartitionSplit, owner};
use crate::{Error, Result};

/// How long a request to the brokers may take before the job fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// No end: the stop offset of an unbounded partition.
const NO_STOP: i64 = i64::MAX;

/// Where a column of the table comes from.
#[derive(Debug, Clone)]
enum Column {
    /// The record's column at this index of the record schema.
    Record(usize),
    /// A metadata key, in the declared type, and the column's name.
    Metadata(Key, DataType, String),
}

/// The table's columns: the record's (decoded by the format) and the
/// metadata ones, in the table's order.
#[derive(Debug)]
struct Layout {
    record_schema: SchemaRef,
    table_schema: SchemaRef,
    columns: Vec<Column>,
    /// Whether any column is metadata (asked per record, so kept).
    has_metadata: bool,
    /// Whether `headers` is read (copying headers costs).
    wants_headers: bool,
}

impl Layout {
    fn new(table: &TableDescriptor) -> Result<Layout> {
        let record_schema = table.record_schema();
        let mut columns = Vec::new();
        let mut record = 0;
        for f in table.schema.fields() {
            match table.metadata.iter().find(|m| m.name == *f.name()) {
                Some(m) => {
                    let key = Key::parse(&m.key).ok_or_else(|| {
                        Error::Options(format!(
                            "metadata key '{}' of column '{}' of table '{}' cannot be read; \
                             a Kafka source reads: {}",
                            m.key,
                            m.name,
                            table.name,
                            READABLE
                                .iter()
                                .map(|(k, _)| *k)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?;
                    columns.push(Column::Metadata(key, f.data_type().clone(), m.name.clone()));
                }
                None => {
                    columns.push(Column::Record(record));
                    record += 1;
                }
            }
        }
        let has_metadata = columns.iter().any(|c| matches!(c, Column::Metadata(..)));
        let wants_headers = columns
            .iter()
            .any(|c| matches!(c, Column::Metadata(Key::Headers, ..)));
        Ok(Layout {
            record_schema,
            table_schema: Arc::clone(&table.schema),
            columns,
            has_metadata,
            wants_headers,
        })
    }

    /// The table's row of a decoded `record` batch and its `meta`.
    fn assemble(&self, record: RecordBatch, meta: &Collected) -> Result<RecordBatch> {
        if !self.has_metadata {
            return Ok(record);
        }
        let mut columns = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            columns.push(match c {
                Column::Record(i) => Arc::clone(record.column(*i)),
                Column::Metadata(key, to, name) => meta.column(*key, to, name)?,
            });
        }
        RecordBatch::try_new(Arc::clone(&self.table_schema), columns)
            .map_err(|e| Error::Data(format!("cannot put metadata columns together: {e}")))
    }
}

/// Creates a Kafka reader per subtask.
#[derive(Debug)]
pub struct KafkaSourceFactory {
    options: Arc<KafkaOptions>,
    layout: Arc<Layout>,
    /// The columns the job reads (indices into the table's columns).
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
}

impl KafkaSourceFactory {
    /// A source of `table` (its options read into `options`), projected to
    /// `projection`.
    pub fn new(
        options: KafkaOptions,
        table: &TableDescriptor,
        projection: Option<Vec<usize>>,
    ) -> Result<KafkaSourceFactory> {
        options.check_source()?;
        let layout = Layout::new(table)?;
        let schema = match &projection {
            Some(p) => Arc::new(
                table
                    .schema
                    .project(p)
                    .map_err(|e| Error::Options(format!("table '{}': {e}", options.table)))?,
            ),
            None => Arc::clone(&table.schema),
        };
        Ok(KafkaSourceFactory {
            options: Arc::new(options),
            layout: Arc::new(layout),
            projection,
            schema,
        })
    }
}

impl SourceFactory for KafkaSourceFactory {
    fn connector(&self) -> &str {
        "kafka"
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn is_bounded(&self) -> bool {
        self.options.bounded != BoundedMode::Unbounded
    }

    fn restores_union(&self) -> bool {
        true
    }

    fn create_reader(
        &self,
        task: &TaskInfo,
        batch_size: usize,
        restored: Option<Vec<Vec<u8>>>,
    ) -> riffle_runtime::Result<Box<dyn SourceReader>> {
        let restored = restored
            .map(|items| {
                items
                    .iter()
                    .map(|b| PartitionSplit::decode(b))
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        let reader = KafkaReader::new(
            Arc::clone(&self.options),
            Arc::clone(&self.layout),
            self.projection.clone(),
            task,
            batch_size,
            restored,
        )?;
        Ok(Box::new(reader))
    }
}

/// One partition this subtask reads.
#[derive(Debug, Clone, Copy)]
struct Position {
    /// The offset of the next record.
    next: i64,
    /// The offset reading ends before ([`NO_STOP`]: never).
    stop: i64,
    /// The split's id for per-split watermarks (stable while it is held).
    id: u32,
}

impl Position {
    fn done(&self) -> bool {
        self.next >= self.stop
    }
}

/// The records of one partition waiting to be decoded: their values and
/// metadata, and the offset of the first (where a checkpoint taken now
/// resumes the partition: these records have not been emitted).
struct Pending {
    buf: Vec<u8>,
    spans: Vec<Span>,
    meta: Collected,
    first_offset: i64,
}

/// One subtask's reader.
struct KafkaReader {
    options: Arc<KafkaOptions>,
    consumer: BaseConsumer,
    subtask: usize,
    parallelism: usize,
    batch_size: usize,
    decoder: Decoder,
    layout: Arc<Layout>,
    projection: Option<Vec<usize>>,
    /// Interned topic names (for the metadata).
    topic_names: Vec<Arc<str>>,
    /// Partitions this subtask owns, by topic and partition.
    positions: BTreeMap<(String, i32), Position>,
    /// Every partition seen so far, owned or not (so that discovery only
    /// starts partitions that are new).
    known: BTreeMap<String, i32>,
    /// Whether the partitions known at start came from a checkpoint (a
    /// partition missing from it starts at the earliest offset).
    restored: bool,
    pattern: Option<Regex>,
    next_discovery: Option<Instant>,
    /// Records read and not yet emitted, by split id (one batch per poll
    /// comes from one partition, for per-partition watermarks).
    pending: BTreeMap<u32, Pending>,
    /// Records in `pending`.
    buffered: usize,
    /// The split of the batch `poll` returned last.
    last_split: Option<u32>,
    /// The partition of the last message read.
    last_key: Option<(String, i32)>,
    /// Emptied buffers of decoded batches, reused (growing a buffer from
    /// nothing for each batch costs copies and fresh pages).
    spare: Vec<Pending>,
    next_split_id: u32,
    bad: Vec<BadRecord>,
    metrics: Option<Arc<TaskMetrics>>,
    /// The offsets of each checkpoint taken and not yet completed (only
    /// with a `properties.group.id` to commit them to).
    uncommitted: BTreeMap<u64, Vec<(String, i32, i64)>>,
}

/// The format's decoder of record values.
enum Decoder {
    Text(Box<dyn RecordFormat>),
    /// `raw`: the value as the one column (STRING or BYTES).
    Raw(SchemaRef),
}

impl KafkaReader {
    fn new(
        options: Arc<KafkaOptions>,
        layout: Arc<Layout>,
        projection: Option<Vec<usize>>,
        task: &TaskInfo,
        batch_size: usize,
        restored: Option<Vec<PartitionSplit>>,
    ) -> Result<KafkaReader> {
        let group = format!("riffle-{}-{}", task.job_name, options.table);
        let config = options.client_config(&[
            ("group.id", group.as_str()),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "true"),
            // Flink reads uncommitted records unless told otherwise
            // (librdkafka's default is read_committed).
            ("isolation.level", "read_uncommitted"),
            ("auto.offset.reset", "earliest"),
        ]);
        let consumer: BaseConsumer = config
            .create()
            .map_err(|e| options.broker_error("cannot create a Kafka consumer", &e))?;
        let decoder = match options.format {
            Format::Json => Decoder::Text(Box::new(JsonDecoder::new(
                Arc::clone(&layout.record_schema),
                options.parse_errors,
            ))),
            Format::Csv => Decoder::Text(Box::new(CsvDecoder::new(
                Arc::clone(&layout.record_schema),
                options.parse_errors,
            ))),
            Format::Raw => Decoder::Raw(Arc::clone(&layout.record_schema)),
        };
        let pattern = match &options.topics {
            Topics::Pattern(p) => Some(Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                Error::Options(format!(
                    "table '{}': 'topic-pattern' is not a regular expression: {e}",
                    options.table
                ))
            })?),
            Topics::Names(_) => None,
        };
        let mut reader = KafkaReader {
            options,
            consumer,
            subtask: task.subtask_index,
            parallelism: task.parallelism.max(1),
            batch_size: batch_size.max(1),
            decoder,
            layout,
            topic_names: Vec::new(),
            projection,
            positions: BTreeMap::new(),
            known: BTreeMap::new(),
            restored: restored.is_some(),
            pattern,
            next_discovery: None,
            pending: BTreeMap::new(),
            buffered: 0,
            last_split: None,
            last_key: None,
            spare: Vec::new(),
            next_split_id: 0,
            bad: Vec::new(),
            metrics: None,
            uncommitted: BTreeMap::new(),
        };
        if let Some(splits) = restored {
            // A bounded read whose every subtask had finished before the
            // checkpoint: nothing is left to read (the checkpoint keeps no
            // splits of finished sources).
            if splits.is_empty() && reader.options.bounded != BoundedMode::Unbounded {
                reader.next_discovery = None;
                return Ok(reader);
            }
            for s in splits {
                let known = reader.known.entry(s.topic.clone()).or_insert(0);
                *known = (*known).max(s.partition + 1);
                if owner(&s.topic, s.partition, reader.parallelism) == reader.subtask {
                    let id = reader.new_split_id();
                    reader.positions.insert(
                        (s.topic, s.partition),
                        Position {
                            next: s.offset,
                            stop: s.stop,
                            id,
                        },
                    );
                }
            }
        }
        reader.discover(true)?;
        Ok(reader)
    }

    /// Looks for partitions (all at start, new ones later) and starts
    /// reading those this subtask owns.
    fn discover(&mut self, first: bool) -> Result<()> {
        // Set first: a failed discovery is tried again at the next interval.
        self.next_discovery = self.options.discovery_interval.map(|d| Instant::now() + d);
        let found = self.partitions(first)?;
        let mut started = Vec::new();
        for (topic, count) in found {
            let known = self.known.get(&topic).copied().unwrap_or(0);
            if count <= known && !first {
                continue;
            }
            for p in 0..count {
                let new = p >= known;
                if owner(&topic, p, self.parallelism) != self.subtask
                    || self.positions.contains_key(&(topic.clone(), p))
                {
                    continue;
                }
                // At a fresh start the startup mode decides; a partition
                // found later, or missing from a restored checkpoint, is
                // read from its beginning.
                let by_startup = first && !self.restored && new;
                started.push((topic.clone(), p, by_startup));
            }
            self.known.insert(topic, count.max(known));
        }
        for (topic, partition, by_startup) in started {
            let next = if by_startup {
                self.startup_offset(&topic, partition)?
            } else {
                self.watermarks(&topic, partition)?.0
            };
            let stop = self.stop_offset(&topic, partition)?;
            tracing::info!(
                table = %self.options.table,
                subtask = self.subtask,
                topic = %topic,
                partition,
                offset = next,
                stop = (stop != NO_STOP).then_some(stop),
                "reading a Kafka partition"
            );
            let id = self.new_split_id();
            self.positions
                .insert((topic, partition), Position { next, stop, id });
        }
        self.assign()
    }

    /// The topics and their partition counts on the brokers. At start a
    /// named topic that does not exist is an error; later it is skipped.
    fn partitions(&self, first: bool) -> Result<Vec<(String, i32)>> {
        let metadata = match &self.options.topics {
            Topics::Names(names) if names.len() == 1 => self
                .consumer
                .fetch_metadata(Some(&names[0]), REQUEST_TIMEOUT),
            _ => self.consumer.fetch_metadata(None, REQUEST_TIMEOUT),
        }
        .map_err(|e| {
            self.options
                .broker_error("cannot read the topics' metadata", &e)
        })?;
        let mut out = Vec::new();
        for t in metadata.topics() {
            let wanted = match (&self.options.topics, &self.pattern) {
                (Topics::Names(names), _) => names.iter().any(|n| n == t.name()),
                (Topics::Pattern(_), Some(re)) => re.is_match(t.name()),
                (Topics::Pattern(_), None) => false,
            };
            if !wanted || t.name().starts_with("__") {
                continue;
            }
            if t.error().is_some() || t.partitions().is_empty() {
                continue;
            }
            out.push((t.name().to_string(), t.partitions().len() as i32));
        }
        if first && let Topics::Names(names) = &self.options.topics {
            for n in names {
                if !out.iter().any(|(t, _)| t == n) {
                    return Err(Error::Options(format!(
                        "table '{}': topic '{n}' does not exist on {} (create it first; \
                         topics are not created by the source)",
                        self.options.table,
                        self.options.bootstrap()
                    )));
                }
            }
        }
        Ok(out)
    }

    /// The low and high watermarks of a partition.
    fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64)> {
        self.consumer
            .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
            .map_err(|e| {
                self.options.broker_error(
                    &format!("cannot read the offsets of partition {partition} of topic '{topic}'"),
                    &e,
                )
            })
    }

    /// The offset the startup mode starts `partition` at.
    fn startup_offset(&self, topic: &str, partition: i32) -> Result<i64> {
        match &self.options.startup {
            StartupMode::Earliest => Ok(self.watermarks(topic, partition)?.0),
            StartupMode::Latest => Ok(self.watermarks(topic, partition)?.1),
            StartupMode::Timestamp(ts) => self.offset_for_time(topic, partition, *ts),
            StartupMode::GroupOffsets => self.committed_or_reset(topic, partition),
            StartupMode::SpecificOffsets(map) => match map.get(&partition) {
                Some(o) => Ok(*o),
                None => self.committed_or_reset(topic, partition),
            },
        }
    }

    /// The offset the bounded mode ends `partition` before.
    fn stop_offset(&self, topic: &str, partition: i32) -> Result<i64> {
        match &self.options.bounded {
            BoundedMode::Unbounded => Ok(NO_STOP),
            BoundedMode::Latest => Ok(self.watermarks(topic, partition)?.1),
            BoundedMode::Timestamp(ts) => self.offset_for_time(topic, partition, *ts),
            BoundedMode::GroupOffsets => self.committed_or_reset(topic, partition),
            BoundedMode::SpecificOffsets(map) => match map.get(&partition) {
                Some(o) => Ok(*o),
                None => self.committed_or_reset(topic, partition),
            },
        }
    }

    /// The first offset with a timestamp at or after `ts`, else the end.
    fn offset_for_time(&self, topic: &str, partition: i32, ts: i64) -> Result<i64> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(ts))
            .map_err(|e| self.options.broker_error("bad partition", &e))?;
        let found = self
            .consumer
            .offsets_for_times(tpl, REQUEST_TIMEOUT)
            .map_err(|e| {
                self.options.broker_error(
                    &format!("cannot find the offset of time {ts} in partition {partition} of topic '{topic}'"),
                    &e,
                )
            })?;
        match found.find_partition(topic, partition).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => Ok(o),
            _ => Ok(self.watermarks(topic, partition)?.1),
        }
    }

    /// The group's committed offset of `partition`, else what
    /// `properties.auto.offset.reset` says, else an error.
    fn committed_or_reset(&self, topic: &str, partition: i32) -> Result<i64> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        let committed = self
            .consumer
            .committed_offsets(tpl, REQUEST_TIMEOUT)
            .map_err(|e| {
                self.options
                    .broker_error("cannot read the group's committed offsets", &e)
            })?;
        if let Some(Offset::Offset(o)) = committed
            .find_partition(topic, partition)
            .map(|e| e.offset())
        {
            return Ok(o);
        }
        match self
            .options
            .properties
            .get("auto.offset.reset")
            .map(String::as_str)
        {
            Some("earliest" | "smallest" | "beginning") => Ok(self.watermarks(topic, partition)?.0),
            Some("latest" | "largest" | "end") => Ok(self.watermarks(topic, partition)?.1),
            _ => Err(Error::Options(format!(
                "table '{}': group '{}' has no committed offset for partition {partition} of topic \
                 '{topic}'; set 'properties.auto.offset.reset' to 'earliest' or 'latest', or \
                 another 'scan.startup.mode'",
                self.options.table,
                self.options
                    .properties
                    .get("group.id")
                    .map(String::as_str)
                    .unwrap_or_default()
            ))),
        }
    }

    /// Hands the consumer the partitions still to read, at their offsets.
    fn assign(&self) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), pos) in &self.positions {
            if !pos.done() {
                tpl.add_partition_offset(topic, *partition, Offset::Offset(pos.next))
                    .map_err(|e| self.options.broker_error("bad partition", &e))?;
            }
        }
        self.consumer
            .assign(&tpl)
            .map_err(|e| self.options.broker_error("cannot assign partitions", &e))
    }

    fn new_split_id(&mut self) -> u32 {
        self.next_split_id += 1;
        self.next_split_id - 1
    }

    /// Decodes the records waiting of split `id` into a batch of the
    /// table's columns (projected), if any row is left.
    fn decode(&mut self, id: u32) -> riffle_runtime::Result<Option<RecordBatch>> {
        let Some(mut pending) = self.pending.remove(&id) else {
            return Ok(None);
        };
        self.buffered -= pending.spans.len();
        self.bad.clear();
        let batch = match &mut self.decoder {
            Decoder::Raw(schema) => Some(raw_batch(schema, &pending)?),
            Decoder::Text(format) => {
                let decoded =
                    decode_chunk(format.as_mut(), &pending.buf, &pending.spans, &mut self.bad);
                if !self.bad.is_empty()
                    && let Some(m) = &self.metrics
                {
                    m.add_records_in_errors(self.bad.len());
                }
                match decoded {
                    Ok(b) => b,
                    Err(ChunkError::Record(bad)) => {
                        let key = format!("{}.ignore-parse-errors", self.options.format.name());
                        let at = pending.meta.describe(bad.line.saturating_sub(1) as usize);
                        let field = if bad.fields.is_empty() {
                            String::new()
                        } else {
                            format!(", field '{}'", bad.fields.join("', '"))
                        };
                        return Err(Error::Data(format!(
                            "table '{}': cannot read the record at {at}{field}: {} (set '{key}' = \
                             'true' to skip or repair such records)",
                            self.options.table, bad.reason
                        ))
                        .into());
                    }
                    Err(ChunkError::Internal(e)) => {
                        return Err(riffle_runtime::Error::Internal(format!(
                            "table '{}': cannot put decoded Kafka records together: {e}",
                            self.options.table
                        )));
                    }
                }
            }
        };
        // Records the format skipped have no row: drop their metadata.
        let skipped: Vec<usize> = self
            .bad
            .iter()
            .filter(|b| !b.kept)
            .map(|b| b.line.saturating_sub(1) as usize)
            .collect();
        pending.meta.remove(&skipped);
        let batch = batch
            .map(|b| self.layout.assemble(b, &pending.meta))
            .transpose()?;
        pending.buf.clear();
        pending.spans.clear();
        pending.meta.clear();
        self.spare.push(pending);
        Ok(match (batch, &self.projection) {
            (Some(b), Some(p)) => Some(b.project(p)?),
            (b, _) => b,
        })
    }

    /// Where a checkpoint taken now resumes each partition: its first
    /// record not yet emitted.
    fn resume_offsets(&self) -> impl Iterator<Item = (&(String, i32), i64, &Position)> {
        self.positions.iter().map(|(key, pos)| {
            let next = self
                .pending
                .get(&pos.id)
                .map_or(pos.next, |p| p.first_offset);
            (key, next, pos)
        })
    }

    /// Whether every partition reached its end (bounded reads only).
    fn finished(&self) -> bool {
        self.options.bounded != BoundedMode::Unbounded
            && self.buffered == 0
            && self.positions.values().all(Position::done)
    }

    /// Marks `partition` done when the consumer reached its end at or past
    /// the stop offset (the last offsets before it may be transaction
    /// markers, which never arrive as records).
    fn at_end(&mut self, topic: &str, partition: i32) -> Result<()> {
        let Some(pos) = self.positions.get(&(topic.to_string(), partition)).copied() else {
            return Ok(());
        };
        if pos.stop == NO_STOP || pos.done() {
            return Ok(());
        }
        let (_, high) = self.watermarks(topic, partition)?;
        if high >= pos.stop
            && let Some(p) = self.positions.get_mut(&(topic.to_string(), partition))
        {
            p.next = p.next.max(pos.stop);
            self.assign()?;
        }
        Ok(())
    }
}

impl SourceReader for KafkaReader {
    fn poll(&mut self) -> riffle_runtime::Result<SourcePoll> {
        if self.next_discovery.is_some_and(|t| Instant::now() >= t)
            && let Err(e) = self.discover(false)
        {
            tracing::warn!(table = %self.options.table, "partition discovery failed: {e}");
        }
        let mut reassign = false;
        while self.buffered < self.batch_size {
            let Some(result) = self.consumer.poll(Duration::ZERO) else {
                break;
            };
            let message = match result {
                Ok(m) => m,
                Err(KafkaError::PartitionEOF(p)) => {
                    // The end of a partition; which topic is not said, so
                    // every owned partition of that number is checked.
                    let topics: Vec<String> = self
                        .positions
                        .keys()
                        .filter(|(_, q)| *q == p)
                        .map(|(t, _)| t.clone())
                        .collect();
                    for t in topics {
                        self.at_end(&t, p)?;
                    }
                    continue;
                }
                Err(e) => {
                    return Err(self
                        .options
                        .broker_error("cannot read from Kafka", &e)
                        .into());
                }
            };
            // Messages come in runs per partition: the key of the last one
            // is reused instead of a new String per message.
            if self
                .last_key
                .as_ref()
                .is_none_or(|(t, p)| t != message.topic() || *p != message.partition())
            {
                self.last_key = Some((message.topic().to_string(), message.partition()));
            }
            let Some(pos) = self
                .last_key
                .as_ref()
                .and_then(|key| self.positions.get_mut(key))
            else {
                continue;
            };
            let offset = message.offset();
            if offset < pos.next || pos.done() {
                continue;
            }
            if offset >= pos.stop {
                pos.next = pos.stop;
                reassign = true;
                continue;
            }
            pos.next = offset + 1;
            if pos.done() {
                reassign = true;
            }
            let Some(value) = message.payload().filter(|v| !v.is_empty()) else {
                continue;
            };
            let wants_headers = self.layout.wants_headers;
            let spare = &mut self.spare;
            let pending = self
                .pending
                .entry(pos.id)
                .or_insert_with(|| match spare.pop() {
                    Some(mut p) => {
                        p.first_offset = offset;
                        p
                    }
                    None => Pending {
                        buf: Vec::new(),
                        spans: Vec::new(),
                        meta: Collected::new(wants_headers),
                        first_offset: offset,
                    },
                });
            let start = pending.buf.len();
            pending.buf.extend_from_slice(value);
            pending.buf.push(b'\n');
            // `line`: the record's place in the batch (from 1), which names
            // it in errors and tells which records a format skipped.
            pending.spans.push(Span {
                start,
                end: pending.buf.len(),
                line: pending.spans.len() as u64 + 1,
            });
            self.buffered += 1;
            if self.layout.has_metadata {
                let topic = match self.topic_names.iter().find(|t| ***t == *message.topic()) {
                    Some(t) => Arc::clone(t),
                    None => {
                        let t: Arc<str> = Arc::from(message.topic());
                        self.topic_names.push(Arc::clone(&t));
                        t
                    }
                };
                pending.meta.push(&topic, &message);
            }
        }
        if reassign {
            self.assign()?;
        }
        // One partition's records per batch: the one with the most waiting.
        while let Some(id) = self
            .pending
            .iter()
            .max_by_key(|(_, p)| p.spans.len())
            .map(|(id, _)| *id)
        {
            if let Some(batch) = self.decode(id)? {
                self.last_split = Some(id);
                return Ok(SourcePoll::Batch(batch));
            }
        }
        if self.finished() {
            return Ok(SourcePoll::End);
        }
        Ok(SourcePoll::Pending)
    }

    fn batch_split(&self) -> Option<u32> {
        self.last_split
    }

    fn assigned_splits(&self) -> Vec<u32> {
        self.positions
            .values()
            .filter(|p| !p.done() || self.pending.contains_key(&p.id))
            .map(|p| p.id)
            .collect()
    }

    fn snapshot_splits(&mut self, checkpoint_id: u64) -> riffle_runtime::Result<Vec<Vec<u8>>> {
        if self.options.properties.contains_key("group.id") {
            let offsets = self
                .resume_offsets()
                .map(|((t, p), next, _)| (t.clone(), *p, next))
                .collect();
            self.uncommitted.insert(checkpoint_id, offsets);
        }
        Ok(self
            .resume_offsets()
            .map(|((topic, partition), next, pos)| {
                PartitionSplit {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: next,
                    stop: pos.stop,
                }
                .encode()
            })
            .collect())
    }

    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> riffle_runtime::Result<()> {
        // The offsets of this checkpoint go to the group (Flink's
        // commit-on-checkpoint, for monitoring; reading never uses them
        // once the job runs). Earlier ones are superseded.
        let Some(offsets) = self.uncommitted.remove(&checkpoint_id) else {
            return Ok(());
        };
        self.uncommitted.retain(|id, _| *id > checkpoint_id);
        let mut tpl = TopicPartitionList::new();
        for (topic, partition, offset) in offsets {
            // Only an offset the client cannot represent fails here.
            if let Err(e) = tpl.add_partition_offset(&topic, partition, Offset::Offset(offset)) {
                tracing::warn!(table = %self.options.table, "offset {offset} not committed: {e}");
            }
        }
        if tpl.count() > 0
            && let Err(e) = self.consumer.commit(&tpl, CommitMode::Async)
        {
            tracing::warn!(
                table = %self.options.table,
                checkpoint = checkpoint_id,
                "cannot commit the offsets of a completed checkpoint to the group: {e}"
            );
        }
        Ok(())
    }

    fn bind_metrics(&mut self, metrics: Arc<TaskMetrics>) {
        self.metrics = Some(metrics);
    }
}

/// The `raw` format's rows: each value as the one column.
fn raw_batch(schema: &SchemaRef, pending: &Pending) -> riffle_runtime::Result<RecordBatch> {
    let values = pending.spans.iter().map(|s| {
        pending
            .buf
            .get(s.start..s.end.saturating_sub(1))
            .unwrap_or_default()
    });
    let column: ArrayRef = match schema.fields().first().map(|f| f.data_type()) {
        Some(DataType::Utf8) => {
            let mut b = StringBuilder::new();
            for v in values {
                b.append_value(String::from_utf8_lossy(v));
            }
            Arc::new(b.finish())
        }
        _ => {
            let mut b = BinaryBuilder::new();
            for v in values {
                b.append_value(v);
            }
            Arc::new(b.finish())
        }
    };
    Ok(RecordBatch::try_new(Arc::clone(schema), vec![column])?)
}

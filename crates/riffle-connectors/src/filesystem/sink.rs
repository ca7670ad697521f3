//! Writing files, exactly once when the job checkpoints, into partition
//! directories when the table is `PARTITIONED BY`.
//!
//! File names are Flink's: `part-<uuid>-<subtask>-<n>`, where `<uuid>` is a
//! random UUID drawn by each writer when it is created and `<n>` counts the
//! writer's files. Two jobs (or two runs of one job) writing the same path
//! therefore never overwrite each other's files: a second run adds its rows
//! next to the first one's, as in Flink. Writing a hidden name first and
//! renaming it is what keeps unfinished files invisible; the UUID only keeps
//! the names apart.
//!
//! Without checkpoints each subtask writes one hidden in-progress file (per
//! partition), `.part-<uuid>-<subtask>-<n>.inprogress`, and renames it to
//! `part-<uuid>-<subtask>-<n>` when its input ends; a run that fails before
//! that leaves only hidden files. (A job restarted without checkpoints reads
//! its input again from the start, so, as in Flink, files that subtasks of
//! the failed run had already finished stay next to the new run's: only
//! checkpoints make the output exactly-once.)
//!
//! With checkpoints the sink commits in two phases, like Flink's file sink.
//! Rows go into a hidden in-progress file (`.part-<uuid>-<subtask>-<n>.inprogress`)
//! that rolls to a new one after `sink.rolling-policy.file-size` bytes or
//! `sink.rolling-policy.rollover-interval`, or when nothing was written to it
//! for `sink.rolling-policy.inactivity-interval`. The time-based rules are
//! checked every `sink.rolling-policy.check-interval`, when a batch or a
//! watermark arrives. At a checkpoint barrier every open file is closed;
//! every closed file becomes *pending* and is recorded in the checkpoint.
//! When the checkpoint completes, pending files are renamed to their visible
//! names (`part-<uuid>-<subtask>-<n>`). After a failure the restored
//! checkpoint's pending files are renamed by the names recorded in the
//! checkpoint (again: the rename is idempotent), and files written after it
//! stay hidden forever, so no row is lost and none is visible twice. The
//! restored writer draws a new `<uuid>` and starts `<n>` at 0 again, so it
//! can never reuse the name of a file an earlier attempt committed.
//!
//! Partitions: each row goes to the file of its partition directory (see
//! [`super::partition`]); a subtask keeps at most one open file per
//! partition, and the partition columns are not written into it. With
//! `sink.partition-commit.policy.kind` set, a partition is *committed* (an
//! empty `_SUCCESS` file in its directory) only after some of its files
//! became visible, when its trigger is due (see [`super::commit`]); the
//! trigger is asked when a checkpoint completes. Once the input has ended,
//! a partition whose files are all visible is committed whatever the
//! trigger says: at the final checkpoint, or in `finish` without
//! checkpoints. A partition that still has hidden rows when it commits is
//! committed again once they are visible. The partitions waiting for their
//! commit are checkpointed as their own items, so a restored job still
//! commits them. Every subtask commits the partitions it wrote to, so a
//! partition written by several subtasks gets its `_SUCCESS` several times
//! (an idempotent put), and a reader may see the first one a moment before
//! the last subtask's files of that checkpoint are renamed.
//!
//! State items (each self-describing, so items can be dealt to other
//! subtasks on a rescale): a pending file is `str hidden, str visible,
//! u64 checkpoint` (the format from before partitions; `hidden` is never
//! empty); a waiting partition is `str "", str "partition", str directory,
//! i64 creation time (ms)`.
//!
//! Ownership: the writer is driven by its subtask's thread only; `open`,
//! `pending` and `partitions` change in `write`, `on_watermark`,
//! `pre_commit`, `commit`, `recover` and `finish`, never elsewhere.
//!
//! Every file goes through `riffle-storage`, so `path` may be a local
//! directory or an `s3://`, `gs://` or `abfs://` location.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arrow::record_batch::RecordBatch;
use riffle_common::{Chunk, RowKind};
use riffle_runtime::TaskInfo;
use riffle_runtime::checkpoint::{Decoder, Encoder};
use riffle_runtime::connector::{SinkFactory, SinkWriter};
use riffle_storage::{BlobWriter, Storage};

use super::Format;
use super::commit::PartitionCommit;
use super::partition::{Partitioning, values_of};
use crate::format::json::write_row;

/// The kind tag of a waiting partition's state item.
const PARTITION_ITEM: &str = "partition";

/// Flink's `sink.rolling-policy.*` options.
#[derive(Debug, Clone, Copy)]
pub(super) struct RollingPolicy {
    /// Roll after this many bytes.
    pub file_size: u64,
    /// Roll a file open this long (ms).
    pub rollover_interval_ms: i64,
    /// How often open files are checked against the time rules (ms).
    pub check_interval_ms: i64,
    /// Roll a file nothing was written to for this long (ms).
    pub inactivity_interval_ms: i64,
}

/// Wall-clock milliseconds; tests drive the clock by hand.
#[derive(Debug, Clone)]
pub(super) enum Clock {
    /// The system clock.
    System,
    /// A clock that reads the shared value (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Manual(Arc<AtomicI64>),
}

impl Clock {
    fn now_ms(&self) -> i64 {
        match self {
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            Clock::Manual(t) => t.load(Ordering::Relaxed),
        }
    }
}

/// The sink factory of one table.
#[derive(Debug)]
pub struct FileSink {
    pub(super) storage: Storage,
    pub(super) format: Format,
    pub(super) rolling: RollingPolicy,
    /// How rows are split into directories (`None`: not partitioned).
    pub(super) partitioning: Option<Arc<Partitioning>>,
    /// Where writers read the time.
    pub(super) clock: Clock,
}

impl SinkFactory for FileSink {
    fn connector(&self) -> &str {
        "filesystem"
    }

    fn accepts_updates(&self) -> bool {
        self.format == Format::DebeziumJson
    }

    fn create_writer(&self, task: &TaskInfo) -> riffle_runtime::Result<Box<dyn SinkWriter>> {
        let now = self.clock.now_ms();
        Ok(Box::new(FileWriter {
            storage: self.storage.clone(),
            format: self.format,
            rolling: self.rolling,
            partitioning: self.partitioning.as_ref().map(Arc::clone),
            clock: self.clock.clone(),
            subtask: task.subtask_index,
            transactional: task.checkpointing,
            uuid: random_uuid(),
            next_part: 0,
            open: BTreeMap::new(),
            pending: Vec::new(),
            partitions: BTreeMap::new(),
            watermark: i64::MIN,
            checkpoint_watermarks: BTreeMap::new(),
            next_check_ms: now.saturating_add(self.rolling.check_interval_ms),
            ended: false,
            line: String::new(),
            dir: String::new(),
            scratch: String::new(),
        }))
    }
}

/// A random (version 4) UUID in its usual text form, naming one writer's
/// files as Flink does (`part-<uuid>-<subtask>-<n>`).
///
/// The 128 bits come from two SipHash hashers keyed by `RandomState`, whose
/// keys the standard library draws from the operating system's random source
/// (once per thread, then stepped for every new state), over the time, the
/// process id and a process-wide counter. That is as unpredictable as a
/// random UUID needs to be for names that must not collide, without a
/// random number crate.
fn random_uuid() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::AtomicU64;
    static DRAWN: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seq = DRAWN.fetch_add(1, Ordering::Relaxed);
    let half = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        h.write_u64(seq);
        h.finish()
    };
    let bits = (u128::from(half(1)) << 64) | u128::from(half(2));
    // Version 4 (random) and the RFC 4122 variant, as `UUID.randomUUID()`.
    let bits = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        bits >> 96,
        (bits >> 80) & 0xffff,
        (bits >> 64) & 0xffff,
        (bits >> 48) & 0xffff,
        bits & 0xffff_ffff_ffff
    )
}

fn io_error(what: String) -> riffle_runtime::Error {
    riffle_runtime::Error::External(what)
}

/// `name` inside partition directory `dir` (`""`: the table's directory).
fn in_dir(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// A file being written.
struct InProgress {
    hidden: String,
    visible: String,
    out: BlobWriter,
    bytes: u64,
    /// When it was opened (ms).
    opened_ms: i64,
    /// When it was last written to (ms).
    written_ms: i64,
}

/// A closed file waiting for its checkpoint to complete.
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    hidden: String,
    visible: String,
    /// Its partition directory (`""` without partitions).
    partition: String,
    /// The checkpoint that covers it, once one did.
    checkpoint: Option<u64>,
}

impl Pending {
    fn encode(&self, checkpoint: u64) -> Vec<u8> {
        let mut e = Encoder::new();
        e.str(&self.hidden);
        e.str(&self.visible);
        e.u64(checkpoint);
        e.into_bytes()
    }
}

/// A partition of this writer that is not committed yet.
#[derive(Debug, Clone, PartialEq)]
struct Waiting {
    /// When its first row arrived (ms, wall clock).
    created_ms: i64,
    /// Its partition time (epoch ms) for the `partition-time` trigger.
    time_ms: Option<i64>,
    /// Whether some of its files are visible (only then can it commit).
    visible: bool,
}

/// One decoded state item.
#[derive(Debug, PartialEq)]
enum StateItem {
    /// A pending file.
    File(Pending),
    /// A partition waiting for its commit: directory and creation time.
    Partition(String, i64),
}

impl StateItem {
    fn encode_partition(dir: &str, created_ms: i64) -> Vec<u8> {
        let mut e = Encoder::new();
        e.str("");
        e.str(PARTITION_ITEM);
        e.str(dir);
        e.i64(created_ms);
        e.into_bytes()
    }

    fn decode(b: &[u8]) -> riffle_runtime::Result<Self> {
        let mut d = Decoder::new(b);
        let first = d.str()?;
        if !first.is_empty() {
            let visible = d.str()?.to_string();
            return Ok(StateItem::File(Pending {
                hidden: first.to_string(),
                partition: visible
                    .rsplit_once('/')
                    .map(|(dir, _)| dir.to_string())
                    .unwrap_or_default(),
                visible,
                checkpoint: Some(d.u64()?),
            }));
        }
        match d.str()? {
            PARTITION_ITEM => {
                let dir = d.str()?.to_string();
                Ok(StateItem::Partition(dir, d.i64()?))
            }
            other => Err(riffle_runtime::Error::External(format!(
                "corrupt state: the filesystem sink does not know state items of kind '{other}'"
            ))),
        }
    }
}

struct FileWriter {
    storage: Storage,
    format: Format,
    rolling: RollingPolicy,
    partitioning: Option<Arc<Partitioning>>,
    clock: Clock,
    subtask: usize,
    transactional: bool,
    /// Drawn when the writer is created: its files' names never collide
    /// with those of another job, run or attempt.
    uuid: String,
    /// The `<n>` of the next file.
    next_part: u64,
    /// Open files by partition directory (`""` without partitions).
    open: BTreeMap<String, InProgress>,
    /// Closed files not yet visible.
    pending: Vec<Pending>,
    /// Partitions not committed yet, by directory (only with partition commit).
    partitions: BTreeMap<String, Waiting>,
    /// The last watermark seen.
    watermark: i64,
    /// The watermark at each checkpoint not yet committed.
    checkpoint_watermarks: BTreeMap<u64, i64>,
    /// When the time rules of the rolling policy are checked next (ms).
    next_check_ms: i64,
    /// Input has ended.
    ended: bool,
    /// Formatting buffers, reused.
    line: String,
    dir: String,
    scratch: String,
}

/// Appends one row of `data` in `format`, with its newline.
fn format_row(format: Format, data: &RecordBatch, kind: RowKind, row: usize, out: &mut String) {
    match format {
        Format::Json => write_row(data, row, out),
        Format::Csv => crate::format::csv::write_row(data, row, out),
        Format::DebeziumJson => {
            // Flink's debezium-json encoding: additions as "c" with
            // `after`, retractions as "d" with `before`.
            if matches!(kind, RowKind::Insert | RowKind::UpdateAfter) {
                out.push_str("{\"before\":null,\"after\":");
                write_row(data, row, out);
                out.push_str(",\"op\":\"c\"}");
            } else {
                out.push_str("{\"before\":");
                write_row(data, row, out);
                out.push_str(",\"after\":null,\"op\":\"d\"}");
            }
        }
    }
    out.push('\n');
}

impl FileWriter {
    fn commit_config(&self) -> Option<&PartitionCommit> {
        self.partitioning.as_deref().and_then(|p| p.commit.as_ref())
    }

    /// Notes that partition `dir` got rows (partition commit only).
    fn track_partition(&mut self, dir: &str, now: i64) -> riffle_runtime::Result<()> {
        let Some(commit) = self.commit_config() else {
            return Ok(());
        };
        if self.partitions.contains_key(dir) {
            return Ok(());
        }
        let time_ms = commit.partition_time(&values_of(dir)).map_err(|e| {
            riffle_runtime::Error::User(format!("partition '{dir}' of the filesystem sink: {e}"))
        })?;
        self.partitions.insert(
            dir.to_string(),
            Waiting {
                created_ms: now,
                time_ms,
                visible: false,
            },
        );
        Ok(())
    }

    /// The open file of partition `dir`, opened if there is none.
    fn open(&mut self, dir: &str, now: i64) -> riffle_runtime::Result<&mut InProgress> {
        if !self.open.contains_key(dir) {
            let name = format!("part-{}-{}-{}", self.uuid, self.subtask, self.next_part);
            self.next_part += 1;
            let hidden = in_dir(dir, &format!(".{name}.inprogress"));
            let out = self.storage.writer(&hidden).map_err(|e| {
                io_error(format!(
                    "cannot create {}/{hidden}: {e}",
                    self.storage.url()
                ))
            })?;
            self.open.insert(
                dir.to_string(),
                InProgress {
                    hidden,
                    visible: in_dir(dir, &name),
                    out,
                    bytes: 0,
                    opened_ms: now,
                    written_ms: now,
                },
            );
        }
        self.open
            .get_mut(dir)
            .ok_or_else(|| riffle_runtime::Error::Internal("no open part file".into()))
    }

    /// Appends formatted rows to partition `dir`'s file; rolls it if the
    /// rolling policy says so.
    fn append(&mut self, dir: &str, text: &str, now: i64) -> riffle_runtime::Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        self.track_partition(dir, now)?;
        let rolling = self.rolling;
        let transactional = self.transactional;
        let cur = self.open(dir, now)?;
        cur.out.write_all(text.as_bytes())?;
        cur.bytes += text.len() as u64;
        cur.written_ms = now;
        let roll = transactional
            && (cur.bytes >= rolling.file_size
                || now.saturating_sub(cur.opened_ms) >= rolling.rollover_interval_ms);
        if roll {
            self.close(dir)?;
        }
        Ok(())
    }

    /// Closes partition `dir`'s open file; it becomes pending.
    fn close(&mut self, dir: &str) -> riffle_runtime::Result<()> {
        let Some(cur) = self.open.remove(dir) else {
            return Ok(());
        };
        cur.out.finish().map_err(|e| {
            io_error(format!(
                "cannot write {}/{}: {e}",
                self.storage.url(),
                cur.hidden
            ))
        })?;
        self.pending.push(Pending {
            hidden: cur.hidden,
            visible: cur.visible,
            partition: dir.to_string(),
            checkpoint: None,
        });
        Ok(())
    }

    fn close_all(&mut self) -> riffle_runtime::Result<()> {
        let dirs: Vec<String> = self.open.keys().cloned().collect();
        for dir in dirs {
            self.close(&dir)?;
        }
        Ok(())
    }

    /// Every `check-interval`: rolls files open longer than the rollover
    /// interval or idle longer than the inactivity interval.
    fn check_rolling(&mut self, now: i64) -> riffle_runtime::Result<()> {
        if !self.transactional || now < self.next_check_ms {
            return Ok(());
        }
        self.next_check_ms = now.saturating_add(self.rolling.check_interval_ms);
        let r = self.rolling;
        let due: Vec<String> = self
            .open
            .iter()
            .filter(|(_, f)| {
                now.saturating_sub(f.opened_ms) >= r.rollover_interval_ms
                    || now.saturating_sub(f.written_ms) >= r.inactivity_interval_ms
            })
            .map(|(dir, _)| dir.clone())
            .collect();
        for dir in due {
            self.close(&dir)?;
        }
        Ok(())
    }

    /// Makes a closed file visible; done already is fine.
    fn publish(&mut self, p: &Pending) -> riffle_runtime::Result<()> {
        match self.storage.rename(&p.hidden, &p.visible) {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {
                let there = self
                    .storage
                    .head(&p.visible)
                    .map_err(|e| io_error(e.to_string()))?;
                if there.is_none() {
                    return Err(io_error(format!(
                        "pending file {}/{} is gone and was never committed: output is missing",
                        self.storage.url(),
                        p.hidden
                    )));
                }
            }
            Err(e) => {
                return Err(io_error(format!(
                    "cannot commit {}/{}: {e}",
                    self.storage.url(),
                    p.visible
                )));
            }
        }
        if let Some(w) = self.partitions.get_mut(&p.partition) {
            w.visible = true;
        }
        Ok(())
    }

    /// Whether partition `dir` has rows that are not visible yet.
    fn has_hidden_rows(&self, dir: &str) -> bool {
        self.open.contains_key(dir) || self.pending.iter().any(|p| p.partition == dir)
    }

    /// Commits the partitions with visible files whose trigger is due at
    /// `watermark` (or, once the input ended, all whose rows are visible).
    fn commit_partitions(&mut self, watermark: i64) -> riffle_runtime::Result<()> {
        let Some(commit) = self.commit_config().cloned() else {
            return Ok(());
        };
        let now = self.clock.now_ms();
        let due: Vec<String> = self
            .partitions
            .iter()
            .filter(|(dir, w)| {
                w.visible
                    && ((self.ended && !self.has_hidden_rows(dir))
                        || commit.is_due(w.created_ms, w.time_ms, now, watermark))
            })
            .map(|(dir, _)| dir.clone())
            .collect();
        for dir in due {
            let path = in_dir(&dir, &commit.success_file);
            let file = self.storage.writer(&path).map_err(|e| {
                io_error(format!("cannot create {}/{path}: {e}", self.storage.url()))
            })?;
            file.finish().map_err(|e| {
                io_error(format!("cannot write {}/{path}: {e}", self.storage.url()))
            })?;
            if self.has_hidden_rows(&dir) {
                // Rows after the committed ones: committed again once visible.
                if let Some(w) = self.partitions.get_mut(&dir) {
                    w.visible = false;
                }
            } else {
                self.partitions.remove(&dir);
            }
        }
        Ok(())
    }
}

impl SinkWriter for FileWriter {
    fn write(&mut self, chunk: &Chunk) -> riffle_runtime::Result<()> {
        if !chunk.is_insert_only() && self.format != Format::DebeziumJson {
            return Err(riffle_runtime::Error::User(
                "the filesystem sink received an update or delete; it only supports append-only \
                 input unless its format is 'debezium-json'"
                    .into(),
            ));
        }
        let now = self.clock.now_ms();
        match self.partitioning.as_ref().map(Arc::clone) {
            None => {
                let mut line = std::mem::take(&mut self.line);
                line.clear();
                for row in 0..chunk.num_rows() {
                    format_row(self.format, &chunk.data, chunk.kind(row), row, &mut line);
                }
                let r = self.append("", &line, now);
                self.line = line;
                r?;
            }
            Some(p) => {
                let columns = chunk.data.columns();
                let data = chunk.data.project(&p.data_indices)?;
                // Rows grouped by directory, in arrival order within each.
                let mut groups: Vec<(String, String)> = Vec::new();
                let mut last = 0;
                for row in 0..chunk.num_rows() {
                    p.dir_of(columns, row, &mut self.scratch, &mut self.dir)
                        .map_err(riffle_runtime::Error::from)?;
                    let at = match groups.get(last) {
                        Some((d, _)) if *d == self.dir => last,
                        _ => match groups.iter().position(|(d, _)| *d == self.dir) {
                            Some(i) => i,
                            None => {
                                groups.push((self.dir.clone(), String::new()));
                                groups.len() - 1
                            }
                        },
                    };
                    last = at;
                    if let Some((_, text)) = groups.get_mut(at) {
                        format_row(self.format, &data, chunk.kind(row), row, text);
                    }
                }
                for (dir, text) in groups {
                    self.append(&dir, &text, now)?;
                }
            }
        }
        self.check_rolling(now)
    }

    fn on_watermark(&mut self, watermark_ms: i64) -> riffle_runtime::Result<()> {
        self.watermark = self.watermark.max(watermark_ms);
        let now = self.clock.now_ms();
        self.check_rolling(now)
    }

    fn finish(&mut self) -> riffle_runtime::Result<()> {
        self.close_all()?;
        self.ended = true;
        if !self.transactional {
            for p in std::mem::take(&mut self.pending) {
                self.publish(&p)?;
            }
            self.commit_partitions(i64::MAX)?;
        }
        // With checkpoints the final checkpoint commits what is pending.
        Ok(())
    }

    fn pre_commit(&mut self, checkpoint_id: u64) -> riffle_runtime::Result<Vec<Vec<u8>>> {
        if !self.transactional {
            return Ok(Vec::new());
        }
        self.close_all()?;
        self.checkpoint_watermarks
            .insert(checkpoint_id, self.watermark);
        let mut out = Vec::with_capacity(self.pending.len() + self.partitions.len());
        for p in &mut self.pending {
            let covered = *p.checkpoint.get_or_insert(checkpoint_id);
            out.push(p.encode(covered));
        }
        for (dir, w) in &self.partitions {
            out.push(StateItem::encode_partition(dir, w.created_ms));
        }
        Ok(out)
    }

    fn commit(&mut self, checkpoint_id: u64) -> riffle_runtime::Result<()> {
        let (due, keep): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.checkpoint.is_some_and(|c| c <= checkpoint_id));
        self.pending = keep;
        for p in &due {
            self.publish(p)?;
        }
        // The watermark when the checkpoint was taken: every row before it
        // is in the files just committed.
        let later = self
            .checkpoint_watermarks
            .split_off(&checkpoint_id.saturating_add(1));
        let watermark = self
            .checkpoint_watermarks
            .values()
            .next_back()
            .copied()
            .unwrap_or(i64::MIN);
        self.checkpoint_watermarks = later;
        self.commit_partitions(watermark)
    }

    fn recover(&mut self, pending: Vec<Vec<u8>>) -> riffle_runtime::Result<()> {
        let mut files = Vec::new();
        for item in pending {
            match StateItem::decode(&item)? {
                StateItem::File(p) => files.push(p),
                StateItem::Partition(dir, created_ms) => {
                    let Some(commit) = self.commit_config() else {
                        continue;
                    };
                    let time_ms = commit.partition_time(&values_of(&dir)).map_err(|e| {
                        riffle_runtime::Error::User(format!(
                            "partition '{dir}' of the filesystem sink: {e}"
                        ))
                    })?;
                    // Its files are committed by the restore (here or, after
                    // a rescale, by another subtask) before any new commit.
                    let w = self.partitions.entry(dir).or_insert(Waiting {
                        created_ms,
                        time_ms,
                        visible: true,
                    });
                    w.created_ms = w.created_ms.min(created_ms);
                    w.visible = true;
                }
            }
        }
        for p in &files {
            self.publish(p)?;
        }
        Ok(())
    }

    fn is_transactional(&self) -> bool {
        self.transactional
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filesystem::commit::Trigger;
    use crate::filesystem::partition::TimeExtractor;
    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::path::Path;

    fn chunk(v: &[i64]) -> Chunk {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        Chunk::insert_only(
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(v.to_vec()))]).unwrap(),
        )
    }

    /// Rows `(a, dt, hm)` of a table partitioned by `dt, hm`.
    fn rows(r: &[(i64, Option<&str>, &str)]) -> Chunk {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("dt", DataType::Utf8, true),
            Field::new("hm", DataType::Utf8, true),
        ]));
        Chunk::insert_only(
            RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(Int64Array::from(
                        r.iter().map(|(a, _, _)| *a).collect::<Vec<_>>(),
                    )),
                    Arc::new(StringArray::from(
                        r.iter().map(|(_, d, _)| *d).collect::<Vec<_>>(),
                    )),
                    Arc::new(StringArray::from(
                        r.iter().map(|(_, _, h)| Some(*h)).collect::<Vec<_>>(),
                    )),
                ],
            )
            .unwrap(),
        )
    }

    fn rolling(file_size: u64) -> RollingPolicy {
        RollingPolicy {
            file_size,
            rollover_interval_ms: 3_600_000,
            check_interval_ms: 60_000,
            inactivity_interval_ms: 1_800_000,
        }
    }

    fn sink(dir: &Path, file_size: u64) -> FileSink {
        FileSink {
            storage: Storage::open(
                dir.to_str().unwrap(),
                &riffle_common::config::StorageConfig::default(),
            )
            .unwrap(),
            format: Format::Json,
            rolling: rolling(file_size),
            partitioning: None,
            clock: Clock::System,
        }
    }

    /// A csv sink partitioned by `dt, hm` (columns 1 and 2 of `rows`),
    /// committing with `trigger` (None: no commit policy) and a 1 min delay.
    fn partitioned(dir: &Path, trigger: Option<Trigger>, clock: &Arc<AtomicI64>) -> FileSink {
        let commit = trigger.map(|trigger| PartitionCommit {
            trigger,
            delay_ms: 60_000,
            zone_offset_ms: 0,
            extractor: TimeExtractor::new(
                vec!["dt".into(), "hm".into()],
                Some("$dt $hm:00".into()),
                None,
            ),
            success_file: "_SUCCESS".into(),
        });
        FileSink {
            format: Format::Csv,
            partitioning: Some(Arc::new(Partitioning::new(
                vec!["dt".into(), "hm".into()],
                vec![1, 2],
                3,
                "__DEFAULT_PARTITION__",
                commit,
            ))),
            clock: Clock::Manual(Arc::clone(clock)),
            ..sink(dir, 1 << 20)
        }
    }

    fn task(checkpointing: bool) -> TaskInfo {
        TaskInfo {
            job_name: "j".into(),
            vertex_id: 0,
            vertex_name: "v".into(),
            subtask_index: 0,
            parallelism: 1,
            max_parallelism: 128,
            local_time_zone_offset_ms: 0,
            checkpointing,
        }
    }

    /// The visible rows in `dir` (not below it), sorted.
    fn visible(dir: &Path) -> Vec<String> {
        let mut rows = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return rows;
        };
        for e in entries {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().to_string();
            if e.path().is_file() && !name.starts_with('.') && !name.starts_with('_') {
                rows.extend(
                    std::fs::read_to_string(e.path())
                        .unwrap()
                        .lines()
                        .map(str::to_string),
                );
            }
        }
        rows.sort();
        rows
    }

    const P1: &str = "dt=2015-07-15/hm=00%3A01";
    const P2: &str = "dt=2015-07-15/hm=00%3A02";
    /// 2015-07-15 00:01:00 UTC.
    const MINUTE_1: i64 = 1_436_918_460_000;

    fn success(root: &Path, dir: &str) -> bool {
        root.join(dir).join("_SUCCESS").is_file()
    }

    #[test]
    fn output_becomes_visible_only_when_its_checkpoint_completes() {
        let dir = tempfile::tempdir().unwrap();
        let s = sink(dir.path(), 10);
        let mut w = s.create_writer(&task(true)).unwrap();
        w.write(&chunk(&[1, 2])).unwrap(); // rolls: over 10 bytes
        w.write(&chunk(&[3])).unwrap();
        let state = w.pre_commit(1).unwrap();
        assert_eq!(state.len(), 2);
        w.write(&chunk(&[4])).unwrap();
        assert!(visible(dir.path()).is_empty());
        w.commit(1).unwrap();
        assert_eq!(
            visible(dir.path()),
            vec![r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#]
        );
        // A failure now: the restored writer commits checkpoint 1's files
        // again (a no-op) and row 4 never shows up.
        let mut again = s.create_writer(&task(true)).unwrap();
        again.recover(state).unwrap();
        again.write(&chunk(&[4])).unwrap();
        let state = again.pre_commit(2).unwrap();
        again.finish().unwrap();
        assert_eq!(visible(dir.path()).len(), 3);
        // Checkpoint 2 completed, but the commit message was lost: recovery commits.
        let mut third = s.create_writer(&task(true)).unwrap();
        third.recover(state).unwrap();
        assert_eq!(visible(dir.path()).len(), 4);
    }

    #[test]
    fn without_checkpoints_the_file_appears_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let s = sink(dir.path(), 1);
        let mut w = s.create_writer(&task(false)).unwrap();
        w.write(&chunk(&[1])).unwrap();
        w.write(&chunk(&[2])).unwrap();
        assert!(visible(dir.path()).is_empty());
        w.finish().unwrap();
        assert_eq!(visible(dir.path()), vec![r#"{"a":1}"#, r#"{"a":2}"#]);
        let names = part_names(dir.path());
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(is_part_name(&names[0], 0), "{names:?}");
    }

    /// The visible part files directly in `dir`, sorted.
    fn part_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with("part-"))
            .collect();
        names.sort();
        names
    }

    /// Flink's `part-<uuid>-<subtask>-<n>`, the UUID random (version 4).
    fn is_part_name(name: &str, subtask: usize) -> bool {
        let Some(rest) = name.strip_prefix("part-") else {
            return false;
        };
        let groups: Vec<&str> = rest.split('-').collect();
        groups.len() == 7
            && groups[..5].iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
            && groups[..5].iter().all(|g| {
                g.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            })
            && groups[2].starts_with('4')
            && matches!(groups[3].chars().next(), Some('8' | '9' | 'a' | 'b'))
            && groups[5] == subtask.to_string()
            && groups[6].parse::<u64>().is_ok()
    }

    #[test]
    fn every_writer_draws_its_own_uuid() {
        let a = random_uuid();
        let b = random_uuid();
        assert_ne!(a, b);
        assert!(is_part_name(&format!("part-{a}-3-0"), 3), "{a}");
    }

    /// Issue 15, case 12: a second job writing the same path used to
    /// overwrite the first one's `part-<subtask>-0`.
    #[test]
    fn two_runs_writing_one_path_keep_each_others_files() {
        let dir = tempfile::tempdir().unwrap();
        for (checkpointing, rows) in [
            (false, [1, 2]),
            (false, [3, 4]),
            (true, [5, 6]),
            (true, [7, 8]),
        ] {
            // A new factory as a new job would plan it, the same subtask.
            let mut w = sink(dir.path(), 1 << 20)
                .create_writer(&task(checkpointing))
                .unwrap();
            w.write(&chunk(&rows)).unwrap();
            w.finish().unwrap();
            if checkpointing {
                w.pre_commit(1).unwrap();
                w.commit(1).unwrap();
            }
        }
        let rows: Vec<String> = (1..=8).map(|a| format!(r#"{{"a":{a}}}"#)).collect();
        assert_eq!(visible(dir.path()), rows);
        let names = part_names(dir.path());
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(names.iter().all(|n| is_part_name(n, 0)), "{names:?}");
    }

    #[test]
    fn rows_go_to_their_partition_without_the_partition_columns() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(AtomicI64::new(0));
        let s = partitioned(dir.path(), None, &clock);
        let mut w = s.create_writer(&task(false)).unwrap();
        w.write(&rows(&[
            (1, Some("2015-07-15"), "00:01"),
            (2, Some("2015-07-15"), "00:02"),
            (3, Some("2015-07-15"), "00:01"),
            (4, None, "00:01"),
            (5, Some(""), "00:01"),
        ]))
        .unwrap();
        w.finish().unwrap();
        assert_eq!(visible(&dir.path().join(P1)), vec!["1", "3"]);
        assert_eq!(visible(&dir.path().join(P2)), vec!["2"]);
        // NULL and '' go to the default partition.
        assert_eq!(
            visible(&dir.path().join("dt=__DEFAULT_PARTITION__/hm=00%3A01")),
            vec!["4", "5"]
        );
        let names = part_names(&dir.path().join(P1));
        assert!(names.len() == 1 && is_part_name(&names[0], 0), "{names:?}");
        // No commit policy: no success files.
        assert!(!success(dir.path(), P1));
    }

    #[test]
    fn without_checkpoints_every_partition_commits_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(AtomicI64::new(0));
        let s = partitioned(dir.path(), Some(Trigger::PartitionTime), &clock);
        let mut w = s.create_writer(&task(false)).unwrap();
        w.write(&rows(&[
            (1, Some("2015-07-15"), "00:01"),
            (2, Some("2015-07-15"), "00:02"),
        ]))
        .unwrap();
        w.on_watermark(MINUTE_1 + 600_000).unwrap();
        // Due, but nothing is visible before the end.
        assert!(!success(dir.path(), P1));
        w.finish().unwrap();
        assert!(success(dir.path(), P1) && success(dir.path(), P2));
        assert_eq!(visible(&dir.path().join(P1)), vec!["1"]);
    }

    #[test]
    fn partition_time_commits_after_the_files_when_the_watermark_passes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let clock = Arc::new(AtomicI64::new(0));
        let s = partitioned(root, Some(Trigger::PartitionTime), &clock);
        let mut w = s.create_writer(&task(true)).unwrap();
        w.write(&rows(&[
            (1, Some("2015-07-15"), "00:01"),
            (2, Some("2015-07-15"), "00:02"),
        ]))
        .unwrap();
        // The watermark passed minute 1 + delay, but the files are hidden.
        w.on_watermark(MINUTE_1 + 60_001).unwrap();
        w.pre_commit(1).unwrap();
        assert!(visible(&root.join(P1)).is_empty() && !success(root, P1));
        // A later watermark does not count for checkpoint 1.
        w.on_watermark(MINUTE_1 + 120_001).unwrap();
        w.commit(1).unwrap();
        assert_eq!(visible(&root.join(P1)), vec!["1"]);
        assert!(success(root, P1));
        assert!(!success(root, P2), "minute 2 + 1 min is not passed yet");
        // Checkpoint 2 carries the later watermark.
        w.write(&rows(&[(3, Some("2015-07-15"), "00:02")])).unwrap();
        w.pre_commit(2).unwrap();
        assert!(!success(root, P2));
        w.commit(2).unwrap();
        assert!(success(root, P2));
        assert_eq!(visible(&root.join(P2)), vec!["2", "3"]);
    }

    #[test]
    fn process_time_waits_for_the_delay_on_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let clock = Arc::new(AtomicI64::new(1_000));
        let s = partitioned(root, Some(Trigger::ProcessTime), &clock);
        let mut w = s.create_writer(&task(true)).unwrap();
        w.write(&rows(&[(1, Some("2015-07-15"), "00:01")])).unwrap();
        w.pre_commit(1).unwrap();
        clock.store(61_000, Ordering::Relaxed);
        w.commit(1).unwrap();
        assert_eq!(visible(&root.join(P1)), vec!["1"]);
        assert!(
            !success(root, P1),
            "created at 1 s, 1 min delay: not before 61 s"
        );
        clock.store(61_001, Ordering::Relaxed);
        w.pre_commit(2).unwrap();
        w.commit(2).unwrap();
        assert!(success(root, P1));
    }

    #[test]
    fn waiting_partitions_survive_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let clock = Arc::new(AtomicI64::new(0));
        let s = partitioned(root, Some(Trigger::PartitionTime), &clock);
        let mut w = s.create_writer(&task(true)).unwrap();
        w.write(&rows(&[
            (1, Some("2015-07-15"), "00:01"),
            (2, Some("2015-07-15"), "00:02"),
        ]))
        .unwrap();
        let state = w.pre_commit(1).unwrap();
        // Two files, two partitions, each item self-describing.
        let items: Vec<StateItem> = state
            .iter()
            .map(|i| StateItem::decode(i).unwrap())
            .collect();
        assert_eq!(items.len(), 4);
        assert!(items.contains(&StateItem::Partition(P1.into(), 0)));
        assert!(items.iter().any(
            |i| matches!(i, StateItem::File(p) if p.partition == P2 && p.checkpoint == Some(1))
        ));
        drop(w); // fails before checkpoint 1's commit
        clock.store(5_000, Ordering::Relaxed);
        let mut again = s.create_writer(&task(true)).unwrap();
        again.recover(state).unwrap();
        assert_eq!(visible(&root.join(P1)), vec!["1"]);
        assert!(!success(root, P1), "the watermark has not passed yet");
        again.on_watermark(MINUTE_1 + 60_001).unwrap();
        let state = again.pre_commit(2).unwrap();
        // The restored partitions are in the new checkpoint, with their creation time.
        assert!(
            state
                .iter()
                .any(|i| StateItem::decode(i).unwrap() == StateItem::Partition(P2.into(), 0))
        );
        again.commit(2).unwrap();
        assert!(success(root, P1) && !success(root, P2));
        // End of input: the final checkpoint commits the rest.
        again.on_watermark(i64::MAX).unwrap();
        again.finish().unwrap();
        again.pre_commit(3).unwrap();
        again.commit(3).unwrap();
        assert!(success(root, P2));
        assert!(again.pre_commit(4).unwrap().is_empty());
    }

    #[test]
    fn process_time_partitions_commit_at_the_end_whatever_the_delay() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let clock = Arc::new(AtomicI64::new(0));
        let s = partitioned(root, Some(Trigger::ProcessTime), &clock);
        let mut w = s.create_writer(&task(true)).unwrap();
        w.write(&rows(&[(1, Some("2015-07-15"), "00:01")])).unwrap();
        w.pre_commit(1).unwrap();
        w.write(&rows(&[(2, Some("2015-07-15"), "00:01")])).unwrap();
        w.finish().unwrap();
        // Checkpoint 1 completes after the end: rows of checkpoint 2 are
        // still hidden, so the partition is not complete yet.
        w.commit(1).unwrap();
        assert!(!success(root, P1));
        w.pre_commit(2).unwrap();
        w.commit(2).unwrap();
        assert!(success(root, P1));
        assert_eq!(visible(&root.join(P1)), vec!["1", "2"]);
    }

    #[test]
    fn idle_files_roll_at_the_check_interval() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(AtomicI64::new(0));
        let mut s = partitioned(dir.path(), None, &clock);
        s.rolling = RollingPolicy {
            file_size: 1 << 20,
            rollover_interval_ms: 10_000,
            check_interval_ms: 1_000,
            inactivity_interval_ms: 3_000,
        };
        let mut w = s.create_writer(&task(true)).unwrap();
        w.write(&rows(&[
            (1, Some("2015-07-15"), "00:01"),
            (2, Some("2015-07-15"), "00:02"),
        ]))
        .unwrap();
        clock.store(2_500, Ordering::Relaxed);
        w.write(&rows(&[(3, Some("2015-07-15"), "00:02")])).unwrap();
        // Checked at 2.5 s (minute 1 idle for 2.5 s: stays), next at 3.5 s:
        // minute 1 idle for over 3 s rolls when a watermark comes.
        clock.store(3_000, Ordering::Relaxed);
        w.on_watermark(0).unwrap();
        clock.store(3_500, Ordering::Relaxed);
        w.on_watermark(0).unwrap();
        w.write(&rows(&[(4, Some("2015-07-15"), "00:01")])).unwrap();
        // Minute 2 open for 10 s: rolled by the rollover interval.
        clock.store(10_000, Ordering::Relaxed);
        w.on_watermark(1).unwrap();
        w.write(&rows(&[(5, Some("2015-07-15"), "00:02")])).unwrap();
        let files: Vec<Pending> = w
            .pre_commit(1)
            .unwrap()
            .iter()
            .filter_map(|i| match StateItem::decode(i).unwrap() {
                StateItem::File(p) => Some(p),
                StateItem::Partition(..) => None,
            })
            .collect();
        let per = |dir: &str| files.iter().filter(|p| p.partition == dir).count();
        assert_eq!((per(P1), per(P2)), (2, 2), "{files:?}");
        w.commit(1).unwrap();
        assert_eq!(visible(&dir.path().join(P2)), vec!["2", "3", "5"]);
    }

    #[test]
    fn unknown_state_items_are_an_error() {
        let mut e = Encoder::new();
        e.str("");
        e.str("compaction");
        let err = StateItem::decode(&e.into_bytes()).unwrap_err().to_string();
        assert!(err.contains("'compaction'"), "{err}");
    }
}

//! Writing files, exactly once when the job checkpoints.
//!
//! Without checkpoints each subtask writes one hidden in-progress file and
//! renames it to `part-<subtask>-0` when its input ends; a restarted job
//! writes the same name again, so a failed run leaves nothing behind.
//!
//! With checkpoints the sink commits in two phases, like Flink's file sink.
//! Rows go into a hidden in-progress file (`.part-<token>-<subtask>-<n>.inprogress`)
//! that rolls to a new one after `sink.rolling-policy.file-size` bytes or
//! `sink.rolling-policy.rollover-interval`. At a checkpoint barrier the open
//! file is closed; every closed file becomes *pending* and is recorded in
//! the checkpoint. When the checkpoint completes, pending files are renamed
//! to their visible names (`part-<token>-<subtask>-<n>`). After a failure the
//! restored checkpoint's pending files are renamed (again: the rename is
//! idempotent), and files written after it stay hidden forever, so no row
//! is lost and none is visible twice. `<token>` is new for every attempt,
//! so attempts never overwrite each other's files.
//!
//! Every file goes through `riffle-storage`, so `path` may be a local
//! directory or an `s3://`, `gs://` or `abfs://` location.

use std::io::Write;
use std::time::{Duration, Instant};

use riffle_common::{Chunk, RowKind};
use riffle_runtime::TaskInfo;
use riffle_runtime::checkpoint::{Decoder, Encoder};
use riffle_runtime::connector::{SinkFactory, SinkWriter};
use riffle_storage::{BlobWriter, Storage};

use super::Format;
use crate::format::{Style, json::write_row, write_value};

/// Flink's `sink.rolling-policy.*` options.
#[derive(Debug, Clone, Copy)]
pub(super) struct RollingPolicy {
    /// Roll after this many bytes.
    pub file_size: u64,
    /// Roll a file open this long.
    pub rollover_interval: Duration,
}

/// The sink factory of one table.
#[derive(Debug)]
pub struct FileSink {
    pub(super) storage: Storage,
    pub(super) format: Format,
    pub(super) rolling: RollingPolicy,
}

impl SinkFactory for FileSink {
    fn connector(&self) -> &str {
        "filesystem"
    }

    fn accepts_updates(&self) -> bool {
        self.format == Format::DebeziumJson
    }

    fn create_writer(&self, task: &TaskInfo) -> riffle_runtime::Result<Box<dyn SinkWriter>> {
        Ok(Box::new(FileWriter {
            storage: self.storage.clone(),
            format: self.format,
            rolling: self.rolling,
            subtask: task.subtask_index,
            transactional: task.checkpointing,
            token: token(task.subtask_index),
            next_part: 0,
            current: None,
            pending: Vec::new(),
            line: String::new(),
        }))
    }
}

/// A short random token naming one writer's files.
fn token(subtask: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(subtask);
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:016x}", h.finish())
}

fn io_error(what: String) -> riffle_runtime::Error {
    riffle_runtime::Error::External(what)
}

/// The file being written.
struct InProgress {
    hidden: String,
    visible: String,
    out: BlobWriter,
    bytes: u64,
    opened: Instant,
}

/// A closed file waiting for its checkpoint to complete.
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    hidden: String,
    visible: String,
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

    fn decode(b: &[u8]) -> riffle_runtime::Result<Self> {
        let mut d = Decoder::new(b);
        Ok(Pending {
            hidden: d.str()?.to_string(),
            visible: d.str()?.to_string(),
            checkpoint: Some(d.u64()?),
        })
    }
}

struct FileWriter {
    storage: Storage,
    format: Format,
    rolling: RollingPolicy,
    subtask: usize,
    transactional: bool,
    token: String,
    next_part: u64,
    current: Option<InProgress>,
    pending: Vec<Pending>,
    line: String,
}

impl FileWriter {
    fn open(&mut self) -> riffle_runtime::Result<&mut InProgress> {
        if self.current.is_none() {
            let visible = if self.transactional {
                format!("part-{}-{}-{}", self.token, self.subtask, self.next_part)
            } else {
                format!("part-{}-0", self.subtask)
            };
            self.next_part += 1;
            let hidden = format!(".{visible}.inprogress");
            let out = self.storage.writer(&hidden).map_err(|e| {
                io_error(format!(
                    "cannot create {}/{hidden}: {e}",
                    self.storage.url()
                ))
            })?;
            self.current = Some(InProgress {
                hidden,
                visible,
                out,
                bytes: 0,
                opened: Instant::now(),
            });
        }
        self.current
            .as_mut()
            .ok_or_else(|| riffle_runtime::Error::Internal("no open part file".into()))
    }

    /// Closes the open file; it becomes pending.
    fn close(&mut self) -> riffle_runtime::Result<()> {
        let Some(cur) = self.current.take() else {
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
            checkpoint: None,
        });
        Ok(())
    }

    /// Makes a closed file visible; done already is fine.
    fn publish(&self, p: &Pending) -> riffle_runtime::Result<()> {
        match self.storage.rename(&p.hidden, &p.visible) {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => {
                let there = self
                    .storage
                    .head(&p.visible)
                    .map_err(|e| io_error(e.to_string()))?;
                if there.is_some() {
                    Ok(())
                } else {
                    Err(io_error(format!(
                        "pending file {}/{} is gone and was never committed: output is missing",
                        self.storage.url(),
                        p.hidden
                    )))
                }
            }
            Err(e) => Err(io_error(format!(
                "cannot commit {}/{}: {e}",
                self.storage.url(),
                p.visible
            ))),
        }
    }

    fn format_rows(&mut self, chunk: &Chunk) -> riffle_runtime::Result<()> {
        self.line.clear();
        for row in 0..chunk.num_rows() {
            match self.format {
                Format::Json => write_row(&chunk.data, row, &mut self.line),
                Format::Csv => {
                    for (i, col) in chunk.data.columns().iter().enumerate() {
                        if i > 0 {
                            self.line.push(',');
                        }
                        write_value(col.as_ref(), row, Style::Csv, &mut self.line);
                    }
                }
                Format::DebeziumJson => {
                    // Flink's debezium-json encoding: additions as "c" with
                    // `after`, retractions as "d" with `before`.
                    let kind = chunk.kind(row);
                    if matches!(kind, RowKind::Insert | RowKind::UpdateAfter) {
                        self.line.push_str("{\"before\":null,\"after\":");
                        write_row(&chunk.data, row, &mut self.line);
                        self.line.push_str(",\"op\":\"c\"}");
                    } else {
                        self.line.push_str("{\"before\":");
                        write_row(&chunk.data, row, &mut self.line);
                        self.line.push_str(",\"after\":null,\"op\":\"d\"}");
                    }
                }
            }
            self.line.push('\n');
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
        self.format_rows(chunk)?;
        let line = std::mem::take(&mut self.line);
        let rolling = self.rolling;
        let transactional = self.transactional;
        let cur = self.open()?;
        cur.out.write_all(line.as_bytes())?;
        cur.bytes += line.len() as u64;
        let roll = transactional
            && (cur.bytes >= rolling.file_size
                || cur.opened.elapsed() >= rolling.rollover_interval);
        self.line = line;
        if roll {
            self.close()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> riffle_runtime::Result<()> {
        self.close()?;
        if !self.transactional {
            for p in std::mem::take(&mut self.pending) {
                self.publish(&p)?;
            }
        }
        // With checkpoints the final checkpoint commits what is pending.
        Ok(())
    }

    fn pre_commit(&mut self, checkpoint_id: u64) -> riffle_runtime::Result<Vec<Vec<u8>>> {
        if !self.transactional {
            return Ok(Vec::new());
        }
        self.close()?;
        let mut out = Vec::with_capacity(self.pending.len());
        for p in &mut self.pending {
            let covered = *p.checkpoint.get_or_insert(checkpoint_id);
            out.push(p.encode(covered));
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
        Ok(())
    }

    fn recover(&mut self, pending: Vec<Vec<u8>>) -> riffle_runtime::Result<()> {
        for item in pending {
            let p = Pending::decode(&item)?;
            self.publish(&p)?;
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
    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn chunk(v: &[i64]) -> Chunk {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        Chunk::insert_only(
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(v.to_vec()))]).unwrap(),
        )
    }

    fn sink(dir: &std::path::Path, file_size: u64) -> FileSink {
        FileSink {
            storage: Storage::open(
                dir.to_str().unwrap(),
                &riffle_common::config::Configuration::new(),
            )
            .unwrap(),
            format: Format::Json,
            rolling: RollingPolicy {
                file_size,
                rollover_interval: Duration::from_secs(3600),
            },
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

    /// The visible rows, sorted.
    fn visible(dir: &std::path::Path) -> Vec<String> {
        let mut rows = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().to_string();
            if !name.starts_with('.') {
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
        assert!(dir.path().join("part-0-0").exists());
    }
}

//! The `nexmark` table as a Riffle source: one generator split per subtask.
//!
//! A split's position is how many of its events were emitted; generators are
//! deterministic, so a restored split continues with exactly the events an
//! uninterrupted run would produce next. A reader restored with another
//! parallelism may hold several splits; it always emits from the split
//! whose next event is earliest, so event time advances as evenly as before.
//!
//! With `max-emit-speed` = true (the default) batches are produced as fast as
//! the pipeline takes them; with false the reader waits until the wall clock
//! reaches each event's offset from `base-time`, i.e. it emits at
//! `first-event.rate` events per second, as Flink's reader does.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use riffle_runtime::TaskInfo;
use riffle_runtime::connector::{SourceFactory, SourcePoll, SourceReader};
use riffle_runtime::metrics::TaskMetrics;

use riffle_runtime::checkpoint::{Decoder, Encoder};

use super::pace::Pace;
use super::{NexmarkConfig, NexmarkGenerator, nexmark_schema};
use crate::{Error, Result};

/// The source factory of one `nexmark` table.
#[derive(Debug)]
pub struct NexmarkSource {
    config: NexmarkConfig,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
}

impl NexmarkSource {
    /// A source producing the given columns of the `datagen` schema.
    pub fn try_new(config: NexmarkConfig, projection: Option<Vec<usize>>) -> Result<Self> {
        let full = nexmark_schema();
        let schema = match &projection {
            Some(p) => Arc::new(full.project(p).map_err(|e| Error::Options(e.to_string()))?),
            None => full,
        };
        Ok(NexmarkSource {
            config,
            projection,
            schema,
        })
    }
}

impl SourceFactory for NexmarkSource {
    fn connector(&self) -> &str {
        "nexmark"
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn is_bounded(&self) -> bool {
        !self.config.keep_alive
    }

    fn create_reader(
        &self,
        task: &TaskInfo,
        batch_size: usize,
        restored: Option<Vec<Vec<u8>>>,
    ) -> riffle_runtime::Result<Box<dyn SourceReader>> {
        let positions: Vec<SplitPosition> = match restored {
            None => vec![SplitPosition {
                index: task.subtask_index,
                of: task.parallelism,
                emitted: 0,
            }],
            Some(items) => items
                .iter()
                .map(|b| SplitPosition::decode(b))
                .collect::<riffle_runtime::Result<_>>()?,
        };
        let splits: Vec<(SplitPosition, NexmarkGenerator)> = positions
            .into_iter()
            .map(|p| {
                let mut generator = NexmarkGenerator::new(&self.config, p.index, p.of);
                generator.set_events_emitted(p.emitted);
                (p, generator)
            })
            .collect();
        // Pacing resumes where the splits stand, not at `base-time`: a
        // restored reader would otherwise wait as long as the job had run.
        let pace_from = splits
            .iter()
            .filter(|(_, g)| g.events_emitted() < g.total_events())
            .map(|(_, g)| g.event_timestamp_of_next())
            .min()
            .unwrap_or(self.config.base_time_ms);
        let share = splits.len() as f64 / splits.first().map_or(1, |(p, _)| p.of).max(1) as f64;
        Ok(Box::new(NexmarkReader {
            splits,
            projection: self.projection.clone(),
            batch_size,
            pace: (!self.config.max_emit_speed).then(|| Pace::new(&self.config, pace_from)),
            share,
            keep_alive: self.config.keep_alive,
            metrics: None,
        }))
    }
}

/// Where a split stands: split `index` of `of`, `emitted` events produced.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SplitPosition {
    index: usize,
    of: usize,
    emitted: u64,
}

impl SplitPosition {
    fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u64(self.index as u64);
        e.u64(self.of as u64);
        e.u64(self.emitted);
        e.into_bytes()
    }

    fn decode(bytes: &[u8]) -> riffle_runtime::Result<Self> {
        let mut d = Decoder::new(bytes);
        Ok(SplitPosition {
            index: d.u64()? as usize,
            of: d.u64()? as usize,
            emitted: d.u64()?,
        })
    }
}

struct NexmarkReader {
    splits: Vec<(SplitPosition, NexmarkGenerator)>,
    projection: Option<Vec<usize>>,
    batch_size: usize,
    /// With `max-emit-speed = false`: when events are due.
    pace: Option<Pace>,
    /// This reader's share of all splits (for `pendingRecords`).
    share: f64,
    keep_alive: bool,
    metrics: Option<Arc<TaskMetrics>>,
}

impl SourceReader for NexmarkReader {
    fn poll(&mut self) -> riffle_runtime::Result<SourcePoll> {
        let next = self
            .splits
            .iter_mut()
            .filter(|(_, g)| g.events_emitted() < g.total_events())
            .min_by_key(|(_, g)| g.event_timestamp_of_next());
        let Some((_, generator)) = next else {
            return Ok(if self.keep_alive {
                SourcePoll::Pending
            } else {
                SourcePoll::End
            });
        };
        let mut rows = self.batch_size;
        if let Some(pace) = &self.pace {
            // Emit only the events whose time has come on the wall clock.
            let next = generator.event_timestamp_of_next();
            let due = pace.due_ms();
            if let Some(m) = &self.metrics {
                m.set_pending_records((pace.behind(due, next) as f64 * self.share) as u64);
            }
            if next > due {
                return Ok(SourcePoll::Pending);
            }
            rows = rows.min(256);
        }
        match generator.next_batch(rows, self.projection.as_deref()) {
            Some(b) => Ok(SourcePoll::Batch(b)),
            None => Ok(SourcePoll::Pending),
        }
    }

    fn snapshot_splits(&mut self, _checkpoint_id: u64) -> riffle_runtime::Result<Vec<Vec<u8>>> {
        Ok(self
            .splits
            .iter()
            .filter(|(_, g)| g.events_emitted() < g.total_events())
            .map(|(p, g)| {
                SplitPosition {
                    emitted: g.events_emitted(),
                    ..*p
                }
                .encode()
            })
            .collect())
    }

    fn bind_metrics(&mut self, metrics: Arc<TaskMetrics>) {
        self.metrics = Some(metrics);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nexmark::NexmarkConfig;

    fn task(s: usize, p: usize) -> TaskInfo {
        TaskInfo {
            job_name: "j".into(),
            vertex_id: 0,
            vertex_name: "v".into(),
            subtask_index: s,
            parallelism: p,
            max_parallelism: 128,
            local_time_zone_offset_ms: 0,
            checkpointing: true,
        }
    }

    fn drain(r: &mut dyn SourceReader, max_batches: usize) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..max_batches {
            match r.poll().unwrap() {
                SourcePoll::Batch(b) => {
                    let opts = arrow::util::display::FormatOptions::default();
                    let fmts: Vec<_> = b
                        .columns()
                        .iter()
                        .map(|c| {
                            arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &opts)
                                .unwrap()
                        })
                        .collect();
                    for row in 0..b.num_rows() {
                        let cells: Vec<String> =
                            fmts.iter().map(|f| f.value(row).to_string()).collect();
                        out.push(cells.join("|"));
                    }
                }
                SourcePoll::End => break,
                SourcePoll::Pending => {}
            }
        }
        out
    }

    #[test]
    fn restored_splits_continue_exactly_even_with_another_parallelism() {
        let cfg = NexmarkConfig {
            events_num: 300,
            ..NexmarkConfig::default()
        };
        let src = NexmarkSource::try_new(cfg, None).unwrap();
        // Uninterrupted: two subtasks.
        let mut all = Vec::new();
        for s in 0..2 {
            let mut r = src.create_reader(&task(s, 2), 7, None).unwrap();
            all.extend(drain(r.as_mut(), 1000));
        }
        // Interrupted after a few batches, resumed on one subtask.
        let mut before = Vec::new();
        let mut splits = Vec::new();
        for s in 0..2 {
            let mut r = src.create_reader(&task(s, 2), 7, None).unwrap();
            before.extend(drain(r.as_mut(), 3 + s));
            splits.extend(r.snapshot_splits(1).unwrap());
        }
        let mut r = src.create_reader(&task(0, 1), 7, Some(splits)).unwrap();
        before.extend(drain(r.as_mut(), 1000));
        assert!(r.snapshot_splits(1).unwrap().is_empty());
        all.sort();
        before.sort();
        assert_eq!(all.len(), 300);
        assert_eq!(before, all);
        // No splits: nothing left to read.
        let mut r = src.create_reader(&task(0, 1), 7, Some(vec![])).unwrap();
        assert!(matches!(r.poll().unwrap(), SourcePoll::End));
    }
}

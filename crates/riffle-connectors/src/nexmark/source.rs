//! The `nexmark` table as a Riffle source: one generator split per subtask.
//!
//! With `max-emit-speed` = true (the default) batches are produced as fast as
//! the pipeline takes them; with false the reader waits until the wall clock
//! reaches each event's offset from `base-time`, i.e. it emits at
//! `first-event.rate` events per second, as Flink's reader does.

use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use riffle_runtime::TaskInfo;
use riffle_runtime::connector::{SourceFactory, SourcePoll, SourceReader};

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
    ) -> riffle_runtime::Result<Box<dyn SourceReader>> {
        let generator = NexmarkGenerator::new(&self.config, task.subtask_index, task.parallelism);
        Ok(Box::new(NexmarkReader {
            generator,
            projection: self.projection.clone(),
            batch_size,
            paced: !self.config.max_emit_speed,
            base_time_ms: self.config.base_time_ms,
            started: Instant::now(),
            keep_alive: self.config.keep_alive,
        }))
    }
}

struct NexmarkReader {
    generator: NexmarkGenerator,
    projection: Option<Vec<usize>>,
    batch_size: usize,
    paced: bool,
    base_time_ms: i64,
    started: Instant,
    keep_alive: bool,
}

impl SourceReader for NexmarkReader {
    fn poll(&mut self) -> riffle_runtime::Result<SourcePoll> {
        let mut rows = self.batch_size;
        if self.paced {
            // Emit only the events whose time has come on the wall clock.
            let elapsed = self.started.elapsed().as_millis() as i64;
            let due = self.base_time_ms + elapsed;
            if self.generator.event_timestamp_of_next() > due {
                return Ok(SourcePoll::Pending);
            }
            rows = rows.min(256);
        }
        match self.generator.next_batch(rows, self.projection.as_deref()) {
            Some(b) => Ok(SourcePoll::Batch(b)),
            None if self.keep_alive => Ok(SourcePoll::Pending),
            None => Ok(SourcePoll::End),
        }
    }
}

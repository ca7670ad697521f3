//! The sink operator: the last operator of a chain, handing rows to the
//! connector's writer(s) and reporting progress.
//!
//! A sink may have a second writer, the tap (`riffle.sink.tap-dir`), which
//! records the exact changelog the sink received; tests compare it with Flink.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use riffle_common::{Chunk, Watermark};

use crate::Result;
use crate::connector::{SinkFactory, SinkWriter};
use crate::metrics::JobMetrics;
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};

/// A sink in the job graph.
#[derive(Debug, Clone)]
pub struct SinkOperatorFactory {
    /// The sink table's name.
    pub table: String,
    /// The connector's writers (the sink itself, then an optional tap).
    pub writers: Vec<Arc<dyn SinkFactory>>,
    /// Where progress is reported.
    pub metrics: Arc<JobMetrics>,
}

impl OperatorFactory for SinkOperatorFactory {
    fn name(&self) -> String {
        "Sink".into()
    }

    fn explain(&self) -> String {
        let names: Vec<&str> = self.writers.iter().map(|w| w.connector()).collect();
        format!("table=[{}], connector=[{}]", self.table, names.join(", "))
    }

    fn create(&self, task: &TaskInfo) -> Result<Box<dyn Operator>> {
        let writers = self
            .writers
            .iter()
            .map(|w| w.create_writer(task))
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(SinkOperator {
            writers,
            metrics: Arc::clone(&self.metrics),
            watermark: self.metrics.watermark_gauge(),
        }))
    }
}

struct SinkOperator {
    writers: Vec<Box<dyn SinkWriter>>,
    metrics: Arc<JobMetrics>,
    watermark: Arc<AtomicI64>,
}

impl Operator for SinkOperator {
    fn process(&mut self, _input: usize, chunk: Chunk, _out: &mut Output) -> Result<()> {
        for w in &mut self.writers {
            w.write(&chunk)?;
        }
        self.metrics.add_sink_records(chunk.num_rows());
        Ok(())
    }

    fn on_watermark(&mut self, wm: Watermark, _out: &mut Output) -> Result<()> {
        self.watermark.store(wm.0, Ordering::Relaxed);
        Ok(())
    }

    fn on_end_of_input(&mut self, _out: &mut Output) -> Result<()> {
        for w in &mut self.writers {
            w.finish()?;
        }
        Ok(())
    }
}

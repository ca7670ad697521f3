//! The sink operator: the last operator of a chain, handing rows to the
//! connector's writer(s) and reporting progress.
//!
//! A sink may have a second writer, the tap (`riffle.sink.tap-dir`), which
//! records the exact changelog the sink received; tests compare it with Flink.
//!
//! Checkpoints: at a barrier every writer pre-commits and its pending
//! commits become the operator's state (each item tagged with the writer's
//! index); a completed checkpoint commits them, a restore recovers them.
//! Watermarks end at the sink, but every writer sees them first (a sink
//! may commit by event time).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use riffle_common::{Chunk, Watermark};

use crate::checkpoint::{OperatorSnapshot, RestoredState};
use crate::connector::{SinkFactory, SinkWriter};
use crate::metrics::JobMetrics;
use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};
use crate::{Error, Result};

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

    fn state_descriptor(&self) -> Option<String> {
        let names: Vec<&str> = self.writers.iter().map(|w| w.connector()).collect();
        Some(format!("sink [{}] pending commits v1", names.join(", ")))
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
        for w in &mut self.writers {
            w.on_watermark(wm.0)?;
        }
        Ok(())
    }

    fn on_end_of_input(&mut self, _out: &mut Output) -> Result<()> {
        for w in &mut self.writers {
            w.finish()?;
        }
        Ok(())
    }

    fn snapshot(&mut self, checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        for (i, w) in self.writers.iter_mut().enumerate() {
            for pending in w.pre_commit(checkpoint_id)? {
                let mut item = Vec::with_capacity(pending.len() + 1);
                item.push(i as u8);
                item.extend_from_slice(&pending);
                snap.item(item);
            }
        }
        Ok(())
    }

    fn restore(&mut self, state: RestoredState) -> Result<()> {
        let mut per_writer: Vec<Vec<Vec<u8>>> = vec![Vec::new(); self.writers.len()];
        for item in state.items {
            let Some((&i, rest)) = item.split_first() else {
                continue;
            };
            per_writer
                .get_mut(usize::from(i))
                .ok_or_else(|| {
                    Error::External(format!("sink state names writer {i}, which does not exist"))
                })?
                .push(rest.to_vec());
        }
        for (w, pending) in self.writers.iter_mut().zip(per_writer) {
            w.recover(pending)?;
        }
        Ok(())
    }

    fn notify_checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        for w in &mut self.writers {
            w.commit(checkpoint_id)?;
        }
        Ok(())
    }

    fn commits_on_checkpoint(&self) -> bool {
        self.writers.iter().any(|w| w.is_transactional())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::operators::aggregate::tests::task;

    /// Writers that record the watermarks they see.
    #[derive(Debug, Default)]
    struct Recording {
        seen: Arc<Mutex<Vec<i64>>>,
    }

    struct RecordingWriter {
        seen: Arc<Mutex<Vec<i64>>>,
    }

    impl SinkWriter for RecordingWriter {
        fn write(&mut self, _chunk: &Chunk) -> Result<()> {
            Ok(())
        }
        fn finish(&mut self) -> Result<()> {
            Ok(())
        }
        fn on_watermark(&mut self, watermark_ms: i64) -> Result<()> {
            self.seen
                .lock()
                .map_err(|_| Error::Internal("poisoned".into()))?
                .push(watermark_ms);
            Ok(())
        }
    }

    impl SinkFactory for Recording {
        fn connector(&self) -> &str {
            "recording"
        }
        fn accepts_updates(&self) -> bool {
            false
        }
        fn create_writer(&self, _task: &TaskInfo) -> Result<Box<dyn SinkWriter>> {
            Ok(Box::new(RecordingWriter {
                seen: Arc::clone(&self.seen),
            }))
        }
    }

    #[test]
    fn every_writer_sees_the_watermark() -> Result<()> {
        let (a, b) = (Recording::default(), Recording::default());
        let (seen_a, seen_b) = (Arc::clone(&a.seen), Arc::clone(&b.seen));
        let factory = SinkOperatorFactory {
            table: "t".into(),
            writers: vec![Arc::new(a), Arc::new(b)],
            metrics: Arc::new(JobMetrics::default()),
        };
        let mut op = factory.create(&task())?;
        let mut out = Output::default();
        op.on_watermark(Watermark(5), &mut out)?;
        op.on_watermark(Watermark::MAX, &mut out)?;
        for seen in [seen_a, seen_b] {
            assert_eq!(*seen.lock().unwrap(), vec![5, i64::MAX]);
        }
        // The watermark ends at the sink.
        assert_eq!(out.drain().count(), 0);
        Ok(())
    }
}

//! Aggregation: unbounded `GROUP BY` ([`group`]), windows that fire on time
//! ([`window`]: tumbling, hopping and cumulative windows, whose rows already
//! carry their window), and merging session windows ([`session`]). All three
//! share the accumulators of [`acc`] and the key handling below.

pub mod acc;
pub mod group;
pub mod session;
pub mod window;

pub(crate) mod keys;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion_physical_expr::PhysicalExpr;

pub use acc::{AggCall, AggFunction};
pub use group::GroupAggregateFactory;
pub use session::SessionAggregateFactory;
pub use window::{TimeDomain, WindowAggregateFactory};

/// The state descriptor shared by the aggregate operators.
fn aggregate_descriptor(
    kind: &str,
    keys: &[Arc<dyn PhysicalExpr>],
    aggs: &[AggCall],
    input: &SchemaRef,
    retracting: bool,
) -> String {
    let accs = acc::accs_descriptor(aggs, input, retracting).unwrap_or_else(|e| format!("?({e})"));
    format!(
        "{kind} v1 keys [{}] accs [{accs}]",
        keys::keys_descriptor(keys, input)
    )
}

/// EXPLAIN text shared by the aggregate operators.
fn explain_aggs(keys: &[Arc<dyn PhysicalExpr>], aggs: &[AggCall], output: &SchemaRef) -> String {
    let names: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    let calls: Vec<String> = aggs
        .iter()
        .zip(output.fields().iter().skip(keys.len()))
        .map(|(a, f)| format!("{a} AS {}", f.name()))
        .collect();
    format!(
        "groupBy=[{}], select=[{}]",
        names.join(", "),
        calls.join(", ")
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    use riffle_common::keygroup::range_for_subtask;
    use riffle_common::{CheckpointBarrier, Chunk, Message, Watermark};

    use crate::checkpoint::{
        Items, OperatorLayout, OperatorSnapshot, SnapshotFile, StateStore, restore_state,
    };
    use crate::operator::{Operator, OperatorFactory, Output, TaskInfo};

    pub(crate) fn task() -> TaskInfo {
        TaskInfo {
            vertex_id: 0,
            job_name: "test".into(),
            vertex_name: "test".into(),
            subtask_index: 0,
            parallelism: 1,
            max_parallelism: 128,
            local_time_zone_offset_ms: 0,
            checkpointing: false,
        }
    }

    /// Drives an operator through messages; returns what it emitted.
    ///
    /// A barrier in the input checkpoints the operator: its snapshot is
    /// framed into a state file and read back into a fresh instance, which
    /// takes over, as after a failure. The file is encoded only after the
    /// old instance went on through the rest of the input, as the
    /// uploading thread does while the task keeps running: a snapshot must
    /// not see changes made after its barrier.
    pub(crate) fn run_messages(f: &dyn OperatorFactory, input: Vec<Message>) -> Vec<Message> {
        let mut op = f.create(&task()).unwrap();
        let mut out = Output::default();
        for (i, m) in input.iter().enumerate() {
            match m.clone() {
                Message::Barrier(b) => {
                    let mut snap = OperatorSnapshot::default();
                    op.snapshot(b.checkpoint_id, &mut snap).unwrap();
                    feed(op.as_mut(), &input[i + 1..], &mut Output::default());
                    op = restored_copy(f, snap);
                    op.on_barrier(b, &mut out).unwrap();
                }
                m => feed(op.as_mut(), &[m], &mut out),
            }
        }
        out.drain().collect()
    }

    fn feed(op: &mut dyn Operator, input: &[Message], out: &mut Output) {
        for m in input.iter().cloned() {
            match m {
                Message::Data(c) => op.process(0, c, out).unwrap(),
                Message::Watermark(w) => op.on_watermark(w, out).unwrap(),
                Message::Barrier(b) => op.on_barrier(b, out).unwrap(),
                Message::Idle(_) => {}
                Message::EndOfInput => {
                    op.on_watermark(Watermark::MAX, out).unwrap();
                    op.on_end_of_input(out).unwrap();
                }
            }
        }
    }

    /// A new instance restored from a snapshot, through a state file.
    pub(crate) fn restored_copy(
        f: &dyn OperatorFactory,
        snap: OperatorSnapshot,
    ) -> Box<dyn Operator> {
        let desc = f.state_descriptor().expect("a stateful operator");
        let t = task();
        let range = range_for_subtask(0, t.max_parallelism, 1);
        let bytes = SnapshotFile::encode("op", &desc, range, snap).unwrap();
        let store = OneFile(bytes);
        let state = restore_state(&store, "op", &desc, &t, Items::Dealt)
            .unwrap()
            .unwrap();
        let mut fresh = f.create(&t).unwrap();
        fresh.restore(state).unwrap();
        fresh
    }

    /// How many keyed entries a snapshot of `op` (made by `f`) holds now.
    pub(crate) fn snapshot_entries(f: &dyn OperatorFactory, op: &mut dyn Operator) -> usize {
        let mut snap = OperatorSnapshot::default();
        op.snapshot(1, &mut snap).unwrap();
        let desc = f.state_descriptor().expect("a stateful operator");
        let t = task();
        let range = range_for_subtask(0, t.max_parallelism, 1);
        let bytes = SnapshotFile::encode("op", &desc, range, snap).unwrap();
        let state = restore_state(&OneFile(bytes), "op", &desc, &t, Items::Dealt)
            .unwrap()
            .unwrap();
        let mut n = 0;
        state
            .for_each_keyed(|_| {
                n += 1;
                Ok(())
            })
            .unwrap();
        n
    }

    struct OneFile(Vec<u8>);

    impl StateStore for OneFile {
        fn layout(&self, _uid: &str) -> Option<OperatorLayout> {
            Some(OperatorLayout {
                parallelism: 1,
                max_parallelism: task().max_parallelism,
                subtasks: vec![0],
            })
        }
        fn read(&self, _uid: &str, _subtask: usize) -> crate::Result<Vec<u8>> {
            Ok(self.0.clone())
        }
    }

    /// Checks that checkpointing and restoring before any message of
    /// `input` leaves the output unchanged.
    pub(crate) fn assert_restores_anywhere(f: &dyn OperatorFactory, input: Vec<Message>) {
        // Rows within one emitted chunk may come in another order (keys live
        // in hash maps); the chunks and their contents must match.
        let canonical = |out: Vec<Message>| -> Vec<Vec<String>> {
            out.iter()
                .map(|m| {
                    let mut rows = kinds_and_rows(std::slice::from_ref(m));
                    rows.sort();
                    rows
                })
                .filter(|r| !r.is_empty())
                .collect()
        };
        let plain = canonical(run_messages(f, input.clone()));
        for cut in 0..=input.len() {
            let mut with = input.clone();
            with.insert(
                cut,
                Message::Barrier(CheckpointBarrier {
                    checkpoint_id: 1,
                    timestamp_ms: 0,
                    is_savepoint: false,
                    stop: false,
                }),
            );
            assert_eq!(
                canonical(run_messages(f, with)),
                plain,
                "restored before message {cut}"
            );
        }
    }

    pub(crate) fn run_chunks(f: &dyn OperatorFactory, input: Vec<Chunk>) -> Vec<Message> {
        run_messages(f, input.into_iter().map(Message::Data).collect())
    }

    /// Rows as `"+I a,1,2"` strings, watermarks as `"WM 5"`.
    pub(crate) fn kinds_and_rows(out: &[Message]) -> Vec<String> {
        let opts = FormatOptions::default().with_null("null");
        let mut v = Vec::new();
        for m in out {
            match m {
                Message::Data(c) => {
                    let fmts: Vec<_> = c
                        .data
                        .columns()
                        .iter()
                        .map(|a| ArrayFormatter::try_new(a.as_ref(), &opts).unwrap())
                        .collect();
                    for r in 0..c.num_rows() {
                        let cols: Vec<String> =
                            fmts.iter().map(|f| f.value(r).to_string()).collect();
                        v.push(format!("{} {}", c.kind(r).short_string(), cols.join(",")));
                    }
                }
                Message::Watermark(w) if *w != Watermark::MAX => v.push(format!("WM {}", w.0)),
                _ => {}
            }
        }
        v
    }
}

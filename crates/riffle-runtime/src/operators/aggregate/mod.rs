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
    use riffle_common::{Chunk, Message, Watermark};

    use crate::operator::{OperatorFactory, Output, TaskInfo};

    pub(crate) fn task() -> TaskInfo {
        TaskInfo {
            vertex_id: 0,
            job_name: "test".into(),
            vertex_name: "test".into(),
            subtask_index: 0,
            parallelism: 1,
            max_parallelism: 128,
            local_time_zone_offset_ms: 0,
        }
    }

    /// Drives an operator through messages; returns what it emitted.
    pub(crate) fn run_messages(f: &dyn OperatorFactory, input: Vec<Message>) -> Vec<Message> {
        let mut op = f.create(&task()).unwrap();
        let mut out = Output::default();
        for m in input {
            match m {
                Message::Data(c) => op.process(0, c, &mut out).unwrap(),
                Message::Watermark(w) => op.on_watermark(w, &mut out).unwrap(),
                Message::Barrier(b) => op.on_barrier(b, &mut out).unwrap(),
                Message::Idle(_) => {}
                Message::EndOfInput => {
                    op.on_watermark(Watermark::MAX, &mut out).unwrap();
                    op.on_end_of_input(&mut out).unwrap();
                }
            }
        }
        out.drain().collect()
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

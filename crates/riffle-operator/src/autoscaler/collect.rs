//! The first step's input: one [`Observation`] of a job from its
//! JobManager's REST answers.
//!
//! Vertices are named by their index in the job graph, not by their REST
//! ids: a Riffle job's vertex ids derive from the job id, which changes with
//! every redeployment (a rescale is one), while the index of a vertex of the
//! same SQL does not. The overrides the autoscaler writes
//! (`pipeline.jobvertex-parallelism-overrides`) take the same indices.
//!
//! A source vertex (one without inputs) "reads" what its source produced:
//! the sum of its `Source__<name>.numRecordsOut` metrics when it reports
//! them (a filter chained behind the source then shows as an output ratio
//! below 1), else the records the vertex wrote. Its backlog is the sum of
//! its `Source__<name>.pendingRecords`, when the source knows it.

use std::collections::HashMap;

use crate::autoscaler::metrics::{Observation, VertexCounters};
use crate::rest::JobDetails;

/// What a source vertex's subtask metrics said.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SourceCounters {
    /// Records its sources produced, summed, when reported.
    pub produced: Option<u64>,
    /// Records its sources have yet to read, summed, when reported.
    pub pending: Option<u64>,
}

impl SourceCounters {
    /// From `(metric id, sum over subtasks)` pairs of the subtask metrics
    /// endpoint.
    pub fn from_sums(sums: &[(String, f64)]) -> SourceCounters {
        let total = |suffix: &str| {
            let picked: Vec<f64> = sums
                .iter()
                .filter(|(id, _)| is_source_metric(id, suffix))
                .map(|(_, v)| *v)
                .collect();
            (!picked.is_empty()).then(|| picked.iter().sum::<f64>().max(0.0) as u64)
        };
        SourceCounters {
            produced: total(".numRecordsOut"),
            pending: total(".pendingRecords"),
        }
    }
}

/// Whether `id` is a source's metric ending in `suffix`.
fn is_source_metric(id: &str, suffix: &str) -> bool {
    id.starts_with("Source__") && id.ends_with(suffix)
}

/// The subtask metric ids a source vertex is asked for.
pub fn wanted_source_metric(id: &str) -> bool {
    is_source_metric(id, ".numRecordsOut") || is_source_metric(id, ".pendingRecords")
}

/// One observation of job `job_id` at `at_ms`: `details` is `GET /jobs/:id`;
/// `busy_ms[i]` the accumulated busy time of each subtask of vertex `i`;
/// `sources[i]` what the subtask metrics of vertex `i` said, for vertices
/// without inputs.
pub fn observation(
    job_id: &str,
    at_ms: i64,
    details: &JobDetails,
    busy_ms: &[Vec<u64>],
    sources: &[SourceCounters],
) -> Observation {
    let index: HashMap<&str, usize> = details
        .vertices
        .iter()
        .enumerate()
        .map(|(i, v)| (v.id.as_str(), i))
        .collect();
    let inputs: HashMap<&str, Vec<String>> = details
        .plan
        .nodes
        .iter()
        .map(|n| {
            let ins = n
                .inputs
                .iter()
                .filter_map(|e| index.get(e.id.as_str()).map(usize::to_string))
                .collect();
            (n.id.as_str(), ins)
        })
        .collect();
    let vertices = details
        .vertices
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let ins = inputs.get(v.id.as_str()).cloned().unwrap_or_default();
            let source = sources.get(i).copied().unwrap_or_default();
            let records_in = if ins.is_empty() {
                source.produced.unwrap_or(v.metrics.write_records)
            } else {
                v.metrics.read_records
            };
            VertexCounters {
                id: i.to_string(),
                name: v.name.clone(),
                parallelism: v.parallelism,
                max_parallelism: v.max_parallelism,
                busy_ms: busy_ms.get(i).cloned().unwrap_or_default(),
                records_in,
                records_out: v.metrics.write_records,
                pending: if ins.is_empty() { source.pending } else { None },
                inputs: ins,
            }
        })
        .collect();
    Observation {
        at_ms,
        job_id: job_id.to_string(),
        vertices,
    }
}

/// `job.autoscaler.vertex.exclude.ids` as graph indices: a REST vertex id
/// of the running job is taken as its index, anything else as it is (an
/// index already, or a vertex this job does not have).
pub fn excluded(ids: &[String], details: &JobDetails) -> Vec<String> {
    ids.iter()
        .map(|id| {
            details
                .vertices
                .iter()
                .position(|v| &v.id == id)
                .map_or_else(|| id.clone(), |i| i.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn details() -> JobDetails {
        serde_json::from_value(json!({
            "jid": "j",
            "vertices": [
                {"id": "aa", "name": "Source: bids -> Calc", "parallelism": 1, "maxParallelism": 128,
                 "metrics": {"read-records": 0, "write-records": 900, "accumulated-busy-time": 12.0}},
                {"id": "bb", "name": "GroupAggregate -> Calc -> Sink", "parallelism": 2, "maxParallelism": 128,
                 "metrics": {"read-records": 900, "write-records": 850, "accumulated-busy-time": 800.0}}
            ],
            "plan": {"nodes": [
                {"id": "aa"},
                {"id": "bb", "inputs": [{"num": 0, "id": "aa", "ship_strategy": "HASH"}]}
            ]},
            "timestamps": {"RUNNING": 1000}
        }))
        .expect("details")
    }

    #[test]
    fn vertices_are_named_by_index_and_a_source_reads_what_it_produced() {
        let sums = vec![
            ("Source__bids.numRecordsOut".to_string(), 1000.0),
            ("Source__bids.pendingRecords".to_string(), 40.0),
            ("numRecordsOut".to_string(), 900.0),
        ];
        let o = observation(
            "j",
            5,
            &details(),
            &[vec![12], vec![300, 500]],
            &[SourceCounters::from_sums(&sums), SourceCounters::default()],
        );
        let src = &o.vertices[0];
        assert_eq!(
            (src.id.as_str(), src.records_in, src.records_out),
            ("0", 1000, 900)
        );
        assert_eq!(src.pending, Some(40));
        assert!(src.inputs.is_empty());
        let agg = &o.vertices[1];
        assert_eq!(agg.inputs, vec!["0".to_string()]);
        assert_eq!((agg.records_in, agg.busy_ms.clone()), (900, vec![300, 500]));
        assert_eq!(agg.pending, None);
    }

    #[test]
    fn a_source_without_source_metrics_reads_what_it_wrote() {
        let o = observation("j", 5, &details(), &[], &[]);
        assert_eq!(o.vertices[0].records_in, 900);
        assert_eq!(o.vertices[0].pending, None);
        assert!(wanted_source_metric("Source__x.pendingRecords"));
        assert!(!wanted_source_metric("numRecordsOut"));
        let ex = excluded(&["bb".to_string(), "7".to_string()], &details());
        assert_eq!(ex, vec!["1".to_string(), "7".to_string()]);
    }
}

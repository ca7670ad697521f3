//! `GET /jobs/:jobid/vertices/:vertexid/subtasks/metrics`: a vertex's
//! subtask metrics aggregated over its subtasks, with Flink's `get`, `agg`
//! and `subtasks` parameters — what autoscalers read (busy time, records
//! in and out, a source's `pendingRecords`).
//!
//! Without `get` the answer lists the metric ids there are; with it, each
//! requested id present with the aggregates `agg` asks for (all of `min`,
//! `max`, `avg`, `sum`, `skew` by default). `skew` is how far the largest
//! value lies above the average, in percent of the average.

use axum::extract::{Path, Query, State};
use riffle_rpc::control::SubtaskReport;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiResult, Shared, bad_request, find_vertex, with_job};
use crate::job::Job;

#[derive(Deserialize)]
pub(super) struct AggregatedQuery {
    get: Option<String>,
    agg: Option<String>,
    subtasks: Option<String>,
}

/// One metric id (the answer without `get`).
#[derive(Serialize)]
struct MetricId {
    id: String,
}

/// One metric's aggregates.
#[derive(Serialize, Default)]
struct Aggregated {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    avg: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sum: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skew: Option<f64>,
}

/// The aggregation modes Flink names.
const MODES: [&str; 5] = ["min", "max", "avg", "sum", "skew"];

/// Flink's operator-scoped name of a chain's source: `Source__` and the
/// source's name with everything but letters and digits as `_`.
fn source_scope(vertex_name: &str) -> String {
    let head = vertex_name.split(" -> ").next().unwrap_or(vertex_name);
    let name = head.strip_prefix("Source: ").unwrap_or(head);
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("Source__{clean}")
}

/// The metrics of one subtask's report, by Flink's ids.
fn values(r: &SubtaskReport, source: Option<&str>) -> Vec<(String, f64)> {
    let mut v = vec![
        ("numRecordsIn".to_string(), r.records_in as f64),
        ("numRecordsOut".to_string(), r.records_out as f64),
        ("numBytesIn".to_string(), r.bytes_in as f64),
        ("numBytesOut".to_string(), r.bytes_out as f64),
        ("accumulateBusyTimeMs".to_string(), r.busy_ms as f64),
        ("accumulateIdleTimeMs".to_string(), r.idle_ms as f64),
        (
            "accumulateBackPressuredTimeMs".to_string(),
            r.backpressured_ms as f64,
        ),
        ("busyTimeMsPerSecond".to_string(), r.busy_ms_per_second),
        (
            "backPressuredTimeMsPerSecond".to_string(),
            r.backpressured_ms_per_second,
        ),
    ];
    if r.input_watermark != i64::MIN {
        v.push(("currentInputWatermark".into(), r.input_watermark as f64));
    }
    if r.output_watermark != i64::MIN {
        v.push(("currentOutputWatermark".into(), r.output_watermark as f64));
    }
    if let Some(scope) = source {
        v.push((format!("{scope}.numRecordsOut"), r.source_out as f64));
        if let Some(p) = r.pending_records {
            v.push((format!("{scope}.pendingRecords"), p as f64));
        }
    }
    v
}

/// Subtask indexes from Flink's `1,3,5-9` form.
fn subtask_selection(text: &str) -> Result<Vec<usize>, ApiError> {
    let bad = |part: &str| {
        bad_request(format!(
            "Bad request, 'subtasks' takes comma-separated indexes or ranges such as 1,3,5-9; \
             '{part}' is neither"
        ))
    };
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (
                    a.trim().parse().map_err(|_| bad(part))?,
                    b.trim().parse().map_err(|_| bad(part))?,
                );
                if a > b {
                    return Err(bad(part));
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad(part))?),
        }
    }
    Ok(out)
}

fn aggregate(id: String, xs: &[f64], modes: &[&str]) -> Aggregated {
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = xs.iter().sum();
    let avg = sum / xs.len().max(1) as f64;
    let skew = if avg == 0.0 {
        0.0
    } else {
        (max - avg) / avg * 100.0
    };
    let want = |m: &str| modes.contains(&m);
    Aggregated {
        id,
        min: want("min").then_some(min),
        max: want("max").then_some(max),
        avg: want("avg").then_some(avg),
        sum: want("sum").then_some(sum),
        skew: want("skew").then_some(skew),
    }
}

fn answer(job: &Job, vertex: usize, q: &AggregatedQuery) -> Result<serde_json::Value, ApiError> {
    let modes: Vec<String> = match &q.agg {
        None => MODES.iter().map(|m| m.to_string()).collect(),
        Some(list) => list
            .split(',')
            .map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| !m.is_empty())
            .map(|m| {
                if MODES.contains(&m.as_str()) {
                    Ok(m)
                } else {
                    Err(bad_request(format!(
                        "Bad request, 'agg' takes min, max, sum, avg and skew, not '{m}'"
                    )))
                }
            })
            .collect::<Result<_, _>>()?,
    };
    let modes: Vec<&str> = modes.iter().map(String::as_str).collect();
    let selected = q.subtasks.as_deref().map(subtask_selection).transpose()?;
    let info = &job.vertices[vertex];
    let source = info.inputs.is_empty().then(|| source_scope(&info.name));
    let mut by_id: Vec<(String, Vec<f64>)> = Vec::new();
    for ((v, s), r) in &job.reports {
        if *v != vertex || selected.as_ref().is_some_and(|sel| !sel.contains(s)) {
            continue;
        }
        for (id, x) in values(r, source.as_deref()) {
            match by_id.iter_mut().find(|(i, _)| *i == id) {
                Some((_, xs)) => xs.push(x),
                None => by_id.push((id, vec![x])),
            }
        }
    }
    let json = match &q.get {
        None => serde_json::to_value(
            by_id
                .into_iter()
                .map(|(id, _)| MetricId { id })
                .collect::<Vec<_>>(),
        ),
        Some(get) => {
            let wanted: Vec<&str> = get.split(',').map(str::trim).collect();
            serde_json::to_value(
                by_id
                    .into_iter()
                    .filter(|(id, _)| wanted.contains(&id.as_str()))
                    .map(|(id, xs)| aggregate(id, &xs, &modes))
                    .collect::<Vec<_>>(),
            )
        }
    };
    json.map_err(|e| bad_request(format!("cannot render the metrics: {e}")))
}

pub(super) async fn aggregated(
    State(state): State<Shared>,
    Path((jobid, vertexid)): Path<(String, String)>,
    Query(q): Query<AggregatedQuery>,
) -> ApiResult {
    let v = with_job(&state, &jobid, |_, job| {
        find_vertex(job, &vertexid).and_then(|i| answer(job, i, &q))
    })??;
    super::ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtask_ranges_read_as_flink_writes_them() {
        assert_eq!(subtask_selection("1,3,5-7").ok(), Some(vec![1, 3, 5, 6, 7]));
        assert!(subtask_selection("3-1").is_err());
        assert!(subtask_selection("x").is_err());
    }

    #[test]
    fn aggregates_are_the_ones_asked_for() {
        let a = aggregate("m".into(), &[1.0, 3.0], &["max", "avg", "skew"]);
        assert_eq!(
            (a.min, a.max, a.avg, a.sum),
            (None, Some(3.0), Some(2.0), None)
        );
        assert_eq!(a.skew, Some(50.0));
    }

    #[test]
    fn a_source_is_scoped_by_its_name() {
        assert_eq!(
            source_scope("Source: nexmark[bid] -> Calc"),
            "Source__nexmark_bid_"
        );
    }
}

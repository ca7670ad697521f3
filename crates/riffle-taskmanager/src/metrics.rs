//! The TaskManager's Prometheus exposition, with Flink's names and labels.
//!
//! Task metrics are `flink_taskmanager_job_task_<name>` labelled with the
//! task scope variables Flink uses (`host`, `tm_id`, `job_id`, `job_name`,
//! `task_id`, `task_attempt_id`, `task_name`, `task_attempt_num`,
//! `subtask_index`). A subtask is a chain of operators; operator metrics
//! (`flink_taskmanager_job_task_operator_<name>`, plus `operator_id` and
//! `operator_name`) report what enters the chain's first operator and what
//! leaves its last, which is what the chain's counters measure.

use riffle_common::process::CpuMeter;
use riffle_common::prometheus::{Exposition, add_process};
use riffle_rpc::AbstractId;
use riffle_rpc::ids::vertex_id;

use crate::attempts::TaskView;

const TASK: &str = "flink_taskmanager_job_task";
const OPERATOR: &str = "flink_taskmanager_job_task_operator";

/// The whole exposition of one TaskManager.
pub fn render(host: &str, tm_id: &str, tasks: &[TaskView], cpu: &CpuMeter) -> String {
    let mut e = Exposition::new();
    add_process(
        &mut e,
        "flink_taskmanager",
        &[("host", host), ("tm_id", tm_id)],
        cpu,
    );
    for t in tasks {
        add_task(&mut e, host, tm_id, t);
    }
    e.render()
}

fn add_task(e: &mut Exposition, host: &str, tm_id: &str, t: &TaskView) {
    let task_id = vertex_id(t.job_id, t.vertex).to_string();
    let attempt_id = AbstractId::from_seed(&format!(
        "{}/{}/{}/{}",
        t.job_id, t.attempt, t.vertex, t.subtask
    ))
    .to_string();
    let job_id = t.job_id.to_string();
    let attempt_num = t.attempt.to_string();
    let subtask = t.subtask.to_string();
    let labels = [
        ("host", host),
        ("tm_id", tm_id),
        ("job_id", job_id.as_str()),
        ("job_name", t.job_name.as_str()),
        ("task_id", task_id.as_str()),
        ("task_attempt_id", attempt_id.as_str()),
        ("task_name", t.vertex_name.as_str()),
        ("task_attempt_num", attempt_num.as_str()),
        ("subtask_index", subtask.as_str()),
    ];
    let (s, r) = (&t.sample, &t.rates);
    let task_gauges: [(&str, &str, f64); 13] = [
        (
            "numRecordsIn",
            "Records this task received.",
            s.records_in as f64,
        ),
        (
            "numRecordsOut",
            "Records this task sent.",
            s.records_out as f64,
        ),
        (
            "numRecordsInPerSecond",
            "Records received per second.",
            r.records_in,
        ),
        (
            "numRecordsOutPerSecond",
            "Records sent per second.",
            r.records_out,
        ),
        ("numBytesIn", "Bytes this task received.", s.bytes_in as f64),
        ("numBytesOut", "Bytes this task sent.", s.bytes_out as f64),
        (
            "numBytesInPerSecond",
            "Bytes received per second.",
            r.bytes_in,
        ),
        (
            "numBytesOutPerSecond",
            "Bytes sent per second.",
            r.bytes_out,
        ),
        (
            "busyTimeMsPerSecond",
            "Time per second the task was busy, in ms.",
            r.busy_ms,
        ),
        (
            "backPressuredTimeMsPerSecond",
            "Time per second the task was back pressured, in ms.",
            r.backpressured_ms,
        ),
        (
            "idleTimeMsPerSecond",
            "Time per second the task was idle, in ms.",
            r.idle_ms,
        ),
        (
            "currentInputWatermark",
            "The last watermark the task received, in ms.",
            s.input_watermark as f64,
        ),
        (
            "currentOutputWatermark",
            "The last watermark the task emitted, in ms.",
            s.output_watermark as f64,
        ),
    ];
    for (name, help, value) in task_gauges {
        e.gauge(&format!("{TASK}_{name}"), help, &labels, value);
    }

    let operators: Vec<&str> = t.vertex_name.split(" -> ").collect();
    let last = operators.len().saturating_sub(1);
    for (i, op) in operators.iter().enumerate() {
        let op_id = AbstractId::from_seed(&format!("{task_id}/operator/{i}")).to_string();
        let mut op_labels = labels.to_vec();
        op_labels.push(("operator_id", op_id.as_str()));
        op_labels.push(("operator_name", op));
        let is_source = i == 0 && op.starts_with("Source:");
        let mut op_gauges: Vec<(&str, &str, f64)> = Vec::new();
        let (rows_in, rate_in, rows_out, rate_out) = match (i == 0, i == last) {
            // One operator: the task's own counters.
            (true, true) => (s.records_in, r.records_in, s.records_out, r.records_out),
            (true, false) if is_source => (0, 0.0, s.source_out, r.source_out),
            (true, false) => (s.records_in, r.records_in, 0, 0.0),
            (false, true) => (s.tail_in, r.tail_in, s.records_out, r.records_out),
            (false, false) => continue,
        };
        if i == 0 && !is_source || i == last {
            op_gauges.push((
                "numRecordsIn",
                "Records this operator received.",
                rows_in as f64,
            ));
            op_gauges.push((
                "numRecordsInPerSecond",
                "Records received per second.",
                rate_in,
            ));
        }
        if is_source || i == last {
            op_gauges.push((
                "numRecordsOut",
                "Records this operator emitted.",
                rows_out as f64,
            ));
            op_gauges.push((
                "numRecordsOutPerSecond",
                "Records emitted per second.",
                rate_out,
            ));
        }
        if is_source {
            // Flink registers it in the source reader's operator group.
            op_gauges.push((
                "numRecordsInErrors",
                "Records the source could not read as they are (skipped, or read with NULL fields).",
                s.records_in_errors as f64,
            ));
        }
        if i == 0 {
            op_gauges.push((
                "currentInputWatermark",
                "The last watermark the operator received, in ms.",
                s.input_watermark as f64,
            ));
        }
        if i == last {
            op_gauges.push((
                "currentOutputWatermark",
                "The last watermark the operator emitted, in ms.",
                s.output_watermark as f64,
            ));
        }
        for (name, help, value) in op_gauges {
            e.gauge(&format!("{OPERATOR}_{name}"), help, &op_labels, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_rpc::JobId;
    use riffle_runtime::metrics::{TaskMetrics, TaskRates};

    #[test]
    fn a_chain_reports_task_and_operator_metrics() {
        let m = TaskMetrics::new(1, "Source: bid -> Calc -> Sink: out", 2);
        m.add_in(7, 70);
        m.add_records_in_errors(3);
        m.add_source_out(9);
        m.add_tail_in(5);
        let view = TaskView {
            job_id: JobId::from_seed("j"),
            job_name: "insert-into_out".into(),
            attempt: 0,
            vertex: 1,
            vertex_name: "Source: bid -> Calc -> Sink: out".into(),
            subtask: 2,
            sample: m.sample(),
            rates: TaskRates {
                records_out: 1.5,
                ..TaskRates::default()
            },
        };
        let text = render("h", "tm1", &[view], &CpuMeter::default());
        let find = |name: &str, with: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(with)
                })
                .unwrap_or_else(|| panic!("no {name} with {with} in\n{text}"))
                .to_string()
        };
        let line = |name: &str| find(name, "");
        let rin = line("flink_taskmanager_job_task_numRecordsIn");
        assert!(rin.ends_with("} 7"), "{rin}");
        assert!(rin.contains("subtask_index=\"2\""), "{rin}");
        assert!(rin.contains("task_name=\"Source: bid -> Calc -> Sink: out\""));
        assert!(rin.contains("tm_id=\"tm1\""));
        let src = line("flink_taskmanager_job_task_operator_numRecordsOut");
        assert!(src.contains("operator_name=\"Source: bid\""), "{src}");
        assert!(src.ends_with("} 9"), "{src}");
        let errors = line("flink_taskmanager_job_task_operator_numRecordsInErrors");
        assert!(errors.contains("operator_name=\"Source: bid\""), "{errors}");
        assert!(errors.ends_with("} 3"), "{errors}");
        let sink_in = line("flink_taskmanager_job_task_operator_numRecordsIn");
        assert!(sink_in.contains("operator_name=\"Sink: out\""), "{sink_in}");
        assert!(sink_in.ends_with("} 5"), "{sink_in}");
        let op_out = find(
            "flink_taskmanager_job_task_operator_numRecordsOutPerSecond",
            "operator_name=\"Sink: out\"",
        );
        assert!(op_out.contains("operator_name=\"Sink: out\""), "{op_out}");
        assert!(op_out.ends_with(" 1.5"), "{op_out}");
        let wm = line("flink_taskmanager_job_task_currentInputWatermark");
        assert!(wm.ends_with(" -9223372036854776000"), "{wm}");
        assert!(
            text.contains(
                "flink_taskmanager_Status_ProcessTree_Memory_RSS{host=\"h\",tm_id=\"tm1\"}"
            )
        );
    }
}

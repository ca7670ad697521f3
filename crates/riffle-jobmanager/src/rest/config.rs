//! The configuration endpoints: `/jobmanager/config`, `/jobs/:id/config` and
//! `/jobs/:id/jobmanager/config`, as typed bodies with Flink's field names.
//!
//! They show resolved values: a job's after its script's `SET`s, the
//! cluster's after file, environment and `-D`; secrets are masked.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use riffle_common::config::EffectiveValue;
use serde::Serialize;

use super::{ApiResult, Shared, with_job};

/// Flink's `ConfigurationInfoEntry`.
#[derive(Debug, Serialize)]
pub(crate) struct ConfigurationInfoEntry {
    key: String,
    value: String,
}

/// Flink's `JobConfigInfo` as its server writes it.
#[derive(Debug, Serialize)]
pub(crate) struct JobConfigInfo {
    jid: String,
    name: String,
    #[serde(rename = "execution-config")]
    execution_config: ExecutionConfigInfo,
}

/// Flink's `ExecutionConfigInfo`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct ExecutionConfigInfo {
    execution_mode: &'static str,
    restart_strategy: String,
    job_parallelism: usize,
    object_reuse_mode: bool,
    /// Every effective key of the job (Flink shows its global job parameters here).
    user_config: std::collections::BTreeMap<String, String>,
}

fn entries(values: &[EffectiveValue]) -> Vec<ConfigurationInfoEntry> {
    values
        .iter()
        .map(|v| ConfigurationInfoEntry {
            key: v.key.clone(),
            value: v.value.clone(),
        })
        .collect()
}

pub(crate) async fn jobmanager_config(State(state): State<Shared>) -> ApiResult {
    Ok(Json(entries(&state.cluster.effective)).into_response())
}

pub(crate) async fn job_jobmanager_config(
    State(state): State<Shared>,
    Path(jobid): Path<String>,
) -> ApiResult {
    let body = with_job(&state, &jobid, |_, job| entries(&job.config.effective))?;
    Ok(Json(body).into_response())
}

pub(crate) async fn job_config(
    State(state): State<Shared>,
    Path(jobid): Path<String>,
) -> ApiResult {
    let body = with_job(&state, &jobid, |_, job| JobConfigInfo {
        jid: job.id.to_string(),
        name: job.name.clone(),
        execution_config: ExecutionConfigInfo {
            execution_mode: "PIPELINED",
            restart_strategy: job.restarts.strategy().to_string(),
            job_parallelism: job.config.execution.parallelism,
            object_reuse_mode: false,
            user_config: job
                .config
                .effective
                .iter()
                .map(|v| (v.key.clone(), v.value.clone()))
                .collect(),
        },
    })?;
    Ok(Json(body).into_response())
}

//! The upgrade savepoint, step by step: shared by FlinkDeployments and
//! FlinkSessionJobs.
//!
//! The trigger id is chosen and recorded in the status before the request
//! is sent; a JobManager that does not know it (the request never arrived)
//! is sent it again; one that is still working is waited for, up to the
//! timeout. Pure: the status is changed by the caller through the
//! `record_*` functions.

use riffle_rpc::JobId;

use crate::crd::common::{JobStatus, Savepoint, SavepointFormatType, SnapshotTriggerType};
use crate::deployment::rules::SavepointSeen;

/// Completed savepoints kept in `savepointInfo.savepointHistory`.
const HISTORY_LIMIT: usize = 10;

/// What to do about the upgrade savepoint of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavepointStep {
    /// None is pending and the job runs: trigger one under this id.
    Trigger(String),
    /// The JobManager does not know the recorded trigger: send it again.
    Resend(String),
    /// It is running.
    Wait,
    /// It completed at this location.
    Completed(String),
    /// It failed or timed out, for this reason.
    Failed(String),
    /// None is pending and the job does not run: no savepoint can be taken.
    NotRunning,
}

/// The next step, given the job's status, what the JobManager says of the
/// recorded trigger, and whether the job runs.
pub fn savepoint_step(
    job: Option<&JobStatus>,
    seen: &SavepointSeen,
    running: bool,
    now: i64,
    timeout_ms: i64,
) -> SavepointStep {
    let info = job
        .and_then(|j| j.savepoint_info.clone())
        .unwrap_or_default();
    let pending = info
        .trigger_id
        .clone()
        .filter(|_| info.trigger_type == Some(SnapshotTriggerType::Upgrade));
    let Some(trigger) = pending else {
        let Some(id) = job.and_then(|j| j.job_id.as_deref()).filter(|_| running) else {
            return SavepointStep::NotRunning;
        };
        return SavepointStep::Trigger(
            JobId::from_seed(&format!("{id}/upgrade-savepoint/{now}")).to_string(),
        );
    };
    let age = now - info.trigger_timestamp.unwrap_or(now);
    match seen {
        SavepointSeen::Completed(location) => SavepointStep::Completed(location.clone()),
        SavepointSeen::Failed(reason) => SavepointStep::Failed(reason.clone()),
        _ if age > timeout_ms => SavepointStep::Failed(format!(
            "not completed within {} s (execution.checkpointing.timeout)",
            timeout_ms / 1000
        )),
        SavepointSeen::Unknown if running => SavepointStep::Resend(trigger),
        _ => SavepointStep::Wait,
    }
}

/// Records a trigger about to be sent.
pub fn record_trigger(job: &mut JobStatus, trigger_id: &str, now: i64) {
    let sp = job.savepoint_info.get_or_insert_with(Default::default);
    sp.trigger_id = Some(trigger_id.to_string());
    sp.trigger_type = Some(SnapshotTriggerType::Upgrade);
    sp.trigger_timestamp = Some(now);
    sp.format_type = Some(SavepointFormatType::Canonical);
}

/// Records a completed upgrade savepoint: the latest, in the history, and
/// as what the next job starts from.
pub fn record_completed(job: &mut JobStatus, location: &str, now: i64) {
    job.upgrade_savepoint_path = Some(location.to_string());
    let sp = job.savepoint_info.get_or_insert_with(Default::default);
    let saved = Savepoint {
        time_stamp: now,
        location: Some(location.to_string()),
        trigger_type: Some(SnapshotTriggerType::Upgrade),
        format_type: sp.format_type,
        trigger_nonce: None,
    };
    sp.last_savepoint = Some(saved.clone());
    sp.savepoint_history.push(saved);
    let excess = sp.savepoint_history.len().saturating_sub(HISTORY_LIMIT);
    sp.savepoint_history.drain(..excess);
    clear_trigger(job);
}

/// Forgets the pending trigger.
pub fn clear_trigger(job: &mut JobStatus) {
    if let Some(sp) = job.savepoint_info.as_mut() {
        sp.trigger_id = None;
        sp.trigger_timestamp = None;
        sp.trigger_type = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(trigger: Option<i64>) -> JobStatus {
        let mut j = JobStatus {
            job_id: Some("a".repeat(32)),
            ..JobStatus::default()
        };
        if let Some(at) = trigger {
            record_trigger(&mut j, "t1", at);
        }
        j
    }

    #[test]
    fn steps_follow_the_trigger_and_the_clock() {
        let none = SavepointSeen::NotAsked;
        assert!(matches!(
            savepoint_step(Some(&job(None)), &none, true, 0, 100),
            SavepointStep::Trigger(_)
        ));
        assert_eq!(
            savepoint_step(Some(&job(None)), &none, false, 0, 100),
            SavepointStep::NotRunning
        );
        let j = job(Some(1000));
        assert_eq!(
            savepoint_step(Some(&j), &SavepointSeen::InProgress, true, 1050, 100),
            SavepointStep::Wait
        );
        assert!(matches!(
            savepoint_step(Some(&j), &SavepointSeen::InProgress, true, 1101, 100),
            SavepointStep::Failed(r) if r.contains("execution.checkpointing.timeout")
        ));
        assert_eq!(
            savepoint_step(Some(&j), &SavepointSeen::Unknown, true, 1050, 100),
            SavepointStep::Resend("t1".into())
        );
        assert_eq!(
            savepoint_step(
                Some(&j),
                &SavepointSeen::Completed("sp".into()),
                false,
                5000,
                100
            ),
            SavepointStep::Completed("sp".into())
        );
    }

    #[test]
    fn a_completed_savepoint_is_kept_within_the_history_limit() {
        let mut j = job(Some(1));
        for i in 0..12 {
            record_completed(&mut j, &format!("sp-{i}"), i);
        }
        let sp = j.savepoint_info.clone().unwrap_or_default();
        assert_eq!(sp.savepoint_history.len(), HISTORY_LIMIT);
        assert_eq!(
            sp.savepoint_history
                .first()
                .and_then(|s| s.location.as_deref()),
            Some("sp-2")
        );
        assert_eq!(j.upgrade_savepoint_path.as_deref(), Some("sp-11"));
        assert_eq!(sp.trigger_id, None);
    }
}

//! Query results for the SQL client: pages fetched with tokens.
//!
//! A job the SQL client submits for a `SELECT` keeps its rows on the
//! TaskManagers (in the collect sink's bounded buffer). Each time the
//! client fetches page `token`, the JobManager hands over what it already
//! pulled and sends one [`ToTaskManager::FetchResults`] round to the
//! TaskManagers of the job for the next page. So the JobManager holds at
//! most [`PAGE_ROWS`] rows per TaskManager of the job, and a client that
//! stops reading stops the query through backpressure instead of filling
//! memory.
//!
//! Tokens follow Flink's SQL Gateway: page `n` answers with
//! `nextResultUri` for `n + 1`; asking for `n` again returns the same page
//! (a retried request loses nothing); after the job ended and a whole round
//! came back empty the answer is end of stream.

use std::collections::{BTreeSet, VecDeque};

use riffle_rpc::control::{ResultRow, ToTaskManager};
use riffle_rpc::{JobId, ResourceId};

use crate::cluster::{Cluster, Outgoing};

/// The most rows one fetch round asks of each TaskManager.
pub const PAGE_ROWS: usize = 4096;

/// Rows pulled from the TaskManagers and the paging state of one job.
#[derive(Debug, Clone, Default)]
pub struct ResultBuffer {
    /// Rows pulled, not yet served.
    rows: VecDeque<ResultRow>,
    /// The token of the next new page.
    next_token: u64,
    /// The last page served (for a repeated request of `next_token - 1`).
    last: Option<Page>,
    /// TaskManagers whose answer to the current round is outstanding.
    pending: BTreeSet<ResourceId>,
    /// Whether the current round was sent after the job had ended.
    round_after_end: bool,
    /// Rows the current round brought.
    round_rows: usize,
    /// Every row has been served: the stream is over.
    drained: bool,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub enum Page {
    /// Rows (maybe none yet: the query is still running).
    Rows(Vec<ResultRow>),
    /// The job ended and every row was served.
    End,
}

impl Cluster {
    /// Serves page `token` of a query job's results.
    pub fn fetch_results(
        &mut self,
        job_id: JobId,
        token: u64,
    ) -> Result<(Page, Vec<Outgoing>), String> {
        let job = self
            .jobs
            .get_mut(&job_id)
            .ok_or_else(|| format!("Job {job_id} not found"))?;
        let ended = job.status.is_globally_terminal();
        let hosts: BTreeSet<ResourceId> = job
            .slots
            .iter()
            .copied()
            .filter(|tm| self.taskmanagers.contains_key(tm))
            .collect();
        let attempt = job.attempt;
        let r = job
            .results
            .as_mut()
            .ok_or_else(|| format!("Job {job_id} is not a query with results to fetch"))?;
        if token + 1 == r.next_token
            && let Some(page) = &r.last
        {
            return Ok((page.clone(), Vec::new()));
        }
        if token != r.next_token {
            return Err(format!(
                "token {token} is not the next page of job {job_id}; follow nextResultUri (token {})",
                r.next_token
            ));
        }
        let page = if !r.rows.is_empty() {
            Page::Rows(r.rows.drain(..).collect())
        } else if r.drained {
            Page::End
        } else {
            Page::Rows(Vec::new())
        };
        r.next_token += 1;
        r.last = Some(page.clone());
        let mut out = Vec::new();
        if r.pending.is_empty() && !r.drained {
            if hosts.is_empty() && ended {
                r.drained = true;
            }
            r.round_after_end = ended;
            r.round_rows = 0;
            for tm in hosts {
                r.pending.insert(tm);
                out.push((
                    tm,
                    ToTaskManager::FetchResults {
                        job_id,
                        attempt,
                        max_rows: PAGE_ROWS,
                    },
                ));
            }
        }
        Ok((page, out))
    }

    /// A TaskManager answered a fetch round.
    pub fn results(&mut self, tm: ResourceId, job_id: JobId, attempt: u32, rows: Vec<ResultRow>) {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return;
        };
        let current = job.attempt == attempt;
        let Some(r) = job.results.as_mut() else {
            return;
        };
        r.pending.remove(&tm);
        if current {
            r.round_rows += rows.len();
            r.rows.extend(rows);
        }
        if r.pending.is_empty() && r.round_after_end && r.round_rows == 0 {
            r.drained = true;
        }
    }

    /// A TaskManager is gone: it will not answer.
    pub(crate) fn forget_result_host(&mut self, tm: ResourceId) {
        for job in self.jobs.values_mut() {
            if let Some(r) = job.results.as_mut() {
                r.pending.remove(&tm);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Timeouts;
    use crate::job::{JobSpec, JobStatus, VertexInfo};
    use riffle_common::restart::{RestartStrategy, RestartTracker};
    use riffle_rpc::AbstractId;
    use riffle_rpc::control::{ExecutionState, TaskManagerInfo, TaskUpdate};

    fn row(v: &str) -> ResultRow {
        ResultRow {
            kind: "+I".into(),
            fields: vec![Some(v.into())],
        }
    }

    fn cluster_with_query() -> (Cluster, JobId, ResourceId) {
        let mut c = Cluster::new(Timeouts {
            heartbeat_ms: 1000,
            slot_request_ms: 1000,
            cancel_ms: 1000,
        });
        let tm = ResourceId::from_seed("tm");
        c.register(
            TaskManagerInfo {
                resource_id: tm,
                protocol_version: 2,
                host: "h".into(),
                data_port: 1,
                metrics_port: None,
                slots: 1,
                cpu_cores: 1,
                physical_memory: 0,
            },
            String::new(),
            0,
        );
        let id = JobId::from_seed("q");
        let mut config = riffle_common::Configuration::new();
        config.set(riffle_common::config::RESULT_COLLECT, "true");
        let resolved = std::sync::Arc::new(riffle_common::JobConfig::resolve(&config).unwrap());
        let job = crate::cluster::new_job(
            JobSpec {
                id,
                script: String::new(),
                config,
                on_recorded_result: Default::default(),
            },
            resolved,
            "collect".into(),
            vec![VertexInfo {
                id: AbstractId::from_seed("v"),
                name: "Source -> Sink".into(),
                parallelism: 1,
                max_parallelism: 128,
                inputs: Vec::new(),
            }],
            RestartTracker::new(RestartStrategy::None),
            crate::checkpoints::Coordinator::disabled(),
            0,
        );
        c.submit(job);
        (c, id, tm)
    }

    #[test]
    fn pages_are_pulled_round_by_round_and_end_after_an_empty_round() {
        let (mut c, id, tm) = cluster_with_query();
        assert_eq!(c.jobs[&id].status, JobStatus::Running);
        // Page 0: nothing yet; a round goes out.
        let (page, out) = c.fetch_results(id, 0).unwrap();
        assert_eq!(page, Page::Rows(vec![]));
        assert!(matches!(
            out[0].1,
            ToTaskManager::FetchResults {
                max_rows: PAGE_ROWS,
                ..
            }
        ));
        c.results(tm, id, 0, vec![row("a"), row("b")]);
        // Page 1 serves them; asking for page 1 again gives the same rows.
        let (page, _) = c.fetch_results(id, 1).unwrap();
        assert_eq!(page, Page::Rows(vec![row("a"), row("b")]));
        assert_eq!(c.fetch_results(id, 1).unwrap().0, page);
        assert!(c.fetch_results(id, 5).is_err());
        c.results(tm, id, 0, vec![]);
        // The job ends; the round sent before the end does not count.
        c.task_state(
            tm,
            TaskUpdate {
                job_id: id,
                attempt: 0,
                vertex: 0,
                subtask: 0,
                state: ExecutionState::Finished,
                failure: None,
                counters: None,
                restore_failed: false,
            },
            1,
        );
        let (page, out) = c.fetch_results(id, 2).unwrap();
        assert_eq!(page, Page::Rows(vec![]));
        assert_eq!(out.len(), 1);
        c.results(tm, id, 0, vec![row("c")]);
        assert_eq!(
            c.fetch_results(id, 3).unwrap().0,
            Page::Rows(vec![row("c")])
        );
        c.results(tm, id, 0, vec![]);
        assert_eq!(c.fetch_results(id, 4).unwrap().0, Page::End);
    }

    #[test]
    fn jobs_without_a_query_have_no_results() {
        let (mut c, id, _) = cluster_with_query();
        c.jobs.get_mut(&id).unwrap().results = None;
        assert!(c.fetch_results(id, 0).unwrap_err().contains("not a query"));
        assert!(
            c.fetch_results(JobId::from_seed("x"), 0)
                .unwrap_err()
                .contains("not found")
        );
    }
}

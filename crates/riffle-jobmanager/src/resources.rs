//! Active resource management: the JobManager starts and stops its own
//! TaskManagers (Flink's native Kubernetes mode).
//!
//! The rules ([`WorkerPool::reconcile`]) look at what the jobs need
//! ([`Demand`], read from the cluster under its lock) and at the workers the
//! provider reports ([`ObservedWorker`]), and say which workers to start
//! and stop. They do no I/O: a [`WorkerProvider`] (the Kubernetes API in
//! `riffle-kubernetes`) does, driven by [`start_pool`] once a second. Being
//! level-based (everything is re-read each round), a lost request or a
//! failed API call is simply repaired in the next round.
//!
//! The rules, as Flink's resource manager has them:
//! - every job that is not finished needs as many slots as its largest
//!   vertex parallelism; workers are started until the live ones (starting
//!   or registered) and TaskManagers started by other means cover that;
//! - a failed worker is stopped (its object removed) and no longer counts,
//!   so it is replaced when the slots are still needed;
//! - a registered worker without a used slot for `resourcemanager.
//!   taskmanager-timeout` is stopped when the others still cover the demand;
//! - workers are named `<prefix>-<attempt>-<n>`: `attempt` is one more than
//!   the highest of the workers found at start (an earlier JobManager's), `n`
//!   counts from 1, so a name is never used twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use riffle_rpc::ResourceId;

use crate::cluster::Cluster;
use crate::rpc::Shared;

/// What the workers are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSpec {
    /// Names start with this (`<cluster-id>-taskmanager`).
    pub name_prefix: String,
    /// Slots of one worker (`taskmanager.numberOfTaskSlots`).
    pub slots_per_worker: usize,
    /// `resourcemanager.taskmanager-timeout` in ms.
    pub idle_timeout_ms: i64,
}

/// The state of a worker as its provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerState {
    /// Requested, not yet running (scheduling, pulling the image, starting).
    Starting,
    /// Its process runs.
    Running,
    /// Being removed.
    Stopping,
    /// Its process ended or cannot start; the reason, for the log.
    Failed(String),
}

/// One worker the provider knows of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedWorker {
    /// Its name, also its TaskManager's `taskmanager.resource-id`.
    pub name: String,
    /// Its state.
    pub state: WorkerState,
}

/// What the jobs need and what the registered TaskManagers give.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Demand {
    /// Slots the unfinished jobs need.
    pub slots_required: usize,
    /// The registered TaskManagers.
    pub registered: Vec<Registered>,
}

/// A registered TaskManager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// Its resource id.
    pub id: ResourceId,
    /// Its slots.
    pub slots: usize,
    /// Slots used by jobs.
    pub used: usize,
}

impl Demand {
    /// Reads the demand off the cluster.
    pub fn of(cluster: &Cluster) -> Demand {
        Demand {
            slots_required: cluster
                .jobs
                .values()
                .filter(|j| !j.status.is_globally_terminal())
                .map(|j| j.required_slots())
                .sum(),
            registered: cluster
                .taskmanagers
                .values()
                .map(|t| Registered {
                    id: t.info.resource_id,
                    slots: t.info.slots,
                    used: cluster.slots_used(t.info.resource_id),
                })
                .collect(),
        }
    }
}

/// What to do with a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerAction {
    /// Start a worker with this name.
    Start {
        /// Its name.
        name: String,
    },
    /// Stop (remove) a worker.
    Stop {
        /// Its name.
        name: String,
        /// Why, for the log.
        reason: String,
    },
}

/// The resource id a worker's TaskManager registers with: derived from its
/// name, which the worker passes as `taskmanager.resource-id`.
pub fn worker_resource_id(name: &str) -> ResourceId {
    ResourceId::from_name(name)
}

/// The workers of one JobManager and the rules that size them.
#[derive(Debug)]
pub struct WorkerPool {
    spec: WorkerSpec,
    attempt: u64,
    next_index: u64,
    /// Ids of every worker of this cluster seen or started, so that a
    /// TaskManager whose worker is gone is not mistaken for one started
    /// by other means.
    known: BTreeSet<ResourceId>,
    /// Since when a registered worker has used no slot.
    idle_since: BTreeMap<String, i64>,
}

impl WorkerPool {
    /// A pool whose attempt follows the highest among `existing` (workers
    /// an earlier JobManager started).
    pub fn new(spec: WorkerSpec, existing: &[ObservedWorker]) -> WorkerPool {
        let attempt = existing
            .iter()
            .filter_map(|w| parse_attempt(&spec.name_prefix, &w.name))
            .max()
            .unwrap_or(0)
            + 1;
        WorkerPool {
            spec,
            attempt,
            next_index: 1,
            known: BTreeSet::new(),
            idle_since: BTreeMap::new(),
        }
    }

    /// The attempt this pool names its workers with.
    pub fn attempt(&self) -> u64 {
        self.attempt
    }

    /// One round: the actions that bring the workers in line with the demand.
    pub fn reconcile(
        &mut self,
        demand: &Demand,
        observed: &[ObservedWorker],
        now: i64,
    ) -> Vec<WorkerAction> {
        let mut actions = Vec::new();
        let registered: BTreeMap<ResourceId, &Registered> =
            demand.registered.iter().map(|r| (r.id, r)).collect();
        self.known
            .extend(observed.iter().map(|w| worker_resource_id(&w.name)));
        let mut live = Vec::new();
        for w in observed {
            match &w.state {
                WorkerState::Failed(reason) => actions.push(WorkerAction::Stop {
                    name: w.name.clone(),
                    reason: format!("it failed: {reason}"),
                }),
                WorkerState::Stopping => {}
                WorkerState::Starting | WorkerState::Running => live.push(w),
            }
        }
        let slots_of = |name: &str| {
            registered
                .get(&worker_resource_id(name))
                .map_or(self.spec.slots_per_worker, |r| r.slots)
        };
        let others: usize = demand
            .registered
            .iter()
            .filter(|r| !self.known.contains(&r.id))
            .map(|r| r.slots)
            .sum();
        let mut supply = others + live.iter().map(|w| slots_of(&w.name)).sum::<usize>();
        let required = demand.slots_required;
        if supply < required {
            let per = self.spec.slots_per_worker.max(1);
            for _ in 0..(required - supply).div_ceil(per) {
                let name = format!(
                    "{}-{}-{}",
                    self.spec.name_prefix, self.attempt, self.next_index
                );
                self.next_index += 1;
                self.known.insert(worker_resource_id(&name));
                actions.push(WorkerAction::Start { name });
            }
            self.idle_since.clear();
            return actions;
        }
        let mut idle_now = BTreeMap::new();
        for w in &live {
            let Some(r) = registered.get(&worker_resource_id(&w.name)) else {
                continue;
            };
            if r.used > 0 {
                continue;
            }
            let since = self.idle_since.get(&w.name).copied().unwrap_or(now);
            if now - since >= self.spec.idle_timeout_ms && supply - r.slots >= required {
                supply -= r.slots;
                actions.push(WorkerAction::Stop {
                    name: w.name.clone(),
                    reason: format!(
                        "idle for {} ms (resourcemanager.taskmanager-timeout)",
                        now - since
                    ),
                });
            } else {
                idle_now.insert(w.name.clone(), since);
            }
        }
        self.idle_since = idle_now;
        actions
    }
}

/// `Some(attempt)` for a name `<prefix>-<attempt>-<n>`.
fn parse_attempt(prefix: &str, name: &str) -> Option<u64> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    let (attempt, index) = rest.split_once('-')?;
    index.parse::<u64>().ok()?;
    attempt.parse().ok()
}

/// Why a provider call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ProviderError(pub String);

/// Where workers come from: lists, starts and stops them.
pub trait WorkerProvider: Send + Sync + std::fmt::Debug {
    /// The cluster's workers as they are now.
    fn observe(&self) -> Result<Vec<ObservedWorker>, ProviderError>;
    /// Starts a worker; its TaskManager registers with `taskmanager.resource-id = name`.
    fn start(&self, name: &str) -> Result<(), ProviderError>;
    /// Stops and removes a worker.
    fn stop(&self, name: &str) -> Result<(), ProviderError>;
}

/// How often the pool is reconciled.
const ROUND: Duration = Duration::from_secs(1);

/// Runs the pool on a thread of its own for the life of the process.
pub fn start_pool(
    shared: Arc<Shared>,
    provider: Arc<dyn WorkerProvider>,
    spec: WorkerSpec,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("jm-resources".into())
        .spawn(move || {
            let mut pool: Option<WorkerPool> = None;
            loop {
                round(&shared, provider.as_ref(), &spec, &mut pool);
                std::thread::sleep(ROUND);
            }
        })
        .map(|_| ())
}

fn round(
    shared: &Shared,
    provider: &dyn WorkerProvider,
    spec: &WorkerSpec,
    pool: &mut Option<WorkerPool>,
) {
    let observed = match provider.observe() {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the TaskManager workers; retrying");
            return;
        }
    };
    let pool = pool.get_or_insert_with(|| {
        let p = WorkerPool::new(spec.clone(), &observed);
        tracing::info!(
            attempt = p.attempt(),
            existing = observed.len(),
            "resource manager started"
        );
        p
    });
    let Some(demand) = shared.cluster.lock().ok().map(|c| Demand::of(&c)) else {
        return;
    };
    for action in pool.reconcile(&demand, &observed, crate::now_ms()) {
        match action {
            WorkerAction::Start { name } => match provider.start(&name) {
                Ok(()) => {
                    tracing::info!(worker = %name, slots_required = demand.slots_required, "TaskManager worker requested")
                }
                Err(e) => {
                    tracing::warn!(worker = %name, error = %e, "cannot start a TaskManager worker; retrying")
                }
            },
            WorkerAction::Stop { name, reason } => match provider.stop(&name) {
                Ok(()) => tracing::info!(worker = %name, %reason, "TaskManager worker released"),
                Err(e) => {
                    tracing::warn!(worker = %name, error = %e, "cannot stop a TaskManager worker; retrying")
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> WorkerSpec {
        WorkerSpec {
            name_prefix: "orders-taskmanager".into(),
            slots_per_worker: 2,
            idle_timeout_ms: 30_000,
        }
    }

    fn worker(name: &str, state: WorkerState) -> ObservedWorker {
        ObservedWorker {
            name: name.into(),
            state,
        }
    }

    fn registered(name: &str, used: usize) -> Registered {
        Registered {
            id: worker_resource_id(name),
            slots: 2,
            used,
        }
    }

    fn starts(actions: &[WorkerAction]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                WorkerAction::Start { name } => Some(name.as_str()),
                WorkerAction::Stop { .. } => None,
            })
            .collect()
    }

    fn stops(actions: &[WorkerAction]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                WorkerAction::Stop { name, .. } => Some(name.as_str()),
                WorkerAction::Start { .. } => None,
            })
            .collect()
    }

    #[test]
    fn a_job_needing_four_slots_gets_exactly_two_workers_of_two() {
        let mut pool = WorkerPool::new(spec(), &[]);
        let demand = Demand {
            slots_required: 4,
            registered: vec![],
        };
        let a = pool.reconcile(&demand, &[], 0);
        assert_eq!(
            starts(&a),
            vec!["orders-taskmanager-1-1", "orders-taskmanager-1-2"]
        );
        // Next round: the two are starting, nothing more is asked for.
        let observed = [
            worker("orders-taskmanager-1-1", WorkerState::Starting),
            worker("orders-taskmanager-1-2", WorkerState::Starting),
        ];
        assert!(pool.reconcile(&demand, &observed, 1000).is_empty());
        // An odd demand rounds up.
        let mut pool = WorkerPool::new(spec(), &[]);
        let three = Demand {
            slots_required: 3,
            registered: vec![],
        };
        assert_eq!(starts(&pool.reconcile(&three, &[], 0)).len(), 2);
    }

    #[test]
    fn a_deleted_worker_is_replaced_under_a_new_name() {
        let mut pool = WorkerPool::new(spec(), &[]);
        let demand = |registered| Demand {
            slots_required: 4,
            registered,
        };
        pool.reconcile(&demand(vec![]), &[], 0);
        // The first one was deleted: it is stopping and its TaskManager is
        // still registered (the JobManager has not noticed yet). It is not
        // counted as a TaskManager started by other means.
        let observed = [
            worker("orders-taskmanager-1-1", WorkerState::Stopping),
            worker("orders-taskmanager-1-2", WorkerState::Running),
        ];
        let regs = vec![
            registered("orders-taskmanager-1-1", 2),
            registered("orders-taskmanager-1-2", 2),
        ];
        let a = pool.reconcile(&demand(regs), &observed, 5000);
        assert_eq!(starts(&a), vec!["orders-taskmanager-1-3"]);
    }

    #[test]
    fn a_failed_worker_is_removed_and_replaced() {
        let mut pool = WorkerPool::new(spec(), &[]);
        let observed = [
            worker(
                "orders-taskmanager-1-1",
                WorkerState::Failed("OOMKilled".into()),
            ),
            worker("orders-taskmanager-1-2", WorkerState::Running),
        ];
        let demand = Demand {
            slots_required: 4,
            registered: vec![registered("orders-taskmanager-1-2", 2)],
        };
        let a = pool.reconcile(&demand, &observed, 0);
        assert_eq!(stops(&a), vec!["orders-taskmanager-1-1"]);
        assert_eq!(starts(&a).len(), 1);
    }

    #[test]
    fn idle_workers_are_released_after_the_timeout_only_when_not_needed() {
        let mut pool = WorkerPool::new(spec(), &[]);
        let observed = [
            worker("orders-taskmanager-1-1", WorkerState::Running),
            worker("orders-taskmanager-1-2", WorkerState::Running),
        ];
        // One job of 2 slots runs on the first; the second is idle.
        let busy = Demand {
            slots_required: 2,
            registered: vec![
                registered("orders-taskmanager-1-1", 2),
                registered("orders-taskmanager-1-2", 0),
            ],
        };
        assert!(pool.reconcile(&busy, &observed, 0).is_empty());
        assert!(pool.reconcile(&busy, &observed, 29_999).is_empty());
        assert_eq!(
            stops(&pool.reconcile(&busy, &observed, 30_000)),
            vec!["orders-taskmanager-1-2"]
        );
        // The job ended: the first becomes idle now and waits its own timeout.
        let observed = [worker("orders-taskmanager-1-1", WorkerState::Running)];
        let ended = Demand {
            slots_required: 0,
            registered: vec![registered("orders-taskmanager-1-1", 0)],
        };
        assert!(pool.reconcile(&ended, &observed, 40_000).is_empty());
        assert_eq!(
            stops(&pool.reconcile(&ended, &observed, 70_000)),
            vec!["orders-taskmanager-1-1"]
        );
    }

    #[test]
    fn an_idle_worker_that_is_used_again_starts_its_timeout_over() {
        let mut pool = WorkerPool::new(spec(), &[]);
        let observed = [worker("orders-taskmanager-1-1", WorkerState::Running)];
        let idle = Demand {
            slots_required: 0,
            registered: vec![registered("orders-taskmanager-1-1", 0)],
        };
        let used = Demand {
            slots_required: 2,
            registered: vec![registered("orders-taskmanager-1-1", 2)],
        };
        assert!(pool.reconcile(&idle, &observed, 0).is_empty());
        assert!(pool.reconcile(&used, &observed, 20_000).is_empty());
        assert!(pool.reconcile(&idle, &observed, 40_000).is_empty());
        assert_eq!(stops(&pool.reconcile(&idle, &observed, 70_000)).len(), 1);
    }

    #[test]
    fn taskmanagers_started_by_other_means_count_and_names_continue_after_a_restart() {
        let existing = [
            worker("orders-taskmanager-3-7", WorkerState::Running),
            worker("unrelated-pod", WorkerState::Running),
        ];
        let mut pool = WorkerPool::new(spec(), &existing);
        assert_eq!(pool.attempt(), 4);
        let demand = Demand {
            slots_required: 6,
            registered: vec![
                registered("orders-taskmanager-3-7", 1),
                Registered {
                    id: ResourceId::from_seed("started-by-hand"),
                    slots: 2,
                    used: 0,
                },
            ],
        };
        let a = pool.reconcile(&demand, &existing[..1], 0);
        assert_eq!(starts(&a), vec!["orders-taskmanager-4-1"]);
    }
}

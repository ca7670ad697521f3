//! The operator's own metrics, in Prometheus' text format on the probe
//! port: reconciliations (count and duration by result), resources per
//! lifecycle state, specs checked by planning, and where clusters were
//! observed (the watches' cache or the apiserver).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::crd::common::LifecycleState;
use crate::deployment::io::ClusterSource;

/// Upper bounds (seconds) of the reconcile duration histogram.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Every lifecycle state, for a complete gauge family.
const STATES: [LifecycleState; 10] = [
    LifecycleState::Created,
    LifecycleState::Suspended,
    LifecycleState::Upgrading,
    LifecycleState::Deployed,
    LifecycleState::Stable,
    LifecycleState::RollingBack,
    LifecycleState::RolledBack,
    LifecycleState::Failed,
    LifecycleState::Deleting,
    LifecycleState::Deleted,
];

#[derive(Debug, Default)]
struct Reconciles {
    count: u64,
    seconds: f64,
    buckets: [u64; BUCKETS.len()],
}

#[derive(Debug, Default)]
struct Inner {
    ok: Reconciles,
    failed: Reconciles,
    states: HashMap<String, LifecycleState>,
    spec_checks: u64,
    observed_from_cache: u64,
    observed_from_apiserver: u64,
}

/// The operator's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

fn state_name(s: LifecycleState) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Metrics {
    /// Counts one reconciliation.
    pub fn reconciled(&self, took: Duration, ok: bool) {
        if let Ok(mut m) = self.inner.lock() {
            let r = if ok { &mut m.ok } else { &mut m.failed };
            let secs = took.as_secs_f64();
            r.count += 1;
            r.seconds += secs;
            for (i, bound) in BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    r.buckets[i] += 1;
                }
            }
        }
    }

    /// Records the lifecycle state of resource `key` (namespace/name).
    pub fn lifecycle(&self, key: &str, state: LifecycleState) {
        if let Ok(mut m) = self.inner.lock() {
            m.states.insert(key.to_string(), state);
        }
    }

    /// Counts one spec checked by planning it.
    pub fn spec_checked(&self) {
        if let Ok(mut m) = self.inner.lock() {
            m.spec_checks += 1;
        }
    }

    /// Counts one observation of a FlinkDeployment's cluster.
    pub fn cluster_observed(&self, source: ClusterSource) {
        if let Ok(mut m) = self.inner.lock() {
            match source {
                ClusterSource::Cache => m.observed_from_cache += 1,
                ClusterSource::Apiserver => m.observed_from_apiserver += 1,
            }
        }
    }

    /// How many specs were checked so far.
    pub fn spec_checks(&self) -> u64 {
        self.inner.lock().map_or(0, |m| m.spec_checks)
    }

    /// Forgets a deleted resource.
    pub fn forget(&self, key: &str) {
        if let Ok(mut m) = self.inner.lock() {
            m.states.remove(key);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let Ok(m) = self.inner.lock() else {
            return String::new();
        };
        let mut out = String::new();
        out.push_str(
            "# HELP riffle_operator_reconcile_seconds Duration of reconciliations, by result.\n\
             # TYPE riffle_operator_reconcile_seconds histogram\n",
        );
        for (result, r) in [("success", &m.ok), ("failure", &m.failed)] {
            for (bound, n) in BUCKETS.iter().zip(r.buckets) {
                let _ = writeln!(
                    out,
                    "riffle_operator_reconcile_seconds_bucket{{result=\"{result}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "riffle_operator_reconcile_seconds_bucket{{result=\"{result}\",le=\"+Inf\"}} {}",
                r.count
            );
            let _ = writeln!(
                out,
                "riffle_operator_reconcile_seconds_sum{{result=\"{result}\"}} {}",
                r.seconds
            );
            let _ = writeln!(
                out,
                "riffle_operator_reconcile_seconds_count{{result=\"{result}\"}} {}",
                r.count
            );
        }
        out.push_str(
            "# HELP riffle_operator_resources FlinkDeployments by lifecycle state.\n\
             # TYPE riffle_operator_resources gauge\n",
        );
        for s in STATES {
            let n = m.states.values().filter(|v| **v == s).count();
            let _ = writeln!(
                out,
                "riffle_operator_resources{{kind=\"FlinkDeployment\",state=\"{}\"}} {n}",
                state_name(s)
            );
        }
        let _ = write!(
            out,
            "# HELP riffle_operator_spec_checks_total Specs checked by planning them (SQL parsed, cluster built), each distinct spec once.\n\
             # TYPE riffle_operator_spec_checks_total counter\n\
             riffle_operator_spec_checks_total {}\n",
            m.spec_checks
        );
        let _ = write!(
            out,
            "# HELP riffle_operator_cluster_observations_total Observations of a FlinkDeployment's JobManager Deployment and pods, by where they were read.\n\
             # TYPE riffle_operator_cluster_observations_total counter\n\
             riffle_operator_cluster_observations_total{{source=\"cache\"}} {}\n\
             riffle_operator_cluster_observations_total{{source=\"apiserver\"}} {}\n",
            m.observed_from_cache, m.observed_from_apiserver
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_buckets_and_states_are_counted() {
        let m = Metrics::default();
        m.reconciled(Duration::from_millis(30), true);
        m.reconciled(Duration::from_secs(3), false);
        m.lifecycle("a/x", LifecycleState::Stable);
        m.lifecycle("a/y", LifecycleState::Stable);
        m.lifecycle("a/y", LifecycleState::Upgrading);
        let text = m.render();
        assert!(text.contains(
            "riffle_operator_reconcile_seconds_bucket{result=\"success\",le=\"0.025\"} 0"
        ));
        assert!(text.contains(
            "riffle_operator_reconcile_seconds_bucket{result=\"success\",le=\"0.05\"} 1"
        ));
        assert!(text.contains("riffle_operator_reconcile_seconds_count{result=\"failure\"} 1"));
        assert!(
            text.contains("riffle_operator_resources{kind=\"FlinkDeployment\",state=\"STABLE\"} 1")
        );
        assert!(
            text.contains(
                "riffle_operator_resources{kind=\"FlinkDeployment\",state=\"UPGRADING\"} 1"
            )
        );
        m.forget("a/x");
        assert!(m.render().contains("state=\"STABLE\"} 0"));
        m.spec_checked();
        assert_eq!(m.spec_checks(), 1);
        assert!(
            m.render()
                .contains("\nriffle_operator_spec_checks_total 1\n")
        );
        m.cluster_observed(ClusterSource::Cache);
        m.cluster_observed(ClusterSource::Cache);
        m.cluster_observed(ClusterSource::Apiserver);
        let text = m.render();
        assert!(text.contains("riffle_operator_cluster_observations_total{source=\"cache\"} 2\n"));
        assert!(
            text.contains("riffle_operator_cluster_observations_total{source=\"apiserver\"} 1\n")
        );
    }
}

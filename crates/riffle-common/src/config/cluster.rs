//! A cluster process's configuration, resolved once: [`ClusterConfig`].
//!
//! `riffle jobmanager`, `riffle taskmanager` and the embedded mini-cluster
//! resolve it at start-up from the loaded [`Configuration`], so a typo in
//! `config.yaml` stops the process at once with the key and line named.
//! Keys and defaults are Flink's, so a `config.yaml` written for a Flink
//! session cluster starts a Riffle cluster unchanged.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::reference::{EffectiveValue, effective_values};
use super::*;
use crate::Result;

/// The settings of the JobManager and TaskManager processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// `jobmanager.rpc.address`.
    pub jobmanager_rpc_address: String,
    /// `jobmanager.rpc.port`.
    pub jobmanager_rpc_port: u16,
    /// `jobmanager.bind-host`.
    pub jobmanager_bind_host: String,
    /// `rest.address` (default: `jobmanager.rpc.address`).
    pub rest_address: String,
    /// `rest.port`: the port clients connect to.
    pub rest_port: u16,
    /// `rest.bind-address`.
    pub rest_bind_address: String,
    /// `rest.bind-port` (default: `rest.port` alone).
    pub rest_bind_port: PortRange,
    /// `rest.server.max-content-length`: the largest request body, in bytes.
    pub rest_max_content_length: usize,
    /// `rest.async.store-duration`: how long a one-job process waits for its results to be fetched.
    pub rest_async_store_duration_ms: i64,
    /// `high-availability.*`.
    pub high_availability: HighAvailability,
    /// `taskmanager.host`; `None`: detected.
    pub taskmanager_host: Option<String>,
    /// `taskmanager.bind-host`.
    pub taskmanager_bind_host: String,
    /// `taskmanager.rpc.port` (`0`: any free port).
    pub taskmanager_rpc_port: PortRange,
    /// `taskmanager.data.port` (`0`: any free port).
    pub taskmanager_data_port: u16,
    /// `taskmanager.numberOfTaskSlots`.
    pub slots: usize,
    /// `taskmanager.resource-id`; `None`: generated.
    pub taskmanager_resource_id: Option<String>,
    /// `heartbeat.interval` in ms.
    pub heartbeat_interval_ms: i64,
    /// `heartbeat.timeout` in ms (not below the interval).
    pub heartbeat_timeout_ms: i64,
    /// `slot.request.timeout` in ms.
    pub slot_request_timeout_ms: i64,
    /// The metric reporters.
    pub metrics: MetricsConfig,
    /// `riffle.log.format`.
    pub log_format: LogFormat,
    /// How object stores are reached (savepoint disposal, checkpoint cleanup).
    pub storage: StorageConfig,
    /// Every key with its effective value and origin, for display (secrets masked).
    pub effective: Vec<EffectiveValue>,
}

/// The metric reporters of a process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsConfig {
    /// The Prometheus endpoint's ports; `None`: the reporter is off
    /// (`metrics.reporters` names others only).
    pub prometheus: Option<PortRange>,
}

/// How log lines are written (`riffle.log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

impl ClusterConfig {
    /// Resolves a process's loaded configuration; the first bad value is an
    /// error naming key, value, expected form and origin.
    pub fn resolve(c: &Configuration) -> Result<ClusterConfig> {
        let port = |key| -> Result<u16> {
            // Declared as ports, so the parser already bounded them.
            u16::try_from(c.int(key)?).map_err(|_| c.invalid(key, "expected a port"))
        };
        let jobmanager_rpc_address = c.text(JOBMANAGER_RPC_ADDRESS)?;
        let rest_port = port(REST_PORT)?;
        let heartbeat_interval_ms = c.ms(HEARTBEAT_INTERVAL)?;
        let heartbeat_timeout_ms = c.ms(HEARTBEAT_TIMEOUT)?;
        if heartbeat_timeout_ms < heartbeat_interval_ms {
            return Err(c.invalid(
                HEARTBEAT_TIMEOUT,
                format!(
                    "must not be shorter than {HEARTBEAT_INTERVAL} ({heartbeat_interval_ms} ms)"
                ),
            ));
        }
        let reporters: Vec<String> = c
            .list(METRICS_REPORTERS)?
            .iter()
            .flat_map(|r| r.split(','))
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect();
        let prom_port = c
            .opt_port_range(PROM_PORT)?
            .unwrap_or(PortRange::single(9249));
        let prometheus =
            (reporters.is_empty() || reporters.iter().any(|r| r == "prom")).then_some(prom_port);
        // Checked for type even though Riffle does not act on them.
        for key in [
            JOBMANAGER_MEMORY_PROCESS_SIZE,
            JOBMANAGER_MEMORY_FLINK_SIZE,
            TASKMANAGER_MEMORY_PROCESS_SIZE,
            TASKMANAGER_MEMORY_FLINK_SIZE,
        ] {
            c.value(key)?;
        }
        Ok(ClusterConfig {
            rest_address: c
                .opt_text(REST_ADDRESS)?
                .unwrap_or_else(|| jobmanager_rpc_address.clone()),
            jobmanager_rpc_address,
            jobmanager_rpc_port: port(JOBMANAGER_RPC_PORT)?,
            jobmanager_bind_host: c.text(JOBMANAGER_BIND_HOST)?,
            rest_port,
            rest_bind_address: c.text(REST_BIND_ADDRESS)?,
            rest_bind_port: c
                .opt_port_range(REST_BIND_PORT)?
                .unwrap_or(PortRange::single(rest_port)),
            rest_max_content_length: usize::try_from(c.int(REST_MAX_CONTENT_LENGTH)?)
                .unwrap_or(usize::MAX),
            rest_async_store_duration_ms: c.ms(REST_ASYNC_STORE_DURATION)?,
            high_availability: HighAvailability::resolve(c)?,
            taskmanager_host: c.opt_text(TASKMANAGER_HOST)?,
            taskmanager_bind_host: c.text(TASKMANAGER_BIND_HOST)?,
            taskmanager_rpc_port: c
                .opt_port_range(TASKMANAGER_RPC_PORT)?
                .unwrap_or(PortRange::single(0)),
            taskmanager_data_port: port(TASKMANAGER_DATA_PORT)?,
            slots: c.count(TASKMANAGER_SLOTS)?,
            taskmanager_resource_id: c.opt_text(TASKMANAGER_RESOURCE_ID)?,
            heartbeat_interval_ms,
            heartbeat_timeout_ms,
            slot_request_timeout_ms: c.ms(SLOT_REQUEST_TIMEOUT)?,
            metrics: MetricsConfig { prometheus },
            log_format: match c.opt_enum(LOG_FORMAT)? {
                Some("json") => LogFormat::Json,
                _ => LogFormat::Text,
            },
            storage: StorageConfig::resolve(c)?,
            effective: effective_values(c, super::reference::ALL_TABLES),
        })
    }
}

/// How a JobManager learns whether it leads (`high-availability.type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HighAvailability {
    /// One JobManager; its loss loses a session cluster's jobs (Flink's `NONE`).
    None,
    /// Leader election through a Lease; submitted jobs kept for the next leader.
    Kubernetes(KubernetesHa),
}

/// Kubernetes high availability, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesHa {
    /// `high-availability.cluster-id`, else `kubernetes.cluster-id`: names the
    /// Lease and the HA ConfigMaps.
    pub cluster_id: String,
    /// `high-availability.storageDir`: submitted jobs, under `<cluster_id>/`.
    pub storage_dir: String,
    /// `kubernetes.namespace`; `None`: the pod's own namespace.
    pub namespace: Option<String>,
    /// `...leader-election.lease-duration`.
    pub lease_duration_ms: u64,
    /// `...leader-election.renew-deadline`.
    pub renew_deadline_ms: u64,
    /// `...leader-election.retry-period`.
    pub retry_period_ms: u64,
}

impl HighAvailability {
    fn resolve(c: &Configuration) -> Result<HighAvailability> {
        let ms = |key| -> Result<u64> { Ok(c.ms(key)?.unsigned_abs()) };
        match c.opt_enum(HA_TYPE)?.unwrap_or("NONE") {
            "kubernetes" => {
                let cluster_id = match c.opt_text(HA_CLUSTER_ID)? {
                    Some(id) => id,
                    None => c.opt_text(KUBERNETES_CLUSTER_ID)?.ok_or_else(|| {
                        c.invalid(
                            HA_TYPE,
                            format!(
                                "needs a cluster id to name its Lease and ConfigMaps: set \
                                 {KUBERNETES_CLUSTER_ID} (or {HA_CLUSTER_ID})"
                            ),
                        )
                    })?,
                };
                let storage_dir = c.opt_text(HA_STORAGE_DIR)?.ok_or_else(|| {
                    c.invalid(
                        HA_TYPE,
                        format!(
                            "needs {HA_STORAGE_DIR}: durable storage (a shared volume or \
                             s3://...) for the jobs the next leader recovers"
                        ),
                    )
                })?;
                let ha = KubernetesHa {
                    cluster_id,
                    storage_dir,
                    namespace: c.opt_text(KUBERNETES_NAMESPACE)?,
                    lease_duration_ms: ms(HA_LEASE_DURATION)?,
                    renew_deadline_ms: ms(HA_RENEW_DEADLINE)?,
                    retry_period_ms: ms(HA_RETRY_PERIOD)?,
                };
                if ha.renew_deadline_ms > ha.lease_duration_ms {
                    return Err(c.invalid(
                        HA_RENEW_DEADLINE,
                        format!(
                            "must not exceed {HA_LEASE_DURATION} ({} ms): a leader could \
                             still act after a standby took over",
                            ha.lease_duration_ms
                        ),
                    ));
                }
                if ha.retry_period_ms >= ha.renew_deadline_ms {
                    return Err(c.invalid(
                        HA_RETRY_PERIOD,
                        format!(
                            "must be shorter than {HA_RENEW_DEADLINE} ({} ms)",
                            ha.renew_deadline_ms
                        ),
                    ));
                }
                Ok(HighAvailability::Kubernetes(ha))
            }
            "zookeeper" => Err(c.invalid(
                HA_TYPE,
                "ZooKeeper high availability is not supported: use kubernetes (or NONE)",
            )),
            _ => Ok(HighAvailability::None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Configuration {
        pairs.iter().copied().collect()
    }

    #[test]
    fn flink_defaults() -> Result<()> {
        let c = ClusterConfig::resolve(&Configuration::new())?;
        assert_eq!(c.jobmanager_rpc_address, "localhost");
        assert_eq!(c.jobmanager_rpc_port, 6123);
        assert_eq!(c.jobmanager_bind_host, "0.0.0.0");
        assert_eq!(c.rest_address, "localhost");
        assert_eq!(c.rest_port, 8081);
        assert_eq!(c.rest_bind_address, "0.0.0.0");
        assert_eq!(c.rest_bind_port, PortRange::single(8081));
        assert_eq!(c.taskmanager_host, None);
        assert_eq!(c.taskmanager_bind_host, "0.0.0.0");
        assert!(c.taskmanager_rpc_port.is_any());
        assert_eq!(c.taskmanager_data_port, 0);
        assert_eq!(c.slots, 1);
        assert_eq!(c.taskmanager_resource_id, None);
        assert_eq!(c.heartbeat_interval_ms, 10_000);
        assert_eq!(c.heartbeat_timeout_ms, 50_000);
        assert_eq!(c.slot_request_timeout_ms, 300_000);
        assert_eq!(c.metrics.prometheus, Some(PortRange::single(9249)));
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.high_availability, HighAvailability::None);
        Ok(())
    }

    #[test]
    fn kubernetes_high_availability_needs_an_id_and_storage() -> Result<()> {
        let c = ClusterConfig::resolve(&config(&[
            ("high-availability.type", "KUBERNETES"),
            ("kubernetes.cluster-id", "orders"),
            ("high-availability.storageDir", "s3://bucket/ha"),
        ]))?;
        assert_eq!(
            c.high_availability,
            HighAvailability::Kubernetes(KubernetesHa {
                cluster_id: "orders".into(),
                storage_dir: "s3://bucket/ha".into(),
                namespace: None,
                lease_duration_ms: 15_000,
                renew_deadline_ms: 15_000,
                retry_period_ms: 5_000,
            })
        );
        // Flink's older key names.
        let c = ClusterConfig::resolve(&config(&[
            ("high-availability", "kubernetes"),
            ("high-availability.cluster-id", "a"),
            ("kubernetes.cluster-id", "b"),
            ("high-availability.storageDir", "/ha"),
        ]))?;
        assert!(
            matches!(c.high_availability, HighAvailability::Kubernetes(k) if k.cluster_id == "a")
        );
        let err = |pairs: &[(&str, &str)]| {
            ClusterConfig::resolve(&config(pairs))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let e = err(&[
            ("high-availability.type", "kubernetes"),
            ("high-availability.storageDir", "/ha"),
        ]);
        assert!(e.contains("kubernetes.cluster-id"), "{e}");
        let e = err(&[
            ("high-availability.type", "kubernetes"),
            ("kubernetes.cluster-id", "x"),
        ]);
        assert!(e.contains("high-availability.storageDir"), "{e}");
        let e = err(&[
            ("high-availability.type", "kubernetes"),
            ("kubernetes.cluster-id", "x"),
            ("high-availability.storageDir", "/ha"),
            (
                "high-availability.kubernetes.leader-election.renew-deadline",
                "20 s",
            ),
        ]);
        assert!(e.contains("must not exceed"), "{e}");
        let e = err(&[("high-availability.type", "zookeeper")]);
        assert!(e.contains("not supported"), "{e}");
        Ok(())
    }

    #[test]
    fn set_values_are_typed() -> Result<()> {
        let c = ClusterConfig::resolve(&config(&[
            (JOBMANAGER_RPC_ADDRESS, "jm.example"),
            (REST_PORT, "9000"),
            (TASKMANAGER_RPC_PORT, "50100-50200"),
            (PROM_PORT, "9250-9260"),
            (HEARTBEAT_INTERVAL, "2 s"),
            (HEARTBEAT_TIMEOUT, "5000"),
            (LOG_FORMAT, "JSON"),
            (TASKMANAGER_SLOTS, "4"),
            (TASKMANAGER_RESOURCE_ID, " "),
        ]))?;
        assert_eq!(c.rest_address, "jm.example");
        assert_eq!(c.rest_bind_port, PortRange::single(9000));
        assert_eq!(c.taskmanager_rpc_port.ports().count(), 101);
        assert_eq!(c.metrics.prometheus.map(|p| p.start), Some(9250));
        assert_eq!(
            (c.heartbeat_interval_ms, c.heartbeat_timeout_ms),
            (2_000, 5_000)
        );
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.slots, 4);
        assert_eq!(c.taskmanager_resource_id, None);
        let c = ClusterConfig::resolve(&config(&[(REST_BIND_PORT, "8081-8085")]))?;
        assert_eq!(c.rest_bind_port.to_string(), "8081-8085");
        Ok(())
    }

    #[test]
    fn reporters_choose_the_prometheus_endpoint() -> Result<()> {
        let on = ClusterConfig::resolve(&config(&[(METRICS_REPORTERS, "prom, jmx")]))?;
        assert!(on.metrics.prometheus.is_some());
        let yaml_list = ClusterConfig::resolve(&config(&[(METRICS_REPORTERS, "jmx;prom")]))?;
        assert!(yaml_list.metrics.prometheus.is_some());
        let off = ClusterConfig::resolve(&config(&[(METRICS_REPORTERS, "jmx")]))?;
        assert_eq!(off.metrics.prometheus, None);
        Ok(())
    }

    #[test]
    fn bad_values_name_the_key() {
        for (key, value) in [
            (JOBMANAGER_RPC_PORT, "70000"),
            (TASKMANAGER_SLOTS, "0"),
            (HEARTBEAT_INTERVAL, "0"),
            (HEARTBEAT_TIMEOUT, "1 s"),
            (LOG_FORMAT, "xml"),
            (REST_ADDRESS, "two words"),
        ] {
            let e = ClusterConfig::resolve(&config(&[(key, value)]))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(key), "{key}={value:?}: {e}");
        }
    }
}

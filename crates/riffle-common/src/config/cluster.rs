//! Cluster options: where the JobManager and TaskManagers listen, how many
//! slots a TaskManager offers, heartbeats and the Prometheus reporter.
//!
//! Keys and defaults are Flink's, so a `config.yaml` written for a Flink
//! session cluster starts a Riffle cluster unchanged. Accessors return the
//! typed value with Flink's default; a bad value is an error naming the key.

use std::fmt;

use super::Configuration;
use super::value::{PortRange, invalid, parse_host, parse_one_of, parse_positive_duration_ms};
use crate::Result;

/// `jobmanager.rpc.address`: the address TaskManagers and clients use to reach the JobManager.
pub const JOBMANAGER_RPC_ADDRESS: &str = "jobmanager.rpc.address";
/// `jobmanager.rpc.port`: the JobManager's RPC port.
pub const JOBMANAGER_RPC_PORT: &str = "jobmanager.rpc.port";
/// `jobmanager.bind-host`: the local address the JobManager's RPC server binds to.
pub const JOBMANAGER_BIND_HOST: &str = "jobmanager.bind-host";
/// `rest.address`: the address clients use to reach the REST endpoint.
pub const REST_ADDRESS: &str = "rest.address";
/// `rest.port`: the REST port clients connect to (and bind to without `rest.bind-port`).
pub const REST_PORT: &str = "rest.port";
/// `rest.bind-address`: the local address the REST server binds to.
pub const REST_BIND_ADDRESS: &str = "rest.bind-address";
/// `rest.bind-port`: port or port range the REST server binds to.
pub const REST_BIND_PORT: &str = "rest.bind-port";
/// `taskmanager.host`: the address a TaskManager advertises.
pub const TASKMANAGER_HOST: &str = "taskmanager.host";
/// `taskmanager.bind-host`: the local address a TaskManager binds to.
pub const TASKMANAGER_BIND_HOST: &str = "taskmanager.bind-host";
/// `taskmanager.rpc.port`: a TaskManager's RPC port or port range (`0` = any).
pub const TASKMANAGER_RPC_PORT: &str = "taskmanager.rpc.port";
/// `taskmanager.data.port`: a TaskManager's data-exchange port (`0` = any).
pub const TASKMANAGER_DATA_PORT: &str = "taskmanager.data.port";
/// `taskmanager.numberOfTaskSlots`: slots one TaskManager offers.
pub const TASKMANAGER_SLOTS: &str = "taskmanager.numberOfTaskSlots";
/// `taskmanager.resource-id`: a fixed id for a TaskManager (default: generated).
pub const TASKMANAGER_RESOURCE_ID: &str = "taskmanager.resource-id";
/// `heartbeat.interval`: how often heartbeats are sent.
pub const HEARTBEAT_INTERVAL: &str = "heartbeat.interval";
/// `heartbeat.timeout`: silence after which a peer is considered lost.
pub const HEARTBEAT_TIMEOUT: &str = "heartbeat.timeout";
/// `slot.request.timeout`: how long a job waits for slots.
pub const SLOT_REQUEST_TIMEOUT: &str = "slot.request.timeout";
/// `metrics.reporters`: names of the reporters to start (default: all configured).
pub const METRICS_REPORTERS: &str = "metrics.reporters";
/// `metrics.reporter.prom.factory.class`: configures the reporter named `prom`.
pub const PROM_FACTORY_CLASS: &str = "metrics.reporter.prom.factory.class";
/// `metrics.reporter.prom.port`: port or port range of the Prometheus endpoint.
pub const PROM_PORT: &str = "metrics.reporter.prom.port";
/// Riffle: set by the SQL client on a `SELECT` it submits: the query's rows
/// are kept for the client to fetch instead of being printed.
pub const RESULT_COLLECT: &str = "riffle.result.collect";
/// Riffle: log output format, `text` or `json`.
pub const LOG_FORMAT: &str = "riffle.log.format";

/// Values of [`LOG_FORMAT`].
pub(crate) const LOG_FORMATS: &[&str] = &["text", "json"];

/// How log lines are written ([`LOG_FORMAT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

impl Configuration {
    /// `jobmanager.rpc.address` (default `localhost`).
    pub fn jobmanager_rpc_address(&self) -> Result<String> {
        self.get_host(JOBMANAGER_RPC_ADDRESS, "localhost")
    }

    /// `jobmanager.rpc.port` (default 6123).
    pub fn jobmanager_rpc_port(&self) -> Result<u16> {
        self.get_port(JOBMANAGER_RPC_PORT, 6123)
    }

    /// `jobmanager.bind-host` (default `0.0.0.0`).
    pub fn jobmanager_bind_host(&self) -> Result<String> {
        self.get_host(JOBMANAGER_BIND_HOST, "0.0.0.0")
    }

    /// `rest.address` (default: `jobmanager.rpc.address`).
    pub fn rest_address(&self) -> Result<String> {
        match self.get(REST_ADDRESS) {
            Some(v) => parse_host(REST_ADDRESS, v),
            None => self.jobmanager_rpc_address(),
        }
    }

    /// `rest.port` (default 8081): the port clients connect to.
    pub fn rest_port(&self) -> Result<u16> {
        self.get_port(REST_PORT, 8081)
    }

    /// `rest.bind-address` (default `0.0.0.0`).
    pub fn rest_bind_address(&self) -> Result<String> {
        self.get_host(REST_BIND_ADDRESS, "0.0.0.0")
    }

    /// The ports the REST server may bind to: `rest.bind-port` when set, else
    /// `rest.port` alone.
    pub fn rest_bind_port(&self) -> Result<PortRange> {
        match self.get(REST_BIND_PORT) {
            Some(v) => PortRange::parse(REST_BIND_PORT, v),
            None => Ok(PortRange::single(self.rest_port()?)),
        }
    }

    /// `taskmanager.host`; `None` when unset (the caller picks an address).
    pub fn taskmanager_host(&self) -> Result<Option<String>> {
        self.get(TASKMANAGER_HOST)
            .map(|v| parse_host(TASKMANAGER_HOST, v))
            .transpose()
    }

    /// `taskmanager.bind-host` (default `0.0.0.0`).
    pub fn taskmanager_bind_host(&self) -> Result<String> {
        self.get_host(TASKMANAGER_BIND_HOST, "0.0.0.0")
    }

    /// `taskmanager.rpc.port` (default `0`: any free port); may be a range.
    pub fn taskmanager_rpc_port(&self) -> Result<PortRange> {
        self.get_port_range(TASKMANAGER_RPC_PORT, PortRange::single(0))
    }

    /// `taskmanager.data.port` (default 0: any free port).
    pub fn taskmanager_data_port(&self) -> Result<u16> {
        self.get_port(TASKMANAGER_DATA_PORT, 0)
    }

    /// `taskmanager.numberOfTaskSlots` (default 1).
    pub fn number_of_task_slots(&self) -> Result<usize> {
        self.get_usize(TASKMANAGER_SLOTS, 1)
    }

    /// `taskmanager.resource-id`; `None` when unset or blank.
    pub fn taskmanager_resource_id(&self) -> Option<String> {
        self.get(TASKMANAGER_RESOURCE_ID)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// `heartbeat.interval` in ms (default 10 s).
    pub fn heartbeat_interval_ms(&self) -> Result<i64> {
        self.positive_duration_ms(HEARTBEAT_INTERVAL, 10_000)
    }

    /// `heartbeat.timeout` in ms (default 50 s); must not be below the interval.
    pub fn heartbeat_timeout_ms(&self) -> Result<i64> {
        let timeout = self.positive_duration_ms(HEARTBEAT_TIMEOUT, 50_000)?;
        let interval = self.heartbeat_interval_ms()?;
        if timeout < interval {
            return Err(invalid(
                HEARTBEAT_TIMEOUT,
                self.get(HEARTBEAT_TIMEOUT).unwrap_or("50 s"),
                &format!("must not be shorter than {HEARTBEAT_INTERVAL} ({interval} ms)"),
            ));
        }
        Ok(timeout)
    }

    /// `slot.request.timeout` in ms (default 300 s).
    pub fn slot_request_timeout_ms(&self) -> Result<i64> {
        self.positive_duration_ms(SLOT_REQUEST_TIMEOUT, 300_000)
    }

    /// `metrics.reporter.prom.port` (default 9249); may be a range.
    pub fn prometheus_port(&self) -> Result<PortRange> {
        self.get_port_range(PROM_PORT, PortRange::single(9249))
    }

    /// The Prometheus endpoint's ports, or `None` when `metrics.reporters`
    /// is set and does not name `prom` (Riffle's only reporter, on by default).
    pub fn prometheus_endpoint(&self) -> Result<Option<PortRange>> {
        let reporters = self.metrics_reporters();
        if !reporters.is_empty() && !reporters.iter().any(|r| r == "prom") {
            return Ok(None);
        }
        self.prometheus_port().map(Some)
    }

    /// `metrics.reporters` split on `,` (Flink's form) or `;` (a YAML list);
    /// empty when unset.
    pub fn metrics_reporters(&self) -> Vec<String> {
        self.get(METRICS_REPORTERS)
            .unwrap_or_default()
            .split([',', ';'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// `riffle.log.format` (default `text`).
    pub fn log_format(&self) -> Result<LogFormat> {
        match self.get(LOG_FORMAT) {
            None => Ok(LogFormat::Text),
            Some(v) => match parse_one_of(LOG_FORMAT, v, LOG_FORMATS)? {
                "json" => Ok(LogFormat::Json),
                _ => Ok(LogFormat::Text),
            },
        }
    }

    /// A duration above zero in ms, or `default` when unset.
    fn positive_duration_ms(&self, key: &str, default: i64) -> Result<i64> {
        self.get(key)
            .map_or(Ok(default), |v| parse_positive_duration_ms(key, v))
    }

    /// Checks the values that are only wrong in combination.
    pub(crate) fn validate_cluster(&self) -> Result<()> {
        self.heartbeat_timeout_ms().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_defaults() -> Result<()> {
        let c = Configuration::new();
        assert_eq!(c.jobmanager_rpc_address()?, "localhost");
        assert_eq!(c.jobmanager_rpc_port()?, 6123);
        assert_eq!(c.jobmanager_bind_host()?, "0.0.0.0");
        assert_eq!(c.rest_address()?, "localhost");
        assert_eq!(c.rest_port()?, 8081);
        assert_eq!(c.rest_bind_address()?, "0.0.0.0");
        assert_eq!(c.rest_bind_port()?, PortRange::single(8081));
        assert_eq!(c.taskmanager_host()?, None);
        assert_eq!(c.taskmanager_bind_host()?, "0.0.0.0");
        assert!(c.taskmanager_rpc_port()?.is_any());
        assert_eq!(c.taskmanager_data_port()?, 0);
        assert_eq!(c.number_of_task_slots()?, 1);
        assert_eq!(c.taskmanager_resource_id(), None);
        assert_eq!(c.heartbeat_interval_ms()?, 10_000);
        assert_eq!(c.heartbeat_timeout_ms()?, 50_000);
        assert_eq!(c.slot_request_timeout_ms()?, 300_000);
        assert_eq!(c.prometheus_port()?, PortRange::single(9249));
        assert!(c.metrics_reporters().is_empty());
        assert_eq!(c.log_format()?, LogFormat::Text);
        Ok(())
    }

    #[test]
    fn set_values_are_typed() -> Result<()> {
        let mut c = Configuration::new();
        c.set(JOBMANAGER_RPC_ADDRESS, "jm.example");
        c.set(REST_PORT, "9000");
        c.set(TASKMANAGER_RPC_PORT, "50100-50200");
        c.set(PROM_PORT, "9250-9260");
        c.set(HEARTBEAT_INTERVAL, "2 s");
        c.set(HEARTBEAT_TIMEOUT, "5000");
        c.set(METRICS_REPORTERS, "prom, jmx");
        c.set(LOG_FORMAT, "JSON");
        c.set(TASKMANAGER_SLOTS, "4");
        assert_eq!(c.rest_address()?, "jm.example");
        assert_eq!(c.rest_bind_port()?, PortRange::single(9000));
        c.set(REST_BIND_PORT, "8081-8085");
        assert_eq!(c.rest_bind_port()?.to_string(), "8081-8085");
        assert_eq!(c.taskmanager_rpc_port()?.ports().count(), 101);
        assert_eq!(c.prometheus_port()?.start, 9250);
        assert_eq!(c.heartbeat_interval_ms()?, 2_000);
        assert_eq!(c.heartbeat_timeout_ms()?, 5_000);
        assert_eq!(c.metrics_reporters(), vec!["prom", "jmx"]);
        assert_eq!(c.log_format()?, LogFormat::Json);
        assert_eq!(c.number_of_task_slots()?, 4);
        Ok(())
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases = [
            (JOBMANAGER_RPC_PORT, "70000"),
            (TASKMANAGER_SLOTS, "0"),
            (HEARTBEAT_INTERVAL, "0"),
            (HEARTBEAT_TIMEOUT, "1 s"),
            (LOG_FORMAT, "xml"),
            (REST_ADDRESS, ""),
        ];
        for (key, value) in cases {
            let mut c = Configuration::new();
            c.set(key, value);
            let e = c
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(key), "{key}={value:?}: {e}");
        }
    }
}

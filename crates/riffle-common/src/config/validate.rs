//! Start-up validation: every known key that is set must hold a value of its
//! type, so a typo in `config.yaml` stops the process at once with the key
//! named, instead of surfacing later (or never) when the option is first read.
//!
//! Unknown keys are not errors: Flink configurations carry many options Riffle
//! does not interpret, and callers warn about them through
//! [`Configuration::unknown_keys`].

use super::keys::{ValueKind, key_kind};
use super::value::{
    PortRange, invalid, parse_bool, parse_f64, parse_host, parse_i64, parse_one_of, parse_port,
    parse_positive_duration_ms, parse_positive_usize, parse_u32,
};
use super::{Configuration, parse_zone_offset_ms};
use crate::Result;
use crate::time::parse_duration_ms;

impl ValueKind {
    /// Checks that `value` has this type; the error names `key`.
    pub fn check(&self, key: &str, value: &str) -> Result<()> {
        match *self {
            ValueKind::Text => Ok(()),
            ValueKind::Host => parse_host(key, value).map(drop),
            ValueKind::Bool => parse_bool(key, value).map(drop),
            ValueKind::PositiveInt => parse_positive_usize(key, value).map(drop),
            ValueKind::Int32 { min } => parse_u32(key, value, min).map(drop),
            ValueKind::Long => parse_i64(key, value).map(drop),
            ValueKind::Float { min, max } => parse_f64(key, value, min, max).map(drop),
            ValueKind::Duration => parse_duration_ms(key, value).map(drop),
            ValueKind::PositiveDuration => parse_positive_duration_ms(key, value).map(drop),
            ValueKind::Port => parse_port(key, value).map(drop),
            ValueKind::PortRange => PortRange::parse(key, value).map(drop),
            ValueKind::OneOf(allowed) => parse_one_of(key, value, allowed).map(drop),
            ValueKind::TimeZone => match parse_zone_offset_ms(value) {
                Some(_) => Ok(()),
                None => Err(invalid(
                    key,
                    value,
                    "expected UTC, Z, GMT or a fixed offset such as +08:00",
                )),
            },
        }
    }
}

impl Configuration {
    /// Checks every known key that is set (in key order, first error wins),
    /// then the rules that span keys (heartbeat timeout not below the interval,
    /// the chosen restart strategy's settings). Unknown keys are ignored.
    pub fn validate(&self) -> Result<()> {
        for (key, value) in self.entries() {
            if let Some(kind) = key_kind(key) {
                kind.check(key, value)?;
            }
        }
        self.validate_cluster()?;
        self.restart_strategy()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(c: &Configuration) -> String {
        c.validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn good_values_and_unknown_keys_pass() -> Result<()> {
        let mut c = Configuration::new();
        for (k, v) in [
            ("parallelism.default", "4"),
            ("rest.bind-port", "8081-8090"),
            ("table.local-time-zone", "+08:00"),
            ("execution.runtime-mode", "STREAMING"),
            ("table.exec.mini-batch.enabled", "true"),
            ("taskmanager.memory.process.size", "1728m"),
            ("restart-strategy.type", "fixed-delay"),
            ("restart-strategy.fixed-delay.attempts", "3"),
            ("no.such.key", "whatever"),
        ] {
            c.set(k, v);
        }
        c.validate()
    }

    #[test]
    fn bad_value_names_its_key() {
        for (k, v) in [
            ("parallelism.default", "-1"),
            ("jobmanager.rpc.port", "http"),
            ("table.exec.mini-batch.enabled", "yes"),
            ("table.local-time-zone", "Mars/Olympus"),
            ("pipeline.auto-watermark-interval", "soon"),
            ("restart-strategy.type", "sometimes"),
            ("restart-strategy.exponential-delay.jitter-factor", "2"),
            ("metrics.reporter.prom.port", "9250-"),
        ] {
            let mut c = Configuration::new();
            c.set(k, v);
            let e = error_of(&c);
            assert!(e.contains(k), "{k}={v}: {e:?}");
        }
    }

    #[test]
    fn cross_key_rules_are_checked() {
        let mut c = Configuration::new();
        c.set("restart-strategy.type", "exponential-delay");
        c.set(
            "restart-strategy.exponential-delay.initial-backoff",
            "2 min",
        );
        assert!(error_of(&c).contains("restart-strategy.exponential-delay.max-backoff"));
        let mut c = Configuration::new();
        c.set("heartbeat.interval", "60 s");
        assert!(error_of(&c).contains("heartbeat.timeout"));
    }
}

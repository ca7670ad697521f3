//! Flink-style configuration: keys declared once, values typed once.
//!
//! The path of a value, in order:
//!
//! 1. **Declared**: every key Riffle interprets is a [`ConfigOption`] in one of
//!    the [`options::TABLES`] (name, type, Flink's default, older names, doc).
//! 2. **Collected**: the sources (config file, `RIFFLE_PROPERTIES`, `-D`, a
//!    submission's options, the script's `SET`s) fill one [`Configuration`],
//!    a map from key to text that remembers each value's [`Origin`]; later
//!    sources override earlier ones ([`load`] has the cluster's order).
//! 3. **Resolved**: [`JobConfig::resolve`] and [`ClusterConfig::resolve`] read
//!    it once into typed structs, computing derived defaults (the restart
//!    strategy from checkpointing) in one place. A bad value is an
//!    [`Error::InvalidConfig`] naming key, value, expected form and origin.
//!    Everything downstream (planner, JobManager, TaskManagers, storage)
//!    receives the typed value; nobody parses text again.
//!
//! Keys that are not declared are kept (Flink configurations carry many) and
//! reported by [`Configuration::warnings`] with the closest known key.

use std::collections::BTreeMap;

use crate::{Error, Result};

mod cluster;
mod flat;
mod job;
mod load;
mod option;
pub mod options;
mod origin;
pub mod parse;
mod reference;
mod yaml;

pub use cluster::{ClusterConfig, HighAvailability, KubernetesHa, LogFormat, MetricsConfig};
pub use job::{
    CheckpointingConfig, ExecutionConfig, ExternalizedCheckpointRetention, JobConfig,
    SavepointRestore, StorageConfig,
};
pub use load::{
    CONF_DIR_ENV, CONFIG_FILE, FLINK_CONF_DIR_ENV, FLINK_PROPERTIES_ENV, LEGACY_CONFIG_FILE,
    PROPERTIES_ENV, load_cluster_config, load_cluster_config_from_env,
};
pub use option::{ConfigOption, MAX_INT, OptionTable, Value, ValueKind};
pub use options::*;
pub use origin::Origin;
pub use parse::PortRange;
pub use reference::{EffectiveValue, format_effective, is_secret_key, reference_markdown};

/// One value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The text as written.
    pub value: String,
    /// Its source.
    pub origin: Origin,
}

/// The collected configuration: key → text with its origin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Configuration {
    entries: BTreeMap<String, Entry>,
}

/// A configuration from key/value pairs (test fixtures, programmatic use);
/// each value's origin is [`Origin::Riffle`].
impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Configuration {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut c = Configuration::new();
        for (k, v) in pairs {
            c.set(k, v);
        }
        c
    }
}

impl Configuration {
    /// An empty configuration (all defaults).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a key set by Riffle itself or a test, replacing any earlier value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.set_from(key, value, Origin::Riffle);
    }

    /// Sets a key with the source it came from, replacing any earlier value.
    pub fn set_from(&mut self, key: impl Into<String>, value: impl Into<String>, origin: Origin) {
        self.entries.insert(
            key.into(),
            Entry {
                value: value.into(),
                origin,
            },
        );
    }

    /// Parses `key=value` (the `-D` form).
    pub fn set_pair(&mut self, pair: &str, origin: Origin) -> Result<()> {
        let (k, v) = pair
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| Error::InvalidConfig {
                key: pair.to_string(),
                value: String::new(),
                reason: "expected key=value".into(),
                origin: Some(origin.clone()),
            })?;
        self.set_from(k.trim(), v.trim(), origin);
        Ok(())
    }

    /// Removes a key (`RESET 'key'`).
    pub fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Copies every entry of `other` into `self`; `other` wins on conflicts.
    pub fn merge_from(&mut self, other: &Configuration) {
        for (k, e) in &other.entries {
            self.entries.insert(k.clone(), e.clone());
        }
    }

    /// The raw value of a key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|e| e.value.as_str())
    }

    /// The value of a key with its origin.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// All entries, sorted by key.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(k, e)| (k.as_str(), e.value.as_str()))
    }

    /// All entries with their origins, sorted by key.
    pub fn entries_with_origin(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), e))
    }

    /// Keys that Riffle does not interpret (neither declared nor an older name).
    pub fn unknown_keys(&self) -> Vec<&str> {
        self.entries
            .keys()
            .map(String::as_str)
            .filter(|k| declaration(k).is_none())
            .collect()
    }

    /// One line per unknown key: where it was set and the closest known key,
    /// for the caller to log as a warning.
    pub fn warnings(&self) -> Vec<String> {
        self.entries
            .keys()
            .filter_map(|k| self.warning_for(k))
            .collect()
    }

    /// The warning for one key: `Some` when it is set and Riffle does not
    /// interpret it, naming where it was set and the closest known key.
    pub fn warning_for(&self, key: &str) -> Option<String> {
        if declaration(key).is_some() {
            return None;
        }
        let origin = self.entries.get(key)?.origin.to_string();
        let hint = closest_key(key)
            .map(|c| format!("; did you mean '{c}'?"))
            .unwrap_or_default();
        Some(format!(
            "configuration key '{key}' ({origin}) is not used by Riffle{hint}"
        ))
    }

    /// The value a declared key has: the key itself, else its older names
    /// (first set, non-blank wins), with the key it was found under.
    fn lookup(&self, option: &ConfigOption) -> Option<(&'static str, &Entry)> {
        std::iter::once(option.key)
            .chain(option.fallback_keys.iter().copied())
            .find_map(|k| {
                self.entries
                    .get(k)
                    .filter(|e| !e.value.trim().is_empty())
                    .map(|e| (k, e))
            })
    }

    /// The typed value of a declared key: as set, else its default, else `None`.
    /// A value that does not parse is an error naming key, value, form and origin.
    pub fn value(&self, key: &str) -> Result<Option<Value>> {
        let Some(option) = declaration(key) else {
            return Ok(self.get(key).map(|v| Value::Text(v.to_string())));
        };
        match self.lookup(option) {
            Some((found, entry)) => {
                option
                    .kind
                    .parse(&entry.value)
                    .map(Some)
                    .map_err(|e| Error::InvalidConfig {
                        key: found.to_string(),
                        value: entry.value.clone(),
                        reason: e.0,
                        origin: Some(entry.origin.clone()),
                    })
            }
            None => match option.default {
                Some(d) => option
                    .kind
                    .parse(d)
                    .map(Some)
                    .map_err(|e| Error::InvalidConfig {
                        key: option.key.to_string(),
                        value: d.to_string(),
                        reason: format!("the declared default is wrong: {}", e.0),
                        origin: Some(Origin::Default),
                    }),
                None => Ok(None),
            },
        }
    }

    /// Where the value of a declared key comes from (its default when unset).
    pub fn origin_of(&self, key: &str) -> Origin {
        declaration(key)
            .and_then(|o| self.lookup(o))
            .map_or(Origin::Default, |(_, e)| e.origin.clone())
    }

    /// The error for a value that parsed but breaks a rule spanning keys.
    pub fn invalid(&self, key: &str, reason: impl Into<String>) -> Error {
        let (value, origin) = match declaration(key).and_then(|o| self.lookup(o)) {
            Some((_, e)) => (e.value.clone(), e.origin.clone()),
            None => (
                declaration(key)
                    .and_then(|o| o.default)
                    .unwrap_or_default()
                    .to_string(),
                Origin::Default,
            ),
        };
        Error::InvalidConfig {
            key: key.to_string(),
            value,
            reason: reason.into(),
            origin: Some(origin),
        }
    }

    /// Checks that every declared key that is set holds a value of its type
    /// (first error wins), and the rules that span keys of a cluster process
    /// and of the restart strategy. Rules that a job's own settings may still
    /// satisfy (a checkpoint directory given at submission) wait for
    /// [`JobConfig::resolve`]. Unknown keys are not errors (see [`Self::warnings`]).
    pub fn validate(&self) -> Result<()> {
        for table in TABLES {
            for option in table.options {
                self.value(option.key)?;
            }
        }
        ClusterConfig::resolve(self)?;
        let checkpointing = self
            .opt_ms(CHECKPOINTING_INTERVAL)?
            .is_some_and(|ms| ms > 0);
        crate::restart::resolve(self, checkpointing)?;
        Ok(())
    }
}

/// Typed reads for the resolvers ([`JobConfig::resolve`], [`ClusterConfig::resolve`]).
///
/// The plain form (`int`, `ms`, ...) is for keys with a declared default and
/// always has a value; the `opt_` form is for keys without one. Asking for a
/// type other than the declared one is a bug, reported as such.
impl Configuration {
    fn typed<T>(
        &self,
        key: &str,
        want: &str,
        pick: impl FnOnce(Value) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.value(key)? {
            None => Ok(None),
            Some(v) => pick(v).map(Some).ok_or_else(|| Error::InvalidConfig {
                key: key.to_string(),
                value: self.get(key).unwrap_or_default().to_string(),
                reason: format!("internal error: the key is not declared as {want}"),
                origin: None,
            }),
        }
    }

    fn required<T>(&self, key: &str, v: Option<T>) -> Result<T> {
        v.ok_or_else(|| Error::InvalidConfig {
            key: key.to_string(),
            value: String::new(),
            reason: "internal error: the key has no value and no declared default".into(),
            origin: None,
        })
    }

    /// An integer (ports included), or `None` when unset without default.
    pub fn opt_int(&self, key: &str) -> Result<Option<i64>> {
        self.typed(key, "an integer", |v| match v {
            Value::Int(n) => Some(n),
            _ => None,
        })
    }

    /// An integer of a key with a default.
    pub fn int(&self, key: &str) -> Result<i64> {
        let v = self.opt_int(key)?;
        self.required(key, v)
    }

    /// A count (an integer declared with a lower bound of at least 0).
    pub fn count(&self, key: &str) -> Result<usize> {
        let n = self.int(key)?;
        usize::try_from(n).map_err(|_| self.invalid(key, "expected a non-negative integer"))
    }

    /// A duration in milliseconds, or `None` when unset without default.
    pub fn opt_ms(&self, key: &str) -> Result<Option<i64>> {
        self.typed(key, "a duration", |v| match v {
            // The parser refuses durations whose milliseconds overflow i64.
            Value::Duration(d) => i64::try_from(d.as_millis()).ok(),
            _ => None,
        })
    }

    /// A duration in milliseconds of a key with a default.
    pub fn ms(&self, key: &str) -> Result<i64> {
        let v = self.opt_ms(key)?;
        self.required(key, v)
    }

    /// A boolean of a key with a default.
    pub fn flag(&self, key: &str) -> Result<bool> {
        let v = self.typed(key, "a boolean", |v| match v {
            Value::Bool(b) => Some(b),
            _ => None,
        })?;
        self.required(key, v)
    }

    /// A decimal number of a key with a default.
    pub fn float(&self, key: &str) -> Result<f64> {
        let v = self.typed(key, "a number", |v| match v {
            Value::Float(x) => Some(x),
            _ => None,
        })?;
        self.required(key, v)
    }

    /// Text (also hosts and time zones), trimmed; `None` when unset or blank.
    pub fn opt_text(&self, key: &str) -> Result<Option<String>> {
        self.typed(key, "text", |v| match v {
            Value::Text(t) => Some(t),
            _ => None,
        })
        .map(|t| t.filter(|t| !t.is_empty()))
    }

    /// Text of a key with a default.
    pub fn text(&self, key: &str) -> Result<String> {
        let v = self.opt_text(key)?;
        self.required(key, v)
    }

    /// An enum value as declared, or `None` when unset without default.
    pub fn opt_enum(&self, key: &str) -> Result<Option<&'static str>> {
        self.typed(key, "an enum", |v| match v {
            Value::Enum(e) => Some(e),
            _ => None,
        })
    }

    /// A port range, or `None` when unset without default.
    pub fn opt_port_range(&self, key: &str) -> Result<Option<PortRange>> {
        self.typed(key, "a port range", |v| match v {
            Value::PortRange(r) => Some(r),
            _ => None,
        })
    }

    /// A map (empty when unset).
    pub fn map(&self, key: &str) -> Result<BTreeMap<String, String>> {
        self.typed(key, "a map", |v| match v {
            Value::Map(m) => Some(m),
            _ => None,
        })
        .map(Option::unwrap_or_default)
    }

    /// The entries under a prefix declaration (`containerized.master.env.*`),
    /// keyed by the rest of their name.
    pub fn prefixed(&self, declared: &str) -> BTreeMap<String, String> {
        let Some(prefix) = prefix_of(declared) else {
            return BTreeMap::new();
        };
        self.entries
            .iter()
            .filter_map(|(k, e)| {
                k.strip_prefix(prefix)
                    .filter(|rest| !rest.is_empty())
                    .map(|rest| (rest.to_string(), e.value.clone()))
            })
            .collect()
    }

    /// A list (empty when unset).
    pub fn list(&self, key: &str) -> Result<Vec<String>> {
        self.typed(key, "a list", |v| match v {
            Value::List(l) => Some(l),
            _ => None,
        })
        .map(Option::unwrap_or_default)
    }
}

/// The declaration of `key`, also when `key` is one of its older names or
/// a name under a declared prefix (a key ending in `.*`).
pub fn declaration(key: &str) -> Option<&'static ConfigOption> {
    TABLES.iter().flat_map(|t| t.options.iter()).find(|o| {
        o.key == key
            || o.fallback_keys.contains(&key)
            || prefix_of(o.key).is_some_and(|p| key.len() > p.len() && key.starts_with(p))
    })
}

/// `Some("a.b.")` for a prefix declaration `a.b.*`.
fn prefix_of(declared: &str) -> Option<&str> {
    declared.strip_suffix('*').filter(|p| p.ends_with('.'))
}

/// The declared key closest to `key` in spelling, if one is close enough to
/// be a likely typo.
pub fn closest_key(key: &str) -> Option<&'static str> {
    let all = TABLES
        .iter()
        .flat_map(|t| t.options.iter())
        .flat_map(|o| std::iter::once(o.key).chain(o.fallback_keys.iter().copied()));
    let (best, distance) = all
        .map(|k| {
            (
                k,
                edit_distance(&key.to_ascii_lowercase(), &k.to_ascii_lowercase()),
            )
        })
        .min_by_key(|(_, d)| *d)?;
    (distance <= (key.len() / 4).max(2)).then_some(best)
}

/// Levenshtein distance over bytes.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_reads_name_the_key_value_and_origin() {
        let mut c = Configuration::new();
        c.set_from(
            PARALLELISM_DEFAULT,
            "zero",
            Origin::Set { line: 3, column: 1 },
        );
        let e = c.value(PARALLELISM_DEFAULT).unwrap_err().to_string();
        for part in [
            PARALLELISM_DEFAULT,
            "\"zero\"",
            "between 1 and",
            "SET at line 3, column 1",
        ] {
            assert!(e.contains(part), "{part}: {e}");
        }
        c.set_pair("parallelism.default = 4", Origin::Dynamic)
            .unwrap();
        assert_eq!(c.value(PARALLELISM_DEFAULT).unwrap(), Some(Value::Int(4)));
        assert_eq!(c.origin_of(PARALLELISM_DEFAULT), Origin::Dynamic);
        assert!(c.set_pair("novalue", Origin::Dynamic).is_err());
        assert!(c.set_pair("=1", Origin::Dynamic).is_err());
    }

    #[test]
    fn defaults_and_fallback_keys() {
        let mut c = Configuration::new();
        assert_eq!(
            c.value(CHECKPOINTS_NUM_RETAINED).unwrap(),
            Some(Value::Int(1))
        );
        assert_eq!(c.origin_of(CHECKPOINTS_NUM_RETAINED), Origin::Default);
        assert_eq!(c.value(CHECKPOINTS_DIR).unwrap(), None);
        c.set(STATE_CHECKPOINTS_DIR, "/old");
        assert_eq!(
            c.value(CHECKPOINTS_DIR).unwrap(),
            Some(Value::Text("/old".into()))
        );
        c.set(CHECKPOINTS_DIR, "/new");
        assert_eq!(
            c.value(CHECKPOINTS_DIR).unwrap(),
            Some(Value::Text("/new".into()))
        );
        // A blank value counts as unset, so the older name applies.
        c.set(CHECKPOINTS_DIR, " ");
        assert_eq!(
            c.value(CHECKPOINTS_DIR).unwrap(),
            Some(Value::Text("/old".into()))
        );
        // A bad value under the older name names the older name.
        c.set(STATE_CHECKPOINTS_NUM_RETAINED, "0");
        let e = c.value(CHECKPOINTS_NUM_RETAINED).unwrap_err().to_string();
        assert!(e.contains(STATE_CHECKPOINTS_NUM_RETAINED), "{e}");
    }

    #[test]
    fn every_declared_default_parses_and_no_key_is_declared_twice() {
        let mut seen = std::collections::BTreeSet::new();
        for table in TABLES {
            for o in table.options {
                for k in std::iter::once(o.key).chain(o.fallback_keys.iter().copied()) {
                    assert!(seen.insert(k), "{k} declared twice");
                }
                if let Some(d) = o.default {
                    assert!(o.kind.parse(d).is_ok(), "{}: default {d:?}", o.key);
                }
                assert!(!o.doc.trim().is_empty(), "{} has no doc", o.key);
            }
        }
    }

    #[test]
    fn prefix_declarations_cover_every_name_under_them() {
        let mut c = Configuration::new();
        c.set("containerized.master.env.AWS_REGION", "eu-west-1");
        c.set("containerized.master.env.B", "2");
        c.set("containerized.master.env.", "nameless");
        c.set("kubernetes.jobmanager.labels", "team:data, tier : gold");
        assert_eq!(c.unknown_keys(), vec!["containerized.master.env."]);
        let env = c.prefixed(CONTAINERIZED_MASTER_ENV);
        assert_eq!(
            env.into_iter().collect::<Vec<_>>(),
            vec![
                ("AWS_REGION".to_string(), "eu-west-1".to_string()),
                ("B".to_string(), "2".to_string())
            ]
        );
        assert!(c.prefixed(CONTAINERIZED_TASKMANAGER_ENV).is_empty());
        let labels = c.map(KUBERNETES_JM_LABELS).unwrap();
        assert_eq!(labels.get("tier").map(String::as_str), Some("gold"));
        assert!(c.map(KUBERNETES_TM_LABELS).unwrap().is_empty());
    }

    #[test]
    fn unknown_keys_are_reported_with_the_closest_key() {
        let mut c = Configuration::new();
        c.set("table.exec.mini-batch.enabled", "true");
        c.set(STATE_CHECKPOINTS_DIR, "/chk");
        c.set_from("no.such.key", "1", Origin::Dynamic);
        c.set_from(
            "execution.checkpointing.intervall",
            "1 s",
            Origin::Set { line: 1, column: 1 },
        );
        assert_eq!(
            c.unknown_keys(),
            vec!["execution.checkpointing.intervall", "no.such.key"]
        );
        let w = c.warnings();
        assert!(
            w[0].contains("did you mean 'execution.checkpointing.interval'?")
                && w[0].contains("SET at line 1"),
            "{w:?}"
        );
        assert!(
            w[1].contains("'no.such.key' (-D)") && !w[1].contains("did you mean"),
            "{w:?}"
        );
        assert_eq!(
            closest_key("taskmanager.numberOfTaskslots"),
            Some(TASKMANAGER_SLOTS)
        );
        assert_eq!(closest_key("rest.prot"), Some(REST_PORT));
    }

    #[test]
    fn validate_checks_types_and_cross_key_rules() {
        for (k, v) in [
            ("parallelism.default", "-1"),
            ("jobmanager.rpc.port", "http"),
            ("table.exec.mini-batch.enabled", "yes"),
            ("table.local-time-zone", "Mars/Olympus"),
            ("pipeline.auto-watermark-interval", "soon"),
            ("restart-strategy.type", "sometimes"),
            ("restart-strategy.exponential-delay.jitter-factor", "2"),
            ("metrics.reporter.prom.port", "9250-"),
            ("taskmanager.memory.process.size", "lots"),
            ("heartbeat.timeout", "1 s"),
        ] {
            let mut c = Configuration::new();
            c.set(k, v);
            let e = c
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(k), "{k}={v}: {e:?}");
        }
        let mut c = Configuration::new();
        c.set("taskmanager.memory.process.size", "1728m");
        c.set("no.such.key", "whatever");
        assert!(c.validate().is_ok());
    }
}

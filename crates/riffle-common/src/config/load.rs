//! Assembling a cluster process's configuration from its sources, in Flink's
//! order of precedence (later wins):
//!
//! 1. the configuration directory (`RIFFLE_CONF_DIR`, else Flink's
//!    `FLINK_CONF_DIR`): `config.yaml` if present, else the legacy
//!    `flink-conf.yaml` (as Flink 1.19+ does; neither is fine);
//! 2. `FLINK_PROPERTIES`, then `RIFFLE_PROPERTIES`: multi-line `key: value`
//!    text that container images use to override the file (Flink's image
//!    entrypoint appends `FLINK_PROPERTIES` to the file the same way);
//! 3. `-D key=value` flags.
//!
//! Every value keeps its [`Origin`] (file and line, variable and line, `-D`).
//! [`load_cluster_config`] takes the environment's values as arguments so it
//! stays deterministic under test; [`load_cluster_config_from_env`] is the
//! thin wrapper that reads the variables. Neither resolves: call
//! [`ClusterConfig::resolve`](super::ClusterConfig::resolve) on the result and
//! log [`Configuration::warnings`].

use std::io::ErrorKind;
use std::path::Path;

use super::{Configuration, Origin};
use crate::{Error, Result};

/// Environment variable naming the configuration directory.
pub const CONF_DIR_ENV: &str = "RIFFLE_CONF_DIR";
/// Flink's name for the configuration directory, read when [`CONF_DIR_ENV`] is unset.
pub const FLINK_CONF_DIR_ENV: &str = "FLINK_CONF_DIR";
/// Environment variable with `key: value` lines that override the file.
pub const PROPERTIES_ENV: &str = "RIFFLE_PROPERTIES";
/// Flink's overrides variable, applied before [`PROPERTIES_ENV`].
pub const FLINK_PROPERTIES_ENV: &str = "FLINK_PROPERTIES";
/// The standard-YAML configuration file (Flink 1.19+).
pub const CONFIG_FILE: &str = "config.yaml";
/// The legacy `key: value` configuration file, read when [`CONFIG_FILE`] is absent.
pub const LEGACY_CONFIG_FILE: &str = "flink-conf.yaml";

/// Reads `conf_dir`'s configuration file, then overlays each of `properties`
/// (`(variable name, text)`, in order) and then `dynamic` (`key=value` from `-D`).
///
/// A named directory that does not exist, or a file that exists but cannot be
/// read or parsed, is an error naming the path.
pub fn load_cluster_config(
    conf_dir: Option<&Path>,
    properties: &[(&str, &str)],
    dynamic: &[String],
) -> Result<Configuration> {
    let mut config = match conf_dir {
        Some(dir) => read_conf_dir(dir)?,
        None => Configuration::new(),
    };
    for (var, text) in properties {
        let origin = |line| Origin::Env {
            var: var.to_string(),
            line,
        };
        let overrides = Configuration::from_flat_properties(text, &origin).map_err(|e| {
            Error::ConfigSource {
                origin: var.to_string(),
                error: Box::new(e),
            }
        })?;
        config.merge_from(&overrides);
    }
    for pair in dynamic {
        config.set_pair(pair, Origin::Dynamic)?;
    }
    Ok(config)
}

/// [`load_cluster_config`] with the directory from `RIFFLE_CONF_DIR` (else
/// `FLINK_CONF_DIR`) and the overrides from `FLINK_PROPERTIES` and
/// `RIFFLE_PROPERTIES` (unset or empty variables are skipped).
pub fn load_cluster_config_from_env(dynamic: &[String]) -> Result<Configuration> {
    let conf_dir = [CONF_DIR_ENV, FLINK_CONF_DIR_ENV]
        .iter()
        .find_map(|v| std::env::var_os(v).filter(|d| !d.is_empty()));
    let mut properties = Vec::new();
    for var in [FLINK_PROPERTIES_ENV, PROPERTIES_ENV] {
        match std::env::var(var) {
            Ok(text) => properties.push((var, text)),
            Err(std::env::VarError::NotPresent) => {}
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Error::ConfigSource {
                    origin: var.to_string(),
                    error: Box::new(Error::ConfigSyntax {
                        line: 1,
                        reason: "the variable is not valid UTF-8".into(),
                    }),
                });
            }
        }
    }
    let properties: Vec<(&str, &str)> = properties.iter().map(|(v, t)| (*v, t.as_str())).collect();
    load_cluster_config(conf_dir.as_deref().map(Path::new), &properties, dynamic)
}

/// `config.yaml`, else `flink-conf.yaml`, else nothing.
fn read_conf_dir(dir: &Path) -> Result<Configuration> {
    let meta = std::fs::metadata(dir).map_err(|error| Error::ConfigRead {
        path: dir.to_path_buf(),
        error,
    })?;
    if !meta.is_dir() {
        return Err(Error::ConfigRead {
            path: dir.to_path_buf(),
            error: ErrorKind::NotADirectory.into(),
        });
    }
    type Parse = fn(&str, &dyn Fn(usize) -> Origin) -> Result<Configuration>;
    let candidates: [(&str, Parse); 2] = [
        (CONFIG_FILE, Configuration::from_yaml),
        (LEGACY_CONFIG_FILE, Configuration::from_flat_properties),
    ];
    for (name, parse) in candidates {
        let path = dir.join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(error) => return Err(Error::ConfigRead { path, error }),
        };
        let shown = path.display().to_string();
        let origin = |line| Origin::File {
            path: shown.clone(),
            line,
        };
        return parse(&text, &origin).map_err(|e| Error::ConfigSource {
            origin: shown.clone(),
            error: Box::new(e),
        });
    }
    Ok(Configuration::new())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> std::io::Result<Self> {
            let path = std::env::temp_dir().join(format!(
                "riffle-common-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path)?;
            Ok(TempDir(path))
        }

        fn write(&self, file: &str, text: &str) -> std::io::Result<()> {
            std::fs::write(self.0.join(file), text)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn precedence_file_then_properties_then_dynamic() -> TestResult {
        let dir = TempDir::new("precedence")?;
        dir.write(
            CONFIG_FILE,
            "rest:\n  port: 1\nparallelism.default: 1\ntaskmanager.numberOfTaskSlots: 1\n",
        )?;
        let c = load_cluster_config(
            Some(&dir.0),
            &[
                (
                    FLINK_PROPERTIES_ENV,
                    "parallelism.default: 5\nrest.port: 2\n",
                ),
                (
                    PROPERTIES_ENV,
                    "parallelism.default: 2\ntaskmanager.numberOfTaskSlots: 2\n",
                ),
            ],
            &["taskmanager.numberOfTaskSlots=3".to_string()],
        )?;
        assert_eq!(c.get("rest.port"), Some("2"));
        assert_eq!(c.get("parallelism.default"), Some("2"));
        assert_eq!(c.get("taskmanager.numberOfTaskSlots"), Some("3"));
        let file = dir.0.join(CONFIG_FILE).display().to_string();
        assert_eq!(
            c.origin_of("parallelism.default"),
            Origin::Env {
                var: PROPERTIES_ENV.into(),
                line: 1
            }
        );
        assert_eq!(
            c.origin_of("taskmanager.numberOfTaskSlots"),
            Origin::Dynamic
        );
        // A bad value in the file names file and line.
        dir.write(CONFIG_FILE, "# c\nrest:\n  port: http\n")?;
        let e = load_cluster_config(Some(&dir.0), &[], &[])?
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains(&format!("(from {file}:3)")) && e.contains("rest.port"),
            "{e}"
        );
        Ok(())
    }

    #[test]
    fn config_yaml_is_preferred_over_flink_conf() -> TestResult {
        let dir = TempDir::new("prefer")?;
        dir.write(LEGACY_CONFIG_FILE, "rest.port: 2\n")?;
        let c = load_cluster_config(Some(&dir.0), &[], &[])?;
        assert_eq!(c.get("rest.port"), Some("2"));
        dir.write(CONFIG_FILE, "rest.port: 1\n")?;
        let c = load_cluster_config(Some(&dir.0), &[], &[])?;
        assert_eq!(c.get("rest.port"), Some("1"));
        Ok(())
    }

    #[test]
    fn no_files_no_dir_is_empty() -> TestResult {
        let dir = TempDir::new("empty")?;
        assert_eq!(
            load_cluster_config(Some(&dir.0), &[], &[])?,
            Configuration::new()
        );
        assert_eq!(load_cluster_config(None, &[], &[])?, Configuration::new());
        Ok(())
    }

    #[test]
    fn errors_name_the_source() -> TestResult {
        let dir = TempDir::new("errors")?;
        dir.write(CONFIG_FILE, "a: 1\nb: [\n")?;
        let e = load_cluster_config(Some(&dir.0), &[], &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains(CONFIG_FILE) && e.contains("line"), "{e}");

        std::fs::remove_file(dir.0.join(CONFIG_FILE))?;
        std::fs::create_dir(dir.0.join(CONFIG_FILE))?;
        let e = load_cluster_config(Some(&dir.0), &[], &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("cannot read") && e.contains(CONFIG_FILE), "{e}");

        let missing = dir.0.join("missing");
        let e = load_cluster_config(Some(&missing), &[], &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("missing"), "{e}");

        let e = load_cluster_config(None, &[(PROPERTIES_ENV, "a: 1\noops\n")], &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains(PROPERTIES_ENV) && e.contains("line 2"), "{e}");

        assert!(load_cluster_config(None, &[], &["novalue".to_string()]).is_err());
        Ok(())
    }
}

//! Assembling a cluster process's configuration from its sources, in Flink's
//! order of precedence (later wins):
//!
//! 1. the configuration directory: `config.yaml` if present, else the legacy
//!    `flink-conf.yaml` (as Flink 1.19+ does; neither is fine);
//! 2. `RIFFLE_PROPERTIES`, multi-line `key: value` text (Flink's
//!    `FLINK_PROPERTIES`, used by container images to override the file);
//! 3. `-D key=value` flags.
//!
//! [`load_cluster_config`] takes the environment's values as arguments so it
//! stays deterministic under test; [`load_cluster_config_from_env`] is the thin
//! wrapper that reads the variables. Neither validates: call
//! [`Configuration::validate`] on the result, and warn about
//! [`Configuration::unknown_keys`].

use std::io::ErrorKind;
use std::path::Path;

use super::Configuration;
use crate::{Error, Result};

/// Environment variable naming the configuration directory (`FLINK_CONF_DIR`).
pub const CONF_DIR_ENV: &str = "RIFFLE_CONF_DIR";
/// Environment variable with `key: value` lines that override the file (`FLINK_PROPERTIES`).
pub const PROPERTIES_ENV: &str = "RIFFLE_PROPERTIES";
/// The standard-YAML configuration file (Flink 1.19+).
pub const CONFIG_FILE: &str = "config.yaml";
/// The legacy `key: value` configuration file, read when [`CONFIG_FILE`] is absent.
pub const LEGACY_CONFIG_FILE: &str = "flink-conf.yaml";

/// Reads `conf_dir`'s configuration file, then overlays `properties` (the
/// `RIFFLE_PROPERTIES` text) and then `dynamic` (`key=value` from `-D`).
///
/// A named directory that does not exist, or a file that exists but cannot be
/// read or parsed, is an error naming the path.
pub fn load_cluster_config(
    conf_dir: Option<&Path>,
    properties: Option<&str>,
    dynamic: &[String],
) -> Result<Configuration> {
    let mut config = match conf_dir {
        Some(dir) => read_conf_dir(dir)?,
        None => Configuration::new(),
    };
    if let Some(text) = properties {
        let overrides =
            Configuration::from_flat_properties(text).map_err(|e| Error::ConfigSource {
                origin: PROPERTIES_ENV.to_string(),
                error: Box::new(e),
            })?;
        config.merge_from(&overrides);
    }
    for pair in dynamic {
        config.set_pair(pair)?;
    }
    Ok(config)
}

/// [`load_cluster_config`] with the directory from `RIFFLE_CONF_DIR` and the
/// overrides from `RIFFLE_PROPERTIES` (unset or empty variables are skipped).
pub fn load_cluster_config_from_env(dynamic: &[String]) -> Result<Configuration> {
    let conf_dir = std::env::var_os(CONF_DIR_ENV).filter(|d| !d.is_empty());
    let properties = match std::env::var(PROPERTIES_ENV) {
        Ok(text) => Some(text),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(Error::ConfigSource {
                origin: PROPERTIES_ENV.to_string(),
                error: Box::new(Error::ConfigSyntax {
                    line: 1,
                    reason: "the variable is not valid UTF-8".into(),
                }),
            });
        }
    };
    load_cluster_config(
        conf_dir.as_deref().map(Path::new),
        properties.as_deref(),
        dynamic,
    )
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
    type Parse = fn(&str) -> Result<Configuration>;
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
        return parse(&text).map_err(|e| Error::ConfigSource {
            origin: path.display().to_string(),
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
            Some("parallelism.default: 2\ntaskmanager.numberOfTaskSlots: 2\n"),
            &["taskmanager.numberOfTaskSlots=3".to_string()],
        )?;
        assert_eq!(c.rest_port()?, 1);
        assert_eq!(c.parallelism()?, 2);
        assert_eq!(c.number_of_task_slots()?, 3);
        Ok(())
    }

    #[test]
    fn config_yaml_is_preferred_over_flink_conf() -> TestResult {
        let dir = TempDir::new("prefer")?;
        dir.write(LEGACY_CONFIG_FILE, "rest.port: 2\n")?;
        let c = load_cluster_config(Some(&dir.0), None, &[])?;
        assert_eq!(c.get("rest.port"), Some("2"));
        dir.write(CONFIG_FILE, "rest.port: 1\n")?;
        let c = load_cluster_config(Some(&dir.0), None, &[])?;
        assert_eq!(c.get("rest.port"), Some("1"));
        Ok(())
    }

    #[test]
    fn no_files_no_dir_is_empty() -> TestResult {
        let dir = TempDir::new("empty")?;
        assert_eq!(
            load_cluster_config(Some(&dir.0), None, &[])?,
            Configuration::new()
        );
        assert_eq!(load_cluster_config(None, None, &[])?, Configuration::new());
        Ok(())
    }

    #[test]
    fn errors_name_the_source() -> TestResult {
        let dir = TempDir::new("errors")?;
        dir.write(CONFIG_FILE, "a: 1\nb: [\n")?;
        let e = load_cluster_config(Some(&dir.0), None, &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains(CONFIG_FILE) && e.contains("line"), "{e}");

        std::fs::remove_file(dir.0.join(CONFIG_FILE))?;
        std::fs::create_dir(dir.0.join(CONFIG_FILE))?;
        let e = load_cluster_config(Some(&dir.0), None, &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("cannot read") && e.contains(CONFIG_FILE), "{e}");

        let missing = dir.0.join("missing");
        let e = load_cluster_config(Some(&missing), None, &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("missing"), "{e}");

        let e = load_cluster_config(None, Some("a: 1\noops\n"), &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains(PROPERTIES_ENV) && e.contains("line 2"), "{e}");

        assert!(load_cluster_config(None, None, &["novalue".to_string()]).is_err());
        Ok(())
    }
}

//! Locations: from the text in the configuration (`s3://bucket/prefix`) to an
//! `object_store` client plus the path prefix inside it.
//!
//! Each scheme maps to one client builder. The builders first read their
//! standard environment variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`); for S3 the
//! Flink keys (`s3.endpoint`, `s3.path.style.access`, `s3.access-key`,
//! `s3.secret-key`) then override them, so a Flink `config.yaml` works
//! unchanged. Building a client does no network I/O: bad credentials surface on
//! the first request, as [`Error::Auth`](crate::Error::Auth).
//!
//! S3 addressing follows Flink (Hadoop's S3A): `s3.path.style.access: false`,
//! the default, sends virtual-hosted-style requests (`bucket.endpoint`);
//! S3-compatible servers such as MinIO usually need `true` (`endpoint/bucket`).
//! When the key is unset, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST` decides if set.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use riffle_common::config::{
    S3_ACCESS_KEY, S3_ENDPOINT, S3_PATH_STYLE_ACCESS, S3_SECRET_KEY, StorageConfig,
};
use url::Url;

use crate::{Error, Result};

/// The URL schemes [`Storage::open`](crate::Storage::open) accepts (besides a
/// plain absolute path). `s3a` and `s3p` are Flink's names for its two S3
/// plugins; both mean S3 here.
pub const ALLOWED_SCHEMES: &[&str] = &["file", "s3", "s3a", "s3p", "gs", "abfs", "abfss", "az"];

/// The kind of store behind a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// A local (or mounted) file system.
    Local,
    /// Amazon S3 or an S3-compatible server.
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage / Data Lake Storage Gen2.
    Azure,
}

impl Backend {
    /// What to check when the store refuses the credentials.
    pub(crate) fn auth_hint(self) -> &'static str {
        match self {
            Backend::Local => "check the file permissions",
            Backend::S3 => {
                "check s3.access-key and s3.secret-key (or AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY) and that s3.endpoint is the server they belong to"
            }
            Backend::Gcs => {
                "check GOOGLE_SERVICE_ACCOUNT (or GOOGLE_APPLICATION_CREDENTIALS) and the \
                 account's access to the bucket"
            }
            Backend::Azure => {
                "check AZURE_STORAGE_ACCOUNT_KEY (or another AZURE_* credential) and the \
                 account's access to the container"
            }
        }
    }

    /// How a location of this kind is set up, for a client builder's refusal.
    pub(crate) fn setup_hint(self) -> &'static str {
        match self {
            Backend::Local => "write /abs/path or file:///abs/path",
            Backend::S3 => {
                "S3 is set up by s3.endpoint, s3.access-key, s3.secret-key and \
                 s3.path.style.access, or the AWS_* environment variables"
            }
            Backend::Gcs => {
                "GCS reads GOOGLE_SERVICE_ACCOUNT, GOOGLE_SERVICE_ACCOUNT_KEY or \
                 GOOGLE_APPLICATION_CREDENTIALS"
            }
            Backend::Azure => {
                "write abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/prefix, or \
                 az://CONTAINER/prefix with AZURE_STORAGE_ACCOUNT_NAME set; credentials come \
                 from AZURE_STORAGE_ACCOUNT_KEY or another AZURE_* variable"
            }
        }
    }

    /// What to check when the service cannot be reached.
    pub(crate) fn reach_hint(self) -> &'static str {
        match self {
            Backend::Local => "check that the directory is mounted",
            Backend::S3 => "check s3.endpoint (or AWS_ENDPOINT) and the network",
            Backend::Gcs => "check the network and GOOGLE_* settings",
            Backend::Azure => "check the account name and the network",
        }
    }
}

/// An opened location.
#[derive(Debug)]
pub(crate) struct Opened {
    /// The location as given, trimmed and without a trailing `/`.
    pub(crate) url: String,
    /// Which kind of store.
    pub(crate) backend: Backend,
    /// The client.
    pub(crate) store: Arc<dyn ObjectStore>,
    /// The location's path inside the store (for local files: the absolute
    /// path without its leading `/`).
    pub(crate) base: Path,
    /// For local locations: the directory itself, the boundary up to which
    /// empty directories are removed.
    pub(crate) local_root: Option<PathBuf>,
}

/// Parses `url` and builds the client for it.
pub(crate) fn open(url: &str, config: &StorageConfig) -> Result<Opened> {
    let url = normalize(url);
    let bad = |reason: String| Error::InvalidLocation {
        url: url.clone(),
        reason,
    };
    if url.is_empty() {
        return Err(bad("the location is empty".into()));
    }
    if url.starts_with('/') {
        return open_local(&url, PathBuf::from(&url));
    }
    let Some((scheme, _)) = url.split_once(':') else {
        return Err(bad(format!(
            "a local path must be absolute (/abs/path or file:///abs/path); \
             other locations need a scheme: {}",
            ALLOWED_SCHEMES.join(", ")
        )));
    };
    let scheme = scheme.to_ascii_lowercase();
    if !ALLOWED_SCHEMES.contains(&scheme.as_str()) {
        return Err(Error::UnsupportedScheme {
            scheme,
            url: url.clone(),
            allowed: format!("{} or an absolute local path", ALLOWED_SCHEMES.join(", ")),
        });
    }
    let parsed = Url::parse(&url).map_err(|e| bad(format!("not a URL: {e}")))?;
    if scheme == "file" {
        if parsed
            .host_str()
            .is_some_and(|h| !h.is_empty() && h != "localhost")
        {
            return Err(bad(
                "a file: URL cannot name a remote host; write file:///abs/path".into(),
            ));
        }
        let path = parsed
            .to_file_path()
            .map_err(|()| bad("not a local file path; write file:///abs/path".into()))?;
        return open_local(&url, path);
    }
    let host = parsed.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err(bad(format!(
            "no bucket or container; write {scheme}://NAME/prefix"
        )));
    }
    let base = Path::from_url_path(parsed.path()).map_err(|e| bad(e.to_string()))?;
    let (backend, store): (Backend, Arc<dyn ObjectStore>) = match scheme.as_str() {
        "s3" | "s3a" | "s3p" => (
            Backend::S3,
            Arc::new(
                s3_builder(&url, host, config)?
                    .build()
                    .map_err(|e| build_error(&url, Backend::S3, e))?,
            ),
        ),
        "gs" => (
            Backend::Gcs,
            Arc::new(
                GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(host)
                    .build()
                    .map_err(|e| build_error(&url, Backend::Gcs, e))?,
            ),
        ),
        _ => (
            Backend::Azure,
            Arc::new(
                MicrosoftAzureBuilder::from_env()
                    .with_url(url.as_str())
                    .build()
                    .map_err(|e| build_error(&url, Backend::Azure, e))?,
            ),
        ),
    };
    Ok(Opened {
        url,
        backend,
        store,
        base,
        local_root: None,
    })
}

/// Trims blanks and trailing `/` (keeping a bare `/` and the `//` of a scheme).
fn normalize(url: &str) -> String {
    let mut s = url.trim();
    while s.len() > 1 && s.ends_with('/') && !s.ends_with("://") {
        s = &s[..s.len() - 1];
    }
    s.to_string()
}

/// A local directory. Nothing is created until the first write.
fn open_local(url: &str, path: PathBuf) -> Result<Opened> {
    let bad = |reason: String| Error::InvalidLocation {
        url: url.to_string(),
        reason,
    };
    if !path.is_absolute() {
        return Err(bad("a local path must be absolute".into()));
    }
    let base = Path::from_absolute_path(&path).map_err(|e| bad(e.to_string()))?;
    Ok(Opened {
        url: url.to_string(),
        backend: Backend::Local,
        store: Arc::new(LocalFileSystem::new()),
        base,
        local_root: Some(path),
    })
}

/// The S3 client builder: environment first, then the Flink keys.
fn s3_builder(url: &str, bucket: &str, config: &StorageConfig) -> Result<AmazonS3Builder> {
    let bad = |reason: String| Error::InvalidLocation {
        url: url.to_string(),
        reason,
    };
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(endpoint) = &config.s3_endpoint {
        b = b.with_endpoint(endpoint);
    }
    let env_virtual_hosted = std::env::var("AWS_VIRTUAL_HOSTED_STYLE_REQUEST").ok();
    let path_style = path_style(config, env_virtual_hosted.as_deref());
    if let Some(endpoint) = b.get_config_value(&AmazonS3ConfigKey::Endpoint) {
        if endpoint.starts_with("http://") {
            b = b.with_allow_http(true);
        }
        if !path_style {
            // object_store expects a virtual-hosted endpoint to name the bucket.
            b = b.with_endpoint(virtual_hosted_endpoint(&endpoint, bucket).map_err(bad)?);
        }
    }
    b = b.with_virtual_hosted_style_request(!path_style);
    if b.get_config_value(&AmazonS3ConfigKey::Region).is_none() {
        b = b.with_region("us-east-1");
    }
    match (&config.s3_access_key, &config.s3_secret_key) {
        (Some(access), Some(secret)) => {
            b = b.with_access_key_id(access).with_secret_access_key(secret);
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(bad(format!(
                "{S3_ACCESS_KEY} is set but {S3_SECRET_KEY} is not; set both"
            )));
        }
        (None, Some(_)) => {
            return Err(bad(format!(
                "{S3_SECRET_KEY} is set but {S3_ACCESS_KEY} is not; set both"
            )));
        }
    }
    Ok(b)
}

/// Path-style addressing or not: `s3.path.style.access` when set, else the
/// environment's `AWS_VIRTUAL_HOSTED_STYLE_REQUEST` when set, else Flink's
/// default (virtual-hosted style).
fn path_style(config: &StorageConfig, env_virtual_hosted: Option<&str>) -> bool {
    match (config.s3_path_style_access, env_virtual_hosted) {
        (Some(set), _) => set,
        (None, Some(v)) => !v.trim().eq_ignore_ascii_case("true"),
        (None, None) => false,
    }
}

/// `http://host:port` → `http://bucket.host:port` (unless the bucket is there already).
fn virtual_hosted_endpoint(endpoint: &str, bucket: &str) -> std::result::Result<String, String> {
    let mut u = Url::parse(endpoint)
        .map_err(|e| format!("{S3_ENDPOINT} {endpoint:?} is not a URL: {e}"))?;
    let host = match u.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(_) => {
            return Err(format!(
                "{S3_ENDPOINT} {endpoint:?} is an IP address, which cannot address a bucket \
                 by host name; set {S3_PATH_STYLE_ACCESS}: true"
            ));
        }
        None => return Err(format!("{S3_ENDPOINT} {endpoint:?} has no host")),
    };
    if host.starts_with(&format!("{bucket}.")) {
        return Ok(endpoint.to_string());
    }
    u.set_host(Some(&format!("{bucket}.{host}")))
        .map_err(|e| format!("{S3_ENDPOINT} {endpoint:?}: {e}"))?;
    Ok(u.as_str().trim_end_matches('/').to_string())
}

/// A client builder's refusal, with what to set.
fn build_error(url: &str, backend: Backend, e: object_store::Error) -> Error {
    Error::InvalidLocation {
        url: url.to_string(),
        reason: format!("{e}; {}", backend.setup_hint()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> StorageConfig {
        let c: riffle_common::Configuration = pairs.iter().copied().collect();
        StorageConfig::resolve(&c).unwrap_or_default()
    }

    fn error_of(url: &str, c: &StorageConfig) -> String {
        open(url, c)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn local_locations() -> Result<()> {
        let c = StorageConfig::default();
        for url in [
            "/tmp/riffle x/",
            "file:///tmp/riffle%20x",
            "file:/tmp/riffle x/",
        ] {
            let o = open(url, &c)?;
            assert_eq!(o.backend, Backend::Local, "{url}");
            assert_eq!(o.base.as_ref(), "tmp/riffle x", "{url}");
            assert_eq!(o.local_root, Some(PathBuf::from("/tmp/riffle x")), "{url}");
        }
        assert_eq!(open(" /tmp/chk/ ", &c)?.url, "/tmp/chk");
        assert_eq!(open("file:///tmp/chk/", &c)?.url, "file:///tmp/chk");
        assert!(error_of("chk", &c).contains("must be absolute"));
        assert!(error_of("file://nas/chk", &c).contains("remote host"));
        assert!(error_of("/tmp/../etc", &c).contains("invalid storage location"));
        assert!(error_of("  ", &c).contains("empty"));
        Ok(())
    }

    #[test]
    fn s3_locations() -> Result<()> {
        let c = config(&[
            (S3_ENDPOINT, "http://127.0.0.1:9000"),
            (S3_PATH_STYLE_ACCESS, "true"),
            (S3_ACCESS_KEY, "a"),
            (S3_SECRET_KEY, "s"),
        ]);
        for (url, base) in [
            ("s3://bucket/checkpoints/job/", "checkpoints/job"),
            ("s3a://bucket", ""),
            ("S3P://bucket/a%20b", "a b"),
        ] {
            let o = open(url, &c)?;
            assert_eq!(o.backend, Backend::S3, "{url}");
            assert_eq!(o.base.as_ref(), base, "{url}");
        }
        assert_eq!(open("s3://bucket/p/", &c)?.url, "s3://bucket/p");
        // Without credentials in the configuration the AWS_* variables (or the
        // instance's role) apply; building still needs no network.
        open("s3://bucket/p", &StorageConfig::default())?;
        assert!(error_of("s3:///p", &c).contains("no bucket"));
        Ok(())
    }

    #[test]
    fn s3_options() -> Result<()> {
        let b = s3_builder(
            "s3://b",
            "b",
            &config(&[
                (S3_ENDPOINT, "http://minio:9000"),
                (S3_PATH_STYLE_ACCESS, "true"),
            ]),
        )?;
        assert_eq!(
            b.get_config_value(&AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("http://minio:9000")
        );
        assert_eq!(
            b.get_config_value(&AmazonS3ConfigKey::VirtualHostedStyleRequest)
                .as_deref(),
            Some("false")
        );
        assert_eq!(
            b.get_config_value(&AmazonS3ConfigKey::Client(
                object_store::ClientConfigKey::AllowHttp
            ))
            .as_deref(),
            Some("true")
        );
        // Flink's default is virtual-hosted style: the bucket goes into the host.
        let b = s3_builder(
            "s3://b",
            "b",
            &config(&[(S3_ENDPOINT, "https://storage.example.com")]),
        )?;
        assert_eq!(
            b.get_config_value(&AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("https://b.storage.example.com")
        );
        let e = error_of("s3://b", &config(&[(S3_ENDPOINT, "http://10.0.0.1:9000")]));
        assert!(e.contains(S3_PATH_STYLE_ACCESS), "{e}");
        let e = error_of("s3://b", &config(&[(S3_ACCESS_KEY, "a")]));
        assert!(e.contains(S3_SECRET_KEY), "{e}");
        Ok(())
    }

    #[test]
    fn path_style_comes_from_flink_then_the_environment() -> Result<()> {
        let unset = StorageConfig::default();
        assert!(!path_style(&unset, None), "Flink's default: virtual-hosted");
        assert!(path_style(&unset, Some("false")));
        assert!(!path_style(&unset, Some("TRUE")));
        let set = config(&[(S3_PATH_STYLE_ACCESS, "true")]);
        assert!(path_style(&set, Some("true")), "the Flink key wins");
        Ok(())
    }

    #[test]
    fn gcs_and_azure_locations() -> Result<()> {
        let c = StorageConfig::default();
        let o = open("gs://bucket/savepoints", &c)?;
        assert_eq!((o.backend, o.base.as_ref()), (Backend::Gcs, "savepoints"));
        let o = open("abfs://container@account.dfs.core.windows.net/chk/", &c)?;
        assert_eq!((o.backend, o.base.as_ref()), (Backend::Azure, "chk"));
        let o = open("abfss://container@account.dfs.core.windows.net", &c)?;
        assert_eq!((o.backend, o.base.as_ref()), (Backend::Azure, ""));
        if std::env::var_os("AZURE_STORAGE_ACCOUNT_NAME").is_none() {
            let e = error_of("az://container/chk", &c);
            assert!(e.contains("AZURE_STORAGE_ACCOUNT_NAME"), "{e}");
        }
        Ok(())
    }

    #[test]
    fn unknown_schemes_name_the_allowed_ones() {
        let e = error_of("hdfs://namenode/chk", &StorageConfig::default());
        for scheme in ALLOWED_SCHEMES {
            assert!(e.contains(scheme), "{e}");
        }
        assert!(e.contains("\"hdfs\""), "{e}");
    }
}

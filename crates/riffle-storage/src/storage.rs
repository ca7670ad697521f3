//! [`Storage`]: one location (a directory, a bucket prefix) and blocking
//! operations on the objects under it.
//!
//! Paths given to the operations are relative to the location and
//! `/`-separated (`job-1/chk-3/_metadata`); a leading or trailing `/` is
//! ignored, while empty, `.` and `..` segments are rejected, so no path can
//! leave the location. Listings return paths relative to the location, sorted.
//!
//! Object stores have no directories: a "directory" is the common prefix of
//! the objects under it, and it disappears with its last object. Local
//! locations behave the same way: a write creates missing parent directories,
//! and deletes remove directories that become empty, up to (not including) the
//! opened location itself.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::local::LocalFileSystem;
use object_store::path::{Path, PathPart};
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use riffle_common::config::StorageConfig;

use crate::location::{self, Backend};
use crate::runtime::block_on;
use crate::writer::BlobWriter;
use crate::{Error, Result};

/// A storage location: open it once with [`Storage::open`], then read and
/// write objects under it by relative path. Cloning is cheap and clones share
/// one client.
#[derive(Clone)]
pub struct Storage {
    /// The client, shared by every clone and child.
    inner: Arc<Inner>,
    /// This location's path inside the store.
    base: Path,
    /// This location as text (the opened URL, plus the child path).
    url: String,
}

/// What every [`Storage`] derived from one [`Storage::open`] shares.
struct Inner {
    /// Which kind of store (for error hints and local-only steps).
    backend: Backend,
    /// The client.
    store: Arc<dyn ObjectStore>,
    /// For local locations: the client again, for mapping paths to files.
    local: Option<LocalFileSystem>,
    /// For local locations: the opened directory; empty directories are
    /// removed up to it, never it or above.
    local_root: Option<PathBuf>,
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("url", &self.url)
            .field("backend", &self.inner.backend)
            .finish()
    }
}

impl Storage {
    /// Opens a location: `/abs/path` or `file:///abs/path` (local),
    /// `s3://bucket/prefix` (also `s3a://`, `s3p://`), `gs://bucket/prefix`,
    /// `abfs://container@account.dfs.core.windows.net/prefix` (also `abfss://`)
    /// or `az://container/prefix` (account from `AZURE_STORAGE_ACCOUNT_NAME`).
    ///
    /// S3 reads the `AWS_*` environment variables, then `s3.endpoint`,
    /// `s3.path.style.access`, `s3.access-key` and `s3.secret-key` from `config`
    /// override them; the region defaults to `us-east-1`, and an `http://`
    /// endpoint is allowed. No request is made: bad credentials or an
    /// unreachable endpoint show on the first operation. Nothing is created
    /// either; a local directory appears with the first write.
    pub fn open(url: &str, config: &StorageConfig) -> Result<Storage> {
        let opened = location::open(url, config)?;
        let local = (opened.backend == Backend::Local).then(LocalFileSystem::new);
        Ok(Storage {
            inner: Arc::new(Inner {
                backend: opened.backend,
                store: opened.store,
                local,
                local_root: opened.local_root,
            }),
            base: opened.base,
            url: opened.url,
        })
    }

    /// The location as given (trimmed, without a trailing `/`), plus the path
    /// of [`Storage::child`] calls.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A location below this one (`"job-1/chk-3"`), sharing the client.
    /// Never fails: segments that cannot be path segments (`.`, `..`) are
    /// escaped rather than interpreted, so the child stays inside this location.
    pub fn child(&self, rel: &str) -> Storage {
        let parts: Vec<PathPart<'static>> = rel
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| PathPart::from(s.to_string()))
            .collect();
        let mut url = self.url.clone();
        for p in &parts {
            if !url.ends_with('/') {
                url.push('/');
            }
            url.push_str(p.as_ref());
        }
        Storage {
            inner: Arc::clone(&self.inner),
            base: self.base.parts().chain(parts).collect(),
            url,
        }
    }

    /// Writes `bytes` to `rel`, replacing any object there. The object appears
    /// whole or not at all.
    pub fn put(&self, rel: &str, bytes: Bytes) -> Result<()> {
        let loc = self.path(rel)?;
        self.put_path("put", rel, loc, bytes)
    }

    /// Writes `bytes` to `rel` unless an object exists there; `false` if one did
    /// (nothing is written then). Atomic on every store (S3 uses `If-None-Match`).
    pub fn put_if_absent(&self, rel: &str, bytes: Bytes) -> Result<bool> {
        let loc = self.path(rel)?;
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let r = self
            .call(move |s| async move { s.put_opts(&loc, PutPayload::from(bytes), opts).await })?;
        match r {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.error("put_if_absent", rel, e)),
        }
    }

    /// Reads the whole object at `rel`; [`Error::NotFound`] if there is none.
    pub fn get(&self, rel: &str) -> Result<Bytes> {
        let loc = self.path(rel)?;
        self.call(move |s| async move { s.get(&loc).await?.bytes().await })?
            .map_err(|e| self.error("get", rel, e))
    }

    /// The size in bytes of the object at `rel`, `None` if there is none.
    pub fn head(&self, rel: &str) -> Result<Option<u64>> {
        let loc = self.path(rel)?;
        match self.call(move |s| async move { s.head(&loc).await })? {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("head", rel, e)),
        }
    }

    /// Every object under `rel_prefix` (recursively; `""` for all), as paths
    /// relative to this location with their sizes, sorted by path.
    pub fn list(&self, rel_prefix: &str) -> Result<Vec<(String, u64)>> {
        let prefix = self.path(rel_prefix)?;
        let metas = self
            .call(move |s| async move {
                s.list(Some(&prefix))
                    .try_collect::<Vec<object_store::ObjectMeta>>()
                    .await
            })?
            .map_err(|e| self.error("list", rel_prefix, e))?;
        let mut out: Vec<(String, u64)> = metas
            .into_iter()
            .filter_map(|m| Some((self.relative(&m.location)?, m.size)))
            .collect();
        out.sort();
        Ok(out)
    }

    /// The names of the immediate "subdirectories" of `rel_prefix` (common
    /// prefixes of the objects below it), sorted.
    pub fn list_dirs(&self, rel_prefix: &str) -> Result<Vec<String>> {
        let prefix = self.path(rel_prefix)?;
        let listing = self
            .call(move |s| async move { s.list_with_delimiter(Some(&prefix)).await })?
            .map_err(|e| self.error("list", rel_prefix, e))?;
        let mut names: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Deletes the object at `rel`; a missing object is not an error.
    pub fn delete(&self, rel: &str) -> Result<()> {
        let loc = self.path(rel)?;
        let target = loc.clone();
        match self.call(move |s| async move { s.delete(&target).await })? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.error("delete", rel, e)),
        }
        self.prune_empty_parents(&loc);
        Ok(())
    }

    /// Deletes every object under `rel_prefix` (`""` for everything in this
    /// location); nothing there is not an error. Locally the directories go too.
    pub fn delete_all(&self, rel_prefix: &str) -> Result<()> {
        let prefix = self.path(rel_prefix)?;
        if let Some(dir) = self.local_file(&prefix) {
            return self.delete_local_dir(&prefix, dir);
        }
        self.call(move |s| async move {
            let locations = s.list(Some(&prefix)).map_ok(|m| m.location).boxed();
            let mut deleted = s.delete_stream(locations);
            while let Some(r) = deleted.next().await {
                match r {
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })?
        .map_err(|e| self.error("delete_all", rel_prefix, e))
    }

    /// Moves the object at `from` to `to`, replacing any object there. Local:
    /// an atomic file rename. Object stores: copy, then delete (not atomic: a
    /// reader may briefly see both). [`Error::NotFound`] if `from` is missing.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let src = self.path(from)?;
        let dst = self.path(to)?;
        let s2 = src.clone();
        self.call(move |s| async move { s.rename(&s2, &dst).await })?
            .map_err(|e| self.error("rename", from, e))?;
        self.prune_empty_parents(&src);
        Ok(())
    }

    /// A writer that streams an object to `rel`; see [`BlobWriter`].
    pub fn writer(&self, rel: &str) -> Result<BlobWriter> {
        let loc = self.path(rel)?;
        Ok(BlobWriter::new(self.clone(), rel.to_string(), loc))
    }

    // ---- helpers shared with the writer ----

    /// Runs `f(store)` on the storage runtime and waits for it.
    pub(crate) fn call<T, F, Fut>(&self, f: F) -> Result<object_store::Result<T>>
    where
        F: FnOnce(Arc<dyn ObjectStore>) -> Fut,
        Fut: Future<Output = object_store::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        block_on(f(Arc::clone(&self.inner.store)))
    }

    /// Writes a whole object at an already-resolved path.
    pub(crate) fn put_path(
        &self,
        op: &'static str,
        rel: &str,
        loc: Path,
        bytes: Bytes,
    ) -> Result<()> {
        self.call(move |s| async move { s.put(&loc, PutPayload::from(bytes)).await })?
            .map(drop)
            .map_err(|e| self.error(op, rel, e))
    }

    /// Classifies a store error for `op` on `rel`.
    pub(crate) fn error(&self, op: &'static str, rel: &str, e: object_store::Error) -> Error {
        let path = self.display(rel);
        let backend = self.inner.backend;
        match e {
            object_store::Error::NotFound { .. } => Error::NotFound { path },
            object_store::Error::Unauthenticated { .. }
            | object_store::Error::PermissionDenied { .. } => Error::Auth {
                op,
                path,
                hint: backend.auth_hint(),
                source: Box::new(e),
            },
            e if backend != Backend::Local && is_unreachable(&e) => Error::Unreachable {
                op,
                path,
                hint: backend.reach_hint(),
                source: Box::new(e),
            },
            e if backend != Backend::Local && is_auth_status(&e) => Error::Auth {
                op,
                path,
                hint: backend.auth_hint(),
                source: Box::new(e),
            },
            source => Error::Io {
                op,
                path,
                source: Box::new(source),
            },
        }
    }

    /// The full location of `rel`, for messages.
    pub(crate) fn display(&self, rel: &str) -> String {
        let rel = rel.trim_matches('/');
        if rel.is_empty() {
            self.url.clone()
        } else if self.url.ends_with('/') {
            format!("{}{rel}", self.url)
        } else {
            format!("{}/{rel}", self.url)
        }
    }

    /// Locally: removes the directories above `loc` that are now empty, up to
    /// the opened location. Best effort (a concurrent writer may refill one).
    pub(crate) fn prune_empty_parents(&self, loc: &Path) {
        let (Some(file), Some(root)) = (self.local_file(loc), &self.inner.local_root) else {
            return;
        };
        let mut dir = file.parent();
        while let Some(d) = dir {
            if d == root.as_path() || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
    }

    /// `rel` resolved under this location; rejects malformed paths.
    fn path(&self, rel: &str) -> Result<Path> {
        let rel_path = Path::parse(rel).map_err(|e| Error::InvalidPath {
            url: self.url.clone(),
            path: rel.to_string(),
            reason: e.to_string(),
        })?;
        Ok(self.base.parts().chain(rel_path.parts()).collect())
    }

    /// `loc` relative to this location (`None` if it is not below it).
    fn relative(&self, loc: &Path) -> Option<String> {
        let parts: Vec<String> = loc
            .prefix_match(&self.base)?
            .map(|p| p.as_ref().to_string())
            .collect();
        Some(parts.join("/"))
    }

    /// For local locations: the file-system path of `loc`.
    fn local_file(&self, loc: &Path) -> Option<PathBuf> {
        self.inner.local.as_ref()?.path_to_filesystem(loc).ok()
    }

    /// Local `delete_all`: removes the directory `dir` (only its contents if it
    /// is the opened location), then the parents it leaves empty.
    fn delete_local_dir(&self, prefix: &Path, dir: PathBuf) -> Result<()> {
        let io = |op: &'static str, p: &std::path::Path, source: std::io::Error| Error::LocalIo {
            op,
            path: p.display().to_string(),
            source,
        };
        let meta = match std::fs::symlink_metadata(&dir) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("delete_all", &dir, e)),
        };
        if !meta.is_dir() {
            // Like an object store: a prefix matches what is below it, not an
            // object of the same name.
            return Ok(());
        }
        if self.inner.local_root.as_deref() == Some(dir.as_path()) {
            let entries = std::fs::read_dir(&dir).map_err(|e| io("delete_all", &dir, e))?;
            for entry in entries {
                let path = entry.map_err(|e| io("delete_all", &dir, e))?.path();
                let removed = if path.is_dir() && !path.is_symlink() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                match removed {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(io("delete_all", &path, e));
                    }
                    _ => {}
                }
            }
            return Ok(());
        }
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io("delete_all", &dir, e));
            }
            _ => {}
        }
        self.prune_empty_parents(prefix);
        Ok(())
    }
}

/// True when `object_store`'s HTTP client could not connect or timed out.
fn is_unreachable(e: &object_store::Error) -> bool {
    sources(e).any(|s| {
        s.downcast_ref::<HttpError>()
            .is_some_and(|h| matches!(h.kind(), HttpErrorKind::Connect | HttpErrorKind::Timeout))
    })
}

/// True when a request failed with HTTP 401 or 403 but `object_store`
/// reported it as a generic error (it does so for listings and multipart
/// uploads); its message is the only place the status shows.
fn is_auth_status(e: &object_store::Error) -> bool {
    sources(e).any(|s| {
        let text = s.to_string();
        text.contains("403 Forbidden") || text.contains("401 Unauthorized")
    })
}

/// `e` and its chain of sources.
fn sources<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::writer::PART_SIZE;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    /// A storage on a fresh temporary directory (kept alive by the guard).
    fn temp_storage()
    -> std::result::Result<(tempfile::TempDir, Storage), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let url = format!("{}/", dir.path().display());
        let storage = Storage::open(&url, &StorageConfig::default())?;
        Ok((dir, storage))
    }

    /// Deterministic, non-repeating-looking test bytes.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Every file and directory under `dir`, relative, sorted.
    fn tree(dir: &std::path::Path) -> Vec<String> {
        fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                if p.is_dir() {
                    out.push(format!("{rel}/"));
                    walk(root, &p, out);
                } else {
                    out.push(rel);
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    #[test]
    fn shareable_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Storage>();
        send_sync::<Error>();
        send::<BlobWriter>();
    }

    #[test]
    fn put_get_head_and_not_found() -> TestResult {
        let (dir, s) = temp_storage()?;
        assert_eq!(s.url(), dir.path().display().to_string());
        s.put("a/b/c.txt", Bytes::from_static(b"hello"))?;
        assert_eq!(s.get("a/b/c.txt")?, Bytes::from_static(b"hello"));
        assert_eq!(s.get("/a/b/c.txt")?, Bytes::from_static(b"hello"));
        assert_eq!(s.head("a/b/c.txt")?, Some(5));
        assert_eq!(s.head("a/b/missing")?, None);
        s.put("a/b/c.txt", Bytes::from_static(b"bye"))?;
        assert_eq!(s.get("a/b/c.txt")?, Bytes::from_static(b"bye"));

        let e = s.get("a/missing").err().ok_or("expected NotFound")?;
        assert!(e.is_not_found(), "{e:?}");
        let expected = format!("{}/a/missing does not exist", s.url());
        assert_eq!(e.to_string(), expected);

        for bad in ["../x", "a//b", "a/./b"] {
            let e = s.get(bad).err().ok_or("expected InvalidPath")?;
            assert!(matches!(e, Error::InvalidPath { .. }), "{bad}: {e:?}");
        }
        assert!(format!("{s:?}").contains(s.url()));
        Ok(())
    }

    #[test]
    fn works_inside_an_async_runtime() -> TestResult {
        let (_dir, s) = temp_storage()?;
        let rt = tokio::runtime::Builder::new_current_thread().build()?;
        let got = rt.block_on(async {
            s.put("x", Bytes::from_static(b"1"))?;
            s.get("x")
        })?;
        assert_eq!(got, Bytes::from_static(b"1"));
        Ok(())
    }

    #[test]
    fn opening_creates_nothing() -> TestResult {
        let dir = tempfile::tempdir()?;
        let missing = dir.path().join("not/yet");
        let s = Storage::open(&missing.display().to_string(), &StorageConfig::default())?;
        assert!(!missing.exists());
        assert!(s.list("")?.is_empty());
        assert!(s.list_dirs("")?.is_empty());
        assert!(s.get("_metadata").err().is_some_and(|e| e.is_not_found()));
        s.delete_all("")?;
        s.delete("x")?;
        assert!(!missing.exists());
        s.put("chk-1/_metadata", Bytes::from_static(b"m"))?;
        assert!(missing.join("chk-1/_metadata").is_file());
        Ok(())
    }

    #[test]
    fn list_and_list_dirs() -> TestResult {
        let (_dir, s) = temp_storage()?;
        for (path, len) in [
            ("job-1/chk-1/_metadata", 3),
            ("job-1/chk-1/state-0", 10),
            ("job-1/chk-2/_metadata", 4),
            ("job-2/x", 1),
        ] {
            s.put(path, Bytes::from(vec![7u8; len]))?;
        }
        assert_eq!(
            s.list("")?,
            vec![
                ("job-1/chk-1/_metadata".to_string(), 3),
                ("job-1/chk-1/state-0".to_string(), 10),
                ("job-1/chk-2/_metadata".to_string(), 4),
                ("job-2/x".to_string(), 1),
            ]
        );
        assert_eq!(
            s.list("job-1/chk-2")?,
            vec![("job-1/chk-2/_metadata".to_string(), 4)]
        );
        assert!(s.list("job-3")?.is_empty());
        assert!(s.list("job")?.is_empty(), "prefixes match whole segments");
        assert_eq!(s.list_dirs("")?, vec!["job-1", "job-2"]);
        assert_eq!(s.list_dirs("job-1")?, vec!["chk-1", "chk-2"]);
        assert!(s.list_dirs("job-2")?.is_empty());
        assert!(s.list_dirs("job-3")?.is_empty());

        let job = s.child("job-1/");
        assert_eq!(job.url(), format!("{}/job-1", s.url()));
        assert_eq!(
            job.list("")?,
            vec![
                ("chk-1/_metadata".to_string(), 3),
                ("chk-1/state-0".to_string(), 10),
                ("chk-2/_metadata".to_string(), 4),
            ]
        );
        assert_eq!(job.child("chk-1").get("state-0")?.len(), 10);
        assert_eq!(job.list_dirs("")?, vec!["chk-1", "chk-2"]);
        Ok(())
    }

    #[test]
    fn child_cannot_escape() -> TestResult {
        let (dir, s) = temp_storage()?;
        let escaped = s.child("../..");
        escaped.put("x", Bytes::from_static(b"1"))?;
        assert_eq!(
            tree(dir.path()),
            vec!["%2E%2E/", "%2E%2E/%2E%2E/", "%2E%2E/%2E%2E/x"]
        );
        Ok(())
    }

    #[test]
    fn delete_and_delete_all_remove_empty_directories() -> TestResult {
        let (dir, s) = temp_storage()?;
        for path in [
            "job-1/chk-1/a",
            "job-1/chk-1/b/c",
            "job-1/chk-2/a",
            "job-2/x",
            "top",
        ] {
            s.put(path, Bytes::from_static(b"1"))?;
        }
        s.delete("job-2/x")?;
        s.delete("job-2/x")?;
        s.delete("never/was")?;
        assert!(!dir.path().join("job-2").exists());

        s.delete_all("job-1/chk-1")?;
        assert_eq!(
            tree(dir.path()),
            vec!["job-1/", "job-1/chk-2/", "job-1/chk-2/a", "top"]
        );
        s.delete_all("job-1/chk-9")?;
        s.delete_all("top")?; // a prefix, not an object of that name
        assert!(s.head("top")?.is_some());

        s.child("job-1").delete_all("")?;
        assert_eq!(tree(dir.path()), vec!["top"]);

        s.put("job-3/a/b", Bytes::from_static(b"1"))?;
        s.delete_all("")?;
        assert!(dir.path().is_dir(), "the opened location itself stays");
        assert!(tree(dir.path()).is_empty());
        Ok(())
    }

    #[test]
    fn rename_moves_and_replaces() -> TestResult {
        let (dir, s) = temp_storage()?;
        s.put("tmp/_metadata.inprogress", Bytes::from_static(b"new"))?;
        s.put("chk-1/_metadata", Bytes::from_static(b"old"))?;
        s.rename("tmp/_metadata.inprogress", "chk-1/_metadata")?;
        assert_eq!(s.get("chk-1/_metadata")?, Bytes::from_static(b"new"));
        assert_eq!(s.head("tmp/_metadata.inprogress")?, None);
        assert!(!dir.path().join("tmp").exists());
        s.put("a", Bytes::from_static(b"a"))?;
        s.rename("a", "deep/er/b")?;
        assert_eq!(s.get("deep/er/b")?, Bytes::from_static(b"a"));
        let e = s.rename("missing", "x").err().ok_or("expected NotFound")?;
        assert!(e.is_not_found(), "{e:?}");
        Ok(())
    }

    #[test]
    fn put_if_absent_does_not_overwrite() -> TestResult {
        let (_dir, s) = temp_storage()?;
        assert!(s.put_if_absent("chk-1/_metadata", Bytes::from_static(b"first"))?);
        assert!(!s.put_if_absent("chk-1/_metadata", Bytes::from_static(b"second"))?);
        assert_eq!(s.get("chk-1/_metadata")?, Bytes::from_static(b"first"));
        Ok(())
    }

    #[test]
    fn writer_small_and_empty() -> TestResult {
        let (_dir, s) = temp_storage()?;
        let mut w = s.writer("out/part-0")?;
        w.write_all(b"hello ")?;
        w.write_all(b"world")?;
        w.flush()?;
        assert_eq!(s.head("out/part-0")?, None, "invisible before finish");
        assert_eq!(w.finish()?, 11);
        assert_eq!(s.get("out/part-0")?, Bytes::from_static(b"hello world"));
        assert_eq!(s.writer("empty")?.finish()?, 0);
        assert_eq!(s.head("empty")?, Some(0));
        Ok(())
    }

    #[test]
    fn writer_multipart() -> TestResult {
        let (dir, s) = temp_storage()?;
        // Several real parts plus a short last one, written in odd-sized chunks.
        let data = pattern(2 * PART_SIZE + 3 * 1024 * 1024 + 17);
        let mut w = s.writer("big/blob")?;
        for chunk in data.chunks(1024 * 1024 + 7) {
            w.write_all(chunk)?;
        }
        assert_eq!(s.head("big/blob")?, None, "invisible before finish");
        assert_eq!(w.finish()?, data.len() as u64);
        assert_eq!(s.get("big/blob")?.as_ref(), data.as_slice());
        assert_eq!(
            tree(dir.path()),
            vec!["big/", "big/blob"],
            "no staging files"
        );

        // Many tiny parts exercise the in-flight window.
        let data = pattern(100_003);
        let mut w = s.writer("small-parts")?.with_part_size(1000);
        w.write_all(&data)?;
        assert_eq!(w.finish()?, data.len() as u64);
        assert_eq!(s.get("small-parts")?.as_ref(), data.as_slice());
        Ok(())
    }

    #[test]
    fn dropped_writer_leaves_nothing() -> TestResult {
        let (dir, s) = temp_storage()?;
        let mut w = s.writer("a/b/unfinished")?.with_part_size(1000);
        w.write_all(&pattern(5_500))?;
        drop(w);
        let mut w = s.writer("c/buffered-only")?;
        w.write_all(b"abc")?;
        drop(w);
        assert!(tree(dir.path()).is_empty(), "{:?}", tree(dir.path()));
        assert!(s.list("")?.is_empty());
        Ok(())
    }
}

//! `Storage` against a real S3 server: the `s3s-fs` binary (an S3 API over a
//! local directory), started by each test on a free port of 127.0.0.1 and
//! killed when the test ends.
//!
//! The binary comes from `RIFFLE_S3S_FS`, else
//! `$HOME/.cache/riffle/s3s/bin/s3s-fs` (`.ci/install-s3s.sh` installs it
//! there; `RIFFLE_CACHE` replaces `$HOME/.cache/riffle`). Without it the tests print why they are skipped and pass, unless
//! `RIFFLE_REQUIRE_S3=1`, which makes a missing binary a failure (CI).
//!
//! s3s-fs keeps bucket `B` as the directory `ROOT/B`, so the harness creates
//! the bucket with `mkdir` (a `PUT /B` request works too).

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use riffle_common::config::StorageConfig;
use riffle_storage::{Error, Storage};

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

const ACCESS_KEY: &str = "riffle-test-access";
const SECRET_KEY: &str = "riffle-test-secret";
const BUCKET: &str = "riffle";

/// A running s3s-fs; killed on drop.
struct S3Server {
    child: Child,
    port: u16,
    root: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3Server {
    /// Starts s3s-fs with bucket [`BUCKET`], or `None` (with the reason printed)
    /// when the binary is missing and not required.
    fn start(test: &str) -> std::result::Result<Option<S3Server>, Box<dyn std::error::Error>> {
        let Some(bin) = s3s_binary() else {
            let why = "s3s-fs not found (set RIFFLE_S3S_FS or run .ci/install-s3s.sh)";
            if std::env::var("RIFFLE_REQUIRE_S3").is_ok_and(|v| v == "1") {
                return Err(format!("{why}, and RIFFLE_REQUIRE_S3=1").into());
            }
            // Straight to stderr: print!/eprint! output of a passing test is
            // captured by the harness and would hide the skip.
            let _ = writeln!(std::io::stderr(), "skipped {test}: {why}");
            return Ok(None);
        };
        let root = tempfile::tempdir()?;
        std::fs::create_dir(root.path().join(BUCKET))?;
        let data = root.path().display().to_string();
        let log = std::fs::File::create(root.path().join("s3s-fs.log"))?;
        let port = free_port()?;
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut server = S3Server { child, port, root };
        server.wait_until_listening()?;
        Ok(Some(server))
    }

    fn wait_until_listening(&mut self) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(format!("s3s-fs exited with {status}: {}", self.log()).into());
            }
            if Instant::now() > deadline {
                return Err(format!("s3s-fs did not listen within 20 s: {}", self.log()).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("s3s-fs.log")).unwrap_or_default()
    }

    /// The Flink keys that point a job at this server.
    fn config(&self, access: &str, secret: &str) -> StorageConfig {
        StorageConfig {
            s3_endpoint: Some(format!("http://127.0.0.1:{}", self.port)),
            s3_path_style_access: Some(true),
            s3_access_key: Some(access.into()),
            s3_secret_key: Some(secret.into()),
        }
    }
}

/// `RIFFLE_S3S_FS`, else where `.ci/install-s3s.sh` puts it (`RIFFLE_CACHE`,
/// default `$HOME/.cache/riffle`, then `/s3s/bin/s3s-fs`).
fn s3s_binary() -> Option<PathBuf> {
    let from_env = std::env::var_os("RIFFLE_S3S_FS").map(PathBuf::from);
    let cache = std::env::var_os("RIFFLE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/riffle")));
    let installed = cache.map(|c| c.join("s3s/bin/s3s-fs"));
    from_env.into_iter().chain(installed).find(|p| p.is_file())
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn s3_round_trip() -> TestResult {
    let Some(server) = S3Server::start("s3_round_trip")? else {
        return Ok(());
    };
    let s = Storage::open(
        &format!("s3://{BUCKET}/checkpoints/"),
        &server.config(ACCESS_KEY, SECRET_KEY),
    )?;
    assert_eq!(s.url(), format!("s3://{BUCKET}/checkpoints"));

    // put / get / head / NotFound
    s.put("job-1/chk-1/_metadata", Bytes::from_static(b"meta"))?;
    assert_eq!(s.get("job-1/chk-1/_metadata")?, Bytes::from_static(b"meta"));
    assert_eq!(s.head("job-1/chk-1/_metadata")?, Some(4));
    assert_eq!(s.head("job-1/chk-1/missing")?, None);
    let e = s.get("job-1/missing").err().ok_or("expected NotFound")?;
    assert!(e.is_not_found(), "{e:?}");
    assert!(
        e.to_string()
            .contains("s3://riffle/checkpoints/job-1/missing")
    );
    // The object sits under the prefix in the bucket.
    assert!(
        server
            .root
            .path()
            .join(BUCKET)
            .join("checkpoints/job-1/chk-1/_metadata")
            .is_file()
    );

    // list / list_dirs / child
    s.put("job-1/chk-1/state-0", Bytes::from(vec![1u8; 10]))?;
    s.put("job-1/chk-2/_metadata", Bytes::from_static(b"m2"))?;
    s.put("job-2/x", Bytes::from_static(b"x"))?;
    assert_eq!(
        s.list("")?,
        vec![
            ("job-1/chk-1/_metadata".to_string(), 4),
            ("job-1/chk-1/state-0".to_string(), 10),
            ("job-1/chk-2/_metadata".to_string(), 2),
            ("job-2/x".to_string(), 1),
        ]
    );
    assert_eq!(s.list_dirs("")?, vec!["job-1", "job-2"]);
    assert_eq!(s.list_dirs("job-1")?, vec!["chk-1", "chk-2"]);
    assert!(s.list("job-9")?.is_empty());
    let job = s.child("job-1");
    assert_eq!(job.url(), format!("s3://{BUCKET}/checkpoints/job-1"));
    assert_eq!(job.list("chk-2")?, vec![("chk-2/_metadata".to_string(), 2)]);

    // put_if_absent (If-None-Match: *)
    assert!(s.put_if_absent("job-1/lock", Bytes::from_static(b"a"))?);
    assert!(!s.put_if_absent("job-1/lock", Bytes::from_static(b"b"))?);
    assert_eq!(s.get("job-1/lock")?, Bytes::from_static(b"a"));

    // rename (copy + delete)
    s.put("job-1/tmp/_metadata.inprogress", Bytes::from_static(b"new"))?;
    s.rename("job-1/tmp/_metadata.inprogress", "job-1/chk-2/_metadata")?;
    assert_eq!(s.get("job-1/chk-2/_metadata")?, Bytes::from_static(b"new"));
    assert_eq!(s.head("job-1/tmp/_metadata.inprogress")?, None);
    assert!(
        s.rename("nope", "x")
            .err()
            .is_some_and(|e| e.is_not_found())
    );

    // writer: a small object (one put) and a multi-MB one (multipart upload)
    let mut w = s.writer("sink/part-0")?;
    w.write_all(b"hello")?;
    assert_eq!(w.finish()?, 5);
    assert_eq!(s.get("sink/part-0")?, Bytes::from_static(b"hello"));
    let big = pattern(20 * 1024 * 1024 + 123);
    let mut w = s.writer("sink/part-1")?;
    for chunk in big.chunks(3 * 1024 * 1024 + 1) {
        w.write_all(chunk)?;
    }
    assert_eq!(s.head("sink/part-1")?, None, "invisible before finish");
    assert_eq!(w.finish()?, big.len() as u64);
    assert_eq!(s.get("sink/part-1")?.as_ref(), big.as_slice());
    assert_eq!(s.head("sink/part-1")?, Some(big.len() as u64));

    // a dropped writer aborts its multipart upload: no object appears
    let mut w = s.writer("sink/part-2")?;
    w.write_all(&big)?;
    drop(w);
    assert_eq!(s.head("sink/part-2")?, None);
    assert_eq!(s.list("sink")?.len(), 2);

    // delete / delete_all
    s.delete("job-2/x")?;
    s.delete("job-2/x")?;
    assert!(s.list_dirs("")?.iter().all(|d| d != "job-2"));
    s.delete_all("job-1/chk-1")?;
    assert_eq!(s.list_dirs("job-1")?, vec!["chk-2"]);
    s.delete_all("")?;
    s.delete_all("")?;
    assert!(s.list("")?.is_empty());
    Ok(())
}

#[test]
fn s3_wrong_credentials_fail_clearly() -> TestResult {
    let Some(server) = S3Server::start("s3_wrong_credentials_fail_clearly")? else {
        return Ok(());
    };
    let good = Storage::open(
        &format!("s3://{BUCKET}/p"),
        &server.config(ACCESS_KEY, SECRET_KEY),
    )?;
    good.put("x", Bytes::from_static(b"1"))?;
    for (access, secret) in [(ACCESS_KEY, "wrong-secret"), ("unknown-key", SECRET_KEY)] {
        let s = Storage::open(&format!("s3://{BUCKET}/p"), &server.config(access, secret))?;
        let failures = [
            s.put("y", Bytes::from_static(b"1")).err(),
            s.get("x").err(),
            s.list("").err(),
            s.writer("z")?.finish().err(),
        ];
        for e in failures {
            let e = e.ok_or("expected an error")?;
            assert!(matches!(e, Error::Auth { .. }), "{access}/{secret}: {e:?}");
            let text = e.to_string();
            for key in ["s3.access-key", "s3.secret-key", "s3.endpoint"] {
                assert!(text.contains(key), "{text}");
            }
        }
    }
    Ok(())
}

#[test]
fn s3_unreachable_endpoint_is_reported() -> TestResult {
    // No server needed: nothing listens on the port. object_store retries the
    // connection (10 times with a short backoff, about 2 s) before giving up.
    let c = StorageConfig {
        s3_endpoint: Some(format!("http://127.0.0.1:{}", free_port()?)),
        s3_path_style_access: Some(true),
        s3_access_key: Some(ACCESS_KEY.into()),
        s3_secret_key: Some(SECRET_KEY.into()),
    };
    let s = Storage::open("s3://bucket/p", &c)?;
    let e = s.head("x").err().ok_or("expected an error")?;
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("s3.endpoint"), "{e}");
    Ok(())
}

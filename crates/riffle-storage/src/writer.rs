//! [`BlobWriter`]: a blocking [`std::io::Write`] that streams one object.
//!
//! Protocol: bytes collect in a buffer; a writer that never fills one part
//! ([`PART_SIZE`]) stores its object with a single put in [`BlobWriter::finish`].
//! When the buffer fills, a multipart upload starts and each full buffer
//! becomes a part, uploaded on the storage runtime while the caller keeps
//! writing; at most [`MAX_PARTS_IN_FLIGHT`] parts are in flight, so memory stays
//! bounded at `(1 + MAX_PARTS_IN_FLIGHT) * PART_SIZE`. `finish` uploads the last
//! part and completes the upload, which is when the object becomes visible
//! (all at once). A writer dropped before `finish` aborts the upload and leaves
//! nothing behind. After a failed write the writer only reports that failure.
//!
//! On a local location the same protocol writes a hidden staging file that
//! `finish` renames into place.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::mpsc::Receiver;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStoreExt, PutPayload};

use crate::runtime::{block_on, spawn, task_died};
use crate::storage::Storage;
use crate::{Error, Result};

/// Bytes per uploaded part. S3 needs at least 5 MiB for every part but the
/// last and allows 10,000 parts, so objects up to about 80 GB fit.
pub(crate) const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploading concurrently while the caller fills the next one.
const MAX_PARTS_IN_FLIGHT: usize = 2;

/// Streams one object to a [`Storage`]; created by [`Storage::writer`].
///
/// Nothing is visible until [`BlobWriter::finish`] returns; dropping the
/// writer instead aborts the upload. `flush` does nothing: durability comes
/// with `finish` only. Dropping blocks until the abort is done.
pub struct BlobWriter {
    /// Where the object goes (and whose client uploads it).
    storage: Storage,
    /// The path as the caller gave it, for messages.
    rel: String,
    /// The resolved object path.
    location: Path,
    /// Bytes not yet handed to an upload.
    buf: Vec<u8>,
    /// Size of a full part.
    part_size: usize,
    /// The multipart upload, once the first part was sent.
    upload: Option<Box<dyn MultipartUpload>>,
    /// Results of the parts being uploaded, oldest first.
    in_flight: VecDeque<Receiver<object_store::Result<()>>>,
    /// Bytes accepted by `write` so far.
    written: u64,
    /// The first failure; every later call reports it.
    failed: Option<Error>,
    /// Set by a successful `finish`: nothing to abort on drop.
    finished: bool,
}

impl fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobWriter")
            .field("path", &self.storage.display(&self.rel))
            .field("written", &self.written)
            .field("multipart", &self.upload.is_some())
            .finish()
    }
}

impl BlobWriter {
    pub(crate) fn new(storage: Storage, rel: String, location: Path) -> Self {
        BlobWriter {
            storage,
            rel,
            location,
            buf: Vec::new(),
            part_size: PART_SIZE,
            upload: None,
            in_flight: VecDeque::new(),
            written: 0,
            failed: None,
            finished: false,
        }
    }

    /// Makes the object visible and returns its size in bytes.
    pub fn finish(mut self) -> Result<u64> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let rel = self.rel.clone();
        match self.upload.take() {
            None => {
                let bytes = Bytes::from(std::mem::take(&mut self.buf));
                self.storage
                    .put_path("write", &rel, self.location.clone(), bytes)?;
            }
            Some(mut upload) => {
                if !self.buf.is_empty() {
                    let last = Bytes::from(std::mem::take(&mut self.buf));
                    match spawn(upload.put_part(PutPayload::from(last))) {
                        Ok(rx) => self.in_flight.push_back(rx),
                        Err(e) => {
                            self.upload = Some(upload);
                            return Err(e);
                        }
                    }
                }
                if let Err(e) = self.wait_all() {
                    self.upload = Some(upload);
                    return Err(e);
                }
                let (upload, done) = block_on(async move {
                    let done = upload.complete().await;
                    (upload, done)
                })?;
                if let Err(e) = done {
                    self.upload = Some(upload);
                    return Err(self.storage.error("write", &rel, e));
                }
            }
        }
        self.finished = true;
        Ok(self.written)
    }

    /// Hands a full part to the upload, starting the upload first if needed.
    fn send_part(&mut self, part: Vec<u8>) -> Result<()> {
        let upload = match &mut self.upload {
            Some(upload) => upload,
            None => {
                let loc = self.location.clone();
                let started = self
                    .storage
                    .call(move |s| async move { s.put_multipart(&loc).await })?
                    .map_err(|e| self.storage.error("write", &self.rel, e))?;
                self.upload.insert(started)
            }
        };
        let part = upload.put_part(PutPayload::from(Bytes::from(part)));
        while self.in_flight.len() >= MAX_PARTS_IN_FLIGHT {
            self.wait_oldest()?;
        }
        self.in_flight.push_back(spawn(part)?);
        Ok(())
    }

    /// Waits for the oldest part in flight.
    fn wait_oldest(&mut self) -> Result<()> {
        let Some(rx) = self.in_flight.pop_front() else {
            return Ok(());
        };
        rx.recv()
            .map_err(|_| task_died())?
            .map_err(|e| self.storage.error("write", &self.rel, e))
    }

    /// Waits for every part in flight.
    fn wait_all(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.wait_oldest()?;
        }
        Ok(())
    }

    /// Records the first failure and turns it into an `io::Error`.
    fn fail(&mut self, e: Error) -> io::Error {
        let err = io::Error::other(e.to_string());
        self.failed.get_or_insert(e);
        err
    }

    #[cfg(test)]
    pub(crate) fn with_part_size(mut self, part_size: usize) -> Self {
        self.part_size = part_size.max(1);
        self
    }
}

impl io::Write for BlobWriter {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(io::Error::other(e.to_string()));
        }
        let len = data.len();
        while !data.is_empty() {
            let n = (self.part_size - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == self.part_size {
                let part = std::mem::replace(&mut self.buf, Vec::with_capacity(self.part_size));
                if let Err(e) = self.send_part(part) {
                    return Err(self.fail(e));
                }
            }
        }
        self.written += len as u64;
        Ok(len)
    }

    /// Does nothing: an object becomes durable and visible in `finish` only.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for BlobWriter {
    /// Aborts an unfinished multipart upload (after its parts in flight).
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Some(upload) = self.upload.take() else {
            return;
        };
        while let Some(rx) = self.in_flight.pop_front() {
            let _ = rx.recv();
        }
        let _ = block_on(async move {
            let mut upload = upload;
            upload.abort().await
        });
        self.storage.prune_empty_parents(&self.location);
    }
}

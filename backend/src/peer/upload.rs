//! Files handed to us by our own user through the dashboard: an upload streamed into the store
//! under `--max-file-size` and published as ours, and our copy of a file opened for download.
//! Nothing here knows HTTP: the API hands in a stream of chunks and gets a file back.

use super::Peer;
use crate::protocol::FileMeta;
use futures_util::{Stream, StreamExt};
use std::collections::BTreeMap;
use std::fmt;

/// Why an upload was not kept. `E` is the error of the stream that carried the content.
#[derive(Debug, thiserror::Error)]
pub enum UploadError<E> {
    /// The name (trimmed) is not a plain file name of at most `--max-name-len` bytes.
    #[error("{0}")]
    Name(shared::NameRefusal),
    /// The content passed `--max-file-size` bytes.
    #[error("file larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// The stream of content failed.
    #[error("the upload failed: {0}")]
    Body(E),
    /// The disk holding the storage folder is full (or our quota on it).
    #[error("the disk of the storage folder is full")]
    DiskFull,
    /// The file was stored, but the index took another file in its place meanwhile (the same
    /// content and timestamp from another peer, landed at that moment), or no timestamp tried
    /// gave an id not taken (the same content uploaded several times at once); adding it
    /// again works.
    #[error("{0}")]
    Conflict(String),
    /// The store could not take the file.
    #[error("{0}")]
    Store(String),
}

impl<E> UploadError<E> {
    /// Why the store could not take the file.
    pub(super) fn store(e: std::io::Error) -> Self {
        use std::io::ErrorKind::{AlreadyExists, QuotaExceeded, StorageFull};
        match e.kind() {
            StorageFull | QuotaExceeded => UploadError::DiskFull,
            // `Store::commit_owned` found the id of each timestamp it tried taken: by uploads
            // of the same content landing at the same moment (four at once are enough), or by
            // a copy stamped ahead of our clock. The next seconds are free a moment later.
            AlreadyExists => UploadError::Conflict(format!("{e}; add it again")),
            _ => UploadError::Store(format!("could not store: {e}")),
        }
    }
}

/// Our stored copy of a file, open for reading.
pub struct OpenCopy {
    /// The file's description.
    pub meta: FileMeta,
    /// The content, at its start.
    pub file: tokio::fs::File,
    /// The content's length in bytes.
    pub len: u64,
}

/// Why our copy cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// We hold no copy of that id.
    #[error("we hold no copy of {0}")]
    NotHeld(String),
    /// The copy is recorded but could not be opened.
    #[error("could not open our copy of {0}: {1}")]
    Io(String, std::io::Error),
}

impl Peer {
    /// Stores the content `chunks` yields as a new file of ours named `file_name` (trimmed),
    /// then publishes it (one push, ANNOUNCE to all). The content goes to a temporary file as
    /// it arrives, so memory does not grow with it; past `--max-file-size` the upload stops at
    /// once. Nothing is kept unless the whole upload succeeds. A refused name is told after
    /// the content is read (and dropped), so that a client still sending gets the answer.
    pub async fn upload<S, B, E>(
        &self,
        file_name: &str,
        chunks: S,
    ) -> Result<FileMeta, UploadError<E>>
    where
        S: Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
        E: fmt::Display,
    {
        let name = file_name.trim();
        let max = self.config().limits.max_file;
        let mut chunks = std::pin::pin!(chunks);
        if let Some(refusal) = shared::name_refusal(name, self.config().caps.max_name) {
            drain(chunks, max).await;
            return Err(UploadError::Name(refusal));
        }
        let mut temp = match self.store().temp_file().await {
            Ok(temp) => temp,
            Err(e) => {
                drain(chunks, max).await;
                return Err(UploadError::store(e));
            }
        };
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(UploadError::Body)?;
            let chunk = chunk.as_ref();
            if temp.len() + chunk.len() as u64 > max {
                return Err(UploadError::TooLarge(max));
            }
            if let Err(e) = temp.write(chunk).await {
                let left = max - temp.len();
                drop(temp); // the partial file goes first, and the room it took with it
                drain(chunks, left).await;
                return Err(UploadError::store(e));
            }
        }
        self.push_upload(temp, name).await
    }

    /// Our copy of `file_id`, opened for reading.
    pub async fn open_copy(&self, file_id: &str) -> Result<OpenCopy, OpenError> {
        let (meta, stored_as) = self
            .held_copy(file_id)
            .ok_or_else(|| OpenError::NotHeld(file_id.to_string()))?;
        let (file, len) = match self.store().open_file(&stored_as).await {
            Ok(opened) => opened,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let what = "is gone from the storage folder: not held any more";
                self.copy_gone(file_id, &stored_as, what);
                return Err(OpenError::NotHeld(file_id.to_string()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                let what = "changed in the storage folder: hashed again before it is offered";
                // Hashed once, by the read that found it changed first.
                if self.copy_gone(file_id, &stored_as, what) {
                    let fits = BTreeMap::from([(stored_as.clone(), vec![meta])]);
                    let peer = self.clone();
                    self.spawn(async move { peer.adopt_found(vec![stored_as], fits).await });
                }
                return Err(OpenError::NotHeld(file_id.to_string()));
            }
            Err(e) => return Err(OpenError::Io(file_id.to_string(), e)),
        };
        if !self.still_held_as(file_id, &stored_as) {
            return Err(OpenError::NotHeld(file_id.to_string()));
        }
        Ok(OpenCopy { meta, file, len })
    }
}

/// Reads and drops the rest of an upload that failed on our side, up to `max` bytes: a
/// client still sending when the answer comes and the connection closes may see only a reset
/// connection, not the answer. (An upload over the size limit is not read further: the
/// dashboard refuses those before sending.)
async fn drain<B: AsRef<[u8]>, E>(
    mut chunks: std::pin::Pin<&mut impl Stream<Item = Result<B, E>>>,
    max: u64,
) {
    let mut read = 0u64;
    while let Some(Ok(chunk)) = chunks.next().await {
        read += chunk.as_ref().len() as u64;
        if read > max {
            return;
        }
    }
}

#[cfg(test)]
#[path = "upload_tests.rs"]
mod tests;

//! The hashing and the writing of a temporary file's content, each on its own blocking thread,
//! while the caller produces the next piece (typically: reads and hex-decodes the socket).
//!
//! A piece goes caller → hasher → writer and comes back to the caller empty, to be filled
//! again: a few buffers circulate and none is allocated per piece. The channels are bounded by
//! the number of buffers, so a slow disk or a slow hash holds the caller back instead of
//! growing memory. SHA-256 is the largest cost of a transfer, so its thread must never wait
//! for a disk write or a socket read; it only waits when the caller is slower than it.

use super::direct::{Piece, Writer};
use super::spent::{Spent, Step};
use crate::protocol::IdHasher;
use std::io;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The content bytes of one piece, at least (the caller may overshoot by one read).
pub const PIECE: usize = 512 << 10;
/// The buffers the pipeline hands out; with the caller's first one, one is being filled while
/// the others are hashed or written.
const BUFFERS: usize = 6;

/// Two threads working on one temporary file.
pub(super) struct Pipeline {
    to_hash: mpsc::Sender<Piece>,
    free: mpsc::Receiver<Vec<u8>>,
    /// Buffers handed out so far (at most `BUFFERS`).
    made: usize,
    hashed: JoinHandle<IdHasher>,
    written: JoinHandle<(Writer, io::Result<()>)>,
}

impl Pipeline {
    /// Starts the two threads, continuing `hasher` and appending to `file`, and counting their
    /// work in `spent`.
    pub(super) fn start(mut hasher: IdHasher, mut file: Writer, spent: Arc<Spent>) -> Pipeline {
        let (to_hash, mut hash_queue) = mpsc::channel::<Piece>(BUFFERS);
        let (to_write, mut write_queue) = mpsc::channel::<Piece>(BUFFERS);
        let (to_free, free) = mpsc::channel::<Vec<u8>>(BUFFERS);
        let spent_writing = spent.clone();
        let hashed = tokio::task::spawn_blocking(move || {
            while let Some(piece) = hash_queue.blocking_recv() {
                spent.timed(Step::Hash, || hasher.update(piece.content()));
                if to_write.blocking_send(piece).is_err() {
                    break;
                }
            }
            hasher
        });
        let written = tokio::task::spawn_blocking(move || {
            while let Some(piece) = write_queue.blocking_recv() {
                if let Err(e) = spent_writing.timed(Step::Write, || file.write(piece.content())) {
                    // Closing the queue stops the hasher, and then the caller.
                    return (file, Err(e));
                }
                // The caller may have finished and gone; the buffer is then simply freed.
                let _ = to_free.try_send(piece.into_buf());
            }
            (file, Ok(()))
        });
        Pipeline {
            to_hash,
            free,
            made: 0,
            hashed,
            written,
        }
    }

    /// An empty piece for content from offset `at` of the file on, in a new buffer while
    /// fewer than `BUFFERS` exist, else in the next one written. `None` when a thread stopped
    /// (see [`Pipeline::finish`]).
    pub(super) async fn piece(&mut self, at: u64) -> Option<Piece> {
        let buf = match self.free.try_recv() {
            Ok(buf) => buf,
            Err(_) if self.made < BUFFERS => {
                self.made += 1;
                Vec::new()
            }
            Err(_) => self.free.recv().await?,
        };
        Some(Piece::for_offset(buf, PIECE, at))
    }

    /// Hands a piece over to be hashed, then written. `Err` when a thread stopped.
    pub(super) async fn send(&mut self, piece: Piece) -> Result<(), ()> {
        self.to_hash.send(piece).await.map_err(|_| ())
    }

    /// Waits until every piece sent is hashed and written; returns the hash so far and the
    /// file, or the error that stopped the writer.
    pub(super) async fn finish(self) -> io::Result<(IdHasher, Writer)> {
        drop(self.to_hash);
        let hasher = self.hashed.await.map_err(io::Error::other)?;
        let (file, outcome) = self.written.await.map_err(io::Error::other)?;
        outcome?;
        Ok((hasher, file))
    }
}

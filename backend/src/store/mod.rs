//! The storage folder and `metadata.json`: the only code that writes, renames or deletes in
//! it (`net` reads the copies it sends through files this module opens; `main` creates the
//! folder and its log file, and `peer demo` its sample files).
//!
//! Invariants: every write is atomic (a hidden temporary file in the folder, renamed into place
//! only when complete and, for received files, verified); a file lands under a content name
//! only after its commit journal is durable (see [`journal`]), so a crash at any instant never
//! turns a received file into one of ours; a stored file is never overwritten (two files with
//! the same name both survive under different names); names from the network never become
//! paths and never take a name reserved for our own files (see [`names`]); a corrupt
//! `metadata.json` is set aside, never lost. Every call that touches the disk from the async
//! side runs on tokio's blocking threads.

mod direct;
mod journal;
mod metadata;
mod names;
mod open;
mod pipeline;
mod spent;
pub mod tombstones;

pub use direct::Piece;
pub use journal::PREFIX as JOURNAL_PREFIX;
use metadata::StoredEntry;
pub use metadata::{parse_index, EntryCaps, Fingerprint, IndexEntry};
pub use names::is_reserved;
pub use open::{lock_folder, OpenReport};
use pipeline::Pipeline;
pub use pipeline::PIECE;
pub use spent::{Spent, Step};

use crate::protocol::{FileMeta, IdHasher, Verbatim};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const METADATA: &str = "metadata.json";
/// Prefix of temporary files; hidden, so a rescan never mistakes them for content.
pub const TEMP_PREFIX: &str = ".tmp-";
/// The log file's name (hidden for the same reason).
pub const LOG_FILE: &str = ".peer.log";
/// How many names a commit tries before giving up (only reached when the folder is unusable).
const NAME_TRIES: usize = 10_000;

/// The storage folder. Cheap to clone; methods are safe to call concurrently.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    /// The folder's lock (see `open::lock_folder`), until [`Store::release`].
    lock: Mutex<Option<std::fs::File>>,
    /// Files landed but not yet in a saved `metadata.json`, by stored name. Locked while a
    /// name is chosen and renamed into, so two commits never collide and a name whose journal
    /// is still live is never reused.
    pending: Mutex<HashMap<String, Pending>>,
    /// Stored names whose entries have left the index but whose files may still be on disk.
    /// A save removes them before it writes an index without them: a file on disk that
    /// `metadata.json` does not describe would be taken for a new file of ours at the next
    /// start. Locked after `pending`, and a name in it is never chosen for a new file.
    removing: Mutex<HashSet<String>>,
    /// Serialises writes of `metadata.json`, so a save still running when its task was
    /// stopped cannot replace the final one made at shutdown. It holds the index that the
    /// last successful save wrote (none before the first, or after a failure that may have
    /// left the file anything), so that a save of the same index writes nothing: a stranger's
    /// DELETE of an unknown id changes only the tombstones, and must not cost a rewrite of
    /// an index of 10,000 entries. Kept whole rather than as a hash, so that "unchanged" is
    /// exact; it is the snapshot the save took anyway, about the size of the index.
    saving: Mutex<Option<Vec<IndexEntry>>>,
    /// The fingerprints of our copies, by stored name, as `metadata.json` keeps them.
    copies: Mutex<HashMap<String, Fingerprint>>,
    spent: Arc<Spent>,
    /// Saves of the index that wrote `metadata.json`, that failed, and that found it already
    /// up to date.
    saves: [AtomicU64; 3],
}

/// What a successful save did.
enum Saved {
    Written,
    /// `metadata.json` already held this index.
    Unchanged,
}

struct Pending {
    journal: PathBuf,
    file_id: String,
}

/// A file being received or imported: written to a hidden temporary file and hashed on the way.
/// Dropped without [`Store::commit`], it is deleted.
///
/// Content is gathered into pieces of about [`pipeline::PIECE`] bytes, each hashed and then
/// written on blocking threads while the caller produces the next ones; a write waits only
/// when every buffer is in use. An error of the writer shows on a later call.
pub struct TempFile {
    path: PathBuf,
    /// Here while no pipeline runs.
    file: Option<direct::Writer>,
    /// The hash so far, here while no pipeline runs.
    hasher: Option<IdHasher>,
    /// Started by the first write, finished before the hash or the file is needed.
    pipeline: Option<Pipeline>,
    spent: Arc<Spent>,
    /// Content not handed to the pipeline yet.
    filling: Option<Piece>,
    len: u64,
    committed: bool,
}

fn interrupted() -> io::Error {
    io::Error::other("an earlier write to the temporary file was interrupted")
}

impl TempFile {
    /// Appends content.
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut filling = match self.filling.take() {
            Some(piece) => piece,
            None => self.piece(self.len).await?,
        };
        filling.buf().extend_from_slice(bytes);
        self.len += bytes.len() as u64;
        if filling.len() >= pipeline::PIECE {
            self.send(filling).await
        } else {
            self.filling = Some(filling);
            Ok(())
        }
    }

    /// Appends the content of `piece` and leaves an empty piece in its place, ready for what
    /// follows. A large piece placed for its offset (as the ones left here are) is handed on
    /// as it is, the rest copied.
    pub async fn write_piece(&mut self, piece: &mut Piece) -> io::Result<()> {
        let large = piece.len() >= pipeline::PIECE / 2;
        if !large || self.filling.is_some() || !piece.fits(self.len) {
            self.write(piece.content()).await?;
            // A large piece is sent now, so that the next one, placed here, can go as it is.
            if large {
                if let Some(filling) = self.filling.take() {
                    self.send(filling).await?;
                }
            }
            let buf = std::mem::take(piece).into_buf();
            *piece = Piece::for_offset(buf, pipeline::PIECE, self.len);
            return Ok(());
        }
        let at = self.len + piece.len() as u64;
        let next = self.piece(at).await?;
        self.len = at;
        self.send(std::mem::replace(piece, next)).await
    }

    /// The running pipeline, started if need be.
    fn pipeline(&mut self) -> io::Result<&mut Pipeline> {
        if self.pipeline.is_none() {
            let (Some(file), Some(hasher)) = (self.file.take(), self.hasher.take()) else {
                return Err(interrupted());
            };
            self.pipeline = Some(Pipeline::start(hasher, file, self.spent.clone()));
        }
        Ok(self.pipeline.as_mut().expect("started above"))
    }

    /// An empty piece for content from offset `at` on.
    async fn piece(&mut self, at: u64) -> io::Result<Piece> {
        match self.pipeline()?.piece(at).await {
            Some(piece) => Ok(piece),
            None => Err(self.broken().await),
        }
    }

    /// Hands `piece` to the pipeline.
    async fn send(&mut self, piece: Piece) -> io::Result<()> {
        if self.pipeline()?.send(piece).await.is_err() {
            return Err(self.broken().await);
        }
        Ok(())
    }

    /// Why the pipeline stopped early.
    async fn broken(&mut self) -> io::Error {
        match self.pipeline.take() {
            Some(pipeline) => match pipeline.finish().await {
                Err(e) => e,
                Ok(_) => interrupted(),
            },
            None => interrupted(),
        }
    }

    /// Waits until everything written is hashed and on its way to the disk.
    async fn settle(&mut self) -> io::Result<()> {
        if let Some(filling) = self.filling.take() {
            self.send(filling).await?;
        }
        // Taken before the wait: a cancelled wait loses the content, and later calls fail
        // (a transfer that is cancelled drops its temporary file anyway).
        if let Some(pipeline) = self.pipeline.take() {
            let (hasher, file) = pipeline.finish().await?;
            self.hasher = Some(hasher);
            self.file = Some(file);
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The id of what was written, announced with `timestamp`, once every write is done.
    pub async fn file_id(&mut self, timestamp: &Verbatim) -> io::Result<String> {
        self.settle().await?;
        let hasher = self.hasher.clone().ok_or_else(interrupted)?;
        Ok(hasher.finish(timestamp))
    }

    /// Waits for every write, then makes the content durable.
    async fn sync(&mut self) -> io::Result<()> {
        self.settle().await?;
        let mut file = self.file.take().ok_or_else(interrupted)?;
        let spent = self.spent.clone();
        let (file, synced) = blocking(move || {
            let synced = spent.timed(Step::Sync, || file.sync());
            Ok((file, synced))
        })
        .await?;
        self.file = Some(file);
        synced
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // Synchronous: a drop cannot wait, and a removal sent elsewhere could outlive the
        // transfer that reports it finished. It is one unlink of a file nobody else knows.
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// How many seconds [`Store::commit_owned`] tries for an id not yet taken.
const OWNED_ID_TRIES: u32 = 3;
/// How many seconds from its modification time [`Store::adopt`] tries for a found file's id:
/// copies of one file in a folder often share it (`cp -p`, an archive unpacked).
const ADOPTED_ID_TRIES: u64 = 64;

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes the folder's entries (a rename, a new file) durable, not only the files' bytes.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Runs filesystem work on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

/// An error that says what failed, naming the file, before its cause.
fn failed(what: String) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl Store {
    fn path(&self, name: &str) -> PathBuf {
        self.inner.dir.join(name)
    }

    /// Hashes a file found in the folder (one of [`OpenReport::to_adopt`]) into the entry of
    /// the first of `candidates` whose id its content has, else into a new entry owned by
    /// `owner`, timestamped with its integer mtime, so the same file gets the same id again
    /// after a restart; a hidden file that fits no candidate is an error. What the file is
    /// like as it is read is recorded (see [`Fingerprint`]).
    pub async fn adopt(
        &self,
        name: &str,
        owner: &str,
        candidates: Vec<FileMeta>,
        held: impl Fn(&str) -> bool + Send + 'static,
    ) -> io::Result<IndexEntry> {
        let (store, name, owner) = (self.clone(), name.to_string(), owner.to_string());
        blocking(move || store.adopt_now(&name, &owner, candidates, held)).await
    }

    fn adopt_now(
        &self,
        name: &str,
        owner: &str,
        candidates: Vec<FileMeta>,
        held: impl Fn(&str) -> bool,
    ) -> io::Result<IndexEntry> {
        let path = self.path(name);
        let mut file = std::fs::File::open(&path)?;
        // Taken before the content is read: a change while it is read shows at the next check.
        let print = Fingerprint::of(&file.metadata()?)?;
        let mtime = print.mtime_secs();
        let mut hasher = IdHasher::default();
        let mut buf = vec![0; 256 * 1024];
        let mut len = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        lock(&self.inner.copies).insert(name.to_string(), print);
        let known = candidates
            .into_iter()
            .find(|c| hasher.clone().finish(&c.file_timestamp) == c.file_id);
        if let Some(meta) = known {
            return Ok(IndexEntry {
                meta,
                holders: Vec::new(),
                stored_as: Some(name.to_string()),
            });
        }
        // A hidden file (`.env`) is looked at only because an entry names it: never offered
        // as a new file of ours.
        if names::is_reserved(name) {
            return Err(io::Error::other(
                "a hidden file is indexed only as the file an entry says it is, and its \
                 content is not that file",
            ));
        }
        // A copy of a file held already (the same content, modified in the same second) gets
        // the next free second, as a file added twice does.
        let (timestamp, file_id) = (mtime..mtime.saturating_add(ADOPTED_ID_TRIES))
            .map(|at| {
                let timestamp = Verbatim::integer(at);
                let id = hasher.clone().finish(&timestamp);
                (timestamp, id)
            })
            .find(|(_, id)| !held(id))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "the same content is already held under each of the next timestamps",
                )
            })?;
        Ok(IndexEntry {
            meta: FileMeta {
                file_id,
                file_name: name.to_string(),
                file_size: size_in_mb(len),
                file_owner: owner.to_string(),
                file_timestamp: timestamp,
            },
            holders: Vec::new(),
            stored_as: Some(name.to_string()),
        })
    }

    /// Writes the index that `snapshot` gives to `metadata.json` atomically and durably, then
    /// deletes the journals of the files it lists. One save at a time, and the snapshot is
    /// taken once it is this save's turn, so an older index never overwrites a newer one.
    /// Blocking: call it from a blocking thread.
    ///
    /// When the index is the one the last successful save wrote, `metadata.json` is left as
    /// it is (copies queued for removal are still deleted, and journals still forgotten).
    pub fn save(&self, snapshot: impl FnOnce() -> Vec<IndexEntry>) -> io::Result<()> {
        self.save_cut(|| (snapshot(), self.queued_removals()))
    }

    /// [`Store::save`] of an index taken together with the copies it no longer lists (see
    /// [`Store::queued_removals`]): only those are deleted before it is written. A copy
    /// queued later waits for the save of an index that has not listed it either.
    pub fn save_cut(&self, cut: impl FnOnce() -> (Vec<IndexEntry>, Vec<String>)) -> io::Result<()> {
        let saved = self.save_now(cut);
        let outcome = match &saved {
            Ok(Saved::Written) => 0,
            Err(_) => 1,
            Ok(Saved::Unchanged) => 2,
        };
        self.inner.saves[outcome].fetch_add(1, Ordering::Relaxed);
        saved.map(drop)
    }

    /// How many saves of the index wrote `metadata.json`, and how many failed, since the
    /// store opened.
    pub fn saves(&self) -> (u64, u64) {
        let [written, failed, _] = self
            .inner
            .saves
            .each_ref()
            .map(|n| n.load(Ordering::Relaxed));
        (written, failed)
    }

    /// How many saves of the index found `metadata.json` up to date and wrote nothing.
    pub fn saves_unchanged(&self) -> u64 {
        self.inner.saves[2].load(Ordering::Relaxed)
    }

    fn save_now(&self, cut: impl FnOnce() -> (Vec<IndexEntry>, Vec<String>)) -> io::Result<Saved> {
        let mut last = lock(&self.inner.saving);
        let (index, removing) = cut();
        for name in removing {
            // Failing, the save does not happen: the index on disk keeps the entry, and the
            // copy is deleted at a later save.
            self.remove_now(&name)?;
        }
        // Equal snapshots serialise to equal bytes. The peer's snapshots come in file id
        // order, so an unchanged index compares equal entry by entry.
        if last.as_ref() == Some(&index) {
            // metadata.json lists every entry durably already: their journals can go.
            self.forget_journals_listed_in(&index);
            return Ok(Saved::Unchanged);
        }
        let copies = lock(&self.inner.copies);
        let map: BTreeMap<&str, StoredEntry> = index
            .iter()
            .map(|entry| {
                let print = entry
                    .stored_as
                    .as_ref()
                    .and_then(|n| copies.get(n))
                    .copied();
                let stored = StoredEntry::from(entry.clone()).fingerprinted(print);
                (entry.meta.file_id.as_str(), stored)
            })
            .collect();
        drop(copies);
        let json = serde_json::to_vec_pretty(&map).map_err(io::Error::other)?;
        drop(map);
        // Forgotten until this save succeeds: a failed one may have renamed the new file into
        // place without making it durable.
        *last = None;
        // The journals go only once the new metadata.json itself is durable.
        self.replace_durably(METADATA, &json)?;
        self.forget_journals_listed_in(&index);
        *last = Some(index);
        Ok(Saved::Written)
    }

    /// Replaces the file `name` of the folder with `bytes`, atomically and durably: written
    /// to a temporary file, synced, renamed over it, and the folder synced.
    pub(super) fn replace_durably(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        // A fresh name each time: a leftover of a crash is then told apart from a save
        // running after the restart, and two saves never share one.
        let temp = self.path(&format!(
            "{TEMP_PREFIX}{name}-{:016x}",
            rand::random::<u64>()
        ));
        let written = std::fs::File::create(&temp).and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&temp, self.path(name))
        });
        if let Err(e) = written {
            // Typically a full disk: a failed save leaves nothing behind to fill it further.
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        sync_dir(&self.inner.dir)
    }

    fn forget_journals_listed_in(&self, index: &[IndexEntry]) {
        let listed: HashSet<(&str, &str)> = index
            .iter()
            .filter_map(|e| Some((e.meta.file_id.as_str(), e.stored_as.as_deref()?)))
            .collect();
        lock(&self.inner.pending).retain(|name, pending| {
            if !listed.contains(&(pending.file_id.as_str(), name.as_str())) {
                return true;
            }
            match journal::remove(&pending.journal) {
                Ok(()) => false,
                Err(e) => {
                    tracing::warn!("cannot remove {}: {e}", pending.journal.display());
                    true
                }
            }
        });
    }

    /// The time spent on incoming content so far.
    pub fn spent(&self) -> &Spent {
        &self.inner.spent
    }

    /// Starts a temporary file for incoming content.
    pub async fn temp_file(&self) -> io::Result<TempFile> {
        let path = self.path(&format!("{TEMP_PREFIX}{:016x}", rand::random::<u64>()));
        let file = {
            let path = path.clone();
            blocking(move || direct::Writer::create(&path)).await?
        };
        Ok(TempFile {
            path,
            file: Some(file),
            hasher: Some(IdHasher::default()),
            pipeline: None,
            spent: self.inner.spent.clone(),
            filling: None,
            len: 0,
            committed: false,
        })
    }

    /// Moves a complete temporary file into place as the copy of `meta`, under a safe, unused
    /// name derived from its `file_name`; returns that name. The caller has checked the
    /// content against the id. Once this returns, the copy survives a crash under this id.
    pub async fn commit(&self, mut temp: TempFile, meta: &FileMeta) -> io::Result<String> {
        temp.sync().await?;
        let (store, meta) = (self.clone(), meta.clone());
        // Dropped midway (its task cancelled), the commit still finishes or fails whole.
        blocking(move || store.land(temp, meta)).await
    }

    /// The steps of a commit, each durable before the next: the content (synced by the
    /// caller), the journal, the rename. A crash before the rename leaves a journal without
    /// its file (deleted at start-up) and a temporary file (deleted too): the file is gone.
    /// A crash after it leaves the file and its journal: the file is kept under its id.
    fn land(&self, mut temp: TempFile, meta: FileMeta) -> io::Result<String> {
        let mut pending = lock(&self.inner.pending);
        let name = names::candidates(&names::sanitize(&meta.file_name), &meta.file_id)
            .take(NAME_TRIES)
            .find(|name| {
                !pending.contains_key(name)
                    && !lock(&self.inner.removing).contains(name)
                    && matches!(self.path(name).try_exists(), Ok(false))
            })
            .ok_or_else(|| io::Error::other("no free name in the storage folder"))?;
        let entry = IndexEntry {
            meta,
            holders: Vec::new(),
            stored_as: Some(name.clone()),
        };
        let journal = journal::write(&self.inner.dir, &entry, temp.len)?;
        let renamed =
            sync_dir(&self.inner.dir).and_then(|()| std::fs::rename(&temp.path, self.path(&name)));
        if let Err(e) = renamed {
            let _ = journal::remove(&journal);
            return Err(e);
        }
        temp.committed = true;
        self.fingerprint(&name);
        pending.insert(
            name.clone(),
            Pending {
                journal,
                file_id: entry.meta.file_id,
            },
        );
        if let Err(e) = sync_dir(&self.inner.dir) {
            tracing::warn!("cannot sync the storage folder: {e}");
        }
        Ok(name)
    }

    /// Copies a file from outside the folder into it (for `push`), as owned by `owner`, with
    /// a timestamp chosen as by [`Store::commit_owned`]; returns its entry.
    pub async fn import(
        &self,
        source: &Path,
        owner: &str,
        taken: impl Fn(&str) -> bool,
    ) -> io::Result<IndexEntry> {
        // Looked at before it is opened: opening a FIFO waits for a writer, forever.
        if !tokio::fs::metadata(source).await?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let mut input = tokio::fs::File::open(source).await?;
        let file_name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut temp = self.temp_file().await?;
        let mut buf = vec![0; 256 * 1024];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut input, &mut buf).await?;
            if n == 0 {
                break;
            }
            temp.write(&buf[..n]).await?;
        }
        self.commit_owned(temp, &file_name, owner, taken).await
    }

    /// Commits content written by us (an import or an upload) as a new file owned by `owner`,
    /// timestamped now. The id is the content's hash with the timestamp, in whole seconds, so
    /// the same content added twice within a second, or added, deleted and added again, would
    /// get an id already `taken`: such a file waits for the next second and takes that one.
    pub async fn commit_owned(
        &self,
        mut temp: TempFile,
        file_name: &str,
        owner: &str,
        taken: impl Fn(&str) -> bool,
    ) -> io::Result<IndexEntry> {
        let mut tries = 0;
        let (timestamp, file_id) = loop {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let timestamp = Verbatim::integer(now.as_secs());
            let file_id = temp.file_id(&timestamp).await?;
            if !taken(&file_id) {
                break (timestamp, file_id);
            }
            // Uploads of the same content landing at the same moment, or a copy stamped ahead
            // of our clock that someone sent us, can take the id of every next second.
            tries += 1;
            if tries == OWNED_ID_TRIES {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "the same content is already held under each of the next timestamps",
                ));
            }
            let to_next_second =
                Duration::from_secs(1) - Duration::from_nanos(now.subsec_nanos().into());
            tokio::time::sleep(to_next_second).await;
        };
        let meta = FileMeta {
            file_id,
            file_name: file_name.to_string(),
            file_size: size_in_mb(temp.len()),
            file_owner: owner.to_string(),
            file_timestamp: timestamp,
        };
        let stored_as = self.commit(temp, &meta).await?;
        Ok(IndexEntry {
            meta,
            holders: Vec::new(),
            stored_as: Some(stored_as),
        })
    }

    /// Opens a stored copy for reading; returns the file and its length.
    /// An error of kind `InvalidData` says the copy changed since its content was last known
    /// (see [`Fingerprint`]): it must be hashed again before it is offered under its id.
    pub async fn open_file(&self, stored_as: &str) -> io::Result<(tokio::fs::File, u64)> {
        let file = tokio::fs::File::open(self.path(stored_as)).await?;
        let metadata = file.metadata().await?;
        let known = lock(&self.inner.copies).get(stored_as).copied();
        if known.is_some_and(|known| Fingerprint::of(&metadata).ok() != Some(known)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{stored_as} changed in the storage folder since it was stored"),
            ));
        }
        Ok((file, metadata.len()))
    }

    /// Records what `name` is like now, its content being known to have its id. A failure
    /// to read it leaves no fingerprint: the copy is then taken as it is, as before there
    /// were any.
    fn fingerprint(&self, name: &str) {
        match std::fs::metadata(self.path(name)).and_then(|m| Fingerprint::of(&m)) {
            Ok(print) => lock(&self.inner.copies).insert(name.to_string(), print),
            Err(_) => lock(&self.inner.copies).remove(name),
        };
    }

    /// Deletes a stored copy at the next save, before that save writes the index: call it
    /// before the index without the copy can be saved (while the lock that guards the index
    /// is held). The caller saves first what must be durable before the copy goes, such as
    /// the DELETE that removed it: a crash before then leaves the copy listed and in place.
    pub fn remove_at_next_save(&self, stored_as: &str) {
        self.queue_removal(stored_as);
    }

    /// The copies queued for removal, not yet deleted.
    pub fn queued_removals(&self) -> Vec<String> {
        lock(&self.inner.removing).iter().cloned().collect()
    }

    /// Deletes a stored copy that no saved index lists, on a blocking thread when called
    /// inside the runtime (without waiting for it); a failure is logged, and the copy stays
    /// queued. Call it before the index without the copy can be saved (while the lock that
    /// guards the index is held): the next save deletes every queued copy first, and fails if
    /// it cannot.
    pub fn remove(&self, stored_as: &str) {
        self.queue_removal(stored_as);
        let (store, name) = (self.clone(), stored_as.to_string());
        let work = move || {
            if let Err(e) = store.remove_now(&name) {
                tracing::warn!("could not remove {name}: {e}");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(work)),
            Err(_) => work(),
        }
    }

    /// The part of [`Store::remove`] that orders the next save after the deletion.
    fn queue_removal(&self, stored_as: &str) {
        lock(&self.inner.removing).insert(stored_as.to_string());
    }

    /// The content first, then its journal: a crash in between leaves a journal without its
    /// file, which start-up deletes. The name stays reserved until both are gone.
    /// `removing` is taken only briefly, never across the disk: `Store::remove` takes it while
    /// the peer's state is locked.
    fn remove_now(&self, name: &str) -> io::Result<()> {
        let mut pending = lock(&self.inner.pending);
        if !lock(&self.inner.removing).contains(name) {
            // Removed already, by a save or by the task `remove` started.
            return Ok(());
        }
        match std::fs::remove_file(self.path(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        lock(&self.inner.removing).remove(name);
        lock(&self.inner.copies).remove(name);
        if let Some(done) = pending.get(name) {
            journal::remove(&done.journal)?;
            pending.remove(name);
        }
        Ok(())
    }

    /// Lets another store open the folder, once this one is done with it (the node calls it
    /// after its last save). Dropping the last clone of the store does the same.
    pub fn release(&self) {
        lock(&self.inner.lock).take();
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Bytes the disk of the folder has free for us (`statvfs`'s blocks available to an
    /// unprivileged user). Blocking, but one system call.
    #[cfg(unix)]
    pub fn free_bytes(&self) -> io::Result<u64> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(self.inner.dir.as_os_str().as_bytes())
            .map_err(io::Error::other)?;
        // SAFETY: `stat` is plain old data, written by the call; `path` is NUL-terminated.
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // Both are u64 on 64-bit Linux, narrower on some other targets.
        #[allow(clippy::useless_conversion)]
        let (blocks, size) = (u64::from(stat.f_bavail), u64::from(stat.f_frsize));
        Ok(blocks.saturating_mul(size))
    }

    /// Not known here.
    #[cfg(not(unix))]
    pub fn free_bytes(&self) -> io::Result<u64> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// The canonical `file_size`: bytes / 1048576 as an unrounded float.
pub fn size_in_mb(bytes: u64) -> Verbatim {
    Verbatim::float(bytes as f64 / 1048576.0)
}

#[cfg(test)]
mod tests;

//! Moving files: fetching (get and auto-fetch) with verification and fallback to the next
//! holder, pushing (replication to one peer, the next if it fails, plus ANNOUNCE to all),
//! finding the copy a GET_FILE asks for, and storing files pushed to us within the storage
//! quota. Every received byte goes to a temporary file that is renamed into place only once
//! its hash matches its id. A holder that breaks a rule of `net` (too slow, too large, not a
//! message) is counted as a refusal and the next one is tried.

use super::health::{self, GetOutcome};
use super::state::{FileRecord, NotHeld, PeerState};
use super::upload::{OpenError, UploadError};
use super::{count, short, Change, Held, Peer};
use crate::net::admission::{Bucket, MIN_PUSH_CHARGE};
use crate::net::{self, NetError};
use crate::protocol::FileMeta;
use crate::refusal::Reason;
use crate::store::TempFile;
use crate::traffic::Direction;
use rand::seq::SliceRandom;
use rand::Rng;
use shared::{LogLevel, TransferDto, TransferKind, TransferStateDto};
use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

/// Why a get could not start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    /// No known file has this id.
    #[error("no known file with id {0}")]
    Unknown(String),
    /// We already hold it.
    #[error("already held: {0}")]
    AlreadyHeld(String),
}

/// Why one holder did not give us a copy, as its health records it; or why we could not
/// keep the copy it gave, which is ours to fix (`Local`, `DiskFull`).
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    BadCopy(String),
    #[error("{0}")]
    Truncated(String),
    #[error("{0}")]
    Stalled(String),
    #[error("{0}")]
    Other(String),
    /// Our storage could not take the copy: no holder is to blame.
    #[error("{0}")]
    Local(String),
    /// Our disk is full: no holder is to blame, and no other would fare better (unless this
    /// one sent more than the file's size: see [`Peer::fetch_from`]).
    #[error("{0}")]
    DiskFull(String),
    /// Its owner deleted the file while it arrived: no holder is to blame, and no other
    /// copy would be kept.
    #[error("{0}")]
    Deleted(String),
    /// The file needs fetching no more ([`Source::FileHeld`] or [`Source::FileForgotten`]),
    /// seen before its copy arrived whole: no holder is to blame.
    #[error("the file needs fetching no more")]
    Moot(Source),
}

impl From<&NetError> for Failure {
    fn from(e: &NetError) -> Self {
        let text = e.to_string();
        match e {
            NetError::Truncated => Failure::Truncated(text),
            NetError::Timeout(_) | NetError::Slow { .. } | NetError::Deadline(_) => {
                Failure::Stalled(text)
            }
            NetError::Store(e) => local(e, text),
            _ => Failure::Other(text),
        }
    }
}

/// A failure of our own storage, told as `text`.
fn local(e: &std::io::Error, text: String) -> Failure {
    use std::io::ErrorKind::{QuotaExceeded, StorageFull};
    match e.kind() {
        StorageFull | QuotaExceeded => Failure::DiskFull(text),
        _ => Failure::Local(text),
    }
}

/// A failure to keep a copy that was ours.
fn not_stored(e: std::io::Error) -> Failure {
    let text = format!("could not store it: {e}");
    local(&e, text)
}

/// How far past its announced size a copy may run before a full disk is the sender's doing:
/// sizes are announced rounded, and some peers announce them in other units.
const SIZE_SLACK: u64 = 1 << 20;

/// How many tracked peers not known to hold a file a get asks at most, after its holders.
/// Such a peer holds it only if it fetched it without telling us, and each may take a connect
/// and a first-byte timeout to fail: a network of silent strangers must not keep a get (and
/// auto-fetch, which waits for it) running for hours.
pub const OTHER_SOURCES: usize = 8;

/// How many peers a push tries, one after the other, before it gives up. After crashes, dead
/// peers stay tracked until the sweep drops them (and are not even quiet for the first half
/// of that), so a push that stopped at its first target would often leave the file with its
/// owner alone. Each try may take the connect timeout, and a peer that takes the file
/// forwards nothing, so a few are enough.
pub const PUSH_TRIES: usize = 3;

/// The peers a push tries, in order, from the tracked `peers` (id, address, quiet): those
/// heard from lately first, quiet ones (silent for half the drop timeout, likely gone) only
/// after them; each group shuffled, so that copies spread; one peer per address (a dead
/// address fails for every id there); at most [`PUSH_TRIES`].
fn push_targets(
    mut peers: Vec<(String, String, bool)>,
    rng: &mut impl Rng,
) -> Vec<(String, String)> {
    peers.shuffle(rng);
    // Stable: the shuffle stands within each group.
    peers.sort_by_key(|(_, _, quiet)| *quiet);
    let mut addrs = HashSet::new();
    peers
        .into_iter()
        .filter(|(_, addr, _)| addrs.insert(addr.clone()))
        .map(|(id, addr, _)| (id, addr))
        .take(PUSH_TRIES)
        .collect()
}

/// How many files auto-fetch starts at most, per file it is to fetch: the files left to try
/// may be held by nobody reachable, and each failure may take minutes of timeouts.
pub const AUTO_FETCH_TRIES: usize = 3;

/// How reachable a file we lack is, as its recorded holders tell: best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reach {
    /// A holder was heard from lately.
    Live,
    /// Its tracked holders are all quiet.
    Quiet,
    /// No tracked holder (its owner died, say): only a peer that holds it without telling
    /// could give it.
    Unheld,
}

impl Reach {
    /// From its holders, each `None` when not tracked, else whether it is quiet.
    fn of(holders: impl IntoIterator<Item = Option<bool>>) -> Reach {
        holders
            .into_iter()
            .flatten()
            .fold(Reach::Unheld, |reach, quiet| {
                reach.min(if quiet { Reach::Quiet } else { Reach::Live })
            })
    }
}

/// The file auto-fetch tries next among `candidates` (id, reach): the first of the best
/// reached, so that equals go by id, as before.
fn pick_auto_fetch<'a>(candidates: impl Iterator<Item = (&'a str, Reach)>) -> Option<&'a str> {
    candidates.min_by_key(|(_, reach)| *reach).map(|(id, _)| id)
}

/// The file we lack that auto-fetch tries next, none of `tried`.
fn next_auto_fetch(state: &PeerState, tried: &HashSet<String>) -> Option<String> {
    let reach = |r: &FileRecord| {
        Reach::of(
            r.holders
                .iter()
                .map(|h| state.peers.get(h).map(|t| t.quiet)),
        )
    };
    let candidates = (state.files().values())
        .filter(|r| r.stored_as.is_none() && !tried.contains(&r.meta.file_id))
        .map(|r| (r.meta.file_id.as_str(), reach(r)));
    pick_auto_fetch(candidates).map(str::to_string)
}

/// What a source of a get, taken from the list made when the get started, is worth now.
#[derive(Debug)]
enum Source {
    /// It holds the file, as far as we know.
    Holder,
    /// It is tracked, and may hold the file.
    Other,
    /// It is no longer tracked at that address.
    Gone,
    /// We hold the file now: it arrived another way (pushed to us, or added here).
    FileHeld,
    /// The file is no longer in our index: its owner deleted it, or the cap on files we
    /// do not hold evicted it.
    FileForgotten,
}

impl Source {
    fn judge(state: &PeerState, file_id: &str, peer_id: &str, addr: &str) -> Source {
        if let Some(moot) = moot(state, file_id) {
            return moot;
        }
        if state.peers.get(peer_id).is_none_or(|t| t.addr() != addr) {
            Source::Gone
        } else if state.files()[file_id].holders.contains(peer_id) {
            Source::Holder
        } else {
            Source::Other
        }
    }
}

/// Why `file_id` needs fetching no more, if it does not: a get stops at once then, whatever
/// source it is at.
fn moot(state: &PeerState, file_id: &str) -> Option<Source> {
    match state.files().get(file_id) {
        None => Some(Source::FileForgotten),
        Some(record) if record.stored_as.is_some() => Some(Source::FileHeld),
        Some(_) => None,
    }
}

/// Whether a fetch sent its GET_FILE, as far as its outcome tells: not when the socket failed
/// or timed out, which may have been before the request.
fn asked(fetched: &Result<(FileMeta, TempFile), NetError>) -> bool {
    match fetched {
        Ok(_) => true,
        Err(NetError::Io(_)) | Err(NetError::Timeout(_)) => false,
        Err(_) => true,
    }
}

/// What the sources a get tried said, the first few in full: a get may try 64 holders and
/// [`OTHER_SOURCES`] other peers, the best-ranked first.
fn tried(errors: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = errors[..errors.len().min(SHOWN)].join("; ");
    if errors.len() > SHOWN {
        text.push_str(&format!("; and {} more", errors.len() - SHOWN));
    }
    text
}

impl Peer {
    /// Starts fetching `file_id` in the background (or returns the download already running).
    pub fn start_fetch(
        &self,
        file_id: &str,
        kind: TransferKind,
    ) -> Result<TransferDto, FetchError> {
        let file = self
            .file(file_id)
            .ok_or_else(|| FetchError::Unknown(file_id.to_string()))?;
        if file.has_copy {
            return Err(FetchError::AlreadyHeld(file.file_name));
        }
        let (transfer, new) =
            self.download_started(kind, file_id, &file.file_name, file.size_bytes);
        if !new {
            return Ok(transfer);
        }
        let peer = self.clone();
        let id = transfer.id;
        let file_id = file_id.to_string();
        self.spawn(async move { peer.fetch(id, &file_id).await });
        Ok(transfer)
    }

    /// Fetches `file_id` for transfer `id`, trying tracked holders first, then up to
    /// [`OTHER_SOURCES`] other tracked peers, until a copy verifies. The outcome is recorded
    /// in the transfer.
    async fn fetch(&self, id: u64, file_id: &str) {
        let sources = self.with_state(|s| {
            let shuffled = s.sources(file_id, &mut rand::thread_rng());
            let holders = s.files().get(file_id).map(|r| &r.holders);
            health::order_sources(
                shuffled,
                |id| holders.is_some_and(|h| h.contains(id)),
                |id| s.peers.get(id).map(|t| t.health.rank()),
            )
        });
        let (mut errors, mut stopped) = (Vec::new(), None);
        let mut others = 0;
        for (peer_id, addr) in sources {
            let fetched = match self.with_state(|s| Source::judge(s, file_id, &peer_id, &addr)) {
                Source::Holder => self.fetch_from(id, file_id, &peer_id, &addr).await,
                Source::Other if others < OTHER_SOURCES => {
                    others += 1;
                    self.fetch_from(id, file_id, &peer_id, &addr).await
                }
                Source::Other | Source::Gone => continue,
                moot => Err(Failure::Moot(moot)),
            };
            match fetched {
                Ok(meta) => {
                    self.traffic().transfer(Direction::In, true);
                    self.transfer_finished(id, TransferStateDto::Done);
                    self.log(
                        LogLevel::Info,
                        format!("got {} ({}) from {peer_id}", meta.file_name, short(file_id)),
                    );
                    self.announce(&meta);
                    return;
                }
                Err(Failure::Moot(Source::FileHeld)) => {
                    self.transfer_finished(id, TransferStateDto::Done);
                    self.log(
                        LogLevel::Info,
                        format!("get {} ended: a copy arrived meanwhile", short(file_id)),
                    );
                    return;
                }
                Err(Failure::Moot(_)) => {
                    stopped = Some("the file left our index (deleted by its owner, or no peer offers it any more)".into());
                    break;
                }
                Err(Failure::DiskFull(e) | Failure::Deleted(e)) => {
                    stopped = Some(e);
                    break;
                }
                Err(e) => {
                    tracing::info!("fetch of {} from {peer_id} failed: {e}", short(file_id));
                    errors.push(format!("{peer_id}: {e}"));
                }
            }
        }
        let reason = match stopped {
            Some(stopped) => stopped,
            None if errors.is_empty() => "no tracked peer to fetch from".to_string(),
            None => format!("no peer delivered a valid copy: {}", tried(&errors)),
        };
        self.traffic().transfer(Direction::In, false);
        self.log(
            LogLevel::Warn,
            format!("get {} failed: {reason}", short(file_id)),
        );
        self.transfer_finished(id, TransferStateDto::Failed { reason });
    }

    async fn fetch_from(
        &self,
        id: u64,
        file_id: &str,
        peer_id: &str,
        addr: &str,
    ) -> Result<FileMeta, Failure> {
        self.transfer_progress(id, peer_id, 0);
        let limits = self.config().limits;
        let dialed = Instant::now();
        let mut first_byte = None;
        let mut received = 0;
        let fetching = net::fetch(addr, file_id, self.store(), &limits, |done| {
            first_byte.get_or_insert_with(|| dialed.elapsed());
            received = done;
            self.transfer_progress(id, peer_id, done)
        });
        // Only the network part is raced: dropped mid-way, it leaves no temporary file, while
        // a commit, once started, would go on without us.
        let fetched = tokio::select! {
            biased;
            fetched = fetching => fetched,
            moot = self.until_moot(file_id) => return Err(Failure::Moot(moot)),
        };
        let asked = first_byte.is_some() || asked(&fetched);
        let outcome = match fetched {
            Ok((meta, temp)) => {
                let traffic = self.traffic();
                traffic.sent("GET_FILE");
                traffic.received("FILE_DATA");
                traffic.content_received(temp.len());
                self.keep_verified(meta, temp).await
            }
            Err(e) => {
                if asked {
                    self.traffic().sent("GET_FILE");
                }
                match &e {
                    NetError::NotFound => self.traffic().received("FILE_DATA"),
                    NetError::Unexpected(kind) => self.traffic().received(kind),
                    _ => {}
                }
                if let Some(reason) = e.refusal() {
                    self.refusals().refuse(reason, format!("{peer_id}: {e}"));
                }
                Err(Failure::from(&e))
            }
        };
        // A holder that sent more than the file's size until our disk was full filled it on
        // purpose, or by mistake: its fault, and the next holder may do better.
        let announced = self.with_state(|s| {
            let record = s.files().get(file_id)?;
            super::view::size_in_bytes(&record.meta.file_size)
        });
        let outcome = match outcome {
            Err(Failure::DiskFull(_))
                if announced.is_some_and(|size| received > size.saturating_add(SIZE_SLACK)) =>
            {
                Err(Failure::BadCopy(format!(
                    "sent {received} bytes, more than the file's {}, until our disk was full",
                    announced.unwrap_or_default()
                )))
            }
            outcome => outcome,
        };
        let health = match &outcome {
            Ok(_) => Some(GetOutcome::Ok),
            Err(Failure::BadCopy(e)) => Some(GetOutcome::BadCopy(e.clone())),
            Err(Failure::Truncated(e)) => Some(GetOutcome::Truncated(e.clone())),
            Err(Failure::Stalled(e)) => Some(GetOutcome::Stalled(e.clone())),
            Err(Failure::Other(e)) => Some(GetOutcome::Failed(e.clone())),
            Err(
                Failure::Local(_) | Failure::DiskFull(_) | Failure::Deleted(_) | Failure::Moot(_),
            ) => None,
        };
        if let Some(health) = health {
            self.with_state(|s| {
                if let Some(t) = s.peers.get_mut(peer_id) {
                    t.health.record(health, first_byte);
                }
            });
            // The dashboard's health columns follow at once, not at the peer's next message.
            self.apply(vec![Change::PeerSeen(peer_id.to_string())]);
        }
        outcome.map(|held| held.meta)
    }

    /// Returns once `file_id` needs fetching no more (see [`moot`]), looking again at each
    /// change of the index: a DELETE from its owner, or a copy that arrives another way, ends
    /// a get at once, not after the rest of the file.
    async fn until_moot(&self, file_id: &str) -> Source {
        let mut index = self.dirty();
        loop {
            if let Some(moot) = self.with_state(|s| moot(s, file_id)) {
                return moot;
            }
            if index.changed().await.is_err() {
                // The peer is gone; the get stops with it.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Keeps `temp` as the copy of `meta` if its content hashes to the id and it is not said
    /// to be ours.
    async fn keep_verified(&self, meta: FileMeta, mut temp: TempFile) -> Result<Held, Failure> {
        let ours = |s: &mut PeerState| {
            (s.files().get(&meta.file_id)).is_some_and(|r| r.meta.file_owner == meta.file_owner)
        };
        if meta.file_owner == self.id() && !self.with_state(ours) {
            // Every file of ours is in our index, so this owner is forged (a copy of a file
            // of ours whose copy we lost is welcome). Kept, the copy would escape
            // `--max-storage` (which counts others' files) and every DELETE.
            let reason = "it names us as its owner".to_string();
            self.refusals()
                .refuse(Reason::ForgedOwner, format!("a copy of {}", meta.file_id));
            return Err(Failure::BadCopy(reason));
        }
        let actual = (temp.file_id(&meta.file_timestamp).await).map_err(not_stored)?;
        if actual != meta.file_id {
            let reason = format!("content does not match the id (hash {})", short(&actual));
            self.refusals()
                .refuse(Reason::BadCopy, format!("{}: {reason}", meta.file_id));
            return Err(Failure::BadCopy(reason));
        }
        let stored_as = self.store().commit(temp, &meta).await.map_err(not_stored)?;
        self.record_copy(&meta, stored_as).map_err(|e| match e {
            NotHeld::Deleted => Failure::Deleted(e.to_string()),
            e => Failure::Other(e.to_string()),
        })
    }

    /// Fetches up to `auto_fetch` files we lack, one after the other, after the first
    /// GOSSIP_REPLY (and a moment for the others) arrives: files a peer heard from lately
    /// holds first, then those only quiet peers hold, then the rest. Only copies that arrive
    /// count, and it gives up after [`AUTO_FETCH_TRIES`] gets per file wanted. Start it with
    /// [`Peer::spawn`], which stops it with the peer.
    pub async fn auto_fetch(&self) {
        let wanted = self.config().auto_fetch;
        if wanted == 0 {
            return;
        }
        self.reply_arrived().await;
        let settle = self
            .config()
            .gossip_interval
            .min(std::time::Duration::from_secs(2));
        tokio::time::sleep(settle).await;
        let (mut fetched, mut started) = (0, 0);
        let mut tried = HashSet::new();
        while fetched < wanted && started < wanted.saturating_mul(AUTO_FETCH_TRIES) {
            // Chosen afresh each time: holders come and go while a get runs.
            let Some(file_id) = self.with_state(|s| next_auto_fetch(s, &tried)) else {
                break;
            };
            tried.insert(file_id.clone());
            let Ok(transfer) = self.start_fetch(&file_id, TransferKind::AutoFetch) else {
                continue;
            };
            started += 1;
            // One at a time, so a big file does not starve the network.
            let mut events = self.subscribe();
            while self
                .running_download(&file_id)
                .is_some_and(|t| t.id == transfer.id)
            {
                let _ = events.recv().await;
            }
            if self.held_copy(&file_id).is_some() {
                fetched += 1;
            }
        }
        self.log(
            LogLevel::Info,
            format!(
                "auto-fetch done: fetched {fetched} of {wanted} wanted, in {}",
                count(started, "get")
            ),
        );
    }

    /// Copies the file at `path` into storage as ours, then replicates and announces it.
    pub async fn push_path(&self, path: &Path) -> Result<FileMeta, String> {
        Ok(self.push_path_to(path).await?.0)
    }

    /// [`Peer::push_path`], also saying where it is being sent (nowhere while we track
    /// nobody: peers then learn of it from our file list).
    pub async fn push_path_to(&self, path: &Path) -> Result<(FileMeta, Option<Sending>), String> {
        let claim = IdClaim::new(self);
        let entry = self
            .store()
            .import(path, self.id(), |id| claim.taken(id))
            .await
            .map_err(|e| format!("cannot add {}: {e}", path.display()))?;
        self.publish_new(entry.meta, entry.stored_as.expect("imported"))
            .await
    }

    /// Stores uploaded content under `file_name` as ours, then replicates and announces it.
    /// Runs to the end once begun, even when the caller goes (a browser that disconnects
    /// while its upload lands): a copy that landed is always recorded.
    pub(super) async fn push_upload<E>(
        &self,
        temp: TempFile,
        file_name: &str,
    ) -> Result<FileMeta, UploadError<E>> {
        let (peer, name) = (self.clone(), file_name.to_string());
        let kept = self.spawn_to_end(async move {
            let claim = IdClaim::new(&peer);
            let entry = (peer.store())
                .commit_owned(temp, &name, peer.id(), |id| claim.taken(id))
                .await
                .map_err(Unkept::Store)?;
            let stored_as = entry.stored_as.expect("committed");
            let (meta, _) =
                (peer.publish_new(entry.meta, stored_as).await).map_err(Unkept::Conflict)?;
            Ok(meta)
        });
        match kept.await {
            Ok(Ok(meta)) => Ok(meta),
            Ok(Err(Unkept::Store(e))) => Err(UploadError::store(e)),
            Ok(Err(Unkept::Conflict(why))) => Err(UploadError::Conflict(why)),
            Err(e) => Err(UploadError::Store(e.to_string())),
        }
    }

    /// Records a new file of ours, sends it to one tracked peer in the background (see
    /// [`push_targets`]: the next one if that fails) and ANNOUNCEs it to all; returns it and
    /// where it is first being sent.
    async fn publish_new(
        &self,
        meta: FileMeta,
        stored_as: String,
    ) -> Result<(FileMeta, Option<Sending>), String> {
        let Held { meta, new } = self
            .record_copy(&meta, stored_as)
            .map_err(|e| e.to_string())?;
        if !new {
            // The id was claimed free: only a stranger's copy of the same content with the
            // same timestamp, landed since, could have come first.
            return Err(format!(
                "the same content was added at the same moment as {}; add it again",
                meta.file_name
            ));
        }
        self.log(
            LogLevel::Info,
            format!("added {} ({})", meta.file_name, short(&meta.file_id)),
        );
        self.announce(&meta);
        let targets = self.with_state(|s| {
            let peers = (s.peers.iter())
                .map(|(id, t)| (id.clone(), t.addr(), t.quiet))
                .collect();
            push_targets(peers, &mut rand::thread_rng())
        });
        let Some((first, _)) = targets.first() else {
            return Ok((meta, None));
        };
        // Started here, so that the caller can follow it from its first event.
        let opened = (self.open_copy(&meta.file_id).await)
            .map(|copy| (copy.file, copy.len))
            .map_err(std::io::Error::other);
        let total = opened.as_ref().ok().map(|(_, len)| *len);
        let transfer = self.transfer_started(
            TransferKind::Push,
            &meta.file_id,
            &meta.file_name,
            Some(first.clone()),
            total,
        );
        let sending = Sending {
            to: first.clone(),
            transfer: transfer.id,
        };
        let (peer, pushed) = (self.clone(), meta.clone());
        self.spawn(async move { peer.replicate(&pushed, opened, transfer.id, targets).await });
        Ok((meta, Some(sending)))
    }

    /// Sends our copy of `meta` unsolicited (a push), as `transfer`, to the first of `targets`
    /// (peer id, address) that takes it whole, one after the other; `opened` is the copy,
    /// opened for the first. Each failure is logged, and all of them end up in the transfer
    /// when none took it.
    async fn replicate(
        &self,
        meta: &FileMeta,
        opened: std::io::Result<(tokio::fs::File, u64)>,
        transfer: u64,
        targets: Vec<(String, String)>,
    ) {
        let mut opened = Some(opened);
        let mut errors = Vec::new();
        let mut stopped = None;
        for (peer_id, addr) in targets {
            // Dropped since the push started: silent for the whole drop timeout, so most
            // likely gone, and not worth a connect timeout.
            let tracked =
                self.with_state(|s| s.peers.get(&peer_id).is_some_and(|t| t.addr() == addr));
            if !tracked {
                continue;
            }
            // The copy is read as it is sent: each attempt reads it from the start.
            let copy = match opened.take() {
                Some(opened) => opened,
                None => (self.open_copy(&meta.file_id).await)
                    .map(|copy| (copy.file, copy.len))
                    .map_err(std::io::Error::other),
            };
            let file = match copy {
                Ok((file, _)) => file,
                // Ours to fix (the file was deleted meanwhile, or its copy is gone): no
                // other peer would fare better.
                Err(e) => {
                    stopped = Some(format!("cannot read our copy: {e}"));
                    break;
                }
            };
            self.transfer_progress(transfer, &peer_id, 0);
            let sent = async {
                let mut stream = net::connect(&addr, &self.config().limits).await?;
                net::write_file_data(&mut stream, meta, file, &self.config().limits, |done| {
                    self.transfer_progress(transfer, &peer_id, done)
                })
                .await
            }
            .await;
            match sent {
                Ok(sent) => {
                    let traffic = self.traffic();
                    traffic.transfer(Direction::Out, true);
                    traffic.sent("FILE_DATA");
                    traffic.content_sent(sent);
                    self.transfer_finished(transfer, TransferStateDto::Done);
                    self.log(
                        LogLevel::Info,
                        format!("pushed {} to {peer_id}", meta.file_name),
                    );
                    return;
                }
                // Refused (a dead peer still tracked), reset or cut (killed mid-push, or
                // over its quota), timed out: the next peer may take it.
                Err(e) => {
                    self.log(
                        LogLevel::Warn,
                        format!("push of {} to {peer_id} failed: {e}", meta.file_name),
                    );
                    errors.push((peer_id, e.to_string()));
                }
            }
        }
        self.traffic().transfer(Direction::Out, false);
        // Each failed attempt was logged as it happened; anything else is told here.
        let untold = stopped.is_some() || errors.is_empty();
        let reason = match (stopped, &errors[..]) {
            (Some(stopped), _) => stopped,
            (None, []) => "every peer it was to go to was dropped meanwhile".to_string(),
            (None, [(peer_id, e)]) => format!("push to {peer_id} failed: {e}"),
            (None, errors) => {
                let said: Vec<String> = errors.iter().map(|(p, e)| format!("{p}: {e}")).collect();
                format!("no peer took it: {}", tried(&said))
            }
        };
        if untold {
            self.log(
                LogLevel::Warn,
                format!("push of {} failed: {reason}", meta.file_name),
            );
        }
        self.transfer_finished(transfer, TransferStateDto::Failed { reason });
    }

    /// The incoming transfer `transfer`, or a new one from `from`.
    fn incoming_transfer(&self, transfer: Option<u64>, from: &str) -> u64 {
        transfer.unwrap_or_else(|| {
            let name = "incoming file";
            self.transfer_started(
                TransferKind::Incoming,
                "",
                name,
                Some(from.to_string()),
                None,
            )
            .id
        })
    }

    /// Content is arriving unsolicited from `from` (most likely a push, though the message
    /// type may only be known at its end): shows it as an incoming transfer; returns its id.
    pub(super) fn incoming_started(&self, from: &str) -> u64 {
        self.incoming_transfer(None, from)
    }

    /// `done` bytes of the incoming transfer `id` from `from` have arrived.
    pub(super) fn incoming_progress(&self, id: u64, from: &str, done: u64) {
        self.transfer_progress(id, from, done);
    }

    /// An incoming transfer that did not turn into a stored file.
    pub(super) fn incoming_failed(&self, id: u64, reason: String) {
        self.traffic().transfer(Direction::In, false);
        self.transfer_finished(id, TransferStateDto::Failed { reason });
    }

    /// Our copy of `file_id`, opened for serving a GET_FILE.
    pub(super) async fn held_file(&self, file_id: &str) -> Option<(FileMeta, tokio::fs::File)> {
        match self.open_copy(file_id).await {
            Ok(copy) => Some((copy.meta, copy.file)),
            Err(OpenError::NotHeld(_)) => None,
            Err(e) => {
                self.log(LogLevel::Warn, e.to_string());
                None
            }
        }
    }

    /// Bytes that files pushed to us may still take: `caps.max_storage` less the held copies
    /// of files we do not own (measured on disk: `file_size` is whatever the sender wrote),
    /// each counted as at least [`MIN_PUSH_CHARGE`] bytes.
    pub(super) async fn push_room(&self) -> u64 {
        let me = self.id().to_string();
        let foreign: Vec<String> = self.with_state(|s| {
            s.held()
                .filter(|r| r.meta.file_owner != me)
                .filter_map(|r| r.stored_as.clone())
                .collect()
        });
        let mut taken = 0u64;
        for stored_as in foreign {
            if let Ok((_, len)) = self.store().open_file(&stored_as).await {
                taken = taken.saturating_add(len.max(MIN_PUSH_CHARGE));
            }
        }
        self.config().caps.max_storage.saturating_sub(taken)
    }

    /// A FILE_DATA arrived unsolicited (a push): keep it if it verifies, then ANNOUNCE it.
    /// `transfer` is the incoming transfer that [`Peer::incoming_started`] started, if any.
    pub(super) async fn on_pushed_file(
        &self,
        meta: FileMeta,
        temp: TempFile,
        from: &str,
        transfer: Option<u64>,
    ) -> bool {
        let id = self.incoming_transfer(transfer, from);
        self.transfer_describe(id, &meta.file_id, &meta.file_name);
        self.transfer_progress(id, from, temp.len());
        if self.held_copy(&meta.file_id).is_some() {
            self.transfer_finished(id, TransferStateDto::Done);
            return false;
        }
        let traffic = self.traffic();
        traffic.content_received(temp.len());
        let kept = self.keep_verified(meta, temp).await;
        traffic.transfer(Direction::In, kept.is_ok());
        match kept {
            // Another copy of the same file landed first.
            Ok(Held { new: false, .. }) => {
                self.transfer_finished(id, TransferStateDto::Done);
                false
            }
            Ok(Held { meta, .. }) => {
                self.transfer_finished(id, TransferStateDto::Done);
                let announced = super::lock(&self.inner.push_announces).take(Instant::now());
                let unannounced = if announced {
                    self.announce(&meta);
                    ""
                } else {
                    " (not announced: many files were pushed to us lately)"
                };
                self.log(
                    LogLevel::Info,
                    format!("stored {} pushed by {from}{unannounced}", meta.file_name),
                );
                true
            }
            Err(failure) => {
                let reason = failure.to_string();
                let what = match failure {
                    Failure::Local(_) | Failure::DiskFull(_) => "could not store",
                    _ => "refused",
                };
                self.log(
                    LogLevel::Warn,
                    format!("{what} a pushed file from {from}: {reason}"),
                );
                self.transfer_finished(id, TransferStateDto::Failed { reason });
                false
            }
        }
    }
}

/// Announcements of files pushed to us: a burst of [`PushAnnounces::BURST`], then one a
/// second. Each goes to every tracked peer, and a stranger can push a small file and then
/// delete it as its owner (which gives its room in the quota back), over and over: two small
/// messages for a thousand sends. A file not announced is still in our GOSSIP_REPLYs.
pub struct PushAnnounces(Bucket);

impl PushAnnounces {
    const BURST: f64 = 16.0;
    const PER_SECOND: f64 = 1.0;

    /// A full burst allowed from `now`.
    pub fn new(now: Instant) -> Self {
        PushAnnounces(Bucket::full(Self::BURST, now))
    }

    /// Whether a file pushed to us at `now` is announced.
    pub fn take(&mut self, now: Instant) -> bool {
        self.0.take(now, Self::PER_SECOND, Self::BURST)
    }
}

/// Why an upload was not kept, from its commit on.
enum Unkept {
    Store(std::io::Error),
    Conflict(String),
}

/// The id claimed by a new file of ours while it is committed, so that the same content
/// added at the same moment gets another; released when dropped, once the file is recorded
/// or was not kept.
struct IdClaim<'a> {
    peer: &'a Peer,
    id: std::sync::Mutex<Option<String>>,
}

impl<'a> IdClaim<'a> {
    fn new(peer: &'a Peer) -> Self {
        IdClaim {
            peer,
            id: std::sync::Mutex::new(None),
        }
    }

    /// For [`crate::store::Store::commit_owned`]: whether `file_id` is taken; claims it when
    /// it is not.
    fn taken(&self, file_id: &str) -> bool {
        let claimed = self.peer.with_state(|s| s.claim_id(file_id));
        if claimed {
            *super::lock(&self.id) = Some(file_id.to_string());
        }
        !claimed
    }
}

impl Drop for IdClaim<'_> {
    fn drop(&mut self) {
        if let Some(id) = super::lock(&self.id).take() {
            self.peer.with_state(|s| s.release_id(&id));
        }
    }
}

/// Where a new file of ours is being sent.
#[derive(Debug)]
pub struct Sending {
    /// The peer's id.
    pub to: String,
    /// The id of the push's transfer.
    pub transfer: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::time::Duration;

    #[test]
    fn a_failed_get_tells_what_the_first_sources_said_and_counts_the_rest() {
        let said = |n: usize| (1..=n).map(|i| format!("p{i}: cut")).collect::<Vec<_>>();
        assert_eq!(tried(&said(1)), "p1: cut");
        assert_eq!(tried(&said(3)), "p1: cut; p2: cut; p3: cut");
        assert_eq!(tried(&said(5)), "p1: cut; p2: cut; p3: cut; and 2 more");
    }

    /// The ids `push_targets` tries, with the shuffle seeded by `seed`.
    fn targets(peers: &[(&str, &str, bool)], seed: u64) -> Vec<String> {
        let peers = (peers.iter())
            .map(|(id, addr, quiet)| (id.to_string(), addr.to_string(), *quiet))
            .collect();
        let mut rng = StdRng::seed_from_u64(seed);
        (push_targets(peers, &mut rng).into_iter())
            .map(|(id, _)| id)
            .collect()
    }

    #[test]
    fn a_push_tries_peers_heard_from_lately_before_quiet_ones() {
        let peers = [
            ("q1", "h:1", true),
            ("live", "h:2", false),
            ("q2", "h:3", true),
        ];
        for seed in 0..50 {
            let order = targets(&peers, seed);
            assert_eq!(order.len(), 3);
            assert_eq!(order[0], "live", "{order:?}");
        }
        assert_eq!(targets(&[("q", "h:1", true)], 0), ["q"]);
        assert!(targets(&[], 0).is_empty());
    }

    #[test]
    fn a_push_tries_a_few_peers_and_each_address_once() {
        let peers = [
            ("a", "h:1", false),
            ("b", "h:1", false),
            ("c", "h:2", false),
            ("d", "h:3", false),
            ("e", "h:4", false),
        ];
        for seed in 0..50 {
            let order = targets(&peers, seed);
            assert_eq!(order.len(), PUSH_TRIES);
            let at_h1 = order.iter().filter(|id| ["a", "b"].contains(&id.as_str()));
            assert!(at_h1.count() <= 1, "{order:?}");
        }
    }

    #[test]
    fn pushes_spread_over_the_peers_heard_from_lately() {
        let peers = [("a", "h:1", false), ("b", "h:2", false), ("q", "h:3", true)];
        let firsts: HashSet<String> = (0..50)
            .map(|seed| targets(&peers, seed).remove(0))
            .collect();
        assert_eq!(firsts, HashSet::from(["a".to_string(), "b".to_string()]));
    }

    #[test]
    fn a_file_is_as_reachable_as_its_best_tracked_holder() {
        assert_eq!(Reach::of([]), Reach::Unheld);
        assert_eq!(Reach::of([None, None]), Reach::Unheld);
        assert_eq!(Reach::of([None, Some(true)]), Reach::Quiet);
        assert_eq!(Reach::of([Some(true), Some(false), None]), Reach::Live);
    }

    #[test]
    fn auto_fetch_takes_the_best_reached_file_first_then_by_id() {
        use Reach::{Live, Quiet, Unheld};
        let check = |files: &[(&'static str, Reach)], expected: Option<&str>| {
            assert_eq!(pick_auto_fetch(files.iter().copied()), expected);
        };
        check(
            &[("a", Unheld), ("b", Quiet), ("c", Live), ("d", Live)],
            Some("c"),
        );
        check(&[("a", Unheld), ("b", Quiet), ("c", Quiet)], Some("b"));
        check(&[("a", Unheld), ("b", Unheld)], Some("a"));
        check(&[], None);
    }

    #[test]
    fn pushes_are_announced_a_burst_then_one_a_second() {
        let t0 = Instant::now();
        let mut announces = PushAnnounces::new(t0);
        let burst = (0..40).filter(|_| announces.take(t0)).count();
        assert_eq!(burst, 16);
        assert!(!announces.take(t0 + Duration::from_millis(900)));
        assert!(announces.take(t0 + Duration::from_secs(1)));
        assert!(!announces.take(t0 + Duration::from_secs(1)));
        let later = t0 + Duration::from_secs(3600);
        assert_eq!((0..40).filter(|_| announces.take(later)).count(), 16);
    }
}

//! The `Peer` handle: this peer as the rest of the program sees it. It owns the state (tracked
//! peers, file index), the transfers and the event log, each behind its own lock, none ever
//! held across an `.await`; publishes every change as a dashboard event, and asks for the
//! index to be saved.
//! The network side of gossip and transfers is in [`gossip`] and [`transfer`].

pub mod gossip;
pub mod health;
mod inbound;
pub mod policy;
pub mod state;
mod tombstones;
pub mod transfer;
mod transfers;
pub mod upload;
mod view;

use crate::net::Limits;
use crate::protocol::{Announce, Delete, FileMeta, GossipReply};
use crate::refusal::Refusals;
use crate::store::tombstones::Tombstone;
use crate::store::{unix_now, IndexEntry, Store};
use crate::traffic::Traffic;
use shared::{LogEntry, LogLevel, ServerEvent, TransferDto, TransferKind, TransferStateDto};
use state::{Change, DeleteOutcome, NotHeld, PeerState};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
pub use transfers::unix_ms;

/// How many event-log lines are kept.
const LOG_LINES: usize = 200;

/// The settings a running peer needs.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// Our peer id.
    pub peer_id: String,
    /// The host we advertise.
    pub host: String,
    /// The P2P port we listen on (the real one, after binding).
    pub p2p_port: u16,
    /// The HTTP port we listen on.
    pub http_port: u16,
    /// Time between our GOSSIP rounds.
    pub gossip_interval: Duration,
    /// Silence after which a peer is dropped.
    pub peer_timeout: Duration,
    /// How many missing files to fetch at start-up.
    pub auto_fetch: usize,
    /// Socket deadlines and size caps.
    pub limits: Limits,
    /// Caps on what strangers can make us keep.
    pub caps: Caps,
}

#[cfg(test)]
impl PeerConfig {
    /// Peer `me` at `host`, with timers too slow to fire in a test and `max_file` as the largest
    /// file; for tests that drive a `Peer` without a network.
    pub fn for_test(host: &str, max_file: u64) -> Self {
        PeerConfig {
            peer_id: "me".into(),
            host: host.into(),
            p2p_port: 9000,
            http_port: 8000,
            gossip_interval: Duration::from_secs(30),
            peer_timeout: Duration::from_secs(60),
            auto_fetch: 0,
            limits: Limits {
                max_file,
                ..Limits::default()
            },
            caps: Caps::default(),
        }
    }
}

/// Caps on what strangers can make us keep; each is a command-line flag.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    /// Files we know of but hold no copy of; beyond it the oldest unheld one is forgotten.
    pub max_unheld_files: usize,
    /// Peers tracked at once.
    pub max_peers: usize,
    /// Peer ids tracked at one host:port.
    pub max_ids_per_addr: usize,
    /// Longest `file_name`, in bytes.
    pub max_name: usize,
    /// Longest other text field (ids, owners, hosts), in bytes.
    pub max_field: usize,
    /// Most bytes of files pushed to us by others that we keep.
    pub max_storage: u64,
    /// How long a DELETE is remembered (so late gossip cannot bring the file back).
    pub tombstone_ttl: Duration,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            max_unheld_files: 10_000,
            max_peers: 1_000,
            max_ids_per_addr: 4,
            max_name: shared::DEFAULT_MAX_NAME_LEN,
            max_field: 256,
            max_storage: 2 << 30,
            tombstone_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// A file removal request that cannot be honoured.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeleteError {
    /// No such file.
    #[error("no file with id {0}")]
    NotFound(String),
    /// We are not the owner.
    #[error("only the owner ({0}) can delete this file")]
    NotOwner(String),
}

/// This peer. Cheap to clone.
#[derive(Clone)]
pub struct Peer {
    inner: Arc<Inner>,
}

struct Inner {
    config: PeerConfig,
    refusals: Arc<Refusals>,
    traffic: Traffic,
    store: Store,
    started: Instant,
    state: Mutex<PeerState>,
    transfers: Mutex<transfers::Transfers>,
    log: Mutex<VecDeque<LogEntry>>,
    events: broadcast::Sender<ServerEvent>,
    /// Bumped on every index or tombstone change; the persister saves the newest state.
    dirty: watch::Sender<u64>,
    /// The tombstones' generation last saved. Its lock also serialises their saves, so that
    /// an older set of tombstones never replaces a newer one.
    tombstones_saved: Mutex<u64>,
    /// Messages handed to [`Peer::send_later`] and not yet sent or failed.
    sends_pending: AtomicUsize,
    /// Signalled on each GOSSIP_REPLY (start-up waits for the first before auto-fetch).
    replied: Notify,
    /// Announcements of files pushed to us still allowed (see [`transfer::PushAnnounces`]).
    push_announces: Mutex<transfer::PushAnnounces>,
    /// Every background task of the peer, so that shutdown can wait for them.
    tasks: TaskTracker,
    /// Cancels every background task.
    cancel: CancellationToken,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Peer {
    /// A peer over `store`, starting from its persisted `index`.
    pub fn new(config: PeerConfig, store: Store, index: Vec<IndexEntry>) -> Self {
        let refusals = Arc::<Refusals>::default();
        let mut state = PeerState::new(&config.peer_id, config.caps, refusals.clone(), index);
        state.set_gossip(policy::GossipTiming {
            policy: policy::GossipPolicy::default(),
            interval: config.gossip_interval,
            timeout: config.peer_timeout,
        });
        let (events, _) = broadcast::channel(1024);
        let (dirty, _) = watch::channel(0);
        Peer {
            inner: Arc::new(Inner {
                config,
                refusals,
                traffic: Traffic::default(),
                store,
                started: Instant::now(),
                state: Mutex::new(state),
                transfers: Mutex::default(),
                log: Mutex::default(),
                events,
                dirty,
                tombstones_saved: Mutex::new(0),
                push_announces: Mutex::new(transfer::PushAnnounces::new(Instant::now())),
                sends_pending: AtomicUsize::new(0),
                replied: Notify::new(),
                tasks: TaskTracker::new(),
                cancel: CancellationToken::new(),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &PeerConfig {
        &self.inner.config
    }

    /// Runs `task` in the background until it ends or the peer stops. A task stopped midway
    /// is dropped at an `.await`, so a transfer's temporary file is discarded whole.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let cancel = self.inner.cancel.clone();
        self.inner.tasks.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = task => {}
            }
        });
    }

    /// Starts `task` as one of the peer's that shutdown waits for but does not cancel: work
    /// that must finish once begun.
    fn spawn_to_end<T: Send + 'static>(
        &self,
        task: impl std::future::Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.inner.tasks.spawn(task)
    }

    /// What we refused from strangers, by reason.
    pub fn refusals(&self) -> &Arc<Refusals> {
        &self.inner.refusals
    }

    /// Messages, content bytes and transfers, counted.
    pub fn traffic(&self) -> &Traffic {
        &self.inner.traffic
    }

    /// The token that stops every background task.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.inner.cancel
    }

    /// The tracker of every background task.
    pub fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    /// The storage folder.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Our peer id.
    pub fn id(&self) -> &str {
        &self.inner.config.peer_id
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ServerEvent> {
        self.inner.events.subscribe()
    }

    /// A receiver that changes whenever the index should be saved.
    pub fn dirty(&self) -> watch::Receiver<u64> {
        self.inner.dirty.subscribe()
    }

    /// Waits for a GOSSIP_REPLY (returns at once if one arrived since the last wait).
    pub async fn reply_arrived(&self) {
        self.inner.replied.notified().await
    }

    /// Chooses which GOSSIPs are answered and forwarded (before the peer starts serving).
    pub fn set_gossip_policy(&self, policy: policy::GossipPolicy) {
        let mut state = lock(&self.inner.state);
        let timing = state.gossip_timing();
        state.set_gossip(policy::GossipTiming { policy, ..timing });
    }

    /// Takes the tombstones saved by an earlier run (before the peer starts serving); files
    /// they name are forgotten, and their copies removed at the next save. Whether there were
    /// any: the caller saves the index then, before anything else happens.
    pub fn restore_tombstones(&self, stored: Vec<Tombstone>) -> bool {
        let mut state = lock(&self.inner.state);
        let deleted = state.restore_tombstones(stored);
        for record in &deleted {
            self.remove_copy(record);
        }
        !deleted.is_empty()
    }

    /// Saves the tombstones if they changed since their last save, then deletes the copies
    /// removed from the index, then saves the index: a DELETE is durable before what it
    /// did. A crash before the tombstones are saved leaves the copy listed and on disk (the
    /// DELETE not done); after, the next start obeys the tombstone again. Deleting the copy
    /// first would let a crash forget both, and the file be fetched back.
    pub fn save_index(&self) -> std::io::Result<()> {
        // Held throughout, so that saves follow one another whole.
        let mut saved = lock(&self.inner.tombstones_saved);
        // One cut of the state: the tombstones name every copy queued for removal by then.
        let (index, removals, tombstones) = {
            let state = lock(&self.inner.state);
            let tombstones = (state.tombstones_generation() != *saved).then(|| state.tombstones());
            let removals = self.inner.store.queued_removals();
            (state.index(), removals, tombstones)
        };
        if let Some((generation, tombstones)) = tombstones {
            self.inner.store.save_tombstones(&tombstones)?;
            *saved = generation;
        }
        self.inner.store.save_cut(|| (index, removals))
    }

    /// [`Peer::save_index`] on a blocking thread.
    pub async fn save_now(&self) -> std::io::Result<()> {
        let peer = self.clone();
        let saved = tokio::task::spawn_blocking(move || peer.save_index()).await;
        saved.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }

    /// Asks the persister to save the index and tombstones.
    fn mark_dirty(&self) {
        self.inner.dirty.send_modify(|n| *n += 1);
    }

    fn publish(&self, event: ServerEvent) {
        // No subscriber is fine.
        let _ = self.inner.events.send(event);
    }

    /// Adds a line to the event log (and to the tracing log).
    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        let entry = LogEntry {
            at_ms: unix_ms(),
            level,
            message: message.into(),
        };
        match level {
            LogLevel::Info => tracing::info!("{}", entry.message),
            LogLevel::Warn => tracing::warn!("{}", entry.message),
        }
        {
            let mut log = lock(&self.inner.log);
            log.push_back(entry.clone());
            while log.len() > LOG_LINES {
                log.pop_front();
            }
        }
        self.publish(ServerEvent::Log(entry));
    }

    /// Publishes changes as events and marks the index dirty when files changed. Each event
    /// tells how the peer or file changed stands now (present or gone, whatever the change
    /// was), and goes out before the lock is released: so the last event a client gets about
    /// a peer or a file is its latest state, even when another task changed it between the
    /// change and this call.
    fn apply(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let mut files_changed = false;
        {
            let state = lock(&self.inner.state);
            let now = Instant::now();
            for change in changes {
                let event = match change {
                    Change::PeerSeen(peer_id) | Change::PeerDropped(peer_id) => {
                        match state.peers.get(&peer_id) {
                            Some(t) => ServerEvent::PeerSeen(self.peer_dto(&peer_id, t, now)),
                            None => ServerEvent::PeerDropped { peer_id },
                        }
                    }
                    Change::FileChanged(file_id) | Change::FileRemoved(file_id) => {
                        files_changed = true;
                        match state.files().get(&file_id) {
                            Some(r) => ServerEvent::FileChanged(self.file_dto(r)),
                            None => ServerEvent::FileRemoved { file_id },
                        }
                    }
                };
                self.publish(event);
            }
        }
        if files_changed {
            self.mark_dirty();
        }
    }

    /// The tracked peer at `addr`'s IP when there is exactly one, else the address itself.
    pub fn name_at(&self, addr: std::net::SocketAddr) -> String {
        let ip = addr.ip().to_string();
        let state = lock(&self.inner.state);
        let mut at_ip = state.peers.iter().filter(|(_, t)| t.host == ip);
        match (at_ip.next(), at_ip.next()) {
            (Some((id, _)), None) => id.clone(),
            _ => addr.to_string(),
        }
    }

    /// Ids that `prefix` designates (a whole id, or a prefix of some).
    pub fn resolve(&self, prefix: &str) -> Vec<String> {
        lock(&self.inner.state).resolve(prefix)
    }

    /// A GOSSIP_REPLY arrived. Whether it published an event about its sender (not for one
    /// refused).
    pub fn on_gossip_reply(&self, reply: &GossipReply) -> bool {
        let changes = lock(&self.inner.state).on_gossip_reply(reply, Instant::now());
        let told = !changes.is_empty();
        self.apply(changes);
        self.tell_undeleted();
        // One permit is kept even when nobody waits yet, so start-up cannot miss the first.
        self.inner.replied.notify_one();
        told
    }

    /// An ANNOUNCE arrived.
    pub fn on_announce(&self, announce: &Announce) {
        let changes = lock(&self.inner.state).on_announce(announce);
        self.apply(changes);
        self.tell_undeleted();
    }

    /// Sends our DELETE again to a peer that still offers a file we deleted (one that was
    /// down when we sent it, and came back with its copy): see `PeerState::take_undeleted`.
    fn tell_undeleted(&self) {
        let Some((addr, file_id)) = lock(&self.inner.state).take_undeleted(Instant::now()) else {
            return;
        };
        tracing::info!(
            "{addr} still offers {}, which we deleted: sent it our DELETE again",
            short(&file_id)
        );
        let message = crate::protocol::encode::delete(self.id(), &file_id);
        self.send_later(addr, message);
    }

    /// A DELETE arrived; honoured only from the recorded owner, remembered when the file is
    /// not known yet.
    pub fn on_delete(&self, delete: &Delete) {
        let (outcome, tombstones_changed) = {
            let mut state = lock(&self.inner.state);
            let before = state.tombstones_generation();
            let outcome = state.on_delete(delete, unix_now());
            if let DeleteOutcome::Removed(record) = &outcome {
                self.remove_copy(record);
            }
            (outcome, state.tombstones_generation() != before)
        };
        if tombstones_changed {
            self.mark_dirty();
        }
        match outcome {
            DeleteOutcome::Removed(record) => {
                self.apply(vec![Change::FileRemoved(record.meta.file_id.clone())]);
                self.log(
                    LogLevel::Info,
                    format!(
                        "{} deleted {} ({})",
                        delete.from,
                        record.meta.file_name,
                        short(&delete.file_id)
                    ),
                );
            }
            DeleteOutcome::Remembered => tracing::debug!(
                "remembered DELETE of unknown {} from {}",
                delete.file_id,
                crate::terminal::escape(&delete.from)
            ),
            DeleteOutcome::Refused => {}
        }
    }

    /// Deletes, at the next save, the copy of a record just removed from the index. Call it
    /// while the state is still locked, so that no save of the index without it can come
    /// first.
    fn remove_copy(&self, record: &state::FileRecord) {
        if let Some(stored_as) = &record.stored_as {
            self.inner.store.remove_at_next_save(stored_as);
        }
    }

    /// Our copy of `file_id`, `stored_as`, is not in the storage folder any more, or not as we
    /// stored it (someone deleted or edited it): the file is listed as not held from now on,
    /// instead of being offered to peers who would get nothing, or a copy that does not
    /// verify. `what` says which, after "our copy of NAME (ID)".
    /// Whether it was held as `stored_as` until now (false when another call came first).
    pub(crate) fn copy_gone(&self, file_id: &str, stored_as: &str, what: &str) -> bool {
        let (name, changes) = {
            let mut state = lock(&self.inner.state);
            let name = state.files().get(file_id).map(|r| r.meta.file_name.clone());
            (name, state.copy_lost(file_id, stored_as))
        };
        let Some(name) = name.filter(|_| !changes.is_empty()) else {
            return false;
        };
        self.log(
            LogLevel::Warn,
            format!("our copy of {name} ({}) {what}", short(file_id)),
        );
        self.apply(changes);
        true
    }

    /// Our own delete: only of files we own. Removes our copy and entry; the caller tells the
    /// network.
    fn delete_own(&self, file_id: &str) -> Result<FileMeta, DeleteError> {
        let record = {
            let mut state = lock(&self.inner.state);
            let record = state
                .files()
                .get(file_id)
                .ok_or_else(|| DeleteError::NotFound(file_id.to_string()))?;
            if record.meta.file_owner != self.inner.config.peer_id {
                return Err(DeleteError::NotOwner(record.meta.file_owner.clone()));
            }
            let record = state.forget(file_id, unix_now()).expect("checked above");
            self.remove_copy(&record);
            record
        };
        self.apply(vec![Change::FileRemoved(file_id.to_string())]);
        Ok(record.meta)
    }

    /// Drops silent peers and expired tombstones.
    pub fn sweep(&self) {
        let (changes, expired) = {
            let mut state = lock(&self.inner.state);
            let changes = state.sweep(Instant::now(), self.inner.config.peer_timeout);
            (changes, state.expire_tombstones(unix_now()))
        };
        if expired {
            self.mark_dirty();
        }
        let mut forgotten = 0;
        for change in &changes {
            match change {
                Change::PeerDropped(id) => {
                    self.log(LogLevel::Info, format!("dropped {id}: silent for too long"))
                }
                Change::FileRemoved(_) => forgotten += 1,
                _ => {}
            }
        }
        if forgotten > 0 {
            self.log(
                LogLevel::Info,
                format!(
                    "forgot {} we do not hold, which no tracked peer has offered for two \
                     timeouts",
                    count(forgotten, "file")
                ),
            );
        }
        self.apply(changes);
    }

    /// Files we hold, as GOSSIP_REPLY lists them.
    pub fn held_metas(&self) -> Vec<FileMeta> {
        lock(&self.inner.state)
            .held()
            .map(|r| r.meta.clone())
            .collect()
    }

    /// Our copy of `file_id`: its description and stored name.
    pub fn held_copy(&self, file_id: &str) -> Option<(FileMeta, String)> {
        let state = lock(&self.inner.state);
        let record = state.files().get(file_id)?;
        Some((record.meta.clone(), record.stored_as.clone()?))
    }

    /// Whether our copy of `file_id` is still stored as `stored_as`: checked after opening it,
    /// since the copy may have been deleted meanwhile and its name given to another file.
    pub(super) fn still_held_as(&self, file_id: &str, stored_as: &str) -> bool {
        self.held_copy(file_id)
            .is_some_and(|(_, now)| now == stored_as)
    }

    /// Ids of known files we do not hold.
    pub fn missing(&self) -> Vec<String> {
        let state = lock(&self.inner.state);
        state
            .files()
            .values()
            .filter(|r| r.stored_as.is_none())
            .map(|r| r.meta.file_id.clone())
            .collect()
    }

    /// Records a verified copy we now hold (fetched, pushed to us, or our own new file); its
    /// fields become the record's, unless we held a copy already: the new one is then
    /// removed, as it is when this returns an error.
    fn record_copy(&self, meta: &FileMeta, stored_as: String) -> Result<Held, NotHeld> {
        let (held, first) = {
            let mut state = lock(&self.inner.state);
            let held = state.hold(meta, stored_as.clone());
            let first = (state.files().get(&meta.file_id))
                .filter(|r| r.stored_as.is_some())
                .map(|r| Held {
                    meta: r.meta.clone(),
                    new: false,
                });
            (held, first)
        };
        if held.is_err() {
            self.inner.store.remove(&stored_as);
        }
        match held {
            Ok(()) => {
                self.apply(vec![Change::FileChanged(meta.file_id.clone())]);
                Ok(Held {
                    meta: meta.clone(),
                    new: true,
                })
            }
            Err(NotHeld::AlreadyHeld) => Ok(first.expect("a held file has a record")),
            Err(e) => Err(e),
        }
    }

    /// Hashes and indexes files found in the storage folder that no entry describes for sure
    /// (as the one of its `candidates` that fits, else as ours, unless hidden: see
    /// `Store::adopt`). Callers run it in the
    /// background, so that a big folder holds back neither the listeners nor the console nor
    /// the API.
    pub async fn adopt_found(
        &self,
        names: Vec<String>,
        mut candidates: BTreeMap<String, Vec<FileMeta>>,
    ) {
        let mut added = 0;
        for name in names {
            let fits = candidates.remove(&name).unwrap_or_default();
            let known: Vec<String> = fits.iter().map(|m| m.file_id.clone()).collect();
            let held = {
                let peer = self.clone();
                move |id: &str| peer.file(id).is_some_and(|f| f.has_copy)
            };
            let adopted = self.store().adopt(&name, self.id(), fits, held).await;
            let not_indexed = match adopted {
                Err(e) => e.to_string(),
                Ok(entry) => {
                    let id = entry.meta.file_id.clone();
                    let described = known.contains(&id);
                    match self.add_adopted(entry) {
                        Ok(()) => {
                            added += 1;
                            continue;
                        }
                        // Held as this very file already (adopted meanwhile by another task).
                        Err(NotHeld::AlreadyHeld)
                            if self.held_copy(&id).is_some_and(|(_, at)| at == name) =>
                        {
                            continue;
                        }
                        // The file an entry said it is, deleted by its owner meanwhile or
                        // held under another name already: left on disk, it would be taken
                        // for a new file of ours at the next start.
                        Err(e @ (NotHeld::Deleted | NotHeld::AlreadyHeld)) if described => {
                            self.inner.store.remove_at_next_save(&name);
                            self.mark_dirty();
                            format!("{e}; removed it")
                        }
                        Err(e) => e.to_string(),
                    }
                }
            };
            self.log(
                LogLevel::Warn,
                format!("cannot index {name}: {not_indexed}"),
            );
        }
        if added > 0 {
            self.log(
                LogLevel::Info,
                format!(
                    "indexed {} found in the storage folder",
                    count(added, "file")
                ),
            );
        }
    }

    /// Indexes a file found in the storage folder as ours (see `Store::adopt`); `Err` when we
    /// already hold that id, its owner deleted it, or a field is too long, and the file is
    /// left alone.
    pub fn add_adopted(&self, entry: IndexEntry) -> Result<(), NotHeld> {
        let Some(stored_as) = entry.stored_as else {
            return Err(NotHeld::AlreadyHeld);
        };
        lock(&self.inner.state).hold(&entry.meta, stored_as)?;
        // Peers that heard our file list before it was found have it without this file.
        self.announce(&entry.meta);
        self.apply(vec![Change::FileChanged(entry.meta.file_id)]);
        Ok(())
    }

    fn transfer_started(
        &self,
        kind: TransferKind,
        meta_id: &str,
        name: &str,
        peer: Option<String>,
        total: Option<u64>,
    ) -> TransferDto {
        let dto = lock(&self.inner.transfers).start(kind, meta_id, name, peer, total);
        self.publish(ServerEvent::Transfer(dto.clone()));
        dto
    }

    fn transfer_describe(&self, id: u64, file_id: &str, file_name: &str) {
        lock(&self.inner.transfers).describe(id, file_id, file_name);
    }

    fn transfer_progress(&self, id: u64, peer: &str, done: u64) {
        let dto = lock(&self.inner.transfers).progress(id, peer, done);
        if let Some(dto) = dto {
            self.publish(ServerEvent::Transfer(dto));
        }
    }

    fn transfer_finished(&self, id: u64, state: TransferStateDto) {
        let dto = lock(&self.inner.transfers).finish(id, state);
        if let Some(dto) = dto {
            self.publish(ServerEvent::Transfer(dto));
        }
    }

    /// The running download of `file_id`, or a new one (then `true`, and published), both
    /// under one lock so that two callers cannot both start one.
    fn download_started(
        &self,
        kind: TransferKind,
        file_id: &str,
        name: &str,
        total: Option<u64>,
    ) -> (TransferDto, bool) {
        let (dto, new) = lock(&self.inner.transfers).download(kind, file_id, name, total);
        if new {
            self.publish(ServerEvent::Transfer(dto.clone()));
        }
        (dto, new)
    }

    /// The running download of `file_id`, if any.
    pub fn running_download(&self, file_id: &str) -> Option<TransferDto> {
        lock(&self.inner.transfers).running(file_id)
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut PeerState) -> R) -> R {
        f(&mut lock(&self.inner.state))
    }
}

/// The copy of a file we hold, once a verified one was recorded.
struct Held {
    meta: FileMeta,
    /// Whether it is the copy just recorded (else we held one already, and the new one was
    /// dropped).
    new: bool,
}

/// `1 file`, `2 files`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The first 12 characters of an id, for messages.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod events_tests;

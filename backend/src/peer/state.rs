//! The decisions of a peer as plain functions over plain data: tracking peers, merging file
//! metadata, the owner check of DELETE, the sweep of silent peers. No I/O, no clock (callers
//! pass `now`), so all of it is tested directly.

use crate::protocol::{Announce, Delete, FileMeta, Gossip, GossipReply};
use crate::store::IndexEntry;
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// How many GOSSIP ids are remembered; the oldest are forgotten first.
pub const SEEN_IDS: usize = 10_000;

/// A peer we heard from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracked {
    /// The host it advertised.
    pub host: String,
    /// The port it advertised.
    pub port: u16,
    /// When we last heard a GOSSIP or GOSSIP_REPLY from it.
    pub last_seen: Instant,
    /// Silent for more than half the drop timeout (reported once, when it happens).
    pub quiet: bool,
}

impl Tracked {
    /// `host:port`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A file we know of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    /// Its wire description, values verbatim.
    pub meta: FileMeta,
    /// Peers recorded as holding it (unreliable).
    pub holders: BTreeSet<String>,
    /// Our copy's name in the storage folder.
    pub stored_as: Option<String>,
}

/// Something that changed, for the dashboard and the console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A peer was tracked or heard from.
    PeerSeen(String),
    /// A peer was dropped.
    PeerDropped(String),
    /// A file was added or changed.
    FileChanged(String),
    /// A file was removed.
    FileRemoved(String),
}

/// The file was deleted by its owner.
#[derive(Debug, PartialEq, Eq)]
pub struct Deleted;

/// What to do after a GOSSIP: reply to its origin, forward the original to a few peers.
#[derive(Debug, PartialEq, Eq)]
pub struct GossipPlan {
    /// `host:port` of the GOSSIP's origin.
    pub reply_to: String,
    /// `host:port` of the peers to forward to.
    pub forward_to: Vec<String>,
}

/// A bounded set of recent ids (GOSSIP ids seen, file ids deleted); the oldest go first.
#[derive(Debug, Default)]
struct RecentIds {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl RecentIds {
    /// Records `id`; false if it was already there.
    fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() >= SEEN_IDS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(id.to_string());
        self.set.insert(id.to_string());
        true
    }

    fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }
}

/// Everything a peer knows.
#[derive(Debug)]
pub struct PeerState {
    me: String,
    /// Tracked peers by id.
    pub peers: BTreeMap<String, Tracked>,
    /// Known files by id.
    pub files: BTreeMap<String, FileRecord>,
    seen: RecentIds,
    /// Files deleted by their owner: gossip already on its way must not bring them back.
    deleted: RecentIds,
}

impl PeerState {
    /// The state of peer `me`, starting from a persisted index. Its holder lists are left
    /// behind: no peer has been heard from yet, and untracked holders would never be swept
    /// out; gossip refills them.
    pub fn new(me: &str, index: Vec<IndexEntry>) -> Self {
        let files = index
            .into_iter()
            .map(|e| {
                let record = FileRecord {
                    holders: BTreeSet::new(),
                    stored_as: e.stored_as,
                    meta: e.meta,
                };
                (record.meta.file_id.clone(), record)
            })
            .collect();
        PeerState {
            me: me.to_string(),
            peers: BTreeMap::new(),
            files,
            seen: RecentIds::default(),
            deleted: RecentIds::default(),
        }
    }

    /// Our peer id.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// The index as persisted.
    pub fn index(&self) -> Vec<IndexEntry> {
        self.files
            .values()
            .map(|r| IndexEntry {
                meta: r.meta.clone(),
                holders: r.holders.iter().cloned().collect(),
                stored_as: r.stored_as.clone(),
            })
            .collect()
    }

    /// Records that `peer_id` at `host:port` was heard from.
    fn track(&mut self, peer_id: &str, host: &str, port: u16, now: Instant) -> Change {
        self.peers.insert(
            peer_id.to_string(),
            Tracked {
                host: host.to_string(),
                port,
                last_seen: now,
                quiet: false,
            },
        );
        Change::PeerSeen(peer_id.to_string())
    }

    /// A GOSSIP arrived. `None` when it is a repeat or our own.
    pub fn on_gossip(
        &mut self,
        g: &Gossip,
        now: Instant,
        rng: &mut impl Rng,
    ) -> Option<(GossipPlan, Change)> {
        if !self.seen.insert(&g.id) || g.peer_id == self.me {
            return None;
        }
        let change = self.track(&g.peer_id, &g.host, g.port, now);
        let plan = GossipPlan {
            reply_to: format!("{}:{}", g.host, g.port),
            forward_to: self.pick_peers(3, &[&g.peer_id], rng),
        };
        Some((plan, change))
    }

    /// Records the id of a GOSSIP we send, so that it is dropped when it comes back.
    pub fn remember_gossip(&mut self, id: &str) {
        self.seen.insert(id);
    }

    /// Up to `n` random tracked peers' addresses, excluding `except`.
    pub fn pick_peers(&self, n: usize, except: &[&str], rng: &mut impl Rng) -> Vec<String> {
        let mut candidates: Vec<&Tracked> = self
            .peers
            .iter()
            .filter(|(id, _)| !except.contains(&id.as_str()) && **id != self.me)
            .map(|(_, t)| t)
            .collect();
        candidates.shuffle(rng);
        candidates.into_iter().take(n).map(Tracked::addr).collect()
    }

    /// A GOSSIP_REPLY arrived: track its sender and merge its files.
    pub fn on_gossip_reply(&mut self, r: &GossipReply, now: Instant) -> Vec<Change> {
        if r.peer_id == self.me {
            return Vec::new();
        }
        let mut changes = vec![self.track(&r.peer_id, &r.host, r.port, now)];
        for meta in &r.files {
            changes.extend(self.merge(meta, &r.peer_id));
        }
        changes
    }

    /// An ANNOUNCE arrived: merge it as metadata, with `from` as a holder.
    pub fn on_announce(&mut self, a: &Announce) -> Option<Change> {
        self.merge(&a.meta, &a.from)
    }

    /// The merge rule: add unknown ids; for known ones add the holder, and take the incoming
    /// fields when their timestamp is newer.
    pub fn merge(&mut self, meta: &FileMeta, holder: &str) -> Option<Change> {
        if self.deleted.contains(&meta.file_id) {
            return None;
        }
        let mut changed = false;
        let record = self.files.entry(meta.file_id.clone()).or_insert_with(|| {
            changed = true;
            FileRecord {
                meta: meta.clone(),
                holders: BTreeSet::new(),
                stored_as: None,
            }
        });
        if holder != self.me && !holder.is_empty() {
            changed |= record.holders.insert(holder.to_string());
        }
        // A copy we hold was verified against its timestamp; no other timestamp can match the
        // same id, so "newer" fields for it are forged (a stranger renaming it, or claiming to
        // own it so that its DELETE would be obeyed).
        let newer = match (
            meta.file_timestamp.as_f64(),
            record.meta.file_timestamp.as_f64(),
        ) {
            (Some(incoming), Some(ours)) => incoming > ours && record.stored_as.is_none(),
            _ => false,
        };
        if newer {
            record.meta = meta.clone();
            changed = true;
        }
        changed.then(|| Change::FileChanged(meta.file_id.clone()))
    }

    /// A DELETE arrived: acts only when `from` is the recorded owner, and never when it claims
    /// to come from us (we do not send ourselves DELETEs). Returns the removed record (its copy
    /// is for the caller to delete).
    pub fn on_delete(&mut self, d: &Delete) -> Option<FileRecord> {
        let record = self.files.get(&d.file_id)?;
        if record.meta.file_owner != d.from || d.from == self.me {
            return None;
        }
        self.forget(&d.file_id)
    }

    /// Removes a file for good: later gossip about it is ignored.
    pub fn forget(&mut self, file_id: &str) -> Option<FileRecord> {
        self.deleted.insert(file_id);
        self.files.remove(file_id)
    }

    /// Records that our verified copy of `meta` is stored as `stored_as`. Returns the name of
    /// a copy it replaces, if any; `Err` when the file was deleted meanwhile (the caller then
    /// removes the new copy).
    pub fn hold(&mut self, meta: &FileMeta, stored_as: String) -> Result<Option<String>, Deleted> {
        self.merge(meta, "");
        let record = self.files.get_mut(&meta.file_id).ok_or(Deleted)?;
        Ok(record.stored_as.replace(stored_as))
    }

    /// Drops peers silent for longer than `timeout`, and removes them from holder lists; peers
    /// silent for half of it turn quiet.
    pub fn sweep(&mut self, now: Instant, timeout: Duration) -> Vec<Change> {
        let mut changes = Vec::new();
        for (id, t) in &mut self.peers {
            if !t.quiet && now.saturating_duration_since(t.last_seen) > timeout / 2 {
                t.quiet = true;
                changes.push(Change::PeerSeen(id.clone()));
            }
        }
        let silent: Vec<String> = self
            .peers
            .iter()
            .filter(|(_, t)| now.saturating_duration_since(t.last_seen) > timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in silent {
            self.peers.remove(&id);
            for record in self.files.values_mut() {
                if record.holders.remove(&id) {
                    changes.push(Change::FileChanged(record.meta.file_id.clone()));
                }
            }
            changes.push(Change::PeerDropped(id));
        }
        changes
    }

    /// Addresses to fetch `file_id` from: tracked holders first, then every other tracked peer,
    /// each group in random order.
    pub fn sources(&self, file_id: &str, rng: &mut impl Rng) -> Vec<(String, String)> {
        let holders = self.files.get(file_id).map(|r| &r.holders);
        let is_holder = |id: &str| holders.is_some_and(|h| h.contains(id));
        let mut first: Vec<(String, String)> = Vec::new();
        let mut rest: Vec<(String, String)> = Vec::new();
        for (id, t) in &self.peers {
            let group = if is_holder(id) { &mut first } else { &mut rest };
            group.push((id.clone(), t.addr()));
        }
        first.shuffle(rng);
        rest.shuffle(rng);
        first.extend(rest);
        first
    }

    /// Files we hold a copy of.
    pub fn held(&self) -> impl Iterator<Item = &FileRecord> {
        self.files.values().filter(|r| r.stored_as.is_some())
    }

    /// Ids matching `prefix`: the one id equal to it, or all ids starting with it.
    pub fn resolve(&self, prefix: &str) -> Vec<String> {
        if self.files.contains_key(prefix) {
            return vec![prefix.to_string()];
        }
        self.files
            .keys()
            .filter(|id| id.starts_with(prefix))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;

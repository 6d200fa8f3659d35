//! The decisions of a peer as plain functions over plain data: tracking peers, merging what
//! strangers claim about files, the owner check of DELETE, the caps on what strangers can make
//! us keep, the sweep of silent peers. No I/O, no clock (callers pass `now`), so all of it is
//! tested directly. Every refusal is counted in the shared [`Refusals`].
//!
//! Trust: nothing on the wire is signed. The only fields we can check are those of a copy that
//! hashes to its id, so a verified copy's fields win; claims (ANNOUNCE, GOSSIP_REPLY) never
//! change a file we know, and a DELETE is obeyed only from the owner those fields name.

use super::health::Health;
use super::policy::{Exchange, GossipPolicy, GossipTiming};
use super::tombstones::Tombstones;
use super::Caps;
use crate::protocol::{Announce, Delete, FileMeta, Gossip, GossipReply, MAX_REPLY_FILES};
use crate::refusal::{Reason, Refusals};
use crate::store::tombstones::Tombstone;
use crate::store::IndexEntry;
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many GOSSIP ids are remembered; the oldest are forgotten first.
pub const SEEN_IDS: usize = 10_000;

/// Most holders recorded per file. Fetching tries holders first and then a few other tracked
/// peers, so more would add memory, not reach.
pub const MAX_HOLDERS: usize = 64;

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
    /// How it has served us; kept while it stays tracked, even when it moves.
    pub health: Health,
    /// What we last did for its GOSSIPs.
    pub exchange: Exchange,
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
    /// Its wire description, values verbatim: the fields of our verified copy when we hold
    /// one, else the first claim we heard.
    pub meta: FileMeta,
    /// Tracked peers recorded as holding it (unreliable).
    pub holders: BTreeSet<String>,
    /// Our copy's name in the storage folder.
    pub stored_as: Option<String>,
    /// When we learned of it, as a sequence number (the cap on unheld files evicts the
    /// oldest).
    learned: u64,
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

/// Why a verified copy was not recorded (the caller removes it).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotHeld {
    /// We hold a copy already: the first verified copy stays, with its fields.
    #[error("a copy is held already")]
    AlreadyHeld,
    /// Its owner deleted it.
    #[error("the file was deleted by its owner")]
    Deleted,
    /// A field is longer than the caps allow.
    #[error("a field is longer than allowed")]
    FieldTooLong,
}

/// What a DELETE did.
#[derive(Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The file was removed; its copy, if any, is for the caller to delete.
    Removed(FileRecord),
    /// The file is unknown: the DELETE is remembered, in case its ANNOUNCE is late.
    Remembered,
    /// Not from the owner (counted).
    Refused,
}

/// What to do after a GOSSIP: reply to its origin, forward the original to a few peers.
#[derive(Debug, PartialEq, Eq)]
pub struct GossipPlan {
    /// `host:port` of the GOSSIP's origin, when it gets our reply.
    pub reply_to: Option<String>,
    /// `host:port` of the peers to forward to, each address once.
    pub forward_to: Vec<String>,
    /// Send our own GOSSIP to the origin: it is new to us and has not sent us its files, and
    /// its reply is how we learn them (our rounds may take many intervals to reach it).
    pub greet: bool,
}

/// A bounded set of recent GOSSIP ids; the oldest go first.
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
}

/// Everything a peer knows.
#[derive(Debug)]
pub struct PeerState {
    me: String,
    caps: Caps,
    refusals: Arc<Refusals>,
    /// Tracked peers by id.
    pub peers: BTreeMap<String, Tracked>,
    /// Known files by id.
    files: BTreeMap<String, FileRecord>,
    /// Ids of the files we do not hold, by when we learned them, oldest first.
    unheld: BTreeMap<u64, String>,
    /// The next `FileRecord::learned`.
    next_learned: u64,
    seen: RecentIds,
    tombstones: Tombstones,
    gossip: GossipTiming,
    /// Changes whenever the set of files we hold does (so a reply knows its list is new).
    held_version: u64,
    /// Ids claimed for new files of ours that are being committed (see [`PeerState::claim_id`]).
    claimed: HashSet<String>,
    /// Tracked peers that offered a file we deleted since the last
    /// [`PeerState::take_undeleted`], and the id: one of them is told again.
    undeleted: BTreeSet<(String, String)>,
    /// When each address was last told of each id, so that a peer that keeps offering the
    /// file is told once per refresh, not once per claim, whatever id it goes by.
    told_deleted: HashMap<(String, String), Instant>,
    /// Files we do not hold that no tracked peer holds, and since which sweep (see
    /// [`PeerState::sweep`]).
    unclaimed: HashMap<String, Instant>,
    /// Peers dropped lately, by id: the address they were at, and when (see
    /// [`PeerState::recall`]).
    dropped: HashMap<String, (String, Instant)>,
}

/// How many drop timeouts a file we do not hold is kept with no tracked holder. Peers list
/// their files to us about once per half timeout (see [`GossipTiming::refresh`]), so one
/// timeout could forget a file whose holder was only slow to list it again after our restart.
const UNCLAIMED_TIMEOUTS: u32 = 2;

/// For how many timeouts a dropped peer is recalled (see [`PeerState::recall`]).
const RECALL_TIMEOUTS: u32 = 3;

/// Most dropped peers recalled: each costs a GOSSIP per timeout, and a stranger can have us
/// track (and then drop) peers at any address.
const MAX_DROPPED: usize = 64;

/// Most peers and files that one message can put in line to be told again of a DELETE of
/// ours (see [`PeerState::take_undeleted`]).
const MAX_UNDELETED: usize = 256;

impl PeerState {
    /// The state of peer `me`, starting from a persisted index. Its holder lists are left
    /// behind: no peer has been heard from yet, and untracked holders would never be swept
    /// out; gossip refills them.
    pub fn new(me: &str, caps: Caps, refusals: Arc<Refusals>, index: Vec<IndexEntry>) -> Self {
        let mut state = PeerState {
            me: me.to_string(),
            caps,
            refusals,
            peers: BTreeMap::new(),
            files: BTreeMap::new(),
            unheld: BTreeMap::new(),
            next_learned: 0,
            seen: RecentIds::default(),
            tombstones: Tombstones::default(),
            gossip: GossipTiming::default(),
            held_version: 0,
            claimed: HashSet::new(),
            undeleted: BTreeSet::new(),
            told_deleted: HashMap::new(),
            unclaimed: HashMap::new(),
            dropped: HashMap::new(),
        };
        for e in index {
            // One record per id (a hand-edited index may list one twice): a held copy wins.
            let kept = state.files.get(&e.meta.file_id);
            if kept.is_some_and(|r| r.stored_as.is_some() || e.stored_as.is_none()) {
                continue;
            }
            state.remove(&e.meta.file_id);
            state.insert(e.meta, e.stored_as);
        }
        state
    }

    /// Takes the tombstones saved by an earlier run, and forgets the files they name: a copy
    /// its owner had deleted can come back only through a crash after it landed and before it
    /// was refused. Returns their records, whose copies the caller removes.
    pub fn restore_tombstones(&mut self, stored: Vec<Tombstone>) -> Vec<FileRecord> {
        self.tombstones = Tombstones::from_stored(stored);
        let deleted: Vec<String> = (self.files.values())
            .filter(|r| (self.tombstones).contains(&r.meta.file_id, &r.meta.file_owner))
            .map(|r| r.meta.file_id.clone())
            .collect();
        deleted.iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Sets how GOSSIPs are answered and forwarded.
    pub fn set_gossip(&mut self, timing: GossipTiming) {
        self.gossip = timing;
    }

    /// How GOSSIPs are answered and forwarded.
    pub fn gossip_timing(&self) -> GossipTiming {
        self.gossip
    }

    /// Our peer id.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Known files by id.
    pub fn files(&self) -> &BTreeMap<String, FileRecord> {
        &self.files
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

    /// Claims `file_id` for a new file of ours, until [`PeerState::release_id`]; false when
    /// it is taken: a file by that id is known, one of ours by that id was deleted, or another
    /// new file of ours claimed it (the same content, added at the same moment).
    pub fn claim_id(&mut self, file_id: &str) -> bool {
        let taken = self.files.contains_key(file_id)
            || self.tombstones.contains(file_id, &self.me)
            || self.claimed.contains(file_id);
        !taken && self.claimed.insert(file_id.to_string())
    }

    /// Ends the claim of [`PeerState::claim_id`]: the file is recorded, or was not kept.
    pub fn release_id(&mut self, file_id: &str) {
        self.claimed.remove(file_id);
    }

    /// The tombstones as persisted, and their generation (it changes whenever they do).
    pub fn tombstones(&self) -> (u64, Vec<Tombstone>) {
        (self.tombstones.generation(), self.tombstones.to_stored())
    }

    /// Changes whenever the tombstones do.
    pub fn tombstones_generation(&self) -> u64 {
        self.tombstones.generation()
    }

    /// Adds a record without any check (the caller made them).
    fn insert(&mut self, meta: FileMeta, stored_as: Option<String>) {
        let learned = self.next_learned;
        self.next_learned += 1;
        match stored_as {
            None => {
                self.unheld.insert(learned, meta.file_id.clone());
            }
            Some(_) => self.held_version += 1,
        }
        let id = meta.file_id.clone();
        let record = FileRecord {
            meta,
            holders: BTreeSet::new(),
            stored_as,
            learned,
        };
        self.files.insert(id, record);
    }

    fn remove(&mut self, file_id: &str) -> Option<FileRecord> {
        let record = self.files.remove(file_id)?;
        match record.stored_as {
            None => {
                self.unheld.remove(&record.learned);
            }
            Some(_) => self.held_version += 1,
        }
        Some(record)
    }

    /// Makes room for one more unheld file, evicting the oldest; false when the cap is zero.
    fn make_room(&mut self, changes: &mut Vec<Change>) -> bool {
        let cap = self.caps.max_unheld_files;
        while self.unheld.len() >= cap {
            let Some((_, id)) = self.unheld.pop_first() else {
                break;
            };
            self.files.remove(&id);
            self.refusals.refuse(
                Reason::UnheldFiles,
                format_args!("forgot {id}: over {cap} files known but not held"),
            );
            changes.push(Change::FileRemoved(id));
        }
        cap > 0
    }

    /// Whether every text field fits its cap; refuses (and counts) the message when one does
    /// not. `what` names the message, for the log.
    fn fits(&self, what: &str, fields: &[(&str, &str)], meta: Option<&FileMeta>) -> bool {
        let max_field = self.caps.max_field;
        let long_field = fields
            .iter()
            .copied()
            .chain(meta.into_iter().flat_map(|m| {
                [
                    ("file_id", m.file_id.as_str()),
                    ("file_owner", m.file_owner.as_str()),
                    ("file_size", m.file_size.json()),
                    ("file_timestamp", m.file_timestamp.json()),
                ]
            }))
            .find(|(_, text)| text.len() > max_field)
            .map(|(name, text)| (name, text.len(), max_field));
        let long_name = meta
            .filter(|m| m.file_name.len() > self.caps.max_name)
            .map(|m| ("file_name", m.file_name.len(), self.caps.max_name));
        match long_field.or(long_name) {
            Some((name, len, cap)) => {
                // Never the text itself: it may be megabytes.
                self.refusals.refuse(
                    Reason::FieldTooLong,
                    format_args!("{what}: {name} of {len} bytes (at most {cap})"),
                );
                false
            }
            None => true,
        }
    }

    /// Records that `peer_id` at `host:port` was heard from; `None` (counted) when the caps on
    /// tracked peers forbid a new one. A quiet peer at a new address starts a new
    /// [`Exchange`]: it may be a new process that knows nothing.
    fn track(&mut self, peer_id: &str, host: &str, port: u16, now: Instant) -> Option<Change> {
        let at = |t: &Tracked| t.host == host && t.port == port;
        if let Some(t) = self.peers.get_mut(peer_id).filter(|t| at(t)) {
            t.last_seen = now;
            t.quiet = false;
            return Some(Change::PeerSeen(peer_id.to_string()));
        }
        if !self.peers.contains_key(peer_id) && self.peers.len() >= self.caps.max_peers {
            self.refusals.refuse(
                Reason::TrackedPeers,
                format_args!("not tracking {peer_id}: {} peers tracked", self.peers.len()),
            );
            return None;
        }
        let ids_there = self
            .peers
            .iter()
            .filter(|(id, t)| id.as_str() != peer_id && at(t))
            .count();
        if ids_there >= self.caps.max_ids_per_addr {
            self.refusals.refuse(
                Reason::IdsPerAddress,
                format_args!("not tracking {peer_id}: {ids_there} peer ids at {host}:{port}"),
            );
            return None;
        }
        // A peer that moved keeps its record of how it served us. Anyone can write any id and
        // address in a GOSSIP: were a peer that is not quiet treated as new at each address,
        // a stranger alternating two would have each GOSSIP answered with our whole file list,
        // and flooded, as a new origin's. So it keeps when we last answered it, and only a
        // peer back from silence, likely restarted, starts afresh. Its GOSSIPs are forwarded
        // as a newcomer's again, though, once per refresh at most: the others know it at its
        // old address only, and without the floods they would let that fall silent and drop
        // it.
        let moved = self.peers.get(peer_id);
        let health = moved.map_or_else(Health::default, |t| t.health.clone());
        let refresh = self.gossip.refresh();
        let exchange = match moved {
            Some(t) if !t.quiet => {
                let x = &t.exchange;
                let due = x
                    .moved
                    .is_none_or(|at| now.saturating_duration_since(at) >= refresh);
                match due {
                    true => Exchange {
                        since: now,
                        forwarded: None,
                        floods: 0,
                        moved: Some(now),
                        ..*x
                    },
                    false => Exchange { since: now, ..*x },
                }
            }
            _ => Exchange::new(now),
        };
        self.dropped.remove(peer_id);
        self.peers.insert(
            peer_id.to_string(),
            Tracked {
                host: host.to_string(),
                port,
                last_seen: now,
                quiet: false,
                health,
                exchange,
            },
        );
        Some(Change::PeerSeen(peer_id.to_string()))
    }

    /// A GOSSIP arrived. `None` when it is a repeat, our own, or refused: a sender we cannot
    /// track gets no reply and no forwarding, so one address cannot make us amplify.
    pub fn on_gossip(
        &mut self,
        g: &Gossip,
        now: Instant,
        rng: &mut impl Rng,
    ) -> Option<(GossipPlan, Change)> {
        let fields = [
            ("host", g.host.as_str()),
            ("id", &g.id),
            ("peerId", &g.peer_id),
        ];
        if !self.fits("GOSSIP", &fields, None) {
            return None;
        }
        // It is forwarded as it came, so its size is ours to bound: four short fields, and
        // room for a few more that some peer may add.
        let cap = 4 * self.caps.max_field;
        if g.raw.len() > cap {
            self.refusals.refuse(
                Reason::FieldTooLong,
                format_args!("GOSSIP of {} bytes (at most {cap})", g.raw.len()),
            );
            return None;
        }
        if !self.seen.insert(&g.id) || g.peer_id == self.me {
            return None;
        }
        let change = self.track(&g.peer_id, &g.host, g.port, now)?;
        let (timing, files, tracked) = (self.gossip, self.held_version, self.peers.len());
        let x = &mut self.peers.get_mut(&g.peer_id).expect("tracked").exchange;
        let greet = timing.policy == GossipPolicy::Lean && x.sent.is_none() && !x.listed;
        if greet {
            x.sent = Some(now);
        }
        let reply = timing.reply(x, files, now);
        if reply {
            x.replied = Some((now, files));
        }
        let forward = timing.forward(x, tracked, now);
        if forward {
            x.forwarded = Some(now);
            x.floods += 1;
        }
        let plan = GossipPlan {
            reply_to: reply.then(|| format!("{}:{}", g.host, g.port)),
            forward_to: if forward {
                self.pick_peers(3, &[&g.peer_id], rng)
            } else {
                Vec::new()
            },
            greet,
        };
        Some((plan, change))
    }

    /// Records the id of a GOSSIP we send, so that it is dropped when it comes back.
    pub fn remember_gossip(&mut self, id: &str) {
        self.seen.insert(id);
    }

    /// Where our round at `now` goes: 3 tracked peers (each address once), those our rounds
    /// went to longest ago first, so that every tracked peer is reached in turn.
    pub fn round_targets(&mut self, now: Instant, rng: &mut impl Rng) -> Vec<String> {
        let mut order: Vec<(Option<Instant>, u64, &String, &Tracked)> = self
            .peers
            .iter()
            .filter(|(id, _)| **id != self.me)
            .map(|(id, t)| (t.exchange.sent, rng.gen(), id, t))
            .collect();
        order.sort_unstable_by_key(|&(sent, tie, _, _)| (sent, tie));
        let mut addrs: Vec<(&str, u16)> = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        for (_, _, id, t) in order {
            let addr = (t.host.as_str(), t.port);
            if addrs.len() < 3 && !addrs.contains(&addr) {
                addrs.push(addr);
            }
            if addrs.contains(&addr) {
                ids.push(id.clone());
            }
        }
        let targets = addrs.iter().map(|(h, p)| format!("{h}:{p}")).collect();
        for id in ids {
            if let Some(t) = self.peers.get_mut(&id) {
                t.exchange.sent = Some(now);
            }
        }
        targets
    }

    /// Up to `n` random distinct addresses of tracked peers, excluding the peers in `except`
    /// and any address one of them is at: a message goes to each address once, however many
    /// peer ids claim it.
    pub fn pick_peers(&self, n: usize, except: &[&str], rng: &mut impl Rng) -> Vec<String> {
        let excluded: Vec<(&str, u16)> = except
            .iter()
            .filter_map(|id| self.peers.get(*id))
            .map(|t| (t.host.as_str(), t.port))
            .collect();
        let mut candidates: Vec<(&String, &Tracked)> = self.peers.iter().collect();
        // A partial shuffle, filtering only what it draws: this runs for every GOSSIP
        // forwarded, so it costs what it picks rather than ordering every tracked peer.
        let mut picked = Vec::new();
        let mut addrs = HashSet::new();
        let mut left = candidates.len();
        while picked.len() < n && left > 0 {
            candidates.swap(rng.gen_range(0..left), left - 1);
            left -= 1;
            let (id, t) = candidates[left];
            let addr = (t.host.as_str(), t.port);
            if except.contains(&id.as_str()) || *id == self.me || excluded.contains(&addr) {
                continue;
            }
            if addrs.insert(addr) {
                picked.push(t.addr());
            }
        }
        picked
    }

    /// A GOSSIP_REPLY arrived: track its sender and merge its files. A sender we cannot track
    /// is refused whole.
    pub fn on_gossip_reply(&mut self, r: &GossipReply, now: Instant) -> Vec<Change> {
        let fields = [("host", r.host.as_str()), ("peerId", &r.peer_id)];
        if r.peer_id == self.me || !self.fits("GOSSIP_REPLY", &fields, None) {
            return Vec::new();
        }
        // A known peer stays where its GOSSIP asked to be answered: a reply's own host is what
        // its sender believes it is, and real peers write `127.0.0.1` there.
        let seen = match self.peers.get_mut(&r.peer_id) {
            Some(t) => {
                t.last_seen = now;
                t.quiet = false;
                Change::PeerSeen(r.peer_id.clone())
            }
            None => match self.track(&r.peer_id, &r.host, r.port, now) {
                Some(seen) => seen,
                None => return Vec::new(),
            },
        };
        if let Some(t) = self.peers.get_mut(&r.peer_id) {
            t.exchange.listed = true;
        }
        let mut changes = vec![seen];
        for meta in &r.files {
            changes.extend(self.merge(meta, &r.peer_id));
        }
        // The list is whole (unless the cap cut it): the sender holds nothing it leaves out.
        // Else a holder that deleted a file would stay its holder for as long as it is
        // tracked, and a peer that missed the DELETE would keep trying it.
        if r.files.len() < MAX_REPLY_FILES {
            let listed: HashSet<&str> = r.files.iter().map(|m| m.file_id.as_str()).collect();
            for (id, record) in &mut self.files {
                if !listed.contains(id.as_str()) && record.holders.remove(&r.peer_id) {
                    changes.push(Change::FileChanged(id.clone()));
                }
            }
        }
        changes
    }

    /// An ANNOUNCE arrived: merge it as metadata, with `from` as a holder.
    pub fn on_announce(&mut self, a: &Announce) -> Vec<Change> {
        if !self.fits("ANNOUNCE", &[("from", &a.from)], Some(&a.meta)) {
            return Vec::new();
        }
        self.merge(&a.meta, &a.from)
    }

    /// The merge rule for claims (they cannot be checked): an unknown id is added as claimed,
    /// with `holder` (within the cap on unheld files); a known one keeps its fields, and only
    /// gains `holder`. A claim that contradicts the fields we keep is counted; one naming an
    /// owner who deleted the file is dropped, and so is an unknown file said to be ours (every
    /// file of ours is in our index).
    pub fn merge(&mut self, meta: &FileMeta, holder: &str) -> Vec<Change> {
        let what = format!("file entry from {holder}");
        if !self.fits(&what, &[], Some(meta)) {
            return Vec::new();
        }
        let id = &meta.file_id;
        if self.tombstones.contains(id, &meta.file_owner) {
            self.refusals.refuse(
                Reason::Deleted,
                format_args!("{holder} offered {id}, deleted by {}", meta.file_owner),
            );
            // A peer that was down when we deleted a file of ours would keep it, and serve it
            // to newcomers, for good: it hears the DELETE again.
            let ours = meta.file_owner == self.me;
            if ours && self.peers.contains_key(holder) && self.undeleted.len() < MAX_UNDELETED {
                self.undeleted.insert((holder.to_string(), id.clone()));
            }
            return Vec::new();
        }
        if meta.file_owner == self.me && !self.files.contains_key(id) {
            self.refusals.refuse(
                Reason::ForgedOwner,
                format_args!("{holder} offered {id} as ours"),
            );
            return Vec::new();
        }
        let mut changes = Vec::new();
        if let Some(record) = self.files.get(id) {
            if record.meta != *meta {
                let ours = &record.meta;
                self.refusals.refuse(
                    Reason::ConflictingClaim,
                    format_args!(
                        "{holder} claims {id} is {:?} by {} at {}; we keep {:?} by {} at {}",
                        meta.file_name,
                        meta.file_owner,
                        meta.file_timestamp.json(),
                        ours.file_name,
                        ours.file_owner,
                        ours.file_timestamp.json()
                    ),
                );
            }
        } else {
            if !self.make_room(&mut changes) {
                return changes;
            }
            self.insert(meta.clone(), None);
            changes.push(Change::FileChanged(id.clone()));
        }
        let tracked = self.peers.contains_key(holder) && holder != self.me;
        let record = self.files.get_mut(id).expect("known or just added");
        if tracked && record.holders.len() < MAX_HOLDERS && record.holders.insert(holder.into()) {
            changes.push(Change::FileChanged(id.clone()));
        }
        changes.dedup();
        changes
    }

    /// The address of a tracked peer that offered a file we deleted since the last call, and
    /// the id, to be sent our DELETE again: one per call, so that a message in costs at most
    /// one message out (a stranger can name any address in a GOSSIP_REPLY, and list every
    /// file we deleted), and at most once per refresh (half the timeout) for one address and
    /// file. The others wait for the next claims.
    pub fn take_undeleted(&mut self, now: Instant) -> Option<(String, String)> {
        let refresh = self.gossip.refresh();
        self.told_deleted
            .retain(|_, at| now.saturating_duration_since(*at) < refresh);
        let pending = std::mem::take(&mut self.undeleted);
        let due = pending.into_iter().find_map(|(peer_id, file_id)| {
            let key = (self.peers.get(&peer_id)?.addr(), file_id);
            (!self.told_deleted.contains_key(&key)).then_some(key)
        })?;
        self.told_deleted.insert(due.clone(), now);
        Some(due)
    }

    /// A DELETE arrived: obeyed only from the owner we recorded (the verified copy's, or the
    /// first claim's for a file we do not hold), and never when it claims to come from us (we
    /// do not send ourselves DELETEs). `now` is Unix seconds, for the tombstone's expiry.
    pub fn on_delete(&mut self, d: &Delete, now: u64) -> DeleteOutcome {
        let fields = [("from", d.from.as_str()), ("file_id", &d.file_id)];
        if !self.fits("DELETE", &fields, None) {
            return DeleteOutcome::Refused;
        }
        if d.from == self.me {
            self.refusals.refuse(
                Reason::ForgedDelete,
                format_args!("DELETE of {} claiming to come from us", d.file_id),
            );
            return DeleteOutcome::Refused;
        }
        let expires = now.saturating_add(self.caps.tombstone_ttl.as_secs());
        let Some(record) = self.files.get(&d.file_id) else {
            self.tombstones.insert(&d.file_id, &d.from, expires, false);
            return DeleteOutcome::Remembered;
        };
        if record.meta.file_owner != d.from {
            self.refusals.refuse(
                Reason::ForgedDelete,
                format_args!(
                    "DELETE of {} from {}, owned by {}",
                    d.file_id, d.from, record.meta.file_owner
                ),
            );
            // An unheld file's owner is only a claim: should `from` turn out to be the owner
            // of the copy we fetch later, that copy is dropped.
            if record.stored_as.is_none() {
                self.tombstones.insert(&d.file_id, &d.from, expires, false);
            }
            return DeleteOutcome::Refused;
        }
        let held = record.stored_as.is_some();
        self.tombstones.insert(&d.file_id, &d.from, expires, held);
        let record = self.remove(&d.file_id).expect("found above");
        DeleteOutcome::Removed(record)
    }

    /// Removes a file for good (our own delete): later gossip naming its owner is dropped.
    /// `now` is Unix seconds.
    pub fn forget(&mut self, file_id: &str, now: u64) -> Option<FileRecord> {
        let record = self.remove(file_id)?;
        let expires = now.saturating_add(self.caps.tombstone_ttl.as_secs());
        self.tombstones
            .insert(file_id, &record.meta.file_owner, expires, true);
        Some(record)
    }

    /// Forgets tombstones expired at `now` (Unix seconds); whether any were.
    pub fn expire_tombstones(&mut self, now: u64) -> bool {
        self.tombstones.expire(now)
    }

    /// Records that our copy of `meta`, verified against its id, is stored as `stored_as`: the
    /// record takes `meta`'s fields. `Err` when we hold a copy already (two copies of one id,
    /// each naming its own owner, can race to us), or, counted, when the owner it names
    /// deleted the file or a field is too long; the caller then removes the new copy.
    pub fn hold(&mut self, meta: &FileMeta, stored_as: String) -> Result<(), NotHeld> {
        if self
            .files
            .get(&meta.file_id)
            .is_some_and(|r| r.stored_as.is_some())
        {
            return Err(NotHeld::AlreadyHeld);
        }
        if !self.fits("copy", &[], Some(meta)) {
            return Err(NotHeld::FieldTooLong);
        }
        let id = &meta.file_id;
        if self.tombstones.contains(id, &meta.file_owner) {
            self.refusals.refuse(
                Reason::Deleted,
                format_args!("a copy of {id}, deleted by {}", meta.file_owner),
            );
            if self.files.get(id).is_some_and(|r| r.stored_as.is_none()) {
                self.remove(id);
            }
            return Err(NotHeld::Deleted);
        }
        match self.files.get_mut(id) {
            Some(record) => {
                if record.stored_as.is_none() {
                    self.unheld.remove(&record.learned);
                }
                self.held_version += 1;
                record.meta = meta.clone();
                record.stored_as = Some(stored_as);
                Ok(())
            }
            None => {
                self.insert(meta.clone(), Some(stored_as));
                Ok(())
            }
        }
    }

    /// Our copy of `file_id`, kept as `stored_as`, is gone from the folder, or not as stored
    /// (deleted or edited by hand): the file stays known, not held, with its holders, within
    /// the cap on unheld files.
    /// Nothing changes when the record no longer names that copy.
    pub fn copy_lost(&mut self, file_id: &str, stored_as: &str) -> Vec<Change> {
        let named = self.files.get(file_id).map(|r| r.stored_as.as_deref());
        if named != Some(Some(stored_as)) {
            return Vec::new();
        }
        let record = self.remove(file_id).expect("found above");
        let mut changes = Vec::new();
        if self.make_room(&mut changes) {
            self.insert(record.meta, None);
            if let Some(kept) = self.files.get_mut(file_id) {
                kept.holders = record.holders;
            }
            changes.push(Change::FileChanged(file_id.to_string()));
        } else {
            changes.push(Change::FileRemoved(file_id.to_string()));
        }
        changes
    }

    /// Drops peers silent for longer than `timeout`, and removes them from holder lists; peers
    /// silent for half of it turn quiet. Forgets the files we do not hold that no tracked peer
    /// has held for [`UNCLAIMED_TIMEOUTS`] timeouts.
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
            let t = self.peers.remove(&id).expect("tracked");
            self.remember_dropped(&id, t.addr(), now);
            for record in self.files.values_mut() {
                if record.holders.remove(&id) {
                    changes.push(Change::FileChanged(record.meta.file_id.clone()));
                }
            }
            changes.push(Change::PeerDropped(id));
        }
        changes.extend(self.forget_unclaimed(now, timeout * UNCLAIMED_TIMEOUTS));
        changes
    }

    /// Keeps `peer_id`'s address for [`PeerState::recall`], within [`MAX_DROPPED`] (the oldest
    /// goes first).
    fn remember_dropped(&mut self, peer_id: &str, addr: String, now: Instant) {
        if self.dropped.len() >= MAX_DROPPED {
            let oldest = (self.dropped.iter())
                .min_by_key(|(_, (_, at))| *at)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                self.dropped.remove(&oldest);
            }
        }
        self.dropped.insert(peer_id.to_string(), (addr, now));
    }

    /// The addresses of the peers dropped within the last [`RECALL_TIMEOUTS`] timeouts where
    /// no tracked peer is: the caller sends each a GOSSIP, once per timeout.
    ///
    /// A peer that restarts within a timeout knows only its bootstrap peers, and they still
    /// track it: its GOSSIPs are not a newcomer's to them, so the lean policy does not flood
    /// them. The peers that dropped it meanwhile would never hear of it again, nor it of
    /// them; our GOSSIP at its old address greets it, and it answers. A restart comes less
    /// than a timeout after the last peer dropped it (or its bootstrap peers would have
    /// dropped it too, and flooded its return), so a few timeouts are enough.
    pub fn recall(&mut self, now: Instant, timeout: Duration) -> Vec<String> {
        let lately = timeout * RECALL_TIMEOUTS;
        (self.dropped).retain(|_, (_, at)| now.saturating_duration_since(*at) <= lately);
        let tracked: HashSet<String> = self.peers.values().map(Tracked::addr).collect();
        let addrs: BTreeSet<&String> = (self.dropped.values())
            .map(|(addr, _)| addr)
            .filter(|addr| !tracked.contains(*addr))
            .collect();
        addrs.into_iter().cloned().collect()
    }

    /// Forgets the files we do not hold that have had no tracked holder for `grace`. Such a
    /// file was deleted while we did not hear it (we were down, and its entry came back with
    /// our index), or its holders left: a get of it could only fail, and nothing else would
    /// ever remove it. A peer that lists it again brings it back. Not a file of ours whose
    /// copy we lost: forgotten, it would be refused as a forgery when a peer offers it back.
    fn forget_unclaimed(&mut self, now: Instant, grace: Duration) -> Vec<Change> {
        let (files, me) = (&self.files, &self.me);
        let unclaimed = |id: &str| {
            (files.get(id)).is_some_and(|r| r.holders.is_empty() && r.meta.file_owner != *me)
        };
        self.unclaimed
            .retain(|id, _| unclaimed(id) && files[id].stored_as.is_none());
        for id in self.unheld.values() {
            if unclaimed(id) && !self.unclaimed.contains_key(id) {
                self.unclaimed.insert(id.clone(), now);
            }
        }
        let expired: Vec<String> = (self.unclaimed.iter())
            .filter(|(_, since)| now.saturating_duration_since(**since) >= grace)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            self.unclaimed.remove(id);
            self.remove(id);
        }
        expired.into_iter().map(Change::FileRemoved).collect()
    }

    /// Peers to fetch `file_id` from, one per address: tracked holders first, then every
    /// other tracked peer, each group in random order.
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
        let mut addrs = HashSet::new();
        first.retain(|(_, addr)| addrs.insert(addr.clone()));
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

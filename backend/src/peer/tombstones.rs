//! The DELETEs we remember: which owner deleted which file id, until when. A claim or a copy
//! of a deleted file that names the deleting owner is dropped, so gossip still on its way (or a
//! DELETE that overtook the file's ANNOUNCE) cannot bring the file back. Bounded in count and
//! time; persisting them is the store's job ([`crate::store::tombstones`]).
//!
//! Anyone can send DELETEs of ids we do not hold, each a tombstone, so those are the first
//! forgotten when there are too many: a flood of them cannot push out the DELETEs that removed
//! copies we held, or ours.

use crate::store::tombstones::Tombstone;
use std::collections::{BTreeSet, HashMap};

/// Most tombstones kept; beyond it the one expiring first is forgotten, among those of files
/// we did not hold if there are any.
pub const MAX_TOMBSTONES: usize = 10_000;

/// The remembered DELETEs, keyed by file id and deleting owner.
#[derive(Debug, Default)]
pub struct Tombstones {
    /// `(file_id, owner)` → expiry in Unix seconds, and whether we held the file.
    expiry: HashMap<(String, String), (u64, bool)>,
    /// The same entries ordered by expiry, so the first to go is the first in line: those of
    /// files we did not hold (`[0]`), and those of files we held (`[1]`).
    by_expiry: [BTreeSet<(u64, String, String)>; 2],
    /// Bumped on every change, so a save can tell whether there is anything new to write.
    generation: u64,
}

impl Tombstones {
    /// Tombstones as loaded from disk.
    pub fn from_stored(stored: Vec<Tombstone>) -> Self {
        let mut tombstones = Tombstones::default();
        for t in stored {
            tombstones.insert(&t.file_id, &t.owner, t.expires, t.held);
        }
        // Loading is not a change: there is nothing new to write back.
        tombstones.generation = 0;
        tombstones
    }

    /// Remembers that `owner` deleted `file_id`, until `expires` (Unix seconds); `held` when
    /// the DELETE removed a copy we held, or we deleted it ourselves (it stays so). The same
    /// DELETE again within a second (the same expiry) is no change, and leaves the
    /// generation as it was: nothing new to save.
    pub fn insert(&mut self, file_id: &str, owner: &str, expires: u64, held: bool) {
        let key = (file_id.to_string(), owner.to_string());
        let old = self.expiry.get(&key).copied();
        let held = held || old.is_some_and(|(_, held)| held);
        if old == Some((expires, held)) {
            return;
        }
        if let Some((at, was_held)) = old {
            self.by_expiry[usize::from(was_held)].remove(&(at, key.0.clone(), key.1.clone()));
        }
        self.expiry.insert(key.clone(), (expires, held));
        self.by_expiry[usize::from(held)].insert((expires, key.0.clone(), key.1.clone()));
        while self.len() > MAX_TOMBSTONES {
            self.pop_first();
        }
        // A new tombstone that expires first is forgotten at once when full: no change.
        if old.is_some() || self.expiry.contains_key(&key) {
            self.generation += 1;
        }
    }

    fn len(&self) -> usize {
        self.by_expiry[0].len() + self.by_expiry[1].len()
    }

    /// Forgets the first to expire of the tombstones of files we did not hold, or, when
    /// there are none, of the others.
    fn pop_first(&mut self) {
        let class = usize::from(self.by_expiry[0].is_empty());
        if let Some((_, id, owner)) = self.by_expiry[class].pop_first() {
            self.expiry.remove(&(id, owner));
        }
    }

    /// Whether `owner` deleted `file_id`.
    pub fn contains(&self, file_id: &str, owner: &str) -> bool {
        // The lookup key has to be owned; two short allocations per claim are cheap.
        self.expiry
            .contains_key(&(file_id.to_string(), owner.to_string()))
    }

    /// Forgets the tombstones expired at `now` (Unix seconds); whether any were.
    pub fn expire(&mut self, now: u64) -> bool {
        let before = self.len();
        for class in &mut self.by_expiry {
            while class.first().is_some_and(|(at, _, _)| *at <= now) {
                if let Some((_, id, owner)) = class.pop_first() {
                    self.expiry.remove(&(id, owner));
                }
            }
        }
        let expired = self.len() != before;
        if expired {
            self.generation += 1;
        }
        expired
    }

    /// Counts changes since the start.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// All of them, for saving, the first to expire first.
    pub fn to_stored(&self) -> Vec<Tombstone> {
        let mut all: Vec<Tombstone> = (self.by_expiry.iter().zip([false, true]))
            .flat_map(|(class, held)| {
                class
                    .iter()
                    .map(move |(expires, file_id, owner)| Tombstone {
                        file_id: file_id.clone(),
                        owner: owner.clone(),
                        expires: *expires,
                        held,
                    })
            })
            .collect();
        all.sort_by_key(|t| t.expires);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tombstone_names_one_owner() {
        let mut t = Tombstones::default();
        t.insert("f", "owner", 100, false);
        assert!(t.contains("f", "owner"));
        assert!(!t.contains("f", "someone else"));
        assert!(!t.contains("g", "owner"));
    }

    #[test]
    fn tombstones_expire() {
        let mut t = Tombstones::default();
        t.insert("old", "o", 100, false);
        t.insert("new", "o", 200, false);
        assert!(!t.expire(99));
        assert!(t.expire(100));
        assert!(!t.contains("old", "o") && t.contains("new", "o"));
    }

    #[test]
    fn tombstones_are_bounded_and_the_first_to_expire_goes_first() {
        let mut t = Tombstones::default();
        for i in 0..MAX_TOMBSTONES + 5 {
            t.insert(&format!("f{i}"), "o", 1000 + i as u64, false);
        }
        assert_eq!(t.len(), MAX_TOMBSTONES);
        assert_eq!(t.expiry.len(), MAX_TOMBSTONES);
        assert!(!t.contains("f4", "o"));
        assert!(t.contains("f5", "o"));
    }

    #[test]
    fn a_flood_of_deletes_of_files_we_did_not_hold_keeps_those_of_files_we_held() {
        let mut t = Tombstones::default();
        t.insert("held", "o", 100, true);
        t.insert("ours", "me", 100, true);
        for i in 0..MAX_TOMBSTONES {
            t.insert(&format!("flood{i}"), "o", 1000 + i as u64, false);
        }
        assert_eq!(t.len(), MAX_TOMBSTONES);
        assert!(t.contains("held", "o") && t.contains("ours", "me"));
        assert!(!t.contains("flood0", "o") && !t.contains("flood1", "o"));
        assert!(t.contains("flood2", "o"));
    }

    #[test]
    fn a_tombstone_of_a_held_file_stays_so() {
        let mut t = Tombstones::default();
        t.insert("f", "o", 100, true);
        t.insert("f", "o", 200, false);
        assert!(t.to_stored()[0].held);
        let loaded = Tombstones::from_stored(t.to_stored());
        assert_eq!(loaded.to_stored(), t.to_stored());
    }

    #[test]
    fn a_repeated_delete_moves_the_expiry() {
        let mut t = Tombstones::default();
        t.insert("f", "o", 100, false);
        t.insert("f", "o", 300, false);
        assert_eq!(t.to_stored().len(), 1);
        assert!(!t.expire(200));
        assert!(t.contains("f", "o"));
    }

    #[test]
    fn only_a_change_bumps_the_generation() {
        let mut t = Tombstones::default();
        t.insert("f", "o", 100, false);
        assert_eq!(t.generation(), 1, "a new tombstone");
        t.insert("f", "o", 100, false);
        assert_eq!(t.generation(), 1, "the same DELETE within a second");
        t.insert("f", "o", 200, false);
        assert_eq!(t.generation(), 2, "a later expiry");
        for i in 1..MAX_TOMBSTONES {
            t.insert(&format!("g{i}"), "o", 300, false);
        }
        let full = t.generation();
        t.insert("early", "o", 50, false);
        assert_eq!(t.generation(), full, "full, and forgotten at once");
        assert!(!t.contains("early", "o"));
    }

    #[test]
    fn loading_is_not_a_change_and_round_trips() {
        let mut t = Tombstones::default();
        t.insert("f", "o", 100, false);
        let loaded = Tombstones::from_stored(t.to_stored());
        assert_eq!(loaded.generation(), 0);
        assert!(loaded.contains("f", "o"));
        assert_eq!(loaded.to_stored(), t.to_stored());
    }
}

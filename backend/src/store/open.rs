//! Opening the storage folder: `metadata.json`, then the commit journals of files that landed
//! after it was saved, so that the folder a crash left behind opens into the same files under
//! the same ids. Reads no content.

use super::metadata::{read_index, EntryCaps, Fingerprint};
use super::{journal, lock, names, unix_now, IndexEntry, Pending, Shared, Store, METADATA};
use crate::protocol::FileMeta;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What opening the folder found, besides the index.
#[derive(Debug, Default)]
pub struct OpenReport {
    /// Where a corrupt `metadata.json` was moved.
    pub corrupt_moved_to: Option<PathBuf>,
    /// `metadata.json` broke off (cut short, or damaged further on): how many entries were
    /// read before the damage, and where the file as it was is kept.
    pub cut_short: Option<(usize, PathBuf)>,
    /// Entries of `metadata.json` left out as unusable or over the caps (see
    /// [`super::metadata::read_index`]), and where the file as it was is kept, since the next
    /// save no longer lists them.
    pub skipped: Option<(usize, PathBuf)>,
    /// There was no usable `metadata.json`: the index starts empty.
    pub rebuilt: bool,
    /// Files that landed after the last save, taken back from their commit journals.
    pub replayed: usize,
    /// Entries whose copy is gone from the folder (removed just before a crash, or by hand):
    /// still known, no longer held.
    pub lost: usize,
    /// Content files in the folder that no entry describes for sure (put there by hand, or
    /// kept by a Python peer): to be hashed and indexed with [`Store::adopt`], away from
    /// start-up.
    pub to_adopt: Vec<String>,
    /// Entries in a Python peer's layout, whose copies are found by name and told by content.
    pub python_entries: usize,
    /// Where the Python peer's `metadata.json` is kept, as it was.
    pub python_kept: Option<PathBuf>,
    /// Copies changed since they were stored (see [`Fingerprint`]), to be hashed again.
    pub changed: usize,
    /// For some of those files, the entries that may describe them: the entries of a Python
    /// peer's `metadata.json` that name one file, two or more to a file (it stored a second
    /// file of the same name over the first), and the entries of one id that name two or more
    /// files (an index edited by hand). The file backs the one whose id its content hashes
    /// to, if any.
    pub candidates: BTreeMap<String, Vec<FileMeta>>,
}

impl Store {
    /// [`Store::open_with_caps`] without caps on the entries of `metadata.json`: for tools and
    /// tests. A peer opens its folder with the caps it applies to the network.
    pub fn open(dir: &Path) -> io::Result<(Store, Vec<IndexEntry>, OpenReport)> {
        Store::open_with_caps(dir, EntryCaps::NONE)
    }

    /// Opens (creating) the folder and loads the index: `metadata.json` (entries over `caps`
    /// left out), then the files that landed after it was saved (their journals). Reads no
    /// content: files nobody describes for sure are only listed in [`OpenReport::to_adopt`].
    /// Our leftover temporary files are deleted, and nothing else that is not ours; entries
    /// whose copy vanished lose `stored_as`; one entry per id is kept. Fails if another store
    /// holds the folder (see [`Store::release`]), before touching anything in it.
    pub fn open_with_caps(
        dir: &Path,
        caps: EntryCaps,
    ) -> io::Result<(Store, Vec<IndexEntry>, OpenReport)> {
        std::fs::create_dir_all(dir)?;
        let folder_lock = lock_folder(dir)?;
        let store = Store {
            inner: Arc::new(Shared {
                dir: dir.to_path_buf(),
                lock: Mutex::new(Some(folder_lock)),
                pending: Mutex::default(),
                removing: Mutex::default(),
                saving: Mutex::default(),
                copies: Mutex::default(),
                spent: Arc::default(),
                saves: Default::default(),
            }),
        };
        let mut report = OpenReport::default();
        let mut recorded = HashMap::new();
        let mut index = store.read_index(&mut report, caps, &mut recorded)?;
        store.remove_leftover_temp_files()?;
        let mut present = store.content_names()?;
        report.python_entries = (index.iter())
            .filter(|e| e.stored_as.as_deref() == Some(""))
            .count();
        (report.candidates, report.lost) = python_copies(&mut index, &present);
        one_entry_per_id(&mut index, &present, &mut report.candidates);
        store.replay_journals(&mut index, &mut present, &mut report)?;
        // A copy must exist, and one file backs one entry only.
        let mut claimed: HashSet<String> = HashSet::new();
        for entry in &mut index {
            let had_copy = entry.stored_as.is_some();
            if let Some(ours) = entry.stored_as.as_deref().filter(|n| names::is_ours(n)) {
                warn_not_a_copy(&entry.meta.file_id, ours);
            }
            entry.stored_as = entry
                .stored_as
                .take()
                .filter(|name| present.contains(name) && claimed.insert(name.clone()));
            report.lost += usize::from(had_copy && entry.stored_as.is_none());
            let Some(name) = entry.stored_as.clone() else {
                continue;
            };
            if !store.as_stored(&name, &entry.meta.file_id, &recorded) {
                tracing::debug!(
                    "{name} changed in the storage folder since it was stored: it is hashed \
                     again before it is offered as {}",
                    entry.meta.file_id
                );
                report.changed += 1;
                let fits = report.candidates.entry(name.clone()).or_default();
                fits.push(entry.meta.clone());
                claimed.remove(&name);
                entry.stored_as = None;
            }
        }
        unheld_candidates(&index, &present, &claimed, &mut report.candidates);
        // A hidden file is never taken for one of ours: only a file that entries may describe
        // is looked at.
        let candidates = &report.candidates;
        report.to_adopt = present
            .into_iter()
            .filter(|n| !claimed.contains(n))
            .filter(|n| !names::is_reserved(n) || candidates.contains_key(n))
            .collect();
        let to_adopt = &report.to_adopt;
        report.candidates.retain(|name, _| to_adopt.contains(name));
        Ok((store, index, report))
    }

    /// Whether the copy `name` of `file_id` is as it was when its content was last known to
    /// have that id, by what `recorded` says of it (see [`Fingerprint`]). What it is like now
    /// is kept when it is, or when nothing was recorded for it.
    fn as_stored(
        &self,
        name: &str,
        file_id: &str,
        recorded: &HashMap<String, (String, Fingerprint)>,
    ) -> bool {
        let Ok(now) = std::fs::metadata(self.path(name)).and_then(|m| Fingerprint::of(&m)) else {
            return true;
        };
        // A fingerprint recorded for another file under the name (freed, then taken by a
        // file that a journal describes) says nothing of this one.
        let known = (recorded.get(name))
            .filter(|(id, _)| id == file_id)
            .map(|(_, print)| *print);
        if known.is_some_and(|known| known != now) {
            return false;
        }
        lock(&self.inner.copies).insert(name.to_string(), now);
        true
    }

    /// `metadata.json`'s entries; a corrupt one is set aside under a free name, and one with
    /// unusable entries is copied there. An error names the file at fault.
    /// The fingerprints recorded with the entries go to `recorded`.
    fn read_index(
        &self,
        report: &mut OpenReport,
        caps: EntryCaps,
        recorded: &mut HashMap<String, (String, Fingerprint)>,
    ) -> io::Result<Vec<IndexEntry>> {
        let path = self.path(METADATA);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(match read_index(&bytes, caps) {
                Some(parsed) => {
                    if parsed.skipped > 0 || parsed.cut_short {
                        let aside = self.free_name(names::CORRUPT_PREFIX);
                        std::fs::write(&aside, &bytes)
                            .map_err(super::failed(format!("cannot write {}", aside.display())))?;
                        if parsed.cut_short {
                            report.cut_short = Some((parsed.entries.len(), aside.clone()));
                        }
                        if parsed.skipped > 0 {
                            report.skipped = Some((parsed.skipped, aside));
                        }
                    }
                    // Rewritten in our layout at the first save, before its copies are hashed and
                    // held again: a Python peer pointed back at the folder reads this one.
                    if parsed
                        .entries
                        .iter()
                        .any(|e| e.stored_as.as_deref() == Some(""))
                    {
                        let kept = self.free_name(names::PYTHON_PREFIX);
                        std::fs::write(&kept, &bytes)
                            .map_err(super::failed(format!("cannot write {}", kept.display())))?;
                        report.python_kept = Some(kept);
                    }
                    recorded.extend(parsed.fingerprints);
                    parsed.entries
                }
                None => {
                    let aside = self.free_name(names::CORRUPT_PREFIX);
                    std::fs::rename(&path, &aside).map_err(super::failed(format!(
                        "cannot move {} to {}",
                        path.display(),
                        aside.display()
                    )))?;
                    report.corrupt_moved_to = Some(aside);
                    report.rebuilt = true;
                    Vec::new()
                }
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                report.rebuilt = true;
                Ok(Vec::new())
            }
            Err(e) => Err(super::failed(format!("cannot read {}", path.display()))(e)),
        }
    }

    /// A name for a copy of `metadata.json` set aside, free in the folder.
    /// A name for a copy of `metadata.json` set aside: `prefix`, then the time, free in the
    /// folder.
    fn free_name(&self, prefix: &str) -> PathBuf {
        let stamp = unix_now();
        std::iter::once(format!("{prefix}{stamp}"))
            .chain((2..).map(|n| format!("{prefix}{stamp}-{n}")))
            .map(|name| self.path(&name))
            .find(|p| matches!(p.try_exists(), Ok(false)))
            .expect("the candidates never end")
    }

    /// Applies the journals left by commits that no saved `metadata.json` lists yet. A journal
    /// whose file is in place wins over `metadata.json`, which is older: its file backs its
    /// entry and no other. A journal whose file is absent never landed (or was removed since)
    /// and is deleted. The journals applied stay until a save lists their entries.
    ///
    /// Every journal is read before anything is removed, and a copy is removed only when no
    /// journal and no entry names it any more: a name freed by a delete and taken by another
    /// file since is that file's, whatever order the journals are read in.
    fn replay_journals(
        &self,
        index: &mut Vec<IndexEntry>,
        present: &mut BTreeSet<String>,
        report: &mut OpenReport,
    ) -> io::Result<()> {
        let mut pending = lock(&self.inner.pending);
        let mut landed = Vec::new();
        for found in journal::read_all(&self.inner.dir)? {
            let name = found.entry.stored_as.clone().unwrap_or_default();
            let len = std::fs::metadata(self.path(&name)).map(|m| m.len()).ok();
            if present.contains(&name) && len == Some(found.len) {
                landed.push((name, found));
            } else {
                journal::remove(&found.path)?;
            }
        }
        let journaled: HashSet<&String> = landed.iter().map(|(name, _)| name).collect();
        for entry in index.iter_mut() {
            if entry
                .stored_as
                .as_ref()
                .is_some_and(|n| journaled.contains(n))
            {
                entry.stored_as = None;
            }
        }
        // Copies that a journal of the same file replaced, their removal cut short.
        let mut replaced = Vec::new();
        for (name, found) in landed {
            let file_id = found.entry.meta.file_id.clone();
            match index.iter_mut().find(|e| e.meta.file_id == file_id) {
                Some(entry) => match &entry.stored_as {
                    // Two journals of one file: the same verified content twice. The first
                    // stays; the second copy and its journal go.
                    Some(first) if pending.contains_key(first) => {
                        present.remove(&name);
                        std::fs::remove_file(self.path(&name))?;
                        journal::remove(&found.path)?;
                        continue;
                    }
                    _ => replaced.extend(entry.stored_as.replace(name.clone())),
                },
                None => index.push(found.entry),
            }
            pending.insert(
                name,
                Pending {
                    journal: found.path,
                    file_id,
                },
            );
            report.replayed += 1;
        }
        for older in replaced {
            let named = index.iter().any(|e| e.stored_as.as_ref() == Some(&older));
            if !named && present.remove(&older) {
                std::fs::remove_file(self.path(&older))?;
            }
        }
        Ok(())
    }

    /// Names of the files in the folder that may be content: regular files under any name but
    /// the exact ones of our own files (see [`names::is_ours`]). Hidden names among them are
    /// held only when an entry names them.
    fn content_names(&self) -> io::Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        for entry in std::fs::read_dir(&self.inner.dir)? {
            let entry = entry?;
            // A name that is not UTF-8 was not stored by us; leave it alone.
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !names::is_ours(&name) && entry.file_type()?.is_file() {
                out.insert(name);
            }
        }
        Ok(out)
    }

    /// Deletes the temporary files a crash left, named exactly as ours are: a Python peer's
    /// folder may hold content named `.tmp-draft.txt`.
    fn remove_leftover_temp_files(&self) -> io::Result<()> {
        for entry in std::fs::read_dir(&self.inner.dir)? {
            let entry = entry?;
            let ours = entry.file_name().to_str().is_some_and(names::is_temp);
            if ours && entry.file_type()?.is_file() {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

/// Finds the copies of the entries in a Python peer's layout, which has no `stored_as`
/// (written `Some("")` by the parser): each sits under its name as given (hidden or not, but
/// never one of our own files' names), or failing that as we would have cleaned it up. No
/// entry is backed by its name alone: the entries are returned as the candidates of the file,
/// to be told apart by content. A Python peer keeps a file under the name it was sent with,
/// so a second file of a name overwrites the first, whose entry stays: the file on disk may
/// be any of the entries of its name, held or not (see [`unheld_candidates`]), or none.
/// Also returns how many entries held a copy that is not in the folder.
fn python_copies(
    index: &mut [IndexEntry],
    present: &BTreeSet<String>,
) -> (BTreeMap<String, Vec<FileMeta>>, usize) {
    let mut named: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, entry) in index.iter_mut().enumerate() {
        if entry.stored_as.as_deref() == Some("") {
            let given = &entry.meta.file_name;
            let name = match present.contains(given) {
                true => given.clone(),
                false => {
                    if names::is_ours(given) {
                        warn_not_a_copy(&entry.meta.file_id, given);
                    }
                    names::sanitize(given)
                }
            };
            named.entry(name).or_default().push(i);
            entry.stored_as = None;
        }
    }
    let mut lost = 0;
    let mut candidates = BTreeMap::new();
    for (name, entries) in named {
        if present.contains(&name) {
            let metas = entries.iter().map(|&i| index[i].meta.clone()).collect();
            candidates.insert(name, metas);
        } else {
            lost += entries.len();
        }
    }
    (candidates, lost)
}

/// Adds the entries known but not held to the candidates of the unclaimed files named as
/// they are (as given, or as we would have cleaned the name up): a Python peer lists files it
/// does not hold beside those it does, and the file under a name may be one of them.
fn unheld_candidates(
    index: &[IndexEntry],
    present: &BTreeSet<String>,
    claimed: &HashSet<String>,
    candidates: &mut BTreeMap<String, Vec<FileMeta>>,
) {
    for entry in index.iter().filter(|e| e.stored_as.is_none()) {
        let given = &entry.meta.file_name;
        for name in [given.clone(), names::sanitize(given)] {
            // A name learned from gossip never makes us look at a hidden file (`.env`).
            let hidden = names::is_reserved(&name);
            if !hidden && present.contains(&name) && !claimed.contains(&name) {
                let metas = candidates.entry(name).or_default();
                if !metas.contains(&entry.meta) {
                    metas.push(entry.meta.clone());
                }
            }
        }
    }
}

/// Says why an entry that names one of our own files as its copy does not get it.
fn warn_not_a_copy(file_id: &str, name: &str) {
    tracing::warn!(
        "metadata.json: {file_id} is listed as held in {name}, a name this peer keeps for \
         its own files: that file is not taken as its copy"
    );
}

/// Leaves one entry per file id (two are found in an index edited by hand; `Peer` keeps one
/// record per id, and a copy only the other entry named would be taken for a file of ours at
/// the next start). The entry kept is the first that holds a copy, else the first. When the
/// entries name two or more copies in the folder, which backs the id is told by content,
/// away from start-up: the entry kept loses its copy, and each copy gets the entries as its
/// `candidates`. Choosing one by order could serve under the id a copy that does not hash to
/// it, and refuse the one that does as held already. A copy that hashes to none is adopted
/// as any file found in the folder.
fn one_entry_per_id(
    index: &mut Vec<IndexEntry>,
    present: &BTreeSet<String>,
    candidates: &mut BTreeMap<String, Vec<FileMeta>>,
) {
    let mut by_id: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, entry) in index.iter().enumerate() {
        by_id.entry(&entry.meta.file_id).or_default().push(i);
    }
    let groups: Vec<Vec<usize>> = by_id.into_values().filter(|g| g.len() > 1).collect();
    let mut left_out = vec![false; index.len()];
    for group in groups {
        let copy = |i: &usize| {
            index[*i]
                .stored_as
                .as_ref()
                .filter(|n| present.contains(*n))
        };
        let copies: BTreeSet<String> = group.iter().filter_map(copy).cloned().collect();
        let kept = *group
            .iter()
            .find(|i| copy(i).is_some())
            .unwrap_or(&group[0]);
        let id = &index[kept].meta.file_id;
        let list = |names: &BTreeSet<String>| names.iter().cloned().collect::<Vec<_>>().join(", ");
        if copies.len() > 1 {
            tracing::warn!(
                "metadata.json lists {id} {} times, held in {}: keeping one entry, and the \
                 copy whose content has this id backs it",
                group.len(),
                list(&copies)
            );
            let mut metas: Vec<FileMeta> = Vec::new();
            for meta in group.iter().map(|&i| &index[i].meta) {
                if !metas.contains(meta) {
                    metas.push(meta.clone());
                }
            }
            for name in copies {
                candidates
                    .entry(name)
                    .or_default()
                    .extend(metas.iter().cloned());
            }
            index[kept].stored_as = None;
        } else {
            tracing::warn!(
                "metadata.json lists {id} {} times: keeping one entry{}",
                group.len(),
                match copies.is_empty() {
                    true => String::new(),
                    false => format!(", held in {}", list(&copies)),
                }
            );
        }
        for i in group.into_iter().filter(|&i| i != kept) {
            left_out[i] = true;
        }
    }
    let mut left_out = left_out.into_iter();
    index.retain(|_| !left_out.next().expect("one flag per entry"));
}

/// Holds `dir` for this process: a second peer started on the same folder would delete the
/// first one's temporary files and journals as leftovers. An advisory lock on the folder
/// itself, released when the returned handle is closed (or the process dies).
#[cfg(unix)]
pub fn lock_folder(dir: &Path) -> io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let folder = std::fs::File::open(dir)?;
    // SAFETY: a valid descriptor, open for the duration of the call.
    if unsafe { libc::flock(folder.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        return Err(match e.kind() {
            io::ErrorKind::WouldBlock => io::Error::other(format!(
                "{} is in use by another peer (or by this one, not yet stopped)",
                dir.display()
            )),
            _ => e,
        });
    }
    Ok(folder)
}

#[cfg(not(unix))]
pub fn lock_folder(dir: &Path) -> io::Result<std::fs::File> {
    std::fs::File::open(dir)
}

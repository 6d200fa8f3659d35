//! The registry of recent transfers and their progress, as the dashboard and console see it.

use shared::{TransferDto, TransferKind, TransferStateDto};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How many finished transfers are kept for display.
const KEPT: usize = 100;
/// Progress of one transfer is published at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Unix milliseconds now.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Recent transfers, oldest first.
#[derive(Default)]
pub struct Transfers {
    next_id: u64,
    list: VecDeque<TransferDto>,
    last_progress: HashMap<u64, Instant>,
}

impl Transfers {
    /// Registers a running transfer.
    pub fn start(
        &mut self,
        kind: TransferKind,
        file_id: &str,
        file_name: &str,
        peer: Option<String>,
        bytes_total: Option<u64>,
    ) -> TransferDto {
        self.next_id += 1;
        let dto = TransferDto {
            id: self.next_id,
            kind,
            file_id: file_id.to_string(),
            file_name: file_name.to_string(),
            peer,
            bytes_done: 0,
            bytes_total,
            started_ms: unix_ms(),
            finished_ms: None,
            state: TransferStateDto::Running,
        };
        self.list.push_back(dto.clone());
        while self.list.len() > KEPT {
            if let Some(pos) = self.list.iter().position(|t| t.finished_ms.is_some()) {
                self.list.remove(pos);
            } else {
                break;
            }
        }
        dto
    }

    fn get(&mut self, id: u64) -> Option<&mut TransferDto> {
        self.list.iter_mut().find(|t| t.id == id)
    }

    /// Names the file of a transfer that started before its file was known.
    pub fn describe(&mut self, id: u64, file_id: &str, file_name: &str) {
        if let Some(t) = self.get(id) {
            t.file_id = file_id.to_string();
            t.file_name = file_name.to_string();
        }
    }

    /// Records progress; returns the transfer when it is time to publish it.
    pub fn progress(&mut self, id: u64, peer: &str, bytes_done: u64) -> Option<TransferDto> {
        let now = Instant::now();
        let due = self
            .last_progress
            .get(&id)
            .is_none_or(|last| now.duration_since(*last) >= PROGRESS_EVERY);
        let t = self.get(id)?;
        let peer_changed = t.peer.as_deref() != Some(peer);
        t.bytes_done = bytes_done;
        t.peer = Some(peer.to_string());
        let dto = t.clone();
        if due || peer_changed {
            self.last_progress.insert(id, now);
            Some(dto)
        } else {
            None
        }
    }

    /// Marks a transfer done or failed; returns it.
    pub fn finish(&mut self, id: u64, state: TransferStateDto) -> Option<TransferDto> {
        self.last_progress.remove(&id);
        let t = self.get(id)?;
        if state == TransferStateDto::Done {
            t.bytes_total = Some(t.bytes_done);
        }
        t.state = state;
        t.finished_ms = Some(unix_ms());
        Some(t.clone())
    }

    /// The running download of `file_id` (`false`), or a new one of `kind` (`true`).
    pub fn download(
        &mut self,
        kind: TransferKind,
        file_id: &str,
        file_name: &str,
        bytes_total: Option<u64>,
    ) -> (TransferDto, bool) {
        match self.running(file_id) {
            Some(running) => (running, false),
            None => (
                self.start(kind, file_id, file_name, None, bytes_total),
                true,
            ),
        }
    }

    /// All kept transfers, oldest first.
    pub fn list(&self) -> Vec<TransferDto> {
        self.list.iter().cloned().collect()
    }

    /// The running download (a get or an auto-fetch) of `file_id`, if any.
    pub fn running(&self, file_id: &str) -> Option<TransferDto> {
        self.list
            .iter()
            .find(|t| {
                t.file_id == file_id && t.state == TransferStateDto::Running && is_download(t.kind)
            })
            .cloned()
    }
}

/// Whether a transfer brings a file to us.
fn is_download(kind: TransferKind) -> bool {
    matches!(kind, TransferKind::Get | TransferKind::AutoFetch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn download(transfers: &mut Transfers, file_id: &str) -> (u64, bool) {
        let (dto, new) = transfers.download(TransferKind::Get, file_id, "name", None);
        (dto.id, new)
    }

    #[test]
    fn a_second_download_of_a_file_is_the_running_one() {
        let mut transfers = Transfers::default();
        assert_eq!(download(&mut transfers, "f"), (1, true));
        assert_eq!(download(&mut transfers, "f"), (1, false));
        assert_eq!(download(&mut transfers, "g"), (2, true));
        transfers.finish(1, TransferStateDto::Done);
        assert_eq!(download(&mut transfers, "f"), (3, true));
    }

    #[test]
    fn a_push_of_a_file_is_no_download_of_it() {
        let mut transfers = Transfers::default();
        transfers.start(TransferKind::Push, "f", "name", None, None);
        assert_eq!(download(&mut transfers, "f"), (2, true));
    }
}

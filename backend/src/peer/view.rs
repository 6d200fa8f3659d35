//! The peer as the dashboard sees it: conversions of the state into the API's DTOs.

use super::health::Health;
use super::{lock, state, unix_ms, Peer};
use crate::protocol::Verbatim;
use shared::{FileDto, PeerDto, PeerHealthDto, PeerStateDto, SnapshotDto, StatusDto, TransferDto};
use std::time::Instant;

impl Peer {
    pub(super) fn peer_dto(&self, id: &str, t: &state::Tracked, now: Instant) -> PeerDto {
        let silent = now.saturating_duration_since(t.last_seen);
        PeerDto {
            peer_id: id.to_string(),
            host: t.host.clone(),
            port: t.port,
            last_seen_ms: unix_ms().saturating_sub(silent.as_millis() as u64),
            state: if t.quiet {
                PeerStateDto::Quiet
            } else {
                PeerStateDto::Alive
            },
            health: Some(health_dto(&t.health)),
        }
    }

    pub(super) fn file_dto(&self, r: &state::FileRecord) -> FileDto {
        let size_bytes = size_in_bytes(&r.meta.file_size);
        FileDto {
            file_id: r.meta.file_id.clone(),
            file_name: r.meta.file_name.clone(),
            size_bytes,
            file_owner: r.meta.file_owner.clone(),
            file_timestamp: r.meta.file_timestamp.hash_text(),
            timestamp_secs: r.meta.file_timestamp.as_f64(),
            holders: self.holders(r),
            has_copy: r.stored_as.is_some(),
            owned: r.meta.file_owner == self.inner.config.peer_id,
        }
    }

    /// The recorded holders, and us when we hold a copy.
    fn holders(&self, r: &state::FileRecord) -> Vec<String> {
        let mut holders: Vec<String> = r.holders.iter().cloned().collect();
        if r.stored_as.is_some() {
            holders.push(self.id().to_string());
            holders.sort();
        }
        holders
    }

    /// This peer's status.
    pub fn status(&self) -> StatusDto {
        let state = lock(&self.inner.state);
        let c = &self.inner.config;
        StatusDto {
            peer_id: c.peer_id.clone(),
            host: c.host.clone(),
            p2p_port: c.p2p_port,
            http_port: c.http_port,
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_secs: self.inner.started.elapsed().as_secs(),
            peer_count: state.peers.len(),
            file_count: state.files().len(),
            held_count: state.held().count(),
            max_file_size: Some(c.limits.max_file),
            max_name_len: Some(c.caps.max_name),
            now_ms: Some(unix_ms()),
        }
    }

    /// Tracked peers.
    pub fn peers(&self) -> Vec<PeerDto> {
        let state = lock(&self.inner.state);
        let now = Instant::now();
        state
            .peers
            .iter()
            .map(|(id, t)| self.peer_dto(id, t, now))
            .collect()
    }

    /// Known files.
    pub fn files(&self) -> Vec<FileDto> {
        let state = lock(&self.inner.state);
        state.files().values().map(|r| self.file_dto(r)).collect()
    }

    /// One known file.
    pub fn file(&self, file_id: &str) -> Option<FileDto> {
        lock(&self.inner.state)
            .files()
            .get(file_id)
            .map(|r| self.file_dto(r))
    }

    /// Recent transfers.
    pub fn transfers(&self) -> Vec<TransferDto> {
        lock(&self.inner.transfers).list()
    }

    /// Everything, for a new dashboard client.
    pub fn snapshot(&self) -> SnapshotDto {
        SnapshotDto {
            status: self.status(),
            peers: self.peers(),
            files: self.files(),
            transfers: self.transfers(),
            log: lock(&self.inner.log).iter().cloned().collect(),
        }
    }
}

fn health_dto(h: &Health) -> PeerHealthDto {
    PeerHealthDto {
        messages_received: h.messages,
        first_byte_ms: h.first_byte.map(|d| d.as_millis() as u64),
        gets_ok: h.gets_ok,
        gets_failed: h.gets_failed,
        bad_copies: h.bad_copies,
        truncated: h.truncated,
        stalls: h.stalls,
        last_error: h.last_error.clone(),
    }
}

/// The announced `file_size` in bytes. The canonical value is a float in MB, which Python
/// always writes with a `.` or an exponent; some real peers send the byte count as a JSON
/// integer instead, so an integer is read as bytes.
pub(super) fn size_in_bytes(size: &Verbatim) -> Option<u64> {
    let value = size.as_f64().filter(|v| *v >= 0.0)?;
    let is_integer = size.json().bytes().all(|b| b.is_ascii_digit());
    Some(if is_integer {
        value as u64
    } else {
        (value * 1048576.0).round() as u64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_mb_or_in_bytes() {
        let check = |json: &str, bytes: Option<u64>| {
            assert_eq!(
                size_in_bytes(&Verbatim::parse(json).unwrap()),
                bytes,
                "{json}"
            );
        };
        check("0.17575454711914062", Some(184292));
        check("922", Some(922));
        check("123.0", Some(128974848));
        check("2.8e-05", Some(29));
        check("\"0.5\"", Some(524288));
        check("-1", None);
        check("\"big\"", None);
    }
}

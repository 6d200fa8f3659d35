//! What crossed the wire, counted: messages by type and direction, file content bytes each
//! way, and transfers by direction and outcome. Shared (behind an `Arc`) by the listener and
//! the peer, like [`crate::refusal::Refusals`]; `GET /metrics` reads it. Counting never fails
//! and never blocks.

use std::sync::atomic::{AtomicU64, Ordering};

/// The message types of the protocol, in a stable order; anything else counts as `other`.
pub const TYPES: [&str; 7] = [
    "GOSSIP",
    "GOSSIP_REPLY",
    "GET_FILE",
    "FILE_DATA",
    "ANNOUNCE",
    "DELETE",
    "other",
];

/// Which way a file moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// To us: a get, an auto-fetch or a file pushed to us.
    In,
    /// From us: a GET_FILE we answered with a copy, or a push of ours.
    Out,
}

/// Counters of one peer's traffic.
#[derive(Debug, Default)]
pub struct Traffic {
    received: [AtomicU64; TYPES.len()],
    sent: [AtomicU64; TYPES.len()],
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
    /// `[direction][succeeded]`.
    transfers: [[AtomicU64; 2]; 2],
}

fn slot(kind: &str) -> usize {
    TYPES
        .iter()
        .position(|t| *t == kind)
        .unwrap_or(TYPES.len() - 1)
}

impl Traffic {
    /// One message of type `kind` (as `Message::kind` names it) was decoded.
    pub fn received(&self, kind: &str) {
        self.received[slot(kind)].fetch_add(1, Ordering::Relaxed);
    }

    /// One message of type `kind` was written whole.
    pub fn sent(&self, kind: &str) {
        self.sent[slot(kind)].fetch_add(1, Ordering::Relaxed);
    }

    /// One message was written whole; its type is read from its JSON text (our own messages
    /// and forwarded GOSSIPs alike).
    pub fn sent_text(&self, message: &str) {
        self.sent(&message_type(message).unwrap_or_default());
    }

    /// `n` bytes of file content arrived in a whole FILE_DATA.
    pub fn content_received(&self, n: u64) {
        self.bytes_received.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` bytes of file content were sent in a whole FILE_DATA.
    pub fn content_sent(&self, n: u64) {
        self.bytes_sent.fetch_add(n, Ordering::Relaxed);
    }

    /// A transfer ended.
    pub fn transfer(&self, direction: Direction, succeeded: bool) {
        self.transfers[direction as usize][usize::from(succeeded)].fetch_add(1, Ordering::Relaxed);
    }

    /// Messages received, by type, in [`TYPES`] order.
    pub fn received_counts(&self) -> [u64; TYPES.len()] {
        std::array::from_fn(|i| self.received[i].load(Ordering::Relaxed))
    }

    /// Messages sent, by type, in [`TYPES`] order.
    pub fn sent_counts(&self) -> [u64; TYPES.len()] {
        std::array::from_fn(|i| self.sent[i].load(Ordering::Relaxed))
    }

    /// File content bytes received and sent.
    pub fn content_bytes(&self) -> (u64, u64) {
        (
            self.bytes_received.load(Ordering::Relaxed),
            self.bytes_sent.load(Ordering::Relaxed),
        )
    }

    /// Transfers that ended one way with one outcome.
    pub fn transfers(&self, direction: Direction, succeeded: bool) -> u64 {
        self.transfers[direction as usize][usize::from(succeeded)].load(Ordering::Relaxed)
    }
}

/// The `type` of a JSON message, if it has a string one.
fn message_type(message: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    serde_json::from_str::<Head>(message).ok()?.kind
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_messages_are_counted_by_their_type() {
        let traffic = Traffic::default();
        traffic.sent_text(r#"{"type":"GOSSIP","host":"h","port":1,"id":"x","peerId":"p"}"#);
        traffic.sent_text(r#"{"host":"h","type":"GOSSIP"}"#);
        traffic.sent_text(r#"{"type":"NONSENSE"}"#);
        traffic.sent_text("not json");
        assert_eq!(traffic.sent_counts(), [2, 0, 0, 0, 0, 0, 2]);
    }
}

//! What we refuse from strangers, counted by reason. Each reason is logged once at warn level
//! (the first time it happens) and at debug level afterwards, so a flood cannot flood the log;
//! the counts are what operators read.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why something from the network (or a stranger's file) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Bytes that are not a message we know.
    Decode,
    /// A copy whose content does not hash to its id.
    BadCopy,
    /// A DELETE not from the owner we recorded.
    ForgedDelete,
    /// A claim about a known file that contradicts the fields we keep.
    ConflictingClaim,
    /// A file the owner deleted, offered again.
    Deleted,
    /// A control message not complete within its deadline.
    MessageDeadline,
    /// More concurrent connections from one source address than allowed.
    ConnectionsPerSource,
    /// More concurrent connections in all than allowed.
    Connections,
    /// A transfer slower than the minimum rate.
    SlowTransfer,
    /// A file larger than `--max-file-size`.
    FileTooLarge,
    /// An unheld file evicted, or not added, because of the cap on unheld files.
    UnheldFiles,
    /// A new peer not tracked because of the cap on tracked peers.
    TrackedPeers,
    /// A new peer id not tracked because its host:port already has the most ids allowed.
    IdsPerAddress,
    /// A name or other field longer than allowed.
    FieldTooLong,
    /// A GOSSIP_REPLY over the rate allowed for its source address.
    GossipReplyRate,
    /// A pushed file that would exceed `--max-storage`.
    StorageQuota,
    /// A claim or a copy of a file that names us as its owner, which we do not know as ours.
    ForgedOwner,
    /// A push or a GET_FILE of a held file while the most transfers allowed are running.
    Transfers,
    /// One of our GOSSIP, GOSSIP_REPLY, ANNOUNCE or DELETE messages not sent: the most sends
    /// allowed were waiting or in flight, or no socket came free in time (typically while
    /// sends to addresses that never answer hold them).
    SendsInFlight,
    /// A GOSSIP_REPLY listing more files than we take from one
    /// ([`crate::protocol::MAX_REPLY_FILES`]): the rest of its list was ignored. Counted once
    /// per reply.
    ReplyFiles,
    /// A message refused while the listener held the most bytes of partly read messages
    /// allowed ([`crate::net::Limits::max_buffered`]).
    Buffered,
}

impl Reason {
    /// Every reason, in a stable order.
    pub const ALL: [Reason; 21] = [
        Reason::Decode,
        Reason::BadCopy,
        Reason::ForgedDelete,
        Reason::ConflictingClaim,
        Reason::Deleted,
        Reason::MessageDeadline,
        Reason::ConnectionsPerSource,
        Reason::Connections,
        Reason::SlowTransfer,
        Reason::FileTooLarge,
        Reason::UnheldFiles,
        Reason::TrackedPeers,
        Reason::IdsPerAddress,
        Reason::FieldTooLong,
        Reason::GossipReplyRate,
        Reason::StorageQuota,
        Reason::ForgedOwner,
        Reason::Transfers,
        Reason::SendsInFlight,
        Reason::ReplyFiles,
        Reason::Buffered,
    ];

    /// A snake_case label (for metrics and logs).
    pub fn label(self) -> &'static str {
        match self {
            Reason::Decode => "decode",
            Reason::BadCopy => "bad_copy",
            Reason::ForgedDelete => "forged_delete",
            Reason::ConflictingClaim => "conflicting_claim",
            Reason::Deleted => "deleted",
            Reason::MessageDeadline => "message_deadline",
            Reason::ConnectionsPerSource => "connections_per_source",
            Reason::Connections => "connections",
            Reason::SlowTransfer => "slow_transfer",
            Reason::FileTooLarge => "file_too_large",
            Reason::UnheldFiles => "unheld_files",
            Reason::TrackedPeers => "tracked_peers",
            Reason::IdsPerAddress => "ids_per_address",
            Reason::FieldTooLong => "field_too_long",
            Reason::GossipReplyRate => "gossip_reply_rate",
            Reason::StorageQuota => "storage_quota",
            Reason::ForgedOwner => "forged_owner",
            Reason::Transfers => "transfers",
            Reason::SendsInFlight => "sends_in_flight",
            Reason::ReplyFiles => "reply_files",
            Reason::Buffered => "buffered",
        }
    }

    fn index(self) -> usize {
        Reason::ALL
            .iter()
            .position(|r| *r == self)
            .expect("every reason is listed")
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Counts of refusals by reason. Shared (behind an `Arc`) by the listener and the peer.
#[derive(Debug, Default)]
pub struct Refusals {
    counts: [AtomicU64; Reason::ALL.len()],
}

impl Refusals {
    /// Counts one refusal; logs it at warn level if it is the first of its reason, else at
    /// debug level. `detail` may carry strangers' text: it is escaped here.
    pub fn refuse(&self, reason: Reason, detail: impl fmt::Display) {
        let before = self.counts[reason.index()].fetch_add(1, Ordering::Relaxed);
        let detail = crate::terminal::escape(&detail.to_string()).into_owned();
        if before == 0 {
            tracing::warn!(
                "refused ({reason}): {detail} (further refusals of this kind are logged at debug level and counted)"
            );
        } else {
            tracing::debug!("refused ({reason}): {detail}");
        }
    }

    /// Refusals of `reason` so far.
    pub fn count(&self, reason: Reason) -> u64 {
        self.counts[reason.index()].load(Ordering::Relaxed)
    }

    /// Every reason with its count, in [`Reason::ALL`] order.
    pub fn snapshot(&self) -> Vec<(Reason, u64)> {
        Reason::ALL.iter().map(|r| (*r, self.count(*r))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_by_reason() {
        let refusals = Refusals::default();
        refusals.refuse(Reason::BadCopy, "first");
        refusals.refuse(Reason::BadCopy, "second");
        refusals.refuse(Reason::Decode, "x");
        assert_eq!(refusals.count(Reason::BadCopy), 2);
        assert_eq!(refusals.count(Reason::Decode), 1);
        assert_eq!(refusals.count(Reason::StorageQuota), 0);
        assert_eq!(refusals.snapshot().len(), Reason::ALL.len());
    }

    #[test]
    fn labels_are_unique() {
        let mut labels: Vec<&str> = Reason::ALL.iter().map(|r| r.label()).collect();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), Reason::ALL.len());
    }
}

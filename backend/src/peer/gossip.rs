//! The network side of gossip: our GOSSIP rounds, answering and forwarding others', and telling
//! every tracked peer about ANNOUNCEs and DELETEs. Sends are fire-and-forget, each on its own
//! connection and bounded by the socket deadlines. Strangers choose where most of them go, so
//! what sends hold is capped twice: their sockets, by `net` (a send waits for one, and a burst
//! drains in milliseconds), and the sends asked for and not yet made, by `Limits::max_sends`.
//! A send beyond that, or one that found no socket within the connect deadline, is dropped
//! and counted.

use super::{count, lock, short, Peer};
use crate::net;
use crate::protocol::{encode, FileMeta, Gossip};
use crate::refusal::Reason;
use shared::LogLevel;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Whether the bootstrap host `host`, which resolves to `addrs`, is where a peer of `tracked`
/// (`host:port` as each advertised itself) is.
fn is_tracked(host: &str, addrs: &[SocketAddr], tracked: &HashSet<String>) -> bool {
    tracked.contains(host) || addrs.iter().any(|a| tracked.contains(&a.to_string()))
}

/// A fresh GOSSIP id in the uuid4 form the Python peers use.
fn gossip_id() -> String {
    let mut b: [u8; 16] = rand::random();
    // Version 4 (random), variant 1 (RFC 4122), as Python's `uuid.uuid4()` makes them.
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut hex = Vec::new();
    encode::hex_into(&b, &mut hex);
    let h = String::from_utf8(hex).expect("hex is ASCII");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A broadcast (an ANNOUNCE or a DELETE to every tracked peer) takes at most this share of
/// `Limits::max_sends`, and sends to its targets that many at a time: so a broadcast to
/// `--max-peers` tracked peers is not dropped for want of slots, yet leaves most of them to
/// gossip, even while its targets never answer.
const BROADCAST_SHARE: usize = 4;

/// Slots of the cap on sends not yet made (`Limits::max_sends`), held from when a send is
/// asked for until its task ends (or is dropped): one for a single send, a broadcast's width
/// for a broadcast, until its last send ends.
///
/// The cap is kept on `sends_pending` itself rather than in a semaphore: a send that finds no
/// free slot is dropped, never made to wait, so a compare-and-swap on the count is all a
/// semaphore would give, and the same count still says when every send asked for was made.
struct Pending {
    peer: Peer,
    slots: usize,
}

impl Pending {
    /// Up to `want` free slots, at least one; `None` when every slot is taken.
    fn reserve(peer: &Peer, want: usize) -> Option<Pending> {
        let cap = peer.config().limits.max_sends;
        let mut slots = 0;
        peer.inner
            .sends_pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                slots = want.min(cap.saturating_sub(held));
                (slots > 0).then_some(held + slots)
            })
            .ok()?;
        Some(Pending {
            peer: peer.clone(),
            slots,
        })
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.peer
            .inner
            .sends_pending
            .fetch_sub(self.slots, Ordering::SeqCst);
    }
}

impl Peer {
    /// Sends `message` to `addr` in the background; failures are logged at debug level. When
    /// `Limits::max_sends` sends are not made yet, it is dropped and counted instead.
    pub fn send_later(&self, addr: String, message: String) {
        let Some(pending) = Pending::reserve(self, 1) else {
            self.send_dropped(&addr);
            return;
        };
        self.spawn(async move {
            pending.peer.send_now(&addr, &message).await;
            drop(pending);
        });
    }

    /// Sends `message` to every address in the background, a share of the slots at a time
    /// (see [`BROADCAST_SHARE`]); dropped and counted, each, when no slot is free.
    fn broadcast(&self, addrs: Vec<String>, message: String) {
        let share = (self.config().limits.max_sends / BROADCAST_SHARE).max(1);
        if addrs.is_empty() {
            return;
        }
        let Some(pending) = Pending::reserve(self, share.min(addrs.len())) else {
            for addr in &addrs {
                self.send_dropped(addr);
            }
            return;
        };
        self.spawn(async move {
            let width = pending.slots;
            let lanes = Arc::new(Semaphore::new(width));
            let message: Arc<str> = message.into();
            for addr in addrs {
                let Ok(lane) = lanes.clone().acquire_owned().await else {
                    return;
                };
                let (sender, message) = (pending.peer.clone(), message.clone());
                pending.peer.spawn(async move {
                    sender.send_now(&addr, &message).await;
                    drop(lane);
                });
            }
            // The slots stay taken until the last send has ended.
            let _ = lanes.acquire_many(width as u32).await;
            drop(pending);
        });
    }

    /// Sends `message` to `addr` now; failures are logged at debug level, and one that found
    /// no socket is counted.
    async fn send_now(&self, addr: &str, message: &str) {
        match net::send(addr, message, &self.config().limits).await {
            Ok(()) => self.traffic().sent_text(message),
            Err(e @ net::NetError::NoSocket(_)) => self.refusals().refuse(
                Reason::SendsInFlight,
                format_args!("a message to {addr}: {e}"),
            ),
            Err(e) => tracing::debug!("send to {addr} failed: {e}"),
        }
    }

    fn send_dropped(&self, addr: &str) {
        let cap = self.config().limits.max_sends;
        self.refusals().refuse(
            Reason::SendsInFlight,
            format_args!("a message to {addr}: {cap} sends not made yet"),
        );
    }

    /// Slots of the cap on sends not yet made that are taken: a send asked for and not yet
    /// made, failed or cancelled takes one, a broadcast a share until its last send ends.
    /// Zero means every send asked for so far has been made (or dropped, and counted).
    pub fn sends_pending(&self) -> usize {
        self.inner.sends_pending.load(Ordering::SeqCst)
    }

    /// A fresh GOSSIP id, remembered so that our own GOSSIP is dropped when it comes back.
    pub fn new_gossip_id(&self) -> String {
        let id = gossip_id();
        lock(&self.inner.state).remember_gossip(&id);
        id
    }

    /// Sends a fresh GOSSIP to each address.
    pub fn gossip_to(&self, addrs: Vec<String>) {
        if addrs.is_empty() {
            return;
        }
        let id = self.new_gossip_id();
        let c = self.config();
        let message = encode::gossip(&c.host, c.p2p_port, &id, &c.peer_id);
        for addr in addrs {
            self.send_later(addr, message.clone());
        }
    }

    /// Gossips every interval to 3 tracked peers in turn (see [`super::policy`]), or to the
    /// bootstrap hosts while we track nobody, and once per timeout to the bootstrap hosts we
    /// do not track and to the peers dropped lately ([`PeerState::recall`]); sweeps silent
    /// peers every `sweep`. The first round comes one interval after start-up, which has
    /// gossiped to the bootstrap hosts already. Runs until the peer stops (start it with
    /// [`Peer::spawn`]).
    pub async fn run_gossip(&self, bootstrap: Vec<String>, sweep: std::time::Duration) {
        let (every, timeout) = (self.config().gossip_interval, self.config().peer_timeout);
        let start = tokio::time::Instant::now();
        let mut gossip = tokio::time::interval_at(start + every, every);
        gossip.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut rejoin = tokio::time::interval_at(start + timeout, timeout);
        rejoin.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sweeper = tokio::time::interval(sweep);
        loop {
            tokio::select! {
                _ = gossip.tick() => {
                    let now = std::time::Instant::now();
                    let targets =
                        self.with_state(|s| s.round_targets(now, &mut rand::thread_rng()));
                    if targets.is_empty() {
                        self.gossip_to(bootstrap.clone());
                    } else {
                        self.gossip_to(targets);
                    }
                }
                // A bootstrap peer that was down, and came back knowing nobody, would otherwise
                // never hear from the rest of the network again: it may be the only peer that
                // some others know.
                _ = rejoin.tick() => {
                    let now = std::time::Instant::now();
                    self.gossip_to(self.with_state(|s| s.recall(now, timeout)));
                    let (peer, bootstrap) = (self.clone(), bootstrap.clone());
                    self.spawn(async move { peer.rejoin(&bootstrap).await });
                }
                _ = sweeper.tick() => self.sweep(),
            }
        }
    }

    /// Gossips to the bootstrap hosts where no tracked peer is, while some peer is tracked
    /// (before that, every round goes to them). A host given by name is looked up, since
    /// peers are tracked at the address they advertise: a tracked one gets no GOSSIP.
    async fn rejoin(&self, bootstrap: &[String]) {
        let tracked: HashSet<String> =
            self.with_state(|s| s.peers.values().map(|t| t.addr()).collect());
        if tracked.is_empty() {
            return;
        }
        let mut lost = Vec::new();
        for host in bootstrap {
            let wait = self.config().limits.connect;
            let found = tokio::time::timeout(wait, tokio::net::lookup_host(host.as_str())).await;
            let addrs: Vec<SocketAddr> = found
                .ok()
                .and_then(Result::ok)
                .into_iter()
                .flatten()
                .collect();
            if !is_tracked(host, &addrs, &tracked) {
                lost.push(host.clone());
            }
        }
        self.gossip_to(lost);
    }

    /// A GOSSIP arrived: reply to its origin and forward the original unchanged, when
    /// [`super::policy`] says so. Whether it published an event about its origin (not for a
    /// repeat, our own, or one refused).
    pub fn on_gossip(&self, gossip: &Gossip) -> bool {
        let plan = lock(&self.inner.state).on_gossip(
            gossip,
            std::time::Instant::now(),
            &mut rand::thread_rng(),
        );
        let Some((plan, change)) = plan else {
            return false;
        };
        self.apply(vec![change]);
        if let Some(origin) = plan.reply_to {
            let c = self.config();
            let reply = encode::gossip_reply(&c.host, c.p2p_port, &c.peer_id, &self.held_metas());
            self.send_later(origin, reply);
        }
        for addr in plan.forward_to {
            self.send_later(addr, gossip.raw.clone());
        }
        if plan.greet {
            self.gossip_to(vec![format!("{}:{}", gossip.host, gossip.port)]);
        }
        true
    }

    /// Tells every tracked peer that we hold `meta`.
    pub fn announce(&self, meta: &FileMeta) {
        let message = encode::announce(self.id(), meta);
        let targets = self.with_state(|s| s.pick_peers(usize::MAX, &[], &mut rand::thread_rng()));
        self.broadcast(targets, message);
    }

    /// Deletes a file we own, here and (by DELETE to every tracked peer) everywhere. Returns
    /// once the delete is on disk (the tombstone and the index saved, our copy removed), and
    /// only then tells the network: a peer killed right after it keeps the file deleted,
    /// where one killed before its next save would offer it again, to peers that had obeyed
    /// the DELETE and would refuse it from us for good. A save that fails (a full disk) is
    /// logged and left to the persister; the network is told all the same.
    pub async fn delete(&self, file_id: &str) -> Result<FileMeta, super::DeleteError> {
        let meta = self.delete_own(file_id)?;
        if let Err(e) = self.save_now().await {
            // The persister, woken by the delete, tries again.
            tracing::warn!("cannot save the index: {e}");
        }
        let message = encode::delete(self.id(), file_id);
        let targets = self.with_state(|s| s.pick_peers(usize::MAX, &[], &mut rand::thread_rng()));
        let told = count(targets.len(), "peer");
        self.broadcast(targets, message);
        self.log(
            LogLevel::Info,
            format!(
                "deleted {} ({}); told {told}",
                meta.file_name,
                short(file_id)
            ),
        );
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::PeerConfig;
    use crate::store::Store;

    fn peer(dir: &std::path::Path, max_sends: usize) -> Peer {
        let (store, index, _) = Store::open(dir).unwrap();
        let mut config = PeerConfig::for_test("127.0.0.1", 1 << 20);
        config.limits.max_sends = max_sends;
        Peer::new(config, store, index)
    }

    #[test]
    fn slots_are_taken_up_to_the_cap_and_given_back_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = peer(dir.path(), 3);
        let one = Pending::reserve(&p, 1).expect("a free slot");
        let broadcast = Pending::reserve(&p, 5).expect("free slots");
        assert_eq!(broadcast.slots, 2, "what is left, not what was asked");
        assert!(Pending::reserve(&p, 1).is_none());
        assert_eq!(p.sends_pending(), 3);
        drop(broadcast);
        assert_eq!(p.sends_pending(), 1);
        drop(one);
        assert_eq!(p.sends_pending(), 0);
    }

    #[tokio::test]
    async fn sends_and_broadcasts_beyond_the_cap_are_dropped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let p = peer(dir.path(), 2);
        p.on_gossip_reply(&crate::protocol::GossipReply {
            host: "127.0.0.1".into(),
            port: 9,
            peer_id: "other".into(),
            files: Vec::new(),
        });
        let _held = Pending::reserve(&p, 2).unwrap();
        p.send_later("127.0.0.1:9".into(), encode::delete("me", "x"));
        assert_eq!(p.refusals().count(Reason::SendsInFlight), 1);
        p.announce(&FileMeta {
            file_id: "x".into(),
            file_name: "x".into(),
            file_size: crate::protocol::Verbatim::integer(1),
            file_owner: "me".into(),
            file_timestamp: crate::protocol::Verbatim::integer(1),
        });
        assert_eq!(p.refusals().count(Reason::SendsInFlight), 2);
        assert_eq!(p.sends_pending(), 2);
    }

    #[test]
    fn a_bootstrap_host_is_tracked_by_its_name_or_by_an_address_it_resolves_to() {
        let tracked: HashSet<String> = ["127.0.0.1:5".to_string()].into();
        let local: SocketAddr = "127.0.0.1:5".parse().unwrap();
        assert!(super::is_tracked("127.0.0.1:5", &[], &tracked));
        assert!(super::is_tracked("localhost:5", &[local], &tracked));
        assert!(!super::is_tracked(
            "localhost:6",
            &["127.0.0.1:6".parse().unwrap()],
            &tracked
        ));
        assert!(!super::is_tracked("gone.example:5", &[], &tracked));
    }

    #[test]
    fn gossip_ids_look_like_uuid4() {
        let id = super::gossip_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        for _ in 0..64 {
            let variant = super::gossip_id().as_bytes()[19];
            assert!(b"89ab".contains(&variant), "{}", variant as char);
        }
        assert_ne!(id, super::gossip_id());
    }
}

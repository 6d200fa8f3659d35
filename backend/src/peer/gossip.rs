//! The network side of gossip: our GOSSIP rounds, answering and forwarding others', and telling
//! every tracked peer about ANNOUNCEs and DELETEs. Sends are fire-and-forget, each on its own
//! connection and bounded by the socket deadlines.

use super::{count, lock, short, Peer};
use crate::net;
use crate::protocol::{encode, FileMeta, Gossip};
use shared::LogLevel;
use std::sync::atomic::Ordering;

/// A fresh GOSSIP id in the uuid4 form the Python peers use.
fn gossip_id() -> String {
    let b: [u8; 16] = rand::random();
    let mut hex = Vec::new();
    encode::hex_into(&b, &mut hex);
    let h = String::from_utf8(hex).expect("hex is ASCII");
    format!(
        "{}-{}-4{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[16..20],
        &h[20..32]
    )
}

/// One pending send, counted from when it is asked for until its task ends (or is dropped).
struct Pending(Peer);

impl Pending {
    fn new(peer: Peer) -> Self {
        peer.inner.sends_pending.fetch_add(1, Ordering::SeqCst);
        Pending(peer)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.inner.sends_pending.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Peer {
    /// Sends `message` to `addr` in the background; failures are logged at debug level.
    pub fn send_later(&self, addr: String, message: String) {
        let limits = self.config().limits;
        let pending = Pending::new(self.clone());
        self.spawn(async move {
            match net::send(&addr, &message, &limits).await {
                Ok(()) => pending.0.traffic().sent_text(&message),
                Err(e) => tracing::debug!("send to {addr} failed: {e}"),
            }
        });
    }

    /// Messages handed to [`Peer::send_later`] and not yet sent, failed or cancelled; zero
    /// means every send asked for so far has been made.
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
    /// bootstrap hosts while we track nobody; sweeps silent peers every `sweep`. The first
    /// round comes one interval after start-up, which has gossiped to the bootstrap hosts
    /// already. Runs until the peer stops (start it with [`Peer::spawn`]).
    pub async fn run_gossip(&self, bootstrap: Vec<String>, sweep: std::time::Duration) {
        let every = self.config().gossip_interval;
        let mut gossip = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        gossip.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
                _ = sweeper.tick() => self.sweep(),
            }
        }
    }

    /// A GOSSIP arrived: reply to its origin and forward the original unchanged, when
    /// [`super::policy`] says so.
    pub fn on_gossip(&self, gossip: &Gossip) {
        let plan = lock(&self.inner.state).on_gossip(
            gossip,
            std::time::Instant::now(),
            &mut rand::thread_rng(),
        );
        let Some((plan, change)) = plan else { return };
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
    }

    /// Tells every tracked peer that we hold `meta`.
    pub fn announce(&self, meta: &FileMeta) {
        let message = encode::announce(self.id(), meta);
        for addr in self.with_state(|s| s.pick_peers(usize::MAX, &[], &mut rand::thread_rng())) {
            self.send_later(addr, message.clone());
        }
    }

    /// Deletes a file we own, here and (by DELETE to every tracked peer) everywhere.
    pub fn delete(&self, file_id: &str) -> Result<FileMeta, super::DeleteError> {
        let meta = self.delete_own(file_id)?;
        let message = encode::delete(self.id(), file_id);
        let targets = self.with_state(|s| s.pick_peers(usize::MAX, &[], &mut rand::thread_rng()));
        let told = count(targets.len(), "peer");
        for addr in targets {
            self.send_later(addr, message.clone());
        }
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
    #[test]
    fn gossip_ids_look_like_uuid4() {
        let id = super::gossip_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert_ne!(id, super::gossip_id());
    }
}

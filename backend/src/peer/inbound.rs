//! The peer as the listener sees it: [`Handler`] for [`Peer`], so that `net` hands over what
//! arrives without knowing the peer. Senders are named by address here (as a tracked peer
//! when exactly one lives there): `FILE_DATA` carries no sender id.

use super::{Change, Peer};
use crate::net::server::Handler;
use crate::net::Limits;
use crate::protocol::{FileMeta, Message};
use crate::refusal::Refusals;
use crate::store::{Store, TempFile};
use crate::traffic::Traffic;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};

/// Where the sender of a GOSSIP_REPLY is reached, if the reply starts tracking it: real peers
/// write `127.0.0.1` as their host there, which is true only on this machine. A loopback or
/// unspecified host in a reply that came from another machine is replaced by that machine's
/// address (the port written stays: the reply came from some other port of it).
fn reply_host(written: String, from: SocketAddr) -> String {
    let source = from.ip().to_canonical();
    let local = match written.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip.is_unspecified(),
        Err(_) => written.eq_ignore_ascii_case("localhost"),
    };
    match source {
        _ if !local || source.is_loopback() => written,
        // Bracketed, as a host before `:port` must be.
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// An incoming push: its transfer id and the sender's name.
pub struct Push {
    transfer: u64,
    from: String,
}

impl Handler for Peer {
    type Push = Push;

    fn limits(&self) -> &Limits {
        &self.config().limits
    }

    fn refusals(&self) -> &Refusals {
        Peer::refusals(self)
    }

    fn traffic(&self) -> &Traffic {
        Peer::traffic(self)
    }

    fn store(&self) -> &Store {
        Peer::store(self)
    }

    fn spawn_task(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.spawn(task);
    }

    async fn push_room(&self) -> u64 {
        Peer::push_room(self).await
    }

    fn on_message(&self, message: Message, from: SocketAddr) {
        let sender = match &message {
            Message::Gossip(gossip) => Some(gossip.peer_id.clone()),
            Message::GossipReply(reply) => Some(reply.peer_id.clone()),
            Message::Announce(announce) => Some(announce.from.clone()),
            Message::Delete(delete) => Some(delete.from.clone()),
            Message::GetFile { .. } | Message::FileData(_) => None,
        };
        // Counted before handling, so that an event the message publishes about its sender
        // has the count; a sender it starts tracking is counted after.
        let count = |sender: &str| {
            self.with_state(|s| s.peers.get_mut(sender).map(|t| t.health.messages += 1))
                .is_some()
        };
        let counted_before = sender.as_deref().is_some_and(count);
        let told = match message {
            Message::Gossip(gossip) => self.on_gossip(&gossip),
            Message::GossipReply(mut reply) => {
                reply.host = reply_host(reply.host, from);
                self.on_gossip_reply(&reply)
            }
            Message::Announce(announce) => {
                self.on_announce(&announce);
                false
            }
            Message::Delete(delete) => {
                self.on_delete(&delete);
                false
            }
            Message::GetFile { .. } | Message::FileData(_) => false, // the listener answers these
        };
        if let Some(sender) = sender {
            let counted_after = !counted_before && count(&sender);
            if counted_after || (counted_before && !told) {
                self.apply(vec![Change::PeerSeen(sender)]);
            }
        }
    }

    async fn open_copy(&self, file_id: &str) -> Option<(FileMeta, tokio::fs::File)> {
        self.held_file(file_id).await
    }

    fn push_started(&self, from: SocketAddr) -> Push {
        let from = self.name_at(from);
        Push {
            transfer: self.incoming_started(&from),
            from,
        }
    }

    fn push_progress(&self, push: &Push, done: u64) {
        self.incoming_progress(push.transfer, &push.from, done);
    }

    fn push_failed(&self, push: Push, reason: String) {
        self.incoming_failed(push.transfer, reason);
    }

    async fn on_pushed_file(
        &self,
        meta: FileMeta,
        content: TempFile,
        from: SocketAddr,
        push: Option<Push>,
    ) -> bool {
        let (transfer, from) = match push {
            Some(push) => (Some(push.transfer), push.from),
            None => (None, self.name_at(from)),
        };
        Peer::on_pushed_file(self, meta, content, &from, transfer).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(written: &str, from: &str, expected: &str) {
        let from: SocketAddr = from.parse().unwrap();
        assert_eq!(
            reply_host(written.into(), from),
            expected,
            "{written} from {from}"
        );
    }

    #[test]
    fn a_reply_host_on_loopback_is_the_address_it_came_from_when_that_is_another_machine() {
        check("127.0.0.1", "192.0.2.7:51000", "192.0.2.7");
        check("localhost", "192.0.2.7:51000", "192.0.2.7");
        check("0.0.0.0", "[2001:db8::7]:51000", "[2001:db8::7]");
        check("::1", "[::ffff:192.0.2.7]:51000", "192.0.2.7");
        check("127.0.0.1", "127.0.0.1:51000", "127.0.0.1");
        check(
            "eagle.cs.umanitoba.ca",
            "192.0.2.7:51000",
            "eagle.cs.umanitoba.ca",
        );
        check("192.0.2.9", "192.0.2.7:51000", "192.0.2.9");
    }
}

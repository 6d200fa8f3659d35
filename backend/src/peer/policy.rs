//! When a GOSSIP is answered and forwarded: the rule that keeps gossip cheap as the network
//! grows. Pure: it is given what we last did for the GOSSIP's origin and the time, and decides.
//!
//! The protocol as written answers and forwards every GOSSIP. Each one then floods the whole
//! network and every peer answers its origin with its whole file list: N² replies and 3N²
//! forwards per round, each reply carrying up to N files. Yet a peer only needs to hear each
//! other peer once per drop timeout, and a file list only when it changed. So:
//!
//! - our rounds go to the tracked peers we gossiped to longest ago, so they reach every
//!   tracked peer in turn, every `ceil(N / 3)` rounds;
//! - the origin of a GOSSIP that is new to us gets our own GOSSIP at once, so that its reply
//!   tells us its files now rather than when our rounds come to it (unless it already sent
//!   us a GOSSIP_REPLY: a newcomer is greeted by every peer that hears of it, and greeting
//!   each back would ask for lists it already has);
//! - a GOSSIP from an origin we already answered is answered again only when our file list
//!   changed or half a timeout went by;
//! - it is forwarded while its origin is new to us (its first 5 GOSSIPs within its first 5
//!   rounds), and after that every half timeout, unless our own rounds reach every peer often
//!   enough (within two thirds of the timeout) that no flood is needed to keep everyone heard.
//!
//! Floods being rare, a peer that restarts within a timeout would be lost to the peers that
//! dropped it meanwhile: its bootstrap peers still track it, so they do not flood its return.
//! So a dropped peer's old address gets our GOSSIP once per timeout for a few timeouts
//! (`PeerState::recall`).
//!
//! A new origin always gets our reply and our forwards, so a peer that follows the protocol
//! to the letter learns everything from its first round. With the class network's timers
//! (30 s rounds, 60 s timeout) every round is still forwarded: the protocol needs it there.

use std::str::FromStr;
use std::time::{Duration, Instant};

/// How many of a newcomer's rounds we forward in full: one flood misses about 6% of the
/// peers (fan-out 3), five miss a given peer once in a million.
pub const NEWCOMER_ROUNDS: u32 = 5;

/// Which GOSSIPs are answered and forwarded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GossipPolicy {
    /// Answer and forward only what tells someone something (this module's rule).
    #[default]
    Lean,
    /// Answer and forward every GOSSIP, as the protocol is written.
    Every,
}

impl FromStr for GossipPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lean" => Ok(GossipPolicy::Lean),
            "every" => Ok(GossipPolicy::Every),
            other => Err(format!(
                "unknown gossip policy {other:?} (use lean or every)"
            )),
        }
    }
}

/// The policy and the timers it is derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GossipTiming {
    /// Which GOSSIPs are answered and forwarded.
    pub policy: GossipPolicy,
    /// Our time between rounds; other peers are assumed to gossip about as often.
    pub interval: Duration,
    /// Silence after which a peer is dropped.
    pub timeout: Duration,
}

impl Default for GossipTiming {
    fn default() -> Self {
        GossipTiming {
            policy: GossipPolicy::Lean,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(60),
        }
    }
}

/// What we last did for a tracked peer's GOSSIPs, since we track it at its current address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// When we started tracking it at this address.
    pub since: Instant,
    /// When we last answered one, and the version of our file list the reply carried.
    pub replied: Option<(Instant, u64)>,
    /// When we last forwarded one.
    pub forwarded: Option<Instant>,
    /// How many of its GOSSIPs we forwarded.
    pub floods: u32,
    /// When one of our own rounds last went to it.
    pub sent: Option<Instant>,
    /// It sent us a GOSSIP_REPLY: we have its file list.
    pub listed: bool,
    /// When a move to another address last made its GOSSIPs a newcomer's again.
    pub moved: Option<Instant>,
}

impl Exchange {
    /// Nothing done yet for a peer tracked from `now`.
    pub fn new(now: Instant) -> Self {
        Exchange {
            since: now,
            replied: None,
            forwarded: None,
            floods: 0,
            sent: None,
            listed: false,
            moved: None,
        }
    }
}

impl GossipTiming {
    /// How long an unchanged answer or a forward lasts: half the timeout, less half an
    /// interval of slack for the jitter of the origin's timer, so that a peer is heard twice
    /// per timeout; at least half an interval.
    pub fn refresh(&self) -> Duration {
        (self.timeout / 2)
            .saturating_sub(self.interval / 2)
            .max(self.interval / 2)
    }

    /// Whether to answer a GOSSIP from a peer given what we did for it, when our file list is
    /// at `files` (a version that changes with every file we gain or lose).
    pub fn reply(&self, x: &Exchange, files: u64, now: Instant) -> bool {
        if self.policy == GossipPolicy::Every {
            return true;
        }
        let Some((at, version)) = x.replied else {
            return true;
        };
        let since = now.saturating_duration_since(at);
        // Even a changed list goes at most once per (half) interval: a burst of new files
        // is one reply.
        since >= self.interval / 2 && (version != files || since >= self.refresh())
    }

    /// Whether our rounds, 3 peers each in turn, reach each of `tracked` peers within two
    /// thirds of the timeout. Every peer is then heard directly (its GOSSIP, and our reply to
    /// it) often enough that floods are not needed to keep it tracked.
    pub fn rounds_cover(&self, tracked: usize) -> bool {
        let cycle = self.interval * tracked.div_ceil(3) as u32;
        cycle <= self.timeout * 2 / 3
    }

    /// Whether to forward a GOSSIP from a peer given what we did for it, when we track
    /// `tracked` peers.
    pub fn forward(&self, x: &Exchange, tracked: usize, now: Instant) -> bool {
        if self.policy == GossipPolicy::Every {
            return true;
        }
        let Some(at) = x.forwarded else {
            return true;
        };
        // Counted as well as timed: every peer that hears of a newcomer greets it, and each
        // greeting it answers is a GOSSIP of its own; flooding them all would cost a flood
        // per peer in the network.
        let newcomer = x.floods < NEWCOMER_ROUNDS
            && now.saturating_duration_since(x.since) < self.interval * NEWCOMER_ROUNDS;
        newcomer
            || (!self.rounds_cover(tracked) && now.saturating_duration_since(at) >= self.refresh())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn lean() -> GossipTiming {
        GossipTiming {
            policy: GossipPolicy::Lean,
            interval: S,
            timeout: 60 * S,
        }
    }

    #[test]
    fn refresh_is_half_the_timeout_less_half_an_interval_and_at_least_half_an_interval() {
        assert_eq!(lean().refresh(), Duration::from_millis(29_500));
        let class = GossipTiming::default();
        assert_eq!(class.refresh(), 15 * S, "the class network's 30 s and 60 s");
    }

    #[test]
    fn a_new_origin_is_answered_and_forwarded() {
        let now = Instant::now();
        let x = Exchange::new(now);
        assert!(lean().reply(&x, 0, now));
        assert!(lean().forward(&x, 99, now));
    }

    #[test]
    fn an_unchanged_list_is_not_resent_before_the_refresh() {
        let t0 = Instant::now();
        let x = Exchange {
            replied: Some((t0, 5)),
            ..Exchange::new(t0)
        };
        assert!(!lean().reply(&x, 5, t0 + 29 * S));
        assert!(lean().reply(&x, 5, t0 + 30 * S));
    }

    #[test]
    fn a_changed_list_is_sent_at_most_once_per_half_interval() {
        let t0 = Instant::now();
        let x = Exchange {
            replied: Some((t0, 5)),
            ..Exchange::new(t0)
        };
        assert!(!lean().reply(&x, 6, t0 + S / 4));
        assert!(lean().reply(&x, 6, t0 + S / 2));
    }

    #[test]
    fn a_newcomer_is_forwarded_for_its_first_rounds_then_every_refresh() {
        let (t0, last) = (Instant::now(), (NEWCOMER_ROUNDS - 1) * S);
        let mut x = Exchange::new(t0);
        x.forwarded = Some(t0 + last - S);
        assert!(lean().forward(&x, 1000, t0 + last), "last newcomer round");
        x.forwarded = Some(t0 + last);
        assert!(!lean().forward(&x, 1000, t0 + last + S));
        assert!(lean().forward(&x, 1000, t0 + last + lean().refresh()));
    }

    #[test]
    fn a_newcomer_is_forwarded_for_at_most_its_first_gossips_however_fast_they_come() {
        let t0 = Instant::now();
        let mut x = Exchange::new(t0);
        x.forwarded = Some(t0);
        x.floods = NEWCOMER_ROUNDS - 1;
        assert!(lean().forward(&x, 1000, t0));
        x.floods = NEWCOMER_ROUNDS;
        assert!(!lean().forward(&x, 1000, t0));
    }

    #[test]
    fn a_known_origin_is_not_forwarded_when_our_rounds_reach_everyone() {
        assert!(lean().rounds_cover(120), "40 rounds of 1 s");
        assert!(!lean().rounds_cover(121));
        let t0 = Instant::now();
        let x = Exchange {
            forwarded: Some(t0),
            ..Exchange::new(t0)
        };
        assert!(!lean().forward(&x, 99, t0 + 10 * lean().refresh()));
    }

    #[test]
    fn the_every_policy_answers_and_forwards_everything() {
        let t0 = Instant::now();
        let every = GossipTiming {
            policy: GossipPolicy::Every,
            ..lean()
        };
        let x = Exchange {
            since: t0,
            replied: Some((t0, 1)),
            forwarded: Some(t0),
            ..Exchange::new(t0)
        };
        assert!(every.reply(&x, 1, t0 + 10 * S));
        assert!(every.forward(&x, 99, t0 + 10 * S));
    }

    #[test]
    fn policies_parse_by_name() {
        assert_eq!("lean".parse(), Ok(GossipPolicy::Lean));
        assert_eq!("every".parse(), Ok(GossipPolicy::Every));
        assert!("fast".parse::<GossipPolicy>().is_err());
    }
}

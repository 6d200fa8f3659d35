//! How each tracked peer has served us: messages heard from it, and the outcome of every get
//! we asked of it. Plain data kept in [`super::state::Tracked`], and the one decision made from
//! it: which sources a get tries first.

use std::time::Duration;

/// What a tracked peer has done for us since we started tracking it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Messages (GOSSIP, GOSSIP_REPLY, ANNOUNCE, DELETE) that name it as their sender.
    pub messages: u64,
    /// From dialing to the first byte of its last GET_FILE reply; a get it closed without a
    /// byte leaves the one before.
    pub first_byte: Option<Duration>,
    /// Gets it served with a copy that verified.
    pub gets_ok: u64,
    /// Gets that failed, whatever the reason (the three below included).
    pub gets_failed: u64,
    /// Copies whose content did not hash to their id.
    pub bad_copies: u64,
    /// Replies that ended before the message was whole.
    pub truncated: u64,
    /// Replies that came too late or too slowly.
    pub stalls: u64,
    /// Why its last failed get failed.
    pub last_error: Option<String>,
    /// Whether its last get succeeded; `None` before the first.
    last_ok: Option<bool>,
}

/// How one get from a peer ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GetOutcome {
    /// A copy that verified.
    Ok,
    /// A copy that did not hash to its id.
    BadCopy(String),
    /// The reply ended before it was whole.
    Truncated(String),
    /// The reply was late or too slow.
    Stalled(String),
    /// Anything else: unreachable, not held, not a message.
    Failed(String),
}

impl Health {
    /// Records the outcome of one get, and the first-byte latency when a reply came.
    pub fn record(&mut self, outcome: GetOutcome, first_byte: Option<Duration>) {
        if first_byte.is_some() {
            self.first_byte = first_byte;
        }
        let error = match outcome {
            GetOutcome::Ok => {
                self.gets_ok += 1;
                self.last_ok = Some(true);
                return;
            }
            GetOutcome::BadCopy(e) => {
                self.bad_copies += 1;
                e
            }
            GetOutcome::Truncated(e) => {
                self.truncated += 1;
                e
            }
            GetOutcome::Stalled(e) => {
                self.stalls += 1;
                e
            }
            GetOutcome::Failed(e) => e,
        };
        self.gets_failed += 1;
        self.last_ok = Some(false);
        self.last_error = Some(error);
    }

    /// Lower is tried first: a peer whose last get succeeded, then one never asked, then one
    /// whose last get failed, and last one that has ever sent a bad copy (corrupt or forged
    /// content is worse than none).
    pub fn rank(&self) -> u8 {
        match (self.bad_copies > 0, self.last_ok) {
            (true, _) => 3,
            (false, Some(true)) => 0,
            (false, None) => 1,
            (false, Some(false)) => 2,
        }
    }
}

/// `sources` reordered for a get: recorded holders before other peers, as before, and within
/// each group the healthiest first ([`Health::rank`]; `rank` is `None` for a peer no longer
/// tracked, which ranks as never asked). Equals keep their order, which the caller shuffled.
pub fn order_sources(
    mut sources: Vec<(String, String)>,
    is_holder: impl Fn(&str) -> bool,
    rank: impl Fn(&str) -> Option<u8>,
) -> Vec<(String, String)> {
    sources.sort_by_key(|(id, _)| (!is_holder(id), rank(id).unwrap_or(1)));
    sources
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn check(peers: &[(&str, bool, Option<GetOutcome>)], expected: &[&str]) {
        let health: HashMap<&str, Health> = peers
            .iter()
            .map(|(id, _, outcome)| {
                let mut h = Health::default();
                if let Some(outcome) = outcome {
                    h.record(outcome.clone(), None);
                }
                (*id, h)
            })
            .collect();
        let sources = peers
            .iter()
            .map(|(id, _, _)| (id.to_string(), format!("{id}:1")))
            .collect();
        let is_holder = |id: &str| peers.iter().any(|(p, holder, _)| *p == id && *holder);
        let ordered = order_sources(sources, is_holder, |id| health.get(id).map(Health::rank));
        let ids: Vec<&str> = ordered.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn healthy_holders_are_tried_first() {
        let failed = || Some(GetOutcome::Failed("refused".into()));
        let bad = || Some(GetOutcome::BadCopy("hash".into()));
        check(
            &[("a", true, failed()), ("b", true, Some(GetOutcome::Ok))],
            &["b", "a"],
        );
        check(&[("a", true, failed()), ("b", true, None)], &["b", "a"]);
        check(&[("a", true, bad()), ("b", true, failed())], &["b", "a"]);
        // Holders stay ahead of other peers, however healthy those are.
        check(
            &[("a", false, Some(GetOutcome::Ok)), ("b", true, failed())],
            &["b", "a"],
        );
        // Equals keep the caller's (shuffled) order.
        check(&[("b", true, None), ("a", true, None)], &["b", "a"]);
    }

    #[test]
    fn a_success_after_failures_restores_the_rank_but_not_after_a_bad_copy() {
        let mut h = Health::default();
        h.record(GetOutcome::Stalled("slow".into()), None);
        assert_eq!((h.rank(), h.stalls, h.gets_failed), (2, 1, 1));
        h.record(GetOutcome::Ok, Some(Duration::from_millis(7)));
        assert_eq!((h.rank(), h.gets_ok), (0, 1));
        assert_eq!(h.last_error.as_deref(), Some("slow"));
        assert_eq!(h.first_byte, Some(Duration::from_millis(7)));
        h.record(GetOutcome::BadCopy("hash".into()), None);
        h.record(GetOutcome::Ok, None);
        assert_eq!(h.rank(), 3);
    }
}

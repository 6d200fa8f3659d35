//! One simulated network: real `PeerState`s exchanging GOSSIP and GOSSIP_REPLY through a
//! discrete-event queue, with no sockets and a simulated clock.
//!
//! It follows one peer, the tagged peer 0, through its life: it joins (bootstrapped to peer
//! 1), runs in steady state, then leaves. Every message caused by its GOSSIP rounds is
//! counted: its GOSSIPs, every forward of them, every reply to it. All peers behave alike, so
//! what one peer's rounds cost the network is what every peer sends (and receives) per
//! minute. Each other peer tracks a random view of the network (enough to pick forward targets
//! like a full member would) and holds its own files. The others' rounds are not simulated
//! message by message: each other peer's GOSSIP reaches the tagged peer with the probability
//! that the tagged peer's own last round reached a peer (the peers are alike), and the tagged
//! peer's real decision says whether it replies, which is how the others hear from it besides
//! its own GOSSIPs (and how they learn its files). Those messages are not counted: they are the same as the ones counted.

use backend::peer::policy::{GossipPolicy, GossipTiming};
use backend::peer::state::PeerState;
use backend::peer::Caps;
use backend::protocol::{encode, FileMeta, Gossip, GossipReply, Verbatim};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What one run is given.
#[derive(Clone, Debug)]
pub struct Params {
    pub peers: usize,
    pub policy: GossipPolicy,
    pub interval: Duration,
    pub timeout: Duration,
    pub sweep: Duration,
    /// Files each peer holds (its own).
    pub files: usize,
    /// Tracked peers each of the others picks forward targets from.
    pub view: usize,
    /// How long the steady state is measured.
    pub steady: Duration,
    pub seed: u64,
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Seconds from the join until the newcomer tracked everyone and knew every file and
    /// everyone tracked it; `None` if that did not happen before the steady state began.
    pub converged: Option<f64>,
    /// Seconds from the leave until every peer had dropped it.
    pub dropped: Option<f64>,
    /// Messages per peer per minute in steady state (sent; as many are received).
    pub messages: f64,
    /// Bytes per peer per minute in steady state.
    pub bytes: f64,
    /// GOSSIP_REPLYs per peer per minute in steady state.
    pub replies: f64,
    /// The longest a peer went without hearing from the tagged one in steady state, seconds.
    pub longest_silence: f64,
    /// Peers that went longer than the timeout without hearing from it (false drops).
    pub false_drops: usize,
}

enum Msg {
    Gossip(Rc<Gossip>, usize),
    Reply(GossipReply),
}

enum Event {
    Round,
    /// A round of another peer, as far as it reaches the tagged peer.
    OtherRound(usize),
    Deliver(usize, Msg),
    Sweep(usize),
}

struct Scheduled {
    at: Duration,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: the heap pops the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

fn host(i: usize) -> String {
    format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255)
}

fn name(i: usize) -> String {
    format!("p{i}")
}

fn file(owner: usize, k: usize) -> FileMeta {
    FileMeta {
        file_id: format!("{:064x}", (owner as u128) << 16 | k as u128),
        file_name: format!("notes-{owner}-{k}.txt"),
        file_size: Verbatim::float(0.0123),
        file_owner: name(owner),
        file_timestamp: Verbatim::integer(1_749_713_822),
    }
}

/// The network and its clock.
struct World {
    p: Params,
    t0: Instant,
    now: Duration,
    seq: u64,
    queue: BinaryHeap<Scheduled>,
    states: Vec<PeerState>,
    addrs: HashMap<String, usize>,
    held: Vec<Vec<FileMeta>>,
    rng: StdRng,
    /// The tagged peer has left: it sends and hears nothing more.
    left: bool,
    /// Counting window of the steady state.
    window: (Duration, Duration),
    messages: u64,
    bytes: u64,
    replies: u64,
    /// Per peer: when it last heard from the tagged one, the longest gap in the window.
    heard: Vec<(Option<Duration>, Duration)>,
    dropped_at: Vec<Option<Duration>>,
    /// Peers that track the tagged one.
    tracking: usize,
    /// Peers that know the tagged one's files.
    know_files: usize,
    tagged: String,
    /// The tagged peer's current round: its GOSSIP id and how many peers it reached.
    reach: (String, usize),
    /// The fraction of the other peers its last finished round reached.
    last_reach: f64,
}

/// Runs one network through join, steady state and leave.
pub fn run(p: Params) -> Outcome {
    let mut w = World::new(p);
    w.run()
}

impl World {
    fn new(p: Params) -> Self {
        let n = p.peers;
        let mut rng = StdRng::seed_from_u64(p.seed);
        let caps = Caps {
            max_peers: n + 1,
            max_unheld_files: n * p.files + 1,
            ..Caps::default()
        };
        let timing = GossipTiming {
            policy: p.policy,
            interval: p.interval,
            timeout: p.timeout,
        };
        let t0 = Instant::now();
        let held: Vec<Vec<FileMeta>> = (0..n)
            .map(|i| (0..p.files).map(|k| file(i, k)).collect())
            .collect();
        let mut states = Vec::with_capacity(n);
        let others: Vec<usize> = (1..n).collect();
        for (i, files) in held.iter().enumerate() {
            let mut s = PeerState::new(&name(i), caps, Default::default(), Vec::new());
            s.set_gossip(timing);
            for meta in files {
                s.hold(meta, meta.file_name.clone()).expect("fits the caps");
            }
            if i > 0 {
                let view = others
                    .choose_multiple(&mut rng, p.view + 1)
                    .filter(|&&j| j != i)
                    .take(p.view);
                for &j in view {
                    let reply = GossipReply {
                        host: host(j),
                        port: 8999,
                        peer_id: name(j),
                        files: Vec::new(),
                    };
                    s.on_gossip_reply(&reply, t0);
                }
            }
            states.push(s);
        }
        let addrs = (0..n).map(|i| (format!("{}:8999", host(i)), i)).collect();
        World {
            t0,
            now: Duration::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            states,
            addrs,
            held,
            rng,
            left: false,
            window: (Duration::MAX, Duration::MAX),
            messages: 0,
            bytes: 0,
            replies: 0,
            heard: vec![(None, Duration::ZERO); n],
            dropped_at: vec![None; n],
            tracking: 0,
            know_files: 0,
            tagged: name(0),
            reach: (String::new(), 0),
            last_reach: 0.0,
            p,
        }
    }

    fn at(&self) -> Instant {
        self.t0 + self.now
    }

    fn schedule(&mut self, after: Duration, event: Event) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at: self.now + after,
            seq: self.seq,
            event,
        });
    }

    /// A message on the wire: 5 to 50 ms, counted when inside the window.
    fn send(&mut self, to: usize, msg: Msg, size: usize) {
        if self.now >= self.window.0 && self.now < self.window.1 {
            self.messages += 1;
            self.bytes += size as u64;
            self.replies += u64::from(matches!(msg, Msg::Reply(_)));
        }
        let latency = Duration::from_millis(self.rng.gen_range(5..=50));
        self.schedule(latency, Event::Deliver(to, msg));
    }

    fn run(&mut self) -> Outcome {
        let p = self.p.clone();
        let warmup = (p.interval * 4).max(p.timeout);
        self.window = (warmup, warmup + p.steady);
        // The join: one GOSSIP to the bootstrap peer, then rounds every interval.
        self.round(Some(1));
        self.schedule(p.interval, Event::Round);
        for i in 1..p.peers {
            let phase = p.interval.mul_f64(self.rng.gen());
            self.schedule(phase, Event::OtherRound(i));
        }
        let mut converged = None;
        while let Some(next) = self.queue.pop() {
            self.now = next.at;
            match next.event {
                Event::Round if self.now < self.window.1 => {
                    self.round(None);
                    self.schedule(p.interval, Event::Round);
                }
                Event::Round => self.leave(),
                Event::OtherRound(i) if !self.left => {
                    self.other_round(i);
                    self.schedule(p.interval, Event::OtherRound(i));
                }
                Event::OtherRound(_) => {}
                Event::Deliver(to, msg) => self.deliver(to, msg),
                Event::Sweep(i) => self.sweep(i),
            }
            if converged.is_none() && self.now < self.window.0 && self.converged() {
                converged = Some(self.now.as_secs_f64());
            }
        }
        let minutes = p.steady.as_secs_f64() / 60.0;
        let mut longest = Duration::ZERO;
        let mut false_drops = 0;
        for &(_, gap) in &self.heard[1..] {
            longest = longest.max(gap);
            false_drops += usize::from(gap > p.timeout);
        }
        let leave = self.window.1;
        let dropped = self.dropped_at[1..]
            .iter()
            .map(|d| d.map(|d| d.saturating_sub(leave)))
            .collect::<Option<Vec<_>>>()
            .and_then(|all| all.into_iter().max())
            .map(|d| d.as_secs_f64());
        Outcome {
            converged,
            dropped,
            messages: self.messages as f64 / minutes,
            bytes: self.bytes as f64 / minutes,
            replies: self.replies as f64 / minutes,
            longest_silence: longest.as_secs_f64(),
            false_drops,
        }
    }

    /// A round of the tagged peer: a fresh GOSSIP to 3 tracked peers (or to `bootstrap`).
    fn round(&mut self, bootstrap: Option<usize>) {
        let targets: Vec<usize> = match bootstrap {
            Some(b) => vec![b],
            None => {
                let now = self.at();
                let picked = self.states[0].round_targets(now, &mut self.rng);
                picked.iter().map(|a| self.addrs[a]).collect()
            }
        };
        let id = format!("{:032x}", self.rng.gen::<u128>());
        self.states[0].remember_gossip(&id);
        let others = (self.p.peers - 1) as f64;
        self.last_reach = self.reach.1 as f64 / others;
        self.reach = (id.clone(), 0);
        let raw = encode::gossip(&host(0), 8999, &id, &name(0));
        let size = raw.len();
        let g = Rc::new(Gossip {
            host: host(0),
            port: 8999,
            id,
            peer_id: name(0),
            raw,
        });
        for to in targets {
            self.send(to, Msg::Gossip(g.clone(), 0), size);
        }
    }

    fn deliver(&mut self, to: usize, msg: Msg) {
        if to == 0 && self.left {
            return;
        }
        let now = self.at();
        match msg {
            Msg::Gossip(g, _from) => {
                if to == 0 {
                    // Our own, forwarded back: `on_gossip` drops it.
                    let _ = self.states[0].on_gossip(&g, now, &mut self.rng);
                    return;
                }
                let knew = self.states[to].peers.contains_key(&self.tagged);
                let Some((plan, _)) = self.states[to].on_gossip(&g, now, &mut self.rng) else {
                    return;
                };
                if !knew {
                    self.tracking += 1;
                }
                if self.reach.0 == g.id {
                    self.reach.1 += 1;
                }
                self.heard_from_tagged(to);
                if plan.reply_to.is_some() {
                    let files = &self.held[to];
                    let size = encode::gossip_reply(&host(to), 8999, &name(to), files).len();
                    let reply = GossipReply {
                        host: host(to),
                        port: 8999,
                        peer_id: name(to),
                        files: files.clone(),
                    };
                    self.send(0, Msg::Reply(reply), size);
                }
                let size = g.raw.len();
                if plan.greet {
                    self.greet(to);
                }
                for addr in plan.forward_to {
                    let next = self.addrs[&addr];
                    self.send(next, Msg::Gossip(g.clone(), to), size);
                }
            }
            Msg::Reply(r) if to == 0 => {
                self.states[0].on_gossip_reply(&r, now);
            }
            Msg::Reply(r) => {
                let knew = self.states[to].peers.contains_key(&self.tagged);
                let had = self.states[to].files().len();
                self.states[to].on_gossip_reply(&r, now);
                if !knew {
                    self.tracking += 1;
                }
                if had == self.p.files && self.states[to].files().len() > had {
                    self.know_files += 1;
                }
                self.heard_from_tagged(to);
            }
        }
    }

    /// Peer `i` greets the tagged peer with its own GOSSIP; the tagged peer's real decision
    /// says whether it replies. Both are counted.
    fn greet(&mut self, i: usize) {
        let id = format!("{:032x}", self.rng.gen::<u128>());
        let raw = encode::gossip(&host(i), 8999, &id, &name(i));
        let size = raw.len();
        if self.now >= self.window.0 && self.now < self.window.1 {
            self.messages += 1;
            self.bytes += size as u64;
        }
        let g = Gossip {
            host: host(i),
            port: 8999,
            peer_id: name(i),
            raw,
            id,
        };
        if self.left {
            return;
        }
        let now = self.at();
        let Some((plan, _)) = self.states[0].on_gossip(&g, now, &mut self.rng) else {
            return;
        };
        if plan.reply_to.is_some() {
            let files = self.held[0].clone();
            let size = encode::gossip_reply(&host(0), 8999, &name(0), &files).len();
            let reply = GossipReply {
                host: host(0),
                port: 8999,
                peer_id: name(0),
                files,
            };
            self.send(i, Msg::Reply(reply), size);
        }
    }

    /// Another peer's round: its GOSSIP reaches the tagged peer as often as the tagged peer's
    /// own last round reached a peer; the tagged peer's reply, if it sends one, is not
    /// counted (it stands for the replies counted from the others).
    fn other_round(&mut self, i: usize) {
        if !self.rng.gen_bool(self.last_reach.clamp(0.0, 1.0)) {
            return;
        }
        let id = format!("{:032x}", self.rng.gen::<u128>());
        let g = Gossip {
            host: host(i),
            port: 8999,
            peer_id: name(i),
            raw: String::new(),
            id,
        };
        let now = self.at();
        let Some((plan, _)) = self.states[0].on_gossip(&g, now, &mut self.rng) else {
            return;
        };
        if plan.reply_to.is_some() {
            let reply = GossipReply {
                host: host(0),
                port: 8999,
                peer_id: name(0),
                files: self.held[0].clone(),
            };
            let latency = Duration::from_millis(self.rng.gen_range(10..=100));
            self.schedule(latency, Event::Deliver(i, Msg::Reply(reply)));
        }
    }

    /// Records, for the steady state, how long peer `i` had gone without hearing the tagged.
    fn heard_from_tagged(&mut self, i: usize) {
        let (window, now) = (self.window, self.now);
        let (last, longest) = &mut self.heard[i];
        if now >= window.0 && now < window.1 {
            let since = last.map_or(window.0, |l| l.max(window.0));
            *longest = (*longest).max(now - since);
        }
        *last = Some(now);
    }

    /// The tagged peer leaves: every other peer sweeps every `sweep` from a random phase.
    fn leave(&mut self) {
        self.left = true;
        let (window, now) = (self.window, self.now);
        for i in 1..self.p.peers {
            let (last, longest) = &mut self.heard[i];
            let since = last.map_or(window.0, |l| l.max(window.0));
            *longest = (*longest).max(now - since);
            let phase = self.p.sweep.mul_f64(self.rng.gen());
            self.schedule(phase, Event::Sweep(i));
        }
    }

    fn sweep(&mut self, i: usize) {
        let now = self.at();
        self.states[i].sweep(now, self.p.timeout);
        if self.states[i].peers.contains_key(&name(0)) {
            self.schedule(self.p.sweep, Event::Sweep(i));
        } else {
            self.dropped_at[i] = Some(self.now);
        }
    }

    fn converged(&self) -> bool {
        let n = self.p.peers;
        let tagged = &self.states[0];
        self.tracking == n - 1
            && self.know_files == n - 1
            && tagged.peers.len() == n - 1
            && tagged.files().len() == n * self.p.files
    }
}

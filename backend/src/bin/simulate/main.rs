//! `simulate`: the gossip decision code of `PeerState` in a discrete-event simulation with no
//! sockets, for networks of 10 to 10,000 peers. For each size and each policy (ours, `lean`,
//! and the protocol as written, `every`) it prints how long a join takes to converge, how long
//! until everyone drops a peer that left, and what gossip costs each peer per minute; it
//! writes an SVG chart and says where the protocol itself stops scaling.
//!
//! ```text
//! cargo run --release --bin simulate -- --peers 10000 --gossip 30s
//! ```

mod chart;
mod world;

use backend::config::parse_duration;
use backend::peer::policy::GossipPolicy;
use clap::Parser;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use world::{Outcome, Params};

/// Above this many connections per second a peer that handles each on its own thread (the
/// class network's Python peers) no longer keeps up.
const CONNECTIONS_PER_SECOND: f64 = 100.0;
/// The view of each peer in networks larger than `--view`.
const PARTIAL_VIEW: usize = 32;
/// Bytes of one file entry in a GOSSIP_REPLY.
const ENTRY_BYTES: f64 = 190.0;

/// Gossip at scale: the real decision code, simulated.
#[derive(Parser)]
#[command(name = "simulate")]
struct Args {
    /// The largest network: 10, 100, … up to this.
    #[arg(long, default_value_t = 10_000)]
    peers: usize,
    /// Time between GOSSIP rounds.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    gossip: Duration,
    /// Silence after which a peer is dropped.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    timeout: Duration,
    /// Time between sweeps.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    sweep: Duration,
    /// Files each peer holds.
    #[arg(long, default_value_t = 1)]
    files: usize,
    /// Networks up to this size are simulated whole: every peer tracks every other. Beyond
    /// it each peer tracks 32 random others, enough to pick forward targets. Our policy judges from the tracked count whether its rounds
    /// reach everyone, so below the network size it holds only where they cannot (30 s
    /// rounds and more than 3 peers).
    #[arg(long, default_value_t = 1000)]
    view: usize,
    /// How long the steady state is measured.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    steady: Duration,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the chart goes.
    #[arg(long, default_value = "docs/gossip-scaling.svg")]
    svg: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sizes: Vec<usize> = std::iter::successors(Some(10usize), |n| n.checked_mul(10))
        .take_while(|&n| n <= args.peers)
        .collect();
    println!(
        "gossip every {:?}, timeout {:?}, sweep {:?}, {} file(s) per peer",
        args.gossip, args.timeout, args.sweep, args.files
    );
    println!(
        "{:>6}  {:>6}  {:>8}  {:>8}  {:>14}  {:>12}  {:>10}  {:>6}  {:>6}",
        "peers",
        "policy",
        "join s",
        "leave s",
        "msgs/peer/min",
        "KB/peer/min",
        "silence s",
        "drops",
        "run s"
    );
    let mut results: Vec<(GossipPolicy, usize, Outcome)> = Vec::new();
    for &n in &sizes {
        for policy in [GossipPolicy::Lean, GossipPolicy::Every] {
            let started = Instant::now();
            let outcome = world::run(Params {
                peers: n,
                policy,
                interval: args.gossip,
                timeout: args.timeout,
                sweep: args.sweep,
                files: args.files,
                view: if n - 1 <= args.view {
                    n - 2
                } else {
                    PARTIAL_VIEW
                },
                steady: args.steady,
                seed: args.seed,
            });
            let seconds = |s: Option<f64>| s.map_or("never".into(), |s| format!("{s:.1}"));
            println!(
                "{n:>6}  {:>6}  {:>8}  {:>8}  {:>14.0}  {:>12.1}  {:>10.1}  {:>6}  {:>6.1}",
                label(policy),
                seconds(outcome.converged),
                seconds(outcome.dropped),
                outcome.messages,
                outcome.bytes / 1000.0,
                outcome.longest_silence,
                outcome.false_drops,
                started.elapsed().as_secs_f64()
            );
            results.push((policy, n, outcome));
        }
    }
    limits(&results, &args);
    if let Some(dir) = args.svg.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.svg, chart::svg(&results, &args_title(&args)))?;
    println!("chart: {}", args.svg.display());
    Ok(())
}

fn label(policy: GossipPolicy) -> &'static str {
    match policy {
        GossipPolicy::Lean => "lean",
        GossipPolicy::Every => "every",
    }
}

fn args_title(args: &Args) -> String {
    format!(
        "gossip every {:?}, timeout {:?}, {} file(s) per peer",
        args.gossip, args.timeout, args.files
    )
}

/// Where the protocol itself stops scaling: every peer must hear every other peer within the
/// timeout, so each one handles connections in proportion to N, and every reply carries the
/// sender's whole file list.
fn limits(results: &[(GossipPolicy, usize, Outcome)], args: &Args) {
    for policy in [GossipPolicy::Lean, GossipPolicy::Every] {
        let Some((_, n, o)) = results.iter().rfind(|(p, _, _)| *p == policy) else {
            continue;
        };
        // Each message is one connection at its sender and one at its receiver.
        let per_second = 2.0 * o.messages / 60.0;
        let slope = per_second / *n as f64;
        let limit = CONNECTIONS_PER_SECOND / slope;
        println!(
            "{}: at {n} peers each peer handles {per_second:.0} connections/s and {:.1} KB/s; \
             that grows with N and passes {CONNECTIONS_PER_SECOND:.0}/s at about {limit:.0} peers",
            label(policy),
            2.0 * o.bytes / 60.0 / 1000.0,
        );
    }
    if let Some((_, n, o)) = results.iter().rfind(|(p, _, _)| *p == GossipPolicy::Lean) {
        // Replies per peer per minute, each listing every file if every peer held them all.
        let full = o.replies * *n as f64 * args.files as f64 * ENTRY_BYTES;
        println!(
            "the file list: should every peer hold a copy of every file, each reply lists all \
             {} files ({:.1} MB), about {:.0} MB per peer per minute at {n} peers",
            n * args.files,
            *n as f64 * args.files as f64 * ENTRY_BYTES / 1e6,
            full / 1e6
        );
    }
}

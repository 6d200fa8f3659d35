//! `gossip-bench`: many real peer processes on 127.0.0.1, each bootstrapped to the first one
//! and holding one file of its own. For each gossip policy it prints how long after the last
//! peer started every peer tracked all the others and knew every file, and how much CPU the
//! peers together burned once converged (utime + stime from `/proc/<pid>/stat`).
//!
//! All peers share one source address, so the per-source limits meant for strangers
//! (`--gossip-reply-rate`, `--max-conns-per-source`) are raised for them.
//!
//! ```text
//! cargo build --release -p backend
//! cargo run --release -p backend --bin gossip-bench -- [--peers 100] [--policies lean,every]
//! ```
//!
//! Linux only. Progress goes to stderr, the table to stdout.

#[path = "common/mod.rs"]
mod common;

use anyhow::{bail, Context, Result};
use backend::config::parse_duration;
use clap::Parser;
use common::{get_json, PeerProcess};
use shared::StatusDto;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// Gossip benchmark: N local peer processes, convergence time and CPU per policy.
#[derive(Parser)]
#[command(name = "gossip-bench")]
struct Args {
    /// How many peer processes.
    #[arg(long, default_value_t = 100)]
    peers: usize,
    /// The peers' `--gossip-interval`.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    interval: Duration,
    /// The peers' `--peer-timeout`.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    timeout: Duration,
    /// Policies to measure, in order (`lean`, `every`).
    #[arg(long, value_delimiter = ',', default_value = "lean,every")]
    policies: Vec<String>,
    /// Give up on convergence after this long.
    #[arg(long, default_value = "240s", value_parser = parse_duration)]
    converge_limit: Duration,
    /// Wait this long after convergence before measuring CPU.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    settle: Duration,
    /// How long CPU is measured.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    window: Duration,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("peer");
    if !bin.is_file() {
        bail!(
            "{} not found: run `cargo build --release -p backend` first",
            bin.display()
        );
    }
    let ticks = clock_ticks()?;
    let mut rows = Vec::new();
    for policy in &args.policies {
        rows.push((policy.clone(), measure(&bin, policy, &args, ticks)?));
    }
    println!(
        "{} peers, gossip every {:?}, timeout {:?}, all bootstrapped to the first",
        args.peers, args.interval, args.timeout
    );
    println!(
        "{:>8}  {:>22}  {:>22}",
        "policy", "converged after last s", "CPU cores, steady"
    );
    for (policy, (converged, cores)) in rows {
        let converged = converged.map_or("not converged".into(), |s| format!("{s:.2}"));
        println!("{policy:>8}  {converged:>22}  {cores:>22.3}");
    }
    Ok(())
}

/// Starts the network with `policy`; returns the seconds from the last start until every
/// peer knew every peer and file (`None` past the limit) and the cores used afterwards.
fn measure(bin: &Path, policy: &str, args: &Args, ticks: f64) -> Result<(Option<f64>, f64)> {
    let work = tempfile_dir(policy)?;
    let mut peers: Vec<PeerProcess> = Vec::new();
    eprintln!("[{policy}] starting {} peers", args.peers);
    for i in 0..args.peers {
        let bootstrap = match peers.first() {
            Some(first) => format!("127.0.0.1:{}", first.p2p_port),
            None => "none".to_string(),
        };
        let storage = work.join(format!("p{i}"));
        std::fs::create_dir_all(&storage)?;
        std::fs::write(storage.join(format!("file-{i}.txt")), format!("file {i}\n"))?;
        let peer = start_peer(bin, i, &storage, &bootstrap, policy, args)?;
        // A file dropped into the folder is adopted in the background; wait for it, as a
        // peer restarting with its index would hold its files from the start.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !get_json::<StatusDto>(peer.http_port, "/api/status").is_ok_and(|s| s.held_count == 1)
        {
            if Instant::now() > deadline {
                bail!("peer g{i} did not adopt its file");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        peers.push(peer);
    }
    let last_start = Instant::now();
    let n = args.peers;
    let mut pending: Vec<usize> = (0..n).collect();
    let mut reported = Instant::now();
    while !pending.is_empty() && last_start.elapsed() < args.converge_limit {
        let mut lagging = None;
        pending.retain(|&i| {
            let status: Option<StatusDto> = get_json(peers[i].http_port, "/api/status").ok();
            let done = status
                .as_ref()
                .is_some_and(|s| s.peer_count == n - 1 && s.file_count == n);
            if !done && lagging.is_none() {
                lagging = status.map(|s| (i, s.peer_count, s.file_count));
            }
            !done
        });
        if reported.elapsed() > Duration::from_secs(5) {
            reported = Instant::now();
            if let Some((i, peers, files)) = lagging {
                eprintln!(
                    "[{policy}] {} pending; g{i} tracks {peers} and knows {files} files",
                    pending.len()
                );
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let converged = pending
        .is_empty()
        .then(|| last_start.elapsed().as_secs_f64());
    eprintln!(
        "[{policy}] converged: {converged:?}; {} peers pending",
        pending.len()
    );
    std::thread::sleep(args.settle);
    let before = cpu_ticks(&peers)?;
    let started = Instant::now();
    std::thread::sleep(args.window);
    let used = cpu_ticks(&peers)? - before;
    let cores = used / ticks / started.elapsed().as_secs_f64();
    eprintln!("[{policy}] {cores:.3} cores over {:?}", args.window);
    drop(peers);
    let _ = std::fs::remove_dir_all(&work);
    Ok((converged, cores))
}

/// A fresh work folder under the system temp directory.
fn tempfile_dir(policy: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("gossip-bench-{}-{policy}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// `sysconf(_SC_CLK_TCK)`, through `getconf`.
fn clock_ticks() -> Result<f64> {
    let out = Command::new("getconf").arg("CLK_TCK").output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

/// utime + stime of every peer, in clock ticks.
fn cpu_ticks(peers: &[PeerProcess]) -> Result<f64> {
    let mut total = 0.0;
    for p in peers {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.pid()))?;
        // The command name may hold spaces; the fields after it are plain.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11).context("utime")?.parse()?;
        let stime: f64 = fields.get(12).context("stime")?.parse()?;
        total += utime + stime;
    }
    Ok(total)
}

/// Starts peer `g<i>` with the benchmark's timers and `policy`, and waits for its addresses.
fn start_peer(
    bin: &Path,
    i: usize,
    storage: &Path,
    bootstrap: &str,
    policy: &str,
    args: &Args,
) -> Result<PeerProcess> {
    let millis = |d: Duration| format!("{}ms", d.as_millis());
    PeerProcess::start(bin, &format!("g{i}"), |command| {
        command
            .args(["--bootstrap", bootstrap, "--storage"])
            .arg(storage)
            .args(["--gossip-interval", &millis(args.interval)])
            .args(["--peer-timeout", &millis(args.timeout)])
            .args(["--gossip-policy", policy, "--auto-fetch", "0"])
            // One source address for all: the per-source limits are for strangers.
            .args([
                "--gossip-reply-rate",
                "1000000",
                "--max-conns-per-source",
                "512",
            ])
            .args(["--log-level", "warn"]);
    })
}

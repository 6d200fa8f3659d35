//! `gossip-bench`: many real peer processes on 127.0.0.1, each bootstrapped to the first one
//! and holding one file of its own. For each gossip policy (and, with `--baseline`, for an
//! older peer binary) it prints how long after the last peer started every peer tracked all
//! the others and knew every file, and how much CPU the peers together burned once converged
//! (utime + stime from `/proc/<pid>/stat`).
//!
//! All peers share one source address, so the per-source limits meant for strangers
//! (`--gossip-reply-rate`, `--max-conns-per-source`) are raised for them.
//!
//! ```text
//! cargo build --release -p backend
//! cargo run --release -p backend --bin gossip-bench -- [--peers 100] [--policies lean,every]
//!     [--baseline target/baseline/peer-b1b068b]
//! ```
//!
//! Linux only. Progress, and what the last peers to converge were still missing, go to
//! stderr; the table to stdout.

#[path = "common/mod.rs"]
mod common;

use anyhow::{bail, Context, Result};
use backend::config::parse_duration;
use clap::Parser;
use common::{get_json, http, PeerProcess};
use shared::{FileDto, PeerDto, StatusDto};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Threads polling the peers' status, each over its own share of the peers: one thread
/// polling 100 peers in turn would see each only every few hundred milliseconds on a loaded
/// machine.
const POLLERS: usize = 4;
/// Pause between two polls of the same peers.
const POLL_PAUSE: Duration = Duration::from_millis(20);
/// How often the peers still pending are reported.
const REPORT_EVERY: Duration = Duration::from_secs(1);

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
    /// An older `peer` binary (one without `--gossip-policy`) measured first, as "before".
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Give up on convergence after this long.
    #[arg(long, default_value = "240s", value_parser = parse_duration)]
    converge_limit: Duration,
    /// Wait this long after convergence before measuring CPU.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    settle: Duration,
    /// How long CPU is measured.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    window: Duration,
    /// The peers' `--log-level` (each logs to `.peer.log` in its folder).
    #[arg(long, default_value = "warn")]
    peer_log_level: String,
    /// Keep the peers' folders (and logs) under the temp directory.
    #[arg(long)]
    keep: bool,
}

/// The peer binary of one row, and its `--gossip-policy` if it has the flag.
struct Case {
    label: String,
    bin: PathBuf,
    policy: Option<String>,
}

/// What one row measured.
struct Outcome {
    /// Seconds from the last start until the last peer was seen converged, if all were.
    converged: Option<f64>,
    /// Peers seen converged.
    reached: usize,
    /// The longest a poll of a peer took: the measurement's resolution.
    poll_max: Duration,
    /// Cores used in steady state.
    cores: f64,
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
    let mut cases = Vec::new();
    if let Some(baseline) = &args.baseline {
        if !baseline.is_file() {
            bail!("baseline {} not found", baseline.display());
        }
        cases.push(Case {
            label: "before".into(),
            bin: baseline.clone(),
            policy: None,
        });
    }
    for policy in &args.policies {
        cases.push(Case {
            label: policy.clone(),
            bin: bin.clone(),
            policy: Some(policy.clone()),
        });
    }
    let ticks = clock_ticks()?;
    let mut rows = Vec::new();
    for case in &cases {
        rows.push((case.label.clone(), measure(case, &args, ticks)?));
    }
    println!(
        "{} peers, gossip every {:?}, timeout {:?}, all bootstrapped to the first",
        args.peers, args.interval, args.timeout
    );
    println!(
        "{:>8}  {:>22}  {:>13}  {:>17}",
        "policy", "converged after last s", "poll max ms", "CPU cores, steady"
    );
    for (label, o) in rows {
        let converged = match o.converged {
            Some(s) => format!("{s:.2}"),
            None => format!("{} of {} peers", o.reached, args.peers),
        };
        let poll = o.poll_max.as_millis();
        println!("{label:>8}  {converged:>22}  {poll:>13}  {:>17.3}", o.cores);
    }
    Ok(())
}

/// Starts the network of `case`; measures when every peer knew every peer and file, and the
/// cores used afterwards.
fn measure(case: &Case, args: &Args, ticks: f64) -> Result<Outcome> {
    let label = &case.label;
    let work = tempfile_dir(label)?;
    let mut peers: Vec<PeerProcess> = Vec::new();
    eprintln!("[{label}] starting {} peers", args.peers);
    for i in 0..args.peers {
        let bootstrap = match peers.first() {
            Some(first) => format!("127.0.0.1:{}", first.p2p_port),
            None => "none".to_string(),
        };
        let storage = work.join(format!("p{i}"));
        std::fs::create_dir_all(&storage)?;
        std::fs::write(storage.join(format!("file-{i}.txt")), format!("file {i}\n"))?;
        let peer = start_peer(case, i, &storage, &bootstrap, args)?;
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
    let (done, poll_max) = watch(&peers, label, last_start, args.converge_limit);
    let reached = done.iter().flatten().count();
    let converged = (reached == peers.len()).then(|| {
        done.iter()
            .flatten()
            .map(Duration::as_secs_f64)
            .fold(0.0, f64::max)
    });
    eprintln!("[{label}] converged: {converged:?}; {reached} peers converged");
    report_refusals(&peers, label);
    std::thread::sleep(args.settle);
    let before = cpu_ticks(&peers)?;
    let started = Instant::now();
    std::thread::sleep(args.window);
    let used = cpu_ticks(&peers)? - before;
    let cores = used / ticks / started.elapsed().as_secs_f64();
    eprintln!("[{label}] {cores:.3} cores over {:?}", args.window);
    drop(peers);
    if !args.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(Outcome {
        converged,
        reached,
        poll_max,
        cores,
    })
}

/// Polls every peer until each has been seen tracking all the others and knowing every file,
/// or until `limit`. Returns, per peer, when (after `last_start`) a poll first found it so,
/// taken as the poll's answer, and the longest a poll took. A peer's instant is late by at
/// most one poll pause plus that poll.
fn watch(
    peers: &[PeerProcess],
    label: &str,
    last_start: Instant,
    limit: Duration,
) -> (Vec<Option<Duration>>, Duration) {
    let n = peers.len();
    let done: Mutex<Vec<Option<Duration>>> = Mutex::new(vec![None; n]);
    let poll_max = Mutex::new(Duration::ZERO);
    std::thread::scope(|scope| {
        for k in 0..POLLERS {
            let (done, poll_max) = (&done, &poll_max);
            scope.spawn(move || {
                let mine: Vec<usize> = (k..n).step_by(POLLERS).collect();
                while last_start.elapsed() < limit {
                    let mut pending = 0;
                    for &i in &mine {
                        if done.lock().unwrap()[i].is_some() {
                            continue;
                        }
                        let asked = Instant::now();
                        let status = get_json::<StatusDto>(peers[i].http_port, "/api/status");
                        let answered = Instant::now();
                        let took = answered - asked;
                        let mut max = poll_max.lock().unwrap();
                        *max = (*max).max(took);
                        drop(max);
                        if status.is_ok_and(|s| s.peer_count == n - 1 && s.file_count == n) {
                            done.lock().unwrap()[i] = Some(answered - last_start);
                        } else {
                            pending += 1;
                        }
                    }
                    if pending == 0 {
                        break;
                    }
                    std::thread::sleep(POLL_PAUSE);
                }
            });
        }
        // The reporter: what the peers still pending lack, once a second.
        scope.spawn(|| {
            while last_start.elapsed() < limit {
                std::thread::sleep(REPORT_EVERY);
                let pending: Vec<usize> = {
                    let done = done.lock().unwrap();
                    (0..n).filter(|&i| done[i].is_none()).collect()
                };
                if pending.is_empty() {
                    break;
                }
                let t = last_start.elapsed().as_secs_f64();
                let worst = pending
                    .iter()
                    .take(3)
                    .map(|&i| lacks(peers, i))
                    .collect::<Vec<_>>();
                eprintln!(
                    "[{label}] {t:5.1} s: {} pending; {}",
                    pending.len(),
                    worst.join("; ")
                );
            }
        });
    });
    let max = *poll_max.lock().unwrap();
    (done.into_inner().unwrap(), max)
}

/// What peer `i` does not know yet: the peers it does not track, and the owners of the files
/// it has not heard of (peer `g<k>` owns `file-<k>.txt`).
fn lacks(peers: &[PeerProcess], i: usize) -> String {
    let port = peers[i].http_port;
    let (Ok(tracked), Ok(files)) = (
        get_json::<Vec<PeerDto>>(port, "/api/peers"),
        get_json::<Vec<FileDto>>(port, "/api/files"),
    ) else {
        return format!("g{i} does not answer");
    };
    let tracked: BTreeSet<String> = tracked.into_iter().map(|p| p.peer_id).collect();
    let owners: BTreeSet<String> = files.into_iter().map(|f| f.file_owner).collect();
    let others = (0..peers.len())
        .filter(|&k| k != i)
        .map(|k| format!("g{k}"));
    let untracked: Vec<String> = others.filter(|p| !tracked.contains(p)).collect();
    let all = (0..peers.len()).map(|k| format!("g{k}"));
    let unknown: Vec<String> = all.filter(|p| !owners.contains(p)).collect();
    format!("g{i} does not track {untracked:?}, lacks the files of {unknown:?}")
}

/// Prints the refusals (`peer_rejected_total`) the peers counted, summed by reason: the
/// limits meant for strangers must not shape the benchmark.
fn report_refusals(peers: &[PeerProcess], label: &str) {
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for p in peers {
        let Ok((200, text)) = http(p.http_port, "GET", "/metrics", "", &[]) else {
            continue;
        };
        for line in text
            .lines()
            .filter(|l| l.starts_with("peer_rejected_total{"))
        {
            if let Some((labels, count)) = line.rsplit_once(' ') {
                let count: u64 = count.parse().unwrap_or(0);
                *by_reason.entry(labels.to_string()).or_default() += count;
            }
        }
    }
    by_reason.retain(|_, count| *count > 0);
    eprintln!("[{label}] refusals: {by_reason:?}");
}

/// A fresh work folder under the system temp directory.
fn tempfile_dir(label: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("gossip-bench-{}-{label}", std::process::id()));
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

/// Starts peer `g<i>` of `case` with the benchmark's timers, and waits for its addresses.
/// Every flag but `--gossip-policy` is one the baseline binary knows too.
fn start_peer(
    case: &Case,
    i: usize,
    storage: &Path,
    bootstrap: &str,
    args: &Args,
) -> Result<PeerProcess> {
    let millis = |d: Duration| format!("{}ms", d.as_millis());
    PeerProcess::start(&case.bin, &format!("g{i}"), |command| {
        command
            .args(["--bootstrap", bootstrap, "--storage"])
            .arg(storage)
            .args(["--gossip-interval", &millis(args.interval)])
            .args(["--peer-timeout", &millis(args.timeout)])
            .args(["--auto-fetch", "0"])
            // One source address for all: the per-source limits are for strangers.
            .args([
                "--gossip-reply-rate",
                "1000000",
                "--max-conns-per-source",
                "512",
            ])
            .args(["--log-level", &args.peer_log_level]);
        if let Some(policy) = &case.policy {
            command.args(["--gossip-policy", policy]);
        }
    })
}

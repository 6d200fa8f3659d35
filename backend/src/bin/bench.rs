//! `bench`: end-to-end transfer benchmark of two local peers.
//!
//! Measures, for each file size, how long peer B takes to fetch a file from peer A over the
//! peer protocol (wall time from `POST /api/files/{id}/fetch` on B until B reports the transfer
//! `done`, i.e. received and hash-verified), the resulting throughput in MiB/s, and the peak
//! resident memory (`VmHWM` from `/proc/<pid>/status`) of both peers after each transfer, so
//! that memory growing with file size shows up. Every copy is then compared byte for byte with
//! the original. Beside each size it prints the speed of SHA-256 over the same bytes in this
//! process (measured right before and right after the transfer, and averaged, so that both see
//! about the same load from the rest of the machine), the ratio of the two (the transfer
//! hashes every byte too, so the ratio says how much else costs), and the CPU time each peer
//! spent on the transfer, which the rest of the machine does not change as much. The transfer
//! keeps two cores busy, so the row also shows how much two threads hashing at once got done
//! right before it, as a multiple of one (`2.00x` at best): on a shared machine a second core
//! is sometimes slower, and a slow row with a low multiple says why. And it shows how long B's
//! store spent hashing the content and writing it to the disk (writes and the final sync, in
//! wall time, from B's `/metrics`): a row whose disk time is close to its transfer time was
//! held back by the disk.
//!
//! Then a raw client asks A for a 1 MiB file again and again (`GET_FILE` on a new connection,
//! the reply read to its end and only counted) and prints the median, 10th and 90th percentile
//! of the time from connecting to the last byte. Last, the dashboard's size as A serves it:
//! each file raw, to a client offering gzip, and to one offering brotli too.
//!
//! The test files (pseudo-random content) are linked into A's storage folder before A starts,
//! in a temporary work directory that is removed at the end. The benchmark runs the `peer`
//! binary found next to its own executable, so build both first. With `--baseline PATH`, a
//! second pair of peers runs that binary (an earlier build, from `scripts/build-baseline.sh`;
//! it is given only flags that every build knows), and every measurement is made with both
//! pairs, one right after the other, in rows labelled by binary:
//!
//! ```text
//! cargo build --release -p backend
//! cargo run --release -p backend --bin bench -- [--sizes 1MiB,64MiB,1GiB] [--dir DIR] \
//!     [--baseline target/baseline/peer-b1b068b]
//! ```
//!
//! Linux only (it reads `/proc`). Progress goes to stderr, the result table to stdout.

#[path = "common/mod.rs"]
mod common;

use anyhow::{anyhow, bail, Context, Result};
use backend::config::parse_size;
use clap::Parser;
use common::{get_json, start_fetch, PeerProcess};
use sha2::{Digest, Sha256};
use shared::{FileDto, TransferDto, TransferStateDto};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One mebibyte: the block size of file writes and comparisons, and the unit of the table.
const MIB: u64 = 1 << 20;
/// How often the transfer list is polled while a transfer runs: first after `POLL_FIRST`,
/// then twice as long each time, up to `POLL`.
const POLL_FIRST: Duration = Duration::from_millis(1);
const POLL: Duration = Duration::from_millis(20);
/// How long B may take to learn of all the test files (A hashes them at start-up first).
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a peer may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The smallest `--max-file-size` given to the peers.
const MIN_MAX_FILE_SIZE: u64 = 2 << 30;

/// Transfer benchmark: peer B fetches files of each size from peer A on this machine.
#[derive(Parser)]
#[command(name = "bench")]
struct Args {
    /// File sizes to transfer, in order, comma-separated (B, KiB, MiB, GiB).
    #[arg(long, value_delimiter = ',', value_parser = parse_size, default_value = "1MiB,64MiB,1GiB")]
    sizes: Vec<u64>,
    /// Where to create the temporary work directory (default: the system temp directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// How many times the 1 MiB file is served to the raw client (0: not at all).
    #[arg(long, default_value_t = 200)]
    serve_runs: usize,
    /// Another `peer` binary (an earlier build) to measure in the same run: a second pair of
    /// peers runs it, and each row is measured with both pairs, one right after the other.
    #[arg(long)]
    baseline: Option<PathBuf>,
}

/// The file the raw client asks for.
const SERVE_NAME: &str = "bench_serve_1MiB.bin";

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Two peers of one binary: B fetches from A.
struct Pair {
    /// The binary's file name, the label of its rows.
    label: String,
    a: PeerProcess,
    b: PeerProcess,
    storage_a: PathBuf,
    storage_b: PathBuf,
    /// The ids of the test files, in the order of their names.
    file_ids: Vec<String>,
}

impl Pair {
    /// Starts A on a folder holding the test files of `files` (hard links where possible)
    /// and B on an empty one, and waits until B lists every file of `names`.
    fn start(
        bin: &Path,
        work: &Path,
        files: &Path,
        names: &[String],
        max_file: &str,
    ) -> Result<Pair> {
        let label = bin.file_name().map_or_else(
            || bin.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let storage_a = work.join(format!("{label}_a"));
        let storage_b = work.join(format!("{label}_b"));
        for dir in [&storage_a, &storage_b] {
            fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        for name in names {
            let (from, to) = (files.join(name), storage_a.join(name));
            if fs::hard_link(&from, &to).is_err() {
                fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
            }
        }
        eprintln!("starting peer A of {label}");
        let a = start_peer(bin, "bench-a", &storage_a, "none", max_file)?;
        let bootstrap = format!("127.0.0.1:{}", a.p2p_port);
        eprintln!("starting peer B of {label} (bootstrap {bootstrap})");
        let b = start_peer(bin, "bench-b", &storage_b, &bootstrap, max_file)?;
        eprintln!(
            "waiting for B of {label} to list the {} test files",
            names.len()
        );
        let file_ids = wait_for_files(b.http_port, names)?;
        eprintln!(
            "{label}: peak RSS before transfers: A {:.1} MiB, B {:.1} MiB",
            peak_rss_mib(a.pid())?,
            peak_rss_mib(b.pid())?
        );
        Ok(Pair {
            label,
            a,
            b,
            storage_a,
            storage_b,
            file_ids,
        })
    }

    /// Fetches test file `i` (`size` bytes) on B and prints its row of the table.
    fn transfer(&self, i: usize, name: &str, size: u64) -> Result<()> {
        eprintln!("{}: fetching {name} ({}) on B", self.label, human(size));
        let original = self.storage_a.join(name);
        // The baseline is measured on both sides of the transfer, so that both see about the
        // same load from the rest of the machine.
        let sha_before = sha256_seconds(&original)?;
        let two_cores = two_core_speedup()?;
        let (cpu_a, cpu_b) = (cpu_seconds(self.a.pid())?, cpu_seconds(self.b.pid())?);
        let store_b = store_seconds(self.b.http_port)?;
        let seconds = fetch(self.b.http_port, &self.file_ids[i], name)?;
        let cpu_a = cpu_seconds(self.a.pid())? - cpu_a;
        let cpu_b = cpu_seconds(self.b.pid())? - cpu_b;
        let hash_disk = match (store_b, store_seconds(self.b.http_port)?) {
            (Some(before), Some(after)) => format!(
                "{:.2}+{:.2}",
                after.hash - before.hash,
                after.disk - before.disk
            ),
            _ => "-".to_string(),
        };
        let sha_after = sha256_seconds(&original)?;
        let rss_a = peak_rss_mib(self.a.pid())?;
        let rss_b = peak_rss_mib(self.b.pid())?;
        let throughput = size as f64 / MIB as f64 / seconds;
        let sha = 2.0 * size as f64 / MIB as f64 / (sha_before + sha_after).max(1e-9);
        compare_files(&original, &self.storage_b.join(name))
            .with_context(|| format!("verifying {}'s copy of {name}", self.label))?;
        println!(
            "{:>10}  {:<16}  {seconds:>9.3}  {throughput:>9.1}  {sha:>13.1}  {:>6.2}  \
             {cpu_a:>5.2}+{cpu_b:<5.2}  {two_cores:>6.2}x  {hash_disk:>13}  {rss_a:>13.1}  \
             {rss_b:>13.1}  verified",
            human(size),
            self.label,
            throughput / sha,
        );
        Ok(())
    }

    /// Asks A for the 1 MiB file `runs` times and prints the times to the last byte.
    fn serve(&self, runs: usize) -> Result<()> {
        let id = self.file_ids.last().expect("the served file is listed");
        eprintln!("{}: serving {SERVE_NAME} {runs} times", self.label);
        let mut times = serve_times(self.a.p2p_port, id, runs)?;
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize] * 1e3;
        println!(
            "{:<16}  1 MiB GET_FILE to the last byte, {} runs: median {:.2} ms, p10 {:.2} ms, \
             p90 {:.2} ms; A VmHWM {:.1} MiB",
            self.label,
            times.len(),
            at(0.5),
            at(0.1),
            at(0.9),
            peak_rss_mib(self.a.pid())?
        );
        Ok(())
    }

    fn stop(self) -> Result<()> {
        stop(self.a)?;
        stop(self.b)
    }
}

/// Sets up the work directory and the peers, runs every transfer and prints the table.
fn run(args: Args) -> Result<()> {
    if args.sizes.is_empty() {
        bail!("--sizes lists no size");
    }
    let mut bins = vec![peer_binary()?];
    if let Some(baseline) = args.baseline {
        if !baseline.is_file() {
            bail!("baseline binary {} not found", baseline.display());
        }
        bins.push(baseline);
    }
    let work = WorkDir::create(args.dir.unwrap_or_else(std::env::temp_dir))?;
    let files = work.path().join("files");
    fs::create_dir(&files).with_context(|| format!("creating {}", files.display()))?;

    let mut names: Vec<String> = args
        .sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| format!("bench_{}_{}.bin", i + 1, human(size).replace(' ', "")))
        .collect();
    for (i, (name, &size)) in names.iter().zip(&args.sizes).enumerate() {
        eprintln!("writing {name} ({})", human(size));
        write_test_file(&files.join(name), size, i as u64 + 1)?;
    }
    if args.serve_runs > 0 {
        write_test_file(&files.join(SERVE_NAME), MIB, 0)?;
        names.push(SERVE_NAME.to_string());
    }

    let largest = args.sizes.iter().copied().max().unwrap_or(0);
    let max_file_size = largest.max(MIN_MAX_FILE_SIZE).to_string();
    let pairs = bins
        .iter()
        .map(|bin| Pair::start(bin, work.path(), &files, &names, &max_file_size))
        .collect::<Result<Vec<Pair>>>()?;

    println!(
        "{:>10}  {:<16}  {:>9}  {:>9}  {:>13}  {:>6}  {:>11}  {:>7}  {:>13}  {:>13}  {:>13}  check",
        "size",
        "peer binary",
        "seconds",
        "MiB/s",
        "SHA-256 MiB/s",
        "ratio",
        "CPU s A+B",
        "2 cores",
        "B hash+disk s",
        "A VmHWM MiB",
        "B VmHWM MiB"
    );
    for (i, (name, &size)) in names.iter().zip(&args.sizes).enumerate() {
        for pair in &pairs {
            pair.transfer(i, name, size)?;
        }
    }
    if args.serve_runs > 0 {
        for pair in &pairs {
            pair.serve(args.serve_runs)?;
        }
    }
    for pair in &pairs {
        println!();
        common::app_size::print(&pair.label, pair.a.http_port)?;
    }
    for pair in pairs {
        pair.stop()?;
    }
    work.remove()
}

/// The `peer` binary next to this executable, or an error saying how to build it.
fn peer_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the bench executable")?;
    let peer = exe.with_file_name(format!("peer{}", std::env::consts::EXE_SUFFIX));
    if !peer.is_file() {
        bail!(
            "{} not found: run `cargo build --release -p backend` first",
            peer.display()
        );
    }
    Ok(peer)
}

/// A fast, seedable xorshift64 generator for incompressible test content.
struct XorShift(u64);

impl XorShift {
    /// A generator whose stream depends on `seed` (any value, zero included).
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 pseudo-random bits.
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Writes `size` pseudo-random bytes to `path`, 1 MiB at a time.
fn write_test_file(path: &Path, size: u64, seed: u64) -> Result<()> {
    let mut file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut rng = XorShift::new(seed);
    let mut block = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            word.copy_from_slice(&rng.next().to_le_bytes());
        }
        let n = left.min(MIB) as usize;
        file.write_all(&block[..n])
            .with_context(|| format!("writing {}", path.display()))?;
        left -= n as u64;
    }
    file.sync_all()
        .with_context(|| format!("flushing {}", path.display()))
}

/// A temporary directory, removed when dropped (or explicitly, with errors reported).
struct WorkDir(Option<PathBuf>);

impl WorkDir {
    /// Creates a fresh, uniquely named directory inside `parent`.
    fn create(parent: PathBuf) -> Result<Self> {
        fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let path = parent.join(format!("peer-bench-{}-{stamp}", std::process::id()));
        fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        eprintln!("work dir: {}", path.display());
        Ok(Self(Some(path)))
    }

    /// The directory.
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new("."))
    }

    /// Removes the directory and everything in it.
    fn remove(mut self) -> Result<()> {
        match self.0.take() {
            Some(path) => {
                fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))
            }
            None => Ok(()),
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            if let Err(e) = fs::remove_dir_all(&path) {
                eprintln!("warning: could not remove {}: {e}", path.display());
            }
        }
    }
}

/// Starts a peer on loopback with free ports, storing into `storage`, and waits until it has
/// printed both of its addresses.
fn start_peer(
    bin: &Path,
    name: &str,
    storage: &Path,
    bootstrap: &str,
    max_file_size: &str,
) -> Result<PeerProcess> {
    let peer = PeerProcess::start(bin, name, |command| {
        command
            .args(["--bootstrap", bootstrap, "--storage"])
            .arg(storage)
            .args(["--auto-fetch", "0", "--gossip-interval", "200ms"])
            .args(["--max-file-size", max_file_size])
            .stderr(Stdio::inherit());
    })?;
    eprintln!(
        "peer {name}: pid {}, peer protocol on port {}, API on port {}",
        peer.pid(),
        peer.p2p_port,
        peer.http_port
    );
    Ok(peer)
}

/// Stops `peer`: SIGTERM, then a kill if it has not exited within `STOP_TIMEOUT`.
fn stop(mut peer: PeerProcess) -> Result<()> {
    let name = peer.name.clone();
    let child = &mut peer.child;
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    if !matches!(term, Ok(status) if status.success()) {
        eprintln!("warning: could not send SIGTERM to peer {name}; killing it");
    }
    match wait_timeout(child, STOP_TIMEOUT)? {
        Some(status) if status.success() => eprintln!("peer {name} stopped"),
        Some(status) => eprintln!("warning: peer {name} exited with {status}"),
        None => {
            eprintln!("warning: peer {name} ignored SIGTERM for {STOP_TIMEOUT:?}; killing it");
            child
                .kill()
                .with_context(|| format!("killing peer {name}"))?;
            child
                .wait()
                .with_context(|| format!("waiting for peer {name}"))?;
        }
    }
    Ok(())
}

/// Waits up to `timeout` for `child` to exit; `None` if it is still running.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().context("waiting for a peer")? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Polls B's file list until every name in `names` is listed; returns their ids, in order.
fn wait_for_files(http_port: u16, names: &[String]) -> Result<Vec<String>> {
    let deadline = Instant::now() + DISCOVERY_TIMEOUT;
    loop {
        let files: Vec<FileDto> = get_json(http_port, "/api/files")?;
        let ids: Option<Vec<String>> = names
            .iter()
            .map(|name| {
                files
                    .iter()
                    .find(|f| &f.file_name == name)
                    .map(|f| f.file_id.clone())
            })
            .collect();
        if let Some(ids) = ids {
            return Ok(ids);
        }
        if Instant::now() >= deadline {
            let known: Vec<&str> = files.iter().map(|f| f.file_name.as_str()).collect();
            bail!("after {DISCOVERY_TIMEOUT:?} peer B lists only {known:?}, not all of {names:?}");
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Starts a fetch of `file_id` on the peer and polls until it is done; returns its seconds as
/// the peer recorded them, from the request to the end (to the millisecond), so that the
/// polling does not add up to `POLL` to them; or, from a peer that records no end, from the
/// request to the first poll that sees it done.
fn fetch(http_port: u16, file_id: &str, name: &str) -> Result<f64> {
    let started = Instant::now();
    let transfer = start_fetch(http_port, file_id).with_context(|| format!("fetching {name}"))?;
    let mut poll = POLL_FIRST;
    loop {
        let transfers: Vec<TransferDto> = get_json(http_port, "/api/transfers")?;
        let current = transfers
            .iter()
            .find(|t| t.id == transfer.id)
            .ok_or_else(|| anyhow!("transfer {} of {name} vanished from the list", transfer.id))?;
        match &current.state {
            TransferStateDto::Running => {
                thread::sleep(poll);
                poll = (poll * 2).min(POLL);
            }
            TransferStateDto::Done => {
                return Ok(match current.finished_ms {
                    Some(end) => end.saturating_sub(current.started_ms) as f64 / 1000.0,
                    None => started.elapsed().as_secs_f64(),
                })
            }
            TransferStateDto::Failed { reason } => bail!(
                "transfer of {name} failed after {:.1} s ({} of {} bytes): {reason}",
                started.elapsed().as_secs_f64(),
                current.bytes_done,
                current
                    .bytes_total
                    .map_or("?".to_string(), |n| n.to_string())
            ),
        }
    }
}

/// Peak resident set size (`VmHWM`) of process `pid`, in MiB.
fn peak_rss_mib(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow!("no VmHWM line in {path}"))?;
    Ok(kib as f64 / 1024.0)
}

/// The seconds SHA-256 takes over the content of `path` in this process: only the hashing is
/// timed, not the reads.
fn sha256_seconds(path: &Path) -> Result<f64> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buf = vec![0u8; MIB as usize];
    let mut hasher = Sha256::new();
    let mut hashing = Duration::ZERO;
    loop {
        let n = fill(&mut file, &mut buf)?;
        if n == 0 {
            break;
        }
        let started = Instant::now();
        hasher.update(&buf[..n]);
        hashing += started.elapsed();
    }
    std::hint::black_box(hasher.finalize());
    Ok(hashing.as_secs_f64())
}

/// How many times one thread's SHA-256 work two threads get done in the same time, each
/// hashing the same 64 MiB four times: 2 when the machine gives this process two whole cores.
fn two_core_speedup() -> Result<f64> {
    let data: std::sync::Arc<Vec<u8>> = std::sync::Arc::new(vec![0x5a; 64 << 20]);
    let hash = |data: &[u8]| {
        let mut hasher = Sha256::new();
        for _ in 0..4 {
            hasher.update(data);
        }
        std::hint::black_box(hasher.finalize());
    };
    let started = Instant::now();
    hash(&data);
    let one = started.elapsed();
    let started = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let data = data.clone();
            thread::spawn(move || hash(&data))
        })
        .collect();
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow!("a hashing thread panicked"))?;
    }
    let two = started.elapsed();
    Ok(2.0 * one.as_secs_f64() / two.as_secs_f64().max(1e-9))
}

/// The CPU time process `pid` has used (user and system), in seconds, to 10 ms.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The fields after the command name, which is in parentheses and may hold spaces;
    // utime and stime are the 14th and 15th fields of the line, in clock ticks.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| anyhow!("unexpected {path}: {stat}"))
    };
    Ok((ticks(11)? + ticks(12)?) as f64 / CLOCK_TICKS)
}

/// What a peer's store has spent on incoming content so far, in seconds of wall time.
struct StoreSeconds {
    hash: f64,
    /// Writes and syncs.
    disk: f64,
}

/// [`StoreSeconds`] from the `/metrics` of the peer with its API on `port`; `None` for a
/// build that does not count them (an older baseline).
fn store_seconds(port: u16) -> Result<Option<StoreSeconds>> {
    let reply = common::exchange(port, "GET", "/metrics", &[], b"")?;
    if reply.status != 200 {
        bail!("GET /metrics: HTTP {}", reply.status);
    }
    let text = String::from_utf8_lossy(&reply.body);
    let step = |name: &str| {
        let prefix = format!("peer_store_seconds_total{{step=\"{name}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix)?.parse::<f64>().ok())
    };
    Ok(match (step("hash"), step("write"), step("sync")) {
        (Some(hash), Some(write), Some(sync)) => Some(StoreSeconds {
            hash,
            disk: write + sync,
        }),
        _ => None,
    })
}

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const CLOCK_TICKS: f64 = 100.0;

/// Asks the peer at `p2p_port` for `file_id` `runs` times, each on a new connection, and reads
/// each reply to its end; returns the seconds from connecting to the last byte of each.
fn serve_times(p2p_port: u16, file_id: &str, runs: usize) -> Result<Vec<f64>> {
    let request = format!("{{\"type\":\"GET_FILE\",\"file_id\":\"{file_id}\"}}");
    let mut buf = vec![0u8; MIB as usize];
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let mut stream = TcpStream::connect(("127.0.0.1", p2p_port)).context("connecting to A")?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.write_all(request.as_bytes())?;
        let (mut received, mut last) = (0u64, started);
        loop {
            match stream.read(&mut buf).context("reading the reply")? {
                0 => break,
                n => {
                    received += n as u64;
                    last = Instant::now();
                }
            }
        }
        if received < 2 * MIB {
            bail!("the reply to GET_FILE had only {received} bytes");
        }
        times.push((last - started).as_secs_f64());
    }
    Ok(times)
}

/// Checks that two files have the same length and bytes, reading 1 MiB at a time.
fn compare_files(expected: &Path, actual: &Path) -> Result<()> {
    let open =
        |path: &Path| File::open(path).with_context(|| format!("opening {}", path.display()));
    let (mut left, mut right) = (open(expected)?, open(actual)?);
    let (len_l, len_r) = (left.metadata()?.len(), right.metadata()?.len());
    if len_l != len_r {
        bail!("{} has {len_r} bytes, expected {len_l}", actual.display());
    }
    let mut buf_l = vec![0u8; MIB as usize];
    let mut buf_r = vec![0u8; MIB as usize];
    let mut offset = 0u64;
    loop {
        let n_l = fill(&mut left, &mut buf_l)?;
        let n_r = fill(&mut right, &mut buf_r)?;
        if n_l != n_r || buf_l[..n_l] != buf_r[..n_r] {
            let at = buf_l[..n_l]
                .iter()
                .zip(&buf_r[..n_r])
                .position(|(x, y)| x != y)
                .unwrap_or(n_l.min(n_r));
            bail!(
                "{} differs from {} at byte {}",
                actual.display(),
                expected.display(),
                offset + at as u64
            );
        }
        if n_l == 0 {
            return Ok(());
        }
        offset += n_l as u64;
    }
}

/// Reads until `buf` is full or the end of the file; returns how many bytes were read.
fn fill(file: &mut File, buf: &mut [u8]) -> Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file
            .read(&mut buf[done..])
            .context("reading for comparison")?
        {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}

/// `1 GiB`, `64 MiB`, `512 KiB`; a size that is not a whole unit as `1.50 MiB` from 1 MiB
/// up, else as `1500 B`.
fn human(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    if bytes >= MIB {
        return format!("{:.2} MiB", bytes as f64 / MIB as f64);
    }
    format!("{bytes} B")
}

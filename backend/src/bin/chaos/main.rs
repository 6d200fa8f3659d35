//! `chaos`: kills peer processes with SIGKILL in the middle of transfers and checks that every
//! storage folder survives the crash.
//!
//! Two `peer` processes, A and B, run on 127.0.0.1. Each round is a push (a file uploaded to
//! one peer, which stores it as its own and replicates it to the other), a get (one peer
//! fetches a file the other holds) or a delete (one peer deletes a file of its own, and tells
//! the other, which deletes its copy). After a random delay, the sender or the receiver is
//! killed; its folder is inspected as the crash left it, to name the stage its commit had
//! reached; then it is restarted, and its folder must hold these invariants:
//!
//! - `metadata.json` parses;
//! - no temporary file is left from before the crash;
//! - every content file is indexed;
//! - no file is owned by this peer that it did not create;
//! - every held file has its original id, and its bytes hash to that id (a deleted file whose
//!   copy outlived its entry would come back as a new file of ours, under a new id).
//!
//! A summary (kills by role and stage, whether the file of the round was kept or removed, and
//! every violation) goes to stdout; the exit code is non-zero on any violation. Progress goes
//! to stderr. Linux only (SIGKILL, SIGTERM through `kill`).
//!
//! ```text
//! cargo build --release -p backend
//! cargo run --release -p backend --bin chaos -- [--kills 100] [--seed N]
//! ```

#[path = "../common/mod.rs"]
mod common;
mod folder;
mod peers;

use anyhow::{bail, Context, Result};
use backend::protocol;
use backend::store::{self, IndexEntry};
use clap::Parser;
use common::{get_json, http, start_fetch, PeerProcess};
use folder::{held, names_in, stage, temp_files, Stage};
use peers::upload;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shared::{FileDto, PeerDto};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the two peers may take to learn of each other, or of a file.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the API is polled while waiting.
const POLL: Duration = Duration::from_millis(20);

/// Kills peers at random points of transfers and checks their folders after each restart.
#[derive(Parser)]
#[command(name = "chaos")]
struct Args {
    /// How many kills (one per round).
    #[arg(long, default_value_t = 100)]
    kills: usize,
    /// Longest wait between starting a transfer and the kill, in milliseconds.
    #[arg(long, default_value_t = 40)]
    max_delay_ms: u64,
    /// Largest file transferred, in bytes.
    #[arg(long, default_value_t = 512 << 10)]
    max_size: u64,
    /// Seed of the random choices (default: from the clock); printed, so a run can be replayed.
    #[arg(long)]
    seed: Option<u64>,
    /// The peer binary (default: `peer` next to this executable).
    #[arg(long)]
    peer: Option<PathBuf>,
    /// Where to create the work directory (default: the system temp directory). It is removed
    /// at the end unless a violation was found.
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// What a round does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Push,
    Get,
    Delete,
}

/// Which part a peer played in the round when it was killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    /// It was storing an upload, or replicating it.
    Uploader,
    /// It was receiving the replicated file.
    PushReceiver,
    /// It was fetching.
    GetReceiver,
    /// It was serving the fetch.
    GetServer,
    /// It was deleting a file of its own.
    Deleter,
    /// It was told to delete its copy.
    DeleteReceiver,
}

impl Role {
    fn label(self) -> &'static str {
        match self {
            Role::Uploader => "push, uploader",
            Role::PushReceiver => "push, receiver",
            Role::GetReceiver => "get, receiver",
            Role::GetServer => "get, server",
            Role::Deleter => "delete, owner",
            Role::DeleteReceiver => "delete, receiver",
        }
    }
}

/// Kills, and what the restart kept, for one role and stage.
#[derive(Default)]
struct Tally {
    kills: usize,
    kept: usize,
    removed: usize,
    /// Kills after which a new violation was found.
    violated: usize,
}

/// A file this run created, and on which peer.
#[derive(Clone)]
struct Made {
    creator: usize,
    seed: u64,
    size: u64,
}

/// The two peers, their folders, and every file the run created.
struct World {
    bin: PathBuf,
    work: PathBuf,
    sides: [Side; 2],
    made: HashMap<String, Made>,
    /// Ids the creators gave, as far as the run learned them.
    ids: HashMap<String, String>,
}

struct Side {
    id: String,
    storage: PathBuf,
    process: Option<PeerProcess>,
}

fn run(args: Args) -> Result<bool> {
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let bin = match args.peer {
        Some(bin) => bin,
        None => std::env::current_exe()
            .context("locating the chaos executable")?
            .with_file_name(format!("peer{}", std::env::consts::EXE_SUFFIX)),
    };
    if !bin.is_file() {
        bail!("{} not found: build the `peer` binary first", bin.display());
    }
    let parent = args.dir.unwrap_or_else(std::env::temp_dir);
    let work = parent.join(format!("peer-chaos-{}-{seed}", std::process::id()));
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    eprintln!("work dir: {}", work.display());

    let mut world = World {
        bin,
        work: work.clone(),
        sides: [Side::new(&work, "a"), Side::new(&work, "b")],
        made: HashMap::new(),
        ids: HashMap::new(),
    };
    // Files to fetch: put in each folder before the first start, so each peer holds files
    // the other lacks (a push always lands on the other peer too).
    let seeds_per_side = args.kills / 4 + 2;
    for side in 0..2 {
        fs::create_dir_all(&world.sides[side].storage)?;
        for i in 0..seeds_per_side {
            let name = format!("{}-seed-{i}.bin", world.sides[side].id);
            let made = Made {
                creator: side,
                seed: rng.gen(),
                size: rng.gen_range(0..=args.max_size),
            };
            fs::write(world.sides[side].storage.join(&name), content(&made))?;
            world.made.insert(name, made);
        }
    }
    world.start(0, None)?;
    let a_addr = world.p2p_addr(0);
    world.start(1, Some(a_addr))?;
    world.connected()?;
    for side in 0..2 {
        let names: Vec<String> = world
            .made
            .iter()
            .filter(|(_, m)| m.creator == side)
            .map(|(n, _)| n.clone())
            .collect();
        world.wait_saved(side, &names)?;
    }

    let mut tallies: BTreeMap<(Role, Stage), Tally> = BTreeMap::new();
    let mut violations: Vec<String> = Vec::new();
    // A violation stays in the folder; it is reported for the round that caused it only.
    let mut seen: HashSet<String> = HashSet::new();
    for round in 0..args.kills {
        world.connected()?;
        let sender = rng.gen_range(0..2);
        let receiver = 1 - sender;
        let fetchable = world.fetchable(sender, receiver)?;
        let deletable = world.deletable(sender)?;
        let kind = match rng.gen_range(0..3) {
            0 if !fetchable.is_empty() => Kind::Get,
            1 if !deletable.is_empty() => Kind::Delete,
            _ => Kind::Push,
        };
        // The operation's thread returns the new file of an upload, nothing otherwise.
        let (name, op) = if kind == Kind::Get {
            let (name, id) = fetchable[rng.gen_range(0..fetchable.len())].clone();
            let port = world.http_port(receiver);
            let op = thread::spawn(move || start_fetch(port, &id).map(|_| None));
            (name, op)
        } else if kind == Kind::Delete {
            let (name, id) = deletable[rng.gen_range(0..deletable.len())].clone();
            let port = world.http_port(sender);
            let op = thread::spawn(move || delete(port, &id).map(|()| None));
            (name, op)
        } else {
            let name = format!("{}-push-{round}.bin", world.sides[sender].id);
            let made = Made {
                creator: sender,
                seed: rng.gen(),
                size: rng.gen_range(0..=args.max_size),
            };
            let bytes = content(&made);
            world.made.insert(name.clone(), made);
            let port = world.http_port(sender);
            let upload_name = name.clone();
            let op = thread::spawn(move || upload(port, &upload_name, &bytes).map(Some));
            (name, op)
        };
        let victim = if rng.gen_bool(0.5) { sender } else { receiver };
        let role = match (kind, victim == sender) {
            (Kind::Push, true) => Role::Uploader,
            (Kind::Push, false) => Role::PushReceiver,
            (Kind::Get, false) => Role::GetReceiver,
            (Kind::Get, true) => Role::GetServer,
            (Kind::Delete, true) => Role::Deleter,
            (Kind::Delete, false) => Role::DeleteReceiver,
        };
        thread::sleep(Duration::from_millis(rng.gen_range(0..=args.max_delay_ms)));
        world.kill(victim)?;
        let stage = stage(&world.sides[victim].storage, &name);
        let left = temp_files(&world.sides[victim].storage)?;
        if let Ok(Ok(Some(file))) = op.join() {
            world.ids.insert(file.file_name, file.file_id);
        }
        let survivor = world.p2p_addr(1 - victim);
        world.start(victim, Some(survivor))?;
        let mut found = world.check(victim);
        for name in temp_files(&world.sides[victim].storage)? {
            if left.contains(&name) {
                found.push(format!("temporary file {name} left by the crash"));
            }
        }
        found.retain(|v| seen.insert(format!("{}: {v}", world.sides[victim].id)));
        let kept = held(&world.sides[victim].storage, &name);
        eprintln!(
            "round {round}: killed {} ({}, {}) -> {}{}",
            world.sides[victim].id,
            role.label(),
            stage.label(),
            if kept { "kept" } else { "removed" },
            if found.is_empty() { "" } else { ", VIOLATION" }
        );
        let tally = tallies.entry((role, stage)).or_default();
        tally.kills += 1;
        tally.violated += usize::from(!found.is_empty());
        for v in found {
            violations.push(format!(
                "round {round}, {} killed ({}, {}): {v}",
                world.sides[victim].id,
                role.label(),
                stage.label()
            ));
        }
        if kept {
            tally.kept += 1;
        } else {
            tally.removed += 1;
        }
    }

    // A clean stop saves the index: no temporary file or journal may remain.
    for side in 0..2 {
        world.stop(side)?;
        let id = &world.sides[side].id;
        for v in world.check(side) {
            if seen.insert(format!("{id}: {v}")) {
                violations.push(format!("after a clean stop of {id}: {v}"));
            }
        }
        for name in names_in(&world.sides[side].storage)? {
            if name.starts_with(store::TEMP_PREFIX) || name.starts_with(store::JOURNAL_PREFIX) {
                violations.push(format!("after a clean stop of {id}: {name} remains"));
            }
        }
    }

    print_summary(args.kills, seed, &tallies, &violations);
    if violations.is_empty() {
        fs::remove_dir_all(&world.work)
            .with_context(|| format!("removing {}", world.work.display()))?;
        Ok(true)
    } else {
        println!("folders kept for inspection in {}", world.work.display());
        Ok(false)
    }
}

fn print_summary(
    kills: usize,
    seed: u64,
    tallies: &BTreeMap<(Role, Stage), Tally>,
    violations: &[String],
) {
    println!("chaos: {kills} kills (seed {seed})");
    println!(
        "{:<16}  {:<16}  {:>5}  {:>5}  {:>7}  {:>8}",
        "role", "stage", "kills", "kept", "removed", "violated"
    );
    for ((role, stage), t) in tallies {
        println!(
            "{:<16}  {:<16}  {:>5}  {:>5}  {:>7}  {:>8}",
            role.label(),
            stage.label(),
            t.kills,
            t.kept,
            t.removed,
            t.violated
        );
    }
    let kept: usize = tallies.values().map(|t| t.kept).sum();
    let removed: usize = tallies.values().map(|t| t.removed).sum();
    println!("kept {kept}, removed {removed}");
    println!("violations: {}", violations.len());
    for v in violations {
        println!("  {v}");
    }
}

impl Side {
    fn new(work: &Path, letter: &str) -> Self {
        Side {
            id: format!("chaos-{letter}"),
            storage: work.join(format!("storage_{letter}")),
            process: None,
        }
    }
}

impl World {
    fn start(&mut self, side: usize, bootstrap: Option<String>) -> Result<()> {
        let s = &self.sides[side];
        let process = peers::start(
            &self.bin,
            &s.id,
            &s.storage,
            bootstrap.as_deref().unwrap_or("none"),
        )?;
        self.sides[side].process = Some(process);
        Ok(())
    }

    fn process(&self, side: usize) -> &PeerProcess {
        self.sides[side].process.as_ref().expect("running")
    }

    fn p2p_addr(&self, side: usize) -> String {
        format!("127.0.0.1:{}", self.process(side).p2p_port)
    }

    fn http_port(&self, side: usize) -> u16 {
        self.process(side).http_port
    }

    fn kill(&mut self, side: usize) -> Result<()> {
        let mut process = self.sides[side].process.take().expect("running");
        process.child.kill().context("killing a peer")?;
        process.child.wait().context("waiting for a killed peer")?;
        Ok(())
    }

    fn stop(&mut self, side: usize) -> Result<()> {
        let mut process = self.sides[side].process.take().expect("running");
        let term = Command::new("kill")
            .args(["-TERM", &process.child.id().to_string()])
            .status()?;
        if !term.success() {
            bail!("could not send SIGTERM to {}", self.sides[side].id);
        }
        let status = process.child.wait()?;
        if !status.success() {
            bail!("{} exited with {status}", self.sides[side].id);
        }
        Ok(())
    }

    /// Waits until each peer tracks the other at its current address.
    fn connected(&self) -> Result<()> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let mut ok = true;
            for side in 0..2 {
                let other = &self.sides[1 - side];
                let port = self.process(1 - side).p2p_port;
                let peers: Vec<PeerDto> = get_json(self.http_port(side), "/api/peers")?;
                ok &= peers
                    .iter()
                    .any(|p| p.peer_id == other.id && p.port == port);
            }
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the peers did not find each other within {SETTLE_TIMEOUT:?}");
            }
            thread::sleep(POLL);
        }
    }

    /// Waits until `side`'s `metadata.json` lists every name in `names` as held.
    fn wait_saved(&self, side: usize, names: &[String]) -> Result<()> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        let dir = &self.sides[side].storage;
        while !names.iter().all(|n| held(dir, n)) {
            if Instant::now() > deadline {
                bail!("{} did not index its files", self.sides[side].id);
            }
            thread::sleep(POLL);
        }
        Ok(())
    }

    /// Files `sender` made and holds that `receiver` knows of but does not hold: (name, id).
    /// Learns their ids on the way.
    fn fetchable(&mut self, sender: usize, receiver: usize) -> Result<Vec<(String, String)>> {
        let held: Vec<FileDto> = get_json(self.http_port(sender), "/api/files")?;
        for f in held.iter().filter(|f| f.owned) {
            self.ids.insert(f.file_name.clone(), f.file_id.clone());
        }
        let known: Vec<FileDto> = get_json(self.http_port(receiver), "/api/files")?;
        let sender_holds = |id: &str| held.iter().any(|f| f.file_id == id && f.has_copy);
        Ok(known
            .into_iter()
            .filter(|f| !f.has_copy && f.file_owner == self.sides[sender].id)
            .filter(|f| sender_holds(&f.file_id))
            .map(|f| (f.file_name, f.file_id))
            .collect())
    }

    /// Files `side` made and holds: (name, id). Learns their ids on the way.
    fn deletable(&mut self, side: usize) -> Result<Vec<(String, String)>> {
        let files: Vec<FileDto> = get_json(self.http_port(side), "/api/files")?;
        let own: Vec<(String, String)> = files
            .into_iter()
            .filter(|f| f.owned && f.has_copy)
            .map(|f| (f.file_name, f.file_id))
            .collect();
        self.ids.extend(own.iter().cloned());
        Ok(own)
    }

    /// The invariants of a folder whose peer was just (re)started or stopped.
    fn check(&self, side: usize) -> Vec<String> {
        let me = &self.sides[side];
        let dir = &me.storage;
        let mut found = Vec::new();
        let index = match fs::read(dir.join("metadata.json")) {
            Ok(bytes) => match store::parse_index(&bytes) {
                Some(index) => index,
                None => return vec!["metadata.json does not parse".to_string()],
            },
            Err(e) => return vec![format!("metadata.json unreadable: {e}")],
        };
        let names = match names_in(dir) {
            Ok(names) => names,
            Err(e) => return vec![format!("cannot list the folder: {e}")],
        };
        for name in &names {
            if !store::is_reserved(name)
                && !index.iter().any(|e| e.stored_as.as_deref() == Some(name))
            {
                found.push(format!("content file {name} is not indexed"));
            }
        }
        for entry in index.iter().filter(|e| e.stored_as.is_some()) {
            found.extend(self.check_entry(side, dir, entry));
        }
        found
    }

    fn check_entry(&self, side: usize, dir: &Path, entry: &IndexEntry) -> Vec<String> {
        let me = &self.sides[side].id;
        let meta = &entry.meta;
        let what = format!(
            "{} ({})",
            meta.file_name,
            &meta.file_id[..12.min(meta.file_id.len())]
        );
        let mut found = Vec::new();
        let Some(made) = self.made.get(&meta.file_name) else {
            return vec![format!("{what} was never created by this run")];
        };
        let creator = &self.sides[made.creator].id;
        if &meta.file_owner != creator {
            found.push(format!(
                "{what} is owned by {} but {creator} created it",
                meta.file_owner
            ));
        }
        if meta.file_owner == *me && made.creator != side {
            found.push(format!("{what} is claimed as ours"));
        }
        if let Some(id) = self.ids.get(&meta.file_name) {
            if id != &meta.file_id {
                found.push(format!("{what} was re-identified (originally {id})"));
            }
        }
        let stored_as = entry.stored_as.as_deref().unwrap_or_default();
        match fs::read(dir.join(stored_as)) {
            Ok(bytes) => {
                if protocol::file_id(&bytes, &meta.file_timestamp) != meta.file_id {
                    found.push(format!("{what}: the bytes do not hash to the id"));
                }
                if bytes != content(made) {
                    found.push(format!("{what}: the bytes are not the ones sent"));
                }
            }
            Err(e) => found.push(format!("{what}: its copy {stored_as} is unreadable: {e}")),
        }
        found
    }
}

/// Deletes a file of the peer's own through its API (which tells the other peers).
fn delete(port: u16, file_id: &str) -> Result<()> {
    let (status, reply) = http(port, "DELETE", &format!("/api/files/{file_id}"), "", b"")?;
    if status != 204 {
        bail!("delete of {file_id}: HTTP {status}: {reply}");
    }
    Ok(())
}

/// The bytes of a file this run made: `size` pseudo-random bytes from `seed`.
fn content(made: &Made) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(made.seed);
    let mut bytes = vec![0u8; made.size as usize];
    rng.fill(&mut bytes[..]);
    bytes
}

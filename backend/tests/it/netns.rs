//! Three peer processes on three separate hosts: one network namespace each, joined by a
//! bridge, with TEST-NET-1 (192.0.2.0/24) addresses. Each peer advertises the address of its
//! own fault proxy, which runs in this process on the bridge in the root namespace, so every
//! byte a peer receives has crossed a link the test can slow down, thin out or cut. The tests
//! drive the peers through their HTTP API, as a user would.
//!
//! Needs root and `ip` (iproute2); without them each test prints why and passes. Everything
//! created (namespaces, bridge, links, processes) is removed when the [`Lab`] is dropped, even
//! after a failure; names carry the process id and a counter, so concurrent runs cannot meet.

use crate::proxy::{Faults, Proxy, Reset};
use backend::protocol::{file_id, Verbatim};
use backend::store::JOURNAL_PREFIX;
use shared::{FileDto, PeerDto, TransferDto, TransferStateDto};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(30);
/// The shared file: 1 MiB, so 2 MiB of hex on the wire.
const SIZE: usize = 1 << 20;
const NAME: &str = "shared.bin";
/// Each lab takes one /28 of TEST-NET-1: proxies from .1, peers from .9, the bridge at .14.
const BLOCKS: u8 = 16;

/// Labs started by this process, for unique names.
static LABS: AtomicUsize = AtomicUsize::new(0);
/// Locked while a lab picks and claims its block, so that no two labs, in this run or another,
/// take the same one.
const CLAIM: &str = "peer-it-netns.lock";

/// Why these tests cannot run here, if they cannot.
fn unsupported() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1));
    if euid != Some("0") {
        return Some("network namespaces need root".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => None,
        _ => Some("`ip` (iproute2) is not installed".into()),
    }
}

/// Runs `ip args`; the error carries its stderr.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(result: Result<(), String>) {
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// /28 blocks of 192.0.2.0/24 that already have an address on this machine (another run's).
fn blocks_in_use() -> Vec<u8> {
    let out = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .expect("ip addr show");
    let text = String::from_utf8_lossy(&out.stdout);
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .filter(|pair| pair[0] == "inet")
        .filter_map(|pair| pair[1].strip_prefix("192.0.2."))
        .filter_map(|rest| rest.split('/').next()?.parse::<u8>().ok())
        .map(|host| host / 16)
        .collect()
}

/// Removes what runs that were killed before their `Drop` left behind: bridges `pb<pid>x…`
/// and namespaces `pn<pid>x…` of processes that no longer exist.
fn sweep_stale() {
    let dead = |name: &str, prefix: &str| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.split('x').next())
            .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
            .is_some_and(|pid| !std::path::Path::new("/proc").join(pid).exists())
    };
    let listing = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().expect("ip");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for line in listing(&["-o", "link", "show", "type", "bridge"]).lines() {
        let name = line.split(':').nth(1).unwrap_or("").trim();
        if dead(name, "pb") {
            let _ = ip(&["link", "del", name]);
        }
    }
    for line in listing(&["netns", "list"]).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if dead(name, "pn") {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// Network namespaces on one bridge, and the peer processes in them. Dropping it kills the
/// processes, then deletes the namespaces and the bridge.
pub struct Lab {
    /// `<pid>x<n>`: in every name this lab creates.
    tag: String,
    block: u8,
    bridge: String,
    namespaces: Vec<String>,
    links: Vec<String>,
    processes: Vec<Child>,
    logs: Vec<PathBuf>,
    dir: tempfile::TempDir,
}

impl Lab {
    /// A bridge with no host on it yet; `None` (after saying why) where namespaces are not
    /// available.
    pub fn open(test: &str) -> Option<Lab> {
        if let Some(why) = unsupported() {
            println!("skipped {test}: {why}");
            return None;
        }
        let tag = format!(
            "{}x{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::SeqCst)
        );
        let bridge = format!("pb{tag}");
        let lock = std::fs::File::create(std::env::temp_dir().join(CLAIM)).expect("lock file");
        lock.lock().expect("lock");
        sweep_stale();
        let used = blocks_in_use();
        let start = std::process::id() as u8;
        let block = (0..BLOCKS)
            .map(|i| start.wrapping_add(i) % BLOCKS)
            .find(|b| !used.contains(b))
            .expect("a free /28 in 192.0.2.0/24");
        // A bridge takes the lowest MAC of its ports unless given one, so each new host would
        // change it and leave the others' ARP caches pointing at a port, where packets are
        // dropped as not for this host.
        let mac = "02:00:00:00:00:01";
        if let Err(e) = ip(&["link", "add", &bridge, "address", mac, "type", "bridge"]) {
            if e.contains("Operation not permitted") {
                println!("skipped {test}: cannot create links here ({e})");
                return None;
            }
            panic!("{e}");
        }
        let lab = Lab {
            tag,
            block,
            bridge,
            namespaces: Vec::new(),
            links: Vec::new(),
            processes: Vec::new(),
            logs: Vec::new(),
            dir: tempfile::tempdir().expect("temp dir"),
        };
        // An address of the bridge's own claims the block for this lab before the lock goes.
        let claim = format!("{}/28", lab.addr(14));
        must(ip(&["addr", "add", &claim, "dev", &lab.bridge]));
        must(ip(&["link", "set", &lab.bridge, "up"]));
        drop(lock);
        Some(lab)
    }

    fn addr(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, self.block * 16 + host)
    }

    /// Starts peer `name` in a namespace of its own, behind a proxy on the bridge, gossiping
    /// first to `bootstrap`. `content`, if any, is in its storage folder before it starts, so
    /// it indexes it as its own.
    pub async fn host(
        &mut self,
        name: &str,
        bootstrap: Option<SocketAddr>,
        content: Option<&[u8]>,
    ) -> Host {
        let index = self.namespaces.len() as u8;
        let proxy_ip = self.addr(1 + index);
        let peer_ip = self.addr(9 + index);
        let ns = format!("pn{}-{name}", self.tag);
        let link = format!("pv{}{index}", self.tag);

        must(ip(&["netns", "add", &ns]));
        self.namespaces.push(ns.clone());
        must(ip(&[
            "link", "add", &link, "type", "veth", "peer", "name", "e0", "netns", &ns,
        ]));
        self.links.push(link.clone());
        must(ip(&["link", "set", &link, "master", &self.bridge, "up"]));
        must(ip(&[
            "addr",
            "add",
            &format!("{proxy_ip}/28"),
            "dev",
            &self.bridge,
        ]));
        must(ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{peer_ip}/28"),
            "dev",
            "e0",
        ]));
        must(ip(&["-n", &ns, "link", "set", "e0", "up"]));
        must(ip(&["-n", &ns, "link", "set", "lo", "up"]));

        // The peer listens on the port its proxy got, so that the port it advertises (its
        // own) is the proxy's; namespaces have separate port spaces, so it is free there.
        let listener = TcpListener::bind((proxy_ip, 0)).await.expect("proxy binds");
        let port = listener.local_addr().unwrap().port();
        let proxy = Proxy::start(
            listener,
            SocketAddr::new(peer_ip.into(), port),
            proxy_ip.into(),
        );

        let storage = self.dir.path().join(name);
        std::fs::create_dir(&storage).unwrap();
        if let Some(content) = content {
            std::fs::write(storage.join(NAME), content).unwrap();
        }
        let log = self.dir.path().join(format!("{name}.log"));
        self.logs.push(log.clone());
        let bootstrap = bootstrap.map_or("none".to_string(), |a| a.to_string());
        let (proxy_ip, peer_ip, port) =
            (proxy_ip.to_string(), peer_ip.to_string(), port.to_string());
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns, env!("CARGO_BIN_EXE_peer")])
            .args([name, &proxy_ip, &port, "0"])
            .args(["--p2p-bind", &peer_ip, "--http-bind", &peer_ip])
            .args(["--bootstrap", &bootstrap, "--auto-fetch", "0"])
            .args(["--gossip-interval", "300ms", "--sweep-interval", "200ms"])
            .args(["--peer-timeout", "10s", "--log-stderr"])
            // Every connection to a peer comes from its proxy's one address.
            .args([
                "--max-conns-per-source",
                "1000",
                "--gossip-reply-rate",
                "1000",
            ])
            .arg("--storage")
            .arg(&storage)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("ip netns exec peer");
        let stdout = child.stdout.take().unwrap();
        self.processes.push(child);

        let http = tokio::time::timeout(WAIT, dashboard(stdout))
            .await
            .unwrap_or_else(|_| panic!("{name} printed no dashboard address"))
            .unwrap_or_else(|| panic!("{name} exited before printing its dashboard address"));
        Host {
            name: name.to_string(),
            proxy,
            http,
            storage,
        }
    }
}

/// Reads the peer's console until `dashboard: http://ADDR/`, on a thread that keeps draining
/// it afterwards so that the pipe never fills.
async fn dashboard(stdout: std::process::ChildStdout) -> Option<SocketAddr> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    while let Some(line) = rx.recv().await {
        if let Some(url) = line.strip_prefix("dashboard: http://") {
            return url.trim_end_matches('/').parse().ok();
        }
    }
    None
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "lab {}: bridge {} with {}/28, namespaces {:?}",
                self.tag,
                self.bridge,
                self.addr(0),
                self.namespaces
            );
            for log in &self.logs {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                eprintln!("--- last lines of {}", log.display());
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        // Deleting a namespace deletes its end of the veth pair, and with it ours.
        for ns in &self.namespaces {
            let _ = ip(&["netns", "del", ns]);
        }
        for link in &self.links {
            let _ = ip(&["link", "del", link]);
        }
        if let Err(e) = ip(&["link", "del", &self.bridge]) {
            eprintln!("warning: {e}");
        }
    }
}

/// A peer on its own host, its proxy, and its storage folder.
pub struct Host {
    pub name: String,
    pub proxy: Proxy,
    http: SocketAddr,
    pub storage: PathBuf,
}

impl Host {
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let (status, body) = http(self.http, "GET", path).await;
        assert_eq!(status, 200, "GET {path} on {}: {body}", self.name);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    pub async fn files(&self) -> Vec<FileDto> {
        self.get("/api/files").await
    }

    pub async fn file(&self, file_id: &str) -> Option<FileDto> {
        self.files()
            .await
            .into_iter()
            .find(|f| f.file_id == file_id)
    }

    pub async fn peer_ids(&self) -> Vec<String> {
        let peers: Vec<PeerDto> = self.get("/api/peers").await;
        let mut ids: Vec<String> = peers.into_iter().map(|p| p.peer_id).collect();
        ids.sort();
        ids
    }

    /// Starts a get of `file_id`, as the dashboard's Get button does.
    pub async fn fetch(&self, file_id: &str) -> TransferDto {
        let path = format!("/api/files/{file_id}/fetch");
        let (status, body) = http(self.http, "POST", &path).await;
        assert_eq!(status, 202, "POST {path} on {}: {body}", self.name);
        serde_json::from_str(&body).unwrap()
    }

    /// Waits for transfer `id` to end; returns it.
    pub async fn ended(&self, id: u64) -> TransferDto {
        until("the transfer ends", || async {
            let transfers: Vec<TransferDto> = self.get("/api/transfers").await;
            transfers
                .into_iter()
                .find(|t| t.id == id && t.state != TransferStateDto::Running)
        })
        .await
    }

    /// Everything in the storage folder, hidden files included, except the index's own
    /// temporary file, which the peer may be writing at any moment as gossip changes holders.
    pub fn stored(&self) -> Vec<String> {
        let mut names = crate::support::all_files(&self.storage);
        names.retain(|n| n != ".tmp-metadata.json");
        names
    }
}

/// Polls `probe` until it gives a value; panics after `WAIT`.
async fn until<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(start.elapsed() < WAIT, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One HTTP/1.1 request without a body; the status and the body.
async fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect to the API");
    // An IP literal as Host: the API refuses names it does not know.
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut response))
        .await
        .expect("the API answers")
        .expect("read");
    let text = String::from_utf8(response).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// Pseudo-random bytes, so that a transfer cannot compress or be mistaken for another.
fn content() -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut out = Vec::with_capacity(SIZE);
    while out.len() < SIZE {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out
}

/// Alice owns the shared file, bob has fetched a copy, carol knows both hold it.
struct Net {
    /// Held for its `Drop`, which ends the processes and removes the hosts.
    _lab: Lab,
    alice: Host,
    bob: Host,
    carol: Host,
    file: FileDto,
    content: Vec<u8>,
}

impl Net {
    async fn start(test: &str) -> Option<Net> {
        let mut lab = Lab::open(test)?;
        let content = content();
        let alice = lab.host("alice", None, Some(&content)).await;
        let bob = lab.host("bob", Some(alice.proxy.addr), None).await;
        let carol = lab.host("carol", Some(alice.proxy.addr), None).await;
        let file = until("alice indexes the shared file", || async {
            alice
                .files()
                .await
                .into_iter()
                .find(|f| f.file_name == NAME)
        })
        .await;
        until("bob knows the shared file", || async {
            bob.file(&file.file_id).await
        })
        .await;
        let copy = bob.ended(bob.fetch(&file.file_id).await.id).await;
        assert_eq!(copy.state, TransferStateDto::Done, "{copy:?}");
        until("carol knows alice and bob hold it", || async {
            let file = carol.file(&file.file_id).await?;
            let both = ["alice", "bob"]
                .iter()
                .all(|h| file.holders.iter().any(|x| x == h));
            (both && carol.peer_ids().await == ["alice", "bob"]).then_some(())
        })
        .await;
        Some(Net {
            _lab: lab,
            alice,
            bob,
            carol,
            file,
            content,
        })
    }

    fn holders(&self) -> [&Host; 2] {
        [&self.alice, &self.bob]
    }

    /// Carol holds a whole copy that verifies, and nothing else but the index.
    async fn assert_carol_holds_a_verified_copy(&self) {
        // A landed file's commit journal lasts until a save of metadata.json lists the file.
        until("carol's commit journal is retired", || async {
            let stored = self.carol.stored();
            (!stored.iter().any(|n| n.starts_with(JOURNAL_PREFIX))).then_some(())
        })
        .await;
        assert_eq!(self.carol.stored(), ["metadata.json", NAME]);
        let copy = std::fs::read(self.carol.storage.join(NAME)).unwrap();
        let timestamp = Verbatim::parse(&self.file.file_timestamp).expect("a timestamp");
        assert_eq!(
            file_id(&copy, &timestamp),
            self.file.file_id,
            "the copy verifies"
        );
        assert!(copy == self.content, "the copy is the original");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_mid_transfer_is_recovered_through_the_next_holder() {
    let Some(net) = Net::start("a_reset_mid_transfer_is_recovered_through_the_next_holder").await
    else {
        return;
    };
    // One reset in all: whichever holder carol asks first is cut after 256 KiB.
    let reset = Reset::new(256 << 10, 1);
    for holder in net.holders() {
        holder.proxy.set(Faults {
            reset: Some(reset.clone()),
            ..Faults::default()
        });
    }
    let done = net
        .carol
        .ended(net.carol.fetch(&net.file.file_id).await.id)
        .await;
    assert_eq!(done.state, TransferStateDto::Done, "{done:?}");
    let [cut, served]: [&Host; 2] = match net.alice.proxy.resets() {
        1 => [&net.alice, &net.bob],
        _ => [&net.bob, &net.alice],
    };
    assert_eq!(cut.proxy.resets(), 1, "the first holder's link was cut");
    assert_eq!(served.proxy.resets(), 0);
    assert_eq!(done.peer.as_deref(), Some(served.name.as_str()));
    assert_eq!(done.bytes_done, SIZE as u64);
    net.assert_carol_holds_a_verified_copy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_every_holder_resets_keeps_nothing_and_a_retry_succeeds() {
    let Some(net) =
        Net::start("a_get_every_holder_resets_keeps_nothing_and_a_retry_succeeds").await
    else {
        return;
    };
    for holder in net.holders() {
        holder.proxy.set(Faults {
            reset: Some(Reset::new(256 << 10, 1)),
            ..Faults::default()
        });
    }
    let failed = net
        .carol
        .ended(net.carol.fetch(&net.file.file_id).await.id)
        .await;
    assert!(
        matches!(failed.state, TransferStateDto::Failed { .. }),
        "{failed:?}"
    );
    for holder in net.holders() {
        assert_eq!(holder.proxy.resets(), 1, "{} was asked once", holder.name);
    }
    assert!(
        failed.bytes_done > 0,
        "the copy was cut while it arrived: {failed:?}"
    );
    assert_eq!(
        net.carol.stored(),
        ["metadata.json"],
        "no partial copy, no temporary file"
    );
    let file = net.carol.file(&net.file.file_id).await.unwrap();
    assert!(!file.has_copy);

    let retried = net
        .carol
        .ended(net.carol.fetch(&net.file.file_id).await.id)
        .await;
    assert_eq!(retried.state, TransferStateDto::Done, "{retried:?}");
    net.assert_carol_holds_a_verified_copy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_over_slow_thin_links_arrives_whole() {
    let Some(net) = Net::start("a_get_over_slow_thin_links_arrives_whole").await else {
        return;
    };
    const RATE: u64 = 1 << 20;
    for holder in net.holders() {
        holder.proxy.set(Faults {
            latency: Duration::from_millis(50),
            rate: Some(RATE),
            reset: None,
        });
    }
    let started = Instant::now();
    let done = net
        .carol
        .ended(net.carol.fetch(&net.file.file_id).await.id)
        .await;
    let elapsed = started.elapsed();
    assert_eq!(done.state, TransferStateDto::Done, "{done:?}");
    // The reply is the file in hex: twice its size through a link of RATE bytes a second.
    let floor = Duration::from_secs_f64(2.0 * SIZE as f64 / RATE as f64);
    assert!(elapsed >= floor, "the links were capped: {elapsed:?}");
    println!(
        "1 MiB over links of 1 MiB/s and 50 ms: {:.3} s (peer says {:?} ms)",
        elapsed.as_secs_f64(),
        done.finished_ms.map(|f| f - done.started_ms)
    );
    net.assert_carol_holds_a_verified_copy().await;
}

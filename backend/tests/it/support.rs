//! Helpers shared by the integration tests: nodes on 127.0.0.1 port 0 with millisecond
//! timers, polling instead of sleeping, and raw protocol sockets.

use backend::node::{Node, NodeConfig};
use backend::peer::Peer;
use backend::protocol::{file_id, FileMeta, Verbatim};
use shared::{TransferDto, TransferStateDto};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A running node and its storage folder (deleted on drop).
pub struct TestPeer {
    pub node: Node,
    pub dir: tempfile::TempDir,
}

impl TestPeer {
    pub fn peer(&self) -> &Peer {
        &self.node.peer
    }

    /// `127.0.0.1:<p2p port>`.
    pub fn addr(&self) -> String {
        self.node.p2p_addr.to_string()
    }

    pub fn storage(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the node, keeping its folder.
    pub async fn stop(self) -> tempfile::TempDir {
        self.node.shutdown().await.expect("the index is saved");
        self.dir
    }
}

/// Starts a node named `id` gossiping to `bootstrap`, after `tweak` adjusts its configuration.
pub async fn spawn_with(
    id: &str,
    bootstrap: &[String],
    tweak: impl FnOnce(&mut NodeConfig),
) -> TestPeer {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = NodeConfig::for_test(id, dir.path().to_path_buf());
    config.bootstrap = bootstrap.to_vec();
    tweak(&mut config);
    let node = Node::start(config).await.expect("node starts");
    TestPeer { node, dir }
}

/// Starts a node named `id` gossiping to `bootstrap`.
pub async fn spawn(id: &str, bootstrap: &[String]) -> TestPeer {
    spawn_with(id, bootstrap, |_| {}).await
}

/// Polls `condition` until it holds; panics with `what` after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < timeout, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for transfer `id` of `peer` to finish; returns it.
pub async fn finished(peer: &Peer, id: u64, timeout: Duration) -> TransferDto {
    let mut last = None;
    eventually("the transfer finishes", timeout, || {
        last = peer.transfers().into_iter().find(|t| t.id == id);
        last.as_ref()
            .is_some_and(|t| t.state != TransferStateDto::Running)
    })
    .await;
    last.expect("found")
}

/// Ids of the tracked peers.
pub fn peer_ids(peer: &Peer) -> Vec<String> {
    peer.peers().into_iter().map(|p| p.peer_id).collect()
}

/// Whether `peer` holds a copy of `file_id`.
pub fn holds(peer: &Peer, file_id: &str) -> bool {
    peer.file(file_id).is_some_and(|f| f.has_copy)
}

/// Writes `content` to a new file named `name` in `dir`; returns its path.
pub fn local_file(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write");
    path
}

/// The first message of type `kind` that reaches `listener` within `timeout`, each on a
/// connection of its own; messages of other types (our gossip rounds, say) are dropped.
pub async fn next_of_type(
    listener: &tokio::net::TcpListener,
    kind: &str,
    timeout: Duration,
) -> serde_json::Value {
    let found = tokio::time::timeout(timeout, async {
        loop {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut text = String::new();
            socket.read_to_string(&mut text).await.expect("read");
            let message: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            if message["type"] == kind {
                return message;
            }
        }
    });
    found
        .await
        .unwrap_or_else(|_| panic!("no {kind} arrived within {timeout:?}"))
}

/// Sends raw bytes on a new connection to `addr` and closes it.
pub async fn send_raw(addr: &str, bytes: &[u8]) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
}

/// Sends raw bytes on a new connection to `addr`, ends our side, and waits until the peer
/// closes its side. The peer closes a connection only after it has acted on (or refused) the
/// message on it, so this is a barrier: whatever the message changes has changed on return.
pub async fn deliver(addr: &str, bytes: &[u8]) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // A peer that refuses early closes while we are still writing: that is an answer too.
    if stream.write_all(bytes).await.is_ok() {
        let _ = stream.shutdown().await;
    }
    let mut sink = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "{addr} never closed the connection");
}

/// Sends `request` and reads the reply to EOF.
pub async fn request(addr: &str, request: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply))
        .await
        .expect("the server closes after replying")
        .expect("read");
    reply
}

/// Every entry of a folder, hidden ones included.
pub fn all_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Regular files in a storage folder, excluding hidden and metadata files.
pub fn content_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !n.starts_with("metadata.json"))
        .collect();
    names.sort();
    names
}

/// The description of `content` as a Python peer owned by `PROF` would announce it, stamped
/// `timestamp` (verbatim).
pub fn meta_at(content: &[u8], name: &str, timestamp: &str) -> FileMeta {
    let file_timestamp = Verbatim::parse(timestamp).unwrap();
    FileMeta {
        file_id: file_id(content, &file_timestamp),
        file_name: name.into(),
        file_size: Verbatim::float(content.len() as f64 / 1048576.0),
        file_owner: "PROF".into(),
        file_timestamp,
    }
}

/// A whole `FILE_DATA` as we write it.
pub fn file_data(meta: &FileMeta, content: &[u8]) -> Vec<u8> {
    let mut message = backend::protocol::encode::file_data_head(meta).into_bytes();
    backend::protocol::encode::hex_into(content, &mut message);
    message.extend_from_slice(backend::protocol::encode::FILE_DATA_TAIL.as_bytes());
    message
}

/// The fixture `name`.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .expect("fixture")
}

/// A connection to `addr` from the local address `source` (any of 127.0.0.0/8 on Linux), so
/// that one test can play several source addresses.
pub async fn connect_from(source: &str, addr: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{source}:0").parse().expect("source address"))
        .expect("bind");
    socket
        .connect(addr.parse().expect("address"))
        .await
        .expect("connect")
}

/// Waits until `peer` has refused `reason` at least `n` times.
pub async fn refused(peer: &Peer, reason: backend::refusal::Reason, n: u64) {
    eventually(
        &format!("{n} refusals of {reason}"),
        Duration::from_secs(15),
        || peer.refusals().count(reason) >= n,
    )
    .await;
}

/// The next GOSSIP_REPLY that arrives at `listener` (as a string), skipping the GOSSIP a peer
/// greets a new origin with.
pub async fn next_gossip_reply(listener: &tokio::net::TcpListener) -> String {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut text = String::new();
            socket.read_to_string(&mut text).await.expect("read");
            if text.contains("\"GOSSIP_REPLY\"") {
                return text;
            }
        }
    })
    .await
    .expect("a GOSSIP_REPLY arrives")
}

/// Reads one request as a fake holder sees it: true when it is a GET_FILE (our peers' GOSSIP
/// rounds reach the fakes too), false for anything else or a connection that ends first.
pub async fn read_get_file(socket: &mut TcpStream) -> bool {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.contains(&b'}') {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&request).contains("GET_FILE")
}

/// A tmpfs of a few MiB mounted for one test, to fill up; unmounted when dropped.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts `size` (like `4m`); `None` (after saying why) where mounting is not allowed.
    pub fn mount(test: &str, size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(SmallDisk { dir }),
            Ok(out) => {
                let why = String::from_utf8_lossy(&out.stderr);
                println!("skipped {test}: cannot mount a tmpfs here ({})", why.trim());
                None
            }
            Err(e) => {
                println!("skipped {test}: no mount command ({e})");
                None
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Takes all the room left with a file beside whatever is there; returns its path, to
    /// remove it and give the room back.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).expect("a filler file");
        // `write_all` goes on with what a short write leaves: the last page is taken too.
        while file.write_all(&[0u8; 64 << 10]).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let unmounted = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
        if !unmounted.is_ok_and(|status| status.success()) {
            eprintln!("could not unmount {}", self.dir.path().display());
        }
    }
}

//! Our own sends (GOSSIP, GOSSIP_REPLY, ANNOUNCE, DELETE), one connection each: strangers
//! choose where most of them go, so the sends not yet made are capped (`max_sends`), and what
//! goes beyond the cap is dropped and counted instead of holding a task, a message and, in
//! the end, a socket each. A GOSSIP we forward goes out exactly as it came.

use crate::support::*;
use backend::node::NodeConfig;
use backend::protocol::encode;
use backend::refusal::Reason;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const WAIT: Duration = Duration::from_secs(15);

/// Timers that stay out of the way: no rounds and no drops while a test runs.
fn quiet(c: &mut NodeConfig, max_sends: usize) {
    c.gossip_interval = Duration::from_secs(3600);
    c.peer_timeout = Duration::from_secs(600);
    c.limits.max_sends = max_sends;
}

/// An address whose connections never open: a listener with a full accept queue, so that
/// further SYNs are dropped and a connect waits out its deadline. Kept while it lives.
struct Blackhole {
    port: u16,
    _listener: TcpListener,
    _filler: TcpStream,
}

impl Blackhole {
    async fn new() -> Blackhole {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        // The one connection a backlog of 0 queues, never accepted.
        let filler = TcpStream::connect(addr).await.unwrap();
        Blackhole {
            port: addr.port(),
            _listener: listener,
            _filler: filler,
        }
    }
}

/// A listener that reads each connection whole and keeps the messages.
async fn recorder() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let record = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut text = String::new();
                let _ = tokio::time::timeout(WAIT, socket.read_to_string(&mut text)).await;
                record.lock().unwrap().push(text);
            });
        }
    });
    (port, received)
}

/// A recorder that `us` tracks as the peer `watcher`: what we send to our peers reaches it.
async fn watcher(us: &TestPeer) -> Arc<Mutex<Vec<String>>> {
    let (port, received) = recorder().await;
    let reply = encode::gossip_reply("127.0.0.1", port, "watcher", std::iter::empty());
    deliver(&us.addr(), reply.as_bytes()).await;
    assert_eq!(peer_ids(us.peer()), ["watcher"]);
    received
}

/// Waits for a message that holds `needle` among those `received`; returns the first.
async fn first_holding(received: &Mutex<Vec<String>>, needle: &str) -> String {
    let found = || {
        let received = received.lock().unwrap();
        received.iter().find(|m| m.contains(needle)).cloned()
    };
    eventually(&format!("a message holding {needle}"), WAIT, || {
        found().is_some()
    })
    .await;
    found().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_from_blackholed_addresses_holds_no_more_sends_than_the_cap() {
    const CAP: usize = 8;
    let us = spawn_with("us", &[], |c| {
        quiet(c, CAP);
        // Far longer than the test, however slow the machine: no slot frees up meanwhile.
        c.limits.connect = Duration::from_secs(120);
    })
    .await;
    let mut holes = Vec::new();
    for _ in 0..12 {
        holes.push(Blackhole::new().await);
    }
    // Each new origin is answered and greeted, and its GOSSIP forwarded to up to 3 others:
    // 54 sends in all, each waiting out the connect deadline.
    for (i, hole) in holes.iter().enumerate() {
        let gossip = encode::gossip("127.0.0.1", hole.port, &format!("g{i}"), &format!("p{i}"));
        deliver(&us.addr(), gossip.as_bytes()).await;
    }
    assert_eq!(us.peer().peers().len(), holes.len());
    assert_eq!(us.peer().sends_pending(), CAP);
    let dropped = us.peer().refusals().count(Reason::SendsInFlight);
    assert!(dropped >= 54 - 2 * CAP as u64, "{dropped} dropped");
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slots_of_sends_that_timed_out_are_free_again() {
    let us = spawn_with("us", &[], |c| {
        quiet(c, 2);
        c.limits.connect = Duration::from_millis(300);
    })
    .await;
    let hole = Blackhole::new().await;
    let gossip = encode::gossip("127.0.0.1", hole.port, "g0", "stuck");
    deliver(&us.addr(), gossip.as_bytes()).await;
    eventually("the stuck sends time out", WAIT, || {
        us.peer().sends_pending() == 0
    })
    .await;
    let (port, received) = recorder().await;
    let gossip = encode::gossip("127.0.0.1", port, "g1", "live");
    deliver(&us.addr(), gossip.as_bytes()).await;
    first_holding(&received, "\"GOSSIP_REPLY\"").await;
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announce_to_more_peers_than_the_cap_reaches_every_one() {
    const CAP: usize = 8;
    const PEERS: usize = 30;
    let us = spawn_with("us", &[], |c| quiet(c, CAP)).await;
    let mut recorders = Vec::new();
    for i in 0..PEERS {
        let (port, received) = recorder().await;
        let gossip = encode::gossip("127.0.0.1", port, &format!("g{i}"), &format!("p{i}"));
        deliver(&us.addr(), gossip.as_bytes()).await;
        // One origin at a time, so that setting up never fills the slots.
        eventually("the answers are sent", WAIT, || {
            us.peer().sends_pending() == 0
        })
        .await;
        recorders.push(received);
    }
    assert_eq!(us.peer().refusals().count(Reason::SendsInFlight), 0);

    let files = tempfile::tempdir().unwrap();
    us.peer()
        .push_path(&local_file(&files, "x.txt", b"x"))
        .await
        .unwrap();
    eventually("every tracked peer hears the ANNOUNCE", WAIT, || {
        recorders
            .iter()
            .all(|r| r.lock().unwrap().iter().any(|m| m.contains("\"ANNOUNCE\"")))
    })
    .await;
    assert_eq!(us.peer().refusals().count(Reason::SendsInFlight), 0);
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_gossip_is_the_original_byte_for_byte() {
    let us = spawn_with("us", &[], |c| quiet(c, 64)).await;
    let received = watcher(&us).await;
    // As a Python peer writes it: spaces after the separators, its own key order.
    let original = r#"{"type": "GOSSIP", "host": "127.0.0.1", "port": 9, "id": "3f0c5d1e-forward-me", "peerId": "kashifm"}"#;
    deliver(&us.addr(), original.as_bytes()).await;
    first_holding(&received, "forward-me").await;
    let forwards: Vec<String> = (received.lock().unwrap().iter())
        .filter(|m| m.contains("forward-me"))
        .cloned()
        .collect();
    assert_eq!(forwards, [original]);
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_pushed_to_us_is_announced_as_ours_to_hold_once_stored() {
    let us = spawn_with("us", &[], |c| quiet(c, 64)).await;
    let received = watcher(&us).await;
    let content = fixture("names.txt");
    let meta = meta_at(&content, "names.txt", "1749713836");
    deliver(&us.addr(), &file_data(&meta, &content)).await;
    assert!(holds(us.peer(), &meta.file_id));
    let announce = first_holding(&received, "\"ANNOUNCE\"").await;
    assert!(announce.contains(&meta.file_id), "{announce}");
    assert!(announce.contains("\"from\":\"us\""), "{announce}");
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_pushed_and_deleted_over_and_over_are_announced_a_burst_at_most() {
    let us = spawn_with("us", &[], |c| quiet(c, 64)).await;
    let received = watcher(&us).await;
    const CYCLES: usize = 24;
    for n in 0..CYCLES {
        let content = format!("pushed then deleted, {n}").into_bytes();
        let meta = meta_at(&content, &format!("cycle-{n}.txt"), "1749713836");
        deliver(&us.addr(), &file_data(&meta, &content)).await;
        assert!(holds(us.peer(), &meta.file_id));
        deliver(&us.addr(), encode::delete("PROF", &meta.file_id).as_bytes()).await;
        assert!(us.peer().file(&meta.file_id).is_none());
    }
    let stored = |unannounced: bool| {
        let log = us.peer().snapshot().log;
        log.iter()
            .filter(|e| e.message.starts_with("stored cycle-"))
            .filter(|e| e.message.contains("not announced") == unannounced)
            .count()
    };
    let (announced, skipped) = (stored(false), stored(true));
    assert_eq!(announced + skipped, CYCLES);
    assert!(announced >= 16 && skipped >= 1, "{announced} announced");
    eventually("the announced ones reach the watcher", WAIT, || {
        let received = received.lock().unwrap();
        received
            .iter()
            .filter(|m| m.contains("\"ANNOUNCE\""))
            .count()
            == announced
    })
    .await;
    us.stop().await;
}

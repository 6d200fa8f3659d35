//! The event WebSocket against a real node: a snapshot first, then live changes; a client that
//! falls behind; a foreign origin; removals. And the HTTP server's connections, the
//! WebSocket's among them: the header deadline and the cap on how many are open at once.

use crate::support::*;
use futures_util::StreamExt;
use shared::ServerEvent;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

async fn next_event<S>(ws: &mut S) -> ServerEvent
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an event arrives")
            .expect("stream open")
            .expect("valid frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("a ServerEvent");
        }
    }
}

/// The event socket of `peer`, opened, and the snapshot it starts with.
async fn open_events(peer: &TestPeer) -> (Events, shared::SnapshotDto) {
    let url = format!("ws://{}/api/events", peer.node.http_addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connects");
    let ServerEvent::Snapshot(snapshot) = next_event(&mut ws).await else {
        panic!("snapshot first")
    };
    (ws, snapshot)
}

type Events =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_start_with_a_snapshot_then_follow_changes() {
    let alice = spawn("alice", &[]).await;
    let (mut ws, snapshot) = open_events(&alice).await;
    assert_eq!(snapshot.status.peer_id, "alice");
    assert!(snapshot.files.is_empty());

    let bob = spawn("bob", &[alice.addr()]).await;
    eventually("alice tracks bob", Duration::from_secs(10), || {
        peer_ids(alice.peer()) == ["bob"]
    })
    .await;
    let files = tempfile::tempdir().unwrap();
    let meta = alice
        .peer()
        .push_path(&local_file(&files, "live.txt", b"live"))
        .await
        .unwrap();
    let (mut saw_peer, mut saw_file) = (false, false);
    while !(saw_peer && saw_file) {
        match next_event(&mut ws).await {
            ServerEvent::PeerSeen(p) if p.peer_id == "bob" => saw_peer = true,
            ServerEvent::FileChanged(f) if f.file_id == meta.file_id => saw_file = f.has_copy,
            _ => {}
        }
    }

    bob.stop().await;
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_is_refused_before_the_upgrade() {
    let alice = spawn("alice", &[]).await;
    let url = format!("ws://{}/api/events", alice.node.http_addr);
    let with_origin = |origin: String| {
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                url.as_str(),
            )
            .unwrap();
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
        request
    };
    let foreign = tokio_tungstenite::connect_async(with_origin("http://evil.example".into()));
    assert!(foreign.await.is_err());
    // The dashboard's own origin is let in: the refusal is the origin's.
    let own = format!("http://{}", alice.node.http_addr);
    assert!(tokio_tungstenite::connect_async(with_origin(own))
        .await
        .is_ok());
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_falls_behind_gets_a_fresh_snapshot() {
    use backend::protocol::{Announce, FileMeta, Verbatim};
    // Far more changes than the event queue holds, all kept (none evicted by the cap).
    const FILES: usize = 20_000;
    let alice = spawn_with("alice", &[], |c| {
        c.caps.max_unheld_files = FILES + 1;
        // Their announcer is not tracked: nothing may forget them for want of holders while
        // the test runs.
        c.peer_timeout = Duration::from_secs(60);
    })
    .await;
    let (mut ws, _) = open_events(&alice).await;

    // The client reads nothing meanwhile.
    for i in 0..FILES {
        let meta = FileMeta {
            file_id: format!("{i:064x}"),
            file_name: format!("file-{i}.txt"),
            file_size: Verbatim::integer(1),
            file_owner: "someone".into(),
            file_timestamp: Verbatim::integer(1_750_000_000),
        };
        alice.peer().on_announce(&Announce {
            from: "someone".into(),
            meta,
        });
    }
    // Applying what arrives, as the dashboard does, ends with every file and no gap; at least
    // one fresh snapshot replaced the events that did not fit.
    let mut known = std::collections::HashSet::new();
    let mut resyncs = 0;
    while known.len() < FILES {
        match next_event(&mut ws).await {
            ServerEvent::Snapshot(snapshot) => {
                resyncs += 1;
                known = snapshot.files.into_iter().map(|f| f.file_id).collect();
            }
            ServerEvent::FileChanged(f) => {
                known.insert(f.file_id);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        resyncs >= 1,
        "the client fell behind and was resynchronised"
    );
    // One more change arrives after all that: the stream goes on. (That a resynchronised
    // client gets no old events again is `api::events`' unit test: here it would depend on
    // how busy the machine is while the snapshot is taken.)
    let last = FileMeta {
        file_id: format!("{FILES:064x}"),
        file_name: "last.txt".into(),
        file_size: Verbatim::integer(1),
        file_owner: "someone".into(),
        file_timestamp: Verbatim::integer(1_750_000_000),
    };
    alice.peer().on_announce(&Announce {
        from: "someone".into(),
        meta: last.clone(),
    });
    loop {
        match next_event(&mut ws).await {
            ServerEvent::FileChanged(f) if f.file_id == last.file_id => break,
            ServerEvent::FileChanged(_) | ServerEvent::Snapshot(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_file_and_a_dropped_peer_reach_the_client() {
    let alice = spawn("alice", &[]).await;
    let (mut ws, _) = open_events(&alice).await;
    let bob = spawn("bob", &[alice.addr()]).await;
    let files = tempfile::tempdir().unwrap();
    let meta = alice
        .peer()
        .push_path(&local_file(&files, "brief.txt", b"brief"))
        .await
        .unwrap();
    alice.peer().delete(&meta.file_id).await.unwrap();
    while !matches!(next_event(&mut ws).await,
        ServerEvent::FileRemoved { file_id } if file_id == meta.file_id)
    {}
    // Silent past the peer timeout, bob is dropped, and the page told so.
    bob.stop().await;
    while !matches!(next_event(&mut ws).await,
        ServerEvent::PeerDropped { peer_id } if peer_id == "bob")
    {}
    alice.stop().await;
}

/// A node whose HTTP server allows `header_read` for a request's headers and `max` connections.
async fn spawn_http(header_read: Duration, max: usize) -> TestPeer {
    spawn_with("alice", &[], |c| {
        c.http_limits = backend::api::HttpLimits {
            header_read,
            max_connections: max,
            ..backend::api::HttpLimits::default()
        }
    })
    .await
}

const HEALTH: &[u8] = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Reads `stream` until the server closes it (a reset counts), within `timeout`; what arrived.
async fn closed_within(stream: &mut TcpStream, timeout: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(timeout, async {
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            got.extend_from_slice(&buf[..n]);
        }
    });
    read.await.ok().map(|()| got)
}

/// Reads from `stream` until a whole response head has arrived, within `timeout`.
async fn response_head(stream: &mut TcpStream, timeout: Duration) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(timeout, async {
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(n @ 1..) => got.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
    });
    read.await.ok()?;
    let head = String::from_utf8_lossy(&got).into_owned();
    head.contains("\r\n\r\n").then_some(head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_request_head_then_silence_is_disconnected_after_the_deadline() {
    let alice = spawn_http(Duration::from_millis(300), 16).await;
    let mut stream = TcpStream::connect(alice.node.http_addr).await.unwrap();
    stream
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let got = closed_within(&mut stream, Duration::from_secs(10)).await;
    let got = got.expect("the connection is closed once the header deadline passes");
    let got = String::from_utf8_lossy(&got);
    assert!(got.is_empty() || got.starts_with("HTTP/1.1 408"), "{got}");
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_disconnected_after_the_deadline() {
    let alice = spawn_http(Duration::from_millis(300), 16).await;
    let mut stream = TcpStream::connect(alice.node.http_addr).await.unwrap();
    let got = closed_within(&mut stream, Duration::from_secs(10)).await;
    assert!(got.is_some(), "the connection is closed");
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_disconnected_after_the_deadline() {
    let alice = spawn_http(Duration::from_millis(300), 16).await;
    let mut stream = TcpStream::connect(alice.node.http_addr).await.unwrap();
    stream.write_all(HEALTH).await.unwrap();
    let head = response_head(&mut stream, Duration::from_secs(10)).await;
    assert!(head.expect("answered").starts_with("HTTP/1.1 200"));
    let got = closed_within(&mut stream, Duration::from_secs(10)).await;
    assert!(got.is_some(), "the idle connection is closed");
    alice.stop().await;
}

/// The negative half of the cap's tests: the server is not answering within this, where it
/// answers in milliseconds when a slot is free (the positive half, afterwards, shows that).
const NOT_SERVED: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_beyond_the_cap_is_served_only_once_one_closes() {
    let alice = spawn_http(Duration::from_secs(30), 2).await;
    let addr = alice.node.http_addr;
    // Both slots taken by connections that never finish their headers.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(HEALTH).await.unwrap();
    assert_eq!(response_head(&mut third, NOT_SERVED).await, None);
    drop(held.pop());
    let head = response_head(&mut third, Duration::from_secs(10)).await;
    assert!(head.expect("served").starts_with("HTTP/1.1 200"));
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_websocket_holds_a_connection_slot() {
    let alice = spawn_http(Duration::from_secs(30), 1).await;
    let (ws, _) = open_events(&alice).await;
    let mut next = TcpStream::connect(alice.node.http_addr).await.unwrap();
    next.write_all(HEALTH).await.unwrap();
    assert_eq!(response_head(&mut next, NOT_SERVED).await, None);
    drop(ws);
    let head = response_head(&mut next, Duration::from_secs(10)).await;
    assert!(head.expect("served").starts_with("HTTP/1.1 200"));
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_a_download_is_disconnected_and_frees_its_slot() {
    let alice = spawn_one_slot(Duration::from_millis(300)).await;
    let files = tempfile::tempdir().unwrap();
    let big = vec![7u8; 16 << 20];
    let meta = alice
        .peer()
        .push_path(&local_file(&files, "big.bin", &big))
        .await
        .unwrap();
    // A small receive buffer, so that the file cannot all fit in the sockets' buffers.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 << 10).unwrap();
    let mut reader = socket.connect(alice.node.http_addr).await.unwrap();
    let get = format!(
        "GET /api/files/{}/content HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        meta.file_id
    );
    reader.write_all(get.as_bytes()).await.unwrap();
    let head = response_head(&mut reader, Duration::from_secs(10)).await;
    assert!(head.expect("answered").starts_with("HTTP/1.1 200"));

    // It reads no more; the only slot is its until the stall ends it.
    let mut next = TcpStream::connect(alice.node.http_addr).await.unwrap();
    next.write_all(HEALTH).await.unwrap();
    let head = response_head(&mut next, Duration::from_secs(10)).await;
    assert!(head.expect("served").starts_with("HTTP/1.1 200"));
    let rest = closed_within(&mut reader, Duration::from_secs(10)).await;
    assert!(
        rest.expect("closed").len() < big.len(),
        "the download was cut short"
    );
    alice.stop().await;
}

/// Reads `ws` until the server ends it (a Close, the end of the stream, or an error), within
/// 10 s; whether it did.
async fn ended_by_the_server(ws: &mut Events) -> bool {
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Close(_) = message {
                return;
            }
        }
    });
    ended.await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_frame_over_the_limit_ends_the_socket() {
    let alice = spawn("alice", &[]).await;
    let (mut ws, _) = open_events(&alice).await;
    // A ping is small, and answered.
    futures_util::SinkExt::send(&mut ws, Message::Ping(b"hi".to_vec().into()))
        .await
        .unwrap();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
        match message.expect("a pong").expect("open").expect("a frame") {
            Message::Pong(payload) => break assert_eq!(&payload[..], b"hi"),
            _ => continue,
        }
    }
    // The server may close before reading it all: the send's own outcome does not matter.
    let _ = futures_util::SinkExt::send(&mut ws, Message::Binary(vec![0; 64 << 10].into())).await;
    assert!(ended_by_the_server(&mut ws).await, "the socket was ended");
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragmented_client_message_over_the_limit_ends_the_socket() {
    use tokio_tungstenite::tungstenite::protocol::frame::{coding::Data, coding::OpCode, Frame};
    let alice = spawn("alice", &[]).await;
    let (mut ws, _) = open_events(&alice).await;
    // Each fragment is small; the message they start never ends, and passes the limit.
    let first = Frame::message(vec![0; 3 << 10], OpCode::Data(Data::Binary), false);
    let _ = futures_util::SinkExt::send(&mut ws, Message::Frame(first)).await;
    for _ in 0..4 {
        let more = Frame::message(vec![0; 3 << 10], OpCode::Data(Data::Continue), false);
        let _ = futures_util::SinkExt::send(&mut ws, Message::Frame(more)).await;
    }
    assert!(ended_by_the_server(&mut ws).await, "the socket was ended");
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_stalls_is_ended_and_frees_its_slot_and_temp_file() {
    let alice = spawn_with("alice", &[], |c| {
        c.http_limits = backend::api::HttpLimits {
            max_connections: 1,
            write_stall: Duration::from_secs(1),
            ..backend::api::HttpLimits::default()
        }
    })
    .await;
    let temp_files = || {
        all_files(alice.storage())
            .into_iter()
            .filter(|n| n.starts_with(".tmp-"))
            .count()
    };
    let mut uploader = TcpStream::connect(alice.node.http_addr).await.unwrap();
    let part = "--BB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\n";
    let head = format!(
        "POST /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: multipart/form-data; boundary=BB\r\nContent-Length: 1000000\r\n\r\n{part}"
    );
    uploader.write_all(head.as_bytes()).await.unwrap();
    uploader.write_all(&[b'x'; 1000]).await.unwrap();
    eventually(
        "the upload has its temp file",
        Duration::from_secs(10),
        || temp_files() == 1,
    )
    .await;

    // Then it sends nothing more.
    let answer = closed_within(&mut uploader, Duration::from_secs(10)).await;
    let answer =
        String::from_utf8_lossy(&answer.expect("the stalled upload is ended")).into_owned();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert_eq!(temp_files(), 0, "the temp file is removed");
    let mut next = TcpStream::connect(alice.node.http_addr).await.unwrap();
    next.write_all(HEALTH).await.unwrap();
    let head = response_head(&mut next, Duration::from_secs(10)).await;
    assert!(head.expect("served").starts_with("HTTP/1.1 200"));
    alice.stop().await;
}

/// A node whose HTTP server allows one connection, and waits `stall` for a client.
async fn spawn_one_slot(stall: Duration) -> TestPeer {
    spawn_with("alice", &[], |c| {
        c.http_limits = backend::api::HttpLimits {
            max_connections: 1,
            write_stall: stall,
            ..backend::api::HttpLimits::default()
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_client_that_vanished_is_found_by_pings_and_frees_its_slot() {
    let alice = spawn_one_slot(Duration::from_millis(300)).await;
    // Never polled again, the client answers no ping: as if its machine went to sleep.
    let (_vanished, _) = open_events(&alice).await;
    let mut next = TcpStream::connect(alice.node.http_addr).await.unwrap();
    next.write_all(HEALTH).await.unwrap();
    let head = response_head(&mut next, Duration::from_secs(10)).await;
    assert!(head.expect("served").starts_with("HTTP/1.1 200"));
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_client_that_answers_pings_stays_connected() {
    let alice = spawn_one_slot(Duration::from_millis(300)).await;
    let (mut ws, _) = open_events(&alice).await;
    // Reading, the client answers each ping, over many times the silence allowed.
    let until = tokio::time::Instant::now() + Duration::from_secs(2);
    let mut pings = 0;
    while let Ok(message) = tokio::time::timeout_at(until, ws.next()).await {
        match message {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Text(_))) => {}
            other => panic!("the stream ended: {other:?}"),
        }
    }
    assert!(pings >= 3, "{pings} pings");
    alice.stop().await;
}

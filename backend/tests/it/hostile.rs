//! Strangers who abuse the socket layer: clients whose last bytes come late, connections that
//! trickle, holders that answer one byte at a time, floods of GOSSIP_REPLYs, pushes past the
//! storage quota or past what the disk holds. Each test waits on a refusal counter or a closed
//! connection, never on a sleep.

use crate::support::*;
use backend::protocol::{encode, file_id, FileMeta, Verbatim};
use backend::refusal::Reason;
use shared::{TransferKind, TransferStateDto};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(15);

fn meta_for(content: &[u8], name: &str) -> FileMeta {
    meta_at(content, name, "1750000000")
}

/// `len` bytes that differ with `seed`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// How a fake holder answers one GET_FILE.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// The whole reply at once.
    Good,
    /// The reply one byte every 100 ms.
    Trickle,
    /// The reply's head, then hex without end.
    Endless,
}

/// A fake holder that answers its n-th GET_FILE with `answers[n]` (the last one repeats).
/// Returns its port and the count of GET_FILEs it received.
async fn holder(answers: Vec<Answer>, meta: FileMeta, content: Vec<u8>) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let reply = Arc::new(file_data(&meta, &content));
    tokio::spawn(async move {
        let meta = Arc::new(meta);
        while let Ok((mut socket, _)) = listener.accept().await {
            let (answers, counter, reply, meta) = (
                answers.clone(),
                counter.clone(),
                reply.clone(),
                meta.clone(),
            );
            tokio::spawn(async move {
                if !read_get_file(&mut socket).await {
                    return;
                }
                let n = counter.fetch_add(1, Ordering::SeqCst);
                match answers[n.min(answers.len() - 1)] {
                    Answer::Good => {
                        let _ = socket.write_all(&reply).await;
                    }
                    Answer::Trickle => {
                        for byte in reply.iter() {
                            if socket.write_all(&[*byte]).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    Answer::Endless => {
                        let head = encode::file_data_head(&meta);
                        let hex = vec![b'a'; 1 << 20];
                        if socket.write_all(head.as_bytes()).await.is_ok() {
                            while socket.write_all(&hex).await.is_ok() {}
                        }
                    }
                }
            });
        }
    });
    (port, asked)
}

/// Introduces a fake to `peer_addr` with a GOSSIP_REPLY listing `files`.
async fn introduce(peer_addr: &str, peer_id: &str, port: u16, files: &[&FileMeta]) {
    let reply = encode::gossip_reply("127.0.0.1", port, peer_id, files.iter().copied());
    send_raw(peer_addr, reply.as_bytes()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_file_whose_newline_arrives_late_receives_20_mb_whole_20_times() {
    let us = spawn("us", &[]).await;
    let files = tempfile::tempdir().unwrap();
    let content = noise(20 << 20, 1);
    let meta = us
        .peer()
        .push_path(&local_file(&files, "big.bin", &content))
        .await
        .unwrap();
    let expected = file_data(&meta, &content);
    let request = encode::get_file(&meta.file_id);
    for attempt in 1..=20 {
        let mut client = TcpStream::connect(us.addr()).await.unwrap();
        client.write_all(request.as_bytes()).await.unwrap();
        // The reply has begun, so the server has read the request: the newline is late.
        let mut reply = vec![0u8; 64 * 1024];
        let n = client.read(&mut reply).await.unwrap();
        reply.truncate(n);
        client.write_all(b"\n").await.unwrap();
        let rest = tokio::time::timeout(WAIT, client.read_to_end(&mut reply))
            .await
            .expect("the server closes after replying");
        assert!(
            rest.is_ok() && reply == expected,
            "attempt {attempt}: {rest:?}, {} of {} bytes",
            reply.len(),
            expected.len()
        );
    }
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_connections_from_one_address_leave_gossip_and_get_file_served() {
    let us = spawn_with("us", &[], |c| {
        // Long enough that no trickler is cut off during the test.
        c.limits.message_deadline = Duration::from_secs(60);
        c.limits.idle = Duration::from_secs(60);
    })
    .await;
    let files = tempfile::tempdir().unwrap();
    let held = us
        .peer()
        .push_path(&local_file(&files, "names.txt", &fixture("names.txt")))
        .await
        .unwrap();
    let per_source = us.peer().config().limits.max_per_source;
    let mut tricklers = Vec::new();
    for _ in 0..600 {
        let mut trickler = connect_from("127.0.0.2", &us.addr()).await;
        let _ = trickler.write_all(b"{").await;
        tricklers.push(trickler);
    }
    refused(
        us.peer(),
        Reason::ConnectionsPerSource,
        (600 - per_source) as u64,
    )
    .await;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let gossip = encode::gossip(
        "127.0.0.1",
        port,
        "6b1e2c1e-0000-4000-8000-000000000002",
        "honest",
    );
    send_raw(&us.addr(), gossip.as_bytes()).await;
    next_gossip_reply(&listener).await;

    let reply = request(&us.addr(), &encode::get_file(&held.file_id)).await;
    let mut hex = Vec::new();
    encode::hex_into(&fixture("names.txt"), &mut hex);
    assert!(
        reply.windows(hex.len()).any(|w| w == hex),
        "GET_FILE is served"
    );
    drop(tricklers);
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_control_message_is_cut_off_at_the_deadline() {
    let deadline = Duration::from_secs(1);
    let us = spawn_with("us", &[], |c| c.limits.message_deadline = deadline).await;
    let gossip = encode::gossip(
        "127.0.0.1",
        9,
        "6b1e2c1e-0000-4000-8000-000000000003",
        "trickler",
    );
    let started = Instant::now();
    let (mut from_us, mut to_us) = TcpStream::connect(us.addr()).await.unwrap().into_split();
    // One byte every 100 ms: far within the idle deadline, 12 s for the whole message, so
    // a cut before 8 s is the deadline's.
    tokio::spawn(async move {
        for byte in gossip.bytes() {
            if to_us.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    refused(us.peer(), Reason::MessageDeadline, 1).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= deadline && elapsed < deadline * 8,
        "cut after {elapsed:?}"
    );
    let closed = tokio::time::timeout(WAIT, from_us.read(&mut [0u8; 16]))
        .await
        .expect("the connection is closed");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    assert!(us.peer().peers().is_empty());
    us.stop().await;
}

/// Gets bitcoin.pdf with two holders: one that answers with `first`, listed as a holder, and
/// an honest one that is not, so it is tried second. Returns the finished get and how often
/// the first was asked.
async fn get_past(us: &TestPeer, first: Answer) -> (shared::TransferDto, usize) {
    let content = fixture("bitcoin.pdf");
    let meta = meta_for(&content, "bitcoin.pdf");
    let (bad, bad_asked) = holder(vec![first], meta.clone(), content.clone()).await;
    introduce(&us.addr(), "bad", bad, &[&meta]).await;
    let (honest, _) = holder(vec![Answer::Good], meta.clone(), content.clone()).await;
    introduce(&us.addr(), "honest", honest, &[]).await;
    eventually("both holders are tracked", WAIT, || {
        us.peer().peers().len() == 2
    })
    .await;
    let transfer = us
        .peer()
        .start_fetch(&meta.file_id, TransferKind::Get)
        .unwrap();
    let done = finished(us.peer(), transfer.id, WAIT).await;
    (done, bad_asked.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_trickles_its_reply_is_abandoned_for_the_next_one() {
    let us = spawn_with("us", &[], |c| c.peer_timeout = Duration::from_secs(60)).await;
    let (done, asked) = get_past(&us, Answer::Trickle).await;
    assert_eq!(done.state, TransferStateDto::Done, "{done:?}");
    assert_eq!(done.peer.as_deref(), Some("honest"));
    assert_eq!(asked, 1);
    assert_eq!(us.peer().refusals().count(Reason::SlowTransfer), 1);
    assert_eq!(
        std::fs::read(us.storage().join("bitcoin.pdf")).unwrap(),
        fixture("bitcoin.pdf")
    );
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_failed_get_is_a_new_attempt() {
    let content = fixture("names.txt");
    let meta = meta_for(&content, "names.txt");
    let us = spawn_with("us", &[], |c| c.peer_timeout = Duration::from_secs(60)).await;
    let (flaky, asked) = holder(
        vec![Answer::Trickle, Answer::Good],
        meta.clone(),
        content.clone(),
    )
    .await;
    introduce(&us.addr(), "flaky", flaky, &[&meta]).await;
    eventually("the holder is tracked", WAIT, || {
        us.peer().peers().len() == 1
    })
    .await;

    let first = us
        .peer()
        .start_fetch(&meta.file_id, TransferKind::Get)
        .unwrap();
    let failed = finished(us.peer(), first.id, WAIT).await;
    assert!(
        matches!(&failed.state, TransferStateDto::Failed { reason } if reason.contains("too slow")),
        "{failed:?}"
    );
    let retry = us
        .peer()
        .start_fetch(&meta.file_id, TransferKind::Get)
        .unwrap();
    assert_ne!(retry.id, first.id);
    let done = finished(us.peer(), retry.id, WAIT).await;
    assert_eq!(done.state, TransferStateDto::Done, "{done:?}");
    assert_eq!(asked.load(Ordering::SeqCst), 2);
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_replies_over_the_rate_are_refused_while_others_merge() {
    // One a second, so a burst of five.
    let us = spawn_with("us", &[], |c| c.limits.gossip_reply_rate = 1).await;
    let flood: Vec<FileMeta> = (0..10)
        .map(|i| meta_for(format!("flood {i}").as_bytes(), &format!("flood{i}.txt")))
        .collect();
    let started = Instant::now();
    for meta in &flood {
        let reply = encode::gossip_reply("127.0.0.2", 9, "flooder", [meta]);
        let mut flooder = connect_from("127.0.0.2", &us.addr()).await;
        flooder.write_all(reply.as_bytes()).await.unwrap();
    }
    let known = || {
        flood
            .iter()
            .filter(|m| us.peer().file(&m.file_id).is_some())
            .count()
    };
    let rate_refused = || us.peer().refusals().count(Reason::GossipReplyRate) as usize;
    eventually("every flooding reply is merged or refused", WAIT, || {
        known() + rate_refused() == flood.len()
    })
    .await;
    // The burst, and one more for each second the flood took to be handled.
    let allowed = 5 + started.elapsed().as_secs_f64().ceil() as usize;
    assert!(known() >= 5, "the burst merges: {}", known());
    assert!(known() <= allowed, "{} merged, {allowed} allowed", known());

    let other = meta_for(b"from another address", "other.txt");
    introduce(&us.addr(), "other", 9, &[&other]).await;
    eventually("a reply from another address merges", WAIT, || {
        us.peer().file(&other.file_id).is_some()
    })
    .await;
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_above_the_quota_is_refused_and_leaves_nothing_behind() {
    let quota = 2 << 20;
    let us = spawn_with("us", &[], |c| c.caps.max_storage = quota).await;
    let first = noise(1_200_000, 2);
    let first_meta = meta_for(&first, "first.bin");
    send_raw(&us.addr(), &file_data(&first_meta, &first)).await;
    eventually("the first push is stored and indexed", WAIT, || {
        holds(us.peer(), &first_meta.file_id)
            && std::fs::read_to_string(us.storage().join("metadata.json"))
                .is_ok_and(|index| index.contains(&first_meta.file_id))
    })
    .await;

    // Together with the first, the second is over the quota.
    let second = noise(1_200_000, 3);
    let second_meta = meta_for(&second, "second.bin");
    let mut pusher = TcpStream::connect(us.addr()).await.unwrap();
    let _ = pusher.write_all(&file_data(&second_meta, &second)).await;
    refused(us.peer(), Reason::StorageQuota, 1).await;

    assert!(us.peer().file(&second_meta.file_id).is_none());
    assert_eq!(all_files(us.storage()), ["first.bin", "metadata.json"]);
    let cut = us
        .peer()
        .transfers()
        .into_iter()
        .find(|t| t.kind == TransferKind::Incoming && t.state != TransferStateDto::Done)
        .expect("the second push shows as an incoming transfer");
    assert!(
        matches!(cut.state, TransferStateDto::Failed { .. }),
        "{cut:?}"
    );
    assert!(
        cut.bytes_done <= quota - first.len() as u64,
        "cut off as soon as it would exceed: {cut:?}"
    );
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_names_us_as_its_owner_is_refused() {
    let us = spawn("us", &[]).await;
    let content = noise(5000, 4);
    let mut forged = meta_for(&content, "mine.bin");
    forged.file_owner = "us".into();
    send_raw(&us.addr(), &file_data(&forged, &content)).await;
    refused(us.peer(), Reason::ForgedOwner, 1).await;
    assert!(us.peer().file(&forged.file_id).is_none());

    // The same content under its real owner is kept: only the claim was refused.
    let genuine = meta_for(&content, "theirs.bin");
    send_raw(&us.addr(), &file_data(&genuine, &content)).await;
    eventually("the genuine push is stored", WAIT, || {
        holds(us.peer(), &genuine.file_id)
    })
    .await;
    assert_eq!(content_files(us.storage()), ["theirs.bin"]);
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_push_takes_no_room_from_a_push_still_arriving() {
    // The first push waits, half sent, for the second: no rate or idle rule may cut it.
    let us = spawn_with("us", &[], |c| {
        c.caps.max_storage = 4 << 20;
        c.limits.min_rate = 0;
        c.limits.idle = Duration::from_secs(60);
    })
    .await;
    // 2.6 MiB arriving, its first half first.
    let kept = noise(2_730_000, 5);
    let kept_meta = meta_for(&kept, "kept.bin");
    let bytes = file_data(&kept_meta, &kept);
    let mut arriving = TcpStream::connect(us.addr()).await.unwrap();
    arriving.write_all(&bytes[..bytes.len() / 2]).await.unwrap();
    eventually("the first half is received", WAIT, || {
        us.peer()
            .transfers()
            .iter()
            .any(|t| t.kind == TransferKind::Incoming && t.bytes_done >= 1 << 20)
    })
    .await;

    // Meanwhile 1.5 MiB arrive whole and are refused: the content is not the one of its id.
    let corrupt_meta = meta_for(&noise(1_570_000, 6), "corrupt.bin");
    // Delivered: its connection, and with it its count of bytes, is over on return.
    deliver(&us.addr(), &file_data(&corrupt_meta, &noise(1_570_000, 7))).await;
    refused(us.peer(), Reason::BadCopy, 1).await;

    // Counted as kept, the refused bytes would leave the first push 4.1 MiB of a 4 MiB room.
    arriving.write_all(&bytes[bytes.len() / 2..]).await.unwrap();
    drop(arriving);
    eventually("the push still arriving is kept", WAIT, || {
        holds(us.peer(), &kept_meta.file_id)
    })
    .await;
    assert_eq!(us.peer().refusals().count(Reason::StorageQuota), 0);
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_pushes_take_room_in_the_quota() {
    // Each held file counts as at least 1 MiB: two empty files fill a 2 MiB quota.
    let us = spawn_with("us", &[], |c| c.caps.max_storage = 2 << 20).await;
    let empty = |timestamp: u64| {
        let file_timestamp = Verbatim::integer(timestamp);
        FileMeta {
            file_id: file_id(b"", &file_timestamp),
            file_name: format!("empty-{timestamp}"),
            file_size: Verbatim::integer(0),
            file_owner: "PROF".into(),
            file_timestamp,
        }
    };
    for timestamp in [1, 2] {
        let meta = empty(timestamp);
        send_raw(&us.addr(), &file_data(&meta, b"")).await;
        eventually("an empty push within the quota is kept", WAIT, || {
            holds(us.peer(), &meta.file_id)
        })
        .await;
    }
    let third = empty(3);
    send_raw(&us.addr(), &file_data(&third, b"")).await;
    refused(us.peer(), Reason::StorageQuota, 1).await;
    assert!(us.peer().file(&third.file_id).is_none());
    assert_eq!(content_files(us.storage()), ["empty-1", "empty-2"]);
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_file_beyond_the_transfer_slots_is_closed_unanswered() {
    let (us, mut first, mut reply, held) = one_slot_taken().await;
    let get = encode::get_file(&held.meta.file_id);
    let mut second = TcpStream::connect(us.addr()).await.unwrap();
    second.write_all(get.as_bytes()).await.unwrap();
    let mut refused_reply = Vec::new();
    let closed = tokio::time::timeout(WAIT, second.read_to_end(&mut refused_reply)).await;
    assert!(closed.is_ok(), "the second GET_FILE is closed at once");
    assert!(refused_reply.is_empty(), "and gets no reply");
    refused(us.peer(), Reason::Transfers, 1).await;

    // The first reply is whole, and its slot is free again once it is.
    first.read_to_end(&mut reply).await.unwrap();
    let whole = file_data(&held.meta, &held.content);
    assert!(reply == whole, "{} of {} bytes", reply.len(), whole.len());
    let third = request(&us.addr(), &get).await;
    assert!(third == whole, "{} of {} bytes", third.len(), whole.len());
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_beyond_the_transfer_slots_is_refused() {
    let (us, _stalled, _, _) = one_slot_taken().await;
    let pushed = noise(5000, 7);
    let pushed_meta = meta_for(&pushed, "pushed.bin");
    send_raw(&us.addr(), &file_data(&pushed_meta, &pushed)).await;
    refused(us.peer(), Reason::Transfers, 1).await;
    assert!(us.peer().file(&pushed_meta.file_id).is_none());
    assert_eq!(content_files(us.storage()), ["big.bin"]);
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_pushes_leave_half_the_transfer_slots_to_get_file() {
    // Eight transfer slots: at most four for pushes, one per source address.
    let us = spawn_with("us", &[], |c| {
        c.limits.max_transfers = 8;
        c.limits.min_rate = 0;
        c.limits.idle = Duration::from_secs(60);
    })
    .await;
    let files = tempfile::tempdir().unwrap();
    let content = fixture("bitcoin.pdf");
    let held = us
        .peer()
        .push_path(&local_file(&files, "bitcoin.pdf", &content))
        .await
        .unwrap();
    // Each push sends its first content byte, then nothing.
    let trickle = |n: usize| {
        let meta = meta_for(&noise(1000, n as u64), &format!("trickle-{n}.bin"));
        format!("{}00", encode::file_data_head(&meta))
    };
    let mut pushes = Vec::new();
    for (n, source) in [
        "127.0.0.2",
        "127.0.0.2",
        "127.0.0.3",
        "127.0.0.4",
        "127.0.0.5",
        "127.0.0.6",
    ]
    .into_iter()
    .enumerate()
    {
        let mut push = connect_from(source, &us.addr()).await;
        push.write_all(trickle(n).as_bytes()).await.unwrap();
        pushes.push(push);
    }
    // The second from 127.0.0.2 is over its address's share, the one from 127.0.0.6 over
    // the pushes' share.
    refused(us.peer(), Reason::Transfers, 2).await;
    eventually("four pushes arrive", WAIT, || {
        let transfers = us.peer().transfers();
        let arriving = transfers
            .iter()
            .filter(|t| t.kind == TransferKind::Incoming && t.state == TransferStateDto::Running);
        arriving.count() == 4
    })
    .await;

    let reply = request(&us.addr(), &encode::get_file(&held.file_id)).await;
    let whole = file_data(&held, &content);
    assert!(reply == whole, "{} of {} bytes", reply.len(), whole.len());
    us.stop().await;
}

/// A held file and its content.
struct Held {
    meta: FileMeta,
    content: Vec<u8>,
}

/// A peer with one transfer slot, taken by a GET_FILE whose reply nobody reads: the client's
/// socket and the first bytes of the reply, and the file asked for. The file is twice as much
/// hex as the socket buffers hold, so the reply stays open, and no rule of the peer cuts it
/// before the test is done with it.
async fn one_slot_taken() -> (TestPeer, TcpStream, Vec<u8>, Held) {
    let us = spawn_with("us", &[], |c| {
        c.limits.max_transfers = 1;
        c.limits.min_rate = 0;
        c.limits.idle = Duration::from_secs(60);
    })
    .await;
    let files = tempfile::tempdir().unwrap();
    let content = noise(8 << 20, 5);
    let meta = us
        .peer()
        .push_path(&local_file(&files, "big.bin", &content))
        .await
        .unwrap();
    // A small receive buffer, so that the 16 MiB of hex cannot all fit in the two sockets'
    // buffers, whatever this machine's defaults: the reply stays in flight.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 << 10).unwrap();
    let mut client = socket.connect(us.addr().parse().unwrap()).await.unwrap();
    client
        .write_all(encode::get_file(&meta.file_id).as_bytes())
        .await
        .unwrap();
    let mut head = vec![0u8; 64];
    client.read_exact(&mut head).await.unwrap();
    (us, client, head, Held { meta, content })
}

/// A peer whose storage folder is on a 4 MiB disk of its own, holding one file of its own,
/// `ours.txt`, saved in its index.
struct Cramped {
    disk: SmallDisk,
    storage: std::path::PathBuf,
    us: TestPeer,
    ours: FileMeta,
}

const OURS: &[u8] = b"kept whatever arrives";

impl Cramped {
    /// `None` where a disk cannot be mounted (said by `test`).
    async fn start(test: &str) -> Option<Cramped> {
        let disk = SmallDisk::mount(test, "4m")?;
        let storage = disk.path().join("storage");
        let us = spawn_with("us", &[], |c| c.storage = storage.clone()).await;
        let files = tempfile::tempdir().unwrap();
        let ours = us
            .peer()
            .push_path(&local_file(&files, "ours.txt", OURS))
            .await
            .unwrap();
        eventually("our file is saved and its journal gone", WAIT, || {
            all_files(&storage) == ["metadata.json", "ours.txt"]
        })
        .await;
        Some(Cramped {
            disk,
            storage,
            us,
            ours,
        })
    }

    fn saved(&self) -> String {
        std::fs::read_to_string(self.storage.join("metadata.json")).unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_fills_the_disk_is_dropped_and_what_was_stored_stays() {
    let test = "a_push_that_fills_the_disk_is_dropped_and_what_was_stored_stays";
    // The disk is bound until the end: dropped, it would be unmounted.
    let Some(Cramped {
        disk: _disk,
        storage,
        us,
        ours,
    }) = Cramped::start(test).await
    else {
        return;
    };

    // More than the disk holds, within every limit of ours.
    let big = noise(6 << 20, 8);
    let big_meta = meta_for(&big, "big.bin");
    deliver(&us.addr(), &file_data(&big_meta, &big)).await;
    assert!(us.peer().file(&big_meta.file_id).is_none());
    let failed = us
        .peer()
        .transfers()
        .into_iter()
        .find(|t| t.kind == TransferKind::Incoming)
        .expect("the push shows as an incoming transfer");
    assert!(
        matches!(&failed.state, TransferStateDto::Failed { reason } if reason.contains("No space left")),
        "{failed:?}"
    );
    assert_eq!(all_files(&storage), ["metadata.json", "ours.txt"]);
    assert_eq!(std::fs::read(storage.join("ours.txt")).unwrap(), OURS);
    let reply = request(&us.addr(), &encode::get_file(&ours.file_id)).await;
    let mut hex = Vec::new();
    encode::hex_into(OURS, &mut hex);
    assert!(reply.windows(hex.len()).any(|w| w == hex), "still served");

    // The room it took is free again: a push that fits is kept.
    let small = noise(1 << 20, 9);
    let small_meta = meta_for(&small, "small.bin");
    deliver(&us.addr(), &file_data(&small_meta, &small)).await;
    eventually("the push that fits is kept", WAIT, || {
        holds(us.peer(), &small_meta.file_id)
    })
    .await;
    us.stop().await;
    let index = std::fs::read_to_string(storage.join("metadata.json")).unwrap();
    assert!(index.contains(&ours.file_id) && index.contains(&small_meta.file_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_that_cannot_be_saved_on_a_full_disk_is_saved_once_there_is_room() {
    let test = "an_index_that_cannot_be_saved_on_a_full_disk_is_saved_once_there_is_room";
    let Some(cramped) = Cramped::start(test).await else {
        return;
    };
    let (disk, us, ours) = (&cramped.disk, &cramped.us, &cramped.ours);
    let saved = || cramped.saved();

    // Beside the storage folder, a file that takes all the room left.
    let filler = disk.fill();
    let mut events = us.peer().subscribe();
    let announced = meta_for(b"announced", "announced.txt");
    deliver(&us.addr(), encode::announce("PROF", &announced).as_bytes()).await;
    tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(shared::ServerEvent::Log(entry)) = events.recv().await {
                if entry.message.starts_with("cannot save the index") {
                    return;
                }
            }
        }
    })
    .await
    .expect("the failed save is logged");
    assert!(us.peer().store().saves().1 >= 1, "the failure is counted");
    assert_eq!(
        us.peer().store().free_bytes().unwrap(),
        0,
        "and shows in /metrics"
    );
    let before = saved();
    assert!(before.contains(&ours.file_id), "the old index is whole");
    assert!(!before.contains(&announced.file_id));

    // With no change since, the index is saved once there is room again.
    std::fs::remove_file(&filler).unwrap();
    eventually("the index is saved again", WAIT, || {
        saved().contains(&announced.file_id)
    })
    .await;
    cramped.us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_onto_a_full_disk_is_a_507_that_says_so_and_keeps_nothing() {
    let test = "an_upload_onto_a_full_disk_is_a_507_that_says_so_and_keeps_nothing";
    let Some(disk) = SmallDisk::mount(test, "4m") else {
        return;
    };
    let storage = disk.path().join("storage");
    let us = spawn_with("us", &[], |c| c.storage = storage.clone()).await;
    // Far more than the disk and the sockets' buffers hold.
    let content = noise(24 << 20, 10);
    let mut body =
        b"--cut\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
            .to_vec();
    body.extend_from_slice(&content);
    body.extend_from_slice(b"\r\n--cut--\r\n");
    let addr = us.node.http_addr;
    let head = format!(
        "POST /api/files HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; \
         boundary=cut\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut http = TcpStream::connect(addr).await.unwrap();
    http.write_all(head.as_bytes()).await.unwrap();
    // Read to its end before the answer, so that a client that sends it all sees the answer.
    http.write_all(&body)
        .await
        .expect("the peer takes the whole body");
    let mut reply = Vec::new();
    let _ = http.read_to_end(&mut reply).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 507"), "{reply}");
    assert!(
        reply.contains(r#"{"error":"the disk of the storage folder is full"}"#),
        "{reply}"
    );
    assert!(us.peer().files().is_empty());
    assert_eq!(content_files(&storage), Vec::<String>::new());
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_onto_a_full_disk_fails_once_and_blames_no_holder() {
    let test = "a_get_onto_a_full_disk_fails_once_and_blames_no_holder";
    let Some(disk) = SmallDisk::mount(test, "4m") else {
        return;
    };
    let alice = spawn("alice", &[]).await;
    let bob = spawn("bob", &[alice.addr()]).await;
    eventually("alice tracks bob", WAIT, || {
        peer_ids(alice.peer()) == ["bob"]
    })
    .await;
    let files = tempfile::tempdir().unwrap();
    let big = alice
        .peer()
        .push_path(&local_file(&files, "big.bin", &noise(6 << 20, 11)))
        .await
        .unwrap();
    eventually("bob holds a copy too", WAIT, || {
        holds(bob.peer(), &big.file_id)
    })
    .await;

    let storage = disk.path().join("storage");
    let carol = spawn_with("carol", &[alice.addr()], |c| c.storage = storage.clone()).await;
    eventually("carol knows both holders", WAIT, || {
        carol
            .peer()
            .file(&big.file_id)
            .is_some_and(|f| f.holders.len() == 2)
    })
    .await;
    let transfer = carol
        .peer()
        .start_fetch(&big.file_id, TransferKind::Get)
        .unwrap();
    let done = finished(carol.peer(), transfer.id, WAIT).await;
    assert!(
        matches!(&done.state, TransferStateDto::Failed { reason }
            if reason.starts_with("could not store it") && reason.contains("No space left")),
        "{done:?}"
    );
    for holder in carol.peer().peers() {
        let health = holder.health.unwrap_or_default();
        assert_eq!(health.gets_failed, 0, "{} is not to blame", holder.peer_id);
    }
    assert!(
        !all_files(&storage).iter().any(|n| n.starts_with(".tmp-")),
        "{:?}",
        all_files(&storage)
    );
    for peer in [carol, bob, alice] {
        peer.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_fills_our_disk_past_the_files_size_is_blamed_and_the_next_one_tried() {
    let test = "a_holder_that_fills_our_disk_past_the_files_size_is_blamed_and_the_next_one_tried";
    let Some(disk) = SmallDisk::mount(test, "4m") else {
        return;
    };
    let storage = disk.path().join("storage");
    let us = spawn_with("us", &[], |c| {
        c.storage = storage.clone();
        c.peer_timeout = Duration::from_secs(60);
    })
    .await;
    let (done, asked) = get_past(&us, Answer::Endless).await;
    assert_eq!(done.state, TransferStateDto::Done, "{done:?}");
    assert_eq!(done.peer.as_deref(), Some("honest"));
    assert_eq!(asked, 1);
    let bad = us
        .peer()
        .peers()
        .into_iter()
        .find(|p| p.peer_id == "bad")
        .and_then(|p| p.health)
        .unwrap();
    assert_eq!(bad.bad_copies, 1, "{bad:?}");
    assert_eq!(
        std::fs::read(storage.join("bitcoin.pdf")).unwrap(),
        fixture("bitcoin.pdf")
    );
    us.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_that_a_full_disk_refuses_go_to_stderr() {
    let test = "log_lines_that_a_full_disk_refuses_go_to_stderr";
    let Some(disk) = SmallDisk::mount(test, "4m") else {
        return;
    };
    let outside = tempfile::tempdir().unwrap();
    let stderr = outside.path().join("stderr");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_peer"))
        .args(["us", "127.0.0.1", "0", "0", "--bootstrap", "none"])
        .arg("--storage")
        .arg(disk.path().join("storage"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("the peer starts");
    // Killed however the test ends, before the disk is unmounted.
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let _child = Kill(child);
    let port = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout).lines().find_map(|line| {
            let line = line.ok()?;
            let (_, rest) = line.split_once("advertised as 127.0.0.1:")?;
            rest.trim_end_matches(')').parse::<u16>().ok()
        })
    })
    .await
    .unwrap()
    .expect("the peer says where it listens");

    disk.fill();
    let content = noise(1 << 20, 12);
    deliver(
        &format!("127.0.0.1:{port}"),
        &file_data(&meta_for(&content, "pushed.bin"), &content),
    )
    .await;
    eventually("the warning reaches stderr", WAIT, || {
        std::fs::read_to_string(&stderr)
            .is_ok_and(|text| text.contains("could not store it: No space left"))
    })
    .await;
}

//! The console menu driven in process: what an operator sees when a get is typed twice, and
//! when a push goes out.

use crate::support::*;
use backend::cli::{self, Command, Console};
use backend::protocol::{encode, file_id, FileMeta, Verbatim};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(15);

/// A holder that takes a GET_FILE, says nothing until `release` fires, then closes.
async fn silent_holder() -> (u16, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (release, released) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut released = Some(released);
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            if read_get_file(&mut socket).await {
                if let Some(released) = released.take() {
                    let _ = released.await;
                }
                return; // dropping the socket ends the reply early
            }
        }
    });
    (port, release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_get_of_a_running_file_prints_nothing_twice() {
    let timestamp = Verbatim::integer(1749713836);
    let meta = FileMeta {
        file_id: file_id(b"slow", &timestamp),
        file_name: "slow\x1b[2J.txt".into(),
        file_size: Verbatim::integer(4),
        file_owner: "PROF".into(),
        file_timestamp: timestamp,
    };
    // Nothing but the release may end the get: no deadline or rate check fires in between,
    // however slowly this test is scheduled.
    let us = spawn_with("us", &[], |c| {
        c.peer_timeout = Duration::from_secs(60);
        c.limits.first_byte = Duration::from_secs(60);
        c.limits.idle = Duration::from_secs(60);
        c.limits.message_deadline = Duration::from_secs(60);
        c.limits.rate_window = Duration::from_secs(60);
    })
    .await;
    let (port, release) = silent_holder().await;
    let reply = encode::gossip_reply("127.0.0.1", port, "holder", [&meta]);
    send_raw(&us.addr(), reply.as_bytes()).await;
    eventually("the file is known", WAIT, || {
        us.peer().file(&meta.file_id).is_some()
    })
    .await;

    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let out = Console::to(move |line| sink.lock().unwrap().push(line));
    cli::execute(us.peer(), Command::Get(meta.file_id.clone()), &out);
    cli::execute(us.peer(), Command::Get(meta.file_id.clone()), &out);
    // The follower of a get is spawned only with its "fetching" line, so these two lines
    // prove that one follower prints the progress and outcome.
    assert_eq!(
        *lines.lock().unwrap(),
        [
            "get slow\\x1b[2J.txt: fetching in the background",
            "get slow\\x1b[2J.txt: already running (0 B)",
        ]
    );

    release.send(()).unwrap();
    eventually("the get fails", WAIT, || {
        lines.lock().unwrap().iter().any(|l| l.contains("FAILED"))
    })
    .await;
    let failed = lines.lock().unwrap().last().cloned().unwrap();
    assert!(
        failed.starts_with("get slow\\x1b[2J.txt: FAILED: no peer delivered a valid copy"),
        "{failed}"
    );
    us.stop().await;
}

/// A console whose lines are collected.
fn collecting() -> (Console, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    (
        Console::to(move |line| sink.lock().unwrap().push(line)),
        lines,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_names_the_peer_it_goes_to_and_says_when_it_arrived() {
    let alice = spawn("alice", &[]).await;
    let bob = spawn("bob", &[alice.addr()]).await;
    eventually("alice tracks bob", WAIT, || {
        peer_ids(alice.peer()) == ["bob"]
    })
    .await;
    let files = tempfile::tempdir().unwrap();
    let path = local_file(&files, "notes.txt", b"for bob");
    let (out, lines) = collecting();
    cli::execute(alice.peer(), Command::Push(path), &out);
    eventually("the push is done", WAIT, || {
        lines.lock().unwrap().len() == 2
    })
    .await;
    let lines = lines.lock().unwrap().clone();
    assert!(
        lines[0].starts_with("push: added notes.txt as ")
            && lines[0].ends_with("; sending it to bob"),
        "{lines:?}"
    );
    assert_eq!(lines[1], "push notes.txt: done, 7 B sent to bob");
    bob.stop().await;
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_with_nobody_to_send_to_says_so() {
    let alice = spawn("alice", &[]).await;
    let files = tempfile::tempdir().unwrap();
    let path = local_file(&files, "notes.txt", b"for later");
    let (out, lines) = collecting();
    cli::execute(alice.peer(), Command::Push(path), &out);
    eventually("the push is added", WAIT, || {
        !lines.lock().unwrap().is_empty()
    })
    .await;
    let line = lines.lock().unwrap()[0].clone();
    assert!(line.contains("no peer tracked to send it to yet"), "{line}");
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_that_ends_at_once_still_prints_its_outcome() {
    let alice = spawn("alice", &[]).await;
    let files = tempfile::tempdir().unwrap();
    let meta = alice
        .peer()
        .push_path(&local_file(&files, "tiny.txt", b"tiny"))
        .await
        .unwrap();
    let bob = spawn("bob", &[alice.addr()]).await;
    eventually("bob knows tiny.txt", WAIT, || {
        bob.peer().file(&meta.file_id).is_some()
    })
    .await;
    let (out, lines) = collecting();
    cli::execute(bob.peer(), Command::Get(meta.file_id.clone()), &out);
    eventually("the get's outcome is printed", WAIT, || {
        lines.lock().unwrap().len() == 2
    })
    .await;
    let last = lines.lock().unwrap()[1].clone();
    assert!(
        last.starts_with("get tiny.txt: done, 4 B from alice, verified"),
        "{last}"
    );
    bob.stop().await;
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ambiguous_prefix_lists_the_files_it_matches() {
    let us = spawn("us", &[]).await;
    let twin = |id: &str, name: &str| FileMeta {
        file_id: id.into(),
        file_name: name.into(),
        file_size: Verbatim::integer(1),
        file_owner: "PROF".into(),
        file_timestamp: Verbatim::integer(1749713836),
    };
    let (a, b) = (
        twin(&"a1".repeat(32), "one.txt"),
        twin(&"a2".repeat(32), "two.txt"),
    );
    let reply = encode::gossip_reply("127.0.0.1", 9, "holder", [&a, &b]);
    deliver(&us.addr(), reply.as_bytes()).await;
    let (out, lines) = collecting();
    cli::execute(us.peer(), Command::Get("a".into()), &out);
    assert_eq!(
        *lines.lock().unwrap(),
        ["get: \"a\" matches 2 files: a1a1a1a1a1a1 (one.txt), a2a2a2a2a2a2 (two.txt); type more of the id"]
    );
    us.stop().await;
}

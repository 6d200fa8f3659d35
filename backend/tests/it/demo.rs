//! `peer demo`: three peers in one process that find each other and share their samples.

use crate::support::{eventually, peer_ids};
use backend::demo;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_peers_track_each_other_and_know_every_sample_file() {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo::start(dir.path(), 0).await.unwrap();
    let samples = 2 * demo::PEERS.len();
    eventually(
        "every demo peer tracks the others and knows every sample",
        Duration::from_secs(30),
        || {
            demo.nodes.iter().all(|node| {
                peer_ids(&node.peer).len() == demo::PEERS.len() - 1
                    && node.peer.files().len() == samples
            })
        },
    )
    .await;
    demo.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_demo_run_writes_no_sample_over_the_users_file() {
    let dir = tempfile::tempdir().unwrap();
    demo::start(dir.path(), 0)
        .await
        .unwrap()
        .shutdown()
        .await
        .unwrap();
    let sample = dir.path().join("alice").join("alice-notes.txt");
    std::fs::write(&sample, "the user's own notes\n").unwrap();
    let demo = demo::start(dir.path(), 0).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&sample).unwrap(),
        "the user's own notes\n"
    );
    demo.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_demo_on_a_running_ones_folder_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let running = demo::start(dir.path(), 0).await.unwrap();
    let sample = dir.path().join("alice").join("alice-notes.txt");
    std::fs::remove_file(&sample).unwrap();
    let refused = demo::start(dir.path(), 0).await.err().expect("refused");
    assert!(format!("{refused:#}").contains("in use"), "{refused:#}");
    assert!(!sample.exists(), "the sample was written again");
    running.shutdown().await.unwrap();
}

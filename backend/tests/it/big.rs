//! A file of 256 MiB between two peers: streamed, verified, byte-identical.

use crate::support::*;
use backend::protocol::{IdHasher, Verbatim};
use shared::{TransferKind, TransferStateDto};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

const SIZE: usize = 256 << 20;

/// Writes SIZE pseudo-random bytes; returns the content's hasher.
fn write_big(path: &Path) -> IdHasher {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut hasher = IdHasher::default();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..SIZE / block.len() {
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        hasher.update(&block);
        file.write_all(&block).unwrap();
    }
    hasher
}

fn hash_file(path: &Path) -> IdHasher {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = IdHasher::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            return hasher;
        }
        hasher.update(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_file_travels_intact() {
    // The file sits in alice's folder before she starts, so she indexes it as hers (in the
    // background, after start).
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("big.bin");
    let expected = write_big(&source);
    let mtime = std::fs::metadata(&source).unwrap().modified().unwrap();
    let timestamp = Verbatim::integer(mtime.duration_since(UNIX_EPOCH).unwrap().as_secs());
    let id = expected.finish(&timestamp);

    let alice = spawn_with("alice", &[], |c| c.storage = dir.path().to_path_buf()).await;
    eventually(
        "alice indexes big.bin with the expected id",
        Duration::from_secs(30),
        || holds(alice.peer(), &id),
    )
    .await;
    let bob = spawn("bob", &[alice.addr()]).await;
    eventually("bob learns of big.bin", Duration::from_secs(15), || {
        bob.peer().file(&id).is_some()
    })
    .await;

    let transfer = bob.peer().start_fetch(&id, TransferKind::Get).unwrap();
    assert_eq!(transfer.bytes_total, Some(SIZE as u64));
    let done = finished(bob.peer(), transfer.id, Duration::from_secs(300)).await;
    assert_eq!(done.state, TransferStateDto::Done, "{done:?}");
    assert_eq!(done.bytes_done, SIZE as u64);
    let copy = bob.storage().join("big.bin");
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), SIZE as u64);
    assert_eq!(hash_file(&copy).finish(&timestamp), id);
    bob.stop().await;
    alice.stop().await;
}

//! The dashboard's upload path without a network: a multipart body built from the input goes
//! through axum's `Multipart` extractor into `Peer::upload`, as the API handler drives it. It
//! never panics; an upload is kept whole or not at all, within `--max-file-size`, and leaves no
//! temporary file behind.
//!
//! Input: one byte `n`, then `n % 4` body piece lengths of one byte each, then the body (its
//! boundary is `B`).

#![no_main]

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart};
use axum::http::Request;
use backend::net::Limits;
use backend::peer::{Caps, Peer, PeerConfig};
use backend::store::Store;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::AsyncReadExt;

const MAX_FILE: u64 = 64;
const MAX_NAME: usize = 16;

struct World {
    runtime: tokio::runtime::Runtime,
    peer: Peer,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        // tmpfs where there is one: committing a file syncs it.
        let dir = tempfile::Builder::new()
            .prefix("fuzz-upload-")
            .tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .unwrap();
        let (store, index, _) = Store::open(dir.path()).unwrap();
        let config = PeerConfig {
            peer_id: "me".into(),
            host: "127.0.0.1".into(),
            p2p_port: 9,
            http_port: 9,
            gossip_interval: Duration::from_secs(30),
            peer_timeout: Duration::from_secs(60),
            auto_fetch: 0,
            limits: Limits {
                max_file: MAX_FILE,
                ..Limits::default()
            },
            caps: Caps {
                max_name: MAX_NAME,
                ..Caps::default()
            },
        };
        World {
            // Time, for the wait of a second when the same content is added twice within one.
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap(),
            peer: Peer::new(config, store, index),
            _dir: dir,
        }
    })
}

/// Whether the storage folder holds nothing but the saved index and tombstones.
fn only_the_index(peer: &Peer) -> bool {
    std::fs::read_dir(peer.store().dir()).unwrap().all(|entry| {
        let name = entry.unwrap().file_name();
        name == "metadata.json" || name == ".tombstones.json"
    })
}

/// The API handler's loop: the first field named `file` is the upload, named by the `name`
/// field before it if there is one, else by its own file name.
async fn upload(peer: &Peer, request: Request<Body>) {
    let Ok(mut form) = Multipart::from_request(request, &()).await else {
        return;
    };
    let mut named = None;
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("file") => {}
            Some("name") => {
                let Ok(text) = field.text().await else {
                    return;
                };
                named = Some(text);
                continue;
            }
            _ => continue,
        }
        let name = match &named {
            Some(name) => name.clone(),
            None => field.file_name().unwrap_or_default().to_string(),
        };
        let Ok(meta) = peer.upload(&name, field).await else {
            return;
        };
        let mut copy = peer
            .open_copy(&meta.file_id)
            .await
            .expect("an upload is held");
        let mut content = Vec::new();
        copy.file.read_to_end(&mut content).await.unwrap();
        assert!(content.len() as u64 <= MAX_FILE);
        assert_eq!(content.len() as u64, copy.len);
        assert!(meta.file_name.len() <= MAX_NAME);
        assert!(!meta.file_name.trim().is_empty());
        assert_eq!(
            meta.file_id,
            backend::protocol::file_id(&content, &meta.file_timestamp)
        );
        peer.delete(&meta.file_id).expect("our own file");
        return;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(n % 4).min(rest.len());
    let (lengths, body) = rest.split_at(count);
    let mut pieces: Vec<Result<Bytes, std::io::Error>> = Vec::new();
    let mut tail = body;
    for &len in lengths {
        let (piece, after) = tail.split_at(usize::from(len).min(tail.len()));
        pieces.push(Ok(Bytes::copy_from_slice(piece)));
        tail = after;
    }
    pieces.push(Ok(Bytes::copy_from_slice(tail)));
    let request = Request::post("/api/files")
        .header("content-type", "multipart/form-data; boundary=B")
        .body(Body::from_stream(futures_util::stream::iter(pieces)))
        .unwrap();

    let world = world();
    world.runtime.block_on(upload(&world.peer, request));
    assert!(world.peer.files().is_empty(), "every upload is deleted");
    // A deleted copy is removed at the next save of the index, which the node's persister
    // makes and this harness makes here.
    world.peer.save_index().unwrap();
    assert!(
        only_the_index(&world.peer),
        "no temporary file or copy is left"
    );
});

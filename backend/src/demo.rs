//! `peer demo`: a small live network on loopback, in one process, for a first look at the
//! product without the class network. Three peers (alice, bob and carol) with a few sample
//! files each, gossiping every second; bob and carol bootstrap to alice.
//!
//! Each peer keeps its folder under the demo folder, so a second run finds the files of the
//! first (and any the user added); the sample files are only written where missing.

use crate::config::Cli;
use crate::node::{Node, NodeConfig};
use anyhow::Context;
use clap::Parser;
use std::path::Path;

/// The demo's peers, in start order; the first is the one whose dashboard is printed.
pub const PEERS: [&str; 3] = ["alice", "bob", "carol"];

/// Each peer's sample files: name and content.
fn samples(peer: &str) -> Vec<(String, String)> {
    vec![
        (
            format!("{peer}-notes.txt"),
            format!("Notes of {peer}, shared on the demo network.\n"),
        ),
        (
            format!("{peer}-hello.md"),
            format!("# Hello from {peer}\n\nGet this file from another peer's dashboard.\n"),
        ),
    ]
}

/// The three running peers.
pub struct Demo {
    pub nodes: Vec<Node>,
    /// The demo folder, held until the peers stop: a second demo started on it would write
    /// its missing samples into the running peers' folders before it found them held.
    _lock: std::fs::File,
}

/// Starts the demo network in `dir` (created if missing). The first peer's dashboard listens
/// on `http_port` (0: any free port); every other port is picked free.
pub async fn start(dir: &Path, http_port: u16) -> anyhow::Result<Demo> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock = crate::store::lock_folder(dir)
        .with_context(|| format!("holding the demo folder {}", dir.display()))?;
    let mut nodes: Vec<Node> = Vec::new();
    for (i, id) in PEERS.into_iter().enumerate() {
        let storage = dir.join(id);
        std::fs::create_dir_all(&storage)
            .with_context(|| format!("creating {}", storage.display()))?;
        for (name, content) in samples(id) {
            let path = storage.join(name);
            if !path.exists() {
                std::fs::write(&path, content)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        // Exactly the peer that this command line would start, with every other default.
        let http_port = if i == 0 { http_port } else { 0 }.to_string();
        let bootstrap = match nodes.first() {
            Some(first) => first.p2p_addr.to_string(),
            None => "none".to_string(),
        };
        let storage = storage.to_string_lossy();
        let args = [
            "peer",
            id,
            "127.0.0.1",
            "0",
            &http_port,
            "--bootstrap",
            &bootstrap,
            "--storage",
            &storage,
            "--gossip-interval",
            "1s",
            "--peer-timeout",
            "10s",
            "--sweep-interval",
            "1s",
            "--p2p-bind",
            "127.0.0.1",
            "--http-bind",
            "127.0.0.1",
        ];
        let cli = Cli::try_parse_from(args)?;
        let node = Node::start(NodeConfig::from_cli(&cli))
            .await
            .with_context(|| format!("starting demo peer {id}"))?;
        nodes.push(node);
    }
    Ok(Demo { nodes, _lock: lock })
}

impl Demo {
    /// Stops every peer, saving each index.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let mut saved = Ok(());
        for node in self.nodes {
            saved = saved.and(node.shutdown().await);
        }
        saved
    }
}

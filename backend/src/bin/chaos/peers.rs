//! The peer processes and their HTTP API, as the chaos runner drives them.

use crate::common::{http, PeerProcess};
use anyhow::{bail, Result};
use shared::FileDto;
use std::path::Path;

/// Starts a peer on loopback with free ports and fast timers, and waits for its addresses.
pub fn start(bin: &Path, id: &str, storage: &Path, bootstrap: &str) -> Result<PeerProcess> {
    PeerProcess::start(bin, id, |command| {
        command
            .args(["--bootstrap", bootstrap, "--storage"])
            .arg(storage)
            .args(["--auto-fetch", "0", "--gossip-interval", "200ms"])
            .args(["--peer-timeout", "600s", "--p2p-bind", "127.0.0.1"]);
    })
}

/// Uploads `bytes` as `name` to the peer's API (which stores and pushes it); returns the new
/// file, or an error if the peer died meanwhile.
pub fn upload(port: u16, name: &str, bytes: &[u8]) -> Result<FileDto> {
    let boundary = "chaos-boundary-7f3a";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let (status, reply) = http(port, "POST", "/api/files", &content_type, &body)?;
    if status != 201 {
        bail!("upload of {name}: HTTP {status}: {reply}");
    }
    Ok(serde_json::from_str(&reply)?)
}

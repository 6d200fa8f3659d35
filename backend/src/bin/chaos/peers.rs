//! The peer processes and their HTTP API, as the chaos runner drives them.

use anyhow::{anyhow, bail, Context, Result};
use shared::FileDto;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a peer may take to print its addresses.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// A running `peer` child process and its ports.
pub struct PeerProcess {
    pub child: Child,
    /// Kept open so the peer's console sees no end of input.
    _stdin: Option<ChildStdin>,
    pub p2p_port: u16,
    pub http_port: u16,
}

impl PeerProcess {
    /// Starts a peer on loopback with free ports and fast timers, and waits for its addresses.
    pub fn start(bin: &Path, id: &str, storage: &Path, bootstrap: &str) -> Result<Self> {
        let mut child = Command::new(bin)
            .args([id, "127.0.0.1", "0", "0", "--bootstrap", bootstrap])
            .arg("--storage")
            .arg(storage)
            .args(["--auto-fetch", "0", "--gossip-interval", "200ms"])
            .args(["--peer-timeout", "600s", "--p2p-bind", "127.0.0.1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no stdout pipe"))?;
        let mut process = PeerProcess {
            child,
            _stdin: stdin,
            p2p_port: 0,
            http_port: 0,
        };
        // Forward stdout lines until the peer exits, so its pipe never fills up.
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = lines_tx.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        while process.p2p_port == 0 || process.http_port == 0 {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = lines_rx
                .recv_timeout(wait)
                .map_err(|_| anyhow!("peer {id} did not print its addresses"))?;
            if let Some(port) = port_after(&line, " listening for peers on ") {
                process.p2p_port = port;
            } else if let Some(port) = port_after(&line, "dashboard: http://") {
                process.http_port = port;
            }
        }
        Ok(process)
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port of the `host:port` that follows `marker` in `line`.
fn port_after(line: &str, marker: &str) -> Option<u16> {
    let rest = line.split_once(marker)?.1;
    let authority = rest.split(['/', ' ']).next()?;
    authority.rsplit_once(':')?.1.parse().ok()
}

/// Uploads `bytes` as `name` to the peer's API (which stores and pushes it); returns the new
/// file, or an error if the peer died meanwhile.
pub fn upload(port: u16, name: &str, bytes: &[u8]) -> Result<Option<FileDto>> {
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
    Ok(Some(serde_json::from_str(&reply)?))
}

/// Starts a fetch of `file_id` on the peer.
pub fn fetch(port: u16, file_id: &str) -> Result<()> {
    let (status, reply) = http(
        port,
        "POST",
        &format!("/api/files/{file_id}/fetch"),
        "",
        &[],
    )?;
    if status != 202 {
        bail!("fetch of {file_id}: HTTP {status}: {reply}");
    }
    Ok(())
}

/// `GET path`, decoded from JSON.
pub fn get_json<T: serde::de::DeserializeOwned>(port: u16, path: &str) -> Result<T> {
    let (status, body) = http(port, "GET", path, "", &[])?;
    if status != 200 {
        bail!("GET {path}: HTTP {status}: {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("GET {path}: unexpected reply {body}"))
}

/// A minimal HTTP/1.1 exchange with `127.0.0.1:port`; returns the status and the body. The
/// API answers JSON with a `Content-Length`, so the body is what follows the head.
fn http(
    port: u16,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .with_context(|| format!("{method} {path}: connecting"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    if !content_type.is_empty() {
        request.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("{method} {path}: truncated response"))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow!("{method} {path}: bad status line"))?;
    Ok((
        status,
        String::from_utf8_lossy(&response[split + 4..]).into_owned(),
    ))
}

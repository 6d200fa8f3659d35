//! What the benchmark and crash-test programs share: a `peer` child process started on
//! loopback with free ports, a minimal HTTP client for its API, and the dashboard's size as
//! served. Each program uses part of it, so unused items are allowed here.
#![allow(dead_code)]

pub mod app_size;

use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a peer may take to print its addresses.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `peer` child process and the ports it listens on. Killed when dropped.
pub struct PeerProcess {
    /// Its peer id, for messages.
    pub name: String,
    pub child: Child,
    /// Kept open so the peer's console sees no end of input.
    _stdin: Option<ChildStdin>,
    /// Port of the peer protocol.
    pub p2p_port: u16,
    /// Port of the HTTP API.
    pub http_port: u16,
}

impl PeerProcess {
    /// Starts `bin` as peer `name` on 127.0.0.1 with both ports free, with the options that
    /// `options` adds (stderr too, if it should not be discarded), and waits until it has
    /// printed both of its addresses.
    pub fn start(bin: &Path, name: &str, options: impl FnOnce(&mut Command)) -> Result<Self> {
        let mut command = Command::new(bin);
        command
            .args([name, "127.0.0.1", "0", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        options(&mut command);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("peer {name}: no stdout pipe"))?;
        let mut peer = PeerProcess {
            name: name.to_string(),
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
        while peer.p2p_port == 0 || peer.http_port == 0 {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = match lines_rx.recv_timeout(wait) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("peer {name} printed no addresses within {START_TIMEOUT:?}")
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("peer {name} exited before printing its addresses")
                }
            };
            if let Some(port) = port_after(&line, " listening for peers on ") {
                peer.p2p_port = port;
            } else if let Some(port) = port_after(&line, "dashboard: http://") {
                peer.http_port = port;
            }
        }
        Ok(peer)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        // Harmless when it has already exited and been waited for.
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

/// `GET path` on the API at `127.0.0.1:port`, decoded from JSON.
pub fn get_json<T: serde::de::DeserializeOwned>(port: u16, path: &str) -> Result<T> {
    let (status, body) = http(port, "GET", path, "", &[])?;
    if status != 200 {
        bail!("GET {path}: HTTP {status}: {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("GET {path}: unexpected reply {body}"))
}

/// `POST /api/files/{file_id}/fetch` on the API at `127.0.0.1:port`: starts a get; returns the
/// new transfer.
pub fn start_fetch(port: u16, file_id: &str) -> Result<shared::TransferDto> {
    let path = format!("/api/files/{file_id}/fetch");
    let (status, body) = http(port, "POST", &path, "", &[])?;
    if status != 202 {
        bail!("fetch of {file_id}: HTTP {status}: {body}");
    }
    serde_json::from_str(&body)
        .with_context(|| format!("fetch of {file_id}: unexpected reply {body}"))
}

/// A minimal HTTP/1.1 exchange with `127.0.0.1:port`; returns the status and the body
/// (de-chunked if need be) as text. `content_type` is left out when empty.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> Result<(u16, String)> {
    let mut headers = vec![("Accept", "application/json")];
    if !content_type.is_empty() {
        headers.push(("Content-Type", content_type));
    }
    let reply = exchange(port, method, path, &headers, body)?;
    let body = String::from_utf8(reply.body)
        .with_context(|| format!("{method} {path} on port {port}: body is not UTF-8"))?;
    Ok((reply.status, body))
}

/// An HTTP response as [`exchange`] read it.
pub struct Reply {
    pub status: u16,
    /// The status line and the header lines.
    pub head: String,
    /// The body, de-chunked if it was chunked, otherwise as it came (still compressed if the
    /// server compressed it).
    pub body: Vec<u8>,
}

impl Reply {
    /// The value of header `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// One request to `127.0.0.1:port` on a new connection, with `headers` beside `Host`,
/// `Content-Length` and `Connection: close`; the response is read to its end.
pub fn exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Reply> {
    let what = || format!("{method} {path} on port {port}");
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .with_context(|| format!("connecting for {}", what()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .with_context(what)?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).with_context(what)?;
    stream.write_all(body).with_context(what)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).with_context(what)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("{}: truncated response", what()))?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let body = &response[split + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow!("{}: bad status line in {head:?}", what()))?;
    let mut reply = Reply {
        status,
        head,
        body: Vec::new(),
    };
    reply.body = if reply
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(body).ok_or_else(|| anyhow!("{}: bad chunked body", what()))?
    } else {
        body.to_vec()
    };
    Ok(reply)
}

/// Decodes a `Transfer-Encoding: chunked` body; `None` if it is malformed.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

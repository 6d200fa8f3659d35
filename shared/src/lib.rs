//! The JSON types of the peer's HTTP and WebSocket API.
//!
//! These are an API boundary: the backend converts its own state into them and the frontend
//! reads them. They never appear on the peer-to-peer wire, which has its own types.

use serde::{Deserialize, Serialize};

/// This peer: `GET /api/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusDto {
    /// Our peer id on the network.
    pub peer_id: String,
    /// The host we advertise in GOSSIP messages.
    pub host: String,
    /// TCP port of the peer-to-peer listener.
    pub p2p_port: u16,
    /// TCP port of the HTTP server (dashboard and API).
    pub http_port: u16,
    /// Version of the peer program.
    pub version: String,
    /// Seconds since the peer started.
    pub uptime_secs: u64,
    /// Number of tracked peers.
    pub peer_count: usize,
    /// Number of files known on the network.
    pub file_count: usize,
    /// Number of files we hold a copy of.
    pub held_count: usize,
}

/// Whether a tracked peer was heard from recently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerStateDto {
    /// Heard from within half of the drop timeout.
    Alive,
    /// Silent for more than half of the drop timeout; it will be dropped if it stays silent.
    Quiet,
}

/// A tracked peer: `GET /api/peers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerDto {
    /// The peer's id.
    pub peer_id: String,
    /// The host it advertised.
    pub host: String,
    /// The port it advertised.
    pub port: u16,
    /// When we last heard from it, in Unix milliseconds.
    pub last_seen_ms: u64,
    /// Alive or quiet, at the time the DTO was made.
    pub state: PeerStateDto,
}

/// A file known on the network: `GET /api/files`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileDto {
    /// SHA-256 of content followed by the timestamp text; the key of everything.
    pub file_id: String,
    /// The name as announced (display only; untrusted).
    pub file_name: String,
    /// Size in bytes, from the announced size (MB as a float; some peers send bytes as an
    /// integer). `None` when it is not a usable number.
    pub size_bytes: Option<u64>,
    /// The owner as announced.
    pub file_owner: String,
    /// The timestamp exactly as it was announced (a number or a string).
    pub file_timestamp: String,
    /// The timestamp in Unix seconds, when it is a number.
    pub timestamp_secs: Option<f64>,
    /// Peers recorded as holding a copy, this one included when it holds one.
    pub holders: Vec<String>,
    /// Whether we hold a verified copy.
    pub has_copy: bool,
    /// Whether we are the owner (and so may delete it).
    pub owned: bool,
}

/// What started a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    /// A `get` from the console or the dashboard.
    Get,
    /// A fetch started automatically at start-up.
    AutoFetch,
    /// A file we pushed to another peer.
    Push,
    /// A file another peer pushed to us.
    Incoming,
}

/// Where a transfer stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TransferStateDto {
    /// Bytes are moving.
    Running,
    /// Finished and, for downloads, verified.
    Done,
    /// Gave up; `reason` says why.
    Failed {
        /// A human-readable reason.
        reason: String,
    },
}

/// A transfer: `GET /api/transfers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferDto {
    /// Unique within this run of the peer.
    pub id: u64,
    /// What started it.
    pub kind: TransferKind,
    /// The file being moved.
    pub file_id: String,
    /// Its name, for display.
    pub file_name: String,
    /// The source (downloads) or target (pushes) peer, once known.
    pub peer: Option<String>,
    /// Bytes moved so far.
    pub bytes_done: u64,
    /// Expected size in bytes, when known.
    pub bytes_total: Option<u64>,
    /// Unix milliseconds when it started.
    pub started_ms: u64,
    /// Unix milliseconds when it finished or failed.
    pub finished_ms: Option<u64>,
    /// Running, done or failed.
    #[serde(flatten)]
    pub state: TransferStateDto,
}

/// Severity of an event-log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Normal activity.
    Info,
    /// Something went wrong but the peer carries on.
    Warn,
}

/// One line of the event log: what the peer did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Unix milliseconds.
    pub at_ms: u64,
    /// Severity.
    pub level: LogLevel,
    /// What happened.
    pub message: String,
}

/// Everything the dashboard shows, sent first on the WebSocket and after a client lags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotDto {
    /// This peer.
    pub status: StatusDto,
    /// Tracked peers.
    pub peers: Vec<PeerDto>,
    /// Known files.
    pub files: Vec<FileDto>,
    /// Recent transfers, oldest first.
    pub transfers: Vec<TransferDto>,
    /// Recent event-log lines, oldest first.
    pub log: Vec<LogEntry>,
}

/// One message on `GET /api/events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum ServerEvent {
    /// The whole state; replaces whatever the client had.
    Snapshot(SnapshotDto),
    /// A peer was tracked or heard from.
    PeerSeen(PeerDto),
    /// A peer was dropped after staying silent.
    PeerDropped {
        /// The dropped peer's id.
        peer_id: String,
    },
    /// A file was added or changed.
    FileChanged(FileDto),
    /// A file was removed.
    FileRemoved {
        /// The removed file's id.
        file_id: String,
    },
    /// A transfer started, progressed, finished or failed.
    Transfer(TransferDto),
    /// A line for the event log.
    Log(LogEntry),
}

/// The body of every API error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for a human.
    pub error: String,
}

//! The JSON types of the peer's HTTP and WebSocket API.
//!
//! These are an API boundary: the backend converts its own state into them and the frontend
//! reads them. They never appear on the peer-to-peer wire, which has its own types.
//!
//! With the `openapi` feature (the backend's, never the wasm dashboard's) every type also
//! derives `utoipa::ToSchema`, so `GET /api/openapi.json` is generated from these very types.
//!
//! Besides the types, one rule both sides apply: [`name_refusal`], for an upload's name.

use serde::{Deserialize, Serialize};

mod names;
pub use names::{name_refusal, NameRefusal, DEFAULT_MAX_NAME_LEN};

mod transfer_de;

/// This peer: `GET /api/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Largest file the peer accepts, uploads included, in bytes (absent from older peers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_size: Option<u64>,
    /// Longest file name the peer accepts, in bytes (absent from older peers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_name_len: Option<usize>,
    /// The peer's clock when this status was made, in Unix ms (absent from older peers). The
    /// peer's other times, such as a peer's `last_seen_ms`, are on this clock, which may be
    /// set apart from the reader's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now_ms: Option<u64>,
}

/// Whether a tracked peer was heard from recently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PeerStateDto {
    /// Heard from within half of the drop timeout.
    Alive,
    /// Silent for more than half of the drop timeout; it will be dropped if it stays silent.
    Quiet,
}

/// A tracked peer: `GET /api/peers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// How it has served us. Added after the first release: absent from older peers, and
    /// omitted when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<PeerHealthDto>,
}

/// How a tracked peer has served us since we started tracking it: `PeerDto::health`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerHealthDto {
    /// Messages (GOSSIP, GOSSIP_REPLY, ANNOUNCE, DELETE) that named it as their sender.
    pub messages_received: u64,
    /// Milliseconds from dialing to the first byte of its last GET_FILE reply; `None` before
    /// any reply (a peer that closes without sending a byte gives none).
    pub first_byte_ms: Option<u64>,
    /// Gets it served with a copy that verified.
    pub gets_ok: u64,
    /// Gets from it that failed, for any reason (the three counts below included).
    pub gets_failed: u64,
    /// Copies it sent whose content did not hash to their id.
    pub bad_copies: u64,
    /// Replies that ended before the message was whole.
    pub truncated: u64,
    /// Replies that came too late or too slowly.
    pub stalls: u64,
    /// Why the last failed get from it failed.
    pub last_error: Option<String>,
}

/// `GET /api/health`: answered while the peer is up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthDto {
    /// Always `"ok"`.
    pub status: String,
    /// Our peer id on the network.
    pub peer_id: String,
    /// Seconds since the peer started.
    pub uptime_secs: u64,
}

/// A file known on the network: `GET /api/files`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// A transfer: `GET /api/transfers`. Its `Deserialize` is written by hand (`transfer_de`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Normal activity.
    Info,
    /// Something went wrong but the peer carries on.
    Warn,
}

/// One line of the event log: what the peer did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong, for a human.
    pub error: String,
}

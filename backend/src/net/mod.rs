//! Bytes in and out of sockets: dialing with deadlines, sending one message per connection,
//! fetching a file, streaming a `FILE_DATA` from disk, and (in [`server`]) the accept loop.
//! No decisions about peers or files live here.

pub mod server;

use crate::protocol::{encode, DecodeError, Decoder, FileMeta, Message};
use crate::store::{Store, TempFile};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Socket deadlines, size caps and the limits that keep strangers from exhausting us.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connecting.
    pub connect: Duration,
    /// Waiting for the first byte of a `FILE_DATA` reply (one real server answers after 15 s).
    pub first_byte: Duration,
    /// Any later read or write making no progress.
    pub idle: Duration,
    /// A whole control message (anything but FILE_DATA's content) must arrive within this.
    pub message_deadline: Duration,
    /// Largest message other than `FILE_DATA`'s content.
    pub max_control: usize,
    /// Largest file we accept.
    pub max_file: u64,
    /// Most concurrent inbound connections from one source address.
    pub max_per_source: usize,
    /// Slowest transfer we keep, in bytes per second after the first byte, averaged over
    /// `rate_window`; a slower one is abandoned (and the next holder tried).
    pub min_rate: u64,
    /// The window `min_rate` is measured over.
    pub rate_window: Duration,
    /// GOSSIP_REPLYs accepted per second from one source address (bursts of five times
    /// that are allowed).
    pub gossip_reply_rate: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(20),
            idle: Duration::from_secs(30),
            message_deadline: Duration::from_secs(10),
            max_control: 8 << 20,
            max_file: 4 << 30,
            max_per_source: 32,
            min_rate: 16 << 10,
            rate_window: Duration::from_secs(10),
            gossip_reply_rate: 20,
        }
    }
}

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The peer could not be reached or the socket failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Nothing arrived in time.
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// The connection closed before the message was complete.
    #[error("connection closed before the message was complete")]
    Truncated,
    /// The bytes were not a valid message.
    #[error("bad reply: {0}")]
    Decode(#[from] DecodeError),
    /// The peer said it does not have the file.
    #[error("peer does not have the file")]
    NotFound,
    /// The reply was some other message.
    #[error("unexpected {0} reply")]
    Unexpected(&'static str),
    /// The file is larger than we accept.
    #[error("file larger than the limit of {0} bytes")]
    TooLarge(u64),
}

/// Opens a connection within the connect deadline.
pub async fn connect(addr: &str, limits: &Limits) -> Result<TcpStream, NetError> {
    let stream = timeout(limits.connect, TcpStream::connect(addr))
        .await
        .map_err(|_| NetError::Timeout("connecting"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Writes all of `bytes` within the idle deadline.
async fn write_within(
    stream: &mut TcpStream,
    bytes: &[u8],
    limits: &Limits,
) -> Result<(), NetError> {
    timeout(limits.idle, stream.write_all(bytes))
        .await
        .map_err(|_| NetError::Timeout("sending"))??;
    Ok(())
}

/// Sends one message on a new connection and closes it.
pub async fn send(addr: &str, message: &str, limits: &Limits) -> Result<(), NetError> {
    let mut stream = connect(addr, limits).await?;
    write_within(&mut stream, message.as_bytes(), limits).await
}

/// Reads one message from `stream`. The content of a `data` string is written to a temporary
/// file in `store`, opened when the first byte of it arrives, and returned with the message
/// (on error it is dropped, which deletes it). `first` bounds the wait for the first byte;
/// `progress` sees the content bytes so far.
pub async fn read_message(
    stream: &mut TcpStream,
    limits: &Limits,
    first: Duration,
    store: &Store,
    mut progress: impl FnMut(u64),
) -> Result<(Message, Option<TempFile>), NetError> {
    let mut decoder = Decoder::new(limits.max_control);
    let mut buf = vec![0u8; 64 * 1024];
    let mut chunk = Vec::with_capacity(32 * 1024);
    let mut content: Option<TempFile> = None;
    let mut wait = first;
    loop {
        let n = timeout(wait, stream.read(&mut buf))
            .await
            .map_err(|_| NetError::Timeout("waiting for data"))??;
        if n == 0 {
            return Err(NetError::Truncated);
        }
        wait = limits.idle;
        let message = decoder.feed(&buf[..n], &mut chunk)?;
        if !chunk.is_empty() {
            if decoder.decoded_bytes() > limits.max_file {
                return Err(NetError::TooLarge(limits.max_file));
            }
            let file = match &mut content {
                Some(file) => file,
                None => content.insert(store.temp_file().await?),
            };
            file.write(&chunk).await?;
            chunk.clear();
            progress(decoder.decoded_bytes());
        }
        if let Some(message) = message {
            return Ok((message, content));
        }
    }
}

/// Asks `addr` for `file_id` and streams the content into a temporary file in `store`.
/// Returns the reply's description and the content; the caller verifies one against the other.
pub async fn fetch(
    addr: &str,
    file_id: &str,
    store: &Store,
    limits: &Limits,
    progress: impl FnMut(u64),
) -> Result<(FileMeta, TempFile), NetError> {
    let mut stream = connect(addr, limits).await?;
    // No half-close after the request: one real server drops its reply when we do.
    write_within(&mut stream, encode::get_file(file_id).as_bytes(), limits).await?;
    let (message, content) =
        read_message(&mut stream, limits, limits.first_byte, store, progress).await?;
    match message {
        Message::FileData(Some(meta)) if meta.file_id == file_id => {
            let content = match content {
                Some(file) => file,
                None => store.temp_file().await?, // an empty file
            };
            Ok((meta, content))
        }
        Message::FileData(_) => Err(NetError::NotFound),
        other => Err(NetError::Unexpected(other.kind())),
    }
}

/// Writes a whole `FILE_DATA` for `meta` with the content of `file`, hex-encoded as it is read
/// from disk; `progress` sees the content bytes sent so far.
pub async fn write_file_data(
    stream: &mut TcpStream,
    meta: &FileMeta,
    mut file: tokio::fs::File,
    limits: &Limits,
    mut progress: impl FnMut(u64),
) -> Result<u64, NetError> {
    write_within(stream, encode::file_data_head(meta).as_bytes(), limits).await?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut hex = Vec::with_capacity(128 * 1024);
    let mut sent = 0u64;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hex.clear();
        encode::hex_into(&buf[..n], &mut hex);
        write_within(stream, &hex, limits).await?;
        sent += n as u64;
        progress(sent);
    }
    write_within(stream, encode::FILE_DATA_TAIL.as_bytes(), limits).await?;
    stream.flush().await?;
    Ok(sent)
}

//! Bytes in and out of sockets: dialing with deadlines, sending one message per connection,
//! reading one message under the clock rules of [`pace`], fetching a file, streaming a
//! `FILE_DATA` from disk, and answering a GET_FILE so that the reply arrives whole. The
//! listener is in [`server`] and its bookkeeping in [`admission`]. No decisions about peers or
//! files live here, and nothing here knows the peer: the listener reaches it through
//! [`server::Handler`].

pub mod admission;
mod outgoing;
mod pace;
pub mod server;

pub use pace::Role;

use crate::protocol::{encode, DecodeError, Decoder, FileMeta, Message};
use crate::refusal::Reason;
use crate::store::{self, Piece, Store, TempFile};
use pace::{Cut, Pace};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::timeout;

/// How long we keep reading (and discarding) after a reply, waiting for the client to close.
const LINGER: Duration = Duration::from_secs(3);
/// How much we read (and discard) after a reply, at most.
const LINGER_BYTES: usize = 64 * 1024;
/// The size of socket reads once a file's content streams in.
const READ_BUF: usize = 512 << 10;
/// The size of socket reads before that: most messages are small, and a buffer is zeroed
/// when it is made.
const FIRST_READ_BUF: usize = 16 << 10;

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
    /// Largest GOSSIP_REPLY (and a message whose type is not read yet); every other message,
    /// `FILE_DATA`'s fields before its content included, is held to the smaller
    /// `MAX_SMALL_MESSAGE`.
    pub max_control: usize,
    /// Largest file we accept.
    pub max_file: u64,
    /// Most concurrent inbound connections from one source address.
    pub max_per_source: usize,
    /// Most file contents moving through the listener at once (pushes received, GET_FILE
    /// replies sent): each holds a blocking thread or two and up to a few MiB of buffers.
    pub max_transfers: usize,
    /// Slowest transfer we keep, in wire bytes per second over each `rate_window`: a reply
    /// from its first byte, a push or a `FILE_DATA` we send from the first byte of its
    /// content. A slower one is abandoned (and the next holder tried); 0 keeps any.
    pub min_rate: u64,
    /// The window `min_rate` is measured over.
    pub rate_window: Duration,
    /// GOSSIP_REPLYs accepted per second from one source address (bursts of five times
    /// that are allowed); 0 accepts all.
    pub gossip_reply_rate: u32,
    /// Most bytes of partly read messages the listener holds for all its connections
    /// together, beyond the first [`crate::protocol::MAX_SMALL_MESSAGE`] of each (which any
    /// message but a GOSSIP_REPLY stays within): without it, every connection could hold a
    /// GOSSIP_REPLY of `max_control` bytes, gigabytes in all.
    pub max_buffered: usize,
    /// Most of our own one-message sends (GOSSIP, GOSSIP_REPLY, ANNOUNCE, DELETE) asked for
    /// and not yet made, whether waiting for one of the [`SEND_SOCKETS`] or in flight; a send
    /// beyond it is dropped and counted. Strangers choose where most of them go.
    pub max_sends: usize,
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
            max_transfers: 64,
            min_rate: 16 << 10,
            rate_window: Duration::from_secs(10),
            gossip_reply_rate: 20,
            // Eight GOSSIP_REPLYs of the largest size at once; real ones are a few KiB.
            max_buffered: 64 << 20,
            // A newcomer to a network of N peers is greeted by every one of them and answers
            // and forwards each greeting at once: about 4N sends in a burst (up to 395 in
            // flight at 100 peers in gossip-bench with `lean`; 1,427 with `every`, the machine
            // saturated). 2,048 takes the bursts of 500 peers, and holds at most as many
            // messages (GOSSIPs and ANNOUNCEs are under 2 KiB) while sockets free up.
            max_sends: 2048,
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
    #[error("bad message: {0}")]
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
    /// The control part of the message was not whole in time.
    #[error("message not complete within {0:?}")]
    Deadline(Duration),
    /// The transfer fell below the minimum rate.
    #[error("too slow: {got} bytes in {window:?}, {needed} needed")]
    Slow {
        got: u64,
        needed: u64,
        window: Duration,
    },
    /// A pushed file would take the files pushed to us past the storage quota.
    #[error("pushed files would exceed the storage quota")]
    OverQuota,
    /// As many files as we move at once are moving already.
    #[error("too many transfers at once")]
    Busy,
    /// The listener holds as many bytes of partly read messages as it may.
    #[error("too many bytes of messages held at once")]
    Buffered,
    /// No socket for a send came free within the connect deadline: [`SEND_SOCKETS`] sends
    /// were in flight all along.
    #[error("no socket free for {0:?}: too many sends in flight")]
    NoSocket(Duration),
    /// Our storage could not take the content (a full disk, typically): not the sender's
    /// fault.
    #[error("could not store it: {0}")]
    Store(io::Error),
}

impl NetError {
    /// The refusal this error is, when the sender broke one of our rules.
    pub fn refusal(&self) -> Option<Reason> {
        match self {
            NetError::Decode(_) => Some(Reason::Decode),
            NetError::TooLarge(_) => Some(Reason::FileTooLarge),
            NetError::Deadline(_) => Some(Reason::MessageDeadline),
            NetError::Slow { .. } => Some(Reason::SlowTransfer),
            NetError::OverQuota => Some(Reason::StorageQuota),
            NetError::Busy => Some(Reason::Transfers),
            NetError::Buffered => Some(Reason::Buffered),
            _ => None,
        }
    }

    fn cut(cut: Cut, limits: &Limits) -> Self {
        match cut {
            Cut::FirstByte => NetError::Timeout("waiting for the reply"),
            Cut::Idle => NetError::Timeout("waiting for data"),
            Cut::Deadline => NetError::Deadline(limits.message_deadline),
            Cut::Slow { got, needed } => NetError::Slow {
                got,
                needed,
                window: limits.rate_window,
            },
        }
    }
}

/// Where the content of a `FILE_DATA` goes as it arrives.
pub trait Sink: Send {
    /// The first bytes of the message arrived.
    fn began(&mut self) {}
    /// The content began: a temporary file for it (opened only now, so a GOSSIP costs none).
    fn open(&mut self) -> impl Future<Output = Result<TempFile, NetError>> + Send;
    /// `total` content bytes have arrived (they are written only if this is `Ok`).
    fn arrived(&mut self, total: u64) -> Result<(), NetError>;
    /// The message so far takes `bytes` of memory (its content aside); `Err` refuses it.
    fn buffered(&mut self, bytes: usize) -> Result<(), NetError> {
        let _ = bytes;
        Ok(())
    }
}

/// Most host-name lookups running at once, in the whole process. A lookup runs on one of
/// tokio's blocking threads and cannot be cancelled: for a name whose DNS server does not
/// answer, it goes on for the resolver's own timeouts and retries, often tens of seconds, long
/// after the connect deadline gave up on it. The names come from strangers' GOSSIPs, so
/// without a cap a flood of such names would take every blocking thread, which the store's
/// disk work needs too. The names of a real network take milliseconds to look up.
const LOOKUPS: usize = 32;

static LOOKUP_SLOTS: Semaphore = Semaphore::const_new(LOOKUPS);

/// Opens a connection within the connect deadline, which covers looking up a host name.
pub async fn connect(addr: &str, limits: &Limits) -> Result<TcpStream, NetError> {
    let open = async {
        let addrs = resolve(&LOOKUP_SLOTS, addr, lookup).await?;
        TcpStream::connect(&addrs[..]).await
    };
    let stream = timeout(limits.connect, open)
        .await
        .map_err(|_| NetError::Timeout("connecting"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// `addr` (`host:port`) as socket addresses: at once for an IP address, else by `lookup` on
/// a blocking thread that holds one of `slots` until the lookup ends, however long after the
/// caller stopped waiting for it.
async fn resolve(
    slots: &'static Semaphore,
    addr: &str,
    lookup: impl FnOnce(&str) -> io::Result<Vec<SocketAddr>> + Send + 'static,
) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = addr.parse::<SocketAddr>() {
        return Ok(vec![ip]);
    }
    let slot = slots.acquire().await.map_err(io::Error::other)?;
    let addr = addr.to_string();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        lookup(&addr)
    })
    .await
    .map_err(io::Error::other)?
}

/// The system's lookup of a `host:port`.
fn lookup(addr: &str) -> io::Result<Vec<SocketAddr>> {
    std::net::ToSocketAddrs::to_socket_addrs(addr).map(Iterator::collect)
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

/// Most sockets of [`send`] open at once, in the whole process (descriptors are the
/// process's, whatever the number of peers in it). A send to a blackholed address holds its
/// socket for the connect deadline, and strangers choose many addresses: with the listener's
/// 512 connections and 64 transfers (a file each), 256 keeps a flood of such sends under the
/// common soft limit of 1,024 descriptors. Sends beyond it wait (see [`send`]); a socket is
/// held for a connect and a write, milliseconds on a LAN, so a burst drains at once.
pub const SEND_SOCKETS: usize = 256;

static SEND_SLOTS: Semaphore = Semaphore::const_new(SEND_SOCKETS);

/// Sends one message on a new connection and closes it. Waits for one of the
/// [`SEND_SOCKETS`] first, up to the connect deadline ([`NetError::NoSocket`] after it).
pub async fn send(addr: &str, message: &str, limits: &Limits) -> Result<(), NetError> {
    send_with(&SEND_SLOTS, addr, message, limits).await
}

async fn send_with(
    sockets: &Semaphore,
    addr: &str,
    message: &str,
    limits: &Limits,
) -> Result<(), NetError> {
    let _socket = match timeout(limits.connect, sockets.acquire()).await {
        Ok(Ok(socket)) => socket,
        _ => return Err(NetError::NoSocket(limits.connect)),
    };
    let mut stream = connect(addr, limits).await?;
    write_within(&mut stream, message.as_bytes(), limits).await
}

/// One message read by [`read_message`].
pub struct Received {
    pub message: Message,
    /// The content of a `data` string, in the temporary file the sink opened.
    pub content: Option<TempFile>,
    /// `files` entries of a GOSSIP_REPLY past [`crate::protocol::MAX_REPLY_FILES`], ignored.
    pub files_ignored: usize,
}

/// Reads one message from `stream` under the clock rules of `role` (see [`pace`]). The content
/// of a `data` string goes to the temporary file that `sink` opens when its first byte
/// arrives, and is returned with the message (on error it is dropped, which deletes it).
pub async fn read_message(
    stream: &mut TcpStream,
    limits: &Limits,
    role: Role,
    sink: &mut impl Sink,
) -> Result<Received, NetError> {
    let mut decoder = Decoder::new(limits.max_control);
    let mut pace = Pace::new(limits, role, Instant::now());
    let mut buf = vec![0u8; FIRST_READ_BUF];
    let mut chunk = Piece::new();
    let mut content: Option<TempFile> = None;
    let mut began = false;
    loop {
        let wait = pace.next_wait(Instant::now());
        let n = match timeout(wait, stream.read(&mut buf)).await {
            Ok(read) => read?,
            Err(_) => {
                pace.timed_out(Instant::now())
                    .map_err(|cut| NetError::cut(cut, limits))?;
                continue;
            }
        };
        if n == 0 {
            return Err(NetError::Truncated);
        }
        if !began {
            began = true;
            sink.began();
        }
        let now = Instant::now();
        pace.read(n, now)
            .map_err(|cut| NetError::cut(cut, limits))?;
        let before = chunk.len();
        let message = decoder.feed(&buf[..n], chunk.buf())?;
        sink.buffered(decoder.buffered())?;
        if chunk.len() > before {
            let total = decoder.decoded_bytes();
            if total > limits.max_file {
                return Err(NetError::TooLarge(limits.max_file));
            }
            if content.is_none() {
                pace.content_began(now);
                content = Some(sink.open().await?);
                buf.resize(READ_BUF, 0);
            }
            sink.arrived(total)?;
        }
        // Decoded content goes to the file in pieces that the next read cannot make outgrow
        // `store::PIECE`, each hashed and written on blocking threads while the next ones are
        // read and decoded.
        if let Some(file) = &mut content {
            let full = chunk.len() + READ_BUF / 2 > store::PIECE;
            if full || (message.is_some() && !chunk.is_empty()) {
                file.write_piece(&mut chunk)
                    .await
                    .map_err(NetError::Store)?;
            }
        }
        if let Some(message) = message {
            return Ok(Received {
                message,
                content,
                files_ignored: decoder.files_ignored(),
            });
        }
    }
}

/// The content of a fetched file: a temporary file in the store, with progress.
struct Fetched<'a, F> {
    store: &'a Store,
    progress: F,
}

impl<F: FnMut(u64) + Send> Sink for Fetched<'_, F> {
    fn began(&mut self) {
        (self.progress)(0);
    }

    async fn open(&mut self) -> Result<TempFile, NetError> {
        self.store.temp_file().await.map_err(NetError::Store)
    }

    fn arrived(&mut self, total: u64) -> Result<(), NetError> {
        (self.progress)(total);
        Ok(())
    }
}

/// Asks `addr` for `file_id` and streams the content into a temporary file in `store`.
/// Returns the reply's description and the content; the caller verifies one against the other.
/// `progress` sees 0 when the first byte of the reply arrives, then the content bytes so far.
pub async fn fetch(
    addr: &str,
    file_id: &str,
    store: &Store,
    limits: &Limits,
    progress: impl FnMut(u64) + Send,
) -> Result<(FileMeta, TempFile), NetError> {
    let mut stream = connect(addr, limits).await?;
    // No half-close after the request: one real server drops its reply when we do.
    write_within(&mut stream, encode::get_file(file_id).as_bytes(), limits).await?;
    let mut sink = Fetched { store, progress };
    let Received {
        message, content, ..
    } = read_message(&mut stream, limits, Role::Reply, &mut sink).await?;
    match message {
        Message::FileData(Some(meta)) if meta.file_id == file_id => {
            let content = match content {
                Some(file) => file,
                // An empty file.
                None => store.temp_file().await.map_err(NetError::Store)?,
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
    file: tokio::fs::File,
    limits: &Limits,
    progress: impl FnMut(u64),
) -> Result<u64, NetError> {
    write_within(stream, encode::file_data_head(meta).as_bytes(), limits).await?;
    let sent = outgoing::send_hex(stream, file, limits, progress).await?;
    write_within(stream, encode::FILE_DATA_TAIL.as_bytes(), limits).await?;
    stream.flush().await?;
    Ok(sent)
}

/// Answers a GET_FILE on its own socket with `copy`, or with the all-null "not found", then
/// closes the socket (clients that read to EOF need that) without cutting the reply short.
/// `slot` is held while the reply is written, not while the close waits for the client.
/// Returns the content bytes sent.
pub async fn reply_file(
    mut stream: TcpStream,
    copy: Option<(FileMeta, tokio::fs::File)>,
    slot: Option<admission::TransferSlot>,
    limits: &Limits,
) -> Result<u64, NetError> {
    let sent = match copy {
        Some((meta, file)) => write_file_data(&mut stream, &meta, file, limits, |_| {}).await?,
        None => {
            let reply = encode::file_data_not_found();
            write_within(&mut stream, reply.as_bytes(), limits).await?;
            0
        }
    };
    drop(slot);
    close_after_reply(stream, limits).await;
    Ok(sent)
}

/// Closes a socket we replied on. Closing it with unread input (a client's trailing `\n` that
/// came after our last read) makes the kernel reset the connection and drop whatever of the
/// reply it has not sent yet. So we half-close, which sends EOF after the reply, then read and
/// discard what the client still sends until it closes too, for a bounded time and amount.
async fn close_after_reply(mut stream: TcpStream, limits: &Limits) {
    if !matches!(timeout(limits.idle, stream.shutdown()).await, Ok(Ok(()))) {
        return;
    }
    let until = tokio::time::Instant::now() + LINGER;
    let mut buf = [0u8; 4096];
    let mut discarded = 0;
    while discarded < LINGER_BYTES {
        match tokio::time::timeout_at(until, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => discarded += n,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn limits(connect: Duration) -> Limits {
        Limits {
            connect,
            ..Limits::default()
        }
    }

    /// A listener that reads each connection whole; returns its address and the messages.
    async fn collector() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut text = String::new();
                    let _ = socket.read_to_string(&mut text).await;
                    let _ = tx.send(text);
                });
            }
        });
        (addr, rx)
    }

    #[tokio::test]
    async fn a_burst_of_sends_beyond_the_sockets_waits_and_all_go_out() {
        let sockets = Semaphore::new(2);
        let (addr, mut received) = collector().await;
        let limits = limits(Duration::from_secs(5));
        let sends = (0..20).map(|i| {
            let (sockets, addr, limits) = (&sockets, &addr, &limits);
            async move { send_with(sockets, addr, &format!("m{i}"), limits).await }
        });
        for result in futures_util::future::join_all(sends).await {
            result.expect("sent");
        }
        let mut got = Vec::new();
        for _ in 0..20 {
            got.push(received.recv().await.unwrap());
        }
        got.sort();
        let mut expected: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
        expected.sort();
        assert_eq!(got, expected);
        assert_eq!(sockets.available_permits(), 2);
    }

    #[tokio::test]
    async fn a_lookup_keeps_its_slot_until_it_ends_after_the_caller_gave_up() {
        let slots: &'static Semaphore = Box::leak(Box::new(Semaphore::new(1)));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let stuck = resolve(slots, "blackholed.invalid:1", move |_| {
            let _ = gate.recv();
            Ok(Vec::new())
        });
        assert!(timeout(Duration::from_millis(100), stuck).await.is_err());
        assert_eq!(slots.available_permits(), 0, "the lookup still runs");
        // An IP address needs no lookup.
        let ip: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let direct = resolve(slots, "127.0.0.1:1", |_| unreachable!()).await;
        assert_eq!(direct.unwrap(), [ip]);
        release.send(()).unwrap();
        let next = resolve(slots, "fine.invalid:1", move |_| Ok(vec![ip])).await;
        assert_eq!(next.unwrap(), [ip]);
        assert_eq!(slots.available_permits(), 1);
    }

    #[tokio::test]
    async fn a_send_that_gets_no_socket_within_the_connect_deadline_fails() {
        let sockets = Semaphore::new(1);
        let (addr, _received) = collector().await;
        let held = sockets.acquire().await.unwrap();
        let limits = limits(Duration::from_millis(100));
        let result = send_with(&sockets, &addr, "m", &limits).await;
        assert!(matches!(result, Err(NetError::NoSocket(_))), "{result:?}");
        drop(held);
        send_with(&sockets, &addr, "m", &limits)
            .await
            .expect("sent once a socket is free");
    }
}

//! A userspace TCP fault proxy: it forwards every connection it accepts to one target and can
//! delay the bytes, cap their rate, and reset a connection in the middle of a reply. It owns
//! only sockets in the test process; it never parses the protocol.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Largest piece written at once, so that a rate cap is smooth rather than bursty.
const PIECE: usize = 16 << 10;

/// How the proxy treats connections accepted from now on.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Added to every byte, in both directions (pipelined, so it costs time, not throughput).
    pub latency: Duration,
    /// Bytes per second per connection and direction; `None` is unlimited.
    pub rate: Option<u64>,
    /// Reset a connection once its reply (target to client) has passed this many bytes.
    pub reset: Option<Reset>,
}

/// Resets after `after` bytes of a reply, while `budget` allows. Proxies may share a budget,
/// so that "the first transfer through any of them" breaks, whichever holder serves it.
#[derive(Clone, Debug)]
pub struct Reset {
    pub after: u64,
    pub budget: Arc<AtomicUsize>,
}

impl Reset {
    pub fn new(after: u64, times: usize) -> Self {
        Reset {
            after,
            budget: Arc::new(AtomicUsize::new(times)),
        }
    }

    /// Takes one reset from the budget; false when it is spent.
    fn take(&self) -> bool {
        self.budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }
}

/// A running proxy. Dropping it stops it and every connection through it.
pub struct Proxy {
    pub addr: SocketAddr,
    faults: Arc<Mutex<Faults>>,
    resets: Arc<AtomicUsize>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Forwards connections accepted on `listener` to `target`, dialing from `source` so that
    /// the target sees the proxy's own address.
    pub fn start(listener: TcpListener, target: SocketAddr, source: IpAddr) -> Proxy {
        let addr = listener.local_addr().expect("proxy address");
        let faults = Arc::new(Mutex::new(Faults::default()));
        let resets = Arc::new(AtomicUsize::new(0));
        let (f, r) = (faults.clone(), resets.clone());
        let accepting = tokio::spawn(async move {
            // Owned by this task, so aborting it drops every connection.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { continue };
                        let faults = f.lock().unwrap().clone();
                        connections.spawn(forward(client, target, source, faults, r.clone()));
                    }
                    Some(_) = connections.join_next() => {}
                }
            }
        });
        Proxy {
            addr,
            faults,
            resets,
            accepting,
        }
    }

    /// Applies `faults` to connections accepted from now on.
    pub fn set(&self, faults: Faults) {
        *self.faults.lock().unwrap() = faults;
    }

    /// Connections this proxy has reset.
    pub fn resets(&self) -> usize {
        self.resets.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// How one direction of a connection ended.
#[derive(Debug, PartialEq)]
enum Ended {
    /// The source closed (or failed) and everything read was delivered.
    Drained,
    /// The destination failed.
    Broken,
    /// We reset both sockets.
    Reset,
}

async fn forward(
    client: TcpStream,
    target: SocketAddr,
    source: IpAddr,
    faults: Faults,
    resets: Arc<AtomicUsize>,
) {
    let Ok(server) = dial(target, source).await else {
        return; // dropping the client closes it: the dialer sees the target as unreachable
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, &faults, None);
    let down = pump(server_read, client_write, &faults, faults.reset.as_ref());
    tokio::pin!(up, down);
    tokio::select! {
        ended = &mut down => {
            if ended == Ended::Reset {
                resets.fetch_add(1, Ordering::SeqCst);
                return; // dropping `up` closes the client's socket, which now sends a RST
            }
            up.await;
        }
        _ = &mut up => {
            down.await;
        }
    }
}

async fn dial(target: SocketAddr, source: IpAddr) -> std::io::Result<TcpStream> {
    let socket = match target {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    tokio::time::timeout(Duration::from_secs(5), socket.connect(target))
        .await
        .map_err(|_| std::io::ErrorKind::TimedOut)?
}

/// Copies `from` to `to` with the latency and rate of `faults`, resetting per `reset`.
async fn pump(
    mut from: OwnedReadHalf,
    to: OwnedWriteHalf,
    faults: &Faults,
    reset: Option<&Reset>,
) -> Ended {
    // Bounded, so a slow destination slows the reader down instead of growing the queue.
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>(16);
    let latency = faults.latency;
    let reader = async move {
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0
                || tx
                    .send((Instant::now() + latency, buf[..n].to_vec()))
                    .await
                    .is_err()
            {
                break;
            }
        }
        // Dropping `tx` tells the writer the source is done.
    };
    let writer = write_out(rx, to, faults.rate, reset);
    tokio::pin!(writer);
    tokio::select! {
        ended = &mut writer => ended,
        () = reader => writer.await,
    }
}

/// Writes what the reader queued, each chunk not before it is due, at most `rate` bytes per
/// second, and resets both sockets once `reset` says so.
async fn write_out(
    mut rx: mpsc::Receiver<(Instant, Vec<u8>)>,
    mut to: OwnedWriteHalf,
    rate: Option<u64>,
    reset: Option<&Reset>,
) -> Ended {
    let mut started = None;
    let mut sent: u64 = 0;
    while let Some((due, chunk)) = rx.recv().await {
        tokio::time::sleep_until(due).await;
        // The clock starts with the first byte, so an idle connection saves up no burst.
        let started = *started.get_or_insert_with(Instant::now);
        for piece in chunk.chunks(PIECE) {
            if let Some(reset) = reset {
                if sent + piece.len() as u64 > reset.after && reset.take() {
                    let cut = (reset.after - sent) as usize;
                    let _ = to.write_all(&piece[..cut]).await;
                    // A zero linger makes the close a RST; `forget` skips the FIN that
                    // dropping a write half would send first.
                    let _ = to.as_ref().set_zero_linger();
                    rx.close();
                    to.forget();
                    return Ended::Reset;
                }
            }
            if let Some(rate) = rate {
                let budget = Duration::from_secs_f64(sent as f64 / rate as f64);
                tokio::time::sleep_until(started + budget).await;
            }
            if to.write_all(piece).await.is_err() {
                return Ended::Broken;
            }
            sent += piece.len() as u64;
        }
    }
    let _ = to.shutdown().await;
    Ended::Drained
}

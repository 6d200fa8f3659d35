//! The HTTP server's connections: the accept loop, the cap on how many are open at once, the
//! deadline for a request's headers, how long a client may stop reading what we send, and
//! the graceful end of each on shutdown. What a request
//! may do once its headers are in (Host, Origin, token, body size, deadlines of the routes) is
//! the router's business, never this module's.
//!
//! `axum::serve` runs hyper without a timer, so hyper enforces no header deadline, and accepts
//! without limit: strangers trickling header lines, or sending nothing at all, could hold file
//! descriptors (shared with the P2P listener and the store) for as long as they liked, before
//! any check of the Host or the token could run.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What the HTTP server allows each stranger's connection, before any request of it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a request's headers may take to arrive whole, counted from the accept, or from
    /// the end of the previous response on a kept-alive connection: a silent connection, one
    /// trickling header lines and an idle keep-alive one are all closed after it.
    pub header_read: Duration,
    /// Connections open at once, WebSockets included; the next waits until one closes.
    pub max_connections: usize,
    /// How long a write may wait for the client to read: a client that stops reading a
    /// download, or a WebSocket's events, is disconnected after it, and frees its slot. An
    /// upload whose body sends nothing for as long is ended too (by the router's body guard),
    /// and so is an event WebSocket whose client answers none of its pings.
    pub write_stall: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read: Duration::from_secs(10),
            max_connections: 256,
            write_stall: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` fires, then stops accepting, lets each
/// connection finish the request it is serving (idle ones close at once), and returns when
/// all are closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: CancellationToken,
) {
    // Plain HTTP/1, as before (axum's `http2` feature is off). Not hyper-util's `auto`
    // builder: it reads the first bytes itself to tell the versions apart, before hyper's
    // header timer starts, so a connection that sends nothing would never time out.
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    // The cap waits for a free slot before accepting, rather than accepting and closing at
    // once: a connection beyond it stays in the kernel's backlog, costing us no descriptor,
    // and is served when a slot frees, in the order they came. A burst from a browser is
    // then slower, not broken, and a stranger reconnecting the moment one of its connections
    // times out queues behind those already waiting instead of winning the freed slot.
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // For the upload's body guard, which applies `write_stall` to a client that stops sending.
    let app = app.layer(axum::Extension(limits));
    let connections = TaskTracker::new();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = shutdown.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("HTTP accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let io = TokioIo::new(Slotted {
            stream,
            _slot: slot,
            stall: limits.write_stall,
            stalled: None,
        });
        let service = TowerToHyperService::new(app.clone());
        let conn = http.serve_connection(io, service).with_upgrades();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut conn = pin!(conn);
            let served = tokio::select! {
                served = conn.as_mut() => served,
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = served {
                tracing::debug!("HTTP connection ended: {e}");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// A socket that holds its connection slot until it is dropped, and fails a write that waited
/// `stall` for the client to read. After an upgrade hyper hands the socket to the WebSocket,
/// so an open WebSocket keeps counting against the cap, and is bound by the stall too.
struct Slotted {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    stall: Duration,
    /// Running while a write waits for room; reset by every write that makes progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl Slotted {
    /// `write`'s outcome, or an error once writes waited `stall` in a row.
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let written = write(Pin::new(&mut self.stream), cx);
        if written.is_ready() {
            self.stalled = None;
            return written;
        }
        let stall = self.stall;
        let timer = (self.stalled).get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client read nothing for {stall:?}"),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Slotted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Slotted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .bounded(cx, |stream, cx| stream.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .bounded(cx, |stream, cx| stream.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

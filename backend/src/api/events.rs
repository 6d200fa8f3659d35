//! `GET /api/events`: the live WebSocket. Subscribes before taking the snapshot so nothing
//! falls between them; a client that falls behind gets a fresh snapshot instead of a gap.

use super::{ApiState, HttpLimits};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use shared::ServerEvent;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

/// Upgrades to a WebSocket that streams `ServerEvent`s as JSON text.
#[utoipa::path(get, path = "/api/events", tag = "peer",
    responses((status = 101, description = "A WebSocket of `ServerEvent` JSON text messages: a snapshot first, then one per change")))]
pub async fn events(
    State(s): State<ApiState>,
    limits: Option<Extension<HttpLimits>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // `serve` adds the limits; tests that call the router alone get the defaults.
    let silence = limits.map_or_else(HttpLimits::default, |l| l.0).write_stall;
    upgrade
        .max_message_size(CLIENT_MESSAGE)
        .max_frame_size(CLIENT_MESSAGE)
        .on_upgrade(move |socket| stream(socket, s, silence))
}

/// The largest frame, and message, a client may send. It only ever sends a Close, pongs to
/// our pings, and maybe a ping of its own, of at most 125 bytes each; tungstenite's defaults
/// (16 MiB a frame, 64 MiB a message) would have us buffer that much of a message that never
/// ends, on every socket.
const CLIENT_MESSAGE: usize = 4 << 10;

/// Streams events to `socket` until the client closes it, the peer stops, or the client sends
/// nothing, not even the pong to our pings, for `silence`.
///
/// The pings find the clients that vanished without closing (a laptop put to sleep, a
/// network gone): on a quiet peer nothing else is ever sent to them, so no write would fail,
/// and each would hold an HTTP connection slot for good. Browsers answer pings themselves,
/// whatever the page is doing.
async fn stream(mut socket: WebSocket, s: ApiState, silence: Duration) {
    let mut events = s.peer.subscribe();
    if send(&mut socket, &ServerEvent::Snapshot(s.peer.snapshot()))
        .await
        .is_err()
    {
        return;
    }
    let mut heard = Instant::now();
    let every = (silence / 3).max(Duration::from_millis(1));
    let mut ping = tokio::time::interval_at(heard + every, every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            _ = s.shutdown.cancelled() => break,
            incoming = socket.recv() => match incoming {
                // The client only ever closes, and answers our pings; anything else it sends
                // is ignored, but shows that it is there.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {
                    heard = Instant::now();
                    continue;
                }
            },
            _ = ping.tick() => {
                if heard.elapsed() >= silence {
                    tracing::debug!("closing an event stream silent for {silence:?}");
                    break;
                }
                let pinged = tokio::select! {
                    _ = s.shutdown.cancelled() => break,
                    pinged = socket.send(Message::Ping(Default::default())) => pinged,
                };
                if pinged.is_err() {
                    break;
                }
                continue;
            },
            event = next(&mut events, || ServerEvent::Snapshot(s.peer.snapshot())) => match event {
                Some(event) => event,
                None => break,
            },
        };
        // A client that stopped reading must not hold up the peer's shutdown.
        let sent = tokio::select! {
            _ = s.shutdown.cancelled() => break,
            sent = send(&mut socket, &event) => sent,
        };
        if sent.is_err() {
            break;
        }
    }
    let close = socket.send(Message::Close(None));
    let _ = tokio::time::timeout(CLOSE_WAIT, close).await;
}

/// The next event for a client, or a fresh `snapshot` for one that fell behind; `None` once
/// the peer is gone.
async fn next(
    events: &mut broadcast::Receiver<ServerEvent>,
    snapshot: impl FnOnce() -> ServerEvent,
) -> Option<ServerEvent> {
    match events.recv().await {
        Ok(event) => Some(event),
        Err(RecvError::Lagged(_)) => {
            // Lagging left the receiver at the oldest event still queued, which the snapshot
            // already covers: start again from the newest instead.
            *events = events.resubscribe();
            Some(snapshot())
        }
        Err(RecvError::Closed) => None,
    }
}

/// How long the closing frame may wait for a client that does not read.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

async fn send(socket: &mut WebSocket, event: &ServerEvent) -> Result<(), axum::Error> {
    let text = serde_json::to_string(event).expect("DTOs serialize");
    socket.send(Message::Text(text.into())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: u64) -> ServerEvent {
        ServerEvent::Log(shared::LogEntry {
            at_ms: n,
            level: shared::LogLevel::Info,
            message: n.to_string(),
        })
    }

    #[tokio::test]
    async fn a_client_that_fell_behind_gets_a_snapshot_then_only_newer_events() {
        let (tx, mut events) = broadcast::channel(16);
        for n in 0..40 {
            tx.send(log(n)).unwrap();
        }
        let resync = next(&mut events, || log(1000)).await;
        assert_eq!(resync, Some(log(1000)));
        tx.send(log(40)).unwrap();
        assert_eq!(next(&mut events, || log(2000)).await, Some(log(40)));
        drop(tx);
        assert_eq!(next(&mut events, || log(3000)).await, None);
    }
}

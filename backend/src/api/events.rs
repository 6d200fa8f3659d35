//! `GET /api/events`: the live WebSocket. Subscribes before taking the snapshot so nothing
//! falls between them; a client that falls behind gets a fresh snapshot instead of a gap.

use super::ApiState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use shared::ServerEvent;
use tokio::sync::broadcast::{self, error::RecvError};

/// Upgrades to a WebSocket that streams `ServerEvent`s as JSON text.
#[utoipa::path(get, path = "/api/events", tag = "peer",
    responses((status = 101, description = "A WebSocket of `ServerEvent` JSON text messages: a snapshot first, then one per change")))]
pub async fn events(State(s): State<ApiState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .max_message_size(CLIENT_MESSAGE)
        .max_frame_size(CLIENT_MESSAGE)
        .on_upgrade(move |socket| stream(socket, s))
}

/// The largest frame, and message, a client may send. It only ever sends a Close, and maybe a
/// ping, of at most 125 bytes each; tungstenite's defaults (16 MiB a frame, 64 MiB a message)
/// would have us buffer that much of a message that never ends, on every socket.
const CLIENT_MESSAGE: usize = 4 << 10;

async fn stream(mut socket: WebSocket, s: ApiState) {
    let mut events = s.peer.subscribe();
    if send(&mut socket, &ServerEvent::Snapshot(s.peer.snapshot()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let event = tokio::select! {
            _ = s.shutdown.cancelled() => break,
            incoming = socket.recv() => match incoming {
                // The client only ever closes; anything else it sends is ignored.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
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

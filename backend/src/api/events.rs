//! `GET /api/events`: the live WebSocket. Subscribes before taking the snapshot so nothing
//! falls between them; a client that falls behind gets a fresh snapshot instead of a gap.

use super::ApiState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use shared::ServerEvent;
use tokio::sync::broadcast::error::RecvError;

/// Upgrades to a WebSocket that streams `ServerEvent`s as JSON text.
#[utoipa::path(get, path = "/api/events", tag = "peer",
    responses((status = 101, description = "A WebSocket of `ServerEvent` JSON text messages: a snapshot first, then one per change")))]
pub async fn events(State(s): State<ApiState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| stream(socket, s))
}

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
            event = events.recv() => match event {
                Ok(event) => event,
                Err(RecvError::Lagged(_)) => {
                    // Lagging left the receiver at the oldest event still queued, which the
                    // snapshot already covers: start again from the newest instead.
                    events = events.resubscribe();
                    ServerEvent::Snapshot(s.peer.snapshot())
                }
                Err(RecvError::Closed) => break,
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

/// How long the closing frame may wait for a client that does not read.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

async fn send(socket: &mut WebSocket, event: &ServerEvent) -> Result<(), axum::Error> {
    let text = serde_json::to_string(event).expect("DTOs serialize");
    socket.send(Message::Text(text.into())).await
}

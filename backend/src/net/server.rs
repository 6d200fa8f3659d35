//! The P2P listener: one task per connection, one message per connection, every read under a
//! deadline. Anything that is not a message we know is logged at debug level and dropped.

use super::{read_message, NetError};
use crate::peer::Peer;
use crate::protocol::Message;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Most connections handled at once; more are closed at once, so silent or slow senders
/// cannot exhaust file descriptors.
const MAX_CONNECTIONS: usize = 512;

/// Accepts connections until the peer stops; each connection is a task of the peer's.
pub async fn serve(listener: TcpListener, peer: Peer) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::debug!("too many connections; closing the one from {remote}");
                    continue;
                };
                let handler = peer.clone();
                peer.spawn(async move {
                    let _slot = slot;
                    if let Err(e) = handle(stream, &handler).await {
                        tracing::debug!("connection from {remote}: {e}");
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads one message and acts on it.
async fn handle(mut stream: TcpStream, peer: &Peer) -> Result<(), NetError> {
    let limits = peer.config().limits;
    // FILE_DATA carries no sender id: name the sender by its address, as a tracked peer when
    // exactly one lives there.
    let remote = match stream.peer_addr() {
        Ok(addr) => peer.name_at(addr),
        Err(_) => "unknown peer".to_string(),
    };
    let mut incoming = None;
    let result = read_message(&mut stream, &limits, limits.idle, peer.store(), |done| {
        peer.incoming_progress(&mut incoming, &remote, done)
    })
    .await;
    let message = match (result, incoming) {
        (Ok((Message::FileData(Some(meta)), content)), incoming) => {
            let temp = match content {
                Some(temp) => temp,
                None => peer.store().temp_file().await?, // an empty file
            };
            peer.on_pushed_file(meta, temp, &remote, incoming).await;
            return Ok(());
        }
        (Ok((message, _)), None) => message,
        (Ok((message, _)), Some(transfer)) => {
            peer.incoming_failed(
                transfer,
                format!("content inside a {} message", message.kind()),
            );
            message
        }
        (Err(e), incoming) => {
            if let Some(transfer) = incoming {
                peer.incoming_failed(transfer, e.to_string());
            }
            return Err(e);
        }
    };
    tracing::debug!("{} from {remote}", message.kind());
    match message {
        Message::Gossip(gossip) => peer.on_gossip(&gossip),
        Message::GossipReply(reply) => peer.on_gossip_reply(&reply),
        Message::GetFile { file_id } => {
            peer.serve_get(&mut stream, &file_id).await?;
            // Dropping the stream closes it: clients that read to EOF need that.
        }
        Message::FileData(_) => {} // a "not found" nobody asked for
        Message::Announce(announce) => peer.on_announce(&announce),
        Message::Delete(delete) => peer.on_delete(&delete),
    }
    Ok(())
}

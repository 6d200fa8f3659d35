//! The P2P listener: admission (connection slots in all and per source address), one task and
//! one message per connection, read under the clock rules of [`super::pace`], and dispatch to
//! the program above through [`Handler`]. What breaks a rule is refused and counted in
//! [`Refusals`] by reason; failures of our own storage and of `accept` are logged as
//! warnings, and anything else that fails is logged at debug level and dropped.

use super::admission::{Admission, BufferShare, Moving, Reservation, TransferSlot};
use super::{read_message, reply_file, Limits, NetError, Received, Role, Sink};
use crate::protocol::{FileMeta, Message, MAX_REPLY_FILES};
use crate::refusal::{Reason, Refusals};
use crate::store::{Store, TempFile};
use crate::traffic::{Direction, Traffic};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::{TcpListener, TcpStream};

/// What the listener needs from the program above it. Implemented for the peer in
/// `peer::inbound`; `net` never names the peer itself.
pub trait Handler: Clone + Send + Sync + 'static {
    /// An incoming push as the handler tracks it, from the first byte of its content.
    type Push: Send;

    fn limits(&self) -> &Limits;
    fn refusals(&self) -> &Refusals;
    fn traffic(&self) -> &Traffic;
    /// Where pushed content is written while it arrives.
    fn store(&self) -> &Store;
    /// Runs a connection's task until it ends or the program stops.
    fn spawn_task(&self, task: impl Future<Output = ()> + Send + 'static);
    /// Bytes that files pushed to us may still take: the storage quota less what such files
    /// already take.
    fn push_room(&self) -> impl Future<Output = u64> + Send;
    /// A GOSSIP, a GOSSIP_REPLY (within its rate), an ANNOUNCE or a DELETE from `from`.
    fn on_message(&self, message: Message, from: SocketAddr);
    /// Our copy of `file_id`, opened, to answer a GET_FILE.
    fn open_copy(
        &self,
        file_id: &str,
    ) -> impl Future<Output = Option<(FileMeta, tokio::fs::File)>> + Send;
    /// Content began arriving unasked from `from` (most likely a push; the message type may
    /// only be known at its end).
    fn push_started(&self, from: SocketAddr) -> Self::Push;
    /// `done` content bytes of `push` have arrived.
    fn push_progress(&self, push: &Self::Push, done: u64);
    /// The content did not turn into a pushed file.
    fn push_failed(&self, push: Self::Push, reason: String);
    /// A whole `FILE_DATA` arrived unasked; `push` is `None` when it had no content. True
    /// when it was kept as a new file.
    fn on_pushed_file(
        &self,
        meta: FileMeta,
        content: TempFile,
        from: SocketAddr,
        push: Option<Self::Push>,
    ) -> impl Future<Output = bool> + Send;
}

/// Accepts connections until the program stops; each admitted connection is a task of the
/// handler's.
pub async fn serve<H: Handler>(listener: TcpListener, handler: H) {
    let admission = Admission::new(handler.limits());
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let slot = match admission.admit(remote.ip().to_canonical()) {
                    Ok(slot) => slot,
                    Err(reason) => {
                        handler
                            .refusals()
                            .refuse(reason, format!("connection from {remote}"));
                        continue;
                    }
                };
                let (task_handler, admission) = (handler.clone(), admission.clone());
                handler.spawn_task(async move {
                    let _slot = slot;
                    connection(stream, remote, &task_handler, &admission).await;
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

/// Content arriving on an accepted connection: a push, counted against the storage quota.
struct Incoming<'a, H: Handler> {
    handler: &'a H,
    remote: SocketAddr,
    admission: &'a Arc<Admission>,
    transfer: Option<TransferSlot>,
    buffer: BufferShare<'a>,
    reservation: Option<Reservation<'a>>,
    push: Option<H::Push>,
}

impl<H: Handler> Sink for Incoming<'_, H> {
    async fn open(&mut self) -> Result<TempFile, NetError> {
        let source = self.remote.ip().to_canonical();
        let slot = self.admission.transfer(source, Moving::Push);
        self.transfer = Some(slot.ok_or(NetError::Busy)?);
        let pushes = self.admission.pushes();
        let mark = pushes.mark();
        let room = self.handler.push_room().await;
        self.reservation = Some(pushes.reserve(mark, room));
        self.push = Some(self.handler.push_started(self.remote));
        self.handler
            .store()
            .temp_file()
            .await
            .map_err(NetError::Store)
    }

    fn arrived(&mut self, total: u64) -> Result<(), NetError> {
        if let Some(reservation) = &mut self.reservation {
            if !reservation.grow(total) {
                return Err(NetError::OverQuota);
            }
        }
        if let Some(push) = &self.push {
            self.handler.push_progress(push, total);
        }
        Ok(())
    }

    fn buffered(&mut self, bytes: usize) -> Result<(), NetError> {
        match self.buffer.set(bytes) {
            true => Ok(()),
            false => Err(NetError::Buffered),
        }
    }
}

/// Reads one message and acts on it.
async fn connection<H: Handler>(
    mut stream: TcpStream,
    remote: SocketAddr,
    handler: &H,
    admission: &Arc<Admission>,
) {
    let limits = *handler.limits();
    let mut sink = Incoming {
        handler,
        remote,
        admission,
        transfer: None,
        buffer: admission.buffer_share(),
        reservation: None,
        push: None,
    };
    let result = read_message(&mut stream, &limits, Role::Request, &mut sink).await;
    // The transfer slot is held until the push is kept or refused.
    let Incoming {
        reservation,
        push,
        transfer: _transfer,
        ..
    } = sink;
    let (message, files_ignored) = match result {
        Err(e) => {
            if let Some(push) = push {
                handler.push_failed(push, e.to_string());
            }
            match e.refusal() {
                Some(reason) => handler.refusals().refuse(reason, format!("{remote}: {e}")),
                // Ours to fix, not the sender's doing: the operator should hear of it.
                None if matches!(e, NetError::Store(_)) => {
                    tracing::warn!("a push from {remote} failed: {e}")
                }
                None => tracing::debug!("connection from {remote}: {e}"),
            }
            return;
        }
        Ok(Received {
            message: Message::FileData(Some(meta)),
            content,
            ..
        }) => {
            handler.traffic().received("FILE_DATA");
            let (content, reservation) = match content {
                Some(content) => (content, reservation),
                None => {
                    // An empty file takes no bytes, but counts like any push (see
                    // `MIN_PUSH_CHARGE`), or empty pushes could grow the index without end.
                    let pushes = admission.pushes();
                    let mark = pushes.mark();
                    let mut reservation = pushes.reserve(mark, handler.push_room().await);
                    if !reservation.grow(0) {
                        let e = NetError::OverQuota;
                        handler
                            .refusals()
                            .refuse(Reason::StorageQuota, format!("{remote}: {e}"));
                        return;
                    }
                    match handler.store().temp_file().await {
                        Ok(empty) => (empty, Some(reservation)),
                        Err(e) => {
                            tracing::warn!("cannot store an empty pushed file: {e}");
                            return;
                        }
                    }
                }
            };
            let kept = handler.on_pushed_file(meta, content, remote, push).await;
            // A copy refused or already held takes no room: its bytes leave the count.
            if let (true, Some(reservation)) = (kept, reservation) {
                reservation.land();
            }
            return;
        }
        Ok(Received {
            message,
            content,
            files_ignored,
        }) => {
            handler.traffic().received(message.kind());
            drop((content, reservation));
            if let Some(push) = push {
                let reason = format!("content inside a {} message", message.kind());
                handler.push_failed(push, reason);
            }
            (message, files_ignored)
        }
    };
    tracing::debug!("{} from {remote}", message.kind());
    match message {
        Message::GossipReply(_)
            if !admission.gossip_reply(remote.ip().to_canonical(), Instant::now()) =>
        {
            handler
                .refusals()
                .refuse(Reason::GossipReplyRate, format!("from {remote}"));
        }
        Message::GetFile { file_id } => {
            let copy = handler.open_copy(&file_id).await;
            let found = copy.is_some();
            let source = remote.ip().to_canonical();
            let slot = match found.then(|| admission.transfer(source, Moving::Reply)) {
                Some(None) => {
                    // Closing without a reply sends the asker to its next holder.
                    let e = NetError::Busy;
                    handler
                        .refusals()
                        .refuse(Reason::Transfers, format!("{remote}: {e}"));
                    return;
                }
                slot => slot.flatten(),
            };
            let result = reply_file(stream, copy, slot, &limits).await;
            let traffic = handler.traffic();
            if found {
                traffic.transfer(Direction::Out, result.is_ok());
            }
            match result {
                Ok(sent) => {
                    traffic.sent("FILE_DATA");
                    traffic.content_sent(sent);
                    if found {
                        tracing::info!("served {file_id} ({sent} bytes) to {remote}");
                    } else {
                        tracing::debug!(
                            "told {remote} we do not hold {}",
                            crate::terminal::escape(&file_id)
                        );
                    }
                }
                Err(e) => tracing::debug!("reply to {remote} failed: {e}"),
            }
        }
        Message::FileData(None) => {} // a "not found" nobody asked for
        message => {
            if files_ignored > 0 {
                handler.refusals().refuse(
                    Reason::ReplyFiles,
                    format!(
                        "{remote}: a GOSSIP_REPLY with {files_ignored} more files than the \
                         {MAX_REPLY_FILES} taken"
                    ),
                );
            }
            handler.on_message(message, remote)
        }
    }
}

//! The guard on an upload's body, between hyper and multer: it ends the body with an error
//! when a part's headers run past [`framing::HEAD_LIMIT`] (multer would buffer them whole),
//! or when the client sends nothing for `HttpLimits::write_stall` (the upload would hold its
//! connection slot, its temporary file and its buffers for as long as the client liked). It
//! records why, for the handler to answer with, since multer reports any failure of the body
//! as a malformed upload. It passes every chunk on as it came: nothing is copied.

use super::framing::{self, PartScanner};
use super::{ApiError, HttpLimits};
use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use axum::BoxError;
use futures_util::Stream;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Why the guard ended a body.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    TooLong(#[from] framing::TooLong),
    #[error("the upload stalled: nothing arrived for {0:?}")]
    Stalled(Duration),
}

/// What the guard found, for the handler: set once, when it ends the body.
#[derive(Clone, Default)]
pub struct Verdict(Arc<OnceLock<Refusal>>);

impl Verdict {
    /// The answer for a body the guard ended, if it did: 400 for headers too long, 408 for a
    /// stall (which a client that went silent may never read).
    pub fn refusal(&self) -> Option<ApiError> {
        self.0.get().map(|refusal| match refusal {
            Refusal::TooLong(_) => ApiError::BadRequest(refusal.to_string()),
            Refusal::Stalled(_) => ApiError::RequestTimeout(refusal.to_string()),
        })
    }
}

/// Middleware for the upload route: guards the body, and hands the handler its [`Verdict`]
/// as an extension. The stall allowed is the server's `write_stall`, from the [`HttpLimits`]
/// extension `serve` adds (the default without one, as in tests that call the router).
pub async fn guard(mut request: Request, next: Next) -> Response {
    let stall = request
        .extensions()
        .get::<HttpLimits>()
        .copied()
        .unwrap_or_default()
        .write_stall;
    // The boundary as axum's `Multipart` will take it; without one, that extractor refuses
    // the request before reading its body.
    let boundary = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok());
    let verdict = Verdict::default();
    request.extensions_mut().insert(verdict.clone());
    let request = request.map(|body| {
        Body::from_stream(Guarded {
            body: body.into_data_stream(),
            scanner: boundary.as_deref().map(PartScanner::new),
            stall,
            idle: Box::pin(tokio::time::sleep(stall)),
            waiting: false,
            verdict,
            ended: false,
        })
    });
    next.run(request).await
}

/// A body's chunks, passed on until the guard ends it.
struct Guarded {
    body: BodyDataStream,
    scanner: Option<PartScanner>,
    stall: Duration,
    /// Runs while the body has nothing for us: reset when we start waiting, so that only the
    /// client's silence counts, never the time we spent writing the last chunk to disk.
    idle: Pin<Box<Sleep>>,
    waiting: bool,
    verdict: Verdict,
    ended: bool,
}

impl Guarded {
    fn refuse(&mut self, refusal: Refusal) -> Poll<Option<Result<Bytes, BoxError>>> {
        self.ended = true;
        let _ = self.verdict.0.set(refusal.clone());
        Poll::Ready(Some(Err(Box::new(refusal))))
    }
}

impl Stream for Guarded {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.body).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.waiting = false;
                let scanned = this.scanner.as_mut().map_or(Ok(()), |s| s.feed(&chunk));
                match scanned {
                    Ok(()) => Poll::Ready(Some(Ok(chunk))),
                    Err(too_long) => this.refuse(too_long.into()),
                }
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into_inner()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    let deadline = Instant::now() + this.stall;
                    this.idle.as_mut().reset(deadline);
                }
                match this.idle.as_mut().poll(cx) {
                    Poll::Ready(()) => this.refuse(Refusal::Stalled(this.stall)),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

//! The tower-http middleware of the HTTP surface: compression and a deadline for the bounded
//! routes (never the WebSocket, downloads or uploads), the upload's body limit and guard,
//! request tracing at debug level, and the security headers every response carries.

use super::ApiError;
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use std::convert::Infallible;
use std::time::Duration;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::compression::predicate::{And, DefaultPredicate, Predicate};
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{
    DefaultOnFailure, DefaultOnRequest, DefaultOnResponse, MakeSpan, TraceLayer,
};
use tracing::{Level, Span};

/// How long a bounded route may take to answer; none waits on the network.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Multipart framing allowed on top of the largest file in an upload.
pub const UPLOAD_FRAMING: u64 = 64 * 1024;

/// A route that answers from memory: compressed (br or gzip, as the client asks) and cut off
/// with a 503 after [`DEADLINE`].
pub fn bounded<S: Clone + Send + Sync + 'static>(route: MethodRouter<S>) -> MethodRouter<S> {
    route
        .layer::<_, Infallible>(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            DEADLINE,
        ))
        .layer(compression())
}

/// The dashboard's files, compressed and bounded like [`bounded`] routes.
pub fn page<S: Clone + Send + Sync + 'static>(page: Router<S>) -> Router<S> {
    page.layer(TimeoutLayer::with_status_code(
        StatusCode::SERVICE_UNAVAILABLE,
        DEADLINE,
    ))
    .layer(compression())
}

/// br or gzip, as the client asks, for successful answers only: an error is small, and one
/// that axum wrote as plain text is rewritten as JSON further out ([`super::error::json_errors`]),
/// which must find it readable.
fn compression() -> CompressionLayer<And<DefaultPredicate, Successful>> {
    CompressionLayer::new().compress_when(DefaultPredicate::new().and(successful as Successful))
}

type Successful = fn(StatusCode, Version, &HeaderMap, &Extensions) -> bool;

fn successful(status: StatusCode, _: Version, _: &HeaderMap, _: &Extensions) -> bool {
    status.is_success()
}

/// An upload route: bodies above `max_file` (plus framing) are refused with a 413 that names
/// `max_file`, by their `Content-Length` before a byte is read, else when the stream passes it;
/// and the body is guarded against long part headers and stalls ([`super::body_guard`]).
pub fn upload<S: Clone + Send + Sync + 'static>(
    route: MethodRouter<S>,
    max_file: u64,
) -> MethodRouter<S> {
    let limit = usize::try_from(max_file.saturating_add(UPLOAD_FRAMING)).unwrap_or(usize::MAX);
    route
        // The limit below replaces axum's default one of 2 MB.
        .layer::<_, Infallible>(axum::extract::DefaultBodyLimit::disable())
        .layer::<_, Infallible>(RequestBodyLimitLayer::new(limit))
        // Outside the limit, not inside: the body the guard rebuilds (`Body::from_stream`)
        // wraps each error of its source once more, and axum answers 413 only when it finds
        // the limit's own error right inside its wrapper.
        .layer::<_, Infallible>(axum::middleware::from_fn(super::body_guard::guard))
        .layer(axum::middleware::map_response(
            move |r: Response| async move {
                // tower-http's own 413 is plain text that names no limit.
                let json = r.headers().get(header::CONTENT_TYPE)
                    == Some(&HeaderValue::from_static("application/json"));
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE && !json {
                    ApiError::TooLarge(max_file).into_response()
                } else {
                    r
                }
            },
        ))
}

/// Every request as a span, its start and end as events, all at debug level (a 5xx too: the
/// handler already logged why).
pub fn trace() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, PathSpan> {
    TraceLayer::new_for_http()
        .make_span_with(PathSpan)
        .on_request(DefaultOnRequest::new().level(Level::DEBUG))
        .on_response(DefaultOnResponse::new().level(Level::DEBUG))
        .on_failure(DefaultOnFailure::new().level(Level::DEBUG))
}

/// A request's span: its method and path, never its query, which may carry the API token.
#[derive(Clone, Copy, Debug)]
pub struct PathSpan;

impl<B> MakeSpan<B> for PathSpan {
    fn make_span(&mut self, request: &axum::http::Request<B>) -> Span {
        tracing::debug_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
        )
    }
}

/// The security headers, set on every response: the page may load only itself (and compile
/// its wasm), must not be framed, sniffed or named in a `Referer`.
pub fn security_headers<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    csp: HeaderValue,
) -> Router<S> {
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    /// What a subscriber wrote.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_request_is_logged_with_its_path_but_not_its_query() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let request = axum::http::Request::get("/api/events?token=s3cret")
                .body(())
                .unwrap();
            PathSpan
                .make_span(&request)
                .in_scope(|| tracing::debug!("handled"));
        });
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("/api/events"), "{log}");
        assert!(!log.contains("s3cret"), "{log}");
    }
}

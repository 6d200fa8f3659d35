//! The HTTP surface: the JSON API, the event WebSocket and the embedded dashboard.
//! Handlers extract, call one `Peer` method and convert to a `shared` DTO; no protocol logic
//! and no locks live here.

mod assets;
mod body_guard;
mod error;
mod events;
mod framing;
mod guard;
mod layers;
mod metrics;
mod openapi;
mod serve;

use crate::peer::transfer::FetchError;
use crate::peer::upload::UploadError;
use crate::peer::{DeleteError, Peer};
use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post, MethodRouter};
use axum::{middleware, Extension, Json, Router};
pub use error::ApiError;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
pub use serve::{serve, HttpLimits};
use shared::{FileDto, HealthDto, PeerDto, StatusDto, TransferDto, TransferKind};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    peer: Peer,
    token: Option<Arc<str>>,
    shutdown: CancellationToken,
}

impl ApiState {
    /// The API of `peer`; with a token, every `/api` request must carry it. WebSockets end
    /// when `shutdown` fires.
    pub fn new(peer: Peer, token: Option<String>, shutdown: CancellationToken) -> Self {
        ApiState {
            peer,
            token: token.map(Into::into),
            shutdown,
        }
    }
}

/// Every guarded route: its path and its handlers. The router is built from this table, and
/// a test checks the OpenAPI document against it, both ways. Streams (the WebSocket, uploads,
/// downloads) are neither compressed nor cut off by the deadline; everything else is.
fn routes(max_file: u64) -> Vec<(&'static str, MethodRouter<ApiState>)> {
    use layers::{bounded, upload as limited};
    vec![
        ("/api/status", bounded(get(status))),
        ("/api/health", bounded(get(health))),
        ("/api/peers", bounded(get(peers))),
        (
            "/api/files",
            bounded(get(files)).merge(limited(post(upload), max_file)),
        ),
        ("/api/files/{file_id}", bounded(delete(delete_file))),
        ("/api/files/{file_id}/fetch", bounded(post(fetch))),
        ("/api/files/{file_id}/content", get(content)),
        ("/api/transfers", bounded(get(transfers))),
        ("/api/events", get(events::events)),
        ("/api/openapi.json", bounded(get(openapi::openapi))),
        ("/metrics", bounded(get(metrics::metrics))),
    ]
}

/// The whole HTTP surface. Tests call it directly with `tower::ServiceExt::oneshot`.
pub fn router(state: ApiState) -> Router {
    let mut guarded = Router::new();
    for (path, route) in routes(state.peer.config().limits.max_file) {
        guarded = guarded.route(path, route);
    }
    let unknown = || async { ApiError::NotFound("no such API endpoint".into()) };
    let guarded = guarded
        .route("/api", any(unknown))
        .route("/api/", any(unknown))
        .route("/api/{*rest}", any(unknown))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::check_token,
        ))
        .layer(middleware::from_fn(error::json_errors));
    let csp =
        HeaderValue::from_str(&assets::content_security_policy()).expect("the policy is ASCII");
    let app = guarded
        .fallback_service(layers::page(Router::new().fallback(assets::serve)))
        .layer(layers::trace());
    layers::security_headers(app, csp)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::check_origin,
        ))
        .with_state(state)
}

#[utoipa::path(get, path = "/api/status", tag = "peer",
    responses((status = 200, description = "This peer", body = StatusDto)))]
async fn status(State(s): State<ApiState>) -> Json<StatusDto> {
    Json(s.peer.status())
}

/// `GET /api/health`: 200 while the peer is up.
#[utoipa::path(get, path = "/api/health", tag = "operations",
    responses((status = 200, description = "The peer is up", body = HealthDto)))]
async fn health(State(s): State<ApiState>) -> Json<HealthDto> {
    let status = s.peer.status();
    Json(HealthDto {
        status: "ok".into(),
        peer_id: status.peer_id,
        uptime_secs: status.uptime_secs,
    })
}

#[utoipa::path(get, path = "/api/peers", tag = "peer",
    responses((status = 200, description = "Tracked peers, with how each has served us", body = Vec<PeerDto>)))]
async fn peers(State(s): State<ApiState>) -> Json<Vec<PeerDto>> {
    Json(s.peer.peers())
}

#[utoipa::path(get, path = "/api/files", tag = "files",
    responses((status = 200, description = "Files known on the network", body = Vec<FileDto>)))]
async fn files(State(s): State<ApiState>) -> Json<Vec<FileDto>> {
    Json(s.peer.files())
}

#[utoipa::path(get, path = "/api/transfers", tag = "files",
    responses((status = 200, description = "Recent transfers, oldest first", body = Vec<TransferDto>)))]
async fn transfers(State(s): State<ApiState>) -> Json<Vec<TransferDto>> {
    Json(s.peer.transfers())
}

/// `POST /api/files`: one file in the multipart field `file`, stored, then pushed. Its name is
/// the field's filename, or the text of a field `name` sent before it: browsers escape `"`, CR
/// and LF in a filename (as `%22`, `%0D`, `%0A`), and a `name` field carries it exactly. A
/// refused name is answered once the body is read, so that a browser still sending the file
/// gets the answer rather than a reset connection.
#[utoipa::path(post, path = "/api/files", tag = "files",
    request_body(content = openapi::UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored and pushed", body = FileDto),
        (status = 400, description = "No `file` field, a malformed body, a part's headers longer than 16 KiB, no name, a name that is not UTF-8, not a plain file name, or longer than `--max-name-len` bytes", body = shared::ErrorBody),
        (status = 408, description = "The body sent nothing for `--http-stall` (30 s by default); the upload is dropped", body = shared::ErrorBody),
        (status = 409, description = "The same content landed at that moment (another upload of it, or from another peer) under each timestamp tried: add it again", body = shared::ErrorBody),
        (status = 413, description = "Larger than `--max-file-size`", body = shared::ErrorBody),
        (status = 507, description = "The disk of the storage folder is full", body = shared::ErrorBody)))]
async fn upload(
    State(s): State<ApiState>,
    Extension(guard): Extension<body_guard::Verdict>,
    mut form: Multipart,
) -> Result<(StatusCode, Json<FileDto>), ApiError> {
    let max = s.peer.config().limits.max_file;
    // When the guard ended the body, multer only saw it fail: the guard says why.
    let bad = |e: MultipartError| guard.refusal().unwrap_or_else(|| multipart_error(e, max));
    // The `name` field's text, or why it is refused.
    let mut named = None;
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            Some("file") => {}
            Some("name") => {
                named = Some(name_field(&mut field).await.map_err(bad)?);
                continue;
            }
            _ => continue,
        }
        let name = match named.take() {
            Some(named) => named,
            None => file_name(&field),
        };
        let name = match name {
            Ok(name) => name,
            Err(why) => {
                drop(field);
                // What is left of the body is read and dropped (`next_field` skips each
                // field's content), until it ends or fails.
                while let Ok(Some(_)) = form.next_field().await {}
                return Err(guard.refusal().unwrap_or(ApiError::BadRequest(why)));
            }
        };
        let meta = s.peer.upload(&name, field).await.map_err(|e| match e {
            UploadError::Name(_) => ApiError::BadRequest(e.to_string()),
            UploadError::TooLarge(max) => ApiError::TooLarge(max),
            UploadError::Body(e) => bad(e),
            UploadError::DiskFull => {
                tracing::warn!("an upload was refused: {e}");
                ApiError::InsufficientStorage(e.to_string())
            }
            UploadError::Conflict(why) => ApiError::Conflict(why),
            UploadError::Store(detail) => ApiError::Internal(detail),
        })?;
        let file = s
            .peer
            .file(&meta.file_id)
            .ok_or_else(|| ApiError::Internal("file vanished".into()))?;
        return Ok((StatusCode::CREATED, Json(file)));
    }
    Err(ApiError::BadRequest(match named {
        Some(Err(why)) => why,
        _ => "no multipart field named `file`".into(),
    }))
}

/// The most read of an upload's `name` field: far more than any name kept (`--max-name-len`),
/// so that a long name is refused as such, after the content is read.
const NAME_FIELD: usize = 16 << 10;

/// The text of an upload's `name` field, or why it is refused: longer than [`NAME_FIELD`]
/// bytes (the rest is left to `next_field` to skip), or not UTF-8.
async fn name_field(field: &mut Field<'_>) -> Result<Result<String, String>, MultipartError> {
    let mut text = Vec::new();
    while let Some(chunk) = field.chunk().await? {
        if text.len() + chunk.len() > NAME_FIELD {
            return Ok(Err(format!(
                "the `name` field is longer than {NAME_FIELD} bytes"
            )));
        }
        text.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8(text).map_err(|_| "the `name` field is not UTF-8".to_string()))
}

/// The file name of the `file` part, or why it is refused. multer gives none for a
/// `Content-Disposition` that is not UTF-8, which is told as such, not as a missing name; a
/// missing one is left to `Peer::upload` to refuse.
fn file_name(field: &Field<'_>) -> Result<String, String> {
    if let Some(name) = field.file_name() {
        return Ok(name.to_string());
    }
    let disposition = field
        .headers()
        .get(header::CONTENT_DISPOSITION)
        .map_or(&[][..], |v| v.as_bytes());
    let has_file_name = disposition
        .windows(b"filename".len())
        .any(|w| w.eq_ignore_ascii_case(b"filename"));
    if has_file_name && std::str::from_utf8(disposition).is_err() {
        return Err("the uploaded file's name is not UTF-8".into());
    }
    Ok(String::new())
}

/// An upload that could not be read: too large (naming our limit), or malformed.
fn multipart_error(e: MultipartError, max_file: u64) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge(max_file)
    } else {
        ApiError::BadRequest(format!("bad upload: {}", e.body_text()))
    }
}

/// `POST /api/files/{file_id}/fetch`: start a get.
#[utoipa::path(post, path = "/api/files/{file_id}/fetch", tag = "files",
    params(("file_id" = String, Path, description = "The file's id")),
    responses(
        (status = 202, description = "The get started (or was already running)", body = TransferDto),
        (status = 404, description = "No known file has this id", body = shared::ErrorBody),
        (status = 409, description = "We already hold it", body = shared::ErrorBody)))]
async fn fetch(
    State(s): State<ApiState>,
    Path(file_id): Path<String>,
) -> Result<(StatusCode, Json<TransferDto>), ApiError> {
    match s.peer.start_fetch(&file_id, TransferKind::Get) {
        Ok(transfer) => Ok((StatusCode::ACCEPTED, Json(transfer))),
        Err(e @ FetchError::Unknown(_)) => Err(ApiError::NotFound(e.to_string())),
        Err(e @ FetchError::AlreadyHeld(_)) => Err(ApiError::Conflict(e.to_string())),
    }
}

/// `DELETE /api/files/{file_id}`: owner-only delete, everywhere.
#[utoipa::path(delete, path = "/api/files/{file_id}", tag = "files",
    params(("file_id" = String, Path, description = "The file's id")),
    responses(
        (status = 204, description = "Deleted here, and saved so; DELETE sent to every tracked peer"),
        (status = 403, description = "We are not the owner", body = shared::ErrorBody),
        (status = 404, description = "No such file", body = shared::ErrorBody)))]
async fn delete_file(
    State(s): State<ApiState>,
    Path(file_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match s.peer.delete(&file_id).await {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(e @ DeleteError::NotFound(_)) => Err(ApiError::NotFound(e.to_string())),
        Err(e @ DeleteError::NotOwner(_)) => Err(ApiError::Forbidden(e.to_string())),
    }
}

/// `GET /api/files/{file_id}/content`: our copy, streamed, as an attachment.
#[utoipa::path(get, path = "/api/files/{file_id}/content", tag = "files",
    params(("file_id" = String, Path, description = "The file's id")),
    responses(
        (status = 200, description = "Our copy, as an attachment named like the file", content_type = "application/octet-stream", body = String),
        (status = 404, description = "We hold no copy", body = shared::ErrorBody)))]
async fn content(
    State(s): State<ApiState>,
    Path(file_id): Path<String>,
) -> Result<Response, ApiError> {
    let copy = s.peer.open_copy(&file_id).await?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(copy.file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, copy.len.to_string()),
            (
                header::CONTENT_DISPOSITION,
                attachment(&copy.meta.file_name),
            ),
        ],
        body,
    )
        .into_response())
}

/// RFC 5987 `attr-char`s stay as they are; everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// A `Content-Disposition` for a stranger's file name (RFC 6266): an ASCII `filename` for old
/// clients, with anything unsafe replaced by `_`, and the exact name as UTF-8 in `filename*`.
fn attachment(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = utf8_percent_encode(name, ATTR_CHAR);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{exact}")
}

#[cfg(test)]
mod tests;

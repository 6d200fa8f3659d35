//! The HTTP surface: the JSON API, the event WebSocket and the embedded dashboard.
//! Handlers extract, call one `Peer` method and convert to a `shared` DTO; no protocol logic
//! and no locks live here.

mod assets;
mod error;
mod events;
mod guard;

use crate::peer::transfer::FetchError;
use crate::peer::{DeleteError, Peer};
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
pub use error::ApiError;
use shared::{FileDto, PeerDto, StatusDto, TransferDto, TransferKind};
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

/// The whole HTTP surface. Tests call it directly with `tower::ServiceExt::oneshot`.
pub fn router(state: ApiState) -> Router {
    // Uploads stream to disk; allow the largest file we accept plus the multipart framing.
    let upload_limit = usize::try_from(state.peer.config().limits.max_file)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    let api = Router::new()
        .route("/status", get(status))
        .route("/peers", get(peers))
        .route(
            "/files",
            get(files)
                .post(upload)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/files/{file_id}", axum::routing::delete(delete_file))
        .route("/files/{file_id}/fetch", post(fetch))
        .route("/files/{file_id}/content", get(content))
        .route("/transfers", get(transfers))
        .route("/events", get(events::events))
        .fallback(|| async { ApiError::NotFound("no such API endpoint".into()) })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::check_token,
        ));
    Router::new()
        .nest("/api", api)
        .fallback(assets::serve)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::check_origin,
        ))
        .with_state(state)
}

async fn status(State(s): State<ApiState>) -> Json<StatusDto> {
    Json(s.peer.status())
}

async fn peers(State(s): State<ApiState>) -> Json<Vec<PeerDto>> {
    Json(s.peer.peers())
}

async fn files(State(s): State<ApiState>) -> Json<Vec<FileDto>> {
    Json(s.peer.files())
}

async fn transfers(State(s): State<ApiState>) -> Json<Vec<TransferDto>> {
    Json(s.peer.transfers())
}

/// `POST /api/files`: one file in the multipart field `file`, stored, then pushed.
async fn upload(
    State(s): State<ApiState>,
    mut form: Multipart,
) -> Result<(StatusCode, Json<FileDto>), ApiError> {
    while let Some(field) = form.next_field().await? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or_default().to_string();
        let meta = s.peer.upload(&name, field).await?;
        let file = s
            .peer
            .file(&meta.file_id)
            .ok_or_else(|| ApiError::Internal("file vanished".into()))?;
        return Ok((StatusCode::CREATED, Json(file)));
    }
    Err(ApiError::BadRequest(
        "no multipart field named `file`".into(),
    ))
}

/// `POST /api/files/{file_id}/fetch`: start a get.
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
async fn delete_file(
    State(s): State<ApiState>,
    Path(file_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    match s.peer.delete(&file_id) {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(e @ DeleteError::NotFound(_)) => Err(ApiError::NotFound(e.to_string())),
        Err(e @ DeleteError::NotOwner(_)) => Err(ApiError::Forbidden(e.to_string())),
    }
}

/// `GET /api/files/{file_id}/content`: our copy, streamed, as an attachment.
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
                format!(
                    "attachment; filename=\"{}\"",
                    ascii_name(&copy.meta.file_name)
                ),
            ),
        ],
        body,
    )
        .into_response())
}

/// `name` safe inside a quoted `Content-Disposition` filename: other characters become `_`.
fn ascii_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;

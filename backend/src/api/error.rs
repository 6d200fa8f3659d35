//! API errors: each maps to a status and a JSON `{"error": "..."}` body; internals stay in the
//! log.

use crate::peer::upload::{OpenError, UploadError};
use axum::extract::multipart::MultipartError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use shared::ErrorBody;

/// Everything an API call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 401.
    #[error("missing or wrong API token")]
    Unauthorized,
    /// 403.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 413.
    #[error("file larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// 500; the detail is logged, not sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// An internal error from anything displayable.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<MultipartError> for ApiError {
    fn from(e: MultipartError) -> Self {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(0)
        } else {
            ApiError::BadRequest(format!("bad upload: {}", e.body_text()))
        }
    }
}

impl From<UploadError<MultipartError>> for ApiError {
    fn from(e: UploadError<MultipartError>) -> Self {
        match e {
            UploadError::NoName | UploadError::NameTooLong(_) => {
                ApiError::BadRequest(e.to_string())
            }
            UploadError::TooLarge(max) => ApiError::TooLarge(max),
            UploadError::Body(e) => e.into(),
            UploadError::Store(detail) => ApiError::Internal(detail),
        }
    }
}

impl From<OpenError> for ApiError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::NotHeld(_) => ApiError::NotFound(e.to_string()),
            OpenError::Io(..) => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(detail) => {
                tracing::error!("API: {detail}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (
            status,
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response()
    }
}

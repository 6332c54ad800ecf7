//! The crate's error type and its HTTP answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a VOD request failed.
#[derive(Debug, thiserror::Error)]
pub enum VodHttpError {
    /// The path is malformed or unsafe (400).
    #[error("bad path: {0}")]
    BadPath(&'static str),
    /// No such file under a VOD root (404).
    #[error("not found")]
    NotFound,
    /// The query names no segment of this file (404).
    #[error("no such segment")]
    NoSegment,
    /// The file is not an MP4 this server can read (422): only this file's
    /// playlist and segments fail.
    #[error("unreadable media: {0}")]
    Media(#[from] weir_vod::VodError),
    /// A segment would need more bytes than a request may read (413).
    #[error("segment of {0} bytes is too large")]
    TooLarge(u64),
    /// The hub's access check refused the player (403).
    #[error("access denied: {0}")]
    Denied(String),
    /// IO or a task failed (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl IntoResponse for VodHttpError {
    fn into_response(self) -> Response {
        let status = match &self {
            VodHttpError::BadPath(_) => StatusCode::BAD_REQUEST,
            VodHttpError::Denied(_) => StatusCode::FORBIDDEN,
            VodHttpError::NotFound | VodHttpError::NoSegment => StatusCode::NOT_FOUND,
            VodHttpError::Media(_) => StatusCode::UNPROCESSABLE_ENTITY,
            VodHttpError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            VodHttpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::warn!(error = %self, "vod request failed");
        }
        (status, format!("{self}\n")).into_response()
    }
}

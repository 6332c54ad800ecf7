//! The crate's error type and its HTTP answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a VOD request failed.
#[derive(Debug, thiserror::Error)]
pub enum VodHttpError {
    /// The path is malformed or unsafe (400).
    #[error("bad path: {0}")]
    BadPath(&'static str),
    /// A query parameter is missing or wrong (400); the message says which.
    #[error("{0}")]
    BadParam(String),
    /// No such file under a VOD root (404).
    #[error("not found")]
    NotFound,
    /// No recording of the stream holds media in the time range asked
    /// for (404); the message names the stream and the range.
    #[error("{0}")]
    NoRecording(String),
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
    /// A time range's media is more than one answer may hold (413).
    #[error(
        "the range holds {bytes} bytes of media, more than the {max} one answer may hold: \
         ask for a shorter duration"
    )]
    RangeTooLarge {
        /// Media bytes the range would read.
        bytes: u64,
        /// The limit (`VodConfig::max_range_bytes`).
        max: u64,
    },
    /// The hub's access check refused the player (403).
    #[error("access denied: {0}")]
    Denied(String),
    /// IO or a task failed (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl VodHttpError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            VodHttpError::BadPath(_) | VodHttpError::BadParam(_) => StatusCode::BAD_REQUEST,
            VodHttpError::Denied(_) => StatusCode::FORBIDDEN,
            VodHttpError::NotFound | VodHttpError::NoSegment | VodHttpError::NoRecording(_) => {
                StatusCode::NOT_FOUND
            }
            VodHttpError::Media(_) => StatusCode::UNPROCESSABLE_ENTITY,
            VodHttpError::TooLarge(_) | VodHttpError::RangeTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            VodHttpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn log(&self, status: StatusCode) {
        if status.is_server_error() {
            tracing::warn!(error = %self, "vod request failed");
        }
    }

    /// The answer of a route under `/api/v1/`: the API's JSON error
    /// (`{"error", "status"}`), so API clients need one error handler.
    pub fn into_api_response(self) -> Response {
        let status = self.status();
        self.log(status);
        weir_api_error::ApiError::new(status, self.to_string()).into_response()
    }
}

impl IntoResponse for VodHttpError {
    fn into_response(self) -> Response {
        let status = self.status();
        self.log(status);
        (status, format!("{self}\n")).into_response()
    }
}

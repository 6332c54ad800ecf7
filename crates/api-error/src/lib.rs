//! The one error answer of weir's HTTP APIs.
//!
//! Every `/api/v1/...` route answers an error the same way, whichever crate
//! serves it (`weir-api` for streams and clients, `weir-server-chat` for
//! chat rooms and moderation, the adapters still to come): a JSON object
//! `{"error": "...", "status": N}` with the matching HTTP status, so a
//! client needs one error handler for the whole API (`docs/api.md`). The
//! type lives in its own crate because those adapters must not import each
//! other, and the hub, which they all share, knows nothing of HTTP.

#![warn(missing_docs, unreachable_pub)]

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error answer: a status plus a message meant for a person (what went
/// wrong and, where it helps, what to do about it).
///
/// A 401 also carries `WWW-Authenticate: Bearer`, as HTTP asks of a 401,
/// naming the one scheme the API accepts besides the console's cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An answer with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// A 400: the request itself is wrong (a bad name, body or parameter),
    /// the most common answer, hence its own constructor.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": self.message, "status": self.status.as_u16()}));
        let mut resp = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Status, `WWW-Authenticate` and the JSON body of an answer.
    async fn answer(e: ApiError) -> (StatusCode, Option<String>, serde_json::Value) {
        let resp = e.into_response();
        let status = resp.status();
        let auth = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            resp.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, auth, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn errors_are_json_with_their_status() {
        let (status, auth, body) = answer(ApiError::bad_request("no such \"thing\"")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(auth, None);
        assert_eq!(
            body,
            json!({"error": "no such \"thing\"", "status": 400}),
            "messages are escaped, not pasted"
        );

        let (status, auth, body) = answer(ApiError::new(StatusCode::NOT_FOUND, "gone")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(auth, None);
        assert_eq!(body, json!({"error": "gone", "status": 404}));
    }

    #[tokio::test]
    async fn a_401_names_the_bearer_scheme_and_a_403_does_not() {
        let (status, auth, body) = answer(ApiError::new(StatusCode::UNAUTHORIZED, "log in")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(auth.as_deref(), Some("Bearer"));
        assert_eq!(body["status"], 401);

        let (status, auth, _) = answer(ApiError::new(StatusCode::FORBIDDEN, "off")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(auth, None);
    }
}

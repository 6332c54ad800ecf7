//! Headers every response of the listener carries, whichever crate's
//! route made it (HTTP-FLV on the socket writes the same line itself,
//! [`NOSNIFF_LINE`]).

use axum::http::{header, HeaderValue};
use axum::response::Response;

/// `X-Content-Type-Options: nosniff` as a head line, for responses
/// written on the socket.
pub(crate) const NOSNIFF_LINE: &str = "x-content-type-options: nosniff\r\n";

/// Adds `X-Content-Type-Options: nosniff`: a browser must take a
/// response for the type it says, so that text a client put into a
/// stream name or a chat message can never be run as a script or styled
/// as a page by a browser guessing the type.
pub(crate) async fn common(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

//! Errors of the HTTP adapter.

/// Why reading a request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The client did not send the body it announced within
    /// `body_timeout`.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// The connection failed while the body was read.
    #[error("reading the request body: {0}")]
    Body(#[from] hyper::Error),
}

//! The API's refusals, mapped to HTTP in one place.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

/// Why the API could not do what it was asked. The text is shown to the dashboard's user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A query parameter or a body field holds a value the API cannot read.
    #[error("{0}")]
    BadRequest(String),
    /// No such exchange or tunnel (any more).
    #[error("{0}")]
    NotFound(String),
    /// The request is understood but cannot be carried out now, e.g. replaying an exchange whose
    /// tunnel is gone.
    #[error("{0}")]
    Conflict(String),
    /// The replay was sent but did not come back as expected.
    #[error("{0}")]
    BadGateway(String),
}

impl ApiError {
    /// The HTTP status the refusal is sent with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
        }
    }

    pub(crate) fn no_exchange(id: u64) -> Self {
        ApiError::NotFound(format!(
            "no request #{id}: it was never captured, or it has been cleared or pushed out by newer ones"
        ))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut message = self.to_string();
        message.push('\n');
        (
            self.status(),
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            message,
        )
            .into_response()
    }
}

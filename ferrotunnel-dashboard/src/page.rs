//! The web UI: an HTML page and its script and style, embedded in the binary. Nothing is
//! fetched from anywhere else: the dashboard works offline.

use axum::{
    extract::{OriginalUri, Path},
    http::{HeaderValue, header},
    response::{Html, IntoResponse, Redirect, Response},
};

use crate::ApiError;

const INDEX_HTML: &str = include_str!("../assets/index.html");

const SCRIPT: &str = "text/javascript; charset=utf-8";
const STYLE: &str = "text/css; charset=utf-8";

/// The files under `/assets/`: name, content type, content. The page loads the scripts in this
/// order.
pub(crate) const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", STYLE, include_str!("../assets/app.css")),
    ("util.js", SCRIPT, include_str!("../assets/util.js")),
    ("body.js", SCRIPT, include_str!("../assets/body.js")),
    ("app.js", SCRIPT, include_str!("../assets/app.js")),
];

/// The page loads its own script and style and talks only to this server; captured bodies
/// shown as images are `data:` URLs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

fn security_headers() -> [(header::HeaderName, HeaderValue); 3] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ]
}

/// `GET /`. The page's URLs are relative, so that the dashboard can be mounted under a prefix
/// of another app: there, `/inspect` is sent on to `/inspect/`, where they resolve.
pub(crate) async fn index(OriginalUri(uri): OriginalUri) -> Response {
    if !uri.path().ends_with('/') {
        let mut to = format!("{}/", uri.path());
        if let Some(query) = uri.query() {
            to.push('?');
            to.push_str(query);
        }
        return Redirect::permanent(&to).into_response();
    }
    (security_headers(), Html(INDEX_HTML)).into_response()
}

/// `GET /assets/{file}`.
pub(crate) async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (_, content_type, content) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| ApiError::NotFound(format!("no asset named {file:?}")))?;
    Ok((
        security_headers(),
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        *content,
    )
        .into_response())
}

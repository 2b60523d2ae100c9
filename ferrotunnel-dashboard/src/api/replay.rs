//! `POST /api/requests/{id}/replay`: the captured request again, as it was or with changes.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use ferrotunnel::{TunnelBody, server::VisitorAddr};
use ferrotunnel_tower::capture::{Exchange, ExchangeId, ReplayOf};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use serde::{Deserialize, Serialize};

use super::requests;
use crate::{ApiError, DashboardState, views};

/// What to change in a replay; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Changes {
    method: Option<String>,
    /// Path and query, e.g. `/items?page=2`.
    path: Option<String>,
    /// Headers to set, each replacing every value of its name. A masked value (`***`) keeps the
    /// captured one.
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    remove_headers: Vec<String>,
    /// The body, as text.
    body: Option<String>,
}

#[derive(Debug, Serialize)]
struct Replayed {
    id: u64,
}

/// The masked value the views show; sent back, it means "keep what was captured".
const MASKED: &str = "***";

/// Headers never copied into a replay: the request gets its own id and framing.
const NOT_REPLAYED: [HeaderName; 3] = [
    ferrotunnel::server::REQUEST_ID,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
];

/// `POST /api/requests/{id}/replay`.
pub(crate) async fn replay(
    State(state): State<DashboardState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let exchange = requests::find(&state, &id)?;
    let id = exchange.id;
    let changes: Changes = if body.iter().all(u8::is_ascii_whitespace) {
        Changes::default()
    } else {
        serde_json::from_slice(&body).map_err(|err| {
            ApiError::BadRequest(format!("the replay changes are not valid: {err}"))
        })?
    };
    let Some(replay) = state.replay.clone() else {
        return Err(ApiError::Conflict(
            "this dashboard was started without a way to replay requests".to_owned(),
        ));
    };
    if let Some(tunnel) = &exchange.tunnel {
        if !state.tunnels.is_live(tunnel) {
            return Err(ApiError::Conflict(format!(
                "request #{id} went through tunnel {tunnel:?}, which is not connected any more; \
                 replay it once its client is back"
            )));
        }
    }
    let request = build(&exchange, changes)?;
    let response = replay
        .send(exchange.tunnel.as_deref(), request)
        .await
        .map_err(|err| {
            ApiError::BadGateway(format!("the replay of request #{id} failed: {err}"))
        })?;
    let Some(ExchangeId(new_id)) = response.extensions().get::<ExchangeId>().copied() else {
        return Err(ApiError::BadGateway(format!(
            "the replay of request #{id} was sent, but no capture layer recorded it"
        )));
    };
    // The exchange ends when its response body does: read it to its end, away from this
    // request, so that the capture records all of it.
    tokio::spawn(async move {
        let mut body = response.into_body();
        while let Some(Ok(_)) = body.frame().await {}
    });
    Ok((StatusCode::CREATED, Json(Replayed { id: new_id })).into_response())
}

/// The request to send: the captured one with `changes` applied.
fn build(exchange: &Exchange, changes: Changes) -> Result<Request<TunnelBody>, ApiError> {
    let method = match &changes.method {
        None => exchange.method.clone(),
        Some(text) => Method::from_bytes(text.trim().to_ascii_uppercase().as_bytes())
            .map_err(|_| bad_change("method", text, "an HTTP method, like GET or POST"))?,
    };
    let uri = match &changes.path {
        None => views::path_and_query(exchange),
        Some(path) => path.trim().to_owned(),
    };
    let uri = match uri.parse::<Uri>() {
        Ok(uri) if uri.scheme().is_none() && uri.path().starts_with('/') => uri,
        _ => {
            return Err(bad_change(
                "path",
                &uri,
                "a path and query, like /items?page=2",
            ));
        }
    };
    let body = match changes.body {
        Some(body) => Bytes::from(body),
        None => {
            views::replayable(exchange).map_err(ApiError::Conflict)?;
            exchange.request_body.prefix.clone()
        }
    };

    let mut headers = HeaderMap::clone(&exchange.request_headers);
    for name in &NOT_REPLAYED {
        headers.remove(name);
    }
    for name in &changes.remove_headers {
        let name = header_name(name)?;
        headers.remove(name);
    }
    let mut set = HeaderMap::new();
    for (name, value) in &changes.headers {
        if value == MASKED {
            continue;
        }
        let name = header_name(name)?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| {
            bad_change(
                "header value of",
                name.as_str(),
                "text without control characters",
            )
        })?;
        set.append(name, value);
    }
    for name in set.keys() {
        headers.remove(name);
    }
    headers.extend(set);
    if !headers.contains_key(header::HOST) {
        if let Some(host) = exchange.host().and_then(|h| HeaderValue::from_str(h).ok()) {
            headers.insert(header::HOST, host);
        }
    }
    if !body.is_empty() || method_expects_body(&method) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }

    let mut request = Request::new(
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    let extensions = request.extensions_mut();
    extensions.insert(ReplayOf(exchange.id));
    if let Some(visitor) = exchange.visitor {
        extensions.insert(VisitorAddr(visitor));
    }
    Ok(request)
}

fn method_expects_body(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

fn header_name(name: &str) -> Result<HeaderName, ApiError> {
    HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| bad_change("header name", name, "a header name, like x-debug"))
}

fn bad_change(what: &str, value: &str, wanted: &str) -> ApiError {
    ApiError::BadRequest(format!("replay change {what}: {value:?} is not {wanted}"))
}

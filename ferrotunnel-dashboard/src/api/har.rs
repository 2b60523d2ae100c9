//! `GET /api/requests/{id}/har` and `GET /api/har`: HTTP Archive 1.2, which browsers' developer
//! tools import. Masked headers stay masked; bodies are the captured prefixes.

use axum::{
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Json, Response},
};
use ferrotunnel_tower::capture::{BodyRecord, Exchange};
use serde_json::{Value, json};

use super::requests;
use crate::{
    ApiError, DashboardState,
    time::{millis, rfc3339_millis},
    views::{self, BodyView},
};

/// `GET /api/requests/{id}/har`.
pub(crate) async fn one(
    State(state): State<DashboardState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let exchange = requests::find(&state, &id)?;
    let id = exchange.id;
    Ok(attachment(
        &format!("ferrotunnel-{id}.har"),
        har(&[exchange]),
    ))
}

/// `GET /api/har`: every exchange held, oldest first.
pub(crate) async fn all(State(state): State<DashboardState>) -> Response {
    attachment("ferrotunnel.har", har(&state.capture.all()))
}

fn attachment(filename: &str, har: Value) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    (
        [
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Json(har),
    )
        .into_response()
}

/// The HAR document of `exchanges`.
pub(crate) fn har(exchanges: &[Exchange]) -> Value {
    json!({
        "log": {
            "version": "1.2",
            "creator": { "name": "FerroTunnel", "version": env!("CARGO_PKG_VERSION") },
            "pages": [],
            "entries": exchanges.iter().map(entry).collect::<Vec<_>>(),
        }
    })
}

fn entry(exchange: &Exchange) -> Value {
    let wait = exchange.response_head.map_or(0.0, millis);
    let total = exchange.body_end.map_or(wait, millis);
    let version = views::version(exchange.version);
    let request_headers = exchange.masked_request_headers();
    let mut request = json!({
        "method": exchange.method.as_str(),
        "url": views::url(exchange),
        "httpVersion": version,
        "cookies": [],
        "headers": name_values(&request_headers),
        "queryString": query_string(exchange),
        "headersSize": -1,
        "bodySize": exchange.request_body.size,
    });
    if exchange.request_body.size > 0 {
        let body = BodyView::new(&exchange.request_body, &exchange.request_headers);
        request["postData"] = json!({
            "mimeType": body.content_type.unwrap_or_default(),
            "text": text_of(&exchange.request_body),
        });
    }
    let response = match &exchange.response {
        Some(response) => {
            let body = BodyView::new(&response.body, &response.headers);
            let mut content = json!({
                "size": response.body.size,
                "mimeType": body.content_type.clone().unwrap_or_default(),
                "text": body.data,
            });
            if body.encoding == "base64" {
                content["encoding"] = json!("base64");
            }
            if body.truncated {
                content["comment"] = json!(format!(
                    "FerroTunnel captured the first {} of {} bytes",
                    response.body.prefix.len(),
                    response.body.size
                ));
            }
            json!({
                "status": response.status.as_u16(),
                "statusText": response.status.canonical_reason().unwrap_or(""),
                "httpVersion": views::version(response.version),
                "cookies": [],
                "headers": name_values(&exchange.masked_response_headers()),
                "content": content,
                "redirectURL": response.headers.get(http::header::LOCATION)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default(),
                "headersSize": -1,
                "bodySize": response.body.size,
            })
        }
        // HAR has no place for "no response": status 0, as browsers write failed requests.
        None => json!({
            "status": 0, "statusText": "", "httpVersion": version, "cookies": [], "headers": [],
            "content": { "size": 0, "mimeType": "" }, "redirectURL": "", "headersSize": -1,
            "bodySize": -1,
        }),
    };
    let mut entry = json!({
        "startedDateTime": rfc3339_millis(exchange.started_at),
        "time": total,
        "request": request,
        "response": response,
        "cache": {},
        "timings": { "send": 0, "wait": wait, "receive": (total - wait).max(0.0) },
        "_ferrotunnel": {
            "id": exchange.id,
            "tunnel": exchange.tunnel.as_deref(),
            "replay_of": exchange.replay_of,
        },
    });
    if let Some(visitor) = exchange.visitor {
        entry["_ferrotunnel"]["visitor"] = json!(visitor.to_string());
    }
    entry
}

fn name_values(headers: &[(String, String)]) -> Vec<Value> {
    headers
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect()
}

fn query_string(exchange: &Exchange) -> Vec<Value> {
    let Some(query) = exchange.uri.query() else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            json!({ "name": name, "value": value })
        })
        .collect()
}

fn text_of(body: &BodyRecord) -> String {
    String::from_utf8_lossy(&body.prefix).into_owned()
}

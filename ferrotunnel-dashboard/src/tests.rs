//! Every endpoint and every refusal, driven with `oneshot`: no sockets. The exchanges are real
//! ones, recorded by the capture layer in front of a local service made of a function.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Request, StatusCode, header},
};
use bytes::Bytes;
use ferrotunnel::{BoxError, TunnelBody, server::into_tunnel_body};
use ferrotunnel_tower::capture::{CaptureConfig, CaptureStore};
use http::Response;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tokio::sync::watch;
use tower::{Layer, ServiceBuilder, ServiceExt, util::BoxCloneSyncService};

use super::*;

type Local = BoxCloneSyncService<Request<TunnelBody>, Response<TunnelBody>, BoxError>;

/// What the local service was sent: method, path and query, headers, body.
type Seen = Arc<Mutex<Vec<(String, String, HeaderMap, Bytes)>>>;

/// A dashboard over a capture store in front of a local service that answers by path:
/// `/json` JSON, `/png` a PNG, `/fail` 500, `/teapot` 418, anything else echoes the body.
struct Fixture {
    app: Router,
    capture: CaptureStore,
    local: Local,
    seen: Seen,
    tunnels: watch::Sender<Vec<TunnelView>>,
}

fn fixture() -> Fixture {
    fixture_with(CaptureConfig::default(), true)
}

fn fixture_with(config: CaptureConfig, with_replay: bool) -> Fixture {
    let capture = CaptureStore::new(config);
    let seen = Seen::default();
    let local = local_service(&capture, seen.clone());
    let (tunnels, watch) = watch::channel(vec![view("app")]);
    let mut state = DashboardState::with_views(capture.clone(), watch);
    if with_replay {
        state = state.replay_with(DirectReplay(local.clone()));
    }
    Fixture {
        app: router(state),
        capture,
        local,
        seen,
        tunnels,
    }
}

fn local_service(capture: &CaptureStore, seen: Seen) -> Local {
    let service = ServiceBuilder::new()
        .map_request(|request: Request<TunnelBody>| request)
        .layer(capture.layer())
        .service_fn(move |request: Request<TunnelBody>| {
            let seen = seen.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = body.collect().await?.to_bytes();
                let path = parts.uri.path().to_owned();
                seen.lock().expect("lock").push((
                    parts.method.to_string(),
                    parts.uri.to_string(),
                    parts.headers.clone(),
                    body.clone(),
                ));
                let (status, content_type, body) = match path.as_str() {
                    "/json" => (
                        200,
                        "application/json",
                        Bytes::from_static(br#"{"ok":true,"n":[1,2]}"#),
                    ),
                    "/png" => (
                        200,
                        "image/png",
                        Bytes::from_static(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
                    ),
                    "/fail" => (500, "text/plain", Bytes::from_static(b"it broke")),
                    "/teapot" => (418, "text/plain", Bytes::from_static(b"short and stout")),
                    _ => (200, "text/plain", body),
                };
                let response = Response::builder()
                    .status(status)
                    .header(header::CONTENT_TYPE, content_type)
                    .header(header::SET_COOKIE, "session=s3cr3t")
                    .body(Full::new(body))
                    .expect("response");
                Ok::<_, BoxError>(response)
            }
        })
        .map_response(|response: Response<_>| response.map(into_tunnel_body));
    BoxCloneSyncService::new(service)
}

/// Replays straight to the local service, through its capture layer.
struct DirectReplay(Local);

impl Replay for DirectReplay {
    fn send(
        &self,
        _tunnel: Option<&str>,
        request: Request<TunnelBody>,
    ) -> BoxFuture<Result<Response<TunnelBody>, BoxError>> {
        Box::pin(self.0.clone().oneshot(request))
    }
}

fn view(name: &str) -> TunnelView {
    TunnelView {
        name: name.to_owned(),
        public_url: format!("http://{name}.localhost:8080"),
        client_addr: Some("127.0.0.1:50000".to_owned()),
        transport: Some("tcp".to_owned()),
        connected_since: Some(std::time::UNIX_EPOCH + Duration::from_secs(1_796_058_131)),
        local_addr: None,
    }
}

impl Fixture {
    /// A visitor's request through the capture layer, its response body read to the end.
    async fn visit(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> StatusCode {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "app.localhost:8080");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(into_tunnel_body(Full::new(Bytes::from(body.to_owned()))))
            .expect("request");
        let response = self
            .local
            .clone()
            .oneshot(request)
            .await
            .expect("local service");
        let status = response.status();
        response.into_body().collect().await.expect("body");
        status
    }

    async fn call(&self, method: &str, path: &str, body: &str) -> (StatusCode, HeaderMap, String) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::from(body.to_owned()))
            .expect("request");
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (
            status,
            headers,
            String::from_utf8(bytes.to_vec()).expect("utf-8"),
        )
    }

    async fn json(&self, path: &str) -> Value {
        let (status, headers, body) = self.call("GET", path, "").await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{path}");
        serde_json::from_str(&body).expect("JSON")
    }

    async fn refused(&self, method: &str, path: &str, body: &str) -> (StatusCode, String) {
        let (status, headers, text) = self.call(method, path, body).await;
        assert!(
            status.is_client_error() || status.is_server_error(),
            "{path}: {status}"
        );
        assert_eq!(headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        (status, text)
    }

    fn ids(list: &Value) -> Vec<u64> {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| item["id"].as_u64().expect("id"))
            .collect()
    }
}

#[tokio::test]
async fn tunnels_are_listed_with_their_figures() {
    let fx = fixture();
    fx.tunnels.send_replace(vec![view("blog"), view("app")]);
    let list = fx.json("/api/tunnels").await;
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["app", "blog"]);
    let app = fx.json("/api/tunnels/app").await;
    assert_eq!(app["public_url"], "http://app.localhost:8080");
    assert_eq!(app["client_addr"], "127.0.0.1:50000");
    assert_eq!(app["transport"], "tcp");
    assert_eq!(app["connected_since"], "2026-11-30T17:02:11.000Z");
    assert_eq!(app["requests"], 0);
    assert_eq!(app["p50_ms"], Value::Null);

    let (status, text) = fx.refused("GET", "/api/tunnels/nope", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text.contains("\"nope\""), "{text}");
}

#[tokio::test]
async fn requests_are_listed_newest_first_filtered_and_paged() {
    let fx = fixture();
    assert_eq!(fx.visit("GET", "/json", &[], "").await, 200);
    assert_eq!(fx.visit("POST", "/items?x=1", &[], "hello").await, 200);
    assert_eq!(fx.visit("GET", "/teapot", &[], "").await, 418);
    assert_eq!(fx.visit("DELETE", "/fail", &[], "").await, 500);

    let all = fx.json("/api/requests").await;
    assert_eq!(Fixture::ids(&all), [4, 3, 2, 1]);
    assert_eq!(all["next_before"], Value::Null);
    let first = &all["items"][2];
    assert_eq!(first["method"], "POST");
    assert_eq!(first["uri"], "/items?x=1");
    assert_eq!(first["host"], "app.localhost:8080");
    assert_eq!(first["http_version"], "HTTP/1.1");
    assert_eq!(first["status"], 200);
    assert_eq!(first["request_bytes"], 5);
    assert_eq!(first["response_bytes"], 5);
    assert_eq!(first["outcome"], "complete");
    assert_eq!(first["request_content_type"], Value::Null);
    assert_eq!(first["response_content_type"], "text/plain");
    assert!(first["duration_ms"].as_f64().expect("duration") >= 0.0);
    assert!(first["started_at"].as_str().expect("time").ends_with('Z'));

    assert_eq!(
        Fixture::ids(&fx.json("/api/requests?status=4xx").await),
        [3]
    );
    assert_eq!(
        Fixture::ids(&fx.json("/api/requests?status=500-599").await),
        [4]
    );
    assert_eq!(
        Fixture::ids(&fx.json("/api/requests?status=200").await),
        [2, 1]
    );
    assert_eq!(
        Fixture::ids(&fx.json("/api/requests?method=post").await),
        [2]
    );
    assert_eq!(Fixture::ids(&fx.json("/api/requests?path=item").await), [2]);
    assert_eq!(
        Fixture::ids(&fx.json("/api/requests?min_ms=60000").await),
        Vec::<u64>::new()
    );
    assert_eq!(
        Fixture::ids(&fx.json("/api/requests?tunnel=").await),
        [4, 3, 2, 1]
    );

    let page = fx.json("/api/requests?limit=3").await;
    assert_eq!(Fixture::ids(&page), [4, 3, 2]);
    assert_eq!(page["next_before"], 2);
    let next = fx.json("/api/requests?limit=3&before=2").await;
    assert_eq!(Fixture::ids(&next), [1]);
    assert_eq!(next["next_before"], Value::Null);
}

#[tokio::test]
async fn a_bad_filter_is_a_400_naming_the_parameter() {
    let fx = fixture();
    for (query, named) in [
        ("status=9xx", "status"),
        ("status=abc", "status"),
        ("method=G%20T", "method"),
        ("min_ms=-1", "min_ms"),
        ("min_ms=soon", "min_ms"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("before=x", "before"),
    ] {
        let (status, text) = fx
            .refused("GET", &format!("/api/requests?{query}"), "")
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(text.contains(named), "{query}: {text}");
    }
}

#[tokio::test]
async fn an_exchange_shows_everything_with_secrets_masked() {
    let fx = fixture();
    fx.visit(
        "POST",
        "/json?q=1",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer very-secret"),
            ("x-trace", "abc"),
        ],
        r#"{"a":1}"#,
    )
    .await;
    fx.visit("GET", "/png", &[], "").await;

    let detail = fx.json("/api/requests/1").await;
    assert_eq!(detail["id"], 1);
    let headers = detail["request"]["headers"].as_array().expect("headers");
    assert!(
        headers.contains(&json!(["authorization", "***"])),
        "{headers:?}"
    );
    assert!(headers.contains(&json!(["x-trace", "abc"])), "{headers:?}");
    assert!(!detail.to_string().contains("very-secret"));
    assert!(
        !detail.to_string().contains("s3cr3t"),
        "set-cookie is masked"
    );
    assert_eq!(
        detail["request"]["body"],
        json!({"encoding": "utf8", "data": "{\"a\":1}", "size": 7, "truncated": false,
               "content_type": "application/json"})
    );
    assert_eq!(detail["response"]["status"], 200);
    assert_eq!(detail["response"]["reason"], "OK");
    assert_eq!(
        detail["response"]["body"]["data"],
        r#"{"ok":true,"n":[1,2]}"#
    );
    assert_eq!(
        detail["response"]["body"]["content_type"],
        "application/json"
    );
    assert_eq!(detail["can_replay"], true);
    let curl = detail["curl"].as_str().expect("curl");
    assert!(
        curl.starts_with("curl -X POST 'http://app.localhost:8080/json?q=1'"),
        "{curl}"
    );
    assert!(curl.contains("-H 'authorization: ***'"), "{curl}");
    assert!(curl.contains(r#"--data-raw '{"a":1}'"#), "{curl}");
    assert!(detail["timings"]["body_end_ms"].as_f64().is_some());

    let png = fx.json("/api/requests/2").await;
    assert_eq!(png["response"]["body"]["encoding"], "base64");
    assert_eq!(png["response"]["body"]["content_type"], "image/png");

    let (status, text) = fx.refused("GET", "/api/requests/99", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text.contains("#99"), "{text}");
    let (status, text) = fx.refused("GET", "/api/requests/abc", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("\"abc\""), "{text}");
}

#[tokio::test]
async fn bodies_beyond_the_prefix_are_truncated_and_cannot_be_replayed_as_they_were() {
    let fx = fixture_with(CaptureConfig::default().body_prefix(4), true);
    fx.visit("POST", "/echo", &[], "0123456789").await;
    let detail = fx.json("/api/requests/1").await;
    assert_eq!(detail["request"]["body"]["data"], "0123");
    assert_eq!(detail["request"]["body"]["size"], 10);
    assert_eq!(detail["request"]["body"]["truncated"], true);
    assert_eq!(detail["can_replay"], false);
    let (status, text) = fx.refused("POST", "/api/requests/1/replay", "").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(text.contains("first 4 of its 10"), "{text}");
    // With a body of the user's own, it can.
    let (status, _, _) = fx
        .call("POST", "/api/requests/1/replay", r#"{"body":"new"}"#)
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn clearing_forgets_every_exchange() {
    let fx = fixture();
    fx.visit("GET", "/json", &[], "").await;
    let (status, _, _) = fx.call("DELETE", "/api/requests", "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        Fixture::ids(&fx.json("/api/requests").await),
        Vec::<u64>::new()
    );
    assert_eq!(
        fx.refused("GET", "/api/requests/1", "").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_replay_sends_the_request_again_and_records_it_as_a_new_exchange() {
    let fx = fixture();
    fx.visit(
        "POST",
        "/echo?a=1",
        &[("authorization", "Bearer very-secret"), ("x-keep", "1")],
        "payload",
    )
    .await;
    let (status, _, body) = fx.call("POST", "/api/requests/1/replay", "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let new: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(new, json!({"id": 2}));

    let seen = fx.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2);
    let (method, uri, headers, body) = &seen[1];
    assert_eq!((method.as_str(), uri.as_str()), ("POST", "/echo?a=1"));
    assert_eq!(
        headers["authorization"], "Bearer very-secret",
        "the original, unmasked"
    );
    assert_eq!(headers["x-keep"], "1");
    assert_eq!(headers[header::HOST], "app.localhost:8080");
    assert_eq!(&body[..], b"payload");

    let replayed = wait_finished(&fx, 2).await;
    assert_eq!(replayed["replay_of"], 1);
    assert_eq!(replayed["status"], 200);
}

#[tokio::test]
async fn a_replay_with_changes_sends_what_the_user_edited() {
    let fx = fixture();
    fx.visit(
        "POST",
        "/echo",
        &[
            ("authorization", "Bearer very-secret"),
            ("x-old", "1"),
            ("x-set", "old"),
        ],
        "payload",
    )
    .await;
    let changes = json!({
        "method": "put",
        "path": "/changed?b=2",
        "headers": [["x-set", "new"], ["x-added", "yes"], ["authorization", "***"]],
        "remove_headers": ["x-old"],
        "body": "edited",
    });
    let (status, _, body) = fx
        .call("POST", "/api/requests/1/replay", &changes.to_string())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let seen = fx.seen.lock().expect("lock").clone();
    let (method, uri, headers, body) = &seen[1];
    assert_eq!((method.as_str(), uri.as_str()), ("PUT", "/changed?b=2"));
    assert_eq!(headers["x-set"], "new");
    assert_eq!(headers.get_all("x-set").iter().count(), 1);
    assert_eq!(headers["x-added"], "yes");
    assert!(!headers.contains_key("x-old"));
    assert_eq!(
        headers["authorization"], "Bearer very-secret",
        "*** keeps the original"
    );
    assert_eq!(headers[header::CONTENT_LENGTH], "6");
    assert_eq!(&body[..], b"edited");
}

#[tokio::test]
async fn replay_refusals_say_what_is_wrong() {
    let fx = fixture();
    fx.visit("GET", "/json", &[], "").await;
    for (changes, named) in [
        (r#"{"method":"G T"}"#, "method"),
        (r#"{"path":"no-slash"}"#, "path"),
        (r#"{"path":"http://elsewhere/"}"#, "path"),
        (r#"{"headers":[["bad name","1"]]}"#, "header name"),
        (r#"{"headers":[["x-ok","line\nbreak"]]}"#, "header value"),
        (r#"{"colour":"red"}"#, "colour"),
        ("not json", "not valid"),
    ] {
        let (status, text) = fx.refused("POST", "/api/requests/1/replay", changes).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{changes}");
        assert!(text.contains(named), "{changes}: {text}");
    }
    assert_eq!(
        fx.refused("POST", "/api/requests/7/replay", "").await.0,
        StatusCode::NOT_FOUND
    );
    let without = fixture_with(CaptureConfig::default(), false);
    without.visit("GET", "/json", &[], "").await;
    let (status, text) = without.refused("POST", "/api/requests/1/replay", "").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(text.contains("without a way to replay"), "{text}");
}

#[tokio::test]
async fn har_exports_one_exchange_or_all_of_them() {
    let fx = fixture();
    fx.visit(
        "POST",
        "/json?q=1&r",
        &[
            ("authorization", "Basic c2VjcmV0"),
            ("content-type", "application/json"),
        ],
        "{}",
    )
    .await;
    fx.visit("GET", "/png", &[], "").await;

    let (status, headers, body) = fx.call("GET", "/api/requests/1/har", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"ferrotunnel-1.har\""
    );
    assert!(!body.contains("c2VjcmV0"), "masked in HAR too");
    let har: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(har["log"]["version"], "1.2");
    let entry = &har["log"]["entries"][0];
    assert_eq!(entry["request"]["method"], "POST");
    assert_eq!(
        entry["request"]["url"],
        "http://app.localhost:8080/json?q=1&r"
    );
    assert_eq!(
        entry["request"]["queryString"],
        json!([{"name": "q", "value": "1"}, {"name": "r", "value": ""}])
    );
    assert_eq!(entry["request"]["postData"]["mimeType"], "application/json");
    assert_eq!(entry["response"]["status"], 200);
    assert_eq!(entry["response"]["content"]["mimeType"], "application/json");
    assert!(
        entry["startedDateTime"]
            .as_str()
            .expect("time")
            .ends_with('Z')
    );
    assert!(entry["timings"]["wait"].as_f64().is_some());

    let all = fx.json("/api/har").await;
    let entries = all["log"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["_ferrotunnel"]["id"], 1, "oldest first");
    assert_eq!(entries[1]["response"]["content"]["encoding"], "base64");
    assert_eq!(
        fx.refused("GET", "/api/requests/3/har", "").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn stats_give_ten_minutes_of_seconds() {
    let fx = fixture();
    fx.visit("GET", "/json", &[], "").await;
    fx.visit("GET", "/fail", &[], "").await;
    let stats = fx.json("/api/stats").await;
    let series = stats["series"].as_array().expect("series");
    assert_eq!(series.len(), 600);
    let requests: u64 = series
        .iter()
        .map(|p| p["requests"].as_u64().expect("n"))
        .sum();
    let errors: u64 = series
        .iter()
        .map(|p| p["errors"].as_u64().expect("n"))
        .sum();
    assert_eq!((requests, errors), (2, 1));
    assert!(series[0]["t"].as_str().expect("t").ends_with('Z'));
    assert_eq!(stats["tunnels"], 1);
    assert_eq!(stats["in_flight"], 0);
}

/// Reads the event stream until `wanted` events have come, or fails after a while.
async fn read_events(body: &mut Body, wanted: usize) -> Vec<(String, Value)> {
    let mut text = String::new();
    let mut events = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while events.len() < wanted {
            let frame = body
                .frame()
                .await
                .expect("the stream goes on")
                .expect("frame");
            let Ok(data) = frame.into_data() else {
                continue;
            };
            text.push_str(std::str::from_utf8(&data).expect("utf-8"));
            while let Some(end) = text.find("\n\n") {
                let block: String = text.drain(..end + 2).collect();
                let mut name = None;
                let mut data = None;
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_owned());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str::<Value>(d).expect("JSON data"));
                    }
                }
                if let (Some(name), Some(data)) = (name, data) {
                    if name != "stats" {
                        events.push((name, data));
                    }
                }
            }
        }
    })
    .await
    .expect("the events come in time");
    events
}

async fn subscribe(fx: &Fixture) -> Body {
    let request = Request::get("/api/events")
        .body(Body::empty())
        .expect("request");
    let response = fx.app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    response.into_body()
}

#[tokio::test]
async fn events_tell_of_exchanges_and_tunnels() {
    let fx = fixture();
    let mut events = subscribe(&fx).await;
    fx.visit("GET", "/json", &[], "").await;
    fx.tunnels.send_replace(vec![view("api")]);
    let got = read_events(&mut events, 3).await;
    // Each kind comes in order; the kinds may interleave.
    let of = |prefix: &str| -> Vec<(String, Value)> {
        got.iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .cloned()
            .collect()
    };
    // It started and ended before the stream was read: one batch, so its finish alone.
    let exchanges = of("exchange_");
    assert_eq!(exchanges.len(), 1, "{exchanges:?}");
    assert_eq!(exchanges[0].0, "exchange_finished");
    assert_eq!(exchanges[0].1["id"], 1);
    assert_eq!(exchanges[0].1["status"], 200);
    assert_eq!(exchanges[0].1["outcome"], "complete");
    let tunnels = of("tunnel_");
    assert_eq!(
        tunnels[0],
        ("tunnel_down".to_owned(), json!({"name": "app"}))
    );
    assert_eq!(tunnels[1].0, "tunnel_up");
    assert_eq!(tunnels[1].1["name"], "api");
}

#[tokio::test]
async fn an_exchange_seen_in_flight_comes_as_its_start_then_its_finish() {
    let fx = fixture();
    let mut events = subscribe(&fx).await;
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let released = Arc::new(Mutex::new(Some(released)));
    let held = fx
        .capture
        .layer()
        .layer(tower::service_fn(move |_: Request<TunnelBody>| {
            let released = released.lock().expect("lock").take();
            async move {
                let body = futures::stream::once(async move {
                    if let Some(released) = released {
                        let _ = released.await;
                    }
                    Ok::<_, BoxError>(http_body::Frame::data(Bytes::from_static(b"at last")))
                });
                Ok::<_, BoxError>(Response::new(into_tunnel_body(
                    http_body_util::StreamBody::new(body),
                )))
            }
        }));
    let request = Request::get("/slow")
        .header(header::HOST, "app.localhost:8080")
        .body(into_tunnel_body(Full::new(Bytes::new())))
        .expect("request");
    let response = held.oneshot(request).await.expect("a response head");

    let started = read_events(&mut events, 1).await;
    assert_eq!(started[0].0, "exchange_started", "{started:?}");
    assert_eq!(started[0].1["uri"], "/slow");
    assert_eq!(started[0].1["outcome"], "in_flight");

    release.send(()).expect("the body waits");
    let body = response.into_body().collect().await.expect("body");
    assert_eq!(body.to_bytes(), "at last");
    let finished = read_events(&mut events, 1).await;
    assert_eq!(finished[0].0, "exchange_finished", "{finished:?}");
    assert_eq!(finished[0].1["id"], started[0].1["id"]);
    assert_eq!(finished[0].1["outcome"], "complete");
    assert_eq!(finished[0].1["response_bytes"], 7);
}

#[tokio::test]
async fn a_slow_subscriber_is_told_what_it_missed() {
    let fx = fixture();
    let mut events = subscribe(&fx).await;
    // Far more events than the broadcast holds, with the subscriber not reading.
    for _ in 0..1500 {
        fx.visit("GET", "/json", &[], "").await;
    }
    let got = read_events(&mut events, 1).await;
    assert_eq!(got[0].0, "lagged", "{got:?}");
    assert!(got[0].1["missed"].as_u64().expect("missed") > 0);
}

/// Waits for exchange `id` to finish (a replay's body is read by a task of its own).
async fn wait_finished(fx: &Fixture, id: u64) -> Value {
    let mut events = fx.capture.subscribe();
    loop {
        let detail = fx.json(&format!("/api/requests/{id}")).await;
        if detail["outcome"] != "in_flight" {
            return detail;
        }
        tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("the exchange finishes in time")
            .ok();
    }
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_a_strict_policy() {
    let fx = fixture();
    let (status, headers, page) = fx.call("GET", "/", "").await;
    assert_eq!(status, StatusCode::OK);
    let csp = headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("csp");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    for external in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "@import",
    ] {
        assert!(
            !page.contains(external),
            "nothing is fetched from elsewhere: {external}"
        );
    }
    for (name, _, _) in page::ASSETS {
        assert!(
            page.contains(&format!("\"assets/{name}\"")),
            "{name}: relative, so that it can be mounted under a prefix"
        );
    }
    for (name, _, _) in page::ASSETS {
        let (status, headers, body) = fx.call("GET", &format!("/assets/{name}"), "").await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(!body.is_empty());
        assert!(headers.contains_key(header::CONTENT_TYPE));
    }
    assert_eq!(
        fx.refused("GET", "/assets/nope.js", "").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fx.refused("GET", "/nowhere", "").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(fx.call("GET", "/healthz", "").await.2, "ok\n");
}

#[tokio::test]
async fn mounted_under_a_prefix_the_page_is_reached_with_its_slash() {
    let fx = fixture();
    let app = Router::new().nest_service("/inspect", fx.app.clone());
    let request = Request::get("/inspect")
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(response.headers()[header::LOCATION], "/inspect/");
    for path in [
        "/inspect/",
        "/inspect/assets/app.js",
        "/inspect/api/requests",
    ] {
        let request = Request::get(path).body(Body::empty()).expect("request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn credentials_guard_every_route() {
    let capture = CaptureStore::new(CaptureConfig::default());
    let (_tunnels, watch) = watch::channel(Vec::new());
    let app = router(DashboardState::with_views(capture, watch).basic_auth("admin", "pw"));
    for path in ["/", "/api/requests", "/api/events", "/healthz"] {
        let request = Request::get(path).body(Body::empty()).expect("request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    }
    let request = Request::get("/api/requests")
        .header(header::AUTHORIZATION, "Basic YWRtaW46cHc=")
        .body(Body::empty())
        .expect("request");
    let response = app.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
}

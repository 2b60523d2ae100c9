//! The inspector over real sockets: a real server with the capture layer, a real client and
//! local service, the dashboard on its own port, and real HTTP clients on both sides.

mod support;

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use ferrotunnel::ServerHandle;
use ferrotunnel_dashboard::{DashboardState, IngressReplay};
use ferrotunnel_tower::capture::{CaptureConfig, CaptureStore};
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client as HttpClient, rt::TokioExecutor};
use serde_json::Value;
use support::{Visitor, body_stream_len, local_service, serve, server_builder, start_client};
use tokio::net::TcpListener;

const LIMIT: Duration = Duration::from_secs(30);
const HOST: &str = "app.localhost";

/// A server whose every tunnel is captured into `capture`, and its dashboard.
struct Inspected {
    server: ServerHandle,
    capture: CaptureStore,
    dashboard: SocketAddr,
}

async fn inspected(config: CaptureConfig) -> Inspected {
    let capture = CaptureStore::new(config);
    let server = server_builder()
        .layer(capture.layer())
        .build()
        .expect("server config")
        .start()
        .await
        .expect("server starts");
    let state = DashboardState::new(capture.clone(), server.watch_tunnels())
        .replay_with(IngressReplay::new(server.ingress_service()));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dashboard = listener.local_addr().expect("addr");
    tokio::spawn(ferrotunnel_dashboard::serve(listener, state));
    Inspected {
        server,
        capture,
        dashboard,
    }
}

/// The dashboard's answer to a request: status and body.
async fn api(dashboard: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let client =
        HttpClient::builder(TokioExecutor::new()).build_http::<http_body_util::Full<Bytes>>();
    let request = http::Request::builder()
        .method(method)
        .uri(format!("http://{dashboard}{path}"))
        .body(http_body_util::Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let response = tokio::time::timeout(LIMIT, client.request(request))
        .await
        .expect("the dashboard answers in time")
        .expect("the dashboard answers");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn api_json(dashboard: SocketAddr, path: &str) -> Value {
    let (status, body) = api(dashboard, "GET", path, "").await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

/// Waits until exchange `id` has finished.
async fn finished(inspected: &Inspected, id: u64) -> Value {
    let mut events = inspected.capture.subscribe();
    tokio::time::timeout(LIMIT, async {
        loop {
            let detail = api_json(inspected.dashboard, &format!("/api/requests/{id}")).await;
            if detail["outcome"] != "in_flight" {
                return detail;
            }
            let _ = events.recv().await;
        }
    })
    .await
    .expect("the exchange finishes in time")
}

#[tokio::test]
async fn a_request_through_a_tunnel_arrives_on_the_event_stream() {
    let inspected = inspected(CaptureConfig::default()).await;
    let local = serve(local_service()).await;
    let _client = start_client(&inspected.server, "app", local).await;

    let http = HttpClient::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri = format!("http://{}/api/events", inspected.dashboard)
        .parse()
        .expect("uri");
    let events = tokio::time::timeout(LIMIT, http.get(uri))
        .await
        .expect("in time")
        .expect("the event stream opens");
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut events = events.into_body();

    let visitor = Visitor::new(inspected.server.http_addr());
    let (status, body) = visitor.get(HOST, "/hello").await;
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (200, "hello from the local service")
    );

    let mut text = String::new();
    let finished = tokio::time::timeout(LIMIT, async {
        loop {
            let frame = events.frame().await.expect("open").expect("frame");
            if let Ok(data) = frame.into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
            if let Some(at) = text.find("event: exchange_finished\ndata: ") {
                let rest = &text[at + "event: exchange_finished\ndata: ".len()..];
                if let Some(end) = rest.find('\n') {
                    return serde_json::from_str::<Value>(&rest[..end]).expect("JSON");
                }
            }
        }
    })
    .await
    .expect("the exchange arrives on the event stream in time");
    assert_eq!(finished["tunnel"], "app");
    assert_eq!(finished["uri"], "/hello");
    assert_eq!(finished["status"], 200);
    assert_eq!(finished["response_bytes"], 28);
    let visitor_ip = finished["visitor"].as_str().expect("visitor");
    assert!(visitor_ip.starts_with("127.0.0.1:"), "{visitor_ip}");

    let tunnels = api_json(inspected.dashboard, "/api/tunnels").await;
    let app = &tunnels[0];
    assert_eq!(app["name"], "app");
    assert_eq!(app["transport"], "tcp");
    assert!(
        app["client_addr"]
            .as_str()
            .expect("client")
            .starts_with("127.0.0.1:")
    );
    assert_eq!(app["requests"], 1);
    assert!(app["p50_ms"].as_f64().is_some());
}

#[tokio::test]
async fn a_replay_goes_back_through_the_tunnel_and_not_once_it_is_gone() {
    let inspected = inspected(CaptureConfig::default()).await;
    let local = serve(local_service()).await;
    let client = start_client(&inspected.server, "app", local).await;
    let visitor = Visitor::new(inspected.server.http_addr());
    let (status, _, _) = visitor.call(HOST, "POST", "/echo", b"original body").await;
    assert_eq!(status, 200);
    finished(&inspected, 1).await;

    let changes = r#"{"body": "changed body"}"#;
    let (status, body) = api(
        inspected.dashboard,
        "POST",
        "/api/requests/1/replay",
        changes,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).expect("JSON")["id"]
        .as_u64()
        .expect("id");
    let replay = finished(&inspected, id).await;
    assert_eq!(replay["replay_of"], 1);
    assert_eq!(replay["tunnel"], "app");
    assert_eq!(replay["status"], 200);
    assert_eq!(
        replay["response"]["body"]["data"], "changed body",
        "the local service echoed it"
    );

    client.shutdown().await.expect("client stops");
    support::wait_for_tunnels(&inspected.server, &[], LIMIT).await;
    let (status, body) = api(inspected.dashboard, "POST", "/api/requests/1/replay", "").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("\"app\"") && body.contains("not connected"),
        "{body}"
    );
}

#[tokio::test]
async fn a_gigabyte_download_arrives_whole_and_only_its_prefix_is_kept() {
    const GIB: u64 = 1 << 30;
    let inspected = inspected(CaptureConfig::default()).await;
    let local = serve(local_service()).await;
    let _client = start_client(&inspected.server, "app", local).await;
    let visitor = Visitor::new(inspected.server.http_addr());
    let request = visitor.request(HOST, "GET", &format!("/download/{GIB}"), support::full(b""));
    let response = visitor.send(request).await;
    assert_eq!(response.status(), 200);
    let received = tokio::time::timeout(
        Duration::from_secs(600),
        body_stream_len(response.into_body()),
    )
    .await
    .expect("the download ends in time");
    assert_eq!(received, GIB);

    let detail = finished(&inspected, 1).await;
    assert_eq!(detail["response"]["body"]["size"], GIB);
    assert_eq!(detail["response"]["body"]["truncated"], true);
    let kept = inspected.capture.get(1).expect("exchange");
    let prefix = &kept.response.as_ref().expect("response").body.prefix;
    assert_eq!(prefix.len(), 64 * 1024);
    let start: Vec<u8> = (0..64 * 1024).map(|j| ((j * 31) % 251) as u8).collect();
    assert_eq!(&prefix[..], &start[..], "the prefix is the body's start");
    assert!(
        inspected.capture.bytes_used() < 1 << 20,
        "{}",
        inspected.capture.bytes_used()
    );
}

#[tokio::test]
async fn the_store_stays_within_its_bounds_after_a_hundred_thousand_requests() {
    const REQUESTS: usize = 100_000;
    const CONCURRENCY: usize = 16;
    const MAX_BYTES: usize = 256 * 1024;
    const MAX_EXCHANGES: usize = 1000;
    let inspected = inspected(
        CaptureConfig::default()
            .max_bytes(MAX_BYTES)
            .max_exchanges(MAX_EXCHANGES),
    )
    .await;
    let local = serve(local_service()).await;
    let _client = start_client(&inspected.server, "app", local).await;
    let visitor = Visitor::new(inspected.server.http_addr());

    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (visitor, sent, capture) =
                (visitor.clone(), sent.clone(), inspected.capture.clone());
            tokio::spawn(async move {
                while sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < REQUESTS {
                    let (status, body) = visitor.get(HOST, "/hello").await;
                    assert_eq!((status.as_u16(), body.len()), (200, 28));
                    assert!(
                        capture.bytes_used() <= MAX_BYTES,
                        "{}",
                        capture.bytes_used()
                    );
                    assert!(capture.len() <= MAX_EXCHANGES, "{}", capture.len());
                }
            })
        })
        .collect();
    for worker in workers {
        tokio::time::timeout(Duration::from_secs(600), worker)
            .await
            .expect("the requests end in time")
            .expect("every request is answered and the store stays bounded");
    }

    let capture = &inspected.capture;
    assert!(
        capture.bytes_used() <= MAX_BYTES,
        "{}",
        capture.bytes_used()
    );
    assert!(capture.len() <= MAX_EXCHANGES);
    let stats = capture.tunnel_stats("app").expect("the tunnel's figures");
    assert_eq!(
        stats.requests, REQUESTS as u64,
        "every request counted, kept or not"
    );
    // The newest exchange is still there, whole.
    let newest = api_json(inspected.dashboard, "/api/requests?limit=1").await;
    assert_eq!(newest["items"][0]["id"], REQUESTS as u64);
}

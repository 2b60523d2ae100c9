//! A client with HTTP layers (`ClientBuilder::http_layer`, what `client --inspect` uses) serves
//! each stream as HTTP: its layers see every request with its tunnel and visitor, bodies stream
//! both ways, keep-alive and WebSockets work, an unreachable local service is a 502 naming it,
//! and the caller can send requests of its own through the same layers.

mod support;

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::ConnectInfo, routing::get};
use bytes::Bytes;
use ferrotunnel::{
    ClientBuilder, ClientHandle, ServerHandle, TunnelBody,
    client::{ForwardService, LocalHttpService, LocalTarget},
    server::VisitorAddr,
};
use futures::{SinkExt, StreamExt};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use support::*;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
use tower::{ServiceExt, layer::layer_fn, util::MapRequestLayer};

/// What a recording layer saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    target: Option<LocalTarget>,
    visitor: Option<IpAddr>,
    /// Whether the request already had the header that the marking layer adds.
    marked: bool,
    upgrade: bool,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A layer that records every request it sees.
fn recorder(
    log: Log,
) -> MapRequestLayer<impl Fn(Request<TunnelBody>) -> Request<TunnelBody> + Clone + Send + Sync> {
    MapRequestLayer::new(move |request: Request<TunnelBody>| {
        let extensions = request.extensions();
        log.lock().expect("log").push(Seen {
            path: request.uri().to_string(),
            target: extensions.get::<LocalTarget>().cloned(),
            visitor: extensions.get::<VisitorAddr>().map(|v| v.0.ip()),
            marked: request.headers().contains_key("x-inspected"),
            upgrade: request.headers().contains_key("upgrade"),
        });
        request
    })
}

/// A layer that adds `x-inspected: yes`, which the local service then sees.
fn marker()
-> MapRequestLayer<impl Fn(Request<TunnelBody>) -> Request<TunnelBody> + Clone + Send + Sync> {
    MapRequestLayer::new(|mut request: Request<TunnelBody>| {
        request
            .headers_mut()
            .insert("x-inspected", HeaderValue::from_static("yes"));
        request
    })
}

/// A client of `server` for tunnel `name`, recording into `log` and then marking requests.
fn inspected(server: &ServerHandle, name: &str, local: SocketAddr, log: &Log) -> ClientBuilder {
    client_builder(server)
        .subdomain(name)
        .local_address(local.to_string())
        .http_layer(recorder(log.clone()))
        .http_layer(marker())
}

async fn start(builder: ClientBuilder) -> ClientHandle {
    builder
        .build()
        .expect("client config")
        .start()
        .await
        .expect("client starts")
}

fn seen(log: &Log) -> Vec<Seen> {
    log.lock().expect("log").clone()
}

fn body(bytes: impl Into<Bytes>) -> TunnelBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

#[tokio::test]
async fn layers_see_each_request_with_its_tunnel_and_visitor_then_the_local_service_does() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let log = Log::default();
    let _client = start(inspected(&server, "app", local, &log)).await;
    let visitor = Visitor::new(server.http_addr());

    let (status, headers) = visitor.get("app.localhost", "/headers").await;
    assert_eq!(status, StatusCode::OK, "{headers}");
    // The inner layer's header reached the local service, with the visitor's own Host.
    assert!(headers.contains("x-inspected: yes"), "{headers}");
    assert!(headers.contains("host: app.localhost\n"), "{headers}");
    assert!(headers.contains("x-forwarded-for: 127.0.0.1"), "{headers}");

    let seen = seen(&log);
    assert_eq!(seen.len(), 1, "{seen:?}");
    let seen = &seen[0];
    assert_eq!(seen.path, "/headers");
    assert_eq!(
        seen.target,
        Some(LocalTarget::new("app", local.to_string())),
        "the layers know the tunnel and its local service"
    );
    assert_eq!(seen.visitor, Some(IpAddr::from([127, 0, 0, 1])));
    assert!(!seen.marked, "the first layer added runs first (outermost)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_upload_streams_through_and_echoes_back_intact() {
    const SIZE: u64 = 64 * 1024 * 1024;
    let local = serve(local_service()).await;
    let server = start_server().await;
    let log = Log::default();
    let _client = start(inspected(&server, "up", local, &log)).await;
    let visitor = Visitor::new(server.http_addr());

    let (chunks_tx, mut chunks_rx) = tokio::sync::mpsc::channel::<
        Result<http_body::Frame<Bytes>, Box<dyn std::error::Error + Send + Sync>>,
    >(4);
    let upload = BodyExt::boxed(StreamBody::new(futures::stream::poll_fn(move |cx| {
        chunks_rx.poll_recv(cx)
    })));
    let request = visitor.request("up.localhost", "POST", "/echo", upload);
    let response = tokio::spawn({
        let visitor = visitor.clone();
        async move { visitor.send(request).await }
    });

    let mut pattern = pattern_stream(SIZE);
    let mut sent_hash = Sha256::new();
    // Only the first chunk, then wait for the echo to start: had anything on the way (the
    // client's stream server, its layers, its local forwarder) held a whole body, no response
    // could start before the upload ended.
    let first = pattern.next().await.expect("chunk").expect("infallible");
    sent_hash.update(&first);
    chunks_tx
        .send(Ok(http_body::Frame::data(first.clone())))
        .await
        .expect("send");
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("the echo starts before the upload ends")
        .expect("task");
    assert_eq!(response.status(), StatusCode::OK);
    let mut received = response.into_body().into_data_stream();
    let echoed = tokio::time::timeout(Duration::from_secs(10), received.next())
        .await
        .expect("the echo's first bytes come before the upload ends")
        .expect("echo starts")
        .expect("chunk");
    assert!(
        first.starts_with(&echoed) && !echoed.is_empty(),
        "the echo starts with the first chunk"
    );

    let upload = async move {
        while let Some(chunk) = pattern.next().await {
            let chunk = chunk.expect("infallible");
            sent_hash.update(&chunk);
            chunks_tx
                .send(Ok(http_body::Frame::data(chunk)))
                .await
                .expect("send");
        }
        drop(chunks_tx);
        sent_hash.finalize()
    };
    let download = async move {
        let mut hash = Sha256::new();
        hash.update(&echoed);
        let mut total = echoed.len() as u64;
        while let Some(chunk) = received.next().await {
            let chunk = chunk.expect("chunk");
            total += chunk.len() as u64;
            hash.update(&chunk);
        }
        (total, hash.finalize())
    };
    let (sent, (total, got)) = tokio::join!(upload, download);
    assert_eq!(total, SIZE);
    assert_eq!(sent, got, "SHA-256 of the echo matches the upload");
    assert_eq!(seen(&log).len(), 1, "the layers saw the upload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_download_streams_through_intact() {
    const SIZE: u64 = 64 * 1024 * 1024;
    let local = serve(local_service()).await;
    let server = start_server().await;
    let log = Log::default();
    let _client = start(inspected(&server, "down", local, &log)).await;
    let visitor = Visitor::new(server.http_addr());

    let request = visitor.request(
        "down.localhost",
        "GET",
        &format!("/download/{SIZE}"),
        full(b""),
    );
    let response = visitor.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body().into_data_stream();
    let (mut got, mut expected) = (Sha256::new(), Sha256::new());
    let mut total = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.expect("chunk");
        total += chunk.len() as u64;
        got.update(&chunk);
    }
    let mut pattern = pattern_stream(SIZE);
    while let Some(chunk) = pattern.next().await {
        expected.update(chunk.expect("infallible"));
    }
    assert_eq!(total, SIZE);
    assert_eq!(got.finalize(), expected.finalize());
    assert_eq!(seen(&log).len(), 1, "the layers saw the download");
}

/// A local service that answers each request with the address of the connection it came on.
async fn serve_peer_echo() -> SocketAddr {
    let router = Router::new().route(
        "/peer",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let app = router.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await.expect("local service");
    });
    addr
}

#[tokio::test]
async fn several_requests_on_one_visitor_connection_share_one_stream_and_one_local_connection() {
    let local = serve_peer_echo().await;
    let server = start_server().await;
    let log = Log::default();
    let streams = Arc::new(AtomicUsize::new(0));
    let counter = streams.clone();
    let _client = start(inspected(&server, "keep", local, &log).layer(layer_fn(
        move |inner: ForwardService| {
            let counter = counter.clone();
            ForwardService::new(tower::service_fn(move |stream| {
                counter.fetch_add(1, Ordering::SeqCst);
                inner.clone().oneshot(stream)
            }))
        },
    )))
    .await;

    // One visitor connection, several requests in turn.
    let tcp = tokio::net::TcpStream::connect(server.http_addr())
        .await
        .expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let mut peers = Vec::new();
    for _ in 0..5 {
        let request = Request::get("/peer")
            .header("host", "keep.localhost")
            .body(Full::new(Bytes::new()))
            .expect("request");
        sender.ready().await.expect("the connection stays open");
        let response = sender.send_request(request).await.expect("response");
        let (status, _, peer) = read_response(response).await;
        assert_eq!(status, StatusCode::OK, "{peer}");
        peers.push(peer);
    }
    assert_eq!(seen(&log).len(), 5, "the layers saw each request");
    assert_eq!(
        streams.load(Ordering::SeqCst),
        1,
        "the requests shared one stream"
    );
    assert!(
        peers.iter().all(|peer| *peer == peers[0]),
        "the requests shared one local connection: {peers:?}"
    );
}

#[tokio::test]
async fn a_websocket_echo_session_works_through_an_inspected_client() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let log = Log::default();
    let _client = start(inspected(&server, "ws", local, &log)).await;

    let tcp = tokio::net::TcpStream::connect(server.http_addr())
        .await
        .expect("connect");
    let mut request = format!("ws://{}/ws", server.http_addr())
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("host", "ws.localhost".parse().expect("header"));
    let (mut socket, response) = tokio_tungstenite::client_async(request, tcp)
        .await
        .expect("handshake through the inspected client");
    assert_eq!(response.status(), 101);

    for i in 0..20 {
        let text = format!("message {i}");
        socket
            .send(Message::text(text.clone()))
            .await
            .expect("send");
        let echoed = socket.next().await.expect("an answer").expect("a message");
        assert_eq!(echoed, Message::text(text));
    }
    let blob = vec![7u8; 256 * 1024];
    socket
        .send(Message::binary(blob.clone()))
        .await
        .expect("send binary");
    assert_eq!(
        socket.next().await.expect("answer").expect("message"),
        Message::binary(blob)
    );
    socket.close(None).await.expect("close");

    let seen = seen(&log);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].upgrade, "the layers saw the upgrade request");
}

#[tokio::test]
async fn a_local_service_that_is_down_is_a_502_naming_it_and_the_client_recovers_when_it_is_back() {
    // A port that was free a moment ago refuses connections.
    let local = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let server = start_server().await;
    let log = Log::default();
    let _client = start(inspected(&server, "down", local, &log)).await;
    let visitor = Visitor::new(server.http_addr());

    let (status, _, text) = visitor.call("down.localhost", "GET", "/hello", b"").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{text}");
    assert!(
        text.contains(&format!(
            "the local service at {local} refused the connection"
        )),
        "{text}"
    );

    // Back on the same address: the same client serves it again.
    let listener = TcpListener::bind(local)
        .await
        .expect("rebind the local port");
    tokio::spawn(async move {
        axum::serve(listener, local_service())
            .await
            .expect("local service");
    });
    assert_eq!(
        visitor.get("down.localhost", "/hello").await,
        (StatusCode::OK, "hello from the local service".to_owned())
    );
    assert_eq!(seen(&log).len(), 2, "the layers saw both requests");
}

#[tokio::test]
async fn the_handle_sends_requests_of_its_own_through_the_same_layers() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let log = Log::default();
    let client = start(inspected(&server, "app", local, &log)).await;

    let service: LocalHttpService = client.http_service().expect("the client has HTTP layers");
    let target = client.local_target("app").expect("the client serves app");
    assert_eq!(&*target.local_addr, local.to_string());
    assert_eq!(client.local_target("elsewhere"), None);

    let mut request = Request::post("/headers")
        .header("host", "app.localhost:8080")
        .header("connection", "x-hop-only")
        .header("x-hop-only", "1")
        .header("x-replayed", "yes")
        .body(body("replayed body"))
        .expect("request");
    request.extensions_mut().insert(target.clone());
    let response = service.oneshot(request).await.expect("a response");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let headers = String::from_utf8_lossy(&bytes);
    assert!(headers.contains("x-replayed: yes"), "{headers}");
    assert!(headers.contains("x-inspected: yes"), "{headers}");
    assert!(headers.contains("host: app.localhost:8080"), "{headers}");
    assert!(
        !headers.contains("x-hop-only"),
        "a header that Connection names stops at the forwarder: {headers}"
    );

    let seen = seen(&log);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, Some(target));
    assert_eq!(seen[0].visitor, None);
}

#[tokio::test]
async fn without_http_layers_the_client_splices_and_has_no_http_service() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let client = start_client(&server, "plain", local).await;
    assert!(client.http_service().is_none());
    assert_eq!(
        client.local_target("plain"),
        Some(LocalTarget::new("plain", local.to_string()))
    );
    let visitor = Visitor::new(server.http_addr());
    assert_eq!(
        visitor.get("plain.localhost", "/hello").await,
        (StatusCode::OK, "hello from the local service".to_owned())
    );
}

#[tokio::test]
async fn an_inspected_client_shuts_down_without_waiting_out_its_idle_streams() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let log = Log::default();
    let client = start(inspected(&server, "idle", local, &log)).await;
    let visitor = Visitor::new(server.http_addr());
    // The request leaves a pooled stream, idle on both ends, and an idle local connection.
    assert_eq!(
        visitor.get("idle.localhost", "/hello").await,
        (StatusCode::OK, "hello from the local service".to_owned())
    );

    // The test client's grace period is 5 s: a stream server that outlived its stream would
    // hold the shutdown that long.
    tokio::time::timeout(Duration::from_secs(3), client.shutdown())
        .await
        .expect("the shutdown does not wait for idle streams")
        .expect("a clean shutdown");
}

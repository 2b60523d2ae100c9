//! The server's pool of streams to the client: requests reuse streams (and so the client's
//! local connections), and a stream the other side closed while idle never fails a request.

mod support;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use axum::serve::ListenerExt;
use http::StatusCode;
use support::*;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// The test's local service, counting the connections it accepts.
async fn counting_local_service() -> (SocketAddr, Arc<AtomicUsize>) {
    let accepted = Arc::new(AtomicUsize::new(0));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let counter = accepted.clone();
    let listener = listener.tap_io(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    tokio::spawn(async move { axum::serve(listener, local_service()).await });
    (addr, accepted)
}

#[tokio::test]
async fn keep_alive_visitors_reuse_one_stream_and_one_local_connection() {
    init_tracing();
    let (local, accepted) = counting_local_service().await;
    let server = start_server().await;
    let client = start_client(&server, "app", local).await;
    let visitor = Visitor::new(server.http_addr());

    for i in 0..50 {
        let (status, body) = visitor.get("app.localhost", "/hello").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "hello from the local service"),
            "request {i}"
        );
        // Bodies of every kind hand the stream back: empty, streamed, posted.
        let (status, _, _) = visitor
            .call("app.localhost", "GET", "/status/204", b"")
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let request = visitor.request("app.localhost", "GET", "/download/70000", full(b""));
        let response = visitor.send(request).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_stream_len(response.into_body()).await, 70_000);
        let (status, _, body) = visitor
            .call("app.localhost", "POST", "/echo", b"posted")
            .await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "posted"));
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "200 requests one after the other need one local connection"
    );

    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

#[tokio::test]
async fn a_stream_that_carried_a_bulk_exchange_is_closed_rather_than_pooled() {
    init_tracing();
    let (local, accepted) = counting_local_service().await;
    let server = start_server().await;
    let client = start_client(&server, "app", local).await;
    let visitor = Visitor::new(server.http_addr());
    let hello = async || {
        let (status, body) = visitor.get("app.localhost", "/hello").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "hello from the local service")
        );
    };

    hello().await;
    hello().await;
    assert_eq!(accepted.load(Ordering::SeqCst), 1);

    // A download over 1 MiB: its stream closes with it, and the next request opens another.
    let request = visitor.request("app.localhost", "GET", "/download/1100000", full(b""));
    let response = visitor.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_stream_len(response.into_body()).await, 1_100_000);
    hello().await;
    hello().await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "the download's connection went, and the new one is pooled"
    );

    // An upload counts the same way: 600 000 bytes out and the same back.
    static UPLOAD: [u8; 600_000] = [b'u'; 600_000];
    let (status, _, body) = visitor
        .call("app.localhost", "POST", "/echo", &UPLOAD)
        .await;
    assert_eq!((status, body.len()), (StatusCode::OK, UPLOAD.len()));
    hello().await;
    assert_eq!(accepted.load(Ordering::SeqCst), 3);

    // Just under the bound, a download keeps its stream.
    let request = visitor.request("app.localhost", "GET", "/download/1000000", full(b""));
    let response = visitor.send(request).await;
    assert_eq!(body_stream_len(response.into_body()).await, 1_000_000);
    hello().await;
    assert_eq!(accepted.load(Ordering::SeqCst), 3);

    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

/// A local service that answers one request per connection and then hangs up, without saying
/// so (`Connection: close`) — as a server whose keep-alive timeout just expired does.
async fn one_request_per_connection() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0; 1024];
                while !head.ends_with(b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn a_stream_closed_while_idle_is_replaced_without_failing_the_request() {
    init_tracing();
    let (local, accepted) = one_request_per_connection().await;
    let server = start_server().await;
    let client = start_client(&server, "app", local).await;
    let visitor = Visitor::new(server.http_addr());

    for i in 0..30 {
        let (status, body) = visitor.get("app.localhost", "/").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "ok"),
            "request {i}"
        );
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 30);

    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

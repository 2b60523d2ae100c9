//! The core tunnel, end to end: a real server, a real client and a real local service on
//! loopback, reached by a real HTTP client.

mod support;

use std::time::Duration;

use http::StatusCode;
use support::*;

#[tokio::test]
async fn get_and_post_pass_through_with_status_and_headers() {
    init_tracing();
    let local = serve(local_service()).await;
    let server = start_server().await;
    let client = start_client(&server, "app", local).await;
    assert_eq!(
        client.public_url(),
        format!("http://app.localhost:{}", server.http_addr().port())
    );
    let visitor = Visitor::new(server.http_addr());

    let (status, body) = visitor.get("app.localhost", "/hello").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "hello from the local service")
    );

    let (status, headers, body) = visitor
        .call("app.localhost", "GET", "/status/418", b"")
        .await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
    assert_eq!(headers["x-custom"], "preserved");
    assert_eq!(body, "status 418");

    let (status, _, body) = visitor
        .call("APP.localhost:1234", "POST", "/echo", b"posted body")
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "posted body"));

    let (_, _, seen) = visitor.call("app.localhost", "GET", "/headers", b"").await;
    assert!(seen.contains("x-forwarded-for: 127.0.0.1"), "{seen}");
    assert!(seen.contains("x-forwarded-host: app.localhost"), "{seen}");
    assert!(seen.contains("x-forwarded-proto: http"), "{seen}");

    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

#[tokio::test]
async fn a_hundred_concurrent_requests_are_all_answered() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let _client = start_client(&server, "busy", local).await;
    let visitor = Visitor::new(server.http_addr());
    let requests = (0..100).map(|i| {
        let visitor = visitor.clone();
        tokio::spawn(async move {
            let body: &'static [u8] = Box::leak(
                format!("request number {i}")
                    .into_bytes()
                    .into_boxed_slice(),
            );
            let (status, _, echoed) = visitor.call("busy.localhost", "POST", "/echo", body).await;
            (status, echoed, i)
        })
    });
    for request in requests {
        let (status, echoed, i) = request.await.expect("task");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(echoed, format!("request number {i}"));
    }
    drop(server);
}

#[tokio::test]
async fn unknown_tunnels_are_404_with_a_clear_body() {
    let server = start_server().await;
    let visitor = Visitor::new(server.http_addr());
    let (status, body) = visitor.get("nope.localhost", "/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains("no tunnel is registered for host \"nope.localhost\""),
        "{body}"
    );
    let (status, _) = visitor.get("example.com", "/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_dead_local_service_is_a_502_naming_it() {
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let server = start_server().await;
    let _client = start_client(&server, "dead", dead).await;
    let (status, body) = Visitor::new(server.http_addr())
        .get("dead.localhost", "/")
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        body.contains(&format!("local service at {dead} refused the connection")),
        "{body}"
    );
}

#[tokio::test]
async fn a_local_service_that_never_answers_is_a_504() {
    let local = serve(local_service()).await;
    let server = server_builder()
        .response_timeout(Duration::from_millis(300))
        .build()
        .expect("config")
        .start()
        .await
        .expect("start");
    let _client = start_client(&server, "slow", local).await;
    let visitor = Visitor::new(server.http_addr());
    let (status, body) = visitor.get("slow.localhost", "/never").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert!(body.contains("did not answer within 300ms"), "{body}");
    // The tunnel still works afterwards.
    assert_eq!(
        visitor.get("slow.localhost", "/hello").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_local_service_that_hangs_up_is_a_502() {
    // Accepts every connection and closes it at once, without a response.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let local = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let server = start_server().await;
    let _client = start_client(&server, "rude", local).await;
    let (status, body) = Visitor::new(server.http_addr())
        .get("rude.localhost", "/")
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        body.contains("closed the connection before it finished its response"),
        "{body}"
    );
}

//! Graceful shutdown: requests in flight finish, then the session closes.

mod support;

use std::{sync::Arc, time::Duration};

use axum::{Router, routing::get};
use http::StatusCode;
use support::*;
use tokio::sync::Notify;

/// A local service whose `/gate` answers only once the test opens the gate, and says when a
/// request has arrived.
fn gated_service(arrived: Arc<Notify>, gate: Arc<Notify>) -> Router {
    Router::new().route(
        "/gate",
        get(move || {
            let (arrived, gate) = (arrived.clone(), gate.clone());
            async move {
                arrived.notify_one();
                gate.notified().await;
                "finished after the shutdown began"
            }
        }),
    )
}

#[tokio::test]
async fn a_server_shutting_down_lets_requests_in_flight_finish() {
    let (arrived, gate) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let local = serve(gated_service(arrived.clone(), gate.clone())).await;
    let server = start_server().await;
    let _client = start_client(&server, "inflight", local).await;
    let visitor = Visitor::new(server.http_addr());

    let request = tokio::spawn(async move { visitor.get("inflight.localhost", "/gate").await });
    arrived.notified().await;
    let shutdown = tokio::spawn(server.shutdown());
    gate.notify_one();
    let (status, body) = request.await.expect("task");
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "finished after the shutdown began")
    );
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown completes")
        .expect("task");
}

#[tokio::test]
async fn a_client_shutting_down_lets_requests_in_flight_finish() {
    let (arrived, gate) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let local = serve(gated_service(arrived.clone(), gate.clone())).await;
    let server = start_server().await;
    let client = start_client(&server, "leaving", local).await;
    let visitor = Visitor::new(server.http_addr());

    let in_flight = {
        let visitor = visitor.clone();
        tokio::spawn(async move { visitor.get("leaving.localhost", "/gate").await })
    };
    arrived.notified().await;
    let shutdown = tokio::spawn(client.shutdown());
    // The server stops routing to the leaving client at once: the name is free.
    wait_for_tunnels(&server, &[], Duration::from_secs(5)).await;
    assert_eq!(
        visitor.get("leaving.localhost", "/gate").await.0,
        StatusCode::NOT_FOUND
    );
    gate.notify_one();
    let (status, _) = in_flight.await.expect("task");
    assert_eq!(status, StatusCode::OK);
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown completes")
        .expect("task")
        .expect("clean exit");
}

#[tokio::test]
async fn idle_and_silent_visitors_do_not_hold_up_a_shutdown() {
    let local = serve(local_service()).await;
    // Generous limits, so that only closing idle connections at once can end this in time.
    let server = server_builder()
        .grace_period(Duration::from_secs(60))
        .header_read_timeout(Duration::from_secs(60))
        .build()
        .expect("server config")
        .start()
        .await
        .expect("server starts");
    let _client = start_client(&server, "idle", local).await;
    // A connection that never sends a byte...
    let silent = tokio::net::TcpStream::connect(server.http_addr())
        .await
        .expect("connect");
    // ...and a keep-alive one, idle after its request. The server accepts in order, so once
    // this request is answered, the silent connection is accepted too.
    let (status, _) = Visitor::new(server.http_addr())
        .get("idle.localhost", "/hello")
        .await;
    assert_eq!(status, StatusCode::OK);

    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("the shutdown does not wait for connections with no request in flight");
    drop(silent);
}

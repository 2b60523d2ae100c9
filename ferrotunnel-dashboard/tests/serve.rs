//! The real deal: a real FerroTunnel server and client, the dashboard on a real socket, and a
//! real HTTP client.

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use ferrotunnel::{Client, Server, protocol::TunnelInfo};
use ferrotunnel_dashboard::DashboardState;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client as HttpClient, rt::TokioExecutor};
use tokio::{net::TcpListener, sync::watch};

const LIMIT: Duration = Duration::from_secs(10);

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri = format!("http://{addr}{path}").parse().expect("uri");
    let response = tokio::time::timeout(LIMIT, client.get(uri))
        .await
        .expect("the dashboard answers in time")
        .expect("the dashboard answers");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8(body.to_vec()).expect("utf-8"))
}

async fn wait_until(
    watch: &mut watch::Receiver<Vec<TunnelInfo>>,
    wanted: impl FnMut(&Vec<TunnelInfo>) -> bool,
) {
    tokio::time::timeout(LIMIT, watch.wait_for(wanted))
        .await
        .expect("the tunnel list changes in time")
        .expect("the server is alive");
}

#[tokio::test]
async fn the_dashboard_lists_live_tunnels_over_http() {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = Server::builder()
        .control_addr(loopback)
        .http_addr(loopback)
        .token("dashboard-test")
        .build()
        .expect("server config")
        .start()
        .await
        .expect("server starts");

    let listener = TcpListener::bind(loopback).await.expect("bind");
    let dashboard = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(ferrotunnel_dashboard::serve_with_shutdown(
        listener,
        DashboardState::new(server.watch_tunnels()),
        async move {
            let _ = stopped.await;
        },
    ));

    assert_eq!(get(dashboard, "/healthz").await, (200, "ok\n".to_owned()));
    let (status, page) = get(dashboard, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("/api/tunnels"));
    assert_eq!(get(dashboard, "/api/tunnels").await, (200, "[]".to_owned()));

    // The local service does not matter here: the dashboard lists registrations.
    let client = Client::builder()
        .server_url(format!("tcp://{}", server.control_addr()))
        .token("dashboard-test")
        .subdomain("demo")
        .local_address(dashboard.to_string())
        .build()
        .expect("client config")
        .start()
        .await
        .expect("client starts");
    let mut watch = server.watch_tunnels();
    wait_until(&mut watch, |tunnels| !tunnels.is_empty()).await;

    let (status, json) = get(dashboard, "/api/tunnels").await;
    assert_eq!(status, 200);
    let listed: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(
        listed,
        serde_json::json!([{"name": "demo", "public_url": client.public_url()}])
    );

    client.shutdown().await.expect("client stops");
    wait_until(&mut watch, Vec::is_empty).await;
    assert_eq!(get(dashboard, "/api/tunnels").await, (200, "[]".to_owned()));

    let _ = stop.send(());
    tokio::time::timeout(LIMIT, serving)
        .await
        .expect("the dashboard stops in time")
        .expect("task")
        .expect("the dashboard served without error");
    server.shutdown().await;
}

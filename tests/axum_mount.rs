//! The `axum_mount` example's app over real sockets: one axum server on one port hosts the
//! user's own routes, the tunnels under `/t/<name>/`, and the endpoint where clients connect
//! over WebSocket.

#[path = "../examples/axum_mount/app.rs"]
mod app;
mod support;

use std::{net::SocketAddr, time::Duration};

use ferrotunnel::{Client, Server, protocol::TunnelInfo};
use support::{TOKEN, Visitor, local_service, serve};
use tokio::net::TcpListener;

const LIMIT: Duration = Duration::from_secs(20);

/// Serves the example's app on a fresh port, as its `main` does, and returns the address.
async fn serve_app() -> (SocketAddr, ferrotunnel::server::EmbeddedServer) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let tunnels = Server::builder()
        .token(TOKEN)
        .public_base_url(format!("http://{addr}/t"))
        .build()
        .expect("settings")
        .into_embedded();
    let app = app::app(&tunnels).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, tunnels)
}

#[tokio::test]
async fn one_axum_app_hosts_its_routes_the_tunnels_and_the_connect_endpoint() {
    support::init_tracing();
    let (addr, tunnels) = serve_app().await;
    let local = serve(local_service()).await;
    let visitor = Visitor::new(addr);
    let host = addr.to_string();

    // The user's own routes.
    let (status, body) = visitor.get(&host, "/").await;
    assert_eq!(status, 200);
    assert!(body.starts_with("This is my own app."), "{body}");

    // A client connects through the app's WebSocket route, on the same port.
    let client = Client::builder()
        .server_url(format!("ws://{addr}"))
        .token(TOKEN)
        .local_address(local.to_string())
        .subdomain("demo")
        .build()
        .expect("client settings")
        .start()
        .await
        .expect("client connects over WebSocket");
    assert_eq!(client.public_url(), format!("http://{addr}/t/demo/"));

    // The user's route sees the live tunnel too.
    let (status, body) = visitor.get(&host, "/tunnels").await;
    assert_eq!(status, 200);
    let listed: Vec<TunnelInfo> = serde_json::from_str(&body).expect("JSON tunnel list");
    let live = tunnels.tunnels();
    assert_eq!(listed.len(), live.len());
    assert_eq!(
        (listed[0].name.as_str(), listed[0].public_url.as_str()),
        (live[0].name.as_str(), live[0].public_url.as_str())
    );
    assert_eq!(listed[0].name, "demo");

    // Visitors reach the local service under the mounted prefix, which is stripped.
    let (status, body) = visitor.get(&host, "/t/demo/hello").await;
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (200, "hello from the local service")
    );
    let (status, _, body) = visitor.call(&host, "POST", "/t/demo/echo", b"ping").await;
    assert_eq!((status.as_u16(), body.as_str()), (200, "ping"));
    let (status, body) = visitor.get(&host, "/t/demo/headers").await;
    assert_eq!(status, 200);
    assert!(body.contains("x-forwarded-prefix: /t/demo"), "{body}");
    assert!(body.contains("x-forwarded-for: 127.0.0.1"), "{body}");

    // Unknown tunnels under the prefix are the tunnel's clear 404, not the app's.
    let (status, body) = visitor.get(&host, "/t/nobody/hello").await;
    assert_eq!(status, 404);
    assert!(body.contains("nobody"), "{body}");
    // A plain GET of the connect endpoint says what it is for.
    let (status, body) = visitor.get(&host, ferrotunnel::server::CONNECT_PATH).await;
    assert!(status.is_client_error(), "{status}");
    assert!(body.contains("WebSocket"), "{body}");

    client.shutdown().await.expect("clean client shutdown");
    let mut live = tunnels.watch_tunnels();
    tokio::time::timeout(LIMIT, live.wait_for(Vec::is_empty))
        .await
        .expect("the tunnel is removed in time")
        .expect("server alive");
    tunnels.shutdown().await;
}

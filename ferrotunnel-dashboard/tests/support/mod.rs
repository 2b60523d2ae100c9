//! Shared helpers for the dashboard's browser tests: a live FerroTunnel server capturing every
//! tunnel, with its dashboard, on loopback ports ([`LiveDashboard`]), a local service that says
//! what it was sent ([`RecordingService`]), and a headless Chromium driver ([`chromium`]).
#![allow(dead_code, unreachable_pub)]

use std::{net::SocketAddr, time::Duration};

use axum::{Router, http::HeaderMap, routing::any};
use ferrotunnel::{Client, ClientHandle, Server, ServerHandle};
use ferrotunnel_dashboard::{DashboardState, IngressReplay};
use ferrotunnel_tower::capture::{CaptureConfig, CaptureStore};
use tokio::{
    io,
    net::TcpListener,
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

pub mod chromium;

pub const TOKEN: &str = "dashboard-browser-test";

/// How long the fixture waits for the server, a client or the dashboard to do their part.
pub const LIMIT: Duration = Duration::from_secs(20);

/// A real FerroTunnel server (control and HTTP ingress on `127.0.0.1:0`) with its dashboard
/// served on another `127.0.0.1:0`, and the clients a test registered.
#[derive(Debug)]
pub struct LiveDashboard {
    pub server: ServerHandle,
    /// Where the dashboard listens.
    pub addr: SocketAddr,
    clients: Vec<ClientHandle>,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<io::Result<()>>,
}

impl LiveDashboard {
    /// Starts a server and its dashboard; no tunnel is live yet.
    pub async fn start() -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let capture = CaptureStore::new(CaptureConfig::default());
        let server = Server::builder()
            .layer(capture.layer())
            .control_addr(loopback)
            .http_addr(loopback)
            .token(TOKEN)
            .build()
            .expect("server config")
            .start()
            .await
            .expect("the server starts");
        let listener = TcpListener::bind(loopback)
            .await
            .expect("bind the dashboard");
        let addr = listener.local_addr().expect("the dashboard's address");
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(ferrotunnel_dashboard::serve_with_shutdown(
            listener,
            DashboardState::new(capture, server.watch_tunnels())
                .replay_with(IngressReplay::new(server.ingress_service())),
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            server,
            addr,
            clients: Vec::new(),
            stop,
            serving,
        }
    }

    /// The dashboard page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Registers a tunnel named `name` to `local` from a new client and waits until the server
    /// lists it. Returns its public URL.
    pub async fn open_tunnel(&mut self, name: &str, local: SocketAddr) -> String {
        let client = Client::builder()
            .server_url(format!("tcp://{}", self.server.control_addr()))
            .token(TOKEN)
            .subdomain(name)
            .local_address(local.to_string())
            .build()
            .expect("client config")
            .start()
            .await
            .expect("the client starts");
        let public_url = client.public_url();
        let mut tunnels = self.server.watch_tunnels();
        tokio::time::timeout(
            LIMIT,
            tunnels.wait_for(|tunnels| tunnels.iter().any(|tunnel| tunnel.name == name)),
        )
        .await
        .expect("the server lists the tunnel in time")
        .expect("the server is alive");
        self.clients.push(client);
        public_url
    }

    /// Stops the clients, the dashboard and the server.
    pub async fn shutdown(self) {
        for client in self.clients {
            client.shutdown().await.expect("the client stops");
        }
        let _ = self.stop.send(());
        tokio::time::timeout(LIMIT, self.serving)
            .await
            .expect("the dashboard stops in time")
            .expect("the dashboard task")
            .expect("the dashboard served without error");
        self.server.shutdown().await;
    }
}

/// A local service that answers every request with `200 seen` and sends what it got (method,
/// path and query, headers) to the test.
#[derive(Debug)]
pub struct RecordingService {
    pub addr: SocketAddr,
    pub seen: mpsc::UnboundedReceiver<(String, String, HeaderMap)>,
}

impl RecordingService {
    pub async fn start() -> Self {
        let (tell, seen) = mpsc::unbounded_channel();
        let app = Router::new().fallback(any(
            move |method: axum::http::Method, uri: axum::http::Uri, headers: HeaderMap| {
                let tell = tell.clone();
                async move {
                    let _ = tell.send((method.to_string(), uri.to_string(), headers));
                    "seen"
                }
            },
        ));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, seen }
    }

    /// The next request the service got, or a panic after [`LIMIT`].
    pub async fn next(&mut self) -> (String, String, HeaderMap) {
        tokio::time::timeout(LIMIT, self.seen.recv())
            .await
            .expect("the local service is reached in time")
            .expect("the local service runs")
    }
}

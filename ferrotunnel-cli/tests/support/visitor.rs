//! A real HTTP/1.1 visitor that can come from any loopback address (127.0.0.2, …), and local
//! services for the tunnel to expose.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{
    Router,
    http::{HeaderMap, HeaderValue},
    routing,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, client::conn::http1, server::conn::http1 as server_http1};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};

use super::process::WAIT;

/// One response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

/// Sends `GET path` with `Host: host` and `headers` to `ingress`, from the loopback address
/// `from` (bound before connecting, so the server sees it as the visitor's address).
pub async fn get_from(
    from: IpAddr,
    ingress: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let visit = Visit {
        method: "GET",
        host,
        path,
        headers,
        body: "",
    };
    send_from(from, ingress, &visit).await
}

/// One request a visitor sends.
#[derive(Debug, Clone, Copy)]
pub struct Visit<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a str,
}

/// Sends `visit` to `ingress` from 127.0.0.1, on a connection of its own.
pub async fn send(ingress: SocketAddr, visit: &Visit<'_>) -> Answer {
    send_from(IpAddr::from([127, 0, 0, 1]), ingress, visit).await
}

/// Sends `visit` to `ingress` from the loopback address `from`, on a connection of its own.
pub async fn send_from(from: IpAddr, ingress: SocketAddr, visit: &Visit<'_>) -> Answer {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(from, 0))
        .expect("bind the visitor's address");
    let tcp = tokio::time::timeout(WAIT, socket.connect(ingress))
        .await
        .expect("connects in time")
        .expect("connects");
    let (mut sender, connection) = http1::handshake(TokioIo::new(tcp))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(visit.method)
        .uri(visit.path)
        .header("host", visit.host);
    for (name, value) in visit.headers {
        request = request.header(*name, *value);
    }
    let body = Full::new(Bytes::copy_from_slice(visit.body.as_bytes()));
    let request = request.body(body).expect("request");
    let response = tokio::time::timeout(WAIT, sender.send_request(request))
        .await
        .expect("answered in time")
        .expect("a response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// [`get_from`] 127.0.0.1.
pub async fn get(ingress: SocketAddr, host: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    get_from(IpAddr::from([127, 0, 0, 1]), ingress, host, path, headers).await
}

/// The local service's app: `GET /headers` answers with the request headers it received, one
/// `name: value` per line, `GET /hello` says hello, and every answer carries
/// `x-internal: local-only`.
fn app() -> Router {
    Router::new()
        .route(
            "/headers",
            routing::get(|headers: HeaderMap| async move {
                let mut lines: Vec<String> = headers
                    .iter()
                    .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
                    .collect();
                lines.sort();
                lines.join("\n")
            }),
        )
        .route(
            "/hello",
            routing::get(|| async { "hello from the local service" }),
        )
        .layer(axum::middleware::map_response(
            |mut response: axum::response::Response| async move {
                response
                    .headers_mut()
                    .insert("x-internal", HeaderValue::from_static("local-only"));
                response
            },
        ))
}

/// The local service on a fresh loopback port.
pub async fn local_service() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app()).await });
    addr
}

/// A local service that can be switched off and on, on one port that stays bound: while off,
/// it accepts each connection and closes it at once, as a crashed service behind a supervisor
/// would look to the tunnel.
pub struct Switchable {
    pub addr: SocketAddr,
    on: Arc<AtomicBool>,
}

impl Switchable {
    pub async fn start(on: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let on = Arc::new(AtomicBool::new(on));
        let serving = on.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                if !serving.load(Ordering::SeqCst) {
                    drop(tcp);
                    continue;
                }
                let app = app();
                let service = hyper::service::service_fn(move |request| {
                    tower::ServiceExt::oneshot(app.clone(), request)
                });
                tokio::spawn(
                    server_http1::Builder::new().serve_connection(TokioIo::new(tcp), service),
                );
            }
        });
        Self { addr, on }
    }

    pub fn switch_on(&self) {
        self.on.store(true, Ordering::SeqCst);
    }
}

//! A real HTTP/1.1 visitor that can come from any loopback address (127.0.0.2, …), and local
//! services for the tunnel to expose.

use std::net::{IpAddr, SocketAddr};

use axum::{
    Router,
    http::{HeaderMap, HeaderValue},
    routing,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode, client::conn::http1};
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
    let mut request = Request::get(path).header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Empty::<Bytes>::new()).expect("request");
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

/// A local service on `addr`: `GET /headers` answers with the request headers it received,
/// one `name: value` per line, and every answer carries `x-internal: local-only`.
pub async fn serve_local(listener: TcpListener) {
    let app = Router::new()
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
        ));
    tokio::spawn(async move { axum::serve(listener, app).await });
}

/// A [`serve_local`] service on a fresh loopback port.
pub async fn local_service() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    serve_local(listener).await;
    addr
}

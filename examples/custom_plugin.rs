//! Two ways to extend the ingress stack, in one server:
//!
//! - an **async plugin** that asks another service — a small "auth service" here — whether a
//!   visitor's API key is good, before the request may enter the tunnel (the `Plugin` trait of
//!   `ferrotunnel-tower`, with a start hook that checks the auth service is up);
//! - a **raw tower layer** that tells the local service which tunnel a request came through
//!   (`tower::util::MapRequestLayer`: any tower layer is a plugin).
//!
//! Everything runs in this one process on free loopback ports: the auth service, a local
//! service, a FerroTunnel server and a client exposing the local service as tunnel `app`. Then
//! three visitors (no key, a wrong key, a good key) and a clean shutdown.
//!
//! ```text
//! cargo run --example custom_plugin
//! ```

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use axum::{Router, http::HeaderMap, routing::get};
use bytes::Bytes;
use ferrotunnel::{BoxError, Client, Server, TunnelBody};
use ferrotunnel_tower::{Action, Plugin, RequestContext, ServerBuilderExt, async_trait};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::{
    client::legacy::{Client as HttpClient, connect::HttpConnector},
    rt::TokioExecutor,
};
use tokio::net::TcpListener;
use tower::util::MapRequestLayer;

/// Asks the auth service about every visitor's `x-api-key`. The question is an HTTP request:
/// the visitor's request waits for the answer, the runtime does not.
struct AskAuthService {
    auth_service: SocketAddr,
    http: HttpClient<HttpConnector, Empty<Bytes>>,
}

impl AskAuthService {
    /// `GET /<path>` on the auth service, with these headers; its answer's status.
    async fn ask(
        &self,
        path: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<StatusCode, BoxError> {
        let mut request =
            Request::get(format!("http://{}{path}", self.auth_service)).body(Empty::new())?;
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, HeaderValue::from_str(value)?);
        }
        // Every wait has a bound: a hung auth service must not hold visitors forever.
        let answer = tokio::time::timeout(Duration::from_secs(2), self.http.request(request))
            .await
            .map_err(|_| "the auth service did not answer within 2 s")??;
        Ok(answer.status())
    }
}

#[async_trait]
impl Plugin for AskAuthService {
    fn name(&self) -> &str {
        "ask-auth-service"
    }

    async fn on_request(&self, request: &mut Request<TunnelBody>, cx: &RequestContext) -> Action {
        let Some(key) = request
            .headers()
            .get("x-api-key")
            .and_then(|key| key.to_str().ok())
        else {
            return Action::reject(StatusCode::UNAUTHORIZED, "send your key in x-api-key");
        };
        let tunnel = cx.tunnel_name().unwrap_or_default();
        let asked = self
            .ask("/check", &[("x-tunnel", tunnel), ("x-api-key", key)])
            .await;
        match asked {
            Ok(StatusCode::OK) => {
                // The key is for the tunnel, not for the local service.
                request.headers_mut().remove("x-api-key");
                Action::Continue
            }
            Ok(_) => Action::reject(StatusCode::FORBIDDEN, "this key may not use this tunnel"),
            Err(err) => {
                tracing::warn!(error = %err, "the auth service did not answer");
                Action::reject(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cannot check keys right now; retry in a moment",
                )
            }
        }
    }

    /// The server does not start without its auth service.
    async fn on_start(&self) -> Result<(), BoxError> {
        match self.ask("/health", &[]).await? {
            StatusCode::OK => Ok(()),
            status => Err(format!("the auth service answered {status}").into()),
        }
    }
}

/// The auth service: key `let-me-in` may use tunnel `app`.
async fn auth_service() -> anyhow::Result<SocketAddr> {
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/check",
            get(|headers: HeaderMap| async move {
                let (tunnel, key) = (headers.get("x-tunnel"), headers.get("x-api-key"));
                if tunnel.is_some_and(|t| t == "app") && key.is_some_and(|k| k == "let-me-in") {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                }
            }),
        );
    serve(app).await
}

/// The local service the tunnel exposes: it says which tunnel the request came through.
async fn local_service() -> anyhow::Result<SocketAddr> {
    let app = Router::new().route(
        "/",
        get(|headers: HeaderMap| async move {
            let tunnel = headers
                .get("x-tunnel")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?")
                .to_owned();
            format!("hello from the local service, through tunnel {tunnel}\n")
        }),
    );
    serve(app).await
}

async fn serve(app: Router) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// The raw tower layer: copies the tunnel's name into `x-tunnel`.
fn tell_the_tunnel(mut request: Request<TunnelBody>) -> Request<TunnelBody> {
    let name = request
        .extensions()
        .get::<ferrotunnel::TunnelContext>()
        .and_then(|tunnel| HeaderValue::from_str(tunnel.name()).ok());
    if let Some(name) = name {
        request.headers_mut().insert("x-tunnel", name);
    }
    request
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let http = HttpClient::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();

    let plugin = AskAuthService {
        auth_service: auth_service().await?,
        http: http.clone(),
    };
    let server = Server::builder()
        .control_addr(loopback)
        .http_addr(loopback)
        .domain("localhost")
        .token("example-token")
        // Runs first: a visitor without a good key never gets further.
        .plugin(plugin)
        .layer(MapRequestLayer::new(tell_the_tunnel))
        .build()?
        .start()
        .await
        .context("the server starts once its auth service answers")?;

    let local = local_service().await?;
    let client = Client::builder()
        .server_url(format!("tcp://{}", server.control_addr()))
        .token("example-token")
        .subdomain("app")
        .local_address(local.to_string())
        .build()?
        .start()
        .await?;
    println!("tunnel {} -> local service {local}", client.public_url());

    // Visitors. `*.localhost` resolves to loopback in browsers and curl, but not everywhere:
    // connect to the server's address and name the tunnel in the Host header.
    let host = format!("app.localhost:{}", server.http_addr().port());
    for key in [None, Some("guess"), Some("let-me-in")] {
        let mut request = Request::get(format!("http://{}/", server.http_addr()))
            .header("host", &host)
            .body(Empty::new())?;
        if let Some(key) = key {
            request.headers_mut().insert("x-api-key", key.parse()?);
        }
        let response = http.request(request).await.context("the server answers")?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        println!(
            "GET http://{host}/ with x-api-key {key:?} -> {status}\n    {}",
            String::from_utf8_lossy(&body).trim_end(),
        );
    }

    client.shutdown().await?;
    server.shutdown().await;
    Ok(())
}

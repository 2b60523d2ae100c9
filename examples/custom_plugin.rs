//! A server with a custom plugin that refuses visitors without an `x-api-key` header.
//!
//! Everything runs in this one process on free loopback ports: a local service, a FerroTunnel
//! server with the plugin, and a client exposing the local service as tunnel `app`. Then one
//! request without the key (refused by the plugin with a 401, never reaching the tunnel) and one
//! with it (answered by the local service), and a clean shutdown.
//!
//! ```text
//! cargo run --example custom_plugin
//! ```

use std::net::SocketAddr;

use anyhow::Context as _;
use bytes::Bytes;
use ferrotunnel::{Client, Server, TunnelBody, TunnelContext};
use ferrotunnel_tower::{Action, Plugin, PluginLayer};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client as HttpClient, rt::TokioExecutor};
use tokio::net::TcpListener;

/// Lets a request into the tunnel only with the right `x-api-key`.
struct ApiKey {
    key: String,
}

impl Plugin for ApiKey {
    fn name(&self) -> &str {
        "api-key"
    }

    fn on_request(&self, request: &mut Request<TunnelBody>) -> Action {
        // The ingress resolved the tunnel before the plugins run.
        let tunnel = request
            .extensions()
            .get::<TunnelContext>()
            .map_or("?", TunnelContext::name)
            .to_owned();
        let presented = request
            .headers()
            .get("x-api-key")
            .map(HeaderValue::as_bytes);
        if !presented.is_some_and(|key| same(key, self.key.as_bytes())) {
            return Action::reject(
                StatusCode::UNAUTHORIZED,
                format!("tunnel {tunnel} needs a valid x-api-key header"),
            );
        }
        // The key is for the tunnel, not for the local service: don't pass it on.
        request.headers_mut().remove("x-api-key");
        Action::Continue
    }

    fn on_response(&self, response: &mut Response<TunnelBody>) {
        response
            .headers_mut()
            .insert("x-checked-by", HeaderValue::from_static("api-key"));
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the key.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));

    // The local service: what the tunnel exposes.
    let local = TcpListener::bind(loopback).await?;
    let local_addr = local.local_addr()?;
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async { "hello from the local service\n" }),
    );
    tokio::spawn(async move { axum::serve(local, app).await });

    // The public server, with the plugin in its ingress stack.
    let server = Server::builder()
        .control_addr(loopback)
        .http_addr(loopback)
        .domain("localhost")
        .token("example-token")
        .layer(PluginLayer::new(ApiKey {
            key: "let-me-in".into(),
        }))
        .build()?
        .start()
        .await?;

    // The client, on the private side.
    let client = Client::builder()
        .server_url(format!("tcp://{}", server.control_addr()))
        .token("example-token")
        .subdomain("app")
        .local_address(local_addr.to_string())
        .build()?
        .start()
        .await?;
    println!(
        "tunnel {} -> local service {local_addr}",
        client.public_url()
    );

    // A visitor. `*.localhost` resolves to loopback in browsers and curl, but not everywhere:
    // connect to the server's address and name the tunnel in the Host header.
    let visitor = HttpClient::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let host = format!("app.localhost:{}", server.http_addr().port());
    for key in [None, Some("let-me-in")] {
        let mut request = Request::get(format!("http://{}/", server.http_addr()))
            .header("host", &host)
            .body(Empty::new())?;
        if let Some(key) = key {
            request.headers_mut().insert("x-api-key", key.parse()?);
        }
        let response = visitor
            .request(request)
            .await
            .context("the server answers")?;
        let status = response.status();
        let checked = response.headers().contains_key("x-checked-by");
        let body = response.into_body().collect().await?.to_bytes();
        println!(
            "GET http://{host}/ {} x-api-key -> {status}{}\n    {}",
            if key.is_some() { "with" } else { "without" },
            if checked { " (checked by api-key)" } else { "" },
            String::from_utf8_lossy(&body).trim_end(),
        );
    }

    client.shutdown().await?;
    server.shutdown().await;
    Ok(())
}

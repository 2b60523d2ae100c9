//! Any tower layer is a plugin: this one times every request through the tunnel and reports the
//! time to the visitor in `Server-Timing`, and a `ConcurrencyLimitLayer` bounds the requests in
//! flight. Everything runs on 127.0.0.1 and exits.
//!
//! ```sh
//! cargo run --example custom_layer
//! ```

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use axum::{Router, routing::get};
use ferrotunnel::{BoxError, TunnelBody};
use futures::FutureExt;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Empty};
use tower::{Layer, Service, limit::ConcurrencyLimitLayer};

/// Adds `Server-Timing: tunnel;dur=<ms>` to every response.
#[derive(Debug, Clone, Copy)]
struct TimingLayer;

impl<S> Layer<S> for TimingLayer {
    type Service = Timing<S>;
    fn layer(&self, inner: S) -> Timing<S> {
        Timing { inner }
    }
}

#[derive(Debug, Clone)]
struct Timing<S> {
    inner: S,
}

impl<S> Service<Request<TunnelBody>> for Timing<S>
where
    S: Service<Request<TunnelBody>, Response = Response<TunnelBody>, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response<TunnelBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<TunnelBody>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<TunnelBody>) -> Self::Future {
        let started = Instant::now();
        Box::pin(self.inner.call(request).map(move |result| {
            result.map(|mut response| {
                let timing = format!("tunnel;dur={:.3}", started.elapsed().as_secs_f64() * 1000.0);
                if let Ok(value) = HeaderValue::from_str(&timing) {
                    response.headers_mut().insert("server-timing", value);
                }
                response
            })
        }))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let local = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let local_addr = local.local_addr()?;
    tokio::spawn(async move {
        axum::serve(local, Router::new().route("/", get(|| async { "hi" }))).await
    });

    let server = ferrotunnel::Server::builder()
        .control_addr("127.0.0.1:0".parse()?)
        .http_addr("127.0.0.1:0".parse()?)
        .token("secret")
        .layer(TimingLayer)
        .layer(ConcurrencyLimitLayer::new(64))
        .build()?
        .start()
        .await?;
    let client = ferrotunnel::Client::builder()
        .server_url(format!("tcp://{}", server.control_addr()))
        .token("secret")
        .local_address(local_addr.to_string())
        .subdomain("timed")
        .build()?
        .start()
        .await?;

    // One request through the tunnel, with the layer's header on the response.
    let visitor = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let request = Request::get(format!("http://{}/", server.http_addr()))
        .header("host", "timed.localhost")
        .body(Empty::<bytes::Bytes>::new())?;
    let response = visitor.request(request).await?;
    let timing = response.headers().get("server-timing").cloned();
    let body = response.into_body().collect().await?.to_bytes();
    println!("body: {}", String::from_utf8_lossy(&body));
    println!("server-timing: {timing:?}");

    client.shutdown().await?;
    server.shutdown().await;
    Ok(())
}

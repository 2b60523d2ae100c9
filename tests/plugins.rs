//! Plugins in a real ingress stack: a real server with plugin layers, a real client, a real
//! local service, reached by a real HTTP client.

mod support;

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use ferrotunnel::{BoxError, ServerHandle, TunnelBody, TunnelContext, server::VisitorAddr};
use ferrotunnel_tower::{Action, Plugin, PluginLayer, RequestContext, async_trait};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use support::*;
use tower::util::MapRequestLayer;

/// Requires `x-api-key: open-sesame`; answers `/plugin/status` itself; tells the local service
/// which tunnel and visitor it checked; stamps the responses it let through.
struct ApiKey;

#[async_trait]
impl Plugin for ApiKey {
    fn name(&self) -> &str {
        "api-key"
    }

    async fn on_request(&self, request: &mut Request<TunnelBody>, cx: &RequestContext) -> Action {
        let Some(tunnel) = cx.tunnel().cloned() else {
            return Action::reject(StatusCode::INTERNAL_SERVER_ERROR, "no tunnel context");
        };
        if request.uri().path() == "/plugin/status" {
            let body = format!(
                "plugin sees tunnel {} at {}",
                tunnel.name(),
                tunnel.public_url()
            );
            return Action::Respond(Response::new(text(body)));
        }
        if request
            .headers()
            .get("x-api-key")
            .is_none_or(|key| key != "open-sesame")
        {
            return Action::reject(
                StatusCode::UNAUTHORIZED,
                format!("tunnel {} needs an x-api-key", tunnel.name()),
            );
        }
        // The context says what the request's extensions hold.
        assert_eq!(
            cx.visitor(),
            request.extensions().get::<VisitorAddr>().map(|v| v.0)
        );
        let visitor = cx.visitor_ip().map(|ip| ip.to_string()).unwrap_or_default();
        let headers = request.headers_mut();
        headers.remove("x-api-key");
        headers.insert("x-checked-tunnel", header_value(tunnel.name()));
        headers.insert("x-checked-visitor", header_value(&visitor));
        Action::Continue
    }

    async fn on_response(&self, response: &mut Response<TunnelBody>, _: &RequestContext) {
        response
            .headers_mut()
            .insert("x-api-key-plugin", HeaderValue::from_static("passed"));
    }
}

fn text(body: String) -> TunnelBody {
    http_body_util::Full::new(bytes::Bytes::from(body))
        .map_err(|never| match never {})
        .boxed_unsync()
}

async fn read(response: Response<hyper::body::Incoming>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).expect("a tunnel name is a valid header value")
}

/// The support local service, counting the requests that reach it.
async fn counted_local_service() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let router = local_service().layer(MapRequestLayer::new(move |request| {
        counter.fetch_add(1, Ordering::SeqCst);
        request
    }));
    (serve(router).await, hits)
}

async fn start(builder: ferrotunnel::ServerBuilder) -> ServerHandle {
    builder
        .build()
        .expect("server config")
        .start()
        .await
        .expect("server starts")
}

#[tokio::test]
async fn a_plugin_rejects_with_its_status_and_body_before_the_tunnel() {
    init_tracing();
    let (local, hits) = counted_local_service().await;
    let server = start(server_builder().layer(PluginLayer::new(ApiKey))).await;
    let client = start_client(&server, "app", local).await;
    let visitor = Visitor::new(server.http_addr());

    let (status, headers, body) = visitor.call("app.localhost", "GET", "/hello", b"").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert!(!headers.contains_key("x-api-key-plugin"));
    assert_eq!(body, "401 Unauthorized: tunnel app needs an x-api-key\n");

    let mut request = visitor.request("app.localhost", "GET", "/hello", full(b""));
    request
        .headers_mut()
        .insert("x-api-key", HeaderValue::from_static("wrong"));
    assert_eq!(
        visitor.send(request).await.status(),
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a refused request reached the local service"
    );
    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

#[tokio::test]
async fn a_plugin_lets_good_requests_through_with_its_changes() {
    let (local, hits) = counted_local_service().await;
    let server = start(server_builder().layer(PluginLayer::new(ApiKey))).await;
    let client = start_client(&server, "app", local).await;
    let visitor = Visitor::new(server.http_addr());

    let send = |path: &str, body: &'static [u8]| {
        let method = if body.is_empty() { "GET" } else { "POST" };
        let mut request = visitor.request("app.localhost", method, path, full(body));
        request
            .headers_mut()
            .insert("x-api-key", HeaderValue::from_static("open-sesame"));
        visitor.send(request)
    };

    let response = send("/hello", b"").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-api-key-plugin"], "passed");
    assert_eq!(read(response).await, "hello from the local service");

    // Request bodies still stream through the plugin.
    let response = send("/echo", b"through the plugin").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(read(response).await, "through the plugin");

    // The local service sees the plugin's header changes, with the tunnel name and visitor
    // address the plugin read from the request extensions.
    let seen = read(send("/headers", b"").await).await;
    assert!(seen.contains("x-checked-tunnel: app"), "{seen}");
    assert!(seen.contains("x-checked-visitor: 127.0.0.1"), "{seen}");
    assert!(
        !seen.contains("x-api-key"),
        "the key reached the local service: {seen}"
    );

    assert_eq!(hits.load(Ordering::SeqCst), 3);
    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

#[tokio::test]
async fn a_plugin_can_respond_itself_and_sees_the_tunnel_context() {
    let (local, hits) = counted_local_service().await;
    let server = start(server_builder().layer(PluginLayer::new(ApiKey))).await;
    let client = start_client(&server, "status", local).await;
    let visitor = Visitor::new(server.http_addr());

    let (status, body) = visitor.get("status.localhost", "/plugin/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        format!("plugin sees tunnel status at {}", client.public_url())
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    // Plugins run after tunnel resolution: an unknown host is a 404 from the ingress, not a
    // 401 from the plugin.
    let (status, _) = visitor.get("nope.localhost", "/hello").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

#[tokio::test]
async fn plain_tower_layers_are_plugins_and_run_in_the_order_added() {
    fn append_order(
        step: &'static str,
    ) -> impl Fn(Request<TunnelBody>) -> Request<TunnelBody> + Clone {
        move |mut request: Request<TunnelBody>| {
            let order = match request.headers().get("x-order") {
                Some(before) => format!("{},{step}", before.to_str().unwrap_or("?")),
                None => step.to_owned(),
            };
            request
                .headers_mut()
                .insert("x-order", header_value(&order));
            request
        }
    }

    let local = serve(local_service()).await;
    let server = start(
        server_builder()
            .layer(MapRequestLayer::new(|mut request: Request<TunnelBody>| {
                let tunnel = request
                    .extensions()
                    .get::<TunnelContext>()
                    .map(|tunnel| tunnel.name().to_owned())
                    .unwrap_or_default();
                request
                    .headers_mut()
                    .insert("x-mapped-for", header_value(&tunnel));
                request
            }))
            .layer(MapRequestLayer::new(append_order("first")))
            .layer(MapRequestLayer::new(append_order("second"))),
    )
    .await;
    let client = start_client(&server, "mapped", local).await;

    let (status, seen) = Visitor::new(server.http_addr())
        .get("mapped.localhost", "/headers")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(seen.contains("x-mapped-for: mapped"), "{seen}");
    assert!(seen.contains("x-order: first,second"), "{seen}");

    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

#[tokio::test]
async fn a_plugin_error_is_a_500_that_hides_its_details_and_the_local_service_is_not_called() {
    let (local, hits) = counted_local_service().await;
    let failing = tower::layer::layer_fn(|_inner: ferrotunnel::server::HttpService| {
        tower::service_fn(|_: Request<TunnelBody>| async {
            Err::<Response<TunnelBody>, BoxError>("the quota store is unreachable".into())
        })
    });
    let server = start(server_builder().layer(failing)).await;
    let client = start_client(&server, "broken", local).await;

    let (status, body) = Visitor::new(server.http_addr())
        .get("broken.localhost", "/hello")
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("a plugin of this server failed"), "{body}");
    assert!(
        !body.contains("quota store"),
        "the plugin's error stays in the log: {body}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

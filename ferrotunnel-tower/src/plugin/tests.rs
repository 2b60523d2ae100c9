use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use bytes::Bytes;
use ferrotunnel::{BoxError, TunnelBody};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};

use super::*;

fn body(text: impl Into<Bytes>) -> TunnelBody {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

async fn text(response: Response<TunnelBody>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

fn request(path: &str) -> Request<TunnelBody> {
    Request::builder()
        .uri(path)
        .body(body(""))
        .expect("request")
}

/// Sends `request` through `plugin` in front of a handler that counts its calls and answers
/// with the `x-seen` request header (or "none").
async fn run<P: Plugin>(plugin: P, request: Request<TunnelBody>) -> (Response<TunnelBody>, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let response = ServiceBuilder::new()
        .layer(PluginLayer::new(plugin))
        .service_fn(move |request: Request<TunnelBody>| {
            counter.fetch_add(1, Ordering::SeqCst);
            let seen = request
                .headers()
                .get("x-seen")
                .map_or("none".to_owned(), |v| v.to_str().unwrap_or("?").to_owned());
            async move { Ok::<_, BoxError>(Response::new(body(seen))) }
        })
        .oneshot(request)
        .await
        .expect("the plugin stack answers");
    (response, calls.load(Ordering::SeqCst))
}

/// Requires `x-api-key: secret`; answers `/ping` itself; marks what it lets through.
struct Gate {
    responses: AtomicUsize,
}

impl Gate {
    fn new() -> Self {
        Self {
            responses: AtomicUsize::new(0),
        }
    }
}

impl Plugin for Gate {
    fn name(&self) -> &str {
        "gate"
    }

    fn on_request(&self, request: &mut Request<TunnelBody>) -> Action {
        if request.uri().path() == "/ping" {
            return Action::Respond(Response::new(body("pong")));
        }
        if request
            .headers()
            .get("x-api-key")
            .is_none_or(|key| key != "secret")
        {
            return Action::reject(StatusCode::UNAUTHORIZED, "missing or wrong x-api-key");
        }
        request
            .headers_mut()
            .insert("x-seen", HeaderValue::from_static("by-gate"));
        Action::Continue
    }

    fn on_response(&self, response: &mut Response<TunnelBody>) {
        self.responses.fetch_add(1, Ordering::SeqCst);
        response
            .headers_mut()
            .insert("x-gate", HeaderValue::from_static("passed"));
    }
}

fn with_key(path: &str) -> Request<TunnelBody> {
    let mut request = request(path);
    request
        .headers_mut()
        .insert("x-api-key", HeaderValue::from_static("secret"));
    request
}

#[tokio::test]
async fn continue_calls_the_inner_service_once() {
    struct Nothing;
    impl Plugin for Nothing {
        fn name(&self) -> &str {
            "nothing"
        }
        fn on_request(&self, _: &mut Request<TunnelBody>) -> Action {
            Action::Continue
        }
    }
    let (response, calls) = run(Nothing, request("/")).await;
    assert_eq!(calls, 1);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, "none");
}

#[tokio::test]
async fn reject_answers_without_calling_the_inner_service() {
    let (response, calls) = run(Gate::new(), request("/private")).await;
    assert_eq!(calls, 0, "the inner service must not be called");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert!(
        response.headers().get("x-gate").is_none(),
        "on_response must not run on the plugin's own response"
    );
    assert_eq!(
        text(response).await,
        "401 Unauthorized: missing or wrong x-api-key\n"
    );
}

#[tokio::test]
async fn reject_with_a_nonstandard_status_says_error() {
    struct Odd;
    impl Plugin for Odd {
        fn name(&self) -> &str {
            "odd"
        }
        fn on_request(&self, _: &mut Request<TunnelBody>) -> Action {
            Action::reject(StatusCode::from_u16(499).expect("status"), "go away")
        }
    }
    let (response, calls) = run(Odd, request("/")).await;
    assert_eq!((calls, response.status().as_u16()), (0, 499));
    assert_eq!(text(response).await, "499 Error: go away\n");
}

#[tokio::test]
async fn respond_answers_with_the_plugins_response() {
    let (response, calls) = run(Gate::new(), request("/ping")).await;
    assert_eq!(calls, 0);
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("x-gate").is_none());
    assert_eq!(text(response).await, "pong");
}

#[tokio::test]
async fn header_changes_reach_the_inner_service() {
    let (response, calls) = run(Gate::new(), with_key("/private")).await;
    assert_eq!(calls, 1);
    assert_eq!(text(response).await, "by-gate");
}

#[tokio::test]
async fn on_response_sees_every_inner_response() {
    let gate = Arc::new(Gate::new());
    let service = ServiceBuilder::new()
        .layer(PluginLayer::from_arc(gate.clone()))
        .service_fn(|_: Request<TunnelBody>| async {
            Ok::<_, BoxError>(Response::new(body("inner")))
        });
    for _ in 0..3 {
        let response = service
            .clone()
            .oneshot(with_key("/private"))
            .await
            .expect("response");
        assert_eq!(response.headers()["x-gate"], "passed");
        assert_eq!(text(response).await, "inner");
    }
    // Rejections do not count.
    let response = service
        .oneshot(request("/private"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(gate.responses.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn inner_errors_pass_through_and_skip_on_response() {
    let gate = Arc::new(Gate::new());
    let result = ServiceBuilder::new()
        .layer(PluginLayer::from_arc(gate.clone()))
        .service_fn(|_: Request<TunnelBody>| async {
            Err::<Response<TunnelBody>, BoxError>("local service refused".into())
        })
        .oneshot(with_key("/"))
        .await;
    let err = result.expect_err("the inner error comes back");
    assert_eq!(err.to_string(), "local service refused");
    assert_eq!(gate.responses.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn boxed_plugins_work_too() {
    let plugins: Vec<Box<dyn Plugin>> = vec![Box::new(Gate::new())];
    for plugin in plugins {
        let (response, calls) = run(plugin, request("/private")).await;
        assert_eq!((calls, response.status()), (0, StatusCode::UNAUTHORIZED));
    }
}

#[test]
fn layer_and_service_are_clone_and_debug_and_share_the_plugin() {
    let layer = PluginLayer::new(Gate::new());
    let copy = layer.clone();
    assert!(std::ptr::eq(layer.plugin(), copy.plugin()));
    assert_eq!(format!("{layer:?}"), r#"PluginLayer { plugin: "gate" }"#);

    let service = tower::Layer::layer(&layer, "inner");
    let service = service.clone();
    assert!(std::ptr::eq(layer.plugin(), service.plugin()));
    assert_eq!(
        format!("{service:?}"),
        r#"PluginService { inner: "inner", plugin: "gate" }"#
    );
}

#[test]
fn the_stack_fits_a_ferrotunnel_server() {
    // `ServerBuilder::layer` needs a Clone + Send + Sync service with a Send future.
    fn assert_plugin_layer<L>(_: &L)
    where
        L: tower::Layer<ferrotunnel::server::HttpService>,
        L::Service: tower::Service<Request<TunnelBody>> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<Request<TunnelBody>>>::Future: Send + 'static,
    {
    }
    assert_plugin_layer(&PluginLayer::new(Gate::new()));
    let _ = ferrotunnel::Server::builder().layer(PluginLayer::new(Gate::new()));
}

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
use crate::async_trait;

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

#[async_trait]
impl Plugin for Gate {
    fn name(&self) -> &str {
        "gate"
    }

    async fn on_request(&self, request: &mut Request<TunnelBody>, _: &RequestContext) -> Action {
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

    async fn on_response(&self, response: &mut Response<TunnelBody>, _: &RequestContext) {
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
    #[async_trait]
    impl Plugin for Nothing {
        fn name(&self) -> &str {
            "nothing"
        }
        async fn on_request(&self, _: &mut Request<TunnelBody>, _: &RequestContext) -> Action {
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
    #[async_trait]
    impl Plugin for Odd {
        fn name(&self) -> &str {
            "odd"
        }
        async fn on_request(&self, _: &mut Request<TunnelBody>, _: &RequestContext) -> Action {
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

/// Asks a (pretend) auth service over a channel: the request waits, the runtime does not.
struct AskAuthServer {
    ask: tokio::sync::mpsc::Sender<(String, tokio::sync::oneshot::Sender<bool>)>,
    stopped: AtomicUsize,
}

#[async_trait]
impl Plugin for AskAuthServer {
    fn name(&self) -> &str {
        "ask-auth-server"
    }

    async fn on_request(&self, request: &mut Request<TunnelBody>, _: &RequestContext) -> Action {
        let user = request
            .headers()
            .get("x-user")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (answer, allowed) = tokio::sync::oneshot::channel();
        if self.ask.send((user, answer)).await.is_err() {
            return Action::reject(StatusCode::SERVICE_UNAVAILABLE, "the auth server is down");
        }
        match allowed.await {
            Ok(true) => Action::Continue,
            Ok(false) => Action::reject(StatusCode::FORBIDDEN, "the auth server said no"),
            Err(_) => Action::reject(StatusCode::SERVICE_UNAVAILABLE, "the auth server is down"),
        }
    }

    async fn on_stop(&self) {
        self.stopped.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn an_async_plugin_waits_for_another_service() {
    let (ask, mut questions) =
        tokio::sync::mpsc::channel::<(String, tokio::sync::oneshot::Sender<bool>)>(4);
    // The "auth server": a task that answers after its own awaits.
    tokio::spawn(async move {
        while let Some((user, answer)) = questions.recv().await {
            tokio::task::yield_now().await;
            let _ = answer.send(user == "alice");
        }
    });
    let plugin = Arc::new(AskAuthServer {
        ask,
        stopped: AtomicUsize::new(0),
    });
    let layer = PluginLayer::from_arc(plugin.clone());
    for (user, status, calls) in [
        ("alice", StatusCode::OK, 1),
        ("mallory", StatusCode::FORBIDDEN, 0),
    ] {
        let mut request = request("/");
        request
            .headers_mut()
            .insert("x-user", HeaderValue::from_static(user));
        let (response, seen) = run(plugin.clone(), request).await;
        assert_eq!((response.status(), seen), (status, calls), "{user}");
    }
    layer.stop().await;
    assert_eq!(plugin.stopped.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_context_names_the_visitor_the_request_id_and_the_arrival() {
    struct Echo;
    #[async_trait]
    impl Plugin for Echo {
        fn name(&self) -> &str {
            "echo"
        }
        async fn on_request(&self, _: &mut Request<TunnelBody>, cx: &RequestContext) -> Action {
            let text = format!(
                "{:?} {:?} {:?} {}",
                cx.visitor_ip(),
                cx.request_id(),
                cx.tunnel_name(),
                cx.received_at() <= std::time::Instant::now()
            );
            Action::Respond(Response::new(body(text)))
        }
    }
    let mut request = request("/");
    request
        .extensions_mut()
        .insert(ferrotunnel::server::VisitorAddr(
            "192.0.2.7:4000".parse().expect("address"),
        ));
    request
        .headers_mut()
        .insert("x-request-id", HeaderValue::from_static("abc-1"));
    let (response, calls) = run(Echo, request).await;
    assert_eq!(calls, 0);
    assert_eq!(
        text(response).await,
        r#"Some(192.0.2.7) Some("abc-1") None true"#
    );
}

#[tokio::test]
async fn a_failing_start_hook_names_the_plugin() {
    struct Broken;
    #[async_trait]
    impl Plugin for Broken {
        fn name(&self) -> &str {
            "broken"
        }
        async fn on_request(&self, _: &mut Request<TunnelBody>, _: &RequestContext) -> Action {
            Action::Continue
        }
        async fn on_start(&self) -> Result<(), BoxError> {
            Err("cannot reach the user database".into())
        }
    }
    let err = PluginLayer::new(Broken).start().await.expect_err("fails");
    assert_eq!(
        err.to_string(),
        r#"plugin "broken": cannot reach the user database"#
    );
}

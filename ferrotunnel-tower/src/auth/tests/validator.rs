//! Tests of [`AsyncAuthLayer`]. The validators wait on purpose (a oneshot the test answers, or
//! a `sleep` under tokio's paused clock): that wait is what is under test.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use ferrotunnel::{BoxError, TunnelBody, server::VisitorAddr};
use http::{HeaderValue, Method, Request, Response, StatusCode, header, request::Parts};
use http_body_util::{BodyExt, Full};
use tokio::sync::oneshot;
use tower::{Service, ServiceBuilder, ServiceExt};

use super::super::*;
use crate::ResponseBody;

fn body(text: &'static str) -> TunnelBody {
    Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync()
}

async fn text<B>(response: Response<B>) -> String
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

fn with_token(token: &'static str) -> Request<TunnelBody> {
    Request::builder()
        .header("x-token", token)
        .body(body("the request body"))
        .expect("request")
}

/// A layer over a handler that counts its calls and echoes the request body.
fn service<V: AuthValidator + ?Sized>(
    layer: AsyncAuthLayer<V>,
    calls: Arc<AtomicUsize>,
) -> impl Service<
    Request<TunnelBody>,
    Response = Response<ResponseBody<TunnelBody>>,
    Error = BoxError,
    Future: Send,
> + Clone {
    ServiceBuilder::new()
        .layer(layer)
        .service_fn(move |request: Request<TunnelBody>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                let received = request.into_body().collect().await?.to_bytes();
                Ok::<_, BoxError>(Response::new(
                    Full::new(received)
                        .map_err(|never| match never {})
                        .boxed_unsync(),
                ))
            }
        })
}

/// Waits a second (an auth server's round trip), then allows the token `good` only.
struct SlowTokenCheck;

#[async_trait]
impl AuthValidator for SlowTokenCheck {
    async fn validate(&self, request: &Parts) -> Verdict {
        tokio::time::sleep(Duration::from_secs(1)).await;
        match request.headers.get("x-token") {
            Some(token) if token == "good" => Verdict::Allow,
            Some(token) if token == "banned" => {
                Verdict::deny_with(StatusCode::FORBIDDEN, "this token may not use this tunnel")
            }
            Some(_) => Verdict::deny("the x-token sent is not valid"),
            None => Verdict::deny("send a token in the x-token header"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_allowed_request_reaches_the_inner_service_with_its_body() {
    let calls = Arc::new(AtomicUsize::new(0));
    let started = tokio::time::Instant::now();
    let response = service(AsyncAuthLayer::new(SlowTokenCheck), calls.clone())
        .oneshot(with_token("good"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(text(response).await, "the request body");
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(1),
        "the validator's wait was awaited"
    );
}

#[tokio::test(start_paused = true)]
async fn a_denied_request_gets_the_reason_and_never_reaches_the_inner_service() {
    let calls = Arc::new(AtomicUsize::new(0));
    let service = service(AsyncAuthLayer::new(SlowTokenCheck), calls.clone());

    let response = service
        .clone()
        .oneshot(with_token("bad"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    assert_eq!(
        text(response).await,
        "401 Unauthorized: the x-token sent is not valid\n"
    );

    let response = service
        .oneshot(with_token("banned"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        text(response).await,
        "403 Forbidden: this token may not use this tunnel\n"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn the_challenge_goes_with_401s_only() {
    let layer = AsyncAuthLayer::new(SlowTokenCheck)
        .challenge(HeaderValue::from_static(r#"Bearer realm="ferrotunnel""#));
    let service = service(layer, Arc::default());
    let response = service
        .clone()
        .oneshot(with_token("bad"))
        .await
        .expect("response");
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        r#"Bearer realm="ferrotunnel""#
    );
    let response = service
        .oneshot(with_token("banned"))
        .await
        .expect("response");
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
}

/// Waits for the test to decide, through a oneshot, and records the head it was shown.
#[derive(Default)]
struct AskTheTest {
    answer: Mutex<Option<oneshot::Receiver<Verdict>>>,
    shown: Mutex<Option<(Method, String, Option<SocketAddr>)>>,
}

#[async_trait]
impl AuthValidator for AskTheTest {
    async fn validate(&self, request: &Parts) -> Verdict {
        let visitor = request.extensions.get::<VisitorAddr>().map(|v| v.0);
        *self.shown.lock().expect("lock") =
            Some((request.method.clone(), request.uri.to_string(), visitor));
        let answer = self.answer.lock().expect("lock").take();
        match answer {
            Some(answer) => answer.await.unwrap_or_else(|_| Verdict::deny("no answer")),
            None => Verdict::deny("asked twice"),
        }
    }
}

#[tokio::test]
async fn the_request_waits_for_the_verdict_without_blocking() {
    for (verdict, status, inner_calls) in [
        (Verdict::Allow, StatusCode::OK, 1),
        (Verdict::deny("no"), StatusCode::UNAUTHORIZED, 0),
    ] {
        let (answer, receiver) = oneshot::channel();
        let validator = Arc::new(AskTheTest::default());
        *validator.answer.lock().expect("lock") = Some(receiver);
        let calls = Arc::new(AtomicUsize::new(0));
        let service = service(AsyncAuthLayer::from_arc(validator.clone()), calls.clone());

        let mut request = with_token("any");
        *request.method_mut() = Method::POST;
        *request.uri_mut() = "/upload?x=1".parse().expect("uri");
        let visitor = SocketAddr::from(([192, 0, 2, 7], 40_000));
        request.extensions_mut().insert(VisitorAddr(visitor));
        let pending = tokio::spawn(service.oneshot(request));

        // The validator runs and waits; the inner service has not been called, and this
        // (single-threaded) runtime is free to run the test.
        while validator.shown.lock().expect("lock").is_none() {
            tokio::task::yield_now().await;
        }
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!pending.is_finished());
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert_eq!(
            validator.shown.lock().expect("lock").clone(),
            Some((Method::POST, "/upload?x=1".to_owned(), Some(visitor)))
        );

        answer.send(verdict.clone()).expect("the validator waits");
        let response = pending.await.expect("task").expect("response");
        assert_eq!(response.status(), status, "{verdict:?}");
        assert_eq!(calls.load(Ordering::SeqCst), inner_calls, "{verdict:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_validator_that_takes_too_long_is_a_503() {
    struct Hangs;
    #[async_trait]
    impl AuthValidator for Hangs {
        async fn validate(&self, _: &Parts) -> Verdict {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Verdict::Allow
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let started = tokio::time::Instant::now();
    let layer = AsyncAuthLayer::new(Hangs).timeout(Duration::from_secs(5));
    let response = service(layer, calls.clone())
        .oneshot(with_token("good"))
        .await
        .expect("response");
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        text(response).await,
        "503 Service Unavailable: the check of this request's credentials did not finish \
         within 5s; try again later\n"
    );
}

#[tokio::test(start_paused = true)]
async fn closures_and_shared_trait_objects_are_validators() {
    let closure = |parts: &Parts| {
        let token = parts.headers.get("x-token").cloned();
        async move {
            tokio::task::yield_now().await;
            match token {
                Some(token) if token == "good" => Verdict::Allow,
                _ => Verdict::deny("send a good x-token"),
            }
        }
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let by_closure = service(AsyncAuthLayer::new(closure), calls.clone());
    let shared: Arc<dyn AuthValidator> = Arc::new(SlowTokenCheck);
    let by_object = service(AsyncAuthLayer::from_arc(shared), calls.clone());

    let response = by_closure.clone().oneshot(with_token("good")).await;
    assert_eq!(response.expect("response").status(), StatusCode::OK);
    let response = by_closure.oneshot(with_token("bad")).await;
    assert_eq!(
        response.expect("response").status(),
        StatusCode::UNAUTHORIZED
    );
    let response = by_object.clone().oneshot(with_token("good")).await;
    assert_eq!(response.expect("response").status(), StatusCode::OK);
    let response = by_object.oneshot(with_token("bad")).await;
    assert_eq!(
        response.expect("response").status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn the_inner_service_that_was_made_ready_is_the_one_called() {
    // A concurrency limit panics if called without a permit from `poll_ready`.
    let service = ServiceBuilder::new()
        .layer(AsyncAuthLayer::new(SlowTokenCheck))
        .concurrency_limit(1)
        .service_fn(|_: Request<TunnelBody>| async {
            Ok::<_, BoxError>(Response::new(TunnelBody::default()))
        });
    for _ in 0..3 {
        let response = service.clone().oneshot(with_token("good")).await;
        assert_eq!(response.expect("response").status(), StatusCode::OK);
    }
}

#[tokio::test(start_paused = true)]
async fn inner_errors_pass_through() {
    let result = ServiceBuilder::new()
        .layer(AsyncAuthLayer::new(SlowTokenCheck))
        .service_fn(|_: Request<TunnelBody>| async {
            Err::<Response<TunnelBody>, BoxError>("local service refused".into())
        })
        .oneshot(with_token("good"))
        .await;
    assert_eq!(
        result.expect_err("error").to_string(),
        "local service refused"
    );
}

#[test]
fn layer_and_service_are_clone_and_debug() {
    let layer = AsyncAuthLayer::new(SlowTokenCheck).timeout(Duration::from_millis(1500));
    let copy = layer.clone();
    assert!(std::ptr::eq(layer.validator(), copy.validator()));
    let debug = format!("{copy:?}");
    assert!(
        debug.starts_with("AsyncAuthLayer { validator: \""),
        "{debug}"
    );
    assert!(debug.contains("SlowTokenCheck"), "{debug}");
    assert!(debug.contains("timeout: \"1s500ms\""), "{debug}");
    let service = AsyncAuth::new("inner", &layer).clone();
    let debug = format!("{service:?}");
    assert!(
        debug.starts_with("AsyncAuth { inner: \"inner\", validator: "),
        "{debug}"
    );
    assert_eq!(service.into_inner(), "inner");
}

#[test]
fn the_layer_fits_a_ferrotunnel_server() {
    fn assert_server_layer<L>(_: &L)
    where
        L: tower::Layer<ferrotunnel::server::HttpService>,
        L::Service: tower::Service<Request<TunnelBody>> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<Request<TunnelBody>>>::Future: Send + 'static,
    {
    }
    let layer = AsyncAuthLayer::new(SlowTokenCheck);
    assert_server_layer(&layer);
    let shared: Arc<dyn AuthValidator> = Arc::new(SlowTokenCheck);
    assert_server_layer(&AsyncAuthLayer::from_arc(shared.clone()));
    let _ = ferrotunnel::Server::builder()
        .layer(layer)
        .layer(AsyncAuthLayer::from_arc(shared));
}

use std::{
    future::{Future, poll_fn},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::Poll,
    time::Duration,
};

use ferrotunnel::BoxError;
use http::{Request, Response, StatusCode, header::RETRY_AFTER};
use http_body_util::BodyExt;
use tokio::{sync::Notify, time::advance};
use tower::{Layer, Service, ServiceExt, service_fn, util::BoxCloneService};

use super::{
    breaker::{Admission, Refusal, Settings, refusal_message},
    registry::Breakers,
    *,
};
use crate::ResponseBody;

type Svc = BoxCloneService<Request<String>, Response<ResponseBody<String>>, BoxError>;

/// A local service that answers as each request's `x-answer` header says: `ok` (200), a status
/// code, `error`, or `hold` (wait for `release`, then 200, or `hold-500`: then 500).
#[derive(Clone, Default)]
struct Local {
    calls: Arc<AtomicUsize>,
    /// Notified when a held request has reached the local service.
    held: Arc<Notify>,
    release: Arc<Notify>,
}

impl Local {
    fn behind(&self, layer: &CircuitBreakerLayer) -> Svc {
        let local = self.clone();
        BoxCloneService::new(layer.layer(service_fn(move |request: Request<String>| {
            local.calls.fetch_add(1, Ordering::SeqCst);
            let answer = request.headers()["x-answer"]
                .to_str()
                .expect("x-answer")
                .to_owned();
            let local = local.clone();
            async move {
                let status = match answer.as_str() {
                    "ok" => 200,
                    "error" => return Err::<_, BoxError>("the local service is down".into()),
                    "hold" | "hold-500" => {
                        local.held.notify_one();
                        local.release.notified().await;
                        if answer == "hold" { 200 } else { 500 }
                    }
                    // Another layer's own refusal, not the tunnel's answer.
                    "layer-503" => {
                        let mut response = Response::new(String::new());
                        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                        response.extensions_mut().insert(crate::body::LayerRefusal {
                            layer: "another".into(),
                        });
                        return Ok(response);
                    }
                    status => status.parse().expect("a status"),
                };
                Ok(Response::builder().status(status).body(String::new())?)
            }
        })))
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn request(answer: &str) -> Request<String> {
    Request::builder()
        .header("x-answer", answer)
        .body(String::new())
        .expect("request")
}

async fn send(service: &Svc, answer: &str) -> Result<Response<ResponseBody<String>>, BoxError> {
    service.clone().oneshot(request(answer)).await
}

async fn status(service: &Svc, answer: &str) -> StatusCode {
    send(service, answer).await.expect("a response").status()
}

async fn text(response: Response<ResponseBody<String>>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

fn layer(failures: u32) -> CircuitBreakerLayer {
    CircuitBreakerLayer::new()
        .failures(failures)
        .cool_down(Duration::from_secs(30))
}

/// Opens the breaker of `service` (which opens after one failure) and lets the cool-down pass.
async fn open_and_wait(service: &Svc) {
    assert!(send(service, "error").await.is_err());
    advance(Duration::from_secs(30)).await;
}

#[tokio::test(start_paused = true)]
async fn errors_and_5xx_responses_both_count_and_open_the_breaker() {
    let local = Local::default();
    let service = local.behind(&layer(3));
    let err = send(&service, "error")
        .await
        .expect_err("errors pass through");
    assert_eq!(err.to_string(), "the local service is down");
    assert_eq!(status(&service, "502").await, StatusCode::BAD_GATEWAY);
    assert!(send(&service, "error").await.is_err());
    assert_eq!(local.calls(), 3);

    assert_eq!(
        status(&service, "ok").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        local.calls(),
        3,
        "an open breaker does not call the local service"
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_count_and_4xx_are_successes() {
    let local = Local::default();
    let service = local.behind(&layer(3));
    for answer in [
        "error", "500", "ok", "error", "500", "404", "error", "error",
    ] {
        let _ = send(&service, answer).await;
    }
    assert_eq!(
        status(&service, "ok").await,
        StatusCode::OK,
        "never 3 in a row"
    );
    assert!(send(&service, "error").await.is_err());
    assert!(send(&service, "error").await.is_err());
    assert_eq!(
        status(&service, "500").await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        status(&service, "ok").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_says_when_to_retry() {
    let local = Local::default();
    let service = local.behind(&layer(1));
    assert!(send(&service, "error").await.is_err());

    advance(Duration::from_millis(17_500)).await;
    let response = send(&service, "ok").await.expect("a refusal");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()[RETRY_AFTER],
        "13",
        "12.5 s left, rounded up"
    );
    assert_eq!(
        text(response).await,
        "503 Service Unavailable: the service is failing (1 failure in a row), so this server \
         stops sending it requests for 30 s; retry in 13 s\n"
    );

    advance(Duration::from_millis(12_400)).await;
    let response = send(&service, "ok").await.expect("a refusal");
    assert_eq!(response.headers()[RETRY_AFTER], "1");
    assert_eq!(local.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn half_open_lets_one_probe_through_and_its_success_closes() {
    let local = Local::default();
    let service = local.behind(&layer(2));
    assert!(send(&service, "error").await.is_err());
    assert!(send(&service, "error").await.is_err());
    advance(Duration::from_secs(30)).await;

    let probe = tokio::spawn(service.clone().oneshot(request("hold")));
    local.held.notified().await;
    assert_eq!(local.calls(), 3, "the probe reached the local service");

    // While the probe is in flight, the others are refused.
    let response = send(&service, "ok").await.expect("a refusal");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[RETRY_AFTER], "1");
    assert_eq!(
        text(response).await,
        "503 Service Unavailable: the service is failing (2 failures in a row), so this server \
         is trying it with one request before it sends it more; retry in 1 s\n"
    );
    assert_eq!(local.calls(), 3);

    local.release.notify_one();
    let answer = probe.await.expect("probe task").expect("probe");
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(status(&service, "ok").await, StatusCode::OK, "closed");
    // Closed with the count reset: one failure does not open it again.
    assert!(send(&service, "error").await.is_err());
    assert_eq!(status(&service, "ok").await, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_opens_the_breaker_for_another_cool_down() {
    let local = Local::default();
    let service = local.behind(&layer(1));
    open_and_wait(&service).await;
    assert_eq!(
        status(&service, "503").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(local.calls(), 2, "the probe was let through");

    let response = send(&service, "ok").await.expect("a refusal");
    assert_eq!(response.headers()[RETRY_AFTER], "30");
    assert!(text(response).await.contains("(2 failures in a row)"));
    advance(Duration::from_secs(29)).await;
    assert_eq!(
        status(&service, "ok").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(local.calls(), 2);

    advance(Duration::from_secs(1)).await;
    assert_eq!(status(&service, "ok").await, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_lets_the_next_request_probe() {
    let local = Local::default();
    let service = local.behind(&layer(1));
    open_and_wait(&service).await;

    let mut probe = Box::pin(service.clone().oneshot(request("hold")));
    poll_fn(|cx| {
        assert!(probe.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
    assert_eq!(local.calls(), 2, "the probe reached the local service");
    drop(probe); // The visitor went away.

    assert_eq!(status(&service, "ok").await, StatusCode::OK, "a new probe");
    assert_eq!(local.calls(), 3);
    assert_eq!(status(&service, "ok").await, StatusCode::OK, "closed");
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_does_not_answer_within_a_cool_down_is_given_up_on() {
    let local = Local::default();
    let service = local.behind(&layer(1));
    open_and_wait(&service).await;
    let stuck = tokio::spawn(service.clone().oneshot(request("hold-500")));
    local.held.notified().await;

    advance(Duration::from_secs(29)).await;
    assert_eq!(
        status(&service, "ok").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    advance(Duration::from_secs(1)).await;
    assert_eq!(status(&service, "ok").await, StatusCode::OK, "a new probe");

    // The old probe's late failure has no say any more.
    local.release.notify_one();
    let late = stuck.await.expect("task").expect("response");
    assert_eq!(late.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(status(&service, "ok").await, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn clones_and_services_of_one_layer_share_the_breakers() {
    let local = Local::default();
    let layer = layer(1);
    let first = local.behind(&layer);
    let second = local.behind(&layer.clone());
    assert!(send(&first, "error").await.is_err());
    assert_eq!(status(&second, "ok").await, StatusCode::SERVICE_UNAVAILABLE);
    // A layer built separately has breakers of its own.
    let other = local.behind(&self::layer(1));
    assert_eq!(status(&other, "ok").await, StatusCode::OK);
}

// Tunnels (`TunnelContext`) can only be made inside the core crate, so the keyed map is tested
// here directly; the end-to-end tests show that each tunnel of a server has its own breaker.
#[tokio::test(start_paused = true)]
async fn breakers_of_two_tunnels_are_independent() {
    let breakers = Breakers::new(Settings::new(1, Duration::from_secs(30)), 10);
    let app = breakers.get(Some("app")).expect("a breaker");
    let api = breakers.get(Some("api")).expect("a breaker");
    assert!(Arc::ptr_eq(
        &app,
        &breakers.get(Some("app")).expect("the same")
    ));
    assert!(!Arc::ptr_eq(&app, &api));

    app.record(false);
    assert!(matches!(app.admit(), Admission::Refuse(_)));
    assert!(matches!(api.admit(), Admission::Pass));
    let untunneled = breakers.get(None).expect("a breaker");
    assert!(matches!(untunneled.admit(), Admission::Pass));
    assert_eq!(breakers.tunnels(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_map_is_bounded_and_forgets_healthy_breakers_first() {
    let breakers = Breakers::new(Settings::new(2, Duration::from_secs(30)), 2);
    let get = |name| breakers.get(Some(name)).expect("a breaker");
    let healthy = get("healthy");
    let failing = get("failing");
    failing.record(false); // One failure: closed, but not healthy.
    let new = get("new");
    assert_eq!(breakers.tunnels(), 2);
    assert!(
        Arc::ptr_eq(&failing, &get("failing")),
        "kept, with its count"
    );
    assert!(Arc::ptr_eq(&new, &get("new")));
    // "healthy" was forgotten; asking for it again forgets the now healthy "new".
    assert!(!Arc::ptr_eq(&healthy, &get("healthy")));
    assert!(Arc::ptr_eq(&failing, &get("failing")));
    assert_eq!(breakers.tunnels(), 2);

    // With no healthy breaker, a closed one with failures counted goes before an open one.
    let open = get("failing");
    open.record(false);
    assert!(matches!(open.admit(), Admission::Refuse(_)));
    get("healthy").record(false);
    let _ = get("third");
    assert!(
        Arc::ptr_eq(&open, &get("failing")),
        "the open breaker stays"
    );

    // Open breakers are never forgotten: a new tunnel goes unwatched instead.
    get("third").record(false);
    get("third").record(false);
    assert!(breakers.get(Some("fourth")).is_none());
    assert_eq!(breakers.tunnels(), 2);
}

#[test]
fn the_refusal_names_the_tunnel() {
    let refusal = Refusal {
        failures: 5,
        retry_after: 12,
        probing: false,
    };
    assert_eq!(
        refusal_message(Some("app"), Duration::from_secs(30), refusal),
        "tunnel \"app\" is failing (5 failures in a row), so this server stops sending it \
         requests for 30 s; retry in 12 s"
    );
    assert!(
        refusal_message(None, Duration::from_millis(1500), refusal)
            .starts_with("the service is failing")
    );
    assert!(refusal_message(None, Duration::from_millis(1500), refusal).contains("for 1s500ms;"));
}

#[test]
fn a_spec_builds_its_layer_and_the_layer_shows_its_settings() {
    let layer = "3,1m".parse::<CircuitBreakerSpec>().expect("spec").layer();
    assert_eq!(
        format!("{layer:?}"),
        "CircuitBreakerLayer { failures: 3, cool_down: \"1m\", max_tunnels: 10000, tunnels: 0 }"
    );
    let default = CircuitBreakerLayer::from(CircuitBreakerSpec::default());
    assert!(format!("{default:?}").contains("failures: 5, cool_down: \"30s\""));
    let zero = CircuitBreakerLayer::new().failures(0).max_tunnels(3);
    assert!(
        format!("{zero:?}").contains("failures: 1,"),
        "0 counts as 1"
    );
    assert!(format!("{zero:?}").contains("max_tunnels: 3,"));
}

#[test]
fn the_layer_fits_a_ferrotunnel_server() {
    fn assert_fits<L>(_: &L)
    where
        L: tower::Layer<ferrotunnel::server::HttpService>,
        L::Service: Service<Request<ferrotunnel::TunnelBody>> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request<ferrotunnel::TunnelBody>>>::Future: Send + 'static,
    {
    }
    assert_fits(&CircuitBreakerLayer::new());
    let _ = ferrotunnel::Server::builder().layer(CircuitBreakerLayer::new());
}

#[tokio::test(start_paused = true)]
async fn another_layers_refusals_do_not_count_as_failures() {
    let local = Local::default();
    let service = local.behind(&CircuitBreakerLayer::new().failures(2));
    for _ in 0..5 {
        assert_eq!(
            status(&service, "layer-503").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    assert_eq!(
        local.calls(),
        5,
        "never opened: every request reached the service"
    );
    for _ in 0..2 {
        assert_eq!(
            status(&service, "503").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    assert_eq!(
        status(&service, "ok").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(local.calls(), 7, "the tunnel's own 503s opened it");
}

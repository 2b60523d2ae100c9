//! Tunnel policy through the library: what a client asks for travels with its registration, the
//! server builds each tunnel's stack once, and a bad request for policy harms no one else.

mod support;

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use ferrotunnel::{
    BoxError, Error, TunnelBody,
    protocol::{PolicyRule, RefusalCode},
};
use ferrotunnel_tower::{
    Action, Plugin, RequestContext, ServerBuilderExt, async_trait,
    policy::{Policy, TunnelPolicies},
};
use http::{HeaderValue, Request, StatusCode};
use support::*;

async fn start(builder: ferrotunnel::ServerBuilder) -> ferrotunnel::ServerHandle {
    builder
        .build()
        .expect("server config")
        .start()
        .await
        .expect("server starts")
}

fn refusal_of(err: Error) -> ferrotunnel::protocol::Refusal {
    match err {
        Error::Refused(refusal) => refusal,
        other => panic!("not a refusal: {other}"),
    }
}

#[tokio::test]
async fn a_client_asking_for_an_invalid_policy_is_refused_and_others_go_on() {
    init_tracing();
    let local = serve(local_service()).await;
    let server = start(server_builder().tunnel_policy(TunnelPolicies::new())).await;
    let good = start_client(&server, "good", local).await;

    // A client of another build could send anything: the server parses it as its own flags.
    let err = client_builder(&server)
        .subdomain("bad")
        .local_address(local.to_string())
        .policy(PolicyRule::new("rate-limit", "fast"))
        .build()
        .expect("the client does not parse rules itself")
        .start()
        .await
        .expect_err("refused");
    let refusal = refusal_of(err);
    assert_eq!(refusal.code, RefusalCode::InvalidPolicy);
    assert_eq!(
        refusal.message,
        "tunnel \"bad\": policy `rate-limit`: \"fast\" is not a rate: write N/s, N/min or N/h, like 100/min"
    );
    let err = client_builder(&server)
        .subdomain("bad")
        .local_address(local.to_string())
        .policy(PolicyRule::new("teleport", "now"))
        .build()
        .expect("client config")
        .start()
        .await
        .expect_err("refused");
    assert!(
        refusal_of(err)
            .message
            .contains("no policy named \"teleport\""),
        "unknown policies are named"
    );

    let visitor = Visitor::new(server.http_addr());
    assert_eq!(
        visitor.get("good.localhost", "/hello").await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.tunnels().len(),
        1,
        "nothing of the refused client stays"
    );
    good.shutdown().await.expect("stops");
    server.shutdown().await;
}

/// A server's policy with a bug: it panics on any rule.
struct Buggy;

impl ferrotunnel::server::TunnelPolicy for Buggy {
    fn layers(
        &self,
        _tunnel: &str,
        rules: &[PolicyRule],
    ) -> Result<ferrotunnel::server::LayerStack, String> {
        assert!(rules.is_empty(), "a bug in the server's policy code");
        Ok(ferrotunnel::server::LayerStack::new())
    }
}

#[tokio::test]
async fn a_panic_in_the_servers_policy_refuses_that_client_and_nothing_else() {
    let local = serve(local_service()).await;
    let server = start(server_builder().tunnel_policy(Buggy)).await;
    let err = client_builder(&server)
        .subdomain("bad")
        .local_address(local.to_string())
        .policy(PolicyRule::new("compress", ""))
        .build()
        .expect("client config")
        .start()
        .await
        .expect_err("refused");
    let refusal = refusal_of(err);
    assert_eq!(refusal.code, RefusalCode::InvalidPolicy);
    assert!(
        refusal
            .message
            .contains("failed to build this tunnel's policy"),
        "{}",
        refusal.message
    );
    let good = start_client(&server, "good", local).await;
    let (status, _) = Visitor::new(server.http_addr())
        .get("good.localhost", "/hello")
        .await;
    assert_eq!(status, StatusCode::OK, "the server goes on");
    good.shutdown().await.expect("stops");
    server.shutdown().await;
}

#[tokio::test]
async fn a_server_without_a_tunnel_policy_refuses_clients_that_ask_for_one() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let err = client_builder(&server)
        .subdomain("app")
        .local_address(local.to_string())
        .policy(Policy::parse("basic-auth", "alice:pw").expect("rule"))
        .build()
        .expect("client config")
        .start()
        .await
        .expect_err("refused");
    let refusal = refusal_of(err);
    assert_eq!(refusal.code, RefusalCode::InvalidPolicy);
    assert!(
        refusal.message.contains("cannot apply `basic-auth`"),
        "{}",
        refusal.message
    );
    assert!(!refusal.message.contains("alice:pw"), "{}", refusal.message);
    server.shutdown().await;
}

/// A local service that accepts every connection and closes it at once: to the tunnel, a
/// service that fails every request.
async fn crashing_local_service() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind(loopback())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            drop(tcp);
        }
    });
    addr
}

#[tokio::test]
async fn server_wide_policy_keeps_state_per_tunnel() {
    let local = serve(local_service()).await;
    let dead = crashing_local_service().await;
    let policies = TunnelPolicies::new().server_policy([
        Policy::parse("circuit-breaker", "1,1m").expect("rule"),
        Policy::parse("rate-limit", "3/min,by=tunnel").expect("rule"),
    ]);
    let server = start(server_builder().tunnel_policy(policies)).await;
    let broken = start_client(&server, "broken", dead).await;
    let healthy = start_client(&server, "healthy", local).await;
    let visitor = Visitor::new(server.http_addr());

    // One failure opens the breaker of `broken` only.
    assert_eq!(
        visitor.get("broken.localhost", "/").await.0,
        StatusCode::BAD_GATEWAY
    );
    let (status, body) = visitor.get("broken.localhost", "/").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("tunnel \"broken\" is failing"), "{body}");
    // `healthy` has a breaker and a rate-limit bucket of its own: 3 requests a minute.
    for _ in 0..3 {
        assert_eq!(
            visitor.get("healthy.localhost", "/hello").await.0,
            StatusCode::OK
        );
    }
    let (status, body) = visitor.get("healthy.localhost", "/hello").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("to tunnel healthy"), "{body}");

    broken.shutdown().await.expect("stops");
    healthy.shutdown().await.expect("stops");
    server.shutdown().await;
}

#[tokio::test]
async fn a_tunnels_own_policy_applies_to_it_alone() {
    let local = serve(local_service()).await;
    let server = start(server_builder().tunnel_policy(TunnelPolicies::new())).await;
    let client = client_builder(&server)
        .subdomain("open")
        .local_address(local.to_string())
        .tunnel("guarded", local.to_string())
        .tunnel_policy(
            "guarded",
            Policy::parse("bearer-token", "s3cret").expect("rule"),
        )
        .build()
        .expect("client config")
        .start()
        .await
        .expect("starts");
    let visitor = Visitor::new(server.http_addr());
    assert_eq!(
        visitor.get("open.localhost", "/hello").await.0,
        StatusCode::OK
    );
    assert_eq!(
        visitor.get("guarded.localhost", "/hello").await.0,
        StatusCode::UNAUTHORIZED
    );
    let mut request = visitor.request("guarded.localhost", "GET", "/hello", full(b""));
    request
        .headers_mut()
        .insert("authorization", HeaderValue::from_static("Bearer s3cret"));
    assert_eq!(visitor.send(request).await.status(), StatusCode::OK);

    // A rule for a tunnel the client does not have is a settings error, before connecting.
    let err = client_builder(&server)
        .local_address(local.to_string())
        .tunnel_policy("typo", Policy::Compress)
        .build()
        .expect_err("no such tunnel");
    assert!(err.to_string().contains("tunnel \"typo\""), "{err}");

    client.shutdown().await.expect("stops");
    server.shutdown().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id_errors_included() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let client = start_client(&server, "app", local).await;
    let visitor = Visitor::new(server.http_addr());

    let (status, headers, _) = visitor.call("app.localhost", "GET", "/hello", b"").await;
    assert_eq!(status, StatusCode::OK);
    let id = headers["x-request-id"].to_str().expect("text").to_owned();
    let (status, headers, _) = visitor.call("nowhere.localhost", "GET", "/", b"").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let other = headers["x-request-id"].to_str().expect("text");
    assert_ne!(id, other, "each request has its own id");

    // A visitor's own id is kept, and the local service sees it.
    let mut request = visitor.request("app.localhost", "GET", "/headers", full(b""));
    request
        .headers_mut()
        .insert("x-request-id", HeaderValue::from_static("visitor-7"));
    let (_, headers, seen) = read_response(visitor.send(request).await).await;
    assert_eq!(headers["x-request-id"], "visitor-7");
    assert!(seen.contains("x-request-id: visitor-7"), "{seen}");

    client.shutdown().await.expect("stops");
    server.shutdown().await;
}

/// Counts its lifecycle hooks; fails to start when asked to.
struct Lifecycle {
    started: Arc<AtomicUsize>,
    stopped: Arc<AtomicUsize>,
    fail_start: bool,
}

#[async_trait]
impl Plugin for Lifecycle {
    fn name(&self) -> &str {
        "lifecycle"
    }

    async fn on_request(&self, _: &mut Request<TunnelBody>, _: &RequestContext) -> Action {
        Action::Continue
    }

    async fn on_start(&self) -> Result<(), BoxError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        if self.fail_start {
            return Err("the license server is unreachable".into());
        }
        Ok(())
    }

    async fn on_stop(&self) {
        self.stopped.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_plugins_start_and_stop_hooks_run_with_the_server() {
    let (started, stopped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let plugin = |fail_start| Lifecycle {
        started: started.clone(),
        stopped: stopped.clone(),
        fail_start,
    };
    let server = start(server_builder().plugin(plugin(false))).await;
    assert_eq!(started.load(Ordering::SeqCst), 1);
    server.shutdown().await;
    assert_eq!(stopped.load(Ordering::SeqCst), 1);

    let err = server_builder()
        .plugin(plugin(true))
        .build()
        .expect("config")
        .start()
        .await
        .expect_err("does not start");
    assert!(matches!(err, Error::StartHook(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "the server could not start: plugin \"lifecycle\": the license server is unreachable"
    );
}

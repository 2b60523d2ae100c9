//! Tunnel policy end to end: real `ferrotunnel server` and `client` processes, switched on by
//! their flags, with real HTTP visitors from 127.0.0.x addresses.
//!
//! Nothing here sleeps to synchronise. Two tests wait on purpose, for the time the server
//! itself names: a rate limit's `Retry-After`, and a circuit breaker's cool-down.

mod support;

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use hyper::StatusCode;
use support::{
    process::{Running, TOKEN, start_client, start_server},
    visitor::{Answer, Switchable, get, get_from, local_service},
};

fn host(name: &str, ingress: SocketAddr) -> String {
    format!("{name}.localhost:{}", ingress.port())
}

/// The seconds a refusal says to wait.
fn retry_after(answer: &Answer) -> Duration {
    let seconds = answer.headers["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("whole seconds");
    Duration::from_secs(seconds)
}

#[tokio::test]
async fn basic_auth_lets_in_only_visitors_with_credentials() {
    let local = local_service().await;
    let (server, url, ingress) = start_server(&["--basic-auth", "alice:correct-horse"]);
    assert!(
        server.printed("Tunnel Policy     basic-auth alice:***"),
        "the server says what it enforces, secrets masked: {:?}",
        server.seen
    );
    let _client = start_client(&url, local, "app", &[]);
    let app = host("app", ingress);

    let refused = get(ingress, &app, "/hello", &[]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{refused:?}");
    assert!(
        refused.headers["www-authenticate"]
            .to_str()
            .expect("text")
            .starts_with("Basic realm="),
        "{refused:?}"
    );
    // "alice:correct-horse", and a wrong password.
    let good = [("authorization", "Basic YWxpY2U6Y29ycmVjdC1ob3JzZQ==")];
    let wrong = [("authorization", "Basic YWxpY2U6YmF0dGVyeS1zdGFwbGU=")];
    assert_eq!(
        get(ingress, &app, "/hello", &wrong).await.status,
        StatusCode::UNAUTHORIZED
    );
    let answer = get(ingress, &app, "/headers", &good).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert!(
        !answer.body.contains("authorization"),
        "the tunnel's credentials reached the local service: {}",
        answer.body
    );
}

#[tokio::test]
async fn a_rate_limit_answers_429_with_retry_after_and_lets_visitors_back_in_after_it() {
    let local = local_service().await;
    let (_server, url, ingress) = start_server(&["--rate-limit", "2/s"]);
    let _client = start_client(&url, local, "app", &[]);
    let app = host("app", ingress);
    let other = IpAddr::from([127, 0, 0, 3]);

    for _ in 0..2 {
        assert_eq!(
            get(ingress, &app, "/hello", &[]).await.status,
            StatusCode::OK
        );
    }
    let limited = get(ingress, &app, "/hello", &[]).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{limited:?}");
    assert!(
        limited
            .body
            .contains("at most 2 requests per second from 127.0.0.1")
    );
    assert_eq!(
        limited.headers["ratelimit-policy"],
        "\"ferrotunnel\";q=2;w=1"
    );
    let wait = retry_after(&limited);
    assert!(wait >= Duration::from_secs(1), "{limited:?}");

    // Limits are per visitor address: another one is not held back.
    let elsewhere = get_from(other, ingress, &app, "/hello", &[]).await;
    assert_eq!(elsewhere.status, StatusCode::OK, "{elsewhere:?}");

    // Waiting as the server said is enough.
    tokio::time::sleep(wait).await;
    assert_eq!(
        get(ingress, &app, "/hello", &[]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_denied_address_gets_403_and_others_get_through() {
    let local = local_service().await;
    let (_server, url, ingress) = start_server(&["--deny-ip", "127.0.0.2"]);
    let _client = start_client(&url, local, "app", &[]);
    let app = host("app", ingress);

    let denied = get_from(IpAddr::from([127, 0, 0, 2]), ingress, &app, "/hello", &[]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "{denied:?}");
    assert!(denied.body.contains("127.0.0.2"), "{denied:?}");
    let allowed = get_from(IpAddr::from([127, 0, 0, 4]), ingress, &app, "/hello", &[]).await;
    assert_eq!(allowed.status, StatusCode::OK, "{allowed:?}");
}

#[tokio::test]
async fn header_rules_change_what_the_local_service_and_the_visitor_see() {
    let local = local_service().await;
    let (_server, url, ingress) = start_server(&[
        "--add-header",
        "x-visitor: ${visitor_ip} via ${tunnel}",
        "--remove-header",
        "x-secret",
        "--add-response-header",
        "x-served-by: ferrotunnel",
        "--remove-response-header",
        "x-internal",
    ]);
    let _client = start_client(&url, local, "app", &[]);

    let answer = get_from(
        IpAddr::from([127, 0, 0, 5]),
        ingress,
        &host("app", ingress),
        "/headers",
        &[
            ("x-secret", "do not forward"),
            ("x-kept", "yes"),
            // A visitor cannot remove what a policy adds by naming it as hop-by-hop.
            ("connection", "x-visitor"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let seen = &answer.body;
    assert!(seen.contains("x-visitor: 127.0.0.5 via app"), "{seen}");
    assert!(seen.contains("x-kept: yes"), "{seen}");
    assert!(!seen.contains("x-secret"), "{seen}");
    assert_eq!(answer.headers["x-served-by"], "ferrotunnel");
    assert!(!answer.headers.contains_key("x-internal"), "{answer:?}");
}

#[tokio::test]
async fn the_circuit_breaker_opens_on_a_dead_local_service_and_closes_when_it_is_back() {
    let local = Switchable::start(false).await;
    let (_server, url, ingress) = start_server(&["--circuit-breaker", "2,1s"]);
    let _client = start_client(&url, local.addr, "app", &[]);
    let app = host("app", ingress);

    for _ in 0..2 {
        let failed = get(ingress, &app, "/hello", &[]).await;
        assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{failed:?}");
    }
    let open = get(ingress, &app, "/hello", &[]).await;
    assert_eq!(open.status, StatusCode::SERVICE_UNAVAILABLE, "{open:?}");
    assert!(open.body.contains("2 failures in a row"), "{open:?}");

    // The local service comes back; after the cool-down the probe gets through and closes
    // the breaker.
    local.switch_on();
    tokio::time::sleep(retry_after(&open)).await;
    let probe = get(ingress, &app, "/hello", &[]).await;
    assert_eq!(probe.status, StatusCode::OK, "{probe:?}");
    assert_eq!(
        get(ingress, &app, "/hello", &[]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_clients_policy_applies_to_its_own_tunnel_and_to_no_other() {
    let local = local_service().await;
    let (_server, url, ingress) = start_server(&["--client-policy", "basic-auth"]);
    let _guarded = start_client(&url, local, "guarded", &["--basic-auth", "bob:pw"]);
    let _open = start_client(&url, local, "open", &[]);

    let guarded = get(ingress, &host("guarded", ingress), "/hello", &[]).await;
    assert_eq!(guarded.status, StatusCode::UNAUTHORIZED, "{guarded:?}");
    let bob = [("authorization", "Basic Ym9iOnB3")];
    let guarded = get(ingress, &host("guarded", ingress), "/hello", &bob).await;
    assert_eq!(guarded.status, StatusCode::OK, "{guarded:?}");
    let open = get(ingress, &host("open", ingress), "/hello", &[]).await;
    assert_eq!(open.status, StatusCode::OK, "{open:?}");

    // A policy the server does not let clients set: refused at registration with the server's
    // message, and exit 2 (retrying cannot help); the other tunnels go on.
    let local = local.to_string();
    let mut refused = Running::spawn(
        "refused client",
        &[
            "client",
            "--server",
            &url,
            "--token",
            TOKEN,
            "--local",
            &local,
            "--subdomain",
            "greedy",
            "--rate-limit",
            "1000/s",
        ],
        &[],
    );
    assert_eq!(refused.wait_exit().code(), Some(2));
    let stderr = refused.stderr();
    assert!(
        stderr.contains("tunnel \"greedy\": this server does not let clients set `rate-limit`; they may set basic-auth"),
        "{stderr}"
    );
    let open = get(ingress, &host("open", ingress), "/hello", &[]).await;
    assert_eq!(open.status, StatusCode::OK, "{open:?}");
}

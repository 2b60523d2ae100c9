use std::{net::SocketAddr, sync::Arc, time::Duration};

use base64::Engine as _;
use bytes::Bytes;
use ferrotunnel::{
    BoxError, Error, TunnelBody,
    server::{HttpService, TunnelPolicy, VisitorAddr},
};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use tokio::sync::Notify;
use tower::{ServiceExt, service_fn};

use super::*;

/// One value each policy accepts, as a user would write it.
const SAMPLES: [(&str, &str); 17] = [
    ("cors", "https://app.example.com"),
    ("concurrency-limit", "64"),
    ("allow-ip", "10.0.0.0/8"),
    ("deny-ip", "2001:db8::/32"),
    ("rate-limit", "10/s,burst=20"),
    ("basic-auth", "alice:correct-horse"),
    ("bearer-token", "3f9c2d7e"),
    ("api-key", "x-api-key=c2VjcmV0"),
    ("circuit-breaker", "5,30s"),
    ("add-header", "x-visitor: ${visitor_ip}"),
    ("set-header", "x-env: prod"),
    ("remove-header", "x-debug"),
    ("add-response-header", "x-served-by: ferrotunnel"),
    ("set-response-header", "cache-control: no-store"),
    ("remove-response-header", "server"),
    ("compress", ""),
    ("timeout", "1m30s"),
];

#[test]
fn every_policy_reads_back_what_it_writes_through_a_rule() {
    assert_eq!(
        SAMPLES.map(|(name, _)| name),
        POLICY_NAMES,
        "a sample for every policy, in run order"
    );
    for (name, value) in SAMPLES {
        let policy = Policy::parse(name, value).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(policy.name(), name);
        let rule = PolicyRule::from(&policy);
        assert_eq!(Policy::try_from(&rule), Ok(policy.clone()), "{name}");
    }
}

#[test]
fn unknown_policies_and_bad_values_are_named() {
    let err = Policy::try_from(&PolicyRule::new("rate-limt", "10/s")).expect_err("typo");
    assert!(err.contains("no policy named \"rate-limt\""), "{err}");
    assert!(err.contains("rate-limit"), "lists the policies: {err}");
    let err = Policy::try_from(&PolicyRule::new("rate-limit", "10/day")).expect_err("unit");
    assert!(err.starts_with("policy `rate-limit`: \"10/day\""), "{err}");
    for (name, value) in [
        ("concurrency-limit", "0"),
        ("timeout", "0s"),
        ("compress", "yes"),
    ] {
        assert!(Policy::parse(name, value).is_err(), "{name} {value}");
    }
}

#[test]
fn secrets_stay_out_of_debug_output_and_error_messages() {
    for (name, value) in [
        ("basic-auth", "alice:correct-horse"),
        ("bearer-token", "correct-horse"),
        ("api-key", "x-api-key=correct-horse"),
    ] {
        let policy = Policy::parse(name, value).expect(name);
        let debug = format!("{policy:?}");
        assert!(!debug.contains("correct-horse"), "{debug}");
        assert!(debug.starts_with(name), "{debug}");
    }
    let shown: Vec<String> = [
        ("basic-auth", "alice:correct-horse"),
        ("bearer-token", "correct-horse"),
        ("api-key", "x-api-key=correct-horse"),
        ("rate-limit", "10/s"),
        ("compress", ""),
    ]
    .iter()
    .map(|(name, value)| Policy::parse(name, value).expect(name).to_string())
    .collect();
    assert_eq!(
        shown,
        [
            "basic-auth alice:***",
            "bearer-token ***",
            "api-key x-api-key=***",
            "rate-limit 10/s",
            "compress"
        ]
    );
    let err = Policy::parse("basic-auth", "correct-horse").expect_err("no colon");
    assert!(!err.contains("correct-horse"), "{err}");
}

fn body(text: &'static str) -> TunnelBody {
    Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A local service that answers 200 with the `x-visitor` header it saw (or "none").
fn local_service() -> HttpService {
    HttpService::new(service_fn(|request: Request<TunnelBody>| async move {
        let seen = request
            .headers()
            .get("x-visitor")
            .map_or("none".to_owned(), |v| v.to_str().unwrap_or("?").to_owned());
        Ok::<_, BoxError>(Response::new(
            Full::new(Bytes::from(seen))
                .map_err(|never| match never {})
                .boxed_unsync(),
        ))
    }))
}

fn from(ip: [u8; 4]) -> Request<TunnelBody> {
    let mut request = Request::new(body(""));
    request
        .extensions_mut()
        .insert(VisitorAddr(SocketAddr::from((ip, 40000))));
    request
}

fn basic(request: &mut Request<TunnelBody>, user: &str, password: &str) {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    request.headers_mut().insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Basic {token}")).expect("header"),
    );
}

fn stack(rules: &[(&str, &str)]) -> HttpService {
    let policies: Vec<Policy> = rules
        .iter()
        .map(|(name, value)| Policy::parse(name, value).expect(name))
        .collect();
    layers(&policies).wrap(local_service())
}

async fn status(service: &HttpService, request: Request<TunnelBody>) -> StatusCode {
    service
        .clone()
        .oneshot(request)
        .await
        .expect("the stack answers")
        .status()
}

#[tokio::test]
async fn rules_run_in_their_order() {
    let ip_first = stack(&[("deny-ip", "192.0.2.0/24"), ("basic-auth", "alice:pw")]);
    assert_eq!(
        status(&ip_first, from([192, 0, 2, 7])).await,
        StatusCode::FORBIDDEN
    );
    let out_of_flag_order = [("basic-auth", "alice:pw"), ("deny-ip", "192.0.2.0/24")];
    let policies = out_of_flag_order.map(|(name, value)| Policy::parse(name, value).expect(name));
    assert_eq!(
        layers(&policies).len(),
        2,
        "one composed layer per run in flag order"
    );
    let auth_first = stack(&out_of_flag_order);
    assert_eq!(
        status(&auth_first, from([192, 0, 2, 7])).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn rules_of_one_family_make_one_layer() {
    // Two layers would each want their own credentials; one layer takes either.
    let service = stack(&[
        ("basic-auth", "alice:pw-a"),
        ("rate-limit", "100/s"),
        ("basic-auth", "bob:pw-b"),
        ("allow-ip", "192.0.2.7"),
        ("allow-ip", "192.0.2.8"),
    ]);
    assert_eq!(
        layers(&[Policy::parse("basic-auth", "a:b").expect("rule")]).len(),
        1
    );
    for (user, password, ip) in [("alice", "pw-a", 7), ("bob", "pw-b", 8)] {
        let mut request = from([192, 0, 2, ip]);
        basic(&mut request, user, password);
        assert_eq!(status(&service, request).await, StatusCode::OK, "{user}");
    }
    let mut stranger = from([192, 0, 2, 9]);
    basic(&mut stranger, "alice", "pw-a");
    assert_eq!(status(&service, stranger).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn headers_with_per_request_values_reach_the_local_service() {
    let service = stack(&[("add-header", "x-visitor: ip=${visitor_ip}")]);
    let response = service
        .oneshot(from([192, 0, 2, 7]))
        .await
        .expect("answers");
    let text = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(&text[..], b"ip=192.0.2.7");
}

#[tokio::test]
async fn a_concurrency_limit_refuses_beyond_it_at_once() {
    // The first request is held in the local service until released; later ones are not.
    let release = Arc::new(Notify::new());
    let entered = Arc::new(Notify::new());
    let first_call = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (held, started) = (release.clone(), entered.clone());
    let slow = HttpService::new(service_fn(move |_: Request<TunnelBody>| {
        let (held, started) = (held.clone(), started.clone());
        let hold = first_call.swap(false, std::sync::atomic::Ordering::SeqCst);
        async move {
            if hold {
                started.notify_one();
                held.notified().await;
            }
            Ok::<_, BoxError>(Response::new(body("done")))
        }
    }));
    let service = layers(&[Policy::parse("concurrency-limit", "1").expect("rule")]).wrap(slow);
    let first = tokio::spawn(service.clone().oneshot(from([192, 0, 2, 7])));
    entered.notified().await;
    let refused = service
        .clone()
        .oneshot(from([192, 0, 2, 8]))
        .await
        .expect("answers");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
    release.notify_one();
    let first = first.await.expect("task").expect("answers");
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(
        status(&service, from([192, 0, 2, 8])).await,
        StatusCode::OK,
        "the slot is free again"
    );
}

#[tokio::test(start_paused = true)]
async fn a_timeout_fails_with_the_cores_response_timeout() {
    let never = HttpService::new(service_fn(|_: Request<TunnelBody>| async {
        std::future::pending::<Result<Response<TunnelBody>, BoxError>>().await
    }));
    let service = layers(&[Policy::parse("timeout", "2s").expect("rule")]).wrap(never);
    let err = service
        .oneshot(from([192, 0, 2, 7]))
        .await
        .expect_err("times out");
    assert!(
        matches!(err.downcast_ref::<Error>(), Some(Error::ResponseTimeout(t)) if *t == Duration::from_secs(2)),
        "{err}"
    );
}

#[tokio::test]
async fn compression_follows_accept_encoding() {
    let big = HttpService::new(service_fn(|_: Request<TunnelBody>| async {
        let mut response = Response::new(body(concat!(
            "a long, repetitive, compressible answer; a long, repetitive, compressible answer; ",
            "a long, repetitive, compressible answer; a long, repetitive, compressible answer"
        )));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        Ok::<_, BoxError>(response)
    }));
    let service = layers(&[Policy::Compress]).wrap(big);
    let mut request = from([192, 0, 2, 7]);
    request
        .headers_mut()
        .insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
    let response = service.clone().oneshot(request).await.expect("answers");
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    let plain = service
        .oneshot(from([192, 0, 2, 7]))
        .await
        .expect("answers");
    assert!(!plain.headers().contains_key(header::CONTENT_ENCODING));
}

fn rule(name: &str, value: &str) -> PolicyRule {
    PolicyRule::new(name, value)
}

#[tokio::test]
async fn the_servers_rules_run_before_the_clients() {
    let policies = TunnelPolicies::new()
        .server_policy([Policy::parse("deny-ip", "192.0.2.0/24").expect("rule")]);
    let layers = policies
        .layers("app", &[rule("basic-auth", "alice:pw")])
        .expect("valid");
    let service = layers.wrap(local_service());
    assert_eq!(
        status(&service, from([192, 0, 2, 7])).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&service, from([198, 51, 100, 7])).await,
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn a_server_refuses_what_clients_may_not_set_or_cannot_be_built() {
    let only_auth = TunnelPolicies::new()
        .client_policies(ClientPolicies::from_names(["basic-auth", "rate-limit"]).expect("names"));
    let refuse = |policies: &TunnelPolicies, rules: &[PolicyRule]| -> String {
        match policies.layers("app", rules) {
            Ok(_) => panic!("accepted"),
            Err(err) => err,
        }
    };
    let err = refuse(&only_auth, &[rule("compress", "")]);
    assert_eq!(
        err,
        "this server does not let clients set `compress`; they may set basic-auth, rate-limit"
    );
    let none =
        TunnelPolicies::new().client_policies(ClientPolicies::from_names(["none"]).expect("none"));
    assert!(
        refuse(&none, &[rule("rate-limit", "1/s")]).contains("does not let clients set policies")
    );
    assert!(none.layers("app", &[]).is_ok(), "no rules are always fine");
    let err = refuse(&TunnelPolicies::new(), &[rule("rate-limit", "fast")]);
    assert!(err.starts_with("policy `rate-limit`: \"fast\""), "{err}");
    let few = TunnelPolicies::new().max_client_rules(2);
    let three = [
        rule("add-header", "a: 1"),
        rule("add-header", "b: 2"),
        rule("add-header", "c: 3"),
    ];
    assert!(few.layers("app", &three[..2]).is_ok());
    assert_eq!(
        refuse(&few, &three),
        "3 policy rules asked for; this server takes at most 2 per tunnel"
    );
    let err = ClientPolicies::from_names(["basic-auth", "magic"]).expect_err("unknown");
    assert!(err.contains("no policy named \"magic\""), "{err}");
}

#[tokio::test]
async fn the_servers_rules_keep_their_state_across_tunnels_and_registrations() {
    // A client that registers again, or registers more tunnels, must not get fresh buckets.
    let policies =
        TunnelPolicies::new()
            .server_policy([Policy::parse("rate-limit", "2/min,by=global").expect("rule")]);
    let first = policies
        .layers("a", &[])
        .expect("valid")
        .wrap(local_service());
    assert_eq!(status(&first, from([192, 0, 2, 7])).await, StatusCode::OK);
    let again = policies
        .layers("a", &[])
        .expect("valid")
        .wrap(local_service());
    assert_eq!(status(&again, from([192, 0, 2, 8])).await, StatusCode::OK);
    let other = policies
        .layers("b", &[])
        .expect("valid")
        .wrap(local_service());
    assert_eq!(
        status(&other, from([192, 0, 2, 9])).await,
        StatusCode::TOO_MANY_REQUESTS,
        "one global bucket for the server"
    );
}

#[tokio::test]
async fn a_clients_rules_are_its_tunnels_own() {
    let policies = TunnelPolicies::new();
    let limited = [rule("rate-limit", "1/min,by=global")];
    let a = policies
        .layers("a", &limited)
        .expect("valid")
        .wrap(local_service());
    let b = policies
        .layers("b", &limited)
        .expect("valid")
        .wrap(local_service());
    assert_eq!(status(&a, from([192, 0, 2, 7])).await, StatusCode::OK);
    assert_eq!(
        status(&a, from([192, 0, 2, 7])).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(status(&b, from([192, 0, 2, 7])).await, StatusCode::OK);
    let twice = [rule("rate-limit", "1/s"), rule("rate-limit", "1/min")];
    assert!(
        policies.layers("a", &twice).is_err(),
        "one rate limit per tunnel"
    );
}

//! What a refused visitor is told, and the layer as a value.

use super::*;

#[tokio::test]
async fn refusals_say_what_to_send_without_secrets() {
    let layer = users().bearer("t0ken").api_key(X_API_KEY.clone(), "k3y");
    let (response, seen) = run(layer.clone(), Request::new(TunnelBody::default())).await;
    assert_eq!((response.status(), seen.calls()), REFUSED);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert_eq!(
        text(response).await,
        "401 Unauthorized: this tunnel needs credentials; send a user name and password (HTTP \
         Basic authentication), a token in an \"Authorization: Bearer <token>\" header or a key \
         in the x-api-key header\n"
    );

    let (response, _) = run(layer, authorization(&basic("alice:wrong-password"))).await;
    let text = text(response).await;
    assert!(
        text.starts_with(
            "401 Unauthorized: this tunnel did not accept the credentials sent; send a user name"
        ),
        "{text}"
    );
    for secret in [
        "s3cret",
        "pw:with",
        "t0ken",
        "k3y",
        "wrong-password",
        "alice",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[tokio::test]
async fn api_key_refusals_name_the_headers() {
    let layer = AuthLayer::new()
        .api_key(X_API_KEY.clone(), "k3y")
        .api_key(HeaderName::from_static("x-token"), "t0k");
    let (response, _) = run(layer.clone(), api_key("nope")).await;
    assert!(
        challenges(&response).is_empty(),
        "API keys have no standard challenge"
    );
    assert_eq!(
        text(response).await,
        "401 Unauthorized: this tunnel did not accept the credentials sent; send a key in the \
         x-api-key or x-token header\n"
    );
}

#[tokio::test]
async fn challenges_name_the_configured_schemes_and_realm() {
    let (response, _) = run(users(), Request::new(TunnelBody::default())).await;
    assert_eq!(
        challenges(&response),
        [r#"Basic realm="ferrotunnel", charset="UTF-8""#]
    );

    let layer = AuthLayer::new().bearer("t").realm("my \"app\"\n");
    let (response, _) = run(layer, Request::new(TunnelBody::default())).await;
    assert_eq!(challenges(&response), [r#"Bearer realm="my \"app\"""#]);

    let layer = users().bearer("t").realm("staging");
    let (response, _) = run(layer, authorization("Bearer wrong")).await;
    assert_eq!(
        challenges(&response),
        [
            r#"Basic realm="staging", charset="UTF-8""#,
            r#"Bearer realm="staging""#
        ]
    );
}

#[tokio::test]
async fn a_layer_without_credentials_lets_nobody_in() {
    let (response, seen) = run(AuthLayer::new(), authorization(&basic("alice:s3cret"))).await;
    assert_eq!(
        (response.status(), seen.calls()),
        (StatusCode::FORBIDDEN, 0)
    );
    assert!(challenges(&response).is_empty());
    assert!(text(response).await.contains("no credentials configured"));
}

#[tokio::test]
async fn inner_responses_and_errors_pass_through() {
    let service = ServiceBuilder::new()
        .layer(AuthLayer::new().bearer("t0ken"))
        .service_fn(|request: Request<TunnelBody>| async move {
            if request.uri().path() == "/fail" {
                return Err::<Response<TunnelBody>, BoxError>("local service refused".into());
            }
            let mut response = Response::new(TunnelBody::default());
            *response.status_mut() = StatusCode::IM_A_TEAPOT;
            Ok(response)
        });
    let response = service.clone().oneshot(authorization("Bearer t0ken")).await;
    assert_eq!(
        response.expect("response").status(),
        StatusCode::IM_A_TEAPOT
    );
    let mut request = authorization("Bearer t0ken");
    *request.uri_mut() = "/fail".parse().expect("uri");
    let err = service.oneshot(request).await.expect_err("inner error");
    assert_eq!(err.to_string(), "local service refused");
}

#[test]
fn debug_shows_users_and_counts_but_no_secret() {
    let layer = users()
        .bearer("t0ken-1")
        .bearer("t0ken-2")
        .api_key(X_API_KEY.clone(), "k3y");
    let debug = format!("{layer:?}");
    assert_eq!(
        debug,
        r#"AuthLayer(Credentials { users: ["alice", "bob"], bearer_tokens: 2, api_keys: {"x-api-key": 1}, realm: "ferrotunnel" })"#
    );
    let service = Auth::new("inner", &layer).clone();
    let debug = format!("{service:?}");
    assert!(
        debug.starts_with(r#"Auth { inner: "inner", credentials: Credentials {"#),
        "{debug}"
    );
    for secret in ["s3cret", "pw:with", "t0ken", "k3y"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
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
    assert_server_layer(&users());
    let _ = ferrotunnel::Server::builder().layer(users());
}

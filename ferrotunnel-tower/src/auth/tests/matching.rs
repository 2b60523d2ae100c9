//! Which requests pass, and what reaches the inner service.

use super::*;

#[tokio::test]
async fn each_basic_user_passes_with_their_own_password() {
    let layer = users();
    assert_eq!(
        verdict(&layer, authorization(&basic("alice:s3cret"))).await,
        PASSED
    );
    assert_eq!(
        verdict(&layer, authorization(&basic("bob:pw:with:colons"))).await,
        PASSED
    );
    for wrong in [
        "alice:pw:with:colons",
        "bob:s3cret",
        "alice:s3cre",
        "alice:s3cret ",
        "Alice:s3cret",
        "carol:s3cret",
        ":s3cret",
        "alice:",
    ] {
        assert_eq!(
            verdict(&layer, authorization(&basic(wrong))).await,
            REFUSED,
            "{wrong}"
        );
    }
}

#[tokio::test]
async fn the_scheme_is_case_insensitive_and_padding_optional() {
    let layer = AuthLayer::new().basic("carol", "pass");
    let token = STANDARD.encode("carol:pass");
    assert!(
        token.ends_with('='),
        "the test needs a padded token: {token}"
    );
    for value in [
        format!("basic {token}"),
        format!("BASIC  {token}  "),
        format!("Basic {}", token.trim_end_matches('=')),
    ] {
        assert_eq!(
            verdict(&layer, authorization(&value)).await,
            PASSED,
            "{value}"
        );
    }
}

#[tokio::test]
async fn bearer_tokens_pass_and_wrong_lengths_do_not() {
    let layer = AuthLayer::new()
        .bearer("t0ken-one")
        .bearer("a-much-longer-second-token-0123456789");
    assert_eq!(
        verdict(&layer, authorization("Bearer t0ken-one")).await,
        PASSED
    );
    assert_eq!(
        verdict(
            &layer,
            authorization("bearer a-much-longer-second-token-0123456789")
        )
        .await,
        PASSED
    );
    let longer_than_any_width = format!("Bearer {}", "t0ken-one".repeat(30));
    for wrong in [
        "Bearer t0ken-on",
        "Bearer t0ken-one1",
        "Bearer t0ken-onE",
        "Bearer t",
        "Bearer a-much-longer-second-token-012345678",
        "Bearer t0ken-onea-much-longer-second-token-0123456789",
        longer_than_any_width.as_str(),
        "Basic t0ken-one",
        "t0ken-one",
    ] {
        assert_eq!(
            verdict(&layer, authorization(wrong)).await,
            REFUSED,
            "{wrong}"
        );
    }
}

#[tokio::test]
async fn api_keys_pass_in_their_own_header_only() {
    let other = HeaderName::from_static("x-other-key");
    let layer = AuthLayer::new()
        .api_key(X_API_KEY.clone(), "k3y-1")
        .api_key(X_API_KEY.clone(), "k3y-2")
        .api_key(other.clone(), "other-k3y");
    assert_eq!(verdict(&layer, api_key("k3y-1")).await, PASSED);
    assert_eq!(verdict(&layer, api_key("k3y-2")).await, PASSED);
    assert_eq!(
        verdict(&layer, request(&[(&other, b"other-k3y")])).await,
        PASSED
    );
    assert_eq!(verdict(&layer, api_key("other-k3y")).await, REFUSED);
    assert_eq!(
        verdict(&layer, request(&[(&other, b"k3y-1")])).await,
        REFUSED
    );
    assert_eq!(verdict(&layer, api_key("k3y-")).await, REFUSED);
    assert_eq!(verdict(&layer, api_key("k3y-11")).await, REFUSED);
    assert_eq!(
        verdict(&layer, authorization("Bearer k3y-1")).await,
        REFUSED
    );
}

#[tokio::test]
async fn the_matching_credential_is_removed_and_the_rest_kept() {
    let layer = users().api_key(X_API_KEY.clone(), "k3y");

    let (response, seen) = run(layer.clone(), authorization(&basic("alice:s3cret"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(seen.header(&header::AUTHORIZATION), None);

    // The key matched; the Authorization header was not the tunnel's and goes on.
    let (response, seen) = run(
        layer.clone(),
        request(&[
            (&header::AUTHORIZATION, b"Digest username=\"local\""),
            (&X_API_KEY, b"k3y"),
            (&header::ACCEPT, b"text/plain"),
        ]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(seen.header(&X_API_KEY), None);
    assert_eq!(
        seen.header(&header::AUTHORIZATION).expect("kept"),
        "Digest username=\"local\""
    );
    assert_eq!(seen.header(&header::ACCEPT).expect("kept"), "text/plain");

    // Basic matched; a wrong x-api-key (perhaps the local service's) stays.
    let (_, seen) = run(
        layer,
        request(&[
            (
                &header::AUTHORIZATION,
                basic("bob:pw:with:colons").as_bytes(),
            ),
            (&X_API_KEY, b"the-local-services-key"),
        ]),
    )
    .await;
    assert_eq!(seen.calls(), 1);
    assert_eq!(seen.header(&header::AUTHORIZATION), None);
    assert_eq!(
        seen.header(&X_API_KEY).expect("kept"),
        "the-local-services-key"
    );
}

#[tokio::test]
async fn malformed_authorization_is_just_a_failed_match() {
    let layer = users().bearer("t0ken");
    let values: Vec<Vec<u8>> = vec![
        b"Basic !!!not base64!!!".to_vec(),
        basic("no colon at all").into_bytes(),
        format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', 0xc0])).into_bytes(),
        b"Basic \xff\xfe\xfd".to_vec(),
        b"\xff\xfe".to_vec(),
        b"Basic".to_vec(),
        b"Basic ".to_vec(),
        b"Bearer".to_vec(),
        b"Bearer ".to_vec(),
        b"Bearer t0ken extra".to_vec(),
        b"".to_vec(),
        b" ".to_vec(),
        b"Basic ====".to_vec(),
    ];
    for value in values {
        let request = request(&[(&header::AUTHORIZATION, &value)]);
        assert_eq!(verdict(&layer, request).await, REFUSED, "{value:?}");
    }
}

#[tokio::test]
async fn empty_secrets_let_nobody_in() {
    let layer = AuthLayer::new().bearer("").api_key(X_API_KEY.clone(), "");
    for request in [
        authorization("Bearer"),
        authorization("Bearer "),
        api_key(""),
        Request::new(TunnelBody::default()),
    ] {
        assert_eq!(verdict(&layer, request).await, REFUSED);
    }
}

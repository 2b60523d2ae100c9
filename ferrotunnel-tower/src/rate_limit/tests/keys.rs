//! What requests are counted by.

use http::HeaderName;

use super::*;

const TOO_MANY: StatusCode = StatusCode::TOO_MANY_REQUESTS;

fn with_header(ip: [u8; 4], name: &'static str, value: &'static str) -> Request<Full<Bytes>> {
    let mut request = from(ip);
    request
        .headers_mut()
        .insert(name, http::HeaderValue::from_static(value));
    request
}

#[tokio::test]
async fn each_visitor_address_has_a_bucket_of_its_own() {
    let (layer, _clock) = limited(Rate::per_minute(1));
    let inner = Inner::default();
    assert_eq!(
        inner.status(&layer, from([192, 0, 2, 7])).await,
        StatusCode::OK
    );
    assert_eq!(inner.status(&layer, from([192, 0, 2, 7])).await, TOO_MANY);
    assert_eq!(
        inner.status(&layer, from([192, 0, 2, 8])).await,
        StatusCode::OK
    );
    let v6: IpAddr = "2001:db8::7".parse().expect("address");
    assert_eq!(inner.status(&layer, from(v6)).await, StatusCode::OK);
    // The IPv4 visitor that reached an IPv6 socket is the same visitor.
    let mapped: IpAddr = "::ffff:192.0.2.8".parse().expect("address");
    let response = inner.send(&layer, from(mapped)).await;
    assert_eq!(response.status(), TOO_MANY);
    assert!(text(response).await.contains("from 192.0.2.8;"));
    assert_eq!(layer.tracked_keys(), 3);
}

#[tokio::test]
async fn an_ipv6_visitor_counts_as_its_64_network() {
    let (layer, _clock) = limited(Rate::per_minute(1));
    let inner = Inner::default();
    let first: IpAddr = "2001:db8:1:2::7".parse().expect("address");
    let same_host: IpAddr = "2001:db8:1:2:ffff::1".parse().expect("address");
    let next_network: IpAddr = "2001:db8:1:3::7".parse().expect("address");
    assert_eq!(inner.status(&layer, from(first)).await, StatusCode::OK);
    let response = inner.send(&layer, from(same_host)).await;
    assert_eq!(
        response.status(),
        TOO_MANY,
        "another address of the same /64"
    );
    assert!(text(response).await.contains("from 2001:db8:1:2::/64;"));
    assert_eq!(
        inner.status(&layer, from(next_network)).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn requests_without_a_visitor_address_share_one_bucket() {
    let (layer, _clock) = limited(Rate::per_minute(1));
    let inner = Inner::default();
    let anonymous = || Request::new(Full::<Bytes>::default());
    assert_eq!(inner.status(&layer, anonymous()).await, StatusCode::OK);
    let response = inner.send(&layer, anonymous()).await;
    assert_eq!(response.status(), TOO_MANY);
    assert_eq!(
        text(response).await,
        "429 Too Many Requests: at most 1 request per minute from visitors whose address is \
         unknown; retry in 60 s\n"
    );
    assert_eq!(
        inner.status(&layer, from([192, 0, 2, 7])).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn by_header_counts_per_value_and_never_says_the_value() {
    let (layer, _clock) = limited(Rate::per_minute(1));
    let layer = layer.by_header(HeaderName::from_static("x-api-key"));
    let inner = Inner::default();
    let key = |ip, value| with_header(ip, "x-api-key", value);
    assert_eq!(
        inner.status(&layer, key([192, 0, 2, 7], "key-a")).await,
        StatusCode::OK
    );
    // The same key from elsewhere is the same bucket; another key is another.
    let response = inner.send(&layer, key([192, 0, 2, 8], "key-a")).await;
    assert_eq!(response.status(), TOO_MANY);
    let text = text(response).await;
    assert!(
        text.contains("at most 1 request per minute for this x-api-key;"),
        "{text}"
    );
    assert!(!text.contains("key-a"), "{text}");
    assert_eq!(
        inner.status(&layer, key([192, 0, 2, 7], "key-b")).await,
        StatusCode::OK
    );

    // Requests without the header share one bucket.
    assert_eq!(
        inner.status(&layer, from([192, 0, 2, 9])).await,
        StatusCode::OK
    );
    let response = inner.send(&layer, from([192, 0, 2, 10])).await;
    assert_eq!(response.status(), TOO_MANY);
    assert!(
        super::text(response)
            .await
            .contains("per minute without x-api-key;"),
        "the message says what is missing"
    );
    assert_eq!(inner.calls(), 3);
}

#[tokio::test]
async fn by_tunnel_does_not_count_by_visitor() {
    // A TunnelContext cannot be built outside the core crate: that each tunnel has a bucket of
    // its own is left to the end-to-end tests. Here: requests outside a tunnel share one
    // bucket whatever their visitor, and the message says so.
    let (layer, _clock) = limited(Rate::per_minute(1));
    let layer = layer.by_tunnel();
    let inner = Inner::default();
    assert_eq!(
        inner.status(&layer, from([192, 0, 2, 7])).await,
        StatusCode::OK
    );
    let response = inner.send(&layer, from([192, 0, 2, 8])).await;
    assert_eq!(response.status(), TOO_MANY);
    assert!(
        text(response)
            .await
            .contains("per minute outside a tunnel;")
    );
}

#[tokio::test]
async fn global_counts_everyone_together() {
    let (layer, _clock) = limited(Rate::per_minute(2));
    let layer = layer.global();
    let inner = Inner::default();
    assert_eq!(
        inner.status(&layer, from([192, 0, 2, 7])).await,
        StatusCode::OK
    );
    assert_eq!(
        inner.status(&layer, from([192, 0, 2, 8])).await,
        StatusCode::OK
    );
    let response = inner.send(&layer, from([192, 0, 2, 9])).await;
    assert_eq!(response.status(), TOO_MANY);
    assert!(text(response).await.contains("from all visitors together;"));
    assert_eq!(layer.tracked_keys(), 1);
}

#[tokio::test]
async fn by_a_function_of_the_request_head() {
    let (layer, _clock) = limited(Rate::per_minute(1));
    let layer = layer.by(|head: RequestHead<'_>| {
        let segment = head.uri.path().split('/').nth(1)?;
        (!segment.is_empty()).then(|| segment.to_owned())
    });
    let inner = Inner::default();
    let to = |path: &str| {
        let mut request = from([192, 0, 2, 7]);
        *request.uri_mut() = path.parse().expect("uri");
        request
    };
    assert_eq!(inner.status(&layer, to("/api/a")).await, StatusCode::OK);
    let response = inner.send(&layer, to("/api/b")).await;
    assert_eq!(response.status(), TOO_MANY);
    assert!(text(response).await.contains("from this client;"));
    assert_eq!(inner.status(&layer, to("/static/a")).await, StatusCode::OK);
    assert_eq!(inner.status(&layer, to("/")).await, StatusCode::OK);
    let response = inner.send(&layer, to("/")).await;
    assert!(text(response).await.contains("from clients without a key;"));
}

#[test]
fn header_values_are_kept_as_keyed_hashes_only() {
    let source = key::Source::Header(HeaderName::from_static("x-api-key"));
    let hasher = std::hash::RandomState::new();
    let a = source.key(
        &with_header([192, 0, 2, 7], "x-api-key", "secret-a"),
        &hasher,
    );
    let a_again = source.key(
        &with_header([192, 0, 2, 8], "x-api-key", "secret-a"),
        &hasher,
    );
    let b = source.key(
        &with_header([192, 0, 2, 7], "x-api-key", "secret-b"),
        &hasher,
    );
    assert!(matches!(a, store::Key::Hash(_)), "{a:?}");
    assert_eq!(a, a_again);
    assert_ne!(a, b);
}

//! What an exchange records: heads, bodies, sizes, masking, and that bodies stream through.

use std::net::SocketAddr;

use ferrotunnel::server::VisitorAddr;
use http::{HeaderName, HeaderValue, Method, Version, header};

use super::*;

#[tokio::test]
async fn records_the_request_and_the_response() {
    let store = CaptureStore::new(CaptureConfig::default());
    let service = captured(&store, |request: Request<TunnelBody>| async move {
        let body = request.into_body().collect().await?.to_bytes();
        assert_eq!(&body[..], br#"{"a":1}"#, "the request body arrives whole");
        let mut response = respond(201, text(1024));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        Ok(response)
    });
    let mut request = Request::post("/api/items?x=1")
        .header(header::HOST, "app.localhost:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-request-id", "req-1")
        .body(full(&br#"{"a":1}"#[..]))
        .unwrap();
    let visitor = SocketAddr::from(([192, 0, 2, 7], 53211));
    request.extensions_mut().insert(VisitorAddr(visitor));

    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.extensions().get(), Some(&ExchangeId(1)));
    assert_eq!(response.status(), StatusCode::CREATED);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, text(1024), "the response body arrives whole");

    let exchange = store.get(1).expect("recorded");
    assert_eq!(exchange.id, 1);
    assert_eq!(exchange.tunnel, None);
    assert_eq!(exchange.visitor, Some(visitor));
    assert_eq!(exchange.method, Method::POST);
    assert_eq!(exchange.uri, "/api/items?x=1");
    assert_eq!(exchange.version, Version::HTTP_11);
    assert_eq!(exchange.host(), Some("app.localhost:8080"));
    assert_eq!(exchange.request_id(), Some("req-1"));
    assert_eq!(exchange.request_content_type(), Some("application/json"));
    assert_eq!(exchange.request_headers.len(), 3);
    assert_eq!(
        exchange.request_body,
        BodyRecord {
            prefix: Bytes::from_static(br#"{"a":1}"#),
            size: 7,
            complete: true,
            truncated: false,
        }
    );
    let response = exchange.response.as_ref().expect("a response");
    assert_eq!(response.status, StatusCode::CREATED);
    assert_eq!(response.headers[header::CONTENT_TYPE], "text/plain");
    assert_eq!(exchange.response_content_type(), Some("text/plain"));
    assert_eq!(
        response.body,
        BodyRecord {
            prefix: text(1024),
            size: 1024,
            complete: true,
            truncated: false,
        }
    );
    assert_eq!(exchange.outcome, Outcome::Complete);
    assert!(!exchange.is_error());
    assert!(exchange.response_head.is_some());
    assert!(exchange.duration().is_some());
    assert!(exchange.duration() >= exchange.response_head);
    assert_eq!(exchange.replay_of, None);
    assert_eq!((store.len(), store.in_flight()), (1, 0));
}

#[tokio::test]
async fn ids_count_up_from_one() {
    let store = CaptureStore::new(CaptureConfig::default());
    let service = answering(&store, b"ok");
    for expected in 1..=3 {
        let response = service.clone().oneshot(get("/")).await.unwrap();
        assert_eq!(response.extensions().get(), Some(&ExchangeId(expected)));
    }
    let ids: Vec<u64> = store.all().iter().map(|e| e.id).collect();
    assert_eq!(ids, [1, 2, 3], "oldest first");
}

#[tokio::test]
async fn masked_headers_are_masked_in_views_and_kept_in_the_original() {
    let config = CaptureConfig::default()
        .mask(MaskedHeaders::default().add(HeaderName::from_static("x-customer")));
    let store = CaptureStore::new(config);
    let service = captured(&store, |_request: Request<TunnelBody>| async {
        let mut response = respond(200, "ok");
        let headers = response.headers_mut();
        headers.append(header::SET_COOKIE, HeaderValue::from_static("id=1"));
        headers.append(header::SET_COOKIE, HeaderValue::from_static("theme=dark"));
        headers.append(header::VARY, HeaderValue::from_static("cookie"));
        Ok(response)
    });
    let request = Request::get("/")
        .header(header::AUTHORIZATION, "Bearer s3cret")
        .header(header::COOKIE, "id=1")
        .header("x-auth-token", "t0ken")
        .header("x-session-id", "abc")
        .header("x-customer", "acme")
        .header("x-api-key", "k")
        .header(header::ACCEPT, "text/html")
        .header("x-raw", HeaderValue::from_bytes(b"caf\xe9").unwrap())
        .body(TunnelBody::default())
        .unwrap();
    send(&service, request).await;

    let exchange = store.get(1).unwrap();
    let view = exchange.masked_request_headers();
    let shown = |name: &str| {
        view.iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    };
    for secret in [
        "authorization",
        "cookie",
        "x-auth-token",
        "x-session-id",
        "x-customer",
        "x-api-key",
    ] {
        assert_eq!(shown(secret), Some("***"), "{secret} is masked");
    }
    assert_eq!(shown("accept"), Some("text/html"));
    assert_eq!(shown("x-raw"), Some("caf\u{fffd}"), "read lossily");
    assert_eq!(view.len(), 8);
    // The originals, for replay.
    assert_eq!(
        exchange.request_headers[header::AUTHORIZATION],
        "Bearer s3cret"
    );
    assert_eq!(exchange.request_headers["x-auth-token"], "t0ken");

    let view = exchange.masked_response_headers();
    assert_eq!(
        view,
        [
            ("set-cookie".to_owned(), "***".to_owned()),
            ("set-cookie".to_owned(), "***".to_owned()),
            ("vary".to_owned(), "cookie".to_owned()),
        ],
        "every value, in order"
    );
    let response = exchange.response.as_ref().unwrap();
    assert_eq!(
        response.headers.get_all(header::SET_COOKIE).iter().count(),
        2
    );
    assert!(
        !format!("{exchange:?}").contains("s3cret"),
        "debug prints no secrets"
    );

    let store = CaptureStore::new(CaptureConfig::default().mask(MaskedHeaders::none()));
    let service = answering(&store, b"ok");
    let request = Request::get("/")
        .header(header::AUTHORIZATION, "Bearer s3cret")
        .body(TunnelBody::default())
        .unwrap();
    send(&service, request).await;
    let view = store.get(1).unwrap().masked_request_headers();
    assert_eq!(
        view,
        [("authorization".to_owned(), "Bearer s3cret".to_owned())]
    );
}

#[test]
fn the_default_mask_covers_credentials_and_names_that_look_like_them() {
    let mask = MaskedHeaders::default();
    for name in [
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-csrf-token",
        "client-secret",
        "x-password",
        "sessionid",
        "x-my-api-key-2",
        "x-apikey",
    ] {
        assert!(mask.is_masked(&HeaderName::from_static(name)), "{name}");
    }
    for name in [
        "content-type",
        "accept",
        "host",
        "x-request-id",
        "user-agent",
    ] {
        assert!(!mask.is_masked(&HeaderName::from_static(name)), "{name}");
    }
}

#[tokio::test]
async fn body_prefixes_are_cut_and_sizes_are_exact() {
    let store = CaptureStore::new(CaptureConfig::default().body_prefix(10));
    let service = captured(&store, |request: Request<TunnelBody>| async move {
        let len = drain(request.into_body()).await?;
        assert_eq!(len, 25);
        Ok(Response::new(into_tunnel_body(Chunks::new(text(7), 100))))
    });
    let (tx, body) = channel();
    for chunk in [text(4), text(4), text(17)] {
        tx.send(Ok(chunk)).unwrap();
    }
    drop(tx);
    let (_, len) = send(&service, Request::post("/").body(body).unwrap()).await;
    assert_eq!(len, 100, "the response arrives whole");

    let exchange = store.get(1).unwrap();
    let mut sent = text(4).to_vec();
    sent.extend_from_slice(&text(4));
    sent.extend_from_slice(&text(2));
    assert_eq!(
        exchange.request_body,
        BodyRecord {
            prefix: Bytes::from(sent),
            size: 25,
            complete: true,
            truncated: true,
        }
    );
    let mut sent = text(7).to_vec();
    sent.extend_from_slice(&text(3));
    let response_body = &exchange.response.as_ref().unwrap().body;
    assert_eq!(
        *response_body,
        BodyRecord {
            prefix: Bytes::from(sent),
            size: 100,
            complete: true,
            truncated: true,
        }
    );

    // Exactly the prefix's size: nothing cut.
    let service = answering(&store, b"0123456789");
    exchange_of(&service, text(10)).await;
    let exchange = store.get(2).unwrap();
    assert!(!exchange.request_body.truncated);
    assert_eq!(exchange.request_body.prefix, text(10));
    let body = &exchange.response.as_ref().unwrap().body;
    assert!(!body.truncated && body.complete && body.size == 10);
}

async fn exchange_of(service: &Svc, body: Bytes) {
    send(service, Request::post("/").body(full(body)).unwrap()).await;
}

#[tokio::test]
async fn a_gibibyte_streams_through_and_only_its_prefix_is_kept() {
    const GIB: u64 = 1 << 30;
    let store = CaptureStore::new(CaptureConfig::default());
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    let service = captured(&store, move |request: Request<TunnelBody>| {
        let chunk = chunk.clone();
        async move {
            let got = drain(request.into_body()).await?;
            assert_eq!(got, GIB, "the request arrives whole");
            Ok(Response::new(into_tunnel_body(Chunks::new(chunk, GIB))))
        }
    });
    let upload = into_tunnel_body(Chunks::new(Bytes::from(vec![b'y'; 64 * 1024]), GIB));
    let (_, len) = send(&service, Request::post("/").body(upload).unwrap()).await;
    assert_eq!(len, GIB, "the response arrives whole");

    let exchange = store.get(1).unwrap();
    let prefix = CaptureConfig::DEFAULT_BODY_PREFIX;
    for body in [
        &exchange.request_body,
        &exchange.response.as_ref().unwrap().body,
    ] {
        assert_eq!(body.size, GIB);
        assert_eq!(body.prefix.len(), prefix);
        assert!(body.truncated && body.complete);
    }
    assert!(
        store.bytes_used() < 2 * prefix + 4096,
        "{}",
        store.bytes_used()
    );
    assert_eq!(store.totals().bytes_in, GIB);
    assert_eq!(store.totals().bytes_out, GIB);
}

#[tokio::test]
async fn bodies_stream_through_without_waiting_for_their_end() {
    let store = CaptureStore::new(CaptureConfig::default());
    let (tx, body) = channel();
    let body = std::sync::Mutex::new(Some(body));
    let body = std::sync::Arc::new(body);
    let service = captured(&store, move |_request: Request<TunnelBody>| {
        let body = body.lock().unwrap().take().unwrap();
        async move { Ok(Response::new(body)) }
    });
    let response = service.oneshot(get("/events")).await.unwrap();
    let mut body = response.into_body();

    // The head is recorded while the body streams.
    let exchange = store.get(1).unwrap();
    assert_eq!(exchange.status(), Some(StatusCode::OK));
    assert!(exchange.response_head.is_some());
    assert_eq!(exchange.outcome, Outcome::InFlight);
    assert_eq!(store.in_flight(), 1);

    for i in 0..3 {
        tx.send(Ok(text(5))).unwrap();
        let frame = poll_once(&mut body.frame())
            .expect("the chunk comes at once")
            .unwrap()
            .unwrap();
        assert_eq!(frame.into_data().unwrap(), text(5), "chunk {i}");
        assert!(poll_once(&mut body.frame()).is_none(), "nothing more yet");
    }
    assert_eq!(store.get(1).unwrap().outcome, Outcome::InFlight);
    drop(tx);
    assert!(body.frame().await.is_none());
    let exchange = store.get(1).unwrap();
    assert_eq!(exchange.outcome, Outcome::Complete);
    assert_eq!(exchange.response.unwrap().body.size, 15);
    assert_eq!(store.in_flight(), 0);
}

#[tokio::test]
async fn size_hints_and_ends_pass_through() {
    let store = CaptureStore::new(CaptureConfig::default());
    let service = captured(&store, |request: Request<TunnelBody>| async move {
        let body = request.into_body();
        assert_eq!(body.size_hint().exact(), Some(11), "the request's hint");
        assert!(!body.is_end_stream());
        drain(body).await?;
        Ok(Response::new(full("hello")))
    });
    let request = Request::post("/").body(full("hello world")).unwrap();
    let response = service.oneshot(request).await.unwrap();
    let mut body = response.into_body();
    assert_eq!(body.size_hint().exact(), Some(5), "the response's hint");
    assert!(!body.is_end_stream());
    body.frame().await.unwrap().unwrap();
    assert!(body.is_end_stream());
    assert_eq!(body.size_hint().exact(), Some(0));
    // Ended by `is_end_stream`, as hyper sees it: dropped unpolled, it is complete.
    drop(body);
    assert_eq!(store.get(1).unwrap().outcome, Outcome::Complete);
}

#[tokio::test]
async fn an_empty_response_ends_the_exchange_at_its_head() {
    let store = CaptureStore::new(CaptureConfig::default());
    let service = captured(&store, |_request: Request<TunnelBody>| async {
        let mut response = Response::new(TunnelBody::default());
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    });
    let response = service.oneshot(get("/")).await.unwrap();
    // Not polled: hyper would not poll a body that has ended.
    let exchange = store.get(1).unwrap();
    assert_eq!(exchange.outcome, Outcome::Complete);
    assert_eq!(exchange.body_end, exchange.response_head);
    assert!(exchange.request_body.complete && exchange.request_body.size == 0);
    let body = &exchange.response.as_ref().unwrap().body;
    assert!(body.complete && body.size == 0);
    assert_eq!(store.in_flight(), 0);
    drop(response);
    assert_eq!(store.get(1).unwrap().outcome, Outcome::Complete);
}

#[tokio::test]
async fn a_request_body_left_unread_is_recorded_as_incomplete() {
    let store = CaptureStore::new(CaptureConfig::default());
    let service = captured(&store, |_request: Request<TunnelBody>| async {
        Ok(respond(413, "too big"))
    });
    send(&service, Request::post("/").body(full("unread")).unwrap()).await;
    let exchange = store.get(1).unwrap();
    assert_eq!(exchange.outcome, Outcome::Complete);
    assert!(!exchange.request_body.complete, "not captured whole");
    assert_eq!(exchange.request_body.size, 0);
}

//! Tests of [`AuthLayer`] (`matching`, `refusals`) and [`AsyncAuthLayer`] (`validator`),
//! driven with `oneshot`: no sockets.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use ferrotunnel::{BoxError, TunnelBody};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use tower::{ServiceBuilder, ServiceExt};

use super::*;
use crate::ResponseBody;

mod matching;
mod refusals;
mod validator;

static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// What the inner service saw: how often it was called, and the last request's headers.
#[derive(Clone, Default)]
struct Seen {
    calls: Arc<AtomicUsize>,
    headers: Arc<Mutex<HeaderMap>>,
}

impl Seen {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn header(&self, name: &HeaderName) -> Option<HeaderValue> {
        self.headers.lock().expect("lock").get(name).cloned()
    }
}

async fn run(
    layer: AuthLayer,
    request: Request<TunnelBody>,
) -> (Response<ResponseBody<TunnelBody>>, Seen) {
    let seen = Seen::default();
    let record = seen.clone();
    let response = ServiceBuilder::new()
        .layer(layer)
        .service_fn(move |request: Request<TunnelBody>| {
            record.calls.fetch_add(1, Ordering::SeqCst);
            *record.headers.lock().expect("lock") = request.headers().clone();
            async { Ok::<_, BoxError>(Response::new(TunnelBody::default())) }
        })
        .oneshot(request)
        .await
        .expect("the auth layer answers");
    (response, seen)
}

fn request(headers: &[(&HeaderName, &[u8])]) -> Request<TunnelBody> {
    let mut request = Request::new(TunnelBody::default());
    for (name, value) in headers {
        let value = HeaderValue::from_bytes(value).expect("header value");
        request.headers_mut().append(*name, value);
    }
    request
}

fn basic(user_and_password: &str) -> String {
    format!("Basic {}", STANDARD.encode(user_and_password))
}

fn authorization(value: &str) -> Request<TunnelBody> {
    request(&[(&header::AUTHORIZATION, value.as_bytes())])
}

fn api_key(value: &str) -> Request<TunnelBody> {
    request(&[(&X_API_KEY, value.as_bytes())])
}

async fn text(response: Response<ResponseBody<TunnelBody>>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

fn challenges(response: &Response<ResponseBody<TunnelBody>>) -> Vec<&str> {
    response
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|value| value.to_str().expect("ascii"))
        .collect()
}

/// The status and the number of inner calls.
async fn verdict(layer: &AuthLayer, request: Request<TunnelBody>) -> (StatusCode, usize) {
    let (response, seen) = run(layer.clone(), request).await;
    (response.status(), seen.calls())
}

const PASSED: (StatusCode, usize) = (StatusCode::OK, 1);
const REFUSED: (StatusCode, usize) = (StatusCode::UNAUTHORIZED, 0);

fn users() -> AuthLayer {
    AuthLayer::new()
        .basic("alice", "s3cret")
        .basic("bob", "pw:with:colons")
}

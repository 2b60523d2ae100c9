//! The rate limit driven with `oneshot` and governor's fake clock: no sockets, no sleeping.

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use bytes::Bytes;
use ferrotunnel::server::VisitorAddr;
use governor::clock::FakeRelativeClock;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{ServiceBuilder, ServiceExt};

use super::*;
use crate::body::ResponseBody;

mod keys;
mod limits;
mod memory;
mod spec;

type Layer = RateLimitLayer<FakeRelativeClock>;
type Answer = Response<ResponseBody<Full<Bytes>>>;

/// A layer for `rate` on a fake clock, and the clock.
fn limited(rate: Rate) -> (Layer, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    (RateLimitLayer::with_clock(rate, clock.clone()), clock)
}

/// A request from the visitor at `ip`.
fn from(ip: impl Into<IpAddr>) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::default());
    request
        .extensions_mut()
        .insert(VisitorAddr(SocketAddr::new(ip.into(), 40_000)));
    request
}

/// Counts the calls that reach the service behind the layer.
#[derive(Clone, Default)]
struct Inner(Arc<AtomicUsize>);

impl Inner {
    fn calls(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Sends `request` through `layer` in front of this inner service.
    async fn send(&self, layer: &Layer, request: Request<Full<Bytes>>) -> Answer {
        let calls = self.0.clone();
        ServiceBuilder::new()
            .layer(layer.clone())
            .service_fn(move |_request: Request<Full<Bytes>>| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, Infallible>(Response::new(Full::from("from the tunnel"))) }
            })
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {})
    }

    /// Sends `request`, and says its status.
    async fn status(&self, layer: &Layer, request: Request<Full<Bytes>>) -> StatusCode {
        self.send(layer, request).await.status()
    }
}

async fn text(response: Answer) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|never| match never {})
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

fn header<'a>(response: &'a Answer, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().expect("a text header"))
        .unwrap_or_else(|| panic!("no {name} header"))
}

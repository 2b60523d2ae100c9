//! What the capture layer (the traffic inspector's recorder) adds to each request, against a
//! bare service:
//!
//! ```text
//! cargo bench -p ferrotunnel-tower --bench capture
//! ```
//!
//! Both benchmarks send the same small `POST` (a visitor address, a few headers, a 32-byte
//! body) and read the 64-byte response to its end, as hyper would, on a current-thread
//! runtime; the store has its default bounds and has long been full, so every request also
//! evicts one.

use std::{hint::black_box, net::SocketAddr};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use ferrotunnel::{
    BoxError, TunnelBody,
    server::{HttpService, VisitorAddr, into_tunnel_body},
};
use ferrotunnel_tower::capture::{CaptureConfig, CaptureStore};
use http::{Request, Response, header};
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt, service_fn};

const REQUEST_BODY: &[u8] = b"{\"name\":\"ferrotunnel\",\"n\":12345}";
const RESPONSE_BODY: &[u8] = &[b'x'; 64];

fn request() -> Request<TunnelBody> {
    let mut request = Request::post("/api/items?page=2")
        .header(header::HOST, "app.localhost:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "bench/1.0")
        .header(header::ACCEPT, "*/*")
        .body(into_tunnel_body(Full::new(Bytes::from_static(
            REQUEST_BODY,
        ))))
        .expect("a request");
    request
        .extensions_mut()
        .insert(VisitorAddr(SocketAddr::from(([198, 51, 100, 7], 40000))));
    request
}

fn bare() -> HttpService {
    HttpService::new(service_fn(|request: Request<TunnelBody>| async move {
        request.into_body().collect().await?;
        let body = into_tunnel_body(Full::new(Bytes::from_static(RESPONSE_BODY)));
        Ok::<_, BoxError>(Response::new(body))
    }))
}

fn captured(store: &CaptureStore) -> HttpService {
    let service = store.layer().layer(bare());
    HttpService::new(ServiceExt::<Request<TunnelBody>>::map_response(
        service,
        |response| response.map(into_tunnel_body),
    ))
}

fn per_request(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = CaptureStore::new(CaptureConfig::default());
    let mut group = c.benchmark_group("capture per request");
    for (name, service) in [("bare service", bare()), ("captured", captured(&store))] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                let service = service.clone();
                async move {
                    let response = service.oneshot(request()).await.expect("answers");
                    let body = response.into_body().collect().await.expect("a body");
                    black_box(body)
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, per_request);
criterion_main!(benches);

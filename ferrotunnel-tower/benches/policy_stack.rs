//! What the full policy stack adds to each request, against a bare service:
//!
//! ```text
//! cargo bench -p ferrotunnel-tower --bench policy_stack
//! ```
//!
//! The stack is what `ferrotunnel server --basic-auth … --rate-limit … --deny-ip …
//! --add-header … --circuit-breaker` builds for a tunnel (`policy::layers`), under the request-id
//! step of the ingress, as boxed as in a server. Both benchmarks build the same request (with a
//! visitor address and Basic credentials) and drive the service with `oneshot` on a
//! current-thread runtime; the difference between them is the stack. Results and the reading
//! of them: `docs/benchmarks.md`.

use std::{hint::black_box, net::SocketAddr};

use criterion::{Criterion, criterion_group, criterion_main};
use ferrotunnel::{
    BoxError, TunnelBody,
    server::{HttpService, REQUEST_ID, RequestIds, VisitorAddr},
};
use ferrotunnel_tower::policy::{Policy, layers};
use http::{HeaderValue, Request, Response, header::AUTHORIZATION};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_http::{propagate_header::PropagateHeaderLayer, set_header::SetRequestHeaderLayer};

fn request() -> Request<TunnelBody> {
    let mut request = Request::new(TunnelBody::default());
    request
        .extensions_mut()
        .insert(VisitorAddr(SocketAddr::from(([198, 51, 100, 7], 40000))));
    request.headers_mut().insert(
        AUTHORIZATION,
        // bench:bench-password
        HeaderValue::from_static("Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ="),
    );
    request
}

fn bare() -> HttpService {
    HttpService::new(service_fn(|_: Request<TunnelBody>| async {
        Ok::<_, BoxError>(Response::new(TunnelBody::default()))
    }))
}

fn policy_stack() -> HttpService {
    let policies = [
        ("deny-ip", "192.0.2.0/24"),
        ("rate-limit", "1000000000/s"),
        ("basic-auth", "bench:bench-password"),
        ("circuit-breaker", "5,30s"),
        ("add-header", "x-visitor: ${visitor_ip}"),
    ]
    .map(|(name, value)| Policy::parse(name, value).expect("a valid policy"));
    let stack = ServiceBuilder::new()
        .layer(SetRequestHeaderLayer::if_not_present(
            REQUEST_ID, RequestIds,
        ))
        .layer(PropagateHeaderLayer::new(REQUEST_ID))
        .service(layers(&policies).wrap(bare()));
    HttpService::new(stack)
}

fn per_request(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("per request");
    for (name, service) in [
        ("bare service", bare()),
        ("full policy stack", policy_stack()),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                let service = service.clone();
                async move {
                    let response = service.oneshot(request()).await.expect("answers");
                    assert!(response.status().is_success());
                    black_box(response)
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, per_request);
criterion_main!(benches);

//! From a list of [`Policy`] rules to the layers of a tunnel's stack.

use std::{num::NonZeroUsize, time::Duration};

use ferrotunnel::{
    BoxError, Error, TunnelBody,
    server::{HttpService, LayerStack},
};
use http::{HeaderValue, Request, Response, StatusCode, header::RETRY_AFTER};
use tower::{ServiceBuilder, load_shed::error::Overloaded, timeout::error::Elapsed};
use tower_http::compression::CompressionLayer;

use super::{CorsSpec, Policy};
use crate::{
    ResponseBody, auth::AuthLayer, body::refusal, circuit_breaker::CircuitBreakerSpec,
    headers::HeadersLayer, ip_filter::IpFilterLayer, rate_limit::RateLimitSpec,
};

/// The layers of `policies`, in their order, the first outermost; the rules of one family
/// (auth, IP, headers) make one layer where the first of them stands (see the
/// [module docs](super)). Each call builds new layers with state of their own (rate-limit
/// buckets, breakers), so a server calls it once per tunnel.
pub fn layers(policies: &[Policy]) -> LayerStack {
    let mut steps: Vec<Step> = Vec::new();
    for policy in policies {
        let family = Family::of(policy);
        let merged = family.is_some_and(|family| {
            steps
                .iter_mut()
                .any(|step| step.family() == Some(family) && step.merge(policy))
        });
        if !merged {
            steps.push(Step::new(policy));
        }
    }
    let mut layers = LayerStack::new();
    for step in steps {
        step.push_onto(&mut layers);
    }
    layers
}

/// Rules that make one layer together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Auth,
    Ip,
    Headers,
}

impl Family {
    fn of(policy: &Policy) -> Option<Self> {
        match policy {
            Policy::BasicAuth(_) | Policy::BearerToken(_) | Policy::ApiKey(_) => Some(Self::Auth),
            Policy::AllowIp(_) | Policy::DenyIp(_) => Some(Self::Ip),
            Policy::AddHeader(_)
            | Policy::SetHeader(_)
            | Policy::RemoveHeader(_)
            | Policy::AddResponseHeader(_)
            | Policy::SetResponseHeader(_)
            | Policy::RemoveResponseHeader(_) => Some(Self::Headers),
            Policy::RateLimit(_)
            | Policy::ConcurrencyLimit(_)
            | Policy::CircuitBreaker(_)
            | Policy::Cors(_)
            | Policy::Compress
            | Policy::Timeout(_) => None,
        }
    }
}

/// One layer to be.
enum Step {
    Auth(AuthLayer),
    Ip(IpFilterLayer),
    Headers(HeadersLayer),
    RateLimit(RateLimitSpec),
    ConcurrencyLimit(NonZeroUsize),
    CircuitBreaker(CircuitBreakerSpec),
    Cors(CorsSpec),
    Compress,
    Timeout(Duration),
}

impl Step {
    fn new(policy: &Policy) -> Self {
        let mut step = match policy {
            Policy::BasicAuth(_) | Policy::BearerToken(_) | Policy::ApiKey(_) => {
                Self::Auth(AuthLayer::new())
            }
            Policy::AllowIp(_) | Policy::DenyIp(_) => Self::Ip(IpFilterLayer::new()),
            Policy::AddHeader(_)
            | Policy::SetHeader(_)
            | Policy::RemoveHeader(_)
            | Policy::AddResponseHeader(_)
            | Policy::SetResponseHeader(_)
            | Policy::RemoveResponseHeader(_) => Self::Headers(HeadersLayer::new()),
            Policy::RateLimit(spec) => return Self::RateLimit(spec.clone()),
            Policy::ConcurrencyLimit(limit) => return Self::ConcurrencyLimit(*limit),
            Policy::CircuitBreaker(spec) => return Self::CircuitBreaker(*spec),
            Policy::Cors(spec) => return Self::Cors(spec.clone()),
            Policy::Compress => return Self::Compress,
            Policy::Timeout(timeout) => return Self::Timeout(*timeout),
        };
        step.merge(policy);
        step
    }

    fn family(&self) -> Option<Family> {
        match self {
            Self::Auth(_) => Some(Family::Auth),
            Self::Ip(_) => Some(Family::Ip),
            Self::Headers(_) => Some(Family::Headers),
            Self::RateLimit(_)
            | Self::ConcurrencyLimit(_)
            | Self::CircuitBreaker(_)
            | Self::Cors(_)
            | Self::Compress
            | Self::Timeout(_) => None,
        }
    }

    /// Adds `policy` to this step's layer; `false` if it is not of this step's family.
    fn merge(&mut self, policy: &Policy) -> bool {
        match (self, policy) {
            (Self::Auth(auth), Policy::BasicAuth(credential)) => {
                *auth = take(auth).basic(credential.user(), credential.password());
            }
            (Self::Auth(auth), Policy::BearerToken(token)) => {
                *auth = take(auth).bearer(token.as_str());
            }
            (Self::Auth(auth), Policy::ApiKey(key)) => {
                *auth = take(auth).api_key(key.header().clone(), key.key());
            }
            (Self::Ip(filter), Policy::AllowIp(cidr)) => *filter = take(filter).allow(*cidr),
            (Self::Ip(filter), Policy::DenyIp(cidr)) => *filter = take(filter).deny(*cidr),
            (Self::Headers(headers), Policy::AddHeader(rule)) => {
                *headers = take(headers).add_request(rule.name.clone(), rule.template.clone());
            }
            (Self::Headers(headers), Policy::SetHeader(rule)) => {
                *headers = take(headers).set_request(rule.name.clone(), rule.template.clone());
            }
            (Self::Headers(headers), Policy::RemoveHeader(name)) => {
                *headers = take(headers).remove_request(name.clone());
            }
            (Self::Headers(headers), Policy::AddResponseHeader(rule)) => {
                *headers = take(headers).add_response(rule.name.clone(), rule.template.clone());
            }
            (Self::Headers(headers), Policy::SetResponseHeader(rule)) => {
                *headers = take(headers).set_response(rule.name.clone(), rule.template.clone());
            }
            (Self::Headers(headers), Policy::RemoveResponseHeader(name)) => {
                *headers = take(headers).remove_response(name.clone());
            }
            _ => return false,
        }
        true
    }

    fn push_onto(self, layers: &mut LayerStack) {
        match self {
            Self::Auth(auth) => push_refusing(layers, auth),
            Self::Ip(filter) => push_refusing(layers, filter),
            Self::Headers(headers) => layers.push(headers),
            Self::RateLimit(spec) => push_refusing(layers, spec.layer()),
            Self::ConcurrencyLimit(limit) => push_concurrency_limit(layers, limit),
            Self::CircuitBreaker(spec) => push_refusing(layers, spec.layer()),
            Self::Cors(spec) => layers.push(spec.layer()),
            Self::Compress => layers.push(CompressionLayer::new()),
            Self::Timeout(timeout) => push_timeout(layers, timeout),
        }
    }
}

/// The builder methods of the layers take `self`; a step keeps its layer in place.
fn take<T: Default>(layer: &mut T) -> T {
    std::mem::take(layer)
}

/// Pushes a layer whose responses are [`ResponseBody`]s, handing the inner body on without a
/// second box (only a refusal's text is boxed).
fn push_refusing<L, S>(layers: &mut LayerStack, layer: L)
where
    L: tower::Layer<HttpService, Service = S> + Send + Sync + 'static,
    S: tower::Service<
            Request<TunnelBody>,
            Response = Response<ResponseBody<TunnelBody>>,
            Error = BoxError,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let layer = ServiceBuilder::new()
        .map_response(|response: Response<ResponseBody<TunnelBody>>| {
            response.map(ResponseBody::into_tunnel_body)
        })
        .layer(layer)
        .into_inner();
    layers.push(layer);
}

/// tower's concurrency limit, with load shedding: a request beyond the limit is refused at
/// once with a 503, rather than queued without bound.
fn push_concurrency_limit(layers: &mut LayerStack, limit: NonZeroUsize) {
    let layer = ServiceBuilder::new()
        .map_result(
            move |result: Result<Response<TunnelBody>, BoxError>| match result {
                Err(err) if err.is::<Overloaded>() => Ok(overloaded(limit)),
                other => other,
            },
        )
        .load_shed()
        .concurrency_limit(limit.get())
        .into_inner();
    layers.push(layer);
}

fn overloaded(limit: NonZeroUsize) -> Response<TunnelBody> {
    let mut response = refusal::<TunnelBody>(
        StatusCode::SERVICE_UNAVAILABLE,
        format_args!(
            "this tunnel already serves its limit of {limit} requests at once; retry in a moment"
        ),
    )
    .map(ResponseBody::into_tunnel_body);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// tower's timeout, failing with the core's own error so that the rescue step answers with
/// the same 504 as for the server's response timeout.
fn push_timeout(layers: &mut LayerStack, timeout: Duration) {
    let layer = ServiceBuilder::new()
        .map_err(move |err: BoxError| -> BoxError {
            if err.is::<Elapsed>() {
                Error::ResponseTimeout(timeout).into()
            } else {
                err
            }
        })
        .timeout(timeout)
        .into_inner();
    layers.push(layer);
}

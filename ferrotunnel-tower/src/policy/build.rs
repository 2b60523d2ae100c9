//! From a list of [`Policy`] rules to the layers of a tunnel's stack.

use std::{num::NonZeroUsize, time::Duration};

use ferrotunnel::{BoxError, Error, TunnelBody, server::LayerStack};
use http::{HeaderValue, Response, StatusCode, header::RETRY_AFTER};
use tower::{
    ServiceBuilder,
    layer::util::Stack,
    limit::ConcurrencyLimitLayer,
    load_shed::{LoadShedLayer, error::Overloaded},
    timeout::TimeoutLayer,
    util::{MapErrLayer, MapResponseLayer, MapResultLayer},
};
use tower_http::compression::{CompressionBody, CompressionLayer};

use super::{CorsSpec, Policy};
use crate::{
    ResponseBody,
    auth::AuthLayer,
    body::refusal,
    circuit_breaker::{CircuitBreakerLayer, CircuitBreakerSpec},
    headers::HeadersLayer,
    ip_filter::IpFilterLayer,
    rate_limit::{DEFAULT_MAX_KEYS, RateLimitLayer},
};

/// The layers of `policies`, in their order, the first outermost; the rules of one family
/// (auth, IP, headers) make one layer where the first of them stands (see the
/// [module docs](super)). Each call builds new layers with state of their own (rate-limit
/// buckets, breakers), so a server calls it once per tunnel.
///
/// Two or more of the built-in steps (IP filter, rate limit, auth, circuit breaker, headers)
/// in the order of the flags are composed into one service, boxed once: in a boxed stack, each
/// box costs two allocations per request (the clone, the future), about as much as a step's own
/// work. The reused tower and tower-http layers (CORS, concurrency limit, compression, timeout)
/// stay layers of their own.
pub fn layers(policies: &[Policy]) -> LayerStack {
    build(policies, DEFAULT_MAX_KEYS)
}

/// [`layers`], with rate limits that track at most `rate_limit_keys` keys each.
pub(super) fn build(policies: &[Policy], rate_limit_keys: usize) -> LayerStack {
    let mut steps: Vec<Step> = Vec::new();
    for policy in policies {
        let family = Family::of(policy);
        let merged = family.is_some_and(|family| {
            steps
                .iter_mut()
                .any(|step| step.family() == Some(family) && step.merge(policy))
        });
        if !merged {
            steps.push(Step::new(policy, rate_limit_keys));
        }
    }
    let mut layers = LayerStack::new();
    let mut composed = Composed::default();
    for step in steps {
        if let Err(step) = composed.add(step) {
            std::mem::take(&mut composed).push_onto(&mut layers);
            if let Err(step) = composed.add(step) {
                step.push_onto(&mut layers);
            }
        }
    }
    composed.push_onto(&mut layers);
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
    RateLimit(RateLimitLayer),
    ConcurrencyLimit(NonZeroUsize),
    CircuitBreaker(CircuitBreakerSpec),
    Cors(CorsSpec),
    Compress,
    Timeout(Duration),
}

impl Step {
    fn new(policy: &Policy, rate_limit_keys: usize) -> Self {
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
            Policy::RateLimit(spec) => {
                return Self::RateLimit(spec.layer().max_keys(rate_limit_keys));
            }
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

    /// Where a composable step stands in the order of the flags; `None` for the steps that
    /// stay layers of their own.
    fn rank(&self) -> Option<u8> {
        match self {
            Self::Ip(_) => Some(0),
            Self::RateLimit(_) => Some(1),
            Self::Auth(_) => Some(2),
            Self::CircuitBreaker(_) => Some(3),
            Self::Headers(_) => Some(4),
            Self::Cors(_) | Self::ConcurrencyLimit(_) | Self::Compress | Self::Timeout(_) => None,
        }
    }

    /// The step as a layer of its own.
    fn push_onto(self, layers: &mut LayerStack) {
        match self {
            Self::Ip(filter) => layers.push(refusing(filter)),
            Self::RateLimit(limit) => layers.push(refusing(limit)),
            Self::Auth(auth) => layers.push(refusing(auth)),
            Self::CircuitBreaker(spec) => layers.push(refusing(spec.layer())),
            Self::Headers(headers) => layers.push(headers),
            Self::Cors(spec) => layers.push(spec.layer()),
            Self::ConcurrencyLimit(limit) => layers.push(concurrency_limit(limit)),
            Self::Compress => layers.push(compression()),
            Self::Timeout(timeout) => layers.push(response_timeout(timeout)),
        }
    }
}

/// Composable steps in the order of the flags, to become one service.
#[derive(Default)]
struct Composed {
    steps: Vec<Step>,
}

impl Composed {
    /// Takes `step` if it is composable and comes after every step taken so far; else gives
    /// it back.
    fn add(&mut self, step: Step) -> Result<(), Step> {
        let last = self.steps.last().and_then(Step::rank);
        match (step.rank(), last) {
            (Some(rank), Some(last)) if rank > last => {}
            (Some(_), None) => {}
            _ => return Err(step),
        }
        self.steps.push(step);
        Ok(())
    }

    /// One layer for all the steps, each an optional layer, outermost first. A step alone
    /// stays as it is: the optional slots of a composition cost more than one box.
    fn push_onto(self, layers: &mut LayerStack) {
        if self.steps.len() <= 1 {
            for step in self.steps {
                step.push_onto(layers);
            }
            return;
        }
        let mut slots = Slots::default();
        for step in self.steps {
            match step {
                Step::Ip(filter) => slots.ip = Some(refusing(filter)),
                Step::RateLimit(limit) => slots.rate_limit = Some(refusing(limit)),
                Step::Auth(auth) => slots.auth = Some(refusing(auth)),
                Step::CircuitBreaker(spec) => slots.breaker = Some(refusing(spec.layer())),
                Step::Headers(headers) => slots.headers = Some(headers),
                // Not composable: `add` never takes them.
                Step::Cors(_) | Step::ConcurrencyLimit(_) | Step::Compress | Step::Timeout(_) => {
                    step.push_onto(layers);
                }
            }
        }
        // The state of each step (rate-limit buckets, breakers) was made above, once; every
        // service the layer makes shares it.
        layers.push(
            ServiceBuilder::new()
                .option_layer(slots.ip)
                .option_layer(slots.rate_limit)
                .option_layer(slots.auth)
                .option_layer(slots.breaker)
                .option_layer(slots.headers)
                .into_inner(),
        );
    }
}

type Refusing<L> = Stack<L, MapResponseLayer<fn(RefusingResponse) -> TunnelResponse>>;

#[derive(Default)]
struct Slots {
    ip: Option<Refusing<IpFilterLayer>>,
    rate_limit: Option<Refusing<RateLimitLayer>>,
    auth: Option<Refusing<AuthLayer>>,
    breaker: Option<Refusing<CircuitBreakerLayer>>,
    headers: Option<HeadersLayer>,
}

/// The builder methods of the layers take `self`; a step keeps its layer in place.
fn take<T: Default>(layer: &mut T) -> T {
    std::mem::take(layer)
}

/// A layer whose responses are [`ResponseBody`]s, answering [`TunnelBody`]s: the inner body
/// is handed on without a second box (only a refusal's text is boxed).
fn refusing<L>(layer: L) -> Refusing<L> {
    Stack::new(layer, MapResponseLayer::new(tunnel_response as _))
}

type RefusingResponse = Response<ResponseBody<TunnelBody>>;
type TunnelResponse = Response<TunnelBody>;

fn tunnel_response(response: RefusingResponse) -> TunnelResponse {
    response.map(ResponseBody::into_tunnel_body)
}

/// A compressed body is boxed: it is a new body.
fn boxed_response(response: Compressed) -> TunnelResponse {
    response.map(ferrotunnel::server::into_tunnel_body)
}

/// tower's concurrency limit, with load shedding: a request beyond the limit is refused at
/// once with a 503, rather than queued without bound.
fn concurrency_limit(
    limit: NonZeroUsize,
) -> Stack<ConcurrencyLimitLayer, Shedding<impl Fn(Overload) -> Overload + Clone>> {
    let shedding = Stack::new(
        LoadShedLayer::new(),
        MapResultLayer::new(move |result: Overload| overloaded_to_503(result, limit)),
    );
    Stack::new(ConcurrencyLimitLayer::new(limit.get()), shedding)
}

type Overload = Result<TunnelResponse, BoxError>;
type Shedding<F> = Stack<LoadShedLayer, MapResultLayer<F>>;

/// tower-http's compression, answering [`TunnelBody`]s.
fn compression() -> Stack<CompressionLayer, MapResponseLayer<BoxCompressed>> {
    Stack::new(
        CompressionLayer::new(),
        MapResponseLayer::new(boxed_response as _),
    )
}

type Compressed = Response<CompressionBody<TunnelBody>>;
type BoxCompressed = fn(Compressed) -> TunnelResponse;

/// tower's timeout, failing with the core's own error.
fn response_timeout(
    timeout: Duration,
) -> Stack<TimeoutLayer, MapErrLayer<impl Fn(BoxError) -> BoxError + Clone>> {
    Stack::new(
        TimeoutLayer::new(timeout),
        MapErrLayer::new(move |err: BoxError| Error::from_elapsed(err, timeout)),
    )
}

/// tower's load shedding fails a request beyond the concurrency limit; the visitor gets a 503
/// that says why.
fn overloaded_to_503(
    result: Result<TunnelResponse, BoxError>,
    limit: NonZeroUsize,
) -> Result<TunnelResponse, BoxError> {
    match result {
        Err(err) if err.is::<Overloaded>() => Ok(overloaded(limit)),
        other => other,
    }
}

fn overloaded(limit: NonZeroUsize) -> Response<TunnelBody> {
    let mut response = refusal::<TunnelBody>(
        "concurrency_limit",
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

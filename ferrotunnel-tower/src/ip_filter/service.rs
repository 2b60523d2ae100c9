use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response, StatusCode};

use super::{IpFilterLayer, ResponseFuture, layer::Rules};
use crate::{body::refusal, request};

/// Lets a request through to the inner service only if its visitor's address is allowed; see
/// the [module docs](super).
#[derive(Clone)]
pub struct IpFilter<S> {
    inner: S,
    rules: Arc<Rules>,
}

impl<S> IpFilter<S> {
    /// Filters the requests to `inner` by the rules of `layer`.
    pub fn new(inner: S, layer: &IpFilterLayer) -> Self {
        tower::Layer::layer(layer, inner)
    }

    pub(super) fn from_rules(inner: S, rules: Arc<Rules>) -> Self {
        Self { inner, rules }
    }

    /// A layer with no rules yet: the same as [`IpFilterLayer::new`].
    pub fn layer() -> IpFilterLayer {
        IpFilterLayer::new()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for IpFilter<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<crate::ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let message = match request::visitor_ip(&request) {
            Some(ip) if self.rules.accepts(ip) => {
                return ResponseFuture::inner(self.inner.call(request));
            }
            Some(ip) => format!(
                "this tunnel does not accept requests from {ip}; if you should have access, ask \
                 the tunnel's owner to allow this address"
            ),
            // Fail closed: a filter that lets through whatever it cannot place filters nothing.
            None => "this tunnel accepts requests only from some addresses, and the server \
                     could not tell where this one came from; the server's owner has to fix that"
                .to_owned(),
        };
        tracing::debug!(
            tunnel = request::tunnel_name(&request),
            visitor = ?request::visitor_ip(&request),
            "the IP filter refused the request"
        );
        ResponseFuture::refused(refusal("ip_filter", StatusCode::FORBIDDEN, message))
    }
}

impl<S: fmt::Debug> fmt::Debug for IpFilter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpFilter")
            .field("inner", &self.inner)
            .field("rules", &self.rules)
            .finish()
    }
}

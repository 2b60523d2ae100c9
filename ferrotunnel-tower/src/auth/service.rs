use std::{
    any, fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};

use super::{
    AsyncAuthLayer, AsyncResponseFuture, AuthLayer, AuthValidator, ResponseFuture,
    check::Credentials,
    future::Checked,
    layer::{AsyncSettings, debug_async},
};
use crate::{ResponseBody, request};

/// Lets a request through to the inner service only if it carries one of the configured
/// credentials, and removes that credential first; see the [module docs](super).
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    credentials: Arc<Credentials>,
}

impl<S> Auth<S> {
    /// Guards `inner` with the credentials of `layer`.
    pub fn new(inner: S, layer: &AuthLayer) -> Self {
        tower::Layer::layer(layer, inner)
    }

    pub(super) fn from_credentials(inner: S, credentials: Arc<Credentials>) -> Self {
        Self { inner, credentials }
    }

    /// A layer with no credentials yet: the same as [`AuthLayer::new`].
    pub fn layer() -> AuthLayer {
        AuthLayer::new()
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

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for Auth<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        match self.credentials.check(request.headers_mut()) {
            Ok(()) => ResponseFuture::inner(self.inner.call(request)),
            Err(why) => {
                tracing::debug!(
                    tunnel = request::tunnel_name(&request),
                    visitor = ?request::visitor_ip(&request),
                    ?why,
                    "auth refused the request"
                );
                ResponseFuture::refused(self.credentials.refusal(why))
            }
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Auth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("inner", &self.inner)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// Asks an [`AuthValidator`] about each request and lets it through to the inner service only
/// if allowed; see the [module docs](super#asking-another-service).
///
/// The check runs as a boxed `Send` future that owns the request and a clone of the inner
/// service (the one `poll_ready` readied goes with the request), so the inner service must be
/// `Clone + Send + 'static` and the request body `Send + 'static`, and the runtime needs
/// tokio's timer for the [timeout](AsyncAuthLayer::timeout).
pub struct AsyncAuth<S, V: ?Sized> {
    inner: S,
    validator: Arc<V>,
    settings: Arc<AsyncSettings>,
}

impl<S, V: AuthValidator + ?Sized> AsyncAuth<S, V> {
    /// Guards `inner` with the validator and settings of `layer`.
    pub fn new(inner: S, layer: &AsyncAuthLayer<V>) -> Self {
        tower::Layer::layer(layer, inner)
    }

    pub(super) fn from_parts(inner: S, validator: Arc<V>, settings: Arc<AsyncSettings>) -> Self {
        Self {
            inner,
            validator,
            settings,
        }
    }

    /// The validator.
    pub fn validator(&self) -> &V {
        &self.validator
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

impl<S, V: AuthValidator> AsyncAuth<S, V> {
    /// A layer that asks `validator`: the same as [`AsyncAuthLayer::new`].
    pub fn layer(validator: V) -> AsyncAuthLayer<V> {
        AsyncAuthLayer::new(validator)
    }
}

impl<S, V, ReqBody, ResBody> tower::Service<Request<ReqBody>> for AsyncAuth<S, V>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    V: AuthValidator + ?Sized,
    ReqBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = AsyncResponseFuture<S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The service that was made ready goes with the request; this one keeps a clone.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let validator = self.validator.clone();
        let timeout = self.settings.timeout;
        // `Request<TunnelBody>` is not `Sync`, so the validator gets the head alone, and the
        // body waits beside it.
        let check = Box::pin(async move {
            let (parts, body) = request.into_parts();
            let verdict = tokio::time::timeout(timeout, validator.validate(&parts))
                .await
                .ok();
            Checked {
                request: Request::from_parts(parts, body),
                inner,
                verdict,
            }
        });
        AsyncResponseFuture::new(check, self.settings.clone())
    }
}

impl<S: Clone, V: ?Sized> Clone for AsyncAuth<S, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            validator: self.validator.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<S: fmt::Debug, V: ?Sized> fmt::Debug for AsyncAuth<S, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_async(
            f,
            "AsyncAuth",
            Some(&self.inner),
            &self.settings,
            any::type_name::<V>(),
        )
    }
}

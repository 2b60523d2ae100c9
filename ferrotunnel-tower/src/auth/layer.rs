use std::{any, fmt, sync::Arc, time::Duration};

use http::{HeaderName, HeaderValue};

use super::{AsyncAuth, Auth, AuthValidator, check::Credentials};
use crate::duration;

/// Lets a request through only if it carries one of the configured credentials; see the
/// [module docs](super).
///
/// `AuthLayer::new()` has no credentials yet, and lets nobody in until some are added. Cheap
/// to clone: the credentials are shared behind an `Arc` by the layer and every service it
/// makes.
#[derive(Clone, Default)]
pub struct AuthLayer {
    credentials: Arc<Credentials>,
}

impl AuthLayer {
    /// A layer with no credentials yet, and the realm `"ferrotunnel"`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts HTTP Basic authentication as `user` with `password` (call once per user). The
    /// user name cannot hold a `:`, which Basic authentication cannot carry;
    /// [`BasicCredential`](super::BasicCredential) checks that when it reads one.
    pub fn basic(mut self, user: impl Into<String>, password: impl AsRef<str>) -> Self {
        Arc::make_mut(&mut self.credentials).add_basic(user.into(), password.as_ref());
        self
    }

    /// Accepts `Authorization: Bearer <token>` (call once per token). An empty token is
    /// accepted here but matches nothing.
    pub fn bearer(mut self, token: impl AsRef<str>) -> Self {
        Arc::make_mut(&mut self.credentials).add_bearer(token.as_ref().as_bytes());
        self
    }

    /// Accepts `key` in the header `header`, e.g. `x-api-key` (call once per key; keys for
    /// several headers may be mixed). An empty key is accepted here but matches nothing.
    pub fn api_key(mut self, header: HeaderName, key: impl AsRef<str>) -> Self {
        Arc::make_mut(&mut self.credentials).add_api_key(header, key.as_ref().as_bytes());
        self
    }

    /// The realm named in the `WWW-Authenticate` challenges (default `"ferrotunnel"`): browsers
    /// show it in their login prompt. Control characters are dropped.
    pub fn realm(mut self, realm: impl AsRef<str>) -> Self {
        Arc::make_mut(&mut self.credentials).set_realm(realm.as_ref());
        self
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth::from_credentials(inner, self.credentials.clone())
    }
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AuthLayer").field(&self.credentials).finish()
    }
}

/// Asks an [`AuthValidator`] about each request, without blocking, and lets it through only
/// if the validator allows it; see the [module docs](super#asking-another-service).
///
/// Cheap to clone: the validator is shared behind an `Arc`.
pub struct AsyncAuthLayer<V: ?Sized> {
    validator: Arc<V>,
    settings: Arc<AsyncSettings>,
}

/// What an [`AsyncAuthLayer`] adds around its validator.
#[derive(Clone, Debug)]
pub(super) struct AsyncSettings {
    pub(super) timeout: Duration,
    pub(super) challenge: Option<HeaderValue>,
}

/// How long a validator may take unless another limit is set.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl<V: AuthValidator> AsyncAuthLayer<V> {
    /// A layer that asks `validator` about each request, for at most 10 seconds.
    pub fn new(validator: V) -> Self {
        Self::from_arc(Arc::new(validator))
    }
}

impl<V: AuthValidator + ?Sized> AsyncAuthLayer<V> {
    /// Like [`new`](Self::new), with a validator shared elsewhere, such as an
    /// `Arc<dyn AuthValidator>`.
    pub fn from_arc(validator: Arc<V>) -> Self {
        Self {
            validator,
            settings: Arc::new(AsyncSettings {
                timeout: DEFAULT_TIMEOUT,
                challenge: None,
            }),
        }
    }

    /// How long the validator may take (default 10 s). A request it has not decided on by then
    /// is refused with `503 Service Unavailable`: the layer fails closed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.settings).timeout = timeout;
        self
    }

    /// A `WWW-Authenticate` challenge to send with each `401` the validator gives, such as
    /// `Bearer realm="ferrotunnel"` (none by default).
    pub fn challenge(mut self, challenge: HeaderValue) -> Self {
        Arc::make_mut(&mut self.settings).challenge = Some(challenge);
        self
    }

    /// The validator.
    pub fn validator(&self) -> &V {
        &self.validator
    }
}

impl<S, V: AuthValidator + ?Sized> tower::Layer<S> for AsyncAuthLayer<V> {
    type Service = AsyncAuth<S, V>;

    fn layer(&self, inner: S) -> AsyncAuth<S, V> {
        AsyncAuth::from_parts(inner, self.validator.clone(), self.settings.clone())
    }
}

impl<V: ?Sized> Clone for AsyncAuthLayer<V> {
    fn clone(&self) -> Self {
        Self {
            validator: self.validator.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<V: ?Sized> fmt::Debug for AsyncAuthLayer<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_async(
            f,
            "AsyncAuthLayer",
            None,
            &self.settings,
            any::type_name::<V>(),
        )
    }
}

/// The `Debug` of [`AsyncAuthLayer`] and [`AsyncAuth`]: the validator's type, not its state
/// (which may hold secrets, and need not be `Debug`).
pub(super) fn debug_async(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    inner: Option<&dyn fmt::Debug>,
    settings: &AsyncSettings,
    validator: &str,
) -> fmt::Result {
    let mut debug = f.debug_struct(name);
    if let Some(inner) = inner {
        debug.field("inner", inner);
    }
    debug
        .field("validator", &validator)
        .field("timeout", &duration::format(settings.timeout))
        .field("challenge", &settings.challenge)
        .finish()
}

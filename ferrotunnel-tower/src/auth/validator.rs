use std::future::Future;

use async_trait::async_trait;
use http::{StatusCode, request::Parts};

/// Decides whether a request may use the tunnel, and may wait to do so: ask an auth server,
/// look a token up in a database. Install it with [`AsyncAuthLayer`](super::AsyncAuthLayer).
///
/// The validator sees the request's head (method, URI, headers, extensions), not its body,
/// which stays untouched for the local service. It must not block: await instead. It is
/// object-safe, so an `Arc<dyn AuthValidator>` works with
/// [`AsyncAuthLayer::from_arc`](super::AsyncAuthLayer::from_arc).
///
/// A closure `Fn(&Parts) -> impl Future<Output = Verdict>` is a validator too, when the
/// future it returns owns what it needs (copy the header out of `parts` before the `async`
/// block):
///
/// ```
/// use ferrotunnel_tower::{AsyncAuthLayer, Verdict};
/// use http::request::Parts;
///
/// let layer = AsyncAuthLayer::new(|parts: &Parts| {
///     let token = parts.headers.get("x-token").cloned();
///     async move {
///         match token {
///             // A real validator would ask its auth server here.
///             Some(token) if token == "t0ken" => Verdict::Allow,
///             Some(_) => Verdict::deny("the x-token sent is not valid; ask for a new one"),
///             None => Verdict::deny("send a token in the x-token header"),
///         }
///     }
/// });
/// # let _ = layer;
/// ```
#[async_trait]
pub trait AuthValidator: Send + Sync + 'static {
    /// Whether the request with head `request` may go on to the local service.
    async fn validate(&self, request: &Parts) -> Verdict;
}

#[async_trait]
impl<F, Fut> AuthValidator for F
where
    F: Fn(&Parts) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Verdict> + Send + 'static,
{
    async fn validate(&self, request: &Parts) -> Verdict {
        self(request).await
    }
}

/// What an [`AuthValidator`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "a Verdict does nothing unless returned from AuthValidator::validate"]
pub enum Verdict {
    /// The request goes on to the local service.
    Allow,
    /// The request is refused with `status` (usually `401 Unauthorized` or `403 Forbidden`)
    /// and a `text/plain` body `"<code> <reason phrase>: <reason>\n"`. The reason is shown to
    /// the visitor: say what to send, and put no secrets in it.
    Deny {
        /// The response status.
        status: StatusCode,
        /// Why, for the visitor.
        reason: String,
    },
}

impl Verdict {
    /// Refuses with `401 Unauthorized`: the visitor did not prove who they are.
    pub fn deny(reason: impl Into<String>) -> Self {
        Self::deny_with(StatusCode::UNAUTHORIZED, reason)
    }

    /// Refuses with `status`, e.g. `403 Forbidden` for a visitor who is known but may not use
    /// this tunnel.
    pub fn deny_with(status: StatusCode, reason: impl Into<String>) -> Self {
        Self::Deny {
            status,
            reason: reason.into(),
        }
    }
}

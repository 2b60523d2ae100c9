//! The [`Plugin`] trait and [`PluginLayer`], which makes a plugin a `tower` layer.
//!
//! [`PluginService`] awaits [`Plugin::on_request`] before the inner service. On
//! [`Action::Continue`] it calls the inner service with the (possibly modified) request and
//! hands the response to [`Plugin::on_response`]. On [`Action::Reject`] or [`Action::Respond`]
//! it answers at once: the inner service is never called, so a refused request never reaches
//! the tunnel, and `on_response` does not run (the plugin made that response itself).
//!
//! The hooks are `async`: a plugin may ask another service (an auth server, a quota store)
//! without blocking the runtime. They are declared with [`async_trait`](crate::async_trait),
//! which keeps the trait object-safe, so `Box<dyn Plugin>` and `Arc<dyn Plugin>` are plugins too
//! (for lists of plugins a config file chooses). Errors of the inner service pass through
//! untouched.
//!
//! ```
//! use ferrotunnel::TunnelBody;
//! use ferrotunnel_tower::{Action, Plugin, PluginLayer, RequestContext, async_trait};
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! /// Refuses requests from visitors a (pretend) remote service does not know.
//! struct KnownVisitors;
//!
//! #[async_trait]
//! impl Plugin for KnownVisitors {
//!     fn name(&self) -> &str {
//!         "known-visitors"
//!     }
//!
//!     async fn on_request(&self, _: &mut Request<TunnelBody>, cx: &RequestContext) -> Action {
//!         // An `.await` on another service belongs here; this one answers at once.
//!         let known = async { cx.visitor_ip().is_some() }.await;
//!         if known {
//!             Action::Continue
//!         } else {
//!             Action::reject(StatusCode::FORBIDDEN, "who are you?")
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ferrotunnel::BoxError> {
//! let service = ServiceBuilder::new()
//!     .layer(PluginLayer::new(KnownVisitors))
//!     .service_fn(|_: Request<TunnelBody>| async {
//!         Ok::<_, ferrotunnel::BoxError>(Response::new(TunnelBody::default()))
//!     });
//! let response = service.oneshot(Request::new(TunnelBody::default())).await?;
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! # Ok(())
//! # }
//! ```

use async_trait::async_trait;
use ferrotunnel::{BoxError, TunnelBody};
use http::{Request, Response, StatusCode};

mod context;
mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;

pub use context::RequestContext;
pub use future::ResponseFuture;
pub use layer::PluginLayer;
pub use service::PluginService;

/// A plugin of the ingress stack, the simple way: look at each request, and optionally at each
/// response. Install it on a server with
/// [`ServerBuilderExt::plugin`](crate::ServerBuilderExt::plugin) (which also runs its start and
/// stop hooks), or in any tower stack with [`PluginLayer::new`].
///
/// Implement it with `#[async_trait]` (re-exported as [`crate::async_trait`]). A plugin that
/// does not wait for anything simply does not `.await`: the hooks cost one small allocation per
/// request each, nothing more.
#[async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// A short name for logs, like `"api-key"`.
    fn name(&self) -> &str;

    /// Decides what happens to `request`. `cx` says which tunnel it is for, who sent it, its
    /// request id and when it arrived. The plugin may change the request (headers, URI,
    /// extensions) before returning [`Action::Continue`].
    async fn on_request(&self, request: &mut Request<TunnelBody>, cx: &RequestContext) -> Action;

    /// Sees each response that came back from the inner service (the tunnel), and may change
    /// its head. Not called for responses the plugin made itself, nor when the inner service
    /// failed. Does nothing by default.
    async fn on_response(&self, response: &mut Response<TunnelBody>, cx: &RequestContext) {
        let _ = (response, cx);
    }

    /// Runs once before the server takes requests (open a connection, load a list); an error
    /// stops the server from starting. Does nothing by default.
    async fn on_start(&self) -> Result<(), BoxError> {
        Ok(())
    }

    /// Runs once after the server has stopped (flush, close). Does nothing by default.
    async fn on_stop(&self) {}
}

#[async_trait]
impl<P: Plugin + ?Sized> Plugin for Box<P> {
    fn name(&self) -> &str {
        (**self).name()
    }

    async fn on_request(&self, request: &mut Request<TunnelBody>, cx: &RequestContext) -> Action {
        (**self).on_request(request, cx).await
    }

    async fn on_response(&self, response: &mut Response<TunnelBody>, cx: &RequestContext) {
        (**self).on_response(response, cx).await;
    }

    async fn on_start(&self) -> Result<(), BoxError> {
        (**self).on_start().await
    }

    async fn on_stop(&self) {
        (**self).on_stop().await;
    }
}

#[async_trait]
impl<P: Plugin + ?Sized> Plugin for std::sync::Arc<P> {
    fn name(&self) -> &str {
        (**self).name()
    }

    async fn on_request(&self, request: &mut Request<TunnelBody>, cx: &RequestContext) -> Action {
        (**self).on_request(request, cx).await
    }

    async fn on_response(&self, response: &mut Response<TunnelBody>, cx: &RequestContext) {
        (**self).on_response(response, cx).await;
    }

    async fn on_start(&self) -> Result<(), BoxError> {
        (**self).on_start().await
    }

    async fn on_stop(&self) {
        (**self).on_stop().await;
    }
}

/// What a [`Plugin`] decided about a request.
#[derive(Debug)]
#[must_use = "an Action does nothing unless returned from Plugin::on_request"]
pub enum Action {
    /// Pass the request on to the tunnel.
    Continue,
    /// Refuse the request with `status` and a short `text/plain` body:
    /// `"<code> <reason phrase>: <reason>\n"`, e.g. `"401 Unauthorized: missing x-api-key\n"`
    /// (`"Error"` stands in for the phrase of a status that has none).
    /// The reason is shown to the visitor: say what to do, and put no secrets in it.
    Reject {
        /// The response status, usually 4xx.
        status: StatusCode,
        /// Why, for the visitor.
        reason: String,
    },
    /// Answer with this response instead of passing the request on.
    Respond(Response<TunnelBody>),
}

impl Action {
    /// Shorthand for [`Action::Reject`].
    pub fn reject(status: StatusCode, reason: impl Into<String>) -> Self {
        Self::Reject {
            status,
            reason: reason.into(),
        }
    }
}

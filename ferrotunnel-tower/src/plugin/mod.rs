//! The [`Plugin`] trait and [`PluginLayer`], which makes a plugin a `tower` layer.
//!
//! [`PluginService`] calls [`Plugin::on_request`] before the inner service. On
//! [`Action::Continue`] it calls the inner service with the (possibly modified) request and hands
//! the response to [`Plugin::on_response`]. On [`Action::Reject`] or [`Action::Respond`] it
//! answers at once: the inner service is never called, so a refused request never reaches the
//! tunnel, and `on_response` does not run (the plugin made that response itself).
//!
//! Errors of the inner service pass through untouched.

use bytes::Bytes;
use ferrotunnel::TunnelBody;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};

mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;

pub use future::ResponseFuture;
pub use layer::PluginLayer;
pub use service::PluginService;

/// A plugin of the ingress stack, the simple way: look at each request, and optionally at each
/// response. Install it with `ServerBuilder::layer(PluginLayer::new(plugin))`.
///
/// The methods are synchronous and run on the request's task: keep them short. A plugin that
/// needs to wait (ask another service, hold a request back) is a `tower` layer instead.
pub trait Plugin: Send + Sync + 'static {
    /// A short name for logs, like `"api-key"`.
    fn name(&self) -> &str;

    /// Decides what happens to `request`. The request's extensions hold the
    /// [`TunnelContext`](ferrotunnel::TunnelContext) of the tunnel it is for and the
    /// [`VisitorAddr`](ferrotunnel::server::VisitorAddr). The plugin may change the request
    /// (headers, URI, extensions) before returning [`Action::Continue`].
    fn on_request(&self, request: &mut Request<TunnelBody>) -> Action;

    /// Sees each response that came back from the inner service (the tunnel), and may change
    /// its head. Not called for responses the plugin made itself. Does nothing by default.
    fn on_response(&self, response: &mut Response<TunnelBody>) {
        let _ = response;
    }
}

impl<P: Plugin + ?Sized> Plugin for Box<P> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn on_request(&self, request: &mut Request<TunnelBody>) -> Action {
        (**self).on_request(request)
    }

    fn on_response(&self, response: &mut Response<TunnelBody>) {
        (**self).on_response(response);
    }
}

impl<P: Plugin + ?Sized> Plugin for std::sync::Arc<P> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn on_request(&self, request: &mut Request<TunnelBody>) -> Action {
        (**self).on_request(request)
    }

    fn on_response(&self, response: &mut Response<TunnelBody>) {
        (**self).on_response(response);
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

/// The response for [`Action::Reject`].
fn rejection(status: StatusCode, reason: &str) -> Response<TunnelBody> {
    // The same shape as the core's own error responses.
    let phrase = status.canonical_reason().unwrap_or("Error");
    let text = format!("{} {phrase}: {reason}\n", status.as_u16());
    let body = Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

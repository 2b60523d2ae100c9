use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use ferrotunnel::TunnelBody;
use http::Response;
use pin_project::pin_project;

use super::Plugin;

/// The future of [`PluginService`](super::PluginService): the inner call, or the plugin's own
/// response.
#[pin_project]
pub struct ResponseFuture<F, P> {
    #[pin]
    kind: Kind<F, P>,
}

#[pin_project(project = KindProj)]
enum Kind<F, P> {
    /// The plugin let the request through: the inner service's response, then `on_response`.
    Inner {
        #[pin]
        future: F,
        plugin: Arc<P>,
    },
    /// The plugin rejected or answered the request; the inner service was not called.
    Ready {
        response: Option<Response<TunnelBody>>,
    },
}

impl<F, P> ResponseFuture<F, P> {
    pub(super) fn inner(future: F, plugin: Arc<P>) -> Self {
        Self {
            kind: Kind::Inner { future, plugin },
        }
    }

    pub(super) fn ready(response: Response<TunnelBody>) -> Self {
        Self {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }
}

impl<F, P, E> Future for ResponseFuture<F, P>
where
    F: Future<Output = Result<Response<TunnelBody>, E>>,
    P: Plugin,
{
    type Output = Result<Response<TunnelBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future, plugin } => {
                let mut response = ready!(future.poll(cx))?;
                plugin.on_response(&mut response);
                Poll::Ready(Ok(response))
            }
            KindProj::Ready { response } => Poll::Ready(Ok(response
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}

impl<F, P> fmt::Debug for ResponseFuture<F, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Inner { .. } => "Inner",
            Kind::Ready { .. } => "Ready",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

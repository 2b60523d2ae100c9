use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use ferrotunnel::TunnelBody;
use http::{Request, Response};
use pin_project::pin_project;
use tower::Service;

use super::{Action, Plugin, RequestContext};
use crate::body::refusal;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The future of [`PluginService`](super::PluginService): `on_request`, then the inner call
/// and `on_response` (on [`Action::Continue`]), or the plugin's own response.
#[pin_project]
pub struct ResponseFuture<S, P>
where
    S: Service<Request<TunnelBody>>,
{
    #[pin]
    state: State<S, P>,
}

#[pin_project(project = StateProj)]
enum State<S, P>
where
    S: Service<Request<TunnelBody>>,
{
    /// `on_request` runs; it owns the request while it borrows it across `.await`s. `inner`
    /// is the service that was driven to readiness, called only on `Continue`.
    OnRequest {
        #[pin]
        hook: BoxFuture<(Request<TunnelBody>, RequestContext, Action)>,
        inner: Option<S>,
        plugin: Arc<P>,
    },
    /// The inner service answers.
    Inner {
        #[pin]
        future: S::Future,
        cx: Option<RequestContext>,
        plugin: Arc<P>,
    },
    /// `on_response` runs.
    OnResponse {
        #[pin]
        hook: BoxFuture<Response<TunnelBody>>,
    },
    Done,
}

impl<S, P> ResponseFuture<S, P>
where
    S: Service<Request<TunnelBody>>,
    P: Plugin,
{
    pub(super) fn new(request: Request<TunnelBody>, inner: S, plugin: Arc<P>) -> Self {
        let hooks = plugin.clone();
        let hook = Box::pin(async move {
            let mut request = request;
            let cx = RequestContext::from_request(&request);
            let action = hooks.on_request(&mut request, &cx).await;
            (request, cx, action)
        });
        Self {
            state: State::OnRequest {
                hook,
                inner: Some(inner),
                plugin,
            },
        }
    }
}

impl<S, P> Future for ResponseFuture<S, P>
where
    S: Service<Request<TunnelBody>, Response = Response<TunnelBody>>,
    P: Plugin,
{
    type Output = Result<Response<TunnelBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::OnRequest {
                    hook,
                    inner,
                    plugin,
                } => {
                    let (request, request_cx, action) = ready!(hook.poll(cx));
                    let plugin = plugin.clone();
                    match action {
                        Action::Continue => {
                            let Some(mut inner) = inner.take() else {
                                unreachable!("the inner service is taken once");
                            };
                            let future = inner.call(request);
                            state.set(State::Inner {
                                future,
                                cx: Some(request_cx),
                                plugin,
                            });
                        }
                        Action::Reject { status, reason } => {
                            tracing::debug!(
                                plugin = plugin.name(),
                                tunnel = request_cx.tunnel_name(),
                                %status,
                                %reason,
                                "plugin rejected the request"
                            );
                            state.set(State::Done);
                            let response =
                                refusal::<TunnelBody>(plugin.name().to_owned(), status, reason);
                            return Poll::Ready(Ok(response.map(|body| body.into_tunnel_body())));
                        }
                        Action::Respond(response) => {
                            state.set(State::Done);
                            return Poll::Ready(Ok(response));
                        }
                    }
                }
                StateProj::Inner {
                    future,
                    cx: request_cx,
                    plugin,
                } => {
                    let mut response = match ready!(future.poll(cx)) {
                        Ok(response) => response,
                        Err(err) => {
                            state.set(State::Done);
                            return Poll::Ready(Err(err));
                        }
                    };
                    let Some(request_cx) = request_cx.take() else {
                        unreachable!("the context is taken once");
                    };
                    let plugin = plugin.clone();
                    let hook = Box::pin(async move {
                        plugin.on_response(&mut response, &request_cx).await;
                        response
                    });
                    state.set(State::OnResponse { hook });
                }
                StateProj::OnResponse { hook } => {
                    let response = ready!(hook.poll(cx));
                    state.set(State::Done);
                    return Poll::Ready(Ok(response));
                }
                StateProj::Done => panic!("plugin ResponseFuture polled after completion"),
            }
        }
    }
}

impl<S, P> fmt::Debug for ResponseFuture<S, P>
where
    S: Service<Request<TunnelBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::OnRequest { .. } => "OnRequest",
            State::Inner { .. } => "Inner",
            State::OnResponse { .. } => "OnResponse",
            State::Done => "Done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

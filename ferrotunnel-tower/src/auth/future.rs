use std::{
    fmt,
    future::{Future, Ready},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use http::{Request, Response, StatusCode, header};
use pin_project::pin_project;

use super::{Verdict, layer::AsyncSettings};
use crate::{
    body::{ResponseBody, refusal},
    duration,
};

// === impl ResponseFuture ===

/// The future of [`Auth`](super::Auth): the inner service's response, or the refusal.
pub type ResponseFuture<F, B> = crate::body::RefusingFuture<F, B>;

// === impl AsyncResponseFuture ===

/// What the validator's task hands back: the request, the inner service made ready for it,
/// and the verdict (`None`: the validator took too long).
pub(super) struct Checked<S, B> {
    pub(super) request: Request<B>,
    pub(super) inner: S,
    pub(super) verdict: Option<Verdict>,
}

type Check<S, B> = Pin<Box<dyn Future<Output = Checked<S, B>> + Send>>;

/// The future of [`AsyncAuth`](super::AsyncAuth): the validator's check, then the inner
/// service's response or the refusal.
#[pin_project]
pub struct AsyncResponseFuture<S, ReqBody, ResBody>
where
    S: tower::Service<Request<ReqBody>>,
{
    #[pin]
    state: State<S, ReqBody, ResBody>,
    settings: Arc<AsyncSettings>,
}

#[pin_project(project = StateProj)]
enum State<S, ReqBody, ResBody>
where
    S: tower::Service<Request<ReqBody>>,
{
    /// The validator is deciding.
    Checking { check: Check<S, ReqBody> },
    /// The validator allowed the request: the inner call.
    Inner {
        #[pin]
        future: S::Future,
    },
    /// The validator denied the request (or took too long); the inner service was not called.
    Refused {
        response: Ready<Response<ResponseBody<ResBody>>>,
    },
}

impl<S, ReqBody, ResBody> AsyncResponseFuture<S, ReqBody, ResBody>
where
    S: tower::Service<Request<ReqBody>>,
{
    pub(super) fn new(check: Check<S, ReqBody>, settings: Arc<AsyncSettings>) -> Self {
        Self {
            state: State::Checking { check },
            settings,
        }
    }
}

impl<S, ReqBody, ResBody> Future for AsyncResponseFuture<S, ReqBody, ResBody>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Checking { check } => {
                    let Checked {
                        request,
                        mut inner,
                        verdict,
                    } = ready!(check.as_mut().poll(cx));
                    match verdict {
                        Some(Verdict::Allow) => State::Inner {
                            future: inner.call(request),
                        },
                        Some(Verdict::Deny { status, reason }) => {
                            tracing::debug!(%status, %reason, "the validator refused the request");
                            let mut response = refusal("auth", status, reason);
                            if let (StatusCode::UNAUTHORIZED, Some(challenge)) =
                                (status, &this.settings.challenge)
                            {
                                response
                                    .headers_mut()
                                    .insert(header::WWW_AUTHENTICATE, challenge.clone());
                            }
                            State::Refused {
                                response: std::future::ready(response),
                            }
                        }
                        None => {
                            let after = duration::format(this.settings.timeout);
                            tracing::warn!(after, "the validator did not decide in time");
                            State::Refused {
                                response: std::future::ready(refusal(
                                    "auth",
                                    StatusCode::SERVICE_UNAVAILABLE,
                                    format_args!(
                                        "the check of this request's credentials did not finish \
                                         within {after}; try again later"
                                    ),
                                )),
                            }
                        }
                    }
                }
                StateProj::Inner { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::Inner)));
                }
                StateProj::Refused { response } => return Pin::new(response).poll(cx).map(Ok),
            };
            this.state.set(next);
        }
    }
}

impl<S, ReqBody, ResBody> fmt::Debug for AsyncResponseFuture<S, ReqBody, ResBody>
where
    S: tower::Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Checking { .. } => "Checking",
            State::Inner { .. } => "Inner",
            State::Refused { .. } => "Refused",
        };
        f.debug_struct("AsyncResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

//! The strip-path-prefix step of the ingress stack: a request routed by its path
//! (`/t/app/x` on a host that is not a tunnel's) reaches the local service as `/x`, and learns
//! the prefix from `X-Forwarded-Prefix`, as it would behind any reverse proxy mounted on a path.

use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Request, Uri, uri::PathAndQuery};

static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// Put in the request extensions by the resolve step when the path named the tunnel: the first
/// `prefix_len` bytes of the path (`/t/app`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RoutedByPath {
    pub(crate) prefix_len: usize,
}

/// Applies [`StripPathPrefix`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StripPathPrefixLayer;

impl<S> tower::Layer<S> for StripPathPrefixLayer {
    type Service = StripPathPrefix<S>;

    fn layer(&self, inner: S) -> StripPathPrefix<S> {
        StripPathPrefix { inner }
    }
}

/// Removes the path prefix that named the tunnel; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct StripPathPrefix<S> {
    inner: S,
}

impl<S, B> tower::Service<Request<B>> for StripPathPrefix<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> S::Future {
        if let Some(RoutedByPath { prefix_len }) = request.extensions_mut().remove() {
            strip(&mut request, prefix_len);
        }
        self.inner.call(request)
    }
}

/// Removes the first `len` bytes of the path (`/t/app`), which name the tunnel, and tells the
/// local service in `X-Forwarded-Prefix`.
fn strip<B>(request: &mut Request<B>, len: usize) {
    let uri = request.uri();
    let prefix = uri.path().get(..len).unwrap_or_default().to_owned();
    let rest = uri
        .path_and_query()
        .map_or("", |pq| pq.as_str())
        .get(len..)
        .unwrap_or_default();
    let rest = if rest.starts_with('/') {
        rest.to_owned()
    } else {
        format!("/{rest}")
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = PathAndQuery::try_from(rest).ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    if let Ok(prefix) = HeaderValue::from_str(&prefix) {
        request
            .headers_mut()
            .insert(X_FORWARDED_PREFIX.clone(), prefix);
    }
}

#[cfg(test)]
mod tests {
    use tower::{ServiceBuilder, ServiceExt};

    use super::*;

    #[test]
    fn path_prefixes_are_stripped_and_named() {
        let mut request = Request::builder()
            .uri("http://localhost/t/app/x/y?q=1")
            .body(())
            .unwrap();
        strip(&mut request, "/t/app".len());
        assert_eq!(request.uri().path_and_query().unwrap().as_str(), "/x/y?q=1");
        assert_eq!(request.headers()["x-forwarded-prefix"], "/t/app");

        let mut bare = Request::builder().uri("/t/app?q").body(()).unwrap();
        strip(&mut bare, "/t/app".len());
        assert_eq!(bare.uri().path_and_query().unwrap().as_str(), "/?q");
    }

    #[tokio::test]
    async fn only_requests_routed_by_path_are_rewritten() {
        let service = ServiceBuilder::new()
            .layer(StripPathPrefixLayer)
            .service_fn(|request: Request<()>| async move {
                Ok::<_, std::convert::Infallible>(request.uri().to_string())
            });
        let by_host = Request::builder().uri("/t/app/x").body(()).unwrap();
        assert_eq!(service.clone().oneshot(by_host).await.unwrap(), "/t/app/x");
        let mut by_path = Request::builder().uri("/t/app/x").body(()).unwrap();
        by_path
            .extensions_mut()
            .insert(RoutedByPath { prefix_len: 6 });
        assert_eq!(service.oneshot(by_path).await.unwrap(), "/x");
    }
}

//! [`LocalHttpForwarder`]: the bottom of a client's HTTP path, which sends each request to its
//! local service over a pooled HTTP/1.1 connection and streams the response back.

use std::{
    error::Error as _,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use http::{
    Request, Response, StatusCode, Uri, Version,
    header::UPGRADE,
    uri::{PathAndQuery, Scheme},
};
use http_body_util::BodyExt;
use hyper::upgrade::OnUpgrade;
use hyper_util::{
    client::legacy::{self, Client},
    rt::{TokioExecutor, TokioIo, TokioTimer},
};
use tokio::net::TcpStream;

use super::LocalTarget;
use crate::{
    BoxError, Error, TunnelBody,
    client::forward::connect_local,
    server::{hop_by_hop, tunnel_service::splice_upgrade},
};

/// How long an idle connection to a local service is kept for the next request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Sends each request to `http://{local_addr}` of the [`LocalTarget`] in its extensions, as a
/// proxy must: hop-by-hop headers stop here (those of an upgrade excepted), `Host` stays as the
/// visitor sent it, bodies stream both ways, and a `101` answer to a request that can upgrade
/// (one served by the client's stream server) splices the two upgraded connections.
///
/// Errors are this crate's [`Error`]s, boxed: [`Error::Local`] when the local service cannot be
/// reached (in `connect_local`'s words), [`Error::LocalReset`] when it breaks the connection.
#[derive(Debug, Clone)]
pub(super) struct LocalHttpForwarder {
    client: Client<LocalConnector, TunnelBody>,
}

impl LocalHttpForwarder {
    /// A forwarder that gives a local service `connect_timeout` to accept a connection, and
    /// keeps at most `max_idle` idle connections to each.
    pub(super) fn new(connect_timeout: Duration, max_idle: usize) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(max_idle)
            .build(LocalConnector { connect_timeout });
        Self { client }
    }
}

impl tower::Service<Request<TunnelBody>> for LocalHttpForwarder {
    type Response = Response<TunnelBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<TunnelBody>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<TunnelBody>) -> Self::Future {
        Box::pin(forward(self.client.clone(), request))
    }
}

async fn forward(
    client: Client<LocalConnector, TunnelBody>,
    mut request: Request<TunnelBody>,
) -> Result<Response<TunnelBody>, BoxError> {
    let target = request
        .extensions()
        .get::<LocalTarget>()
        .cloned()
        .ok_or("the local HTTP forwarder needs a LocalTarget in the request's extensions: take it from ClientHandle::local_target")?;
    *request.uri_mut() = local_uri(&target.local_addr, request.uri())?;
    *request.version_mut() = Version::HTTP_11;
    hop_by_hop::strip_request(request.headers_mut());
    // After the strip, an `Upgrade` header means the request asks to switch protocols. Only a
    // request from the stream server can be upgraded; one of a caller's own gets the `101`.
    let can_upgrade = request.extensions().get::<OnUpgrade>().is_some();
    let visitor_upgrade = (can_upgrade && request.headers().contains_key(UPGRADE))
        .then(|| hyper::upgrade::on(&mut request));

    let mut response = client.request(request).await.map_err(|err| {
        let err = local_error(err);
        if matches!(err.downcast_ref::<Error>(), Some(Error::Local(_))) {
            crate::metrics::local_connect_failed(&target.tunnel);
        }
        err
    })?;

    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        // hyper needs the upgrade's headers to complete the visitor's side.
        if let Some(visitor_upgrade) = visitor_upgrade {
            let local_upgrade = hyper::upgrade::on(&mut response);
            tokio::spawn(splice_upgrade(
                visitor_upgrade,
                async { local_upgrade.await.map(TokioIo::new) },
                target.tunnel.to_string(),
            ));
        }
    } else {
        hop_by_hop::strip(response.headers_mut());
    }
    Ok(response.map(|body| body.map_err(BoxError::from).boxed_unsync()))
}

/// `http://{local_addr}` with the path and query of `uri`, whatever form `uri` has.
fn local_uri(local_addr: &str, uri: &Uri) -> Result<Uri, BoxError> {
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Uri::builder()
        .scheme(Scheme::HTTP)
        .authority(local_addr)
        .path_and_query(path)
        .build()
        .map_err(|err| {
            Error::Config(format!(
                "local address {local_addr:?} cannot be the authority of a URI: {err}"
            ))
            .into()
        })
}

/// The pooled client's error as this crate tells it: the connector's own [`Error::Local`] when
/// the local service could not be reached, else the local service broke the connection.
fn local_error(err: legacy::Error) -> BoxError {
    if err.is_connect() {
        if let Some(Error::Local(failure)) = err.source().and_then(|s| s.downcast_ref::<Error>()) {
            return Error::Local(failure.clone()).into();
        }
    }
    Error::LocalReset(err.into()).into()
}

/// Connects the pooled client to a local service, in the byte splice's words when it cannot.
#[derive(Debug, Clone)]
struct LocalConnector {
    connect_timeout: Duration,
}

impl tower::Service<Uri> for LocalConnector {
    type Response = TokioIo<TcpStream>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connect_timeout = self.connect_timeout;
        Box::pin(async move {
            // The authority is the local address as configured (see `local_uri`).
            let local_addr = uri.authority().map_or("", |a| a.as_str());
            let tcp = connect_local(local_addr, connect_timeout)
                .await
                .map_err(Error::Local)?;
            Ok(TokioIo::new(tcp))
        })
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::Full;
    use tower::ServiceExt;

    use super::*;
    use crate::protocol::StreamRefusalCode;

    #[test]
    fn requests_go_to_the_local_address_with_their_path_and_query() {
        for (uri, local) in [
            ("/a/b?c=d", "http://127.0.0.1:3000/a/b?c=d"),
            ("http://app.localhost:8080/x?y", "http://127.0.0.1:3000/x?y"),
            ("app.localhost:8080", "http://127.0.0.1:3000/"),
        ] {
            let uri: Uri = uri.parse().expect("uri");
            let got = local_uri("127.0.0.1:3000", &uri).expect("a local URI");
            assert_eq!(got, local, "{uri}");
        }
        assert!(local_uri("not an authority", &Uri::from_static("/")).is_err());
    }

    #[tokio::test]
    async fn a_local_service_that_is_down_is_a_local_error_naming_its_address() {
        // A port that was free a moment ago refuses connections.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        drop(listener);

        let mut request = Request::new(Full::default().map_err(|n| match n {}).boxed_unsync());
        request
            .extensions_mut()
            .insert(LocalTarget::new("app", addr.as_str()));
        let err = LocalHttpForwarder::new(Duration::from_secs(5), 8)
            .oneshot(request)
            .await
            .expect_err("nothing listens there");
        match err.downcast_ref::<Error>() {
            Some(Error::Local(failure)) => {
                assert_eq!(failure.kind, StreamRefusalCode::LocalRefused);
                assert!(failure.message.contains(&addr), "{}", failure.message);
            }
            other => panic!("expected a local failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_request_without_a_target_is_an_error_not_a_panic() {
        let request = Request::new(TunnelBody::default());
        let err = LocalHttpForwarder::new(Duration::from_secs(5), 8)
            .oneshot(request)
            .await
            .expect_err("no target");
        assert!(err.to_string().contains("LocalTarget"), "{err}");
    }
}

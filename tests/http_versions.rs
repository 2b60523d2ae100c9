//! Visitors speak HTTP/1.1 or HTTP/2, and the ingress tells which before hyper reads a byte:
//! by ALPN over TLS, and by peeking at the first bytes over plain TCP (h2c with prior
//! knowledge), reading them only when they are too few to tell.

mod support;

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use http::{Request, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::*;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// One HTTP/2 `GET` over `io`, with `:authority` `host`; the status, version and body.
async fn h2_get<T>(io: T, host: &str, path: &str) -> (StatusCode, Version, String)
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    let request = Request::get(format!("http://{host}{path}"))
        .body(full(b""))
        .expect("request");
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .expect("the ingress answers within 10 s")
        .expect("the ingress answers over HTTP/2");
    let version = response.version();
    let (status, _, body) = read_response(response).await;
    (status, version, body)
}

/// One HTTP/1.1 `GET` over `io`, with `Host` `host`; the status and body.
async fn h1_get<T>(io: T, host: &str, path: &str) -> (StatusCode, String)
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    let request = Request::get(path)
        .header("host", host)
        .body(full(b""))
        .expect("request");
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .expect("the ingress answers within 10 s")
        .expect("the ingress answers over HTTP/1.1");
    let (status, _, body) = read_response(response).await;
    (status, body)
}

#[tokio::test]
async fn h2c_visitors_with_prior_knowledge_are_served_over_plain_http() {
    init_tracing();
    let local = serve(local_service()).await;
    let server = start_server().await;
    let client = start_client(&server, "app", local).await;
    let host = format!("app.localhost:{}", server.http_addr().port());

    let tcp = TcpStream::connect(server.http_addr())
        .await
        .expect("connect");
    let (status, version, body) = h2_get(tcp, &host, "/hello").await;
    assert_eq!(
        (status, version, body.as_str()),
        (
            StatusCode::OK,
            Version::HTTP_2,
            "hello from the local service"
        )
    );
    // HTTP/1.1 on the same port still works.
    let (status, body) = Visitor::new(server.http_addr())
        .get("app.localhost", "/hello")
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "hello from the local service")
    );

    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

/// Writes at most `first` bytes in its first write, so that the HTTP/2 preface leaves in two
/// pieces (`TCP_NODELAY` is on, so usually in two segments too). Whether the server's peek sees
/// one piece or both, the visitor must be served.
struct SplitFirstWrite {
    tcp: TcpStream,
    first: Option<usize>,
}

impl AsyncRead for SplitFirstWrite {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for SplitFirstWrite {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let len = match self.first {
            Some(first) => first.min(buf.len()),
            None => buf.len(),
        };
        let written = Pin::new(&mut self.tcp).poll_write(cx, &buf[..len]);
        if let Poll::Ready(Ok(_)) = written {
            self.first = None;
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn an_h2c_preface_that_arrives_in_pieces_is_still_http2() {
    init_tracing();
    let local = serve(local_service()).await;
    let server = start_server().await;
    let client = start_client(&server, "app", local).await;
    let host = format!("app.localhost:{}", server.http_addr().port());

    for first in [1, 5, 23] {
        let tcp = TcpStream::connect(server.http_addr())
            .await
            .expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let split = SplitFirstWrite {
            tcp,
            first: Some(first),
        };
        let (status, version, body) = h2_get(split, &host, "/hello").await;
        assert_eq!(
            (status, version, body.as_str()),
            (
                StatusCode::OK,
                Version::HTTP_2,
                "hello from the local service"
            ),
            "preface split after {first} bytes"
        );
    }

    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

#[tokio::test]
async fn https_visitors_get_the_version_they_chose_by_alpn() {
    init_tracing();
    let pki = TestPki::new();
    let local = serve(local_service()).await;
    let server = server_builder()
        .https(loopback(), pki.server_tls())
        .build()
        .expect("server config")
        .start()
        .await
        .expect("server starts");
    let https = server.https_addr().expect("the HTTPS ingress is up");
    let client = start_client(&server, "app", local).await;
    let host = format!("app.localhost:{}", https.port());
    let versions = [&rustls::version::TLS13];

    let h2 = tls_connect(https, "localhost", pki.client_config(&versions, &[b"h2"]))
        .await
        .expect("TLS handshake");
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (status, version, body) = h2_get(h2, &host, "/hello").await;
    assert_eq!(
        (status, version, body.as_str()),
        (
            StatusCode::OK,
            Version::HTTP_2,
            "hello from the local service"
        )
    );

    // No ALPN at all is HTTP/1.1: HTTP/2 over TLS must be asked for (RFC 9113, section 3.2).
    let no_alpn = tls_connect(https, "localhost", pki.client_config(&versions, &[]))
        .await
        .expect("TLS handshake");
    assert_eq!(no_alpn.get_ref().1.alpn_protocol(), None);
    let (status, body) = h1_get(no_alpn, &host, "/hello").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "hello from the local service")
    );

    let (status, body) = HttpsVisitor::new(https, &pki)
        .get("app.localhost", "/hello")
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "hello from the local service")
    );

    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

#[tokio::test]
async fn visitors_that_connect_and_leave_do_not_disturb_the_ingress() {
    init_tracing();
    let local = serve(local_service()).await;
    let server = start_server().await;
    let client = start_client(&server, "app", local).await;

    for _ in 0..20 {
        drop(
            TcpStream::connect(server.http_addr())
                .await
                .expect("connect"),
        );
    }
    let (status, _) = Visitor::new(server.http_addr())
        .get("app.localhost", "/hello")
        .await;
    assert_eq!(status, StatusCode::OK);

    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

#[tokio::test]
async fn visitors_that_stall_before_a_version_is_known_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    init_tracing();
    let server = server_builder()
        .header_read_timeout(Duration::from_millis(300))
        .build()
        .expect("server config")
        .start()
        .await
        .expect("server starts");

    // Silent, and stalled inside the HTTP/2 preface: both wait on the header-read timeout.
    for first in [&b""[..], b"PRI * HT"] {
        let mut tcp = TcpStream::connect(server.http_addr())
            .await
            .expect("connect");
        tcp.write_all(first).await.expect("write");
        let mut buf = [0; 16];
        let read = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .expect("the server hangs up within 10 s");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }

    server.shutdown().await;
}

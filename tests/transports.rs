//! Every transport end to end — tcp://, tls://, ws:// and wss:// — with certificates made in
//! the test, real TLS and real HTTP clients; and every way of getting a transport wrong fails
//! fast, with a message that says what is wrong.

mod support;

use std::{net::SocketAddr, sync::LazyLock, time::Duration};

use ferrotunnel::{
    ClientBuilder, ClientHandle, ClientState, Error, ServerHandle, transport::WS_CONNECT_PATH,
};
use http::{HeaderMap, StatusCode};
use rustls::version::{TLS12, TLS13};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bound on any connect attempt that must fail: failing slowly is a hang, not an error.
const FAIL_WITHIN: Duration = Duration::from_secs(10);
/// Bound on any visitor's request.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// A body larger than one WebSocket message (64 KiB), so that it crosses several. Text, as
/// the visitors read bodies as text.
static LARGE_BODY: LazyLock<Vec<u8>> =
    LazyLock::new(|| (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect());

/// A server with TLS on its control port and an HTTPS ingress, both with `pki`'s certificate.
async fn start_tls_server(pki: &TestPki) -> ServerHandle {
    server_builder()
        .tls(pki.server_tls())
        .https(loopback(), pki.server_tls())
        .build()
        .expect("server config")
        .start()
        .await
        .expect("server starts")
}

fn https_addr(server: &ServerHandle) -> SocketAddr {
    server
        .https_addr()
        .expect("the server has an HTTPS ingress")
}

/// A client of `server` at `url`, serving tunnel `name` from `local`.
fn client_at(server: &ServerHandle, url: String, name: &str, local: SocketAddr) -> ClientBuilder {
    client_builder(server)
        .server_url(url)
        .subdomain(name)
        .local_address(local.to_string())
}

/// Starts a client, failing the test if it neither connects nor fails within [`FAIL_WITHIN`].
async fn start_within(client: ClientBuilder) -> ferrotunnel::Result<ClientHandle> {
    let client = client.build().expect("client config");
    tokio::time::timeout(FAIL_WITHIN, client.start())
        .await
        .unwrap_or_else(|_| {
            panic!("the client neither connected nor failed within {FAIL_WITHIN:?}")
        })
}

/// The error of a client start that must fail.
async fn start_error(client: ClientBuilder) -> Error {
    match start_within(client).await {
        Ok(client) => panic!(
            "the client should not connect, but got {:?}",
            client.tunnels()
        ),
        Err(err) => err,
    }
}

/// How a visitor reaches the ingress.
enum Through<'a> {
    Http(&'a Visitor),
    Https(&'a HttpsVisitor),
}

impl Through<'_> {
    async fn call(
        &self,
        host: &str,
        method: &str,
        path: &str,
        body: &'static [u8],
    ) -> (StatusCode, HeaderMap, String) {
        let answer = async {
            match self {
                Through::Http(visitor) => visitor.call(host, method, path, body).await,
                Through::Https(visitor) => visitor.call(host, method, path, body).await,
            }
        };
        tokio::time::timeout(ANSWER_WITHIN, answer)
            .await
            .unwrap_or_else(|_| {
                panic!("{method} {host}{path} got no answer within {ANSWER_WITHIN:?}")
            })
    }

    async fn get(&self, host: &str, path: &str) -> (StatusCode, String) {
        let (status, _, body) = self.call(host, "GET", path, b"").await;
        (status, body)
    }
}

/// A GET, a POST with a body of several WebSocket messages, and a non-200 status with a custom
/// header all reach the local service behind `host` and come back intact.
/// After a client failed, the server still takes a good one at `url` (trusting `pki`'s CA),
/// and serves its tunnel.
async fn a_good_client_still_serves(
    server: &ServerHandle,
    url: String,
    pki: &TestPki,
    local: SocketAddr,
) {
    let client = start_within(client_at(server, url, "good", local).ca_pem(pki.ca_pem.clone()))
        .await
        .expect("a good client connects afterwards");
    let (status, _) = Through::Http(&Visitor::new(server.http_addr()))
        .get("good.localhost", "/hello")
        .await;
    assert_eq!(status, StatusCode::OK);
    drop(client);
}

async fn assert_tunnel_serves(through: Through<'_>, host: &str) {
    let (status, _, body) = through.call(host, "GET", "/hello", b"").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "hello from the local service")
    );

    let (status, _, body) = through.call(host, "POST", "/echo", b"posted body").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "posted body"));

    let (status, _, body) = through.call(host, "POST", "/echo", &LARGE_BODY).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.as_bytes() == LARGE_BODY.as_slice(),
        "the echo of {} bytes came back as {} different bytes",
        LARGE_BODY.len(),
        body.len()
    );

    let (status, headers, body) = through.call(host, "GET", "/status/418", b"").await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
    assert_eq!(headers["x-custom"], "preserved");
    assert_eq!(body, "status 418");
}

// === Every transport end to end ===

#[tokio::test]
async fn tcp_carries_a_tunnel_end_to_end() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let url = format!("tcp://{}", server.control_addr());
    let client = start_within(client_at(&server, url, "plain", local))
        .await
        .expect("connects over tcp://");
    assert_tunnel_serves(
        Through::Http(&Visitor::new(server.http_addr())),
        "plain.localhost",
    )
    .await;
    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

#[tokio::test]
async fn tls_carries_a_tunnel_end_to_end() {
    let pki = TestPki::new();
    let local = serve(local_service()).await;
    let server = start_tls_server(&pki).await;
    // An IP address: the certificate's IP SAN is what is checked.
    let url = format!("tls://127.0.0.1:{}", server.control_addr().port());
    let client = start_within(client_at(&server, url, "secret", local).ca_pem(pki.ca_pem.clone()))
        .await
        .expect("connects over tls:// trusting the test CA");
    assert_tunnel_serves(
        Through::Http(&Visitor::new(server.http_addr())),
        "secret.localhost",
    )
    .await;
    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

#[tokio::test]
async fn ws_carries_a_tunnel_end_to_end() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    // No path: the client upgrades at the documented connect path of the HTTP ingress.
    let url = format!("ws://{}", server.http_addr());
    let client = start_within(client_at(&server, url, "socket", local))
        .await
        .expect("connects over ws://");
    wait_for_tunnels(&server, &["socket"], Duration::from_secs(5)).await;
    assert_tunnel_serves(
        Through::Http(&Visitor::new(server.http_addr())),
        "socket.localhost",
    )
    .await;
    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

#[tokio::test]
async fn wss_carries_a_tunnel_end_to_end_and_visitors_reach_it_over_https() {
    let pki = TestPki::new();
    let local = serve(local_service()).await;
    // TLS on the HTTPS ingress only: the control port stays plain and unused.
    let server = server_builder()
        .https(loopback(), pki.server_tls())
        .build()
        .expect("server config")
        .start()
        .await
        .expect("server starts");
    let https = https_addr(&server);
    // A DNS name this time: the certificate's DNS SAN is what is checked.
    let url = format!("wss://localhost:{}{WS_CONNECT_PATH}", https.port());
    let client = start_within(client_at(&server, url, "both", local).ca_pem(pki.ca_pem.clone()))
        .await
        .expect("connects over wss:// trusting the test CA");
    assert_eq!(
        client.public_url(),
        format!("https://both.localhost:{}", https.port())
    );

    // The HTTPS ingress really is TLS, and carries the tunnel.
    let visitor = HttpsVisitor::new(https, &pki);
    let tls = visitor.connect().await;
    let (_, connection) = tls.get_ref();
    assert!(
        connection.protocol_version().is_some(),
        "a TLS version was negotiated"
    );
    assert_eq!(connection.alpn_protocol(), Some(&b"http/1.1"[..]));
    drop(tls);
    assert_tunnel_serves(Through::Https(&visitor), "both.localhost").await;
    let (_, seen) = Through::Https(&visitor)
        .get("both.localhost", "/headers")
        .await;
    assert!(seen.contains("x-forwarded-proto: https"), "{seen}");

    // Plain HTTP visitors reach the same tunnel on the HTTP ingress.
    assert_tunnel_serves(
        Through::Http(&Visitor::new(server.http_addr())),
        "both.localhost",
    )
    .await;

    // Plain HTTP sent to the HTTPS port gets no HTTP answer: it is not served in the clear.
    let mut tcp = tokio::net::TcpStream::connect(https)
        .await
        .expect("connect");
    tcp.write_all(b"GET /hello HTTP/1.1\r\nHost: both.localhost\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer))
        .await
        .expect("the HTTPS port hangs up on plain HTTP")
        .ok();
    assert!(
        !answer.starts_with(b"HTTP/"),
        "the HTTPS port answered plain HTTP: {}",
        String::from_utf8_lossy(&answer)
    );

    client.shutdown().await.expect("client stops cleanly");
    server.shutdown().await;
}

// === Certificates ===

#[tokio::test]
async fn a_client_with_the_wrong_ca_fails_with_a_certificate_error() {
    let pki = TestPki::new();
    let local = serve(local_service()).await;
    let server = start_tls_server(&pki).await;
    // An unrelated CA, and one with the same name as the server's but another key (a CA that
    // was created again): webpki reports an unknown issuer for the first and a bad signature
    // for the second.
    for unrelated in [TestPki::with_ca_name("Some other CA"), TestPki::new()] {
        for url in [
            format!("tls://127.0.0.1:{}", server.control_addr().port()),
            format!("wss://localhost:{}", https_addr(&server).port()),
        ] {
            let client =
                client_at(&server, url.clone(), "nope", local).ca_pem(unrelated.ca_pem.clone());
            match start_error(client).await {
                Error::Tls(message) => {
                    assert!(message.contains("certificate"), "{url}: {message}");
                    assert!(message.contains("CA"), "{url}: {message}");
                }
                other => panic!("{url}: expected a certificate error, got {other:?}"),
            }
        }
    }
    assert!(server.tunnels().is_empty());

    // The server carries on: the right CA connects.
    let url = format!("tls://127.0.0.1:{}", server.control_addr().port());
    a_good_client_still_serves(&server, url, &pki, local).await;
}

// === The wrong transport for the port ===

#[tokio::test]
async fn a_plaintext_client_against_a_tls_control_port_fails_fast_and_the_server_carries_on() {
    let mut logs = LogCapture::start();
    let pki = TestPki::new();
    let local = serve(local_service()).await;
    let server = start_tls_server(&pki).await;

    let url = format!("tcp://{}", server.control_addr());
    let message = start_error(client_at(&server, url, "clear", local))
        .await
        .to_string();
    assert!(message.contains("tls://"), "{message}");

    // The server says why in its log, and keeps serving.
    logs.wait_for(&["client connection failed", "tls://"], FAIL_WITHIN)
        .await;
    let url = format!("tls://localhost:{}", server.control_addr().port());
    a_good_client_still_serves(&server, url, &pki, local).await;
}

#[tokio::test]
async fn a_tcp_client_against_an_http_port_fails_with_a_clear_message() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let url = format!("tcp://{}", server.http_addr());
    let message = start_error(client_at(&server, url, "nope", local))
        .await
        .to_string();
    assert!(message.contains("HTTP"), "{message}");
    assert!(message.contains("ws://"), "{message}");
}

#[tokio::test]
async fn a_tls_client_against_a_plain_port_fails_with_a_clear_message() {
    let pki = TestPki::new();
    let local = serve(local_service()).await;
    let server = start_server().await;

    // tls:// at a plain control port.
    let url = format!("tls://127.0.0.1:{}", server.control_addr().port());
    match start_error(client_at(&server, url, "nope", local).ca_pem(pki.ca_pem.clone())).await {
        Error::Tls(message) => assert!(message.contains("tcp://"), "{message}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }

    // wss:// at a plain HTTP ingress.
    let url = format!("wss://127.0.0.1:{}", server.http_addr().port());
    match start_error(client_at(&server, url, "nope", local).ca_pem(pki.ca_pem.clone())).await {
        Error::Tls(message) => assert!(message.contains("ws://"), "{message}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    assert!(server.tunnels().is_empty());
    let _client = start_client(&server, "good", local).await;
}

// === The WebSocket endpoint ===

#[tokio::test]
async fn a_ws_client_at_a_wrong_path_is_told_the_status() {
    let pki = TestPki::new();
    let local = serve(local_service()).await;
    let server = server_builder()
        .https(loopback(), pki.server_tls())
        .build()
        .expect("server config")
        .start()
        .await
        .expect("server starts");
    for url in [
        format!("ws://{}/not/the/connect/path", server.http_addr()),
        format!(
            "wss://localhost:{}/not/the/connect/path",
            https_addr(&server).port()
        ),
    ] {
        let client = client_at(&server, url.clone(), "lost", local).ca_pem(pki.ca_pem.clone());
        match start_error(client).await {
            Error::WebSocket(message) => {
                assert!(message.contains("404"), "{url}: {message}");
                assert!(
                    message.contains("/not/the/connect/path"),
                    "{url}: {message}"
                );
            }
            other => panic!("{url}: expected a WebSocket error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_plain_request_to_the_connect_path_is_a_clear_400() {
    let pki = TestPki::new();
    let server = server_builder()
        .https(loopback(), pki.server_tls())
        .build()
        .expect("server config")
        .start()
        .await
        .expect("server starts");
    let host = "localhost";
    let (status, body) = Through::Http(&Visitor::new(server.http_addr()))
        .get(host, WS_CONNECT_PATH)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("WebSocket"), "{body}");

    let (status, _, body) = Through::Https(&HttpsVisitor::new(https_addr(&server), &pki))
        .call(host, "POST", WS_CONNECT_PATH, b"not a session")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("WebSocket"), "{body}");
    assert!(server.tunnels().is_empty());
}

// === TLS versions ===

#[tokio::test]
async fn the_tunnel_port_speaks_tls_1_3_only() {
    let mut logs = LogCapture::start();
    let pki = TestPki::new();
    let server = start_tls_server(&pki).await;
    let control = server.control_addr();

    let tls12_only = pki.client_config(&[&TLS12], &[]);
    let refused = tls_connect(control, "localhost", tls12_only.clone())
        .await
        .expect_err("a TLS 1.2-only client completed a handshake with the control port");
    let alert = refused
        .get_ref()
        .and_then(|err| err.downcast_ref::<rustls::Error>());
    assert!(
        matches!(
            alert,
            Some(rustls::Error::AlertReceived(
                rustls::AlertDescription::ProtocolVersion
            ))
        ),
        "expected a protocol_version alert, got {refused}"
    );
    logs.wait_for(&["client connection failed", "TLS 1.3"], FAIL_WITHIN)
        .await;

    let tls13 = tls_connect(control, "localhost", pki.client_config(&[&TLS13], &[]))
        .await
        .expect("a TLS 1.3 client completes the handshake");
    assert_eq!(
        tls13.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );

    // Browsers are another matter: the HTTPS ingress also speaks TLS 1.2.
    let https = tls_connect(https_addr(&server), "localhost", tls12_only)
        .await
        .expect("the HTTPS ingress accepts TLS 1.2");
    assert_eq!(
        https.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
}

#[tokio::test]
async fn a_client_refuses_a_server_without_tls_1_3() {
    let pki = TestPki::new();
    let local = serve(local_service()).await;
    // A TLS 1.2-only server with a certificate the client trusts.
    let listener = tokio::net::TcpListener::bind(loopback())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config(&[&TLS12]));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move { acceptor.accept(tcp).await });
        }
    });
    let server = start_server().await;
    let url = format!("tls://localhost:{}", addr.port());
    match start_error(client_at(&server, url, "old", local).ca_pem(pki.ca_pem.clone())).await {
        Error::Tls(message) => assert!(message.contains("TLS 1.3"), "{message}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

// === Reconnects ===

#[tokio::test]
async fn ws_and_wss_clients_reconnect_after_a_server_restart() {
    let pki = TestPki::new();
    let local = serve(local_service()).await;
    let server = server_builder()
        .https(loopback(), pki.server_tls())
        .build()
        .expect("server config")
        .start()
        .await
        .expect("server starts");
    let (http, https) = (server.http_addr(), https_addr(&server));
    let ws = start_within(client_at(&server, format!("ws://{http}"), "ws", local))
        .await
        .expect("connects over ws://");
    let wss = start_within(
        client_at(
            &server,
            format!("wss://localhost:{}", https.port()),
            "wss",
            local,
        )
        .ca_pem(pki.ca_pem.clone()),
    )
    .await
    .expect("connects over wss://");
    let (mut ws_state, mut wss_state) = (ws.state(), wss.state());

    server.shutdown().await;
    for state in [&mut ws_state, &mut wss_state] {
        tokio::time::timeout(
            Duration::from_secs(10),
            state.wait_for(|s| matches!(s, ClientState::Reconnecting { .. })),
        )
        .await
        .expect("the client notices within 10 s")
        .expect("client alive");
    }
    let server = server_builder()
        .http_addr(http)
        .https(https, pki.server_tls())
        .build()
        .expect("server config")
        .start()
        .await
        .expect("restart on the same ports");
    for state in [&mut ws_state, &mut wss_state] {
        tokio::time::timeout(
            Duration::from_secs(10),
            state.wait_for(|s| matches!(s, ClientState::Connected { .. })),
        )
        .await
        .expect("reconnects within 10 s")
        .expect("client alive");
    }
    let visitor = Visitor::new(server.http_addr());
    let visitor = Through::Http(&visitor);
    for host in ["ws.localhost", "wss.localhost"] {
        assert_eq!(
            visitor.get(host, "/hello").await.0,
            StatusCode::OK,
            "{host}"
        );
    }
    let https_visitor = HttpsVisitor::new(https, &pki);
    assert_eq!(
        Through::Https(&https_visitor)
            .get("wss.localhost", "/hello")
            .await
            .0,
        StatusCode::OK
    );
}

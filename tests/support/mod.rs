//! Shared helpers for the end-to-end tests: real servers, clients and local services on
//! 127.0.0.1:0, and a real HTTP client.
#![allow(dead_code, unreachable_pub)]

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::{Path, ws::WebSocketUpgrade},
    http::{HeaderMap, StatusCode},
    routing::{any, get, post},
};
use bytes::Bytes;
use ferrotunnel::{Client, ClientBuilder, ClientHandle, Server, ServerBuilder, ServerHandle};
use futures::StreamExt;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper_util::{
    client::legacy::Client as HyperClient,
    rt::{TokioExecutor, TokioIo},
};
use rustls::{
    SupportedProtocolVersion,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject},
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;

pub const TOKEN: &str = "test-token";

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Serves `router` on a fresh loopback port.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind local service");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("local service") });
    addr
}

/// A local service with the routes the tests need.
pub fn local_service() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello from the local service" }))
        .route(
            "/echo",
            post(|body: Body| async move { Body::from_stream(body.into_data_stream()) }),
        )
        .route(
            "/headers",
            any(|headers: HeaderMap| async move {
                let mut lines: Vec<String> = headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?")))
                    .collect();
                lines.sort();
                lines.join("\n")
            }),
        )
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move {
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
                (
                    status,
                    [("x-custom", "preserved")],
                    format!("status {code}"),
                )
            }),
        )
        .route(
            "/download/{bytes}",
            get(|Path(n): Path<u64>| async move { Body::from_stream(pattern_stream(n)) }),
        )
        .route("/never", get(std::future::pending::<&'static str>))
        .route(
            "/ws",
            any(|ws: WebSocketUpgrade| async move {
                ws.on_upgrade(|mut socket| async move {
                    while let Some(Ok(message)) = socket.recv().await {
                        if socket.send(message).await.is_err() {
                            break;
                        }
                    }
                })
            }),
        )
}

/// `len` bytes of a deterministic pattern, in 64 KiB chunks.
pub fn pattern_stream(len: u64) -> impl futures::Stream<Item = Result<Bytes, Infallible>> + Send {
    const CHUNK: u64 = 64 * 1024;
    futures::stream::iter((0..len.div_ceil(CHUNK)).map(move |i| {
        let size = CHUNK.min(len - i * CHUNK) as usize;
        Ok(Bytes::from(
            (0..size)
                .map(|j| ((i as usize * 7 + j * 31) % 251) as u8)
                .collect::<Vec<u8>>(),
        ))
    }))
}

/// A server on loopback with test-friendly timings.
pub fn server_builder() -> ServerBuilder {
    Server::builder()
        .control_addr(loopback())
        .http_addr(loopback())
        .domain("localhost")
        .token(TOKEN)
        .heartbeat_interval(Duration::from_secs(1))
        .grace_period(Duration::from_secs(5))
}

pub async fn start_server() -> ServerHandle {
    server_builder()
        .build()
        .expect("server config")
        .start()
        .await
        .expect("server starts")
}

/// A client of `server` with test-friendly timings.
pub fn client_builder(server: &ServerHandle) -> ClientBuilder {
    Client::builder()
        .server_url(format!("tcp://{}", server.control_addr()))
        .token(TOKEN)
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .grace_period(Duration::from_secs(5))
}

pub async fn start_client(server: &ServerHandle, name: &str, local: SocketAddr) -> ClientHandle {
    client_builder(server)
        .subdomain(name)
        .local_address(local.to_string())
        .build()
        .expect("client config")
        .start()
        .await
        .expect("client starts")
}

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub type TestBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A real HTTP/1.1 client that connects to `ingress` whatever the URL's host, so that
/// `app.localhost` works without DNS.
#[derive(Clone)]
pub struct Visitor {
    ingress: SocketAddr,
    client: HyperClient<hyper_util::client::legacy::connect::HttpConnector, TestBody>,
}

impl Visitor {
    pub fn new(ingress: SocketAddr) -> Self {
        Self {
            ingress,
            client: HyperClient::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn request(
        &self,
        host: &str,
        method: &str,
        path: &str,
        body: TestBody,
    ) -> http::Request<TestBody> {
        http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.ingress))
            .header("host", host)
            .body(body)
            .expect("request")
    }

    pub async fn send(
        &self,
        request: http::Request<TestBody>,
    ) -> http::Response<hyper::body::Incoming> {
        self.client
            .request(request)
            .await
            .expect("the ingress answers")
    }

    /// Sends a request and reads the whole response.
    pub async fn call(
        &self,
        host: &str,
        method: &str,
        path: &str,
        body: &'static [u8],
    ) -> (StatusCode, HeaderMap, String) {
        let request = self.request(host, method, path, full(body));
        let response = self.send(request).await;
        read_response(response).await
    }

    pub async fn get(&self, host: &str, path: &str) -> (StatusCode, String) {
        let (status, _, body) = self.call(host, "GET", path, b"").await;
        (status, body)
    }
}

/// Reads a whole response: status, headers and the body as text.
pub async fn read_response(
    response: http::Response<hyper::body::Incoming>,
) -> (StatusCode, HeaderMap, String) {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("response body")
        .to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

pub fn full(bytes: &'static [u8]) -> TestBody {
    Full::new(Bytes::from_static(bytes))
        .map_err(|never| match never {})
        .boxed()
}

/// Waits until `server` lists exactly `names` as live, or panics after `limit`.
pub async fn wait_for_tunnels(server: &ServerHandle, names: &[&str], limit: Duration) {
    let mut watch = server.watch_tunnels();
    let wanted = |tunnels: &Vec<ferrotunnel::TunnelStatus>| {
        tunnels.iter().map(|t| t.name.as_str()).collect::<Vec<_>>() == names
    };
    tokio::time::timeout(limit, watch.wait_for(wanted))
        .await
        .unwrap_or_else(|_| panic!("tunnels did not become {names:?} within {limit:?}"))
        .expect("server alive");
}

/// Reads a whole body stream, for tests that only need the bytes.
pub async fn body_stream_len(body: hyper::body::Incoming) -> u64 {
    let mut stream = body.into_data_stream();
    let mut total = 0;
    while let Some(chunk) = stream.next().await {
        total += chunk.expect("body chunk").len() as u64;
    }
    total
}

/// A TCP proxy between a client and the server's control port that a test can break on
/// purpose: freeze it (both sockets stay open, no byte passes: a hung peer) or cut the
/// client's side (the client sees its connection drop while the server sees nothing at all).
pub struct FaultyProxy {
    pub addr: SocketAddr,
    faults: tokio::sync::watch::Sender<Fault>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Stop moving bytes; keep both sockets open.
    Freeze,
    /// Close the client's side of every current connection; keep the server's side open and silent.
    CutClientSide,
}

impl FaultyProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let (faults, _) = tokio::sync::watch::channel(Fault::None);
        let sender = faults.clone();
        tokio::spawn(async move {
            while let Ok((downstream, _)) = listener.accept().await {
                let Ok(upstream) = tokio::net::TcpStream::connect(upstream).await else {
                    continue;
                };
                let mut faults = sender.subscribe();
                faults.mark_unchanged();
                tokio::spawn(async move {
                    let (mut down_read, mut down_write) = downstream.into_split();
                    let (mut up_read, mut up_write) = upstream.into_split();
                    let pump = async {
                        tokio::try_join!(
                            tokio::io::copy(&mut down_read, &mut up_write),
                            tokio::io::copy(&mut up_read, &mut down_write),
                        )
                    };
                    let fault = tokio::select! {
                        _ = pump => return,
                        fault = faults.wait_for(|f| *f != Fault::None) => fault.map(|f| *f).unwrap_or(Fault::None),
                    };
                    if fault == Fault::CutClientSide {
                        drop((down_read, down_write));
                    }
                    // Hold whatever is still open, silent, until the test ends.
                    std::future::pending::<()>().await;
                });
            }
        });
        Self { addr, faults }
    }

    pub fn inject(&self, fault: Fault) {
        self.faults.send_replace(fault);
    }

    /// Back to normal for connections made from now on.
    pub fn heal(&self) {
        self.faults.send_replace(Fault::None);
    }
}

// === TLS ===

/// A certificate authority made for one test, and a server certificate it issued for
/// `localhost` and `127.0.0.1`: the PEMs a user would put in `--tls-cert`, `--tls-key` and `--ca`.
pub struct TestPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestPki {
    pub fn new() -> Self {
        Self::with_ca_name("FerroTunnel test CA")
    }

    /// With a CA of this name. Two CAs of the same name but different keys are what a user
    /// gets by creating a CA again.
    pub fn with_ca_name(ca_name: &str) -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, ca_name);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

        let key = rcgen::KeyPair::generate().expect("server key");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &*ca).expect("server certificate");
        Self {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// The server's side, as `ServerBuilder::tls` and `ServerBuilder::https` take it.
    pub fn server_tls(&self) -> ferrotunnel::transport::ServerTls {
        ferrotunnel::transport::ServerTls::from_pem(
            self.cert_pem.as_bytes(),
            self.key_pem.as_bytes(),
        )
        .expect("the test certificate and key load")
    }

    /// A rustls client configuration that trusts this CA only, with the given TLS versions
    /// and ALPN protocols: a client that is not FerroTunnel's.
    pub fn client_config(
        &self,
        versions: &[&'static SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.expect("CA PEM")).expect("CA certificate");
        }
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// A rustls server configuration with this certificate and the given TLS versions: a
    /// server that is not FerroTunnel's.
    pub fn server_config(
        &self,
        versions: &[&'static SupportedProtocolVersion],
    ) -> Arc<rustls::ServerConfig> {
        let chain = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate PEM");
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("key PEM");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("certificate and key match");
        Arc::new(config)
    }
}

/// Runs a TLS client handshake with `addr` for `server_name`, bounded by 10 s.
pub async fn tls_connect(
    addr: SocketAddr,
    server_name: &str,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from(server_name.to_owned()).expect("a valid server name");
    let handshake = async {
        let tcp = TcpStream::connect(addr).await?;
        tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
    };
    tokio::time::timeout(Duration::from_secs(10), handshake)
        .await
        .unwrap_or_else(|_| {
            panic!("the TLS handshake with {addr} neither finished nor failed within 10 s")
        })
}

/// A real HTTPS/1.1 client for the HTTPS ingress: trusts the test CA only, verifies the
/// certificate for `localhost`, and sends whatever `Host` the test asks for. One connection
/// per request, so every request also proves the handshake.
#[derive(Clone)]
pub struct HttpsVisitor {
    ingress: SocketAddr,
    config: Arc<rustls::ClientConfig>,
}

impl HttpsVisitor {
    pub fn new(ingress: SocketAddr, pki: &TestPki) -> Self {
        Self {
            ingress,
            config: pki.client_config(
                &[&rustls::version::TLS13, &rustls::version::TLS12],
                &[b"http/1.1"],
            ),
        }
    }

    /// A TLS connection to the ingress, its handshake done.
    pub async fn connect(&self) -> TlsStream<TcpStream> {
        tls_connect(self.ingress, "localhost", self.config.clone())
            .await
            .expect("the HTTPS ingress completes a TLS handshake")
    }

    /// Sends a request over a fresh TLS connection and reads the whole response.
    pub async fn call(
        &self,
        host: &str,
        method: &str,
        path: &str,
        body: &'static [u8],
    ) -> (StatusCode, HeaderMap, String) {
        let tls = self.connect().await;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("HTTP/1.1 over TLS");
        tokio::spawn(connection);
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", host)
            .body(full(body))
            .expect("request");
        let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
            .await
            .expect("the HTTPS ingress answers within 10 s")
            .expect("the HTTPS ingress answers");
        read_response(response).await
    }

    pub async fn get(&self, host: &str, path: &str) -> (StatusCode, String) {
        let (status, _, body) = self.call(host, "GET", path, b"").await;
        (status, body)
    }
}

// === Logs ===

thread_local! {
    /// Where [`LogCapture`] wants this thread's log lines.
    static CAPTURE: std::cell::RefCell<Option<tokio::sync::watch::Sender<String>>> =
        const { std::cell::RefCell::new(None) };
}

/// Captures what is logged on this thread while it lives. A `#[tokio::test]` runtime is
/// current-thread, so that includes every task the server and client spawn. Tests wait for a
/// line with [`LogCapture::wait_for`] instead of sleeping.
///
/// One global subscriber writes each thread's lines to that thread's capture, if any. (A
/// per-thread subscriber would race: tracing caches whether anyone is interested in a log
/// statement process-wide, and another test's thread may settle that while no one is.) Do
/// not use it in a test binary that calls [`init_tracing`].
pub struct LogCapture {
    logs: tokio::sync::watch::Receiver<String>,
}

impl LogCapture {
    pub fn start() -> Self {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            let _ = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .with_writer(|| ThreadLogWriter)
                .try_init();
        });
        let (tx, logs) = tokio::sync::watch::channel(String::new());
        CAPTURE.with(|capture| *capture.borrow_mut() = Some(tx));
        Self { logs }
    }

    /// Waits until a line containing every one of `needles` has been logged, or panics with
    /// what was logged after `limit`.
    pub async fn wait_for(&mut self, needles: &[&str], limit: Duration) -> String {
        let matches = |logs: &String| {
            logs.lines()
                .find(|line| needles.iter().all(|n| line.contains(n)))
                .map(str::to_owned)
        };
        let found = tokio::time::timeout(limit, self.logs.wait_for(|l| matches(l).is_some()))
            .await
            .map(|logs| logs.ok().and_then(|logs| matches(&logs)));
        match found {
            Ok(Some(line)) => line,
            _ => panic!(
                "no log line with {needles:?} within {limit:?}; logged:\n{}",
                self.logs.borrow().as_str()
            ),
        }
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        CAPTURE.with(|capture| capture.borrow_mut().take());
    }
}

/// Writes to this thread's [`LogCapture`], or nowhere.
struct ThreadLogWriter;

impl std::io::Write for ThreadLogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| {
            if let Some(logs) = &*capture.borrow() {
                logs.send_modify(|logs| logs.push_str(&String::from_utf8_lossy(buf)));
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

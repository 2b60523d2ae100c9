//! The `ferrotunnel` binary as people run it: real processes, real sockets on 127.0.0.1:0, and
//! a real HTTP request through the tunnel.
//!
//! Ports are always 0; the real ones are read back from the status lines on stdout (their
//! format is documented in `src/banner.rs`). Nothing sleeps: every wait reads a child's stdout
//! with a deadline, and a child that has exited is detected by its stdout closing. A child still
//! running when a test fails is killed by its guard, which also prints what it wrote.

mod support;

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    thread,
};

use axum::{Router, http::HeaderMap, routing::get};
use support::{
    files::TempFile,
    process::{Running, TOKEN, WAIT, start_server},
};

// === helpers ===

/// A local service on a fresh loopback port that says hello and what `X-Forwarded-Host` it saw.
fn local_service() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind local service");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("local addr");
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let app = Router::new().route(
                "/hello",
                get(|headers: HeaderMap| async move {
                    let host = headers
                        .get("x-forwarded-host")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("none")
                        .to_owned();
                    format!("hello from the local service; x-forwarded-host: {host}")
                }),
            );
            axum::serve(listener, app).await.expect("local service");
        });
    });
    addr
}

/// A hand-written HTTP/1.1 GET to `ingress` with this `Host`; returns the status and body.
fn http_get(ingress: SocketAddr, host: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&ingress, WAIT).expect("connect to the ingress");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    stream.set_write_timeout(Some(WAIT)).expect("write timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("read the response");
    parse_response(&response)
}

/// The status and body of a whole HTTP/1.1 response read until the server closed.
fn parse_response(response: &[u8]) -> (u16, String) {
    let response = String::from_utf8_lossy(response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    (status, body.to_owned())
}

// === tests ===

#[test]
fn server_and_client_tunnel_http_and_stop_cleanly_on_sigterm() {
    let local = local_service();
    let (mut server, server_url, http) = start_server(&[]);
    // The client takes its token from the environment, as the docs recommend.
    let mut client = Running::spawn(
        "client",
        &[
            "client",
            "--server",
            &server_url,
            "--local",
            &local.to_string(),
            "--subdomain",
            "app",
        ],
        &[("FERROTUNNEL_TOKEN", TOKEN)],
    );
    assert_eq!(client.value_of("Session Status"), "online");
    assert_eq!(client.value_of("Server"), server_url);
    let public = format!("http://app.localhost:{}", http.port());
    assert_eq!(
        client.value_of("Forwarding"),
        format!("{public} -> http://{local}")
    );

    let host = format!("app.localhost:{}", http.port());
    let (status, body) = http_get(http, &host, "/hello");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        format!("hello from the local service; x-forwarded-host: {host}")
    );

    client.send_sigterm();
    assert!(client.wait_exit().success(), "client: {}", client.stderr());
    assert!(
        client.printed("Session Status    stopped"),
        "{:?}",
        client.seen
    );

    server.send_sigterm();
    assert!(server.wait_exit().success(), "server: {}", server.stderr());
    assert!(
        server.printed("Server Status     stopped"),
        "{:?}",
        server.seen
    );
}

#[test]
fn a_client_reports_a_lost_session_and_still_stops_cleanly() {
    let local = local_service();
    let (mut server, server_url, _) = start_server(&[]);
    let mut client = Running::spawn(
        "client",
        &[
            "client",
            "--server",
            &server_url,
            "--token",
            TOKEN,
            "--local",
            &local.to_string(),
            "--reconnect-initial",
            "50ms",
            "--reconnect-max",
            "200ms",
        ],
        &[],
    );
    assert_eq!(client.value_of("Session Status"), "online");

    // The server leaves; the client keeps trying and says so as it happens.
    server.send_sigterm();
    assert!(server.wait_exit().success(), "server: {}", server.stderr());
    // A watch keeps only the latest state, so under load attempt 1 may already be attempt 2.
    let status = client.value_of("Session Status");
    assert!(status.starts_with("reconnecting (attempt "), "{status}");

    client.send_sigterm();
    assert!(client.wait_exit().success(), "client: {}", client.stderr());
    assert!(
        client.printed("Session Status    stopped"),
        "{:?}",
        client.seen
    );
}

#[test]
fn a_client_with_a_wrong_token_exits_with_2_and_the_servers_message() {
    let (mut server, server_url, _) = start_server(&[]);
    let mut client = Running::spawn(
        "client",
        &[
            "client",
            "--server",
            &server_url,
            "--token",
            "wrong-token",
            "--local",
            "127.0.0.1:9",
        ],
        &[],
    );
    let status = client.wait_exit();
    let stderr = client.stderr();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the token was not accepted; check --token or FERROTUNNEL_TOKEN"),
        "{stderr}"
    );
    assert!(
        client.seen.is_empty(),
        "no banner when refused: {:?}",
        client.seen
    );

    // The refusal ended that client's session only.
    server.send_sigterm();
    assert!(server.wait_exit().success(), "server: {}", server.stderr());
}

#[test]
fn a_client_that_cannot_reach_the_server_fails_at_once() {
    // Bound but not listening: connecting is refused, and unlike a listener bound and dropped,
    // the port cannot be handed to another test's server in the meantime.
    let reserved = tokio::net::TcpSocket::new_v4().expect("socket");
    reserved
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let closed = reserved.local_addr().expect("addr");
    let mut client = Running::spawn(
        "client",
        &[
            "client",
            "--server",
            &format!("tcp://{closed}"),
            "--local",
            "127.0.0.1:9",
        ],
        &[],
    );
    let status = client.wait_exit();
    let stderr = client.stderr();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("could not connect to the server at {closed}")),
        "{stderr}"
    );
}

#[test]
fn config_files_configure_server_and_client_and_flags_win() {
    let server_toml = TempFile::new(
        "server.toml",
        &format!(
            "listen = \"127.0.0.1:1\"\nhttp = \"127.0.0.1:0\"\ndomain = \"tunnel.test\"\ntokens = [\"{TOKEN}\"]\ngrace_period = \"5s\"\n"
        ),
    );
    // `--listen` overrides the file's unusable port 1.
    let mut server = Running::spawn(
        "server",
        &[
            "server",
            "--config",
            server_toml.path(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let control = server.value_of("Control address");
    assert_ne!(
        control, "127.0.0.1:1",
        "the --listen flag must win over the file"
    );
    let http: SocketAddr = server.value_of("HTTP address").parse().expect("addr");

    let local = local_service();
    let client_toml = TempFile::new(
        "client.toml",
        &format!(
            "server = \"tcp://{control}\"\ntoken = \"{TOKEN}\"\n\n[[tunnel]]\nname = \"one\"\nlocal = \"{local}\"\n\n[[tunnel]]\nname = \"two\"\nlocal = \"{local}\"\n"
        ),
    );
    let mut client = Running::spawn("client", &["client", "--config", client_toml.path()], &[]);
    let port = http.port();
    assert_eq!(
        client.value_of("Forwarding"),
        format!("http://one.tunnel.test:{port} -> http://{local}")
    );
    assert_eq!(
        client.value_of("Forwarding"),
        format!("http://two.tunnel.test:{port} -> http://{local}")
    );
    let (status, body) = http_get(http, &format!("two.tunnel.test:{port}"), "/hello");
    assert_eq!(status, 200, "{body}");

    client.send_sigterm();
    assert!(client.wait_exit().success(), "client: {}", client.stderr());
    server.send_sigterm();
    assert!(server.wait_exit().success(), "server: {}", server.stderr());
}

#[test]
fn an_invalid_config_file_exits_with_2_naming_the_key() {
    let toml = TempFile::new("bad.toml", "heartbeat_intervall = \"1s\"\n");
    let mut server = Running::spawn("server", &["server", "--config", toml.path()], &[]);
    let status = server.wait_exit();
    let stderr = server.stderr();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown field `heartbeat_intervall`"),
        "{stderr}"
    );
    assert!(stderr.contains(toml.path()), "{stderr}");
}

#[test]
fn quickstart_serves_the_demo_page_through_the_tunnel() {
    let mut quickstart = Running::spawn(
        "quickstart",
        &[
            "quickstart",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--dashboard",
            "127.0.0.1:0",
            "--inspect",
            "127.0.0.1:0",
        ],
        &[],
    );
    let http: SocketAddr = quickstart
        .value_of("HTTP address")
        .parse()
        .expect("HTTP address");
    let dashboard = quickstart.value_of("Dashboard");
    let dashboard: SocketAddr = dashboard
        .strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("dashboard URL {dashboard:?}"));
    let forwarding = quickstart.value_of("Forwarding");
    let host = format!("demo.localhost:{}", http.port());
    assert!(
        forwarding.starts_with(&format!("http://{host} -> http://127.0.0.1:")),
        "{forwarding}"
    );

    let (status, page) = http_get(http, &host, "/");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Your tunnel works!"), "{page}");
    assert!(
        page.contains(&format!(
            "<tr><th>X-Forwarded-Host</th><td>{host}</td></tr>"
        )),
        "{page}"
    );
    let (status, json) = http_get(http, &host, "/api/echo?from=test");
    assert_eq!(status, 200, "{json}");
    assert!(json.contains(r#""path":"/api/echo?from=test""#), "{json}");

    // The dashboard saw both requests.
    let (status, requests) = http_get(dashboard, &dashboard.to_string(), "/api/requests");
    assert_eq!(status, 200, "{requests}");
    assert!(
        requests.contains(r#""uri":"/api/echo?from=test""#),
        "{requests}"
    );
    let (status, page) = http_get(dashboard, &dashboard.to_string(), "/");
    assert_eq!(status, 200);
    assert!(page.contains("FerroTunnel"), "{page}");

    quickstart.send_sigterm();
    assert!(
        quickstart.wait_exit().success(),
        "quickstart: {}",
        quickstart.stderr()
    );
    assert!(
        quickstart.printed("Server Status     stopped"),
        "{:?}",
        quickstart.seen
    );
}

// === TLS ===

/// A private CA and a certificate it issued for `localhost` and 127.0.0.1, as PEM files.
struct TestPki {
    ca: TempFile,
    cert: TempFile,
    key: TempFile,
}

impl TestPki {
    fn new(tag: &str) -> Self {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("FerroTunnel test CA {tag}"),
        );
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("server params");
        let key = rcgen::KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        Self {
            ca: TempFile::new(&format!("{tag}-ca.pem"), &ca_cert.pem()),
            cert: TempFile::new(&format!("{tag}-cert.pem"), &cert.pem()),
            key: TempFile::new(&format!("{tag}-key.pem"), &key.serialize_pem()),
        }
    }
}

/// A GET over HTTPS to `ingress`, verifying its certificate against `ca` for `localhost`.
fn https_get(ingress: SocketAddr, ca: &TempFile, host: &str, path: &str) -> (u16, String) {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca.path()).expect("read CA") {
        roots.add(cert.expect("CA PEM")).expect("add CA");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server_name = ServerName::try_from("localhost").expect("server name");
    let connection = rustls::ClientConnection::new(std::sync::Arc::new(config), server_name)
        .expect("TLS client");
    let tcp = TcpStream::connect_timeout(&ingress, WAIT).expect("connect to the HTTPS ingress");
    tcp.set_read_timeout(Some(WAIT)).expect("read timeout");
    tcp.set_write_timeout(Some(WAIT)).expect("write timeout");
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = Vec::new();
    // A server may close without a TLS close_notify after `Connection: close`; what was read
    // before that is the whole response.
    if let Err(err) = tls.read_to_end(&mut response) {
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    }
    parse_response(&response)
}

#[test]
fn tls_and_wss_clients_reach_a_tls_server_and_visitors_use_https() {
    let pki = TestPki::new("good");
    let local = local_service();
    let mut server = Running::spawn(
        "server",
        &[
            "server",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--https",
            "127.0.0.1:0",
            "--tls-cert",
            pki.cert.path(),
            "--tls-key",
            pki.key.path(),
            "--token",
            TOKEN,
        ],
        &[],
    );
    let control: SocketAddr = server
        .value_of("Control address")
        .parse()
        .expect("control address");
    let _http = server.value_of("HTTP address");
    let https: SocketAddr = server
        .value_of("HTTPS address")
        .parse()
        .expect("HTTPS address");
    assert_eq!(server.value_of("Server Status"), "online");

    let client = |name: &'static str, url: String, subdomain: &str| {
        Running::spawn(
            name,
            &[
                "client",
                "--server",
                &url,
                "--ca",
                pki.ca.path(),
                "--token",
                TOKEN,
                "--local",
                &local.to_string(),
                "--subdomain",
                subdomain,
            ],
            &[],
        )
    };
    // Over TLS 1.3 on the control port, and as a WebSocket on the HTTPS ingress.
    let mut over_tls = client(
        "tls client",
        format!("tls://localhost:{}", control.port()),
        "secure",
    );
    let mut over_wss = client(
        "wss client",
        format!("wss://localhost:{}", https.port()),
        "websocket",
    );
    for (client, name) in [(&mut over_tls, "secure"), (&mut over_wss, "websocket")] {
        assert_eq!(client.value_of("Session Status"), "online");
        assert_eq!(
            client.value_of("Forwarding"),
            format!(
                "https://{name}.localhost:{} -> http://{local}",
                https.port()
            )
        );
        let host = format!("{name}.localhost:{}", https.port());
        let (status, body) = https_get(https, &pki.ca, &host, "/hello");
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            format!("hello from the local service; x-forwarded-host: {host}")
        );
    }

    // A client that trusts another CA is told why and stops with the settings exit code.
    let other = TestPki::new("other");
    let mut distrustful = Running::spawn(
        "distrustful client",
        &[
            "client",
            "--server",
            &format!("tls://localhost:{}", control.port()),
            "--ca",
            other.ca.path(),
            "--token",
            TOKEN,
            "--local",
            &local.to_string(),
        ],
        &[],
    );
    let status = distrustful.wait_exit();
    let stderr = distrustful.stderr();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");

    for mut client in [over_tls, over_wss] {
        client.send_sigterm();
        assert!(client.wait_exit().success(), "{}", client.stderr());
    }
    server.send_sigterm();
    assert!(server.wait_exit().success(), "server: {}", server.stderr());
}

#[test]
fn a_server_with_half_a_certificate_exits_with_2_naming_both_flags() {
    let pki = TestPki::new("half");
    let mut server = Running::spawn(
        "server",
        &[
            "server",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--tls-cert",
            pki.cert.path(),
        ],
        &[],
    );
    let status = server.wait_exit();
    let stderr = server.stderr();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`tls_cert` (--tls-cert) and `tls_key` (--tls-key) go together"),
        "{stderr}"
    );
}

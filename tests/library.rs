//! The library as a user meets it: only the public builder API of `ferrotunnel`, no test
//! helpers from `tests/support`, real sockets on 127.0.0.1:0 and a real HTTP client.

use std::{net::SocketAddr, time::Duration};

use axum::{Router, routing::get};
use bytes::Bytes;
use ferrotunnel::{Client, ClientState, Server};
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client as HttpClient, rt::TokioExecutor};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// Generous bound on every wait; a passing run takes milliseconds.
const LIMIT: Duration = Duration::from_secs(20);

async fn local_service() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().route("/hello", get(|| async { "hello through the tunnel" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// GET `path` from the server's HTTP ingress, with the `Host` of the public URL.
async fn get_through(ingress: SocketAddr, public_url: &str, path: &str) -> (u16, String) {
    let host = public_url
        .strip_prefix("http://")
        .expect("an http:// public URL");
    let request = http::Request::get(format!("http://{ingress}{path}"))
        .header(http::header::HOST, host)
        .body(Empty::<Bytes>::new())
        .expect("request");
    let client = HttpClient::builder(TokioExecutor::new()).build_http();
    let response = tokio::time::timeout(LIMIT, client.request(request))
        .await
        .expect("answered in time")
        .expect("the ingress answers");
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[tokio::test]
async fn a_user_builds_a_server_and_a_client_with_the_public_builders() {
    let local = local_service().await;
    let server = Server::builder()
        .control_addr(loopback())
        .http_addr(loopback())
        .domain("localhost")
        .token("s3cret")
        .build()
        .expect("valid server settings")
        .start()
        .await
        .expect("server listens");

    let client = Client::builder()
        .server_url(format!("tcp://{}", server.control_addr()))
        .token("s3cret")
        .local_address(local.to_string())
        .subdomain("app")
        .build()
        .expect("valid client settings")
        .start()
        .await
        .expect("client registers");

    let public_url = format!("http://app.localhost:{}", server.http_addr().port());
    assert_eq!(client.public_url(), public_url);
    assert_eq!(client.public_urls(), std::slice::from_ref(&public_url));
    let live = server.tunnels();
    assert_eq!(live.len(), 1);
    assert_eq!(
        (live[0].name.as_str(), live[0].public_url.as_str()),
        ("app", public_url.as_str())
    );
    assert!(matches!(
        &*client.state().borrow(),
        ClientState::Connected { tunnels, .. }
            if tunnels.len() == 1 && tunnels[0].name == live[0].name
                && tunnels[0].public_url == live[0].public_url
    ));

    let (status, body) = get_through(server.http_addr(), &public_url, "/hello").await;
    assert_eq!((status, body.as_str()), (200, "hello through the tunnel"));

    client.shutdown().await.expect("clean client shutdown");
    // The name is freed at once when a client says goodbye.
    tokio::time::timeout(LIMIT, server.watch_tunnels().wait_for(Vec::is_empty))
        .await
        .expect("tunnel removed in time")
        .expect("server alive");
    server.shutdown().await;
}

#[tokio::test]
async fn builders_name_the_setting_that_is_wrong() {
    let err = Client::builder()
        .server_url("tcp://127.0.0.1:7835")
        .local_address("127.0.0.1:3000")
        .subdomain("Not A Name")
        .build()
        .expect_err("bad subdomain")
        .to_string();
    assert!(err.contains("\"Not A Name\""), "{err}");
    let err = Client::builder()
        .server_url("tls://tunnel.example.com")
        .local_address("127.0.0.1:3000")
        .build()
        .expect_err("no port")
        .to_string();
    assert!(err.contains("tls://tunnel.example.com"), "{err}");
    let err = Server::builder()
        .domain("not a domain")
        .build()
        .expect_err("bad domain")
        .to_string();
    assert!(err.contains("\"not a domain\""), "{err}");
    let err = Server::builder()
        .heartbeat_interval(Duration::ZERO)
        .build()
        .expect_err("zero heartbeat")
        .to_string();
    assert!(err.contains("heartbeat interval"), "{err}");
}

/// A stand-in for the server's public address (a DNS name, a load balancer) that stays the same
/// while the server behind it restarts on another port. A connection waits until a server is
/// set, so the test decides when a connection attempt can succeed.
struct FrontDoor {
    addr: SocketAddr,
    server: watch::Sender<Option<SocketAddr>>,
}

impl FrontDoor {
    async fn open() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (server, _) = watch::channel(None);
        let upstream = server.clone();
        tokio::spawn(async move {
            while let Ok((mut visitor, _)) = listener.accept().await {
                let mut target = upstream.subscribe();
                tokio::spawn(async move {
                    let Ok(addr) = target.wait_for(Option::is_some).await.map(|a| *a) else {
                        return;
                    };
                    let Some(addr) = addr else { return };
                    if let Ok(mut server) = TcpStream::connect(addr).await {
                        let _ = tokio::io::copy_bidirectional(&mut visitor, &mut server).await;
                    }
                });
            }
        });
        Self { addr, server }
    }

    fn route_to(&self, server: Option<SocketAddr>) {
        self.server.send_replace(server);
    }
}

async fn wait_for_state(
    state: &mut watch::Receiver<ClientState>,
    what: &str,
    mut wanted: impl FnMut(&ClientState) -> bool,
) {
    let reached = tokio::time::timeout(LIMIT, state.wait_for(|s| wanted(s)))
        .await
        .map(|alive| alive.is_ok());
    match reached {
        Ok(alive) => assert!(alive, "the client's task ended"),
        Err(_) => panic!(
            "the client never became {what}; it is {:?}",
            *state.borrow()
        ),
    }
}

#[tokio::test]
async fn the_state_watch_follows_the_client_across_a_server_restart() {
    let local = local_service().await;
    let door = FrontDoor::open().await;
    let server_builder = || {
        Server::builder()
            .control_addr(loopback())
            .http_addr(loopback())
            .domain("localhost")
            .token("s3cret")
    };
    let server = server_builder()
        .build()
        .expect("server settings")
        .start()
        .await
        .expect("server listens");

    let client = Client::builder()
        .server_url(format!("tcp://{}", door.addr))
        .token("s3cret")
        .local_address(local.to_string())
        .subdomain("steady")
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .build()
        .expect("client settings")
        .spawn();
    let mut state = client.state();

    // The front door holds the connection, so the client is still connecting.
    assert_eq!(*state.borrow_and_update(), ClientState::Connecting);
    door.route_to(Some(server.control_addr()));
    wait_for_state(&mut state, "connected", |s| {
        matches!(s, ClientState::Connected { .. })
    })
    .await;
    let first_url = client.public_url();

    // The server goes away: the client notices and tries again, held at the door.
    door.route_to(None);
    server.shutdown().await;
    wait_for_state(&mut state, "reconnecting", |s| {
        matches!(s, ClientState::Reconnecting { .. })
    })
    .await;

    // A new server, on a new port behind the same door: the client is back by itself.
    let server = server_builder()
        .build()
        .expect("server settings")
        .start()
        .await
        .expect("server listens again");
    door.route_to(Some(server.control_addr()));
    wait_for_state(&mut state, "connected again", |s| {
        matches!(s, ClientState::Connected { tunnels, .. } if tunnels.iter().any(|t| t.name == "steady"))
    })
    .await;
    assert_eq!(
        client.public_url(),
        format!("http://steady.localhost:{}", server.http_addr().port()),
        "the URL on the new server (it was {first_url})"
    );
    let (status, body) = get_through(server.http_addr(), &client.public_url(), "/hello").await;
    assert_eq!((status, body.as_str()), (200, "hello through the tunnel"));

    client.shutdown().await.expect("clean client shutdown");
    server.shutdown().await;
}

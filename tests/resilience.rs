//! What a broken, hostile or vanished peer does to the server: refusals, dead clients,
//! restarts and garbage. Every other tunnel keeps working throughout.

mod support;

use std::time::{Duration, Instant};

use ferrotunnel::{ClientState, Error, protocol::RefusalCode};
use http::StatusCode;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_wrong_token_is_refused_with_the_servers_message() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let result = client_builder(&server)
        .token("not-the-token")
        .subdomain("app")
        .local_address(local.to_string())
        .build()
        .expect("config")
        .start()
        .await;
    match result {
        Err(Error::Refused(refusal)) => {
            assert_eq!(refusal.code, RefusalCode::BadToken);
            assert!(
                refusal.message.contains("token was not accepted"),
                "{}",
                refusal.message
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(server.tunnels().is_empty());
}

#[tokio::test]
async fn a_name_held_by_another_client_is_refused() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let _first = start_client(&server, "taken", local).await;
    let second = client_builder(&server)
        .subdomain("taken")
        .local_address(local.to_string())
        .build()
        .expect("config");
    match second.start().await {
        Err(Error::Refused(refusal)) => {
            assert_eq!(refusal.code, RefusalCode::NameTaken);
            assert!(
                refusal.message.contains("\"taken\" is in use"),
                "{}",
                refusal.message
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The first client's tunnel is untouched.
    assert_eq!(
        Visitor::new(server.http_addr())
            .get("taken.localhost", "/hello")
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_client_that_leaves_frees_its_name_at_once() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let client = start_client(&server, "bye", local).await;
    wait_for_tunnels(&server, &["bye"], Duration::from_secs(5)).await;
    client.shutdown().await.expect("clean shutdown");
    // Said goodbye: the name is free (404, not 503) and another client may take it.
    wait_for_tunnels(&server, &[], Duration::from_secs(5)).await;
    let (status, _) = Visitor::new(server.http_addr())
        .get("bye.localhost", "/hello")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let _other = start_client(&server, "bye", local).await;
}

#[tokio::test]
async fn a_silent_client_is_dropped_within_the_heartbeat_bound() {
    let local = serve(local_service()).await;
    let heartbeat = Duration::from_millis(200);
    let server = server_builder()
        .heartbeat_interval(heartbeat)
        .build()
        .expect("config")
        .start()
        .await
        .expect("start");
    let proxy = FaultyProxy::start(server.control_addr()).await;
    let _client = client_builder(&server)
        .server_url(format!("tcp://{}", proxy.addr))
        .subdomain("hung")
        .local_address(local.to_string())
        .build()
        .expect("config")
        .start()
        .await
        .expect("start");
    let visitor = Visitor::new(server.http_addr());
    assert_eq!(
        visitor.get("hung.localhost", "/hello").await.0,
        StatusCode::OK
    );

    // The client's process hangs: its connection stays open but nothing more arrives.
    let frozen_at = Instant::now();
    proxy.inject(Fault::Freeze);
    wait_for_tunnels(&server, &[], heartbeat * 10).await;
    let elapsed = frozen_at.elapsed();
    // Three silent intervals make a client dead; the last frame may have come up to one
    // interval before the freeze, so the earliest possible removal is after two.
    assert!(
        elapsed >= heartbeat * 2,
        "dropped after {elapsed:?}, before the bound"
    );

    let (status, body) = visitor.get("hung.localhost", "/hello").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("tunnel \"hung\" is offline"), "{body}");
}

#[tokio::test]
async fn a_reconnecting_client_takes_its_name_back_from_its_stale_session() {
    let local = serve(local_service()).await;
    // A long heartbeat: the server will not notice the old session die during this test.
    let server = server_builder()
        .heartbeat_interval(Duration::from_secs(30))
        .build()
        .expect("config")
        .start()
        .await
        .expect("start");
    let proxy = FaultyProxy::start(server.control_addr()).await;
    let client = client_builder(&server)
        .server_url(format!("tcp://{}", proxy.addr))
        .subdomain("phoenix")
        .local_address(local.to_string())
        .build()
        .expect("config")
        .start()
        .await
        .expect("start");
    let mut state = client.state();
    let first_session = match &*state.borrow() {
        ClientState::Connected { session_id, .. } => *session_id,
        other => panic!("not connected: {other:?}"),
    };

    proxy.inject(Fault::CutClientSide);
    state
        .wait_for(|s| matches!(s, ClientState::Reconnecting { .. }))
        .await
        .expect("client alive");
    proxy.heal();
    let reconnected = tokio::time::timeout(
        Duration::from_secs(10),
        state.wait_for(|s| matches!(s, ClientState::Connected { session_id, .. } if *session_id != first_session)),
    )
    .await
    .expect("reconnects within 10 s");
    drop(reconnected);
    assert_eq!(
        Visitor::new(server.http_addr())
            .get("phoenix.localhost", "/hello")
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn after_a_server_restart_the_client_reconnects_and_the_same_url_works() {
    let local = serve(local_service()).await;
    let server = start_server().await;
    let (control, http) = (server.control_addr(), server.http_addr());
    let client = start_client(&server, "again", local).await;
    let url = client.public_url().to_owned();
    let mut state = client.state();

    server.shutdown().await;
    state
        .wait_for(|s| matches!(s, ClientState::Reconnecting { .. }))
        .await
        .expect("client alive");
    let server = server_builder()
        .control_addr(control)
        .http_addr(http)
        .build()
        .expect("config")
        .start()
        .await
        .expect("restart on the same ports");
    tokio::time::timeout(
        Duration::from_secs(10),
        state.wait_for(|s| matches!(s, ClientState::Connected { .. })),
    )
    .await
    .expect("reconnects within 10 s")
    .expect("client alive");
    assert_eq!(client.public_url(), url);
    let (status, body) = Visitor::new(server.http_addr())
        .get("again.localhost", "/hello")
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "hello from the local service")
    );
}

#[tokio::test]
async fn garbage_and_half_handshakes_close_only_their_own_connection() {
    let local = serve(local_service()).await;
    let server = server_builder()
        .handshake_timeout(Duration::from_millis(500))
        .build()
        .expect("config")
        .start()
        .await
        .expect("start");
    let _client = start_client(&server, "steady", local).await;
    let visitor = Visitor::new(server.http_addr());

    // Garbage: not even yamux. The server hangs up.
    let mut garbage = tokio::net::TcpStream::connect(server.control_addr())
        .await
        .expect("connect");
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: nonsense\r\n\r\n\xff\xfe\x00garbage")
        .await
        .expect("write");
    // A half-finished handshake: a few bytes of a yamux header, then silence.
    let mut half = tokio::net::TcpStream::connect(server.control_addr())
        .await
        .expect("connect");
    half.write_all(&[0, 1, 0]).await.expect("write");
    // A connection that says nothing at all.
    let mut mute = tokio::net::TcpStream::connect(server.control_addr())
        .await
        .expect("connect");

    // The established tunnel serves throughout.
    for _ in 0..5 {
        assert_eq!(
            visitor.get("steady.localhost", "/hello").await.0,
            StatusCode::OK
        );
    }
    for (name, conn) in [
        ("garbage", &mut garbage),
        ("half", &mut half),
        ("mute", &mut mute),
    ] {
        let mut buf = [0u8; 1024];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "the server should close the {name} connection"
        );
    }
    assert_eq!(
        visitor.get("steady.localhost", "/hello").await.0,
        StatusCode::OK
    );
    assert_eq!(server.tunnels().len(), 1);
}

#[tokio::test]
async fn clients_past_the_limit_are_told_why() {
    let local = serve(local_service()).await;
    let server = server_builder()
        .max_clients(1)
        .build()
        .expect("config")
        .start()
        .await
        .expect("start");
    let _first = start_client(&server, "first", local).await;
    let second = client_builder(&server)
        .subdomain("second")
        .local_address(local.to_string())
        .build()
        .expect("config");
    match second.start().await {
        Err(Error::Refused(refusal)) => {
            assert_eq!(refusal.code, RefusalCode::TooManyClients);
            assert!(
                refusal.message.contains("maximum of 1 clients"),
                "{}",
                refusal.message
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A local service that speaks broken HTTP: the head of each request decides what it writes.
async fn serve_broken_http() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind(loopback())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut byte = [0];
                    if socket.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let answer: &[u8] = if head.starts_with(b"GET /not-http ") {
                    b"SSH-2.0-OpenSSH_9.6\r\n\r\n"
                } else if head.starts_with(b"GET /broken-chunk ") {
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nfine"
                };
                let _ = socket.write_all(answer).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_local_service_that_breaks_http_is_a_502_naming_the_fault_and_nothing_else_breaks() {
    let local = serve_broken_http().await;
    let server = start_server().await;
    let _client = start_client(&server, "broken", local).await;
    let visitor = Visitor::new(server.http_addr());

    let (status, text) = visitor.get("broken.localhost", "/not-http").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{text}");
    assert!(
        text.contains("the local service sent an invalid HTTP/1.1 response: its head is malformed"),
        "{text}"
    );

    // The head was fine; the broken framing after it ends the visitor's connection before its
    // response is complete, rather than let a made-up body through.
    let mut raw = tokio::net::TcpStream::connect(server.http_addr())
        .await
        .expect("connect");
    raw.write_all(b"GET /broken-chunk HTTP/1.1\r\nhost: broken.localhost\r\n\r\n")
        .await
        .expect("write");
    let mut seen = Vec::new();
    raw.read_to_end(&mut seen).await.expect("read to the close");
    assert!(
        !seen.ends_with(b"0\r\n\r\n"),
        "the response must not end as if whole: {}",
        String::from_utf8_lossy(&seen)
    );

    // The tunnel, its session and the local service's good answers are untouched.
    for _ in 0..3 {
        assert_eq!(
            visitor.get("broken.localhost", "/fine").await,
            (StatusCode::OK, "fine".to_owned())
        );
    }
}

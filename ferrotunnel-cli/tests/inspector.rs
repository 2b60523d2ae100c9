//! The inspector end to end: `ferrotunnel server --dashboard` and `client --inspect` processes,
//! real visitors, and the dashboards' own HTTP API.

mod support;

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, client::conn::http1};
use hyper_util::rt::TokioIo;
use support::{
    process::{Running, TOKEN, WAIT, start_server},
    visitor::{get, get_from, local_service},
};
use tokio::net::TcpStream;

/// The address in a `http://ADDR/` line the process printed under `label`.
fn printed_addr(process: &mut Running, label: &str) -> SocketAddr {
    let url = process.value_of(label);
    url.strip_prefix("http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("{label} is not http://ADDR/: {url:?}"))
}

/// `GET path` of a dashboard, as JSON.
async fn json(dashboard: SocketAddr, path: &str) -> serde_json::Value {
    let answer = get(dashboard, &dashboard.to_string(), path, &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {answer:?}");
    serde_json::from_str(&answer.body).expect("JSON")
}

/// `POST path` of a dashboard with an empty body: status and body.
async fn post(dashboard: SocketAddr, path: &str) -> (StatusCode, String) {
    let tcp = TcpStream::connect(dashboard).await.expect("connects");
    let (mut sender, connection) = http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let request = Request::post(path)
        .header("host", dashboard.to_string())
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = tokio::time::timeout(WAIT, sender.send_request(request))
        .await
        .expect("answered in time")
        .expect("answered");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Polls the dashboard's list until `wanted` holds; the exchanges end a moment after the
/// visitor has its answer, so the test waits for that, not for a fixed time.
async fn wait_for_list(
    dashboard: SocketAddr,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    tokio::time::timeout(WAIT, async {
        loop {
            let list = json(dashboard, "/api/requests").await;
            if wanted(&list) {
                return list;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the dashboard shows the exchanges in time")
}

fn finished(list: &serde_json::Value, count: usize) -> bool {
    let items = list["items"].as_array().expect("items");
    items.len() == count && items.iter().all(|item| item["outcome"] == "complete")
}

#[tokio::test]
async fn the_server_sees_every_tunnel_and_the_client_its_own_traffic_with_replay() {
    let local = local_service().await;
    let (mut server, url, ingress) = start_server(&["--dashboard", "127.0.0.1:0"]);
    let dashboard = printed_addr(&mut server, "Dashboard");
    let mut client = Running::spawn(
        "client",
        &[
            "client",
            "--server",
            &url,
            "--token",
            TOKEN,
            "--local",
            &local.to_string(),
            "--subdomain",
            "app",
            "--inspect",
            "127.0.0.1:0",
        ],
        &[],
    );
    let inspector = printed_addr(&mut client, "Inspector");
    let host = format!("app.localhost:{}", ingress.port());

    let visitor = IpAddr::from([127, 0, 0, 2]);
    let answer = get_from(visitor, ingress, &host, "/hello", &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");

    // The server's dashboard: every tunnel, with the visitor's address and port.
    let list = wait_for_list(dashboard, |list| finished(list, 1)).await;
    let seen = &list["items"][0];
    assert_eq!(seen["tunnel"], "app");
    assert_eq!(seen["uri"], "/hello");
    assert!(
        seen["visitor"]
            .as_str()
            .expect("visitor")
            .starts_with("127.0.0.2:"),
        "{seen}"
    );
    let tunnels = json(dashboard, "/api/tunnels").await;
    assert_eq!(tunnels[0]["name"], "app");
    assert_eq!(tunnels[0]["transport"], "tcp");

    // The client's inspector: its own traffic, the visitor's IP as the server told it.
    let list = wait_for_list(inspector, |list| finished(list, 1)).await;
    let seen = &list["items"][0];
    assert_eq!(seen["tunnel"], "app");
    assert_eq!(seen["visitor"], "127.0.0.2");
    assert_eq!(seen["status"], 200);
    let tunnels = json(inspector, "/api/tunnels").await;
    assert_eq!(tunnels[0]["local_addr"], local.to_string());

    // A replay from the client's inspector goes straight to the local service.
    let id = seen["id"].as_u64().expect("id");
    let (status, body) = post(inspector, &format!("/api/requests/{id}/replay")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let list = wait_for_list(inspector, |list| finished(list, 2)).await;
    let replay = &list["items"][0];
    assert_eq!(replay["replay_of"], id);
    assert_eq!(replay["status"], 200);
    let detail = json(inspector, &format!("/api/requests/{}", replay["id"])).await;
    assert_eq!(
        detail["response"]["body"]["data"],
        "hello from the local service"
    );

    client.send_sigterm();
    assert!(client.wait_exit().success(), "client: {}", client.stderr());
    server.send_sigterm();
    assert!(server.wait_exit().success(), "server: {}", server.stderr());
}

#[test]
fn a_dashboard_off_loopback_needs_credentials() {
    let mut server = Running::spawn(
        "server",
        &[
            "server",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--dashboard",
            "0.0.0.0:0",
        ],
        &[],
    );
    let status = server.wait_exit();
    let stderr = server.stderr();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--dashboard-auth"), "{stderr}");
    assert!(stderr.contains("0.0.0.0:0"), "{stderr}");
}

#[tokio::test]
async fn a_dashboard_with_credentials_asks_for_them() {
    let (mut server, _url, _ingress) = start_server(&[
        "--dashboard",
        "127.0.0.1:0",
        "--dashboard-auth",
        "admin:s3cret",
    ]);
    let dashboard = printed_addr(&mut server, "Dashboard");
    let host = dashboard.to_string();
    let refused = get(dashboard, &host, "/api/requests", &[]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{refused:?}");
    // admin:s3cret
    let allowed = get(
        dashboard,
        &host,
        "/api/requests",
        &[("authorization", "Basic YWRtaW46czNjcmV0")],
    )
    .await;
    assert_eq!(allowed.status, StatusCode::OK, "{allowed:?}");
    assert!(!server.stderr().contains("s3cret"));
    server.send_sigterm();
    assert!(server.wait_exit().success(), "server: {}", server.stderr());
}

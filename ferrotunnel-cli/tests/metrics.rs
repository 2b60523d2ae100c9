//! Prometheus metrics end to end: real `ferrotunnel server` and `client` processes with
//! `--metrics` (or a dashboard), real visitors, and `/metrics` read and parsed as the Prometheus
//! text format.

mod support;

use std::{collections::BTreeMap, net::SocketAddr};

use hyper::StatusCode;
use support::{
    process::{Running, start_client, start_server},
    visitor::{Visit, get, local_service, send},
};

/// One scrape: each series (its name and labels, as written) and its value.
#[derive(Debug)]
struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    /// Parses the Prometheus text format: `name{a="x",b="y"} value` lines, `#` comments.
    fn parse(text: &str) -> Self {
        let mut series = BTreeMap::new();
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line.rsplit_once(' ').expect("`series value`");
            let value: f64 = value.parse().expect("a number");
            assert!(
                series.insert(normalise(key), value).is_none(),
                "{key} twice in:\n{text}"
            );
        }
        Self(series)
    }

    /// The value of `name` with exactly `labels`; 0 if the series does not exist (as
    /// Prometheus reads a counter that never moved).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted = series_key(name, labels);
        self.0.get(&wanted).copied().unwrap_or(0.0)
    }

    /// The sum of every series of `name` whose labels include `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(key, _)| {
                let (series_name, series_labels) = split(key);
                series_name == name
                    && labels
                        .iter()
                        .all(|(k, v)| series_labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, value)| value)
            .sum()
    }
}

/// `name{labels}` with its labels sorted, so that order does not matter.
fn normalise(key: &str) -> String {
    let (name, labels) = split(key);
    let labels: Vec<(&str, &str)> = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    series_key(name, &labels)
}

fn series_key(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels = labels.to_vec();
    labels.sort_unstable();
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

fn split(key: &str) -> (&str, BTreeMap<String, String>) {
    let Some((name, rest)) = key.split_once('{') else {
        return (key, BTreeMap::new());
    };
    let rest = rest.strip_suffix('}').expect("closing brace");
    let labels = rest
        .split(',')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').expect("label=value");
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .expect("quoted");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (name, labels)
}

/// GETs `url` (an `http://host:port/path` on loopback) and parses it as a scrape.
async fn scrape(url: &str) -> Scrape {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_at(rest.find('/').expect("a path"));
    let addr: SocketAddr = authority.parse().expect("an address");
    let answer = get(addr, authority, path, &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert!(
        answer.headers["content-type"]
            .to_str()
            .expect("text")
            .starts_with("text/plain; version=0.0.4"),
        "{answer:?}"
    );
    Scrape::parse(&answer.body)
}

/// Sends `count` copies of `visit`, each on its own connection, and checks their status.
async fn visit_times(ingress: SocketAddr, count: usize, visit: Visit<'_>, status: StatusCode) {
    for _ in 0..count {
        let answer = send(ingress, &visit).await;
        assert_eq!(answer.status, status, "{visit:?}: {answer:?}");
    }
}

fn visit<'a>(method: &'a str, host: &'a str, path: &'a str) -> Visit<'a> {
    Visit {
        method,
        host,
        path,
        headers: &[],
        body: "",
    }
}

#[tokio::test]
async fn counters_equal_the_requests_sent_per_tunnel_and_status_class_refusals_included() {
    let local = local_service().await;
    // A port that was free a moment ago refuses connections: a local service that is down.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    let (mut server, url, ingress) = start_server(&["--metrics", "127.0.0.1:0"]);
    let server_metrics = server.value_of("Metrics");
    let mut app = start_client(&url, local, "app", &["--metrics", "127.0.0.1:0"]);
    let app_metrics = app.value_of("Metrics");
    let _guarded = start_client(&url, local, "guarded", &["--basic-auth", "alice:pw"]);
    let mut gone = start_client(&url, dead, "gone", &["--metrics", "127.0.0.1:0"]);
    let gone_metrics = gone.value_of("Metrics");
    // A client with a wrong token is refused at its handshake.
    let mut refused = Running::spawn(
        "refused client",
        &[
            "client",
            "--server",
            &url,
            "--token",
            "wrong",
            "--local",
            "127.0.0.1:9",
        ],
        &[],
    );
    assert!(!refused.wait_exit().success());

    let host = |name: &str| format!("{name}.localhost:{}", ingress.port());
    let (app_host, guarded_host, gone_host) = (host("app"), host("guarded"), host("gone"));
    let unknown_host = host("nobody");
    visit_times(
        ingress,
        5,
        visit("GET", &app_host, "/hello"),
        StatusCode::OK,
    )
    .await;
    visit_times(
        ingress,
        3,
        visit("GET", &app_host, "/missing"),
        StatusCode::NOT_FOUND,
    )
    .await;
    let post = Visit {
        body: "twelve bytes",
        ..visit("POST", &app_host, "/hello")
    };
    visit_times(ingress, 2, post, StatusCode::METHOD_NOT_ALLOWED).await;
    visit_times(
        ingress,
        1,
        visit("BREW", &app_host, "/hello"),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    visit_times(
        ingress,
        4,
        visit("GET", &guarded_host, "/hello"),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let credentials = Visit {
        // alice:pw
        headers: &[("authorization", "Basic YWxpY2U6cHc=")],
        ..visit("GET", &guarded_host, "/hello")
    };
    visit_times(ingress, 2, credentials, StatusCode::OK).await;
    visit_times(
        ingress,
        3,
        visit("GET", &gone_host, "/"),
        StatusCode::BAD_GATEWAY,
    )
    .await;
    visit_times(
        ingress,
        2,
        visit("GET", &unknown_host, "/"),
        StatusCode::NOT_FOUND,
    )
    .await;

    let server = scrape(&server_metrics).await;
    let requests = "ferrotunnel_requests_total";
    for (tunnel, method, status, count) in [
        ("app", "GET", "2xx", 5.0),
        ("app", "GET", "4xx", 3.0),
        ("app", "POST", "4xx", 2.0),
        ("app", "_OTHER", "4xx", 1.0),
        ("guarded", "GET", "4xx", 4.0),
        ("guarded", "GET", "2xx", 2.0),
        ("gone", "GET", "5xx", 3.0),
        // A visitor inventing hosts makes no series of its own.
        ("", "GET", "4xx", 2.0),
    ] {
        let labels = [("tunnel", tunnel), ("method", method), ("status", status)];
        assert_eq!(
            server.get(requests, &labels),
            count,
            "{labels:?} in {server:#?}"
        );
    }
    assert_eq!(server.sum(requests, &[]), 22.0, "{server:#?}");
    assert_eq!(
        server.get(
            "ferrotunnel_policy_refusals_total",
            &[("tunnel", "guarded"), ("layer", "auth"), ("status", "401")]
        ),
        4.0,
        "{server:#?}"
    );
    assert_eq!(server.sum("ferrotunnel_policy_refusals_total", &[]), 4.0);
    assert_eq!(
        server.get(
            "ferrotunnel_request_duration_seconds_count",
            &[("tunnel", "app")]
        ),
        11.0
    );
    let hello = "hello from the local service".len() as f64;
    assert!(
        server.get(
            "ferrotunnel_bytes_total",
            &[("tunnel", "app"), ("direction", "response")]
        ) >= 5.0 * hello,
        "{server:#?}"
    );
    assert_eq!(
        server.get(
            "ferrotunnel_bytes_total",
            &[("tunnel", "app"), ("direction", "request")]
        ),
        24.0,
        "two POSTs of twelve bytes: {server:#?}"
    );
    assert_eq!(server.get("ferrotunnel_sessions_active", &[]), 3.0);
    assert_eq!(server.get("ferrotunnel_tunnels_active", &[]), 3.0);
    assert_eq!(
        server.get(
            "ferrotunnel_handshake_failures_total",
            &[("reason", "bad_token")]
        ),
        1.0
    );

    let app = scrape(&app_metrics).await;
    assert_eq!(
        app.get(
            "ferrotunnel_client_session_state",
            &[("state", "connected")]
        ),
        1.0
    );
    assert_eq!(
        app.sum("ferrotunnel_client_session_state", &[]),
        1.0,
        "one state at a time"
    );
    assert!(app.get("ferrotunnel_client_streams_total", &[("tunnel", "app")]) >= 1.0);
    assert!(
        app.get(
            "ferrotunnel_client_bytes_total",
            &[("tunnel", "app"), ("direction", "response")]
        ) >= 5.0 * hello,
        "{app:#?}"
    );
    let gone = scrape(&gone_metrics).await;
    assert_eq!(
        gone.get(
            "ferrotunnel_client_local_connect_failures_total",
            &[("tunnel", "gone")]
        ),
        3.0,
        "{gone:#?}"
    );
}

#[tokio::test]
async fn the_dashboard_serves_the_same_numbers_it_shows() {
    let local = local_service().await;
    let (mut server, url, ingress) = start_server(&["--dashboard", "127.0.0.1:0"]);
    let dashboard = server.value_of("Dashboard");
    let _client = start_client(&url, local, "app", &[]);
    let app_host = format!("app.localhost:{}", ingress.port());
    visit_times(
        ingress,
        4,
        visit("GET", &app_host, "/hello"),
        StatusCode::OK,
    )
    .await;
    let post = Visit {
        body: "0123456789",
        ..visit("POST", &app_host, "/hello")
    };
    visit_times(ingress, 3, post, StatusCode::METHOD_NOT_ALLOWED).await;

    let metrics = scrape(&format!("{dashboard}metrics")).await;
    let dashboard_addr: SocketAddr = dashboard
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("address");
    let shown = get(dashboard_addr, "127.0.0.1", "/api/tunnels/app", &[]).await;
    assert_eq!(shown.status, StatusCode::OK, "{shown:?}");
    let shown: serde_json::Value = serde_json::from_str(&shown.body).expect("JSON");
    let app = [("tunnel", "app")];
    assert_eq!(
        shown["requests"].as_f64(),
        Some(metrics.sum("ferrotunnel_requests_total", &app))
    );
    assert_eq!(metrics.sum("ferrotunnel_requests_total", &app), 7.0);
    assert_eq!(
        shown["errors"].as_f64(),
        Some(metrics.sum(
            "ferrotunnel_requests_total",
            &[("tunnel", "app"), ("status", "5xx")]
        ))
    );
    assert_eq!(
        shown["bytes_in"].as_f64(),
        Some(metrics.get(
            "ferrotunnel_bytes_total",
            &[("tunnel", "app"), ("direction", "request")]
        ))
    );
    assert_eq!(
        shown["bytes_out"].as_f64(),
        Some(metrics.get(
            "ferrotunnel_bytes_total",
            &[("tunnel", "app"), ("direction", "response")]
        ))
    );
}

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use ferrotunnel::protocol::TunnelInfo;
use http_body_util::BodyExt;
use tokio::sync::watch;
use tower::ServiceExt;

use super::*;

fn info(name: &str) -> TunnelInfo {
    TunnelInfo {
        name: name.to_owned(),
        public_url: format!("http://{name}.localhost:8080"),
    }
}

async fn get(app: &Router, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let request = Request::get(path).body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        headers,
        String::from_utf8(bytes.to_vec()).expect("utf-8"),
    )
}

async fn tunnels_json(app: &Router) -> serde_json::Value {
    let (status, headers, body) = get(app, "/api/tunnels").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    serde_json::from_str(&body).expect("JSON")
}

#[tokio::test]
async fn api_tunnels_follows_the_watch() {
    let (live, watch) = watch::channel(Vec::new());
    let app = router(DashboardState::new(watch));

    assert_eq!(tunnels_json(&app).await, serde_json::json!([]));

    live.send_replace(vec![info("app"), info("blog")]);
    assert_eq!(
        tunnels_json(&app).await,
        serde_json::json!([
            {"name": "app", "public_url": "http://app.localhost:8080"},
            {"name": "blog", "public_url": "http://blog.localhost:8080"},
        ])
    );

    live.send_replace(vec![info("blog")]);
    assert_eq!(
        tunnels_json(&app).await,
        serde_json::json!([{"name": "blog", "public_url": "http://blog.localhost:8080"}])
    );

    live.send_replace(Vec::new());
    assert_eq!(tunnels_json(&app).await, serde_json::json!([]));
}

#[tokio::test]
async fn api_tunnels_keeps_answering_after_the_server_is_gone() {
    let (live, watch) = watch::channel(vec![info("app")]);
    let app = router(DashboardState::new(watch));
    drop(live);
    // The last list the server published is still what the dashboard shows.
    assert_eq!(
        tunnels_json(&app).await,
        serde_json::json!([{"name": "app", "public_url": "http://app.localhost:8080"}])
    );
}

#[tokio::test]
async fn healthz_is_ok() {
    let (_live, watch) = watch::channel(Vec::new());
    let (status, _, body) = get(&router(watch.into()), "/healthz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
}

#[tokio::test]
async fn the_page_is_self_contained_html_that_polls_the_api() {
    let (_live, watch) = watch::channel(Vec::new());
    let (status, headers, body) = get(&router(watch.into()), "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("ascii");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(body.starts_with("<!doctype html>"));
    assert!(body.contains("<title>FerroTunnel dashboard</title>"));
    assert!(body.contains(r#"fetch("/api/tunnels""#));
    assert!(body.contains("REFRESH_MS = 2000"));
    // No external assets: nothing is loaded from another origin.
    for attribute in ["src=", "href=\"http", "href='http", "@import", "url("] {
        assert!(!body.contains(attribute), "the page loads {attribute}…");
    }
}

#[tokio::test]
async fn unknown_paths_are_404_naming_the_routes() {
    let (_live, watch) = watch::channel(Vec::new());
    let (status, _, body) = get(&router(watch.into()), "/api/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("/api/tunnels"), "{body}");
}

#[test]
fn state_lists_tunnels_as_views() {
    let (_live, watch) = watch::channel(vec![info("app")]);
    assert_eq!(
        DashboardState::new(watch).tunnels(),
        vec![TunnelView {
            name: "app".into(),
            public_url: "http://app.localhost:8080".into(),
        }]
    );
}

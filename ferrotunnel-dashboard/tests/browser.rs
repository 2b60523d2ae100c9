//! The dashboard in a real browser: headless Chromium, driven over the DevTools protocol,
//! against a real FerroTunnel server with a live tunnel.
//!
//! Needs a chromium binary (`$CHROMIUM`, or `chromium` on `PATH`): `apt-get install chromium`.

mod support;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use axum::{
    Router,
    http::{HeaderValue, header},
    response::Html,
    routing::get,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client as HttpClient, rt::TokioExecutor};
use serde_json::json;
use support::{
    LiveDashboard, RecordingService,
    chromium::{Browser, Result},
};
use tokio::net::TcpListener;

/// How long the page may take to show what the test waits for. Generous: only a broken page
/// ever waits this long.
const PAGE_LIMIT: Duration = Duration::from_secs(20);

/// How soon a request through the tunnel must show in the live list (the issue's promise).
const LIVE_LIMIT: Duration = Duration::from_secs(2);

/// Where screenshots go: `target/tmp/browser/`.
fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser")
}

/// Sends `GET path` with `x-demo: original` through the tunnel at `public_url`, as a visitor.
async fn visit(ingress: SocketAddr, public_url: &str, path: &str) -> u16 {
    let host = public_url
        .strip_prefix("http://")
        .expect("an http:// public URL")
        .trim_end_matches('/');
    let client = HttpClient::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = http::Request::get(format!("http://{ingress}{path}"))
        .header(header::HOST, host)
        .header("x-demo", "original")
        .body(Empty::new())
        .expect("request");
    let response = tokio::time::timeout(PAGE_LIMIT, client.request(request))
        .await
        .expect("the tunnel answers in time")
        .expect("the tunnel answers");
    let status = response.status().as_u16();
    response.into_body().collect().await.expect("body");
    status
}

/// The issue's scenario: the live list shows a request within 2 s of it going through the
/// tunnel; replay reaches the local service again; replay with a changed header reaches it
/// changed.
#[tokio::test]
async fn a_request_shows_up_live_and_replays_reach_the_local_service() -> Result<()> {
    let mut live = LiveDashboard::start().await;
    let mut local = RecordingService::start().await;
    let public_url = live.open_tunnel("browser-demo", local.addr).await;
    let ingress = live.server.http_addr();

    let browser = Browser::launch().await?;
    let page = browser.new_page().await?;
    page.goto(&format!("{}#/requests", live.url())).await?;
    page.wait_for(
        "document.querySelector('#live-status[data-state=\"live\"]') !== null",
        PAGE_LIMIT,
    )
    .await?;

    // A visitor's request, then its row in the live list.
    assert_eq!(visit(ingress, &public_url, "/orders?id=7").await, 200);
    let (method, uri, headers) = local.next().await;
    assert_eq!((method.as_str(), uri.as_str()), ("GET", "/orders?id=7"));
    assert_eq!(headers["x-demo"], "original");
    let row = "#request-list [data-exchange-id=\"1\"]";
    page.wait_for(
        &format!("(() => {{ const row = document.querySelector('{row}'); return row && row.textContent.includes('/orders'); }})()"),
        LIVE_LIMIT,
    )
    .await?;

    // Open it, and replay it as it was.
    page.click(row).await?;
    page.wait_for(
        "document.querySelector('#exchange-view[data-exchange-id=\"1\"] #replay:not([disabled])') !== null",
        PAGE_LIMIT,
    )
    .await?;
    page.click("#replay").await?;
    let (method, uri, headers) = local.next().await;
    assert_eq!((method.as_str(), uri.as_str()), ("GET", "/orders?id=7"));
    assert_eq!(headers["x-demo"], "original");
    let link = page
        .wait_for(
            "document.querySelector('#replay-result a')?.getAttribute('href')",
            PAGE_LIMIT,
        )
        .await?;
    assert_eq!(link, json!("#/requests/2"));

    // Replay with a changed header.
    page.wait_for(
        "document.querySelector('#replay-edit:not([disabled])') !== null",
        PAGE_LIMIT,
    )
    .await?;
    page.click("#replay-edit").await?;
    page.wait_for(
        "document.querySelector('#replay-form') !== null",
        PAGE_LIMIT,
    )
    .await?;
    let headers = page
        .eval("document.querySelector('#replay-form textarea[name=headers]').value")
        .await?;
    let headers = headers.as_str().expect("the headers are text");
    assert!(headers.contains("x-demo: original"), "{headers}");
    page.fill(
        "#replay-form textarea[name=headers]",
        &headers.replace("x-demo: original", "x-demo: changed"),
    )
    .await?;
    page.click("#replay-send").await?;
    let (method, uri, headers) = local.next().await;
    assert_eq!((method.as_str(), uri.as_str()), ("GET", "/orders?id=7"));
    assert_eq!(headers["x-demo"], "changed");
    page.wait_for(
        "document.querySelector('#replay-result a')?.getAttribute('href') === '#/requests/3'",
        PAGE_LIMIT,
    )
    .await?;

    // The overview, with the traffic so far: the screenshot docs/ shows.
    page.goto(&format!("{}#/", live.url())).await?;
    page.wait_for(
        "document.querySelector('#view-overview:not([hidden])') !== null \
         && document.querySelectorAll('#view-overview svg, #view-overview canvas').length > 0",
        PAGE_LIMIT,
    )
    .await?;
    let shot = screenshot_dir().join("overview.png");
    page.screenshot_png(&shot).await?;
    assert!(std::fs::read(&shot)?.starts_with(b"\x89PNG\r\n\x1a\n"));

    let errors = page.console_errors();
    assert_eq!(errors, Vec::<String>::new(), "the page ran clean");
    browser.close().await?;
    live.shutdown().await;
    Ok(())
}

// === the driver itself ===

/// A page with a form, a button under an overlay and a strict CSP, for the driver's own test.
const FORM_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>driver test</title><link rel="icon" href="data:,"></head>
<body>
<input id="who"> <button id="greet">Greet</button>
<p id="greeting"></p>
<div style="position: relative; margin-top: 1500px">
  <button id="covered">Covered</button>
  <div style="position: absolute; inset: 0"></div>
</div>
<script>
  "use strict";
  const who = document.getElementById("who");
  let inputs = 0;
  who.addEventListener("input", () => { inputs += 1; });
  document.getElementById("greet").addEventListener("click", (event) => {
    // Answer later, as a page that fetches would.
    setTimeout(() => {
      document.getElementById("greeting").textContent =
        "hello " + who.value + (event.isTrusted ? " (trusted)" : "") + " after " + inputs + " input";
    }, 100);
  });
</script>
</body>
</html>
"#;

const FORM_PAGE_CSP: &str =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:";

async fn serve_form_page() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().route(
        "/",
        get(|| async {
            (
                [(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(FORM_PAGE_CSP),
                )],
                Html(FORM_PAGE),
            )
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn the_driver_clicks_fills_waits_and_collects_page_errors() -> Result<()> {
    let addr = serve_form_page().await;
    let browser = Browser::launch().await?;
    // Two tabs on the one connection, loading at the same time.
    let (first, second) = tokio::try_join!(browser.new_page(), browser.new_page())?;
    let url = format!("http://{addr}/");
    tokio::try_join!(first.goto(&url), second.goto(&url))?;

    first.fill("#who", "visitor").await?;
    first.click("#greet").await?;
    let greeting = first
        .wait_for(
            "document.getElementById('greeting').textContent",
            PAGE_LIMIT,
        )
        .await?;
    assert_eq!(greeting, json!("hello visitor (trusted) after 1 input"));
    assert_eq!(
        second.eval("document.getElementById('who').value").await?,
        json!("")
    );

    // Each failure says what went wrong.
    let covered = first
        .click("#covered")
        .await
        .expect_err("the button is covered");
    assert!(
        covered.to_string().contains("#covered is covered"),
        "{covered}"
    );
    let missing = first.click("#nothing").await.expect_err("nothing matches");
    assert!(
        missing.to_string().contains("nothing matches #nothing"),
        "{missing}"
    );
    let thrown = first.eval("(() => { throw new Error('boom') })()").await;
    assert!(
        thrown
            .expect_err("it throws")
            .to_string()
            .contains("Error: boom")
    );
    let waited = first
        .wait_for(
            "document.querySelector('#never')",
            Duration::from_millis(200),
        )
        .await
        .expect_err("it never appears");
    assert!(
        waited
            .to_string()
            .contains("document.querySelector('#never') was not truthy within 200 ms"),
        "{waited}"
    );
    // A failed `eval` or `wait_for` is the test's business, not the page's.
    assert_eq!(first.console_errors(), Vec::<String>::new());

    // What goes wrong in the page is collected, in order.
    first.eval("console.error('visible', 42)").await?;
    first
        .eval("setTimeout(() => { throw new Error('from a timer') }, 0)")
        .await?;
    first
        .wait_for_console_error("from a timer", PAGE_LIMIT)
        .await?;
    first
        .eval("document.body.append(Object.assign(new Image(), { src: '/blocked.png' }))")
        .await?;
    let csp = first
        .wait_for_console_error("Content Security Policy", PAGE_LIMIT)
        .await?;
    assert!(csp.contains("/blocked.png"), "{csp}");
    let errors = first.console_errors();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert_eq!(errors[0], "console.error: visible 42");
    assert!(
        errors[1].starts_with("uncaught Error: from a timer"),
        "{errors:#?}"
    );
    assert_eq!(
        second.console_errors(),
        Vec::<String>::new(),
        "the tabs are apart"
    );

    first
        .screenshot_png(screenshot_dir().join("driver.png"))
        .await?;
    second.close().await?;
    browser.close().await?;
    Ok(())
}

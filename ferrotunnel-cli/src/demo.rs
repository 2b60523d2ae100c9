//! The built-in demo service of `ferrotunnel quickstart`: proof that a request made it through
//! the tunnel, showing what the local service received.
//!
//! - `GET /`: an HTML page saying the tunnel works, with the request's method, path and the
//!   `X-Forwarded-*` headers the server added, and every other header.
//! - `/api/echo` (any method): the same details as JSON, plus the request body.
//!
//! Everything shown comes from the visitor, so the page escapes it, and credentials
//! (`Authorization`, `Cookie`, …) are masked: a screenshot of the page must not leak them.

use std::{collections::BTreeMap, io, net::SocketAddr, time::Duration};

use axum::{
    Json, Router,
    body::Bytes,
    extract::DefaultBodyLimit,
    http::{HeaderMap, Method, Uri, header},
    response::Html,
    routing::{any, get},
};
use serde::Serialize;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::LOG_TARGET;

/// The echo endpoint keeps whole bodies in memory to show them; this bounds that.
const MAX_ECHO_BODY: usize = 64 * 1024;
/// How long stopping waits for requests in flight.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The demo app, as a router (so tests can call it without a socket).
pub(crate) fn router() -> Router {
    Router::new()
        .route("/", get(home))
        .route("/api/echo", any(echo))
        .layer(DefaultBodyLimit::max(MAX_ECHO_BODY))
}

/// The demo service, listening.
#[derive(Debug)]
pub(crate) struct DemoService {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

impl DemoService {
    /// Serves the demo app on `addr` (port 0 picks a free one).
    pub(crate) async fn start(addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router())
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Self { addr, stop, task })
    }

    /// Where the demo service listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and lets requests in flight finish, for a bounded time.
    pub(crate) async fn shutdown(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        match tokio::time::timeout(STOP_GRACE, &mut task).await {
            Ok(Ok(Err(err))) => {
                tracing::warn!(target: LOG_TARGET, error = %err, "the demo service failed")
            }
            Ok(_) => {}
            Err(_) => {
                tracing::warn!(target: LOG_TARGET, grace = ?STOP_GRACE, "the demo service did not stop in time");
                task.abort();
            }
        }
    }
}

/// What the demo shows about one request.
#[derive(Debug, Serialize)]
struct Seen {
    method: String,
    path: String,
    forwarded_for: Option<String>,
    forwarded_host: Option<String>,
    forwarded_proto: Option<String>,
    headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
}

impl Seen {
    fn new(method: &Method, uri: &Uri, headers: &HeaderMap) -> Self {
        let get = |name: &str| headers.get(name).map(|v| printable(v.as_bytes()));
        Self {
            method: method.to_string(),
            path: uri
                .path_and_query()
                .map_or_else(|| uri.path().to_owned(), |p| p.to_string()),
            forwarded_for: get("x-forwarded-for"),
            forwarded_host: get("x-forwarded-host"),
            forwarded_proto: get("x-forwarded-proto"),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    let shown = if is_sensitive(name) {
                        "***".to_owned()
                    } else {
                        printable(value.as_bytes())
                    };
                    (name.as_str().to_owned(), shown)
                })
                .collect(),
            body: None,
        }
    }
}

fn is_sensitive(name: &header::HeaderName) -> bool {
    [
        header::AUTHORIZATION,
        header::PROXY_AUTHORIZATION,
        header::COOKIE,
        header::SET_COOKIE,
    ]
    .contains(name)
}

fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Json<Seen> {
    let mut seen = Seen::new(&method, &uri, &headers);
    seen.body = Some(printable(&body));
    Json(seen)
}

async fn home(method: Method, uri: Uri, headers: HeaderMap) -> Html<String> {
    Html(page(&Seen::new(&method, &uri, &headers)))
}

fn page(seen: &Seen) -> String {
    let missing = "<em>not set</em>".to_owned();
    let shown = |value: &Option<String>| value.as_deref().map_or_else(|| missing.clone(), escape);
    let headers: String = seen
        .headers
        .iter()
        .map(|(name, value)| {
            format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(name),
                escape(value)
            )
        })
        .collect();
    let host = seen
        .forwarded_host
        .clone()
        .or_else(|| seen.headers.get("host").cloned())
        .unwrap_or_else(|| "localhost".into());
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>FerroTunnel works</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 3rem auto; padding: 0 1rem; color: #222; }}
h1 {{ color: #b7410e; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 2rem; }}
th, td {{ text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #ddd; font-family: ui-monospace, monospace; font-size: .9rem; word-break: break-all; }}
th {{ width: 14rem; }}
code {{ background: #f4f4f4; padding: .1rem .3rem; }}
</style>
</head>
<body>
<h1>Your tunnel works!</h1>
<p>This page comes from the demo service on your machine. Your browser asked the FerroTunnel
server, the server sent the request through the tunnel to the client, and the client handed it
to this service.</p>
<h2>This request</h2>
<table>
<tr><th>Method</th><td>{method}</td></tr>
<tr><th>Path</th><td>{path}</td></tr>
<tr><th>X-Forwarded-For</th><td>{forwarded_for}</td></tr>
<tr><th>X-Forwarded-Host</th><td>{forwarded_host}</td></tr>
<tr><th>X-Forwarded-Proto</th><td>{forwarded_proto}</td></tr>
</table>
<h2>All headers received</h2>
<table>
{headers}
</table>
<p>Try the JSON echo: <code>curl -d 'hello' http://{host}/api/echo</code></p>
</body>
</html>
"#,
        method = escape(&seen.method),
        path = escape(&seen.path),
        forwarded_for = shown(&seen.forwarded_for),
        forwarded_host = shown(&seen.forwarded_host),
        forwarded_proto = shown(&seen.forwarded_proto),
        host = escape(&host),
    )
}

/// Escapes text for HTML element content and quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt as _;

    use super::*;

    async fn call(request: Request<Body>) -> (u16, String) {
        let response = router().oneshot(request).await.expect("infallible");
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn the_home_page_shows_the_forwarded_headers_escaped_and_masked() {
        let request = Request::get("/?q=1")
            .header("host", "demo.localhost:8080")
            .header("x-forwarded-for", "127.0.0.1")
            .header("x-forwarded-host", "demo.localhost:8080")
            .header("x-forwarded-proto", "http")
            .header("authorization", "Bearer hunter2")
            .header("x-evil", "<b>bold</b>")
            .body(Body::empty())
            .expect("request");
        let (status, page) = call(request).await;
        assert_eq!(status, 200);
        assert!(page.contains("Your tunnel works!"));
        assert!(page.contains("<tr><th>Method</th><td>GET</td></tr>"));
        assert!(page.contains("<td>/?q=1</td>"), "{page}");
        assert!(page.contains("<tr><th>X-Forwarded-Host</th><td>demo.localhost:8080</td></tr>"));
        assert!(page.contains("<tr><th>X-Forwarded-Proto</th><td>http</td></tr>"));
        assert!(page.contains("&lt;b&gt;bold&lt;/b&gt;"));
        assert!(!page.contains("<b>bold"));
        assert!(!page.contains("hunter2"));
        assert!(page.contains("http://demo.localhost:8080/api/echo"));
    }

    #[tokio::test]
    async fn without_a_tunnel_the_page_says_the_headers_are_missing() {
        let (_, page) = call(Request::get("/").body(Body::empty()).expect("request")).await;
        assert!(page.contains("<tr><th>X-Forwarded-For</th><td><em>not set</em></td></tr>"));
    }

    #[tokio::test]
    async fn echo_returns_the_request_as_json() {
        let request = Request::post("/api/echo?x=1")
            .header("x-forwarded-host", "demo.localhost")
            .header("cookie", "session=secret")
            .body(Body::from("hello"))
            .expect("request");
        let (status, json) = call(request).await;
        assert_eq!(status, 200);
        assert!(json.contains(r#""method":"POST""#), "{json}");
        assert!(json.contains(r#""path":"/api/echo?x=1""#), "{json}");
        assert!(
            json.contains(r#""forwarded_host":"demo.localhost""#),
            "{json}"
        );
        assert!(json.contains(r#""body":"hello""#), "{json}");
        assert!(!json.contains("session=secret"), "{json}");
    }

    #[tokio::test]
    async fn echo_bodies_are_bounded() {
        let request = Request::post("/api/echo")
            .body(Body::from(vec![b'x'; MAX_ECHO_BODY + 1]))
            .expect("request");
        assert_eq!(call(request).await.0, 413);
    }
}

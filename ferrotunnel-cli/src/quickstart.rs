//! `ferrotunnel quickstart`: the whole tunnel in one process, to see it work in one command.
//!
//! Starts a server, the demo service ([`crate::demo`]) and a client that exposes the demo
//! service through the server, with the server's dashboard and the client's inspector, prints
//! the URLs to open, and on a stop signal takes everything down in the order that drops no
//! request: the client first (the server stops routing to it and its streams in flight finish),
//! then the server, then the demo service.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::Context as _;
use ferrotunnel::{Client, Server};

use ferrotunnel_dashboard::{DashboardState, IngressReplay};
use ferrotunnel_tower::{
    capture::{CaptureConfig, CaptureStore},
    metrics::MetricsLayer,
    trace::TraceLayer,
};

use crate::{
    LOG_TARGET, banner, cli::QuickstartArgs, client, dashboard::Dashboard, demo::DemoService,
    metrics, signal::Signals, traces,
};

/// Runs the server, the demo service and the client until a stop signal.
pub(crate) async fn run(args: QuickstartArgs, signals: &mut Signals) -> anyhow::Result<()> {
    // The token only keeps other local users from registering tunnels on this server.
    let token = random_token()?;

    let traces = traces::init_logging(args.otlp_endpoint.as_deref(), "ferrotunnel-quickstart");
    let prometheus = metrics::recorder()?;
    let capture = CaptureStore::new(CaptureConfig::default());
    let mut server = Server::builder();
    if traces.is_some() {
        server = server
            .observe_layer(TraceLayer::ingress())
            .forward_layer(TraceLayer::forward());
    }
    let server = server
        .observe_layer(MetricsLayer::new())
        .layer(capture.layer())
        .control_addr(args.listen)
        .http_addr(args.http)
        .domain("localhost")
        .token(&token)
        .build()
        .context("invalid quickstart settings")?
        .start()
        .await
        .context("cannot start the quickstart server (is another one running? try --listen 127.0.0.1:0 --http 127.0.0.1:0)")?;
    banner::print(&banner::server_online(
        server.control_addr(),
        server.http_addr(),
        None,
        &[],
    ));

    let demo = DemoService::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .context("cannot start the demo service")?;
    let demo_url = format!("http://{}", demo.addr());
    banner::print(&[banner::line("Demo service", &demo_url)]);

    let state = DashboardState::new(capture, server.watch_tunnels())
        .replay_with(IngressReplay::new(server.ingress_service()))
        .metrics(prometheus.clone());
    let dashboard = match Dashboard::start(args.dashboard, state, None).await {
        Ok(dashboard) => dashboard,
        Err(err) => {
            server.shutdown().await;
            demo.shutdown().await;
            return Err(err.context("try --dashboard 127.0.0.1:0"));
        }
    };
    banner::print(&[banner::line("Dashboard", dashboard.url())]);
    if let Some(traces) = &traces {
        banner::print(&[banner::line("Traces", traces.endpoint())]);
    }

    let server_url = format!("tcp://{}", connectable(server.control_addr()));
    let client_capture = CaptureStore::new(CaptureConfig::default());
    let mut client = Client::builder().http_layer(client_capture.layer());
    if traces.is_some() {
        client = client.http_layer(TraceLayer::local());
    }
    let started = client
        .server_url(&server_url)
        .token(&token)
        .local_address(demo.addr().to_string())
        .subdomain(&args.subdomain)
        .build()
        .context("invalid quickstart settings")?
        .start()
        .await
        .context("the quickstart client cannot reach its own server");
    let client = match started {
        Ok(client) => client,
        Err(err) => {
            dashboard.stop();
            server.shutdown().await;
            demo.shutdown().await;
            return Err(err);
        }
    };
    let locals = [demo.addr().to_string()];
    let inspector = match client::inspect(
        args.inspect,
        client_capture,
        &client,
        &locals,
        None,
        Some(prometheus),
    )
    .await
    {
        Ok(inspector) => inspector,
        Err(err) => {
            dashboard.stop();
            let _ = client.shutdown().await;
            server.shutdown().await;
            demo.shutdown().await;
            return Err(err.context("try --inspect 127.0.0.1:0"));
        }
    };
    client::announce(&client, &server_url, &locals);
    banner::print(&[banner::line("Inspector", inspector.url())]);
    banner::print(&[
        String::new(),
        format!(
            "Open {}/ in your browser (Ctrl+C to stop), and watch it live in {} (every tunnel) or {} (this client).",
            client.public_url(),
            dashboard.url(),
            inspector.url()
        ),
        format!(
            "Expose another local service: ferrotunnel client --server {server_url} --token {token} --local HOST:PORT --subdomain NAME"
        ),
    ]);

    let result = client::supervise(client, &locals, signals).await;
    match signals.graceful(server.shutdown()).await {
        Ok(()) => banner::print(&banner::server_stopped()),
        Err(err) => tracing::warn!(target: LOG_TARGET, error = %err, "server shutdown cut short"),
    }
    inspector.stop();
    dashboard.stop();
    demo.shutdown().await;
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    result
}

/// A client cannot connect to a wildcard address; the same port on loopback is the server.
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

/// 128 random bits, hex-encoded.
fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|err| anyhow::anyhow!("cannot generate a random token: {err}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_addresses_become_loopback() {
        let addr = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert_eq!(connectable(addr("0.0.0.0:7835")), addr("127.0.0.1:7835"));
        assert_eq!(connectable(addr("[::]:7835")), addr("[::1]:7835"));
        assert_eq!(connectable(addr("10.0.0.1:1")), addr("10.0.0.1:1"));
    }

    #[test]
    fn tokens_are_random_hex() {
        let a = random_token().expect("token");
        let b = random_token().expect("token");
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}

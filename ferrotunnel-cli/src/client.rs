//! `ferrotunnel client`: registers tunnels, reports every change of the session on stdout, and
//! on a stop signal tells the server it is leaving.
//!
//! The first connection is not retried: a wrong address or token should fail loudly at once,
//! not spin in the background. Once online, a lost session is re-established by the library
//! with backoff; this module only watches [`ClientHandle::state`] and prints what happens.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::ArgMatches;
use ferrotunnel::{Client, ClientBuilder, ClientHandle, ClientState, protocol::TunnelInfo};
use ferrotunnel_dashboard::{DashboardState, LocalReplay};
use ferrotunnel_tower::{capture::CaptureStore, trace::TraceLayer};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::{
    LOG_TARGET, banner,
    cli::ClientArgs,
    config::{ClientConfig, DashboardAuth, PolicyArgs},
    dashboard::{Dashboard, client_tunnels},
    metrics::{self, MetricsEndpoint},
    signal::Signals,
    traces,
};

/// Connects, prints the banner, and runs until a stop signal or a refusal.
pub(crate) async fn run(
    args: ClientArgs,
    flags: &ArgMatches,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    let config = ClientConfig::resolve(args.config.as_deref(), flags)?;
    let traces = traces::init_logging(config.otlp_endpoint.as_deref(), "ferrotunnel-client");
    // Before the client starts, so that its first state is recorded.
    let prometheus = if config.metrics.is_some() || config.inspect.is_some() {
        Some(metrics::recorder()?)
    } else {
        None
    };
    // Without --inspect or traces the client splices bytes; with them, HTTP runs through the
    // capture layer, then the trace layer, whose traceparent the local service receives.
    let capture = config.inspect.map(|_| CaptureStore::new(config.capture()));
    let mut builder = builder(&config);
    if let Some(capture) = &capture {
        builder = builder.http_layer(capture.layer());
    }
    if traces.is_some() {
        builder = builder.http_layer(TraceLayer::local());
    }
    let client = builder.build().context("invalid client settings")?;
    let server_url = config.server.clone().unwrap_or_default();
    tracing::info!(target: LOG_TARGET, server = %server_url, "connecting");
    let handle = tokio::select! {
        started = client.start() => started.with_context(|| format!("cannot open a session with {server_url}"))?,
        signal = signals.recv() => {
            tracing::info!(target: LOG_TARGET, %signal, "stopped before the session was open");
            return Ok(());
        }
    };
    let locals = config.local_addresses();
    let inspector = match (config.inspect, capture) {
        (Some(addr), Some(capture)) => Some(
            inspect(
                addr,
                capture,
                &handle,
                &locals,
                config.dashboard_auth.as_ref(),
                prometheus.clone(),
            )
            .await?,
        ),
        _ => None,
    };
    let metrics_endpoint = match (config.metrics, prometheus) {
        (Some(addr), Some(prometheus)) => Some(MetricsEndpoint::start(addr, prometheus).await?),
        _ => None,
    };
    announce(&handle, &server_url, &locals);
    banner::print(
        &banner::policy_line(&config.policies())
            .into_iter()
            .chain(
                inspector
                    .as_ref()
                    .map(|i| banner::line("Inspector", i.url())),
            )
            .chain(
                metrics_endpoint
                    .as_ref()
                    .map(|endpoint| banner::line("Metrics", endpoint.url())),
            )
            .chain(
                traces
                    .as_ref()
                    .map(|traces| banner::line("Traces", traces.endpoint())),
            )
            .collect::<Vec<_>>(),
    );
    let result = supervise(handle, &locals, signals).await;
    if let Some(inspector) = inspector {
        inspector.stop();
    }
    if let Some(endpoint) = metrics_endpoint {
        endpoint.stop();
    }
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    result
}

/// Serves the client's own inspector on `addr`: what its capture layer records, and replays
/// straight to its local services.
pub(crate) async fn inspect(
    addr: SocketAddr,
    capture: CaptureStore,
    client: &ClientHandle,
    locals: &[String],
    auth: Option<&DashboardAuth>,
    metrics: Option<PrometheusHandle>,
) -> anyhow::Result<Dashboard> {
    let tunnels = client_tunnels(client.state(), locals.to_vec());
    let mut state = DashboardState::with_views(capture, tunnels.clone());
    if let Some(service) = client.http_service() {
        state = state.replay_with(LocalReplay::new(service, tunnels));
    }
    if let Some(metrics) = metrics {
        state = state.metrics(metrics);
    }
    Dashboard::start(addr, state, auth).await
}

/// Prints the banner for a client that has just registered its tunnels.
pub(crate) fn announce(client: &ClientHandle, server_url: &str, locals: &[String]) {
    banner::print(&banner::client_online(
        server_url,
        &client.tunnels(),
        locals,
    ));
}

/// Prints state changes until a stop signal (then shuts the client down gracefully) or until
/// the client stops by itself, which it only does when refused for good: that is an error.
pub(crate) async fn supervise(
    mut client: ClientHandle,
    locals: &[String],
    signals: &mut Signals,
) -> anyhow::Result<()> {
    let mut state = client.state();
    let mut shown: Vec<TunnelInfo> = client.tunnels().to_vec();
    loop {
        tokio::select! {
            changed = state.changed() => {
                if changed.is_err() {
                    break; // the client's task ended; `wait` says why
                }
                let current = state.borrow_and_update().clone();
                report(&current, &mut shown, locals);
                if matches!(current, ClientState::Refused(_) | ClientState::Stopped) {
                    break;
                }
            }
            signal = signals.recv() => {
                tracing::info!(target: LOG_TARGET, %signal, "shutting down: telling the server, finishing streams in flight");
                let stopped = signals.graceful(client.shutdown()).await?;
                banner::print(&[banner::line("Session Status", "stopped")]);
                return stopped.context("the client did not stop cleanly");
            }
        }
    }
    client.wait().await.context("the client stopped")
}

/// Prints one state change; after a reconnection, the forwarding lines too if the URLs moved.
fn report(state: &ClientState, shown: &mut Vec<TunnelInfo>, locals: &[String]) {
    let mut lines: Vec<String> = banner::session_status(state).into_iter().collect();
    if let ClientState::Connected { tunnels, .. } = state {
        if tunnels != shown {
            lines.extend(banner::forwarding(tunnels, locals));
            shown.clone_from(tunnels);
        }
    }
    banner::print(&lines);
}

/// The library builder with every configured setting applied; unset ones keep its defaults.
fn builder(config: &ClientConfig) -> ClientBuilder {
    let mut builder = Client::builder();
    if let Some(url) = &config.server {
        builder = builder.server_url(url);
    }
    if let Some(token) = &config.token {
        builder = builder.token(token.expose());
    }
    if let Some(ca) = &config.ca {
        builder = builder.ca_file(ca);
    }
    if let Some(local) = &config.local {
        builder = builder.local_address(local);
    }
    if let Some(name) = &config.subdomain {
        builder = builder.subdomain(name);
    }
    for tunnel in &config.tunnels {
        builder = builder.tunnel(&tunnel.name, &tunnel.local);
        for policy in tunnel.policy.iter().flat_map(PolicyArgs::policies) {
            builder = builder.tunnel_policy(&tunnel.name, policy);
        }
    }
    for policy in config.policies() {
        builder = builder.policy(policy);
    }
    if let Some(timeout) = config.connect_timeout {
        builder = builder.connect_timeout(timeout);
    }
    if let Some(timeout) = config.handshake_timeout {
        builder = builder.handshake_timeout(timeout);
    }
    if let Some(timeout) = config.local_connect_timeout {
        builder = builder.local_connect_timeout(timeout);
    }
    if let Some((initial, max)) = config.reconnect_backoff() {
        builder = builder.reconnect_backoff(initial, max);
    }
    if let Some(grace) = config.grace_period {
        builder = builder.grace_period(grace);
    }
    if let Some(max) = config.max_streams {
        builder = builder.max_streams(max);
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_checks_reach_the_user() {
        let config = ClientConfig {
            server: Some("gopher://x:70".into()),
            local: Some("127.0.0.1:3000".into()),
            ..ClientConfig::default()
        };
        let err = builder(&config).build().expect_err("scheme").to_string();
        assert!(err.contains("scheme \"gopher\""), "{err}");
        let config = ClientConfig {
            server: Some("tcp://127.0.0.1:7835".into()),
            local: Some("3000".into()),
            ..ClientConfig::default()
        };
        let err = builder(&config).build().expect_err("local").to_string();
        assert!(err.contains("local address \"3000\""), "{err}");
    }
}

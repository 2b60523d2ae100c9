//! `ferrotunnel server`: runs a [`Server`] until a stop signal, then shuts it down gracefully.

use std::path::Path;

use anyhow::Context as _;
use clap::ArgMatches;
use ferrotunnel::{Server, ServerBuilder, transport::ServerTls};
use ferrotunnel_dashboard::{DashboardState, IngressReplay};
use ferrotunnel_tower::{
    capture::CaptureStore, metrics::MetricsLayer, policy::TunnelPolicies, trace::TraceLayer,
};

use crate::{
    LOG_TARGET, banner,
    cli::ServerArgs,
    config::{ConfigError, ServerConfig},
    dashboard::Dashboard,
    metrics::{self, MetricsEndpoint},
    signal::Signals,
    traces,
};

/// Starts the server, prints where it listens, and serves until Ctrl+C or SIGTERM.
pub(crate) async fn run(
    args: ServerArgs,
    flags: &ArgMatches,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    let config = ServerConfig::resolve(args.config.as_deref(), flags)?;
    let traces = traces::init_logging(config.otlp_endpoint.as_deref(), "ferrotunnel-server");
    // Metrics are recorded only when something serves them.
    let prometheus = if config.metrics.is_some() || config.dashboard.is_some() {
        Some(metrics::recorder()?)
    } else {
        None
    };
    // The capture layer runs only when someone will look at what it records.
    let capture = config
        .dashboard
        .map(|_| CaptureStore::new(config.capture()));
    let mut builder = builder(&config)?;
    if traces.is_some() {
        builder = builder
            .observe_layer(TraceLayer::ingress())
            .forward_layer(TraceLayer::forward());
    }
    if prometheus.is_some() {
        builder = builder.observe_layer(MetricsLayer::new());
    }
    if let Some(capture) = &capture {
        builder = builder.layer(capture.layer());
    }
    let server = builder.build().context("invalid server settings")?;
    let handle = server.start().await.context("cannot start the server")?;
    let dashboard = match (config.dashboard, capture) {
        (Some(addr), Some(capture)) => {
            let mut state = DashboardState::new(capture, handle.watch_tunnels())
                .replay_with(IngressReplay::new(handle.ingress_service()));
            if let Some(prometheus) = &prometheus {
                state = state.metrics(prometheus.clone());
            }
            Some(Dashboard::start(addr, state, config.dashboard_auth.as_ref()).await?)
        }
        _ => None,
    };
    let metrics_endpoint = match (config.metrics, prometheus) {
        (Some(addr), Some(prometheus)) => Some(MetricsEndpoint::start(addr, prometheus).await?),
        _ => None,
    };
    banner::print(&banner::server_online(
        handle.control_addr(),
        handle.http_addr(),
        handle.https_addr(),
        &config.policies(),
    ));
    if let Some(dashboard) = &dashboard {
        banner::print(&[banner::line("Dashboard", dashboard.url())]);
    }
    if let Some(endpoint) = &metrics_endpoint {
        banner::print(&[banner::line("Metrics", endpoint.url())]);
    }
    if let Some(traces) = &traces {
        banner::print(&[banner::line("Traces", traces.endpoint())]);
    }

    let signal = signals.recv().await;
    tracing::info!(target: LOG_TARGET, %signal, "shutting down: finishing requests in flight, then closing client sessions");
    signals.graceful(handle.shutdown()).await?;
    if let Some(dashboard) = dashboard {
        dashboard.stop();
    }
    if let Some(endpoint) = metrics_endpoint {
        endpoint.stop();
    }
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    banner::print(&banner::server_stopped());
    Ok(())
}

/// The library builder with every configured setting applied; unset ones keep its defaults.
/// Fails if a certificate or key file cannot be read or used.
fn builder(config: &ServerConfig) -> Result<ServerBuilder, ConfigError> {
    let mut builder = Server::builder();
    if let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) {
        builder = builder.tls(load_tls(cert, key)?);
    }
    if let Some((addr, cert, key)) = config.https_ingress() {
        builder = builder.https(addr, load_tls(cert, key)?);
    }
    if let Some(addr) = config.listen {
        builder = builder.control_addr(addr);
    }
    if let Some(addr) = config.http {
        builder = builder.http_addr(addr);
    }
    if let Some(domain) = &config.domain {
        builder = builder.domain(domain);
    }
    for token in &config.tokens {
        builder = builder.token(token.expose());
    }
    if let Some(port) = config.public_port {
        builder = builder.public_port(port);
    }
    if let Some(timeout) = config.handshake_timeout {
        builder = builder.handshake_timeout(timeout);
    }
    if let Some(interval) = config.heartbeat_interval {
        builder = builder.heartbeat_interval(interval);
    }
    if let Some(timeout) = config.response_timeout {
        builder = builder.response_timeout(timeout);
    }
    if let Some(timeout) = config.header_read_timeout {
        builder = builder.header_read_timeout(timeout);
    }
    if let Some(grace) = config.grace_period {
        builder = builder.grace_period(grace);
    }
    if let Some(max) = config.max_clients {
        builder = builder.max_clients(max);
    }
    if let Some(max) = config.max_tunnels_per_client {
        builder = builder.max_tunnels_per_client(max);
    }
    if let Some(max) = config.max_streams_per_session {
        builder = builder.max_streams_per_session(max);
    }
    if let Some(max) = config.max_header_size {
        builder = builder.max_header_size(max);
    }
    if let Some(max) = config.max_frame_size {
        builder = builder.max_frame_size(max);
    }
    let mut policies = TunnelPolicies::new()
        .server_policy(config.policies())
        .client_policies(config.client_policies()?);
    if let Some(max) = config.max_policy_rules {
        policies = policies.max_client_rules(max);
    }
    Ok(builder.tunnel_policy(policies))
}

/// A certificate that cannot be loaded is a settings problem: retrying will not help.
fn load_tls(cert: &Path, key: &Path) -> Result<ServerTls, ConfigError> {
    ServerTls::from_pem_files(cert, key).map_err(|err| ConfigError::new(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_checks_reach_the_user() {
        // The CLI does not repeat the library's rules; their messages must still get through.
        let config = ServerConfig {
            domain: Some("not a domain".into()),
            ..ServerConfig::default()
        };
        let err = builder(&config)
            .expect("no certificate to load")
            .build()
            .expect_err("bad domain")
            .to_string();
        assert!(err.contains("\"not a domain\""), "{err}");
        let config = ServerConfig {
            max_header_size: Some(10),
            ..ServerConfig::default()
        };
        let err = builder(&config)
            .expect("no certificate to load")
            .build()
            .expect_err("small")
            .to_string();
        assert!(err.contains("max header size"), "{err}");
    }

    #[test]
    fn a_missing_certificate_is_a_settings_error_naming_the_file() {
        let config = ServerConfig {
            tls_cert: Some("/nonexistent/cert.pem".into()),
            tls_key: Some("/nonexistent/key.pem".into()),
            ..ServerConfig::default()
        };
        let err = builder(&config).expect_err("no such file").to_string();
        assert!(err.contains("/nonexistent/cert.pem"), "{err}");
    }
}

//! The process's Prometheus recorder, and `--metrics ADDR`: the port that serves it when there
//! is no dashboard to serve it on (the dashboard serves it at `/metrics` too).

use std::{net::SocketAddr, sync::OnceLock, time::Duration};

use anyhow::Context as _;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::LOG_TARGET;

/// The histogram buckets of every `…_seconds` metric: from half a millisecond (a request through
/// a tunnel on loopback) to a minute (a long download).
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// How often histograms are drained into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use (`quickstart` runs a server and a client in
/// one process: they share it).
pub(crate) fn recorder() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
        .context("the metrics' histogram buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    ferrotunnel_tower::metrics::describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_EVERY);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// `--metrics ADDR` being served.
#[derive(Debug)]
pub(crate) struct MetricsEndpoint {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsEndpoint {
    /// Binds `addr` and serves `handle` at `/metrics` there.
    pub(crate) async fn start(addr: SocketAddr, handle: PrometheusHandle) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot serve metrics on {addr}"))?;
        let addr = listener.local_addr().context("the metrics address")?;
        let app = ferrotunnel_dashboard::metrics_router(handle);
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(target: LOG_TARGET, error = %err, "the metrics endpoint stopped");
            }
        });
        Ok(Self { addr, task })
    }

    /// Where Prometheus scrapes.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    pub(crate) fn stop(self) {
        self.task.abort();
    }
}

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

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, path::Path};

    use ferrotunnel::metrics as core;
    use ferrotunnel_tower::metrics as ingress;

    /// Every metric the server and the client record.
    const EVERY_METRIC: [&str; 14] = [
        ingress::REQUESTS,
        ingress::REQUEST_DURATION,
        ingress::BYTES,
        ingress::POLICY_REFUSALS,
        core::SESSIONS_ACTIVE,
        core::TUNNELS_ACTIVE,
        core::STREAMS_ACTIVE,
        core::HANDSHAKE_FAILURES,
        core::HEARTBEAT_TIMEOUTS,
        core::CLIENT_SESSION_STATE,
        core::CLIENT_RECONNECTS,
        core::CLIENT_LOCAL_CONNECT_FAILURES,
        core::CLIENT_STREAMS,
        core::CLIENT_BYTES,
    ];

    fn doc(path: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs")
            .join(path);
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
    }

    /// The metric names in `text`, a histogram's series named by their histogram.
    fn names_in(text: &str) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for (at, _) in text.match_indices("ferrotunnel_") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            let name = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .map_or(name.clone(), str::to_owned);
            names.insert(name);
        }
        names
    }

    #[test]
    fn the_docs_list_every_metric_and_the_grafana_dashboard_reads_only_real_ones() {
        let every: BTreeSet<String> = EVERY_METRIC.iter().map(|name| (*name).to_owned()).collect();
        let documented = names_in(&doc("observability.md"));
        let undocumented: Vec<_> = every.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "not in docs/observability.md: {undocumented:?}"
        );
        let grafana = names_in(&doc("grafana/ferrotunnel.json"));
        let unknown: Vec<_> = grafana.difference(&every).collect();
        assert!(
            unknown.is_empty(),
            "the Grafana dashboard reads no such metric: {unknown:?}"
        );
        let unread: Vec<_> = every.difference(&grafana).collect();
        assert!(
            unread.is_empty(),
            "the Grafana dashboard shows no panel for: {unread:?}"
        );
    }
}

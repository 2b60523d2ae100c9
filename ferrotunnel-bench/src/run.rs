//! One whole run, in the order the figures are taken, and the report built from it.
//!
//! 1. the local service, then the tunnels compared, each a `ferrotunnel server` and `client`:
//!    `ferrotunnel` with default settings, and `ferrotunnel+layers` with the layers a user
//!    switches on ([`LAYERS_FLAGS`]: Basic auth, a rate limit, Prometheus metrics, and the
//!    dashboard, whose event stream is read throughout). With `--feature-columns`, one column
//!    per feature as well: a policy stack alone ([`POLICY_FLAGS`]), the dashboard alone,
//!    metrics alone ([`METRICS_FLAGS`]), OpenTelemetry traces exported to an OTLP sink in
//!    this process ([`OtlpSink`]), and the client reaching its server over TLS 1.3 (a private
//!    CA's certificate, [`Pki`]). Then any peer tunnel ([`peers`]); their idle memory;
//!    With `FERROTUNNEL_BENCH_BASELINE=PATH`, another binary's plain column beside this one's.
//! 2. the traffic figures over every route ([`traffic`]); memory after that load, at once and
//!    again a moment later (`Options::settle`);
//! 3. start-up time of a client (and of the local service, for comparison);
//! 4. a fresh server with many tunnels, then a fresh server and client holding many streams.

use std::{net::SocketAddr, path::Path};

use anyhow::Context as _;
use http::header::AUTHORIZATION;

use crate::{
    figures::{Figures, Memory, RouteMemory},
    load::Target,
    machine::Machine,
    memory,
    options::{Options, Part},
    otlp_sink::OtlpSink,
    peers,
    pki::Pki,
    report::Report,
    route::Route,
    rss,
    spawn::{LocalService, TunnelClient, TunnelServer},
    startup,
    traffic::{self, progress},
    watcher::EventWatcher,
};

/// The environment variable that names another `ferrotunnel` binary (an earlier build) to run
/// beside this one with default settings, as the `baseline` column: an A/B of a change in one
/// run, on the same noise.
const BASELINE_ENV: &str = "FERROTUNNEL_BENCH_BASELINE";

/// The tunnel every traffic figure goes through.
const TUNNEL: &str = "bench";

/// The `ferrotunnel+layers` column's server flags: what a user switches on in front of a real
/// service. Every visitor authenticates and is rate-limited (above what the load reaches: the
/// column measures the layers' cost, not the limit), metrics are recorded and served, and the
/// dashboard records every exchange; the request id is always on. Its client records metrics
/// too.
const LAYERS_FLAGS: [&str; 8] = [
    "--basic-auth",
    "bench:bench-password",
    "--rate-limit",
    "1000000/s",
    "--metrics",
    "127.0.0.1:0",
    "--dashboard",
    "127.0.0.1:0",
];

/// The `ferrotunnel+dashboard` column's server flags.
const DASHBOARD_FLAGS: [&str; 2] = ["--dashboard", "127.0.0.1:0"];

/// The policy of the `ferrotunnel+policy` column: every visitor authenticates, is
/// rate-limited, passes an IP filter, gets a header added and a circuit breaker watching.
const POLICY_FLAGS: [&str; 10] = [
    "--basic-auth",
    "bench:bench-password",
    "--rate-limit",
    "1000000/s",
    "--deny-ip",
    "192.0.2.0/24",
    "--add-header",
    "x-visitor: ${visitor_ip}",
    "--circuit-breaker",
    "5,30s",
];

/// The `ferrotunnel+metrics` column's server and client flags: metrics recorded and served,
/// tracing off.
const METRICS_FLAGS: [&str; 2] = ["--metrics", "127.0.0.1:0"];

/// `bench:bench-password`, as the visitors of the columns with Basic auth send it.
const BASIC_AUTHORIZATION: &str = "Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ=";

/// One `ferrotunnel` column: its server and client, and what its visitors send.
struct Column {
    name: &'static str,
    server: TunnelServer,
    client: TunnelClient,
    target: Target,
    /// The certificates of a column whose client reaches its server over TLS; removed after
    /// both processes (fields drop in order).
    _pki: Option<Pki>,
}

impl Column {
    /// Starts a server with `server_flags` and a client with `client_flags` for `local`.
    fn start(
        name: &'static str,
        bin: &Path,
        local: SocketAddr,
        server_flags: &[&str],
        client_flags: &[&str],
    ) -> anyhow::Result<Self> {
        let owned = |flags: &[&str]| flags.iter().map(|f| (*f).to_owned()).collect::<Vec<_>>();
        let server = TunnelServer::start(bin, &owned(server_flags))?;
        Self::with_client(name, bin, local, server, &owned(client_flags), None)
    }

    /// Starts a server whose control port speaks TLS 1.3, with a certificate of a private CA,
    /// and a client that trusts that CA: the tunnel as it runs across the internet.
    fn start_tls(name: &'static str, bin: &Path, local: SocketAddr) -> anyhow::Result<Self> {
        let pki = Pki::generate().context("cannot make the TLS column's certificates")?;
        let server = TunnelServer::start_tls(bin, &[], &pki)?;
        Self::with_client(name, bin, local, server, &[], Some(pki))
    }

    /// Completes a column: a client with `client_flags` for `local`, connected to `server`.
    fn with_client(
        name: &'static str,
        bin: &Path,
        local: SocketAddr,
        server: TunnelServer,
        client_flags: &[String],
        pki: Option<Pki>,
    ) -> anyhow::Result<Self> {
        let client = TunnelClient::start(bin, &server, local, TUNNEL, client_flags)?;
        let target = server.target(TUNNEL);
        Ok(Self {
            name,
            server,
            client,
            target,
            _pki: pki,
        })
    }

    /// The same column, its visitors sending the Basic credentials its server asks for.
    fn authenticated(mut self) -> Self {
        self.target = self.target.with_header(AUTHORIZATION, BASIC_AUTHORIZATION);
        self
    }

    fn route(&self) -> Route {
        Route {
            name: self.name.into(),
            target: self.target.clone(),
            server_pid: Some(self.server.process.pid()),
            client_pid: Some(self.client.process.pid()),
        }
    }
}

/// What the run checks after the traffic: the dashboards read all along sent events, and the
/// metrics servers counted requests.
#[derive(Default)]
struct Observers {
    dashboards: Vec<SocketAddr>,
    metrics: Vec<(&'static str, Target)>,
}

/// The columns with layers on: everything a user would switch on together, and each feature
/// alone when there is a `sink` for the traces column (`--feature-columns`).
fn layered_columns(
    bin: &Path,
    local: SocketAddr,
    sink: Option<&OtlpSink>,
    observers: &mut Observers,
) -> anyhow::Result<Vec<Column>> {
    let mut columns = Vec::new();
    let mut layers = Column::start(
        "ferrotunnel+layers",
        bin,
        local,
        &LAYERS_FLAGS,
        &METRICS_FLAGS,
    )?
    .authenticated();
    observers.dashboards.push(layers.server.dashboard()?);
    observers
        .metrics
        .push((layers.name, layers.server.metrics()?));
    columns.push(layers);
    let Some(sink) = sink else {
        return Ok(columns);
    };

    columns
        .push(Column::start("ferrotunnel+policy", bin, local, &POLICY_FLAGS, &[])?.authenticated());
    let mut dashboard = Column::start("ferrotunnel+dashboard", bin, local, &DASHBOARD_FLAGS, &[])?;
    observers.dashboards.push(dashboard.server.dashboard()?);
    columns.push(dashboard);
    let mut metrics = Column::start(
        "ferrotunnel+metrics",
        bin,
        local,
        &METRICS_FLAGS,
        &METRICS_FLAGS,
    )?;
    observers
        .metrics
        .push((metrics.name, metrics.server.metrics()?));
    columns.push(metrics);
    let url = sink.url();
    let traces_flags = ["--otlp-endpoint", url.as_str()];
    columns.push(Column::start(
        "ferrotunnel+traces",
        bin,
        local,
        &traces_flags,
        &traces_flags,
    )?);
    columns.push(Column::start_tls("ferrotunnel+tls", bin, local)?);
    Ok(columns)
}

/// Runs every figure and returns the report. `bin` is the `ferrotunnel` executable.
pub(crate) fn run(options: &Options, bin: &Path) -> anyhow::Result<Report> {
    let machine = Machine::describe();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;

    // 1. the processes under test, and their memory at idle
    let local = LocalService::start()?;
    let mut plain = Column::start("ferrotunnel", bin, local.addr, &[], &[])?;
    let sink = if options.feature_columns {
        Some(OtlpSink::start(&runtime)?)
    } else {
        None
    };
    let mut observers = Observers::default();
    let mut layered = layered_columns(bin, local.addr, sink.as_ref(), &mut observers)?;
    if let Some(baseline) = std::env::var_os(BASELINE_ENV) {
        let column = Column::start("baseline", Path::new(&baseline), local.addr, &[], &[])
            .with_context(|| format!("{BASELINE_ENV} names {baseline:?}, which did not start"))?;
        layered.insert(0, column);
    }
    let mut routes = vec![
        Route {
            name: "direct".into(),
            target: local.target(),
            server_pid: None,
            client_pid: None,
        },
        plain.route(),
    ];
    routes.extend(layered.iter().map(Column::route));
    let found = if options.peers {
        peers::start_all(local.addr, options.feature_columns)
    } else {
        Vec::new()
    };
    routes.extend(found.iter().map(|peer| peer.route.clone()));
    let peer_count = found.len();
    for route in &routes {
        // One request each, so that idle memory is that of a process that has served.
        runtime
            .block_on(crate::load::text(&route.target, "/small"))
            .with_context(|| format!("the {} route does not serve", route.name))?;
    }
    let idle = memory_of(&routes)?;

    // 2. traffic, with someone watching each dashboard's live events all along
    let watchers = observers
        .dashboards
        .iter()
        .map(|addr| EventWatcher::start(&runtime, *addr))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let traffic = traffic::measure(&runtime, &routes, options)?;
    for watcher in watchers {
        anyhow::ensure!(
            watcher.bytes_read() > 0,
            "a dashboard's event stream sent nothing during the load"
        );
    }
    for (name, metrics) in &observers.metrics {
        let scraped = runtime
            .block_on(crate::load::text(metrics, "/metrics"))
            .with_context(|| format!("the {name} column's server does not serve /metrics"))?;
        anyhow::ensure!(
            scraped.contains(&format!("ferrotunnel_requests_total{{tunnel=\"{TUNNEL}\"")),
            "the {name} column's server counted no request:\n{scraped}"
        );
    }
    for column in std::iter::once(&mut plain).chain(&mut layered) {
        column.server.process.check_alive()?;
        column.client.process.check_alive()?;
    }
    let after_load = memory_of(&routes)?;
    // What a process holds a while after a burst is what a user sees when they look; ours
    // gives freed memory back once it has been quiet for a second (ferrotunnel-cli's malloc.rs).
    std::thread::sleep(options.settle);
    let settled = memory_of(&routes)?;
    drop(found);
    if let Some(sink) = sink {
        // The batch exporters send every 5 s: a full run's traffic lasts longer than that, a
        // quick run's may not.
        let (exports, exported_bytes) = sink.received();
        anyhow::ensure!(
            exports > 0 || options.quick,
            "the traces column's processes exported no span to the OTLP sink"
        );
        progress(&format!(
            "the traces column exported {exports} batches ({exported_bytes} bytes) during the load"
        ));
    }
    drop(layered);
    let Column { server, client, .. } = plain;

    // 3. start-up
    let (client_starts, service_starts) = if options.measures(Part::Startup) {
        progress("start-up times");
        (
            startup::client(&runtime, bin, &server, local.addr, options.startup_runs)?,
            startup::local_service(&runtime, options.startup_runs)?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    drop(client);
    drop(server);

    // 4. memory under many tunnels, and under many streams
    let tunnels = if options.measures(Part::Tunnels) {
        progress(&format!("{} tunnels", options.tunnels));
        Some(memory::many_tunnels(&runtime, bin, local.addr, options)?)
    } else {
        None
    };
    let held = if options.measures(Part::Held) {
        progress(&format!("{} held streams", options.held_streams));
        Some(memory::held_streams(&runtime, bin, &local, options)?)
    } else {
        None
    };

    let mut report = Report {
        machine: machine.lines(),
        plan: options.describe(),
        tunnels: routes.iter().skip(1).map(|r| r.name.clone()).collect(),
        ours: routes.len() - 1 - peer_count,
        ..Report::default()
    };
    let figures = Figures {
        options,
        routes: &routes,
        traffic: &traffic,
        idle: &idle,
        after_load: &after_load,
        settled: &settled,
        client_starts: &client_starts,
        service_starts: &service_starts,
        tunnels: tunnels.as_ref(),
        held: held.as_ref(),
    };
    report.rows = figures.rows();
    report.details = figures.details();
    Ok(report)
}

fn memory_of(routes: &[Route]) -> anyhow::Result<Memory> {
    routes
        .iter()
        .map(|route| {
            let server = route.server_pid.map(rss::read).transpose()?;
            let client = route.client_pid.map(rss::read).transpose()?;
            Ok(RouteMemory { server, client })
        })
        .collect()
}

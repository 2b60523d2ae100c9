//! One whole run, in the order the figures are taken, and the report built from it.
//!
//! 1. the local service, then a `ferrotunnel server` and `client` with default settings, the
//!    same with a policy stack switched on by flags ([`POLICY_FLAGS`]), the same with the
//!    dashboard on (and its event stream read throughout), the same with Prometheus metrics on
//!    (server and client, [`METRICS_FLAGS`]), the same with OpenTelemetry traces exported to an
//!    OTLP sink in this process ([`OtlpSink`]), and any peer tunnel; their idle memory;
//! 2. the traffic figures over every route ([`traffic`]); memory after that load;
//! 3. start-up time of a client (and of the local service, for comparison);
//! 4. a fresh server with many tunnels, then a fresh server and client holding many streams.

use std::path::Path;

use anyhow::Context as _;

use crate::{
    figures::{Figures, Memory, RouteMemory},
    machine::Machine,
    memory,
    options::Options,
    otlp_sink::OtlpSink,
    peers,
    report::Report,
    route::Route,
    rss,
    spawn::{LocalService, TunnelClient, TunnelServer},
    startup,
    traffic::{self, progress},
    watcher::EventWatcher,
};

/// The tunnel every traffic figure goes through.
const TUNNEL: &str = "bench";

/// The policy of the `ferrotunnel+policy` column, as a user switches it on: every visitor
/// authenticates, is rate-limited (above what the load reaches: it measures the cost, not the
/// limit), passes an IP filter, gets a header added and a circuit breaker watching; the request
/// id is always on.
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

/// `bench:bench-password`, as the visitors of the policy column send it.
const POLICY_AUTHORIZATION: &str = "Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ=";

/// Runs every figure and returns the report. `bin` is the `ferrotunnel` executable.
pub(crate) fn run(options: &Options, bin: &Path) -> anyhow::Result<Report> {
    let machine = Machine::describe();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;

    // 1. the processes under test, and their memory at idle
    let local = LocalService::start()?;
    let mut server = TunnelServer::start(bin, &[])?;
    let mut client = TunnelClient::start(bin, &server, local.addr, TUNNEL, &[])?;
    let policy_flags: Vec<String> = POLICY_FLAGS.iter().map(|f| (*f).to_owned()).collect();
    let mut policy_server = TunnelServer::start(bin, &policy_flags)?;
    let mut policy_client = TunnelClient::start(bin, &policy_server, local.addr, TUNNEL, &[])?;
    let (mut dashboard_server, dashboard) = TunnelServer::start_with_dashboard(bin, &[])?;
    let mut dashboard_client =
        TunnelClient::start(bin, &dashboard_server, local.addr, TUNNEL, &[])?;
    let metrics_flags: Vec<String> = METRICS_FLAGS.iter().map(|f| (*f).to_owned()).collect();
    let (mut metrics_server, metrics) = TunnelServer::start_with_metrics(bin, &metrics_flags)?;
    let mut metrics_client =
        TunnelClient::start(bin, &metrics_server, local.addr, TUNNEL, &metrics_flags)?;
    let sink = OtlpSink::start(&runtime)?;
    let traces_flags = vec!["--otlp-endpoint".to_owned(), sink.url()];
    let mut traces_server = TunnelServer::start(bin, &traces_flags)?;
    let mut traces_client =
        TunnelClient::start(bin, &traces_server, local.addr, TUNNEL, &traces_flags)?;
    let mut routes = vec![
        Route {
            name: "direct".into(),
            target: local.target(),
            server_pid: None,
            client_pid: None,
        },
        Route {
            name: "ferrotunnel".into(),
            target: server.target(TUNNEL),
            server_pid: Some(server.process.pid()),
            client_pid: Some(client.process.pid()),
        },
        Route {
            name: "ferrotunnel+policy".into(),
            target: policy_server
                .target(TUNNEL)
                .with_authorization(POLICY_AUTHORIZATION),
            server_pid: Some(policy_server.process.pid()),
            client_pid: Some(policy_client.process.pid()),
        },
        Route {
            name: "ferrotunnel+dashboard".into(),
            target: dashboard_server.target(TUNNEL),
            server_pid: Some(dashboard_server.process.pid()),
            client_pid: Some(dashboard_client.process.pid()),
        },
        Route {
            name: "ferrotunnel+metrics".into(),
            target: metrics_server.target(TUNNEL),
            server_pid: Some(metrics_server.process.pid()),
            client_pid: Some(metrics_client.process.pid()),
        },
        Route {
            name: "ferrotunnel+traces".into(),
            target: traces_server.target(TUNNEL),
            server_pid: Some(traces_server.process.pid()),
            client_pid: Some(traces_client.process.pid()),
        },
    ];
    let found = if options.peers {
        peers::start_all(local.addr)
    } else {
        Vec::new()
    };
    routes.extend(found.iter().map(|peer| peer.route.clone()));
    for route in &routes {
        // One request each, so that idle memory is that of a process that has served.
        runtime
            .block_on(crate::load::text(&route.target, "/small"))
            .with_context(|| format!("the {} route does not serve", route.name))?;
    }
    let idle = memory_of(&routes)?;

    // 2. traffic, with someone watching the dashboard's live events all along
    let watcher = EventWatcher::start(&runtime, dashboard)?;
    let traffic = traffic::measure(&runtime, &routes, options)?;
    anyhow::ensure!(
        watcher.bytes_read() > 0,
        "the dashboard's event stream sent nothing during the load"
    );
    drop(watcher);
    let scraped = runtime
        .block_on(crate::load::text(&metrics, "/metrics"))
        .context("the metrics column's server does not serve /metrics")?;
    anyhow::ensure!(
        scraped.contains(&format!("ferrotunnel_requests_total{{tunnel=\"{TUNNEL}\"")),
        "the metrics column's server counted no request:\n{scraped}"
    );
    for process in [
        &mut server.process,
        &mut client.process,
        &mut policy_server.process,
        &mut policy_client.process,
        &mut dashboard_server.process,
        &mut dashboard_client.process,
        &mut metrics_server.process,
        &mut metrics_client.process,
        &mut traces_server.process,
        &mut traces_client.process,
    ] {
        process.check_alive()?;
    }
    let after_load = memory_of(&routes)?;
    drop(found);
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
    drop(traces_client);
    drop(traces_server);
    drop(sink);
    drop(metrics_client);
    drop(metrics_server);
    drop(dashboard_client);
    drop(dashboard_server);
    drop(policy_client);
    drop(policy_server);

    // 3. start-up
    progress("start-up times");
    let client_starts = startup::client(&runtime, bin, &server, local.addr, options.startup_runs)?;
    let service_starts = startup::local_service(&runtime, options.startup_runs)?;
    drop(client);
    drop(server);

    // 4. memory under many tunnels, and under many streams
    progress(&format!("{} tunnels", options.tunnels));
    let tunnels = memory::many_tunnels(&runtime, bin, local.addr, options)?;
    progress(&format!("{} held streams", options.held_streams));
    let held = memory::held_streams(&runtime, bin, &local, options)?;

    let mut report = Report {
        machine: machine.lines(),
        plan: options.describe(),
        tunnels: routes.iter().skip(1).map(|r| r.name.clone()).collect(),
        ..Report::default()
    };
    let figures = Figures {
        options,
        routes: &routes,
        traffic: &traffic,
        idle: &idle,
        after_load: &after_load,
        client_starts: &client_starts,
        service_starts: &service_starts,
        tunnels: &tunnels,
        held: &held,
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

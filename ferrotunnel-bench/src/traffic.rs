//! The traffic figures (latency at a fixed rate, max requests per second, download
//! throughput), measured over every route: a warm-up per route, then `runs` measured runs,
//! each run going over all routes one after the other, starting with a different route each
//! run.

use tokio::runtime::Runtime;

use crate::{
    load::{
        download,
        latency::{self, LatencyPlan},
        rate::{self, RatePlan},
    },
    options::{Options, Part},
    route::Route,
    stats::{self, ms},
    tcp_opens,
};

/// Every run's value of every traffic figure, for one route.
#[derive(Debug, Default, Clone)]
pub(crate) struct RouteTraffic {
    pub(crate) p50: Vec<f64>,
    pub(crate) p99: Vec<f64>,
    pub(crate) p999: Vec<f64>,
    /// The pacer's own lateness (median of each run), in every latency sample.
    pub(crate) send_delay: Vec<f64>,
    pub(crate) rate: Vec<f64>,
    /// TCP connections opened on the machine per 1000 requests of each max-rate run.
    pub(crate) opens_per_1000: Vec<f64>,
    /// CPU microseconds per request of the tunnel's server and client in each max-rate run.
    pub(crate) server_cpu: Vec<f64>,
    pub(crate) client_cpu: Vec<f64>,
    /// Their sum, run by run: what the tunnel costs the machine per request.
    pub(crate) tunnel_cpu: Vec<f64>,
    pub(crate) single: Vec<f64>,
    pub(crate) parallel: Vec<f64>,
    /// Transfers stopped at the cap.
    pub(crate) incomplete: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
}

impl RouteTraffic {
    fn error(&mut self, count: u64, first: Option<String>) {
        self.errors += count;
        if self.first_error.is_none() {
            self.first_error = first;
        }
    }
}

/// Measures every traffic figure the options pick over `routes`; returns one result per route, in order. Call
/// it from the main thread: it paces the latency figure's requests.
pub(crate) fn measure(
    runtime: &Runtime,
    routes: &[Route],
    options: &Options,
) -> anyhow::Result<Vec<RouteTraffic>> {
    let mut results = vec![RouteTraffic::default(); routes.len()];
    if options.measures(Part::Latency) {
        latency_figure(runtime, routes, options, &mut results)?;
    }
    if options.measures(Part::Rate) {
        runtime.block_on(rate_figure(routes, options, &mut results))?;
    }
    if options.measures(Part::Download) {
        runtime.block_on(download_figure(routes, options, &mut results))?;
    }
    Ok(results)
}

fn latency_figure(
    runtime: &Runtime,
    routes: &[Route],
    options: &Options,
    results: &mut [RouteTraffic],
) -> anyhow::Result<()> {
    let plan = LatencyPlan {
        path: "/small",
        rate: options.latency_rate,
        duration: options.latency_duration,
        connections: options.latency_connections,
    };
    let warmup = LatencyPlan {
        duration: options.latency_warmup,
        ..plan.clone()
    };
    for (route, result) in routes.iter().zip(results.iter_mut()) {
        progress(&format!("latency warm-up, {}", route.name));
        let run = latency::run(runtime, &route.target, &warmup)?;
        result.error(run.errors, run.first_error);
    }
    for n in 1..=options.runs {
        for i in rotated(routes.len(), n) {
            let (route, result) = (&routes[i], &mut results[i]);
            let mut run = latency::run(runtime, &route.target, &plan)?;
            run.latencies.sort_unstable();
            run.send_delays.sort_unstable();
            let at = |q| stats::percentile(&run.latencies, q).map_or(f64::NAN, ms);
            let (p50, p99, p999) = (at(0.5), at(0.99), at(0.999));
            let delay = stats::percentile(&run.send_delays, 0.5).map_or(f64::NAN, ms);
            progress(&format!(
                "latency run {n}/{}, {}: p50 {p50:.3} ms, p99 {p99:.3} ms, p99.9 {p999:.3} ms ({} samples, {} errors)",
                options.runs,
                route.name,
                run.latencies.len(),
                run.errors
            ));
            result.p50.push(p50);
            result.p99.push(p99);
            result.p999.push(p999);
            result.send_delay.push(delay);
            result.error(run.errors, run.first_error);
        }
    }
    Ok(())
}

async fn rate_figure(
    routes: &[Route],
    options: &Options,
    results: &mut [RouteTraffic],
) -> anyhow::Result<()> {
    let plan = RatePlan {
        path: "/1k",
        connections: options.rate_connections,
        warmup: options.rate_warmup,
        duration: options.rate_duration,
    };
    for n in 1..=options.runs {
        for i in rotated(routes.len(), n) {
            let (route, result) = (&routes[i], &mut results[i]);
            let opens_before = tcp_opens::active_opens();
            let pids: Vec<u32> = [route.server_pid, route.client_pid]
                .into_iter()
                .flatten()
                .collect();
            let run = rate::run(&route.target, &plan, &pids).await?;
            let opens = tcp_opens::active_opens()
                .zip(opens_before)
                .map_or(f64::NAN, |(after, before)| {
                    after.saturating_sub(before) as f64
                });
            // Warm-up requests were not counted, so this slightly overstates the ratio.
            let per_1000 = opens / (run.requests.max(1) as f64) * 1000.0;
            progress(&format!(
                "max rate run {n}/{}, {}: {:.0} req/s ({} errors; {per_1000:.0} TCP connections opened per 1000 requests)",
                options.runs,
                route.name,
                run.per_second(),
                run.errors
            ));
            result.rate.push(run.per_second());
            result.opens_per_1000.push(per_1000);
            let server = route.server_pid.and(run.cpu_per_request_us(0));
            let client = route.client_pid.and(run.cpu_per_request_us(1));
            result.server_cpu.extend(server);
            result.client_cpu.extend(client);
            if let (Some(server), Some(client)) = (server, client) {
                result.tunnel_cpu.push(server + client);
            }
            result.error(run.errors, run.first_error);
        }
    }
    Ok(())
}

async fn download_figure(
    routes: &[Route],
    options: &Options,
    results: &mut [RouteTraffic],
) -> anyhow::Result<()> {
    let total = options.download_bytes;
    let cap = options.download_cap;
    for (route, result) in routes.iter().zip(results.iter_mut()) {
        progress(&format!("download warm-up, {}", route.name));
        let run = download::run(&route.target, (total / 8).max(1), 1, cap).await?;
        result.error(run.errors, run.first_error);
    }
    for n in 1..=options.runs {
        for i in rotated(routes.len(), n) {
            let (route, result) = (&routes[i], &mut results[i]);
            let single = download::run(&route.target, total, 1, cap).await?;
            let speed = record(&route.name, n, options, 1, single, result);
            result.single.push(speed);
            let streams = options.download_streams;
            let parallel = download::run(&route.target, total, streams, cap).await?;
            let speed = record(&route.name, n, options, streams, parallel, result);
            result.parallel.push(speed);
        }
    }
    Ok(())
}

/// Reports one download run and returns its throughput. A transfer stopped at the cap is
/// slow, not failed: it is counted as incomplete, not as an error.
fn record(
    route: &str,
    n: usize,
    options: &Options,
    streams: usize,
    run: download::DownloadRun,
    result: &mut RouteTraffic,
) -> f64 {
    let speed = run.mib_per_second();
    let incomplete = if run.complete() {
        String::new()
    } else {
        format!(
            " (INCOMPLETE: {} of {} MiB)",
            run.bytes >> 20,
            run.expected >> 20
        )
    };
    progress(&format!(
        "download run {n}/{}, {route}, {streams} stream(s): {speed:.1} MiB/s{incomplete}",
        options.runs
    ));
    if !run.complete() {
        result.incomplete += 1;
    }
    result.error(run.errors, run.first_error);
    speed
}

/// The order of the routes in run `n`: rotated by one each run, so that no route always goes
/// first (right after a warm-up) or last.
fn rotated(routes: usize, n: usize) -> impl Iterator<Item = usize> {
    (0..routes).map(move |i| (i + n - 1) % routes)
}

/// A line on stderr so that a long run is not silent.
pub(crate) fn progress(line: &str) {
    eprintln!("loadtest: {line}");
}

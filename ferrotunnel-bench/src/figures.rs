//! Turns what a run measured into the report: one row per figure (medians over the runs), and
//! the details below the table (every run's values, both memory readings, counts).

use crate::{
    memory,
    options::{Options, Part},
    report::{Compare, Row},
    route::Route,
    rss::Rss,
    startup,
    stats::{self, median},
    traffic::RouteTraffic,
};

/// The memory of one route's server and client (`None` for direct).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteMemory {
    pub(crate) server: Option<Rss>,
    pub(crate) client: Option<Rss>,
}

/// One reading per route.
pub(crate) type Memory = Vec<RouteMemory>;

/// Everything measured, to be turned into rows and details.
pub(crate) struct Figures<'a> {
    pub(crate) options: &'a Options,
    pub(crate) routes: &'a [Route],
    pub(crate) traffic: &'a [RouteTraffic],
    pub(crate) idle: &'a Memory,
    pub(crate) after_load: &'a Memory,
    /// Read `options.settle` after `after_load`, with no traffic in between.
    pub(crate) settled: &'a Memory,
    pub(crate) client_starts: &'a [startup::Start],
    pub(crate) service_starts: &'a [startup::Start],
    /// `None` when the options leave the part out, like the empty lists above.
    pub(crate) tunnels: Option<&'a memory::ManyTunnels>,
    pub(crate) held: Option<&'a memory::HeldStreams>,
}

impl Figures<'_> {
    pub(crate) fn rows(&self) -> Vec<Row> {
        let o = self.options;
        let mut rows = Vec::new();
        // A figure taken over every route: direct first, then each tunnel.
        let mut traffic_row = |figure: String, compare, values: fn(&RouteTraffic) -> &Vec<f64>| {
            let mut medians = self.traffic.iter().map(|t| median(values(t)));
            let direct = medians.next().flatten();
            rows.push(Row {
                figure,
                compare,
                direct,
                through: medians.collect(),
            });
        };
        if o.measures(Part::Latency) {
            let rate = o.latency_rate;
            traffic_row(
                format!("latency p50 at {rate} req/s (ms)"),
                Compare::Time,
                |t| &t.p50,
            );
            traffic_row(
                format!("latency p99 at {rate} req/s (ms)"),
                Compare::Time,
                |t| &t.p99,
            );
            traffic_row(
                format!("latency p99.9 at {rate} req/s (ms)"),
                Compare::Time,
                |t| &t.p999,
            );
        }
        if o.measures(Part::Rate) {
            traffic_row(
                format!("max req/s, {} connections, 1 KiB", o.rate_connections),
                Compare::Throughput,
                |t| &t.rate,
            );
            traffic_row(
                "server CPU per request at max rate (µs)".into(),
                Compare::Alone,
                |t| &t.server_cpu,
            );
            traffic_row(
                "client CPU per request at max rate (µs)".into(),
                Compare::Alone,
                |t| &t.client_cpu,
            );
            traffic_row(
                "server + client CPU per request (µs)".into(),
                Compare::Alone,
                |t| &t.tunnel_cpu,
            );
        }
        if o.measures(Part::Download) {
            let size = mib_label(o.download_bytes);
            traffic_row(
                format!("download {size}, 1 stream (MiB/s)"),
                Compare::Throughput,
                |t| &t.single,
            );
            traffic_row(
                format!("download {size}, {} streams (MiB/s)", o.download_streams),
                Compare::Throughput,
                |t| &t.parallel,
            );
        }

        let ms_median = |starts: &[startup::Start]| {
            median(
                &starts
                    .iter()
                    .map(|s| stats::ms(s.served))
                    .collect::<Vec<_>>(),
            )
        };
        if o.measures(Part::Startup) {
            rows.push(Row {
                figure: "process start → first request served (ms)".into(),
                compare: Compare::Time,
                direct: ms_median(self.service_starts),
                through: self.ours_only(ms_median(self.client_starts)),
            });
        }

        let memory_row =
            |figure: &str, memory: &Memory, pick: fn(&RouteMemory) -> Option<f64>| Row {
                figure: figure.into(),
                compare: Compare::Alone,
                direct: None,
                through: memory.iter().skip(1).map(pick).collect(),
            };
        rows.push(memory_row(
            "server peak RSS at idle (MiB)",
            self.idle,
            |m| m.server.map(|r| r.peak),
        ));
        rows.push(memory_row(
            "client peak RSS at idle (MiB)",
            self.idle,
            |m| m.client.map(|r| r.peak),
        ));
        rows.push(memory_row(
            "server peak RSS during traffic (MiB)",
            self.after_load,
            |m| m.server.map(|r| r.peak),
        ));
        rows.push(memory_row(
            "client peak RSS during traffic (MiB)",
            self.after_load,
            |m| m.client.map(|r| r.peak),
        ));
        rows.push(memory_row(
            "server RSS after traffic (MiB)",
            self.after_load,
            |m| m.server.map(|r| r.now),
        ));
        rows.push(memory_row(
            "client RSS after traffic (MiB)",
            self.after_load,
            |m| m.client.map(|r| r.now),
        ));
        let settle = o.settle.as_secs();
        rows.push(memory_row(
            &format!("server RSS {settle} s after traffic (MiB)"),
            self.settled,
            |m| m.server.map(|r| r.now),
        ));
        rows.push(memory_row(
            &format!("client RSS {settle} s after traffic (MiB)"),
            self.settled,
            |m| m.client.map(|r| r.now),
        ));
        if let Some(tunnels) = self.tunnels {
            rows.push(Row {
                figure: format!("server peak RSS, {} tunnels (MiB)", tunnels.tunnels),
                compare: Compare::Alone,
                direct: None,
                through: self.ours_only(Some(tunnels.server.peak)),
            });
        }
        if let Some(held) = self.held {
            rows.push(Row {
                figure: format!("server RSS holding {} streams (MiB)", held.wanted),
                compare: Compare::Alone,
                direct: None,
                through: self.ours_only(Some(held.server.now)),
            });
            rows.push(Row {
                figure: format!("client RSS holding {} streams (MiB)", held.wanted),
                compare: Compare::Alone,
                direct: None,
                through: self.ours_only(Some(held.client.now)),
            });
        }

        let mut errors: Vec<Option<f64>> =
            self.traffic.iter().map(|t| Some(t.errors as f64)).collect();
        if let (Some(ours), Some(held)) = (errors.get_mut(1), self.held) {
            // Held streams that did not open, or did not end with their release line.
            let failed = held.errors
                + (held.wanted - held.opened.min(held.wanted)) as u64
                + (held.opened - held.released.min(held.opened)) as u64;
            *ours = Some(self.traffic[1].errors as f64 + failed as f64);
        }
        let direct = errors.first().copied().flatten();
        rows.push(Row {
            figure: "failed requests, all figures".into(),
            compare: Compare::Errors,
            direct,
            through: errors.into_iter().skip(1).collect(),
        });
        rows
    }

    /// A value for ferrotunnel's column only.
    fn ours_only(&self, value: Option<f64>) -> Vec<Option<f64>> {
        let mut cells = vec![None; self.routes.len() - 1];
        if let Some(first) = cells.first_mut() {
            *first = value;
        }
        cells
    }

    pub(crate) fn details(&self) -> Vec<String> {
        let mut lines = vec!["every run (in order):".to_owned()];
        let list = |values: &[f64], digits: usize| {
            values
                .iter()
                .map(|v| format!("{v:.digits$}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let o = self.options;
        for (route, t) in self.routes.iter().zip(self.traffic) {
            if o.measures(Part::Latency) {
                lines.push(format!(
                    "  {:<12} p50 [{}] p99 [{}] p99.9 [{}] ms; pacer send delay p50 [{}] ms",
                    route.name,
                    list(&t.p50, 3),
                    list(&t.p99, 3),
                    list(&t.p999, 3),
                    list(&t.send_delay, 3),
                ));
            }
            let mut parts = Vec::new();
            if o.measures(Part::Rate) {
                parts.push(format!(
                    "req/s [{}] (TCP connections opened machine-wide per 1000 requests [{}])",
                    list(&t.rate, 0),
                    list(&t.opens_per_1000, 0),
                ));
            }
            if o.measures(Part::Download) {
                let capped = if t.incomplete > 0 {
                    format!(
                        "; {} download(s) stopped at the {:?} cap",
                        t.incomplete, self.options.download_cap
                    )
                } else {
                    String::new()
                };
                parts.push(format!(
                    "MiB/s 1 stream [{}], {} streams [{}]{capped}",
                    list(&t.single, 1),
                    self.options.download_streams,
                    list(&t.parallel, 1),
                ));
            }
            if !parts.is_empty() {
                lines.push(format!("  {:<12} {}", route.name, parts.join("; ")));
            }
            if !t.server_cpu.is_empty() {
                lines.push(format!(
                    "  {:<12} CPU per request at max rate (µs): server [{}], client [{}]",
                    route.name,
                    list(&t.server_cpu, 1),
                    list(&t.client_cpu, 1),
                ));
            }
            if let Some(err) = &t.first_error {
                lines.push(format!(
                    "  {:<12} {} failed request(s); first: {err}",
                    route.name, t.errors
                ));
            }
        }
        let starts = |starts: &[startup::Start]| {
            starts
                .iter()
                .map(|s| format!("{:.1}/{:.1}", stats::ms(s.ready), stats::ms(s.served)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if o.measures(Part::Startup) {
            lines.push(format!(
                "  start-up, ready line / first response (ms): local service [{}]; ferrotunnel client [{}]",
                starts(self.service_starts),
                starts(self.client_starts)
            ));
        }
        lines.push("memory, VmRSS now / VmHWM peak (MiB):".to_owned());
        for (i, route) in self.routes.iter().enumerate().skip(1) {
            let show = |m: Option<Rss>| {
                m.map_or("—".to_owned(), |r| {
                    format!("{:.1} / {:.1}", r.now, r.peak)
                })
            };
            lines.push(format!(
                "  {:<12} idle: server {}, client {}; after traffic: server {}, client {}; {} s later: server {}, client {}",
                route.name,
                show(self.idle[i].server),
                show(self.idle[i].client),
                show(self.after_load[i].server),
                show(self.after_load[i].client),
                self.options.settle.as_secs(),
                show(self.settled[i].server),
                show(self.settled[i].client),
            ));
        }
        if let Some(t) = self.tunnels {
            lines.push(format!(
            "  {} tunnels from {} library clients in the harness process, registered in {:.1} s: server {:.1} / {:.1}",
            t.tunnels,
            t.clients,
            t.registered_in.as_secs_f64(),
            t.server.now,
            t.server.peak
        ));
        }
        if let Some(h) = self.held {
            lines.push(format!(
            "  {} held streams: {} opened in {:.1} s ({} counted at the local service), {} released; server {:.1} / {:.1}, client {:.1} / {:.1}",
            h.wanted,
            h.opened,
            h.opened_in.as_secs_f64(),
            h.at_service,
            h.released,
            h.server.now,
            h.server.peak,
            h.client.now,
            h.client.peak
        ));
            if let Some(err) = &h.first_error {
                lines.push(format!(
                    "  held streams: {} error(s); first: {err}",
                    h.errors
                ));
            }
        }
        lines
    }
}

fn mib_label(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes % (1 << 30) == 0 {
        format!("{} GiB", bytes >> 30)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

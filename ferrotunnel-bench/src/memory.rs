//! The memory figures that need a server of their own, so that its high-water mark is theirs
//! alone: a server with many registered tunnels, and a server and client holding many
//! concurrent streams.
//!
//! The many tunnels come from library [`ferrotunnel::Client`]s inside the harness process
//! (`tunnels_per_client` each, the server's default limit), not from extra client processes:
//! only the server's memory is measured, and a thousand tunnels need no more than 63 sessions.

use std::{
    net::SocketAddr,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use tokio::runtime::Runtime;

use crate::{
    load::{self, hold},
    options::Options,
    rss::{self, Rss},
    spawn::{LocalService, TOKEN, TunnelClient, TunnelServer},
};

/// How long one library client may take to register its tunnels.
const REGISTER_WAIT: Duration = Duration::from_secs(30);
/// How long each held stream may take to open, and to end after its release.
const OPEN_WAIT: Duration = Duration::from_secs(60);
/// The longest any stream is held: a bound, far above a normal run.
const HOLD_AT_MOST: Duration = Duration::from_secs(600);

/// A server with many registered tunnels.
#[derive(Debug)]
pub(crate) struct ManyTunnels {
    pub(crate) server: Rss,
    pub(crate) tunnels: usize,
    pub(crate) clients: usize,
    pub(crate) registered_in: Duration,
}

/// Registers `options.tunnels` tunnels on a fresh server and reads its memory.
pub(crate) fn many_tunnels(
    runtime: &Runtime,
    bin: &Path,
    local: SocketAddr,
    options: &Options,
) -> anyhow::Result<ManyTunnels> {
    let mut server = TunnelServer::start(bin, &[])?;
    let per_client = options.tunnels_per_client.max(1);
    let url = server.url();
    let started = Instant::now();
    let (handles, last) = runtime.block_on(async {
        let mut handles = Vec::new();
        let mut last = String::new();
        let mut left = options.tunnels;
        while left > 0 {
            let n = left.min(per_client);
            let client = handles.len();
            let mut builder = ferrotunnel::Client::builder().server_url(&url).token(TOKEN);
            for t in 0..n {
                last = format!("t{client}-{t}");
                builder = builder.tunnel(&last, local.to_string());
            }
            let handle = tokio::time::timeout(REGISTER_WAIT, builder.build()?.start())
                .await
                .with_context(|| format!("client {client} did not register in {REGISTER_WAIT:?}"))?
                .with_context(|| format!("client {client} could not register"))?;
            handles.push(handle);
            left -= n;
        }
        anyhow::Ok((handles, last))
    })?;
    let registered_in = started.elapsed();
    let tunnels: usize = handles.iter().map(|h| h.tunnels().len()).sum();
    if tunnels != options.tunnels {
        bail!(
            "{} tunnels were asked for, {tunnels} registered",
            options.tunnels
        );
    }
    // The last tunnel must serve, or the figure means nothing.
    let target = server.target(&last);
    runtime
        .block_on(load::text(&target, "/small"))
        .with_context(|| format!("the tunnel {last} does not serve"))?;
    server.process.check_alive()?;
    let reading = rss::read(server.process.pid())?;
    let clients = handles.len();
    runtime.block_on(async {
        for handle in handles {
            let _ = tokio::time::timeout(Duration::from_secs(5), handle.shutdown()).await;
        }
    });
    Ok(ManyTunnels {
        server: reading,
        tunnels,
        clients,
        registered_in,
    })
}

/// A server and a client holding many concurrent streams.
#[derive(Debug)]
pub(crate) struct HeldStreams {
    pub(crate) server: Rss,
    pub(crate) client: Rss,
    pub(crate) wanted: usize,
    pub(crate) opened: usize,
    /// What the local service counted as held when the memory was read.
    pub(crate) at_service: usize,
    pub(crate) released: usize,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) opened_in: Duration,
}

/// Opens `options.held_streams` streams through a fresh server and client (with their stream
/// limits raised to fit), reads both processes' memory while all are held, then releases them.
pub(crate) fn held_streams(
    runtime: &Runtime,
    bin: &Path,
    local: &LocalService,
    options: &Options,
) -> anyhow::Result<HeldStreams> {
    let wanted = options.held_streams;
    // Room for the pool's idle streams on top of the held ones.
    let limit = (wanted + wanted / 10 + 64).to_string();
    let mut server = TunnelServer::start(
        bin,
        &["--max-streams-per-session".to_owned(), limit.clone()],
    )?;
    let mut client = TunnelClient::start(
        bin,
        &server,
        local.addr,
        "held",
        &["--max-streams".to_owned(), limit],
    )?;
    let target = server.target("held");
    let started = Instant::now();
    let held = runtime.block_on(hold::open(
        &target,
        wanted,
        options.held_ramp,
        OPEN_WAIT,
        HOLD_AT_MOST,
    ))?;
    let opened_in = started.elapsed();
    let direct = local.target();
    let at_service = runtime
        .block_on(load::text(&direct, "/held"))?
        .trim()
        .parse()
        .context("the local service's /held answer is not a number")?;
    server.process.check_alive()?;
    client.process.check_alive()?;
    let server_rss = rss::read(server.process.pid())?;
    let client_rss = rss::read(client.process.pid())?;
    runtime.block_on(load::text(&direct, "/release"))?;
    let (released, held) = runtime.block_on(held.finish(OPEN_WAIT))?;
    Ok(HeldStreams {
        server: server_rss,
        client: client_rss,
        wanted,
        opened: held.opened,
        at_service,
        released,
        errors: held.errors,
        first_error: held.first_error,
        opened_in,
    })
}

//! Start-up time: from spawning a process to the first request served through it.
//!
//! Through the tunnel: spawn `ferrotunnel client` (against a running server), wait for its
//! `Forwarding` line, then send one request through it. Direct, for comparison: spawn the local
//! service, wait for its address line, then send it one request. Both clocks start just before
//! the spawn and stop when the response body has ended.

use std::{net::SocketAddr, path::Path, time::Duration};

use tokio::runtime::Runtime;

use crate::{
    load,
    spawn::{LocalService, TunnelClient, TunnelServer},
};

/// One timed start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Start {
    /// Spawn → ready line.
    pub(crate) ready: Duration,
    /// Spawn → first response ended.
    pub(crate) served: Duration,
}

/// Starts `runs` clients one after the other, each with a new tunnel name on `server`.
pub(crate) fn client(
    runtime: &Runtime,
    bin: &Path,
    server: &TunnelServer,
    local: SocketAddr,
    runs: usize,
) -> anyhow::Result<Vec<Start>> {
    (1..=runs)
        .map(|n| {
            let name = format!("start-{n}");
            let client = TunnelClient::start(bin, server, local, &name, &[])?;
            runtime.block_on(load::text(&server.target(&name), "/small"))?;
            Ok(Start {
                ready: client.online_after,
                served: client.started().elapsed(),
            })
        })
        .collect()
}

/// Starts `runs` local services one after the other.
pub(crate) fn local_service(runtime: &Runtime, runs: usize) -> anyhow::Result<Vec<Start>> {
    (0..runs)
        .map(|_| {
            let service = LocalService::start()?;
            runtime.block_on(load::text(&service.target(), "/small"))?;
            Ok(Start {
                ready: service.ready_after,
                served: service.process.started().elapsed(),
            })
        })
        .collect()
}

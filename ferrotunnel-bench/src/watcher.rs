//! Someone looking at the dashboard: a subscriber to its event stream for as long as the load
//! runs, so that the `ferrotunnel+dashboard` column pays for publishing every exchange too.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::Context as _;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpStream, runtime::Runtime, task::JoinHandle};

/// Reads `GET /api/events` of a dashboard until dropped.
#[derive(Debug)]
pub(crate) struct EventWatcher {
    task: JoinHandle<()>,
    bytes: Arc<AtomicU64>,
}

impl EventWatcher {
    /// Opens the event stream of the dashboard at `addr`, and waits until it answers.
    pub(crate) fn start(runtime: &Runtime, addr: SocketAddr) -> anyhow::Result<Self> {
        let bytes = Arc::new(AtomicU64::new(0));
        let body = runtime
            .block_on(open(addr))
            .with_context(|| format!("cannot open the event stream of the dashboard at {addr}"))?;
        let counted = bytes.clone();
        let task = runtime.spawn(async move {
            let mut body = body;
            while let Some(Ok(frame)) = body.frame().await {
                if let Some(data) = frame.data_ref() {
                    counted.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
            }
        });
        Ok(Self { task, bytes })
    }

    /// Bytes of events read so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

impl Drop for EventWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn open(addr: SocketAddr) -> anyhow::Result<hyper::body::Incoming> {
    let tcp = TcpStream::connect(addr).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(connection);
    let request = Request::get("/api/events")
        .header(http::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    anyhow::ensure!(
        response.status().is_success(),
        "the dashboard answered {}",
        response.status()
    );
    Ok(response.into_body())
}

//! A collector for the `ferrotunnel+traces` column: an OTLP/HTTP endpoint on loopback that
//! takes every export, counts it, and answers 200 with an empty `ExportTraceServiceResponse`
//! (an empty protobuf message is zero bytes), so the column pays for making and sending spans
//! but not for a collector's work.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::Context as _;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, runtime::Runtime, task::JoinHandle};

/// The sink, serving until dropped.
#[derive(Debug)]
pub(crate) struct OtlpSink {
    pub(crate) addr: SocketAddr,
    task: JoinHandle<()>,
    exports: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl OtlpSink {
    pub(crate) fn start(runtime: &Runtime) -> anyhow::Result<Self> {
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .context("cannot bind the OTLP sink")?;
        let addr = listener.local_addr()?;
        let exports = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let (counted_exports, counted_bytes) = (exports.clone(), bytes.clone());
        let task = runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (exports, bytes) = (counted_exports.clone(), counted_bytes.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (exports, bytes) = (exports.clone(), bytes.clone());
                        async move {
                            if let Ok(body) = request.into_body().collect().await {
                                bytes.fetch_add(body.to_bytes().len() as u64, Ordering::Relaxed);
                                exports.fetch_add(1, Ordering::Relaxed);
                            }
                            let mut response = Response::new(Full::new(Bytes::new()));
                            response.headers_mut().insert(
                                http::header::CONTENT_TYPE,
                                http::HeaderValue::from_static("application/x-protobuf"),
                            );
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            task,
            exports,
            bytes,
        })
    }

    /// The base URL to give `--otlp-endpoint`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Exports received so far, and their bytes.
    pub(crate) fn received(&self) -> (u64, u64) {
        (
            self.exports.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

impl Drop for OtlpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

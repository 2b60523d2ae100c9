//! The local service: a minimal hyper HTTP/1.1 server, run as its own process, that both the
//! direct path and every tunnel forward to.
//!
//! | route | answer |
//! |---|---|
//! | `GET /small` | 3 bytes |
//! | `GET /1k` | 1 KiB |
//! | `GET /bytes/<n>` | `n` bytes, streamed in 64 KiB chunks cut from one static buffer (no allocation per chunk) |
//! | `GET /hold` | the response head at once, then a body that ends only when `/release` is called |
//! | `GET /held` | how many `/hold` bodies are open, as decimal text |
//! | `GET /release` | ends every open `/hold` body |
//!
//! `/hold` answers its head at once so that a visitor knows its stream is open end to end; the
//! stream then stays open until released, which is what "holding 10 000 concurrent streams"
//! means. The process prints `Local service     <addr>` on stdout once it listens, and exits
//! when its stdin closes (that is, when the harness that started it goes away).

use std::{
    convert::Infallible,
    future::Future,
    io::{Read as _, Write as _},
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use anyhow::Context as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The label of the line the local service prints once it listens.
pub(crate) const ADDRESS_LABEL: &str = "Local service";

/// The chunk size of `/bytes/<n>` bodies.
const CHUNK: usize = 64 * 1024;
static CHUNK_BYTES: [u8; CHUNK] = [b'x'; CHUNK];
static KIB: [u8; 1024] = [b'k'; 1024];

/// Runs the local service until stdin closes. Called in the re-executed harness process.
pub(crate) fn run() -> anyhow::Result<()> {
    // The harness holds our stdin open; when it goes away, so do we.
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    runtime.block_on(serve())
}

async fn serve() -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind the local service")?;
    let addr: SocketAddr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{ADDRESS_LABEL:<18}{addr}")?;
        out.flush()?;
    }
    let state = Arc::new(State::default());
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors: the harness counts the failed requests.
                eprintln!("local service: accept failed: {err}");
                tokio::task::yield_now().await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(answer(&state, &request)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

/// What the held bodies share.
#[derive(Debug, Default)]
struct State {
    /// Cancelled (and replaced) by `/release`.
    release: Mutex<CancellationToken>,
    held: Arc<AtomicUsize>,
}

fn answer(state: &State, request: &Request<Incoming>) -> Response<ServiceBody> {
    let path = request.uri().path();
    let body = match path {
        "/small" => ServiceBody::full(Bytes::from_static(b"ok\n")),
        "/1k" => ServiceBody::full(Bytes::from_static(&KIB)),
        "/held" => ServiceBody::full(Bytes::from(state.held.load(Ordering::SeqCst).to_string())),
        "/release" => {
            let mut release = state.release.lock().unwrap_or_else(|p| p.into_inner());
            release.cancel();
            *release = CancellationToken::new();
            ServiceBody::full(Bytes::from_static(b"released\n"))
        }
        "/hold" => {
            let token = state
                .release
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            ServiceBody::hold(token, state.held.clone())
        }
        _ => match path.strip_prefix("/bytes/").map(str::parse::<u64>) {
            Some(Ok(n)) => ServiceBody::Stream { remaining: n },
            _ => {
                let mut response =
                    Response::new(ServiceBody::full(Bytes::from_static(b"no such route\n")));
                *response.status_mut() = StatusCode::NOT_FOUND;
                return response;
            }
        },
    };
    let mut response = Response::new(body);
    if let Some(length) = response.body().size_hint().exact() {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, length.into());
    }
    response
}

// === the body ===

/// The body of every answer: one chunk, a counted stream, or a held body.
enum ServiceBody {
    Full(Option<Bytes>),
    Stream {
        remaining: u64,
    },
    Hold {
        released: Pin<Box<dyn Future<Output = ()> + Send>>,
        /// Decrements the count of held bodies when the body goes, however it goes.
        _guard: HeldGuard,
        done: bool,
    },
}

impl ServiceBody {
    fn full(bytes: Bytes) -> Self {
        Self::Full(Some(bytes))
    }

    fn hold(token: CancellationToken, held: Arc<AtomicUsize>) -> Self {
        held.fetch_add(1, Ordering::SeqCst);
        Self::Hold {
            released: Box::pin(token.cancelled_owned()),
            _guard: HeldGuard(held),
            done: false,
        }
    }
}

impl Body for ServiceBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Stream { remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let len = usize::try_from(*remaining).map_or(CHUNK, |r| r.min(CHUNK));
                *remaining -= len as u64;
                Poll::Ready(Some(Ok(Frame::data(
                    Bytes::from_static(&CHUNK_BYTES).slice(..len),
                ))))
            }
            Self::Hold { released, done, .. } => {
                if *done {
                    return Poll::Ready(None);
                }
                match released.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        *done = true;
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"released\n")))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Stream { remaining } => *remaining == 0,
            Self::Hold { done, .. } => *done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Stream { remaining } => SizeHint::with_exact(*remaining),
            Self::Hold { .. } => SizeHint::default(),
        }
    }
}

struct HeldGuard(Arc<AtomicUsize>);

impl Drop for HeldGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

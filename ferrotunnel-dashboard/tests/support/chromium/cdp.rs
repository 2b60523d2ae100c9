//! One Chrome DevTools Protocol connection: commands with ids and a reply each, events handed to
//! the subscriber of their session.
//!
//! The connection runs in flattened-session mode: every page is a session on the browser's one
//! websocket, and a message names its session in `sessionId` (no `sessionId`: the browser itself).
//! One reader task owns the read half. It hands a reply to the command's oneshot and an event to
//! its session's subscriber, in the order chromium sent them, so a subscriber has seen every event
//! chromium sent before the reply to any command that has returned.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::{
    SinkExt, StreamExt,
    stream::{SplitSink, SplitStream},
};
use serde_json::{Value, json};
use tokio::{net::TcpStream, sync::oneshot, task::JoinHandle};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

use super::Result;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Called by the reader task with `(method, params)` of each event of one session. It runs on the
/// reader task: keep it short and never block in it.
pub type Subscriber = Arc<dyn Fn(&str, &Value) + Send + Sync>;

/// The last lines chromium wrote to stderr, for error messages.
pub(super) type StderrTail = Arc<Mutex<VecDeque<String>>>;

/// A CDP connection. Cheap to clone; every clone drives the same websocket.
#[derive(Clone)]
pub struct Cdp {
    inner: Arc<Inner>,
}

struct Inner {
    sink: tokio::sync::Mutex<SplitSink<Socket, Message>>,
    next_id: AtomicU64,
    shared: Arc<Mutex<Shared>>,
    reader: JoinHandle<()>,
}

/// What the reader task and the callers share.
#[derive(Default)]
struct Shared {
    /// Commands waiting for their reply. Bounded by the callers: each one removes its entry on
    /// reply, on timeout and on cancellation.
    pending: HashMap<u64, oneshot::Sender<Result<Value, String>>>,
    /// At most one subscriber per session; a page removes its own when dropped.
    subscribers: HashMap<String, Subscriber>,
    /// Why the connection ended, once it has.
    closed: Option<String>,
}

impl Cdp {
    /// Connects to chromium's browser endpoint (`ws://127.0.0.1:PORT/devtools/browser/ID`).
    pub(super) async fn connect(url: &str, stderr: StderrTail) -> Result<Self> {
        // No `Origin` header goes out, so chromium's --remote-allow-origins check does not apply.
        let (socket, _response) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|error| format!("cannot connect to chromium's DevTools at {url}: {error}"))?;
        let (sink, stream) = socket.split();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let reader = tokio::spawn(read_loop(stream, Arc::clone(&shared), stderr));
        Ok(Self {
            inner: Arc::new(Inner {
                sink: tokio::sync::Mutex::new(sink),
                next_id: AtomicU64::new(1),
                shared,
                reader,
            }),
        })
    }

    /// Sends `method` with `params` to `session` (`None`: the browser) and waits up to `limit`
    /// for its reply's `result`. A CDP error reply is an `Err` with chromium's message.
    pub async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
        limit: Duration,
    ) -> Result<Value> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply_tx, reply_rx) = oneshot::channel();
        {
            let mut shared = lock(&self.inner.shared);
            if let Some(reason) = &shared.closed {
                return Err(
                    format!("{method}: the DevTools connection is closed: {reason}").into(),
                );
            }
            shared.pending.insert(id, reply_tx);
        }
        // Removes the pending entry however this call ends: reply, timeout, error or the caller
        // dropping this future.
        let _pending = PendingGuard {
            shared: &self.inner.shared,
            id,
        };

        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = Value::from(session);
        }
        let text = message.to_string();
        tokio::time::timeout(limit, async {
            self.inner.sink.lock().await.send(Message::text(text)).await
        })
        .await
        .map_err(|_| format!("{method}: could not send the command within {limit:?}"))?
        .map_err(|error| format!("{method}: cannot send the command to chromium: {error}"))?;

        match tokio::time::timeout(limit, reply_rx).await {
            Ok(Ok(Ok(result))) => Ok(result),
            Ok(Ok(Err(message))) => Err(format!("{method} failed: {message}").into()),
            Ok(Err(_)) => {
                let reason = lock(&self.inner.shared)
                    .closed
                    .clone()
                    .unwrap_or_else(|| "no reason given".to_owned());
                Err(format!("{method}: the DevTools connection closed first: {reason}").into())
            }
            Err(_) => Err(format!(
                "{method}: chromium did not answer within {limit:?} (is the machine overloaded, \
                 or did the page hang?)"
            )
            .into()),
        }
    }

    /// Hands every later event of `session` to `subscriber`, replacing any earlier one.
    pub fn subscribe(&self, session: &str, subscriber: Subscriber) {
        lock(&self.inner.shared)
            .subscribers
            .insert(session.to_owned(), subscriber);
    }

    /// Stops handing events of `session` to anyone.
    pub fn unsubscribe(&self, session: &str) {
        lock(&self.inner.shared).subscribers.remove(session);
    }

    /// Why the connection ended, if it has.
    pub fn closed(&self) -> Option<String> {
        lock(&self.inner.shared).closed.clone()
    }
}

impl fmt::Debug for Cdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = lock(&self.inner.shared);
        f.debug_struct("Cdp")
            .field("pending", &shared.pending.len())
            .field("sessions", &shared.subscribers.len())
            .field("closed", &shared.closed)
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

struct PendingGuard<'a> {
    shared: &'a Mutex<Shared>,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(self.shared).pending.remove(&self.id);
    }
}

/// A panic in a subscriber must not wedge every later command, so a poisoned lock is still used.
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// === the reader task ===

async fn read_loop(
    mut stream: SplitStream<Socket>,
    shared: Arc<Mutex<Shared>>,
    stderr: StderrTail,
) {
    let reason = loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => dispatch(&shared, text.as_str()),
            Some(Ok(Message::Close(frame))) => break format!("chromium closed it ({frame:?})"),
            // Chromium sends only text; pings are answered by tungstenite.
            Some(Ok(_)) => {}
            Some(Err(error)) => break format!("websocket error: {error}"),
            None => break "the websocket ended".to_owned(),
        }
    };
    let tail = stderr
        .lock()
        .map(|lines| lines.iter().cloned().collect::<Vec<_>>().join("\n"))
        .unwrap_or_default();
    let mut shared = lock(&shared);
    shared.closed = Some(format!("{reason}; chromium's last stderr lines:\n{tail}"));
    // Dropping the senders wakes every waiting command with "closed first".
    shared.pending.clear();
    shared.subscribers.clear();
}

fn dispatch(shared: &Mutex<Shared>, text: &str) {
    let Ok(mut message) = serde_json::from_str::<Value>(text) else {
        return;
    };
    if let Some(id) = message.get("id").and_then(Value::as_u64) {
        let Some(reply) = lock(shared).pending.remove(&id) else {
            return; // Its caller timed out or went away.
        };
        let outcome = match message.get_mut("error") {
            Some(error) => Err(describe_error(error)),
            None => Ok(message
                .get_mut("result")
                .map(Value::take)
                .unwrap_or(Value::Null)),
        };
        let _ = reply.send(outcome);
        return;
    }
    let (Some(method), Some(session)) = (
        message.get("method").and_then(Value::as_str),
        message.get("sessionId").and_then(Value::as_str),
    ) else {
        return; // Browser-level events: nothing subscribes to them yet.
    };
    // Called outside the lock, so that a subscriber may use the connection's other methods.
    let subscriber = lock(shared).subscribers.get(session).cloned();
    if let Some(subscriber) = subscriber {
        let params = message.get("params").unwrap_or(&Value::Null);
        subscriber(method, params);
    }
}

fn describe_error(error: &Value) -> String {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("unknown error");
    match error.get("data").and_then(Value::as_str) {
        Some(data) => format!("{message} ({data})"),
        None => message.to_owned(),
    }
}

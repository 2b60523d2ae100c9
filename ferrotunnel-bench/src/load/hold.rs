//! Many concurrent streams held open at once: `GET /hold` on one connection per stream.
//!
//! The local service answers the head of `/hold` at once and holds the body until `/release`,
//! so a received head proves the stream is open end to end. Opening is ramped: at most `ramp`
//! requests wait for their head at a time, so that the tunnel sees a steady flow of new streams
//! rather than ten thousand SYNs at once (which would measure the listen backlog, not the
//! tunnel). Each held request then waits for its body, which must be exactly the release line.

use std::{sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use http::StatusCode;
use http_body_util::BodyExt as _;
use tokio::{
    sync::{Semaphore, mpsc},
    task::JoinSet,
};

use super::{Target, connect};

/// The body of a released `/hold`.
const RELEASED: &[u8] = b"released\n";

/// Streams that were opened and are now held.
#[derive(Debug)]
pub(crate) struct Held {
    tasks: JoinSet<Ending>,
    /// Streams whose head arrived.
    pub(crate) opened: usize,
    /// Streams that failed before their head arrived.
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
}

/// Opens `count` held streams to `target`, at most `ramp` in progress at once, and returns once
/// each has its head or has failed, or fails after `wait`. Every held body is bounded by
/// `hold_for`.
pub(crate) async fn open(
    target: &Target,
    count: usize,
    ramp: usize,
    wait: Duration,
    hold_for: Duration,
) -> anyhow::Result<Held> {
    let opening = async {
        let slots = Arc::new(Semaphore::new(ramp.max(1)));
        let (opened, mut reports) = mpsc::unbounded_channel::<Result<(), String>>();
        let mut tasks = JoinSet::new();
        for _ in 0..count {
            let slot = slots.clone().acquire_owned().await?;
            let (target, opened) = (target.clone(), opened.clone());
            tasks.spawn(async move {
                let head = async {
                    let mut connection = connect(&target).await?;
                    connection.ready().await?;
                    let response = connection.send_request(target.get("/hold")?).await?;
                    if response.status() != StatusCode::OK {
                        bail!("/hold answered {}", response.status());
                    }
                    anyhow::Ok((connection, response))
                };
                let (connection, response) = match tokio::time::timeout(wait, head).await {
                    Ok(Ok(held)) => held,
                    Ok(Err(err)) => {
                        let _ = opened.send(Err(format!("{err:#}")));
                        return Ending::NotOpened;
                    }
                    Err(_) => {
                        let _ = opened.send(Err(format!("no head within {wait:?}")));
                        return Ending::NotOpened;
                    }
                };
                drop(slot);
                let _ = opened.send(Ok(()));
                let body = tokio::time::timeout(hold_for, response.into_body().collect())
                    .await
                    .map(|collected| collected.map(|body| body.to_bytes()));
                drop(connection);
                match body {
                    Ok(Ok(body)) if body.as_ref() == RELEASED => Ending::Released,
                    Ok(Ok(_)) => Ending::Failed("the held body was not the release line".into()),
                    Ok(Err(err)) => Ending::Failed(format!("the held body failed: {err}")),
                    Err(_) => Ending::Failed(format!("not released within {hold_for:?}")),
                }
            });
        }
        drop(opened);
        let mut held = Held {
            tasks,
            opened: 0,
            errors: 0,
            first_error: None,
        };
        for _ in 0..count {
            match reports.recv().await {
                Some(Ok(())) => held.opened += 1,
                Some(Err(err)) => {
                    held.errors += 1;
                    held.first_error.get_or_insert(err);
                }
                None => break,
            }
        }
        anyhow::Ok(held)
    };
    // Every stream has its own `wait`; this bounds the ramp as a whole.
    tokio::time::timeout(wait * 4, opening)
        .await
        .with_context(|| format!("{count} streams were not open within {:?}", wait * 4))?
}

/// How a held stream ended.
#[derive(Debug)]
enum Ending {
    Released,
    /// Failed before its head arrived; already counted by [`open`].
    NotOpened,
    Failed(String),
}

impl Held {
    /// Waits for every held stream to end (call after `/release`), up to `wait`, and returns
    /// how many ended with the release line and the errors, these counted in `self.errors`.
    pub(crate) async fn finish(mut self, wait: Duration) -> anyhow::Result<(usize, Held)> {
        let mut released = 0;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                Ok(Some(Ok(Ending::Released))) => released += 1,
                Ok(Some(Ok(Ending::NotOpened))) => {}
                Ok(Some(Ok(Ending::Failed(err)))) => {
                    self.errors += 1;
                    self.first_error.get_or_insert(err);
                }
                Ok(Some(Err(err))) => {
                    self.errors += 1;
                    self.first_error.get_or_insert(format!("{err}"));
                }
                Ok(None) => break,
                Err(_) => {
                    let left = self.tasks.len();
                    self.tasks.abort_all();
                    bail!("{left} held streams had not ended {wait:?} after their release");
                }
            }
        }
        Ok((released, self))
    }
}

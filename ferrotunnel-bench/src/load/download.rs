//! Download throughput: `GET /bytes/<n>` on one connection, or on several in parallel, each
//! body read to its end and counted.
//!
//! Connections are opened first; the clock runs from sending the requests to the end of the
//! last body. A transfer still running at the cap is stopped and reported as incomplete (its
//! throughput is then what moved within the cap), so a collapsing tunnel cannot stall a run.

use std::time::{Duration, Instant};

use anyhow::bail;
use http::StatusCode;
use http_body_util::BodyExt as _;

use super::{Target, connect};

/// What one run measured.
#[derive(Debug, Default)]
pub(crate) struct DownloadRun {
    pub(crate) bytes: u64,
    pub(crate) expected: u64,
    pub(crate) elapsed: Duration,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    /// Some transfer was stopped at the cap: slow, not failed, so not in `errors`.
    pub(crate) capped: bool,
}

impl DownloadRun {
    pub(crate) fn mib_per_second(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    pub(crate) fn complete(&self) -> bool {
        self.bytes == self.expected && self.errors == 0 && !self.capped
    }
}

/// Downloads `total` bytes split over `streams` parallel requests, giving up at `cap`.
pub(crate) async fn run(
    target: &Target,
    total: u64,
    streams: usize,
    cap: Duration,
) -> anyhow::Result<DownloadRun> {
    let streams = streams.max(1);
    let mut connections = Vec::with_capacity(streams);
    for _ in 0..streams {
        connections.push(connect(target).await?);
    }
    let share = total / streams as u64;
    let start = Instant::now();
    let deadline = tokio::time::Instant::from_std(start + cap);
    let tasks: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(i, mut connection)| {
            // The last stream takes what does not divide evenly.
            let size = if i + 1 == streams {
                total - share * (streams as u64 - 1)
            } else {
                share
            };
            let request = target.get(&format!("/bytes/{size}"));
            tokio::spawn(async move {
                let mut received = 0u64;
                let outcome = tokio::time::timeout_at(deadline, async {
                    let request = request?;
                    connection.ready().await?;
                    let response = connection.send_request(request).await?;
                    if response.status() != StatusCode::OK {
                        bail!("answered {}", response.status());
                    }
                    let mut body = response.into_body();
                    while let Some(frame) = body.frame().await {
                        if let Some(data) = frame?.data_ref() {
                            received += data.len() as u64;
                        }
                    }
                    Ok(())
                })
                .await;
                let outcome = match outcome {
                    Ok(Ok(())) if received == size => Ok(()),
                    Ok(Ok(())) => Err(Some(format!(
                        "the body ended after {received} of {size} bytes"
                    ))),
                    Ok(Err(err)) => Err(Some(format!("{err:#}"))),
                    // Stopped at the cap.
                    Err(_) => Err(None),
                };
                (received, size, Instant::now(), outcome)
            })
        })
        .collect();
    let mut run = DownloadRun::default();
    let mut last_end = start;
    for task in tasks {
        let (received, size, ended, outcome) = task.await?;
        run.bytes += received;
        run.expected += size;
        last_end = last_end.max(ended);
        match outcome {
            Ok(()) => {}
            Err(None) => run.capped = true,
            Err(Some(err)) => {
                run.errors += 1;
                run.first_error.get_or_insert(err);
            }
        }
    }
    run.elapsed = last_end - start;
    Ok(run)
}

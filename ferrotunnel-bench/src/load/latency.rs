//! Small-request latency at a fixed rate, open loop.
//!
//! A pacer thread schedules request `i` at `start + i / rate` by the clock and hands it to
//! connection `i mod connections` (so each connection has its own fixed schedule, as in wrk2).
//! Latency is measured from the **scheduled** send time to the end of the response body: a
//! response that comes late delays the requests queued behind it on its connection, and that
//! delay is counted instead of hidden (coordinated omission).
//!
//! The pacer is the calling (main) thread, sleeping with `std::thread::sleep` (a
//! high-resolution timer, its slack tightened to 1 ns) rather than a tokio timer, whose 1 ms
//! granularity would add up to a millisecond to every sample. What is left of the pacer's own
//! lateness (waking up, waking a runtime thread) is in every sample of every column alike;
//! [`LatencyRun::send_delays`] records it so the report can show it.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{runtime::Runtime, sync::mpsc};

use super::{Target, connect, fetch};

/// How one latency run is shaped.
#[derive(Debug, Clone)]
pub(crate) struct LatencyPlan {
    pub(crate) path: &'static str,
    pub(crate) rate: u32,
    pub(crate) duration: Duration,
    pub(crate) connections: usize,
}

/// What one run measured.
#[derive(Debug, Default)]
pub(crate) struct LatencyRun {
    /// One per successful request: scheduled send time → end of the body.
    pub(crate) latencies: Vec<Duration>,
    /// Scheduled send time → the moment the request was handed to hyper.
    pub(crate) send_delays: Vec<Duration>,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
}

/// Runs `plan` against `target`. Blocks the calling thread, which paces the requests: call it
/// from the process's main thread (see [`tighten_timer_slack`]), not from inside the runtime.
pub(crate) fn run(
    runtime: &Runtime,
    target: &Target,
    plan: &LatencyPlan,
) -> anyhow::Result<LatencyRun> {
    tighten_timer_slack();
    let connections = plan.connections.max(1);
    let count = (f64::from(plan.rate) * plan.duration.as_secs_f64()).round() as u64;
    let period_ns = 1_000_000_000 / u64::from(plan.rate.max(1));

    let target = Arc::new(target.clone());
    let opened = runtime.block_on(async {
        let mut opened = Vec::with_capacity(connections);
        for _ in 0..connections {
            opened.push(connect(&target).await?);
        }
        anyhow::Ok(opened)
    })?;
    let mut senders = Vec::with_capacity(connections);
    let tasks: Vec<_> = opened
        .into_iter()
        .map(|connection| {
            let (sender, receiver) = mpsc::unbounded_channel::<Instant>();
            senders.push(sender);
            runtime.spawn(serve_schedule(
                connection,
                target.clone(),
                plan.path,
                receiver,
            ))
        })
        .collect();

    // A little ahead, so that the first requests are not late before they start.
    let start = Instant::now() + Duration::from_millis(5);
    for i in 0..count {
        let at = start + Duration::from_nanos(period_ns * i);
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let Some(sender) = usize::try_from(i)
            .ok()
            .and_then(|i| senders.get(i % senders.len()))
        else {
            break;
        };
        if sender.send(at).is_err() {
            break;
        }
    }
    // Dropping the senders ends every connection's schedule.
    drop(senders);

    runtime.block_on(async {
        let mut total = LatencyRun::default();
        for task in tasks {
            let run = task.await?;
            total.latencies.extend(run.latencies);
            total.send_delays.extend(run.send_delays);
            total.errors += run.errors;
            if total.first_error.is_none() {
                total.first_error = run.first_error;
            }
        }
        Ok(total)
    })
}

/// Asks the kernel to wake this process's main thread within a nanosecond of its deadline
/// instead of the default 50 µs "timer slack", which would otherwise land in every sample.
/// Best effort: `/proc/self/timerslack_ns` applies to the main thread only (hence the pacer
/// runs there), and a kernel or sandbox that refuses the write leaves the default.
fn tighten_timer_slack() {
    let _ = std::fs::write("/proc/self/timerslack_ns", "1");
}

/// Sends one request per scheduled time received, in order, on one connection.
async fn serve_schedule(
    mut connection: super::Connection,
    target: Arc<Target>,
    path: &'static str,
    mut schedule: mpsc::UnboundedReceiver<Instant>,
) -> LatencyRun {
    let mut run = LatencyRun::default();
    while let Some(at) = schedule.recv().await {
        run.send_delays.push(at.elapsed());
        match fetch(&mut connection, &target, path).await {
            Ok(_) => run.latencies.push(at.elapsed()),
            Err(err) => {
                run.errors += 1;
                run.first_error.get_or_insert_with(|| format!("{err:#}"));
                // A fresh connection for the next request; if even that fails, the next
                // request fails and is counted too.
                if let Ok(fresh) = connect(&target).await {
                    connection = fresh;
                }
            }
        }
    }
    run
}

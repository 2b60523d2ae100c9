//! The most requests per second a fixed set of keep-alive connections can do (closed loop:
//! each connection sends its next request as soon as the previous response has ended).
//!
//! All connections are opened first; then every connection runs for the warm-up and the
//! measured window back to back, and only responses that end inside the measured window count.
//! The CPU time the tunnel's processes spend in that window is read at its two ends.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use super::{Target, connect, fetch};
use crate::cpu;

/// How one run is shaped.
#[derive(Debug, Clone)]
pub(crate) struct RatePlan {
    pub(crate) path: &'static str,
    pub(crate) connections: usize,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
}

/// What one run measured.
#[derive(Debug, Default)]
pub(crate) struct RateRun {
    /// Responses that ended inside the measured window.
    pub(crate) requests: u64,
    pub(crate) measured: Duration,
    /// Failed requests, warm-up included.
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    /// CPU seconds each watched process spent in the measured window, in the order given.
    pub(crate) cpu: Vec<f64>,
}

impl RateRun {
    pub(crate) fn per_second(&self) -> f64 {
        self.requests as f64 / self.measured.as_secs_f64().max(f64::EPSILON)
    }

    /// Microseconds of CPU per request of the `i`th watched process.
    pub(crate) fn cpu_per_request_us(&self, i: usize) -> Option<f64> {
        let seconds = self.cpu.get(i)?;
        Some(seconds * 1e6 / self.requests.max(1) as f64)
    }
}

/// Runs `plan` against `target`, watching the CPU time of the processes `pids`.
pub(crate) async fn run(target: &Target, plan: &RatePlan, pids: &[u32]) -> anyhow::Result<RateRun> {
    let target = Arc::new(target.clone());
    let mut connections = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        connections.push(connect(&target).await?);
    }
    let warm_until = Instant::now() + plan.warmup;
    let until = warm_until + plan.duration;
    let pids = pids.to_vec();
    let cpu = tokio::spawn(async move {
        let read = |pids: &[u32]| {
            pids.iter()
                .map(|&pid| cpu::seconds(pid))
                .collect::<Result<Vec<_>, _>>()
        };
        tokio::time::sleep_until(warm_until.into()).await;
        let before = read(&pids)?;
        tokio::time::sleep_until(until.into()).await;
        let after = read(&pids)?;
        anyhow::Ok(
            after
                .iter()
                .zip(before)
                .map(|(a, b)| a - b)
                .collect::<Vec<f64>>(),
        )
    });
    let tasks: Vec<_> = connections
        .into_iter()
        .map(|mut connection| {
            let (target, path) = (target.clone(), plan.path);
            tokio::spawn(async move {
                let mut run = RateRun::default();
                while Instant::now() < until {
                    match fetch(&mut connection, &target, path).await {
                        Ok(_) => {
                            let now = Instant::now();
                            if now >= warm_until && now <= until {
                                run.requests += 1;
                            }
                        }
                        Err(err) => {
                            run.errors += 1;
                            run.first_error.get_or_insert_with(|| format!("{err:#}"));
                            if let Ok(fresh) = connect(&target).await {
                                connection = fresh;
                            }
                        }
                    }
                }
                run
            })
        })
        .collect();
    let mut total = RateRun {
        measured: plan.duration,
        cpu: cpu.await??,
        ..RateRun::default()
    };
    for task in tasks {
        let run = task.await?;
        total.requests += run.requests;
        total.errors += run.errors;
        if total.first_error.is_none() {
            total.first_error = run.first_error;
        }
    }
    Ok(total)
}

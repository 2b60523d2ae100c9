//! The FerroTunnel load test: real processes on loopback — a local HTTP service, the
//! `ferrotunnel server`, the `ferrotunnel client` — and a load generator written with hyper.
//! It prints one table where every figure is measured **direct** (load generator → local
//! service) and **through the tunnel** in the same run, with the ratio; `rathole` and `bore`
//! get a column of their own when they are on `PATH`.
//!
//! ```text
//! cargo bench -p ferrotunnel-cli --bench loadtest              # the full run
//! cargo bench -p ferrotunnel-cli --bench loadtest -- --quick   # every figure, small
//! ```
//!
//! `docs/benchmarks.md` says what each figure means, how it is measured, and what a run
//! printed. The entry points are called from the `main` of ferrotunnel-cli's `loadtest` bench
//! and test, which know where cargo built the `ferrotunnel` binary.
//!
//! The local service is this same executable, re-executed with [`ROLE_ENV`] set: so the first
//! thing a `main` calling into this crate does is hand over to [`local_service_requested`].
#![forbid(unsafe_code)]

use std::{path::Path, process::ExitCode};

mod child;
mod cpu;
mod figures;
mod load;
mod local_service;
mod machine;
mod memory;
mod options;
mod otlp_sink;
mod peers;
mod pki;
mod report;
mod route;
mod rss;
mod run;
mod spawn;
mod startup;
mod stats;
mod tcp_opens;
mod traffic;
mod watcher;

pub use options::{Options, Part};
pub use report::{Compare, Report, Row};
pub use spawn::ROLE_ENV;

/// If this process was started as the local service, serves until its stdin closes and
/// returns its exit code; otherwise returns `None`, and the caller runs the harness.
pub fn local_service_requested() -> Option<ExitCode> {
    if std::env::var_os(ROLE_ENV).is_none_or(|role| role != spawn::LOCAL_SERVICE_ROLE) {
        return None;
    }
    Some(match local_service::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("local service: {err:#}");
            ExitCode::FAILURE
        }
    })
}

/// Runs every figure with `options` against the `ferrotunnel` binary at `bin`.
pub fn run(options: &Options, bin: &Path) -> anyhow::Result<Report> {
    run::run(options, bin)
}

/// The `main` of the benchmark: parses the arguments, runs, prints the report on stdout.
/// Fails (after printing) if any request failed or any figure is missing.
pub fn bench_main(bin: &str) -> ExitCode {
    if let Some(code) = local_service_requested() {
        return code;
    }
    let options = match Options::from_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(err) => {
            eprintln!("loadtest: {err:#}");
            return ExitCode::from(2);
        }
    };
    match run(&options, Path::new(bin)) {
        Ok(report) => {
            println!("{report}");
            let problems = report.problems();
            for problem in &problems {
                eprintln!("loadtest: PROBLEM: {problem}");
            }
            if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("loadtest: the run failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `main` of the quick test: every figure, small, with no peers; passes when every figure
/// was produced, every request succeeded and every value is positive. Not a timed pass/fail.
pub fn test_main(bin: &str) -> ExitCode {
    if let Some(code) = local_service_requested() {
        return code;
    }
    let options = Options {
        peers: false,
        ..Options::quick()
    };
    let outcome = run(&options, Path::new(bin)).and_then(|report| {
        println!("{report}");
        let problems = report.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(anyhow::anyhow!("{}", problems.join("\n")))
        }
    });
    match outcome {
        Ok(()) => {
            println!("loadtest: 1 passed, 0 failed");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("loadtest quick run failed: {err:#}");
            println!("loadtest: 0 passed, 1 failed");
            ExitCode::FAILURE
        }
    }
}

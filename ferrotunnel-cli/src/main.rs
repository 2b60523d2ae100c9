//! `ferrotunnel`: the command-line tool. `server` runs the public side, `client` exposes local
//! services through it, and `quickstart` runs both plus a demo service in one process.
//!
//! ```text
//! ferrotunnel server  --listen 0.0.0.0:7835 --http 0.0.0.0:8080 --domain localhost --token SECRET
//! ferrotunnel client  --server tcp://127.0.0.1:7835 --token SECRET --local 127.0.0.1:3000 --subdomain app
//! ferrotunnel quickstart
//! ```
//!
//! # Output
//!
//! Logs go to stderr (human-readable; filter with `RUST_LOG`, default `info`). Stdout carries
//! only the status lines described in [`banner`], which tests and scripts parse.
//!
//! # Settings
//!
//! Every flag has a key in the `--config` TOML file (see `config.rs` and `docs/config/`).
//! Precedence, highest first: flag, `FERROTUNNEL_TOKEN` (for the token), config file, the
//! library's default.
//!
//! # Exit codes
//!
//! - `0`: stopped by Ctrl+C or SIGTERM after a graceful shutdown.
//! - `1`: something failed that may work on another try (cannot bind, cannot reach the
//!   server, a second signal cut the shutdown short).
//! - `2`: the settings are wrong and retrying cannot help: a bad flag (clap's own usage
//!   errors use 2 as well), an invalid config file, a certificate, key or CA file that cannot
//!   be used, a server certificate the client does not trust, or the server refused the client
//!   for good (bad token, tunnel name taken, …). The reason is printed on stderr.

use std::{
    io::{IsTerminal as _, Write as _},
    process::ExitCode,
};

use anyhow::Context as _;
use clap::{ArgMatches, CommandFactory as _, FromArgMatches as _};
use tracing::Level;
use tracing_subscriber::{
    EnvFilter, Layer as _, filter::Targets, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

mod banner;
mod cli;
mod client;
mod config;
mod dashboard;
mod demo;
mod duration;
mod malloc;
mod metrics;
mod quickstart;
mod server;
mod signal;
mod traces;

use cli::{Cli, Command};

/// The target of this binary's own log events. The binary crate is called `ferrotunnel` like
/// the library, so its module paths (`ferrotunnel::client`) would pass for the library's.
const LOG_TARGET: &str = "ferrotunnel_cli";

fn main() -> ExitCode {
    malloc::give_memory_back_when_quiet();
    // The matches are kept: they say which settings the user gave as flags, which is what
    // lays flags over a config file.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli.command, &matches)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "error: {}", describe(&err));
            exit_code(&err)
        }
    }
}

async fn run(command: Command, matches: &ArgMatches) -> anyhow::Result<()> {
    let mut signals = signal::Signals::install().context("cannot listen for Ctrl+C and SIGTERM")?;
    let flags = matches.subcommand().map_or(matches, |(_, flags)| flags);
    match command {
        Command::Server(args) => server::run(args, flags, &mut signals).await,
        Command::Client(args) => client::run(args, flags, &mut signals).await,
        Command::Quickstart(args) => quickstart::run(args, &mut signals).await,
    }
}

/// Human-readable logs on stderr, so stdout stays free for the status lines; with `traces`,
/// the request spans (and the warnings logged inside them) go to OpenTelemetry too. Called by
/// each command once its settings are known, and so whether it traces.
fn init_logging(traces: Option<&traces::Traces>) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // The request spans carry a dozen attributes each: for OpenTelemetry, not log lines.
        .add_directive(
            format!("{}=off", ferrotunnel_tower::trace::SPAN_TARGET)
                .parse()
                .expect("a valid directive"),
        );
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colour codes help on a terminal and clutter a log file or a test's captured output.
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter);
    let spans = traces.map(|traces| {
        tracing_opentelemetry::layer()
            .with_tracer(traces.tracer())
            .with_filter(
                Targets::new()
                    .with_default(Level::WARN)
                    .with_target(ferrotunnel_tower::trace::SPAN_TARGET, Level::INFO),
            )
    });
    tracing_subscriber::registry().with(logs).with(spans).init();
}

/// The error and its causes on one line. Some errors repeat their cause in their own message
/// (`I/O error: could not connect …` over the `io::Error` it wraps); those repeats are skipped.
fn describe(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if parts.last().is_some_and(|last| last.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

fn exit_code(err: &anyhow::Error) -> ExitCode {
    let settings_problem = err.chain().any(|cause| {
        cause.is::<config::ConfigError>()
            || matches!(
                cause.downcast_ref::<ferrotunnel::Error>(),
                Some(
                    ferrotunnel::Error::Refused(_)
                        | ferrotunnel::Error::Config(_)
                        | ferrotunnel::Error::Tls(_)
                )
            )
    });
    if settings_problem {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use ferrotunnel::protocol::{Refusal, RefusalCode};

    use super::*;

    #[test]
    fn causes_are_joined_without_repeats() {
        // The context repeats the cause it wraps, as `could not connect …: <io error>` does.
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let err = anyhow::Error::new(io)
            .context("could not connect to the server at h:1: connection refused")
            .context("cannot open a session");
        assert_eq!(
            describe(&err),
            "cannot open a session: could not connect to the server at h:1: connection refused"
        );
    }

    #[test]
    fn settings_problems_exit_with_2() {
        let refused = ferrotunnel::Error::Refused(Refusal::new(RefusalCode::BadToken, "bad token"));
        let err = anyhow::Error::new(refused).context("cannot open a session");
        assert_eq!(exit_code(&err), ExitCode::from(2));
        let err = anyhow::Error::new(ferrotunnel::Error::Config("x".into())).context("invalid");
        assert_eq!(exit_code(&err), ExitCode::from(2));
        let err = anyhow::Error::new(ferrotunnel::Error::Tls("unknown issuer".into()))
            .context("cannot open a session");
        assert_eq!(exit_code(&err), ExitCode::from(2));
        let err = anyhow::Error::new(ferrotunnel::Error::SessionClosed).context("lost");
        assert_eq!(exit_code(&err), ExitCode::FAILURE);
    }
}

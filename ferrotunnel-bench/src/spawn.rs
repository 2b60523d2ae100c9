//! Starts the processes under test: the local service (this same executable, re-executed), the
//! `ferrotunnel server` and the `ferrotunnel client`. Each binds `127.0.0.1:0` and is ready
//! when it has printed its address line; nothing here guesses a port or sleeps.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::Context as _;

use crate::{child::ChildProcess, load::Target, local_service, pki::Pki};

/// The token every server of a run accepts.
pub(crate) const TOKEN: &str = "ferrotunnel-bench-token";
/// The environment variable that turns the harness executable into the local service.
pub const ROLE_ENV: &str = "FERROTUNNEL_BENCH_ROLE";
/// Its value for the local service.
pub(crate) const LOCAL_SERVICE_ROLE: &str = "local-service";
/// How long a process may take to print its readiness line: generous, for debug builds on a
/// busy two-core machine.
const READY_WAIT: Duration = Duration::from_secs(30);

/// The local service process.
#[derive(Debug)]
pub(crate) struct LocalService {
    pub(crate) process: ChildProcess,
    pub(crate) addr: SocketAddr,
    /// From spawn to the address line.
    pub(crate) ready_after: Duration,
}

impl LocalService {
    pub(crate) fn start() -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find the harness executable")?;
        let mut command = Command::new(exe);
        command.env(ROLE_ENV, LOCAL_SERVICE_ROLE);
        let mut process = ChildProcess::spawn("the local service", command)?;
        let addr = process.value_of(local_service::ADDRESS_LABEL, READY_WAIT)?;
        let ready_after = process.started().elapsed();
        let addr = addr
            .parse()
            .with_context(|| format!("the local service printed a bad address {addr:?}"))?;
        Ok(Self {
            process,
            addr,
            ready_after,
        })
    }

    /// Requests straight to the local service.
    pub(crate) fn target(&self) -> Target {
        Target::new(self.addr, &self.addr.to_string())
    }
}

/// A `ferrotunnel server` process.
#[derive(Debug)]
pub(crate) struct TunnelServer {
    pub(crate) process: ChildProcess,
    pub(crate) control: SocketAddr,
    pub(crate) http: SocketAddr,
    /// The CA its control port's certificate chains to, when it serves TLS.
    ca: Option<PathBuf>,
}

impl TunnelServer {
    /// Starts a server on loopback with the run's token and these extra flags.
    pub(crate) fn start(bin: &Path, extra: &[String]) -> anyhow::Result<Self> {
        let mut command = ferrotunnel(bin);
        command
            .args(["server", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .args(["--domain", "localhost", "--token", TOKEN])
            .args(extra);
        let mut process = ChildProcess::spawn("ferrotunnel server", command)?;
        let control = parse_addr(process.value_of("Control address", READY_WAIT)?)?;
        let http = parse_addr(process.value_of("HTTP address", READY_WAIT)?)?;
        Ok(Self {
            process,
            control,
            http,
            ca: None,
        })
    }

    /// Starts a server like [`start`](Self::start) whose control port speaks TLS 1.3 with
    /// `pki`'s certificate: its clients connect with `tls://` and trust `pki`'s CA.
    pub(crate) fn start_tls(bin: &Path, extra: &[String], pki: &Pki) -> anyhow::Result<Self> {
        let mut flags = vec![
            "--tls-cert".to_owned(),
            pki.cert().display().to_string(),
            "--tls-key".to_owned(),
            pki.key().display().to_string(),
        ];
        flags.extend_from_slice(extra);
        let mut server = Self::start(bin, &flags)?;
        server.ca = Some(pki.ca());
        Ok(server)
    }

    /// Where the dashboard of a server started with `--dashboard 127.0.0.1:0` listens.
    pub(crate) fn dashboard(&mut self) -> anyhow::Result<SocketAddr> {
        let url = self.process.value_of("Dashboard", READY_WAIT)?;
        let addr = url
            .strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/'))
            .with_context(|| format!("the dashboard's URL {url:?} is not http://ADDR/"))?;
        parse_addr(addr.to_owned())
    }

    /// Where a server started with `--metrics 127.0.0.1:0` serves its metrics.
    pub(crate) fn metrics(&mut self) -> anyhow::Result<Target> {
        let url = self.process.value_of("Metrics", READY_WAIT)?;
        let addr = url
            .strip_prefix("http://")
            .and_then(|rest| rest.strip_suffix("/metrics"))
            .with_context(|| format!("the metrics URL {url:?} is not http://ADDR/metrics"))?;
        let addr = parse_addr(addr.to_owned())?;
        Ok(Target::new(addr, &addr.to_string()))
    }

    /// The URL clients connect to.
    pub(crate) fn url(&self) -> String {
        match self.ca {
            Some(_) => format!("tls://{}", self.control),
            None => format!("tcp://{}", self.control),
        }
    }

    /// Requests to the tunnel `name` through this server's ingress.
    pub(crate) fn target(&self, name: &str) -> Target {
        Target::new(self.http, &format!("{name}.localhost:{}", self.http.port()))
    }
}

/// A `ferrotunnel client` process exposing one tunnel.
#[derive(Debug)]
pub(crate) struct TunnelClient {
    pub(crate) process: ChildProcess,
    /// From spawn to the `Forwarding` line.
    pub(crate) online_after: Duration,
}

impl TunnelClient {
    /// Starts a client that exposes `local` as tunnel `name`, and waits until it is online.
    pub(crate) fn start(
        bin: &Path,
        server: &TunnelServer,
        local: SocketAddr,
        name: &str,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        let mut command = ferrotunnel(bin);
        command
            .args(["client", "--server", &server.url(), "--token", TOKEN])
            .args(["--local", &local.to_string(), "--subdomain", name])
            .args(extra);
        if let Some(ca) = &server.ca {
            command.arg("--ca").arg(ca);
        }
        let mut process = ChildProcess::spawn(format!("ferrotunnel client ({name})"), command)?;
        process.value_of("Forwarding", READY_WAIT)?;
        let online_after = process.started().elapsed();
        Ok(Self {
            process,
            online_after,
        })
    }

    /// When the process was spawned.
    pub(crate) fn started(&self) -> Instant {
        self.process.started()
    }
}

/// The `ferrotunnel` binary with a clean, fixed environment: the CLI's default log level (so
/// a `RUST_LOG=debug` in the caller's shell does not slow the tunnel down) and no token from
/// the environment.
fn ferrotunnel(bin: &Path) -> Command {
    let mut command = Command::new(bin);
    command
        .env_remove("FERROTUNNEL_TOKEN")
        .env("RUST_LOG", "info");
    command
}

fn parse_addr(text: String) -> anyhow::Result<SocketAddr> {
    text.parse()
        .with_context(|| format!("not a socket address: {text:?}"))
}

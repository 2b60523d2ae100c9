//! Peer tunnels, when installed: `rathole` and `bore` on `PATH` each get a column of their
//! own, forwarding to the same local service with their default settings. Absent ones are
//! skipped without a word; one that is present but fails to start is skipped with a note on
//! stderr. CI installs neither.
//!
//! Neither tool can be told to bind port 0 and report the port back for everything:
//!
//! - `rathole` takes every address from its config file, so the harness picks free ports by
//!   binding `127.0.0.1:0` and closing the socket just before starting it (a tiny race with any
//!   other program picking ports at that moment). Ready when the server logs that it listens
//!   for visitors, which it does once the client's control channel is up. With
//!   `--feature-columns` it gets a second column, `rathole+noise`: its link encrypted with the
//!   Noise protocol and a key pair from `rathole --genkey`, to set beside `ferrotunnel+tls`.
//! - `bore server` always listens for clients on port 7835 (its protocol's constant), so bore is
//!   skipped when that port is taken; visitor ports are picked by the server and read back from
//!   the client's `listening at` log line.
//! - The published **ferrotunnel 1.5** (`cargo install ferrotunnel-cli --version 1.5.2 --root
//!   DIR`) is an HTTP-aware tunnel like this one. Its binary is also called `ferrotunnel`, so
//!   it is found through [`FERROTUNNEL_1_5_ENV`], not `PATH`. Its server takes its addresses
//!   from flags (free ports picked as for rathole) and its token from a file; visitors name the
//!   tunnel in `Host` and send the token in `X-Tunnel-Token`. Ready when its client logs the
//!   handshake, which the server answers only after registering the tunnel.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::Context as _;
use http::HeaderName;

use crate::{child::ChildProcess, load::Target, route::Route, traffic::progress};

/// The environment variable that names the published ferrotunnel 1.5's binary.
pub(crate) const FERROTUNNEL_1_5_ENV: &str = "FERROTUNNEL_1_5_BIN";

/// How long a peer may take to become ready.
const READY_WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "ferrotunnel-bench-peer-token";

/// A running peer tunnel: its route and the processes behind it (stopped when dropped).
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) route: Route,
    _processes: Vec<ChildProcess>,
    _scratch: Option<Scratch>,
}

/// Starts every peer found on `PATH`; one that fails to start is reported and skipped. With
/// `encrypted`, also rathole with its encrypted link, beside the `ferrotunnel+tls` column.
pub(crate) fn start_all(local: SocketAddr, encrypted: bool) -> Vec<Peer> {
    let mut peers = Vec::new();
    if let Some(bin) = on_path("rathole") {
        let links: &[RatholeLink] = if encrypted {
            &[RatholeLink::Tcp, RatholeLink::Noise]
        } else {
            &[RatholeLink::Tcp]
        };
        for &link in links {
            match rathole(&bin, local, link) {
                Ok(peer) => peers.push(peer),
                Err(err) => progress(&format!(
                    "rathole is installed but did not start ({link:?}): {err:#}"
                )),
            }
        }
    }
    if let Some(bin) = on_path("bore") {
        match bore(&bin, local) {
            Ok(peer) => peers.push(peer),
            Err(err) => progress(&format!("bore is installed but did not start: {err:#}")),
        }
    }
    if let Some(bin) = std::env::var_os(FERROTUNNEL_1_5_ENV).map(PathBuf::from) {
        match ferrotunnel_1_5(&bin, local) {
            Ok(peer) => peers.push(peer),
            Err(err) => progress(&format!(
                "{FERROTUNNEL_1_5_ENV} names {bin:?}, which did not start: {err:#}"
            )),
        }
    }
    peers
}

fn ferrotunnel_1_5(bin: &Path, local: SocketAddr) -> anyhow::Result<Peer> {
    const TUNNEL: &str = "bench";
    let scratch = Scratch::new("ferrotunnel-1.5")?;
    let token_file = scratch.write("token", TOKEN)?;
    let control = free_port()?;
    let visitors = free_port()?;
    let mut server = Command::new(bin);
    server
        .args(["server", "--bind", &control.to_string()])
        .args(["--http-bind", &visitors.to_string()])
        .arg("--token-file")
        .arg(&token_file)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    let mut server = ChildProcess::spawn("ferrotunnel 1.5 server", server)?;
    server.wait_for_text(&format!("HTTP Ingress listening on {visitors}"), READY_WAIT)?;
    let mut client = Command::new(bin);
    client
        .args(["client", "--server", &control.to_string(), "--token", TOKEN])
        .args(["--local-addr", &local.to_string(), "--tunnel-id", TUNNEL])
        .arg("--no-dashboard")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    let mut client = ChildProcess::spawn("ferrotunnel 1.5 client", client)?;
    client.wait_for_text("Handshake successful", READY_WAIT)?;
    Ok(Peer {
        route: Route {
            name: "ferrotunnel-1.5".into(),
            target: Target::new(visitors, TUNNEL)
                .with_header(HeaderName::from_static("x-tunnel-token"), TOKEN),
            server_pid: Some(server.pid()),
            client_pid: Some(client.pid()),
        },
        _processes: vec![server, client],
        _scratch: Some(scratch),
    })
}

fn rathole(bin: &Path, local: SocketAddr, link: RatholeLink) -> anyhow::Result<Peer> {
    let (name, server_transport, client_transport) = match link {
        RatholeLink::Tcp => ("rathole", String::new(), String::new()),
        RatholeLink::Noise => {
            let keys = NoiseKeys::generate(bin)?;
            (
                "rathole+noise",
                format!(
                    "[server.transport]\ntype = \"noise\"\n\n\
                     [server.transport.noise]\nlocal_private_key = \"{}\"\n\n",
                    keys.private
                ),
                format!(
                    "[client.transport]\ntype = \"noise\"\n\n\
                     [client.transport.noise]\nremote_public_key = \"{}\"\n\n",
                    keys.public
                ),
            )
        }
    };
    let scratch = Scratch::new(name)?;
    let control = free_port()?;
    let visitors = free_port()?;
    let server_toml = scratch.write(
        "server.toml",
        &format!(
            "[server]\nbind_addr = \"{control}\"\ndefault_token = \"{TOKEN}\"\n\n\
             {server_transport}[server.services.bench]\nbind_addr = \"{visitors}\"\n"
        ),
    )?;
    let client_toml = scratch.write(
        "client.toml",
        &format!(
            "[client]\nremote_addr = \"{control}\"\ndefault_token = \"{TOKEN}\"\n\n\
             {client_transport}[client.services.bench]\nlocal_addr = \"{local}\"\n"
        ),
    )?;
    let mut server = ChildProcess::spawn(
        format!("{name} server"),
        logged(bin, &["--server"], &server_toml),
    )?;
    server.wait_for_text(&format!("Listening at {control}"), READY_WAIT)?;
    let client = ChildProcess::spawn(
        format!("{name} client"),
        logged(bin, &["--client"], &client_toml),
    )?;
    server.wait_for_text(&format!("Listening at {visitors}"), READY_WAIT)?;
    Ok(Peer {
        route: Route {
            name: name.into(),
            target: Target::new(visitors, &visitors.to_string()),
            server_pid: Some(server.pid()),
            client_pid: Some(client.pid()),
        },
        _processes: vec![server, client],
        _scratch: Some(scratch),
    })
}

/// How a rathole client reaches its server.
#[derive(Debug, Clone, Copy)]
enum RatholeLink {
    /// Plain TCP, its default.
    Tcp,
    /// Encrypted with the Noise protocol (`Noise_NK_25519_ChaChaPoly_BLAKE2s`, its default
    /// pattern), which needs a key pair and no certificate: rathole's encrypted link.
    Noise,
}

/// An x25519 key pair from `rathole --genkey`, base64 as its config wants them.
struct NoiseKeys {
    private: String,
    public: String,
}

impl NoiseKeys {
    fn generate(bin: &Path) -> anyhow::Result<Self> {
        let output = Command::new(bin)
            .arg("--genkey")
            .output()
            .context("cannot run rathole --genkey")?;
        anyhow::ensure!(output.status.success(), "rathole --genkey failed");
        let text = String::from_utf8_lossy(&output.stdout);
        // "Private Key:\n<base64>\n\nPublic Key:\n<base64>\n"
        let key_after = |label: &str| {
            text.lines()
                .skip_while(|line| line.trim() != label)
                .nth(1)
                .map(|line| line.trim().to_owned())
                .filter(|key| !key.is_empty())
                .with_context(|| format!("rathole --genkey printed no {label:?}: {text:?}"))
        };
        Ok(Self {
            private: key_after("Private Key:")?,
            public: key_after("Public Key:")?,
        })
    }
}

fn bore(bin: &Path, local: SocketAddr) -> anyhow::Result<Peer> {
    if TcpListener::bind("127.0.0.1:7835").is_err() {
        anyhow::bail!("port 7835, which bore's server always uses, is taken");
    }
    let mut command = logged(bin, &["server", "--bind-addr", "127.0.0.1"], Path::new(""));
    command.args(["--secret", TOKEN]);
    let mut server = ChildProcess::spawn("bore server", command)?;
    server.wait_for_text("server listening", READY_WAIT)?;
    let local_port = local.port().to_string();
    let mut command = logged(bin, &["local", &local_port], Path::new(""));
    command.args([
        "--local-host",
        "127.0.0.1",
        "--to",
        "127.0.0.1",
        "--secret",
        TOKEN,
    ]);
    let mut client = ChildProcess::spawn("bore client", command)?;
    let line = client.wait_for_text("listening at", READY_WAIT)?;
    let addr: SocketAddr = line
        .split("listening at ")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                .collect::<String>()
        })
        .and_then(|addr| addr.parse().ok())
        .with_context(|| format!("no address in bore's line {line:?}"))?;
    Ok(Peer {
        route: Route {
            name: "bore".into(),
            target: Target::new(addr, &addr.to_string()),
            server_pid: Some(server.pid()),
            client_pid: Some(client.pid()),
        },
        _processes: vec![server, client],
        _scratch: None,
    })
}

/// A peer command with its logs at `info` and without colour codes, plus a config file if
/// `config` is not empty.
fn logged(bin: &Path, args: &[&str], config: &Path) -> Command {
    let mut command = Command::new(bin);
    command
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    if !config.as_os_str().is_empty() {
        command.arg(config);
    }
    command
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}

/// A port that was free a moment ago.
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// A directory for config files, removed when dropped.
#[derive(Debug)]
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("ferrotunnel-bench-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir:?}"))?;
        Ok(Self(dir))
    }

    fn write(&self, file: &str, text: &str) -> anyhow::Result<PathBuf> {
        let path = self.0.join(file);
        std::fs::write(&path, text).with_context(|| format!("cannot write {path:?}"))?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

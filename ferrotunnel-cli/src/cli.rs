//! The command line as clap sees it: subcommands, flags and their help.
//!
//! Flags only collect values; they turn into the same structs a config file parses into
//! ([`ServerConfig`], [`ClientConfig`]) so that merging and validation happen in one place,
//! `config.rs`. Every setting flag is optional here for the same reason: an absent flag must
//! not hide the file's value, and an absent setting keeps the library's default.

use std::{convert::Infallible, net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use ferrotunnel::protocol::Secret;

use crate::{
    config::{ClientConfig, ServerConfig, TunnelEntry},
    duration,
};

/// Expose local services through a public server: a reverse tunnel built on tower.
#[derive(Debug, Parser)]
#[command(name = "ferrotunnel", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the public server: accept clients, and serve their tunnels to visitors over HTTP.
    Server(ServerArgs),
    /// Expose local services through a server.
    Client(ClientArgs),
    /// Try FerroTunnel in one process: a server, a demo web service and a client exposing it.
    Quickstart(QuickstartArgs),
}

fn secret(value: &str) -> Result<Secret, Infallible> {
    Ok(Secret::new(value))
}

// === server ===

#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// A TOML file with any of the settings below (snake_case keys); flags win over it.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Where clients connect [default: 0.0.0.0:7835]; port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// Where visitors connect over HTTP [default: 0.0.0.0:8080]; port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,

    /// Tunnel NAME is served at NAME.DOMAIN [default: localhost].
    #[arg(long)]
    domain: Option<String>,

    /// Accept clients that present this token; repeat to accept several. Without any token,
    /// every client is accepted.
    #[arg(
        long = "token",
        value_name = "SECRET",
        env = "FERROTUNNEL_TOKEN",
        hide_env_values = true,
        value_parser = secret
    )]
    tokens: Vec<Secret>,

    /// The port shown in public URLs, when a proxy in front of the server listens on another port.
    #[arg(long, value_name = "PORT")]
    public_port: Option<u16>,

    /// Serve the control port over TLS 1.3 with this PEM certificate chain (clients then
    /// connect with tls://). Needs --tls-key.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    tls_key: Option<PathBuf>,

    /// Also serve visitors, and wss:// clients, over HTTPS here. Public URLs then use https://.
    #[arg(long, value_name = "ADDR")]
    https: Option<SocketAddr>,

    /// The PEM certificate chain of the HTTPS ingress [default: --tls-cert].
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    https_cert: Option<PathBuf>,

    /// The PEM private key of --https-cert [default: --tls-key].
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    https_key: Option<PathBuf>,

    /// How long a new client may take to open its session and say hello.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    handshake_timeout: Option<Duration>,

    /// How often heartbeats are sent; a client silent for three intervals is dropped.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    heartbeat_interval: Option<Duration>,

    /// How long a local service may take to send its response head before visitors get a 504.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    response_timeout: Option<Duration>,

    /// How long a visitor may take to send a request head.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    header_read_timeout: Option<Duration>,

    /// How long a shutdown waits for requests in flight.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    grace_period: Option<Duration>,

    /// How many clients may be connected at once.
    #[arg(long, value_name = "N")]
    max_clients: Option<usize>,

    /// How many tunnels one client may register.
    #[arg(long, value_name = "N")]
    max_tunnels_per_client: Option<usize>,

    /// How many streams (requests in flight plus pooled connections) one session may hold.
    #[arg(long, value_name = "N")]
    max_streams_per_session: Option<usize>,

    /// The largest request head a visitor may send, in bytes.
    #[arg(long, value_name = "BYTES")]
    max_header_size: Option<usize>,

    /// The largest control frame, in bytes.
    #[arg(long, value_name = "BYTES")]
    max_frame_size: Option<usize>,
}

impl ServerArgs {
    /// The settings given as flags (or through `FERROTUNNEL_TOKEN`), to lay over the file.
    pub(crate) fn flags(self) -> ServerConfig {
        ServerConfig {
            listen: self.listen,
            http: self.http,
            domain: self.domain,
            tokens: self.tokens,
            public_port: self.public_port,
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
            https: self.https,
            https_cert: self.https_cert,
            https_key: self.https_key,
            handshake_timeout: self.handshake_timeout,
            heartbeat_interval: self.heartbeat_interval,
            response_timeout: self.response_timeout,
            header_read_timeout: self.header_read_timeout,
            grace_period: self.grace_period,
            max_clients: self.max_clients,
            max_tunnels_per_client: self.max_tunnels_per_client,
            max_streams_per_session: self.max_streams_per_session,
            max_header_size: self.max_header_size,
            max_frame_size: self.max_frame_size,
        }
    }
}

// === client ===

#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// A TOML file with any of the settings below (snake_case keys, [[tunnel]] tables for
    /// --tunnel); flags win over it.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// The server to connect to.
    #[arg(long, value_name = "URL", value_hint = clap::ValueHint::Url)]
    server: Option<String>,

    /// The token the server expects.
    #[arg(
        long,
        value_name = "SECRET",
        env = "FERROTUNNEL_TOKEN",
        hide_env_values = true,
        value_parser = secret
    )]
    token: Option<Secret>,

    /// Verify a tls:// or wss:// server against the CA certificate(s) in this PEM file instead
    /// of the platform's trust store: for a private or self-signed server certificate.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    ca: Option<PathBuf>,

    /// The local service to expose, like 127.0.0.1:3000.
    #[arg(long, value_name = "HOST:PORT")]
    local: Option<String>,

    /// The tunnel's name: `app` is served at app.<server domain>. Without it the server picks one.
    #[arg(long, value_name = "NAME")]
    subdomain: Option<String>,

    /// One more tunnel, NAME=HOST:PORT; repeat for several. Replaces the file's [[tunnel]] list.
    #[arg(long = "tunnel", value_name = "NAME=HOST:PORT")]
    tunnels: Vec<TunnelEntry>,

    /// How long connecting to the server may take.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    connect_timeout: Option<Duration>,

    /// How long the server may take to answer the hello.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    handshake_timeout: Option<Duration>,

    /// How long a local service may take to accept a connection before visitors get a 504.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    local_connect_timeout: Option<Duration>,

    /// The first wait before reconnecting after the session is lost; it doubles on each failure.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    reconnect_initial: Option<Duration>,

    /// The longest wait between reconnection attempts.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    reconnect_max: Option<Duration>,

    /// How long a shutdown waits for streams in flight.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    grace_period: Option<Duration>,

    /// How many streams the session may hold at once.
    #[arg(long, value_name = "N")]
    max_streams: Option<usize>,
}

impl ClientArgs {
    /// The settings given as flags (or through `FERROTUNNEL_TOKEN`), to lay over the file.
    pub(crate) fn flags(self) -> ClientConfig {
        ClientConfig {
            server: self.server,
            token: self.token,
            ca: self.ca,
            local: self.local,
            subdomain: self.subdomain,
            tunnels: self.tunnels,
            connect_timeout: self.connect_timeout,
            handshake_timeout: self.handshake_timeout,
            local_connect_timeout: self.local_connect_timeout,
            reconnect_initial: self.reconnect_initial,
            reconnect_max: self.reconnect_max,
            grace_period: self.grace_period,
            max_streams: self.max_streams,
        }
    }
}

// === quickstart ===

/// Quickstart binds loopback by default: its token is random and printed, and the demo service
/// answers anyone, so it should not face a network unless asked to.
#[derive(Debug, Args)]
pub(crate) struct QuickstartArgs {
    /// Where the built-in server accepts clients; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7835")]
    pub(crate) listen: SocketAddr,

    /// Where visitors connect over HTTP; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub(crate) http: SocketAddr,

    /// The demo tunnel's name: it is served at NAME.localhost.
    #[arg(long, value_name = "NAME", default_value = "demo")]
    pub(crate) subdomain: String,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ferrotunnel").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn server_flags_become_settings() {
        let cli = parse(&[
            "server",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "a",
            "--token",
            "b",
            "--grace-period",
            "500ms",
            "--max-header-size",
            "9000",
        ])
        .expect("parses");
        let Command::Server(args) = cli.command else {
            panic!("not the server command");
        };
        let flags = args.flags();
        assert_eq!(flags.listen, Some("127.0.0.1:0".parse().expect("addr")));
        assert_eq!(flags.tokens, vec![Secret::new("a"), Secret::new("b")]);
        assert_eq!(flags.grace_period, Some(Duration::from_millis(500)));
        assert_eq!(flags.max_header_size, Some(9000));
        assert_eq!(flags.http, None);
    }

    #[test]
    fn client_flags_become_settings() {
        let cli = parse(&[
            "client",
            "--server",
            "tcp://127.0.0.1:7835",
            "--local",
            "127.0.0.1:3000",
            "--subdomain",
            "app",
            "--tunnel",
            "api=127.0.0.1:4000",
            "--reconnect-max",
            "2m",
        ])
        .expect("parses");
        let Command::Client(args) = cli.command else {
            panic!("not the client command");
        };
        let flags = args.flags();
        assert_eq!(flags.subdomain.as_deref(), Some("app"));
        assert_eq!(flags.tunnels[0].name, "api");
        assert_eq!(flags.reconnect_max, Some(Duration::from_secs(120)));
    }

    #[test]
    fn bad_values_are_refused_with_the_parsers_message() {
        let err = parse(&["server", "--grace-period", "5"])
            .expect_err("no unit")
            .to_string();
        assert!(err.contains("5 has no unit"), "{err}");
        let err = parse(&["client", "--tunnel", "api"])
            .expect_err("no address")
            .to_string();
        assert!(err.contains("NAME=HOST:PORT"), "{err}");
    }

    #[test]
    fn tls_flags_become_settings() {
        let cli = parse(&[
            "server",
            "--tls-cert",
            "cert.pem",
            "--tls-key",
            "key.pem",
            "--https",
            "127.0.0.1:0",
        ])
        .expect("parses");
        let Command::Server(args) = cli.command else {
            panic!("not the server command");
        };
        let flags = args.flags();
        assert_eq!(flags.tls_cert, Some(PathBuf::from("cert.pem")));
        assert_eq!(flags.tls_key, Some(PathBuf::from("key.pem")));
        assert_eq!(flags.https, Some("127.0.0.1:0".parse().expect("addr")));
        let cli = parse(&["client", "--ca", "ca.pem"]).expect("parses");
        let Command::Client(args) = cli.command else {
            panic!("not the client command");
        };
        assert_eq!(args.flags().ca, Some(PathBuf::from("ca.pem")));
    }

    #[test]
    fn flags_for_features_that_do_not_exist_yet_are_refused() {
        for flag in ["--dashboard", "--inspect"] {
            for command in ["server", "client"] {
                assert!(parse(&[command, flag, "x"]).is_err(), "{command} {flag}");
            }
        }
    }

    #[test]
    fn quickstart_has_loopback_defaults() {
        let Command::Quickstart(args) = parse(&["quickstart"]).expect("parses").command else {
            panic!("not quickstart");
        };
        assert_eq!(args.listen, "127.0.0.1:7835".parse().expect("addr"));
        assert_eq!(args.http, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(args.subdomain, "demo");
    }
}

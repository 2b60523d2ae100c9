//! The command line as clap sees it: subcommands and the flags that are not settings.
//!
//! The settings themselves are the structs a config file parses into ([`ServerConfig`],
//! [`ClientConfig`]), flattened in here: each is defined once, for clap and serde alike, in
//! `config/`. Every setting is optional so that an absent flag never hides the file's value,
//! and an absent setting keeps the library's default.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::config::{ClientConfig, ServerConfig};

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

// === server ===

#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// A TOML file with any of the settings below (snake_case keys); flags win over it.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) settings: ServerConfig,
}

// === client ===

#[derive(Debug, Args)]
pub(crate) struct ClientArgs {
    /// A TOML file with any of the settings below (snake_case keys, [[tunnel]] tables for
    /// --tunnel); flags win over it.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) settings: ClientConfig,
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

    /// Where the server's dashboard (every tunnel) is served; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9090")]
    pub(crate) dashboard: SocketAddr,

    /// Where the client's inspector (its own traffic) is served; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4040")]
    pub(crate) inspect: SocketAddr,

    /// Send OpenTelemetry traces to this OTLP/HTTP collector, e.g. http://127.0.0.1:4318.
    /// Default: OTEL_EXPORTER_OTLP_ENDPOINT, else no traces.
    #[arg(long, value_name = "URL")]
    pub(crate) otlp_endpoint: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::CommandFactory;
    use ferrotunnel::protocol::Secret;

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
        let flags = args.settings;
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
        let flags = args.settings;
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
        let flags = args.settings;
        assert_eq!(flags.tls_cert, Some(PathBuf::from("cert.pem")));
        assert_eq!(flags.tls_key, Some(PathBuf::from("key.pem")));
        assert_eq!(flags.https, Some("127.0.0.1:0".parse().expect("addr")));
        let cli = parse(&["client", "--ca", "ca.pem"]).expect("parses");
        let Command::Client(args) = cli.command else {
            panic!("not the client command");
        };
        assert_eq!(args.settings.ca, Some(PathBuf::from("ca.pem")));
    }

    #[test]
    fn dashboard_flags_parse() {
        let cli = parse(&[
            "server",
            "--dashboard",
            "127.0.0.1:9090",
            "--dashboard-auth",
            "a:b",
        ])
        .expect("parses");
        let Command::Server(args) = cli.command else {
            panic!("not the server command");
        };
        assert_eq!(
            args.settings.dashboard,
            Some("127.0.0.1:9090".parse().expect("addr"))
        );
        assert_eq!(
            args.settings.dashboard_auth.map(|auth| auth.user),
            Some("a".to_owned())
        );
        let cli = parse(&["client", "--inspect", "127.0.0.1:4040"]).expect("parses");
        let Command::Client(args) = cli.command else {
            panic!("not the client command");
        };
        assert_eq!(
            args.settings.inspect,
            Some("127.0.0.1:4040".parse().expect("addr"))
        );
        assert!(parse(&["server", "--dashboard", "nowhere"]).is_err());
        assert!(parse(&["server", "--dashboard-auth", "no-colon"]).is_err());
    }

    #[test]
    fn quickstart_has_loopback_defaults() {
        let Command::Quickstart(args) = parse(&["quickstart"]).expect("parses").command else {
            panic!("not quickstart");
        };
        assert_eq!(args.listen, "127.0.0.1:7835".parse().expect("addr"));
        assert_eq!(args.http, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(args.subdomain, "demo");
        assert_eq!(args.dashboard, "127.0.0.1:9090".parse().expect("addr"));
        assert_eq!(args.inspect, "127.0.0.1:4040".parse().expect("addr"));
    }
}

//! The settings of `ferrotunnel server`.

use std::{
    convert::Infallible,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{ArgMatches, Args};
use ferrotunnel::protocol::Secret;
use ferrotunnel_tower::policy::{ClientPolicies, Policy};
use serde::Deserialize;

use super::{
    ConfigError, DashboardAuth, PolicyArgs, Settings,
    inspector::{check_dashboard, check_own_port},
    require_nonzero_durations, require_positive_limits, setting,
};
use crate::duration;

/// Settings of `ferrotunnel server`: each field is one flag and one config-file key, defined
/// here once for clap (the flag, its help) and serde (the key).
#[derive(Debug, Clone, Default, PartialEq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerConfig {
    /// Where clients connect [default: 0.0.0.0:7835]; port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<SocketAddr>,

    /// Where visitors connect over HTTP [default: 0.0.0.0:8080]; port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub(crate) http: Option<SocketAddr>,

    /// Tunnel NAME is served at NAME.DOMAIN [default: localhost].
    #[arg(long)]
    pub(crate) domain: Option<String>,

    /// Accept clients that present this token; repeat to accept several (file: `tokens`).
    /// Without any token, every client is accepted.
    #[arg(
        long = "token",
        value_name = "SECRET",
        env = "FERROTUNNEL_TOKEN",
        hide_env_values = true,
        value_parser = secret
    )]
    #[serde(default)]
    pub(crate) tokens: Vec<Secret>,

    /// The port shown in public URLs, when a proxy in front of the server listens on another port.
    #[arg(long, value_name = "PORT")]
    pub(crate) public_port: Option<u16>,

    /// Serve the control port over TLS 1.3 with this PEM certificate chain (clients then
    /// connect with tls://). Needs --tls-key.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub(crate) tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub(crate) tls_key: Option<PathBuf>,

    /// Also serve visitors, and wss:// clients, over HTTPS here. Public URLs then use https://.
    #[arg(long, value_name = "ADDR")]
    pub(crate) https: Option<SocketAddr>,

    /// The PEM certificate chain of the HTTPS ingress [default: --tls-cert].
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub(crate) https_cert: Option<PathBuf>,

    /// The PEM private key of --https-cert [default: --tls-key].
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub(crate) https_key: Option<PathBuf>,

    /// How long a new client may take to open its session and say hello.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub(crate) handshake_timeout: Option<Duration>,

    /// How often heartbeats are sent; a client silent for three intervals is dropped.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub(crate) heartbeat_interval: Option<Duration>,

    /// How long a local service may take to send its response head before visitors get a 504.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub(crate) response_timeout: Option<Duration>,

    /// How long a visitor may take to send a request head.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub(crate) header_read_timeout: Option<Duration>,

    /// How long a shutdown waits for requests in flight.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub(crate) grace_period: Option<Duration>,

    /// How many clients may be connected at once.
    #[arg(long, value_name = "N")]
    pub(crate) max_clients: Option<usize>,

    /// How many tunnels one client may register.
    #[arg(long, value_name = "N")]
    pub(crate) max_tunnels_per_client: Option<usize>,

    /// How many streams (requests in flight plus pooled connections) one session may hold.
    #[arg(long, value_name = "N")]
    pub(crate) max_streams_per_session: Option<usize>,

    /// The largest request head a visitor may send, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_header_size: Option<usize>,

    /// The largest control frame, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_frame_size: Option<usize>,

    /// The policies clients may ask for on their tunnels: `all` (the default), `none`, or
    /// policy names (repeatable). Clients can only add to this server's own policy, never
    /// lift it.
    #[arg(
        long = "client-policy",
        value_name = "NAME",
        help_heading = "Tunnel policy"
    )]
    #[serde(default)]
    pub(crate) client_policies: Vec<String>,

    /// The most policy rules a client may ask for on one tunnel [default: 32].
    #[arg(long, value_name = "N", help_heading = "Tunnel policy")]
    pub(crate) max_policy_rules: Option<usize>,

    /// Serve the traffic inspector and live dashboard here, e.g. 127.0.0.1:9090: every request
    /// to every tunnel, live, with replay. Never the visitors' port; anywhere but loopback
    /// needs --dashboard-auth.
    #[arg(long, value_name = "ADDR", help_heading = "Dashboard")]
    pub(crate) dashboard: Option<SocketAddr>,

    /// HTTP Basic credentials the dashboard asks for.
    #[arg(long, value_name = "USER:PASS", help_heading = "Dashboard")]
    pub(crate) dashboard_auth: Option<DashboardAuth>,

    /// How many requests the dashboard keeps, the oldest forgotten first [default: 1000].
    #[arg(long, value_name = "N", help_heading = "Dashboard")]
    pub(crate) capture_max_requests: Option<usize>,

    /// How many bytes of captured traffic the dashboard keeps at most [default: 52428800, 50 MiB].
    #[arg(long, value_name = "BYTES", help_heading = "Dashboard")]
    pub(crate) capture_max_bytes: Option<usize>,

    /// How many bytes of each request and response body the dashboard keeps [default: 65536].
    #[arg(long, value_name = "BYTES", help_heading = "Dashboard")]
    pub(crate) capture_body_bytes: Option<usize>,

    /// Serve this server's metrics here, at /metrics, in the Prometheus text format, e.g.
    /// 127.0.0.1:9100. With a dashboard they are also at its /metrics.
    #[arg(long, value_name = "ADDR", help_heading = "Observability")]
    pub(crate) metrics: Option<SocketAddr>,

    /// Send OpenTelemetry traces of every request to this OTLP/HTTP collector, e.g.
    /// http://127.0.0.1:4318 (/v1/traces is added). Default: OTEL_EXPORTER_OTLP_ENDPOINT, else
    /// no traces.
    #[arg(long, value_name = "URL", help_heading = "Observability")]
    pub(crate) otlp_endpoint: Option<String>,

    /// The policy flags, for every tunnel. A config file lists `[[policy]]` tables instead.
    #[command(flatten)]
    #[serde(skip)]
    pub(crate) policy_flags: PolicyArgs,

    /// Every tunnel's policy (file: `[[policy]]` tables, run in order; flags replace them).
    #[arg(skip)]
    #[serde(default)]
    pub(crate) policy: Vec<PolicyArgs>,
}

fn secret(value: &str) -> Result<Secret, Infallible> {
    Ok(Secret::new(value))
}

impl Settings for ServerConfig {
    fn policy_flags(&mut self) -> (&mut PolicyArgs, &mut Vec<PolicyArgs>) {
        (&mut self.policy_flags, &mut self.policy)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        ServerConfig::validate(self)
    }
}

impl ServerConfig {
    /// Reads `file` (if any), lays the flags the user gave (and `FERROTUNNEL_TOKEN`) over it,
    /// and checks the result.
    pub(crate) fn resolve(file: Option<&Path>, flags: &ArgMatches) -> Result<Self, ConfigError> {
        super::resolve(file, flags)
    }

    /// The policy every tunnel runs, in order.
    pub(crate) fn policies(&self) -> Vec<Policy> {
        super::policy::policies(&self.policy)
    }

    /// How much the dashboard's capture layer keeps.
    pub(crate) fn capture(&self) -> ferrotunnel_tower::capture::CaptureConfig {
        super::capture_config(
            self.capture_max_requests,
            self.capture_max_bytes,
            self.capture_body_bytes,
        )
    }

    /// Which policies clients may ask for.
    pub(crate) fn client_policies(&self) -> Result<ClientPolicies, ConfigError> {
        if self.client_policies.is_empty() {
            return Ok(ClientPolicies::Any);
        }
        ClientPolicies::from_names(&self.client_policies)
            .map_err(|err| ConfigError::new(format!("`client_policies` (--client-policy): {err}")))
    }

    /// Checks what the command line can name better than the library (which checks the rest).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(i) = self.tokens.iter().position(|t| t.expose().is_empty()) {
            return Err(ConfigError(format!(
                "token #{} is empty: give --token (or FERROTUNNEL_TOKEN, or `tokens` in the config file) a non-empty secret",
                i + 1
            )));
        }
        if self.public_port == Some(0) {
            return Err(ConfigError(format!(
                "{} must be a port between 1 and 65535",
                setting("public_port")
            )));
        }
        self.validate_tls()?;
        self.client_policies()?;
        check_dashboard(
            "dashboard",
            self.dashboard,
            self.dashboard_auth.as_ref(),
            &[
                ("listen", self.listen),
                ("http", self.http),
                ("https", self.https),
            ],
            &[
                ("capture_max_requests", self.capture_max_requests),
                ("capture_max_bytes", self.capture_max_bytes),
            ],
        )?;
        check_own_port(
            "metrics",
            self.metrics,
            &[
                ("listen", self.listen),
                ("http", self.http),
                ("https", self.https),
                ("dashboard", self.dashboard),
            ],
        )?;
        // The grace period may be zero: that means "stop at once".
        require_nonzero_durations(&[
            ("handshake_timeout", self.handshake_timeout),
            ("heartbeat_interval", self.heartbeat_interval),
            ("response_timeout", self.response_timeout),
            ("header_read_timeout", self.header_read_timeout),
        ])?;
        require_positive_limits(&[
            ("max_clients", self.max_clients),
            ("max_tunnels_per_client", self.max_tunnels_per_client),
            ("max_streams_per_session", self.max_streams_per_session),
            ("max_header_size", self.max_header_size),
            ("max_frame_size", self.max_frame_size),
            ("max_policy_rules", self.max_policy_rules),
        ])
    }

    /// Certificates and keys come in pairs, and an HTTPS ingress needs one of the pairs.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        for (cert, key, cert_path, key_path) in [
            ("tls_cert", "tls_key", &self.tls_cert, &self.tls_key),
            ("https_cert", "https_key", &self.https_cert, &self.https_key),
        ] {
            if cert_path.is_some() != key_path.is_some() {
                return Err(ConfigError(format!(
                    "{} and {} go together: set both or neither",
                    setting(cert),
                    setting(key)
                )));
            }
        }
        match (self.https, &self.https_cert, &self.tls_cert) {
            (Some(_), None, None) => Err(ConfigError(format!(
                "{} needs a certificate: set {} and {}, or {} and {}",
                setting("https"),
                setting("https_cert"),
                setting("https_key"),
                setting("tls_cert"),
                setting("tls_key")
            ))),
            (None, Some(_), _) => Err(ConfigError(format!(
                "{} is set but {} is not: say where the HTTPS ingress listens",
                setting("https_cert"),
                setting("https")
            ))),
            _ => Ok(()),
        }
    }

    /// The HTTPS ingress's address and certificate files: its own pair, else the control
    /// port's. `validate` has checked that there is one.
    pub(crate) fn https_ingress(&self) -> Option<(SocketAddr, &Path, &Path)> {
        let addr = self.https?;
        let (cert, key) = match (&self.https_cert, &self.https_key) {
            (Some(cert), Some(key)) => (cert, key),
            _ => (self.tls_cert.as_ref()?, self.tls_key.as_ref()?),
        };
        Some((addr, cert, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches;

    use crate::config::{load, tests::config_dir};

    fn parse(toml: &str) -> Result<ServerConfig, String> {
        toml::from_str(toml).map_err(|e| e.to_string())
    }

    #[test]
    fn the_server_example_sets_every_key() {
        // A key added to ServerConfig must also be documented in the example.
        let config: ServerConfig = load(&config_dir().join("server.toml")).expect("parses");
        // Policies are `[[policy]]` tables (see `every_policy_is_shown_in_an_example_config`),
        // never flags, in a file.
        assert!(config.policy_flags.is_empty());
        assert!(!config.policy.is_empty());
        let settings = ServerConfig {
            policy: Vec::new(),
            ..config.clone()
        };
        let debug = format!("{settings:?}").replace(&format!("{:?}", config.policy_flags), "");
        assert!(!debug.contains("None"), "unset in server.toml: {debug}");
        assert!(!config.tokens.is_empty());
        assert!(
            !debug.contains("change-me"),
            "tokens leak through Debug: {debug}"
        );
    }

    #[test]
    fn server_files_parse_durations_tokens_and_limits() {
        let config = parse(
            r#"
            listen = "127.0.0.1:7000"
            tokens = ["a", "b"]
            heartbeat_interval = "1m30s"
            max_clients = 5
            "#,
        )
        .expect("parses");
        assert_eq!(config.listen, Some("127.0.0.1:7000".parse().expect("addr")));
        assert_eq!(config.tokens, vec![Secret::new("a"), Secret::new("b")]);
        assert_eq!(config.heartbeat_interval, Some(Duration::from_secs(90)));
        assert_eq!(config.max_clients, Some(5));
        assert_eq!(config.http, None);
    }

    #[test]
    fn file_errors_name_the_problem() {
        for (toml, needle) in [
            (
                "heartbeat_intervall = \"1s\"",
                "unknown field `heartbeat_intervall`",
            ),
            ("grace_period = 5", "a duration string like \"30s\""),
            ("grace_period = \"5\"", "5 has no unit"),
            ("listen = \"localhost\"", "invalid socket address"),
            ("tokens = \"one\"", "invalid type"),
        ] {
            let err = parse(toml).expect_err(toml);
            assert!(err.contains(needle), "{toml}: {err}");
        }
    }

    #[test]
    fn the_https_ingress_uses_its_own_certificate_or_the_tunnels() {
        let https = Some("127.0.0.1:8443".parse().expect("addr"));
        let shared = ServerConfig {
            tls_cert: Some("tunnel.pem".into()),
            tls_key: Some("tunnel.key".into()),
            https,
            ..ServerConfig::default()
        };
        shared.validate().expect("valid");
        let (_, cert, key) = shared.https_ingress().expect("https");
        assert_eq!(
            (cert, key),
            (Path::new("tunnel.pem"), Path::new("tunnel.key"))
        );
        let own = ServerConfig {
            https_cert: Some("web.pem".into()),
            https_key: Some("web.key".into()),
            ..shared
        };
        let (_, cert, key) = own.https_ingress().expect("https");
        assert_eq!((cert, key), (Path::new("web.pem"), Path::new("web.key")));
        assert_eq!(ServerConfig::default().https_ingress(), None);
    }

    /// `args` as clap parses them for `ferrotunnel server`.
    fn flags(args: &[&str]) -> ArgMatches {
        ServerConfig::augment_args(clap::Command::new("server"))
            .try_get_matches_from(std::iter::once("server").chain(args.iter().copied()))
            .expect("the flags parse")
    }

    #[test]
    fn flags_override_the_file() {
        let file = ServerConfig {
            listen: Some("127.0.0.1:1".parse().expect("addr")),
            domain: Some("file.example".into()),
            tokens: vec![Secret::new("from-file")],
            max_clients: Some(7),
            ..ServerConfig::default()
        };
        let mut merged = file.clone();
        merged
            .update_from_arg_matches(&flags(&["--listen", "127.0.0.1:2", "--token", "from-flag"]))
            .expect("updates");
        assert_eq!(merged.listen, Some("127.0.0.1:2".parse().expect("addr")));
        assert_eq!(merged.domain.as_deref(), Some("file.example"));
        assert_eq!(merged.tokens, vec![Secret::new("from-flag")]);
        assert_eq!(merged.max_clients, Some(7));
        // No flags: the file stands.
        let mut unchanged = file.clone();
        unchanged
            .update_from_arg_matches(&flags(&[]))
            .expect("updates");
        assert_eq!(unchanged, file);
    }

    #[test]
    fn resolve_reads_the_file_then_applies_flags() {
        let path = config_dir().join("server.toml");
        let config =
            ServerConfig::resolve(Some(&path), &flags(&["--max-clients", "3"])).expect("valid");
        assert_eq!(config.max_clients, Some(3));
        assert_eq!(config.domain.as_deref(), Some("localhost"), "from the file");
        let err =
            ServerConfig::resolve(Some(&path), &flags(&["--max-clients", "0"])).expect_err("zero");
        assert!(err.to_string().contains("--max-clients"), "{err}");
    }

    #[test]
    fn server_validation_names_the_setting() {
        let check = |config: ServerConfig| config.validate().expect_err("invalid").to_string();
        assert!(ServerConfig::default().validate().is_ok());
        assert_eq!(
            check(ServerConfig {
                heartbeat_interval: Some(Duration::ZERO),
                ..ServerConfig::default()
            }),
            "`heartbeat_interval` (--heartbeat-interval) must be longer than zero"
        );
        assert_eq!(
            check(ServerConfig {
                max_streams_per_session: Some(0),
                ..ServerConfig::default()
            }),
            "`max_streams_per_session` (--max-streams-per-session) must be at least 1"
        );
        assert!(
            check(ServerConfig {
                tokens: vec![Secret::new("ok"), Secret::new("")],
                ..ServerConfig::default()
            })
            .starts_with("token #2 is empty")
        );
        assert!(
            check(ServerConfig {
                public_port: Some(0),
                ..ServerConfig::default()
            })
            .contains("--public-port")
        );
        assert_eq!(
            check(ServerConfig {
                tls_cert: Some("cert.pem".into()),
                ..ServerConfig::default()
            }),
            "`tls_cert` (--tls-cert) and `tls_key` (--tls-key) go together: set both or neither"
        );
        assert!(
            check(ServerConfig {
                https: Some("127.0.0.1:8443".parse().expect("addr")),
                ..ServerConfig::default()
            })
            .starts_with("`https` (--https) needs a certificate")
        );
        assert!(
            check(ServerConfig {
                https_cert: Some("cert.pem".into()),
                https_key: Some("key.pem".into()),
                ..ServerConfig::default()
            })
            .contains("`https` (--https) is not")
        );
        // Zero grace means "stop at once" and is allowed.
        assert!(
            ServerConfig {
                grace_period: Some(Duration::ZERO),
                ..ServerConfig::default()
            }
            .validate()
            .is_ok()
        );
    }
}

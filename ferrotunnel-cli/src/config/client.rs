//! The settings of `ferrotunnel client`.

use std::{
    collections::HashSet,
    convert::Infallible,
    net::SocketAddr,
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use clap::{ArgMatches, Args};
use ferrotunnel::protocol::{Secret, validate_tunnel_name};
use ferrotunnel_tower::policy::Policy;
use serde::Deserialize;

use super::{
    ConfigError, DashboardAuth, PolicyArgs, Settings,
    inspector::{check_dashboard, check_own_port},
    require_nonzero_durations, require_positive_limits, setting,
};
use crate::duration;

/// The library's reconnect backoff defaults. `ClientBuilder::reconnect_backoff` takes both
/// ends at once, so when only one is configured the other has to be filled in here.
const DEFAULT_RECONNECT_INITIAL: Duration = Duration::from_millis(250);
const DEFAULT_RECONNECT_MAX: Duration = Duration::from_secs(30);

/// One extra tunnel of a client: `--tunnel NAME=HOST:PORT`, or a `[[tunnel]]` table, which may
/// list `[[tunnel.policy]]` tables for that tunnel alone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TunnelEntry {
    pub(crate) name: String,
    pub(crate) local: String,
    #[serde(default)]
    pub(crate) policy: Vec<PolicyArgs>,
}

impl FromStr for TunnelEntry {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once('=') {
            Some((name, local)) if !name.is_empty() && !local.is_empty() => Ok(Self {
                name: name.to_owned(),
                local: local.to_owned(),
                policy: Vec::new(),
            }),
            _ => Err(format!(
                "{text:?} is not NAME=HOST:PORT, like api=127.0.0.1:4000"
            )),
        }
    }
}

/// Settings of `ferrotunnel client`: each field is one flag and one config-file key, defined
/// here once for clap (the flag, its help) and serde (the key).
#[derive(Debug, Clone, Default, PartialEq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientConfig {
    /// The server to connect to: tcp://HOST:PORT, tls://HOST:PORT, ws://HOST[:PORT] or wss://….
    #[arg(long, value_name = "URL", value_hint = clap::ValueHint::Url)]
    pub(crate) server: Option<String>,

    /// The token the server expects.
    #[arg(
        long,
        value_name = "SECRET",
        env = "FERROTUNNEL_TOKEN",
        hide_env_values = true,
        value_parser = secret
    )]
    pub(crate) token: Option<Secret>,

    /// Verify a tls:// or wss:// server against the CA certificate(s) in this PEM file instead
    /// of the platform's trust store: for a private or self-signed server certificate.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub(crate) ca: Option<PathBuf>,

    /// The local service to expose, like 127.0.0.1:3000.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) local: Option<String>,

    /// The tunnel's name: `app` is served at app.<server domain>. Without it the server picks one.
    #[arg(long, value_name = "NAME")]
    pub(crate) subdomain: Option<String>,

    /// One more tunnel, NAME=HOST:PORT; repeat for several (file: [[tunnel]] tables). Replaces
    /// the file's list.
    #[arg(long = "tunnel", value_name = "NAME=HOST:PORT")]
    #[serde(default, rename = "tunnel")]
    pub(crate) tunnels: Vec<TunnelEntry>,

    /// How long connecting to the server may take.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub(crate) connect_timeout: Option<Duration>,

    /// How long the server may take to answer the hello.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub(crate) handshake_timeout: Option<Duration>,

    /// How long a local service may take to accept a connection before visitors get a 504.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub(crate) local_connect_timeout: Option<Duration>,

    /// The first wait before reconnecting after the session is lost; it doubles on each failure.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub(crate) reconnect_initial: Option<Duration>,

    /// The longest wait between reconnection attempts.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub(crate) reconnect_max: Option<Duration>,

    /// How long a shutdown waits for streams in flight.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub(crate) grace_period: Option<Duration>,

    /// How many streams the session may hold at once.
    #[arg(long, value_name = "N")]
    pub(crate) max_streams: Option<usize>,

    /// Serve this client's own traffic inspector here, e.g. 127.0.0.1:4040: every request to
    /// its tunnels, live, with replay to the local service. Without it the client forwards
    /// bytes without reading them. Anywhere but loopback needs --dashboard-auth.
    #[arg(long, value_name = "ADDR", help_heading = "Inspector")]
    pub(crate) inspect: Option<SocketAddr>,

    /// HTTP Basic credentials the inspector asks for.
    #[arg(long, value_name = "USER:PASS", help_heading = "Inspector")]
    pub(crate) dashboard_auth: Option<DashboardAuth>,

    /// How many requests the inspector keeps, the oldest forgotten first [default: 1000].
    #[arg(long, value_name = "N", help_heading = "Inspector")]
    pub(crate) capture_max_requests: Option<usize>,

    /// How many bytes of captured traffic the inspector keeps at most [default: 52428800, 50 MiB].
    #[arg(long, value_name = "BYTES", help_heading = "Inspector")]
    pub(crate) capture_max_bytes: Option<usize>,

    /// How many bytes of each request and response body the inspector keeps [default: 65536].
    #[arg(long, value_name = "BYTES", help_heading = "Inspector")]
    pub(crate) capture_body_bytes: Option<usize>,

    /// Serve this client's metrics here, at /metrics, in the Prometheus text format, e.g.
    /// 127.0.0.1:9100. With a --inspect inspector they are also at its /metrics.
    #[arg(long, value_name = "ADDR", help_heading = "Observability")]
    pub(crate) metrics: Option<SocketAddr>,

    /// Send OpenTelemetry traces of every request to this OTLP/HTTP collector, e.g.
    /// http://127.0.0.1:4318 (/v1/traces is added). Default: OTEL_EXPORTER_OTLP_ENDPOINT, else
    /// no traces.
    #[arg(long, value_name = "URL", help_heading = "Observability")]
    pub(crate) otlp_endpoint: Option<String>,

    /// The policy flags, which the server enforces on this client's tunnels (after its own).
    /// A config file lists `[[policy]]` tables instead.
    #[command(flatten)]
    #[serde(skip)]
    pub(crate) policy_flags: PolicyArgs,

    /// The policy of every tunnel of this client (file: `[[policy]]` tables, run in order;
    /// flags replace them). A `[[tunnel]]` may add `[[tunnel.policy]]` tables of its own.
    #[arg(skip)]
    #[serde(default)]
    pub(crate) policy: Vec<PolicyArgs>,
}

fn secret(value: &str) -> Result<Secret, Infallible> {
    Ok(Secret::new(value))
}

impl Settings for ClientConfig {
    fn policy_flags(&mut self) -> (&mut PolicyArgs, &mut Vec<PolicyArgs>) {
        (&mut self.policy_flags, &mut self.policy)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        ClientConfig::validate(self)
    }
}

impl ClientConfig {
    /// Reads `file` (if any), lays the flags the user gave (and `FERROTUNNEL_TOKEN`) over it,
    /// and checks the result.
    pub(crate) fn resolve(file: Option<&Path>, flags: &ArgMatches) -> Result<Self, ConfigError> {
        super::resolve(file, flags)
    }

    /// The policy of every tunnel of this client, in order.
    pub(crate) fn policies(&self) -> Vec<Policy> {
        super::policy::policies(&self.policy)
    }

    /// The local address of every tunnel, in the order the client registers them (the
    /// `--local` tunnel first), which is also the order of `ClientHandle::tunnels`.
    pub(crate) fn local_addresses(&self) -> Vec<String> {
        self.local
            .iter()
            .cloned()
            .chain(self.tunnels.iter().map(|t| t.local.clone()))
            .collect()
    }

    /// The reconnect backoff, if configured. When only one end is set, the other is the
    /// library's default, moved if needed so that the first wait never exceeds the longest.
    pub(crate) fn reconnect_backoff(&self) -> Option<(Duration, Duration)> {
        match (self.reconnect_initial, self.reconnect_max) {
            (None, None) => None,
            (Some(initial), Some(max)) => Some((initial, max)),
            (Some(initial), None) => Some((initial, DEFAULT_RECONNECT_MAX.max(initial))),
            (None, Some(max)) => Some((DEFAULT_RECONNECT_INITIAL.min(max), max)),
        }
    }

    /// Checks what the command line can name better than the library (which checks the rest).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.server.is_none() {
            return Err(ConfigError(
                "no server to connect to: pass --server tcp://HOST:PORT or set `server` in the config file".into(),
            ));
        }
        if self.local.is_none() && self.tunnels.is_empty() {
            return Err(ConfigError(
                "nothing to forward: pass --local HOST:PORT (and --subdomain NAME), or list [[tunnel]] tables in the config file".into(),
            ));
        }
        if let (Some(name), None) = (&self.subdomain, &self.local) {
            return Err(ConfigError(format!(
                "subdomain {name:?} has no local service: pass --local HOST:PORT or set `local` in the config file"
            )));
        }
        let mut seen = HashSet::new();
        let names = self
            .subdomain
            .iter()
            .chain(self.tunnels.iter().map(|t| &t.name));
        for name in names {
            validate_tunnel_name(name).map_err(ConfigError)?;
            if !seen.insert(name) {
                return Err(ConfigError(format!(
                    "tunnel {name:?} is configured twice; each tunnel needs its own name"
                )));
            }
        }
        require_nonzero_durations(&[
            ("connect_timeout", self.connect_timeout),
            ("handshake_timeout", self.handshake_timeout),
            ("local_connect_timeout", self.local_connect_timeout),
            ("reconnect_initial", self.reconnect_initial),
            ("reconnect_max", self.reconnect_max),
        ])?;
        if let Some((initial, max)) = self.reconnect_backoff() {
            if initial > max {
                return Err(ConfigError(format!(
                    "{} ({initial:?}) must not be longer than {} ({max:?})",
                    setting("reconnect_initial"),
                    setting("reconnect_max")
                )));
            }
        }
        require_positive_limits(&[("max_streams", self.max_streams)])?;
        check_dashboard(
            "inspect",
            self.inspect,
            self.dashboard_auth.as_ref(),
            &[],
            &[
                ("capture_max_requests", self.capture_max_requests),
                ("capture_max_bytes", self.capture_max_bytes),
            ],
        )?;
        check_own_port("metrics", self.metrics, &[("inspect", self.inspect)])
    }

    /// How much the inspector's capture layer keeps.
    pub(crate) fn capture(&self) -> ferrotunnel_tower::capture::CaptureConfig {
        super::capture_config(
            self.capture_max_requests,
            self.capture_max_bytes,
            self.capture_body_bytes,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches;

    use crate::config::{load, tests::config_dir};

    fn parse(toml: &str) -> Result<ClientConfig, String> {
        toml::from_str(toml).map_err(|e| e.to_string())
    }

    fn minimal_client() -> ClientConfig {
        ClientConfig {
            server: Some("tcp://127.0.0.1:7835".into()),
            local: Some("127.0.0.1:3000".into()),
            ..ClientConfig::default()
        }
    }

    #[test]
    fn the_client_example_sets_every_key() {
        let config: ClientConfig = load(&config_dir().join("client.toml")).expect("parses");
        // Policies are `[[policy]]` tables (see `every_policy_is_shown_in_an_example_config`),
        // never flags, in a file.
        assert!(config.policy_flags.is_empty());
        assert!(!config.policy.is_empty());
        let settings = ClientConfig {
            policy: Vec::new(),
            tunnels: Vec::new(),
            ..config.clone()
        };
        let debug = format!("{settings:?}").replace(&format!("{:?}", config.policy_flags), "");
        assert!(!debug.contains("None"), "unset in client.toml: {debug}");
        assert!(!config.tunnels.is_empty());
    }

    /// `args` as clap parses them for `ferrotunnel client`.
    fn flags(args: &[&str]) -> ArgMatches {
        ClientConfig::augment_args(clap::Command::new("client"))
            .try_get_matches_from(std::iter::once("client").chain(args.iter().copied()))
            .expect("the flags parse")
    }

    #[test]
    fn flags_override_the_file_and_replace_its_tunnel_list() {
        let mut config = ClientConfig {
            tunnels: vec!["a=127.0.0.1:1".parse().expect("entry")],
            token: Some(Secret::new("file")),
            ..minimal_client()
        };
        config
            .update_from_arg_matches(&flags(&["--subdomain", "app"]))
            .expect("updates");
        assert_eq!(config.subdomain.as_deref(), Some("app"));
        assert_eq!(config.token, Some(Secret::new("file")));
        assert_eq!(config.local_addresses(), ["127.0.0.1:3000", "127.0.0.1:1"]);

        config
            .update_from_arg_matches(&flags(&["--tunnel", "b=127.0.0.1:2"]))
            .expect("updates");
        assert_eq!(config.local_addresses(), ["127.0.0.1:3000", "127.0.0.1:2"]);
    }

    #[test]
    fn client_validation_names_the_setting() {
        let check = |config: ClientConfig| config.validate().expect_err("invalid").to_string();
        assert!(minimal_client().validate().is_ok());
        assert!(check(ClientConfig::default()).contains("--server"));
        assert!(
            check(ClientConfig {
                local: None,
                ..minimal_client()
            })
            .starts_with("nothing to forward")
        );
        assert!(
            check(ClientConfig {
                local: None,
                subdomain: Some("app".into()),
                tunnels: vec!["b=127.0.0.1:2".parse().expect("entry")],
                ..minimal_client()
            })
            .contains("subdomain \"app\" has no local service")
        );
        assert!(
            check(ClientConfig {
                subdomain: Some("App_1".into()),
                ..minimal_client()
            })
            .contains("\"App_1\"")
        );
        assert!(
            check(ClientConfig {
                subdomain: Some("app".into()),
                tunnels: vec!["app=127.0.0.1:2".parse().expect("entry")],
                ..minimal_client()
            })
            .contains("tunnel \"app\" is configured twice")
        );
        assert!(
            check(ClientConfig {
                connect_timeout: Some(Duration::ZERO),
                ..minimal_client()
            })
            .contains("--connect-timeout")
        );
        assert!(
            check(ClientConfig {
                max_streams: Some(0),
                ..minimal_client()
            })
            .contains("--max-streams")
        );
        assert_eq!(
            check(ClientConfig {
                reconnect_initial: Some(Duration::from_secs(5)),
                reconnect_max: Some(Duration::from_secs(1)),
                ..minimal_client()
            }),
            "`reconnect_initial` (--reconnect-initial) (5s) must not be longer than `reconnect_max` (--reconnect-max) (1s)"
        );
    }

    #[test]
    fn one_sided_backoff_keeps_the_other_default_in_order() {
        let with = |initial: Option<u64>, max: Option<u64>| ClientConfig {
            reconnect_initial: initial.map(Duration::from_millis),
            reconnect_max: max.map(Duration::from_millis),
            ..minimal_client()
        };
        let ms = |a, b| Some((Duration::from_millis(a), Duration::from_millis(b)));
        assert_eq!(with(None, None).reconnect_backoff(), None);
        assert_eq!(with(Some(20), None).reconnect_backoff(), ms(20, 30_000));
        assert_eq!(
            with(Some(60_000), None).reconnect_backoff(),
            ms(60_000, 60_000)
        );
        assert_eq!(with(None, Some(100)).reconnect_backoff(), ms(100, 100));
        assert_eq!(with(None, Some(5_000)).reconnect_backoff(), ms(250, 5_000));
        assert!(with(None, Some(100)).validate().is_ok());
    }

    #[test]
    fn unknown_keys_in_tunnel_tables_are_errors() {
        let err = parse("[[tunnel]]\nname = \"a\"\nlocal = \"x:1\"\nport = 3").expect_err("port");
        assert!(err.contains("unknown field `port`"), "{err}");
    }

    #[test]
    fn tunnel_entries_parse_from_flags() {
        assert_eq!(
            "api=127.0.0.1:4000".parse::<TunnelEntry>(),
            Ok(TunnelEntry {
                name: "api".into(),
                local: "127.0.0.1:4000".into(),
                policy: Vec::new(),
            })
        );
        for bad in ["api", "=127.0.0.1:1", "api="] {
            let err = bad.parse::<TunnelEntry>().expect_err(bad);
            assert!(err.contains("NAME=HOST:PORT"), "{err}");
        }
    }
}

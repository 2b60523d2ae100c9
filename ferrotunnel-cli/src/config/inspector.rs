//! The settings shared by the server's dashboard (`--dashboard`) and the client's inspector
//! (`--inspect`): who may look, and how much traffic is kept.

use std::{fmt, net::SocketAddr, str::FromStr};

use ferrotunnel::protocol::Secret;
use ferrotunnel_tower::capture::CaptureConfig;
use serde::{Deserialize, Deserializer};

use super::{ConfigError, require_positive_limits, setting};

/// `--dashboard-auth USER:PASS`: HTTP Basic credentials the dashboard asks for. `Debug` never
/// shows the password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct DashboardAuth {
    pub(crate) user: String,
    pub(crate) password: Secret,
}

impl FromStr for DashboardAuth {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => Ok(Self {
                user: user.to_owned(),
                password: Secret::new(password),
            }),
            _ => Err(
                "the dashboard's credentials are not USER:PASS, like admin:s3cret (both non-empty)"
                    .to_owned(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for DashboardAuth {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for DashboardAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:***", self.user)
    }
}

/// How much the capture layer keeps, from the `capture_*` settings.
pub(crate) fn capture_config(
    max_requests: Option<usize>,
    max_bytes: Option<usize>,
    body_bytes: Option<usize>,
) -> CaptureConfig {
    let mut config = CaptureConfig::default();
    if let Some(max) = max_requests {
        config = config.max_exchanges(max);
    }
    if let Some(max) = max_bytes {
        config = config.max_bytes(max);
    }
    if let Some(prefix) = body_bytes {
        config = config.body_prefix(prefix);
    }
    config
}

/// A dashboard anywhere but loopback shows other people's traffic to whoever finds it: it must
/// ask for credentials. It never shares a port with visitors or clients.
pub(crate) fn check_dashboard(
    key: &str,
    addr: Option<SocketAddr>,
    auth: Option<&DashboardAuth>,
    taken: &[(&str, Option<SocketAddr>)],
    limits: &[(&str, Option<usize>)],
) -> Result<(), ConfigError> {
    require_positive_limits(limits)?;
    let Some(addr) = addr else {
        return Ok(());
    };
    if !addr.ip().is_loopback() && auth.is_none() {
        return Err(ConfigError::new(format!(
            "{} {addr} can be reached from other machines, and the dashboard shows every request \
             in full: give {} USER:PASS too, or bind it to 127.0.0.1",
            setting(key),
            setting("dashboard_auth"),
        )));
    }
    check_own_port(key, Some(addr), taken)
}

/// A listener of the command's own (dashboard, metrics) never shares a port with another one.
pub(crate) fn check_own_port(
    key: &str,
    addr: Option<SocketAddr>,
    taken: &[(&str, Option<SocketAddr>)],
) -> Result<(), ConfigError> {
    let Some(addr) = addr.filter(|addr| addr.port() != 0) else {
        return Ok(());
    };
    match taken.iter().find(|(_, other)| *other == Some(addr)) {
        Some((other, _)) => Err(ConfigError::new(format!(
            "{} {addr} is also {}: it needs a port of its own",
            setting(key),
            setting(other),
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_parse_and_never_show_the_password() {
        let auth: DashboardAuth = "admin:pa:ss".parse().expect("parses");
        assert_eq!(auth.user, "admin");
        assert_eq!(auth.password.expose(), "pa:ss");
        assert_eq!(format!("{auth:?}"), "admin:***");
        for bad in ["admin", ":pass", "admin:", ""] {
            let err = bad.parse::<DashboardAuth>().expect_err(bad);
            assert!(err.contains("USER:PASS"), "{err}");
            assert!(!err.contains("pass") || !bad.contains("pass"), "{err}");
        }
    }

    #[test]
    fn a_listener_of_its_own_never_shares_a_port() {
        let addr = |s: &str| Some(s.parse::<SocketAddr>().expect("addr"));
        let taken = [("listen", addr("127.0.0.1:7835")), ("dashboard", None)];
        check_own_port("metrics", addr("127.0.0.1:9100"), &taken).expect("a port of its own");
        check_own_port(
            "metrics",
            addr("127.0.0.1:0"),
            &[("listen", addr("127.0.0.1:0"))],
        )
        .expect("port 0 is a fresh port each time");
        check_own_port("metrics", None, &taken).expect("not asked for");
        let err = check_own_port("metrics", addr("127.0.0.1:7835"), &taken)
            .expect_err("shared")
            .to_string();
        assert_eq!(
            err,
            "`metrics` (--metrics) 127.0.0.1:7835 is also `listen` (--listen): it needs a port of its own"
        );
    }

    #[test]
    fn a_public_dashboard_needs_credentials_and_its_own_port() {
        let addr = |s: &str| Some(s.parse::<SocketAddr>().expect("addr"));
        let auth: DashboardAuth = "a:b".parse().expect("parses");
        check_dashboard("dashboard", addr("127.0.0.1:9090"), None, &[], &[]).expect("loopback");
        let err = check_dashboard("dashboard", addr("0.0.0.0:9090"), None, &[], &[])
            .expect_err("public without auth")
            .to_string();
        assert!(err.contains("--dashboard-auth"), "{err}");
        check_dashboard("dashboard", addr("0.0.0.0:9090"), Some(&auth), &[], &[])
            .expect("public with auth");
        let err = check_dashboard(
            "dashboard",
            addr("127.0.0.1:8080"),
            None,
            &[("http", addr("127.0.0.1:8080"))],
            &[],
        )
        .expect_err("shared port")
        .to_string();
        assert!(err.contains("--http"), "{err}");
        check_dashboard(
            "dashboard",
            addr("127.0.0.1:0"),
            None,
            &[("http", addr("127.0.0.1:0"))],
            &[],
        )
        .expect("port 0 picks a free port");
    }
}

//! Config files, and how they combine with flags.
//!
//! Each command reads at most one TOML file (`--config FILE`). Its keys are the flag names in
//! snake_case (`--max-clients` is `max_clients`), with two list exceptions: the repeatable
//! `--token` of the server is `tokens = [...]`, and the client's `--tunnel NAME=ADDR` is a
//! `[[tunnel]]` table with `name` and `local`. Durations are strings (`"30s"`).
//!
//! The same struct holds the file and the flags, so merging is one rule: a setting given on the
//! command line (or through `FERROTUNNEL_TOKEN`) wins over the file. A setting given nowhere is
//! left unset, so the library's own default applies and is never copied here to drift.
//!
//! Unknown keys are errors (`deny_unknown_fields`): a typo such as `heartbeat_intervall` must
//! not silently leave the default in place. [`ServerConfig::validate`] and
//! [`ClientConfig::validate`] name the wrong setting both ways (key and flag); the library's
//! builders check the rest when the settings reach them.

use std::{fmt, path::Path, time::Duration};

use clap::{ArgMatches, FromArgMatches};
use serde::de::DeserializeOwned;

mod client;
mod inspector;
mod policy;
mod server;

pub(crate) use client::ClientConfig;
pub(crate) use inspector::{DashboardAuth, capture_config};
pub(crate) use policy::PolicyArgs;
pub(crate) use server::ServerConfig;

/// A settings problem: the message says which setting and what to write instead. Retrying can
/// never fix it, which is why it gets its own exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError(String);

impl ConfigError {
    /// A settings problem found outside this module, such as a certificate that will not load.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// What `server` and `client` settings have in common, for [`resolve`].
pub(crate) trait Settings: DeserializeOwned + Default + FromArgMatches {
    /// The policy flags, and the policy the file lists as `[[policy]]` tables.
    fn policy_flags(&mut self) -> (&mut PolicyArgs, &mut Vec<PolicyArgs>);

    /// Checks what the command line can name better than the library.
    fn validate(&self) -> Result<(), ConfigError>;
}

/// Reads `file` (if any), lays the flags the user gave (and `FERROTUNNEL_TOKEN`) over it, and
/// checks the result. A flag replaces the file's value, a repeated flag its whole list, and the
/// policy flags, if any, the file's `[[policy]]` tables.
pub(crate) fn resolve<T: Settings>(
    file: Option<&Path>,
    flags: &ArgMatches,
) -> Result<T, ConfigError> {
    let mut settings = match file {
        Some(path) => load::<T>(path)?,
        None => T::default(),
    };
    settings
        .update_from_arg_matches(flags)
        .map_err(|err| ConfigError::new(err.to_string()))?;
    let (policy_flags, policy) = settings.policy_flags();
    if !policy_flags.is_empty() {
        *policy = vec![std::mem::take(policy_flags)];
    }
    settings.validate()?;
    Ok(settings)
}

/// Reads and parses a config file; the error names the file and, for syntax or unknown keys,
/// the line.
pub(crate) fn load<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| ConfigError(format!("cannot read config file {}: {err}", path.display())))?;
    toml::from_str(&text).map_err(|err| {
        ConfigError(format!(
            "config file {} is not valid: {err}",
            path.display()
        ))
    })
}

/// How a setting is called in both places, for error messages: `` `max_clients` (--max-clients) ``.
pub(crate) fn setting(key: &str) -> String {
    format!("`{key}` (--{})", key.replace('_', "-"))
}

pub(crate) fn require_nonzero_durations(
    settings: &[(&str, Option<Duration>)],
) -> Result<(), ConfigError> {
    match settings
        .iter()
        .find(|(_, v)| v.is_some_and(|d| d.is_zero()))
    {
        Some((key, _)) => Err(ConfigError(format!(
            "{} must be longer than zero",
            setting(key)
        ))),
        None => Ok(()),
    }
}

pub(crate) fn require_positive_limits(
    settings: &[(&str, Option<usize>)],
) -> Result<(), ConfigError> {
    match settings.iter().find(|(_, v)| *v == Some(0)) {
        Some((key, _)) => Err(ConfigError(format!("{} must be at least 1", setting(key)))),
        None => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use super::*;

    /// The example configs in `docs/config/`.
    pub(crate) fn config_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config")
    }

    #[test]
    fn every_example_config_parses_and_validates() {
        let mut checked = 0;
        for entry in std::fs::read_dir(config_dir()).expect("docs/config exists") {
            let path = entry.expect("dir entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("server") && name.ends_with(".toml") {
                let config: ServerConfig = load(&path).expect("example server config parses");
                config.validate().expect("example server config is valid");
            } else if name.starts_with("client") && name.ends_with(".toml") {
                let config: ClientConfig = load(&path).expect("example client config parses");
                config.validate().expect("example client config is valid");
            } else {
                continue;
            }
            checked += 1;
        }
        assert!(checked >= 2, "expected server and client examples");
    }

    #[test]
    fn every_policy_is_shown_in_an_example_config() {
        let server: ServerConfig =
            load(&config_dir().join("server-policies.toml")).expect("parses");
        let mut shown: Vec<&str> = server.policies().iter().map(|p| p.name()).collect();
        shown.dedup();
        assert_eq!(shown, ferrotunnel_tower::policy::POLICY_NAMES);

        let client: ClientConfig = load(&config_dir().join("client.toml")).expect("parses");
        assert!(!client.policies().is_empty());
        assert!(
            client.tunnels.iter().any(|t| !t.policy.is_empty()),
            "a tunnel of its own policy"
        );
    }

    #[test]
    fn load_names_the_file() {
        let err = load::<ServerConfig>(Path::new("/nonexistent/ferrotunnel.toml"))
            .expect_err("missing file");
        assert!(
            err.to_string()
                .contains("cannot read config file /nonexistent/ferrotunnel.toml"),
            "{err}"
        );
    }
}

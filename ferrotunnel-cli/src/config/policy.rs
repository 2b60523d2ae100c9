//! The policy settings, shared by `ferrotunnel server` (for every tunnel) and `ferrotunnel
//! client` (for its own tunnels): one field per policy, for clap (the flag) and serde (the key
//! of a `[[policy]]` table) alike.
//!
//! Flags run in the order of the fields below, which is the order of
//! [`POLICY_NAMES`](ferrotunnel_tower::policy::POLICY_NAMES): CORS first (so that refusals
//! carry CORS headers too) and the concurrency limit, then who may come in (IP, rate,
//! credentials), then the circuit breaker (after every refusal, so that none counts as the
//! tunnel failing), then what is changed on the way. A config file lists `[[policy]]` tables
//! instead, which run in the file's order (within one table, in the order below).

use std::{fmt, marker::PhantomData, num::NonZeroUsize, str::FromStr, time::Duration};

use clap::Args;
use ferrotunnel_tower::{
    auth::{ApiKey, BasicCredential, BearerToken},
    circuit_breaker::CircuitBreakerSpec,
    headers::{EditableHeader, HeaderRule},
    ip_filter::Cidr,
    policy::{CorsSpec, Policy, parse_concurrency_limit},
    rate_limit::RateLimitSpec,
};
use serde::{
    Deserialize, Deserializer,
    de::{self, SeqAccess, Visitor},
};

use crate::duration;

/// What to enforce on each request to a tunnel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyArgs {
    /// Answer browsers' CORS requests for these origins (comma-separated), or `*` for any
    /// [flag alone: *].
    #[arg(long, value_name = "ORIGINS", num_args = 0..=1, default_missing_value = "*", help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "switch_or_text")]
    pub(crate) cors: Option<CorsSpec>,

    /// At most N requests in flight at once per tunnel; 503 beyond it (refused requests hold
    /// their place only for the moment it takes to refuse them).
    #[arg(long, value_name = "N", value_parser = parse_concurrency_limit, help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "concurrency_limit")]
    pub(crate) concurrency_limit: Option<NonZeroUsize>,

    /// Let in only visitors from this address or CIDR block (repeatable); others get a 403.
    #[arg(long, value_name = "CIDR", help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) allow_ip: Vec<Cidr>,

    /// Refuse visitors from this address or CIDR block with a 403 (repeatable).
    #[arg(long, value_name = "CIDR", help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) deny_ip: Vec<Cidr>,

    /// At most N requests per second, minute or hour from each visitor address (429 with
    /// Retry-After beyond it); options: ,burst=M ,by=ip|tunnel|global|header:NAME.
    #[arg(long, value_name = "N/UNIT", help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "text")]
    pub(crate) rate_limit: Option<RateLimitSpec>,

    /// Require HTTP Basic credentials, one of these USER:PASS (repeatable); 401 otherwise.
    #[arg(long, value_name = "USER:PASS", help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) basic_auth: Vec<BasicCredential>,

    /// Require `Authorization: Bearer TOKEN`, one of these tokens (repeatable).
    #[arg(long, value_name = "TOKEN", help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) bearer_token: Vec<BearerToken>,

    /// Require an API key in a header, HEADER=KEY like x-api-key=3f9c2d7e (repeatable).
    #[arg(long, value_name = "HEADER=KEY", help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) api_key: Vec<ApiKey>,

    /// After FAILURES failed requests in a row (5xx, timeouts, a dead local service), answer
    /// 503 at once for COOLDOWN, then try one request [flag alone: 5,30s].
    #[arg(long, value_name = "FAILURES[,COOLDOWN]", num_args = 0..=1, default_missing_value = "5,30s", help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "switch_or_text")]
    pub(crate) circuit_breaker: Option<CircuitBreakerSpec>,

    /// Add a request header, 'Name: value'; the value may use ${visitor_ip}, ${visitor_addr},
    /// ${tunnel}, ${request_id} and ${host} (repeatable).
    #[arg(long, value_name = "NAME: VALUE", help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) add_header: Vec<HeaderRule>,

    /// Set a request header, replacing what the visitor sent (repeatable).
    #[arg(long, value_name = "NAME: VALUE", help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) set_header: Vec<HeaderRule>,

    /// Remove a request header before it reaches the local service (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) remove_header: Vec<EditableHeader>,

    /// Add a response header, 'Name: value' (repeatable).
    #[arg(long, value_name = "NAME: VALUE", help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) add_response_header: Vec<HeaderRule>,

    /// Set a response header, replacing the local service's (repeatable).
    #[arg(long, value_name = "NAME: VALUE", help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) set_response_header: Vec<HeaderRule>,

    /// Remove a response header before it reaches the visitor (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub(crate) remove_response_header: Vec<EditableHeader>,

    /// Compress responses (gzip, brotli or deflate, as the visitor accepts).
    #[arg(long, help_heading = "Tunnel policy")]
    #[serde(default)]
    pub(crate) compress: bool,

    /// 504 when the local service takes longer than this to answer (never longer than the
    /// server's response timeout).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, help_heading = "Tunnel policy")]
    #[serde(default, deserialize_with = "duration::deserialize")]
    pub(crate) timeout: Option<Duration>,
}

impl PolicyArgs {
    /// The policies, in the order they run.
    pub(crate) fn policies(&self) -> Vec<Policy> {
        let mut policies = Vec::new();
        policies.extend(self.cors.clone().map(Policy::Cors));
        policies.extend(self.concurrency_limit.map(Policy::ConcurrencyLimit));
        policies.extend(self.allow_ip.iter().copied().map(Policy::AllowIp));
        policies.extend(self.deny_ip.iter().copied().map(Policy::DenyIp));
        policies.extend(self.rate_limit.clone().map(Policy::RateLimit));
        policies.extend(self.basic_auth.iter().cloned().map(Policy::BasicAuth));
        policies.extend(self.bearer_token.iter().cloned().map(Policy::BearerToken));
        policies.extend(self.api_key.iter().cloned().map(Policy::ApiKey));
        policies.extend(self.circuit_breaker.map(Policy::CircuitBreaker));
        policies.extend(self.add_header.iter().cloned().map(Policy::AddHeader));
        policies.extend(self.set_header.iter().cloned().map(Policy::SetHeader));
        policies.extend(self.remove_header.iter().cloned().map(Policy::RemoveHeader));
        policies.extend(
            self.add_response_header
                .iter()
                .cloned()
                .map(Policy::AddResponseHeader),
        );
        policies.extend(
            self.set_response_header
                .iter()
                .cloned()
                .map(Policy::SetResponseHeader),
        );
        policies.extend(
            self.remove_response_header
                .iter()
                .cloned()
                .map(Policy::RemoveResponseHeader),
        );
        if self.compress {
            policies.push(Policy::Compress);
        }
        policies.extend(self.timeout.map(Policy::Timeout));
        policies
    }

    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The policies of a list of `[[policy]]` tables, in order.
pub(crate) fn policies(tables: &[PolicyArgs]) -> Vec<Policy> {
    tables.iter().flat_map(PolicyArgs::policies).collect()
}

/// A value written as text, parsed like the flag's value.
fn text<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    let text = String::deserialize(deserializer)?;
    text.parse().map(Some).map_err(de::Error::custom)
}

/// A concurrency limit, as a TOML integer or as text, read like the flag's value.
fn concurrency_limit<'de, D>(deserializer: D) -> Result<Option<NonZeroUsize>, D::Error>
where
    D: Deserializer<'de>,
{
    struct Limit;

    impl Visitor<'_> for Limit {
        type Value = NonZeroUsize;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number of 1 or more")
        }

        fn visit_i64<E: de::Error>(self, n: i64) -> Result<NonZeroUsize, E> {
            self.visit_str(&n.to_string())
        }

        fn visit_u64<E: de::Error>(self, n: u64) -> Result<NonZeroUsize, E> {
            self.visit_str(&n.to_string())
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<NonZeroUsize, E> {
            parse_concurrency_limit(text).map_err(E::custom)
        }
    }

    deserializer.deserialize_any(Limit).map(Some)
}

/// A switch that takes an optional value, like its flag: `true` (the flag alone), `false`
/// (off), or the value as text.
fn switch_or_text<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String> + SwitchDefault,
{
    struct Switch<T>(PhantomData<T>);

    impl<T: FromStr<Err = String> + SwitchDefault> Visitor<'_> for Switch<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("true, false or a value as text")
        }

        fn visit_bool<E: de::Error>(self, on: bool) -> Result<Option<T>, E> {
            Ok(on.then(T::switched_on))
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Option<T>, E> {
            text.parse().map(Some).map_err(E::custom)
        }
    }

    deserializer.deserialize_any(Switch(PhantomData))
}

/// What a switch-like policy is when turned on without a value.
trait SwitchDefault {
    fn switched_on() -> Self;
}

impl SwitchDefault for CorsSpec {
    fn switched_on() -> Self {
        CorsSpec::Any
    }
}

impl SwitchDefault for CircuitBreakerSpec {
    fn switched_on() -> Self {
        CircuitBreakerSpec::default()
    }
}

/// One value or a list of them, each written as text: `basic_auth = "a:b"` or
/// `basic_auth = ["a:b", "c:d"]`.
fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    struct OneOrMany<T>(PhantomData<T>);

    impl<'de, T: FromStr<Err = String>> Visitor<'de> for OneOrMany<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<T>, E> {
            text.parse().map(|value| vec![value]).map_err(E::custom)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut values = Vec::new();
            while let Some(text) = seq.next_element::<String>()? {
                values.push(text.parse().map_err(de::Error::custom)?);
            }
            Ok(values)
        }
    }

    deserializer.deserialize_any(OneOrMany(PhantomData))
}

#[cfg(test)]
mod tests {
    use clap::{ArgMatches, FromArgMatches};
    use ferrotunnel_tower::policy::POLICY_NAMES;

    use super::*;

    fn flags(args: &[&str]) -> Result<PolicyArgs, clap::Error> {
        let matches: ArgMatches = PolicyArgs::augment_args(clap::Command::new("policy"))
            .try_get_matches_from(std::iter::once("policy").chain(args.iter().copied()))?;
        PolicyArgs::from_arg_matches(&matches)
    }

    fn names(policies: &[Policy]) -> Vec<&'static str> {
        policies.iter().map(Policy::name).collect()
    }

    /// Every flag, each once, in reverse order on the command line.
    const EVERY_FLAG: [&str; 31] = [
        "--timeout",
        "30s",
        "--compress",
        "--remove-response-header",
        "server",
        "--set-response-header",
        "cache-control: no-store",
        "--add-response-header",
        "x-served-by: ferrotunnel",
        "--remove-header",
        "x-debug",
        "--set-header",
        "x-env: prod",
        "--add-header",
        "x-visitor: ${visitor_ip}",
        "--circuit-breaker",
        "--concurrency-limit",
        "64",
        "--api-key",
        "x-api-key=3f9c2d7e",
        "--bearer-token",
        "3f9c2d7e",
        "--basic-auth",
        "alice:pw",
        "--rate-limit",
        "10/s",
        "--deny-ip",
        "192.0.2.0/24",
        "--allow-ip",
        "10.0.0.0/8",
        "--cors",
    ];

    #[test]
    fn flags_run_in_the_documented_order_whatever_order_they_are_written_in() {
        let args = flags(&EVERY_FLAG).expect("parses");
        assert_eq!(names(&args.policies()), POLICY_NAMES);
        assert_eq!(args.cors, Some(CorsSpec::Any), "--cors alone is *");
        assert_eq!(args.circuit_breaker, Some(CircuitBreakerSpec::default()));
        assert!(flags(&[]).expect("parses").is_empty());
    }

    #[test]
    fn a_table_reads_like_the_flags() {
        let table: PolicyArgs = toml::from_str(
            r#"
            cors = true
            allow_ip = "10.0.0.0/8"
            deny_ip = ["192.0.2.0/24", "2001:db8::/32"]
            rate_limit = "10/s,burst=20"
            basic_auth = ["alice:pw", "bob:pw2"]
            concurrency_limit = 64
            circuit_breaker = "3,1m"
            add_header = "x-visitor: ${visitor_ip}"
            compress = true
            timeout = "30s"
            "#,
        )
        .expect("parses");
        assert_eq!(table.deny_ip.len(), 2);
        assert_eq!(table.basic_auth.len(), 2);
        assert_eq!(table.concurrency_limit, NonZeroUsize::new(64));
        assert_eq!(table.circuit_breaker.map(|b| b.failures()), Some(3));
        assert_eq!(
            names(&table.policies()),
            [
                "cors",
                "concurrency-limit",
                "allow-ip",
                "deny-ip",
                "deny-ip",
                "rate-limit",
                "basic-auth",
                "basic-auth",
                "circuit-breaker",
                "add-header",
                "compress",
                "timeout"
            ]
        );
        let off: PolicyArgs = toml::from_str("cors = false\ncircuit_breaker = false").expect("off");
        assert!(off.is_empty());
    }

    #[test]
    fn bad_values_name_the_flag_or_key_and_the_value() {
        for (flag, value, needle) in [
            ("--rate-limit", "10/day", "\"10/day\" is not a rate"),
            ("--allow-ip", "10.0.0.300/8", "10.0.0.300/8"),
            ("--add-header", "X-Env prod", "Name: value"),
            ("--basic-auth", "alice", "USER:PASS"),
            (
                "--concurrency-limit",
                "0",
                "\"0\" is not a number of requests",
            ),
            ("--concurrency-limit", "5000000", "more than 1000000"),
            ("--circuit-breaker", "0", "\"0\""),
            ("--timeout", "30", "30 has no unit"),
        ] {
            let err = flags(&[flag, value]).expect_err(flag).to_string();
            assert!(err.contains(flag), "{flag}: {err}");
            assert!(err.contains(needle), "{flag}: {err}");
        }
        for (toml, needle) in [
            ("rate_limit = \"10/day\"", "\"10/day\" is not a rate"),
            ("deny_ip = [\"nonsense\"]", "nonsense"),
            ("concurrency_limit = 0", "\"0\" is not a number of requests"),
            ("basic_auth = \"alice\"", "USER:PASS"),
            ("rate_limits = \"10/s\"", "unknown field `rate_limits`"),
        ] {
            let err = toml::from_str::<PolicyArgs>(toml)
                .expect_err(toml)
                .to_string();
            assert!(err.contains(needle), "{toml}: {err}");
            let key = toml.split_whitespace().next().unwrap_or_default();
            assert!(err.contains(key), "{toml} names its key: {err}");
        }
    }

    #[test]
    fn tables_run_in_the_files_order() {
        #[derive(Deserialize)]
        struct File {
            policy: Vec<PolicyArgs>,
        }
        let file: File = toml::from_str(
            r#"
            [[policy]]
            basic_auth = "alice:pw"
            [[policy]]
            deny_ip = "192.0.2.0/24"
            "#,
        )
        .expect("parses");
        assert_eq!(names(&policies(&file.policy)), ["basic-auth", "deny-ip"]);
    }
}

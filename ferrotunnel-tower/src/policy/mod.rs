//! Policies as data: the built-in layers as a user switches them on from the command line, a
//! config file, or a client's tunnel registration, and the server's [`TunnelPolicies`], which
//! turns them into each tunnel's own stack.
//!
//! A [`Policy`] is one rule, named like the flag that turns it on (`rate-limit` = `100/min`).
//! On the wire a client sends its rules as [`PolicyRule`]s (name and value text), which the
//! server parses with the same parsers as its own flags, so a value a client may send is
//! exactly one the server would accept on its command line.
//!
//! # How rules become layers
//!
//! [`layers`] builds a list of rules into layers that run in the list's order, the first
//! outermost (rules in the order of [`POLICY_NAMES`], as flags always are, are composed into
//! one service), with one exception: rules of one *family* make one layer, which stands where
//! the first of them does —
//!
//! - **auth** (`basic-auth`, `bearer-token`, `api-key`): one layer that lets a request through
//!   with *any* of the credentials;
//! - **IP** (`allow-ip`, `deny-ip`): one filter with both lists;
//! - **headers** (`add-`, `set-`, `remove-header` and their `-response-` forms): one layer that
//!   applies them in order.
//!
//! ```
//! use ferrotunnel::protocol::PolicyRule;
//! use ferrotunnel_tower::policy::{Policy, layers};
//!
//! let rules = [
//!     Policy::parse("deny-ip", "192.0.2.0/24")?,
//!     Policy::parse("rate-limit", "100/min")?,
//!     Policy::parse("basic-auth", "alice:correct-horse")?,
//! ];
//! // In the order of the flags, the rules make one layer.
//! assert_eq!(layers(&rules).len(), 1);
//!
//! // On the wire: the flag's name and its value, as the user wrote it.
//! let rule = PolicyRule::from(&rules[1]);
//! assert_eq!((rule.name.as_str(), rule.value.as_str()), ("rate-limit", "100/min"));
//! assert_eq!(Policy::try_from(&rule)?, rules[1]);
//! # Ok::<(), String>(())
//! ```

mod build;
mod cors;
mod server;
#[cfg(test)]
mod tests;

use std::{fmt, num::NonZeroUsize, time::Duration};

pub use build::layers;
pub use cors::CorsSpec;
pub use ferrotunnel::protocol::PolicyRule;
pub use server::{
    CLIENT_RATE_LIMIT_KEYS, ClientPolicies, DEFAULT_MAX_CLIENT_RULES, TunnelPolicies,
};

use crate::{
    auth::{ApiKey, BasicCredential, BearerToken},
    circuit_breaker::CircuitBreakerSpec,
    duration,
    headers::{EditableHeader, HeaderRule},
    ip_filter::Cidr,
    rate_limit::RateLimitSpec,
};

/// One built-in policy, with its settings. Its [`name`](Self::name) is the flag that turns
/// it on; its [`value`](Self::value) is that flag's value, as [`parse`](Self::parse) reads it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Policy {
    /// `basic-auth USER:PASS`: visitors log in with HTTP Basic as this user (401 otherwise).
    BasicAuth(BasicCredential),
    /// `bearer-token TOKEN`: visitors send `Authorization: Bearer TOKEN` (401 otherwise).
    BearerToken(BearerToken),
    /// `api-key HEADER=KEY`: visitors send the key in that header (401 otherwise).
    ApiKey(ApiKey),
    /// `allow-ip CIDR`: only visitors from these addresses (403 otherwise).
    AllowIp(Cidr),
    /// `deny-ip CIDR`: no visitors from these addresses (403).
    DenyIp(Cidr),
    /// `rate-limit N/UNIT[,burst=M][,by=…]`: requests per visitor address, or per tunnel,
    /// header or server (429 with `Retry-After` beyond it).
    RateLimit(RateLimitSpec),
    /// `concurrency-limit N`: requests in flight at once (503 beyond it).
    ConcurrencyLimit(NonZeroUsize),
    /// `circuit-breaker FAILURES[,COOLDOWN]`: after that many failures in a row, 503 at once
    /// for the cool-down, then one probe.
    CircuitBreaker(CircuitBreakerSpec),
    /// `add-header 'Name: value'`: adds a request header (`${visitor_ip}` and the like allowed).
    AddHeader(HeaderRule),
    /// `set-header 'Name: value'`: replaces a request header.
    SetHeader(HeaderRule),
    /// `remove-header NAME`: removes a request header.
    RemoveHeader(EditableHeader),
    /// `add-response-header 'Name: value'`: adds a response header.
    AddResponseHeader(HeaderRule),
    /// `set-response-header 'Name: value'`: replaces a response header.
    SetResponseHeader(HeaderRule),
    /// `remove-response-header NAME`: removes a response header.
    RemoveResponseHeader(EditableHeader),
    /// `cors * | ORIGIN,…`: lets web pages of these origins call the tunnel.
    Cors(CorsSpec),
    /// `compress`: compresses responses (gzip, brotli or deflate, as the visitor accepts).
    Compress,
    /// `timeout DURATION`: 504 when the local service takes longer to send its response head
    /// (the server's own response timeout applies as well).
    Timeout(Duration),
}

/// Every policy's name, in the order a command line's flags run (see `docs/plugin-guide.md`).
pub const POLICY_NAMES: [&str; 17] = [
    "cors",
    "concurrency-limit",
    "allow-ip",
    "deny-ip",
    "rate-limit",
    "basic-auth",
    "bearer-token",
    "api-key",
    "circuit-breaker",
    "add-header",
    "set-header",
    "remove-header",
    "add-response-header",
    "set-response-header",
    "remove-response-header",
    "compress",
    "timeout",
];

impl Policy {
    /// The policy named `name` (a flag's name without `--`) with the flag value `value`; the
    /// error says what is wrong with the value, or that there is no such policy.
    pub fn parse(name: &str, value: &str) -> Result<Self, String> {
        let policy = match name {
            "basic-auth" => Self::BasicAuth(value.parse()?),
            "bearer-token" => Self::BearerToken(value.parse()?),
            "api-key" => Self::ApiKey(value.parse()?),
            "allow-ip" => Self::AllowIp(value.parse()?),
            "deny-ip" => Self::DenyIp(value.parse()?),
            "rate-limit" => Self::RateLimit(value.parse()?),
            "concurrency-limit" => Self::ConcurrencyLimit(parse_concurrency_limit(value)?),
            "circuit-breaker" => Self::CircuitBreaker(value.parse()?),
            "add-header" => Self::AddHeader(value.parse()?),
            "set-header" => Self::SetHeader(value.parse()?),
            "remove-header" => Self::RemoveHeader(value.parse()?),
            "add-response-header" => Self::AddResponseHeader(value.parse()?),
            "set-response-header" => Self::SetResponseHeader(value.parse()?),
            "remove-response-header" => Self::RemoveResponseHeader(value.parse()?),
            "cors" => Self::Cors(value.parse()?),
            "compress" => match value {
                "" | "true" => Self::Compress,
                other => return Err(format!("`compress` takes no value, not {other:?}")),
            },
            "timeout" => Self::Timeout(timeout(value)?),
            other => {
                return Err(format!(
                    "there is no policy named {other:?}; the policies are {}",
                    POLICY_NAMES.join(", ")
                ));
            }
        };
        Ok(policy)
    }

    /// The policy's name: its flag, without `--`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::BasicAuth(_) => "basic-auth",
            Self::BearerToken(_) => "bearer-token",
            Self::ApiKey(_) => "api-key",
            Self::AllowIp(_) => "allow-ip",
            Self::DenyIp(_) => "deny-ip",
            Self::RateLimit(_) => "rate-limit",
            Self::ConcurrencyLimit(_) => "concurrency-limit",
            Self::CircuitBreaker(_) => "circuit-breaker",
            Self::AddHeader(_) => "add-header",
            Self::SetHeader(_) => "set-header",
            Self::RemoveHeader(_) => "remove-header",
            Self::AddResponseHeader(_) => "add-response-header",
            Self::SetResponseHeader(_) => "set-response-header",
            Self::RemoveResponseHeader(_) => "remove-response-header",
            Self::Cors(_) => "cors",
            Self::Compress => "compress",
            Self::Timeout(_) => "timeout",
        }
    }

    /// The flag's value, as [`parse`](Self::parse) reads it back: secrets included (this is
    /// what a client sends its server), so never log it; `Debug` masks them.
    pub fn value(&self) -> String {
        match self {
            Self::BasicAuth(credential) => credential.to_string(),
            Self::BearerToken(token) => token.to_string(),
            Self::ApiKey(key) => key.to_string(),
            Self::AllowIp(cidr) | Self::DenyIp(cidr) => cidr.to_string(),
            Self::RateLimit(spec) => spec.to_string(),
            Self::ConcurrencyLimit(n) => n.to_string(),
            Self::CircuitBreaker(spec) => spec.to_string(),
            Self::AddHeader(rule)
            | Self::SetHeader(rule)
            | Self::AddResponseHeader(rule)
            | Self::SetResponseHeader(rule) => rule.to_string(),
            Self::RemoveHeader(name) | Self::RemoveResponseHeader(name) => name.to_string(),
            Self::Cors(spec) => spec.to_string(),
            Self::Compress => String::new(),
            Self::Timeout(timeout) => duration::format(*timeout),
        }
    }
}

impl fmt::Display for Policy {
    /// The rule as a person reads it, secrets masked: `rate-limit 100/min`,
    /// `basic-auth alice:***`, `compress`. For logs and banners; [`value`](Self::value) is the
    /// text with the secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            Self::BasicAuth(credential) => write!(f, "{name} {}:***", credential.user()),
            Self::BearerToken(_) => write!(f, "{name} ***"),
            Self::ApiKey(key) => write!(f, "{name} {}=***", key.header()),
            Self::AddHeader(rule)
            | Self::SetHeader(rule)
            | Self::AddResponseHeader(rule)
            | Self::SetResponseHeader(rule) => write!(f, "{name} {}", rule.masked()),
            Self::Compress => f.write_str(name),
            _ => write!(f, "{name} {}", self.value()),
        }
    }
}

/// The largest concurrency limit: far beyond what a tunnel serves at once, and far below the
/// point where tokio's semaphore refuses the count (a panic).
pub const MAX_CONCURRENCY_LIMIT: usize = 1_000_000;

/// Reads a concurrency limit: a whole number from 1 to [`MAX_CONCURRENCY_LIMIT`].
pub fn parse_concurrency_limit(value: &str) -> Result<NonZeroUsize, String> {
    let limit: NonZeroUsize = value.trim().parse().map_err(|_| {
        format!("{value:?} is not a number of requests: write a whole number of 1 or more, like 64")
    })?;
    if limit.get() > MAX_CONCURRENCY_LIMIT {
        return Err(format!(
            "{value:?} requests at once is more than {MAX_CONCURRENCY_LIMIT}: write a smaller limit"
        ));
    }
    Ok(limit)
}

fn timeout(value: &str) -> Result<Duration, String> {
    match duration::parse(value)? {
        zero if zero.is_zero() => Err(format!("the timeout {value:?} must be longer than zero")),
        timeout => Ok(timeout),
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tuple = f.debug_tuple(self.name());
        match self {
            Self::BasicAuth(credential) => tuple.field(credential),
            Self::BearerToken(token) => tuple.field(token),
            Self::ApiKey(key) => tuple.field(key),
            Self::AddHeader(rule)
            | Self::SetHeader(rule)
            | Self::AddResponseHeader(rule)
            | Self::SetResponseHeader(rule) => tuple.field(rule),
            Self::Compress => &mut tuple,
            // The rest hold no secret: show the value as written.
            _ => tuple.field(&format_args!("{}", self.value())),
        };
        tuple.finish()
    }
}

impl From<&Policy> for PolicyRule {
    fn from(policy: &Policy) -> Self {
        PolicyRule::new(policy.name(), policy.value())
    }
}

impl From<Policy> for PolicyRule {
    fn from(policy: Policy) -> Self {
        PolicyRule::from(&policy)
    }
}

impl TryFrom<&PolicyRule> for Policy {
    type Error = String;

    /// The error names the rule; for a rule that can hold a secret it does not repeat the
    /// value (the parsers of those never quote it).
    fn try_from(rule: &PolicyRule) -> Result<Self, String> {
        Policy::parse(&rule.name, &rule.value)
            .map_err(|why| format!("policy `{}`: {why}", rule.name))
    }
}

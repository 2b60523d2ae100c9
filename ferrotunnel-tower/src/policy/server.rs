//! [`TunnelPolicies`]: a server's [`TunnelPolicy`]. Each tunnel's own stack is the server-wide
//! policy, then what the tunnel's client asked for.
//!
//! The server-wide rules are built once and shared by every tunnel, so that their state
//! outlives any one registration: a client that reconnects, or registers more tunnels, cannot
//! reset or multiply the server's limits. A rate limit counts per visitor address across the
//! server (`by=tunnel` per tunnel, `by=global` for all together); a circuit breaker keeps one
//! state per tunnel name; a concurrency limit is the one exception, a semaphore per tunnel
//! (tower's layer makes one per service it builds). A client's rules are built for its tunnel
//! when it registers, with a smaller bound on the visitors a rate limit tracks.

use ferrotunnel::{
    protocol::PolicyRule,
    server::{LayerStack, TunnelPolicy},
};

use super::{POLICY_NAMES, Policy, build::build};
use crate::rate_limit::DEFAULT_MAX_KEYS;

/// Which policies clients may ask for on their tunnels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientPolicies {
    /// Any policy (the default). A client can only add to the server-wide policy, which runs
    /// first, never lift it: a client's rate limit cannot raise the server's, its timeout
    /// cannot outlast the server's response timeout.
    #[default]
    Any,
    /// Only the policies with these names.
    Only(Vec<String>),
}

impl ClientPolicies {
    /// From a list of policy names: `all`, `none`, or names; the error names the unknown one.
    pub fn from_names<I, S>(names: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let (mut only, mut all) = (Vec::new(), false);
        for name in names {
            match name.as_ref() {
                "all" => all = true,
                "none" => {}
                name if POLICY_NAMES.contains(&name) => only.push(name.to_owned()),
                other => {
                    return Err(format!(
                        "there is no policy named {other:?}; write all, none, or some of {}",
                        POLICY_NAMES.join(", ")
                    ));
                }
            }
        }
        Ok(if all { Self::Any } else { Self::Only(only) })
    }

    fn allows(&self, name: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(names) => names.iter().any(|allowed| allowed == name),
        }
    }
}

/// The server's policy for every tunnel: its own rules, then the client's.
///
/// ```
/// use ferrotunnel_tower::policy::{Policy, TunnelPolicies};
///
/// let server = ferrotunnel::Server::builder().tunnel_policy(
///     TunnelPolicies::new().server_policy([Policy::parse("rate-limit", "600/min")?]),
/// );
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone)]
pub struct TunnelPolicies {
    server: Vec<Policy>,
    /// `server`, built once: every tunnel's stack starts with these very layers.
    server_layers: LayerStack,
    clients: ClientPolicies,
    max_client_rules: usize,
}

/// How many visitors a rate limit a client asked for tracks at most: a client's policy must
/// not grow the server's memory as much as the server's own.
pub const CLIENT_RATE_LIMIT_KEYS: usize = 10_000;

/// The most rules a client may ask for on one tunnel, unless the server says otherwise.
pub const DEFAULT_MAX_CLIENT_RULES: usize = 32;

impl Default for TunnelPolicies {
    fn default() -> Self {
        Self {
            server: Vec::new(),
            server_layers: LayerStack::new(),
            clients: ClientPolicies::Any,
            max_client_rules: DEFAULT_MAX_CLIENT_RULES,
        }
    }
}

impl TunnelPolicies {
    /// No server-wide policy; clients may ask for any, at most
    /// [`DEFAULT_MAX_CLIENT_RULES`] rules per tunnel.
    pub fn new() -> Self {
        Self::default()
    }

    /// The most rules a client may ask for on one tunnel (default 32). Each rule is work on
    /// every request of the tunnel, and some keep state (a rate limit's buckets): a bound keeps
    /// a client from spending the server's memory and CPU through its own tunnel's policy.
    pub fn max_client_rules(mut self, max: usize) -> Self {
        self.max_client_rules = max;
        self
    }

    /// Runs `policies` on every tunnel, before the tunnel's own; their state is shared by all
    /// tunnels (see the [module docs](self)).
    pub fn server_policy(mut self, policies: impl IntoIterator<Item = Policy>) -> Self {
        self.server.extend(policies);
        self.server_layers = build(&self.server, DEFAULT_MAX_KEYS);
        self
    }

    /// Which policies clients may ask for (default: any).
    pub fn client_policies(mut self, clients: ClientPolicies) -> Self {
        self.clients = clients;
        self
    }

    /// The server-wide policy.
    pub fn server_rules(&self) -> &[Policy] {
        &self.server
    }
}

impl TunnelPolicy for TunnelPolicies {
    fn layers(&self, _tunnel: &str, rules: &[PolicyRule]) -> Result<LayerStack, String> {
        if rules.len() > self.max_client_rules {
            return Err(format!(
                "{} policy rules asked for; this server takes at most {} per tunnel",
                rules.len(),
                self.max_client_rules
            ));
        }
        if rules
            .iter()
            .filter(|rule| rule.name == "rate-limit")
            .count()
            > 1
        {
            return Err(
                "more than one rate-limit asked for: a tunnel takes one from its client".into(),
            );
        }
        let mut asked = Vec::with_capacity(rules.len());
        for rule in rules {
            if !self.clients.allows(&rule.name) {
                return Err(match &self.clients {
                    ClientPolicies::Only(names) if names.is_empty() => format!(
                        "this server does not let clients set policies, so it refuses `{}`",
                        rule.name
                    ),
                    _ => format!(
                        "this server does not let clients set `{}`; they may set {}",
                        rule.name,
                        allowed_list(&self.clients)
                    ),
                });
            }
            asked.push(Policy::try_from(rule)?);
        }
        let mut stack = self.server_layers.clone();
        stack.extend(build(&asked, CLIENT_RATE_LIMIT_KEYS));
        Ok(stack)
    }
}

fn allowed_list(clients: &ClientPolicies) -> String {
    match clients {
        ClientPolicies::Any => "any policy".into(),
        ClientPolicies::Only(names) => names.join(", "),
    }
}

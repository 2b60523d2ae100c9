//! [`TunnelPolicies`]: a server's [`TunnelPolicy`]. Each tunnel's own stack is the server-wide
//! policy, then what the tunnel's client asked for, built fresh for every tunnel (so each has
//! its own rate-limit buckets, breaker and concurrency limit).

use ferrotunnel::{
    protocol::PolicyRule,
    server::{LayerStack, TunnelPolicy},
};

use super::{POLICY_NAMES, Policy, layers};

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
        let mut only = Vec::new();
        for name in names {
            match name.as_ref() {
                "all" => return Ok(Self::Any),
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
        Ok(Self::Only(only))
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
    clients: ClientPolicies,
    max_client_rules: usize,
}

/// The most rules a client may ask for on one tunnel, unless the server says otherwise.
pub const DEFAULT_MAX_CLIENT_RULES: usize = 32;

impl Default for TunnelPolicies {
    fn default() -> Self {
        Self {
            server: Vec::new(),
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

    /// Runs `policies` on every tunnel, before the tunnel's own.
    pub fn server_policy(mut self, policies: impl IntoIterator<Item = Policy>) -> Self {
        self.server.extend(policies);
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
        let mut stack = layers(&self.server);
        stack.extend(layers(&asked));
        Ok(stack)
    }
}

fn allowed_list(clients: &ClientPolicies) -> String {
    match clients {
        ClientPolicies::Any => "any policy".into(),
        ClientPolicies::Only(names) => names.join(", "),
    }
}

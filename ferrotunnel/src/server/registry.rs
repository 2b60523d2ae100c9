//! Live tunnels by name.
//!
//! A name held by a live session cannot be taken by another client. The same client (same
//! [`ClientId`](crate::protocol::ClientId)) reconnecting takes its names back at once, even before its old session has
//! timed out; the old session is then closed. A tunnel whose session died without saying
//! goodbye is remembered as *offline* (a 503 rather than a 404) until its name is claimed again.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use tokio::sync::watch;

use super::{
    HttpService, TunnelPolicy,
    routing::Routing,
    tunnel::{SessionLink, TunnelContext, TunnelStatus},
};
use crate::protocol::{Refusal, RefusalCode, TunnelInfo, TunnelRequest, validate_tunnel_name};

/// How many offline names are remembered; the oldest is forgotten first.
const MAX_OFFLINE: usize = 4096;

/// What a name resolves to.
#[derive(Debug)]
pub(crate) enum Lookup {
    Live(TunnelContext),
    Offline,
    Unknown,
}

pub(crate) struct Registry {
    routing: Routing,
    /// Builds each tunnel's own stack from its policy when it registers.
    tunnel_policy: Arc<dyn TunnelPolicy>,
    /// The forwarding steps every tunnel's own stack ends in.
    forward: HttpService,
    state: Mutex<State>,
    live: watch::Sender<Vec<TunnelStatus>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("routing", &self.routing)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct State {
    live: HashMap<String, TunnelContext>,
    /// Name → a counter value, to forget the oldest first.
    offline: HashMap<String, u64>,
    offline_counter: u64,
}

impl Registry {
    pub(crate) fn new(
        routing: Routing,
        tunnel_policy: Arc<dyn TunnelPolicy>,
        forward: HttpService,
    ) -> Self {
        Self {
            routing,
            tunnel_policy,
            forward,
            state: Mutex::default(),
            live: watch::Sender::new(Vec::new()),
        }
    }

    pub(crate) fn routing(&self) -> &Routing {
        &self.routing
    }

    pub(crate) fn lookup(&self, name: &str) -> Lookup {
        let state = self.lock();
        match state.live.get(name) {
            Some(tunnel) => Lookup::Live(tunnel.clone()),
            None if state.offline.contains_key(name) => Lookup::Offline,
            None => Lookup::Unknown,
        }
    }

    /// Registers all of `requests` for `session`, or none of them. Each tunnel's own stack is
    /// built here, once, from its policy: a policy that cannot be built refuses the whole claim
    /// with the policy's message. (It is built with the registry locked: `TunnelPolicy::layers`
    /// must be quick.)
    pub(crate) fn claim(
        &self,
        session: &Arc<SessionLink>,
        requests: &[TunnelRequest],
        max_per_client: usize,
    ) -> Result<Vec<TunnelInfo>, Refusal> {
        let mut state = self.lock();
        let held = state
            .live
            .values()
            .filter(|t| t.session_id() == session.id())
            .count();
        if held + requests.len() > max_per_client {
            return Err(Refusal::new(
                RefusalCode::TooManyTunnels,
                format!("a client may register at most {max_per_client} tunnels on this server"),
            ));
        }
        let mut names = Vec::with_capacity(requests.len());
        for request in requests {
            let name = match &request.name {
                Some(name) => {
                    validate_tunnel_name(name)
                        .map_err(|msg| Refusal::new(RefusalCode::InvalidName, msg))?;
                    name.clone()
                }
                None => random_free_name(&state),
            };
            if names.iter().any(|(taken, _)| *taken == name) {
                return Err(Refusal::new(
                    RefusalCode::InvalidName,
                    format!("tunnel {name:?} is asked for twice"),
                ));
            }
            if let Some(existing) = state.live.get(&name) {
                let same_session = existing.session_id() == session.id();
                if same_session || existing.client_id() != session.client_id() {
                    return Err(Refusal::new(
                        RefusalCode::NameTaken,
                        format!(
                            "tunnel name {name:?} is in use by another client; pick another subdomain"
                        ),
                    ));
                }
            }
            let policy = self.tunnel_stack(&name, request)?;
            names.push((name, policy));
        }
        let mut infos = Vec::with_capacity(names.len());
        for (name, policy) in names {
            let public_url = self.routing.public_url(&name);
            let tunnel =
                TunnelContext::new(name.clone(), public_url.clone(), session.clone(), policy);
            state.offline.remove(&name);
            if let Some(previous) = state.live.insert(name.clone(), tunnel) {
                tracing::info!(tunnel = %name, "client reconnected; closing its previous session");
                previous.close_session();
            }
            infos.push(TunnelInfo { name, public_url });
        }
        self.publish(&state);
        Ok(infos)
    }

    /// The tunnel's own stack, ending in the forwarding steps; `None` when it has no layers.
    ///
    /// The policy and its layers are code of the server's user, run on what a client sent: a
    /// panic in them refuses this client, and the server goes on.
    fn tunnel_stack(
        &self,
        name: &str,
        request: &TunnelRequest,
    ) -> Result<Option<HttpService>, Refusal> {
        let build = || -> Result<Option<HttpService>, String> {
            let layers = self.tunnel_policy.layers(name, &request.policy)?;
            Ok((!layers.is_empty()).then(|| layers.wrap(self.forward.clone())))
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(build)) {
            Ok(Ok(stack)) => Ok(stack),
            Ok(Err(message)) => Err(Refusal::new(
                RefusalCode::InvalidPolicy,
                format!("tunnel {name:?}: {message}"),
            )),
            Err(_) => {
                tracing::error!(tunnel = name, "building the tunnel's policy panicked");
                Err(Refusal::new(
                    RefusalCode::InvalidPolicy,
                    format!(
                        "tunnel {name:?}: the server failed to build this tunnel's policy; \
                         its log has the details"
                    ),
                ))
            }
        }
    }

    /// Removes one tunnel of `session_id`; `false` if it held no such tunnel.
    pub(crate) fn remove(&self, session_id: u64, name: &str) -> bool {
        let mut state = self.lock();
        if state
            .live
            .get(name)
            .is_some_and(|t| t.session_id() == session_id)
        {
            state.live.remove(name);
            self.publish(&state);
            return true;
        }
        false
    }

    /// Removes every tunnel of `session_id`. When the session died rather than said goodbye,
    /// its names are remembered as offline.
    pub(crate) fn release_session(&self, session_id: u64, said_goodbye: bool) -> Vec<String> {
        let mut state = self.lock();
        let names: Vec<String> = state
            .live
            .iter()
            .filter(|(_, tunnel)| tunnel.session_id() == session_id)
            .map(|(name, _)| name.clone())
            .collect();
        for name in &names {
            state.live.remove(name);
            if !said_goodbye {
                remember_offline(&mut state, name);
            }
        }
        if !names.is_empty() {
            self.publish(&state);
        }
        names
    }

    /// A watch of the live tunnels.
    pub(crate) fn live(&self) -> watch::Receiver<Vec<TunnelStatus>> {
        self.live.subscribe()
    }

    fn publish(&self, state: &State) {
        let mut tunnels: Vec<TunnelStatus> =
            state.live.values().map(TunnelContext::status).collect();
        tunnels.sort_by(|a, b| a.name.cmp(&b.name));
        #[expect(clippy::cast_precision_loss, reason = "a count of tunnels")]
        metrics::gauge!(crate::metrics::TUNNELS_ACTIVE).set(tunnels.len() as f64);
        self.live.send_replace(tunnels);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code path panics while holding the lock, but never turn one panic into many.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn remember_offline(state: &mut State, name: &str) {
    if state.offline.len() >= MAX_OFFLINE {
        if let Some(oldest) = state
            .offline
            .iter()
            .min_by_key(|(_, n)| **n)
            .map(|(k, _)| k.clone())
        {
            state.offline.remove(&oldest);
        }
    }
    state.offline_counter += 1;
    let counter = state.offline_counter;
    state.offline.insert(name.to_owned(), counter);
}

/// A random 8-letter name that no live tunnel holds.
fn random_free_name(state: &State) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    loop {
        let mut bytes = [0u8; 8];
        let _ = getrandom::fill(&mut bytes);
        let mut name: String = bytes
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect();
        // Names must start with a letter to read well in a URL.
        name.replace_range(0..1, &((b'a' + bytes[0] % 26) as char).to_string());
        if !state.live.contains_key(&name) {
            return name;
        }
    }
}

// Unit tests for `claim` need a live session; they are in `tests/` at the workspace root, which
// exercise the registry through real clients. The pure helpers are tested here.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_names_are_valid_tunnel_names() {
        let state = State::default();
        for _ in 0..100 {
            let name = random_free_name(&state);
            assert!(validate_tunnel_name(&name).is_ok(), "{name}");
        }
    }

    #[test]
    fn the_offline_memory_is_bounded() {
        let mut state = State::default();
        for i in 0..MAX_OFFLINE + 10 {
            remember_offline(&mut state, &format!("t{i}"));
        }
        assert_eq!(state.offline.len(), MAX_OFFLINE);
        assert!(
            !state.offline.contains_key("t0"),
            "the oldest name is forgotten first"
        );
    }
}

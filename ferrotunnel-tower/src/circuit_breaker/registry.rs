//! The breakers of a layer, one per tunnel, in a bounded map shared by every clone.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
};

use super::breaker::{Breaker, Settings};

/// One breaker per tunnel name, plus one for requests without a tunnel.
#[derive(Debug)]
pub(super) struct Breakers {
    settings: Settings,
    max_tunnels: usize,
    /// For requests outside a FerroTunnel ingress (no tunnel): the whole inner service.
    untunneled: Arc<Breaker>,
    /// Read-locked on every request for a lookup; write-locked only to add a tunnel.
    tunnels: RwLock<HashMap<Arc<str>, Arc<Breaker>>>,
}

impl Breakers {
    pub(super) fn new(settings: Settings, max_tunnels: usize) -> Self {
        Self {
            settings,
            max_tunnels,
            untunneled: Arc::new(Breaker::new(None, settings)),
            tunnels: RwLock::new(HashMap::new()),
        }
    }

    pub(super) fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(super) fn max_tunnels(&self) -> usize {
        self.max_tunnels
    }

    /// The number of tunnels with a breaker.
    pub(super) fn tunnels(&self) -> usize {
        self.tunnels
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The breaker for `tunnel`, made on first use. `None` when the map is full of tunnels that
    /// are failing: their requests pass unwatched until one recovers.
    pub(super) fn get(&self, tunnel: Option<&str>) -> Option<Arc<Breaker>> {
        let Some(name) = tunnel else {
            return Some(self.untunneled.clone());
        };
        if let Some(breaker) = self
            .tunnels
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
        {
            return Some(breaker.clone());
        }
        let mut tunnels = self.tunnels.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(breaker) = tunnels.get(name) {
            return Some(breaker.clone()); // Added while this request waited for the lock.
        }
        if tunnels.len() >= self.max_tunnels {
            // A healthy breaker is the same as a new one: forgetting it loses nothing. Then
            // closed ones with a few failures counted (that count starts over). Open and
            // half-open ones stay: forgetting them would send visitors to a failing tunnel
            // again, so a new tunnel goes unwatched rather than evict one.
            tunnels.retain(|_, breaker| !breaker.is_healthy());
            if tunnels.len() >= self.max_tunnels {
                tunnels.retain(|_, breaker| !breaker.is_closed());
            }
            if tunnels.len() >= self.max_tunnels {
                tracing::debug!(
                    tunnel = name,
                    max_tunnels = self.max_tunnels,
                    "circuit breaker: every tracked tunnel is failing; this one is not watched"
                );
                return None;
            }
        }
        let name: Arc<str> = name.into();
        let breaker = Arc::new(Breaker::new(Some(name.clone()), self.settings));
        tunnels.insert(name, breaker.clone());
        Some(breaker)
    }
}

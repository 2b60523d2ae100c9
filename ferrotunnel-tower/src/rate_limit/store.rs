//! The bounded keyed state store behind the limiter: governor's `DashMap` store, a cap on its
//! number of keys, and one overflow bucket for the keys that find it full.

use std::{
    hash::Hash,
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use governor::{
    nanos::Nanos,
    state::{
        InMemoryState, NotKeyed, StateStore,
        keyed::{DashMapStateStore, ShrinkableKeyedStateStore},
    },
};

/// What a bucket belongs to. IP keys and hashed names are `Copy`-sized: checking a key never
/// allocates, and header values (API keys) are never held in memory, only a keyed hash of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Key {
    /// A visitor's address.
    Ip(IpAddr),
    /// A keyed 64-bit hash of a tunnel name, a header value or a user key. Two different
    /// values share a bucket only on a hash collision (about 2⁻⁶⁴ per pair; the hash key is
    /// random per layer, so a visitor cannot aim for one).
    Hash(u64),
    /// No key: the one bucket of `global()`, and of the requests a key could not be read from.
    Unkeyed,
}

/// The keyed states, at most `max_keys` of them, plus the overflow bucket.
#[derive(Debug)]
pub(super) struct Store {
    map: DashMapStateStore<Key>,
    /// The bucket shared by all new keys while the map is full.
    overflow: InMemoryState,
    max_keys: usize,
    /// The number of keys in `map`, kept without walking the map (`DashMap::len` locks every
    /// shard). Exact but for requests racing a sweep, which it recounts.
    tracked: AtomicUsize,
}

impl Store {
    pub(super) fn new(max_keys: usize) -> Self {
        Self {
            map: DashMapStateStore::default(),
            overflow: InMemoryState::default(),
            max_keys,
            tracked: AtomicUsize::new(0),
        }
    }

    /// Whether new keys go to the overflow bucket now.
    pub(super) fn is_full(&self) -> bool {
        self.tracked.load(Ordering::Relaxed) >= self.max_keys
    }

    /// Whether `key` has a bucket of its own.
    pub(super) fn contains(&self, key: &Key) -> bool {
        self.map.contains_key(key)
    }

    /// The number of keys (walks the map's shards).
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Takes one of the `max_keys` places, if one is free.
    fn reserve(&self) -> bool {
        self.tracked
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < self.max_keys).then_some(n + 1)
            })
            .is_ok()
    }
}

/// The limiter owns its store; this handle lets the layer look at the store too.
#[derive(Debug, Clone)]
pub(super) struct StoreHandle(pub(super) Arc<Store>);

impl StateStore for StoreHandle {
    type Key = Key;

    fn measure_and_replace<T, F, E>(&self, key: &Key, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let store = &*self.0;
        // The pass-through path: a known key, one shard read lock.
        if let Some(state) = store.map.get(key) {
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        if store.reserve() {
            let mut inserted = false;
            let state = store.map.entry(*key).or_insert_with(|| {
                inserted = true;
                InMemoryState::default()
            });
            if !inserted {
                // Another request inserted this key meanwhile: give the place back (saturating:
                // a sweep may have recounted in between).
                let _ = store
                    .tracked
                    .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                        Some(n.saturating_sub(1))
                    });
            }
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        // Full: the map does not grow, so a visitor spraying addresses costs no memory and is
        // still limited, together with every other new key, by this one bucket.
        store.overflow.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

impl ShrinkableKeyedStateStore<Key> for StoreHandle {
    fn retain_recent(&self, drop_below: Nanos) {
        let store = &*self.0;
        store.map.retain_recent(drop_below);
        store.tracked.store(store.map.len(), Ordering::Release);
    }

    fn shrink_to_fit(&self) {
        self.0.map.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.0.map.len()
    }

    fn is_empty(&self) -> bool {
        self.0.map.is_empty()
    }
}

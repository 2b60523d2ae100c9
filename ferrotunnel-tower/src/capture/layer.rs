use super::{Capture, CaptureStore};

/// Records every exchange through the services it wraps into a [`CaptureStore`]; see the
/// [module docs](super). Cheap to clone: clones record into the same store.
#[derive(Debug, Clone)]
pub struct CaptureLayer {
    store: CaptureStore,
}

impl CaptureLayer {
    /// A layer recording into `store` (the same as [`CaptureStore::layer`]).
    pub fn new(store: CaptureStore) -> Self {
        Self { store }
    }

    /// The store it records into.
    pub fn store(&self) -> &CaptureStore {
        &self.store
    }
}

impl<S> tower::Layer<S> for CaptureLayer {
    type Service = Capture<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Capture::new(inner, &self.store)
    }
}

use std::{fmt, sync::Arc};

use ferrotunnel::BoxError;

use super::{Plugin, PluginService};

/// Applies a [`Plugin`] to a service: the layer form of [`PluginService`].
///
/// Cheap to clone: the plugin is shared behind an `Arc` by the layer and every service it makes.
pub struct PluginLayer<P> {
    plugin: Arc<P>,
}

impl<P: Plugin> PluginLayer<P> {
    /// A layer that runs `plugin` on every request.
    pub fn new(plugin: P) -> Self {
        Self {
            plugin: Arc::new(plugin),
        }
    }

    /// A layer that runs a plugin already shared elsewhere (to keep a handle on its state).
    pub fn from_arc(plugin: Arc<P>) -> Self {
        Self { plugin }
    }

    /// The plugin.
    pub fn plugin(&self) -> &P {
        &self.plugin
    }

    /// Runs the plugin's [`on_start`](Plugin::on_start) hook. A server that the plugin was
    /// installed on with [`ServerBuilderExt::plugin`](crate::ServerBuilderExt::plugin) does
    /// this itself; another stack calls it before serving.
    pub async fn start(&self) -> Result<(), BoxError> {
        self.plugin
            .on_start()
            .await
            .map_err(|err| format!("plugin {:?}: {err}", self.plugin.name()).into())
    }

    /// Runs the plugin's [`on_stop`](Plugin::on_stop) hook.
    pub async fn stop(&self) {
        self.plugin.on_stop().await;
    }
}

impl<S, P: Plugin> tower::Layer<S> for PluginLayer<P> {
    type Service = PluginService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        PluginService::from_arc(inner, self.plugin.clone())
    }
}

impl<P> Clone for PluginLayer<P> {
    fn clone(&self) -> Self {
        Self {
            plugin: self.plugin.clone(),
        }
    }
}

impl<P: Plugin> fmt::Debug for PluginLayer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginLayer")
            .field("plugin", &self.plugin.name())
            .finish()
    }
}

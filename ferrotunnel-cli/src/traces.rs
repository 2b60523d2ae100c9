//! `--otlp-endpoint`: OpenTelemetry traces of the tunnel's requests, exported over OTLP/HTTP
//! (protobuf) by a batch exporter on a thread of its own.
//!
//! Where spans go: `--otlp-endpoint URL` (TOML `otlp_endpoint`), a collector's base URL to which
//! `/v1/traces` is added; else `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, taken as it is; else
//! `OTEL_EXPORTER_OTLP_ENDPOINT`, a base URL. None of them (or `OTEL_SDK_DISABLED=true`): no
//! traces, and no layer in the request path. `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`
//! name the process (`ferrotunnel-server` or `ferrotunnel-client` by default),
//! `OTEL_TRACES_SAMPLER` samples, `OTEL_BSP_*` tune the batches.
//!
//! Exporting never slows traffic: spans wait in a bounded queue (2 048 by default) that drops
//! when full, and a collector that is down or refuses costs one warning, not one per batch.

use std::{
    fmt,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SdkTracer, SdkTracerProvider, SpanData, SpanExporter},
};

use crate::LOG_TARGET;

const SIGNAL_PATH: &str = "/v1/traces";
/// How long one export may take before it counts as failed.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopping process waits for its last spans to go out.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The exporting tracer provider; [`shutdown`](Self::shutdown) sends what is left.
#[derive(Debug)]
pub(crate) struct Traces {
    provider: SdkTracerProvider,
    endpoint: String,
}

/// Why traces are off although an endpoint was given.
#[derive(Debug)]
pub(crate) struct Unusable {
    endpoint: String,
    why: String,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "traces are off: cannot send them to {}: {}",
            self.endpoint, self.why
        )
    }
}

impl Traces {
    /// Starts exporting to the endpoint `flag` names, or the environment does; `Ok(None)` when
    /// neither asks for traces.
    pub(crate) fn start(
        flag: Option<&str>,
        service: &'static str,
    ) -> Result<Option<Self>, Unusable> {
        let env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        if env("OTEL_SDK_DISABLED").is_some_and(|value| value.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let Some(endpoint) = endpoint(
            flag,
            env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            env("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) else {
            return Ok(None);
        };
        let unusable = |why: String| Unusable {
            endpoint: endpoint.clone(),
            why,
        };
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|err| unusable(format!("not a URL ({err})")))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => {
                return Err(unusable(
                    "an OTLP/HTTP endpoint is an http:// or https:// URL".into(),
                ));
            }
        }
        // reqwest is built without a crypto provider of its own (its default is aws-lc): it
        // uses the process's, and refuses to build a client, even for http://, without one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|err| unusable(err.to_string()))?;
        let mut resource = Resource::builder();
        // The user's name wins, from either variable the SDK reads it from.
        let named = env("OTEL_SERVICE_NAME").is_some()
            || env("OTEL_RESOURCE_ATTRIBUTES")
                .is_some_and(|attributes| attributes.contains("service.name="));
        if !named {
            resource = resource.with_service_name(service);
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(WarnOnce::new(exporter, endpoint.clone()))
            .with_resource(resource.build())
            .build();
        Ok(Some(Self { provider, endpoint }))
    }

    /// The tracer for `tracing-opentelemetry`'s layer.
    pub(crate) fn tracer(&self) -> SdkTracer {
        self.provider.tracer("ferrotunnel")
    }

    /// Where the spans go.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Exports the spans still queued, waiting a few seconds at most (on a blocking thread:
    /// the exporter's is the one that sends them).
    pub(crate) async fn shutdown(self) {
        let provider = self.provider;
        let stopped =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT))
                .await;
        if let Ok(Err(err)) = stopped {
            tracing::warn!(target: LOG_TARGET, error = %err, "the last spans may be lost");
        }
    }
}

/// Starts the logs, and the traces when the flag or the environment asks for them; a
/// collector URL that cannot be used is one warning, and no traces.
pub(crate) fn init_logging(flag: Option<&str>, service: &'static str) -> Option<Traces> {
    let traces = Traces::start(flag, service);
    crate::init_logging(traces.as_ref().ok().and_then(Option::as_ref));
    traces.unwrap_or_else(|unusable| {
        tracing::warn!(target: LOG_TARGET, "{unusable}");
        None
    })
}

/// The traces URL: the flag's base URL, the per-signal variable as it is, or the generic
/// variable's base URL.
fn endpoint(
    flag: Option<&str>,
    traces_var: Option<String>,
    base_var: Option<String>,
) -> Option<String> {
    let with_path = |base: &str| {
        let base = base.trim_end_matches('/');
        if base.ends_with(SIGNAL_PATH) {
            base.to_owned()
        } else {
            format!("{base}{SIGNAL_PATH}")
        }
    };
    match (flag, traces_var, base_var) {
        (Some(flag), _, _) => Some(with_path(flag)),
        (None, Some(traces), _) => Some(traces),
        (None, None, Some(base)) => Some(with_path(&base)),
        (None, None, None) => None,
    }
}

/// An exporter that says once that the collector cannot be reached, and once that it can
/// again, instead of once per batch.
#[derive(Debug)]
struct WarnOnce<E> {
    inner: E,
    endpoint: String,
    failing: AtomicBool,
}

impl<E> WarnOnce<E> {
    fn new(inner: E, endpoint: String) -> Self {
        Self {
            inner,
            endpoint,
            failing: AtomicBool::new(false),
        }
    }
}

impl<E: SpanExporter> SpanExporter for WarnOnce<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        match &result {
            Err(err) if !self.failing.swap(true, Ordering::Relaxed) => tracing::warn!(
                target: LOG_TARGET,
                endpoint = %self.endpoint,
                error = %err,
                spans,
                "cannot export traces; spans are dropped until the collector answers (said once)"
            ),
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => tracing::info!(
                target: LOG_TARGET,
                endpoint = %self.endpoint,
                "exporting traces again"
            ),
            _ => {}
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_and_the_generic_variable_are_base_urls_the_traces_variable_is_whole() {
        assert_eq!(
            endpoint(Some("http://collector:4318"), None, None).as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(
            endpoint(Some("http://collector:4318/v1/traces"), None, None).as_deref(),
            Some("http://collector:4318/v1/traces"),
            "not added twice"
        );
        assert_eq!(
            endpoint(
                Some("http://flag:4318/"),
                Some("http://traces:1/x".into()),
                None
            )
            .as_deref(),
            Some("http://flag:4318/v1/traces"),
            "the flag wins"
        );
        assert_eq!(
            endpoint(
                None,
                Some("http://traces:1/x".into()),
                Some("http://base:2".into())
            )
            .as_deref(),
            Some("http://traces:1/x")
        );
        assert_eq!(
            endpoint(None, None, Some("https://base:2".into())).as_deref(),
            Some("https://base:2/v1/traces")
        );
        assert_eq!(endpoint(None, None, None), None);
    }
}

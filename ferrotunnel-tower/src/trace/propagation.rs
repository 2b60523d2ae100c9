//! W3C trace context in and out of HTTP headers.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator as _},
};
use opentelemetry_sdk::propagation::TraceContextPropagator;

const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The trace context the headers carry (`traceparent`, `tracestate`), or an empty context:
/// never the thread's current one, which belongs to whatever else ran there.
pub(super) fn extract(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract_with_context(&Context::new(), &Headers(headers))
}

/// Writes `context`'s span as `traceparent` and `tracestate`, replacing what was there; writes
/// nothing when `context` has no span (no OpenTelemetry layer, or an unsampled-away span).
pub(super) fn inject(context: &Context, headers: &mut HeaderMap) {
    TraceContextPropagator::new().inject_context(context, &mut HeadersMut(headers));
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        let Ok(name) = HeaderName::from_bytes(key.as_bytes()) else {
            return;
        };
        // An empty `tracestate` is no header at all.
        if value.is_empty() && name == TRACESTATE {
            self.0.remove(name);
            return;
        }
        if let Ok(value) = HeaderValue::try_from(value) {
            self.0.insert(name, value);
        }
    }
}

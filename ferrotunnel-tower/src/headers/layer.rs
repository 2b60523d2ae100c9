use std::{fmt, sync::Arc};

use super::{
    EditableHeader, HeaderTemplate, Headers,
    edit::{Rule, Rules},
};

/// Adds, sets and removes request and response headers: see the [module docs](super).
///
/// Rules apply in the order they were added: request rules before the request is passed on,
/// response rules to every response the inner service returns. Cheap to clone: the rules are
/// shared behind an `Arc`.
#[derive(Clone, Default)]
pub struct HeadersLayer {
    rules: Arc<Rules>,
}

impl HeadersLayer {
    /// A layer with no rules, which changes nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a value to a request header, keeping the values it already has.
    pub fn add_request(self, name: EditableHeader, template: HeaderTemplate) -> Self {
        self.request(Rule::add(name.into(), template))
    }

    /// Sets a request header to one value, replacing the values it had.
    pub fn set_request(self, name: EditableHeader, template: HeaderTemplate) -> Self {
        self.request(Rule::set(name.into(), template))
    }

    /// Removes every value of a request header.
    pub fn remove_request(self, name: EditableHeader) -> Self {
        self.request(Rule::remove(name.into()))
    }

    /// Appends a value to a response header, keeping the values it already has. Placeholders
    /// take the values of the request this is the response to.
    pub fn add_response(self, name: EditableHeader, template: HeaderTemplate) -> Self {
        self.response(Rule::add(name.into(), template))
    }

    /// Sets a response header to one value, replacing the values it had. Placeholders take the
    /// values of the request this is the response to.
    pub fn set_response(self, name: EditableHeader, template: HeaderTemplate) -> Self {
        self.response(Rule::set(name.into(), template))
    }

    /// Removes every value of a response header.
    pub fn remove_response(self, name: EditableHeader) -> Self {
        self.response(Rule::remove(name.into()))
    }

    fn request(mut self, rule: Rule) -> Self {
        Arc::make_mut(&mut self.rules).request.push(rule);
        self
    }

    fn response(mut self, rule: Rule) -> Self {
        let rules = Arc::make_mut(&mut self.rules);
        rules.response_uses = rules.response_uses.with(rule.uses());
        rules.response.push(rule);
        self
    }
}

impl<S> tower::Layer<S> for HeadersLayer {
    type Service = Headers<S>;

    fn layer(&self, inner: S) -> Headers<S> {
        Headers::from_rules(inner, self.rules.clone())
    }
}

impl fmt::Debug for HeadersLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadersLayer")
            .field("request", &self.rules.request)
            .field("response", &self.rules.response)
            .finish()
    }
}

//! One header rule of a layer and how it changes a header map.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

use super::{HeaderTemplate, template::Uses, values::Values};

/// The rules of a [`HeadersLayer`](super::HeadersLayer), in the order they apply.
#[derive(Clone, Default)]
pub(super) struct Rules {
    pub(super) request: Vec<Rule>,
    pub(super) response: Vec<Rule>,
    /// The placeholders the response rules use: what to capture from each request.
    pub(super) response_uses: Uses,
}

/// One change to one header.
#[derive(Clone)]
pub(super) struct Rule {
    name: HeaderName,
    edit: Edit,
}

#[derive(Clone)]
enum Edit {
    /// Append a value; the header's other values stay.
    Add(HeaderTemplate),
    /// Replace every value of the header with this one.
    Set(HeaderTemplate),
    /// Remove every value of the header.
    Remove,
}

impl Rule {
    pub(super) fn add(name: HeaderName, template: HeaderTemplate) -> Self {
        Self {
            name,
            edit: Edit::Add(template),
        }
    }

    pub(super) fn set(name: HeaderName, template: HeaderTemplate) -> Self {
        Self {
            name,
            edit: Edit::Set(template),
        }
    }

    pub(super) fn remove(name: HeaderName) -> Self {
        Self {
            name,
            edit: Edit::Remove,
        }
    }

    /// The placeholders this rule's value uses.
    pub(super) fn uses(&self) -> Uses {
        match &self.edit {
            Edit::Add(template) | Edit::Set(template) => template.uses(),
            Edit::Remove => Uses::default(),
        }
    }

    /// The value this rule writes for these `values`: `None` for a removal, or when the value
    /// came out invalid (then the rule does nothing for this message).
    pub(super) fn value(&self, values: &impl Values) -> Option<HeaderValue> {
        let (Edit::Add(template) | Edit::Set(template)) = &self.edit else {
            return None;
        };
        match template.render(values) {
            Ok(value) => Some(value),
            Err(why) => {
                tracing::debug!(header = %self.name, %why, "header rule skipped for this message");
                None
            }
        }
    }

    /// Changes `headers`, with the `value` [`Rule::value`] gave.
    pub(super) fn apply(&self, headers: &mut HeaderMap, value: Option<HeaderValue>) {
        match (&self.edit, value) {
            (Edit::Add(_), Some(value)) => {
                headers.append(self.name.clone(), value);
            }
            (Edit::Set(_), Some(value)) => {
                headers.insert(self.name.clone(), value);
            }
            (Edit::Remove, _) => {
                headers.remove(&self.name);
            }
            (Edit::Add(_) | Edit::Set(_), None) => {}
        }
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.edit {
            Edit::Add(template) => write!(f, "add {}: {template}", self.name),
            Edit::Set(template) => write!(f, "set {}: {template}", self.name),
            Edit::Remove => write!(f, "remove {}", self.name),
        }
    }
}

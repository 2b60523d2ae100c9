//! [`HeaderTemplate`]: a header value with per-request placeholders.

use std::{
    fmt::{self, Write as _},
    net::SocketAddr,
    str::FromStr,
};

use ferrotunnel::server::push_ip;
use http::HeaderValue;

use super::values::Values;

/// What the placeholders are, for error messages.
const KNOWN: &str =
    "${visitor_ip}, ${visitor_addr}, ${tunnel}, ${request_id} and ${host} (and $$ for a literal $)";

/// A header value, literal or with per-request placeholders: `prod`, `${visitor_ip}`,
/// `tunnel=${tunnel}; id=${request_id}`, `$$5` (the text `$5`).
///
/// | placeholder       | value                                                            |
/// |-------------------|------------------------------------------------------------------|
/// | `${visitor_ip}`   | the visitor's IP address, like `192.0.2.7`                       |
/// | `${visitor_addr}` | the visitor's address and port, like `192.0.2.7:50312`           |
/// | `${tunnel}`       | the name of the tunnel the request is for                        |
/// | `${request_id}`   | the request's `x-request-id`                                     |
/// | `${host}`         | the host the visitor asked for (`Host`, or the URI's authority)  |
/// | `$$`              | a literal `$`                                                    |
///
/// A placeholder with no value for a request becomes empty text: `${tunnel}` outside a
/// FerroTunnel ingress, `${request_id}` before a request id layer ran, `${visitor_ip}` when the
/// server did not say who the peer is. An IPv4 visitor who reached an IPv6 socket is written as
/// IPv4 (`192.0.2.7`, not `::ffff:192.0.2.7`), in both visitor placeholders.
///
/// A template without placeholders is turned into its `HeaderValue` once, when parsed.
/// Text with characters no header value may hold (line breaks, other control characters) is
/// refused when parsed; a `$` that starts no placeholder is refused too, so that `$5` is not
/// silently read as something else.
///
/// ```
/// use ferrotunnel_tower::headers::HeaderTemplate;
///
/// let template: HeaderTemplate = "${tunnel} costs $$5".parse().unwrap();
/// assert_eq!(template.to_string(), "${tunnel} costs $$5");
/// assert!(!template.is_literal());
///
/// let err = "${ip}".parse::<HeaderTemplate>().unwrap_err();
/// assert!(err.contains("unknown placeholder ${ip}"), "{err}");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderTemplate {
    parts: Box<[Part]>,
    /// The value, made once, when there are no placeholders.
    literal: Option<HeaderValue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(Box<str>),
    Value(Placeholder),
}

/// A value a template can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Placeholder {
    VisitorIp,
    VisitorAddr,
    Tunnel,
    RequestId,
    Host,
}

impl Placeholder {
    const ALL: [Self; 5] = [
        Self::VisitorIp,
        Self::VisitorAddr,
        Self::Tunnel,
        Self::RequestId,
        Self::Host,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::VisitorIp => "visitor_ip",
            Self::VisitorAddr => "visitor_addr",
            Self::Tunnel => "tunnel",
            Self::RequestId => "request_id",
            Self::Host => "host",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The set of placeholders some templates use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Uses(u8);

impl Uses {
    pub(super) fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(super) fn contains(self, placeholder: Placeholder) -> bool {
        self.0 & placeholder.bit() != 0
    }

    pub(super) fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl HeaderTemplate {
    /// Whether this template is plain text, with no placeholders.
    pub fn is_literal(&self) -> bool {
        self.literal.is_some()
    }

    /// The placeholders this template uses.
    pub(super) fn uses(&self) -> Uses {
        Uses(self.parts.iter().fold(0, |bits, part| match part {
            Part::Text(_) => bits,
            Part::Value(placeholder) => bits | placeholder.bit(),
        }))
    }

    /// The value for one request. Fails only if a placeholder's value cannot be part of a
    /// header value (the literal text was checked when parsed).
    pub(super) fn render(&self, values: &impl Values) -> Result<HeaderValue, String> {
        if let Some(value) = &self.literal {
            return Ok(value.clone());
        }
        let mut text = String::with_capacity(64);
        for part in &*self.parts {
            match part {
                Part::Text(literal) => text.push_str(literal),
                Part::Value(Placeholder::VisitorIp) => {
                    if let Some(ip) = values.visitor_ip() {
                        push_ip(&mut text, ip);
                    }
                }
                Part::Value(Placeholder::VisitorAddr) => {
                    if let Some(addr) = values.visitor_addr() {
                        let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
                        let _ = write!(text, "{addr}");
                    }
                }
                Part::Value(Placeholder::Tunnel) => text.push_str(values.tunnel().unwrap_or("")),
                Part::Value(Placeholder::RequestId) => {
                    text.push_str(values.request_id().unwrap_or(""));
                }
                Part::Value(Placeholder::Host) => text.push_str(values.host().unwrap_or("")),
            }
        }
        HeaderValue::try_from(text).map_err(|_| format!("{self} gave an invalid header value"))
    }
}

/// Reads a template; the error says why, without the template's text.
pub(super) fn parse(text: &str) -> Result<HeaderTemplate, String> {
    let mut rest = text.trim();
    if let Some(c) = rest
        .chars()
        .find(|&c| c != '\t' && (c < ' ' || c == '\x7f'))
    {
        return Err(format!(
            "it holds the control character {c:?}, which no header value may hold"
        ));
    }
    let mut parts = Vec::new();
    let mut literal = String::new();
    while let Some(at) = rest.find('$') {
        literal.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(after) = after.strip_prefix('$') {
            literal.push('$');
            rest = after;
            continue;
        }
        let Some(inner) = after.strip_prefix('{') else {
            return Err(
                "a $ must start a placeholder like ${visitor_ip}; write $$ for a literal $".into(),
            );
        };
        let Some(end) = inner.find('}') else {
            return Err(format!(
                "a ${{ is not closed with }}; the placeholders are {KNOWN}"
            ));
        };
        let name = &inner[..end];
        let Some(placeholder) = Placeholder::ALL.into_iter().find(|p| p.name() == name) else {
            return Err(format!(
                "unknown placeholder ${{{name}}}; the placeholders are {KNOWN}"
            ));
        };
        if !literal.is_empty() {
            parts.push(Part::Text(std::mem::take(&mut literal).into()));
        }
        parts.push(Part::Value(placeholder));
        rest = &inner[end + 1..];
    }
    literal.push_str(rest);
    let literal_value = if parts.is_empty() {
        let value = HeaderValue::try_from(literal.as_str())
            .map_err(|_| "it is not a valid header value".to_owned())?;
        Some(value)
    } else {
        None
    };
    if !literal.is_empty() {
        parts.push(Part::Text(literal.into()));
    }
    Ok(HeaderTemplate {
        parts: parts.into(),
        literal: literal_value,
    })
}

impl FromStr for HeaderTemplate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        parse(text).map_err(|why| format!("{text:?} is not a header value: {why}"))
    }
}

impl fmt::Display for HeaderTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &*self.parts {
            match part {
                Part::Text(text) => {
                    for (i, piece) in text.split('$').enumerate() {
                        if i > 0 {
                            f.write_str("$$")?;
                        }
                        f.write_str(piece)?;
                    }
                }
                Part::Value(placeholder) => write!(f, "${{{}}}", placeholder.name())?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for HeaderTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HeaderTemplate")
            .field(&self.to_string())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_writes_what_from_str_reads() {
        for text in [
            "prod",
            "",
            "${visitor_ip}",
            "ip=${visitor_ip}, addr=${visitor_addr}",
            "${tunnel}${request_id}${host}",
            "costs $$5 (was $$$$6)",
            "$$${tunnel}$$",
            "caf\u{e9} \t tab",
        ] {
            let template: HeaderTemplate = text.parse().expect(text);
            assert_eq!(template.to_string(), text, "{text}");
            assert_eq!(template.to_string().parse(), Ok(template), "{text}");
        }
    }

    #[test]
    fn the_text_around_a_value_is_trimmed() {
        let template: HeaderTemplate = "  prod \t".parse().expect("template");
        assert_eq!(template.to_string(), "prod");
    }

    #[test]
    fn refuses_what_it_cannot_read_and_says_why() {
        for (text, needle) in [
            (
                "${ip}",
                "unknown placeholder ${ip}; the placeholders are ${visitor_ip}, \
                 ${visitor_addr}, ${tunnel}, ${request_id} and ${host}",
            ),
            ("${Visitor_IP}", "unknown placeholder ${Visitor_IP}"),
            ("${}", "unknown placeholder ${}"),
            ("a ${tunnel", "a ${ is not closed with }"),
            ("$5", "write $$ for a literal $"),
            ("costs $", "write $$ for a literal $"),
            ("a\nb", "control character '\\n'"),
            ("a\u{7f}", "control character '\\u{7f}'"),
        ] {
            let err = text.parse::<HeaderTemplate>().expect_err(text);
            assert!(
                err.starts_with(&format!("{text:?} is not a header value: ")),
                "{err}"
            );
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}

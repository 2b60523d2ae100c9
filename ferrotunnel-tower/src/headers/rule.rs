//! The command-line values of the headers layer: [`EditableHeader`] (`--remove-header NAME`)
//! and [`HeaderRule`] (`--add-header "Name: value"`, `--set-header …`).

use std::{fmt, str::FromStr};

use http::HeaderName;

use super::{HeaderTemplate, template};

/// The name of a header a [`HeadersLayer`](super::HeadersLayer) may add, set or remove: any
/// valid header name except those the proxy itself must own.
///
/// Refused, because changing them would break the forwarded message:
///
/// - the hop-by-hop and framing headers `connection`, `keep-alive`, `proxy-connection`, `te`,
///   `trailer`, `transfer-encoding` and `upgrade`: they describe one connection, and each hop
///   writes its own (the ingress drops the visitor's before forwarding);
/// - `x-forwarded-for`, `x-forwarded-proto`, `x-forwarded-host`: the ingress sets them itself,
///   after every policy, from what it saw of the visitor, so that no rule can forge them;
/// - `content-length`: it is computed from the body, and a wrong one truncates the message or
///   leaves the peer waiting for bytes that never come;
/// - `host`: in every direction. Adding one makes two `Host` headers and removing it leaves
///   none, and HTTP/1.1 servers answer both with 400. Setting it looks useful (a local
///   service that only answers to `localhost`), but inside FerroTunnel the tunnel was already
///   chosen by the visitor's `Host`, and the ingress copies `Host` into `X-Forwarded-Host`
///   after the plugins, so the local service would be told the wrong site and build wrong
///   links and redirects. Rewriting `Host` belongs to the forwarding step, which can keep the
///   visitor's host in `X-Forwarded-Host`.
///
/// ```
/// use ferrotunnel_tower::headers::EditableHeader;
///
/// let name: EditableHeader = "X-Debug".parse().unwrap();
/// assert_eq!(name.to_string(), "x-debug");
/// assert!("Transfer-Encoding".parse::<EditableHeader>().unwrap_err().contains("framing"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EditableHeader(HeaderName);

impl EditableHeader {
    /// `name`, unless it is one the proxy must own (see above); the error says why.
    pub fn new(name: HeaderName) -> Result<Self, String> {
        match refusal(&name) {
            None => Ok(Self(name)),
            Some(why) => Err(format!("{:?} cannot be changed: {why}", name.as_str())),
        }
    }

    /// The header name.
    pub fn as_header_name(&self) -> &HeaderName {
        &self.0
    }
}

/// Why a rule may not touch `name`, if it may not.
fn refusal(name: &HeaderName) -> Option<&'static str> {
    match name.as_str() {
        "connection" | "keep-alive" | "proxy-connection" | "te" | "trailer"
        | "transfer-encoding" | "upgrade" => Some(
            "it is a hop-by-hop header, which describes one connection, and each hop writes its \
             own; changing it would break the framing of the forwarded message",
        ),
        "content-length" => Some(
            "it is computed from the body, and a wrong length would break the framing of the \
             forwarded message",
        ),
        "x-forwarded-for" | "x-forwarded-proto" | "x-forwarded-host" => Some(
            "the ingress sets it itself, after every policy, from what it saw of the visitor, so              that no rule can forge it; a rule would be overwritten",
        ),
        "host" => Some(
            "the visitor's Host chose the tunnel and is what the local service is told was \
             asked for (X-Forwarded-Host is copied from it), and HTTP/1.1 servers refuse a \
             request with two Host headers or none",
        ),
        _ => None,
    }
}

/// `text` as a header name, or why not.
fn header_name(text: &str) -> Result<HeaderName, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the header name is empty".into());
    }
    text.parse().map_err(|_| {
        format!(
            "{text:?} is not a header name: a name is letters, digits and symbols like - and _, \
             with no spaces or colons, like X-Env"
        )
    })
}

impl FromStr for EditableHeader {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::new(header_name(text)?)
    }
}

impl TryFrom<HeaderName> for EditableHeader {
    type Error = String;

    fn try_from(name: HeaderName) -> Result<Self, String> {
        Self::new(name)
    }
}

impl From<EditableHeader> for HeaderName {
    fn from(name: EditableHeader) -> Self {
        name.0
    }
}

impl fmt::Display for EditableHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for EditableHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EditableHeader")
            .field(&self.0.as_str())
            .finish()
    }
}

/// A header and its value, as written on the command line: `Name: value template`, like
/// `X-Env: prod` or `X-Visitor: ${visitor_ip}` (see [`HeaderTemplate`] for the placeholders).
/// Whether the rule adds or sets is up to the flag it came with.
///
/// ```
/// use ferrotunnel_tower::headers::{HeaderRule, HeadersLayer};
///
/// let rule: HeaderRule = "X-Visitor: ${visitor_ip}".parse().unwrap();
/// assert_eq!(rule.to_string(), "x-visitor: ${visitor_ip}");
/// let layer = HeadersLayer::new().set_request(rule.name, rule.template);
///
/// let err = "X-Env prod".parse::<HeaderRule>().unwrap_err();
/// assert!(err.contains("write Name: value"), "{err}");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderRule {
    /// The header.
    pub name: EditableHeader,
    /// Its value.
    pub template: HeaderTemplate,
}

const RULE_HINT: &str = "write Name: value, like X-Env: prod";

impl HeaderRule {
    /// Whether the value is likely a secret (`Authorization`, `Cookie`, an API key, a token),
    /// by the header's name: such a value is masked wherever the rule is shown.
    pub fn is_secret(&self) -> bool {
        let name = self.name.as_header_name().as_str();
        matches!(
            name,
            "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
        ) || ["token", "secret", "password", "key", "auth", "session"]
            .iter()
            .any(|word| name.contains(word))
    }

    /// The rule as a person reads it, its value masked when [secret](Self::is_secret):
    /// `authorization: ***`.
    pub fn masked(&self) -> String {
        if self.is_secret() {
            format!("{}: ***", self.name)
        } else {
            self.to_string()
        }
    }
}

impl FromStr for HeaderRule {
    type Err = String;

    /// The error quotes the header's name, never the value: it may be a secret.
    fn from_str(text: &str) -> Result<Self, String> {
        let Some((name, value)) = text.split_once(':') else {
            return Err(format!(
                "a header rule needs a colon between the name and the value; {RULE_HINT}"
            ));
        };
        let invalid = |why: String| format!("the header rule for {:?}: {why}", name.trim());
        let name = header_name(name).map_err(|why| format!("{why}; {RULE_HINT}"))?;
        let name = EditableHeader::new(name).map_err(invalid)?;
        let template =
            template::parse(value).map_err(|why| invalid(format!("the value: {why}")))?;
        Ok(Self { name, template })
    }
}

impl fmt::Display for HeaderRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.template)
    }
}

impl fmt::Debug for HeaderRule {
    /// Like [`masked`](Self::masked): never a secret value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HeaderRule").field(&self.masked()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_rules_read_back_what_they_print() {
        for text in ["x-env", "X-Env", "x_custom.1"] {
            let name: EditableHeader = text.parse().expect(text);
            assert_eq!(name.to_string().parse(), Ok(name), "{text}");
        }
        for text in [
            "X-Env: prod",
            "x-visitor: ${visitor_ip}",
            "X-Empty:",
            "X-Time: 12:30",
            "x-price:$$5",
        ] {
            let rule: HeaderRule = text.parse().expect(text);
            assert_eq!(rule.to_string().parse(), Ok(rule.clone()), "{text}");
        }
        let rule: HeaderRule = "X-Time:  12:30 ".parse().expect("rule");
        assert_eq!(rule.to_string(), "x-time: 12:30");
        assert_eq!(format!("{rule:?}"), r#"HeaderRule("x-time: 12:30")"#);
    }

    #[test]
    fn refuses_the_headers_a_proxy_must_own() {
        for text in [
            "connection",
            "Keep-Alive",
            "proxy-connection",
            "TE",
            "trailer",
            "Transfer-Encoding",
            "upgrade",
            "content-length",
            "Host",
        ] {
            let err = text.parse::<EditableHeader>().expect_err(text);
            let lower = text.to_ascii_lowercase();
            assert!(
                err.starts_with(&format!("{lower:?} cannot be changed: ")),
                "{err}"
            );
            let err = format!("{text}: x").parse::<HeaderRule>().expect_err(text);
            assert!(
                err.contains(&format!("{lower:?} cannot be changed")),
                "{err}"
            );
            let header: HeaderName = text.parse().expect("a valid name");
            assert!(EditableHeader::try_from(header).is_err(), "{text}");
        }
        let err = "transfer-encoding"
            .parse::<EditableHeader>()
            .expect_err("refused");
        assert!(err.contains("break the framing"), "{err}");
        let err = "host".parse::<EditableHeader>().expect_err("refused");
        assert!(err.contains("X-Forwarded-Host"), "{err}");
    }

    #[test]
    fn errors_quote_the_text_and_say_what_to_write() {
        for (text, needle) in [
            ("X Env", "\"X Env\" is not a header name"),
            ("", "the header name is empty"),
        ] {
            let err = text.parse::<EditableHeader>().expect_err(text);
            assert!(err.contains(needle), "{text}: {err}");
        }
        for (text, needle) in [
            (
                "X-Env prod",
                "a header rule needs a colon between the name and the value; write Name: value",
            ),
            (": prod", "the header name is empty; write Name: value"),
            ("X Env: prod", "\"X Env\" is not a header name"),
            (
                "X-Env: ${nope}",
                "the header rule for \"X-Env\": the value: unknown placeholder ${nope}",
            ),
            (
                "X-Forwarded-For: 10.0.0.1",
                "the ingress sets it itself, after every policy",
            ),
        ] {
            let err = text.parse::<HeaderRule>().expect_err(text);
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn secret_values_never_show() {
        for text in [
            "Authorization: Bearer hunter2",
            "Cookie: session=hunter2",
            "X-Api-Key: hunter2",
            "X-Upstream-Token: hunter2",
        ] {
            let rule: HeaderRule = text.parse().expect(text);
            assert!(rule.is_secret(), "{text}");
            assert!(!rule.masked().contains("hunter2"), "{}", rule.masked());
            assert!(!format!("{rule:?}").contains("hunter2"), "{rule:?}");
            assert!(
                rule.to_string().contains("hunter2"),
                "Display is the wire form"
            );
        }
        let plain: HeaderRule = "X-Env: prod".parse().expect("rule");
        assert_eq!(plain.masked(), "x-env: prod");
        // Errors never quote a value: no colon, and a bad name before it.
        for bad in ["Authorization Bearer hunter2", "Bad Name: hunter2"] {
            let err = bad.parse::<HeaderRule>().expect_err(bad);
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}

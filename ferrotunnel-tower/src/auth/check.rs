//! The configured credentials of an [`AuthLayer`](super::AuthLayer), and the check of a
//! request against them.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};
use subtle::Choice;

use super::secret::SecretSet;
use crate::body::{ResponseBody, refusal};

/// The realm of the challenges unless another is set.
const DEFAULT_REALM: &str = "ferrotunnel";

/// Every credential a tunnel accepts, with the refusals and challenges made from them.
#[derive(Clone)]
pub(super) struct Credentials {
    /// The users of `basic`, in order, for `Debug`.
    users: Vec<String>,
    /// `base64("user:password")` without its `=` padding: compared as sent, never decoded.
    basic: SecretSet,
    bearer: SecretSet,
    /// One set per header name, in the order first configured.
    api_keys: Vec<(HeaderName, SecretSet)>,
    realm: String,
    // Made again after each change, so that a request costs no formatting.
    challenges: Vec<HeaderValue>,
    what_to_send: String,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// It carried none of the kinds of credential the tunnel accepts.
    NoneSent,
    /// It carried some, and none matched.
    NotAccepted,
    /// The tunnel accepts no credential at all.
    NoneConfigured,
}

impl Default for Credentials {
    fn default() -> Self {
        let mut credentials = Self {
            users: Vec::new(),
            basic: SecretSet::default(),
            bearer: SecretSet::default(),
            api_keys: Vec::new(),
            realm: DEFAULT_REALM.to_owned(),
            challenges: Vec::new(),
            what_to_send: String::new(),
        };
        credentials.refresh();
        credentials
    }
}

impl Credentials {
    pub(super) fn add_basic(&mut self, user: String, password: &str) {
        let token = STANDARD.encode(format!("{user}:{password}"));
        self.basic.push(without_padding(token.as_bytes()));
        self.users.push(user);
        self.refresh();
    }

    pub(super) fn add_bearer(&mut self, token: &[u8]) {
        self.bearer.push(token);
        self.refresh();
    }

    pub(super) fn add_api_key(&mut self, header: HeaderName, key: &[u8]) {
        match self.api_keys.iter_mut().find(|(name, _)| *name == header) {
            Some((_, keys)) => keys.push(key),
            None => {
                let mut keys = SecretSet::default();
                keys.push(key);
                self.api_keys.push((header, keys));
            }
        }
        self.refresh();
    }

    pub(super) fn set_realm(&mut self, realm: &str) {
        self.realm = realm.chars().filter(|c| !c.is_control()).collect();
        self.refresh();
    }

    fn is_empty(&self) -> bool {
        self.basic.is_empty() && self.bearer.is_empty() && self.api_keys.is_empty()
    }

    fn refresh(&mut self) {
        let realm = quoted(&self.realm);
        let mut challenges = Vec::new();
        let mut ways = Vec::new();
        if !self.basic.is_empty() {
            challenges.push(challenge(
                "Basic",
                format!("realm={realm}, charset=\"UTF-8\""),
            ));
            ways.push("a user name and password (HTTP Basic authentication)".to_owned());
        }
        if !self.bearer.is_empty() {
            challenges.push(challenge("Bearer", format!("realm={realm}")));
            ways.push("a token in an \"Authorization: Bearer <token>\" header".to_owned());
        }
        if !self.api_keys.is_empty() {
            let headers: Vec<&str> = self
                .api_keys
                .iter()
                .map(|(name, _)| name.as_str())
                .collect();
            ways.push(format!("a key in the {} header", one_of(&headers)));
        }
        self.challenges = challenges;
        self.what_to_send = one_of(&ways);
    }

    /// Checks the credentials in `headers` against every configured one. On success, removes
    /// the header that matched (`Authorization`, or the API-key header): it was meant for the
    /// tunnel, not for the local service. Other headers, even other credentials, stay.
    pub(super) fn check(&self, headers: &mut HeaderMap) -> Result<(), Refusal> {
        if self.is_empty() {
            return Err(Refusal::NoneConfigured);
        }
        let mut sent = false;
        let mut matched = Choice::from(0);

        let hit = match headers.get(header::AUTHORIZATION) {
            Some(value) => {
                let (scheme, token) = split_authorization(value.as_bytes());
                if scheme.eq_ignore_ascii_case(b"basic") && !self.basic.is_empty() {
                    sent = true;
                    self.basic.matches(without_padding(token))
                } else if scheme.eq_ignore_ascii_case(b"bearer") && !self.bearer.is_empty() {
                    sent = true;
                    self.bearer.matches(token)
                } else {
                    // Another scheme: not for us, maybe for the local service.
                    Choice::from(0)
                }
            }
            None => Choice::from(0),
        };
        // Branching here tells only what the response will tell anyway: whether it matched.
        if bool::from(hit) {
            headers.remove(header::AUTHORIZATION);
        }
        matched |= hit;

        for (name, keys) in &self.api_keys {
            let hit = match headers.get(name) {
                Some(value) => {
                    sent = true;
                    keys.matches(value.as_bytes())
                }
                None => Choice::from(0),
            };
            if bool::from(hit) {
                headers.remove(name);
            }
            matched |= hit;
        }

        if bool::from(matched) {
            Ok(())
        } else if sent {
            Err(Refusal::NotAccepted)
        } else {
            Err(Refusal::NoneSent)
        }
    }

    /// The response to a request refused for `why`: 401 with the challenges, or 403 when no
    /// credential could ever pass.
    pub(super) fn refusal<B>(&self, why: Refusal) -> Response<ResponseBody<B>> {
        let what = &self.what_to_send;
        let mut response = match why {
            Refusal::NoneSent => refusal(
                "auth",
                StatusCode::UNAUTHORIZED,
                format_args!("this tunnel needs credentials; send {what}"),
            ),
            Refusal::NotAccepted => refusal(
                "auth",
                StatusCode::UNAUTHORIZED,
                format_args!("this tunnel did not accept the credentials sent; send {what}"),
            ),
            Refusal::NoneConfigured => refusal(
                "auth",
                StatusCode::FORBIDDEN,
                "this tunnel has no credentials configured, so it lets nobody in; its owner has \
                 to add some",
            ),
        };
        for challenge in &self.challenges {
            response
                .headers_mut()
                .append(header::WWW_AUTHENTICATE, challenge.clone());
        }
        response
    }
}

impl fmt::Debug for Credentials {
    /// User names, header names and counts: never a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct ApiKeys<'a>(&'a [(HeaderName, SecretSet)]);
        impl fmt::Debug for ApiKeys<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(
                        self.0
                            .iter()
                            .map(|(name, keys)| (name.as_str(), keys.len())),
                    )
                    .finish()
            }
        }
        f.debug_struct("Credentials")
            .field("users", &self.users)
            .field("bearer_tokens", &self.bearer.len())
            .field("api_keys", &ApiKeys(&self.api_keys))
            .field("realm", &self.realm)
            .finish()
    }
}

/// `(scheme, credentials)` of an `Authorization` value: `Basic  dXNlcjpwdw== ` gives
/// `(b"Basic", b"dXNlcjpwdw==")`. Anything malformed just fails to match later.
fn split_authorization(value: &[u8]) -> (&[u8], &[u8]) {
    let space = value.iter().position(|&b| b == b' ').unwrap_or(value.len());
    let (scheme, rest) = value.split_at(space);
    (scheme, rest.trim_ascii())
}

/// Base64 without its `=` padding, so that a client that leaves it off still matches.
fn without_padding(token: &[u8]) -> &[u8] {
    let end = token
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(0, |at| at + 1);
    &token[..end]
}

/// `realm` as an HTTP quoted-string.
fn quoted(realm: &str) -> String {
    let mut text = String::with_capacity(realm.len() + 2);
    text.push('"');
    for c in realm.chars() {
        if c == '"' || c == '\\' {
            text.push('\\');
        }
        text.push(c);
    }
    text.push('"');
    text
}

fn challenge(scheme: &'static str, params: String) -> HeaderValue {
    // The realm has no control characters, so this cannot fail; if it somehow did, the
    // scheme alone is still a valid challenge.
    HeaderValue::try_from(format!("{scheme} {params}"))
        .unwrap_or_else(|_| HeaderValue::from_static(scheme))
}

/// `a`, `a or b`, `a, b or c`.
fn one_of<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(AsRef::as_ref).collect();
            format!("{} or {}", init.join(", "), last.as_ref())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_values_split_into_scheme_and_credentials() {
        assert_eq!(
            split_authorization(b"Basic abc="),
            (&b"Basic"[..], &b"abc="[..])
        );
        assert_eq!(
            split_authorization(b"bearer   t0k \t"),
            (&b"bearer"[..], &b"t0k"[..])
        );
        assert_eq!(split_authorization(b"Basic"), (&b"Basic"[..], &b""[..]));
        assert_eq!(split_authorization(b""), (&b""[..], &b""[..]));
    }

    #[test]
    fn padding_is_ignored() {
        assert_eq!(without_padding(b"YQ=="), b"YQ");
        assert_eq!(without_padding(b"YWI="), b"YWI");
        assert_eq!(without_padding(b"YWJj"), b"YWJj");
        assert_eq!(without_padding(b"=="), b"");
    }

    #[test]
    fn realms_are_quoted_strings() {
        assert_eq!(quoted(r#"my "tunnel" \ 1"#), r#""my \"tunnel\" \\ 1""#);
    }

    #[test]
    fn lists_read_as_a_sentence() {
        assert_eq!(one_of(&["a"]), "a");
        assert_eq!(one_of(&["a", "b"]), "a or b");
        assert_eq!(one_of(&["a", "b", "c"]), "a, b or c");
    }
}

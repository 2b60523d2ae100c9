//! Credentials as written on the command line or in a config file.
//!
//! `Display` writes each back in the form `FromStr` reads, secret included, because that text
//! is what a client sends to a server to set up a tunnel's auth: never log it. `Debug` masks
//! every secret. Parse errors do not quote the value either, since it may hold a secret.

use std::{fmt, str::FromStr};

use http::HeaderName;

const MASK: &str = "***";

/// A user name and password for HTTP Basic authentication, written `USER:PASS`
/// (`alice:s3cret`). The user name is not empty and has no `:`; the password is not empty and
/// may hold `:` (everything after the first `:` is the password).
///
/// ```
/// use ferrotunnel_tower::auth::BasicCredential;
///
/// let credential: BasicCredential = "alice:s3:cret".parse()?;
/// assert_eq!((credential.user(), credential.password()), ("alice", "s3:cret"));
/// assert_eq!(credential.to_string(), "alice:s3:cret");
/// assert!(!format!("{credential:?}").contains("s3:cret"));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredential {
    user: String,
    password: String,
}

impl BasicCredential {
    /// A credential for `user` with `password`; refused if either is empty or the user name
    /// holds a `:`.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Result<Self, String> {
        let (user, password) = (user.into(), password.into());
        if user.is_empty() {
            return Err(
                "the user name before ':' is empty: expected USER:PASS, like \
                        alice:s3cret"
                    .into(),
            );
        }
        if user.contains(':') {
            return Err(format!(
                "the user name {user:?} holds a ':', which Basic authentication cannot carry: \
                 expected USER:PASS, like alice:s3cret"
            ));
        }
        if password.is_empty() {
            return Err(format!(
                "the password of {user:?} is empty: expected USER:PASS, like alice:s3cret"
            ));
        }
        Ok(Self { user, password })
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl FromStr for BasicCredential {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once(':') {
            Some((user, password)) => Self::new(user, password),
            None => Err("there is no ':' between user name and password: expected \
                         USER:PASS, like alice:s3cret"
                .into()),
        }
    }
}

impl fmt::Display for BasicCredential {
    /// `USER:PASS`, password included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.user, self.password)
    }
}

impl fmt::Debug for BasicCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredential")
            .field("user", &self.user)
            .field("password", &MASK)
            .finish()
    }
}

/// A token for `Authorization: Bearer <token>`: not empty, visible ASCII only (no spaces or
/// control characters). Whitespace around it is dropped when it is parsed.
///
/// ```
/// use ferrotunnel_tower::auth::BearerToken;
///
/// let token: BearerToken = "3f9c2d7e".parse()?;
/// assert_eq!(token.to_string(), "3f9c2d7e");
/// assert_eq!(format!("{token:?}"), r#"BearerToken("***")"#);
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BearerToken {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let token = text.trim();
        check_secret(
            "a bearer token",
            token,
            "write the token itself, like 3f9c2d7e",
        )?;
        Ok(Self(token.to_owned()))
    }
}

impl fmt::Display for BearerToken {
    /// The token itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BearerToken").field(&MASK).finish()
    }
}

/// An API key and the header it is sent in, written `HEADER=KEY` (`x-api-key=3f9c2d7e`).
/// The header name comes first and is required: keys often end in `=` (base64), so a bare key
/// could not be told from a header name. The key is visible ASCII, not empty, and may hold `=`.
/// Header names are case-insensitive and written back in lower case.
///
/// ```
/// use ferrotunnel_tower::auth::ApiKey;
///
/// let key: ApiKey = "X-Api-Key=c2VjcmV0==".parse()?;
/// assert_eq!((key.header().as_str(), key.key()), ("x-api-key", "c2VjcmV0=="));
/// assert_eq!(key.to_string(), "x-api-key=c2VjcmV0==");
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    header: HeaderName,
    key: String,
}

impl ApiKey {
    /// The header the key is sent in.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl FromStr for ApiKey {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        const EXPECTED: &str = "expected HEADER=KEY, like x-api-key=3f9c2d7e";
        let Some((header, key)) = text.trim().split_once('=') else {
            return Err(format!(
                "there is no '=' between header name and key: {EXPECTED}"
            ));
        };
        let header = header.trim();
        let header = HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| format!("{header:?} is not a header name: {EXPECTED}"))?;
        let key = key.trim();
        check_secret(&format!("the key for {header}"), key, EXPECTED)?;
        Ok(Self {
            header,
            key: key.to_owned(),
        })
    }
}

impl fmt::Display for ApiKey {
    /// `HEADER=KEY`, key included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.header, self.key)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("header", &self.header.as_str())
            .field("key", &MASK)
            .finish()
    }
}

/// A secret sent as a header value: not empty, visible ASCII only. The error names the
/// position of a bad character, never the character (it is part of a secret).
fn check_secret(what: &str, secret: &str, hint: &str) -> Result<(), String> {
    if secret.is_empty() {
        return Err(format!("{what} is empty: {hint}"));
    }
    if let Some(at) = secret.chars().position(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "{what} may hold only visible ASCII characters (no spaces), and character {} is \
             not one: {hint}",
            at + 1
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_read_user_and_password() {
        let credential: BasicCredential = "alice:s3cret".parse().expect("credential");
        assert_eq!(
            (credential.user(), credential.password()),
            ("alice", "s3cret")
        );
        let colons: BasicCredential = "bob:a:b:c".parse().expect("credential");
        assert_eq!((colons.user(), colons.password()), ("bob", "a:b:c"));
        let spaces: BasicCredential = "carol: pass word ".parse().expect("credential");
        assert_eq!(
            spaces.password(),
            " pass word ",
            "passwords are taken as written"
        );
    }

    #[test]
    fn basic_credentials_round_trip() {
        for text in ["alice:s3cret", "bob:a:b:c", "ünï:cødé", "carol: x "] {
            let credential: BasicCredential = text.parse().expect(text);
            assert_eq!(credential.to_string(), text);
            assert_eq!(credential.to_string().parse(), Ok(credential));
        }
    }

    #[test]
    fn basic_credential_errors_say_what_to_write_and_keep_the_secret() {
        for (text, needle) in [
            ("alicehunter2", "there is no ':'"),
            ("", "there is no ':'"),
            (":hunter2", "the user name before ':' is empty"),
            ("alice:", "the password of \"alice\" is empty"),
        ] {
            let err = text.parse::<BasicCredential>().expect_err(text);
            assert!(err.contains(needle), "{text}: {err}");
            assert!(err.contains("expected USER:PASS"), "{text}: {err}");
            assert!(!err.contains("hunter2"), "{text}: {err}");
        }
        let err = BasicCredential::new("a:b", "pw").expect_err("colon in user");
        assert!(err.contains("holds a ':'"), "{err}");
    }

    #[test]
    fn bearer_tokens_are_visible_ascii() {
        let token: BearerToken = " abc.DEF-123_~+/= \n".parse().expect("token");
        assert_eq!(token.as_str(), "abc.DEF-123_~+/=");
        assert_eq!(token.to_string().parse(), Ok(token));
        for (text, needle) in [
            ("", "is empty"),
            ("   ", "is empty"),
            ("abc def", "character 4 is not one"),
            ("tökén", "character 2 is not one"),
            ("a\tb", "character 2"),
        ] {
            let err = text.parse::<BearerToken>().expect_err(text);
            assert!(err.starts_with("a bearer token"), "{text}: {err}");
            assert!(err.contains(needle), "{text}: {err}");
            assert!(err.contains("like 3f9c2d7e"), "{text}: {err}");
        }
    }

    #[test]
    fn api_keys_name_their_header() {
        let key: ApiKey = "X-Api-Key=c2VjcmV0==".parse().expect("key");
        assert_eq!(key.header(), "x-api-key");
        assert_eq!(key.key(), "c2VjcmV0==");
        assert_eq!(key.to_string(), "x-api-key=c2VjcmV0==");
        assert_eq!(key.to_string().parse(), Ok(key));
        let spaced: ApiKey = " x-token = k ".parse().expect("key");
        assert_eq!(spaced.to_string(), "x-token=k");
    }

    #[test]
    fn api_key_errors_say_what_to_write() {
        for (text, needle) in [
            ("c2VjcmV0", "there is no '='"),
            ("=s3cret", "\"\" is not a header name"),
            ("x api key=s3cret", "\"x api key\" is not a header name"),
            ("x-api-key=", "the key for x-api-key is empty"),
            ("x-api-key=s3 cret", "character 3 is not one"),
        ] {
            let err = text.parse::<ApiKey>().expect_err(text);
            assert!(err.contains(needle), "{text}: {err}");
            assert!(err.contains("HEADER=KEY, like x-api-key="), "{text}: {err}");
            assert!(!err.contains("s3cret") && !err.contains("s3 cret"), "{err}");
        }
    }

    #[test]
    fn debug_masks_every_secret() {
        let basic: BasicCredential = "alice:s3cret".parse().expect("credential");
        assert_eq!(
            format!("{basic:?}"),
            r#"BasicCredential { user: "alice", password: "***" }"#
        );
        let token: BearerToken = "t0ken".parse().expect("token");
        assert_eq!(format!("{token:?}"), r#"BearerToken("***")"#);
        let key: ApiKey = "x-api-key=k3y".parse().expect("key");
        assert_eq!(
            format!("{key:?}"),
            r#"ApiKey { header: "x-api-key", key: "***" }"#
        );
    }
}

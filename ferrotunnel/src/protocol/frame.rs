//! The messages of the protocol.

use std::{fmt, net::IpAddr};

use serde::{Deserialize, Serialize};

/// A frame on the control stream (the first yamux stream of a session, opened by the client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// Client → server, first frame of a session. Must stay variant 0 with `version` first, so
    /// that any future version can be recognised and refused cleanly.
    Hello(Hello),
    /// Server → client: the session is accepted and these tunnels are live.
    Welcome(Welcome),
    /// Server → client: the session (or one request) is refused; the server closes after it.
    Refused(Refusal),
    /// Either side: are you alive? Answered with a `Pong` carrying the same nonce.
    Ping {
        /// Echoed in the `Pong`.
        nonce: u64,
    },
    /// Either side: the answer to a `Ping`.
    Pong {
        /// The nonce of the `Ping` this answers.
        nonce: u64,
    },
    /// Client → server: register one more tunnel on this session.
    AddTunnel(TunnelRequest),
    /// Server → client: the tunnel asked for with `AddTunnel` is live.
    TunnelAdded(TunnelInfo),
    /// Server → client: the tunnel asked for with `AddTunnel` was refused.
    TunnelRefused {
        /// The name that was asked for.
        name: String,
        /// Why it was refused.
        refusal: Refusal,
    },
    /// Client → server: stop routing this tunnel to me.
    RemoveTunnel {
        /// The tunnel's name.
        name: String,
    },
    /// Either side: I am leaving on purpose. The receiver frees the sender's tunnels at once.
    Goodbye {
        /// A human-readable reason, for logs.
        reason: String,
    },
}

impl Frame {
    /// The frame's name, for logs and errors (never its contents, which may hold a token).
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello(_) => "Hello",
            Frame::Welcome(_) => "Welcome",
            Frame::Refused(_) => "Refused",
            Frame::Ping { .. } => "Ping",
            Frame::Pong { .. } => "Pong",
            Frame::AddTunnel(_) => "AddTunnel",
            Frame::TunnelAdded(_) => "TunnelAdded",
            Frame::TunnelRefused { .. } => "TunnelRefused",
            Frame::RemoveTunnel { .. } => "RemoveTunnel",
            Frame::Goodbye { .. } => "Goodbye",
        }
    }
}

/// The client's opening frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The sender's [`PROTOCOL_VERSION`](super::PROTOCOL_VERSION).
    pub version: u16,
    /// The shared secret the server checks.
    pub token: Secret,
    /// A random identity that stays the same across the client's reconnects, so that a
    /// reconnecting client gets its tunnel names back even before its old session times out.
    pub client_id: ClientId,
    /// The tunnels to register.
    pub tunnels: Vec<TunnelRequest>,
}

/// A tunnel a client asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelRequest {
    /// The wanted name (`app` → `app.<domain>`); `None` lets the server pick one.
    pub name: Option<String>,
    /// What the tunnel carries.
    pub protocol: TunnelProtocol,
    /// The policies the client asks the server to enforce for this tunnel, in the order they
    /// run. The server builds them into the tunnel's own stack when it registers the tunnel,
    /// after its own server-wide policy; a rule the server cannot build refuses the tunnel.
    pub policy: Vec<PolicyRule>,
}

/// One policy a client asks for, as data: the name and value of the command-line flag that
/// turns it on (`rate-limit` = `100/min`, `basic-auth` = `user:pass`, `compress` = ``).
///
/// The protocol does not know what the rules mean; the server's
/// [`TunnelPolicy`](crate::server::TunnelPolicy) does. A value may hold a secret (a password,
/// a token), so `Debug` shows the name only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRule {
    /// The policy's name, as its flag is called (`rate-limit`).
    pub name: String,
    /// The flag's value, as the user would write it (`100/min`); empty for a switch.
    pub value: String,
}

impl PolicyRule {
    /// A rule named `name` with the flag value `value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl fmt::Debug for PolicyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyRule")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a tunnel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TunnelProtocol {
    /// HTTP/1.1 (with upgrades) spoken on each data stream.
    Http,
}

/// The server's answer to a good `Hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The server's identifier for this session, for logs on both sides.
    pub session_id: u64,
    /// How often each side sends a `Ping`; three silent intervals end the session.
    pub heartbeat_interval_ms: u64,
    /// The tunnels now live, in the order asked for.
    pub tunnels: Vec<TunnelInfo>,
}

/// A live tunnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelInfo {
    /// The tunnel's name.
    pub name: String,
    /// Where visitors reach it, e.g. `http://app.localhost:8080`.
    pub public_url: String,
}

/// A refusal: a machine-readable code and a message for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// What kind of refusal this is.
    pub code: RefusalCode,
    /// What happened and what to do, for the user.
    pub message: String,
}

impl Refusal {
    /// A refusal with this code and message.
    pub fn new(code: RefusalCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.message, self.code)
    }
}

/// Why the server refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RefusalCode {
    /// The token is not one the server accepts.
    BadToken,
    /// The client speaks another protocol version.
    UnsupportedVersion,
    /// The tunnel name is held by another live client.
    NameTaken,
    /// The tunnel name is not a valid DNS label.
    InvalidName,
    /// The client asked for more tunnels than the server allows per client.
    TooManyTunnels,
    /// The server has as many clients as it allows.
    TooManyClients,
    /// The client's frame could not be understood.
    Malformed,
    /// The server is shutting down.
    ShuttingDown,
    /// The client asked for a tunnel policy the server cannot or will not enforce (an invalid
    /// value, an unknown policy, or one the server does not let clients set).
    InvalidPolicy,
}

impl RefusalCode {
    /// Whether retrying with the same settings can never succeed, so a client should give up.
    pub fn is_permanent(self) -> bool {
        matches!(
            self,
            Self::BadToken
                | Self::UnsupportedVersion
                | Self::NameTaken
                | Self::InvalidName
                | Self::TooManyTunnels
                | Self::Malformed
                | Self::InvalidPolicy
        )
    }
}

/// The first bytes of every data stream, written by the server, which opens data streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamHeader {
    /// The tunnel this stream belongs to.
    pub tunnel: String,
    /// The IP address of the visitor whose traffic this stream carries. The server never shares
    /// a pooled stream between visitor addresses, so this holds for the stream's whole life.
    pub visitor: Option<IpAddr>,
    /// What the stream carries after the header.
    pub protocol: TunnelProtocol,
}

/// The client's answer to a [`StreamHeader`], before any payload bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamReply {
    /// The local service is connected; payload bytes follow.
    Accepted,
    /// The stream could not be served; the client closes it after this.
    Refused {
        /// Why.
        code: StreamRefusalCode,
        /// What happened, naming the local address.
        message: String,
    },
}

/// Why a client could not serve a data stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StreamRefusalCode {
    /// The local service refused the connection (nothing listens there).
    LocalRefused,
    /// Connecting to the local service timed out.
    LocalTimeout,
    /// The client has no tunnel of that name (it was just removed).
    UnknownTunnel,
}

/// A random client identity; see [`Hello::client_id`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientId(pub [u8; 16]);

impl ClientId {
    /// A new random identity from the operating system's generator.
    pub fn random() -> Self {
        let mut bytes = [0; 16];
        // The OS generator only fails on exotic platforms; an all-zero id then still works, it
        // just cannot reclaim names before the old session times out.
        let _ = getrandom::fill(&mut bytes);
        Self(bytes)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The id proves ownership of names on reconnect: show only a prefix.
        write!(f, "ClientId({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// A secret string (a token) whose `Debug` output is masked, so it never reaches logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Call this only to compare or send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Checks that `name` can be a tunnel name: one DNS label of 1–63 lowercase letters, digits and
/// inner hyphens. Returns a message that says what is wrong.
pub fn validate_tunnel_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 63 {
        return Err(format!(
            "tunnel name {name:?} must be 1 to 63 characters long"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "tunnel name {name:?} may only hold lowercase letters, digits and '-'"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(format!(
            "tunnel name {name:?} must not start or end with '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_names_are_dns_labels() {
        assert!(validate_tunnel_name("app").is_ok());
        assert!(validate_tunnel_name("my-app-2").is_ok());
        for bad in ["", "-app", "app-", "App", "a.b", "a_b", &"x".repeat(64)] {
            assert!(
                validate_tunnel_name(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn secrets_are_masked_in_debug_output() {
        let hello = Hello {
            version: 1,
            token: Secret::new("hunter2"),
            client_id: ClientId::random(),
            tunnels: vec![TunnelRequest {
                name: Some("app".into()),
                protocol: TunnelProtocol::Http,
                policy: vec![PolicyRule::new("basic-auth", "alice:swordfish")],
            }],
        };
        let debug = format!("{hello:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("swordfish"), "{debug}");
        assert!(debug.contains("basic-auth"), "{debug}");
    }
}

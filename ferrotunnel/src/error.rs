//! The crate's one error type.
//!
//! Every failure a user, a peer or the local service can cause is an [`Error`] variant whose
//! message says what happened and, where it helps, what to do. The mapping from errors to HTTP
//! status codes lives in one place: `server::rescue`.

use std::{io, time::Duration};

use crate::protocol::{ProtocolError, Refusal};

/// A type-erased error, as used at the `tower` boundary.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in FerroTunnel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket operation failed.
    #[error(transparent)]
    Io(#[from] io::Error),

    /// The peer sent bytes that are not valid FerroTunnel protocol.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),

    /// The multiplexed session failed (the connection broke or the peer sent bad yamux frames).
    #[error("session error: {0}")]
    Session(String),

    /// The session with the peer is closed; nothing more can be sent on it.
    #[error("the tunnel session is closed")]
    SessionClosed,

    /// A bounded wait ran out.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was being waited for.
        what: &'static str,
        /// How long was waited.
        after: Duration,
    },

    /// The server refused the client (bad token, name taken, unsupported version, …).
    #[error("the server refused the client: {0}")]
    Refused(Refusal),

    /// TLS failed: a certificate or key could not be loaded, or a handshake failed. The
    /// message names the file or peer and says what to do.
    #[error("{0}")]
    Tls(String),

    /// The WebSocket handshake with the server failed (for example, an answer other than
    /// `101 Switching Protocols`); the message names the URL and the answer.
    #[error("{0}")]
    WebSocket(String),

    /// A setting is invalid; the message names it.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The visitor asked for a host, or a tunnel path, that no tunnel serves.
    #[error("{}", match .name {
        Some(name) => format!("no tunnel named {name:?} is registered on this server"),
        None => format!("no tunnel is registered for host {host:?}"),
    })]
    UnknownTunnel {
        /// The `Host` the visitor asked for.
        host: String,
        /// The tunnel name the request's path asked for (`/t/<name>/…`), when it was routed by
        /// path rather than by host.
        name: Option<String>,
    },

    /// The tunnel exists but its client is not connected right now.
    #[error("tunnel {name:?} is offline: its client is not connected")]
    TunnelOffline {
        /// The tunnel's name.
        name: String,
    },

    /// The client could not reach its local service.
    #[error("{0}")]
    Local(LocalFailure),

    /// The local service did not send a response head in time.
    #[error("the local service did not answer within {0:?}")]
    ResponseTimeout(Duration),

    /// A request to the client-connect endpoint was not a WebSocket upgrade.
    #[error("{0}")]
    BadConnectRequest(String),

    /// The local service closed or reset the connection before its response was complete.
    #[error("the local service closed the connection before it finished its response")]
    LocalReset(#[source] BoxError),

    /// The local service answered with something that is not a valid HTTP/1.1 response (a
    /// malformed head, a bad `Content-Length`, broken chunked coding, a head too large).
    #[error("the local service sent an invalid HTTP/1.1 response: {0}")]
    LocalInvalid(String),

    /// A start hook of the server (a plugin's) failed, so the server did not start.
    #[error("the server could not start: {0}")]
    StartHook(#[source] BoxError),
}

/// Why the client could not hand a stream to its local service, as reported by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFailure {
    /// The kind of failure.
    pub kind: crate::protocol::StreamRefusalCode,
    /// The client's description, naming the local address.
    pub message: String,
}

impl std::fmt::Display for LocalFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error {
    /// `err`, with tower's timeout error (`Elapsed`) told as [`Error::ResponseTimeout`] of
    /// `timeout`, and any other error as it is: for a timeout layer in front of the tunnel, so
    /// that the visitor gets the same 504 as for the server's own response timeout.
    pub fn from_elapsed(err: BoxError, timeout: Duration) -> BoxError {
        if err.is::<tower::timeout::error::Elapsed>() {
            Error::ResponseTimeout(timeout).into()
        } else {
            err
        }
    }
}

impl From<yamux::ConnectionError> for Error {
    fn from(err: yamux::ConnectionError) -> Self {
        match err {
            yamux::ConnectionError::Closed => Error::SessionClosed,
            other => Error::Session(other.to_string()),
        }
    }
}

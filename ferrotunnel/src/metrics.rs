//! The metrics the tunnel's sessions record, through the [`metrics`] facade: what a server or
//! client does with its clients, sessions and streams. The requests themselves are counted by
//! the metrics layer of `ferrotunnel-tower`, in the ingress stack.
//!
//! Recording costs next to nothing until a program installs a recorder (the `ferrotunnel`
//! binary installs a Prometheus one for `--metrics` and the dashboard); [`describe`] gives the
//! recorder each metric's unit and help text. Label values are bounded: reasons and states
//! from fixed lists, tunnel names from the registry, never addresses or paths.
//!
//! ```
//! // A program that exports metrics describes them once, after installing its recorder.
//! ferrotunnel::metrics::describe();
//! ```

use metrics::{Gauge, Unit, counter, describe_counter, describe_gauge, gauge};
use tokio::sync::watch;

use crate::{ClientState, protocol::RefusalCode};

/// Server: client sessions past their handshake, now.
pub const SESSIONS_ACTIVE: &str = "ferrotunnel_sessions_active";
/// Server: tunnels with a live client, now.
pub const TUNNELS_ACTIVE: &str = "ferrotunnel_tunnels_active";
/// Both ends: yamux streams open, now (control streams included).
pub const STREAMS_ACTIVE: &str = "ferrotunnel_streams_active";
/// Server: client handshakes that failed, by `reason`.
pub const HANDSHAKE_FAILURES: &str = "ferrotunnel_handshake_failures_total";
/// Both ends: sessions ended because the peer stopped answering heartbeats.
pub const HEARTBEAT_TIMEOUTS: &str = "ferrotunnel_heartbeat_timeouts_total";
/// Client: 1 for the `state` the client is in (`connecting`, `connected`, `reconnecting`,
/// `refused`, `stopped`), 0 for the others.
pub const CLIENT_SESSION_STATE: &str = "ferrotunnel_client_session_state";
/// Client: sessions lost and dialled again.
pub const CLIENT_RECONNECTS: &str = "ferrotunnel_client_reconnects_total";
/// Client: connections to a local service that failed, by `tunnel`.
pub const CLIENT_LOCAL_CONNECT_FAILURES: &str = "ferrotunnel_client_local_connect_failures_total";
/// Client: streams forwarded to a local service, by `tunnel`.
pub const CLIENT_STREAMS: &str = "ferrotunnel_client_streams_total";
/// Client: bytes forwarded, by `tunnel` and `direction` (`request`: to the local service;
/// `response`: from it).
pub const CLIENT_BYTES: &str = "ferrotunnel_client_bytes_total";

/// The client states [`CLIENT_SESSION_STATE`] has a series for.
pub const CLIENT_STATES: [&str; 5] = [
    "connecting",
    "connected",
    "reconnecting",
    "refused",
    "stopped",
];

/// Describes every metric of this crate to the installed recorder (units and help texts).
pub fn describe() {
    describe_gauge!(SESSIONS_ACTIVE, "Client sessions past their handshake.");
    describe_gauge!(TUNNELS_ACTIVE, "Tunnels with a live client.");
    describe_gauge!(
        STREAMS_ACTIVE,
        "Yamux streams open (control streams included)."
    );
    describe_counter!(
        HANDSHAKE_FAILURES,
        "Client handshakes that failed, by reason."
    );
    describe_counter!(
        HEARTBEAT_TIMEOUTS,
        "Sessions ended because the peer stopped answering heartbeats."
    );
    describe_gauge!(
        CLIENT_SESSION_STATE,
        "1 for the state the client is in, 0 for the others."
    );
    describe_counter!(CLIENT_RECONNECTS, "Sessions lost and dialled again.");
    describe_counter!(
        CLIENT_LOCAL_CONNECT_FAILURES,
        "Connections to a local service that failed, by tunnel."
    );
    describe_counter!(
        CLIENT_STREAMS,
        "Streams forwarded to a local service, by tunnel."
    );
    describe_counter!(
        CLIENT_BYTES,
        Unit::Bytes,
        "Bytes forwarded, by tunnel and direction (request: to the local service)."
    );
}

/// A gauge raised while this lives.
#[derive(Debug)]
pub(crate) struct Active(Gauge);

impl Active {
    pub(crate) fn new(name: &'static str) -> Self {
        let gauge = gauge!(name);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Why a client's handshake failed, as [`HANDSHAKE_FAILURES`] labels it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum HandshakeFailure {
    /// The client did not finish in time.
    Timeout,
    /// The connection broke or sent something that is not a handshake at all.
    Broken,
    /// The server refused it, saying why.
    Refused(RefusalCode),
}

impl HandshakeFailure {
    fn reason(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Broken => "broken",
            Self::Refused(code) => match code {
                RefusalCode::BadToken => "bad_token",
                RefusalCode::UnsupportedVersion => "unsupported_version",
                RefusalCode::NameTaken => "name_taken",
                RefusalCode::InvalidName => "invalid_name",
                RefusalCode::TooManyTunnels => "too_many_tunnels",
                RefusalCode::TooManyClients => "too_many_clients",
                RefusalCode::Malformed => "malformed",
                RefusalCode::ShuttingDown => "shutting_down",
                RefusalCode::InvalidPolicy => "invalid_policy",
            },
        }
    }
}

pub(crate) fn handshake_failed(failure: HandshakeFailure) {
    counter!(HANDSHAKE_FAILURES, "reason" => failure.reason()).increment(1);
}

pub(crate) fn heartbeat_timed_out() {
    counter!(HEARTBEAT_TIMEOUTS).increment(1);
}

/// Keeps [`CLIENT_SESSION_STATE`] in step with a client's state until the client is dropped.
pub(crate) async fn follow_client_state(mut state: watch::Receiver<ClientState>) {
    loop {
        let current = match *state.borrow_and_update() {
            ClientState::Connecting => "connecting",
            ClientState::Connected { .. } => "connected",
            ClientState::Reconnecting { .. } => "reconnecting",
            ClientState::Refused(_) => "refused",
            ClientState::Stopped => "stopped",
        };
        for name in CLIENT_STATES {
            let value = if name == current { 1.0 } else { 0.0 };
            gauge!(CLIENT_SESSION_STATE, "state" => name).set(value);
        }
        if state.changed().await.is_err() {
            return;
        }
    }
}

pub(crate) fn client_reconnected() {
    counter!(CLIENT_RECONNECTS).increment(1);
}

pub(crate) fn local_connect_failed(tunnel: &str) {
    counter!(CLIENT_LOCAL_CONNECT_FAILURES, "tunnel" => tunnel.to_owned()).increment(1);
}

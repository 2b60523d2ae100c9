//! What the binary prints on stdout. Logs go to stderr; stdout carries only these lines, which
//! people read and tests and scripts parse, so **their format is a contract**.
//!
//! Each line is a label, padded with spaces to column 18 (so at least two spaces follow it),
//! then a value. To parse one, strip the label and trim what is left:
//! `line.strip_prefix("HTTP address").map(str::trim)`.
//!
//! `ferrotunnel server`, once both listeners are bound:
//!
//! ```text
//! Control address   127.0.0.1:7835
//! HTTP address      127.0.0.1:8080
//! HTTPS address     127.0.0.1:8443
//! Server Status     online
//! ```
//!
//! (the `HTTPS address` line only with `--https`), and before `Server Status`, when the server
//! enforces a policy on every tunnel, `Tunnel Policy     deny-ip 192.0.2.0/24, rate-limit 600/min`
//! (secrets masked: `basic-auth alice:***`),
//!
//! and `Server Status     stopped` after a graceful shutdown.
//!
//! `ferrotunnel client`, as soon as its tunnels are registered (one `Forwarding` line per
//! tunnel, in the order they were configured: `--local` first, then each `--tunnel`):
//!
//! ```text
//! Session Status    online
//! Server            tcp://127.0.0.1:7835
//! Forwarding        http://app.localhost:8080 -> http://127.0.0.1:3000
//! ```
//!
//! followed, when the client asks the server for a policy on every one of its tunnels, by a
//! `Tunnel Policy` line like the server's; then one `Session Status` line per change of state, as it happens:
//!
//! ```text
//! Session Status    reconnecting (attempt 1): the tunnel session is closed
//! Session Status    online
//! Session Status    refused
//! Session Status    stopped
//! ```
//!
//! After a reconnection, the `Forwarding` lines are printed again if the public URLs changed.
//! A refusal is explained on stderr.
//!
//! `ferrotunnel quickstart` prints the server lines, then
//! `Demo service      http://127.0.0.1:<port>`, then the client lines, then a blank line and
//! two sentences for people (where to point a browser, how to attach another client). On a
//! stop signal it prints `Session Status    stopped`, then `Server Status     stopped`.

use std::{fmt, io::Write, net::SocketAddr};

use ferrotunnel::{ClientState, protocol::TunnelInfo};
use ferrotunnel_tower::policy::Policy;

/// Wide enough for every label plus two spaces.
const LABEL_WIDTH: usize = 18;

/// One `Label  value` line.
pub(crate) fn line(label: &str, value: impl fmt::Display) -> String {
    format!("{label:<LABEL_WIDTH$}{value}")
}

/// Writes lines to stdout and flushes, so a reader on a pipe sees them at once. A closed
/// stdout (`ferrotunnel client | head -1`) must not stop the tunnel, so write errors are
/// ignored.
pub(crate) fn print(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

/// The server's lines once it listens; the HTTPS line only when it has an HTTPS ingress.
pub(crate) fn server_online(
    control: SocketAddr,
    http: SocketAddr,
    https: Option<SocketAddr>,
    policy: &[Policy],
) -> Vec<String> {
    let mut lines = vec![line("Control address", control), line("HTTP address", http)];
    lines.extend(https.map(|https| line("HTTPS address", https)));
    lines.extend(policy_line(policy));
    lines.push(line("Server Status", "online"));
    lines
}

/// `Tunnel Policy  rule, rule`, secrets masked; none without a policy.
pub(crate) fn policy_line(policy: &[Policy]) -> Option<String> {
    (!policy.is_empty()).then(|| {
        let rules: Vec<String> = policy.iter().map(Policy::to_string).collect();
        line("Tunnel Policy", rules.join(", "))
    })
}

/// The server's line after a graceful shutdown.
pub(crate) fn server_stopped() -> Vec<String> {
    vec![line("Server Status", "stopped")]
}

/// The client's banner once registered.
pub(crate) fn client_online(
    server_url: &str,
    tunnels: &[TunnelInfo],
    locals: &[String],
) -> Vec<String> {
    let mut lines = vec![line("Session Status", "online"), line("Server", server_url)];
    lines.extend(forwarding(tunnels, locals));
    lines
}

/// One `Forwarding` line per tunnel; `locals` is in the same order as `tunnels`.
pub(crate) fn forwarding(tunnels: &[TunnelInfo], locals: &[String]) -> Vec<String> {
    tunnels
        .iter()
        .zip(locals)
        .map(|(tunnel, local)| {
            line(
                "Forwarding",
                format!("{} -> http://{local}", tunnel.public_url),
            )
        })
        .collect()
}

/// The `Session Status` line for a state, if the state is one worth telling.
pub(crate) fn session_status(state: &ClientState) -> Option<String> {
    let status = match state {
        ClientState::Connecting => "connecting".to_owned(),
        ClientState::Connected { .. } => "online".to_owned(),
        ClientState::Reconnecting { attempt, error } => {
            format!("reconnecting (attempt {attempt}): {error}")
        }
        ClientState::Refused(_) => "refused".to_owned(),
        ClientState::Stopped => "stopped".to_owned(),
        _ => return None,
    };
    Some(line("Session Status", status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tunnel(name: &str, url: &str) -> TunnelInfo {
        TunnelInfo {
            name: name.into(),
            public_url: url.into(),
        }
    }

    #[test]
    fn lines_are_label_padding_value() {
        assert_eq!(line("HTTP address", "x"), "HTTP address      x");
        let addr: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        assert_eq!(
            server_online(addr, addr, None, &[]),
            [
                "Control address   127.0.0.1:8080",
                "HTTP address      127.0.0.1:8080",
                "Server Status     online",
            ]
        );
        assert_eq!(
            server_online(addr, addr, Some(addr), &[])[2],
            "HTTPS address     127.0.0.1:8080"
        );
        let policy = [
            Policy::parse("rate-limit", "600/min").expect("rule"),
            Policy::parse("basic-auth", "alice:swordfish").expect("rule"),
        ];
        assert_eq!(
            server_online(addr, addr, None, &policy)[2],
            "Tunnel Policy     rate-limit 600/min, basic-auth alice:***"
        );
    }

    #[test]
    fn the_client_banner_pairs_tunnels_with_local_services() {
        let lines = client_online(
            "tcp://127.0.0.1:7835",
            &[
                tunnel("app", "http://app.localhost:8080"),
                tunnel("api", "http://api.localhost:8080"),
            ],
            &["127.0.0.1:3000".into(), "localhost:4000".into()],
        );
        assert_eq!(
            lines,
            [
                "Session Status    online",
                "Server            tcp://127.0.0.1:7835",
                "Forwarding        http://app.localhost:8080 -> http://127.0.0.1:3000",
                "Forwarding        http://api.localhost:8080 -> http://localhost:4000",
            ]
        );
    }

    #[test]
    fn every_state_has_a_status_line() {
        let reconnecting = ClientState::Reconnecting {
            attempt: 2,
            error: "the tunnel session is closed".into(),
        };
        assert_eq!(
            session_status(&reconnecting).as_deref(),
            Some("Session Status    reconnecting (attempt 2): the tunnel session is closed")
        );
        assert_eq!(
            session_status(&ClientState::Stopped).as_deref(),
            Some("Session Status    stopped")
        );
        let online = ClientState::Connected {
            session_id: 1,
            tunnels: Vec::new(),
        };
        assert_eq!(
            session_status(&online).as_deref(),
            Some("Session Status    online")
        );
    }
}

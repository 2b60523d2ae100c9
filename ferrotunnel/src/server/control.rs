//! One client, from its first byte to its last: handshake, authentication, registration, then
//! the control loop (heartbeats, tunnel changes, goodbye).

use std::{sync::Arc, time::Duration};

use subtle::ConstantTimeEq;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::{ServerConfig, registry::Registry, sessions::Peer, tunnel::SessionLink};
use crate::{
    Error,
    control::ControlChannel,
    metrics::{self, Active, HandshakeFailure},
    protocol::{
        self, Frame, FrameCodec, Hello, ProtocolError, Refusal, RefusalCode, Secret, Welcome,
    },
    session::{self, Inbound, Mode, SessionConfig, SessionHandle},
    transport::BoxIo,
};

/// Inbound streams a client may queue; clients never open streams after the control stream.
const ACCEPT_BACKLOG: usize = 4;

/// Serves one client connection until it ends.
pub(super) async fn serve(
    io: BoxIo,
    peer: Peer,
    slot: Option<OwnedSemaphorePermit>,
    config: Arc<ServerConfig>,
    registry: Arc<Registry>,
    close: CancellationToken,
) {
    let session_config = SessionConfig {
        max_streams: config.max_streams_per_session,
        accept_backlog: ACCEPT_BACKLOG,
    };
    let (session, mut inbound) = session::spawn(io, Mode::Server, session_config);
    let codec = FrameCodec::new(config.max_frame_size);

    let handshake = tokio::time::timeout(
        config.handshake_timeout,
        handshake(&mut inbound, codec, &config),
    );
    let (mut control, hello) = match handshake.await {
        Err(_) => {
            tracing::info!(
                "client did not complete its handshake within {:?}",
                config.handshake_timeout
            );
            metrics::handshake_failed(HandshakeFailure::Timeout);
            return session.close();
        }
        Ok(Err(Handshake::Failed(err))) => {
            tracing::info!(error = %err, "client handshake failed");
            metrics::handshake_failed(HandshakeFailure::Broken);
            return session.close();
        }
        Ok(Err(Handshake::Refuse(control, refusal))) => {
            return refuse(*control, refusal, &session, &config).await;
        }
        Ok(Ok(accepted)) => accepted,
    };
    if slot.is_none() {
        let refusal = Refusal::new(
            RefusalCode::TooManyClients,
            format!(
                "the server already serves its maximum of {} clients; try again later",
                config.max_clients
            ),
        );
        return refuse(control, refusal, &session, &config).await;
    }

    let link = Arc::new(SessionLink::new(
        session.clone(),
        hello.client_id,
        peer,
        config.max_frame_size,
        config.response_timeout,
        config.max_streams_per_session,
    ));
    let tunnels = match registry.claim(&link, &hello.tunnels, config.max_tunnels_per_client) {
        Ok(tunnels) => tunnels,
        Err(refusal) => return refuse(control, refusal, &session, &config).await,
    };
    let welcome = Welcome {
        session_id: session.id(),
        heartbeat_interval_ms: u64::try_from(config.heartbeat_interval.as_millis())
            .unwrap_or(u64::MAX),
        tunnels: tunnels.clone(),
    };
    if let Err(err) = control.send(Frame::Welcome(welcome)).await {
        tracing::info!(error = %err, "client left during its handshake");
        registry.release_session(session.id(), true);
        return session.close();
    }
    for tunnel in &tunnels {
        tracing::info!(tunnel = %tunnel.name, url = %tunnel.public_url, "tunnel online");
    }
    let _active = Active::new(metrics::SESSIONS_ACTIVE);

    let ending = control_loop(
        &mut control,
        &mut inbound,
        &link,
        &registry,
        &config,
        &session,
        &close,
    )
    .await;
    let said_goodbye = !matches!(ending, Ending::Lost(_));
    let removed = registry.release_session(session.id(), said_goodbye);
    match &ending {
        Ending::Goodbye(reason) => tracing::info!(?removed, %reason, "client left"),
        Ending::ServerShutdown => tracing::info!(?removed, "closing session: server shutting down"),
        Ending::Lost(err) => tracing::info!(?removed, error = %err, "client lost; tunnels offline"),
    }
    // Requests in flight still hold their own references to the link; once they finish, the
    // stream pool goes and with it the pooled streams, which lets a leaving client finish.
    drop(link);
    if let Ending::Goodbye(_) = ending {
        // Closing our side of the control stream acknowledges the goodbye: the client knows no
        // new request will come and closes the session once its streams are done.
        let _ = control.close().await;
        let _ = tokio::time::timeout(config.grace_period, session.closed()).await;
    }
    session.close();
}

enum Handshake {
    /// Refuse with a message, on the control stream.
    Refuse(Box<ControlChannel>, Refusal),
    /// No control stream to answer on.
    Failed(Error),
}

async fn handshake(
    inbound: &mut Inbound,
    codec: FrameCodec,
    config: &ServerConfig,
) -> Result<(ControlChannel, Hello), Handshake> {
    let mut stream = inbound
        .accept()
        .await
        .ok_or(Handshake::Failed(Error::SessionClosed))?;
    let hello = protocol::read_hello(&mut stream, config.max_frame_size).await;
    let control = ControlChannel::new(stream, codec, config.heartbeat_interval);
    let hello = match hello {
        Ok(hello) => hello,
        Err(Error::Protocol(err @ ProtocolError::UnsupportedVersion { .. })) => {
            return Err(Handshake::Refuse(
                Box::new(control),
                Refusal::new(RefusalCode::UnsupportedVersion, err.to_string()),
            ));
        }
        Err(err @ Error::Protocol(ProtocolError::Truncated)) => return Err(Handshake::Failed(err)),
        Err(Error::Protocol(err)) => {
            return Err(Handshake::Refuse(
                Box::new(control),
                Refusal::new(RefusalCode::Malformed, format!("bad Hello frame: {err}")),
            ));
        }
        Err(err) => return Err(Handshake::Failed(err)),
    };
    if !token_accepted(&config.tokens, &hello.token) {
        let refusal = Refusal::new(
            RefusalCode::BadToken,
            "the token was not accepted; check --token or FERROTUNNEL_TOKEN",
        );
        return Err(Handshake::Refuse(Box::new(control), refusal));
    }
    Ok((control, hello))
}

/// Compares the token against every accepted one in constant time, so that timing tells an
/// attacker nothing about how close a guess was.
fn token_accepted(accepted: &[Secret], offered: &Secret) -> bool {
    if accepted.is_empty() {
        return true;
    }
    accepted
        .iter()
        .fold(subtle::Choice::from(0), |found, token| {
            found | token.expose().as_bytes().ct_eq(offered.expose().as_bytes())
        })
        .into()
}

async fn refuse(
    mut control: ControlChannel,
    refusal: Refusal,
    session: &SessionHandle,
    config: &ServerConfig,
) {
    tracing::info!(code = ?refusal.code, message = %refusal.message, "client refused");
    metrics::handshake_failed(HandshakeFailure::Refused(refusal.code));
    if control.send(Frame::Refused(refusal)).await.is_ok() {
        // Let the client read the refusal and hang up itself; closing first could lose it.
        let _ = tokio::time::timeout(
            config.handshake_timeout.min(Duration::from_secs(5)),
            session.closed(),
        )
        .await;
    }
    session.close();
}

enum Ending {
    Goodbye(String),
    ServerShutdown,
    Lost(Error),
}

async fn control_loop(
    control: &mut ControlChannel,
    inbound: &mut Inbound,
    link: &Arc<SessionLink>,
    registry: &Registry,
    config: &ServerConfig,
    session: &SessionHandle,
    close: &CancellationToken,
) -> Ending {
    loop {
        tokio::select! {
            // Frames first: a goodbye that arrived with the end of the session still counts.
            biased;
            event = control.next_event() => match event {
                Ok(Some(Frame::Goodbye { reason })) => return Ending::Goodbye(reason),
                Ok(Some(Frame::AddTunnel(request))) => {
                    let name = request.name.clone().unwrap_or_default();
                    let answer = match registry.claim(link, std::slice::from_ref(&request), config.max_tunnels_per_client) {
                        Ok(mut added) => Frame::TunnelAdded(added.remove(0)),
                        Err(refusal) => Frame::TunnelRefused { name, refusal },
                    };
                    if let Err(err) = control.send(answer).await {
                        return Ending::Lost(err);
                    }
                }
                Ok(Some(Frame::RemoveTunnel { name })) => {
                    if registry.remove(session.id(), &name) {
                        tracing::info!(tunnel = %name, "tunnel removed by its client");
                    }
                }
                Ok(Some(other)) => {
                    let err = ProtocolError::Unexpected(format!("a client may not send {}", other.kind()));
                    return Ending::Lost(err.into());
                }
                Ok(None) => return Ending::Lost(Error::SessionClosed),
                Err(err) => return Ending::Lost(err),
            },
            stream = inbound.accept() => if stream.is_none() {
                return Ending::Lost(Error::SessionClosed);
            } else {
                tracing::debug!("client opened an unexpected stream; resetting it");
            },
            () = close.cancelled() => {
                let _ = control.send(Frame::Goodbye { reason: "the server is shutting down".into() }).await;
                return Ending::ServerShutdown;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use serde::Serialize;

    use super::*;
    use crate::{
        protocol::{ClientId, PROTOCOL_VERSION, TunnelProtocol},
        server::Server,
    };

    /// What a client of protocol version 1 sent: tunnels without a policy.
    #[derive(Serialize)]
    enum FrameV1 {
        Hello {
            version: u16,
            token: Secret,
            client_id: ClientId,
            tunnels: Vec<(Option<String>, TunnelProtocol)>,
        },
    }

    /// What a client of some later version might send: more than this server knows.
    #[derive(Serialize)]
    enum FrameV9 {
        Hello {
            version: u16,
            token: Secret,
            client_id: ClientId,
            tunnels: Vec<(Option<String>, TunnelProtocol, Vec<String>, u64)>,
            features: Vec<String>,
        },
    }

    /// Opens a session to `server` as a client would, sends `hello`, and returns the answer.
    async fn answer_to(server: SocketAddr, hello: &impl Serialize) -> Frame {
        let tcp = tokio::net::TcpStream::connect(server)
            .await
            .expect("connects");
        let config = SessionConfig {
            max_streams: 8,
            accept_backlog: 1,
        };
        let (session, _inbound) = session::spawn(Box::new(tcp), Mode::Client, config);
        let mut stream = session
            .open_stream()
            .await
            .expect("opens the control stream");
        protocol::write_message(&mut stream, hello, 64 * 1024)
            .await
            .expect("sends");
        let answer = protocol::read_message(&mut stream, 64 * 1024)
            .await
            .expect("an answer");
        // As a refused client does: hang up, so the server need not wait for it.
        session.close();
        answer
    }

    #[tokio::test]
    async fn clients_of_another_protocol_version_are_refused_with_both_versions_named() {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = Server::builder()
            .control_addr(loopback)
            .http_addr(loopback)
            .build()
            .expect("config")
            .start()
            .await
            .expect("starts");
        let tunnels = vec![(Some("app".to_owned()), TunnelProtocol::Http)];
        let old = FrameV1::Hello {
            version: 1,
            token: Secret::new("t"),
            client_id: ClientId::random(),
            tunnels,
        };
        let new = FrameV9::Hello {
            version: 9,
            token: Secret::new("t"),
            client_id: ClientId::random(),
            tunnels: vec![(None, TunnelProtocol::Http, vec!["x".into()], 7)],
            features: vec!["teleport".into()],
        };
        for (theirs, answer) in [
            (1, answer_to(server.control_addr(), &old).await),
            (9, answer_to(server.control_addr(), &new).await),
        ] {
            let Frame::Refused(refusal) = answer else {
                panic!("version {theirs}: not refused: {answer:?}");
            };
            assert_eq!(refusal.code, RefusalCode::UnsupportedVersion);
            assert!(
                refusal.message.contains(&format!("version {theirs}"))
                    && refusal.message.contains(&PROTOCOL_VERSION.to_string()),
                "{}",
                refusal.message
            );
        }
        server.shutdown().await;
    }

    #[test]
    fn tokens_are_checked_against_every_accepted_one() {
        let accepted = [Secret::new("first"), Secret::new("second")];
        assert!(token_accepted(&accepted, &Secret::new("second")));
        assert!(!token_accepted(&accepted, &Secret::new("secon")));
        assert!(!token_accepted(&accepted, &Secret::new("")));
        assert!(
            token_accepted(&[], &Secret::new("anything")),
            "no tokens: an open server"
        );
    }
}

//! One session after another: establish, serve streams, and on loss reconnect with backoff.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::watch;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

use super::{
    ClientConfig, ClientState, ForwardService, IncomingStream, LocalForward, TunnelStream,
    backoff::Backoff, http_forward::HttpStreamForward,
};
use crate::{
    Error, Result,
    control::ControlChannel,
    protocol::{
        self, ClientId, Frame, FrameCodec, Hello, PROTOCOL_VERSION, ProtocolError, StreamHeader,
        StreamRefusalCode, StreamReply, TunnelInfo, TunnelProtocol, TunnelRequest, Welcome,
    },
    session::{self, Inbound, Mode, SessionConfig, SessionHandle, SessionStream},
    transport::ConnectOptions,
};

/// How long the server has to send a stream's header after opening it.
const STREAM_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Streams the server may open faster than this client picks them up.
const ACCEPT_BACKLOG: usize = 1024;
/// How long a session whose control stream has ended may take to end too and say why.
const SESSION_END_WAIT: Duration = Duration::from_secs(1);

/// A session that completed its handshake.
#[derive(Debug)]
pub(super) struct Established {
    session: SessionHandle,
    inbound: Inbound,
    control: ControlChannel,
    welcome: Welcome,
    /// Tunnel name → local address.
    routes: Arc<HashMap<String, String>>,
}

impl Established {
    pub(super) fn tunnels(&self) -> &[TunnelInfo] {
        &self.welcome.tunnels
    }

    pub(super) fn session_id(&self) -> u64 {
        self.welcome.session_id
    }
}

/// Connects and registers every tunnel of `config`.
pub(super) async fn establish(config: &ClientConfig, client_id: ClientId) -> Result<Established> {
    let options = ConnectOptions {
        timeout: config.connect_timeout,
        tls: config.tls.clone(),
    };
    let io = config.server_url.connect(&options).await?;
    let session_config = SessionConfig {
        max_streams: config.max_streams,
        accept_backlog: ACCEPT_BACKLOG,
    };
    let (session, inbound) = session::spawn(io, Mode::Client, session_config);
    let handshake = tokio::time::timeout(
        config.handshake_timeout,
        handshake(config, client_id, &session),
    );
    let result = match handshake.await {
        Ok(result) => result,
        Err(_) => Err(Error::Timeout {
            what: "the server's answer to the hello",
            after: config.handshake_timeout,
        }),
    };
    let (control, welcome) = match result {
        Ok(accepted) => accepted,
        Err(err) => {
            session.close();
            return Err(err);
        }
    };
    let routes = welcome
        .tunnels
        .iter()
        .zip(&config.tunnels)
        .map(|(info, local)| (info.name.clone(), local.local_addr.clone()))
        .collect();
    Ok(Established {
        session,
        inbound,
        control,
        welcome,
        routes: Arc::new(routes),
    })
}

async fn handshake(
    config: &ClientConfig,
    client_id: ClientId,
    session: &SessionHandle,
) -> Result<(ControlChannel, Welcome)> {
    let hello = Hello {
        version: PROTOCOL_VERSION,
        token: config.token.clone(),
        client_id,
        tunnels: config
            .tunnels
            .iter()
            .map(|t| TunnelRequest {
                name: t.name.clone(),
                protocol: TunnelProtocol::Http,
                policy: t.policy.clone(),
            })
            .collect(),
    };
    // The opener of a yamux stream must write first: the hello opens the control stream.
    let mut stream = session.open_stream().await?;
    protocol::write_message(&mut stream, &Frame::Hello(hello), config.max_frame_size).await?;
    let mut control = ControlChannel::new(
        stream,
        FrameCodec::new(config.max_frame_size),
        Duration::from_secs(30),
    );
    match control.recv().await {
        Ok(Some(Frame::Welcome(welcome))) if welcome.tunnels.len() == config.tunnels.len() => {
            control.set_heartbeat_interval(Duration::from_millis(welcome.heartbeat_interval_ms));
            Ok((control, welcome))
        }
        Ok(Some(Frame::Refused(refusal))) => Err(Error::Refused(refusal)),
        Ok(Some(other)) => {
            Err(ProtocolError::Unexpected(format!("expected Welcome, got {}", other.kind())).into())
        }
        Ok(None) | Err(Error::Protocol(ProtocolError::Truncated)) => {
            Err(closed_during_handshake(session).await)
        }
        Err(err) => Err(err),
    }
}

/// The error for a control stream that ended before the server's answer: why the session
/// failed if it says (the server spoke TLS or HTTP, say), else a hint.
async fn closed_during_handshake(session: &SessionHandle) -> Error {
    // A broken connection ends the control stream first and the session a moment later.
    let failure = tokio::time::timeout(SESSION_END_WAIT, session.failure())
        .await
        .ok()
        .flatten();
    Error::Session(match failure {
        Some(reason) => format!("the connection failed during the handshake: {reason}"),
        None => "the server closed the connection during the handshake; is this a FerroTunnel \
                 control port?"
            .into(),
    })
}

/// Serves `first` (or establishes a first session), then keeps re-establishing sessions until
/// stopped or refused for good.
pub(super) async fn run(
    config: Arc<ClientConfig>,
    client_id: ClientId,
    first: Option<Established>,
    known: Arc<Mutex<Vec<TunnelInfo>>>,
    state: watch::Sender<ClientState>,
    stop: CancellationToken,
) -> Result<()> {
    let mut config = (*config).clone();
    let mut backoff = Backoff::new(config.reconnect_initial, config.reconnect_max);
    let mut next = first;
    let mut lost: Option<Error> = None;
    // Whether a session was established before: the next one is a reconnect.
    let mut had_session = false;
    loop {
        let established = match next.take() {
            Some(established) => established,
            None => match reconnect(&config, client_id, lost.take(), &mut backoff, &state, &stop)
                .await?
            {
                Some(established) => {
                    if had_session {
                        crate::metrics::client_reconnected();
                    }
                    established
                }
                None => {
                    state.send_replace(ClientState::Stopped);
                    return Ok(());
                }
            },
        };
        let tunnels = established.tunnels().to_vec();
        // Ask for the same names on the next session, including ones the server picked.
        for (tunnel, info) in config.tunnels.iter_mut().zip(&tunnels) {
            tunnel.name = Some(info.name.clone());
        }
        for tunnel in &tunnels {
            tracing::info!(tunnel = %tunnel.name, url = %tunnel.public_url, "tunnel online");
        }
        *known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = tunnels.clone();
        // `Client::start` already published the first session; watchers hear of each once.
        let connected = ClientState::Connected {
            session_id: established.session_id(),
            tunnels,
        };
        state.send_if_modified(|current| {
            let changed = *current != connected;
            *current = connected;
            changed
        });
        had_session = true;
        match serve(established, &config, &stop).await {
            None => {
                state.send_replace(ClientState::Stopped);
                return Ok(());
            }
            Some(err) => {
                tracing::warn!(error = %err, "session lost; reconnecting");
                lost = Some(err);
            }
        }
    }
}

/// Tries until a session is established (`Some`), the client is stopped (`None`), or the server
/// refuses it for good (`Err`). Without a `lost` session this is the first connection, which is
/// tried at once.
async fn reconnect(
    config: &ClientConfig,
    client_id: ClientId,
    lost: Option<Error>,
    backoff: &mut Backoff,
    state: &watch::Sender<ClientState>,
    stop: &CancellationToken,
) -> Result<Option<Established>> {
    let mut attempt = 0;
    let mut error = lost.as_ref().map(ToString::to_string);
    loop {
        if let Some(error) = &error {
            attempt += 1;
            state.send_replace(ClientState::Reconnecting {
                attempt,
                error: error.clone(),
            });
            tokio::select! {
                () = tokio::time::sleep(backoff.next_delay()) => {}
                () = stop.cancelled() => return Ok(None),
            }
        }
        let established = tokio::select! {
            established = establish(config, client_id) => established,
            () = stop.cancelled() => return Ok(None),
        };
        match established {
            Ok(established) => {
                backoff.reset();
                return Ok(Some(established));
            }
            Err(Error::Refused(refusal)) if refusal.code.is_permanent() => {
                tracing::error!(message = %refusal.message, "the server refused this client");
                state.send_replace(ClientState::Refused(refusal.clone()));
                return Err(Error::Refused(refusal));
            }
            Err(err) => {
                tracing::info!(attempt, error = %err, "connection attempt failed");
                error = Some(err.to_string());
            }
        }
    }
}

/// Serves one session. `None` when stopped on purpose, else why the session was lost.
async fn serve(
    established: Established,
    config: &ClientConfig,
    stop: &CancellationToken,
) -> Option<Error> {
    let Established {
        session,
        mut inbound,
        mut control,
        routes,
        ..
    } = established;
    let forward = match &config.http {
        None => ForwardService::new(LocalForward::new(
            config.local_connect_timeout,
            config.max_frame_size,
        )),
        Some(http) => {
            ForwardService::new(HttpStreamForward::new(http.clone(), config.max_frame_size))
        }
    };
    let forward = config.layers.wrap(forward);
    let streams = TaskTracker::new();
    let lost = loop {
        tokio::select! {
            stream = inbound.accept() => match stream {
                Some(stream) => {
                    streams.spawn(serve_stream(stream, routes.clone(), forward.clone(), config.max_frame_size));
                }
                None => break Error::SessionClosed,
            },
            event = control.next_event() => match event {
                Ok(Some(Frame::Goodbye { reason })) => break Error::Session(format!("the server said goodbye: {reason}")),
                Ok(Some(frame @ (Frame::TunnelAdded(_) | Frame::TunnelRefused { .. }))) => {
                    tracing::debug!(frame = frame.kind(), "tunnel change acknowledged");
                }
                Ok(Some(other)) => {
                    break ProtocolError::Unexpected(format!("the server may not send {}", other.kind())).into();
                }
                Ok(None) => break Error::SessionClosed,
                Err(err) => break err,
            },
            () = stop.cancelled() => {
                let _ = control.send(Frame::Goodbye { reason: "the client is shutting down".into() }).await;
                // The server stops routing to us and acknowledges by closing the control
                // stream; then let the streams in flight finish.
                let acknowledged = tokio::time::timeout(config.grace_period, control.closed_by_peer());
                if acknowledged.await.is_err() {
                    tracing::warn!("the server did not acknowledge the goodbye");
                }
                streams.close();
                if tokio::time::timeout(config.grace_period, streams.wait()).await.is_err() {
                    tracing::warn!(grace = ?config.grace_period, "streams still open after the grace period; closing them");
                }
                session.close();
                session.closed().await;
                return None;
            }
        }
    };
    session.close();
    Some(lost)
}

async fn serve_stream(
    mut stream: SessionStream,
    routes: Arc<HashMap<String, String>>,
    forward: ForwardService,
    max_frame_size: usize,
) {
    let header = match tokio::time::timeout(
        STREAM_HEADER_TIMEOUT,
        protocol::read_message::<StreamHeader, _>(&mut stream, max_frame_size),
    )
    .await
    {
        Ok(Ok(header)) => header,
        Ok(Err(err)) => return tracing::debug!(error = %err, "bad stream header"),
        Err(_) => return tracing::debug!("no stream header in time"),
    };
    let mut stream = TunnelStream(stream);
    let Some(local_addr) = routes.get(&header.tunnel).cloned() else {
        let reply = StreamReply::Refused {
            code: StreamRefusalCode::UnknownTunnel,
            message: format!("this client does not serve tunnel {:?}", header.tunnel),
        };
        let _ = stream.reply(&reply, max_frame_size).await;
        return;
    };
    let tunnel = header.tunnel.clone();
    if let Err(err) = forward
        .oneshot(IncomingStream {
            header,
            local_addr,
            stream,
        })
        .await
    {
        tracing::debug!(%tunnel, error = %err, "stream ended with an error");
    }
}

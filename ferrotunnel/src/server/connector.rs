//! Opens a data stream to the client for one tunnel, for the session's [`StreamPool`].
//!
//! Opening a stream means: write the [`StreamHeader`], then wait for the client's
//! [`StreamReply`], which says whether it reached the local service. A refusal becomes a typed
//! [`Error::Local`], so the visitor learns exactly what went wrong (502 or 504).
//!
//! [`StreamPool`]: super::pool::StreamPool

use std::{net::IpAddr, time::Duration};

use crate::{
    BoxError, Error, LocalFailure,
    protocol::{self, StreamHeader, StreamReply, TunnelProtocol},
    session::{SessionHandle, SessionStream},
};

/// Opens a stream on `session` to the local service of `tunnel`, on behalf of `visitor`.
pub(super) async fn open_stream(
    session: &SessionHandle,
    tunnel: &str,
    visitor: Option<IpAddr>,
    max_frame_size: usize,
    reply_timeout: Duration,
) -> Result<SessionStream, BoxError> {
    let mut stream = session.open_stream().await?;
    let header = StreamHeader {
        tunnel: tunnel.to_owned(),
        visitor,
        protocol: TunnelProtocol::Http,
    };
    protocol::write_message(&mut stream, &header, max_frame_size).await?;
    let reply = tokio::time::timeout(
        reply_timeout,
        protocol::read_message::<StreamReply, _>(&mut stream, max_frame_size),
    )
    .await
    .map_err(|_| Error::Timeout {
        what: "the client to open a stream",
        after: reply_timeout,
    })?;
    match reply {
        Ok(StreamReply::Accepted) => Ok(stream),
        Ok(StreamReply::Refused { code, message }) => Err(Error::Local(LocalFailure {
            kind: code,
            message,
        })
        .into()),
        // A stream that ends before its reply means the session is going away.
        Err(Error::Protocol(protocol::ProtocolError::Truncated)) => {
            Err(Error::SessionClosed.into())
        }
        Err(err) => Err(err.into()),
    }
}

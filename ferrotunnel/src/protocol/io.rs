//! Reading and writing single length-prefixed messages on a stream, for the stream header and
//! reply, where a `Framed` would read ahead into the payload bytes that follow.

use bytes::BytesMut;
use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::codec::{
    LENGTH_PREFIX, decode_payload, encode_frame_into, parse_length, peek_hello_version,
};
use super::{Frame, Hello, PROTOCOL_VERSION, ProtocolError};
use crate::Error;

/// Reads exactly one message, and not a byte more.
pub(crate) async fn read_message<T, R>(io: &mut R, max: usize) -> Result<T, Error>
where
    T: DeserializeOwned,
    R: AsyncRead + Unpin,
{
    let mut prefix = [0; LENGTH_PREFIX];
    read_exact_or_truncated(io, &mut prefix).await?;
    let len = parse_length(prefix, max)?;
    let mut payload = vec![0; len];
    read_exact_or_truncated(io, &mut payload).await?;
    Ok(decode_payload(&payload)?)
}

/// Writes one message and flushes it.
pub(crate) async fn write_message<T, W>(io: &mut W, message: &T, max: usize) -> Result<(), Error>
where
    T: Serialize,
    W: AsyncWrite + Unpin,
{
    let mut buf = BytesMut::new();
    encode_frame_into(message, max, &mut buf)?;
    io.write_all(&buf).await?;
    io.flush().await?;
    Ok(())
}

async fn read_exact_or_truncated<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut [u8],
) -> Result<(), Error> {
    match io.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(ProtocolError::Truncated.into())
        }
        Err(err) => Err(err.into()),
    }
}

/// Reads the client's opening frame. A `Hello` of another protocol version, which this build
/// may not be able to decode at all, is reported as [`ProtocolError::UnsupportedVersion`].
pub(crate) async fn read_hello<R: AsyncRead + Unpin>(
    io: &mut R,
    max: usize,
) -> Result<Hello, Error> {
    let mut prefix = [0; LENGTH_PREFIX];
    read_exact_or_truncated(io, &mut prefix).await?;
    let mut payload = vec![0; parse_length(prefix, max)?];
    read_exact_or_truncated(io, &mut payload).await?;
    let unsupported = |theirs| ProtocolError::UnsupportedVersion {
        theirs,
        ours: PROTOCOL_VERSION,
    };
    match decode_payload::<Frame>(&payload) {
        Ok(Frame::Hello(hello)) if hello.version == PROTOCOL_VERSION => Ok(hello),
        Ok(Frame::Hello(hello)) => Err(unsupported(hello.version).into()),
        Ok(other) => {
            Err(ProtocolError::Unexpected(format!("expected Hello, got {}", other.kind())).into())
        }
        Err(err) => match peek_hello_version(&payload) {
            Some(theirs) if theirs != PROTOCOL_VERSION => Err(unsupported(theirs).into()),
            _ => Err(err.into()),
        },
    }
}

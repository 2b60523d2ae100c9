//! Length-prefixed frames with a serde payload.
//!
//! The payload format (bincode 2, standard config) is confined to this file: switching to
//! another serde format means changing [`encode_payload`] and [`decode_payload`] only.

use bytes::{Buf, BufMut, BytesMut};
use serde::{Serialize, de::DeserializeOwned};
use tokio_util::codec::{Decoder, Encoder};

use super::Frame;

/// The default upper bound on a frame's payload: control frames are small.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 64 * 1024;

/// Bytes in the length prefix.
pub(crate) const LENGTH_PREFIX: usize = 4;

/// A frame that could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The length prefix announces more than the configured maximum.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// The announced length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The payload is not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The peer closed the stream in the middle of a frame.
    #[error("the stream ended in the middle of a frame")]
    Truncated,
    /// The peer sent a frame that makes no sense at this point of the conversation.
    #[error("unexpected frame: {0}")]
    Unexpected(String),
    /// Reading or writing the stream failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The peer speaks another protocol version.
    #[error("peer speaks protocol version {theirs}, this build speaks {ours}")]
    UnsupportedVersion {
        /// The peer's version.
        theirs: u16,
        /// Ours.
        ours: u16,
    },
}

/// A `tokio_util` codec for [`Frame`]s with a maximum payload size.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame_size: usize,
}

impl FrameCodec {
    /// A codec that refuses frames larger than `max_frame_size` bytes, in both directions.
    pub fn new(max_frame_size: usize) -> Self {
        Self { max_frame_size }
    }

    /// The largest payload this codec reads or writes.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = ProtocolError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        let Some(len) = peek_length(src, self.max_frame_size)? else {
            return Ok(None);
        };
        if src.len() < LENGTH_PREFIX + len {
            src.reserve(LENGTH_PREFIX + len - src.len());
            return Ok(None);
        }
        src.advance(LENGTH_PREFIX);
        let payload = src.split_to(len);
        decode_payload(&payload).map(Some)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(ProtocolError::Truncated),
        }
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = ProtocolError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), ProtocolError> {
        encode_frame_into(&frame, self.max_frame_size, dst)
    }
}

/// Reads the length prefix at the front of `src` without consuming it.
fn peek_length(src: &[u8], max: usize) -> Result<Option<usize>, ProtocolError> {
    let Some(prefix) = src.get(..LENGTH_PREFIX) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    if len > max {
        return Err(ProtocolError::FrameTooLarge { len, max });
    }
    Ok(Some(len))
}

/// Parses a frame's length prefix, checking it against `max`.
pub(crate) fn parse_length(
    prefix: [u8; LENGTH_PREFIX],
    max: usize,
) -> Result<usize, ProtocolError> {
    peek_length(&prefix, max).map(|len| len.unwrap_or_default())
}

/// Appends `message` to `dst` as one length-prefixed frame.
pub(crate) fn encode_frame_into<T: Serialize>(
    message: &T,
    max: usize,
    dst: &mut BytesMut,
) -> Result<(), ProtocolError> {
    let payload = encode_payload(message)?;
    if payload.len() > max {
        return Err(ProtocolError::FrameTooLarge {
            len: payload.len(),
            max,
        });
    }
    dst.reserve(LENGTH_PREFIX + payload.len());
    // `payload.len() <= max`, and every max we configure fits in a u32.
    dst.put_u32(u32::try_from(payload.len()).unwrap_or(u32::MAX));
    dst.extend_from_slice(&payload);
    Ok(())
}

fn config() -> impl bincode::config::Config {
    // The limit caps what a hostile length field inside the payload can make the decoder
    // allocate; no frame we accept is near it.
    bincode::config::standard().with_limit::<{ 1 << 20 }>()
}

fn encode_payload<T: Serialize>(message: &T) -> Result<Vec<u8>, ProtocolError> {
    bincode::serde::encode_to_vec(message, config())
        .map_err(|err| ProtocolError::Malformed(err.to_string()))
}

/// Decodes one whole payload; trailing bytes are an error.
pub(crate) fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, ProtocolError> {
    let (message, read) = bincode::serde::decode_from_slice(payload, config())
        .map_err(|err| ProtocolError::Malformed(err.to_string()))?;
    if read != payload.len() {
        return Err(ProtocolError::Malformed(format!(
            "{} unexpected bytes after the message",
            payload.len() - read
        )));
    }
    Ok(message)
}

/// Reads the protocol version out of a `Hello` payload that may be of another version, whose
/// other fields this build cannot decode. `None` if the payload does not start like a `Hello`.
pub(crate) fn peek_hello_version(payload: &[u8]) -> Option<u16> {
    let ((variant, version), _): ((u32, u16), usize) =
        bincode::serde::decode_from_slice(payload, config()).ok()?;
    (variant == 0).then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{
        ClientId, Hello, PROTOCOL_VERSION, PolicyRule, Refusal, RefusalCode, Secret, StreamHeader,
        TunnelInfo, TunnelProtocol, TunnelRequest, Welcome,
    };
    use proptest::prelude::*;

    fn round_trip(frame: Frame) -> Frame {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        codec.encode(frame, &mut buf).expect("encodes");
        let decoded = codec
            .decode(&mut buf)
            .expect("decodes")
            .expect("a whole frame");
        assert!(buf.is_empty(), "the frame is consumed exactly");
        decoded
    }

    fn any_refusal() -> impl Strategy<Value = Refusal> {
        let code = prop_oneof![
            Just(RefusalCode::BadToken),
            Just(RefusalCode::UnsupportedVersion),
            Just(RefusalCode::NameTaken),
            Just(RefusalCode::InvalidName),
            Just(RefusalCode::TooManyTunnels),
            Just(RefusalCode::TooManyClients),
            Just(RefusalCode::Malformed),
            Just(RefusalCode::ShuttingDown),
            Just(RefusalCode::InvalidPolicy),
        ];
        (code, ".{0,40}").prop_map(|(code, message)| Refusal { code, message })
    }

    fn any_tunnel_info() -> impl Strategy<Value = TunnelInfo> {
        ("[a-z0-9-]{1,20}", ".{0,40}")
            .prop_map(|(name, public_url)| TunnelInfo { name, public_url })
    }

    fn any_frame() -> impl Strategy<Value = Frame> {
        let rule = ("[a-z-]{1,20}", ".{0,40}").prop_map(|(name, value)| PolicyRule { name, value });
        let request = (
            proptest::option::of("[a-z0-9-]{1,20}"),
            proptest::collection::vec(rule, 0..4),
        )
            .prop_map(|(name, policy)| TunnelRequest {
                name,
                protocol: TunnelProtocol::Http,
                policy,
            });
        prop_oneof![
            (
                any::<u16>(),
                ".{0,64}",
                any::<[u8; 16]>(),
                proptest::collection::vec(request.clone(), 0..5)
            )
                .prop_map(|(version, token, id, tunnels)| Frame::Hello(Hello {
                    version,
                    token: Secret::new(token),
                    client_id: ClientId(id),
                    tunnels,
                })),
            (
                any::<u64>(),
                any::<u64>(),
                proptest::collection::vec(any_tunnel_info(), 0..5)
            )
                .prop_map(|(session_id, heartbeat_interval_ms, tunnels)| {
                    Frame::Welcome(Welcome {
                        session_id,
                        heartbeat_interval_ms,
                        tunnels,
                    })
                }),
            any_refusal().prop_map(Frame::Refused),
            any::<u64>().prop_map(|nonce| Frame::Ping { nonce }),
            any::<u64>().prop_map(|nonce| Frame::Pong { nonce }),
            request.prop_map(Frame::AddTunnel),
            any_tunnel_info().prop_map(Frame::TunnelAdded),
            (".{0,20}", any_refusal())
                .prop_map(|(name, refusal)| Frame::TunnelRefused { name, refusal }),
            ".{0,20}".prop_map(|name| Frame::RemoveTunnel { name }),
            ".{0,40}".prop_map(|reason| Frame::Goodbye { reason }),
        ]
    }

    proptest! {
        #[test]
        fn every_frame_round_trips(frame in any_frame()) {
            prop_assert_eq!(round_trip(frame.clone()), frame);
        }

        #[test]
        fn random_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut codec = FrameCodec::new(256);
            let mut buf = BytesMut::from(&bytes[..]);
            // Any outcome but a panic is fine; keep decoding until the input is used up.
            while let Ok(Some(_)) = codec.decode(&mut buf) {}
            let _ = codec.decode_eof(&mut buf);
        }

        #[test]
        fn random_payloads_with_a_valid_prefix_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut buf = BytesMut::new();
            buf.put_u32(payload.len() as u32);
            buf.extend_from_slice(&payload);
            let _ = FrameCodec::default().decode(&mut buf);
            let _ = decode_payload::<StreamHeader>(&payload);
            let _ = peek_hello_version(&payload);
        }

        #[test]
        fn frames_split_anywhere_decode_the_same(frame in any_frame(), split in any::<prop::sample::Index>()) {
            let mut codec = FrameCodec::default();
            let mut whole = BytesMut::new();
            codec.encode(frame.clone(), &mut whole).expect("encodes");
            let at = split.index(whole.len());
            let mut buf = BytesMut::from(&whole[..at]);
            let first = codec.decode(&mut buf).expect("a prefix is not an error");
            if at < whole.len() {
                prop_assert_eq!(first, None);
                buf.extend_from_slice(&whole[at..]);
                prop_assert_eq!(codec.decode(&mut buf).expect("decodes"), Some(frame));
            } else {
                prop_assert_eq!(first, Some(frame));
            }
        }
    }

    #[test]
    fn oversized_frames_are_refused_before_they_are_read() {
        let mut buf = BytesMut::new();
        buf.put_u32(u32::MAX);
        let err = FrameCodec::default()
            .decode(&mut buf)
            .expect_err("too large");
        assert!(matches!(err, ProtocolError::FrameTooLarge { .. }), "{err}");
    }

    #[test]
    fn encoding_respects_the_maximum_too() {
        let frame = Frame::Goodbye {
            reason: "x".repeat(100),
        };
        let err = FrameCodec::new(16)
            .encode(frame, &mut BytesMut::new())
            .expect_err("too large");
        assert!(matches!(err, ProtocolError::FrameTooLarge { .. }), "{err}");
    }

    #[test]
    fn truncated_input_at_eof_is_an_error() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        codec
            .encode(Frame::Ping { nonce: 1 }, &mut buf)
            .expect("encodes");
        buf.truncate(buf.len() - 1);
        assert!(matches!(
            codec.decode_eof(&mut buf),
            Err(ProtocolError::Truncated)
        ));
    }

    #[test]
    fn trailing_bytes_in_a_payload_are_an_error() {
        let mut buf = BytesMut::new();
        encode_frame_into(&Frame::Ping { nonce: 1 }, 1024, &mut buf).expect("encodes");
        buf.put_u8(0);
        buf[3] += 1; // the length now covers the extra byte
        assert!(matches!(
            FrameCodec::default().decode(&mut buf),
            Err(ProtocolError::Malformed(_))
        ));
    }

    #[test]
    fn the_version_of_any_hello_can_be_read() {
        let hello = Frame::Hello(Hello {
            version: PROTOCOL_VERSION + 41,
            token: Secret::new("t"),
            client_id: ClientId([0; 16]),
            tunnels: vec![],
        });
        let payload = encode_payload(&hello).expect("encodes");
        assert_eq!(peek_hello_version(&payload), Some(PROTOCOL_VERSION + 41));
        let ping = encode_payload(&Frame::Ping { nonce: 3 }).expect("encodes");
        assert_eq!(peek_hello_version(&ping), None);
    }
}

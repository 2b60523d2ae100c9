//! The wire protocol: what travels on the control stream and at the head of each data stream.
//!
//! This module is data plus one codec. Every message is a length-prefixed frame (a big-endian
//! `u32` length, then the payload); the payload encoding is private to [`codec`](self) so that
//! the serde format can be swapped in one file. See `docs/protocol.md` for the byte layout.
//!
//! ```
//! use ferrotunnel::protocol::{Frame, FrameCodec};
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let mut codec = FrameCodec::default();
//! let mut buf = bytes::BytesMut::new();
//! codec.encode(Frame::Ping { nonce: 7 }, &mut buf).unwrap();
//! assert_eq!(codec.decode(&mut buf).unwrap(), Some(Frame::Ping { nonce: 7 }));
//! ```

mod codec;
mod frame;
mod io;

pub use codec::{DEFAULT_MAX_FRAME_SIZE, FrameCodec, ProtocolError};
pub use frame::{
    ClientId, Frame, Hello, PolicyRule, Refusal, RefusalCode, Secret, StreamHeader,
    StreamRefusalCode, StreamReply, TunnelInfo, TunnelProtocol, TunnelRequest, Welcome,
    validate_tunnel_name,
};
pub(crate) use io::{read_hello, read_message, write_message};

/// The protocol version this build speaks. A peer with another version is refused with
/// [`RefusalCode::UnsupportedVersion`].
///
/// Version 2 added the tunnel's policy to [`TunnelRequest`].
pub const PROTOCOL_VERSION: u16 = 2;
